//! What the user reads about an export: the progress line, the summary on stderr and the
//! `--summary-json` report.

use std::time::Duration;

use xp_export::Summary;
use xp_export::export::{Format, Report};
use xp_export::paginate::{EndReason, thousands};

use crate::failure::{Exit, Failure};
use crate::logging;

/// The completeness report as JSON, for `--summary-json`: the stream's [`Summary`] as the
/// library serialises it, with the export's facts beside it. Two keys keep the meaning they had
/// before the summary serialised itself: `rows` counts the rows in the output, an earlier
/// interrupted run's included (the stream's count is `rows_this_run`), and `end` is the
/// sentence that says how the stream ended (the summary's object is `end_reason`). `extra`
/// (a shard's part) is added last. A `--resume` that found the output already complete reports
/// the rows its record counts (`null` for a record of an earlier build, which did not count
/// them), `end` "already complete", and `earlier_end`, how the export that finished it ended.
pub fn summary_json_value(
    r: &Report,
    format: Format,
    extra: &serde_json::Map<String, serde_json::Value>,
) -> serde_json::Value {
    let s = &r.summary;
    let mut json = match serde_json::to_value(s) {
        Ok(serde_json::Value::Object(map)) => map,
        // A summary is plain numbers and strings: it serialises to an object.
        _ => serde_json::Map::new(),
    };
    let complete = r.already_complete || s.is_complete();
    // A value stored with U+FFFD is not the one the server sent.
    let guaranteed = complete && s.warnings().is_empty() && r.values_replaced == 0;
    let end_reason = json.remove("end").unwrap_or_default();
    let export = serde_json::json!({
        "complete": complete,
        "guaranteed": guaranteed,
        "output": r.path.as_ref().map(|p| p.display().to_string())
            .or_else(|| r.object.as_ref().map(|o| o.url.clone())),
        "format": format.to_string(),
        "rows": r.rows_known.then_some(r.rows_in_output),
        "rows_this_run": s.rows,
        "resumed_at": r.resumed_at,
        "stop_reason": stop_reason(r),
        "end": match &s.end {
            _ if r.already_complete => Some(ALREADY_COMPLETE.to_string()),
            end => end.as_ref().map(|e| e.to_string()),
        },
        "end_reason": end_reason,
        "elapsed_seconds": r.elapsed.as_secs_f64(),
        "fields_not_in_csv": r.left_out_fields,
        "values_replaced": r.values_replaced,
        "replaced_values": r.replaced_values,
    });
    if let (Some(new), Some(reread)) = (r.rows_new, r.rows_reread) {
        json.insert("rows_new".into(), new.into());
        json.insert("rows_reread".into(), reread.into());
    }
    if r.already_complete {
        json.insert("earlier_end".into(), r.earlier_end.clone().into());
    }
    if let Some(o) = &r.object {
        json.insert("bytes".into(), o.bytes.into());
        json.insert("etag".into(), o.etag.clone().into());
    }
    if let Some(p) = &r.parquet {
        json.insert("row_groups".into(), p.row_groups.into());
        json.insert("bytes".into(), p.bytes.into());
        json.insert("compression".into(), p.compression.clone().into());
        let kept = serde_json::to_value(&p.kept_in_extra).unwrap_or_default();
        json.insert("kept_in_extra".into(), kept);
        json.insert("extra_column".into(), p.extra_column.clone().into());
    }
    if let serde_json::Value::Object(export) = export {
        json.extend(export);
    }
    json.extend(extra.clone());
    serde_json::Value::Object(json)
}

/// The `end` of a `--resume` that found the output already complete.
const ALREADY_COMPLETE: &str = "already complete";

/// The progress line: rows, pages, rate and retries so far.
pub fn progress_line(s: &Summary, rows: u64, elapsed: Duration) -> String {
    let rate = s.rows as f64 / elapsed.as_secs_f64().max(1e-3);
    format!(
        "{} rows · {} pages · {} rows/s · {} retries",
        thousands(rows),
        thousands(s.pages),
        thousands(rate as u64),
        s.total_retries()
    )
}

/// Why an export that ended well stopped, for the JSON summary line: `complete`, `row_limit`
/// (`--max-rows` reached) or `already_complete` (a `--resume` with nothing left to do).
fn stop_reason(r: &Report) -> &'static str {
    match &r.summary.end {
        _ if r.already_complete => "already_complete",
        Some(EndReason::LimitReached { .. }) => "row_limit",
        _ => "complete",
    }
}

/// The JSON summary line of an export that ended well: the `--summary-json` report with the
/// `stop_reason` and `exit_code` 0, written last of all the lines. Its level is `INFO` for an
/// export that is guaranteed, `WARN` for one that is not (a warning in the summary, a value
/// stored with U+FFFD): a collector that alerts on warnings sees it. Its message is the text
/// summary's first line, and says when the export is not guaranteed.
pub fn summary_event(
    r: &Report,
    format: Format,
    extra: &serde_json::Map<String, serde_json::Value>,
) {
    let mut fields = serde_json::Map::new();
    fields.insert("event".into(), "summary".into());
    fields.insert("stop_reason".into(), stop_reason(r).into());
    fields.insert("exit_code".into(), 0.into());
    if let serde_json::Value::Object(report) = summary_json_value(r, format, extra) {
        fields.extend(report);
    }
    let guaranteed = fields["guaranteed"] == true;
    let text = summary_text(r, format);
    let first = text.lines().next().unwrap_or_default();
    let mut message = first.trim_start_matches("xp-export: ").to_string();
    if !guaranteed {
        message += &not_guaranteed(r);
    }
    let level = if guaranteed { "INFO" } else { "WARN" };
    logging::json_line_last(level, "xp_export_cli::summary", &message, fields);
}

/// What keeps a complete export from its guarantee, for the summary line's message.
fn not_guaranteed(r: &Report) -> String {
    let warnings = r.summary.warnings();
    let mut why: Vec<String> = warnings;
    if r.values_replaced > 0 {
        why.push(format!(
            "{} value{} stored with U+FFFD in place of a lone UTF-16 surrogate",
            thousands(r.values_replaced),
            if r.values_replaced == 1 { "" } else { "s" }
        ));
    }
    format!("; not guaranteed: {}", why.join("; "))
}

/// The JSON summary line of a command that failed: the `stop_reason` its exit code means, the
/// message (also its `error`) and notes, and what the run had done.
pub fn failure_event(f: &Failure) {
    let (level, reason) = Exit::of_code(f.code).stop_reason();
    let mut fields = serde_json::Map::new();
    fields.insert("event".into(), "summary".into());
    fields.insert("stop_reason".into(), reason.into());
    fields.insert("exit_code".into(), f.code.into());
    fields.insert("complete".into(), false.into());
    fields.insert("error".into(), f.message.clone().into());
    fields.insert("notes".into(), f.notes.clone().into());
    fields.extend(f.details.clone());
    // Only a closed pipe has no message of its own.
    let message = match f.message.as_str() {
        "" => "stopped: the reader closed the output pipe and has what it read".to_string(),
        m => m.to_string(),
    };
    logging::json_line(level, "xp_export_cli::summary", &message, fields);
}

/// What a run had done so far, for the JSON progress lines and a failure's summary line.
pub fn progress_fields(
    s: &Summary,
    rows: u64,
    elapsed: Duration,
) -> serde_json::Map<String, serde_json::Value> {
    let secs = elapsed.as_secs_f64();
    let json = serde_json::json!({
        "rows": rows,
        "rows_this_run": s.rows,
        "pages": s.pages,
        "retries": s.total_retries(),
        "rows_per_second": (s.rows as f64 / secs.max(1e-3)).round(),
        "elapsed_seconds": secs,
    });
    match json {
        serde_json::Value::Object(map) => map,
        _ => serde_json::Map::new(),
    }
}

/// A JSON progress line: `event` `progress`, the progress line's text as its message, and what
/// the run has done so far.
pub fn progress_event(message: &str, done: serde_json::Map<String, serde_json::Value>) {
    let mut fields = serde_json::Map::new();
    fields.insert("event".into(), "progress".into());
    fields.extend(done);
    logging::json_line("INFO", "xp_export_cli::progress", message, fields);
}

/// The `--summary-json` report of an export that failed: how, how far it got (rows, pages,
/// retries, `elapsed_seconds`, `rows_per_second`), with `extra` (a shard's part).
pub fn failure_json_value(
    f: &Failure,
    extra: &serde_json::Map<String, serde_json::Value>,
) -> serde_json::Value {
    let mut json = serde_json::Map::new();
    json.insert("complete".into(), false.into());
    json.insert("exit_code".into(), f.code.into());
    json.insert("error".into(), f.message.clone().into());
    json.insert("notes".into(), f.notes.clone().into());
    json.extend(f.details.clone());
    json.extend(extra.clone());
    serde_json::Value::Object(json)
}

/// The report printed on stderr after an export: the export's own lines (where the rows went,
/// in what format, how fast), then the stream's [`Summary`] as it displays itself.
pub fn summary_text(r: &Report, format: Format) -> String {
    let where_to = match (&r.path, &r.object) {
        (Some(p), _) => p.display().to_string(),
        (None, Some(o)) => o.url.clone(),
        (None, None) => "standard output".to_string(),
    };
    if r.already_complete {
        if !r.rows_known {
            return format!("xp-export: nothing to resume: {where_to} is already complete\n");
        }
        let ended = match &r.earlier_end {
            Some(end) => format!(" (its export ended: {end})"),
            None => String::new(),
        };
        let mut out = format!(
            "xp-export: nothing to resume: {where_to} is already complete: {} rows{ended}\n",
            thousands(r.rows_in_output)
        );
        // What its export said of the file, from its record.
        out += &file_lines(r);
        for warning in r.summary.warnings() {
            out += &format!("  warning: {warning}\n");
        }
        out += &replaced_line(r);
        return out;
    }
    let s = &r.summary;
    let secs = r.elapsed.as_secs_f64();
    let mut out = format!(
        "xp-export: exported {} rows ({format}) to {where_to} in {secs:.2} s · {} rows/s\n",
        thousands(r.rows_in_output),
        thousands((s.rows as f64 / secs.max(1e-3)) as u64)
    );
    if let Some(at) = r.resumed_at {
        out += &format!(
            "  resumed at offset {at}: {} rows in this run\n",
            thousands(s.rows)
        );
    }
    if let (Some(new), Some(reread)) = (r.rows_new, r.rows_reread) {
        out += &format!(
            "  {} new rows, {} read again (at or below the last run's newest action_id)\n",
            thousands(new),
            thousands(reread)
        );
    }
    out += &file_lines(r);
    for line in s.to_string().lines() {
        out += &format!("  {line}\n");
    }
    out += &replaced_line(r);
    if !r.left_out_fields.is_empty() {
        out += &format!(
            "  fields not in the CSV columns: {} (add them with --select, or use ndjson)\n",
            r.left_out_fields.join(", ")
        );
    }
    out
}

/// What an object is (its size and ETag); what a Parquet file holds: its row groups, size and compression, and the values kept as
/// sent in its catch-all column.
fn file_lines(r: &Report) -> String {
    let mut out = String::new();
    if let Some(o) = &r.object {
        out += &format!(
            "  object: {} bytes, ETag {}\n",
            thousands(o.bytes),
            o.etag.as_deref().unwrap_or("(none given)")
        );
    }
    if let Some(p) = &r.parquet {
        out += &format!(
            "  Parquet: {} row group{}, {} bytes, {} compression\n",
            thousands(p.row_groups),
            if p.row_groups == 1 { "" } else { "s" },
            thousands(p.bytes),
            p.compression
        );
    }
    if let Some(p) = &r.parquet {
        let column = p.extra_column.as_deref().unwrap_or("extra");
        for k in &p.kept_in_extra {
            out += &format!(
                "  {} value{} of {:?} kept as sent in the {column:?} JSON column, the first at \
                 offset {}: {}\n",
                thousands(k.values),
                if k.values == 1 { "" } else { "s" },
                k.field,
                k.offset,
                k.reason
            );
        }
    }
    out
}

/// The warning that values were stored with U+FFFD, where some were.
fn replaced_line(r: &Report) -> String {
    let mut out = String::new();
    if r.values_replaced > 0 {
        let named: Vec<String> = r
            .replaced_values
            .iter()
            .map(|v| format!("{} at offset {}", v.field, v.offset))
            .collect();
        let more = r.values_replaced.saturating_sub(named.len() as u64);
        out += &format!(
            "  warning: {} string value{} held a lone UTF-16 surrogate, which no output can \
             hold: stored with U+FFFD in its place ({}{})\n",
            thousands(r.values_replaced),
            if r.values_replaced == 1 { "" } else { "s" },
            named.join(", "),
            if more > 0 {
                format!(" and {} more", thousands(more))
            } else {
                String::new()
            }
        );
    }
    out
}
