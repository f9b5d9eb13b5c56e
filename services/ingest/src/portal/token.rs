//! Portal tokens: whom a sign-in link or a session cookie is for, sealed with
//! `HERALD_SECRET_KEY`, so that a customer can neither read, forge nor alter one.
//! Nothing is stored: a token carries its tenant, its end and its CSRF value, and
//! any ingest replica opens it.

use serde::{Deserialize, Serialize};

use herald_common::secrets::Cipher;

/// The session cookie's name. `__Host-` makes the browser keep it only when it
/// was set over a secure origin, with `Path=/` and no `Domain`, so no other host
/// (not even a subdomain) can plant or read one.
pub const COOKIE: &str = "__Host-herald-portal";

/// What a token is for, bound to it as the cipher's associated data: a link is
/// traded once for a session cookie, and neither opens as the other (nor does
/// anything else sealed with the same key).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Link,
    Session,
}

impl Kind {
    fn purpose(self) -> &'static [u8] {
        match self {
            Kind::Link => b"herald/portal/link/v1",
            Kind::Session => b"herald/portal/session/v1",
        }
    }
}

/// How long a sign-in link may be traded for its session, however long the
/// session lasts: links travel in mail and chat, so their window is short.
pub const LINK_WINDOW_MS: i64 = 10 * 60 * 1000;
/// Clock difference between replicas tolerated on a token's end.
const SKEW_MS: i64 = 60 * 1000;

/// A portal session: a tenant's customer signed in until `expires_at_ms`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    #[serde(rename = "t")]
    pub tenant: String,
    #[serde(rename = "r")]
    pub read_only: bool,
    #[serde(rename = "e")]
    pub expires_at_ms: i64,
    /// Until when the link may be traded for the session (a link's only).
    #[serde(rename = "l", default, skip_serializing_if = "Option::is_none")]
    link_until_ms: Option<i64>,
    /// Sent back in `X-CSRF-Token` with every change; another site cannot read it.
    #[serde(rename = "c")]
    pub csrf: String,
}

/// Why a token opens no session. The customer is told only that the link or
/// session has expired; the reason goes to the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("the token does not open with this server's key as a token of this kind")]
    Sealed,
    #[error("the token is not a portal token")]
    Malformed,
    #[error("the token has expired")]
    Expired,
    #[error("the token lasts longer than HERALD_PORTAL_MAX_TTL allows")]
    TooLong,
}

impl Session {
    /// A new session of `tenant` from `now_ms` until `expires_at_ms`, with a
    /// fresh CSRF value.
    pub fn new(tenant: &str, read_only: bool, now_ms: i64, expires_at_ms: i64) -> Self {
        Session {
            tenant: tenant.to_owned(),
            read_only,
            expires_at_ms,
            link_until_ms: Some(expires_at_ms.min(now_ms.saturating_add(LINK_WINDOW_MS))),
            csrf: hex::encode(rand::random::<[u8; 16]>()),
        }
    }

    /// The token of a sign-in link to this session.
    pub fn link_token(&self, cipher: &Cipher) -> String {
        self.seal(Kind::Link, cipher)
    }

    /// The value of the session cookie.
    pub fn cookie_token(&self, cipher: &Cipher) -> String {
        let session = Session {
            link_until_ms: None,
            ..self.clone()
        };
        session.seal(Kind::Session, cipher)
    }

    /// The session a link's token opens, if the link may still be traded at
    /// `now_ms` and its session lasts no longer than `max_ttl_ms`.
    pub fn from_link(
        token: &str,
        cipher: &Cipher,
        now_ms: i64,
        max_ttl_ms: i64,
    ) -> Result<Self, Refused> {
        let session = Self::open(token, Kind::Link, cipher, now_ms, max_ttl_ms)?;
        match session.link_until_ms {
            Some(until) if until > now_ms => Ok(session),
            Some(_) => Err(Refused::Expired),
            None => Err(Refused::Malformed),
        }
    }

    /// The session a cookie's value opens, if it is still good at `now_ms`.
    pub fn from_cookie(
        token: &str,
        cipher: &Cipher,
        now_ms: i64,
        max_ttl_ms: i64,
    ) -> Result<Self, Refused> {
        Self::open(token, Kind::Session, cipher, now_ms, max_ttl_ms)
    }

    /// Whether `presented` is this session's CSRF value (compared in constant time).
    pub fn csrf_matches(&self, presented: &str) -> bool {
        let (a, b) = (self.csrf.as_bytes(), presented.as_bytes());
        a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
    }

    fn seal(&self, kind: Kind, cipher: &Cipher) -> String {
        let json = serde_json::to_string(self).expect("a session serializes");
        cipher.seal_token(kind.purpose(), &json)
    }

    fn open(
        token: &str,
        kind: Kind,
        cipher: &Cipher,
        now_ms: i64,
        max_ttl_ms: i64,
    ) -> Result<Self, Refused> {
        let json = cipher
            .open_token(kind.purpose(), token)
            .map_err(|_| Refused::Sealed)?;
        let session: Session = serde_json::from_str(&json).map_err(|_| Refused::Malformed)?;
        if session.expires_at_ms <= now_ms {
            return Err(Refused::Expired);
        }
        // No token outlives the longest session this server makes, whatever it
        // says; one sealed by an older configuration ends at that bound.
        if session.expires_at_ms > now_ms.saturating_add(max_ttl_ms).saturating_add(SKEW_MS) {
            return Err(Refused::TooLong);
        }
        Ok(session)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 86_400_000;

    fn cipher() -> Cipher {
        Cipher::new(&[3; 32]).unwrap()
    }

    #[test]
    fn a_link_opens_its_session_within_its_window() {
        let session = Session::new("acme", true, 0, DAY);
        let link = session.link_token(&cipher());
        let opened = Session::from_link(&link, &cipher(), LINK_WINDOW_MS - 1, DAY).unwrap();
        assert_eq!(opened, session);
        // The link's window is ten minutes; the session lasts its day.
        assert_eq!(
            Session::from_link(&link, &cipher(), LINK_WINDOW_MS, DAY),
            Err(Refused::Expired)
        );
        let cookie = opened.cookie_token(&cipher());
        assert!(Session::from_cookie(&cookie, &cipher(), DAY - 1, DAY).is_ok());
        assert_eq!(
            Session::from_cookie(&cookie, &cipher(), DAY, DAY),
            Err(Refused::Expired)
        );
        // A short session's link ends with it.
        let short = Session::new("acme", false, 0, 1_000).link_token(&cipher());
        assert_eq!(
            Session::from_link(&short, &cipher(), 1_000, DAY),
            Err(Refused::Expired)
        );
    }

    #[test]
    fn a_link_is_no_cookie_and_a_cookie_no_link() {
        let session = Session::new("acme", false, 0, 10_000);
        let link = session.link_token(&cipher());
        let cookie = session.cookie_token(&cipher());
        assert_eq!(
            Session::from_cookie(&link, &cipher(), 0, DAY),
            Err(Refused::Sealed)
        );
        assert_eq!(
            Session::from_link(&cookie, &cipher(), 0, DAY),
            Err(Refused::Sealed)
        );
        assert!(Session::from_cookie(&cookie, &cipher(), 0, DAY).is_ok());
    }

    #[test]
    fn another_key_an_altered_token_or_a_stored_secret_opens_nothing() {
        let link = Session::new("acme", false, 0, 10_000).link_token(&cipher());
        let other = Cipher::new(&[4; 32]).unwrap();
        assert_eq!(
            Session::from_link(&link, &other, 0, DAY),
            Err(Refused::Sealed)
        );
        let mut altered = link.into_bytes();
        altered[30] = if altered[30] == b'x' { b'y' } else { b'x' };
        let altered = String::from_utf8(altered).unwrap();
        assert_eq!(
            Session::from_link(&altered, &cipher(), 0, DAY),
            Err(Refused::Sealed)
        );
        // A header value a customer chose, sealed for storage with the same key,
        // is no session even when it reads like one.
        use base64::Engine;
        let forged = r#"{"t":"globex","r":false,"e":5000,"c":"x"}"#;
        let stored = cipher().seal(forged);
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(stored.strip_prefix("v1:").unwrap())
            .unwrap();
        let as_token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
        assert_eq!(
            Session::from_cookie(&as_token, &cipher(), 0, DAY),
            Err(Refused::Sealed)
        );
    }

    #[test]
    fn no_token_outlives_the_longest_session() {
        let far = Session::new("acme", false, 0, 400 * DAY);
        let cookie = far.cookie_token(&cipher());
        assert_eq!(
            Session::from_cookie(&cookie, &cipher(), 0, 30 * DAY),
            Err(Refused::TooLong)
        );
        assert!(Session::from_cookie(&cookie, &cipher(), 0, 400 * DAY).is_ok());
    }

    #[test]
    fn csrf_values_are_fresh_and_compared_whole() {
        let a = Session::new("acme", false, 0, 1);
        let b = Session::new("acme", false, 0, 1);
        assert_ne!(a.csrf, b.csrf);
        assert!(a.csrf_matches(&a.csrf.clone()));
        assert!(!a.csrf_matches(&b.csrf));
        assert!(!a.csrf_matches(""));
        assert!(!a.csrf_matches(&a.csrf[..10]));
    }
}
