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
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Format::Ndjson => "ndjson",
            Format::Csv => "csv",
            Format::Json => "json",
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
            _ => Err(format!(
                "unknown format {s:?}: expected ndjson, csv or json"
            )),
        }
    }
}

impl Format {
    /// The format and compression a file name implies: `x.csv`, `x.ndjson.gz`, `x.jsonl`,
    /// `x.json`; `None` for the format when the extension names none.
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
            ("out.gz", (None, true)),
            ("out", (None, false)),
            ("out.txt", (None, false)),
        ];
        for (name, expected) in cases {
            assert_eq!(Format::from_path(Path::new(name)), expected, "{name}");
        }
    }
}
