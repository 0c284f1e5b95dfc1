//! Lone UTF-16 surrogates in a row's JSON text (`"a\ud800b"`): valid JSON syntax, but no
//! Unicode text, so no output can hold them as they are (a UTF-8 string has no code point for
//! them, and strict JSON readers refuse the escape). Every format stores such a string with
//! U+FFFD in place of each lone surrogate, the same value in each, and the export says so: each
//! value changed is counted and the first few are named (field and offset) in a warning and in
//! the [`Report`](super::Report).
//!
//! A valid pair (`\ud83d\ude00`) is one character and is left alone; so is a row without a
//! `\u` escape of a surrogate, which is found without parsing it.

use crate::model::RawRow;

use super::report::ReplacedValue;

/// How many replaced values are named in the warning and the report; all are counted.
pub(crate) const NAMED: usize = 10;

/// The values replaced so far in an export: how many, and the first [`NAMED`].
#[derive(Debug, Default, Clone)]
pub(crate) struct Replaced {
    /// Values replaced, an earlier run's included.
    count: u64,
    /// The first ones this run replaced.
    named: Vec<ReplacedValue>,
}

impl Replaced {
    /// Continuing an export whose earlier runs replaced `count` values.
    pub(crate) fn resumed(count: u64) -> Self {
        Replaced {
            count,
            named: Vec::new(),
        }
    }

    /// Values replaced, an earlier run's included.
    pub(crate) fn count(&self) -> u64 {
        self.count
    }

    /// The first values this run replaced.
    pub(crate) fn named(&self) -> &[ReplacedValue] {
        &self.named
    }

    /// The page's rows (the first at `offset`) with every lone surrogate replaced, `None`
    /// when none has one (the usual case: nothing is copied). Warns of each value replaced,
    /// up to [`NAMED`].
    pub(crate) fn repair_page(&mut self, rows: &[RawRow], offset: u64) -> Option<Vec<RawRow>> {
        let mut fixed: Option<Vec<RawRow>> = None;
        for (i, row) in rows.iter().enumerate() {
            let Some((text, fields)) = repair(row.as_bytes()) else {
                continue;
            };
            let fixed = fixed.get_or_insert_with(|| rows[..i].to_vec());
            fixed.push(RawRow::from_body(text.into()));
            let at = offset + i as u64;
            for field in fields {
                self.count += 1;
                if self.named.len() < NAMED {
                    tracing::warn!(
                        field = %field,
                        offset = at,
                        "{field} at offset {at} holds a lone UTF-16 surrogate, which no output \
                         can hold: stored with U+FFFD in its place"
                    );
                    self.named.push(ReplacedValue { field, offset: at });
                }
            }
        }
        let mut fixed = fixed?;
        fixed.extend_from_slice(&rows[fixed.len()..]);
        Some(fixed)
    }
}

/// `row` with each lone surrogate escape (`\uD800`–`\uDFFF` not in a valid pair) replaced by
/// `\ufffd`, and the top-level field of each string value changed (once per value, in order);
/// `None` when there is none.
fn repair(row: &[u8]) -> Option<(Vec<u8>, Vec<String>)> {
    if !might_hold_one(row) {
        return None;
    }
    let mut out = Vec::new();
    let mut copied = 0;
    let mut fields = Vec::new();
    let (mut depth, mut expect_key) = (0usize, false);
    // The last top-level key, as its JSON text (escapes and all).
    let mut key: &[u8] = b"";
    let mut i = 0;
    while i < row.len() {
        match row[i] {
            b'"' => {
                let is_key = depth == 1 && expect_key;
                let start = i + 1;
                let mut changed = false;
                i += 1;
                while i < row.len() && row[i] != b'"' {
                    if row[i] != b'\\' {
                        i += 1;
                        continue;
                    }
                    match surrogate_at(row, i) {
                        Some(Escape::Pair) => i += 12,
                        Some(Escape::Lone) => {
                            out.extend_from_slice(&row[copied..i]);
                            out.extend_from_slice(b"\\ufffd");
                            i += 6;
                            copied = i;
                            changed = true;
                        }
                        None => i += 2,
                    }
                }
                if is_key {
                    key = &row[start..i.min(row.len())];
                    expect_key = false;
                }
                if changed {
                    fields.push(name(key, is_key));
                }
                i += 1;
            }
            b'{' | b'[' => {
                depth += 1;
                expect_key = depth == 1 && row[i] == b'{';
                i += 1;
            }
            b'}' | b']' => {
                depth = depth.saturating_sub(1);
                i += 1;
            }
            b',' => {
                expect_key = depth == 1;
                i += 1;
            }
            _ => i += 1,
        }
    }
    if fields.is_empty() {
        return None;
    }
    out.extend_from_slice(&row[copied..]);
    Some((out, fields))
}

/// Whether `row` has a `\u` escape starting with `d`: without one, it holds no surrogate.
/// A SIMD scan for backslashes: about 10 ms per million rows of 230 bytes (a page in cache),
/// where the export spends about 500 ms of CPU.
fn might_hold_one(row: &[u8]) -> bool {
    memchr::memchr_iter(b'\\', row)
        .any(|at| row.get(at + 1) == Some(&b'u') && matches!(row.get(at + 2), Some(b'd' | b'D')))
}

/// What a surrogate escape at `at` (a backslash) is.
enum Escape {
    /// A high surrogate followed by a low one: one character, 12 bytes.
    Pair,
    /// A surrogate on its own: 6 bytes.
    Lone,
}

/// The surrogate escape at `at`, `None` for any other escape (2 bytes, or a `\u` escape of
/// another code point, whose 4 hex digits are then skipped as plain bytes).
fn surrogate_at(row: &[u8], at: usize) -> Option<Escape> {
    let unit = |at: usize| -> Option<u16> {
        let esc = row.get(at..at + 6)?;
        if &esc[..2] != b"\\u" {
            return None;
        }
        u16::from_str_radix(std::str::from_utf8(&esc[2..]).ok()?, 16).ok()
    };
    let first = unit(at)?;
    match first {
        0xD800..=0xDBFF if matches!(unit(at + 6), Some(0xDC00..=0xDFFF)) => Some(Escape::Pair),
        0xD800..=0xDFFF => Some(Escape::Lone),
        _ => None,
    }
}

/// A field's name from its JSON text; a name that itself held the lone surrogate is shown with
/// U+FFFD, and a value outside any field (a row that is not an object) as `(row)`.
fn name(key: &[u8], in_the_key: bool) -> String {
    if key.is_empty() && !in_the_key {
        return "(row)".into();
    }
    let quoted = [b"\"".as_slice(), key, b"\""].concat();
    match serde_json::from_slice::<String>(&quoted) {
        Ok(name) => name,
        Err(_) => match repair(&quoted) {
            Some((fixed, _)) => serde_json::from_slice::<String>(&fixed)
                .unwrap_or_else(|_| String::from_utf8_lossy(key).into_owned()),
            None => String::from_utf8_lossy(key).into_owned(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fix(row: &str) -> Option<(String, Vec<String>)> {
        repair(row.as_bytes()).map(|(t, f)| (String::from_utf8(t).unwrap(), f))
    }

    #[test]
    fn lone_surrogates_become_u_fffd_and_name_their_field() {
        assert_eq!(
            fix(r#"{"a":1,"error_message":"a\ud800b","m":{"x":["\udc00", "\uDBFF"]}}"#),
            Some((
                r#"{"a":1,"error_message":"a\ufffdb","m":{"x":["\ufffd", "\ufffd"]}}"#.into(),
                vec!["error_message".into(), "m".into(), "m".into()]
            ))
        );
        // Two in one string: one value changed.
        assert_eq!(
            fix(r#"{"s":"\ud800\ud800"}"#),
            Some((r#"{"s":"\ufffd\ufffd"}"#.into(), vec!["s".into()]))
        );
        // A high surrogate before another high one, then a valid pair.
        assert_eq!(
            fix(r#"{"s":"\ud800\ud83d\ude00"}"#),
            Some((r#"{"s":"\ufffd\ud83d\ude00"}"#.into(), vec!["s".into()]))
        );
        // In a key, and at the very end of the text.
        assert_eq!(
            fix(r#"{"k\ud800":"v","t":"\udfff"}"#),
            Some((
                r#"{"k\ufffd":"v","t":"\ufffd"}"#.into(),
                vec!["k\u{fffd}".into(), "t".into()]
            ))
        );
    }

    #[test]
    fn valid_text_is_left_alone() {
        for row in [
            r#"{"a":"plain","b":"smile \ud83d\ude00","c":"\u00e9\u0064"}"#,
            // An escaped backslash then `ud800`: text, not an escape.
            r#"{"path":"C:\\ud800"}"#,
            r#"{"n":1,"d":"\\\ud83d\ude00"}"#,
            r#"{}"#,
        ] {
            assert_eq!(fix(row), None, "{row}");
        }
    }

    #[test]
    fn a_page_is_copied_only_when_a_row_changes_and_values_are_counted() {
        let rows: Vec<RawRow> = [r#"{"a":"x"}"#, r#"{"a":"\ud800"}"#, r#"{"b":"y"}"#]
            .into_iter()
            .map(RawRow::new)
            .collect();
        let mut replaced = Replaced::resumed(5);
        assert!(replaced.repair_page(&rows[..1], 0).is_none());
        let fixed = replaced.repair_page(&rows, 100).unwrap();
        let texts: Vec<&[u8]> = fixed.iter().map(RawRow::as_bytes).collect();
        assert_eq!(
            texts,
            [
                br#"{"a":"x"}"#.as_slice(),
                br#"{"a":"\ufffd"}"#,
                br#"{"b":"y"}"#
            ]
        );
        assert_eq!(replaced.count(), 6);
        assert_eq!(
            replaced.named(),
            [ReplacedValue {
                field: "a".into(),
                offset: 101
            }]
        );
    }
}
