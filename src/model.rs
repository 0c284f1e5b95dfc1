//! The rows: [`PushAction`], the record of `list/push-devices`, with the model's facts
//! ([`push_devices`]), and [`RawRow`], a row exactly as the server sent it.
//!
//! How a response body becomes rows is [`crate::decode`]; `de` reads a [`PushAction`] in one pass.

mod de;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

/// The facts of `list/push-devices`, the model [`PushAction`] is the row of: its name, its
/// unique key, the fields the API documents and the order pages are asked in.
pub mod push_devices {
    /// The model's name, as in `list/push-devices`.
    pub const NAME: &str = "push-devices";

    /// The unique, growing key: what keyset mode seeks on and seams are checked with.
    pub const KEY: &str = "action_id";

    /// The fields of a push action, in the order of [`super::PushAction`]: the CSV columns when
    /// there is no `select`.
    pub const FIELDS: [&str; 10] = [
        "action_id",
        "campaign_id",
        "create_time",
        "device_id",
        "profile_id",
        "error",
        "error_message",
        "delivery",
        "open",
        "click",
    ];

    /// The order sent when a query sets none: the API's own default as observed (newest
    /// first), made explicit so that pages are stable and their seams can be checked.
    pub const DEFAULT_ORDER: &str = "action_id DESC";
}

/// One push action: one message sent (or not) to one device or profile by a campaign.
///
/// Every field is optional because `select` may leave any of them out. Fields the API sends that
/// this type does not name are kept in [`PushAction::extra`], never dropped.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[non_exhaustive]
pub struct PushAction {
    /// The push action's id, unique and growing over time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action_id: Option<u64>,
    /// The campaign that sent it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub campaign_id: Option<u64>,
    /// When it was created, in Unix seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub create_time: Option<i64>,
    /// The device it was sent to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_id: Option<u64>,
    /// The profile it was sent to (profile-based campaigns). Numbers are kept as their text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile_id: Option<String>,
    /// 1 when sending failed, 0 when it did not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<u8>,
    /// Why sending failed, e.g. `"DEVICE_UNREGISTERED"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
    /// Delivery flag (or time, where the API reports one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery: Option<i64>,
    /// Open flag (or time).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub open: Option<i64>,
    /// Click flag (or time).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub click: Option<i64>,
    /// Every other field the API sent, as it sent it.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// One row exactly as the server sent it: a shared slice of the response body, not a copy.
///
/// What the export writes for NDJSON and JSON, byte for byte. [`RawRow::parse`] decodes it
/// when needed. [`RawRow::into_bytes`] (or `Bytes::from`) hands the slice on without copying,
/// e.g. as a chunk of an axum or hyper response body; [`AsRef<[u8]>`](AsRef) lends it to
/// anything that takes bytes.
///
/// Every row of a page shares that page's body: while any one of them is kept (or the
/// [`Bytes`](bytes::Bytes) taken from it), the whole body stays in memory. Copy a row that
/// outlives its page (`Bytes::copy_from_slice(row.as_bytes())`) to let the page go.
#[derive(Clone, PartialEq, Eq)]
pub struct RawRow(bytes::Bytes);

impl RawRow {
    #[cfg(test)]
    pub(crate) fn new(json: &str) -> Self {
        RawRow(bytes::Bytes::copy_from_slice(json.as_bytes()))
    }

    /// A row that is this slice of a response body.
    pub(crate) fn from_body(row: bytes::Bytes) -> Self {
        RawRow(row)
    }

    /// The row's JSON bytes, as received.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The row's JSON bytes as a [`Bytes`](bytes::Bytes): the same slice of the response body,
    /// not a copy.
    ///
    /// ```
    /// # use bytes::Bytes;
    /// # let body = Bytes::from_static(br#"{"success":true,"data":[{"action_id":7}]}"#);
    /// # let row = xp_export::decode::decode_page_raw(200, &body).unwrap().remove(0);
    /// // `row` came in a response whose body is `body`:
    /// let bytes: Bytes = row.into_bytes();
    /// assert_eq!(bytes, &br#"{"action_id":7}"#[..]);
    /// assert!(body.as_ptr_range().contains(&bytes.as_ptr())); // inside the body: no copy
    /// ```
    pub fn into_bytes(self) -> bytes::Bytes {
        self.0
    }

    /// Decodes the row.
    pub fn parse<T: DeserializeOwned>(&self) -> serde_json::Result<T> {
        serde_json::from_slice(&self.0)
    }
}

impl AsRef<[u8]> for RawRow {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl From<RawRow> for bytes::Bytes {
    /// The row's bytes, without copying them ([`RawRow::into_bytes`]).
    fn from(row: RawRow) -> Self {
        row.0
    }
}

impl std::fmt::Debug for RawRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RawRow({})", String::from_utf8_lossy(&self.0))
    }
}
