//! Request bodies shared by many endpoints: the idempotency id every command carries, and
//! "entity with an optional id" bodies for create/update endpoints.

use serde::{Deserialize, de::DeserializeOwned};
use utoipa::ToSchema;
use uuid::Uuid;

use super::{command::derived_id, error::ApiError, extract::parse_json};

/// A command that needs nothing but its idempotency id.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CommandOnly {
    /// Client-generated UUID; retrying with the same id never repeats the change.
    pub command_id: Uuid,
}

/// A create/update body: `command_id` plus the entity's fields. The entity's id comes from
/// the path (update), the body (create with a client id) or is derived from `command_id`.
pub fn entity_body<T: DeserializeOwned>(
    mut body: serde_json::Value,
    id_field: &str,
    path_id: Option<Uuid>,
    label: &str,
) -> Result<(Uuid, T), ApiError> {
    let object = body.as_object_mut().ok_or_else(|| {
        ApiError::invalid_field("invalid_field", ".", "the body must be a JSON object")
    })?;
    let command_id = match object.remove("command_id") {
        Some(value) => serde_json::from_value::<Uuid>(value).map_err(|e| {
            ApiError::invalid_field(
                "invalid_field",
                "command_id",
                format!("command_id must be a UUID: {e}"),
            )
        })?,
        None => {
            return Err(ApiError::invalid_field(
                "invalid_field",
                "command_id",
                "missing field `command_id`",
            ));
        }
    };
    let id = match (path_id, object.get(id_field)) {
        (Some(id), _) => id,
        (None, Some(value)) if !value.is_null() => serde_json::from_value::<Uuid>(value.clone())
            .map_err(|e| {
                ApiError::invalid_field(
                    "invalid_field",
                    id_field,
                    format!("{id_field} must be a UUID: {e}"),
                )
            })?,
        (None, _) => derived_id(command_id, label, 0),
    };
    object.insert(
        id_field.to_owned(),
        serde_json::Value::String(id.to_string()),
    );
    let bytes = serde_json::to_vec(&body).map_err(|e| ApiError::Internal(e.into()))?;
    let entity = parse_json(&bytes)?;
    Ok((command_id, entity))
}
