//! The synthetic data set as a pure function of the row index: record `i` is computed from
//! `(seed, campaigns, i)` alone, so the emulator holds no rows and any row costs the same to
//! produce. Also the campaigns the rows are spread over by default.

use crate::emulator::data::row::{ERROR_MESSAGES, Row};

/// The campaigns the emulator's data set spreads its rows over unless told otherwise.
pub const DEFAULT_CAMPAIGNS: [u64; 4] = [245624, 245625, 245626, 245627];

/// Each row's `action_id` is `ID_STRIDE * i` plus a jitter below `ID_STRIDE` (gaps of 1 to 7)…
const ID_STRIDE: u64 = 4;
/// … plus, every `ID_BLOCK` rows, a large gap (actions of other models in between):
/// block `b > 0` is shifted by `b * ID_BLOCK_GAP + jitter`, the jitter below
/// `ID_BLOCK_GAP - 100`, so consecutive blocks are at least 100 apart.
const ID_BLOCK: u64 = 50;
const ID_BLOCK_GAP: u64 = 2_500;
/// Each row's `create_time` is `(i + 0 or 1) / 2` seconds in (so neighbours often share a
/// second), plus, every `TIME_BLOCK` rows, a pause: block `b > 0` is shifted by
/// `b * TIME_BLOCK_GAP + jitter`, the jitter below `TIME_BLOCK_GAP - 60`.
const TIME_BLOCK: u64 = 128;
const TIME_BLOCK_GAP: i64 = 600;
/// The first error rows are placed by index, one every `FORCED_EVERY` rows, each with the
/// next of [`ERROR_MESSAGES`], so that even a small data set has every tricky message.
const FORCED_EVERY: u64 = 8;

/// The rows of a seed and campaign list, computed from their index.
///
/// Every field of row `i` comes from a `fastrand` generator seeded with the seed's row key
/// plus `i` (wyrand is a counter-based generator, so nearby seeds give unrelated draws), and
/// the large gaps from one seeded by the block's index. `action_id` strictly increases with
/// `i` and `create_time` never decreases, so both can be found by binary search.
#[derive(Debug, Clone)]
pub(crate) struct Synth {
    campaigns: Vec<u64>,
    first_id: u64,
    first_time: i64,
    row_key: u64,
    block_key: u64,
}

impl Synth {
    /// The rows of `seed` over `campaigns` (an empty list means [`DEFAULT_CAMPAIGNS`]).
    pub(crate) fn new(seed: u64, campaigns: &[u64]) -> Synth {
        let campaigns = if campaigns.is_empty() {
            DEFAULT_CAMPAIGNS.to_vec()
        } else {
            campaigns.to_vec()
        };
        let mut rng = fastrand::Rng::with_seed(seed);
        Synth {
            campaigns,
            first_id: 1_000_000 + rng.u64(0..1_000),
            first_time: 1_480_000_000 + rng.i64(0..86_400),
            row_key: rng.u64(..),
            block_key: rng.u64(..),
        }
    }

    /// The generator of row `i`'s fields; its first two draws are the id and time jitters.
    fn row_rng(&self, i: u64) -> fastrand::Rng {
        fastrand::Rng::with_seed(self.row_key.wrapping_add(i))
    }

    /// The shift of id block `b` (first draw of the block's generator).
    fn id_shift(&self, b: u64) -> u64 {
        if b == 0 {
            return 0;
        }
        let mut rng = fastrand::Rng::with_seed(self.block_key.wrapping_add(b));
        b * ID_BLOCK_GAP + rng.u64(0..ID_BLOCK_GAP - 100)
    }

    /// The shift of time block `b` (second draw of the block's generator).
    fn time_shift(&self, b: u64) -> i64 {
        if b == 0 {
            return 0;
        }
        let mut rng = fastrand::Rng::with_seed(self.block_key.wrapping_add(b));
        rng.u64(..);
        b as i64 * TIME_BLOCK_GAP + rng.i64(0..TIME_BLOCK_GAP - 60)
    }

    fn id_from(&self, i: u64, jitter: u64) -> u64 {
        self.first_id + i * ID_STRIDE + jitter + self.id_shift(i / ID_BLOCK)
    }

    fn time_from(&self, i: u64, bit: u64) -> i64 {
        self.first_time + ((i + bit) / 2) as i64 + self.time_shift(i / TIME_BLOCK)
    }

    /// Row `i`'s `action_id` alone (for binary search).
    pub(crate) fn action_id(&self, i: u64) -> u64 {
        self.id_from(i, self.row_rng(i).u64(0..ID_STRIDE))
    }

    /// Row `i`'s `create_time` alone (for binary search).
    pub(crate) fn create_time(&self, i: u64) -> i64 {
        let mut rng = self.row_rng(i);
        rng.u64(0..ID_STRIDE);
        self.time_from(i, rng.u64(0..2))
    }

    /// Row `i`, whole.
    pub(crate) fn row(&self, i: u64) -> Row {
        let mut rng = self.row_rng(i);
        let action_id = self.id_from(i, rng.u64(0..ID_STRIDE));
        let create_time = self.time_from(i, rng.u64(0..2));
        let campaign_id = self.campaigns[rng.usize(0..self.campaigns.len())];
        let device_id = rng.u64(1_000_000..40_000_000);
        let profile_id = (rng.u8(0..10) < 7).then(|| hex_id(rng.u32(..), rng.u64(..)));
        let drawn_error = rng.u8(0..10) == 0;
        let message = rng.u8(0..ERROR_MESSAGES.len() as u8);
        let forced = (i % FORCED_EVERY == 3)
            .then_some(i / FORCED_EVERY)
            .filter(|&m| m < ERROR_MESSAGES.len() as u64);
        let message = match forced {
            Some(m) => Some(m as u8),
            None => drawn_error.then_some(message),
        };
        let error = u8::from(message.is_some());
        let delivery = u8::from(error == 0 && rng.u8(0..100) < 92);
        let open = u8::from(delivery == 1 && rng.u8(0..100) < 30);
        let click = u8::from(open == 1 && rng.u8(0..100) < 25);
        let platform = match rng.u8(0..20) {
            0..=9 => "android",
            10..=16 => "ios",
            _ => "web",
        };
        Row {
            action_id,
            campaign_id,
            create_time,
            device_id,
            profile_id,
            error,
            message,
            delivery,
            open,
            click,
            platform,
        }
    }
}

/// A 24-digit lowercase hex id (like a MongoDB ObjectId), as ASCII bytes.
fn hex_id(hi: u32, lo: u64) -> [u8; 24] {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = [0u8; 24];
    for (k, shift) in (0..8).rev().enumerate() {
        s[k] = DIGITS[((hi >> (shift * 4)) & 0xf) as usize];
    }
    for (k, shift) in (0..16).rev().enumerate() {
        s[8 + k] = DIGITS[((lo >> (shift * 4)) & 0xf) as usize];
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::emulator::data::Record;

    fn rows(n: u64, seed: u64, campaigns: &[u64]) -> Vec<Record> {
        let s = Synth::new(seed, campaigns);
        (0..n).map(|i| s.row(i).to_record()).collect()
    }

    #[test]
    fn deterministic_for_a_seed() {
        let a = rows(2_000, 7, &DEFAULT_CAMPAIGNS);
        assert_eq!(a, rows(2_000, 7, &DEFAULT_CAMPAIGNS));
        let c = rows(2_000, 8, &DEFAULT_CAMPAIGNS);
        assert!(a.iter().zip(&c).all(|(a, c)| a != c), "no row shared");
    }

    #[test]
    fn invariants_hold() {
        let rs = rows(20_000, 3, &[1, 2]);
        assert!(rs[0].action_id >= 1_000_000 && rs[0].action_id < 1_001_000);
        assert!(rs[0].create_time >= 1_480_000_000);
        for w in rs.windows(2) {
            assert!(w[0].action_id < w[1].action_id);
            assert!(w[0].create_time <= w[1].create_time);
        }
        let gaps: Vec<u64> = rs
            .windows(2)
            .map(|w| w[1].action_id - w[0].action_id)
            .collect();
        assert!(
            gaps.iter().filter(|&&g| g < 8).count() > 19_000,
            "mostly small gaps"
        );
        assert!(gaps.iter().any(|&g| g > 1_000), "some large ones");
        assert!(rs.windows(2).any(|w| w[0].create_time == w[1].create_time));
        let errors = rs.iter().filter(|r| r.error == 1).count();
        assert!((1_500..2_500).contains(&errors), "{errors}");
        for r in &rs {
            assert!([1, 2].contains(&r.campaign_id));
            assert_eq!(r.error == 1, r.error_message.is_some());
            assert!(r.click <= r.open && r.open <= r.delivery);
            assert!(["android", "ios", "web"].contains(&r.platform.as_str()));
        }
        for c in [1, 2] {
            let n = rs.iter().filter(|r| r.campaign_id == c).count();
            assert!((9_000..11_000).contains(&n), "{n}");
        }
        // Every message, already in the first hundred rows.
        for m in ERROR_MESSAGES {
            assert!(
                rs[..100]
                    .iter()
                    .any(|r| r.error_message.as_deref() == Some(*m))
            );
        }
        assert!(rs.iter().any(|r| r.profile_id.is_none()));
    }

    #[test]
    fn single_fields_agree_with_whole_rows() {
        let s = Synth::new(5, &[]);
        for i in (0..5_000).chain([1 << 30, (1 << 40) - 1]) {
            let row = s.row(i);
            assert_eq!(s.action_id(i), row.action_id, "{i}");
            assert_eq!(s.create_time(i), row.create_time, "{i}");
            assert!(DEFAULT_CAMPAIGNS.contains(&row.campaign_id));
        }
        assert!(
            s.action_id((1 << 40) - 1) < 1 << 53,
            "ids stay exact in a double"
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
            assert_eq!(hex_id(hi, lo), format!("{hi:08x}{lo:016x}").as_bytes());
        }
    }
}
