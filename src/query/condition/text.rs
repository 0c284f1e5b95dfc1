//! The value side of a condition written as text: quoted strings, lists that honour quotes,
//! and numbers, which are sent as numbers only when the number sent is exactly the one typed.

use serde_json::Value as Json;

/// One value: a quoted text is that text (without the quotes), a number is a number when it
/// can be sent exactly, anything else is the text as typed.
pub(super) fn scalar(text: &str) -> Result<Json, String> {
    if let Some(q) = opening_quote(text) {
        return match text[1..].strip_suffix(q) {
            Some(inner) => Ok(Json::String(inner.to_string())),
            None => Err(format!("{text} has no closing {q}")),
        };
    }
    match number(text) {
        Some(n) => n,
        None => Ok(Json::String(text.to_string())),
    }
}

/// A comma-separated list, for `in` and `not in`. A comma inside quotes is part of its item:
/// `"a, b", c` is two items. An unquoted empty item is refused; `""` is the empty text.
pub(super) fn list(text: &str) -> Result<Vec<Json>, String> {
    let mut items = Vec::new();
    let mut rest = text;
    loop {
        let t = rest.trim_start();
        let after = match opening_quote(t) {
            Some(q) => {
                let Some(close) = t[1..].find(q) else {
                    return Err(format!("{t} has no closing {q}"));
                };
                items.push(Json::String(t[1..1 + close].to_string()));
                let after = t[close + 2..].trim_start();
                if !(after.is_empty() || after.starts_with(',')) {
                    return Err(format!(
                        "{after:?} follows the closing {q} of an item: separate items with commas"
                    ));
                }
                after
            }
            None => {
                let end = t.find(',').unwrap_or(t.len());
                let item = t[..end].trim();
                if item.is_empty() {
                    return Err("the list has an empty item".to_string());
                }
                items.push(scalar(item)?);
                &t[end..]
            }
        };
        match after.strip_prefix(',') {
            Some(next) => rest = next,
            None => return Ok(items),
        }
    }
}

fn opening_quote(text: &str) -> Option<char> {
    text.chars().next().filter(|c| *c == '"' || *c == '\'')
}

/// `None` when `text` is not written as a number; else the number, or why it cannot be sent
/// as typed: an integer past 64 bits, or more digits than a 64-bit float keeps.
fn number(text: &str) -> Option<Result<Json, String>> {
    let shape = Decimal::parse(text)?;
    if shape.integer {
        let n = text
            .parse::<i64>()
            .map(Json::from)
            .or_else(|_| text.parse::<u64>().map(Json::from));
        return Some(n.map_err(|_| {
            format!(
                "{text} is an integer past 64 bits, which no field of the API holds and which \
                 would be sent rounded: quote it to compare it as text"
            )
        }));
    }
    let Some(sent) = text
        .parse::<f64>()
        .ok()
        .and_then(serde_json::Number::from_f64)
    else {
        return Some(Err(format!(
            "{text} is too large for a number: quote it to compare it as text"
        )));
    };
    if Decimal::parse(&sent.to_string()) != Some(shape) {
        return Some(Err(format!(
            "{text} has more digits than a 64-bit floating-point number keeps (it would be sent \
             as {sent}): write it with fewer digits, or quote it to compare it as text"
        )));
    }
    Some(Ok(Json::Number(sent)))
}

/// A number written in decimal, reduced to its value: sign, significant digits and the power
/// of ten they are scaled by. `integer` says it was written without a point or exponent.
#[derive(Debug)]
struct Decimal {
    negative: bool,
    digits: String,
    exponent: i64,
    integer: bool,
}

impl PartialEq for Decimal {
    /// The same value, however written (`integer` aside).
    fn eq(&self, other: &Self) -> bool {
        (self.negative, &self.digits, self.exponent)
            == (other.negative, &other.digits, other.exponent)
    }
}

impl Decimal {
    /// Reads `[+-]digits[.digits][e[+-]digits]` (with at least one digit before the exponent);
    /// `None` for anything else, which is then text.
    fn parse(text: &str) -> Option<Decimal> {
        let (negative, unsigned) = match text.as_bytes().first()? {
            b'-' => (true, &text[1..]),
            b'+' => (false, &text[1..]),
            _ => (false, text),
        };
        let (mantissa, exp) = match unsigned.find(['e', 'E']) {
            Some(i) => (&unsigned[..i], Some(&unsigned[i + 1..])),
            None => (unsigned, None),
        };
        let (whole, fraction) = match mantissa.split_once('.') {
            Some((w, f)) => (w, Some(f)),
            None => (mantissa, None),
        };
        let frac = fraction.unwrap_or("");
        let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if whole.len() + frac.len() == 0 || !all_digits(whole) || !all_digits(frac) {
            return None;
        }
        let exponent = match exp {
            None => 0,
            Some(e) => {
                let digits = e.strip_prefix(['+', '-']).unwrap_or(e);
                if digits.is_empty() || !all_digits(digits) {
                    return None;
                }
                // Past i64, an exponent is as good as infinite: keep it far out of range.
                e.parse::<i64>().unwrap_or(if e.starts_with('-') {
                    i64::MIN / 2
                } else {
                    i64::MAX / 2
                })
            }
        };
        let mut digits = format!("{whole}{frac}");
        let mut exponent = exponent.checked_sub(i64::try_from(frac.len()).ok()?)?;
        let trailing = digits.len() - digits.trim_end_matches('0').len();
        digits.truncate(digits.len() - trailing);
        exponent = exponent.checked_add(i64::try_from(trailing).ok()?)?;
        let digits = digits.trim_start_matches('0').to_string();
        let zero = digits.is_empty();
        Some(Decimal {
            negative: negative && !zero,
            exponent: if zero { 0 } else { exponent },
            digits,
            integer: fraction.is_none() && exp.is_none(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn numbers_are_sent_only_when_exact() {
        let sent = [
            ("1", json!(1)),
            ("-7", json!(-7)),
            ("+5", json!(5)),
            ("9223372036854775807", json!(i64::MAX)),
            ("18446744073709551615", json!(u64::MAX)),
            ("1.5", json!(1.5)),
            ("0.1", json!(0.1)),
            ("1e5", json!(1e5)),
            ("2.50", json!(2.5)),
            (".5", json!(0.5)),
            ("1e20", json!(1e20)),
        ];
        for (text, expected) in sent {
            assert_eq!(scalar(text), Ok(expected), "{text}");
        }
        let refused = [
            ("18446744073709551616", "past 64 bits"),
            ("123456789012345678901234567", "past 64 bits"),
            ("-9223372036854775809", "past 64 bits"),
            ("0.30000000000000000001", "more digits"),
            ("1e-99999999999999999999", "more digits"),
            ("1e400", "too large"),
        ];
        for (text, message) in refused {
            let e = scalar(text).unwrap_err();
            assert!(e.contains(message), "{text}: {e}");
            assert!(e.contains("quote it"), "{text}: {e}");
        }
        for text in [
            "1-2", "e5", ".", "-", "0x10", "1_000", "inf", "NaN", "1e", "1e+",
        ] {
            assert_eq!(scalar(text), Ok(json!(text)), "{text}");
        }
        assert_eq!(
            scalar("\"123456789012345678901234567\""),
            Ok(json!("123456789012345678901234567"))
        );
    }

    #[test]
    fn lists_honour_quotes() {
        let cases = [
            ("\"a, b\", c", json!(["a, b", "c"])),
            ("'x,y' , \"z\"", json!(["x,y", "z"])),
            ("1, \"2\"", json!([1, "2"])),
            ("O'Brien, b", json!(["O'Brien", "b"])),
            ("\"\"", json!([""])),
            ("'say \"hi\"', b", json!(["say \"hi\"", "b"])),
        ];
        for (text, expected) in cases {
            assert_eq!(list(text).map(Json::from), Ok(expected), "{text}");
        }
        let refused = [
            ("a,,b", "empty item"),
            ("a,", "empty item"),
            ("\"a, b", "no closing"),
            ("\"a\" b, c", "separate items with commas"),
            ("1, 99999999999999999999", "past 64 bits"),
        ];
        for (text, message) in refused {
            let e = list(text).unwrap_err();
            assert!(e.contains(message), "{text}: {e}");
        }
    }
}
