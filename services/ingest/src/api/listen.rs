//! `/v1/listen/sessions`: listening sessions, through which `herald listen`
//! receives a tenant's deliveries on a developer's machine (see `docs/listen.md`).
//!
//! A session is an endpoint in the registry, id `ls_...`, with no URL: fan-out,
//! lanes, retries and the delivery log treat it as any webhook. The dispatcher
//! sends each of its attempts over core NATS to `herald.listen.<tenant>.<id>`;
//! `GET .../requests` relays them to the CLI as Server-Sent Events, each with a
//! sealed token naming the waiting attempt, and `POST .../results` sends the
//! CLI's answer back to it. Herald never dials the developer's machine.
//!
//! A session lives while a stream of it is open (each stream pushes its
//! `expires_at` forward every third of its TTL) and for one TTL after; readers
//! treat an expired session as gone, and every replica sweeps the expired ones
//! out once a minute.

use std::time::Duration;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use herald_common::registry::Write;
use herald_model::listen::{
    CreateSession, CreatedSession, ForwardedRequest, ListenResult, Session,
};
use herald_model::webhooks::{EventPatternText, RetryDelay};
use herald_model::{ErrorBody, SessionId};
use herald_proto::listen::{ListenReply, ListenRequest};
use herald_proto::names::{consumer, subject};
use herald_proto::{Endpoint, EndpointStatus, Listening, PayloadFormat};
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use super::json::AppJson;
use super::live::relay::{self, Frame, Relay, Step};
use super::{ApiError, AppState, Tenant, duration};

/// The shortest TTL a session may ask for.
const MIN_TTL: Duration = Duration::from_secs(5);
/// How often each replica removes the sessions whose time ran out (or every
/// `HERALD_LISTEN_TTL`, when that is shorter).
pub const SWEEP_INTERVAL: Duration = Duration::from_secs(60);
/// The longest token a result may hand back; sealed tokens are far shorter.
const MAX_TOKEN_LEN: usize = 4096;
/// The longest `error` a result may carry.
const MAX_ERROR_LEN: usize = 200;

/// Opens a listening session for the key's tenant: the tenant's deliveries of
/// the events it names go to whoever follows `GET .../requests`. Its secret
/// signs them as a webhook's would.
#[utoipa::path(
    post, path = "/v1/listen/sessions", operation_id = "create_listen_session", tag = "listen",
    request_body = CreateSession,
    responses(
        (status = 201, description = "Made; the secret is shown this once", body = CreatedSession),
        (status = 400, description = "The body is not JSON", body = ErrorBody),
        (status = 413, description = "The body is too large", body = ErrorBody),
        (status = 415, description = "The body is not sent as JSON", body = ErrorBody),
        (status = 422, description = "A field is invalid (`validation`), or the tenant has as many sessions as it may (`limit_exceeded`)", body = ErrorBody),
    )
)]
pub async fn create(
    State(state): State<AppState>,
    Tenant(tenant): Tenant,
    AppJson(input): AppJson<CreateSession>,
) -> Result<(StatusCode, Json<CreatedSession>), ApiError> {
    let CreateSession {
        events,
        secret,
        ttl,
    } = input;
    let config = state.config();
    let events = events.unwrap_or_else(|| vec![EventPatternText(">".into())]);
    let events = super::webhooks::check_events(&events, config.catalogue.as_deref())?;
    let secret = match secret {
        Some(secret) => super::webhooks::check_secret(&secret)?,
        None => crate::intake::target::generate_secret(),
    };
    let ttl = match ttl {
        None => config.listen.ttl,
        Some(RetryDelay(ttl)) => duration::parse_within(&ttl, MIN_TTL, config.listen.max_ttl)
            .ok_or_else(|| {
                ApiError::Unprocessable(format!(
                    "ttl must be a duration between {} and {}, such as 60s or 5m",
                    duration::format(MIN_TTL),
                    duration::format(config.listen.max_ttl)
                ))
            })?,
    };
    let now = herald_proto::now_ms();
    let session = Endpoint {
        id: format!(
            "{}{}",
            herald_proto::endpoint::SESSION_ID_PREFIX,
            ulid::Ulid::new().to_string().to_ascii_lowercase()
        ),
        tenant,
        url: String::new(),
        events,
        secret,
        headers: Default::default(),
        description: String::new(),
        status: EndpointStatus::Active,
        created_at_ms: now,
        updated_at_ms: now,
        disabled_reason: None,
        timeout: None,
        rate_limit_per_sec: None,
        payload_format: PayloadFormat::Envelope,
        retry_schedule: Vec::new(),
        retiring_secrets: Vec::new(),
        listen: Some(Listening {
            expires_at_ms: now.saturating_add(millis(ttl)),
            ttl,
        }),
    };
    // One create of a tenant at a time on this replica, so two cannot both pass
    // the cap.
    let _turn = state.limits().create_turn(&session.tenant).await?;
    let max = config.listen.per_tenant;
    let open = state
        .registry()
        .sessions_of(&session.tenant)
        .iter()
        .filter(|s| !s.is_expired(now))
        .count();
    if open >= max {
        return Err(ApiError::LimitExceeded(format!(
            "a tenant may have at most {max} listening sessions (HERALD_LISTEN_MAX_PER_TENANT); \
             end one first"
        )));
    }
    state
        .registry()
        .create(&session)
        .await
        .map_err(ApiError::internal)?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedSession {
            session: view(&session),
            secret: session.secret.clone(),
        }),
    ))
}

/// One listening session (without its secret).
#[utoipa::path(
    get, path = "/v1/listen/sessions/{session_id}", operation_id = "get_listen_session", tag = "listen",
    params(("session_id" = SessionId, Path, description = "The session's id")),
    responses(
        (status = 200, description = "The session", body = Session),
        (status = 404, description = "No such session of this tenant, or it has expired", body = ErrorBody),
    )
)]
pub async fn get(
    State(state): State<AppState>,
    Tenant(tenant): Tenant,
    Path(id): Path<SessionId>,
) -> Result<Json<Session>, ApiError> {
    Ok(Json(view(&find(&state, &tenant, id.as_str()).await?)))
}

/// Ends a listening session; retries held for it are dropped.
#[utoipa::path(
    delete, path = "/v1/listen/sessions/{session_id}", operation_id = "delete_listen_session", tag = "listen",
    params(("session_id" = SessionId, Path, description = "The session's id")),
    responses(
        (status = 204, description = "Removed"),
        (status = 404, description = "No such session of this tenant, or it has expired", body = ErrorBody),
    )
)]
pub async fn delete(
    State(state): State<AppState>,
    Tenant(tenant): Tenant,
    Path(id): Path<SessionId>,
) -> Result<StatusCode, ApiError> {
    let id = id.as_str();
    find(&state, &tenant, id).await?;
    super::webhooks::remove(&state, &tenant, id)
        .await
        .map_err(ApiError::internal)?;
    Ok(StatusCode::NO_CONTENT)
}

/// Follows the requests the session receives, as Server-Sent Events: one
/// `event: request` frame per attempt, whose `data` is a ForwardedRequest. Of
/// several streams of one session, one gets each request. While the stream is
/// open the session does not expire.
#[utoipa::path(
    get, path = "/v1/listen/sessions/{session_id}/requests", operation_id = "follow_listen_session", tag = "listen",
    params(("session_id" = SessionId, Path, description = "The session's id")),
    responses(
        (status = 200, description = "A stream of `event: request` frames whose `data` is a ForwardedRequest", content_type = "text/event-stream", body = ForwardedRequest),
        (status = 404, description = "No such session of this tenant, or it has expired", body = ErrorBody),
        (status = 429, description = "The tenant has as many streams open as it may (`limit_exceeded`)", body = ErrorBody),
    )
)]
pub async fn requests(
    State(state): State<AppState>,
    Tenant(tenant): Tenant,
    Path(id): Path<SessionId>,
) -> Result<Response, ApiError> {
    let id = id.into_inner();
    let session = find(&state, &tenant, &id).await?;
    let slot = state.limits().open_stream(&tenant)?;
    let requests = state
        .client()
        .queue_subscribe(
            subject::listen(&tenant, &id),
            consumer::LISTEN_QUEUE.to_owned(),
        )
        .await
        .map_err(ApiError::internal)?;
    // Once the stream's answer starts, the broker knows the subscription: a
    // client that sees it may count on getting what is sent from then on.
    state.client().flush().await.map_err(ApiError::internal)?;
    // The stream ends when the service drains, or when the session is gone.
    let ended = state.shutdown().child_token();
    let ttl = session.listen.map_or(state.config().listen.ttl, |l| l.ttl);
    let keeping = tokio::spawn(keep_alive(
        state.clone(),
        tenant.clone(),
        id.clone(),
        ttl,
        ended.clone(),
    ));
    let cipher = state.config().cipher.clone();
    let relay = Relay::start(requests, &state.config().limits, move |message| {
        let Some(reply) = message.reply.as_deref() else {
            return Step::Skip;
        };
        let Ok(request) = herald_proto::query::decode::<ListenRequest>(&message.payload) else {
            return Step::Skip;
        };
        let Ok(body) = String::from_utf8(request.body.to_vec()) else {
            return Step::Skip;
        };
        let token = Token {
            tenant: tenant.clone(),
            session: id.clone(),
            reply: reply.to_owned(),
        };
        let Ok(token) = serde_json::to_string(&token) else {
            return Step::Skip;
        };
        let forwarded = ForwardedRequest {
            token: cipher.seal(&token),
            method: "POST".into(),
            headers: request.headers.into_iter().collect(),
            body,
        };
        let Ok(text) = serde_json::to_string(&forwarded) else {
            return Step::Skip;
        };
        Step::Send(Frame::new("request", None, &text))
    });
    Ok(relay::respond_holding(
        None,
        Some(relay),
        slot,
        ended,
        AbortOnDrop(keeping),
    ))
}

/// Hands back what the local receiver answered to one forwarded request; the
/// attempt waiting for it is recorded with it.
#[utoipa::path(
    post, path = "/v1/listen/sessions/{session_id}/results", operation_id = "report_listen_result", tag = "listen",
    request_body = ListenResult,
    params(("session_id" = SessionId, Path, description = "The session's id")),
    responses(
        (status = 204, description = "Handed to the waiting attempt (if it still waits)"),
        (status = 400, description = "The body is not JSON", body = ErrorBody),
        (status = 404, description = "No such session of this tenant, or the token is not one of its requests'", body = ErrorBody),
        (status = 413, description = "The body is too large", body = ErrorBody),
        (status = 415, description = "The body is not sent as JSON", body = ErrorBody),
        (status = 422, description = "A field is invalid", body = ErrorBody),
    )
)]
pub async fn results(
    State(state): State<AppState>,
    Tenant(tenant): Tenant,
    Path(id): Path<SessionId>,
    AppJson(result): AppJson<ListenResult>,
) -> Result<StatusCode, ApiError> {
    let not_ours = || ApiError::NotFound("no such request of this session".into());
    if result.token.len() > MAX_TOKEN_LEN {
        return Err(not_ours());
    }
    if result.status.is_some_and(|s| !(100..600).contains(&s)) {
        return Err(ApiError::Unprocessable(
            "status must be an HTTP status, 100 to 599".into(),
        ));
    }
    if result
        .error
        .as_ref()
        .is_some_and(|e| e.len() > MAX_ERROR_LEN)
    {
        return Err(ApiError::Unprocessable(format!(
            "error may be at most {MAX_ERROR_LEN} bytes"
        )));
    }
    let token = state
        .config()
        .cipher
        .open(&result.token)
        .ok()
        .and_then(|t| serde_json::from_str::<Token>(&t).ok())
        .ok_or_else(not_ours)?;
    let dispatcher_replies = format!("{}.", subject::inbox_prefix(consumer::client::DISPATCHER));
    if token.tenant != tenant
        || token.session != id.as_str()
        || !token.reply.starts_with(&dispatcher_replies)
    {
        return Err(not_ours());
    }
    let body = result.body.unwrap_or_default();
    let excerpt = herald_proto::cut(&body, herald_proto::listen::EXCERPT_BYTES).to_owned();
    let reply = ListenReply {
        status: result.status.map_or(0, u32::from),
        duration_ms: result.duration_ms,
        excerpt,
        error: result.error.unwrap_or_default(),
    };
    state
        .client()
        .publish(token.reply, herald_proto::query::encode(&reply))
        .await
        .map_err(ApiError::internal)?;
    Ok(StatusCode::NO_CONTENT)
}

/// What a request's token names, sealed with `HERALD_SECRET_KEY` so a client can
/// neither forge one nor point one elsewhere.
#[derive(Serialize, Deserialize)]
struct Token {
    #[serde(rename = "t")]
    tenant: String,
    #[serde(rename = "s")]
    session: String,
    /// The reply subject of the dispatcher's request.
    #[serde(rename = "r")]
    reply: String,
}

/// The tenant's live session `id`; another tenant's, a webhook, or an expired
/// session is as good as missing.
async fn find(state: &AppState, tenant: &str, id: &str) -> Result<Endpoint, ApiError> {
    state
        .registry()
        .get(tenant, id)
        .await
        .map_err(ApiError::internal)?
        .filter(|s| s.is_session() && !s.is_expired(herald_proto::now_ms()))
        .ok_or_else(|| ApiError::NotFound(format!("no listening session `{id}`")))
}

/// Pushes the session's `expires_at` one TTL ahead now and every third of its TTL
/// until `ended`; ends the stream (cancels `ended`) when the session is gone.
async fn keep_alive(
    state: AppState,
    tenant: String,
    id: String,
    ttl: Duration,
    ended: CancellationToken,
) {
    loop {
        let pushed = state
            .registry()
            .update(&tenant, &id, |session| {
                let Some(listening) = session.listen.as_mut() else {
                    return Ok::<_, herald_common::registry::RegistryError>(Write::Keep);
                };
                listening.expires_at_ms = herald_proto::now_ms().saturating_add(millis(ttl));
                Ok(Write::Save)
            })
            .await;
        match pushed {
            Ok(Some(_)) => {}
            Ok(None) => {
                ended.cancel();
                return;
            }
            // Tried again at the next turn, well within the TTL.
            Err(err) => {
                tracing::warn!(error = %err, session = %id, "cannot keep a listening session alive")
            }
        }
        tokio::select! {
            () = ended.cancelled() => return,
            () = tokio::time::sleep(ttl / 3) => {}
        }
    }
}

/// Stops the keep-alive task when the stream that started it ends.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Removes the sessions whose time ran out, every [`SWEEP_INTERVAL`] (or
/// `HERALD_LISTEN_TTL`, when shorter) until `shutdown`. Every replica sweeps;
/// removing a session twice does no harm.
pub async fn sweep(state: AppState, shutdown: CancellationToken) {
    let every = SWEEP_INTERVAL.min(state.config().listen.ttl);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(every) => {}
        }
        let now = herald_proto::now_ms();
        for session in state.registry().sessions() {
            if !session.is_expired(now) {
                continue;
            }
            // Read again: a stream may have kept it alive since the mirror saw it.
            match state.registry().get(&session.tenant, &session.id).await {
                Ok(Some(current)) if current.is_expired(herald_proto::now_ms()) => {}
                Ok(_) => continue,
                Err(err) => {
                    tracing::warn!(error = %err, "cannot read a listening session to sweep");
                    continue;
                }
            }
            if let Err(err) = super::webhooks::remove(&state, &session.tenant, &session.id).await {
                tracing::warn!(error = %err, session = %session.id, "cannot remove an expired listening session");
            }
        }
    }
}

/// The public view of a session.
fn view(session: &Endpoint) -> Session {
    Session {
        session_id: SessionId::from_record(session.id.clone()),
        events: session
            .events
            .iter()
            .map(|p| p.as_str().to_owned())
            .collect(),
        created_at: herald_proto::rfc3339(session.created_at_ms),
        expires_at: herald_proto::rfc3339(session.listen.map_or(0, |l| l.expires_at_ms)),
    }
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}
