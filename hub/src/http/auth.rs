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
    auth::{AuthError, Identity, TokenKind},
    domain::{Role, StaffId, Standing, TenantId, VenueId},
    engine::VenueHandle,
    state::AppState,
};

/// Either `{venue, pin}` or `{username, password}` (optionally with `venue`).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    /// Venue slug, e.g. `demo`. Required with a PIN; with a password, the venue the tokens
    /// act at (the person's own venue when absent).
    pub venue: Option<String>,
    /// 4-8 digits.
    #[schema(pattern = "^[0-9]{4,8}$")]
    pub pin: Option<String>,
    /// Unique in the whole hub, matched case-insensitively.
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

/// What issuing tokens needs to know of a staff member, read at their own venue.
#[derive(Clone)]
struct Member {
    staff_id: StaffId,
    name: String,
    standing: Standing,
    tenant: TenantId,
    /// The PIN or password hash the login is checked against.
    secret_hash: Option<crate::domain::SecretHash>,
}

fn member(venue: &crate::domain::Venue, staff: &crate::domain::Staff, pin: bool) -> Option<Member> {
    let info = venue.info.as_ref()?;
    staff.active.then(|| Member {
        staff_id: staff.id,
        name: staff.name.clone(),
        standing: staff.standing(),
        tenant: info.tenant_id,
        secret_hash: if pin {
            staff.pin_hash.clone()
        } else {
            staff.password_hash.clone()
        },
    })
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

/// A staff member found for a login, and the venue the tokens will act at.
struct Candidate {
    member: Member,
    home: VenueId,
    acting: VenueHandle,
}

impl Candidate {
    /// The member may act at the acting venue: it is their own, or they reach it.
    fn allowed(&self) -> bool {
        self.acting.id() == self.home
            || crate::auth::reaches(
                self.member.standing.role,
                &self.member.standing.venues,
                self.member.tenant,
                self.acting.id(),
                self.acting.tenant(),
            )
    }
}

fn venue_not_found(slug: &str) -> ApiError {
    ApiError::Rejected(crate::domain::Rejection::not_found(
        crate::domain::RejectionCode::VenueNotFound,
        format!("venue {slug:?}"),
    ))
}

fn named_venue(state: &AppState, slug: &str) -> Result<VenueHandle, ApiError> {
    state
        .engine
        .venue_by_slug(slug)
        .ok_or_else(|| venue_not_found(slug))
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
    let (secret, throttle_key, found) = match (&request.pin, &request.username, &request.password) {
        (Some(pin), None, None) => {
            let slug = request.venue.as_deref().ok_or_else(|| {
                ApiError::invalid_field("missing_venue", "venue", "a PIN login names its venue")
            })?;
            let venue = named_venue(&state, slug)?;
            crate::auth::validate_pin(pin)?;
            let key = crate::auth::pin_lookup(&state.pin_key, venue.id(), pin);
            let throttle_key = format!("pin:{}:{}", venue.id(), client.ip());
            begin_attempt(&state, &throttle_key, now)?;
            let home = venue.id();
            let found = venue
                .read(move |v| {
                    v.staff_by_pin_lookup(&key)
                        .and_then(|staff| member(v, staff, true))
                })
                .await?
                .map(|member| Candidate {
                    member,
                    home,
                    acting: venue,
                });
            (pin.clone(), throttle_key, found)
        }
        (None, Some(username), Some(password)) => {
            let acting = request
                .venue
                .as_deref()
                .map(|slug| named_venue(&state, slug))
                .transpose()?;
            // Finding the member costs no hash, so it comes first: the attempt then counts
            // against that one person, never against someone of another tenant who happens
            // to share the name.
            let found = password_candidate(&state, username, acting).await?;
            let throttle_key = match &found {
                Some(candidate) => format!(
                    "staff:{}:{}:{}",
                    candidate.home,
                    candidate.member.staff_id,
                    client.ip()
                ),
                None => format!(
                    "user:{}:{}",
                    crate::domain::username_key(username),
                    client.ip()
                ),
            };
            begin_attempt(&state, &throttle_key, now)?;
            (password.clone(), throttle_key, found)
        }
        _ => {
            return Err(ApiError::invalid_field(
                "invalid_login_request",
                "pin",
                "send {venue, pin} or {username, password}",
            ));
        }
    };
    let verified = match found.filter(Candidate::allowed) {
        Some(candidate) => {
            let hash = candidate.member.secret_hash.clone();
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
        // The attempt was counted before the hash: nothing more to record.
        tracing::info!(key = %throttle_key, "failed login");
        return Err(AuthError::InvalidCredentials.into());
    };
    state.throttle.record_success(&throttle_key);
    issue(&state, candidate).await.map(Json)
}

/// Counts a login attempt before its secret is hashed, so concurrent guesses cannot all
/// slip in under the limit while the first ones are still being checked.
fn begin_attempt(state: &AppState, key: &str, now: std::time::Instant) -> Result<(), ApiError> {
    state
        .throttle
        .attempt(key, now)
        .map_err(|retry_after| AuthError::Throttled { retry_after }.into())
}

/// The one staff member a username and password login can mean. Naming a venue looks at
/// that venue's own staff first; otherwise the hub-wide register names the member, who
/// then acts at their own venue or at the named one if they reach it.
async fn password_candidate(
    state: &AppState,
    username: &str,
    acting: Option<VenueHandle>,
) -> Result<Option<Candidate>, ApiError> {
    if let Some(venue) = &acting {
        let name = username.to_owned();
        let local = venue
            .read(move |v| {
                v.staff_by_username(&name)
                    .and_then(|staff| member(v, staff, false))
            })
            .await?;
        if let Some(member) = local {
            return Ok(Some(Candidate {
                member,
                home: venue.id(),
                acting: venue.clone(),
            }));
        }
    }
    let Some((home_id, staff_id)) = state.engine.username_holder(username).await? else {
        return Ok(None);
    };
    let Some(home) = state.engine.venue(home_id) else {
        return Ok(None);
    };
    let name = username.to_owned();
    let found = home
        .read(move |v| {
            v.staff
                .get(&staff_id)
                .filter(|staff| {
                    staff
                        .username
                        .as_deref()
                        .is_some_and(|own| own.eq_ignore_ascii_case(&name))
                })
                .and_then(|staff| member(v, staff, false))
        })
        .await?;
    Ok(found.map(|member| Candidate {
        member,
        home: home_id,
        acting: acting.unwrap_or(home),
    }))
}

/// Issues tokens for the candidate at its acting venue.
async fn issue(state: &AppState, candidate: Candidate) -> Result<TokenResponse, ApiError> {
    let venue = candidate
        .acting
        .read(venue_summary)
        .await?
        .ok_or(ApiError::NotFound("venue"))?;
    let identity = Identity {
        staff_id: candidate.member.staff_id,
        venue_id: candidate.acting.id(),
        home_venue_id: candidate.home,
        tenant_id: candidate.member.tenant,
        role: candidate.member.standing.role,
        name: candidate.member.name,
    };
    tokens_for(state, identity, venue)
}

/// Issues tokens for a staff member of `home` (read afresh: still active, current role) to
/// act at `acting`, refusing a venue they no longer reach.
async fn reissue(
    state: &AppState,
    home: VenueId,
    staff_id: StaffId,
    acting: VenueHandle,
) -> Result<TokenResponse, ApiError> {
    let home_venue = state.engine.venue(home).ok_or(AuthError::InvalidToken)?;
    let member = home_venue
        .read(move |v| v.staff.get(&staff_id).and_then(|s| member(v, s, true)))
        .await?
        .ok_or(AuthError::StaffInactive)?;
    let candidate = Candidate {
        member,
        home,
        acting,
    };
    if !candidate.allowed() {
        return Err(AuthError::VenueNotAllowed.into());
    }
    issue(state, candidate).await
}

/// Issues an access and refresh token pair for an identity.
pub(super) fn tokens_for(
    state: &AppState,
    identity: Identity,
    venue: VenueSummary,
) -> Result<TokenResponse, ApiError> {
    let now = chrono::Utc::now();
    let lifetimes = state.tokens.lifetimes();
    Ok(TokenResponse {
        access_token: state.tokens.issue(&identity, TokenKind::Access, now)?,
        refresh_token: state.tokens.issue(&identity, TokenKind::Refresh, now)?,
        token_type: "Bearer".into(),
        role: identity.role,
        expires_in: lifetimes.access.num_seconds(),
        refresh_expires_in: lifetimes.refresh.num_seconds(),
        staff: StaffSummary {
            id: identity.staff_id,
            name: identity.name,
            role: identity.role,
        },
        venue,
    })
}

#[utoipa::path(
    post, path = "/api/v1/auth/refresh", tag = "auth",
    request_body = RefreshRequest,
    responses(
        (status = 200, description = "New token pair; the role is read afresh", body = TokenResponse),
        (status = 401, description = "`token_expired`, `invalid_token`, `wrong_token_kind` (an access token), `staff_inactive` (the staff member was deactivated or is unknown), `venue_not_allowed` (they may no longer act at the token's venue)", body = super::error::ErrorBody),
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
    let acting = state
        .engine
        .venue(claims.venue)
        .ok_or(AuthError::InvalidToken)?;
    reissue(&state, claims.home_venue(), claims.sub, acting)
        .await
        .map(Json)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SwitchVenueRequest {
    /// Slug of the venue to act at: the caller's own, one an owner gave them, or (owners)
    /// any venue of their tenant.
    pub venue: String,
}

#[utoipa::path(
    post, path = "/api/v1/auth/venue", tag = "auth", security(("bearer" = [])),
    request_body = SwitchVenueRequest,
    responses(
        (status = 200, description = "A token pair acting at the named venue", body = TokenResponse),
        (status = 403, description = "`venue_not_allowed`: the caller does not work at that venue", body = super::error::ErrorBody),
        (status = 404, description = "`venue_not_found`", body = super::error::ErrorBody),
    )
)]
pub async fn switch_venue(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(request): ApiJson<SwitchVenueRequest>,
) -> Result<Json<TokenResponse>, ApiError> {
    let acting = named_venue(&state, &request.venue)?;
    reissue(
        &state,
        caller.claims.home_venue(),
        caller.claims.sub,
        acting,
    )
    .await
    .map_err(|error| match error {
        // The caller is signed in; they are simply not allowed there.
        ApiError::Unauthorized(AuthError::VenueNotAllowed) => {
            ApiError::Forbidden("you do not work at that venue; an owner can give it to you".into())
        }
        other => other,
    })
    .map(Json)
}

#[utoipa::path(
    get, path = "/api/v1/me", tag = "auth", security(("bearer" = [])),
    responses((status = 200, description = "Who the token belongs to and what it may do", body = MeResponse))
)]
pub async fn me(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<MeResponse>, ApiError> {
    let staff_id = caller.claims.sub;
    let role = caller.claims.role;
    // The member is on their own venue's staff list, which is not always the acting venue's.
    let home = state
        .engine
        .venue(caller.claims.home_venue())
        .ok_or(ApiError::NotFound("staff member"))?;
    let staff = home
        .read(move |v| {
            v.staff.get(&staff_id).map(|s| StaffSummary {
                id: s.id,
                name: s.name.clone(),
                role,
            })
        })
        .await?;
    let venue = caller.venue.read(venue_summary).await?;
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
