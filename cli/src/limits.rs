//! The ranges of the numeric flags. A value outside its range is a usage error (exit 2) that
//! names the flag and the range, before anything is sent: the bounds keep every duration,
//! count and offset inside what the library computes with, and are far past what a real
//! export needs.

/// `--page-size`: rows per request.
pub const MAX_PAGE_SIZE: u64 = 1_000_000;
/// `--offset`: what the API's signed 64-bit integers hold.
pub const MAX_OFFSET: u64 = i64::MAX as u64;
/// `--max-retries`: per page (the retry budget caps the whole export).
pub const MAX_RETRIES: u32 = 1_000;
/// `--retry-base-ms`, `--retry-max-ms`: one hour.
pub const MAX_RETRY_MS: u64 = 3_600_000;
/// `--max-page-bytes`: below 1 KiB not even one row fits; above 4 GiB is not one page.
pub const MIN_PAGE_BYTES: u64 = 1 << 10;
/// See [`MIN_PAGE_BYTES`].
pub const MAX_PAGE_BYTES: u64 = 4 << 30;
/// `--reorder-window`: from 0 (pages barely run ahead of the one to deliver next) to 64 GiB,
/// far past the memory of a machine that exports.
pub const MAX_REORDER_WINDOW: u64 = 64 << 30;
/// `emulate --records`: the emulator computes rows on demand, up to its own bound.
pub const MAX_RECORDS: u64 = xp_export::emulator::MAX_RECORDS as u64;
/// `demo --records`: the demo checks its file against every record, held in memory.
pub const MAX_DEMO_RECORDS: u64 = 10_000_000;
/// `emulate --latency-ms`: ten minutes.
pub const MAX_LATENCY_MS: u64 = 600_000;

/// `--timeout`: more than 0 and at most a day, in seconds.
pub fn timeout_secs(text: &str) -> Result<f64, String> {
    float(
        text,
        Bound::Above(0.0),
        86_400.0,
        "more than 0 and at most 86400 (a day)",
    )
}

/// `--progress-interval`: from 0 (every page) to a day, in seconds.
pub fn interval_secs(text: &str) -> Result<f64, String> {
    float(
        text,
        Bound::AtLeast(0.0),
        86_400.0,
        "from 0 to 86400 (a day)",
    )
}

/// `--checkpoint-every`: from 0 (every page) to an hour, in seconds.
pub fn checkpoint_secs(text: &str) -> Result<f64, String> {
    float(
        text,
        Bound::AtLeast(0.0),
        3_600.0,
        "from 0 to 3600 (an hour)",
    )
}

/// `--max-rps`: from one request per 1000 seconds to a million per second.
pub fn rps(text: &str) -> Result<f64, String> {
    float(text, Bound::AtLeast(0.001), 1e6, "from 0.001 to 1000000")
}

/// `emulate --fault-rate`: a share, from 0 to 1.
pub fn share(text: &str) -> Result<f64, String> {
    float(text, Bound::AtLeast(0.0), 1.0, "from 0 to 1")
}

/// `--max-rows`, `emulate --max-limit`: a whole number, at least 1.
pub fn at_least_one(text: &str) -> Result<u64, String> {
    match text.trim().parse::<u64>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(format!(
            "must be a whole number, at least 1 (at most {})",
            u64::MAX
        )),
    }
}

enum Bound {
    Above(f64),
    AtLeast(f64),
}

/// A finite number in the range; `range` says it in words for the error.
fn float(text: &str, low: Bound, high: f64, range: &str) -> Result<f64, String> {
    let x: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("{text} is not a number; it must be {range}"))?;
    let above_low = match low {
        Bound::Above(l) => x > l,
        Bound::AtLeast(l) => x >= l,
    };
    // NaN fails both comparisons.
    if above_low && x <= high {
        Ok(x)
    } else {
        Err(format!("must be {range}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_outside_their_range_are_refused() {
        for bad in [
            "0", "-1", "1e20", "86400.5", "nan", "NaN", "inf", "-inf", "x", "",
        ] {
            assert!(timeout_secs(bad).is_err(), "{bad}");
        }
        assert_eq!(timeout_secs("0.5"), Ok(0.5));
        assert_eq!(timeout_secs("86400"), Ok(86_400.0));
        for bad in ["1e-300", "0", "1e7", "nan"] {
            assert!(rps(bad).is_err(), "{bad}");
        }
        assert_eq!(rps("0.001"), Ok(0.001));
        for bad in ["2", "-0.1", "nan", "1.0000001"] {
            assert!(share(bad).is_err(), "{bad}");
        }
        assert_eq!(share("0"), Ok(0.0));
        assert_eq!(share("1"), Ok(1.0));
    }
}
