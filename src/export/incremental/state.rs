//! The state file of incremental runs: which query it belongs to, the newest `action_id`
//! exported so far and that row's `create_time`, and when it was written, sealed as a
//! checkpoint is (see `sealed`). Read and checked before a run; replaced atomically and
//! durably only after the run's output is complete, so a failed or killed run leaves the old
//! state and the next run repeats its window. It also records where its rows came from: the
//! API's base URL and a fingerprint of the credential (see `Fingerprint`), so that a state is
//! never continued against another API or project. It never holds a secret: the query's
//! identity has none, and the credential is known by its salted fingerprint alone.

use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::super::error::ExportError;
use super::super::sealed;
use super::Newest;
use crate::client::{Client, Fingerprint};

/// The state file's format; another version is refused rather than guessed at.
pub(crate) const VERSION: u32 = 1;

/// The largest state file read: a real one is well under a kilobyte or two.
const MAX_BYTES: u64 = 1 << 20;

/// What one incremental run leaves for the next.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct State {
    pub(crate) version: u32,
    /// The list model, e.g. `push-devices`.
    pub(crate) model: String,
    /// Conditions, select and order (`Query::identity`), without the first run's `since` or
    /// the start.
    pub(crate) query: Value,
    /// The largest `action_id` exported so far; `None` while there has been no row.
    pub(crate) newest_action_id: Option<u64>,
    /// The `create_time` of that row, when known (for a lookback).
    pub(crate) newest_create_time: Option<i64>,
    /// The first run's `since` (`create_time >= since`), which every later run keeps to;
    /// absent when it had none, and in states of earlier builds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) since: Option<i64>,
    /// When this state was written (RFC 3339, UTC).
    pub(crate) written_at: String,
    /// The API's base URL the rows came from; `None` in a state of an earlier build, which
    /// did not record it (taken as this run's, and recorded by it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) api_url: Option<String>,
    /// The fingerprint of the credential they were read with; `None` as `api_url` is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) credential: Option<Fingerprint>,
}

impl State {
    /// The state of `model` and `query` after a run whose newest row is `newest`, written now,
    /// read from `api` (its base URL and credential's fingerprint).
    pub(crate) fn new(
        model: &str,
        query: Value,
        newest: Option<Newest>,
        api: (String, Fingerprint),
    ) -> State {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let written_at = rfc3339(now);
        State {
            version: VERSION,
            model: model.to_string(),
            query,
            newest_action_id: newest.map(|n| n.action_id),
            newest_create_time: newest.and_then(|n| n.create_time),
            since: None,
            written_at,
            api_url: Some(api.0),
            credential: Some(api.1),
        }
    }

    /// The newest row it records.
    pub(crate) fn newest(&self) -> Option<Newest> {
        self.newest_action_id.map(|action_id| Newest {
            action_id,
            create_time: self.newest_create_time,
        })
    }

    /// Refuses a state written for another query, naming both.
    pub(crate) fn check_same_query(
        &self,
        path: &Path,
        model: &str,
        query: &Value,
    ) -> Result<(), ExportError> {
        if self.model == model && &self.query == query {
            return Ok(());
        }
        Err(ExportError::state(format!(
            "the state {} was written for another query: {} {}; this run's is {model} {query}. \
             Give each query its own state file (or delete this one to start over with a full \
             export)",
            path.display(),
            self.model,
            self.query,
        )))
    }
}

impl State {
    /// Refuses a state whose rows came from another endpoint than `client`'s, or were read with
    /// another credential, naming what differs (never the credential). Returns the state's
    /// fingerprint when it is `client`'s, to write again; `None` for a state of an earlier
    /// build, which recorded neither and is taken as this run's.
    pub(crate) fn check_same_api(
        &self,
        path: &Path,
        client: &Client,
    ) -> Result<Option<Fingerprint>, ExportError> {
        let shown = path.display();
        let what_to_do = "Give each API and project its own state file (a fresh path), or \
             delete this one to start over with a full export";
        if let Some(theirs) = &self.api_url
            && theirs != client.api_url()
        {
            let model = &self.model;
            return Err(ExportError::state(format!(
                "the state {shown} was written against another API: endpoint \
                 {theirs}/list/{model} vs {}/list/{model}, this run's; its newest row is not \
                 this API's. {what_to_do}",
                client.api_url()
            )));
        }
        match &self.credential {
            Some(f) if !client.is_fingerprinted_by(f) => Err(ExportError::state(format!(
                "the state {shown} was written with another credential (another apptoken or \
                 OAuth client, so perhaps another project): its newest row is not this \
                 credential's to continue from. {what_to_do}"
            ))),
            theirs => Ok(theirs.clone()),
        }
    }
}

/// Unix seconds as an RFC 3339 date-time in UTC (`2026-11-29T00:00:00Z`), by the proleptic
/// Gregorian calendar (days to a civil date as in Howard Hinnant's `civil_from_days`).
fn rfc3339(secs: u64) -> String {
    let (days, rest) = (secs / 86_400, secs % 86_400);
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rest / 3_600,
        rest % 3_600 / 60,
        rest % 60
    )
}

/// A state not written yet is created where `path` leads (a symlink's target): its directory
/// must be there now, or the export would run to its end before the state could not be
/// written, and every next run the same.
fn creatable(path: &Path) -> Result<(), ExportError> {
    match crate::export::files::missing_directory(path) {
        None => Ok(()),
        Some((dir, why)) => Err(ExportError::state(format!(
            "cannot create the state {}: the directory {} {why}; create it, or name another file",
            path.display(),
            dir.display()
        ))),
    }
}

/// The state at `path`; `None` when there is none yet (a first run).
pub(crate) fn read(path: &Path) -> Result<Option<State>, ExportError> {
    let shown = path.display();
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            creatable(path)?;
            return Ok(None);
        }
        Err(e) => {
            return Err(ExportError::state(format!(
                "cannot read the state {shown}: {e}"
            )));
        }
    };
    if !meta.is_file() {
        return Err(ExportError::state(format!(
            "the state {shown} is not a regular file: name a file (it is created by the first \
             run)"
        )));
    }
    if meta.len() > MAX_BYTES {
        return Err(damaged(path, format!("{} bytes, far too long", meta.len())));
    }
    let bytes = std::fs::read(path)
        .map_err(|e| ExportError::state(format!("cannot read the state {shown}: {e}")))?;
    parse(path, &bytes).map(Some)
}

/// The state in `bytes`, read from `path` (a file, or an object's URL): of this version, its
/// seal holding.
pub(crate) fn parse(path: &Path, bytes: &[u8]) -> Result<State, ExportError> {
    if bytes.len() as u64 > MAX_BYTES {
        return Err(damaged(
            path,
            format!("{} bytes, far too long", bytes.len()),
        ));
    }
    // The version first: a newer program's state is not damage, whatever its seal.
    let version = serde_json::from_slice::<Value>(bytes)
        .ok()
        .and_then(|v| v["version"].as_u64());
    if let Some(v) = version.filter(|v| *v != u64::from(VERSION)) {
        return Err(other_version(path, v));
    }
    let state: State = match sealed::unseal(bytes) {
        Ok(state) => state,
        Err(why) => earlier_seal(bytes)
            .ok_or(why)
            .map_err(|why| damaged(path, why))?,
    };
    if state.version != VERSION {
        return Err(other_version(path, u64::from(state.version)));
    }
    Ok(state)
}

fn damaged(path: &Path, why: String) -> ExportError {
    ExportError::state(format!(
        "the state {} is damaged ({why}), so where the last run stopped is unknown: restore \
         it, or delete it to start over with a full export",
        path.display()
    ))
}

/// A state as earlier builds sealed it: the same fields, and last `seal`, the CRC-32 of the
/// compact JSON of the state with an empty seal, as 8 hex digits. Read, so that a daily job
/// keeps going across an upgrade; the next run writes it sealed as a checkpoint is.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct EarlierSeal {
    version: u32,
    model: String,
    query: Value,
    newest_action_id: Option<u64>,
    newest_create_time: Option<i64>,
    written_at: String,
    seal: String,
}

/// The state in `bytes` if they hold one sealed as earlier builds did, and its seal holds.
fn earlier_seal(bytes: &[u8]) -> Option<State> {
    let mut earlier: EarlierSeal = serde_json::from_slice(bytes).ok()?;
    let seal = std::mem::take(&mut earlier.seal);
    let unsealed = serde_json::to_vec(&earlier).ok()?;
    (seal == format!("{:08x}", crc32fast::hash(&unsealed))).then_some(State {
        version: earlier.version,
        model: earlier.model,
        query: earlier.query,
        newest_action_id: earlier.newest_action_id,
        newest_create_time: earlier.newest_create_time,
        since: None,
        written_at: earlier.written_at,
        api_url: None,
        credential: None,
    })
}

fn other_version(path: &Path, version: u64) -> ExportError {
    ExportError::state(format!(
        "the state {} has version {version}; this program reads version {VERSION}: use the \
         program that wrote it, or delete it to start over with a full export",
        path.display()
    ))
}

/// Replaces the state at `path` atomically and durably.
pub(crate) fn write(path: &Path, state: &State) -> Result<(), ExportError> {
    sealed::replace(path, state).map_err(|e| ExportError::io(path, "cannot write the state", e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::export::ExportErrorKind;
    use serde_json::json;

    fn message(result: Result<Option<State>, ExportError>) -> String {
        match result {
            Err(e) => {
                assert_eq!(e.kind(), ExportErrorKind::State, "{e}");
                e.to_string()
            }
            Ok(s) => panic!("read {s:?}"),
        }
    }

    /// A state an earlier build wrote (field `seal`, a CRC-32 of the compact JSON) reads as
    /// the same state, and an edit to it is still refused as damage.
    #[test]
    fn a_state_sealed_by_an_earlier_build_reads_and_an_edit_breaks_it() {
        let text = include_str!("fixtures/state-seal-v1.json");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.json");
        std::fs::write(&path, text).unwrap();
        let state = read(&path).unwrap().expect("a state");
        assert_eq!(state.version, VERSION);
        assert_eq!(state.model, "push-devices");
        assert_eq!(state.since, None, "an earlier build kept no since");
        assert_eq!(
            state.newest(),
            Some(Newest {
                action_id: 1_007_766,
                create_time: Some(1_480_046_247),
            })
        );
        assert!(
            state
                .check_same_query(
                    &path,
                    "push-devices",
                    &json!({"condition": [["campaign_id", "=", 245624]]})
                )
                .is_ok()
        );
        std::fs::write(&path, text.replace("1007766", "1007767")).unwrap();
        let m = message(read(&path));
        assert!(m.contains("damaged"), "{m}");
    }

    /// A state the previous build wrote, sealed as now but without the API it was read from,
    /// is continued by any client; the next run records its own.
    #[test]
    fn a_state_without_its_api_is_taken_as_this_runs() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.json");
        let previous = json!({
            "version": 1,
            "model": "push-devices",
            "query": {},
            "newest_action_id": 42,
            "newest_create_time": null,
            "written_at": "2026-11-29T00:00:00Z",
        });
        std::fs::write(&path, sealed::seal(&previous).unwrap()).unwrap();
        let state = read(&path).unwrap().expect("a state");
        assert_eq!((state.api_url.as_deref(), &state.credential), (None, &None));
        assert_eq!(state.newest().map(|n| n.action_id), Some(42));
        assert_eq!(
            state.check_same_api(&path, &Client::for_tests()).unwrap(),
            None
        );
    }

    #[test]
    fn written_at_is_rfc3339_in_utc() {
        for (secs, text) in [
            (0, "1970-01-01T00:00:00Z"),
            (951_782_400, "2000-02-29T00:00:00Z"),
            (1_795_910_400, "2026-11-29T00:00:00Z"),
            (1_795_910_400 + 86_399, "2026-11-29T23:59:59Z"),
            (4_107_542_400, "2100-03-01T00:00:00Z"),
        ] {
            assert_eq!(rfc3339(secs), text);
        }
    }

    #[test]
    fn a_state_reads_back_and_any_edit_breaks_its_seal() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.json");
        assert!(matches!(read(&path), Ok(None)));
        let query = json!({"condition": [["campaign_id", "=", 7]]});
        let newest = Newest {
            action_id: 42,
            create_time: Some(1_480_000_000),
        };
        let client = Client::for_tests();
        let api = (client.api_url().to_string(), client.fingerprint());
        let mut state = State::new("push-devices", query.clone(), Some(newest), api);
        state.since = Some(1_479_000_000);
        write(&path, &state).unwrap();
        let back = read(&path).unwrap().unwrap();
        assert_eq!(back, state);
        assert_eq!(back.newest(), Some(newest));
        assert!(
            state
                .check_same_query(&path, "push-devices", &query)
                .is_ok()
        );
        let other = state
            .check_same_query(&path, "push-devices", &json!({}))
            .unwrap_err();
        assert!(other.to_string().contains("another query"), "{other}");

        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("\"version\": 1"), "{text}");
        assert!(text.contains("\"checksum\": \"crc32:"), "{text}");
        std::fs::write(&path, text.replace("42", "43")).unwrap();
        let m = message(read(&path));
        assert!(m.contains("damaged") && m.contains("delete it"), "{m}");
        std::fs::write(&path, text.replace("\"version\": 1", "\"version\": 2")).unwrap();
        let m = message(read(&path));
        assert!(m.contains("has version 2"), "{m}");
        let leftovers = std::fs::read_dir(dir.path()).unwrap().count();
        assert_eq!(leftovers, 1, "no temporary file is left behind");
    }
}
