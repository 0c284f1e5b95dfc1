//! One `[field, operator, value]` condition: parsing it against the field's type, matching
//! a record, and narrowing a scan by binary search on monotonic fields.

use std::cmp::Ordering;

use serde_json::Value as Json;

use crate::Op;
use crate::emulator::data::{Dataset, Field, Row, Value};
use crate::emulator::envelope::ApiError;

/// Reads an operator as the API spells it: `=`, `!=`, `<`, `<=`, `>`, `>=`, `IN`, `NOT IN`,
/// in any case and with any spacing (the library's [`Op`] parser also takes `in` in lower
/// case; the check against the API's spelling keeps any other spelling out).
fn parse_op(text: &str) -> Option<Op> {
    let norm = text
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_ascii_uppercase();
    norm.parse::<Op>().ok().filter(|op| op.as_str() == norm)
}

/// A number from a request: integers are kept exact.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Num {
    Int(i64),
    Float(f64),
}

impl Num {
    fn from_json(v: &Json) -> Option<Num> {
        match v {
            Json::Number(n) => match n.as_i64() {
                Some(i) => Some(Num::Int(i)),
                None => n.as_f64().map(Num::Float),
            },
            Json::String(s) => Num::parse(s),
            _ => None,
        }
    }

    fn parse(s: &str) -> Option<Num> {
        let s = s.trim();
        if let Ok(i) = s.parse::<i64>() {
            return Some(Num::Int(i));
        }
        match s.parse::<f64>() {
            Ok(f) if f.is_finite() => Some(Num::Float(f)),
            _ => None,
        }
    }

    /// `field_value` compared to `self`.
    fn cmp_with(self, field_value: i64) -> Option<Ordering> {
        match self {
            Num::Int(i) => Some(field_value.cmp(&i)),
            Num::Float(f) => (field_value as f64).partial_cmp(&f),
        }
    }
}

/// One operand of a condition, already converted for the field's type.
#[derive(Debug, Clone, PartialEq)]
enum Operand {
    Null,
    Num(Num),
    Str(String),
}

impl Operand {
    fn from_json(field: Field, v: &Json, at: &str) -> Result<Operand, ApiError> {
        match v {
            Json::Null => Ok(Operand::Null),
            Json::Number(_) | Json::String(_) if field.is_numeric() => {
                Num::from_json(v).map(Operand::Num).ok_or_else(|| {
                    ApiError::bad(
                        at,
                        format!("Value {v} is not a number, but field '{field}' is numeric"),
                    )
                })
            }
            Json::String(s) => Ok(Operand::Str(s.clone())),
            Json::Number(n) => Ok(Operand::Str(n.to_string())),
            other => Err(ApiError::bad(
                at,
                format!("Unsupported value {other} for field '{field}'"),
            )),
        }
    }

    /// Ordering of the field value relative to this operand; `None` when either is null
    /// or they do not compare.
    fn compare(&self, value: Value<'_>) -> Option<Ordering> {
        match (value, self) {
            (Value::Int(v), Operand::Num(n)) => n.cmp_with(v),
            (Value::Str(v), Operand::Str(s)) => Some(v.cmp(s.as_str())),
            _ => None,
        }
    }

    fn equals(&self, value: Value<'_>) -> bool {
        match (value, self) {
            (Value::Null, Operand::Null) => true,
            _ => self.compare(value) == Some(Ordering::Equal),
        }
    }
}

/// A parsed `[field, op, value]` triple.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Condition {
    field: Field,
    pub(super) op: Op,
    operands: Vec<Operand>,
}

impl Condition {
    pub(super) fn parse(v: &Json, index: usize) -> Result<Condition, ApiError> {
        let at = format!("condition[{index}]");
        let malformed = |what: &str| ApiError::bad(&at, format!("Malformed condition {v}: {what}"));
        let triple = match v.as_array() {
            Some(a) if a.len() == 3 => a,
            _ => return Err(malformed("expected [field, operator, value]")),
        };
        let name = triple[0]
            .as_str()
            .ok_or_else(|| malformed("field must be a string"))?;
        let field = Field::from_name(name)
            .ok_or_else(|| ApiError::bad(&at, format!("Unknown field '{name}' in condition")))?;
        let op_text = triple[1]
            .as_str()
            .ok_or_else(|| malformed("operator must be a string"))?;
        let op = parse_op(op_text)
            .ok_or_else(|| ApiError::bad(&at, format!("Unknown operator '{op_text}'")))?;
        let operands = if matches!(op, Op::In | Op::NotIn) {
            let list = triple[2].as_array().ok_or_else(|| {
                ApiError::bad(
                    &at,
                    format!(
                        "Operator '{op_text}' needs an array value, got {}",
                        triple[2]
                    ),
                )
            })?;
            list.iter()
                .map(|x| Operand::from_json(field, x, &at))
                .collect::<Result<Vec<_>, _>>()?
        } else {
            let operand = Operand::from_json(field, &triple[2], &at)?;
            if operand == Operand::Null && !matches!(op, Op::Eq | Op::Ne) {
                return Err(ApiError::bad(
                    &at,
                    format!("Operator '{op_text}' cannot compare with null"),
                ));
            }
            vec![operand]
        };
        Ok(Condition {
            field,
            op,
            operands,
        })
    }

    pub(crate) fn matches(&self, r: &Row) -> bool {
        let value = r.value(self.field);
        let Some(first) = self.operands.first() else {
            // Empty IN list matches nothing, empty NOT IN everything.
            return self.op == Op::NotIn;
        };
        match self.op {
            Op::Eq => first.equals(value),
            Op::Ne => {
                if *first == Operand::Null {
                    value != Value::Null
                } else {
                    value == Value::Null || !first.equals(value)
                }
            }
            Op::Lt => first.compare(value) == Some(Ordering::Less),
            Op::Le => matches!(first.compare(value), Some(Ordering::Less | Ordering::Equal)),
            Op::Gt => first.compare(value) == Some(Ordering::Greater),
            Op::Ge => matches!(
                first.compare(value),
                Some(Ordering::Greater | Ordering::Equal)
            ),
            Op::In => self.operands.iter().any(|o| o.equals(value)),
            Op::NotIn => value == Value::Null || !self.operands.iter().any(|o| o.equals(value)),
        }
    }

    /// For a condition on a monotonic numeric field: the index range of the data set that
    /// can match (the rest cannot), by binary search. `None` when the condition does not
    /// narrow.
    pub(super) fn narrow(&self, ds: &Dataset) -> Option<(usize, usize)> {
        if !self.field.is_monotonic() {
            return None;
        }
        let Some(Operand::Num(n)) = self.operands.first() else {
            return None;
        };
        let n = *n;
        // First index whose value is >= n, and first whose value is > n.
        let lo_ge = ds.partition_point(self.field, |v| n.cmp_with(v) == Some(Ordering::Less))?;
        let lo_gt = ds.partition_point(self.field, |v| {
            matches!(n.cmp_with(v), Some(Ordering::Less | Ordering::Equal))
        })?;
        match self.op {
            Op::Eq => Some((lo_ge, lo_gt)),
            Op::Lt => Some((0, lo_ge)),
            Op::Le => Some((0, lo_gt)),
            Op::Gt => Some((lo_gt, ds.len())),
            Op::Ge => Some((lo_ge, ds.len())),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{ds, parse};
    use super::{Json, Op, parse_op};
    use serde_json::json;

    #[test]
    fn operators_are_the_apis_spellings() {
        for (text, want) in [
            ("=", Some(Op::Eq)),
            ("!=", Some(Op::Ne)),
            ("<=", Some(Op::Le)),
            ("in", Some(Op::In)),
            (" Not \t IN ", Some(Op::NotIn)),
            ("==", None),
            ("<>", None),
            ("NOTIN", None),
            ("LIKE", None),
        ] {
            assert_eq!(parse_op(text), want, "{text:?}");
        }
    }

    #[test]
    fn null_fields_match_only_negations() {
        let ds = ds();
        let q = |c: Json| parse(json!({"condition": [c]})).unwrap().run(&ds, None);
        let records = ds.records();
        let nulls = records.iter().filter(|r| r.error_message.is_none()).count();
        let total = records.len();
        let eq = q(json!(["error_message", "=", "Not personalized"])).len();
        assert!(eq > 0);
        assert_eq!(
            q(json!(["error_message", "!=", "Not personalized"])).len(),
            total - eq
        );
        assert_eq!(
            q(json!(["error_message", "NOT IN", ["Not personalized"]])).len(),
            total - eq
        );
        assert_eq!(q(json!(["error_message", ">", ""])).len(), total - nulls);
        assert_eq!(q(json!(["error_message", "=", null])).len(), nulls);
        assert_eq!(q(json!(["error_message", "!=", null])).len(), total - nulls);
        assert_eq!(q(json!(["error", "IN", []])).len(), 0);
        assert_eq!(q(json!(["error", "NOT IN", []])).len(), total);
    }
}
