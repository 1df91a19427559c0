//! First-run setup: on a hub with no venue at all, creates the tenant, its first venue and
//! the owner's login, and answers with the owner's tokens. Once any venue exists it is
//! refused, so it cannot be used to take over a running hub.

use axum::{Json, extract::State, http::StatusCode};
use serde::Deserialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::{
    auth::{TokenResponse, tokens_for},
    error::{ApiError, ErrorBody},
    extract::ApiJson,
};
use crate::{
    app::AppState,
    auth::{Identity, hash_secret, validate_password},
    domain::{
        Actor, Command, Role, StaffId, TenantId,
        venue::{is_blank, is_space},
    },
    engine::{Envelope, VenueHandle},
    store::{TenantRecord, VenueRecord},
};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetupVenue {
    /// Short lowercase name used at PIN login, e.g. `kemang`: 1-40 of `a-z 0-9 - _`.
    #[schema(min_length = 1, max_length = 40, pattern = "^[a-z0-9_-]+$")]
    pub slug: String,
    #[schema(min_length = 1, max_length = 120, pattern = r"\S")]
    pub name: String,
    /// An IANA zone name; default `Asia/Jakarta`.
    #[serde(default = "default_timezone")]
    #[schema(
        min_length = 1,
        max_length = 64,
        pattern = r"\S",
        default = "Asia/Jakarta"
    )]
    pub timezone: String,
    /// ISO 4217 code; default `IDR`.
    #[serde(default = "default_currency")]
    #[schema(pattern = "^[A-Z]{3}$", default = "IDR")]
    pub currency: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetupOwner {
    #[schema(min_length = 1, max_length = 120, pattern = r"\S")]
    pub name: String,
    /// No spaces, at most 64 characters.
    #[schema(min_length = 1, max_length = 64, pattern = r"^\S+$")]
    pub username: String,
    /// At least 8 characters.
    #[schema(min_length = 8)]
    pub password: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetupRequest {
    /// The restaurant company (tenant); defaults to the venue's name.
    #[serde(default)]
    pub tenant_name: Option<String>,
    pub venue: SetupVenue,
    pub owner: SetupOwner,
}

fn default_timezone() -> String {
    "Asia/Jakarta".into()
}

fn default_currency() -> String {
    "IDR".into()
}

#[utoipa::path(
    post, path = "/api/v1/setup", tag = "auth",
    request_body = SetupRequest,
    responses(
        (status = 201, description = "Venue and owner created; the owner is logged in", body = TokenResponse),
        (status = 409, description = "`already_set_up`: the hub has a venue; `venue_slug_taken`", body = ErrorBody),
        (status = 422, description = "`weak_password`, `invalid_text` (`field`: `owner.name`, `owner.username`), `invalid_slug`, `invalid_currency`, `empty_text`, `text_too_long`", body = ErrorBody),
        (status = 503, description = "`unavailable`: the store cannot be reached or the hub is stopping", body = ErrorBody),
    )
)]
pub async fn setup(
    State(state): State<AppState>,
    ApiJson(request): ApiJson<SetupRequest>,
) -> Result<(StatusCode, Json<TokenResponse>), ApiError> {
    let already = || {
        ApiError::Rejected(crate::domain::Rejection::conflict(
            "already_set_up",
            "this hub already has a venue; log in as its owner to add more",
        ))
    };
    validate_password(&request.owner.password)?;
    // Everything about the owner is checked before anything is created.
    for (field, value, max) in [
        ("owner.name", &request.owner.name, 120),
        ("owner.username", &request.owner.username, 64),
    ] {
        if is_blank(value) || value.chars().count() > max {
            return Err(ApiError::invalid_field(
                "invalid_text",
                field,
                format!("{field} must be 1 to {max} characters"),
            ));
        }
    }
    if request.owner.username.chars().any(is_space) {
        return Err(ApiError::invalid_field(
            "invalid_text",
            "owner.username",
            "a username has no spaces",
        ));
    }
    // One setup at a time; the second of two concurrent requests finds a venue and stops.
    let _setup = state.setup_lock.lock().await;
    if !state.engine.venues().is_empty() {
        return Err(already());
    }
    let tenant = TenantRecord {
        id: Uuid::now_v7(),
        name: request
            .tenant_name
            .clone()
            .unwrap_or_else(|| request.venue.name.clone()),
    };
    let record = VenueRecord {
        id: Uuid::now_v7(),
        tenant_id: tenant.id,
        slug: request.venue.slug.clone(),
        name: request.venue.name.clone(),
        created_at: chrono::Utc::now(),
    };
    let venue = state
        .engine
        .create_venue(
            tenant.clone(),
            record,
            &request.venue.timezone,
            &request.venue.currency,
        )
        .await?;
    let password = request.owner.password.clone();
    let password_hash = tokio::task::spawn_blocking(move || hash_secret(&password))
        .await
        .map_err(|e| ApiError::Internal(e.into()))??;
    let staff_id = StaffId(Uuid::now_v7());
    venue
        .execute(Envelope {
            command_id: VenueHandle::system_command_id(),
            actor: Actor::system(),
            command: Command::AddStaff {
                staff_id,
                name: request.owner.name.clone(),
                role: Role::Owner,
                username: Some(request.owner.username.clone()),
                pin_lookup: None,
                pin_hash: None,
                password_hash: Some(password_hash),
            },
        })
        .await?;
    // Start projecting at once: delivery alerts must not wait for the first screen.
    state.gateway.projector(venue.id()).await?;
    let summary = venue
        .read(super::auth::venue_summary)
        .await?
        .ok_or(ApiError::NotFound("venue"))?;
    let identity = Identity {
        staff_id,
        venue_id: venue.id(),
        tenant_id: TenantId(tenant.id),
        role: Role::Owner,
        name: request.owner.name,
    };
    let tokens = tokens_for(&state, identity, summary)?;
    Ok((StatusCode::CREATED, Json(tokens)))
}
