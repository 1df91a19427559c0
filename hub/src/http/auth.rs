//! Login and token refresh: staff PIN at a venue, or username and password. Failed attempts
//! are throttled per venue and client address; secrets are verified off the async threads.

use std::net::SocketAddr;

use axum::{
    Json,
    extract::{ConnectInfo, State},
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{
    error::ApiError,
    extract::{ApiJson, Caller},
};
use crate::{
    app::AppState,
    auth::{AuthError, Identity, TokenKind},
    domain::{Role, StaffId, VenueId},
    engine::VenueHandle,
};

/// Either `{venue, pin}` or `{username, password}` (optionally with `venue`).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    /// Venue slug, e.g. `demo`. Required with a PIN; with a password it narrows the search.
    pub venue: Option<String>,
    /// 4-8 digits.
    #[schema(pattern = "^[0-9]{4,8}$")]
    pub pin: Option<String>,
    /// Matched case-insensitively.
    pub username: Option<String>,
    pub password: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    pub refresh_token: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct StaffSummary {
    pub id: StaffId,
    pub name: String,
    pub role: Role,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct VenueSummary {
    pub id: VenueId,
    pub slug: String,
    pub name: String,
    pub timezone: String,
    pub currency: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TokenResponse {
    pub access_token: String,
    pub refresh_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    pub role: Role,
    /// Seconds until the access token expires.
    pub expires_in: i64,
    pub refresh_expires_in: i64,
    pub staff: StaffSummary,
    pub venue: VenueSummary,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MeResponse {
    pub staff: StaffSummary,
    pub venue: VenueSummary,
    /// What this role may do.
    pub permissions: Vec<String>,
}

/// What login needs to know about a staff member, read from the venue state.
#[derive(Clone)]
struct Candidate {
    identity: Identity,
    secret_hash: Option<String>,
    venue: VenueSummary,
}

pub(super) fn venue_summary(venue: &crate::domain::Venue) -> Option<VenueSummary> {
    venue.info.as_ref().map(|info| VenueSummary {
        id: info.id,
        slug: info.slug.clone(),
        name: info.name.clone(),
        timezone: info.timezone.clone(),
        currency: info.currency.clone(),
    })
}

fn candidate(
    venue: &crate::domain::Venue,
    staff: &crate::domain::Staff,
    pin: bool,
) -> Option<Candidate> {
    let summary = venue_summary(venue)?;
    let info = venue.info.as_ref()?;
    Some(Candidate {
        identity: Identity {
            staff_id: staff.id,
            venue_id: info.id,
            tenant_id: info.tenant_id,
            role: staff.role,
            name: staff.name.clone(),
        },
        secret_hash: if pin {
            staff.pin_hash.clone()
        } else {
            staff.password_hash.clone()
        },
        venue: summary,
    })
    .filter(|_| staff.active)
}

#[utoipa::path(
    post, path = "/api/v1/auth/login", tag = "auth",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "Logged in", body = TokenResponse),
        (status = 401, description = "Wrong PIN, username or password (`invalid_credentials`)", body = super::error::ErrorBody),
        (status = 404, description = "Unknown venue (`venue_not_found`)", body = super::error::ErrorBody),
        (status = 422, description = "`invalid_login_request`: neither `{venue, pin}` nor `{username, password}`, or both; `missing_venue`; `invalid_pin`: not 4-8 digits", body = super::error::ErrorBody),
        (status = 429, description = "`too_many_attempts`: throttled; see `Retry-After`", body = super::error::ErrorBody,
            headers(("retry-after" = u64, description = "Seconds until the next attempt is allowed"))),
        (status = 503, description = "`unavailable`: the hub is stopping", body = super::error::ErrorBody),
    )
)]
pub async fn login(
    State(state): State<AppState>,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    ApiJson(request): ApiJson<LoginRequest>,
) -> Result<Json<TokenResponse>, ApiError> {
    let now = std::time::Instant::now();
    let (secret, venues, throttle_key, lookup): (String, Vec<VenueHandle>, String, Lookup) =
        match (&request.pin, &request.username, &request.password) {
            (Some(pin), None, None) => {
                let slug = request.venue.as_deref().ok_or_else(|| {
                    ApiError::invalid_field("missing_venue", "venue", "a PIN login names its venue")
                })?;
                let venue = state.engine.venue_by_slug(slug).ok_or_else(|| {
                    ApiError::Rejected(crate::domain::Rejection::not_found(
                        "venue_not_found",
                        format!("venue {slug:?}"),
                    ))
                })?;
                crate::auth::validate_pin(pin)?;
                let key = crate::auth::pin_lookup(&state.pin_key, venue.id(), pin);
                (
                    pin.clone(),
                    vec![venue.clone()],
                    format!("pin:{}:{}", venue.id(), client.ip()),
                    Lookup::Pin(key),
                )
            }
            (None, Some(username), Some(password)) => {
                let venues = match &request.venue {
                    Some(slug) => vec![state.engine.venue_by_slug(slug).ok_or_else(|| {
                        ApiError::Rejected(crate::domain::Rejection::not_found(
                            "venue_not_found",
                            format!("venue {slug:?}"),
                        ))
                    })?],
                    None => state.engine.venues(),
                };
                (
                    password.clone(),
                    venues,
                    format!("user:{}:{}", username.to_lowercase(), client.ip()),
                    Lookup::Username(username.clone()),
                )
            }
            _ => {
                return Err(ApiError::invalid_field(
                    "invalid_login_request",
                    "pin",
                    "send {venue, pin} or {username, password}",
                ));
            }
        };
    state
        .throttle
        .check(&throttle_key, now)
        .map_err(|retry_after| AuthError::Throttled { retry_after })?;

    let mut found = None;
    for venue in venues {
        let lookup = lookup.clone();
        let candidate = venue
            .read(move |v| {
                let staff = match &lookup {
                    Lookup::Pin(key) => v.staff_by_pin_lookup(key),
                    Lookup::Username(name) => v.staff_by_username(name),
                };
                staff.and_then(|s| candidate(v, s, matches!(lookup, Lookup::Pin(_))))
            })
            .await?;
        if candidate.is_some() {
            found = candidate;
            break;
        }
    }
    let verified = match found {
        Some(candidate) => {
            let hash = candidate.secret_hash.clone();
            let ok = tokio::task::spawn_blocking(move || {
                hash.is_some_and(|hash| crate::auth::verify_secret(&secret, &hash))
            })
            .await
            .unwrap_or(false);
            ok.then_some(candidate)
        }
        None => None,
    };
    let Some(candidate) = verified else {
        state.throttle.record_failure(&throttle_key, now);
        tracing::info!(key = %throttle_key, "failed login");
        return Err(AuthError::InvalidCredentials.into());
    };
    state.throttle.record_success(&throttle_key);
    tokens(&state, candidate).map(Json)
}

#[derive(Clone)]
enum Lookup {
    Pin(String),
    Username(String),
}

fn tokens(state: &AppState, candidate: Candidate) -> Result<TokenResponse, ApiError> {
    tokens_for(state, candidate.identity, candidate.venue)
}

/// Issues an access and refresh token pair for an identity.
pub(super) fn tokens_for(
    state: &AppState,
    identity: Identity,
    venue: VenueSummary,
) -> Result<TokenResponse, ApiError> {
    let candidate = Candidate {
        identity,
        secret_hash: None,
        venue,
    };
    let now = chrono::Utc::now();
    let lifetimes = state.tokens.lifetimes();
    Ok(TokenResponse {
        access_token: state
            .tokens
            .issue(&candidate.identity, TokenKind::Access, now)?,
        refresh_token: state
            .tokens
            .issue(&candidate.identity, TokenKind::Refresh, now)?,
        token_type: "Bearer".into(),
        role: candidate.identity.role,
        expires_in: lifetimes.access.num_seconds(),
        refresh_expires_in: lifetimes.refresh.num_seconds(),
        staff: StaffSummary {
            id: candidate.identity.staff_id,
            name: candidate.identity.name,
            role: candidate.identity.role,
        },
        venue: candidate.venue,
    })
}

#[utoipa::path(
    post, path = "/api/v1/auth/refresh", tag = "auth",
    request_body = RefreshRequest,
    responses(
        (status = 200, description = "New token pair; the role is read afresh", body = TokenResponse),
        (status = 401, description = "`token_expired`, `invalid_token`, `wrong_token_kind` (an access token), `invalid_credentials` (the staff member was deactivated or is unknown)", body = super::error::ErrorBody),
        (status = 503, description = "`unavailable`: the hub is stopping", body = super::error::ErrorBody),
    )
)]
pub async fn refresh(
    State(state): State<AppState>,
    ApiJson(request): ApiJson<RefreshRequest>,
) -> Result<Json<TokenResponse>, ApiError> {
    let claims = state.tokens.verify(
        &request.refresh_token,
        TokenKind::Refresh,
        chrono::Utc::now(),
    )?;
    let venue = state
        .engine
        .venue(claims.venue)
        .ok_or(AuthError::InvalidToken)?;
    let staff_id = claims.sub;
    let candidate = venue
        .read(move |v| v.staff.get(&staff_id).and_then(|s| candidate(v, s, true)))
        .await?
        .ok_or(AuthError::InvalidCredentials)?;
    tokens(&state, candidate).map(Json)
}

#[utoipa::path(
    get, path = "/api/v1/me", tag = "auth", security(("bearer" = [])),
    responses((status = 200, description = "Who the token belongs to and what it may do", body = MeResponse))
)]
pub async fn me(caller: Caller) -> Result<Json<MeResponse>, ApiError> {
    let staff_id = caller.claims.sub;
    let role = caller.claims.role;
    let (staff, venue) = caller
        .venue
        .read(move |v| {
            (
                v.staff.get(&staff_id).map(|s| StaffSummary {
                    id: s.id,
                    name: s.name.clone(),
                    role,
                }),
                venue_summary(v),
            )
        })
        .await?;
    Ok(Json(MeResponse {
        staff: staff.ok_or(ApiError::NotFound("staff member"))?,
        venue: venue.ok_or(ApiError::NotFound("venue"))?,
        permissions: crate::auth::permissions(role)
            .into_iter()
            .map(|p| {
                serde_json::to_value(p)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_else(|| format!("{p:?}"))
            })
            .collect(),
    }))
}

#[utoipa::path(
    get, path = "/api/v1/venue", tag = "auth", security(("bearer" = [])),
    responses((status = 200, description = "The caller's venue", body = VenueSummary))
)]
pub async fn venue(caller: Caller) -> Result<Json<VenueSummary>, ApiError> {
    caller
        .venue
        .read(venue_summary)
        .await?
        .map(Json)
        .ok_or(ApiError::NotFound("venue"))
}
