//! Ids in paths and bodies. Each checks its form when it is parsed, so a handler
//! never sees one that could not name anything.

use std::fmt;

use serde::{Deserialize, Serialize};

/// An id that does not have its kind's form.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{value}` is not a {kind} id: it {rule}")]
pub struct InvalidId {
    pub kind: &'static str,
    pub value: String,
    pub rule: &'static str,
}

/// The longest id of any kind.
pub const MAX_ID_LEN: usize = 128;

const TOKEN_RULE: &str = "must be 1 to 128 letters, digits, `_` or `-`";
const PRODUCER_RULE: &str = "must be 1 to 128 letters, digits, `_`, `-`, `.` or `:`";

/// Ids Herald makes itself: letters, digits, `_` and `-`.
pub fn is_token(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_ID_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Ids producers choose (events, jobs): also `.` and `:`.
pub fn is_producer_id(id: &str) -> bool {
    herald_proto::ids::check_event_id(id).is_ok()
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $kind:literal, $check:ident, $rule:ident, $pattern:literal, $example:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// What this kind of id is called in messages.
            pub const KIND: &'static str = $kind;

            /// An id read back from Herald's own records, where it was checked
            /// when it was first accepted.
            pub fn from_record(value: String) -> Self {
                $name(value)
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }

            pub fn into_inner(self) -> String {
                self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = InvalidId;

            fn try_from(value: String) -> Result<Self, InvalidId> {
                if $check(&value) {
                    Ok($name(value))
                } else {
                    Err(InvalidId { kind: $kind, value, rule: $rule })
                }
            }
        }

        impl std::str::FromStr for $name {
            type Err = InvalidId;

            fn from_str(value: &str) -> Result<Self, InvalidId> {
                $name::try_from(value.to_owned())
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                utoipa::openapi::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::String)
                    .min_length(Some(1))
                    .max_length(Some(MAX_ID_LEN))
                    .pattern(Some($pattern))
                    .examples([serde_json::json!($example)])
                    .into()
            }
        }

        impl utoipa::ToSchema for $name {}
    };
}

id_type!(
    /// A listening session's id, `ls_` and a ULID, made by Herald.
    SessionId, "listening session", is_token, TOKEN_RULE, "^[A-Za-z0-9_-]+$", "ls_01jd5x2m3n4p5q6r7s8t9v0w1x"
);

id_type!(
    /// A webhook's id, `wh_` and a ULID, made by Herald.
    WebhookId, "webhook", is_token, TOKEN_RULE, "^[A-Za-z0-9_-]+$", "wh_01jd5x2m3n4p5q6r7s8t9v0w1x"
);
id_type!(
    /// A delivery's id (one event to one webhook), `dlv_` and 32 hex digits.
    DeliveryId, "delivery", is_token, TOKEN_RULE, "^[A-Za-z0-9_-]+$", "dlv_0123456789abcdef0123456789abcdef"
);
id_type!(
    /// An event's id: the producer's, or `evt_` and a ULID when it gave none.
    EventId, "event", is_producer_id, PRODUCER_RULE, "^[A-Za-z0-9_.:-]+$", "evt_01jd5x2m3n4p5q6r7s8t9v0w1x"
);
id_type!(
    /// A job's id, chosen by the producer.
    JobId, "job", is_producer_id, PRODUCER_RULE, "^[A-Za-z0-9_.:-]+$", "job_42"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_check_their_form_when_parsed() {
        assert!("wh_01jd5x2m3n4p5q6r7s8t9v0w1x".parse::<WebhookId>().is_ok());
        assert!("dlv_0123456789abcdef".parse::<DeliveryId>().is_ok());
        assert!("order:42.v1".parse::<EventId>().is_ok());
        assert!("order:42".parse::<WebhookId>().is_err());
        assert!("".parse::<JobId>().is_err());
        assert!("a".repeat(MAX_ID_LEN + 1).parse::<JobId>().is_err());
        assert!("a b".parse::<EventId>().is_err());
        let err = serde_json::from_str::<WebhookId>("\"x y\"").unwrap_err();
        assert!(err.to_string().contains("is not a webhook id"), "{err}");
        assert_eq!(
            serde_json::to_string(&"job_1".parse::<JobId>().unwrap()).unwrap(),
            "\"job_1\""
        );
    }
}
