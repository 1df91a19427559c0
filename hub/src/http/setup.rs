//! First-run setup: on a hub with no venue at all, creates the tenant, its first venue and
//! the owner's login, and answers with the owner's tokens. Once any venue exists in the
//! store (whichever hub created it) it is refused, so it cannot be used to take over a
//! running hub or to add a tenant without logging in.

use axum::{Json, extract::State, http::StatusCode};
use serde::Deserialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::{
    auth::{TokenResponse, tokens_for},
    error::{ApiError, ErrorBody},
    extract::ApiJson,
    venues::NewVenue,
};
use crate::{
    auth::{Identity, hash_secret, validate_password},
    domain::{
        Actor, Command, Role, StaffId, TenantId, username_key,
        venue::{is_blank, is_space},
    },
    engine::{Envelope, VenueHandle},
    state::AppState,
    store::{TenantRecord, UsernameClaim, VenueRecord},
};

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
    pub venue: NewVenue,
    pub owner: SetupOwner,
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
            crate::domain::RejectionCode::AlreadySetUp,
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
    let staff_id = StaffId(Uuid::now_v7());
    let owner = UsernameClaim {
        username: username_key(&request.owner.username),
        venue_id: record.id,
        staff_id: staff_id.0,
        claimed_at: chrono::Utc::now(),
    };
    // Hashed before the venue exists, so a failure here leaves nothing half set up.
    let password = request.owner.password.clone();
    let password_hash = tokio::task::spawn_blocking(move || hash_secret(&password))
        .await
        .map_err(|e| ApiError::Internal(e.into()))??;
    // The store decides, in the transaction that creates the venue, whether any venue
    // exists: not this hub's memory, which another hub sharing the database cannot update.
    let venue = state
        .engine
        .set_up_first_venue(tenant.clone(), record, request.venue.settings(), &owner)
        .await?
        .ok_or_else(already)?;
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
                password_hash: Some(password_hash.into()),
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
        home_venue_id: venue.id(),
        tenant_id: TenantId(tenant.id),
        role: Role::Owner,
        name: request.owner.name,
    };
    let tokens = tokens_for(&state, identity, summary)?;
    Ok((StatusCode::CREATED, Json(tokens)))
}
