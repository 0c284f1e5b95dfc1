//! The emulator's synthetic data set: its own row type, field list, generator and the
//! pre-serialised JSON of every row.

use std::fmt;
use std::sync::Arc;

/// One push action as the emulator stores and serves it.
///
/// This is the emulator's own row type; it is deliberately not shared with any client model.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// Unique id of the push action; strictly ascending through the data set.
    pub action_id: u64,
    /// Campaign the action belongs to.
    pub campaign_id: u64,
    /// Creation time, Unix seconds; ascending (not strictly) with `action_id`.
    pub create_time: i64,
    /// Device the message was sent to.
    pub device_id: u64,
    /// Profile of the recipient, if the device has one.
    pub profile_id: Option<String>,
    /// 1 when sending failed, else 0.
    pub error: u8,
    /// Reason of the failure; `None` exactly when `error` is 0.
    pub error_message: Option<String>,
    /// 1 when the message was delivered.
    pub delivery: u8,
    /// 1 when the message was opened (implies `delivery`).
    pub open: u8,
    /// 1 when the message was clicked (implies `open`).
    pub click: u8,
    /// "android", "ios" or "web": a field that no client model knows.
    pub platform: String,
}

impl Record {
    /// The record as a JSON object with all fields, inserted in the server's field order
    /// (whether a `serde_json::Map` keeps that order depends on serde_json's
    /// `preserve_order` feature; the bytes the server sends always keep it).
    pub fn to_json(&self) -> serde_json::Value {
        let mut map = serde_json::Map::new();
        for field in Field::ALL {
            let value = match self.value(field) {
                Value::Int(i) => serde_json::Value::from(i),
                Value::Str(s) => serde_json::Value::from(s),
                Value::Null => serde_json::Value::Null,
            };
            map.insert(field.name().to_owned(), value);
        }
        serde_json::Value::Object(map)
    }

    /// The value of one field, for filtering, ordering and rendering.
    pub(crate) fn value(&self, field: Field) -> Value<'_> {
        match field {
            Field::ActionId => Value::Int(self.action_id as i64),
            Field::CampaignId => Value::Int(self.campaign_id as i64),
            Field::CreateTime => Value::Int(self.create_time),
            Field::DeviceId => Value::Int(self.device_id as i64),
            Field::ProfileId => opt_str(&self.profile_id),
            Field::Error => Value::Int(i64::from(self.error)),
            Field::ErrorMessage => opt_str(&self.error_message),
            Field::Delivery => Value::Int(i64::from(self.delivery)),
            Field::Open => Value::Int(i64::from(self.open)),
            Field::Click => Value::Int(i64::from(self.click)),
            Field::Platform => Value::Str(&self.platform),
        }
    }

    /// Appends `{"action_id":…,…}` with all fields in server order.
    pub(crate) fn write_json(&self, out: &mut Vec<u8>) {
        out.reserve(320);
        out.extend_from_slice(b"{\"action_id\":");
        write_int(out, self.action_id as i64);
        out.extend_from_slice(b",\"campaign_id\":");
        write_int(out, self.campaign_id as i64);
        out.extend_from_slice(b",\"create_time\":");
        write_int(out, self.create_time);
        out.extend_from_slice(b",\"device_id\":");
        write_int(out, self.device_id as i64);
        out.extend_from_slice(b",\"profile_id\":");
        write_opt_str(out, self.profile_id.as_deref());
        out.extend_from_slice(b",\"error\":");
        write_int(out, i64::from(self.error));
        out.extend_from_slice(b",\"error_message\":");
        write_opt_str(out, self.error_message.as_deref());
        out.extend_from_slice(b",\"delivery\":");
        write_int(out, i64::from(self.delivery));
        out.extend_from_slice(b",\"open\":");
        write_int(out, i64::from(self.open));
        out.extend_from_slice(b",\"click\":");
        write_int(out, i64::from(self.click));
        out.extend_from_slice(b",\"platform\":");
        write_str(out, &self.platform);
        out.push(b'}');
    }

    /// Appends a JSON object with just `fields`, in that order.
    pub(crate) fn write_fields(&self, out: &mut Vec<u8>, fields: &[Field]) {
        out.push(b'{');
        for (i, &field) in fields.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.push(b'"');
            out.extend_from_slice(field.name().as_bytes());
            out.extend_from_slice(b"\":");
            match self.value(field) {
                Value::Int(v) => write_int(out, v),
                Value::Str(s) => write_str(out, s),
                Value::Null => out.extend_from_slice(b"null"),
            }
        }
        out.push(b'}');
    }
}

fn write_opt_str(out: &mut Vec<u8>, s: Option<&str>) {
    match s {
        Some(s) => write_str(out, s),
        None => out.extend_from_slice(b"null"),
    }
}

fn opt_str(s: &Option<String>) -> Value<'_> {
    match s {
        Some(s) => Value::Str(s),
        None => Value::Null,
    }
}

/// A field value as seen by conditions and ordering.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Value<'a> {
    Int(i64),
    Str(&'a str),
    Null,
}

/// The fields of a push action, in the server's order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Field {
    ActionId,
    CampaignId,
    CreateTime,
    DeviceId,
    ProfileId,
    Error,
    ErrorMessage,
    Delivery,
    Open,
    Click,
    Platform,
}

impl Field {
    /// All fields in the server's field order.
    pub(crate) const ALL: [Field; 11] = [
        Field::ActionId,
        Field::CampaignId,
        Field::CreateTime,
        Field::DeviceId,
        Field::ProfileId,
        Field::Error,
        Field::ErrorMessage,
        Field::Delivery,
        Field::Open,
        Field::Click,
        Field::Platform,
    ];

    /// The wire name.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Field::ActionId => "action_id",
            Field::CampaignId => "campaign_id",
            Field::CreateTime => "create_time",
            Field::DeviceId => "device_id",
            Field::ProfileId => "profile_id",
            Field::Error => "error",
            Field::ErrorMessage => "error_message",
            Field::Delivery => "delivery",
            Field::Open => "open",
            Field::Click => "click",
            Field::Platform => "platform",
        }
    }

    /// Looks a field up by its wire name (case-sensitive).
    pub(crate) fn from_name(name: &str) -> Option<Field> {
        Field::ALL.into_iter().find(|f| f.name() == name)
    }

    /// Whether the field holds integers (else strings, possibly null).
    pub(crate) fn is_numeric(self) -> bool {
        !matches!(
            self,
            Field::ProfileId | Field::ErrorMessage | Field::Platform
        )
    }

    /// Whether the field never decreases with the row index (the data set is in ascending
    /// `action_id` order and `create_time` grows with it), so ranges can be found by
    /// binary search.
    pub(crate) fn is_monotonic(self) -> bool {
        matches!(self, Field::ActionId | Field::CreateTime)
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Appends a decimal integer.
pub(crate) fn write_int(out: &mut Vec<u8>, v: i64) {
    let mut buf = [0u8; 20];
    let mut n = v.unsigned_abs();
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    if v < 0 {
        out.push(b'-');
    }
    out.extend_from_slice(&buf[i..]);
}

/// Appends a JSON string literal.
pub(crate) fn write_str(out: &mut Vec<u8>, s: &str) {
    let plain = s.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\');
    if plain {
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
    } else {
        // Writing into a Vec cannot fail; fall back to serde_json's escaping.
        if serde_json::to_writer(&mut *out, s).is_err() {
            out.extend_from_slice(b"null");
        }
    }
}

/// Failure reasons, drawn for `error = 1` rows. The first ones come from the API docs; the
/// rest are there to trip up CSV writers and naive parsers.
pub const ERROR_MESSAGES: &[&str] = &[
    "Not personalized",
    "DEVICE_UNREGISTERED",
    "Application is Uninstalled",
    "Payload rejected: \"title\" is too long, max 64",
    "Delivery failed\nAPNs said: BadDeviceToken",
    "Échec d'envoi à l'appareil — 送信に失敗しました 📵",
    "=HYPERLINK(\"http://example.invalid\",\"click\")",
    "-1 retries left",
    "@quota exceeded for sender",
    "InvalidRegistration",
    "MismatchSenderId",
    "Tab\there and a back\\slash",
];

/// The default campaign ids.
pub(crate) const DEFAULT_CAMPAIGNS: [u64; 4] = [245624, 245625, 245626, 245627];

/// Generates `n` records, deterministic for `seed` and `campaigns` (see [`Generator`]).
#[cfg(test)]
pub(crate) fn generate(n: usize, seed: u64, campaigns: &[u64]) -> Vec<Record> {
    let mut generator = Generator::new(seed, campaigns);
    let mut out = Vec::with_capacity(n);
    generator.extend(&mut out, n);
    out
}

/// The record generator, deterministic for a seed and campaign list.
///
/// An empty campaign list falls back to the default campaigns. The first error rows cycle
/// through [`ERROR_MESSAGES`] so that even a small data set has every tricky message.
///
/// It is resumable: generating `a` records and then `b` more gives the same
/// records as generating `a + b` at once. Inserted rows therefore continue the data set with
/// the same id gaps, time steps and field distributions.
#[derive(Debug, Clone)]
pub(crate) struct Generator {
    rng: fastrand::Rng,
    campaigns: Vec<u64>,
    /// The id and time of the next record before its gap is added (the first record gets
    /// no gap).
    action_id: u64,
    create_time: i64,
    started: bool,
    /// Error rows generated so far (the first ones cycle through [`ERROR_MESSAGES`]).
    errors: usize,
}

impl Generator {
    /// A generator at the start of the data set for `seed` and `campaigns`.
    pub(crate) fn new(seed: u64, campaigns: &[u64]) -> Generator {
        let campaigns = if campaigns.is_empty() {
            DEFAULT_CAMPAIGNS.to_vec()
        } else {
            campaigns.to_vec()
        };
        let mut rng = fastrand::Rng::with_seed(seed);
        let action_id = 1_000_000 + rng.u64(0..1_000);
        let create_time = 1_480_000_000 + rng.i64(0..86_400);
        Generator {
            rng,
            campaigns,
            action_id,
            create_time,
            started: false,
            errors: 0,
        }
    }

    /// Appends the next `n` records to `out`.
    pub(crate) fn extend(&mut self, out: &mut Vec<Record>, n: usize) {
        out.reserve(n);
        for _ in 0..n {
            out.push(self.next_record());
        }
    }

    /// The next record: its `action_id` is above, its `create_time` not below, those of
    /// every record generated before.
    fn next_record(&mut self) -> Record {
        let rng = &mut self.rng;
        if self.started {
            // Mostly small gaps, sometimes a large one (actions of other models in between).
            self.action_id += if rng.u8(0..50) == 0 {
                rng.u64(100..5_000)
            } else {
                rng.u64(1..8)
            };
            self.create_time += if rng.u8(0..100) == 0 {
                rng.i64(60..7_200)
            } else {
                rng.i64(0..3)
            };
        }
        self.started = true;
        let campaign_id = self.campaigns[rng.usize(0..self.campaigns.len())];
        let device_id = rng.u64(1_000_000..40_000_000);
        let profile_id = if rng.u8(0..10) < 7 {
            Some(hex_id(rng.u32(..), rng.u64(..)))
        } else {
            None
        };
        let error = u8::from(rng.u8(0..10) == 0);
        let error_message = if error == 1 {
            let msg = if self.errors < ERROR_MESSAGES.len() {
                ERROR_MESSAGES[self.errors]
            } else {
                ERROR_MESSAGES[rng.usize(0..ERROR_MESSAGES.len())]
            };
            self.errors += 1;
            Some(msg.to_owned())
        } else {
            None
        };
        let delivery = u8::from(error == 0 && rng.u8(0..100) < 92);
        let open = u8::from(delivery == 1 && rng.u8(0..100) < 30);
        let click = u8::from(open == 1 && rng.u8(0..100) < 25);
        let platform = match rng.u8(0..20) {
            0..=9 => "android",
            10..=16 => "ios",
            _ => "web",
        };
        Record {
            action_id: self.action_id,
            campaign_id,
            create_time: self.create_time,
            device_id,
            profile_id,
            error,
            error_message,
            delivery,
            open,
            click,
            platform: platform.to_owned(),
        }
    }
}

/// Rows per serialisation chunk (a power of two).
const CHUNK_BITS: u32 = 18;
const CHUNK_ROWS: usize = 1 << CHUNK_BITS;

/// The prepared JSON of `CHUNK_ROWS` consecutive records.
struct Chunk {
    /// The records' JSON objects, concatenated.
    json: Vec<u8>,
    /// `json[offsets[k]..offsets[k + 1]]` is the chunk's `k`-th record.
    offsets: Vec<u32>,
}

impl Chunk {
    fn new(records: &[Record]) -> Chunk {
        let mut chunk = Chunk {
            json: Vec::with_capacity(records.len() * 224),
            offsets: Vec::with_capacity(records.len() + 1),
        };
        chunk.offsets.push(0);
        for r in records {
            chunk.push(r);
        }
        chunk
    }

    /// Appends the JSON of one more record.
    fn push(&mut self, r: &Record) {
        let start = self.json.len();
        r.write_json(&mut self.json);
        // A chunk of 2^18 rows stays far below 4 GiB unless rows are huge; fall back to an
        // empty entry rather than wrapping around.
        match u32::try_from(self.json.len()) {
            Ok(end) => self.offsets.push(end),
            Err(_) => {
                self.json.truncate(start);
                self.offsets.push(self.offsets.last().copied().unwrap_or(0));
            }
        }
    }

    /// Records in the chunk.
    fn len(&self) -> usize {
        self.offsets.len() - 1
    }
}

/// A 24-digit lowercase hex id (like a MongoDB ObjectId), without `format!` overhead.
fn hex_id(hi: u32, lo: u64) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(24);
    for shift in (0..8).rev() {
        s.push(char::from(DIGITS[((hi >> (shift * 4)) & 0xf) as usize]));
    }
    for shift in (0..16).rev() {
        s.push(char::from(DIGITS[((lo >> (shift * 4)) & 0xf) as usize]));
    }
    s
}

/// The records plus the full JSON of each, serialised once (in parallel chunks), and the
/// generator that inserted rows continue from.
///
/// The data set only ever grows at its end (new rows have higher `action_id`s), so row
/// indices stay valid and every query path serves inserted rows like generated ones.
pub(crate) struct Dataset {
    /// In ascending `action_id` order. Shared with the snapshots handed out by
    /// [`Emulator::records`](crate::emulator::Emulator::records): an insertion appends in
    /// place when no snapshot is alive, and copies the vector once (copy-on-write) when one
    /// is.
    pub(crate) records: Arc<Vec<Record>>,
    /// `chunks[i >> CHUNK_BITS]` holds the JSON of record `i`; every chunk but the last is
    /// full.
    chunks: Vec<Chunk>,
    generator: Generator,
}

impl Dataset {
    /// Generates and serialises the data set.
    pub(crate) fn new(n: usize, seed: u64, campaigns: &[u64]) -> Dataset {
        let mut generator = Generator::new(seed, campaigns);
        let mut records = Vec::with_capacity(n);
        generator.extend(&mut records, n);
        let chunks = serialise(&records);
        Dataset {
            records: Arc::new(records),
            chunks,
            generator,
        }
    }

    /// Appends `n` new records continuing the generator (ids above, times not below every
    /// existing one) and prepares their JSON. Amortised O(n), unless a snapshot of the
    /// records is alive, which costs one copy of the record vector.
    pub(crate) fn insert(&mut self, n: usize) {
        if n == 0 {
            return;
        }
        let records = Arc::make_mut(&mut self.records);
        let start = records.len();
        self.generator.extend(records, n);
        for (i, r) in records.iter().enumerate().skip(start) {
            if i >> CHUNK_BITS == self.chunks.len() {
                self.chunks.push(Chunk::new(&[]));
            }
            if let Some(chunk) = self.chunks.last_mut() {
                chunk.push(r);
            }
        }
        debug_assert_eq!(
            self.chunks.iter().map(Chunk::len).sum::<usize>(),
            records.len()
        );
    }

    /// The prepared JSON of record `i`.
    pub(crate) fn row_json(&self, i: usize) -> &[u8] {
        let chunk = &self.chunks[i >> CHUNK_BITS];
        let k = i & (CHUNK_ROWS - 1);
        &chunk.json[chunk.offsets[k] as usize..chunk.offsets[k + 1] as usize]
    }
}

/// Serialises records into chunks of `CHUNK_ROWS`, on up to 8 threads.
fn serialise(records: &[Record]) -> Vec<Chunk> {
    let parts: Vec<&[Record]> = records.chunks(CHUNK_ROWS).collect();
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, 8)
        .min(parts.len());
    if threads <= 1 {
        return parts.iter().map(|p| Chunk::new(p)).collect();
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    let mut done: Vec<(usize, Chunk)> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let mut mine = Vec::new();
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(part) = parts.get(i) else { break };
                        mine.push((i, Chunk::new(part)));
                    }
                    mine
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| match w.join() {
                Ok(mine) => mine,
                Err(panic) => std::panic::resume_unwind(panic),
            })
            .collect()
    });
    done.sort_by_key(|(i, _)| *i);
    done.into_iter().map(|(_, c)| c).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_for_a_seed() {
        let a = generate(2_000, 7, &DEFAULT_CAMPAIGNS);
        let b = generate(2_000, 7, &DEFAULT_CAMPAIGNS);
        let c = generate(2_000, 8, &DEFAULT_CAMPAIGNS);
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn invariants_hold() {
        let rs = generate(20_000, 3, &[1, 2]);
        assert_eq!(rs.len(), 20_000);
        assert!(rs[0].action_id >= 1_000_000 && rs[0].action_id < 1_001_000);
        assert!(rs[0].create_time >= 1_480_000_000);
        for w in rs.windows(2) {
            assert!(w[0].action_id < w[1].action_id);
            assert!(w[0].create_time <= w[1].create_time);
        }
        let errors = rs.iter().filter(|r| r.error == 1).count();
        assert!((1_500..2_500).contains(&errors), "{errors}");
        for r in &rs {
            assert!([1, 2].contains(&r.campaign_id));
            assert_eq!(r.error == 1, r.error_message.is_some());
            assert!(r.click <= r.open && r.open <= r.delivery);
            assert!(["android", "ios", "web"].contains(&r.platform.as_str()));
        }
        for m in ERROR_MESSAGES {
            assert!(rs.iter().any(|r| r.error_message.as_deref() == Some(*m)));
        }
        assert!(rs.iter().any(|r| r.profile_id.is_none()));
    }

    #[test]
    fn prepared_json_matches_serde() {
        let ds = Dataset::new(500, 1, &DEFAULT_CAMPAIGNS);
        for (i, r) in ds.records.iter().enumerate() {
            let parsed: serde_json::Value = serde_json::from_slice(ds.row_json(i)).unwrap();
            assert_eq!(parsed, r.to_json());
        }
        // Field order on the wire.
        let text = std::str::from_utf8(ds.row_json(0)).unwrap();
        let mut last = 0;
        for f in Field::ALL {
            let pos = text.find(&format!("\"{}\":", f.name())).unwrap();
            assert!(pos >= last);
            last = pos;
        }
    }

    #[test]
    fn rows_across_chunk_boundaries() {
        let n = 2 * CHUNK_ROWS + 5;
        let ds = Dataset::new(n, 2, &DEFAULT_CAMPAIGNS);
        for i in [
            0,
            CHUNK_ROWS - 1,
            CHUNK_ROWS,
            CHUNK_ROWS + 1,
            2 * CHUNK_ROWS,
            n - 1,
        ] {
            let parsed: serde_json::Value = serde_json::from_slice(ds.row_json(i)).unwrap();
            assert_eq!(parsed, ds.records[i].to_json(), "row {i}");
        }
    }

    #[test]
    fn generator_resumes_where_it_stopped() {
        for campaigns in [&DEFAULT_CAMPAIGNS[..], &[7, 8], &[]] {
            let whole = generate(3_000, 5, campaigns);
            let mut g = Generator::new(5, campaigns);
            let mut parts = Vec::new();
            for n in [0, 1, 999, 0, 7, 1_993] {
                g.extend(&mut parts, n);
            }
            assert_eq!(parts, whole);
        }
    }

    #[test]
    fn insert_continues_the_data_set() {
        let mut ds = Dataset::new(1_000, 4, &[3, 9]);
        let before = ds.records.clone();
        ds.insert(0);
        assert!(
            Arc::ptr_eq(&before, &ds.records),
            "inserting nothing copies nothing"
        );
        for n in [1, 37, 500] {
            ds.insert(n);
        }
        // Exactly the rows a larger generation gives: same gaps, times and distributions.
        assert_eq!(*ds.records, generate(1_538, 4, &[3, 9]));
        // The snapshot taken before is untouched.
        assert_eq!(*before, generate(1_000, 4, &[3, 9]));
        let max = before.last().unwrap();
        for r in &ds.records[1_000..] {
            assert!(r.action_id > max.action_id && r.create_time >= max.create_time);
            assert!([3, 9].contains(&r.campaign_id));
        }
        for (i, r) in ds.records.iter().enumerate() {
            let parsed: serde_json::Value = serde_json::from_slice(ds.row_json(i)).unwrap();
            assert_eq!(parsed, r.to_json(), "row {i}");
        }
    }

    #[test]
    fn insert_appends_in_place_without_snapshots() {
        let mut ds = Dataset::new(10, 1, &DEFAULT_CAMPAIGNS);
        let ptr = Arc::as_ptr(&ds.records);
        for _ in 0..100 {
            ds.insert(3);
        }
        assert_eq!(ds.records.len(), 310);
        assert_eq!(
            Arc::as_ptr(&ds.records),
            ptr,
            "no copy without a live snapshot"
        );
        let snapshot = ds.records.clone();
        ds.insert(1);
        assert!(!Arc::ptr_eq(&snapshot, &ds.records), "copy-on-write");
        assert_eq!(snapshot.len(), 310);
        let ptr = Arc::as_ptr(&ds.records);
        drop(snapshot);
        ds.insert(1);
        assert_eq!(Arc::as_ptr(&ds.records), ptr);
    }

    #[test]
    fn insert_across_chunk_boundaries() {
        let mut ds = Dataset::new(CHUNK_ROWS - 3, 6, &DEFAULT_CAMPAIGNS);
        ds.insert(2);
        ds.insert(5);
        ds.insert(CHUNK_ROWS);
        let n = 2 * CHUNK_ROWS + 4;
        assert_eq!(ds.records.len(), n);
        assert_eq!(ds.chunks.len(), 3);
        for i in [
            CHUNK_ROWS - 4,
            CHUNK_ROWS - 2,
            CHUNK_ROWS - 1,
            CHUNK_ROWS,
            CHUNK_ROWS + 3,
            2 * CHUNK_ROWS - 1,
            2 * CHUNK_ROWS,
            n - 1,
        ] {
            let parsed: serde_json::Value = serde_json::from_slice(ds.row_json(i)).unwrap();
            assert_eq!(parsed, ds.records[i].to_json(), "row {i}");
        }
    }

    #[test]
    fn inserting_into_an_empty_data_set() {
        let mut ds = Dataset::new(0, 2, &DEFAULT_CAMPAIGNS);
        assert!(ds.records.is_empty());
        ds.insert(20);
        assert_eq!(*ds.records, generate(20, 2, &DEFAULT_CAMPAIGNS));
        assert_eq!(
            serde_json::from_slice::<serde_json::Value>(ds.row_json(19)).unwrap(),
            ds.records[19].to_json()
        );
    }

    #[test]
    fn hex_id_matches_format() {
        for (hi, lo) in [
            (0, 0),
            (1, 2),
            (u32::MAX, u64::MAX),
            (0xdead_beef, 0x0123_4567_89ab_cdef),
        ] {
            assert_eq!(hex_id(hi, lo), format!("{hi:08x}{lo:016x}"));
        }
    }

    #[test]
    fn write_int_handles_edges() {
        for v in [0, 7, -7, 10, 1_480_000_000, i64::MIN, i64::MAX] {
            let mut out = Vec::new();
            write_int(&mut out, v);
            assert_eq!(String::from_utf8(out).unwrap(), v.to_string());
        }
    }
}
#[cfg(test)]
mod timing {
    #[test]
    #[ignore]
    fn time_5m() {
        let t = std::time::Instant::now();
        let mut d = super::Dataset::new(5_000_000, 1, &super::DEFAULT_CAMPAIGNS);
        eprintln!("generate and serialise {:?}", t.elapsed());
        let t = std::time::Instant::now();
        for _ in 0..1_000 {
            d.insert(10);
        }
        eprintln!("1000 insertions of 10 {:?}", t.elapsed());
        let t = std::time::Instant::now();
        drop(d);
        eprintln!("drop {:?}", t.elapsed());
    }
}
