//! [`Row`]: one computed push action, without allocations (its strings are static or
//! inline), as queries filter, order and render it; the failure reasons it draws from; its
//! conversion to [`Record`]; and its JSON bytes (`json`).

mod json;

use crate::emulator::data::field::{Field, Value};
use crate::emulator::data::record::Record;

/// Failure reasons, drawn for `error = 1` rows. The first ones come from the API docs; the
/// rest are there to trip up CSV writers and naive parsers.
pub const ERROR_MESSAGES: &[&str] = &[
    "Not personalized",
    "DEVICE_UNREGISTERED",
    "Application is Uninstalled",
    "Payload rejected: \"title\" is too long, max 64",
    "Delivery failed\nAPNs said: BadDeviceToken",
    "Échec d'envoi à l'appareil — 送信に失敗しました 📵",
    "=HYPERLINK(\"http://example.invalid\",\"click\")",
    "-1 retries left",
    "@quota exceeded for sender",
    "InvalidRegistration",
    "MismatchSenderId",
    "Tab\there and a back\\slash",
];

/// One push action as the emulator computes it from its index (see
/// [`Synth`](crate::emulator::data::synth::Synth)); the same data as a [`Record`], cheap to
/// make and to copy.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Row {
    pub(crate) action_id: u64,
    pub(crate) campaign_id: u64,
    pub(crate) create_time: i64,
    pub(crate) device_id: u64,
    /// 24 lowercase hex digits.
    pub(crate) profile_id: Option<[u8; 24]>,
    pub(crate) error: u8,
    /// Index into [`ERROR_MESSAGES`]; `Some` exactly when `error` is 1.
    pub(crate) message: Option<u8>,
    pub(crate) delivery: u8,
    pub(crate) open: u8,
    pub(crate) click: u8,
    pub(crate) platform: &'static str,
}

impl Row {
    /// The profile id as text.
    pub(crate) fn profile_id(&self) -> Option<&str> {
        // Always ASCII hex digits; a failure would only read as null.
        self.profile_id
            .as_ref()
            .and_then(|p| std::str::from_utf8(p).ok())
    }

    /// The failure reason as text.
    pub(crate) fn error_message(&self) -> Option<&'static str> {
        self.message
            .and_then(|m| ERROR_MESSAGES.get(usize::from(m)).copied())
    }

    /// The value of one field, for filtering, ordering and rendering.
    pub(crate) fn value(&self, field: Field) -> Value<'_> {
        let opt = |s: Option<&'static str>| s.map_or(Value::Null, Value::Str);
        match field {
            Field::ActionId => Value::Int(self.action_id as i64),
            Field::CampaignId => Value::Int(self.campaign_id as i64),
            Field::CreateTime => Value::Int(self.create_time),
            Field::DeviceId => Value::Int(self.device_id as i64),
            Field::ProfileId => self.profile_id().map_or(Value::Null, Value::Str),
            Field::Error => Value::Int(i64::from(self.error)),
            Field::ErrorMessage => opt(self.error_message()),
            Field::Delivery => Value::Int(i64::from(self.delivery)),
            Field::Open => Value::Int(i64::from(self.open)),
            Field::Click => Value::Int(i64::from(self.click)),
            Field::Platform => Value::Str(self.platform),
        }
    }

    /// The row as the public [`Record`] (allocates its strings).
    pub(crate) fn to_record(self) -> Record {
        Record {
            action_id: self.action_id,
            campaign_id: self.campaign_id,
            create_time: self.create_time,
            device_id: self.device_id,
            profile_id: self.profile_id().map(str::to_owned),
            error: self.error,
            error_message: self.error_message().map(str::to_owned),
            delivery: self.delivery,
            open: self.open,
            click: self.click,
            platform: self.platform.to_owned(),
        }
    }
}
