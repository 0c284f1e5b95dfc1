//! The emulator's own row type, [`Record`], and how its fields read as [`Value`]s.

use crate::emulator::data::field::{Field, Value};

/// One push action as the emulator stores and serves it.
///
/// This is the emulator's own row type; it is deliberately not shared with any client model.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// Unique id of the push action; strictly ascending through the data set.
    pub action_id: u64,
    /// Campaign the action belongs to.
    pub campaign_id: u64,
    /// Creation time, Unix seconds; ascending (not strictly) with `action_id`.
    pub create_time: i64,
    /// Device the message was sent to.
    pub device_id: u64,
    /// Profile of the recipient, if the device has one.
    pub profile_id: Option<String>,
    /// 1 when sending failed, else 0.
    pub error: u8,
    /// Reason of the failure; `None` exactly when `error` is 0.
    pub error_message: Option<String>,
    /// 1 when the message was delivered.
    pub delivery: u8,
    /// 1 when the message was opened (implies `delivery`).
    pub open: u8,
    /// 1 when the message was clicked (implies `open`).
    pub click: u8,
    /// "android", "ios" or "web": a field that no client model knows.
    pub platform: String,
}

impl Record {
    /// The record as a JSON object with all fields, inserted in the server's field order
    /// (whether a `serde_json::Map` keeps that order depends on serde_json's
    /// `preserve_order` feature; the bytes the server sends always keep it).
    pub fn to_json(&self) -> serde_json::Value {
        let mut map = serde_json::Map::new();
        for field in Field::ALL {
            let value = match self.value(field) {
                Value::Int(i) => serde_json::Value::from(i),
                Value::Str(s) => serde_json::Value::from(s),
                Value::Null => serde_json::Value::Null,
            };
            map.insert(field.name().to_owned(), value);
        }
        serde_json::Value::Object(map)
    }

    /// The value of one field, for filtering, ordering and rendering.
    fn value(&self, field: Field) -> Value<'_> {
        match field {
            Field::ActionId => Value::Int(self.action_id as i64),
            Field::CampaignId => Value::Int(self.campaign_id as i64),
            Field::CreateTime => Value::Int(self.create_time),
            Field::DeviceId => Value::Int(self.device_id as i64),
            Field::ProfileId => opt_str(&self.profile_id),
            Field::Error => Value::Int(i64::from(self.error)),
            Field::ErrorMessage => opt_str(&self.error_message),
            Field::Delivery => Value::Int(i64::from(self.delivery)),
            Field::Open => Value::Int(i64::from(self.open)),
            Field::Click => Value::Int(i64::from(self.click)),
            Field::Platform => Value::Str(&self.platform),
        }
    }
}

fn opt_str(s: &Option<String>) -> Value<'_> {
    match s {
        Some(s) => Value::Str(s),
        None => Value::Null,
    }
}
