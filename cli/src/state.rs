//! The `--state` file of incremental runs: which query it belongs to, the newest `action_id`
//! exported so far and that row's `create_time`, when it was written, sealed with a CRC-32.
//! Read and checked before a run; replaced atomically and durably only after the run's output
//! is complete, so a failed or killed run leaves the old state and the next run repeats its
//! window. It never holds a secret: the query's identity has none.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::failure::Failure;

/// The state file's format; another version is refused rather than guessed at.
const VERSION: u32 = 1;

/// The largest state file read: a real one is well under a kilobyte or two.
const MAX_BYTES: u64 = 1 << 20;

/// What one incremental run leaves for the next.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct State {
    pub version: u32,
    /// The list model, e.g. `push-devices`.
    pub model: String,
    /// Conditions, select and order (`Query::identity`), without `--since` or the start.
    pub query: Value,
    /// The largest `action_id` exported so far; `None` while there has been no row.
    pub newest_action_id: Option<u64>,
    /// The `create_time` of that row, when known (for `--lookback`).
    pub newest_create_time: Option<i64>,
    /// When this state was written (RFC 3339, UTC).
    pub written_at: String,
    /// CRC-32 of the state with an empty seal, as 8 hex digits.
    #[serde(default)]
    pub seal: String,
}

impl State {
    /// A new state, sealed.
    pub fn new(
        model: &str,
        query: Value,
        newest: Option<(u64, Option<i64>)>,
        written_at: String,
    ) -> State {
        let mut state = State {
            version: VERSION,
            model: model.to_string(),
            query,
            newest_action_id: newest.map(|(k, _)| k),
            newest_create_time: newest.and_then(|(_, t)| t),
            written_at,
            seal: String::new(),
        };
        state.seal = state.checksum();
        state
    }

    /// The seal this state should carry.
    fn checksum(&self) -> String {
        let unsealed = State {
            seal: String::new(),
            ..self.clone()
        };
        let bytes = serde_json::to_vec(&unsealed).unwrap_or_default();
        format!("{:08x}", crc32fast::hash(&bytes))
    }

    /// Refuses a state written for another query, naming both.
    pub fn check_same_query(&self, path: &Path, model: &str, query: &Value) -> Result<(), Failure> {
        if self.model == model && &self.query == query {
            return Ok(());
        }
        Err(Failure::usage(format!(
            "--state {} was written for another query: {} {}; this run's is {model} {query}. \
             Give each query its own state file (or delete this one to start over with a full \
             export)",
            path.display(),
            self.model,
            self.query,
        )))
    }
}

/// The state at `path`; `None` when there is none yet (a first run).
pub fn read(path: &Path) -> Result<Option<State>, Failure> {
    let shown = path.display();
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Failure::usage(format!("cannot read --state {shown}: {e}"))),
    };
    if !meta.is_file() {
        return Err(Failure::usage(format!(
            "--state {shown} is not a regular file: name a file (it is created by the first run)"
        )));
    }
    let damaged = |why: String| {
        Failure::usage(format!(
            "--state {shown} is damaged ({why}), so where the last run stopped is unknown: \
             restore it, or delete it to start over with a full export (or from --since)"
        ))
    };
    if meta.len() > MAX_BYTES {
        return Err(damaged(format!("{} bytes, far too long", meta.len())));
    }
    let bytes = std::fs::read(path)
        .map_err(|e| Failure::usage(format!("cannot read --state {shown}: {e}")))?;
    let state: State = match serde_json::from_slice(&bytes) {
        Ok(s) => s,
        // The version first: a newer program's state is not damage.
        Err(e) => match serde_json::from_slice::<Value>(&bytes)
            .ok()
            .and_then(|v| v["version"].as_u64())
        {
            Some(v) if v != u64::from(VERSION) => return Err(other_version(path, v)),
            _ => return Err(damaged(format!("not a state file: {e}"))),
        },
    };
    if state.version != VERSION {
        return Err(other_version(path, u64::from(state.version)));
    }
    if state.seal != state.checksum() {
        return Err(damaged("its seal does not match its contents".into()));
    }
    Ok(Some(state))
}

fn other_version(path: &Path, version: u64) -> Failure {
    Failure::usage(format!(
        "--state {} has version {version}; this program reads version {VERSION}: use the \
         program that wrote it, or delete it to start over with a full export",
        path.display()
    ))
}

/// Replaces the state at `path` atomically and durably: a temporary file in the same
/// directory, synced, renamed over it, and the directory synced.
pub fn write(path: &Path, state: &State) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let temp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let text = serde_json::to_string_pretty(state).map_err(std::io::Error::other)? + "\n";
    let written = (|| {
        let mut file = std::fs::File::create(&temp)?;
        file.write_all(text.as_bytes())?;
        file.sync_all()?;
        std::fs::rename(&temp, path)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    written?;
    #[cfg(unix)]
    std::fs::File::open(&dir)?.sync_all()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_state_reads_back_and_any_edit_breaks_its_seal() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.json");
        assert!(matches!(read(&path), Ok(None)));
        let query = json!({"condition": [["campaign_id", "=", 7]]});
        let state = State::new(
            "push-devices",
            query.clone(),
            Some((42, Some(1_480_000_000))),
            "2026-11-29T00:00:00Z".into(),
        );
        write(&path, &state).unwrap();
        assert!(matches!(read(&path), Ok(Some(s)) if s == state));
        assert!(
            state
                .check_same_query(&path, "push-devices", &query)
                .is_ok()
        );
        let other = state
            .check_same_query(&path, "push-devices", &json!({}))
            .unwrap_err();
        assert!(other.message.contains("another query"), "{}", other.message);

        let text = std::fs::read_to_string(&path).unwrap().replace("42", "43");
        std::fs::write(&path, text).unwrap();
        let Err(e) = read(&path) else {
            panic!("an edited state is refused")
        };
        assert_eq!(e.code, 2);
        assert!(
            e.message.contains("seal") && e.message.contains("delete it"),
            "{}",
            e.message
        );
        let leftovers = std::fs::read_dir(dir.path()).unwrap().count();
        assert_eq!(leftovers, 1, "no temporary file is left behind");
    }
}
