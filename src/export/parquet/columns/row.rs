//! One row's fields cut out of its JSON text, each value kept as the text it was sent as, and
//! that text turned into what a column holds.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;

/// A row's fields in the order it has them: each name, and its value's JSON text.
pub(super) type Fields<'a> = Vec<(Cow<'a, str>, &'a RawValue)>;

/// Cuts `row`, a JSON object, into its fields (into `out`, emptied first). The names borrow
/// the row's text unless they hold escapes; the values always do. A name the row has twice is
/// one field, where it first appears, with the last value, as a JSON reader's map has it
/// (serde_json, Python's `json`, DuckDB's `read_json`): the column or the catch-all holds
/// what the NDJSON export of the row reads back as.
pub(super) fn fields<'a>(row: &'a [u8], out: &mut Fields<'a>) -> serde_json::Result<()> {
    out.clear();
    let mut de = serde_json::Deserializer::from_slice(row);
    Seed(out).deserialize(&mut de)?;
    de.end()
}

struct Seed<'o, 'a>(&'o mut Fields<'a>);

impl<'a> DeserializeSeed<'a> for Seed<'_, 'a> {
    type Value = ();
    fn deserialize<D: Deserializer<'a>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'a> Visitor<'a> for Seed<'_, 'a> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }
    fn visit_map<A: MapAccess<'a>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(Name(name)) = map.next_key::<Name<'a>>()? {
            let value = map.next_value::<&'a RawValue>()?;
            match self.0.iter_mut().find(|(seen, _)| *seen == name) {
                Some(field) => field.1 = value,
                None => self.0.push((name, value)),
            }
        }
        Ok(())
    }
}

/// A field name, borrowed from the row when it has no escapes.
struct Name<'a>(Cow<'a, str>);

impl<'a> de::Deserialize<'a> for Name<'a> {
    fn deserialize<D: Deserializer<'a>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'a> Visitor<'a> for V {
            type Value = Name<'a>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a field name")
            }
            fn visit_borrowed_str<E: de::Error>(self, s: &'a str) -> Result<Name<'a>, E> {
                Ok(Name(Cow::Borrowed(s)))
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Name<'a>, E> {
                Ok(Name(Cow::Owned(s.to_owned())))
            }
            fn visit_string<E: de::Error>(self, s: String) -> Result<Name<'a>, E> {
                Ok(Name(Cow::Owned(s)))
            }
        }
        d.deserialize_str(V)
    }
}

/// What a Utf8 column holds for `raw`: a string as itself (unescaped), any other value as
/// its compact JSON text (numbers exactly as sent, whitespace between tokens dropped).
pub(super) fn text(raw: &RawValue) -> Cow<'_, str> {
    let json = raw.get().trim_ascii();
    match json.strip_prefix('"').and_then(|s| s.strip_suffix('"')) {
        Some(inner) if !inner.contains('\\') => Cow::Borrowed(inner),
        Some(_) => match serde_json::from_str::<String>(json) {
            Ok(s) => Cow::Owned(s),
            // Unreachable: serde_json checked the string when it cut the row, and a lone
            // surrogate (which it lets through there) was replaced before (`surrogates`).
            Err(_) => Cow::Borrowed(json),
        },
        None => compact(json),
    }
}

/// `json` without whitespace between tokens; strings and numbers as they are.
pub(super) fn compact(json: &str) -> Cow<'_, str> {
    let is_space = |b: u8| matches!(b, b' ' | b'\t' | b'\n' | b'\r');
    if !json.bytes().any(is_space) {
        return Cow::Borrowed(json);
    }
    let mut out = String::with_capacity(json.len());
    let (mut in_string, mut escaped, mut start) = (false, false, 0);
    for (i, b) in json.bytes().enumerate() {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
        } else if b == b'"' {
            in_string = true;
        } else if is_space(b) {
            // Whitespace is ASCII: `i` is a char boundary.
            out.push_str(&json[start..i]);
            start = i + 1;
        }
    }
    out.push_str(&json[start..]);
    Cow::Owned(out)
}

/// Appends `"name":` to `out`, the name escaped as JSON.
pub(super) fn push_name(out: &mut String, name: &str) {
    if name.bytes().any(|b| b < 0x20 || b == b'"' || b == b'\\') {
        // Writing a str to a String cannot fail.
        out.push_str(&serde_json::to_string(name).unwrap_or_default());
    } else {
        out.push('"');
        out.push_str(name);
        out.push('"');
    }
    out.push(':');
}

#[cfg(test)]
mod tests {
    use super::{Fields, compact, fields, text};

    #[test]
    fn a_row_is_cut_into_its_fields_in_order() {
        let row = br#" {"b" : 1, "a\"q":{"x": [1, 2]}, "c":"s"} "#;
        let mut out = Fields::new();
        fields(row, &mut out).unwrap();
        let got: Vec<(&str, &str)> = out.iter().map(|(k, v)| (&**k, v.get())).collect();
        assert_eq!(
            got,
            [("b", "1"), ("a\"q", r#"{"x": [1, 2]}"#), ("c", r#""s""#)]
        );
        let row = br#"{"d":1,"e":true,"d":"two","\u0064":3}"#;
        fields(row, &mut out).unwrap();
        let got: Vec<(&str, &str)> = out.iter().map(|(k, v)| (&**k, v.get())).collect();
        assert_eq!(got, [("d", "3"), ("e", "true")], "the last value wins");
        assert!(fields(b"[1]", &mut out).is_err());
        assert!(fields(b"{} x", &mut out).is_err());
    }

    #[test]
    fn values_become_text_strings_as_themselves() {
        let raw = |s: &str| serde_json::from_str::<Box<serde_json::value::RawValue>>(s).unwrap();
        assert_eq!(text(&raw(r#""plain é""#)), "plain é");
        assert_eq!(text(&raw(r#""q\"\n\u00e9""#)), "q\"\né");
        assert_eq!(text(&raw("1.50")), "1.50");
        assert_eq!(text(&raw(r#"{ "a" : [1, " x "] }"#)), r#"{"a":[1," x "]}"#);
        assert_eq!(compact(r#"[ "a\" b" , 1 ]"#), r#"["a\" b",1]"#);
    }
}
