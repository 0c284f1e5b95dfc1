//! What the user reads about an export: the progress line, the summary on stderr and the
//! `--summary-json` report.

use std::time::Duration;

use xp_export::export::{Format, Report};
use xp_export::{EndReason, Summary};

use crate::failure::Failure;

/// The completeness report as JSON, for `--summary-json`.
pub fn summary_json_value(r: &Report, format: Format) -> serde_json::Value {
    let s = &r.summary;
    let retries: serde_json::Map<String, serde_json::Value> = s
        .retries
        .iter()
        .map(|(k, n)| (k.to_string(), (*n).into()))
        .collect();
    let finished = r.already_complete
        || matches!(
            s.end,
            Some(
                EndReason::EmptyPage { .. }
                    | EndReason::ShortPage { .. }
                    | EndReason::LimitReached { .. }
            )
        );
    let warnings = s.warnings();
    serde_json::json!({
        "complete": finished,
        "guaranteed": finished && warnings.is_empty(),
        "output": r.path.as_ref().map(|p| p.display().to_string()),
        "format": format.to_string(),
        "mode": s.mode.to_string(),
        "rows": r.rows,
        "rows_this_run": s.rows,
        "resumed_at": r.resumed_at,
        "pages": s.pages,
        "requests": s.requests,
        "retries": retries,
        "retries_total": s.total_retries(),
        "retry_wait_seconds": s.retry_wait.as_secs_f64(),
        "learned_cap": s.learned_cap,
        "shifts_detected": s.shifts_detected,
        "shifts_repaired": s.shifts_repaired,
        "end": s.end.as_ref().map(|e| e.to_string()),
        "next_offset": s.next_offset,
        "next_key": s.next_key,
        "elapsed_seconds": r.elapsed.as_secs_f64(),
        "warnings": warnings,
        "fields_not_in_csv": r.left_out_fields,
    })
}

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

/// The `--summary-json` report of an export that failed.
pub fn failure_json_value(f: &Failure) -> serde_json::Value {
    serde_json::json!({
        "complete": false,
        "exit_code": f.code,
        "error": f.message,
        "notes": f.notes,
    })
}

/// The summary printed on stderr after an export.
pub fn summary_text(r: &Report, format: Format) -> String {
    let where_to = match &r.path {
        Some(p) => p.display().to_string(),
        None => "standard output".to_string(),
    };
    if r.already_complete {
        return format!("xp-export: nothing to resume: {where_to} is already complete\n");
    }
    let s = &r.summary;
    let secs = r.elapsed.as_secs_f64();
    let mut out = format!(
        "xp-export: exported {} rows ({format}) to {where_to}\n",
        thousands(r.rows)
    );
    if let Some(at) = r.resumed_at {
        out += &format!(
            "  resumed at offset {at}: {} rows in this run\n",
            thousands(s.rows)
        );
    }
    out += &format!(
        "  pages {} · requests {} · {:.2} s · {} rows/s\n",
        thousands(s.pages),
        thousands(s.requests),
        secs,
        thousands((s.rows as f64 / secs.max(1e-3)) as u64)
    );
    if s.total_retries() > 0 {
        let causes: Vec<String> = s.retries.iter().map(|(k, n)| format!("{k} {n}")).collect();
        out += &format!(
            "  retries: {} ({}), {:.2} s waited\n",
            s.total_retries(),
            causes.join(", "),
            s.retry_wait.as_secs_f64()
        );
    } else {
        out += "  retries: 0\n";
    }
    if let Some(end) = &s.end {
        out += &format!("  stopped on: {end}\n");
    }
    if let Some(cap) = s.learned_cap {
        out += &format!("  the server caps the page size at {cap} rows (learned cap)\n");
    }
    out += &format!(
        "  mode: {}; rows shifted between pages: {} seam(s), {} repaired\n",
        s.mode, s.shifts_detected, s.shifts_repaired
    );
    for w in s.warnings() {
        out += &format!("  warning: {w}\n");
    }
    if !r.left_out_fields.is_empty() {
        out += &format!(
            "  fields not in the CSV columns: {} (add them with --select, or use ndjson)\n",
            r.left_out_fields.join(", ")
        );
    }
    out
}

/// `1234567` as `1,234,567`.
pub fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::thousands;

    #[test]
    fn thousands_groups_by_three() {
        for (n, text) in [
            (0, "0"),
            (999, "999"),
            (1_000, "1,000"),
            (123_456, "123,456"),
            (1_234_567, "1,234,567"),
        ] {
            assert_eq!(thousands(n), text);
        }
    }
}
