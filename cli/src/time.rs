//! `--since`, `--until` and `--lookback` values into Unix seconds, parsed by `jiff`: RFC 3339
//! dates and date-times (UTC unless an offset is given), Unix seconds, and durations.

use jiff::civil::Time;
use jiff::fmt::temporal::Pieces;
use jiff::tz::Offset;
use jiff::{Span, SpanTotal, Timestamp, Unit};

use crate::failure::Failure;

/// What a TIME may be, for the messages.
const TIME_FORMS: &str = "an RFC 3339 date (2026-11-01, midnight UTC) or date-time \
    (2026-11-01T06:00:00Z; UTC unless an offset such as +02:00 is given), Unix seconds \
    (1793491200), or a duration ago (7d, 36h, 90m)";

/// What a DURATION may be, for the messages.
const DURATION_FORMS: &str = "a duration such as 7d, 36h, 90m or 1d12h";

/// A TIME as Unix seconds; a duration is that long before `now`.
pub fn parse_time(flag: &str, text: &str, now: Timestamp) -> Result<i64, Failure> {
    let bad = |why: &str| {
        Failure::usage(format!(
            "{flag} {text:?} is not a time{why}: give {TIME_FORMS}"
        ))
    };
    let t = text.trim();
    if t.is_empty() {
        return Err(bad(""));
    }
    if t.bytes().all(|b| b.is_ascii_digit()) {
        return t
            .parse::<i64>()
            .ok()
            .and_then(|secs| Timestamp::from_second(secs).ok())
            .map(|ts| ts.as_second())
            .ok_or_else(|| bad(" (out of range)"));
    }
    if let Ok(pieces) = Pieces::parse(t) {
        // A time zone name would need a time zone database: refuse it rather than guess.
        if pieces.time_zone_annotation().is_some() {
            return Err(bad(
                " (give an offset such as +02:00, not a time zone name)",
            ));
        }
        let time = pieces.time().unwrap_or(Time::midnight());
        let offset = pieces.to_numeric_offset().unwrap_or(Offset::UTC);
        return offset
            .to_timestamp(pieces.date().to_datetime(time))
            .map(|ts| ts.as_second())
            .map_err(|_| bad(" (out of range)"));
    }
    match seconds(t) {
        Some(ago) => now
            .as_second()
            .checked_sub(ago)
            .filter(|secs| Timestamp::from_second(*secs).is_ok())
            .ok_or_else(|| bad(" (too long ago)")),
        None => Err(bad("")),
    }
}

/// A DURATION ("14h", "7d") in seconds, not negative.
pub fn parse_duration(flag: &str, text: &str) -> Result<i64, Failure> {
    seconds(text.trim()).ok_or_else(|| {
        Failure::usage(format!(
            "{flag} {text:?} is not a duration: give {DURATION_FORMS}"
        ))
    })
}

/// A time as RFC 3339, in UTC.
pub fn rfc3339(ts: Timestamp) -> String {
    ts.to_string()
}

/// A duration's whole seconds (days of 24 hours, weeks of 7 days); `None` for anything else,
/// a negative duration ("7d ago") or one with months or years, whose length varies.
fn seconds(text: &str) -> Option<i64> {
    let span = text.parse::<Span>().ok()?;
    if span.is_negative() {
        return None;
    }
    let total = span
        .total(SpanTotal::from(Unit::Second).days_are_24_hours())
        .ok()?;
    (total.is_finite() && (0.0..1e15).contains(&total)).then_some(total as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2026-11-29T00:00:00Z.
    const NOW: i64 = 1_795_910_400;

    fn at(text: &str) -> Result<i64, String> {
        let now = Timestamp::from_second(NOW).unwrap();
        parse_time("--since", text, now).map_err(|f| f.message)
    }

    #[test]
    fn a_date_is_midnight_utc() {
        assert_eq!(at("2026-11-01"), Ok(1_793_491_200));
        assert_eq!(at("2026-11-02"), Ok(1_793_491_200 + 86_400));
        assert_eq!(at(" 2026-11-01 "), Ok(1_793_491_200));
    }

    #[test]
    fn a_date_time_without_offset_is_utc_and_an_offset_is_honoured() {
        assert_eq!(at("2026-11-01T06:00:00"), Ok(1_793_491_200 + 6 * 3600));
        assert_eq!(at("2026-11-01T06:00:00Z"), Ok(1_793_491_200 + 6 * 3600));
        assert_eq!(
            at("2026-11-01T06:00:00+02:00"),
            Ok(1_793_491_200 + 4 * 3600)
        );
        assert_eq!(
            at("2026-11-01T06:00:00-05:30"),
            Ok(1_793_491_200 + 11 * 3600 + 1800)
        );
        assert_eq!(at("2026-11-01 06:00:00Z"), Ok(1_793_491_200 + 6 * 3600));
    }

    #[test]
    fn unix_seconds_are_taken_as_they_are() {
        assert_eq!(at("1793491200"), Ok(1_793_491_200));
        assert_eq!(at("0"), Ok(0));
    }

    #[test]
    fn a_duration_is_that_long_before_now() {
        assert_eq!(at("7d"), Ok(NOW - 7 * 86_400));
        assert_eq!(at("36h"), Ok(NOW - 36 * 3600));
        assert_eq!(at("90m"), Ok(NOW - 90 * 60));
        assert_eq!(at("1d12h"), Ok(NOW - 36 * 3600));
        assert_eq!(parse_duration("--lookback", "14h").ok(), Some(14 * 3600));
        assert_eq!(parse_duration("--lookback", "2w").ok(), Some(14 * 86_400));
        assert_eq!(parse_duration("--lookback", "0h").ok(), Some(0));
    }

    #[test]
    fn garbage_is_a_usage_error_naming_the_flag_and_the_forms() {
        for bad in [
            "",
            "yesterday",
            "2026-13-01",
            "2026-11-31",
            "2026-11-01T25:00:00Z",
            "7x",
            "-5",
            "7d ago",
            "3 months",
            "1e9",
            "99999999999999999999",
            "2026-11-01T00:00:00[Europe/Paris]",
            "2026-11-01T00:00:00+99:00",
            "2026-11-01T00:00:00Zjunk",
            "\u{0}",
        ] {
            let message = at(bad).expect_err(bad);
            assert!(message.starts_with("--since"), "{bad}: {message}");
            assert!(message.contains("RFC 3339"), "{bad}: {message}");
            assert!(message.contains("7d, 36h"), "{bad}: {message}");
        }
        for bad in ["", "soon", "-3h", "1 month", "2026-11-01", "12"] {
            let f = parse_duration("--lookback", bad).expect_err(bad);
            assert_eq!(f.code, 2);
            assert!(f.message.starts_with("--lookback"), "{}", f.message);
        }
    }
}
