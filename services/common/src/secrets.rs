//! Encryption at rest for signing secrets and header values. Webhook secrets, the
//! tenants' callback secrets, and the values of webhooks' static headers and of job
//! callbacks' headers are sealed with XChaCha20-Poly1305 under the key in
//! `HERALD_SECRET_KEY` (base64 of 32 bytes) before they are written to the broker,
//! and opened only where they are used.
//!
//! A sealed value is `v1:` + base64(24-byte random nonce ‖ ciphertext ‖ tag). A
//! secret that is not sealed is refused ([`Cipher::open`]); a header value that does
//! not open was written in the clear before header values were sealed, and is taken
//! as it is ([`herald_proto::sealed`]).

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};

use crate::config::{ConfigError, Env, get};

const PREFIX: &str = "v1:";
const NONCE_LEN: usize = 24;

/// A key that cannot be the cipher's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("must decode to 32 bytes, not {0}")]
pub struct KeyError(pub usize);

/// Why a stored value does not open; the text reads after the value's name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum OpenError {
    #[error("is not sealed")]
    NotSealed,
    #[error("is not valid base64")]
    NotBase64,
    #[error("is too short")]
    TooShort,
    #[error("cannot be decrypted with HERALD_SECRET_KEY")]
    WrongKey,
    #[error("is not UTF-8")]
    NotUtf8,
}

/// Seals and opens secrets. Cloning shares the key.
#[derive(Clone)]
pub struct Cipher {
    aead: XChaCha20Poly1305,
}

impl std::fmt::Debug for Cipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Cipher(..)")
    }
}

impl Cipher {
    /// The cipher for `HERALD_SECRET_KEY`, which must be set.
    pub fn from_env(env: &dyn Env) -> Result<Self, ConfigError> {
        const VAR: &str = crate::config::shared::SECRET_KEY.name;
        let value = get(env, VAR).ok_or_else(|| {
            ConfigError::new(
                VAR,
                "must be set to base64 of 32 random bytes (e.g. `openssl rand -base64 32`); it encrypts webhook secrets and header values at rest",
            )
        })?;
        let key = STANDARD
            .decode(value.as_bytes())
            .map_err(|_| ConfigError::new(VAR, "is not base64"))?;
        Self::new(&key).map_err(|reason| ConfigError::new(VAR, reason.to_string()))
    }

    pub fn new(key: &[u8]) -> Result<Self, KeyError> {
        let aead = XChaCha20Poly1305::new_from_slice(key).map_err(|_| KeyError(key.len()))?;
        Ok(Cipher { aead })
    }

    pub fn seal(&self, plaintext: &str) -> String {
        format!(
            "{PREFIX}{}",
            STANDARD.encode(self.seal_bytes(b"", plaintext))
        )
    }

    pub fn open(&self, sealed: &str) -> Result<String, OpenError> {
        let encoded = sealed.strip_prefix(PREFIX).ok_or(OpenError::NotSealed)?;
        let bytes = STANDARD.decode(encoded).map_err(|_| OpenError::NotBase64)?;
        self.open_bytes(b"", &bytes)
    }

    /// A token for `purpose`, written in URL-safe base64 without padding or
    /// prefix, to go in a URL or a cookie as it is. The purpose is bound to it
    /// (associated data), so neither a stored secret nor a token for another
    /// purpose opens as one, even though the key is the same.
    pub fn seal_token(&self, purpose: &[u8], plaintext: &str) -> String {
        URL_SAFE_NO_PAD.encode(self.seal_bytes(purpose, plaintext))
    }

    /// Opens what [`seal_token`](Self::seal_token) made for `purpose`.
    pub fn open_token(&self, purpose: &[u8], token: &str) -> Result<String, OpenError> {
        let bytes = URL_SAFE_NO_PAD
            .decode(token)
            .map_err(|_| OpenError::NotBase64)?;
        self.open_bytes(purpose, &bytes)
    }

    /// The random nonce, then the ciphertext and its tag, bound to `aad`.
    fn seal_bytes(&self, aad: &[u8], plaintext: &str) -> Vec<u8> {
        let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
        let payload = Payload {
            msg: plaintext.as_bytes(),
            aad,
        };
        let ciphertext = self
            .aead
            .encrypt(&nonce, payload)
            .expect("encryption of a short secret cannot fail");
        let mut sealed = nonce.to_vec();
        sealed.extend_from_slice(&ciphertext);
        sealed
    }

    fn open_bytes(&self, aad: &[u8], bytes: &[u8]) -> Result<String, OpenError> {
        if bytes.len() <= NONCE_LEN {
            return Err(OpenError::TooShort);
        }
        let (nonce, ciphertext) = bytes.split_at(NONCE_LEN);
        let payload = Payload {
            msg: ciphertext,
            aad,
        };
        let plaintext = self
            .aead
            .decrypt(XNonce::from_slice(nonce), payload)
            .map_err(|_| OpenError::WrongKey)?;
        String::from_utf8(plaintext).map_err(|_| OpenError::NotUtf8)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::MapEnv;

    #[test]
    fn seals_and_opens_and_refuses_other_keys() {
        let cipher = Cipher::new(&[7; 32]).unwrap();
        let sealed = cipher.seal("whsec_secret");
        assert!(sealed.starts_with("v1:"));
        assert!(!sealed.contains("whsec_secret"));
        assert_ne!(sealed, cipher.seal("whsec_secret"), "fresh nonce each time");
        assert_eq!(cipher.open(&sealed).unwrap(), "whsec_secret");
        let other = Cipher::new(&[8; 32]).unwrap();
        assert!(other.open(&sealed).is_err());
        assert!(cipher.open("whsec_plain").is_err());
    }

    #[test]
    fn tokens_are_url_safe_and_refuse_tampering_and_other_keys() {
        let cipher = Cipher::new(&[7; 32]).unwrap();
        let token = cipher.seal_token(b"portal", r#"{"t":"acme"}"#);
        assert!(
            token
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        );
        assert_eq!(
            cipher.open_token(b"portal", &token).unwrap(),
            r#"{"t":"acme"}"#
        );
        // Bound to its purpose: a token for another, or a stored secret written
        // in the token alphabet, does not open.
        assert_eq!(
            cipher.open_token(b"other", &token),
            Err(OpenError::WrongKey)
        );
        let stored = cipher.seal(r#"{"t":"acme"}"#);
        let bytes = STANDARD
            .decode(stored.strip_prefix(PREFIX).unwrap())
            .unwrap();
        assert_eq!(
            cipher.open_token(b"portal", &URL_SAFE_NO_PAD.encode(bytes)),
            Err(OpenError::WrongKey)
        );
        let mut flipped = token.clone().into_bytes();
        let last = flipped.len() - 2;
        flipped[last] = if flipped[last] == b'A' { b'B' } else { b'A' };
        let flipped = String::from_utf8(flipped).unwrap();
        assert_eq!(
            cipher.open_token(b"portal", &flipped),
            Err(OpenError::WrongKey)
        );
        let other = Cipher::new(&[8; 32]).unwrap();
        assert_eq!(
            other.open_token(b"portal", &token),
            Err(OpenError::WrongKey)
        );
        assert_eq!(
            cipher.open_token(b"portal", "not a token"),
            Err(OpenError::NotBase64)
        );
    }

    #[test]
    fn header_values_are_sealed_and_values_from_before_read_as_they_are() {
        use herald_proto::SealedHeaders;
        use std::collections::BTreeMap;

        let cipher = Cipher::new(&[7; 32]).unwrap();
        let clear = BTreeMap::from([("Authorization".to_owned(), "Bearer tok-9".to_owned())]);
        let sealed = SealedHeaders::seal(&clear, &|v| cipher.seal(v));
        let stored = &sealed.stored()["Authorization"];
        assert!(
            stored.starts_with("v1:") && !stored.contains("tok-9"),
            "{stored}"
        );
        assert_eq!(sealed.open(&|v| cipher.open(v)), clear);

        // Written in the clear by an earlier release, one of them in a shape like
        // the sealed one.
        let legacy = BTreeMap::from([
            ("Authorization".to_owned(), "Bearer tok-9".to_owned()),
            (
                "X-Token".to_owned(),
                format!("v1:{}", STANDARD.encode([1u8; 64])),
            ),
        ]);
        let opened = SealedHeaders::from_stored(legacy.clone()).open(&|v| cipher.open(v));
        assert_eq!(opened, legacy);
    }

    #[test]
    fn key_must_be_base64_of_32_bytes() {
        assert_eq!(
            Cipher::from_env(&MapEnv::default()).unwrap_err().var,
            "HERALD_SECRET_KEY"
        );
        let short = MapEnv::new([("HERALD_SECRET_KEY", STANDARD.encode([1u8; 16]))]);
        assert!(Cipher::from_env(&short).is_err());
        let good = MapEnv::new([("HERALD_SECRET_KEY", STANDARD.encode([1u8; 32]))]);
        assert!(Cipher::from_env(&good).is_ok());
    }
}
