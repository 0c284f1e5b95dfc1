//! The fields of a push action, their wire names and types, and the value a field holds.

use std::fmt;

/// A field value as seen by conditions and ordering.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Value<'a> {
    Int(i64),
    Str(&'a str),
    Null,
}

/// The fields of a push action, in the server's order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Field {
    ActionId,
    CampaignId,
    CreateTime,
    DeviceId,
    ProfileId,
    Error,
    ErrorMessage,
    Delivery,
    Open,
    Click,
    Platform,
}

impl Field {
    /// All fields in the server's field order.
    pub(crate) const ALL: [Field; 11] = [
        Field::ActionId,
        Field::CampaignId,
        Field::CreateTime,
        Field::DeviceId,
        Field::ProfileId,
        Field::Error,
        Field::ErrorMessage,
        Field::Delivery,
        Field::Open,
        Field::Click,
        Field::Platform,
    ];

    /// The wire name.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Field::ActionId => "action_id",
            Field::CampaignId => "campaign_id",
            Field::CreateTime => "create_time",
            Field::DeviceId => "device_id",
            Field::ProfileId => "profile_id",
            Field::Error => "error",
            Field::ErrorMessage => "error_message",
            Field::Delivery => "delivery",
            Field::Open => "open",
            Field::Click => "click",
            Field::Platform => "platform",
        }
    }

    /// Looks a field up by its wire name (case-sensitive).
    pub(crate) fn from_name(name: &str) -> Option<Field> {
        Field::ALL.into_iter().find(|f| f.name() == name)
    }

    /// Whether the field holds integers (else strings, possibly null).
    pub(crate) fn is_numeric(self) -> bool {
        !matches!(
            self,
            Field::ProfileId | Field::ErrorMessage | Field::Platform
        )
    }

    /// Whether the field never decreases with the row index (the data set is in ascending
    /// `action_id` order and `create_time` grows with it), so ranges can be found by
    /// binary search.
    pub(crate) fn is_monotonic(self) -> bool {
        matches!(self, Field::ActionId | Field::CreateTime)
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
