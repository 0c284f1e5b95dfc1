//! Bulk export: a query's rows to NDJSON, CSV or JSON, on stdout or in a file, or to Parquet in
//! a file, with a checkpoint (at most once a second, and at every stop; for Parquet, at every
//! row group) so an interrupted file export resumes where it stopped.
//!
//! A file export is written to a hidden partial file beside `PATH` (`.NAME.partial`) and
//! renamed to `PATH` only when complete, so a reader never sees half a file under the final
//! name, nor any of the files kept beside it (all hidden, see [`partial_path`] and the others).
//! Beside the partial file, `.NAME.checkpoint.json` records the query, the endpoint and a
//! salted fingerprint of the credential (never the credential itself), the next offset, how
//! many rows and bytes are safely written and their CRC-32, sealed with a checksum of its own.
//! A resumed export checks both (a checkpoint of another endpoint or credential is refused),
//! cuts the partial file back to those bytes and continues from that offset: the finished file
//! is byte-identical to one written in a single run.
//!
//! `.NAME.lock` is locked for the export's whole life, so a second export of the same output
//! fails at once, and removed when it ends. A finished export leaves `.NAME.complete`, the
//! record of what was exported, so that only an output this program finished is called
//! complete. A symlink is followed and its target written; a character device, FIFO or open
//! file descriptor is written straight through, with no partial file, checkpoint or lock.
//!
//! A gzip output (`.gz`) is written as one gzip member per page, which every gzip reader
//! reads as one stream; that is what lets a resume append to it.

// The job's outline is here; each step's details live in a module of its own:
// - incremental: runs that export what is new since the last one, and their state file;
// - destination: what -o names (a file, a symlink's target, a stream), before anything is written;
// - sink: where pages go: text formats into an output, Parquet into parquet's part files,
//   either into an object (object: the upload, its checkpoint in the bucket, create-only);
// - stop: the errors of an export that stops early, once its checkpoint is saved;
// - output: stdout, a stream or .NAME.partial, gzip members, commit, rename into place;
// - resume: how a file export starts: leftovers, checkpoint checks, cutting the partial file;
// - legacy: the visible side files of earlier builds, moved to the hidden names;
// - parquet: typed columns, row groups as part files, joined into one file at the end;
// - write_behind: the partial file synced in the background as it grows;
// - lock: .NAME.lock, held for the export's life, and .NAME.complete, the record of a finished one;
// - checkpoint: the checkpoint file and the identity of an export;
// - sealed: the seal of the checkpoint, the lock's record and the state, and their atomic writes;
// - files: the names of the files beside an output, and the file operations they share;
// - encode: rows to the bytes of each format;
// - surrogates: lone UTF-16 surrogates in a row's text, replaced by U+FFFD and counted;
// - report: Report, what a finished export did;
// - target: Target, where an export writes, and -o's names for it;
// - error, format: ExportError and Format, which the others share.
// Each uses only modules later in this list, so there is no cycle.
mod checkpoint;
mod destination;
mod encode;
mod error;
mod files;
mod format;
mod incremental;
mod legacy;
mod lock;
#[cfg(feature = "object-store")]
pub mod object;
mod output;
#[cfg(feature = "parquet")]
mod parquet;
mod report;
mod resume;
mod sealed;
mod sink;
mod stop;
mod surrogates;
mod target;
mod write_behind;

use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use futures::StreamExt;

pub use checkpoint::{Checkpoint, Identity};
#[doc(hidden)] // for the tests that check a CSV cell
pub use encode::neutralise;
pub use error::{ExportError, ExportErrorKind};
pub use files::{
    checkpoint_path, lock_path, missing_directory, partial_path, parts_path, record_path, temp_path,
};
pub use format::{
    DEFAULT_ROW_GROUP_BYTES, DEFAULT_ROW_GROUP_ROWS, Format, ParquetCompression, ParquetOptions,
};
pub use incremental::{Finished, Incremental, Newest};
pub use output::DEFAULT_CHECKPOINT_EVERY;
#[cfg(feature = "parquet")]
pub use parquet::RecordBatches;
use report::rows_after;
pub use report::{KeptInExtra, ParquetReport, ReplacedValue, Report};
pub use target::Target;

use crate::model::RawRow;
use crate::paginate::Summary;
use crate::query::{Query, ShardPlan};
use destination::Destination;
use encode::{Encoder, FormulaGuard};
use lock::{OutputLock, Tally};
use output::Output;
use resume::{Asked, Resume};
use sink::{At, Sink};
use stop::{failed, interrupted, kept, kept_at, split_moved};

/// One export: a query, a format and a target.
///
/// # Examples
/// ```no_run
/// # async fn run(client: xp_export::Client) -> Result<(), xp_export::export::ExportError> {
/// use xp_export::export::{Export, Format, Target};
/// let query = client.push_actions().campaign(245624).failed();
/// let report = Export::new(query, Format::Csv, Target::File("failed.csv".into()))
///     .run(std::future::pending(), |_summary, _rows| {})
///     .await?;
/// eprintln!("{} rows", report.rows_in_output);
/// # Ok(()) }
/// ```
///
/// Its `Debug` shows the query's settings, never the apptoken.
#[derive(Debug)]
pub struct Export {
    query: Query<RawRow>,
    format: Format,
    target: Target,
    gzip: bool,
    formula_guard: FormulaGuard,
    asked: Asked,
    new_after: Option<u64>,
    /// A file the export must not write over: an incremental run's state.
    keep_apart: Option<PathBuf>,
    checkpoint_every: Duration,
    parquet: ParquetOptions,
    /// A self-probed part: the whole query and the key range the part split, probed again at
    /// the end.
    recheck: Option<(Query<RawRow>, KeyRange)>,
    /// An object output's store, when not the one its URL's environment configures.
    #[cfg(feature = "object-store")]
    store: Option<StoreOf>,
    /// An object output's least part size.
    #[cfg(feature = "object-store")]
    part_bytes: usize,
}

/// A store given by the program, shown in `Debug` by its own `Display` (no credential).
#[cfg(feature = "object-store")]
#[derive(Clone)]
struct StoreOf(std::sync::Arc<dyn object::Store>);

#[cfg(feature = "object-store")]
impl std::fmt::Debug for StoreOf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// What opening an export's output found. One per export: the size of its variants does not
/// matter.
#[allow(clippy::large_enum_variant)]
enum Opened {
    /// Where the rows go, and the checkpoint they continue, if any.
    Sink(Sink, Option<Checkpoint>),
    /// `--resume` of an output already complete: what its record says, if it says, and for
    /// an object, the object.
    Complete(Option<Tally>, sink::Made),
}

/// A query's key range as [`Query::key_range`] gives it.
type KeyRange = Option<(u64, u64)>;

impl Export {
    /// An export of `query`'s rows (kept as the raw JSON the server sent) in `format` to
    /// `target`. A file target whose name ends in `.gz` is compressed.
    pub fn new<T>(query: Query<T>, format: Format, target: Target) -> Self {
        let query = query.with_rows::<RawRow>();
        let gzip = target.name().is_some_and(|p| Format::from_path(p).1);
        Export {
            query,
            format,
            target,
            gzip,
            formula_guard: FormulaGuard::Off,
            asked: Asked::default(),
            new_after: None,
            keep_apart: None,
            checkpoint_every: DEFAULT_CHECKPOINT_EVERY,
            parquet: ParquetOptions::default(),
            recheck: None,
            #[cfg(feature = "object-store")]
            store: None,
            #[cfg(feature = "object-store")]
            part_bytes: object::PART_BYTES,
        }
    }

    /// An object output ([`Target::Object`]): the least bytes of each part of its multipart
    /// upload (the last aside), kept within [`object::MIN_PART_BYTES`] and
    /// [`object::MAX_PART_BYTES`] (default [`object::PART_BYTES`]). The checkpoint in the bucket
    /// is saved after each part; memory holds about three.
    #[cfg(feature = "object-store")]
    #[must_use]
    pub fn part_bytes(mut self, bytes: usize) -> Self {
        self.part_bytes = bytes.clamp(object::MIN_PART_BYTES, object::MAX_PART_BYTES);
        self
    }

    /// Writes an object output ([`Target::Object`]) to `store` rather than the store its URL's
    /// environment configures (its builder's `from_env`): one a program built with its own
    /// settings, or an in-memory one in tests. Its bucket is the store's; the URL's key names
    /// the object.
    #[cfg(feature = "object-store")]
    #[must_use]
    pub fn object_store(mut self, store: std::sync::Arc<dyn object::Store>) -> Self {
        self.store = Some(StoreOf(store));
        self
    }

    /// This export is part `plan` of `whole` (the query before [`Query::shard`] or
    /// [`Query::shard_planned`] kept it to the part). A part that probed its own key range
    /// probes it again once its last page is written, before the output is made: if the range
    /// moved (rows added or removed at its ends), parts started at other times split the query
    /// differently, and the export fails with [`ExportErrorKind::SplitMoved`], its rows left in
    /// the partial file rather than made the output. A planned part ([`ShardPlan::planned`])
    /// sends nothing more: its split cannot move.
    ///
    /// This catches every part still running when the range moves; parts that ran one after
    /// another cannot see each other's ranges, which only a planned split
    /// ([`Query::plan_shards`]) makes one.
    ///
    /// [`ShardPlan::planned`]: crate::query::ShardPlan::planned
    #[must_use]
    pub fn part_of<T>(mut self, whole: &Query<T>, plan: &ShardPlan) -> Self {
        self.recheck = (!plan.planned).then(|| (whole.with_rows::<RawRow>(), plan.range));
        self
    }

    /// A CSV export writes every value as sent unless this is on: then a text cell starting
    /// with `=`, `+`, `-`, `@`, tab or carriage return gets a leading `'` ([`neutralise`]), so
    /// that a spreadsheet shows it as text instead of running it as a formula. For files that
    /// people open in a spreadsheet; it changes the data (the value read back is not the one
    /// sent), so a file for a program or a warehouse leaves it off. Other formats ignore it.
    /// A resume continues only with the setting the output was started with.
    #[must_use]
    pub fn csv_formula_guard(mut self, yes: bool) -> Self {
        self.formula_guard = if yes {
            FormulaGuard::On
        } else {
            FormulaGuard::Off
        };
        self
    }

    /// How a Parquet export writes its row groups (default [`ParquetOptions::default`]).
    #[must_use]
    pub fn parquet(mut self, options: ParquetOptions) -> Self {
        self.parquet = options;
        self
    }

    /// How often a file export saves its checkpoint (default [`DEFAULT_CHECKPOINT_EVERY`], a
    /// second): after the first page, then at the first page at least this long after the last
    /// save, and always at the end, on a stop and on a failure. A crash loses at most the
    /// pages since the last save, which a resume fetches again; zero saves after every page.
    #[must_use]
    pub fn checkpoint_every(mut self, every: Duration) -> Self {
        self.checkpoint_every = every;
        self
    }

    /// Continues an interrupted file export from its checkpoint, if there is one. Without it
    /// (or [`restart`](Self::restart)), an export whose output has a leftover partial file or
    /// checkpoint is refused.
    #[must_use]
    pub fn resume(mut self, yes: bool) -> Self {
        self.asked.resume = yes;
        self
    }

    /// Discards the partial file and checkpoint an interrupted export left, and starts over.
    #[must_use]
    pub fn restart(mut self, yes: bool) -> Self {
        self.asked.restart = yes;
        self
    }

    /// Counts this run's rows by key: those whose `action_id` is above `key` are new, the
    /// others read again ([`Report::rows_new`], [`Report::rows_reread`]). For an incremental
    /// run that re-reads a window before the last run's newest row.
    #[must_use]
    pub fn count_new_after(mut self, key: u64) -> Self {
        self.new_after = Some(key);
        self
    }

    /// Refuses to run (an error of kind [`ExportErrorKind::State`], before anything is
    /// written) if the output or a file beside it is `state`, an incremental run's state:
    /// each would be written over the other.
    #[must_use]
    pub(crate) fn keep_apart(mut self, state: &Path) -> Self {
        self.keep_apart = Some(state.to_path_buf());
        self
    }

    /// Whether the output at `path` (resolved), or a file beside it, is the state to keep apart.
    fn check_apart(&self, path: &Path) -> Result<(), ExportError> {
        let Some(state) = &self.keep_apart else {
            return Ok(());
        };
        let named = match &self.target {
            Target::File(given) => Some(given.as_path()),
            _ => None,
        };
        for output in std::iter::once(path).chain(named) {
            if let Some((_, what)) = files::written_for(output)
                .iter()
                .find(|(file, _)| files::same_file(state, file))
            {
                return Err(ExportError::state(format!(
                    "the state {} is {what} ({}): the export and the state would write over \
                     each other; give the state a file of its own",
                    state.display(),
                    output.display()
                )));
            }
        }
        Ok(())
    }

    fn identity(&self) -> Identity {
        Identity {
            model: self.query.model().to_string(),
            query: self.query.identity(),
            page_size: self.query.page_size,
            start_offset: self.query.start_offset,
            start_after: self.query.start_after,
            max_rows: self.query.max_rows,
            mode: self.query.mode,
            format: self.format,
            gzip: self.gzip,
            csv_formula_guard: (self.format == Format::Csv)
                .then_some(self.formula_guard == FormulaGuard::On),
            api_url: Some(self.query.client.api_url().to_string()),
            // Fingerprinted once it is known whether an earlier run's is to be kept.
            credential: None,
        }
    }

    /// Runs the export until its end, an error, or `stop` completing (Ctrl-C, say): the page
    /// being fetched then is dropped and the last complete page stays saved. `on_page` is
    /// called after every page is written, with the stream's summary and the rows in the
    /// output so far.
    pub async fn run(
        mut self,
        stop: impl Future<Output = ()>,
        mut on_page: impl FnMut(&Summary, u64),
    ) -> Result<Report, ExportError> {
        let started = Instant::now();
        let (mut sink, checkpoint) = match self.open().await? {
            Opened::Sink(sink, checkpoint) => (sink, checkpoint),
            Opened::Complete(tally, made) => {
                return Ok(Report::already_complete(&self.target, started, tally, made));
            }
        };
        let target = match &self.target {
            Target::File(path) => Some(path.clone()),
            _ => None,
        };
        let resumed_at = checkpoint.as_ref().map(|c| c.next_offset);
        let start = resumed_at.unwrap_or(self.query.start_offset);
        let mut rows = checkpoint.as_ref().map_or(0, |c| c.rows);
        let new_after = self.new_after;
        let recheck = self.recheck.take();
        let mut rows_new = 0;
        let mut pages = self.into_query(checkpoint.as_ref()).raw_pages();
        let mut stop = std::pin::pin!(stop);
        loop {
            let next = tokio::select! {
                biased;
                _ = &mut stop => return Err(interrupted(&mut sink, pages.summary(), rows).await),
                next = pages.next() => next,
            };
            let page = match next {
                None => break,
                Some(Ok(page)) => page,
                Some(Err(e)) => {
                    return Err(failed(&mut sink, e, rows, pages.summary().next_key).await);
                }
            };
            let page_rows = page.rows();
            rows += page_rows.len() as u64;
            rows_new += new_after.map_or(0, |key| rows_after(&page, key));
            let at = At {
                offset: page.offset(),
                next_offset: page.next_offset(),
                next_key: pages.summary().next_key,
                rows,
            };
            sink.page(page_rows, at)?;
            if let Err(e) = sink.settle().await {
                return Err(kept(&sink, e));
            }
            on_page(&pages.summary(), rows);
        }
        if let Some((whole, split)) = recheck {
            let next_key = pages.summary().next_key;
            match whole.key_range().await {
                Ok(now) if now == split => {}
                Ok(now) => return Err(split_moved(&mut sink, split, now, rows).await),
                Err(e) => return Err(failed(&mut sink, e, rows, next_key).await),
            }
        }
        let left_out_fields = sink.left_out();
        let replaced = sink.replaced();
        let tally = Tally::of(&pages.summary(), rows, &replaced);
        let kept_in = sink.kept_in_bucket();
        let made = match sink.finish(start, tally).await {
            Ok(made) => made,
            Err(e) => return Err(kept_at(kept_in, e)),
        };
        Ok(Report {
            summary: pages.summary(),
            rows_in_output: rows,
            resumed_at,
            path: made.path.or(target),
            left_out_fields,
            elapsed: started.elapsed(),
            already_complete: false,
            rows_known: true,
            earlier_end: None,
            rows_new: new_after.map(|_| rows_new),
            rows_reread: new_after.map(|_| pages.summary().rows.saturating_sub(rows_new)),
            parquet: made.parquet,
            #[cfg(feature = "object-store")]
            object: made.object,
            values_replaced: replaced.count(),
            replaced_values: replaced.named().to_vec(),
        })
    }

    /// Opens the output, fresh or where the checkpoint says to resume, holding its lock;
    /// [`Opened::Complete`] when `--resume` finds the output already complete.
    async fn open(&self) -> Result<Opened, ExportError> {
        sink::check_parquet(self.format, &self.target, self.gzip)?;
        let path = match &self.target {
            Target::File(path) => path,
            Target::Stdout => {
                let encoder = self.encoder(None);
                return Ok(Opened::Sink(Sink::text(encoder, Output::stdout()), None));
            }
            #[cfg(feature = "object-store")]
            Target::Object(url) => return self.open_object(url).await,
        };
        let path = match destination::destination(path)? {
            Destination::File(path) => path,
            Destination::Stream { path, kind } if self.asked.resume => {
                return Err(ExportError::resume(format!(
                    "cannot resume {}: it is {kind}, written straight through with no \
                     checkpoint; run without --resume (--offset or --after continue from a row)",
                    path.display()
                )));
            }
            Destination::Stream { path, kind } if self.format == Format::Parquet => {
                return Err(ExportError::output(format!(
                    "cannot write Parquet to {}: it is {kind}, and a Parquet file must be a \
                     regular file (its footer is written last); give -o FILE.parquet",
                    path.display()
                )));
            }
            Destination::Stream { path, .. } => {
                let out = Output::stream(&path, self.gzip)?;
                return Ok(Opened::Sink(Sink::text(self.encoder(None), out), None));
            }
        };
        self.check_apart(&path)?;
        let lock = OutputLock::acquire(&path)?;
        legacy::migrate(&path, &lock, self.asked.restart)?;
        let client = &self.query.client;
        let mut identity = self.identity();
        let checkpoint = match resume::check(&path, &mut identity, &lock, self.asked, client)? {
            Resume::AlreadyComplete(tally) => {
                return Ok(Opened::Complete(tally, sink::Made::default()));
            }
            Resume::From(cp) => Some(cp),
            Resume::Fresh => None,
        };
        if identity.credential.is_none() {
            identity.credential = Some(client.fingerprint());
        }
        #[cfg(feature = "parquet")]
        if self.format == Format::Parquet {
            let select = self.query.body.select.as_deref();
            let out = parquet::ParquetOut::open(
                &path,
                identity,
                lock,
                checkpoint.as_ref(),
                select,
                self.parquet.clone(),
            )?;
            return Ok(Opened::Sink(Sink::Parquet(Box::new(out)), checkpoint));
        }
        let encoder = self.encoder(checkpoint.as_ref());
        let out = Output::file(&path, self.gzip, checkpoint.clone(), identity, lock)?
            .checkpoint_every(self.checkpoint_every);
        Ok(Opened::Sink(Sink::text(encoder, out), checkpoint))
    }

    /// The encoder: CSV columns from `select`, push-devices' fields (and the first page's
    /// others), or the checkpoint's.
    fn encoder(&self, checkpoint: Option<&Checkpoint>) -> Encoder {
        let columns = match (&self.query.body.select, self.format) {
            (Some(select), Format::Csv) => Some(select.clone()),
            (None, Format::Csv) if self.query.model() == crate::model::push_devices::NAME => Some(
                crate::model::push_devices::FIELDS
                    .iter()
                    .map(|s| s.to_string())
                    .collect(),
            ),
            _ => None,
        };
        match checkpoint {
            Some(cp) => Encoder::resumed(
                self.format,
                cp.columns.clone().or(columns),
                cp.rows,
                cp.values_replaced,
                self.formula_guard,
            ),
            // push-devices' CSV without --select: its documented fields, then the other
            // fields its first page carries (a resumed output keeps its checkpoint's columns).
            None if self.query.body.select.is_none() => {
                Encoder::new(self.format, columns, self.formula_guard).with_first_page_fields()
            }
            None => Encoder::new(self.format, columns, self.formula_guard),
        }
    }

    /// The query, from where the checkpoint left off if there is one.
    fn into_query(self, checkpoint: Option<&Checkpoint>) -> Query<RawRow> {
        let (start, rows) =
            checkpoint.map_or((self.query.start_offset, 0), |cp| (cp.next_offset, cp.rows));
        let mut query = self.query.start_offset(start);
        if let Some(key) = checkpoint.and_then(|c| c.next_key) {
            query = query.start_after(key);
        }
        if let Some(max) = query.max_rows {
            // The limit counts rows in the output, earlier runs' included.
            query = query.max_rows(max.saturating_sub(rows));
        }
        query
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_shows_the_settings_but_not_the_apptoken() {
        let client = crate::Client::builder()
            .apptoken("s3cret-apptoken")
            .build()
            .unwrap();
        let query = client.push_actions().campaign(245624).failed();
        let export =
            Export::new(query, Format::Csv, Target::File("out.csv.gz".into())).resume(true);
        let debug = format!("{export:?}");
        for shown in [
            "push-devices",
            "245624",
            "Csv",
            "out.csv.gz",
            "gzip: true",
            "resume: true",
            "restart: false",
        ] {
            assert!(debug.contains(shown), "{shown} missing from {debug}");
        }
        assert!(!debug.contains("s3cret"), "{debug}");
    }
}
