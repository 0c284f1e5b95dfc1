//! The keys paging needs from a page: the first and last rows' `action_id`, and every row's,
//! read on demand from where each row sits in the body.

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::error::{Error, ErrorKind};
use crate::model::push_devices;

/// Where each row of a page sits in the response body, to read a row's key only when needed
/// (at a seam where rows shifted), without decoding every row for it.
#[derive(Debug, PartialEq)]
pub(crate) struct KeyIndex {
    body: bytes::Bytes,
    spans: Vec<(usize, usize)>,
}

impl KeyIndex {
    pub(super) fn new(body: &bytes::Bytes, rows: &[&RawValue]) -> Self {
        let base = body.as_ptr() as usize;
        let spans = rows
            .iter()
            .map(|r| {
                let start = r.get().as_ptr() as usize - base;
                (start, start + r.get().len())
            })
            .collect();
        KeyIndex {
            body: body.clone(),
            spans,
        }
    }

    /// Row `i`'s key, if it has an integer one.
    pub(crate) fn key(&self, i: usize) -> Option<u64> {
        let (start, end) = *self.spans.get(i)?;
        row_key(&self.body[start..end], i, 0).ok()
    }

    /// The keys of the first `rows` rows, in order, the first of them at `offset`; an error
    /// names the first row without an integer key.
    pub(crate) fn keys(&self, rows: usize, offset: u64) -> Result<Vec<u64>, Error> {
        self.spans
            .iter()
            .take(rows)
            .enumerate()
            .map(|(i, &(start, end))| row_key(&self.body[start..end], i, offset))
            .collect()
    }
}

/// The keyset key of one row, which must be an integer.
fn row_key(row: &[u8], index: usize, offset: u64) -> Result<u64, Error> {
    let at = offset + index as u64;
    match serde_json::from_slice::<Key>(row) {
        Ok(Key::One(k)) => Ok(k),
        // Which of the two is the row's key is not for this program to guess.
        Ok(Key::Twice) => Err(Error::new(
            ErrorKind::Decode,
            format!(
                "row {index} (offset {at}) names `{}` twice, so its key is ambiguous: there is \
                 none to seek or check seams on",
                push_devices::KEY
            ),
        )),
        _ => Err(Error::new(
            ErrorKind::Decode,
            format!(
                "row {index} (offset {at}) has no integer `{}` to seek or check seams on",
                push_devices::KEY
            ),
        )),
    }
}

/// A row's `action_id`, the other fields skipped. Field names are read as bytes: a name that
/// holds a lone UTF-16 surrogate (`"\udc00k"`), which a `str` cannot hold, is still a name
/// other than the key's, and the row's key is read as it is from any other row.
enum Key {
    /// The row's one key, an integer.
    One(u64),
    /// The row names the key twice (or more).
    Twice,
    /// No key, or one that is not an integer.
    None,
}

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(KeyVisitor)
    }
}

struct KeyVisitor;

impl<'de> serde::de::Visitor<'de> for KeyVisitor {
    type Value = Key;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a row (a JSON object)")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Key, A::Error> {
        let (mut key, mut seen) = (None, 0);
        while let Some(IsKey(is_key)) = map.next_key::<IsKey>()? {
            if is_key && seen == 0 {
                key = map.next_value::<Option<u64>>()?;
            } else {
                map.next_value::<serde::de::IgnoredAny>()?;
            }
            seen += u32::from(is_key);
        }
        Ok(match (seen, key) {
            (2.., _) => Key::Twice,
            (_, Some(k)) => Key::One(k),
            _ => Key::None,
        })
    }
}

/// Whether a field's name is the key's, read from the name's bytes.
struct IsKey(bool);

impl<'de> Deserialize<'de> for IsKey {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Name;
        impl serde::de::Visitor<'_> for Name {
            type Value = IsKey;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a field name")
            }
            fn visit_bytes<E>(self, name: &[u8]) -> Result<IsKey, E> {
                Ok(IsKey(name == push_devices::KEY.as_bytes()))
            }
            fn visit_str<E>(self, name: &str) -> Result<IsKey, E> {
                Ok(IsKey(name == push_devices::KEY))
            }
        }
        deserializer.deserialize_bytes(Name)
    }
}

/// The keys of the first and last of `rows` (`None` for no rows).
pub(super) fn edge_keys(rows: &[&RawValue], offset: u64) -> Option<Result<(u64, u64), Error>> {
    let (first, last) = (rows.first()?, rows.last()?);
    Some((|| {
        Ok((
            row_key(first.get().as_bytes(), 0, offset)?,
            row_key(last.get().as_bytes(), rows.len() - 1, offset)?,
        ))
    })())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rows_key_is_read_whatever_its_other_fields_hold() {
        let key = |row: &str| row_key(row.as_bytes(), 0, 0).ok();
        assert_eq!(key(r#"{"action_id":7}"#), Some(7));
        // A lone surrogate in another field's name or value.
        assert_eq!(key(r#"{"\udc00k":1,"action_id":7}"#), Some(7));
        assert_eq!(key(r#"{"action_id":7,"m":"a\ud800b"}"#), Some(7));
        // The key's name written with an escape is the key's name.
        assert_eq!(key(r#"{"action\u005fid":7}"#), Some(7));
        assert_eq!(key(r#"{"action_id":null}"#), None);
        assert_eq!(key(r#"{"action_id":"7"}"#), None);
        assert_eq!(key(r#"{"action_id":7,"action_id":8}"#), None, "two keys");
        assert_eq!(key(r#"[7]"#), None);
    }

    #[test]
    fn a_key_given_twice_is_refused_as_ambiguous_by_offset() {
        for row in [
            r#"{"action_id":9,"x":1,"action_id":9}"#,
            r#"{"action_id":7,"\u0061ction_id":8}"#,
        ] {
            let e = row_key(row.as_bytes(), 2, 100).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Decode);
            let want = "row 2 (offset 102) names `action_id` twice, so its key is ambiguous";
            assert!(e.to_string().contains(want), "{e}");
        }
        let e = row_key(br#"{"action_id":"7"}"#, 0, 5).unwrap_err();
        assert!(e.to_string().contains("(offset 5) has no integer"), "{e}");
    }
}
