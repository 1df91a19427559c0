//! The venues of a tenant: which ones the caller may act at, and an owner adding a venue to
//! their company. A new venue starts live at once (its engine, its screens' projector; devices
//! find it on first connect) without a restart. Switching the venue a token acts at is
//! `POST /auth/venue`, in [`super::auth`].

use axum::{Json, extract::State, http::StatusCode};
use serde::Deserialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::{
    auth::{VenueSummary, venue_summary},
    command::Executed,
    error::{ApiError, ErrorBody},
    extract::{ApiJson, Caller},
};
use crate::{
    auth::Permission,
    domain::{DerivedFor, Entity, Role, derived_id},
    engine::{VenueHandle, VenueSettings},
    state::AppState,
    store::{TenantRecord, VenueRecord},
};

/// A venue as its owner describes it, at first-run setup or when adding one to the tenant.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewVenue {
    /// Short lowercase name typed at PIN login, e.g. `kemang`: 1-40 of `a-z 0-9 - _`,
    /// unique in the hub.
    #[schema(min_length = 1, max_length = 40, pattern = "^[a-z0-9_-]+$")]
    pub slug: String,
    #[schema(min_length = 1, max_length = 120, pattern = r"\S")]
    pub name: String,
    /// An IANA zone name, what "today" means in the venue's reports; default `Asia/Jakarta`.
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

fn default_timezone() -> String {
    "Asia/Jakarta".into()
}

fn default_currency() -> String {
    "IDR".into()
}

impl NewVenue {
    pub fn settings(&self) -> VenueSettings<'_> {
        VenueSettings {
            timezone: &self.timezone,
            currency: &self.currency,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateVenueRequest {
    /// Client-generated UUID; retrying with the same id never creates a second venue.
    pub command_id: Uuid,
    pub venue: NewVenue,
}

#[utoipa::path(
    get, path = "/api/v1/venues", tag = "venues", security(("bearer" = [])),
    responses(
        (status = 200, description = "The venues the caller may act at, their own first: for an owner every venue of the tenant, for anyone else their own venue and those an owner gave them", body = Vec<VenueSummary>),
    )
)]
pub async fn list_venues(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<VenueSummary>>, ApiError> {
    let home = caller.claims.home_venue();
    let reachable: Vec<VenueHandle> = if caller.claims.role == Role::Owner {
        state.engine.venues_of(caller.claims.tenant)
    } else {
        let staff = caller.claims.sub;
        let given = match state.engine.venue(home) {
            Some(venue) => {
                venue
                    .read(move |v| {
                        v.staff
                            .get(&staff)
                            .map(|s| s.venues.clone())
                            .unwrap_or_default()
                    })
                    .await?
            }
            None => Vec::new(),
        };
        std::iter::once(home)
            .chain(given)
            .filter_map(|id| state.engine.venue(id))
            .filter(|venue| venue.tenant() == caller.claims.tenant)
            .collect()
    };
    let mut venues = Vec::with_capacity(reachable.len());
    for venue in reachable {
        if let Some(summary) = venue.read(venue_summary).await? {
            venues.push(summary);
        }
    }
    venues.sort_by_key(|v| (v.id != home, v.slug.clone()));
    Ok(Json(venues))
}

#[utoipa::path(
    post, path = "/api/v1/venues", tag = "venues", security(("bearer" = [])),
    request_body = CreateVenueRequest,
    responses(
        (status = 201, description = "The venue exists and runs; switch to it with `POST /auth/venue`", body = VenueSummary),
        (status = 200, description = "A retry of the same `command_id`: the venue it created", body = VenueSummary),
        (status = 403, description = "`forbidden`: only an owner adds venues", body = ErrorBody),
        (status = 409, description = "`venue_slug_taken`", body = ErrorBody),
        (status = 422, description = "`invalid_slug`, `invalid_timezone` (not an IANA zone), `invalid_currency`, `empty_text`, `text_too_long`", body = ErrorBody),
    )
)]
pub async fn create_venue(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(request): ApiJson<CreateVenueRequest>,
) -> Result<Executed<VenueSummary>, ApiError> {
    caller.require(Permission::ManageVenues)?;
    // The tenant row exists (the caller's own venue made it), so its name is not used.
    let tenant = TenantRecord {
        id: caller.claims.tenant.0,
        name: String::new(),
    };
    // Derived from the command id, so a retry names the same venue and finishes or replays
    // the first attempt instead of colliding with it.
    let record = VenueRecord {
        id: derived_id(request.command_id, DerivedFor::Entity(Entity::Venue)),
        tenant_id: tenant.id,
        slug: request.venue.slug.clone(),
        name: request.venue.name.clone(),
        created_at: chrono::Utc::now(),
    };
    let (venue, outcome) = state
        .engine
        .create_venue(tenant, record, request.venue.settings(), request.command_id)
        .await?;
    // Live at once: screens subscribe and delivery alerts run without waiting for a restart.
    state.gateway.projector(venue.id()).await?;
    let view = venue
        .read(venue_summary)
        .await?
        .ok_or(ApiError::NotFound("venue"))?;
    Ok(Executed {
        status: StatusCode::CREATED,
        view,
        outcome,
    })
}
