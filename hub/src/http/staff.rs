//! Staff endpoints for managers: list staff, add someone with a PIN and/or a username and
//! password, change name, role or active flag, and reset a PIN or password; for owners,
//! give a member other venues of the tenant. Secrets are hashed here (off the async
//! threads) and never returned.

use axum::{Json, extract::State, http::StatusCode};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::{
    command::{Executed, run},
    error::{ApiError, ErrorBody},
    extract::{ApiJson, ApiPath, Caller},
};
use crate::{
    auth::{Permission, hash_secret, pin_lookup, validate_password, validate_pin},
    domain::SecretHash,
    domain::{Command, DerivedFor, Entity, Role, Staff, StaffId, Venue, VenueId, derived_id},
    state::AppState,
};

#[derive(Debug, Serialize, ToSchema)]
pub struct StaffView {
    pub id: StaffId,
    pub name: String,
    pub role: Role,
    pub active: bool,
    pub username: Option<String>,
    pub has_pin: bool,
    /// Other venues of the tenant this member was given (see `PUT /staff/{id}/venues`).
    pub venues: Vec<VenueId>,
}

impl StaffView {
    fn of(staff: &Staff) -> Self {
        Self {
            id: staff.id,
            name: staff.name.clone(),
            role: staff.role,
            active: staff.active,
            username: staff.username.clone(),
            has_pin: staff.pin_hash.is_some(),
            venues: staff.venues.clone(),
        }
    }

    fn find(venue: &Venue, id: StaffId) -> Option<Self> {
        venue.staff.get(&id).map(Self::of)
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddStaffRequest {
    pub command_id: Uuid,
    #[serde(default)]
    pub staff_id: Option<StaffId>,
    #[schema(min_length = 1, max_length = 120, pattern = r"\S")]
    pub name: String,
    /// Only an owner may add an owner.
    pub role: Role,
    /// 4-8 digits, unique in the venue. A staff member needs a PIN, or a username and
    /// password.
    #[serde(default)]
    #[schema(pattern = "^[0-9]{4,8}$")]
    pub pin: Option<String>,
    /// Unique in the venue, case-insensitively.
    #[serde(default)]
    #[schema(min_length = 1, max_length = 64, pattern = r"\S")]
    pub username: Option<String>,
    /// At least 8 characters; needs `username`. Usernames are unique in the whole hub.
    #[serde(default)]
    #[schema(min_length = 8)]
    pub password: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StaffVenuesRequest {
    pub command_id: Uuid,
    /// Ids of other venues of the tenant (see `GET /venues`), at most 64; replaces the
    /// earlier list, `[]` takes every other venue back.
    #[schema(max_items = 64)]
    pub venues: Vec<VenueId>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateStaffRequest {
    pub command_id: Uuid,
    #[serde(default)]
    #[schema(min_length = 1, max_length = 120, pattern = r"\S")]
    pub name: Option<String>,
    #[serde(default)]
    pub role: Option<Role>,
    #[serde(default)]
    pub active: Option<bool>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PinRequest {
    pub command_id: Uuid,
    /// 4-8 digits, unique in the venue.
    #[schema(pattern = "^[0-9]{4,8}$")]
    pub pin: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordRequest {
    pub command_id: Uuid,
    /// At least 8 characters.
    #[schema(min_length = 8)]
    pub password: String,
}

async fn hash(secret: String) -> Result<String, ApiError> {
    tokio::task::spawn_blocking(move || hash_secret(&secret))
        .await
        .map_err(|e| ApiError::Internal(e.into()))?
        .map_err(ApiError::from)
}

#[utoipa::path(
    get, path = "/api/v1/staff", tag = "staff", security(("bearer" = [])),
    responses((status = 200, description = "By name", body = Vec<StaffView>), (status = 403, description = "`forbidden`: the role may not manage staff", body = ErrorBody))
)]
pub async fn list_staff(caller: Caller) -> Result<Json<Vec<StaffView>>, ApiError> {
    caller.require(Permission::ManageStaff)?;
    let mut staff = caller
        .venue
        .read(|v| v.staff.values().map(StaffView::of).collect::<Vec<_>>())
        .await?;
    staff.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(Json(staff))
}

#[utoipa::path(
    post, path = "/api/v1/staff", tag = "staff", security(("bearer" = [])),
    request_body = AddStaffRequest,
    responses(
        (status = 201, description = "Added; a retried `command_id` answers 200", body = StaffView),
        (status = 403, description = "`forbidden`, `owner_only`", body = ErrorBody),
        (status = 409, description = "`pin_taken`, `username_taken`, `staff_exists`", body = ErrorBody),
        (status = 422, description = "`invalid_pin`, `weak_password`, `missing_username`, `missing_credentials`, `empty_text`, `text_too_long`", body = ErrorBody),
    )
)]
pub async fn add_staff(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<AddStaffRequest>,
) -> Result<Executed<StaffView>, ApiError> {
    caller.require(Permission::ManageStaff)?;
    if let Some(pin) = &body.pin {
        validate_pin(pin)?;
    }
    if let Some(password) = &body.password {
        validate_password(password)?;
        if body.username.is_none() {
            return Err(ApiError::invalid_field(
                "missing_username",
                "username",
                "a password needs a username",
            ));
        }
    }
    let venue_id = caller.venue.id();
    let pin_lookup = body
        .pin
        .as_deref()
        .map(|pin| pin_lookup(&state.pin_key, venue_id, pin));
    let pin_hash = match body.pin {
        Some(pin) => Some(hash(pin).await?),
        None => None,
    };
    let password_hash = match body.password {
        Some(password) => Some(hash(password).await?),
        None => None,
    };
    let staff_id = body.staff_id.unwrap_or_else(|| {
        StaffId(derived_id(
            body.command_id,
            DerivedFor::Entity(Entity::Staff),
        ))
    });
    // A username logs in one person in the whole hub: hold it before the venue adds the
    // member, and let go of it if the venue refuses.
    let hold = match &body.username {
        Some(username) => Some(
            state
                .engine
                .claim_username(venue_id, staff_id, username)
                .await?,
        ),
        None => None,
    };
    let command = Command::AddStaff {
        staff_id,
        name: body.name,
        role: body.role,
        username: body.username,
        pin_lookup: pin_lookup.map(SecretHash::from),
        pin_hash: pin_hash.map(SecretHash::from),
        password_hash: password_hash.map(SecretHash::from),
    };
    let added = run(
        &caller,
        Permission::ManageStaff,
        body.command_id,
        command,
        StatusCode::CREATED,
        move |v| StaffView::find(v, staff_id),
    )
    .await;
    if let (Err(ApiError::Rejected(_)), Some(hold)) = (&added, hold) {
        state.engine.release_username(hold).await;
    }
    added
}

#[utoipa::path(
    put, path = "/api/v1/staff/{id}/venues", tag = "staff", security(("bearer" = [])),
    params(("id" = Uuid, Path)), request_body = StaffVenuesRequest,
    responses(
        (status = 200, body = StaffView),
        (status = 403, description = "`forbidden`, `owner_only`: only an owner gives venues", body = ErrorBody),
        (status = 404, description = "`staff_not_found`; `venue_not_found` (`field`: `venues[i]`) for an id that is not a venue of the tenant", body = ErrorBody),
        (status = 422, description = "`own_venue`, `too_many_venues`", body = ErrorBody),
    )
)]
pub async fn give_venues(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<StaffVenuesRequest>,
) -> Result<Executed<StaffView>, ApiError> {
    caller.require(Permission::ManageVenues)?;
    for (index, venue) in body.venues.iter().enumerate() {
        let ours = state
            .engine
            .venue(*venue)
            .is_some_and(|v| v.tenant() == caller.claims.tenant);
        if !ours {
            return Err(ApiError::Rejected(
                crate::domain::Rejection::not_found(
                    crate::domain::RejectionCode::VenueNotFound,
                    format!("venue {venue} of your company"),
                )
                .within(format!("venues[{index}]")),
            ));
        }
    }
    let staff_id = StaffId(id);
    let command = Command::GiveStaffVenues {
        staff_id,
        venues: body.venues,
    };
    run(
        &caller,
        Permission::ManageVenues,
        body.command_id,
        command,
        StatusCode::OK,
        move |v| StaffView::find(v, staff_id),
    )
    .await
}

#[utoipa::path(
    patch, path = "/api/v1/staff/{id}", tag = "staff", security(("bearer" = [])),
    params(("id" = Uuid, Path)), request_body = UpdateStaffRequest,
    responses(
        (status = 200, body = StaffView),
        (status = 403, description = "`forbidden`, `owner_only`", body = ErrorBody),
        (status = 404, description = "`staff_not_found`; `venue_not_found` (`field`: `venues[i]`) for an id that is not a venue of the tenant", body = ErrorBody),
        (status = 422, description = "`empty_text`, `text_too_long`", body = ErrorBody),
    )
)]
pub async fn update_staff(
    caller: Caller,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<UpdateStaffRequest>,
) -> Result<Executed<StaffView>, ApiError> {
    let staff_id = StaffId(id);
    let command = Command::UpdateStaff {
        staff_id,
        name: body.name,
        role: body.role,
        active: body.active,
    };
    run(
        &caller,
        Permission::ManageStaff,
        body.command_id,
        command,
        StatusCode::OK,
        move |v| StaffView::find(v, staff_id),
    )
    .await
}

#[utoipa::path(
    post, path = "/api/v1/staff/{id}/pin", tag = "staff", security(("bearer" = [])),
    params(("id" = Uuid, Path)), request_body = PinRequest,
    responses(
        (status = 200, body = StaffView),
        (status = 403, description = "`forbidden`, `owner_only`", body = ErrorBody),
        (status = 404, description = "`staff_not_found`; `venue_not_found` (`field`: `venues[i]`) for an id that is not a venue of the tenant", body = ErrorBody),
        (status = 409, description = "`pin_taken`", body = ErrorBody),
        (status = 422, description = "`invalid_pin`", body = ErrorBody),
    )
)]
pub async fn set_pin(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<PinRequest>,
) -> Result<Executed<StaffView>, ApiError> {
    caller.require(Permission::ManageStaff)?;
    validate_pin(&body.pin)?;
    let staff_id = StaffId(id);
    let command = Command::SetStaffPin {
        staff_id,
        pin_lookup: pin_lookup(&state.pin_key, caller.venue.id(), &body.pin).into(),
        pin_hash: hash(body.pin).await?.into(),
    };
    run(
        &caller,
        Permission::ManageStaff,
        body.command_id,
        command,
        StatusCode::OK,
        move |v| StaffView::find(v, staff_id),
    )
    .await
}

#[utoipa::path(
    post, path = "/api/v1/staff/{id}/password", tag = "staff", security(("bearer" = [])),
    params(("id" = Uuid, Path)), request_body = PasswordRequest,
    responses(
        (status = 200, body = StaffView),
        (status = 403, description = "`forbidden`, `owner_only`", body = ErrorBody),
        (status = 404, description = "`staff_not_found`; `venue_not_found` (`field`: `venues[i]`) for an id that is not a venue of the tenant", body = ErrorBody),
        (status = 409, description = "`no_username`", body = ErrorBody),
        (status = 422, description = "`weak_password`", body = ErrorBody),
    )
)]
pub async fn set_password(
    caller: Caller,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<PasswordRequest>,
) -> Result<Executed<StaffView>, ApiError> {
    caller.require(Permission::ManageStaff)?;
    validate_password(&body.password)?;
    let staff_id = StaffId(id);
    let command = Command::SetStaffPassword {
        staff_id,
        password_hash: hash(body.password).await?.into(),
    };
    run(
        &caller,
        Permission::ManageStaff,
        body.command_id,
        command,
        StatusCode::OK,
        move |v| StaffView::find(v, staff_id),
    )
    .await
}
