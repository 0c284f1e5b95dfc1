//! [`PushAction`] read in one pass: each known field straight into its type, each other field
//! into [`PushAction::extra`] as it comes. Nothing is buffered first (as `#[serde(flatten)]`
//! would, holding every field of every row in an intermediate tree), and known field names are
//! matched without allocating.

use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::{Map, Value};

use super::PushAction;

/// A field name: one of [`PushAction`]'s, or another (kept for `extra`).
enum Field {
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
    Other(String),
}

impl Field {
    fn of(name: &str) -> Field {
        match name {
            "action_id" => Field::ActionId,
            "campaign_id" => Field::CampaignId,
            "create_time" => Field::CreateTime,
            "device_id" => Field::DeviceId,
            "profile_id" => Field::ProfileId,
            "error" => Field::Error,
            "error_message" => Field::ErrorMessage,
            "delivery" => Field::Delivery,
            "open" => Field::Open,
            "click" => Field::Click,
            other => Field::Other(other.to_string()),
        }
    }
}

impl<'de> Deserialize<'de> for Field {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Name;
        impl Visitor<'_> for Name {
            type Value = Field;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a field name")
            }
            fn visit_str<E: de::Error>(self, name: &str) -> Result<Field, E> {
                Ok(Field::of(name))
            }
            fn visit_string<E: de::Error>(self, name: String) -> Result<Field, E> {
                Ok(match Field::of(&name) {
                    Field::Other(_) => Field::Other(name),
                    known => known,
                })
            }
        }
        d.deserialize_identifier(Name)
    }
}

/// `profile_id`: text, or a number kept as its text; null is none.
struct ProfileId(Option<String>);

impl<'de> Deserialize<'de> for ProfileId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Id;
        impl<'de> Visitor<'de> for Id {
            type Value = ProfileId;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string or a number")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<ProfileId, E> {
                Ok(ProfileId(Some(s.to_string())))
            }
            fn visit_string<E: de::Error>(self, s: String) -> Result<ProfileId, E> {
                Ok(ProfileId(Some(s)))
            }
            fn visit_u64<E: de::Error>(self, n: u64) -> Result<ProfileId, E> {
                Ok(ProfileId(Some(n.to_string())))
            }
            fn visit_i64<E: de::Error>(self, n: i64) -> Result<ProfileId, E> {
                Ok(ProfileId(Some(n.to_string())))
            }
            fn visit_f64<E: de::Error>(self, n: f64) -> Result<ProfileId, E> {
                Ok(ProfileId(Some(
                    serde_json::Number::from_f64(n)
                        .map_or_else(|| n.to_string(), |n| n.to_string()),
                )))
            }
            fn visit_unit<E: de::Error>(self) -> Result<ProfileId, E> {
                Ok(ProfileId(None))
            }
            fn visit_none<E: de::Error>(self) -> Result<ProfileId, E> {
                Ok(ProfileId(None))
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<ProfileId, D::Error> {
                d.deserialize_any(Id)
            }
        }
        d.deserialize_option(Id)
    }
}

/// Sets `slot` from the next value, refusing a field given twice as the derived impls do.
fn set<'de, A: MapAccess<'de>, T: Deserialize<'de>>(
    map: &mut A,
    slot: &mut Option<T>,
    seen: &mut u16,
    bit: u16,
    name: &'static str,
) -> Result<(), A::Error> {
    if *seen & bit != 0 {
        return Err(de::Error::duplicate_field(name));
    }
    *seen |= bit;
    *slot = map.next_value::<Option<T>>()?;
    Ok(())
}

struct Row;

impl<'de> Visitor<'de> for Row {
    type Value = PushAction;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a push action object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<PushAction, A::Error> {
        let mut a = PushAction::default();
        let mut seen = 0u16;
        let mut extra = Map::new();
        while let Some(field) = map.next_key::<Field>()? {
            let m = &mut map;
            match field {
                Field::ActionId => set(m, &mut a.action_id, &mut seen, 1, "action_id")?,
                Field::CampaignId => set(m, &mut a.campaign_id, &mut seen, 2, "campaign_id")?,
                Field::CreateTime => set(m, &mut a.create_time, &mut seen, 4, "create_time")?,
                Field::DeviceId => set(m, &mut a.device_id, &mut seen, 8, "device_id")?,
                Field::Error => set(m, &mut a.error, &mut seen, 16, "error")?,
                Field::ErrorMessage => {
                    set(m, &mut a.error_message, &mut seen, 32, "error_message")?
                }
                Field::Delivery => set(m, &mut a.delivery, &mut seen, 64, "delivery")?,
                Field::Open => set(m, &mut a.open, &mut seen, 128, "open")?,
                Field::Click => set(m, &mut a.click, &mut seen, 256, "click")?,
                Field::ProfileId => {
                    if seen & 512 != 0 {
                        return Err(de::Error::duplicate_field("profile_id"));
                    }
                    seen |= 512;
                    a.profile_id = map.next_value::<ProfileId>()?.0;
                }
                Field::Other(name) => {
                    extra.insert(name, map.next_value::<Value>()?);
                }
            }
        }
        a.extra = extra;
        Ok(a)
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<PushAction, A::Error> {
        // An array is not a push action; drain it so the error names the type, not the
        // length.
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Err(de::Error::invalid_type(de::Unexpected::Seq, &self))
    }
}

impl<'de> Deserialize<'de> for PushAction {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(Row)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::PushAction;

    fn parse(text: &str) -> Result<PushAction, String> {
        serde_json::from_str(text).map_err(|e| e.to_string())
    }

    #[test]
    fn known_fields_are_typed_and_the_rest_kept_as_sent() {
        let a = parse(
            r#"{"action_id":7,"campaign_id":245624,"create_time":-3,"device_id":9,
               "profile_id":12345678901234567890,"error":1,"error_message":"Échec \"x\"\n",
               "delivery":null,"open":0,"click":1700000000,
               "message":{"title":"Hi","tags":[1,"a",null]},"z":1.5}"#,
        )
        .unwrap();
        assert_eq!(a.action_id, Some(7));
        assert_eq!(a.campaign_id, Some(245624));
        assert_eq!(a.create_time, Some(-3));
        assert_eq!(a.device_id, Some(9));
        assert_eq!(a.profile_id.as_deref(), Some("12345678901234567890"));
        assert_eq!(a.error, Some(1));
        assert_eq!(a.error_message.as_deref(), Some("Échec \"x\"\n"));
        assert_eq!(
            (a.delivery, a.open, a.click),
            (None, Some(0), Some(1700000000))
        );
        assert_eq!(
            a.extra["message"],
            json!({"title":"Hi","tags":[1,"a",null]})
        );
        assert_eq!(a.extra["z"], json!(1.5));
        assert_eq!(a.extra.len(), 2);
    }

    #[test]
    fn profile_id_is_text_a_number_as_text_or_none() {
        for (text, want) in [
            (r#"{"profile_id":"p-1"}"#, Some("p-1")),
            (r#"{"profile_id":42}"#, Some("42")),
            (r#"{"profile_id":-42}"#, Some("-42")),
            (r#"{"profile_id":4.5}"#, Some("4.5")),
            (r#"{"profile_id":null}"#, None),
            ("{}", None),
        ] {
            assert_eq!(parse(text).unwrap().profile_id.as_deref(), want, "{text}");
        }
        assert!(parse(r#"{"profile_id":[1]}"#).is_err());
    }

    #[test]
    fn wrong_types_duplicates_and_non_objects_are_refused_by_name() {
        let e = parse(r#"{"action_id":"7"}"#).unwrap_err();
        assert!(e.contains("invalid type: string \"7\""), "{e}");
        let e = parse(r#"{"error":300}"#).unwrap_err();
        assert!(e.contains("300"), "{e}");
        let e = parse(r#"{"action_id":1,"action_id":2}"#).unwrap_err();
        assert!(e.contains("duplicate field `action_id`"), "{e}");
        for not_a_row in ["[1,2]", "7", "\"row\"", "null"] {
            assert!(parse(not_a_row).is_err(), "{not_a_row}");
        }
    }

    #[test]
    fn a_row_round_trips_through_serialize() {
        let text = r#"{"action_id":7,"error_message":"x","profile_id":"p","other":[1]}"#;
        let a = parse(text).unwrap();
        let back: PushAction = serde_json::from_value(serde_json::to_value(&a).unwrap()).unwrap();
        assert_eq!(back, a);
    }
}
