//! A row's JSON bytes, written by hand in the server's field order (the hot path: every
//! page's rows are written when the page is asked for), with serde_json only for strings
//! that need escaping; the error messages are escaped once.

use std::sync::OnceLock;

use super::{ERROR_MESSAGES, Row};
use crate::emulator::data::field::{Field, Value};

/// The JSON string literal of each of [`ERROR_MESSAGES`], escaped once.
fn message_json(m: u8) -> Option<&'static [u8]> {
    static JSON: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    let all = JSON.get_or_init(|| {
        ERROR_MESSAGES
            .iter()
            .map(|s| {
                let mut out = Vec::new();
                write_str(&mut out, s);
                out
            })
            .collect()
    });
    all.get(usize::from(m)).map(Vec::as_slice)
}

impl Row {
    /// Appends `{"action_id":…,…}` with all fields in server order.
    pub(crate) fn write_json(&self, out: &mut Vec<u8>) {
        out.reserve(320);
        out.extend_from_slice(b"{\"action_id\":");
        write_int(out, self.action_id as i64);
        out.extend_from_slice(b",\"campaign_id\":");
        write_int(out, self.campaign_id as i64);
        out.extend_from_slice(b",\"create_time\":");
        write_int(out, self.create_time);
        out.extend_from_slice(b",\"device_id\":");
        write_int(out, self.device_id as i64);
        out.extend_from_slice(b",\"profile_id\":");
        match &self.profile_id {
            Some(hex) => {
                out.push(b'"');
                out.extend_from_slice(hex);
                out.push(b'"');
            }
            None => out.extend_from_slice(b"null"),
        }
        out.extend_from_slice(b",\"error\":");
        write_int(out, i64::from(self.error));
        out.extend_from_slice(b",\"error_message\":");
        match self.message.and_then(message_json) {
            Some(json) => out.extend_from_slice(json),
            None => out.extend_from_slice(b"null"),
        }
        out.extend_from_slice(b",\"delivery\":");
        write_int(out, i64::from(self.delivery));
        out.extend_from_slice(b",\"open\":");
        write_int(out, i64::from(self.open));
        out.extend_from_slice(b",\"click\":");
        write_int(out, i64::from(self.click));
        out.extend_from_slice(b",\"platform\":");
        write_str(out, self.platform);
        out.push(b'}');
    }

    /// Appends a JSON object with just `fields`, in that order.
    pub(crate) fn write_fields(&self, out: &mut Vec<u8>, fields: &[Field]) {
        out.push(b'{');
        for (i, &field) in fields.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.push(b'"');
            out.extend_from_slice(field.name().as_bytes());
            out.extend_from_slice(b"\":");
            match self.value(field) {
                Value::Int(v) => write_int(out, v),
                Value::Str(s) => write_str(out, s),
                Value::Null => out.extend_from_slice(b"null"),
            }
        }
        out.push(b'}');
    }
}

/// Appends a decimal integer.
fn write_int(out: &mut Vec<u8>, v: i64) {
    let mut buf = [0u8; 20];
    let mut n = v.unsigned_abs();
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    if v < 0 {
        out.push(b'-');
    }
    out.extend_from_slice(&buf[i..]);
}

/// Appends a JSON string literal.
fn write_str(out: &mut Vec<u8>, s: &str) {
    let plain = s.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\');
    if plain {
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
    } else {
        // Writing into a Vec cannot fail; fall back to serde_json's escaping.
        if serde_json::to_writer(&mut *out, s).is_err() {
            out.extend_from_slice(b"null");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_int_handles_edges() {
        for v in [0, 7, -7, 10, 1_480_000_000, i64::MIN, i64::MAX] {
            let mut out = Vec::new();
            write_int(&mut out, v);
            assert_eq!(String::from_utf8(out).unwrap(), v.to_string());
        }
    }

    #[test]
    fn messages_are_escaped_like_serde() {
        for (m, text) in ERROR_MESSAGES.iter().enumerate() {
            let json = message_json(m as u8).unwrap();
            assert_eq!(json, serde_json::to_string(text).unwrap().as_bytes());
        }
        assert_eq!(message_json(ERROR_MESSAGES.len() as u8), None);
    }
}
