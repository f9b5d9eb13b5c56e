//! `/v1/portal/sessions` and `/portal/api/session`: links that sign a platform's
//! customer into their tenant's portal, and what the portal learns of its session.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::webhooks::RetryDelay;

/// The body of `POST /v1/portal/sessions`; every field may be left out.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"ttl": "1h", "read_only": false}))]
pub struct CreatePortalSession {
    /// How long the session the link opens lasts (`15m`, `1h`); `1h` when left
    /// out, at most the server's `HERALD_PORTAL_MAX_TTL`. The link itself signs
    /// in within ten minutes, or `ttl` if shorter.
    pub ttl: Option<RetryDelay>,
    /// A session that may look but change nothing.
    pub read_only: Option<bool>,
}

/// A link to hand to the tenant's customer: opening it signs them into the portal.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PortalLink {
    /// The portal's address with the sign-in token; keep it as secret as a
    /// password. It signs in within ten minutes of being made (or `ttl`, if
    /// shorter).
    pub url: String,
    /// RFC 3339: when the session opened with the link ends.
    pub expires_at: String,
}

/// How the platform brands the portal (`HERALD_PORTAL_NAME`, `_COLOR`, `_LOGO`).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PortalTheme {
    pub name: String,
    /// `#rrggbb`.
    pub color: String,
    /// Where the logo is served; `null` without one.
    pub logo_url: Option<String>,
}

/// `GET /portal/api/session`: the signed-in portal session.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PortalSessionInfo {
    pub tenant: String,
    pub read_only: bool,
    /// RFC 3339.
    pub expires_at: String,
    /// Sent back as `X-CSRF-Token` with every request that changes something.
    pub csrf_token: String,
    pub theme: PortalTheme,
}
