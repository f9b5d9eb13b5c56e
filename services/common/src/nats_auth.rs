//! How a service proves itself to NATS and checks the server it reaches: the
//! credential (`.creds` file, nkey seed, user and password, or token) and the TLS
//! files from the environment, read and checked once at start-up; and the server's
//! refusals, told in terms of the variable that caused them. See
//! `docs/nats-connect.md`.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use async_nats::{ConnectError, ConnectErrorKind, ConnectOptions, Event, ServerAddr};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::config::{ConfigError, Env, get};

use crate::config::shared as setting;

pub const CREDS: &str = setting::NATS_CREDS.name;
pub const NKEY_SEED: &str = setting::NATS_NKEY_SEED.name;
pub const USER: &str = setting::NATS_USER.name;
pub const PASSWORD: &str = setting::NATS_PASSWORD.name;
pub const TOKEN: &str = setting::NATS_TOKEN.name;
pub const TLS_CA: &str = setting::NATS_TLS_CA.name;
pub const TLS_CERT: &str = setting::NATS_TLS_CERT.name;
pub const TLS_KEY: &str = setting::NATS_TLS_KEY.name;
pub const URL: &str = setting::NATS_URL.name;

/// What to set when the server asks for a credential and none was given.
const ANY_CREDENTIAL: &str = "set HERALD_NATS_CREDS, HERALD_NATS_NKEY_SEED, \
     HERALD_NATS_USER and HERALD_NATS_PASSWORD, or HERALD_NATS_TOKEN";

/// A value that must not be shown: `Debug` prints `***`.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// How Herald proves who it is to the server; at most one.
#[derive(Debug, Clone)]
pub enum Credential {
    /// None of the variables: the server must not require one, or the URL carries it.
    None,
    /// `HERALD_NATS_CREDS`: a user JWT and the seed that signs the server's nonce.
    Creds {
        path: PathBuf,
        jwt: String,
        /// The user's key, from the file's seed; `Debug` shows only its type.
        key: Arc<nkeys::KeyPair>,
    },
    /// `HERALD_NATS_NKEY_SEED`: a user nkey seed that signs the server's nonce.
    NkeySeed { path: PathBuf, seed: Secret },
    /// `HERALD_NATS_USER` and `HERALD_NATS_PASSWORD`.
    UserPassword { user: String, password: Secret },
    /// `HERALD_NATS_TOKEN`.
    Token(Secret),
    /// `HERALD_NATS_URL` as `nats://user:password@host`.
    UrlUserPassword { user: String, password: Secret },
    /// `HERALD_NATS_URL` as `nats://token@host`.
    UrlToken(Secret),
}

impl Credential {
    /// The variable(s) holding the credential, as messages name them.
    pub fn vars(&self) -> &'static str {
        match self {
            Credential::None => "",
            Credential::Creds { .. } => CREDS,
            Credential::NkeySeed { .. } => NKEY_SEED,
            Credential::UserPassword { .. } => "HERALD_NATS_USER/HERALD_NATS_PASSWORD",
            Credential::Token(_) => TOKEN,
            Credential::UrlUserPassword { .. } | Credential::UrlToken(_) => URL,
        }
    }
}

/// The TLS files: the CA to verify the server with, and a client certificate.
#[derive(Debug, Clone, Default)]
pub struct Tls {
    /// `HERALD_NATS_TLS_CA`: verify the server with these CAs only, and require TLS.
    pub ca: Option<PathBuf>,
    /// `HERALD_NATS_TLS_CERT` and `HERALD_NATS_TLS_KEY`: present this certificate
    /// (mutual TLS), and require TLS.
    pub client: Option<(PathBuf, PathBuf)>,
}

/// The credential and the TLS settings, checked.
#[derive(Debug, Clone)]
pub struct NatsAuth {
    pub credential: Credential,
    pub tls: Tls,
}

impl NatsAuth {
    /// Reads and checks the variables and the files they name; `url` is
    /// `HERALD_NATS_URL` (one or more seed URLs), which may carry a credential of
    /// its own.
    pub fn from_env(env: &dyn Env, url: &str) -> Result<Self, ConfigError> {
        let user = get(env, USER);
        // Secrets are taken exactly as given: no white space is trimmed.
        let password = env.var(PASSWORD).filter(|p| !p.is_empty());
        let token = env.var(TOKEN).filter(|t| !t.is_empty());
        let creds = get(env, CREDS);
        let seed = get(env, NKEY_SEED);
        let in_url = urls_credential(url)?;

        let mut set: Vec<&str> = Vec::new();
        if creds.is_some() {
            set.push(CREDS);
        }
        if seed.is_some() {
            set.push(NKEY_SEED);
        }
        if user.is_some() || password.is_some() {
            set.push("HERALD_NATS_USER/HERALD_NATS_PASSWORD");
        }
        if token.is_some() {
            set.push(TOKEN);
        }
        if in_url.is_some() && !set.is_empty() {
            set.insert(0, URL);
        }
        if set.len() > 1 {
            return Err(ConfigError::new(
                &set.join(", "),
                "more than one way to authenticate is set; set only one",
            ));
        }
        let credential = match (creds, seed, user, password, token) {
            (Some(path), ..) => read_creds(Path::new(&path))?,
            (_, Some(path), ..) => read_seed(Path::new(&path))?,
            (_, _, Some(user), Some(password), _) => Credential::UserPassword {
                user,
                password: Secret(password),
            },
            (_, _, Some(_), None, _) => {
                return Err(ConfigError::new(
                    PASSWORD,
                    "is unset but HERALD_NATS_USER is set; set both or neither",
                ));
            }
            (_, _, None, Some(_), _) => {
                return Err(ConfigError::new(
                    USER,
                    "is unset but HERALD_NATS_PASSWORD is set; set both or neither",
                ));
            }
            (_, _, None, None, Some(token)) => Credential::Token(Secret(token)),
            (_, _, None, None, None) => in_url.unwrap_or(Credential::None),
        };
        Ok(NatsAuth {
            credential,
            tls: read_tls(env)?,
        })
    }

    /// Adds the credential and the TLS settings to `options`.
    pub fn apply(&self, mut options: ConnectOptions) -> ConnectOptions {
        options = match &self.credential {
            Credential::None => options,
            Credential::Creds { jwt, key, .. } => {
                let key = key.clone();
                options.jwt(jwt.clone(), move |nonce| {
                    let key = key.clone();
                    async move { key.sign(&nonce).map_err(async_nats::AuthError::new) }
                })
            }
            Credential::NkeySeed { seed, .. } => options.nkey(seed.expose().to_owned()),
            Credential::UserPassword { user, password } => {
                options.user_and_password(user.clone(), password.expose().to_owned())
            }
            Credential::Token(token) => options.token(token.expose().to_owned()),
            Credential::UrlUserPassword { user, password } => {
                options.user_and_password(user.clone(), password.expose().to_owned())
            }
            Credential::UrlToken(token) => options.token(token.expose().to_owned()),
        };
        if let Some(ca) = &self.tls.ca {
            options = options.add_root_certificates(ca.clone()).require_tls(true);
        }
        if let Some((cert, key)) = &self.tls.client {
            options = options
                .add_client_certificate(cert.clone(), key.clone())
                .require_tls(true);
        }
        options
    }

    /// Why the server at `url` would not have Herald, naming the variable to
    /// change: `None` when `err` is not a refusal (an unreachable server, say).
    pub fn refusal(&self, url: &str, err: &ConnectError) -> Option<String> {
        match err.kind() {
            ConnectErrorKind::AuthorizationViolation | ConnectErrorKind::Authentication => {
                Some(self.credential_refused(url, &err.kind().to_string()))
            }
            ConnectErrorKind::Tls => Some(format!(
                "cannot set up TLS to the NATS server at {url} ({}): {}",
                self.tls_vars(),
                chain(err)
            )),
            _ => rustls_error(err).map(|tls| self.tls_refused(url, tls)),
        }
    }

    fn credential_refused(&self, url: &str, reason: &str) -> String {
        match self.credential {
            Credential::None => {
                format!(
                    "the NATS server at {url} requires a credential ({reason}): {ANY_CREDENTIAL}"
                )
            }
            _ => format!(
                "the NATS server at {url} refused the credential in {} ({reason})",
                self.credential.vars()
            ),
        }
    }

    fn tls_refused(&self, url: &str, err: &rustls::Error) -> String {
        use rustls::AlertDescription as Alert;
        match err {
            rustls::Error::InvalidCertificate(_) => match &self.tls.ca {
                Some(ca) => format!(
                    "cannot verify the certificate of the NATS server at {url} with the CA in \
                     {TLS_CA} ({}): {err}",
                    ca.display()
                ),
                None => format!(
                    "cannot verify the certificate of the NATS server at {url} with the system's \
                     trusted roots ({err}); set {TLS_CA} to the CA that signed it"
                ),
            },
            rustls::Error::AlertReceived(
                Alert::CertificateRequired
                | Alert::BadCertificate
                | Alert::UnknownCA
                | Alert::CertificateUnknown
                | Alert::CertificateExpired
                | Alert::CertificateRevoked
                | Alert::UnsupportedCertificate
                | Alert::AccessDenied,
            ) => match &self.tls.client {
                Some((cert, _)) => format!(
                    "the NATS server at {url} refused the client certificate in {TLS_CERT} ({}): {err}",
                    cert.display()
                ),
                None => format!(
                    "the NATS server at {url} requires a client certificate ({err}); set \
                     {TLS_CERT} and {TLS_KEY}"
                ),
            },
            _ if self.tls.ca.is_some() || self.tls.client.is_some() => format!(
                "TLS with the NATS server at {url} failed ({} set, so TLS is required; \
                 does the server have TLS on?): {err}",
                self.tls_vars()
            ),
            _ => format!(
                "TLS with the NATS server at {url} failed ({}): {err}",
                self.tls_vars()
            ),
        }
    }

    /// The TLS variables set, or `HERALD_NATS_TLS_CA` when none is.
    fn tls_vars(&self) -> String {
        let mut vars = Vec::new();
        if self.tls.ca.is_some() {
            vars.push(TLS_CA);
        }
        if self.tls.client.is_some() {
            vars.extend([TLS_CERT, TLS_KEY]);
        }
        if vars.is_empty() {
            vars.push(TLS_CA);
        }
        vars.join(", ")
    }

    /// What `event` says about the connection, to show while it is down: `None`
    /// for events that are not errors.
    fn describe(&self, event: &Event) -> Option<String> {
        use async_nats::{ClientError, ServerError};
        let refused = || match self.credential {
            Credential::None => format!("NATS requires a credential: {ANY_CREDENTIAL}"),
            _ => format!(
                "NATS refused the credential in {} (authorization violation)",
                self.credential.vars()
            ),
        };
        match event {
            Event::ServerError(ServerError::AuthorizationViolation) => Some(refused()),
            Event::ClientError(ClientError::Other(reason))
                if reason == &ConnectErrorKind::AuthorizationViolation.to_string() =>
            {
                Some(refused())
            }
            // Permissions are about one subject, not the connection: logged, never
            // a reason the connection is down.
            Event::ServerError(ServerError::Other(text))
                if text.to_ascii_lowercase().contains("permissions violation") =>
            {
                None
            }
            Event::ServerError(err) => Some(format!("NATS server error: {err}")),
            Event::ClientError(err) => Some(format!("cannot reconnect: {err}")),
            _ => None,
        }
    }
}

/// The seed URLs of `HERALD_NATS_URL`: one URL, or several separated by commas
/// (`nats://a:4222,nats://b:4222`), as NATS clients take them. Blanks around the
/// commas are ignored.
pub fn seed_urls(value: &str) -> impl Iterator<Item = &str> {
    value
        .split(',')
        .map(str::trim)
        .filter(|url| !url.is_empty())
}

/// The addresses to connect to: every seed URL of `HERALD_NATS_URL`, without its
/// credential. A URL that is not one is refused naming the variable, shown
/// without its secret.
pub fn server_addrs(value: &str) -> Result<Vec<ServerAddr>, ConfigError> {
    let addrs = seed_urls(value)
        .map(|url| {
            strip_credential(url).parse::<ServerAddr>().map_err(|e| {
                ConfigError::new(URL, format!("`{}` is not a NATS URL: {e}", redact_url(url)))
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    if addrs.is_empty() {
        return Err(ConfigError::new(
            URL,
            "names no server; give one URL or several separated by commas",
        ));
    }
    Ok(addrs)
}

/// The credential the seed URLs carry: the same one in every URL, or none in
/// any. URLs that disagree are refused, since the client sends one credential to
/// whichever server it reaches.
fn urls_credential(value: &str) -> Result<Option<Credential>, ConfigError> {
    let mut found: Option<Option<Credential>> = None;
    for url in seed_urls(value) {
        let credential = url_credential(url);
        match &found {
            None => found = Some(credential),
            Some(first) if same_credential(first.as_ref(), credential.as_ref()) => {}
            Some(_) => {
                return Err(ConfigError::new(
                    URL,
                    "its seed URLs carry different credentials; give every URL the same \
                     one, or none",
                ));
            }
        }
    }
    Ok(found.flatten())
}

fn same_credential(a: Option<&Credential>, b: Option<&Credential>) -> bool {
    match (a, b) {
        (None, None) => true,
        (
            Some(Credential::UrlUserPassword { user, password }),
            Some(Credential::UrlUserPassword {
                user: other_user,
                password: other_password,
            }),
        ) => user == other_user && password.expose() == other_password.expose(),
        (Some(Credential::UrlToken(token)), Some(Credential::UrlToken(other))) => {
            token.expose() == other.expose()
        }
        _ => false,
    }
}

/// The credential in `nats://user:password@host` or `nats://token@host`.
fn url_credential(url: &str) -> Option<Credential> {
    let addr: ServerAddr = url.parse().ok()?;
    let user = percent_decode(addr.username()?);
    Some(match addr.password() {
        Some(password) => Credential::UrlUserPassword {
            user,
            password: Secret(percent_decode(password)),
        },
        None => Credential::UrlToken(Secret(user)),
    })
}

/// `url` — one URL or a comma-separated list — with each password or token
/// replaced by `***`, for messages.
pub fn redact_url(url: &str) -> String {
    if url.contains(',') {
        return seed_urls(url).map(redact_url).collect::<Vec<_>>().join(",");
    }
    match split_userinfo(url) {
        Some((scheme, userinfo, rest)) => {
            let shown = match userinfo.split_once(':') {
                Some((user, _)) => format!("{user}:***"),
                None => "***".to_owned(),
            };
            format!("{scheme}://{shown}@{rest}")
        }
        None => url.to_owned(),
    }
}

/// `url` without its credential, to connect to: the credential goes in the
/// CONNECT message only, and the client never logs it as part of an address.
pub fn strip_credential(url: &str) -> String {
    match split_userinfo(url) {
        Some((scheme, _, rest)) => format!("{scheme}://{rest}"),
        None => url.to_owned(),
    }
}

/// `(scheme, userinfo, rest)` of `scheme://userinfo@rest`.
fn split_userinfo(url: &str) -> Option<(&str, &str, &str)> {
    let (scheme, rest) = url.split_once("://")?;
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let at = rest[..authority_end].rfind('@')?;
    Some((scheme, &rest[..at], &rest[at + 1..]))
}

fn percent_decode(value: &str) -> String {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(byte) = value
                .get(i + 1..i + 3)
                .and_then(|hex| u8::from_str_radix(hex, 16).ok())
        {
            out.push(byte);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn read_file(var: &str, path: &Path) -> Result<Vec<u8>, ConfigError> {
    std::fs::read(path)
        .map_err(|e| ConfigError::new(var, format!("cannot read {}: {e}", path.display())))
}

/// A `.creds` file: the user JWT block, then the user nkey seed block.
fn read_creds(path: &Path) -> Result<Credential, ConfigError> {
    let bad = |reason: &str| ConfigError::new(CREDS, format!("{}: {reason}", path.display()));
    let text = String::from_utf8(read_file(CREDS, path)?)
        .map_err(|_| bad("is not a NATS credentials file (not text)"))?;
    let block = |begin: &str| {
        let mut lines = text.lines().map(str::trim);
        lines.find(|l| l.starts_with("---") && l.contains(begin))?;
        lines.find(|l| !l.is_empty()).map(str::to_owned)
    };
    let jwt = block("BEGIN NATS USER JWT")
        .ok_or_else(|| bad("has no user JWT (-----BEGIN NATS USER JWT----- block)"))?;
    if jwt.split('.').count() != 3 {
        return Err(bad("its user JWT is not a JWT (header.claims.signature)"));
    }
    let seed = block("BEGIN USER NKEY SEED")
        .ok_or_else(|| bad("has no user nkey seed (-----BEGIN USER NKEY SEED----- block)"))?;
    let key = user_key(&seed).map_err(|reason| bad(&reason.to_string()))?;
    Ok(Credential::Creds {
        path: path.to_owned(),
        jwt,
        key: Arc::new(key),
    })
}

/// A file holding a user nkey seed (`SU...`), alone or among comments.
fn read_seed(path: &Path) -> Result<Credential, ConfigError> {
    let bad = |reason: &str| ConfigError::new(NKEY_SEED, format!("{}: {reason}", path.display()));
    let text = String::from_utf8(read_file(NKEY_SEED, path)?)
        .map_err(|_| bad("is not an nkey seed file (not text)"))?;
    // A seed is one word of base32 (A-Z, 2-7) starting with S; other lines are
    // comments.
    let seed = text
        .lines()
        .map(str::trim)
        .find(|l| {
            l.starts_with('S')
                && l.bytes()
                    .all(|b| b.is_ascii_uppercase() || (b'2'..=b'7').contains(&b))
        })
        .ok_or_else(|| bad("holds no nkey seed (a line starting with SU)"))?;
    user_key(seed).map_err(|reason| bad(&reason.to_string()))?;
    Ok(Credential::NkeySeed {
        path: path.to_owned(),
        seed: Secret(seed.to_owned()),
    })
}

/// Why a seed cannot sign in as a user.
#[derive(Debug, thiserror::Error)]
enum SeedError {
    #[error("holds no valid nkey seed")]
    Invalid,
    #[error("holds the seed of a key of type {0:?}, not of a user (SU...)")]
    NotUser(nkeys::KeyPairType),
}

/// The key of a user nkey seed; another kind of seed is refused.
fn user_key(seed: &str) -> Result<nkeys::KeyPair, SeedError> {
    let key = nkeys::KeyPair::from_seed(seed).map_err(|_| SeedError::Invalid)?;
    match key.key_pair_type() {
        nkeys::KeyPairType::User => Ok(key),
        other => Err(SeedError::NotUser(other)),
    }
}

fn read_tls(env: &dyn Env) -> Result<Tls, ConfigError> {
    let ca = get(env, TLS_CA).map(PathBuf::from);
    if let Some(ca) = &ca {
        let certs = read_certs(TLS_CA, ca)?;
        let mut roots = rustls::RootCertStore::empty();
        for cert in certs {
            roots.add(cert).map_err(|e| {
                ConfigError::new(TLS_CA, format!("{}: not a usable CA: {e}", ca.display()))
            })?;
        }
    }
    let client = match (get(env, TLS_CERT), get(env, TLS_KEY)) {
        (None, None) => None,
        (Some(_), None) => {
            return Err(ConfigError::new(
                TLS_KEY,
                "is unset but HERALD_NATS_TLS_CERT is set; a client certificate needs its key",
            ));
        }
        (None, Some(_)) => {
            return Err(ConfigError::new(
                TLS_CERT,
                "is unset but HERALD_NATS_TLS_KEY is set; a client key needs its certificate",
            ));
        }
        (Some(cert), Some(key)) => {
            let (cert, key) = (PathBuf::from(cert), PathBuf::from(key));
            let chain = read_certs(TLS_CERT, &cert)?;
            let der = PrivateKeyDer::from_pem_slice(&read_file(TLS_KEY, &key)?).map_err(|e| {
                ConfigError::new(
                    TLS_KEY,
                    format!("{}: holds no PEM private key ({e})", key.display()),
                )
            })?;
            rustls::sign::CertifiedKey::from_der(
                chain,
                der,
                &rustls::crypto::ring::default_provider(),
            )
            .map_err(|e| {
                ConfigError::new(
                    TLS_KEY,
                    format!(
                        "{}: cannot be used with the certificate in {TLS_CERT}: {e}",
                        key.display()
                    ),
                )
            })?;
            Some((cert, key))
        }
    };
    Ok(Tls { ca, client })
}

fn read_certs(var: &str, path: &Path) -> Result<Vec<CertificateDer<'static>>, ConfigError> {
    let bad = |reason: String| ConfigError::new(var, format!("{}: {reason}", path.display()));
    let certs = CertificateDer::pem_slice_iter(&read_file(var, path)?)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad(format!("is not a PEM file of certificates ({e})")))?;
    if certs.is_empty() {
        return Err(bad("holds no PEM certificate".to_owned()));
    }
    Ok(certs)
}

/// The TLS error somewhere in `err`'s sources, if any.
fn rustls_error<'a>(err: &'a (dyn std::error::Error + 'static)) -> Option<&'a rustls::Error> {
    let mut next = Some(err);
    while let Some(err) = next {
        if let Some(tls) = err.downcast_ref::<rustls::Error>() {
            return Some(tls);
        }
        if let Some(tls) = err
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
            .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        {
            return Some(tls);
        }
        next = err.source();
    }
    None
}

/// `err` and its sources, joined.
fn chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut next = err.source();
    while let Some(err) = next {
        let part = err.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        next = err.source();
    }
    text
}

/// The last error NATS or the client reported on a connection, cleared when it
/// connects again: one value, so what `/readyz` says while the connection is down.
#[derive(Clone, Default)]
pub struct LastError(Arc<Mutex<Option<String>>>);

impl LastError {
    pub fn get(&self) -> Option<String> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn set(&self, value: Option<String>) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = value;
    }

    /// Remembers what `event` says (and logs it), for the connection `auth` makes.
    pub fn record(&self, auth: &NatsAuth, event: Event) {
        match event {
            Event::Connected => {
                tracing::info!("connected to NATS");
                self.set(None);
            }
            Event::Disconnected => tracing::warn!("disconnected from NATS; reconnecting"),
            Event::LameDuckMode => tracing::info!("the NATS server is entering lame duck mode"),
            Event::SlowConsumer(sid) => tracing::warn!(sid, "slow NATS consumer"),
            Event::Draining | Event::Closed => {}
            Event::ServerError(_) | Event::ClientError(_) => {
                tracing::warn!(error = %event, "NATS");
                if let Some(reason) = auth.describe(&event) {
                    self.set(Some(reason));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::MapEnv;

    fn auth(vars: &[(&str, &str)]) -> Result<NatsAuth, ConfigError> {
        NatsAuth::from_env(&MapEnv::new(vars.iter().copied()), "nats://127.0.0.1:4222")
    }

    #[test]
    fn one_credential_at_a_time() {
        let err = auth(&[(TOKEN, "t"), (USER, "u"), (PASSWORD, "p")]).unwrap_err();
        assert!(err.to_string().contains(TOKEN), "{err}");
        assert!(err.to_string().contains(USER), "{err}");
        let err = NatsAuth::from_env(
            &MapEnv::new([(TOKEN, "t")]),
            "nats://user:pass@127.0.0.1:4222",
        )
        .unwrap_err();
        assert!(err.to_string().contains(URL), "{err}");
    }

    #[test]
    fn user_and_password_come_together() {
        assert_eq!(auth(&[(USER, "u")]).unwrap_err().var, PASSWORD);
        assert_eq!(auth(&[(PASSWORD, "p")]).unwrap_err().var, USER);
        assert_eq!(auth(&[(TLS_CERT, "c")]).unwrap_err().var, TLS_KEY);
        assert_eq!(auth(&[(TLS_KEY, "k")]).unwrap_err().var, TLS_CERT);
    }

    #[test]
    fn secrets_stay_out_of_debug_output() {
        let with_password = auth(&[(USER, "herald"), (PASSWORD, "hunter2")]).unwrap();
        let with_token = auth(&[(TOKEN, "s3cr3t-token")]).unwrap();
        let shown = format!("{with_password:?} {with_token:?}");
        assert!(shown.contains("herald"), "{shown}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(!shown.contains("s3cr3t-token"), "{shown}");
        let in_url =
            NatsAuth::from_env(&MapEnv::default(), "nats://herald:hunter2@127.0.0.1:4222").unwrap();
        assert!(!format!("{in_url:?}").contains("hunter2"));
        let token_in_url =
            NatsAuth::from_env(&MapEnv::default(), "nats://t0ken-in-url@127.0.0.1:4222").unwrap();
        assert!(!format!("{token_in_url:?}").contains("t0ken-in-url"));
    }

    #[test]
    fn urls_are_shown_without_their_secret() {
        assert_eq!(
            redact_url("nats://herald:hunter2@host:4222"),
            "nats://herald:***@host:4222"
        );
        assert_eq!(redact_url("nats://tok3n@host"), "nats://***@host");
        assert_eq!(redact_url("nats://host:4222"), "nats://host:4222");
        assert_eq!(redact_url("host:4222"), "host:4222");
        assert_eq!(
            strip_credential("nats://herald:hunter2@host:4222"),
            "nats://host:4222"
        );
        assert_eq!(strip_credential("tls://host"), "tls://host");
    }

    #[test]
    fn seed_urls_share_one_credential() {
        let addrs = server_addrs(" nats://a:4222, nats://b:4222 ,nats://c:4222").unwrap();
        assert_eq!(addrs.len(), 3);
        assert_eq!(addrs[1].host(), "b");
        let err = server_addrs("nats://a:4222,nats://b:notaport").unwrap_err();
        assert_eq!(err.var, URL);
        assert_eq!(server_addrs(" , ").unwrap_err().var, URL);

        let both = "nats://herald:hunter2@a:4222,nats://herald:hunter2@b:4222";
        let auth = NatsAuth::from_env(&MapEnv::default(), both).unwrap();
        assert!(
            matches!(auth.credential, Credential::UrlUserPassword { ref user, .. } if user == "herald")
        );
        let stripped = server_addrs(both).unwrap();
        assert!(stripped.iter().all(|a| a.username().is_none()));
        assert_eq!(
            redact_url(both),
            "nats://herald:***@a:4222,nats://herald:***@b:4222"
        );
        for disagreeing in [
            "nats://herald:hunter2@a:4222,nats://herald:other@b:4222",
            "nats://herald:hunter2@a:4222,nats://b:4222",
            "nats://t0ken@a:4222,nats://herald:hunter2@b:4222",
        ] {
            let err = NatsAuth::from_env(&MapEnv::default(), disagreeing).unwrap_err();
            assert_eq!(err.var, URL, "{disagreeing}");
            assert!(!err.to_string().contains("hunter2"), "{err}");
        }
        let err =
            server_addrs("nats://herald:hunter2@a:4222,nats://herald:hunter2@b:x").unwrap_err();
        assert!(!err.to_string().contains("hunter2"), "{err}");
    }

    #[test]
    fn files_must_exist_and_parse() {
        let dir = std::env::temp_dir().join(format!("herald-nats-auth-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let missing = dir.join("missing");
        let missing = missing.to_str().unwrap();
        for var in [CREDS, NKEY_SEED, TLS_CA] {
            let err = auth(&[(var, missing)]).unwrap_err();
            assert_eq!(err.var, var);
            assert!(err.reason.contains("cannot read"), "{err}");
        }
        let account = nkeys::KeyPair::new_account().seed().unwrap();
        let seed_file = dir.join("account.nk");
        std::fs::write(&seed_file, &account).unwrap();
        let err = auth(&[(NKEY_SEED, seed_file.to_str().unwrap())]).unwrap_err();
        assert!(err.reason.contains("not of a user"), "{err}");
        assert!(!err.reason.contains(&account), "the seed is not shown");

        let user = nkeys::KeyPair::new_user().seed().unwrap();
        let creds = dir.join("no-jwt.creds");
        std::fs::write(
            &creds,
            format!("-----BEGIN USER NKEY SEED-----\n{user}\n------END USER NKEY SEED------\n"),
        )
        .unwrap();
        let err = auth(&[(CREDS, creds.to_str().unwrap())]).unwrap_err();
        assert!(err.reason.contains("no user JWT"), "{err}");

        let not_pem = dir.join("ca.pem");
        std::fs::write(&not_pem, "not a certificate").unwrap();
        let err = auth(&[(TLS_CA, not_pem.to_str().unwrap())]).unwrap_err();
        assert!(err.reason.contains("no PEM certificate"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
