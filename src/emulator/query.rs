//! Parsing and running a `list/push-devices` request body: `condition`, `select`, `order`,
//! `limit` and `offset`.

use std::cmp::Ordering;

use serde_json::Value as Json;

use crate::emulator::data::{Dataset, Field, Record, Value};

/// An error answered with an error envelope.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{status}: {message}")]
pub(crate) struct ApiError {
    pub(crate) status: u16,
    pub(crate) message: String,
    pub(crate) errors: Vec<String>,
}

impl ApiError {
    pub(crate) fn new(status: u16, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
            errors: Vec::new(),
        }
    }

    /// A 400 whose `errors` also names where in the body the problem is.
    pub(crate) fn bad(at: impl Into<String>, message: impl Into<String>) -> ApiError {
        let message = message.into();
        ApiError {
            status: 400,
            errors: vec![format!("{}: {}", at.into(), message)],
            message,
        }
    }
}

/// Comparison operator of a condition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    In,
    NotIn,
}

impl Op {
    fn parse(s: &str) -> Option<Op> {
        let norm = s.split_whitespace().collect::<Vec<_>>().join(" ");
        Some(match norm.to_ascii_uppercase().as_str() {
            "=" => Op::Eq,
            "!=" => Op::Ne,
            "<" => Op::Lt,
            "<=" => Op::Le,
            ">" => Op::Gt,
            ">=" => Op::Ge,
            "IN" => Op::In,
            "NOT IN" => Op::NotIn,
            _ => return None,
        })
    }

    fn is_list(self) -> bool {
        matches!(self, Op::In | Op::NotIn)
    }
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
    op: Op,
    operands: Vec<Operand>,
}

impl Condition {
    fn parse(v: &Json, index: usize) -> Result<Condition, ApiError> {
        let at = format!("condition[{index}]");
        let triple = match v.as_array() {
            Some(a) if a.len() == 3 => a,
            _ => {
                return Err(ApiError::bad(
                    at,
                    format!("Malformed condition {v}: expected [field, operator, value]"),
                ));
            }
        };
        let name = triple[0].as_str().ok_or_else(|| {
            ApiError::bad(
                &at,
                format!("Malformed condition {v}: field must be a string"),
            )
        })?;
        let field = Field::from_name(name)
            .ok_or_else(|| ApiError::bad(&at, format!("Unknown field '{name}' in condition")))?;
        let op_text = triple[1].as_str().ok_or_else(|| {
            ApiError::bad(
                &at,
                format!("Malformed condition {v}: operator must be a string"),
            )
        })?;
        let op = Op::parse(op_text)
            .ok_or_else(|| ApiError::bad(&at, format!("Unknown operator '{op_text}'")))?;
        let operands = if op.is_list() {
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

    pub(crate) fn matches(&self, r: &Record) -> bool {
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

    /// For a condition on a monotonic numeric field: the index range of `records` that can
    /// match (the rest cannot). `None` when the condition does not narrow.
    fn narrow(&self, records: &[Record]) -> Option<(usize, usize)> {
        if !self.field.is_monotonic() {
            return None;
        }
        let Some(Operand::Num(n)) = self.operands.first() else {
            return None;
        };
        let n = *n;
        let key = |r: &Record| match r.value(self.field) {
            Value::Int(v) => v,
            _ => 0,
        };
        let below = |ord: Option<Ordering>| ord == Some(Ordering::Less);
        let not_above =
            |ord: Option<Ordering>| matches!(ord, Some(Ordering::Less | Ordering::Equal));
        // First index whose value is >= n, and first whose value is > n.
        let lo_ge = records.partition_point(|r| below(n.cmp_with(key(r))));
        let lo_gt = records.partition_point(|r| not_above(n.cmp_with(key(r))));
        match self.op {
            Op::Eq => Some((lo_ge, lo_gt)),
            Op::Lt => Some((0, lo_ge)),
            Op::Le => Some((0, lo_gt)),
            Op::Gt => Some((lo_gt, records.len())),
            Op::Ge => Some((lo_ge, records.len())),
            _ => None,
        }
    }
}

/// Direction of one order key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dir {
    Asc,
    Desc,
}

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
            Some([]) => None,
            Some(items) => {
                let mut fields = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    let at = format!("select[{i}]");
                    let name = item.as_str().ok_or_else(|| {
                        ApiError::bad(&at, format!("Field name must be a string, got {item}"))
                    })?;
                    let field = Field::from_name(name.trim()).ok_or_else(|| {
                        ApiError::bad(&at, format!("Unknown field '{name}' in select"))
                    })?;
                    if !fields.contains(&field) {
                        fields.push(field);
                    }
                }
                Some(fields)
            }
        };
        let order = match list(body, "order")? {
            None => Vec::new(),
            Some(items) => {
                let mut keys = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    let at = format!("order[{i}]");
                    let text = item.as_str().ok_or_else(|| {
                        ApiError::bad(&at, format!("Order must be a string, got {item}"))
                    })?;
                    let mut words = text.split_whitespace();
                    let (Some(name), dir, None) = (words.next(), words.next(), words.next()) else {
                        return Err(ApiError::bad(&at, format!("Invalid order '{text}'")));
                    };
                    let field = Field::from_name(name).ok_or_else(|| {
                        ApiError::bad(&at, format!("Unknown field '{name}' in order"))
                    })?;
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
                keys
            }
        };
        Ok(Query {
            conditions,
            select,
            order,
            offset: non_negative(body, "offset")?.unwrap_or(0),
            limit: non_negative(body, "limit")?,
        })
    }

    /// When the order is fully determined by `action_id` (the default, or `action_id` as
    /// first key, which is unique), its direction.
    fn action_id_order(&self) -> Option<Dir> {
        match self.order.first() {
            None => Some(Dir::Desc),
            Some((Field::ActionId, dir)) => Some(*dir),
            Some(_) => None,
        }
    }

    /// Whether the page can be computed in time proportional to at most `inline_rows`
    /// rows (no conditions, `action_id` order, a small enough effective limit).
    pub(crate) fn is_cheap(&self, max_limit: Option<usize>, inline_rows: u64) -> bool {
        if !self.conditions.is_empty() || self.action_id_order().is_none() {
            return false;
        }
        let max_limit = max_limit.map(|m| m as u64);
        match (self.limit, max_limit) {
            (Some(l), Some(m)) => l.min(m) <= inline_rows,
            (Some(l), None) | (None, Some(l)) => l <= inline_rows,
            (None, None) => false,
        }
    }

    /// The row indices of the page, in answer order. `max_limit` caps the page size.
    pub(crate) fn run(&self, ds: &Dataset, max_limit: Option<usize>) -> Vec<usize> {
        let records = &ds.records;
        let mut take = self
            .limit
            .map_or(usize::MAX, |l| usize::try_from(l).unwrap_or(usize::MAX));
        if let Some(m) = max_limit {
            take = take.min(m);
        }
        let skip = usize::try_from(self.offset).unwrap_or(usize::MAX);
        if take == 0 {
            return Vec::new();
        }
        // Narrow by binary search on monotonic fields.
        let (mut lo, mut hi) = (0, records.len());
        for c in &self.conditions {
            if let Some((a, b)) = c.narrow(records) {
                lo = lo.max(a);
                hi = hi.min(b);
            }
        }
        if lo >= hi {
            return Vec::new();
        }
        let matches = |i: &usize| self.conditions.iter().all(|c| c.matches(&records[*i]));
        match self.action_id_order() {
            Some(dir) if self.conditions.is_empty() => {
                let len = hi - lo;
                let start = skip.min(len);
                let end = start.saturating_add(take).min(len);
                match dir {
                    Dir::Asc => (lo + start..lo + end).collect(),
                    Dir::Desc => (hi - end..hi - start).rev().collect(),
                }
            }
            Some(Dir::Asc) => (lo..hi).filter(matches).skip(skip).take(take).collect(),
            Some(Dir::Desc) => (lo..hi)
                .rev()
                .filter(matches)
                .skip(skip)
                .take(take)
                .collect(),
            None => {
                let mut rows: Vec<usize> = (lo..hi).filter(matches).collect();
                // Ties fall back to the primary-key (ascending action_id) order.
                rows.sort_by(|&a, &b| {
                    for &(field, dir) in &self.order {
                        let ord = compare_values(records[a].value(field), records[b].value(field));
                        let ord = if dir == Dir::Desc { ord.reverse() } else { ord };
                        if ord != Ordering::Equal {
                            return ord;
                        }
                    }
                    a.cmp(&b)
                });
                let start = skip.min(rows.len());
                let end = start.saturating_add(take).min(rows.len());
                rows.truncate(end);
                rows.drain(..start);
                rows
            }
        }
    }
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

/// Renders the success envelope for `rows`.
pub(crate) fn render_page(ds: &Dataset, rows: &[usize], select: Option<&[Field]>) -> Vec<u8> {
    const HEAD: &[u8] = br#"{"code":200,"success":true,"data":["#;
    const TAIL: &[u8] = b"]}";
    match select {
        None => {
            let size = HEAD.len()
                + TAIL.len()
                + rows.len()
                + rows.iter().map(|&i| ds.row_json(i).len()).sum::<usize>();
            let mut out = Vec::with_capacity(size);
            out.extend_from_slice(HEAD);
            for (k, &i) in rows.iter().enumerate() {
                if k > 0 {
                    out.push(b',');
                }
                out.extend_from_slice(ds.row_json(i));
            }
            out.extend_from_slice(TAIL);
            out
        }
        Some(fields) => {
            let mut out =
                Vec::with_capacity(HEAD.len() + TAIL.len() + rows.len() * 24 * fields.len());
            out.extend_from_slice(HEAD);
            for (k, &i) in rows.iter().enumerate() {
                if k > 0 {
                    out.push(b',');
                }
                ds.records[i].write_fields(&mut out, fields);
            }
            out.extend_from_slice(TAIL);
            out
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::emulator::data::DEFAULT_CAMPAIGNS;
    use serde_json::json;

    fn ds() -> Dataset {
        Dataset::new(3_000, 11, &DEFAULT_CAMPAIGNS)
    }

    fn parse(v: Json) -> Result<Query, ApiError> {
        match v {
            Json::Object(m) => Query::parse(&m),
            _ => unreachable!(),
        }
    }

    fn ids(ds: &Dataset, rows: &[usize]) -> Vec<u64> {
        rows.iter().map(|&i| ds.records[i].action_id).collect()
    }

    /// The reference semantics: filter everything, sort, window.
    fn naive(ds: &Dataset, q: &Query) -> Vec<u64> {
        let mut rows: Vec<usize> = (0..ds.records.len())
            .filter(|&i| q.conditions.iter().all(|c| c.matches(&ds.records[i])))
            .collect();
        let order = if q.order.is_empty() {
            vec![(Field::ActionId, Dir::Desc)]
        } else {
            q.order.clone()
        };
        rows.sort_by(|&a, &b| {
            for &(f, d) in &order {
                let o = compare_values(ds.records[a].value(f), ds.records[b].value(f));
                let o = if d == Dir::Desc { o.reverse() } else { o };
                if o != Ordering::Equal {
                    return o;
                }
            }
            a.cmp(&b)
        });
        let skip = q.offset as usize;
        let take = q.limit.map_or(usize::MAX, |l| l as usize);
        ids(
            ds,
            &rows.into_iter().skip(skip).take(take).collect::<Vec<_>>(),
        )
    }

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

    #[test]
    fn null_fields_match_only_negations() {
        let ds = ds();
        let q = |c: Json| parse(json!({"condition": [c]})).unwrap().run(&ds, None);
        let nulls = ds
            .records
            .iter()
            .filter(|r| r.error_message.is_none())
            .count();
        let total = ds.records.len();
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

    #[test]
    fn fast_paths_agree_with_the_naive_plan() {
        let ds = ds();
        let mid = ds.records[1_500].action_id;
        let t = ds.records[700].create_time;
        let bodies = [
            json!({}),
            json!({"limit": 10}),
            json!({"limit": 10, "offset": 2_995}),
            json!({"limit": 10, "offset": 5_000}),
            json!({"order": ["action_id ASC"], "limit": 25, "offset": 40}),
            json!({"order": ["action_id"], "offset": 2_990}),
            json!({"condition": [["action_id", "<", mid]], "limit": 50}),
            json!({"condition": [["action_id", "<", mid.to_string()]], "order": ["action_id ASC"], "limit": 50, "offset": 3}),
            json!({"condition": [["action_id", ">=", mid], ["error", "=", 1]], "limit": 20}),
            json!({"condition": [["action_id", "=", mid]]}),
            json!({"condition": [["action_id", "<=", mid as f64 + 0.5], ["action_id", ">", mid as f64 - 100.5]]}),
            json!({"condition": [["create_time", "=", t]], "order": ["action_id ASC"]}),
            json!({"condition": [["create_time", ">", t], ["create_time", "<", t + 100]]}),
            json!({"condition": [["campaign_id", "IN", [245624, "245626"]]], "order": ["create_time DESC", "device_id"], "limit": 30, "offset": 10}),
            json!({"condition": [["platform", "!=", "web"]], "order": ["profile_id"], "limit": 40}),
            json!({"order": ["error_message DESC", "campaign_id ASC"], "limit": 40, "offset": 100}),
            json!({"condition": [["action_id", ">", mid], ["action_id", "<", mid]]}),
            json!({"limit": 0}),
            json!({"offset": u64::MAX, "limit": u64::MAX}),
            json!({"offset": 2_999, "limit": u64::MAX, "order": ["action_id ASC"]}),
            json!({"condition": [["error", "=", 1]], "offset": u64::MAX, "limit": u64::MAX}),
            json!({"order": ["device_id"], "offset": u64::MAX}),
        ];
        // The same rows, partly inserted after generation: every path must serve inserted
        // rows exactly like generated ones.
        let mut grown = Dataset::new(1_000, 11, &DEFAULT_CAMPAIGNS);
        grown.insert(1_499);
        grown.insert(1);
        grown.insert(500);
        assert_eq!(grown.records, ds.records);
        for body in bodies {
            let q = parse(body.clone()).unwrap();
            assert_eq!(ids(&ds, &q.run(&ds, None)), naive(&ds, &q), "{body}");
            let rows = q.run(&grown, None);
            assert_eq!(ids(&grown, &rows), naive(&grown, &q), "grown: {body}");
            for select in [None, Some(&[Field::Platform, Field::ActionId][..])] {
                assert_eq!(
                    render_page(&grown, &rows, select),
                    render_page(&ds, &rows, select),
                    "grown: {body}"
                );
            }
        }
    }

    #[test]
    fn pages_see_rows_inserted_meanwhile() {
        let mut ds = Dataset::new(500, 3, &DEFAULT_CAMPAIGNS);
        // Default order: new rows come first.
        let old_max = ds.records.last().unwrap().action_id;
        ds.insert(30);
        let first = parse(json!({"limit": 40})).unwrap().run(&ds, None);
        assert_eq!(first, (490..530).rev().collect::<Vec<_>>());
        assert!(ids(&ds, &first[..30]).iter().all(|&id| id > old_max));
        // Keyset paging ascending sees every inserted row once, in order, at the end.
        let mut got = Vec::new();
        let mut last = 0u64;
        loop {
            let q = parse(json!({
                "condition": [["action_id", ">", last]],
                "order": ["action_id ASC"],
                "limit": 100,
            }))
            .unwrap();
            let page = ids(&ds, &q.run(&ds, None));
            let Some(&l) = page.last() else { break };
            last = l;
            got.extend(page);
            if got.len() < 1_000 {
                ds.insert(45);
            }
        }
        assert_eq!(got, ids(&ds, &(0..ds.records.len()).collect::<Vec<_>>()));
        assert!(ds.records.len() > 1_000);
    }

    #[test]
    fn max_limit_caps_silently() {
        let ds = ds();
        let q = parse(json!({"limit": 100, "offset": 10})).unwrap();
        let rows = q.run(&ds, Some(30));
        assert_eq!(rows.len(), 30);
        assert_eq!(ids(&ds, &rows), naive(&ds, &q)[..30]);
        assert_eq!(parse(json!({})).unwrap().run(&ds, Some(7)).len(), 7);
    }

    #[test]
    fn pages_render_as_envelopes() {
        let ds = ds();
        for rows in [vec![], vec![5], vec![5, 6, 7], vec![9, 3, 4]] {
            let v: Json = serde_json::from_slice(&render_page(&ds, &rows, None)).unwrap();
            assert_eq!(v["code"], 200);
            assert_eq!(v["success"], true);
            let data = v["data"].as_array().unwrap();
            assert_eq!(data.len(), rows.len());
            for (d, &i) in data.iter().zip(&rows) {
                assert_eq!(*d, ds.records[i].to_json());
            }
            let sel = [Field::ErrorMessage, Field::ActionId];
            let bytes = render_page(&ds, &rows, Some(&sel));
            let v: Json = serde_json::from_slice(&bytes).unwrap();
            for (d, &i) in v["data"].as_array().unwrap().iter().zip(&rows) {
                assert_eq!(d.as_object().unwrap().len(), 2);
                assert_eq!(d["action_id"], ds.records[i].action_id);
            }
        }
    }
}
