//! `order`: the sort keys of a request and the total order rows are sorted by.

use std::cmp::Ordering;

use serde_json::Value as Json;

use crate::emulator::data::{Field, Row, Value};
use crate::emulator::envelope::ApiError;

/// Direction of one order key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dir {
    Asc,
    Desc,
}

/// Parses the `order` items: `"field"`, `"field ASC"` or `"field DESC"` (any case).
pub(super) fn parse(items: &[Json]) -> Result<Vec<(Field, Dir)>, ApiError> {
    let mut keys = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let at = format!("order[{i}]");
        let text = item
            .as_str()
            .ok_or_else(|| ApiError::bad(&at, format!("Order must be a string, got {item}")))?;
        let mut words = text.split_whitespace();
        let (Some(name), dir, None) = (words.next(), words.next(), words.next()) else {
            return Err(ApiError::bad(&at, format!("Invalid order '{text}'")));
        };
        let field = Field::from_name(name)
            .ok_or_else(|| ApiError::bad(&at, format!("Unknown field '{name}' in order")))?;
        let dir = match dir.map(str::to_ascii_uppercase).as_deref() {
            None | Some("ASC") => Dir::Asc,
            Some("DESC") => Dir::Desc,
            Some(_) => {
                return Err(ApiError::bad(
                    &at,
                    format!("Invalid order direction in '{text}'"),
                ));
            }
        };
        keys.push((field, dir));
    }
    Ok(keys)
}

/// `a` compared to `b` by the order keys, in turn; `Equal` when every key ties.
pub(super) fn compare_rows(order: &[(Field, Dir)], a: &Row, b: &Row) -> Ordering {
    for &(field, dir) in order {
        let ord = compare_values(a.value(field), b.value(field));
        let ord = if dir == Dir::Desc { ord.reverse() } else { ord };
        if ord != Ordering::Equal {
            return ord;
        }
    }
    Ordering::Equal
}

/// Total order for sorting; null sorts first (as in MySQL).
fn compare_values(a: Value<'_>, b: Value<'_>) -> Ordering {
    match (a, b) {
        (Value::Int(x), Value::Int(y)) => x.cmp(&y),
        (Value::Str(x), Value::Str(y)) => x.cmp(y),
        (Value::Null, Value::Null) => Ordering::Equal,
        (Value::Null, _) => Ordering::Less,
        (_, Value::Null) => Ordering::Greater,
        (Value::Int(_), Value::Str(_)) => Ordering::Less,
        (Value::Str(_), Value::Int(_)) => Ordering::Greater,
    }
}
