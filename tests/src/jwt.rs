//! NATS decentralised auth for tests: an operator, an account with JetStream and
//! users, as the JWTs `nsc` would issue (header `{"typ":"JWT","alg":"ed25519-nkey"}`,
//! claims signed by the issuer's nkey), and the `nats.conf` lines that run a server
//! in operator mode with a memory resolver.

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use nkeys::KeyPair;
use serde_json::{Value, json};

/// A JWT of `claims`, issued (and signed) by `issuer`, about `subject`.
pub fn encode(issuer: &KeyPair, subject: &str, name: &str, nats: Value) -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"typ":"JWT","alg":"ed25519-nkey"}"#);
    let iat = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("time after 1970")
        .as_secs();
    let claims = json!({
        "jti": ulid_like(),
        "iat": iat,
        "iss": issuer.public_key(),
        "name": name,
        "sub": subject,
        "nats": nats,
    });
    let claims = URL_SAFE_NO_PAD.encode(claims.to_string());
    let signed = format!("{header}.{claims}");
    let signature = issuer.sign(signed.as_bytes()).expect("sign the claims");
    format!("{signed}.{}", URL_SAFE_NO_PAD.encode(signature))
}

/// A unique claim id.
fn ulid_like() -> String {
    let user = KeyPair::new_user().public_key();
    user[1..27].to_owned()
}

/// An operator with one account (JetStream unlimited) and the users it signs.
pub struct Operator {
    operator: KeyPair,
    account: KeyPair,
    /// The system account, which JetStream needs.
    system: KeyPair,
}

impl Default for Operator {
    fn default() -> Self {
        Self::new()
    }
}

impl Operator {
    pub fn new() -> Self {
        Operator {
            operator: KeyPair::new_operator(),
            account: KeyPair::new_account(),
            system: KeyPair::new_account(),
        }
    }

    /// The `nats.conf` lines of a server that trusts this operator and knows its
    /// account.
    pub fn server_config(&self) -> String {
        let operator = encode(
            &self.operator,
            &self.operator.public_key(),
            "herald-test",
            json!({"type": "operator", "version": 2}),
        );
        let account = encode(
            &self.operator,
            &self.account.public_key(),
            "HERALD",
            json!({
                "limits": {
                    "subs": -1, "data": -1, "payload": -1, "imports": -1, "exports": -1,
                    "wildcards": true, "conn": -1, "leaf": -1,
                    "mem_storage": -1, "disk_storage": -1, "streams": -1, "consumer": -1,
                    "max_ack_pending": -1, "mem_max_stream_bytes": -1,
                    "disk_max_stream_bytes": -1, "max_bytes_required": false,
                },
                "default_permissions": {"pub": {}, "sub": {}},
                "type": "account",
                "version": 2,
            }),
        );
        let system = encode(
            &self.operator,
            &self.system.public_key(),
            "SYS",
            json!({"type": "account", "version": 2}),
        );
        format!(
            "operator: {operator}\nsystem_account: {sys}\nresolver: MEMORY\n\
             resolver_preload: {{\n  {sys}: {system}\n  {}: {account}\n}}\n",
            self.account.public_key(),
            sys = self.system.public_key(),
        )
    }

    /// A `.creds` file for a new user of the account, written to `dir/name.creds`.
    pub fn user_creds(&self, dir: &Path, name: &str) -> PathBuf {
        write_creds(&self.account, dir, name)
    }
}

/// A `.creds` file for a new user signed by `account`.
pub fn write_creds(account: &KeyPair, dir: &Path, name: &str) -> PathBuf {
    let user = KeyPair::new_user();
    let jwt = encode(
        account,
        &user.public_key(),
        name,
        json!({
            "pub": {}, "sub": {}, "subs": -1, "data": -1, "payload": -1,
            "type": "user", "version": 2,
        }),
    );
    let seed = user.seed().expect("a user seed");
    let path = dir.join(format!("{name}.creds"));
    std::fs::write(
        &path,
        format!(
            "-----BEGIN NATS USER JWT-----\n{jwt}\n------END NATS USER JWT------\n\n\
             ************************* IMPORTANT *************************\n\
             NKEY Seed printed below can be used to sign and prove identity.\n\
             NKEYs are sensitive and should be treated as secrets.\n\n\
             -----BEGIN USER NKEY SEED-----\n{seed}\n------END USER NKEY SEED------\n\n\
             *************************************************************\n"
        ),
    )
    .expect("write the creds file");
    path
}
