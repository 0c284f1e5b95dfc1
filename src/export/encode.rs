//! Turning rows into the bytes of each output format.

use std::collections::HashMap;

use serde_json::value::RawValue;

use crate::model::RawRow;

use super::format::Format;
use super::surrogates::Replaced;

/// Encodes rows of one format; carries what it must remember between pages.
#[derive(Debug)]
pub(crate) struct Encoder {
    records: Records,
    /// Whether the output starts with its header already (a resumed one does).
    header_done: bool,
    /// The values stored with U+FFFD in place of a lone surrogate.
    replaced: Replaced,
}

/// What the CSV encoder does to text cells that a spreadsheet would run as a formula.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FormulaGuard {
    /// Every value as sent (the default).
    Off,
    /// Text starting with `=`, `+`, `-`, `@`, tab or carriage return gets a leading `'`
    /// ([`neutralise`]).
    On,
}

impl Encoder {
    /// An encoder for a fresh output. `columns` are the CSV columns where already known.
    pub(crate) fn new(format: Format, columns: Option<Vec<String>>, guard: FormulaGuard) -> Self {
        Encoder {
            records: Records::new(format, columns, guard),
            header_done: false,
            replaced: Replaced::default(),
        }
    }

    /// An encoder continuing an output that already holds `rows` rows (and its header), in
    /// which `replaced` values were stored with U+FFFD.
    pub(crate) fn resumed(
        format: Format,
        columns: Option<Vec<String>>,
        rows: u64,
        replaced: u64,
        guard: FormulaGuard,
    ) -> Self {
        let records = match format {
            Format::Json => Records::Json { first: rows == 0 },
            _ => Records::new(format, columns, guard),
        };
        Encoder {
            records,
            header_done: true,
            replaced: Replaced::resumed(replaced),
        }
    }

    /// CSV with known columns (push-devices' documented fields): the fields the first page's
    /// rows carry beyond them become columns too, after them in the order the rows have them,
    /// so a field the API sends but does not document (`platform`) is in the file, as in
    /// NDJSON and Parquet. Fields first seen later are left out and reported.
    #[must_use]
    pub(crate) fn with_first_page_fields(mut self) -> Self {
        if let Records::Csv { extend, .. } = &mut self.records {
            *extend = true;
        }
        self
    }

    /// Appends one page of rows (the first at `offset`), after the header if the output has
    /// none yet (the first page's rows may decide the CSV columns). A string holding a lone
    /// UTF-16 surrogate is written with U+FFFD in its place, in every format, and counted.
    pub(crate) fn page(
        &mut self,
        rows: &[RawRow],
        offset: u64,
        out: &mut Vec<u8>,
    ) -> Result<(), String> {
        let repaired = self.replaced.repair_page(rows, offset);
        let rows = repaired.as_deref().unwrap_or(rows);
        if !self.header_done {
            self.records.header(rows, out)?;
            self.header_done = true;
        }
        for row in rows {
            self.records.row(row, out)?;
        }
        Ok(())
    }

    /// What ends the output; the header first when no page came.
    pub(crate) fn end(&mut self, out: &mut Vec<u8>) -> Result<(), String> {
        if !self.header_done {
            self.records.header(&[], out)?;
            self.header_done = true;
        }
        self.records.footer(out);
        Ok(())
    }

    /// The CSV columns, once fixed.
    pub(crate) fn columns(&self) -> Option<&[String]> {
        self.records.columns()
    }

    /// Fields that rows carried but the CSV has no column for.
    pub(crate) fn left_out(&self) -> Vec<String> {
        self.records.left_out()
    }

    /// The values stored with U+FFFD in place of a lone surrogate.
    pub(crate) fn replaced(&self) -> &Replaced {
        &self.replaced
    }
}

/// The state of one format between pages.
#[derive(Debug)]
enum Records {
    /// One record per line, as the server sent it.
    Ndjson,
    /// One array; `first` is true until a row has been written.
    Json { first: bool },
    /// A header, then one line per record; `columns` fixed when the header is written.
    Csv {
        columns: Option<Vec<String>>,
        /// Whether the first page's fields beyond `columns` join them when the header is written.
        extend: bool,
        /// Fields seen in rows that are not columns (reported once, at the end).
        left_out: std::collections::BTreeSet<String>,
        guard: FormulaGuard,
    },
}

impl Records {
    fn new(format: Format, columns: Option<Vec<String>>, guard: FormulaGuard) -> Self {
        match format {
            // Parquet rows are not bytes of text; that export has its own writer.
            Format::Ndjson | Format::Parquet => Records::Ndjson,
            Format::Json => Records::Json { first: true },
            Format::Csv => Records::Csv {
                columns,
                extend: false,
                left_out: Default::default(),
                guard,
            },
        }
    }

    /// The CSV columns, once fixed.
    fn columns(&self) -> Option<&[String]> {
        match self {
            Records::Csv {
                columns: Some(c), ..
            } => Some(c),
            _ => None,
        }
    }

    /// Fields that rows carried but the CSV has no column for.
    fn left_out(&self) -> Vec<String> {
        match self {
            Records::Csv { left_out, .. } => left_out.iter().cloned().collect(),
            _ => Vec::new(),
        }
    }

    /// What starts a fresh output. For CSV without known columns, the first page's first row
    /// decides them (in the server's field order).
    fn header(&mut self, first_page: &[RawRow], out: &mut Vec<u8>) -> Result<(), String> {
        match self {
            Records::Ndjson => {}
            Records::Json { .. } => out.push(b'['),
            Records::Csv {
                columns, extend, ..
            } => {
                if columns.is_none() {
                    let Some(first) = first_page.first() else {
                        // No rows at all: nothing says what the columns are.
                        return Ok(());
                    };
                    let KeysInOrder(keys) = serde_json::from_slice(first.as_bytes())
                        .map_err(|e| format!("the first row is not a JSON object: {e}"))?;
                    *columns = Some(keys);
                } else if let Some(known) = columns.as_mut().filter(|_| *extend) {
                    for row in first_page {
                        let KeysInOrder(keys) = serde_json::from_slice(row.as_bytes())
                            .map_err(|e| format!("the row is not a JSON object: {e}"))?;
                        for key in keys {
                            if !known.contains(&key) {
                                known.push(key);
                            }
                        }
                    }
                }
                let cols = columns.as_deref().unwrap_or_default();
                write_csv_record(out, cols.iter().map(|c| c.as_str()))?;
            }
        }
        Ok(())
    }

    /// Appends one row.
    fn row(&mut self, row: &RawRow, out: &mut Vec<u8>) -> Result<(), String> {
        match self {
            Records::Ndjson => {
                push_one_line(row.as_bytes(), out);
                out.push(b'\n');
            }
            Records::Json { first } => {
                out.extend_from_slice(if *first { b"\n" } else { b",\n" });
                *first = false;
                out.extend_from_slice(row.as_bytes());
            }
            Records::Csv {
                columns,
                left_out,
                guard,
                ..
            } => {
                let fields: HashMap<String, &RawValue> = serde_json::from_slice(row.as_bytes())
                    .map_err(|e| format!("the row is not a JSON object: {e}"))?;
                let cols = columns.as_deref().unwrap_or_default();
                for key in fields.keys() {
                    if !cols.iter().any(|c| c == key) && !left_out.contains(key) {
                        left_out.insert(key.clone());
                    }
                }
                let cells = cols
                    .iter()
                    .map(|c| cell(fields.get(c.as_str()).copied(), *guard))
                    .collect::<Result<Vec<_>, _>>()?;
                write_csv_record(out, cells.iter().map(|c| c.as_str()))?;
            }
        }
        Ok(())
    }

    /// What ends the output.
    fn footer(&mut self, out: &mut Vec<u8>) {
        if let Records::Json { first } = self {
            out.extend_from_slice(if *first { b"]\n" } else { b"\n]\n" });
        }
    }
}

/// The keys of a JSON object, in the order they were sent.
struct KeysInOrder(Vec<String>);

impl<'de> serde::Deserialize<'de> for KeysInOrder {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = KeysInOrder;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<KeysInOrder, A::Error> {
                let mut keys = Vec::new();
                while let Some(key) = map.next_key::<String>()? {
                    map.next_value::<serde::de::IgnoredAny>()?;
                    keys.push(key);
                }
                Ok(KeysInOrder(keys))
            }
        }
        d.deserialize_map(Visitor)
    }
}

fn write_csv_record<'a>(
    out: &mut Vec<u8>,
    cells: impl Iterator<Item = &'a str>,
) -> Result<(), String> {
    let mut w = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(out);
    w.write_record(cells).map_err(|e| e.to_string())?;
    w.flush().map_err(|e| e.to_string())
}

/// One CSV cell from a JSON value: strings unquoted (and, with the guard on, neutralised: see
/// [`neutralise`]), numbers and booleans as sent, null or missing empty, objects and arrays as
/// JSON text.
fn cell(value: Option<&RawValue>, guard: FormulaGuard) -> Result<String, String> {
    let Some(raw) = value else {
        return Ok(String::new());
    };
    let text = raw.get();
    if text == "null" {
        return Ok(String::new());
    }
    if text.starts_with('"') {
        let s: String = serde_json::from_str(text).map_err(|e| e.to_string())?;
        return Ok(match guard {
            FormulaGuard::Off => s,
            FormulaGuard::On => neutralise(s),
        });
    }
    Ok(text.to_string())
}

/// Guards against spreadsheet formula injection: a text cell starting with `=`, `+`, `-`, `@`,
/// tab or carriage return gets a leading `'`, so a spreadsheet shows it as text instead of
/// running it. Numbers are never changed (`-5` stays a number). A CSV export does this only
/// when asked ([`Export::csv_formula_guard`](super::Export::csv_formula_guard)).
pub fn neutralise(s: String) -> String {
    match s.as_bytes().first() {
        Some(b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r') => format!("'{s}"),
        _ => s,
    }
}

/// Appends a row as one line. A row is written as sent unless its bytes hold a line break,
/// which in JSON can only be whitespace between tokens (a string cannot hold one unescaped):
/// such a row, from a server that pretty-prints, is written without the whitespace between
/// its tokens, so that every line of NDJSON stays one record.
fn push_one_line(row: &[u8], out: &mut Vec<u8>) {
    if !row.contains(&b'\n') && !row.contains(&b'\r') {
        out.extend_from_slice(row);
        return;
    }
    let (mut in_string, mut escaped) = (false, false);
    for &b in row {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
        } else if matches!(b, b' ' | b'\t' | b'\n' | b'\r') {
            continue;
        } else if b == b'"' {
            in_string = true;
        }
        out.push(b);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(s: &str) -> RawRow {
        RawRow::new(s)
    }

    fn encode(format: Format, columns: Option<Vec<String>>, rows: &[&str]) -> String {
        encode_guarded(format, columns, rows, FormulaGuard::Off)
    }

    fn encode_guarded(
        format: Format,
        columns: Option<Vec<String>>,
        rows: &[&str],
        guard: FormulaGuard,
    ) -> String {
        encode_with(Encoder::new(format, columns, guard), &[rows])
    }

    fn encode_with(mut enc: Encoder, pages: &[&[&str]]) -> String {
        let mut out = Vec::new();
        for page in pages {
            let rows: Vec<RawRow> = page.iter().map(|r| raw(r)).collect();
            enc.page(&rows, 0, &mut out).unwrap();
        }
        enc.end(&mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn csv_of_documented_fields_gains_the_first_pages_other_fields_as_columns() {
        let columns = Some(vec!["action_id".to_string(), "error".to_string()]);
        let enc = Encoder::new(Format::Csv, columns, FormulaGuard::Off).with_first_page_fields();
        let first: &[&str] = &[
            r#"{"action_id":1,"platform":"ios","error":0}"#,
            r#"{"action_id":2,"error":1,"meta":{"a":1},"platform":"web"}"#,
        ];
        let later: &[&str] = &[r#"{"action_id":3,"late":true,"platform":"android"}"#];
        let mut enc = enc;
        let mut out = Vec::new();
        for page in [first, later] {
            let rows: Vec<RawRow> = page.iter().map(|r| raw(r)).collect();
            enc.page(&rows, 0, &mut out).unwrap();
        }
        enc.end(&mut out).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "action_id,error,platform,meta\r\n1,0,ios,\r\n2,1,web,\"{\"\"a\"\":1}\"\r\n3,,android,\r\n"
        );
        assert_eq!(enc.left_out(), ["late"]);
        // A user's --select is kept as it is.
        let select = Some(vec!["action_id".to_string()]);
        let out = encode_with(
            Encoder::new(Format::Csv, select, FormulaGuard::Off),
            &[first],
        );
        assert_eq!(out, "action_id\r\n1\r\n2\r\n");
    }

    #[test]
    fn ndjson_keeps_each_record_as_sent() {
        let out = encode(
            Format::Ndjson,
            None,
            &[r#"{"b":1,"a":2.50}"#, r#"{"x":"é"}"#],
        );
        assert_eq!(out, "{\"b\":1,\"a\":2.50}\n{\"x\":\"é\"}\n");
    }

    #[test]
    fn ndjson_writes_a_pretty_printed_row_on_one_line() {
        let pretty =
            "{\n  \"a\": 1,\r\n  \"s\": \"two  words, \\\" and \\\\\",\n  \"n\": [1, 2.50]\n}";
        let out = encode(Format::Ndjson, None, &[pretty, r#"{"b": 2}"#]);
        assert_eq!(
            out, "{\"a\":1,\"s\":\"two  words, \\\" and \\\\\",\"n\":[1,2.50]}\n{\"b\": 2}\n",
            "the pretty row compacted, strings untouched; the one-line row as sent"
        );
        for line in out.lines() {
            let _: serde_json::Value = serde_json::from_str(line).unwrap();
        }
    }

    #[test]
    fn json_is_one_array_even_when_empty() {
        assert_eq!(encode(Format::Json, None, &[]), "[]\n");
        let out = encode(Format::Json, None, &[r#"{"a":1}"#, r#"{"a":2}"#]);
        assert_eq!(out, "[\n{\"a\":1},\n{\"a\":2}\n]\n");
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v, serde_json::json!([{"a": 1}, {"a": 2}]));
    }

    const CSV_ROWS: [&str; 4] = [
        r#"{"action_id":1,"error_message":"a \"quoted\", comma","n":-5}"#,
        r#"{"action_id":2,"error_message":"line\nbreak","n":null}"#,
        r#"{"action_id":3,"error_message":"=HYPERLINK(\"x\")"}"#,
        r#"{"action_id":4,"error_message":"日本 🚀","other":true}"#,
    ];

    fn csv_columns() -> Option<Vec<String>> {
        Some(vec![
            "action_id".to_string(),
            "error_message".to_string(),
            "n".to_string(),
        ])
    }

    #[test]
    fn csv_quotes_per_rfc_4180_and_keeps_every_value_as_sent() {
        let out = encode(Format::Csv, csv_columns(), &CSV_ROWS);
        assert_eq!(
            out,
            "action_id,error_message,n\r\n\
             1,\"a \"\"quoted\"\", comma\",-5\r\n\
             2,\"line\nbreak\",\r\n\
             3,\"=HYPERLINK(\"\"x\"\")\",\r\n\
             4,日本 🚀,\r\n"
        );
    }

    #[test]
    fn csv_with_the_formula_guard_neutralises_formulas() {
        let out = encode_guarded(Format::Csv, csv_columns(), &CSV_ROWS, FormulaGuard::On);
        assert_eq!(
            out,
            "action_id,error_message,n\r\n\
             1,\"a \"\"quoted\"\", comma\",-5\r\n\
             2,\"line\nbreak\",\r\n\
             3,\"'=HYPERLINK(\"\"x\"\")\",\r\n\
             4,日本 🚀,\r\n"
        );
    }

    #[test]
    fn csv_columns_come_from_the_first_row_when_unknown() {
        let out = encode(
            Format::Csv,
            None,
            &[r#"{"title":"A","id":1}"#, r#"{"id":2,"title":"B"}"#],
        );
        assert_eq!(
            out, "title,id\r\nA,1\r\nB,2\r\n",
            "the server's field order"
        );
    }

    #[test]
    fn neutralise_only_touches_risky_starts() {
        for s in ["=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx"] {
            assert_eq!(neutralise(s.to_string()), format!("'{s}"));
        }
        for s in ["", "plain", "1-2", "a=b"] {
            assert_eq!(neutralise(s.to_string()), s);
        }
    }
}
