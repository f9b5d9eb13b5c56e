//! A delivery target as a client gives it — a webhook's or a job callback's URL,
//! own headers and signing secret — checked the same way for both.

use std::collections::{BTreeMap, BTreeSet};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use http::{HeaderName, HeaderValue};
use rand::RngCore;

use super::{Invalid, shown};
use crate::config::Config;

/// Bounds of a webhook's (or a job callback's) own headers: they go out with every
/// delivery, and receivers' servers commonly refuse more than 8 KiB of headers.
pub const MAX_HEADERS: usize = 20;
pub const MAX_HEADER_NAME: usize = 256;
pub const MAX_HEADER_VALUE: usize = 4096;
/// Names and values together, in bytes.
pub const MAX_HEADERS_TOTAL: usize = 8192;
pub const MAX_URL_LEN: usize = 2048;

/// Headers Herald sets itself; a webhook may not override them.
use herald_proto::names::header::http::RESERVED as RESERVED_HEADERS;

/// A webhook's or callback's URL: http(s) (https only with `HERALD_REQUIRE_HTTPS`),
/// with a host, on a port `HERALD_ALLOWED_PORTS` allows.
pub fn check_url(value: &str, config: &Config) -> Result<String, Invalid> {
    let invalid = |detail: &str| Invalid::new(format!("url {detail}"));
    if value.len() > MAX_URL_LEN {
        return Err(invalid("must be at most 2048 characters"));
    }
    // As the API documents it: `http://` or `https://` as written, and nothing the
    // URL parser would quietly trim or encode (white space, control characters).
    if !(value.starts_with("http://") || value.starts_with("https://")) {
        return Err(invalid("must start with http:// or https://"));
    }
    if value
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || c == '\u{feff}')
    {
        return Err(invalid("must not hold white space or control characters"));
    }
    let url = url::Url::parse(value).map_err(|e| invalid(&format!("is not a valid URL: {e}")))?;
    match url.scheme() {
        "https" => {}
        "http" if !config.require_https => {}
        "http" => return Err(invalid("must use https")),
        _ => return Err(invalid("must be an http or https URL")),
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(invalid("must name a host"));
    }
    if let (Some(allowed), Some(port)) = (&config.allowed_ports, url.port_or_known_default())
        && !allowed.contains(&port)
    {
        let allowed: Vec<String> = allowed.iter().map(u16::to_string).collect();
        return Err(invalid(&format!(
            "uses port {port}; the ports allowed are {}",
            allowed.join(", ")
        )));
    }
    Ok(url.to_string())
}

/// A webhook's or a job callback's own headers: at most [`MAX_HEADERS`] of them,
/// names of at most [`MAX_HEADER_NAME`] bytes, values of at most
/// [`MAX_HEADER_VALUE`], [`MAX_HEADERS_TOTAL`] bytes in all; valid, not one of
/// Herald's own, and no name twice (names are case-insensitive).
pub fn check_headers(
    headers: BTreeMap<String, String>,
) -> Result<BTreeMap<String, String>, Invalid> {
    if headers.len() > MAX_HEADERS {
        return Err(Invalid::new(format!(
            "headers may hold at most {MAX_HEADERS} entries"
        )));
    }
    let mut seen = BTreeSet::new();
    let mut total = 0;
    for (name, value) in &headers {
        if name.len() > MAX_HEADER_NAME {
            return Err(Invalid::new(format!(
                "headers: the name `{}` is longer than {MAX_HEADER_NAME} bytes",
                shown(name)
            )));
        }
        let parsed = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| Invalid::new(format!("headers: `{name}` is not a valid header name")))?;
        if RESERVED_HEADERS.contains(&parsed.as_str()) {
            return Err(Invalid::new(format!(
                "headers: `{name}` is set by Herald and cannot be overridden"
            )));
        }
        if !seen.insert(parsed.as_str().to_owned()) {
            return Err(Invalid::new(format!(
                "headers: `{name}` is given twice (header names ignore case)"
            )));
        }
        if value.len() > MAX_HEADER_VALUE {
            return Err(Invalid::new(format!(
                "headers: the value of `{name}` is longer than {MAX_HEADER_VALUE} bytes"
            )));
        }
        if value.contains(['\r', '\n']) || HeaderValue::from_str(value).is_err() {
            return Err(Invalid::new(format!(
                "headers: the value of `{name}` is not a valid header value"
            )));
        }
        total += name.len() + value.len();
    }
    if total > MAX_HEADERS_TOTAL {
        return Err(Invalid::new(format!(
            "headers: names and values may take at most {MAX_HEADERS_TOTAL} bytes in all, not {total}"
        )));
    }
    Ok(headers)
}

/// `whsec_` + base64 of 32 random bytes.
pub fn generate_secret() -> String {
    let mut key = [0u8; 32];
    rand::rng().fill_bytes(&mut key);
    format!("whsec_{}", STANDARD.encode(key))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_cannot_smuggle_or_override() {
        let bad = [
            ("X-Ok", "a\r\nInjected: 1"),
            ("Bad Name", "v"),
            ("Webhook-Signature", "v1,forged"),
            ("content-type", "text/plain"),
        ];
        for (name, value) in bad {
            let headers = BTreeMap::from([(name.to_owned(), value.to_owned())]);
            assert!(check_headers(headers).is_err(), "{name}");
        }
        let good = BTreeMap::from([("Authorization".to_owned(), "Bearer abc".to_owned())]);
        assert!(check_headers(good).is_ok());
    }

    #[test]
    fn headers_are_bounded() {
        let one = |name: String, value: String| BTreeMap::from([(name, value)]);
        assert!(check_headers(one("X-A".into(), "v".repeat(MAX_HEADER_VALUE))).is_ok());
        assert!(check_headers(one("X-A".into(), "v".repeat(MAX_HEADER_VALUE + 1))).is_err());
        assert!(check_headers(one("x".repeat(MAX_HEADER_NAME), "v".into())).is_ok());
        assert!(check_headers(one("x".repeat(MAX_HEADER_NAME + 1), "v".into())).is_err());
        let many = |count: usize, size: usize| -> BTreeMap<String, String> {
            (0..count)
                .map(|i| (format!("X-{i:02}"), "v".repeat(size - 4)))
                .collect()
        };
        assert!(check_headers(many(2, MAX_HEADERS_TOTAL / 2)).is_ok());
        let err = check_headers(many(3, MAX_HEADERS_TOTAL / 2)).unwrap_err();
        assert!(err.to_string().contains("8192 bytes in all"), "{err}");
        let twice = BTreeMap::from([
            ("X-Same".to_owned(), "a".to_owned()),
            ("x-same".to_owned(), "b".to_owned()),
        ]);
        assert!(check_headers(twice).is_err());
    }

    #[test]
    fn urls_must_be_http_or_https() {
        let any = Config::test_with(&[]);
        let https = Config::test_with(&[("HERALD_REQUIRE_HTTPS", "true")]);
        assert!(check_url("https://example.com/hook", &https).is_ok());
        assert!(check_url("http://example.com/hook", &any).is_ok());
        assert!(check_url("http://example.com/hook", &https).is_err());
        assert!(check_url("ftp://example.com/", &any).is_err());
        assert!(check_url("not a url", &any).is_err());
    }

    #[test]
    fn urls_must_use_an_allowed_port() {
        let web = Config::test_with(&[("HERALD_ALLOWED_PORTS", "80,443")]);
        assert!(check_url("https://example.com/hook", &web).is_ok());
        assert!(check_url("http://example.com:80/hook", &web).is_ok());
        let detail = check_url("https://example.com:8443/", &web)
            .expect_err("port 8443 accepted")
            .detail;
        assert_eq!(detail, "url uses port 8443; the ports allowed are 80, 443");
        let any = Config::test_with(&[]);
        assert!(check_url("https://example.com:8443/", &any).is_ok());
    }
}
