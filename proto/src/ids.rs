//! Identifiers: tenants, event ids, and the deterministic delivery id.

use sha2::{Digest, Sha256};

/// An id not of the form its kind takes; the text reads after the id's name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("must be 1 to 64 letters, digits, `_` or `-`")]
    Tenant,
    #[error("must be 1 to 128 letters, digits, `_`, `-`, `.` or `:`")]
    EventId,
}

/// Tenants appear in NATS subjects, so they are short and plain.
pub fn check_tenant(value: &str) -> Result<(), IdError> {
    let ok = !value.is_empty()
        && value.len() <= 64
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if ok { Ok(()) } else { Err(IdError::Tenant) }
}

/// Event ids are chosen by producers; they travel in headers and message ids.
pub fn check_event_id(value: &str) -> Result<(), IdError> {
    let ok = !value.is_empty()
        && value.len() <= 128
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ':'));
    if ok { Ok(()) } else { Err(IdError::EventId) }
}

/// The id of the delivery of one event to one endpoint. It is derived, not drawn,
/// so a fan-out that runs twice names the same delivery both times.
pub fn delivery_id(tenant: &str, event_id: &str, endpoint_id: &str) -> String {
    let mut hasher = Sha256::new();
    for part in [tenant, event_id, endpoint_id] {
        hasher.update(part.as_bytes());
        hasher.update([0]);
    }
    let digest = hasher.finalize();
    format!("dlv_{}", hex::encode(&digest[..16]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delivery_ids_are_stable_and_distinct() {
        let a = delivery_id("acme", "evt_1", "wh_1");
        assert_eq!(a, delivery_id("acme", "evt_1", "wh_1"));
        assert_ne!(a, delivery_id("acme", "evt_1", "wh_2"));
        assert_ne!(a, delivery_id("acme", "evt_1w", "h_1"));
        assert!(a.starts_with("dlv_") && a.len() == 36);
    }

    #[test]
    fn tenants_must_be_subject_safe() {
        assert!(check_tenant("acme-prod_1").is_ok());
        assert!(check_tenant("acme.prod").is_err());
        assert!(check_tenant("").is_err());
        assert!(check_event_id("evt_01J:x.y").is_ok());
        assert!(check_event_id("evt 1").is_err());
    }
}
