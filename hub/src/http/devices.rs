//! Device registry endpoints for managers: provision a kitchen device (probe, bump bar,
//! scanner, call button) and receive its MQTT credentials once, change its pairing or
//! limits, disable or enable it, rotate its secret, remove it. Secrets are generated here,
//! shown once and stored only as argon2 hashes. Every change is answered only once it
//! holds at the MQTT door ([`crate::auth::DeviceSync`]): a device provisioned can connect,
//! an old secret is refused and the connections that used it are closed.

use std::time::Duration;

use axum::{Json, extract::State, http::StatusCode};
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::{
    command::{Executed, run},
    error::{ApiError, ErrorBody},
    extract::{ApiJson, ApiPath, ApiQuery, Caller},
    floor::{RemoveQuery, Removed},
};
pub use crate::view::device::DeviceView;
use crate::{
    auth::{Permission, hash_secret, random_key},
    domain::{
        Command, DerivedFor, DeviceId, DeviceKind, DeviceSpec, Entity, ScannerPurpose, StationId,
        TableId, UnitLimits, derived_id,
    },
    state::AppState,
};

/// Longest an answer waits for the MQTT door to apply a change. The door applies a change
/// in milliseconds; this only bounds a stuck one (then the answer goes out and says so in
/// the log, since the change itself is durable).
const DOOR_PATIENCE: Duration = Duration::from_secs(10);

/// Answers `executed` once the MQTT door has applied the change it made.
async fn in_force<T>(state: &AppState, caller: &Caller, executed: Executed<T>) -> Executed<T> {
    let venue = caller.venue.id();
    let seq = executed.outcome.last_seq;
    if !state.device_sync.settled(venue, seq, DOOR_PATIENCE).await {
        tracing::error!(
            %venue, seq, patience = ?DOOR_PATIENCE,
            "the MQTT door did not apply a device change in time; answering anyway"
        );
    }
    executed
}

/// How the device logs in to the hub's MQTT broker. Shown once: keep the password.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeviceCredentials {
    /// MQTT user name (and a good client id): `<venue slug>/<device key>`.
    pub username: String,
    /// The secret; the hub keeps only its hash and cannot show it again.
    pub password: String,
    /// Topics the device publishes to and listens on.
    pub topic_prefix: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ProvisionedDevice {
    pub device: DeviceView,
    /// Absent when the answer is a replay of an earlier request: rotate to get new ones.
    pub credentials: Option<DeviceCredentials>,
}

/// A device to provision or update. Its fields are spelled out rather than flattened from
/// [`DeviceSpec`] so that an unknown field is refused, as in every other command body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeviceRequest {
    pub command_id: Uuid,
    /// Optional on provisioning (derived from `command_id` when absent); ignored on update.
    #[serde(default)]
    pub device_id: Option<DeviceId>,
    /// Wire name: 1-40 of `a-z 0-9 - _`, unique in the venue; fixed once set.
    #[schema(min_length = 1, max_length = 40, pattern = "^[a-z0-9_-]+$")]
    pub key: String,
    #[schema(min_length = 1, max_length = 120, pattern = r"\S")]
    pub name: String,
    /// Fixed once set.
    pub kind: DeviceKind,
    /// Bump bars: the station whose screen they drive.
    #[serde(default)]
    pub station_id: Option<StationId>,
    /// Call buttons: the table they sit on.
    #[serde(default)]
    pub table_id: Option<TableId>,
    /// Probes: the unit they watch and its limits.
    #[serde(default)]
    pub limits: Option<UnitLimits>,
    /// Scanners: what their scans are for.
    #[serde(default)]
    pub purpose: Option<ScannerPurpose>,
}

impl DeviceRequest {
    fn spec(self) -> DeviceSpec {
        DeviceSpec {
            key: self.key,
            name: self.name,
            kind: self.kind,
            station_id: self.station_id,
            table_id: self.table_id,
            limits: self.limits,
            purpose: self.purpose,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EnableRequest {
    pub command_id: Uuid,
    pub enabled: bool,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RotateRequest {
    pub command_id: Uuid,
}

/// A fresh secret and its hash (hashing runs off the async threads).
async fn new_secret() -> Result<(String, String), ApiError> {
    let secret = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random_key());
    let plain = secret.clone();
    let hash = tokio::task::spawn_blocking(move || hash_secret(&plain))
        .await
        .map_err(|e| ApiError::Internal(e.into()))??;
    Ok((secret, hash))
}

/// Attaches the new secret to the answer, unless the command was a replay: then the secret
/// generated for this request was never stored, and the one that was cannot be shown.
fn with_credentials(
    executed: Executed<DeviceView>,
    caller: &Caller,
    secret: String,
) -> Executed<ProvisionedDevice> {
    let Executed {
        status,
        view: device,
        outcome,
    } = executed;
    let credentials = (!outcome.replayed).then(|| credentials(caller, &device.key, secret));
    Executed {
        status,
        view: ProvisionedDevice {
            device,
            credentials,
        },
        outcome,
    }
}

fn credentials(caller: &Caller, key: &str, password: String) -> DeviceCredentials {
    let venue = caller.venue.slug();
    DeviceCredentials {
        username: format!("{venue}/{key}"),
        password,
        topic_prefix: devices::topic::device_prefix(venue, key),
    }
}

#[utoipa::path(
    get, path = "/api/v1/devices", tag = "devices", security(("bearer" = [])),
    responses((status = 200, description = "By key", body = Vec<DeviceView>), (status = 403, description = "`forbidden`: the role may not manage devices", body = ErrorBody))
)]
pub async fn list_devices(caller: Caller) -> Result<Json<Vec<DeviceView>>, ApiError> {
    caller.require(Permission::ManageDevices)?;
    let mut devices = caller
        .venue
        .read(|v| v.devices.values().map(DeviceView::of).collect::<Vec<_>>())
        .await?;
    devices.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(Json(devices))
}

#[utoipa::path(
    post, path = "/api/v1/devices", tag = "devices", security(("bearer" = [])),
    request_body = DeviceRequest,
    responses(
        (status = 201, description = "Provisioned; the credentials are shown this once (a retried `command_id` answers 200 with `credentials: null`)", body = ProvisionedDevice),
        (status = 403, description = "`forbidden`: the role may not manage devices", body = ErrorBody),
        (status = 404, description = "`station_not_found`, `table_not_found`", body = ErrorBody),
        (status = 409, description = "`device_key_taken`, `device_exists`", body = ErrorBody),
        (status = 422, description = "`invalid_slug`, `missing_station`, `missing_table`, `missing_limits`, `missing_purpose`, `not_for_device_kind`, `invalid_limits`, `empty_text`, `text_too_long`", body = ErrorBody),
    )
)]
pub async fn provision_device(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<DeviceRequest>,
) -> Result<Executed<ProvisionedDevice>, ApiError> {
    caller.require(Permission::ManageDevices)?;
    let device_id = body.device_id.unwrap_or_else(|| {
        DeviceId(derived_id(
            body.command_id,
            DerivedFor::Entity(Entity::Device),
        ))
    });
    let (secret, secret_hash) = new_secret().await?;
    let command_id = body.command_id;
    let command = Command::ProvisionDevice {
        device_id,
        spec: body.spec(),
        secret_hash: secret_hash.into(),
    };
    let executed = run(
        &caller,
        Permission::ManageDevices,
        command_id,
        command,
        StatusCode::CREATED,
        move |v| DeviceView::find(v, device_id),
    )
    .await?;
    let executed = in_force(&state, &caller, executed).await;
    Ok(with_credentials(executed, &caller, secret))
}

#[utoipa::path(
    put, path = "/api/v1/devices/{id}", tag = "devices", security(("bearer" = [])),
    params(("id" = Uuid, Path)), request_body = DeviceRequest,
    responses(
        (status = 200, body = DeviceView),
        (status = 403, description = "`forbidden`: the role may not manage devices", body = ErrorBody),
        (status = 404, description = "`device_not_found`, `station_not_found`, `table_not_found`", body = ErrorBody),
        (status = 422, description = "`device_identity_fixed` (`key` and `kind` cannot change), and the checks of provisioning", body = ErrorBody),
    )
)]
pub async fn update_device(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<DeviceRequest>,
) -> Result<Executed<DeviceView>, ApiError> {
    let device_id = DeviceId(id);
    let command_id = body.command_id;
    let command = Command::UpdateDevice {
        device_id,
        spec: body.spec(),
    };
    let executed = run(
        &caller,
        Permission::ManageDevices,
        command_id,
        command,
        StatusCode::OK,
        move |v| DeviceView::find(v, device_id),
    )
    .await?;
    Ok(in_force(&state, &caller, executed).await)
}

#[utoipa::path(
    post, path = "/api/v1/devices/{id}/enabled", tag = "devices", security(("bearer" = [])),
    params(("id" = Uuid, Path)), request_body = EnableRequest,
    responses(
        (status = 200, description = "A disabled device's traffic is refused", body = DeviceView),
        (status = 403, description = "`forbidden`: the role may not manage devices", body = ErrorBody),
        (status = 404, description = "`device_not_found`", body = ErrorBody),
    )
)]
pub async fn set_enabled(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<EnableRequest>,
) -> Result<Executed<DeviceView>, ApiError> {
    let device_id = DeviceId(id);
    let command = Command::SetDeviceEnabled {
        device_id,
        enabled: body.enabled,
    };
    let executed = run(
        &caller,
        Permission::ManageDevices,
        body.command_id,
        command,
        StatusCode::OK,
        move |v| DeviceView::find(v, device_id),
    )
    .await?;
    Ok(in_force(&state, &caller, executed).await)
}

#[utoipa::path(
    post, path = "/api/v1/devices/{id}/rotate", tag = "devices", security(("bearer" = [])),
    params(("id" = Uuid, Path)), request_body = RotateRequest,
    responses(
        (status = 200, description = "A new secret, shown this once; the old one stops working", body = ProvisionedDevice),
        (status = 403, description = "`forbidden`: the role may not manage devices", body = ErrorBody),
        (status = 404, description = "`device_not_found`", body = ErrorBody),
    )
)]
pub async fn rotate_secret(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<RotateRequest>,
) -> Result<Executed<ProvisionedDevice>, ApiError> {
    caller.require(Permission::ManageDevices)?;
    let device_id = DeviceId(id);
    let (secret, secret_hash) = new_secret().await?;
    let command = Command::RotateDeviceSecret {
        device_id,
        secret_hash: secret_hash.into(),
    };
    let executed = run(
        &caller,
        Permission::ManageDevices,
        body.command_id,
        command,
        StatusCode::OK,
        move |v| DeviceView::find(v, device_id),
    )
    .await?;
    let executed = in_force(&state, &caller, executed).await;
    Ok(with_credentials(executed, &caller, secret))
}

#[utoipa::path(
    delete, path = "/api/v1/devices/{id}", tag = "devices", security(("bearer" = [])),
    params(("id" = Uuid, Path), RemoveQuery),
    responses(
        (status = 200, body = Removed),
        (status = 403, description = "`forbidden`: the role may not manage devices", body = ErrorBody),
        (status = 404, description = "`device_not_found`", body = ErrorBody),
    )
)]
pub async fn remove_device(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<Uuid>,
    ApiQuery(query): ApiQuery<RemoveQuery>,
) -> Result<Executed<Removed>, ApiError> {
    let command = Command::RemoveDevice {
        device_id: DeviceId(id),
    };
    let executed = run(
        &caller,
        Permission::ManageDevices,
        query.command_id,
        command,
        StatusCode::OK,
        move |_| Some(Removed { removed: id }),
    )
    .await?;
    Ok(in_force(&state, &caller, executed).await)
}
