//! The envelope and its rows read into `T` in one pass, the rows' vector sized from the body
//! before the first row: grown row by row instead, it copies every row read so far each time it
//! doubles and touches fresh memory each time, which for a page of 1,000 rows cost about a third
//! of decoding it.
//!
//! Only for a page that decodes: anything else is read again by the derived envelope, which
//! says what is wrong.

use std::fmt;
use std::marker::PhantomData;

use serde::Deserialize;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

/// The fewest bytes a row is guessed to take in the body: the rows' vector is sized for
/// `body / ROW_BYTES` rows. A push action with every field takes about 230, so a page of them
/// fits without growing; smaller rows only make the vector grow from there.
const ROW_BYTES: usize = 128;

/// The most rows reserved for up front, however large the body.
const MAX_RESERVED: usize = 1 << 16;

/// A decoded envelope, its `data` read into rows.
pub(super) struct Page<T> {
    pub(super) code: Option<i64>,
    pub(super) success: Option<bool>,
    pub(super) message: Option<Value>,
    pub(super) data: Option<Vec<T>>,
}

/// Reads a [`Page`] from a whole response body.
///
/// A body that is UTF-8 throughout (checked once, a word at a time) is read as text, so that
/// each of its strings, every field name of every row among them, is not checked again on its
/// own: that cost more than any other step of reading a row.
pub(super) fn read_page<T: de::DeserializeOwned>(body: &[u8]) -> serde_json::Result<Page<T>> {
    let capacity = (body.len() / ROW_BYTES).min(MAX_RESERVED);
    match std::str::from_utf8(body) {
        Ok(text) => read_from(serde_json::Deserializer::from_str(text), capacity),
        Err(_) => read_from(serde_json::Deserializer::from_slice(body), capacity),
    }
}

fn read_from<'de, R: serde_json::de::Read<'de>, T: Deserialize<'de>>(
    mut de: serde_json::Deserializer<R>,
    capacity: usize,
) -> serde_json::Result<Page<T>> {
    let page = PageSeed {
        capacity,
        rows: PhantomData,
    }
    .deserialize(&mut de)?;
    de.end()?;
    Ok(page)
}

/// The envelope's fields, matched without allocating.
enum Key {
    Code,
    Success,
    Message,
    Data,
    Other,
}

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Name;
        impl Visitor<'_> for Name {
            type Value = Key;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a field name")
            }
            fn visit_str<E: de::Error>(self, name: &str) -> Result<Key, E> {
                Ok(match name {
                    "code" => Key::Code,
                    "success" => Key::Success,
                    "message" => Key::Message,
                    "data" => Key::Data,
                    _ => Key::Other,
                })
            }
        }
        d.deserialize_identifier(Name)
    }
}

/// Reads the envelope, its rows into a vector of `capacity`.
struct PageSeed<T> {
    capacity: usize,
    rows: PhantomData<fn() -> T>,
}

impl<'de, T: Deserialize<'de>> DeserializeSeed<'de> for PageSeed<T> {
    type Value = Page<T>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Page<T>, D::Error> {
        d.deserialize_map(self)
    }
}

/// Refuses a field given twice, as the derived envelope does.
fn once<E: de::Error>(seen: &mut u8, bit: u8, name: &'static str) -> Result<(), E> {
    if *seen & bit != 0 {
        return Err(E::duplicate_field(name));
    }
    *seen |= bit;
    Ok(())
}

impl<'de, T: Deserialize<'de>> Visitor<'de> for PageSeed<T> {
    type Value = Page<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the API's envelope")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Page<T>, A::Error> {
        let mut page = Page {
            code: None,
            success: None,
            message: None,
            data: None,
        };
        let mut seen = 0u8;
        while let Some(key) = map.next_key::<Key>()? {
            match key {
                Key::Code => {
                    once(&mut seen, 1, "code")?;
                    page.code = map.next_value()?;
                }
                Key::Success => {
                    once(&mut seen, 2, "success")?;
                    page.success = map.next_value()?;
                }
                Key::Message => {
                    once(&mut seen, 4, "message")?;
                    page.message = map.next_value()?;
                }
                Key::Data => {
                    once(&mut seen, 8, "data")?;
                    page.data = map.next_value_seed(RowsSeed::<T> {
                        capacity: self.capacity,
                        rows: PhantomData,
                    })?;
                }
                Key::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(page)
    }
}

/// Reads `data`: null, or an array of rows into a vector of `capacity`.
struct RowsSeed<T> {
    capacity: usize,
    rows: PhantomData<fn() -> T>,
}

impl<'de, T: Deserialize<'de>> DeserializeSeed<'de> for RowsSeed<T> {
    type Value = Option<Vec<T>>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Option<Vec<T>>, D::Error> {
        d.deserialize_option(self)
    }
}

impl<'de, T: Deserialize<'de>> Visitor<'de> for RowsSeed<T> {
    type Value = Option<Vec<T>>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of rows")
    }

    fn visit_none<E: de::Error>(self) -> Result<Option<Vec<T>>, E> {
        Ok(None)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Option<Vec<T>>, E> {
        Ok(None)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Option<Vec<T>>, D::Error> {
        d.deserialize_seq(self)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Option<Vec<T>>, A::Error> {
        let mut rows = Vec::with_capacity(self.capacity);
        while let Some(row) = seq.next_element()? {
            rows.push(row);
        }
        // Give back what the guess over-reserved (in place: shrinking does not copy the rows).
        if rows.capacity() - rows.len() > rows.len() / 4 {
            rows.shrink_to_fit();
        }
        Ok(Some(rows))
    }
}

#[cfg(test)]
mod tests {
    use super::read_page;

    #[test]
    fn reads_the_envelope_and_its_rows() {
        let body = br#"{"x":[1,{"a":2}],"code":200,"success":true,"message":"ok","data":[1,2,3]}"#;
        let page = read_page::<u8>(body).unwrap();
        assert_eq!(page.code, Some(200));
        assert_eq!(page.success, Some(true));
        assert_eq!(page.message, Some(serde_json::json!("ok")));
        assert_eq!(page.data, Some(vec![1, 2, 3]));
        let page = read_page::<u8>(br#"{"data":null}"#).unwrap();
        assert!(page.data.is_none() && page.code.is_none());
        assert!(read_page::<u8>(br#"{}"#).unwrap().data.is_none());
    }

    #[test]
    fn refuses_what_the_derived_envelope_refuses() {
        for body in [
            &br#"{"data":[1],"data":[2]}"#[..],
            br#"{"code":"200","data":[]}"#,
            br#"{"data":{"a":1}}"#,
            br#"{"data":[300]}"#,
            br#"{"data":[]} x"#,
            br#"{"data":[1"#,
            b"{\"data\":[1],\"message\":\"\xff\"}",
        ] {
            assert!(read_page::<u8>(body).is_err(), "{body:?}");
        }
    }
}
