//! `RawRow` hands its bytes on without copying them: each row's `Bytes` is a slice of the page's
//! body, so streaming rows into an HTTP body (axum, hyper) costs no copy.

use bytes::Bytes;
use xp_export::RawRow;
use xp_export::decode::decode_page_raw;

const BODY: &[u8] = br#"{"code":200,"success":true,"data":[{"action_id":9,"error_message":"a, \"b\""},{"action_id":8}]}"#;

/// A page body in an allocation of its own, as the client reads one.
fn body() -> Bytes {
    Bytes::from(BODY.to_vec())
}

fn inside(body: &Bytes, row: &Bytes) -> bool {
    let range = body.as_ptr_range();
    let start = row.as_ptr();
    let end = start.wrapping_add(row.len());
    range.contains(&start) && end <= range.end
}

#[test]
fn into_bytes_is_a_slice_of_the_page_not_a_copy() {
    let body = body();
    let rows = decode_page_raw(200, &body).unwrap();
    assert_eq!(rows.len(), 2);
    let second = rows[1].clone().into_bytes();
    let first = rows[0].clone().into_bytes();
    assert_eq!(first, &br#"{"action_id":9,"error_message":"a, \"b\""}"#[..]);
    assert_eq!(second, &br#"{"action_id":8}"#[..]);
    assert!(
        inside(&body, &first),
        "the first row was copied out of the body"
    );
    assert!(
        inside(&body, &second),
        "the second row was copied out of the body"
    );
    assert!(first.as_ptr() < second.as_ptr());
}

#[test]
fn from_and_as_ref_share_the_same_bytes() {
    let body = body();
    let rows = decode_page_raw(200, &body).unwrap();
    let row: &RawRow = &rows[0];
    let lent: &[u8] = row.as_ref();
    assert_eq!(lent, row.as_bytes());
    assert_eq!(lent.as_ptr(), row.as_bytes().as_ptr());
    let taken = Bytes::from(row.clone());
    assert_eq!(taken.as_ptr(), lent.as_ptr());
    assert!(inside(&body, &taken));
}

#[test]
fn a_row_keeps_its_page_body_alive() {
    let row = decode_page_raw(200, &body()).unwrap().remove(1);
    // The body and the other rows are gone; the row still reads its bytes from the body.
    assert_eq!(row.into_bytes(), &br#"{"action_id":8}"#[..]);
}
