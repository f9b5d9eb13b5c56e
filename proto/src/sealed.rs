//! [`SealedHeaders`]: a job callback's own headers as Herald carries and stores
//! them, with every value sealed (encrypted at rest), so that reading the broker
//! does not give away a customer's tokens.
//!
//! Header names stay readable: they say what a header is for (`Authorization`,
//! `X-Customer-Token`), not what grants access, and they are validated and listed
//! like any other field. Values are sealed by the service that accepted them
//! (ingest), carried as they are through every message and bucket, and opened only
//! by the dispatcher for the request that sends them. The sealing itself is the
//! caller's (a cipher this crate does not know); this type keeps stored values
//! apart from sendable ones, so that no code sends the one or stores the other
//! without saying so.
//!
//! Values written before header values were sealed are in the clear. A value that
//! does not open is therefore taken as it is: such a value, not the sealed text of
//! another's, is what it always was. (A value sealed under another key would go out
//! as its sealed text, never in the clear; the tenant's callback secret, sealed under
//! the same key, is then unreadable too and the delivery is refused before.)

use std::collections::BTreeMap;

/// Header names in the clear, each with its value as stored: sealed, or — written
/// before values were sealed — in the clear.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SealedHeaders(BTreeMap<String, String>);

impl SealedHeaders {
    /// `headers` with every value passed through `seal`.
    pub fn seal(headers: &BTreeMap<String, String>, seal: &dyn Fn(&str) -> String) -> Self {
        SealedHeaders(
            headers
                .iter()
                .map(|(name, value)| (name.clone(), seal(value)))
                .collect(),
        )
    }

    /// Headers as read from where they are stored (a message, a bucket entry).
    pub fn from_stored(stored: BTreeMap<String, String>) -> Self {
        SealedHeaders(stored)
    }

    /// The headers to send: every value passed through `open`; a value `open`
    /// refuses is taken as it is (see the module's documentation).
    pub fn open<E>(&self, open: &dyn Fn(&str) -> Result<String, E>) -> BTreeMap<String, String> {
        self.0
            .iter()
            .map(|(name, value)| (name.clone(), open_or_as_is(value, open)))
            .collect()
    }

    /// The headers as stored, to be written as they are.
    pub fn stored(&self) -> &BTreeMap<String, String> {
        &self.0
    }
}

/// One stored header value opened with `open`, or, when it does not open (it was
/// written in the clear, before header values were sealed), as it is.
pub fn open_or_as_is<E>(value: &str, open: &dyn Fn(&str) -> Result<String, E>) -> String {
    open(value).unwrap_or_else(|_| value.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seal(value: &str) -> String {
        format!("sealed:{}", value.chars().rev().collect::<String>())
    }

    fn open(value: &str) -> Result<String, String> {
        value
            .strip_prefix("sealed:")
            .map(|v| v.chars().rev().collect())
            .ok_or_else(|| "is not sealed".to_owned())
    }

    #[test]
    fn values_are_sealed_and_opened_and_names_stay_readable() {
        let clear = BTreeMap::from([
            ("Authorization".to_owned(), "Bearer tok-123".to_owned()),
            ("X-Tenant".to_owned(), "acme".to_owned()),
        ]);
        let sealed = SealedHeaders::seal(&clear, &seal);
        assert_eq!(
            sealed.stored().keys().collect::<Vec<_>>(),
            ["Authorization", "X-Tenant"]
        );
        for value in sealed.stored().values() {
            assert!(value.starts_with("sealed:"), "{value}");
        }
        assert!(!sealed.stored()["Authorization"].contains("tok-123"));
        assert_eq!(sealed.open(&open), clear);
        // Stored and read back, they are the same.
        assert_eq!(SealedHeaders::from_stored(sealed.stored().clone()), sealed);
    }

    #[test]
    fn values_stored_in_the_clear_by_earlier_releases_are_taken_as_they_are() {
        let legacy = SealedHeaders::from_stored(BTreeMap::from([
            ("Authorization".to_owned(), "Bearer tok-123".to_owned()),
            // Looks like the sealed form, but does not open.
            ("X-Version".to_owned(), "v1:AAAA".to_owned()),
            ("X-Sealed".to_owned(), seal("now")),
        ]));
        let opened = legacy.open(&open);
        assert_eq!(opened["Authorization"], "Bearer tok-123");
        assert_eq!(opened["X-Version"], "v1:AAAA");
        assert_eq!(opened["X-Sealed"], "now");
        assert!(SealedHeaders::default().open(&open).is_empty());
    }
}
