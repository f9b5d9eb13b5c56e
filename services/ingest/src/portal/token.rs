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

/// What a token is for: a link is exchanged once for a session cookie.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
enum Kind {
    #[serde(rename = "l")]
    Link,
    #[serde(rename = "s")]
    Session,
}

/// A portal session: a tenant's customer signed in until `expires_at_ms`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    #[serde(rename = "k")]
    kind: Kind,
    #[serde(rename = "t")]
    pub tenant: String,
    #[serde(rename = "r")]
    pub read_only: bool,
    #[serde(rename = "e")]
    pub expires_at_ms: i64,
    /// Sent back in `X-CSRF-Token` with every change; another site cannot read it.
    #[serde(rename = "c")]
    pub csrf: String,
}

/// Why a token opens no session. The customer is told only that the link or
/// session has expired; the reason goes to the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("the token does not open with this server's key")]
    Sealed,
    #[error("the token is not a portal token of this kind")]
    Malformed,
    #[error("the token has expired")]
    Expired,
}

impl Session {
    /// A new session of `tenant` until `expires_at_ms`, with a fresh CSRF value.
    pub fn new(tenant: &str, read_only: bool, expires_at_ms: i64) -> Self {
        Session {
            kind: Kind::Link,
            tenant: tenant.to_owned(),
            read_only,
            expires_at_ms,
            csrf: hex::encode(rand::random::<[u8; 16]>()),
        }
    }

    /// The token of a sign-in link to this session.
    pub fn link_token(&self, cipher: &Cipher) -> String {
        self.seal(Kind::Link, cipher)
    }

    /// The value of the session cookie.
    pub fn cookie_token(&self, cipher: &Cipher) -> String {
        self.seal(Kind::Session, cipher)
    }

    /// The session a link's token opens, if it is still good at `now_ms`.
    pub fn from_link(token: &str, cipher: &Cipher, now_ms: i64) -> Result<Self, Refused> {
        Self::open(token, Kind::Link, cipher, now_ms)
    }

    /// The session a cookie's value opens, if it is still good at `now_ms`.
    pub fn from_cookie(token: &str, cipher: &Cipher, now_ms: i64) -> Result<Self, Refused> {
        Self::open(token, Kind::Session, cipher, now_ms)
    }

    /// Whether `presented` is this session's CSRF value (compared in constant time).
    pub fn csrf_matches(&self, presented: &str) -> bool {
        let (a, b) = (self.csrf.as_bytes(), presented.as_bytes());
        a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
    }

    fn seal(&self, kind: Kind, cipher: &Cipher) -> String {
        let token = Session {
            kind,
            ..self.clone()
        };
        let json = serde_json::to_string(&token).expect("a session serializes");
        cipher.seal_token(&json)
    }

    fn open(token: &str, kind: Kind, cipher: &Cipher, now_ms: i64) -> Result<Self, Refused> {
        let json = cipher.open_token(token).map_err(|_| Refused::Sealed)?;
        let session: Session = serde_json::from_str(&json).map_err(|_| Refused::Malformed)?;
        if session.kind != kind {
            return Err(Refused::Malformed);
        }
        if session.expires_at_ms <= now_ms {
            return Err(Refused::Expired);
        }
        Ok(session)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cipher() -> Cipher {
        Cipher::new(&[3; 32]).unwrap()
    }

    #[test]
    fn a_link_opens_its_session_until_it_expires() {
        let session = Session::new("acme", true, 10_000);
        let link = session.link_token(&cipher());
        let opened = Session::from_link(&link, &cipher(), 9_999).unwrap();
        assert_eq!(opened, session);
        assert_eq!(
            Session::from_link(&link, &cipher(), 10_000),
            Err(Refused::Expired)
        );
    }

    #[test]
    fn a_link_is_no_cookie_and_a_cookie_no_link() {
        let session = Session::new("acme", false, 10_000);
        let link = session.link_token(&cipher());
        let cookie = session.cookie_token(&cipher());
        assert_eq!(
            Session::from_cookie(&link, &cipher(), 0),
            Err(Refused::Malformed)
        );
        assert_eq!(
            Session::from_link(&cookie, &cipher(), 0),
            Err(Refused::Malformed)
        );
        assert!(Session::from_cookie(&cookie, &cipher(), 0).is_ok());
    }

    #[test]
    fn another_key_or_an_altered_token_opens_nothing() {
        let link = Session::new("acme", false, 10_000).link_token(&cipher());
        let other = Cipher::new(&[4; 32]).unwrap();
        assert_eq!(Session::from_link(&link, &other, 0), Err(Refused::Sealed));
        let mut altered = link.into_bytes();
        altered[30] = if altered[30] == b'x' { b'y' } else { b'x' };
        let altered = String::from_utf8(altered).unwrap();
        assert_eq!(
            Session::from_link(&altered, &cipher(), 0),
            Err(Refused::Sealed)
        );
    }

    #[test]
    fn csrf_values_are_fresh_and_compared_whole() {
        let a = Session::new("acme", false, 1);
        let b = Session::new("acme", false, 1);
        assert_ne!(a.csrf, b.csrf);
        assert!(a.csrf_matches(&a.csrf.clone()));
        assert!(!a.csrf_matches(&b.csrf));
        assert!(!a.csrf_matches(""));
        assert!(!a.csrf_matches(&a.csrf[..10]));
    }
}
