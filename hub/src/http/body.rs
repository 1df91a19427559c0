//! Request bodies shared by many endpoints: the idempotency id every command carries, and
//! "entity with an optional id" bodies for create/update endpoints, with their schema.

use serde::{Deserialize, de::DeserializeOwned};
use utoipa::{
    PartialSchema, ToSchema,
    openapi::{
        KnownFormat, Ref, RefOr, Schema,
        schema::{Array, Object, OneOf, SchemaFormat, Type},
    },
};
use uuid::Uuid;

use super::{error::ApiError, extract::parse_json};
use crate::domain::{DerivedFor, Entity, derived_id};

/// A command that needs nothing but its idempotency id.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CommandOnly {
    /// Client-generated UUID; retrying with the same id never repeats the change.
    pub command_id: Uuid,
}

/// The schema of what [`entity_body`] reads for an entity `T`: `T`'s fields with its `id`
/// optional, plus the required `command_id`. Built from `T`'s own schema, so the body stays
/// documented as the entity grows.
fn entity_body_schema<T: ToSchema>() -> RefOr<Schema> {
    let RefOr::T(Schema::Object(mut object)) = T::schema() else {
        return T::schema();
    };
    let uuid = |description: &str| -> Object {
        Object::builder()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Uuid)))
            .description(Some(description))
            .build()
    };
    object.required.retain(|field| field != "id");
    object.required.insert(0, "command_id".to_owned());
    object.properties.insert(
        "command_id".to_owned(),
        uuid("Client-generated UUID; retrying with the same id never repeats the change.").into(),
    );
    if object.properties.contains_key("id") {
        object.properties.insert(
            "id".to_owned(),
            OneOf::builder()
                .item(Object::with_type(Type::Null))
                .item(uuid(
                    "Optional on create (derived from `command_id` when absent or null); on update the path names the entity and this is ignored.",
                ))
                .into(),
        );
    }
    RefOr::T(Schema::Object(object))
}

/// Names the create/update body schema of each entity saved through [`entity_body`].
macro_rules! entity_bodies {
    ($($(#[$doc:meta])* $name:ident => $entity:ty),* $(,)?) => {$(
        $(#[$doc])*
        pub struct $name;

        impl PartialSchema for $name {
            fn schema() -> RefOr<Schema> {
                entity_body_schema::<$entity>()
            }
        }

        impl ToSchema for $name {
            fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
                <$entity as ToSchema>::schemas(schemas);
            }
        }
    )*};
}

entity_bodies!(
    /// `command_id` plus an area.
    SaveArea => crate::domain::Area,
    /// `command_id` plus a table's layout.
    SaveTable => crate::domain::TableLayout,
    /// `command_id` plus a menu category.
    SaveCategory => crate::domain::Category,
    /// `command_id` plus a modifier group.
    SaveModifierGroup => crate::domain::ModifierGroup,
    /// `command_id` plus a menu item.
    SaveMenuItem => crate::domain::MenuItem,
    /// `command_id` plus a kitchen station.
    SaveStation => crate::domain::Station,
);

/// The schema of a list of distinct ids (`id` names the id's schema), with at least `min`
/// of them: utoipa has no field attribute for `uniqueItems`.
pub fn distinct_ids(id: &str, min: usize, description: &str) -> Array {
    Array::builder()
        .items(Ref::from_schema_name(id))
        .unique_items(true)
        .min_items(Some(min))
        .description(Some(description))
        .build()
}

/// A create/update body: `command_id` plus the entity's fields. The entity's id comes from
/// the path (update), the body (create with a client id) or is derived from `command_id`.
pub fn entity_body<T: DeserializeOwned>(
    mut body: serde_json::Value,
    id_field: &str,
    path_id: Option<Uuid>,
    derived_for: Entity,
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
    // A body id must be a UUID even where the path's id wins, as the schema says.
    let body_id = match object.get(id_field) {
        Some(value) if !value.is_null() => {
            Some(serde_json::from_value::<Uuid>(value.clone()).map_err(|e| {
                ApiError::invalid_field(
                    "invalid_field",
                    id_field,
                    format!("{id_field} must be a UUID: {e}"),
                )
            })?)
        }
        _ => None,
    };
    let id = path_id
        .or(body_id)
        .unwrap_or_else(|| derived_id(command_id, DerivedFor::Entity(derived_for)));
    object.insert(
        id_field.to_owned(),
        serde_json::Value::String(id.to_string()),
    );
    let bytes = serde_json::to_vec(&body).map_err(|e| ApiError::Internal(e.into()))?;
    let entity = parse_json(&bytes)?;
    Ok((command_id, entity))
}
