//! [`Condition`]s, the `[field, operator, value]` triples a query filters by, and their parser
//! for the command line's `--where`.

mod text;

use std::fmt;

use serde::ser::SerializeTuple;
use serde::{Serialize, Serializer};

use crate::error::{ParseError, ParseErrorKind};

/// A comparison operator of a [`Condition`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    /// `=`
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `IN`: the value is an array.
    In,
    /// `NOT IN`: the value is an array.
    NotIn,
}

impl Op {
    /// The operator as the API spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Eq => "=",
            Op::Ne => "!=",
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::In => "IN",
            Op::NotIn => "NOT IN",
        }
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Op {
    type Err = ParseError;

    /// Parses `=`, `!=`, `<`, `<=`, `>`, `>=`, `in` and `not in` (any case, any spacing).
    /// Other languages' spellings (`==`, `<>`, `=>`, `=<`) are refused with the one to use, so
    /// a condition means one thing however it reached the API.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let refused = |message: String| Err(ParseError::new(ParseErrorKind::Op, message));
        let norm = s
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .to_ascii_lowercase();
        let instead = match norm.as_str() {
            "==" => Some("="),
            "<>" => Some("!="),
            "=>" => Some(">="),
            "=<" => Some("<="),
            _ => None,
        };
        if let Some(op) = instead {
            return refused(format!("unknown operator {s:?}: use {op}"));
        }
        Ok(match norm.as_str() {
            "=" => Op::Eq,
            "!=" => Op::Ne,
            "<" => Op::Lt,
            "<=" => Op::Le,
            ">" => Op::Gt,
            ">=" => Op::Ge,
            "in" => Op::In,
            "not in" => Op::NotIn,
            _ => {
                return refused(format!(
                    "unknown operator {s:?}: expected one of = != < <= > >= in, not in"
                ));
            }
        })
    }
}

/// The value side of a [`Condition`]: a number, a string, or an array of them for `IN`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(transparent)]
pub struct ConditionValue(serde_json::Value);

impl ConditionValue {
    /// The value as JSON.
    pub fn as_json(&self) -> &serde_json::Value {
        &self.0
    }
}

macro_rules! value_from {
    ($($t:ty),*) => {$(
        impl From<$t> for ConditionValue {
            fn from(v: $t) -> Self {
                ConditionValue(serde_json::Value::from(v))
            }
        }
    )*};
}
value_from!(i32, i64, u32, u64, f64, String, &str);

impl<T: Into<ConditionValue>> From<Vec<T>> for ConditionValue {
    fn from(v: Vec<T>) -> Self {
        ConditionValue(serde_json::Value::Array(
            v.into_iter().map(|x| x.into().0).collect(),
        ))
    }
}

impl<T: Into<ConditionValue>, const N: usize> From<[T; N]> for ConditionValue {
    fn from(v: [T; N]) -> Self {
        ConditionValue::from(Vec::from(v))
    }
}

/// One `[field, operator, value]` triple; all the conditions of a query are ANDed.
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    field: String,
    op: Op,
    value: ConditionValue,
}

impl Condition {
    /// A condition on `field`.
    ///
    /// ```
    /// use xp_export::{Condition, Op};
    /// let c = Condition::new("create_time", Op::Gt, 1480000000);
    /// assert_eq!(serde_json::to_string(&c).unwrap(), r#"["create_time",">",1480000000]"#);
    /// ```
    pub fn new(field: impl Into<String>, op: Op, value: impl Into<ConditionValue>) -> Self {
        Condition {
            field: field.into(),
            op,
            value: value.into(),
        }
    }

    /// The field compared.
    pub fn field(&self) -> &str {
        &self.field
    }

    /// The operator.
    pub fn op(&self) -> Op {
        self.op
    }

    /// The value compared with.
    pub fn value(&self) -> &ConditionValue {
        &self.value
    }

    /// Whether a row whose field holds `value` meets this condition, where that can be told
    /// without knowing the API's rules: numbers compared with numbers (and `IN` lists of
    /// numbers). `None` for anything else (strings, whose collation is the API's; nulls; a
    /// value of another type than the condition's), which the caller takes on trust.
    pub(crate) fn admits(&self, value: &serde_json::Value) -> Option<bool> {
        use std::cmp::Ordering;
        let number = |v: &serde_json::Value| v.as_number().cloned();
        let compare = |a: &serde_json::Number, b: &serde_json::Number| -> Option<Ordering> {
            let whole = |n: &serde_json::Number| {
                n.as_i64()
                    .map(i128::from)
                    .or_else(|| n.as_u64().map(i128::from))
            };
            match (whole(a), whole(b)) {
                (Some(a), Some(b)) => Some(a.cmp(&b)),
                _ => a.as_f64()?.partial_cmp(&b.as_f64()?),
            }
        };
        let got = number(value)?;
        let wanted = self.value.as_json();
        let among = |items: &serde_json::Value| -> Option<bool> {
            let items = items.as_array()?;
            let mut found = false;
            for item in items {
                found |= compare(&got, &number(item)?)? == Ordering::Equal;
            }
            Some(found)
        };
        Some(match self.op {
            Op::In => among(wanted)?,
            Op::NotIn => !among(wanted)?,
            op => {
                let order = compare(&got, &number(wanted)?)?;
                match op {
                    Op::Eq => order == Ordering::Equal,
                    Op::Ne => order != Ordering::Equal,
                    Op::Lt => order == Ordering::Less,
                    Op::Le => order != Ordering::Greater,
                    Op::Gt => order == Ordering::Greater,
                    _ => order != Ordering::Less,
                }
            }
        })
    }
}

impl Serialize for Condition {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut t = s.serialize_tuple(3)?;
        t.serialize_element(&self.field)?;
        t.serialize_element(self.op.as_str())?;
        t.serialize_element(&self.value)?;
        t.end()
    }
}

impl std::str::FromStr for Condition {
    type Err = ParseError;

    /// Parses `FIELD OP VALUE`, as on the command line: `campaign_id = 245624`,
    /// `error_message != "Not personalized"`, `device_id in 1,2,3`, `create_time>1480000000`.
    /// Values that read as numbers are sent as numbers, others as strings; surrounding quotes
    /// are removed (a quoted value is always a string). A number that cannot be sent exactly
    /// (an integer past 64 bits, more digits than a 64-bit float keeps) is refused. `in` and
    /// `not in` take a comma-separated list, where a comma inside quotes is part of its item.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let refused = |message: String| ParseError::new(ParseErrorKind::Condition, message);
        let text = s.trim();
        let field_end = text
            .find(|c: char| c.is_whitespace() || "=!<>".contains(c))
            .unwrap_or(text.len());
        let field = &text[..field_end];
        if field.is_empty() {
            return Err(refused(format!(
                "{s:?} has no field: expected FIELD OP VALUE"
            )));
        }
        if !field
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
        {
            return Err(refused(format!("{field:?} is not a field name")));
        }
        let rest = text[field_end..].trim_start();
        let lower = rest.to_ascii_lowercase();
        let word = |w: &str| {
            lower.starts_with(w) && lower[w.len()..].starts_with(|c: char| c.is_whitespace())
        };
        let (op, len) = if lower.starts_with("not") && word("not") {
            let after = lower[3..].trim_start();
            if after.starts_with("in") && after[2..].starts_with(|c: char| c.is_whitespace()) {
                (Op::NotIn, rest.len() - after.len() + 2)
            } else {
                return Err(refused(format!("{s:?}: expected `not in` after the field")));
            }
        } else if word("in") {
            (Op::In, 2)
        } else {
            let sym: String = rest.chars().take_while(|c| "=!<>".contains(*c)).collect();
            if sym.is_empty() {
                return Err(refused(format!(
                    "{s:?} has no operator: expected one of = != < <= > >= in, not in"
                )));
            }
            let op = sym
                .parse::<Op>()
                .map_err(|e| e.within(ParseErrorKind::Condition))?;
            (op, sym.len())
        };
        let value = rest[len..].trim();
        if value.is_empty() {
            return Err(refused(format!(
                "{s:?} has no value after {:?}",
                op.as_str()
            )));
        }
        let value = match op {
            Op::In | Op::NotIn => text::list(value).map(serde_json::Value::Array),
            _ => text::scalar(value),
        }
        .map_err(|e| refused(format!("{s:?}: {e}")))?;
        Ok(Condition {
            field: field.to_string(),
            op,
            value: ConditionValue(value),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn conditions_parse_from_text() {
        let cases = [
            ("campaign_id = 245624", json!(["campaign_id", "=", 245624])),
            ("error=1", json!(["error", "=", 1])),
            (
                "create_time>1480000000",
                json!(["create_time", ">", 1480000000]),
            ),
            (
                "create_time >= 1480000000",
                json!(["create_time", ">=", 1480000000]),
            ),
            ("device_id in 1,2, 3", json!(["device_id", "IN", [1, 2, 3]])),
            ("device_id IN 1", json!(["device_id", "IN", [1]])),
            (
                "error_message not in a, \"b, c\"",
                json!(["error_message", "NOT IN", ["a", "b, c"]]),
            ),
            (
                "error_message NOT IN x,y",
                json!(["error_message", "NOT IN", ["x", "y"]]),
            ),
            (
                "error_message != \"Not personalized\"",
                json!(["error_message", "!=", "Not personalized"]),
            ),
            (
                "error_message = Not personalized",
                json!(["error_message", "=", "Not personalized"]),
            ),
            (
                "update_time <= '1717229073'",
                json!(["update_time", "<=", "1717229073"]),
            ),
            ("score < 1.5", json!(["score", "<", 1.5])),
            ("inbox = 1", json!(["inbox", "=", 1])),
            ("notes = in progress", json!(["notes", "=", "in progress"])),
            (
                "error_message in \"a, b\", c",
                json!(["error_message", "IN", ["a, b", "c"]]),
            ),
            (
                "device_id = 18446744073709551615",
                json!(["device_id", "=", u64::MAX]),
            ),
        ];
        for (text, expected) in cases {
            let c: Condition = text.parse().unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(serde_json::to_value(&c).unwrap(), expected, "{text}");
        }
        let errors = [
            ("", "has no field"),
            ("= 1", "has no field"),
            ("campaign_id", "has no operator"),
            ("campaign_id 1", "has no operator"),
            ("campaign_id =", "has no value"),
            ("campaign_id => 1", "unknown operator \"=>\""),
            ("device_id in 1,,2", "empty item"),
            ("device_id not 1", "expected `not in`"),
            ("a-b = 1", "not a field name"),
            ("campaign_id == 1", "unknown operator \"==\": use ="),
            ("campaign_id <> 1", "use !="),
            ("campaign_id =< 1", "use <="),
            ("campaign_id = 123456789012345678901234567", "past 64 bits"),
            (
                "device_id in 1, 123456789012345678901234567",
                "past 64 bits",
            ),
            ("error_message = \"abc", "no closing"),
            ("error_message in \"a, b", "no closing"),
        ];
        for (text, message) in errors {
            let e = text.parse::<Condition>().unwrap_err().to_string();
            assert!(e.contains(message), "{text}: {e}");
        }
    }

    #[test]
    fn a_condition_admits_numbers_it_can_judge_and_leaves_the_rest_to_the_api() {
        let c = |text: &str| text.parse::<Condition>().unwrap();
        let cases = [
            ("create_time < 1700000000", json!(1_699_999_999), Some(true)),
            (
                "create_time < 1700000000",
                json!(1_700_000_000),
                Some(false),
            ),
            (
                "create_time <= 1700000000",
                json!(1_700_000_000),
                Some(true),
            ),
            ("create_time >= 5", json!(4), Some(false)),
            ("create_time > 5", json!(5.5), Some(true)),
            ("campaign_id = 245624", json!(245_624), Some(true)),
            ("campaign_id != 245624", json!(245_624), Some(false)),
            (
                "device_id = 18446744073709551615",
                json!(u64::MAX),
                Some(true),
            ),
            ("device_id < 18446744073709551615", json!(-1), Some(true)),
            ("device_id in 1,2,3", json!(2), Some(true)),
            ("device_id not in 1,2,3", json!(2), Some(false)),
            ("device_id in 1,2,3", json!(4), Some(false)),
            ("error_message = \"x\"", json!("X"), None),
            ("campaign_id = 245624", json!("245624"), None),
            ("campaign_id = 245624", json!(null), None),
            ("device_id in 1,\"a\"", json!(1), None),
        ];
        for (text, value, admits) in cases {
            assert_eq!(c(text).admits(&value), admits, "{text} with {value}");
        }
    }

    #[test]
    fn operators_parse_from_text() {
        let cases = [
            ("=", Op::Eq),
            ("!=", Op::Ne),
            ("<", Op::Lt),
            ("<=", Op::Le),
            (">", Op::Gt),
            (">=", Op::Ge),
            ("in", Op::In),
            ("IN", Op::In),
            ("not in", Op::NotIn),
            ("NOT   IN", Op::NotIn),
        ];
        for (text, op) in cases {
            assert_eq!(text.parse::<Op>(), Ok(op), "{text}");
        }
        let err = "like".parse::<Op>().unwrap_err().to_string();
        assert!(err.contains("unknown operator \"like\""), "{err}");
        for (text, instead) in [("==", "="), ("<>", "!="), ("=>", ">="), ("=<", "<=")] {
            let err = text.parse::<Op>().unwrap_err().to_string();
            assert!(err.ends_with(&format!("use {instead}")), "{text}: {err}");
        }
    }
}
