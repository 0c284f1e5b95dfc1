//! Incremental runs: each run exports what is new since the last complete one, as a daily job
//! does.
//!
//! [`Incremental::open`] locks the state (`.STATE.lock` beside it: one run per state at a
//! time, until [`Incremental::finish`] or the run is dropped), reads it (no request) and checks
//! it belongs to the query;
//! [`Incremental::query`] gives the query to run, in keyset order (ascending `action_id`) after
//! the newest `action_id` the state records, or with [`Incremental::lookback`] after the first
//! row created within that long before that row; [`Incremental::finish`] replaces the state
//! atomically once the run's output is complete. A run that fails, or is killed, leaves the
//! state as it was, so the next run repeats its window: progress moves only with delivered
//! data. `action_id` is the merge key: every row a run reads at or below the last newest key is
//! counted as read again ([`Report::rows_reread`]).
//!
//! The state holds the query's identity (conditions, select and order: never a secret), the
//! newest row's key and `create_time`, the first run's [`since`](Incremental::since) (which
//! every later run keeps to, also when the first found no row), when it was written, and where
//! its rows came from (the API's base URL, and a salted fingerprint of the credential, never
//! the credential itself), sealed with a CRC-32 as a checkpoint is. A state written for another
//! query, against another endpoint or with another credential, edited, damaged or of another
//! version is refused, with an error of kind
//! [`ExportErrorKind::State`](super::ExportErrorKind::State). A state of an earlier build,
//! which did not record where its rows came from, is continued, and this run's API is recorded
//! in it.

#[cfg(feature = "object-store")]
mod bucket;
mod state;

use std::path::{Path, PathBuf};
use std::time::Duration;

use futures::TryStreamExt;

use super::error::ExportError;
use super::format::Format;
use super::lock::StateLock;
use super::report::Report;
use super::{Export, Target};
use crate::client::Fingerprint;
use crate::error::{Error, ErrorKind};
use crate::model::push_devices::KEY;
use crate::model::{PushAction, RawRow};
use crate::paginate::key_direction;
use crate::query::{Mode, Op, Query};

/// The newest row of the runs so far: its `action_id`, and its `create_time` when known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Newest {
    /// The largest `action_id` exported so far.
    pub action_id: u64,
    /// That row's `create_time` (Unix seconds), which a lookback counts back from.
    pub create_time: Option<i64>,
}

/// What [`Incremental::finish`] did with the state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Finished {
    /// The state was replaced: it records this newest row (`None`: no run has had a row yet).
    /// It never goes back to an older row.
    Saved(Option<Newest>),
    /// The state was left as it was: the export found its output already complete (a resume
    /// with nothing to do: an earlier run wrote that output and did not record it), so which
    /// rows it holds is not this run's to say. The same run again (the same output, resumed)
    /// finds it complete again and leaves the state again: to move on, run the export without
    /// resume (it writes this window again, then the state records it), or into another output.
    Unchanged,
}

/// An incremental run: the state it continues from, and what it needs to write the next one.
///
/// # Examples
/// ```no_run
/// # async fn run(client: xp_export::Client) -> Result<(), xp_export::export::ExportError> {
/// use std::time::Duration;
/// use xp_export::export::{Format, Incremental, Target};
///
/// let daily = client.push_actions().campaign(245624);
/// let run = Incremental::open("push-actions.state.json", &daily)?
///     .lookback(Duration::from_secs(14 * 3600));
/// let query = run.query().await?;
/// let report = run
///     .export(query, Format::Ndjson, Target::File("today.ndjson".into()))
///     .run(std::future::pending(), |_, _| {})
///     .await?;
/// run.finish(&report).await?;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct Incremental {
    path: PathBuf,
    /// The query in keyset mode, without its start: its identity, and what each run starts from.
    base: Query<RawRow>,
    /// The newest row of the runs before.
    previous: Option<Newest>,
    /// The first run's `since`, as the state records it (`None` in a state of an earlier build,
    /// or of a first run without one).
    first_since: Option<i64>,
    /// Where the first run starts (`create_time >= since`).
    since: Option<i64>,
    /// How far before the last newest row a run reads again.
    lookback: Option<Duration>,
    /// The state's fingerprint of the credential, when it is this client's: written again.
    credential: Option<Fingerprint>,
    /// Held from `open` until `finish` (or the drop): one run per state at a time. A state in
    /// a bucket has none: its write is conditional instead.
    _lock: Option<StateLock>,
    /// A state in a bucket, and the version read.
    #[cfg(feature = "object-store")]
    bucket: Option<bucket::InBucket>,
}

impl Incremental {
    /// The incremental run of `query` whose state is kept at `state` (created by the first
    /// run). Reads and checks the state, sending nothing: a state of another query, of
    /// another endpoint (the client's base URL) or credential, or one edited, damaged, of
    /// another version or not a regular file is an error of kind
    /// [`State`](super::ExportErrorKind::State); a query ordered other than by ascending
    /// `action_id` (the order a state can continue) one of kind
    /// [`Query`](super::ExportErrorKind::Query). The query runs in [`Mode::Keyset`].
    ///
    /// Locks the state until [`finish`](Self::finish) or the drop (the operating system's
    /// lock on `.STATE.lock` beside it, which a killed process lets go): while another run
    /// holds it, `open` fails at once with an error of kind
    /// [`Busy`](super::ExportErrorKind::Busy), since two runs at once would each write the
    /// state and the one finishing last would take it back to its own, older, newest row.
    pub fn open<T>(state: impl Into<PathBuf>, query: &Query<T>) -> Result<Self, ExportError> {
        let path = state.into();
        let base = Self::checked_query(query)?;
        // Checked before the lock too, so that a state refused leaves nothing beside it.
        let check = |st: Option<state::State>| -> Result<_, ExportError> {
            Ok(match st {
                Some(st) => {
                    st.check_same_query(&path, base.model(), &base.identity())?;
                    let credential = st.check_same_api(&path, &base.client)?;
                    (st.newest(), st.since, credential)
                }
                None => (None, None, None),
            })
        };
        check(state::read(&path)?)?;
        let lock = StateLock::acquire(&path)?;
        let (previous, first_since, credential) = check(state::read(&path)?)?;
        Ok(Incremental {
            path,
            base,
            previous,
            first_since,
            since: None,
            lookback: None,
            credential,
            _lock: Some(lock),
            #[cfg(feature = "object-store")]
            bucket: None,
        })
    }

    /// The incremental run of `query` whose state is the object at `url` (created by the first
    /// run), in `store`, or the store its URL's environment configures. Reads and checks the
    /// state as [`open`](Self::open) does, sending nothing to the API; a bucket that cannot be
    /// read is an error of kind [`State`](super::ExportErrorKind::State) naming the store and
    /// the cause.
    ///
    /// No lock is taken: [`finish`](Self::finish) replaces the state only if it is still the
    /// version read here (its ETag or generation), so of two runs at once the second to finish
    /// fails with an error of kind [`Busy`](super::ExportErrorKind::Busy) and leaves the state
    /// as the first wrote it.
    #[cfg(feature = "object-store")]
    pub async fn open_object<T>(
        url: super::object::ObjectUrl,
        store: Option<std::sync::Arc<dyn super::object::Store>>,
        query: &Query<T>,
    ) -> Result<Self, ExportError> {
        let base = Self::checked_query(query)?;
        let store = match store {
            Some(store) => store,
            None => super::object::from_env(&url, super::object::PART_BYTES)?,
        };
        let (at, st) = bucket::read(url, store).await?;
        let path = at.shown();
        let (previous, first_since, credential) = match st {
            Some(st) => {
                st.check_same_query(&path, base.model(), &base.identity())?;
                let credential = st.check_same_api(&path, &base.client)?;
                (st.newest(), st.since, credential)
            }
            None => (None, None, None),
        };
        Ok(Incremental {
            path,
            base,
            previous,
            first_since,
            since: None,
            lookback: None,
            credential,
            _lock: None,
            bucket: Some(at),
        })
    }

    /// `query` in keyset mode, if it walks in the order a state can continue.
    fn checked_query<T>(query: &Query<T>) -> Result<Query<RawRow>, ExportError> {
        let base = query.with_rows::<RawRow>().mode(Mode::Keyset);
        let order = base.body.order.as_deref().unwrap_or_default();
        if !matches!(key_direction(order), None | Some(Ok(false))) {
            return Err(ExportError::query(format!(
                "an incremental run walks in ascending {KEY}, the order a state can \
                 continue, not by {:?}",
                order.join(", ")
            )));
        }
        Ok(base)
    }

    /// Where the first run starts: the rows created at or after `unix_secs`
    /// ([`Query::since`]). The state records it, and every later run keeps to it (a lookback
    /// never reaches before it), also when the first run found no row; a run that continues a
    /// state starts where the state says, whatever it is given here.
    #[must_use]
    pub fn since(mut self, unix_secs: i64) -> Self {
        self.since = Some(unix_secs);
        self
    }

    /// Also reads again the rows created within `window` before the last run's newest row
    /// (their delivery, open and click change after the send). Without the newest row's
    /// `create_time` in the state, nothing is read again. Not with a row limit
    /// ([`Query::max_rows`]): [`query`](Self::query) refuses the two together.
    #[must_use]
    pub fn lookback(mut self, window: Duration) -> Self {
        self.lookback = Some(window);
        self
    }

    /// The state file (for a state in a bucket, its URL).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The newest row of the runs before, as the state records it; `None` on a first run (or
    /// while no run has had a row).
    pub fn previous(&self) -> Option<Newest> {
        self.previous
    }

    /// Whether this run continues a state (so [`since`](Self::since) does not apply): one
    /// with a newest row, or whose first run had a `since` and found no row.
    pub fn continues(&self) -> bool {
        self.previous.is_some() || self.first_since.is_some()
    }

    /// The `since` the runs keep to (`create_time >= since`): the first run's, as the state
    /// records it; on a first run, the one given to [`since`](Self::since).
    pub fn first_since(&self) -> Option<i64> {
        match (self.first_since, self.previous) {
            (Some(s), _) => Some(s),
            (None, None) => self.since,
            (None, Some(_)) => None,
        }
    }

    /// The query this run exports: in keyset order after the last newest key, or with a
    /// lookback after the row before the first one created within it (whichever is earlier);
    /// on a first run from the first row, or from [`since`](Self::since); every run keeps to
    /// the first run's `since` ([`first_since`](Self::first_since)). A lookback asks
    /// the API for its window's first key (two requests of one row); its failure is an error
    /// of kind [`Api`](super::ExportErrorKind::Api). A lookback with a row limit
    /// ([`Query::max_rows`]) is an error of kind [`Query`](super::ExportErrorKind::Query),
    /// before any request: the rows read again could take the whole limit, run after run.
    pub async fn query(&self) -> Result<Query<RawRow>, ExportError> {
        if let (Some(window), Some(limit)) = (self.lookback, self.base.max_rows) {
            return Err(ExportError::query(format!(
                "a row limit ({limit} rows) does not go with a lookback ({}s): the rows read \
                 again may take the whole limit, and every run would read them again and never \
                 reach the new rows; leave out one of them",
                window.as_secs()
            )));
        }
        let from = match self.first_since() {
            Some(s) => self.base.clone().since(s),
            None => self.base.clone(),
        };
        let Some(last) = self.previous else {
            return Ok(from);
        };
        Ok(match self.start_key(last).await? {
            Some(key) => from.start_after(key),
            None => from,
        })
    }

    /// The export of `query` (from [`query`](Self::query)) in `format` to `target`, counting
    /// its rows above the last newest key as new ([`Report::rows_new`]) and the others as read
    /// again; a target that is the state, or whose partial file, checkpoint or lock is, is
    /// refused when the export runs, before anything is written (see [`count`](Self::count)).
    pub fn export(&self, query: Query<RawRow>, format: Format, target: Target) -> Export {
        self.count(Export::new(query, format, target))
    }

    /// `job`, counting its rows above the last newest key as new and the others as read again.
    /// A job whose output (or a file beside it: its partial file, checkpoint, lock) is the
    /// state fails before writing anything, with an error of kind
    /// [`State`](super::ExportErrorKind::State): each would be written over the other.
    pub fn count(&self, job: Export) -> Export {
        job.count_new_after(self.previous.map_or(0, |n| n.action_id))
            .keep_apart(&self.path)
    }

    /// After the export of this run's query ended well: the state with the newest row (never
    /// an older one than before, nor than the state on disk now) replaces the old one
    /// atomically and durably, and the state's lock is let go. Call it only with the report of
    /// a complete output; a failed run must leave the state, so that the next run repeats the
    /// window. Learning the newest row's `create_time` takes one request of one row; an answer
    /// that is not that row (another key, or none) is an error of kind
    /// [`Api`](super::ExportErrorKind::Api) naming both, and a state that cannot be written
    /// one of kind [`Io`](super::ExportErrorKind::Io): either way nothing is written, and the
    /// next run repeats this window.
    pub async fn finish(self, report: &Report) -> Result<Finished, ExportError> {
        if report.already_complete {
            return Ok(Finished::Unchanged);
        }
        let mut newest = match (self.previous, report.summary.next_key) {
            (Some(old), Some(key)) if key <= old.action_id => Some(old),
            (Some(old), None) => Some(old),
            (_, Some(key)) => Some(Newest {
                action_id: key,
                create_time: self.create_time(key).await?,
            }),
            (None, None) => None,
        };
        // The lock keeps other runs of this program out; a state written meanwhile all the
        // same (by hand, or by a build without the lock) is never taken back to an older row.
        // (A state in a bucket is written only over the version read.)
        let on_disk = match self.in_bucket() {
            true => None,
            false => state::read(&self.path)?,
        };
        if let Some(on_disk) = on_disk {
            on_disk.check_same_query(&self.path, self.base.model(), &self.base.identity())?;
            on_disk.check_same_api(&self.path, &self.base.client)?;
            let key = |n: Option<Newest>| n.map(|n| n.action_id);
            if key(on_disk.newest()) > key(newest) {
                newest = on_disk.newest();
            }
        }
        let client = &self.base.client;
        let api = (
            client.api_url().to_string(),
            self.credential
                .clone()
                .unwrap_or_else(|| client.fingerprint()),
        );
        let mut state = state::State::new(self.base.model(), self.base.identity(), newest, api);
        state.since = self.first_since();
        #[cfg(feature = "object-store")]
        if let Some(at) = &self.bucket {
            bucket::write(at, &state).await?;
            return Ok(Finished::Saved(newest));
        }
        state::write(&self.path, &state)?;
        Ok(Finished::Saved(newest))
    }

    /// Whether the state is an object in a bucket.
    fn in_bucket(&self) -> bool {
        #[cfg(feature = "object-store")]
        return self.bucket.is_some();
        #[cfg(not(feature = "object-store"))]
        false
    }

    /// Where the walk starts: after the last newest key, or with a lookback, before the first
    /// row created within it (whichever is earlier); `None`: from the first row.
    async fn start_key(&self, last: Newest) -> Result<Option<u64>, ExportError> {
        let (Some(back), Some(time)) = (self.lookback, last.create_time) else {
            return Ok(Some(last.action_id));
        };
        let back = i64::try_from(back.as_secs()).unwrap_or(i64::MAX);
        // Never before the first run's `since`: no run exported the rows created before it.
        let from = time
            .saturating_sub(back)
            .max(self.first_since().unwrap_or(i64::MIN));
        let window = self.base.clone().since(from);
        let range = window
            .key_range()
            .await
            .map_err(|e| ExportError::request("finding the first row of the lookback", e))?;
        Ok(match range {
            Some((first, _)) if first <= last.action_id => first.checked_sub(1),
            _ => Some(last.action_id),
        })
    }

    /// The `create_time` of the row `key`, by a one-row request; `None` when it has none. An
    /// answer that is not that row (none, another key, a `create_time` that is not a whole
    /// number) is an error naming the key and what came back: a server that does not apply the
    /// condition would otherwise move the next lookback's window.
    async fn create_time(&self, key: u64) -> Result<Option<i64>, ExportError> {
        const DOING: &str = "finding the newest row's create_time";
        let probe = self
            .base
            .with_rows::<PushAction>()
            .filter(KEY, Op::Eq, key)
            .select([KEY, "create_time"])
            .mode(Mode::Offset)
            .seam_check(false)
            .start_offset(0)
            .page_size(1)
            .max_rows(1)
            .concurrency(1);
        let row = probe
            .stream()
            .try_next()
            .await
            .map_err(|e| ExportError::request(DOING, e))?;
        let answered = match row {
            Some(row) if row.action_id == Some(key) => return Ok(row.create_time),
            Some(row) => match row.action_id {
                Some(other) => format!("the row with {KEY} {other}"),
                None => format!("a row without {KEY}"),
            },
            None => "no row".to_string(),
        };
        let wrong = Error::new(
            ErrorKind::NotEnvelope,
            format!(
                "asked for the row with {KEY} {key}, the API answered {answered}: it does not \
                 apply the condition as asked, so the state is left as it was"
            ),
        )
        .at(self.base.model(), 0);
        Err(ExportError::request(DOING, wrong))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::export::ExportErrorKind;

    #[test]
    fn a_query_a_state_cannot_continue_is_refused_before_any_file_is_written() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        let query = crate::Client::for_tests().push_actions();
        for order in ["action_id DESC", "create_time", "action_id, create_time"] {
            let err = Incremental::open(&path, &query.clone().order(order)).unwrap_err();
            assert_eq!(err.kind(), ExportErrorKind::Query, "{order}");
            assert!(err.to_string().contains("ascending action_id"), "{err}");
        }
        for order in ["action_id", "action_id ASC", " Action_ID   asc "] {
            let run = Incremental::open(&path, &query.clone().order(order)).unwrap();
            assert!(!run.continues(), "{order}");
        }
        assert!(!path.exists(), "opening writes nothing");
    }

    #[test]
    fn a_state_of_another_query_is_refused_naming_both() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        let ours = crate::Client::for_tests().push_actions().campaign(7);
        let newest = Newest {
            action_id: 9,
            create_time: None,
        };
        let client = crate::Client::for_tests();
        let api = (client.api_url().to_string(), client.fingerprint());
        let st = state::State::new(ours.model(), ours.identity(), Some(newest), api);
        state::write(&path, &st).unwrap();
        let run = Incremental::open(&path, &ours).unwrap();
        assert_eq!(run.previous(), Some(newest));
        let theirs = crate::Client::for_tests().push_actions().campaign(8);
        let err = Incremental::open(&path, &theirs).unwrap_err();
        assert_eq!(err.kind(), ExportErrorKind::State);
        let m = err.to_string();
        assert!(
            m.contains("another query") && m.contains('7') && m.contains('8'),
            "{m}"
        );
    }

    /// A state records the endpoint and a fingerprint of the credential its rows were read
    /// with: another API or project's state is refused, naming what differs, and the state
    /// holds neither secret nor anything that shows it.
    #[test]
    fn a_state_of_another_api_or_credential_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        let eu = crate::Client::builder()
            .apptoken("eu-s3cret")
            .build()
            .unwrap();
        let query = eu.push_actions().campaign(7);
        let api = (eu.api_url().to_string(), eu.fingerprint());
        let newest = Newest {
            action_id: 9,
            create_time: None,
        };
        let st = state::State::new(query.model(), query.identity(), Some(newest), api);
        state::write(&path, &st).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            !text.contains("s3cret") && text.contains("\"credential\""),
            "{text}"
        );
        assert_eq!(
            Incremental::open(&path, &query).unwrap().previous(),
            Some(newest)
        );

        let us = crate::Client::builder()
            .region(crate::client::Region::Us)
            .apptoken("eu-s3cret")
            .build()
            .unwrap();
        let err = Incremental::open(&path, &us.push_actions().campaign(7)).unwrap_err();
        assert_eq!(err.kind(), ExportErrorKind::State);
        let m = err.to_string();
        assert!(
            m.contains(
                "endpoint https://external-api.xtremepush.com/api/external/list/push-devices \
                 vs https://api.us.xtremepush.com/api/external/list/push-devices"
            ),
            "{m}"
        );
        assert!(
            m.contains("fresh path") && m.contains("delete this one"),
            "{m}"
        );

        let other = crate::Client::builder()
            .apptoken("another")
            .build()
            .unwrap();
        let err = Incremental::open(&path, &other.push_actions().campaign(7)).unwrap_err();
        assert_eq!(err.kind(), ExportErrorKind::State);
        let m = err.to_string();
        assert!(m.contains("another credential"), "{m}");
        assert!(!m.contains("s3cret") && !m.contains("another\""), "{m}");
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            text,
            "left as it was"
        );
    }
}
