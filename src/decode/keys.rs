//! The keys paging needs from a page: the first and last rows' `action_id`, and every row's,
//! read on demand from where each row sits in the body.

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::error::{Error, ErrorKind};
use crate::model::push_devices;

/// Where each row of a page sits in the response body, to read a row's key only when needed
/// (at a seam where rows shifted), without decoding every row for it.
#[derive(Debug, PartialEq)]
pub(crate) struct KeyIndex {
    body: bytes::Bytes,
    spans: Vec<(usize, usize)>,
}

impl KeyIndex {
    pub(super) fn new(body: &bytes::Bytes, rows: &[&RawValue]) -> Self {
        let base = body.as_ptr() as usize;
        let spans = rows
            .iter()
            .map(|r| {
                let start = r.get().as_ptr() as usize - base;
                (start, start + r.get().len())
            })
            .collect();
        KeyIndex {
            body: body.clone(),
            spans,
        }
    }

    /// Row `i`'s key, if it has an integer one.
    pub(crate) fn key(&self, i: usize) -> Option<u64> {
        let (start, end) = *self.spans.get(i)?;
        row_key(&self.body[start..end], i, 0).ok()
    }

    /// The keys of the first `rows` rows, in order, the first of them at `offset`; an error
    /// names the first row without an integer key.
    pub(crate) fn keys(&self, rows: usize, offset: u64) -> Result<Vec<u64>, Error> {
        self.spans
            .iter()
            .take(rows)
            .enumerate()
            .map(|(i, &(start, end))| row_key(&self.body[start..end], i, offset))
            .collect()
    }
}

/// The keyset key of one row, which must be an integer.
fn row_key(row: &[u8], index: usize, offset: u64) -> Result<u64, Error> {
    #[derive(Deserialize)]
    struct Key {
        action_id: Option<u64>,
    }
    match serde_json::from_slice::<Key>(row) {
        Ok(Key { action_id: Some(k) }) => Ok(k),
        _ => Err(Error::new(
            ErrorKind::Decode,
            format!(
                "row {index} (offset {}) has no integer `{}` to seek or check seams on",
                offset + index as u64,
                push_devices::KEY
            ),
        )),
    }
}

/// The keys of the first and last of `rows` (`None` for no rows).
pub(super) fn edge_keys(rows: &[&RawValue], offset: u64) -> Option<Result<(u64, u64), Error>> {
    let (first, last) = (rows.first()?, rows.last()?);
    Some((|| {
        Ok((
            row_key(first.get().as_bytes(), 0, offset)?,
            row_key(last.get().as_bytes(), rows.len() - 1, offset)?,
        ))
    })())
}
