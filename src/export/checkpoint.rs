//! The checkpoint beside a partial export: what was asked and how much of it is safely written.

use std::fmt;
use std::fs;
use std::io;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::format::Format;
use super::sealed;
use crate::client::{Client, Fingerprint};

/// What identifies an export: two runs with equal identities write the same bytes.
/// It holds no secret: the credential is known by its fingerprint alone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Identity {
    /// The list model.
    pub model: String,
    /// Conditions, select and order, as sent in the request body.
    pub query: serde_json::Value,
    /// The `limit` asked for per page.
    pub page_size: u64,
    /// The offset the export started at.
    pub start_offset: u64,
    /// Keyset mode: the `action_id` the export started after.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_after: Option<u64>,
    /// Offset or keyset paging.
    #[serde(default)]
    pub mode: crate::query::Mode,
    /// The most rows the export writes, if limited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_rows: Option<u64>,
    /// The output format.
    pub format: Format,
    /// Whether the output is gzip-compressed.
    pub gzip: bool,
    /// A CSV export: whether text cells a spreadsheet would run as a formula got a leading `'`
    /// ([`Export::csv_formula_guard`](super::Export::csv_formula_guard)). `None` for other
    /// formats, and in a checkpoint of an earlier build, which guarded every CSV: see
    /// [`formula_guard`](Self::formula_guard).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub csv_formula_guard: Option<bool>,
    /// The API's base URL (with `model`, the endpoint the rows come from). `None` in a
    /// checkpoint of an earlier build, which did not record it: that one is taken as this run's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_url: Option<String>,
    /// The fingerprint of the credential the rows were read with ([`Client::fingerprint`]):
    /// another apptoken is another project, whose rows another run's file must not be
    /// continued with. `None` as `api_url` is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential: Option<Fingerprint>,
}

impl Identity {
    /// Whether the output's text cells were guarded against spreadsheet formulas: as recorded,
    /// else (an earlier build's checkpoint) whenever the output is CSV.
    pub fn formula_guard(&self) -> bool {
        self.csv_formula_guard.unwrap_or(self.format == Format::Csv)
    }

    /// Every difference from `other`, in words and joined by `; `, or `None` when they are
    /// the same.
    pub fn difference(&self, other: &Identity) -> Option<String> {
        let format = |i: &Identity| format!("{}{}", i.format, if i.gzip { "+gzip" } else { "" });
        // Options are shown as `5` / `none`; those strings are equal exactly when the options
        // are.
        let option = |v: Option<u64>| v.map_or_else(|| "none".to_string(), |v| v.to_string());
        let (a, b) = (self, other);
        let mut diffs = Vec::new();
        if let (Some(x), Some(y)) = (&a.api_url, &b.api_url) {
            let endpoint = |url: &str, model: &str| format!("{url}/list/{model}");
            differ(
                &mut diffs,
                "endpoint",
                endpoint(x, &a.model),
                endpoint(y, &b.model),
            );
        }
        if let (Some(x), Some(y)) = (&a.credential, &b.credential)
            && x != y
        {
            diffs.push("another credential (another apptoken or OAuth client)".to_string());
        }
        differ(&mut diffs, "model", &a.model, &b.model);
        differ(&mut diffs, "query", &a.query, &b.query);
        differ(&mut diffs, "page size", a.page_size, b.page_size);
        differ(&mut diffs, "mode", a.mode, b.mode);
        differ(
            &mut diffs,
            "start after",
            option(a.start_after),
            option(b.start_after),
        );
        differ(
            &mut diffs,
            "max rows",
            option(a.max_rows),
            option(b.max_rows),
        );
        differ(&mut diffs, "start offset", a.start_offset, b.start_offset);
        differ(&mut diffs, "format", format(a), format(b));
        let guard = |i: &Identity| if i.formula_guard() { "on" } else { "off" };
        if a.format == Format::Csv && b.format == Format::Csv {
            differ(&mut diffs, "CSV formula guard", guard(a), guard(b));
        }
        (!diffs.is_empty()).then(|| diffs.join("; "))
    }

    /// Fingerprints this run's credential (`client`'s) as `stored`'s was, so that
    /// [`difference`](Self::difference) can compare the two: `stored`'s own fingerprint when
    /// it is of this credential, else a fresh one (which differs). Nothing when `stored` has
    /// none (written by an earlier build).
    pub(crate) fn fingerprint_as(&mut self, stored: &Identity, client: &Client) {
        if let Some(theirs) = &stored.credential {
            self.credential = Some(if client.is_fingerprinted_by(theirs) {
                theirs.clone()
            } else {
                client.fingerprint()
            });
        }
    }
}

/// Notes `what` in `diffs` when `ours` and `theirs` differ, showing both.
fn differ<T: PartialEq + fmt::Display>(diffs: &mut Vec<String>, what: &str, ours: T, theirs: T) {
    if ours != theirs {
        diffs.push(format!("{what} {ours} vs {theirs}"));
    }
}

/// How far a file export got: everything up to `bytes` in the partial file is complete rows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// The checkpoint format's version.
    pub version: u32,
    /// What was being exported.
    pub identity: Identity,
    /// The offset of the next page to fetch (keyset mode: rows written, counted from the
    /// start offset).
    pub next_offset: u64,
    /// Keyset mode: the `action_id` of the last row written; the next page seeks past it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_key: Option<u64>,
    /// Rows written so far.
    pub rows: u64,
    /// Bytes of the partial file that hold those rows; anything past them is cut on resume.
    pub bytes: u64,
    /// CRC-32 of those bytes (as written: compressed for gzip); a resume checks the partial
    /// file against it.
    pub committed_crc32: u32,
    /// The CSV columns, once fixed by the header.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub columns: Option<Vec<String>>,
    /// Parquet: the part files complete on disk, and the schema they share. (`bytes` and
    /// `committed_crc32` are then 0: the rows are in the parts.)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parts: Option<Parts>,
    /// String values stored with U+FFFD in place of a lone UTF-16 surrogate so far, so that the
    /// finished export's report counts an earlier run's too.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub values_replaced: u64,
    /// An object output: the multipart upload the rows are in, and which run holds it. (`bytes`
    /// and `committed_crc32` then count the parts uploaded.)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upload: Option<Upload>,
}

/// An object output's multipart upload, as its checkpoint (an object beside the output)
/// records it: a run on another machine continues it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Upload {
    /// A random token of the run that wrote this checkpoint: a run that resumes writes its own
    /// (only if the checkpoint is still the one it read), so two runs cannot both go on.
    pub claim: String,
    /// The upload's id, once created (the first part).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The parts uploaded, in order: each one's id (S3's ETag, Azure's block id).
    #[serde(default)]
    pub parts: Vec<String>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// A Parquet export's parts, as its checkpoint records them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Parts {
    /// The part files, in order (`part-00000.parquet`, ...).
    pub files: Vec<PartFile>,
    /// The columns and their types, fixed by the first part; a resume writes the same.
    pub schema: serde_json::Value,
}

/// One complete part file of a Parquet export.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PartFile {
    /// Rows in it.
    pub rows: u64,
    /// Its size.
    pub bytes: u64,
    /// CRC-32 of its bytes; a resume checks the file against it.
    pub crc32: u32,
}

/// The current checkpoint format (2: sealed with a checksum, with the committed bytes' CRC-32).
pub const VERSION: u32 = 2;

impl Checkpoint {
    /// Reads the checkpoint at `path`, `None` when there is none. A checkpoint whose checksum
    /// does not match its contents (edited or damaged) is an error of kind `InvalidData`.
    pub fn load(path: &Path) -> io::Result<Option<Checkpoint>> {
        match fs::read(path) {
            Ok(bytes) => sealed::unseal(&bytes)
                .map(Some)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Writes the checkpoint atomically and durably: a reader sees the old one or the new one,
    /// never half, and the new one is on disk before it replaces the old.
    pub fn save(&self, path: &Path) -> io::Result<()> {
        sealed::replace(path, self)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::export::files::{checkpoint_path, partial_path};

    /// A CSV export of campaign 1's push actions.
    pub(crate) fn identity() -> Identity {
        Identity {
            model: "push-devices".into(),
            query: serde_json::json!({"condition": [["campaign_id", "=", 1]]}),
            page_size: 1000,
            start_offset: 0,
            start_after: None,
            mode: Default::default(),
            max_rows: None,
            format: Format::Csv,
            gzip: false,
            csv_formula_guard: Some(false),
            api_url: None,
            credential: None,
        }
    }

    #[test]
    fn paths_sit_beside_the_output() {
        let p = Path::new("/data/out/failed.csv");
        assert_eq!(partial_path(p), Path::new("/data/out/.failed.csv.partial"));
        assert_eq!(
            checkpoint_path(p),
            Path::new("/data/out/.failed.csv.checkpoint.json")
        );
    }

    #[test]
    fn save_then_load_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.checkpoint.json");
        assert_eq!(Checkpoint::load(&path).unwrap(), None);
        let cp = Checkpoint {
            version: VERSION,
            identity: identity(),
            next_offset: 3000,
            next_key: Some(77),
            rows: 3000,
            bytes: 123_456,
            committed_crc32: 0xdead_beef,
            columns: Some(vec!["action_id".into()]),
            parts: None,
            values_replaced: 0,
            upload: None,
        };
        cp.save(&path).unwrap();
        assert_eq!(Checkpoint::load(&path).unwrap(), Some(cp));
        let text = fs::read_to_string(&path).unwrap();
        assert!(text.contains("\"rows\": 3000"), "{text}");
        assert!(text.ends_with("\"\n}\n"), "{text}");
        assert!(!crate::export::temp_path(&path).exists());
    }

    #[test]
    fn an_edited_or_damaged_checkpoint_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.checkpoint.json");
        let cp = Checkpoint {
            version: VERSION,
            identity: identity(),
            next_offset: 3000,
            next_key: Some(77),
            rows: 3000,
            bytes: 123_456,
            committed_crc32: 1,
            columns: None,
            parts: None,
            values_replaced: 0,
            upload: None,
        };
        cp.save(&path).unwrap();
        let text = fs::read_to_string(&path).unwrap();
        for (from, to) in [
            ("\"bytes\": 123456", "\"bytes\": 123457"),
            ("\"next_key\": 77", "\"next_key\": 78"),
            ("\"rows\": 3000", "\"rows\":  3000"),
        ] {
            fs::write(&path, text.replace(from, to)).unwrap();
            let err = Checkpoint::load(&path).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::InvalidData);
            assert!(err.to_string().contains("edited or damaged"), "{err}");
        }
        fs::write(&path, &text[..text.len() / 2]).unwrap();
        assert!(Checkpoint::load(&path).is_err());
        fs::write(&path, b"{\"version\": 1}").unwrap();
        let err = Checkpoint::load(&path).unwrap_err();
        assert!(err.to_string().contains("no checksum"), "{err}");
    }

    #[test]
    fn differences_are_named() {
        let a = identity();
        assert_eq!(a.difference(&a.clone()), None);
        let mut b = identity();
        b.query = serde_json::json!({"condition": [["campaign_id", "=", 2]]});
        b.gzip = true;
        let d = a.difference(&b).unwrap();
        assert!(d.contains("query"), "{d}");
        assert!(d.contains("format csv vs csv+gzip"), "{d}");
    }

    /// A CSV started with the formula guard is continued only with it, and one an earlier
    /// build started (which guarded every CSV, and did not record it) only with it too.
    #[test]
    fn the_csv_formula_guard_is_part_of_the_identity() {
        let plain = identity();
        let guarded = Identity {
            csv_formula_guard: Some(true),
            ..identity()
        };
        let earlier_build = Identity {
            csv_formula_guard: None,
            ..identity()
        };
        assert_eq!(
            plain.difference(&guarded).as_deref(),
            Some("CSV formula guard off vs on")
        );
        assert_eq!(
            earlier_build.difference(&plain).as_deref(),
            Some("CSV formula guard on vs off")
        );
        assert_eq!(earlier_build.difference(&guarded), None);
        let ndjson = Identity {
            format: Format::Ndjson,
            csv_formula_guard: None,
            ..identity()
        };
        assert!(!ndjson.formula_guard());
    }

    #[test]
    fn every_difference_is_named_in_order() {
        let a = identity();
        let b = Identity {
            model: "push-campaigns".into(),
            query: serde_json::json!({}),
            page_size: 10,
            start_offset: 5,
            start_after: Some(3),
            mode: crate::query::Mode::Keyset,
            max_rows: Some(9),
            format: Format::Json,
            gzip: true,
            csv_formula_guard: None,
            api_url: None,
            credential: None,
        };
        assert_eq!(
            a.difference(&b).unwrap(),
            "model push-devices vs push-campaigns; \
             query {\"condition\":[[\"campaign_id\",\"=\",1]]} vs {}; \
             page size 1000 vs 10; mode offset vs keyset; start after none vs 3; \
             max rows none vs 9; start offset 0 vs 5; format csv vs json+gzip"
        );
    }
}
