//! Signature checks written from the specifications, independent of Herald's code:
//! a receiver's view of Standard Webhooks and of `X-Webhook-Signature`.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::receiver::Received;

/// Verifies `webhook-signature` the way a Standard Webhooks receiver does: any of the
/// space-separated `v1,` signatures must match HMAC-SHA256(key, "id.timestamp.body").
pub fn standard_webhooks(secret: &str, request: &Received) -> bool {
    let key = STANDARD
        .decode(secret.strip_prefix("whsec_").expect("a whsec_ secret"))
        .expect("base64 secret");
    let id = request.header("webhook-id").expect("webhook-id");
    let timestamp = request
        .header("webhook-timestamp")
        .expect("webhook-timestamp");
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(&request.body);
    let expected = format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()));
    request
        .header("webhook-signature")
        .expect("webhook-signature")
        .split(' ')
        .any(|s| s == expected)
}

/// Verifies `X-Webhook-Signature`: hex HMAC-SHA256 of the raw body keyed with the
/// secret string's bytes.
pub fn hex_signature(secret: &str, request: &Received) -> bool {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(&request.body);
    let expected = hex::encode(mac.finalize().into_bytes());
    request.header("x-webhook-signature") == Some(expected.as_str())
}
