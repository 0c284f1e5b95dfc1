//! The parsed `list/push-devices` request body: `condition`, `select`, `order`, `limit` and
//! `offset`, and how the body is read into a [`Query`]. Conditions, order keys and running
//! the query have files of their own.

mod condition;
mod order;
mod plan;

use serde_json::Value as Json;

use crate::emulator::data::Field;
use crate::emulator::envelope::ApiError;

use condition::Condition;
use order::Dir;

/// A parsed request.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Query {
    pub(crate) conditions: Vec<Condition>,
    pub(crate) select: Option<Vec<Field>>,
    pub(crate) order: Vec<(Field, Dir)>,
    pub(crate) offset: u64,
    pub(crate) limit: Option<u64>,
}

/// Reads a non-negative integer (a JSON integer or a numeric string); `Ok(None)` when
/// absent or null.
pub(crate) fn non_negative(
    body: &serde_json::Map<String, Json>,
    key: &str,
) -> Result<Option<u64>, ApiError> {
    let v = match body.get(key) {
        None | Some(Json::Null) => return Ok(None),
        Some(v) => v,
    };
    let parsed = match v {
        Json::Number(n) => n.as_u64(),
        Json::String(s) => s.trim().parse::<u64>().ok(),
        _ => None,
    };
    parsed.map(Some).ok_or_else(|| {
        ApiError::bad(
            key,
            format!("'{key}' must be a non-negative integer, got {v}"),
        )
    })
}

fn list<'a>(
    body: &'a serde_json::Map<String, Json>,
    key: &str,
) -> Result<Option<&'a [Json]>, ApiError> {
    match body.get(key) {
        None | Some(Json::Null) => Ok(None),
        Some(Json::Array(a)) => Ok(Some(a)),
        Some(other) => Err(ApiError::bad(
            key,
            format!("'{key}' must be an array, got {other}"),
        )),
    }
}

/// Parses the `select` items: field names, duplicates dropped; none means all fields.
fn parse_select(items: &[Json]) -> Result<Option<Vec<Field>>, ApiError> {
    if items.is_empty() {
        return Ok(None);
    }
    let mut fields = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let at = format!("select[{i}]");
        let name = item.as_str().ok_or_else(|| {
            ApiError::bad(&at, format!("Field name must be a string, got {item}"))
        })?;
        let field = Field::from_name(name.trim())
            .ok_or_else(|| ApiError::bad(&at, format!("Unknown field '{name}' in select")))?;
        if !fields.contains(&field) {
            fields.push(field);
        }
    }
    Ok(Some(fields))
}

impl Query {
    /// Parses the query part of a request body (the apptoken is checked elsewhere).
    pub(crate) fn parse(body: &serde_json::Map<String, Json>) -> Result<Query, ApiError> {
        let conditions = match list(body, "condition")? {
            None => Vec::new(),
            Some(items) => items
                .iter()
                .enumerate()
                .map(|(i, c)| Condition::parse(c, i))
                .collect::<Result<_, _>>()?,
        };
        let select = match list(body, "select")? {
            None => None,
            Some(items) => parse_select(items)?,
        };
        let order = match list(body, "order")? {
            None => Vec::new(),
            Some(items) => order::parse(items)?,
        };
        Ok(Query {
            conditions,
            select,
            order,
            offset: non_negative(body, "offset")?.unwrap_or(0),
            limit: non_negative(body, "limit")?,
        })
    }
}

/// Helpers shared by the query tests.
#[cfg(test)]
mod testing {
    use serde_json::Value as Json;

    use super::Query;
    use crate::emulator::data::{DEFAULT_CAMPAIGNS, Dataset, Row};
    use crate::emulator::envelope::ApiError;

    pub(super) fn ds() -> Dataset {
        Dataset::new(3_000, 11, &DEFAULT_CAMPAIGNS)
    }

    pub(super) fn parse(v: Json) -> Result<Query, ApiError> {
        match v {
            Json::Object(m) => Query::parse(&m),
            _ => unreachable!(),
        }
    }

    pub(super) fn ids(rows: &[Row]) -> Vec<u64> {
        rows.iter().map(|r| r.action_id).collect()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::testing::parse;
    use super::*;
    use crate::Op;

    #[test]
    fn errors_name_the_problem() {
        let cases = [
            (
                json!({"condition": [["nope", "=", 1]]}),
                "Unknown field 'nope' in condition",
            ),
            (
                json!({"condition": [["error", "LIKE", 1]]}),
                "Unknown operator 'LIKE'",
            ),
            (
                json!({"condition": [["error", "="]]}),
                "Malformed condition",
            ),
            (json!({"condition": ["error"]}), "Malformed condition"),
            (
                json!({"condition": [[1, "=", 1]]}),
                "field must be a string",
            ),
            (
                json!({"condition": {"error": 1}}),
                "'condition' must be an array",
            ),
            (
                json!({"condition": [["error", "IN", 1]]}),
                "needs an array value",
            ),
            (
                json!({"condition": [["action_id", ">", "abc"]]}),
                "is not a number",
            ),
            (
                json!({"condition": [["action_id", ">", null]]}),
                "cannot compare with null",
            ),
            (
                json!({"condition": [["action_id", "=", [1]]]}),
                "Unsupported value",
            ),
            (
                json!({"select": ["action_id", "nope"]}),
                "Unknown field 'nope' in select",
            ),
            (json!({"select": [1]}), "Field name must be a string"),
            (
                json!({"order": ["nope DESC"]}),
                "Unknown field 'nope' in order",
            ),
            (
                json!({"order": ["action_id SIDEWAYS"]}),
                "Invalid order direction",
            ),
            (json!({"order": ["action_id DESC x"]}), "Invalid order"),
            (json!({"order": [""]}), "Invalid order"),
            (
                json!({"limit": -1}),
                "'limit' must be a non-negative integer",
            ),
            (
                json!({"limit": 1.5}),
                "'limit' must be a non-negative integer",
            ),
            (
                json!({"offset": "ten"}),
                "'offset' must be a non-negative integer",
            ),
            (
                json!({"offset": true}),
                "'offset' must be a non-negative integer",
            ),
        ];
        for (body, want) in cases {
            let e = parse(body.clone()).unwrap_err();
            assert_eq!(e.status, 400, "{body}");
            assert!(e.message.contains(want), "{body}: {}", e.message);
            assert_eq!(e.errors.len(), 1);
        }
    }

    #[test]
    fn accepts_lenient_forms() {
        let q = parse(json!({
            "condition": [["create_time", "not  in", ["1", 2.5]], ["error", "In", [0, "1"]]],
            "order": ["campaign_id", "action_id desc"],
            "limit": "50", "offset": " 7 ", "select": []
        }))
        .unwrap();
        assert_eq!(q.limit, Some(50));
        assert_eq!(q.offset, 7);
        assert_eq!(q.select, None);
        assert_eq!(
            q.order,
            vec![(Field::CampaignId, Dir::Asc), (Field::ActionId, Dir::Desc)]
        );
        assert_eq!(q.conditions[0].op, Op::NotIn);
    }
}
