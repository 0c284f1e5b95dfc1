//! The output formats, and what a file name says about them.

use std::fmt;
use std::path::Path;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// An output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// One JSON record per line, each exactly as the server sent it.
    Ndjson,
    /// A header of the fields, then one line per record (RFC 4180).
    Csv,
    /// One JSON array of the records, each as the server sent it.
    Json,
    /// Apache Parquet: typed columns, compressed (zstd by default); a file only.
    Parquet,
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Format::Ndjson => "ndjson",
            Format::Csv => "csv",
            Format::Json => "json",
            Format::Parquet => "parquet",
        })
    }
}

impl FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "ndjson" | "jsonl" => Ok(Format::Ndjson),
            "csv" => Ok(Format::Csv),
            "json" => Ok(Format::Json),
            "parquet" => Ok(Format::Parquet),
            _ => Err(format!(
                "unknown format {s:?}: expected ndjson, csv, json or parquet"
            )),
        }
    }
}

impl Format {
    /// The format and compression a file name implies: `x.csv`, `x.ndjson.gz`, `x.jsonl`,
    /// `x.json`, `x.parquet`; `None` for the format when the extension names none.
    pub fn from_path(path: &Path) -> (Option<Format>, bool) {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().to_ascii_lowercase())
            .unwrap_or_default();
        let (stem, gzip) = match name.strip_suffix(".gz") {
            Some(stem) => (stem.to_string(), true),
            None => (name, false),
        };
        let format = stem.rsplit_once('.').and_then(|(_, ext)| ext.parse().ok());
        (format, gzip)
    }
}

/// How a Parquet file is written: how large its row groups grow, and their compression.
///
/// A row group ends at the first page boundary after `row_group_rows` rows or
/// `row_group_bytes` bytes of rows (as the server sent them), whichever comes first; that bounds
/// the memory an export holds. Each row group is also the unit a resume keeps.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ParquetOptions {
    /// Rows per row group (default [`DEFAULT_ROW_GROUP_ROWS`]).
    pub row_group_rows: usize,
    /// Bytes of rows per row group (default [`DEFAULT_ROW_GROUP_BYTES`]).
    pub row_group_bytes: usize,
    /// The compression of every column (default zstd, level 3).
    pub compression: ParquetCompression,
}

/// Rows per Parquet row group by default.
pub const DEFAULT_ROW_GROUP_ROWS: usize = 100_000;

/// Bytes of rows (as the server sent them) per Parquet row group by default: 32 MiB.
pub const DEFAULT_ROW_GROUP_BYTES: usize = 32 << 20;

impl Default for ParquetOptions {
    fn default() -> Self {
        ParquetOptions {
            row_group_rows: DEFAULT_ROW_GROUP_ROWS,
            row_group_bytes: DEFAULT_ROW_GROUP_BYTES,
            compression: ParquetCompression::Zstd { level: 3 },
        }
    }
}

/// The compression of a Parquet file's columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParquetCompression {
    /// Zstandard at `level` (1 to 22; 3 by default).
    Zstd {
        /// The compression level.
        level: i32,
    },
    /// None.
    Uncompressed,
}

impl fmt::Display for ParquetCompression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParquetCompression::Zstd { level } => write!(f, "zstd({level})"),
            ParquetCompression::Uncompressed => f.write_str("uncompressed"),
        }
    }
}

impl FromStr for ParquetCompression {
    type Err = String;
    /// `zstd`, `zstd(N)` or `zstd:N`, `uncompressed` or `none`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let lower = s.trim().to_ascii_lowercase();
        if lower == "uncompressed" || lower == "none" {
            return Ok(ParquetCompression::Uncompressed);
        }
        let level = match lower.strip_prefix("zstd") {
            Some("") => Some(3),
            Some(rest) => rest
                .strip_prefix(':')
                .or_else(|| rest.strip_prefix('(').and_then(|r| r.strip_suffix(')')))
                .and_then(|n| n.parse::<i32>().ok())
                .filter(|n| (1..=22).contains(n)),
            None => None,
        };
        level
            .map(|level| ParquetCompression::Zstd { level })
            .ok_or_else(|| {
                format!(
                    "unknown Parquet compression {s:?}: expected zstd, zstd:LEVEL (1 to 22) \
                     or uncompressed"
                )
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_follow_the_file_name() {
        let cases = [
            ("out.csv", (Some(Format::Csv), false)),
            ("out.CSV.gz", (Some(Format::Csv), true)),
            ("out.ndjson", (Some(Format::Ndjson), false)),
            ("out.jsonl.gz", (Some(Format::Ndjson), true)),
            ("out.json", (Some(Format::Json), false)),
            ("out.parquet", (Some(Format::Parquet), false)),
            ("out.Parquet.gz", (Some(Format::Parquet), true)),
            ("out.gz", (None, true)),
            ("out", (None, false)),
            ("out.txt", (None, false)),
        ];
        for (name, expected) in cases {
            assert_eq!(Format::from_path(Path::new(name)), expected, "{name}");
        }
    }

    #[test]
    fn parquet_compression_is_zstd_at_a_level_or_none() {
        let zstd = |level| Ok(ParquetCompression::Zstd { level });
        assert_eq!("zstd".parse(), zstd(3));
        assert_eq!("ZSTD:19".parse(), zstd(19));
        assert_eq!("zstd(1)".parse(), zstd(1));
        assert_eq!("none".parse(), Ok(ParquetCompression::Uncompressed));
        assert_eq!("uncompressed".parse(), Ok(ParquetCompression::Uncompressed));
        for bad in ["zstd:0", "zstd:23", "zstd:x", "snappy", "gzip", ""] {
            let err = bad.parse::<ParquetCompression>().unwrap_err();
            assert!(err.contains("expected zstd"), "{bad}: {err}");
        }
        assert_eq!(ParquetCompression::Zstd { level: 3 }.to_string(), "zstd(3)");
        assert_eq!(
            ParquetOptions::default().row_group_rows,
            DEFAULT_ROW_GROUP_ROWS
        );
    }
}
