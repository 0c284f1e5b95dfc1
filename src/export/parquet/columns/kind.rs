//! What a JSON value is ([`Kind`]), and the column types ([`Type`]) inference widens through.
//!
//! Inference keeps each column to one kind of value: integers (fitting i64) make an Int64
//! column, integers and floats a Float64 one, booleans a Boolean one, strings a Utf8 one; and
//! anything else (objects, arrays, integers beyond i64 or numbers beyond f64, or values of
//! more than one of those kinds) a Json column, which holds every value as its compact JSON
//! text, strings quoted, written with Parquet's JSON logical type: `5` and `"5"` stay apart.
//! A column that saw only nulls is Utf8. Into a column, null fits every type, an integer fits
//! Int64 and (when a float holds it exactly) Float64, a float Float64, a boolean Boolean, a
//! string Utf8, and anything Json (the same rules for push-devices' typed columns). A value
//! that does not fit goes to the row's catch-all column (`extra`), as sent.
//! A Timestamp column (push-devices' documented `*_time` fields, never inferred) takes
//! integers, read as Unix seconds and stored as milliseconds: Parquet has no logical type for
//! seconds (a seconds column is written as a bare INT64, which DuckDB and polars read as a
//! number), and `TIMESTAMP(MILLIS, UTC)` every reader reads as a time.

use arrow_schema::{DataType, TimeUnit};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

/// The time zone of a Timestamp column: the API's times are Unix seconds, which are UTC.
pub(super) const UTC: &str = "UTC";

/// A column's type, as the checkpoint names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Type {
    /// Integers that fit an i64.
    Int64,
    /// Floats, and integers as floats.
    Float64,
    /// `true` and `false`.
    Boolean,
    /// Integers that are Unix seconds, as `Timestamp(Millisecond, "UTC")`: readers see a time,
    /// not a number. Only a documented field is given this type; inference never widens to it.
    Timestamp,
    /// Strings, as themselves.
    Utf8,
    /// Any value as its compact JSON text (strings quoted), as Utf8 with Arrow's `arrow.json`
    /// extension type, written with Parquet's JSON logical type.
    Json,
}

impl Type {
    /// The Arrow type of a column of this type.
    pub(super) fn data_type(self) -> DataType {
        match self {
            Type::Int64 => DataType::Int64,
            Type::Float64 => DataType::Float64,
            Type::Boolean => DataType::Boolean,
            Type::Timestamp => DataType::Timestamp(TimeUnit::Millisecond, Some(UTC.into())),
            Type::Utf8 | Type::Json => DataType::Utf8,
        }
    }

    /// What a value must be to fit, for error messages.
    pub(super) fn expected(self) -> &'static str {
        match self {
            Type::Int64 => "an integer",
            Type::Float64 => "a number",
            Type::Boolean => "a boolean",
            Type::Timestamp => "an integer (Unix seconds)",
            Type::Utf8 => "a string",
            Type::Json => "any value",
        }
    }

    /// Whether a column of this type holds a value of `kind` exactly.
    pub(super) fn fits(self, kind: &Kind) -> bool {
        match (self, kind) {
            (_, Kind::Null) | (Type::Json, _) => true,
            (Type::Int64, Kind::Int(_)) | (Type::Float64, Kind::Float(_)) => true,
            // Above 2^53 not every integer has a float of its own.
            (Type::Float64, Kind::Int(i)) => i.unsigned_abs() <= 1 << 53,
            (Type::Boolean, Kind::Bool(_)) | (Type::Utf8, Kind::Str) => true,
            // Unix seconds as milliseconds; seconds beyond ±292 million years do not fit.
            (Type::Timestamp, Kind::Int(i)) => i.checked_mul(1000).is_some(),
            _ => false,
        }
    }

    /// The type of an inferred column that was `seen` (None: only nulls so far) once it has
    /// also seen a value of `kind`.
    pub(super) fn widen(seen: Option<Type>, kind: &Kind) -> Option<Type> {
        let of_kind = match kind {
            Kind::Null => return seen,
            Kind::Int(_) => Type::Int64,
            Kind::Float(_) => Type::Float64,
            Kind::Bool(_) => Type::Boolean,
            Kind::Str => Type::Utf8,
            Kind::BigInt | Kind::BigFloat | Kind::Object | Kind::Array => Type::Json,
        };
        Some(match seen {
            None => of_kind,
            Some(seen) if seen == of_kind => seen,
            Some(Type::Int64 | Type::Float64) if matches!(of_kind, Type::Int64 | Type::Float64) => {
                Type::Float64
            }
            Some(_) => Type::Json,
        })
    }
}

/// What a JSON value is, with its number or boolean read.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) enum Kind {
    Null,
    Bool(bool),
    Int(i64),
    /// An integer beyond i64 (kept as text in a Utf8 column).
    BigInt,
    Float(f64),
    /// A number beyond f64's range (kept as text in a Utf8 column).
    BigFloat,
    Str,
    Object,
    Array,
}

impl Kind {
    /// Reads what `raw` is. `raw` is valid JSON (serde_json checked it when it was cut out).
    pub(super) fn of(raw: &RawValue) -> Kind {
        let text = raw.get().trim_ascii();
        match text.as_bytes().first() {
            Some(b'n') => Kind::Null,
            Some(b't') => Kind::Bool(true),
            Some(b'f') => Kind::Bool(false),
            Some(b'"') => Kind::Str,
            Some(b'{') => Kind::Object,
            Some(b'[') => Kind::Array,
            _ if text.bytes().any(|b| matches!(b, b'.' | b'e' | b'E')) => {
                match text.parse::<f64>() {
                    Ok(f) if f.is_finite() => Kind::Float(f),
                    _ => Kind::BigFloat,
                }
            }
            _ => text.parse::<i64>().map_or(Kind::BigInt, Kind::Int),
        }
    }

    /// The kind of a JSON text from its first byte, without reading it further.
    pub(super) fn of_first_byte(text: &[u8]) -> &'static str {
        match text.trim_ascii_start().first() {
            Some(b'{') => "an object",
            Some(b'[') => "an array",
            Some(b'"') => "a string",
            Some(b't' | b'f') => "a boolean",
            Some(b'n') => "a null",
            Some(_) => "a number",
            None => "nothing",
        }
    }

    /// The kind's name in error messages: "found a string".
    pub(super) fn name(&self) -> &'static str {
        match self {
            Kind::Null => "a null",
            Kind::Bool(_) => "a boolean",
            Kind::Int(_) => "an integer",
            Kind::BigInt => "an integer beyond i64",
            Kind::Float(_) => "a float",
            Kind::BigFloat => "a number beyond f64",
            Kind::Str => "a string",
            Kind::Object => "an object",
            Kind::Array => "an array",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Kind, Type};

    fn kind(text: &str) -> Kind {
        Kind::of(&serde_json::from_str::<Box<serde_json::value::RawValue>>(text).unwrap())
    }

    #[test]
    fn values_are_read_by_kind() {
        assert_eq!(kind("null"), Kind::Null);
        assert_eq!(kind("true"), Kind::Bool(true));
        assert_eq!(kind("-7"), Kind::Int(-7));
        assert_eq!(kind("9223372036854775807"), Kind::Int(i64::MAX));
        assert_eq!(kind("9223372036854775808"), Kind::BigInt);
        assert_eq!(kind("1.5"), Kind::Float(1.5));
        assert_eq!(kind("1e3"), Kind::Float(1000.0));
        assert_eq!(kind("1e400"), Kind::BigFloat);
        assert_eq!(kind(r#""7""#), Kind::Str);
        assert_eq!(kind("{}"), Kind::Object);
        assert_eq!(kind("[1]"), Kind::Array);
    }

    #[test]
    fn inference_widens_integer_to_float_and_any_other_mix_to_json() {
        let widen = |kinds: &[&str]| kinds.iter().fold(None, |t, k| Type::widen(t, &kind(k)));
        assert_eq!(widen(&["null"]), None);
        assert_eq!(widen(&["1", "null", "2"]), Some(Type::Int64));
        assert_eq!(widen(&["1", "2.5"]), Some(Type::Float64));
        assert_eq!(widen(&["2.5", "1"]), Some(Type::Float64));
        assert_eq!(widen(&[r#""x""#, "null", r#""y""#]), Some(Type::Utf8));
        assert_eq!(widen(&["1", "2.5", r#""x""#]), Some(Type::Json));
        assert_eq!(widen(&["true", "false"]), Some(Type::Boolean));
        assert_eq!(widen(&["true", "1"]), Some(Type::Json));
        assert_eq!(widen(&["1", "true"]), Some(Type::Json));
        assert_eq!(widen(&["1", "9223372036854775808"]), Some(Type::Json));
        assert_eq!(widen(&["{}"]), Some(Type::Json));
        assert_eq!(widen(&["[1]", "{}"]), Some(Type::Json));
        assert_eq!(widen(&[r#""x""#, "1"]), Some(Type::Json));
        assert_eq!(widen(&["{}", r#""x""#, "1"]), Some(Type::Json));
    }
}
