//! Fuzzes the page decoders with arbitrary response bodies and statuses: each must return rows
//! or an error, never panic, and the raw and typed decoders must agree on how many rows a page
//! holds when both succeed.
#![no_main]

use libfuzzer_sys::fuzz_target;
use xp_export::PushAction;
use xp_export::decode::{decode_page, decode_page_raw};

fuzz_target!(|input: &[u8]| {
    let (status, body) = match input.split_first() {
        // The first byte picks a status among the ones the API uses.
        Some((s, rest)) => ([200u16, 400, 401, 429, 500, 502, 503][*s as usize % 7], rest),
        None => (200, input),
    };
    let typed = decode_page::<serde_json::Value>(status, body, 0);
    let raw = decode_page_raw(status, &bytes::Bytes::copy_from_slice(body));
    let _ = decode_page::<PushAction>(status, body, 0);
    if let (Ok(typed), Ok(raw)) = (&typed, &raw) {
        assert_eq!(typed.len(), raw.len());
        for (t, r) in typed.iter().zip(raw) {
            assert_eq!(&r.parse::<serde_json::Value>().unwrap(), t);
        }
    }
});
