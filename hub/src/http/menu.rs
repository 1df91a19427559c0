//! Menu and station endpoints: reading the menu, editing categories, items, modifier groups
//! and stations, and marking an item sold out (86) or back.

use axum::{Json, http::StatusCode};
use serde::Deserialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::{
    body::{SaveCategory, SaveMenuItem, SaveModifierGroup, SaveStation, entity_body},
    command::{Executed, require_existing, run},
    error::{ApiError, ErrorBody},
    extract::{ApiJson, ApiPath, Caller},
};
use crate::{
    auth::Permission,
    domain::{Category, Command, Entity, MenuItem, MenuItemId, ModifierGroup, Station},
    view::MenuView,
};

#[utoipa::path(
    get, path = "/api/v1/menu", tag = "menu", security(("bearer" = [])),
    responses((status = 200, description = "Categories, active items (with availability) and modifier groups", body = MenuView))
)]
pub async fn menu(caller: Caller) -> Result<Json<MenuView>, ApiError> {
    caller.require(Permission::ViewMenu)?;
    Ok(Json(caller.venue.read(MenuView::of).await?))
}

#[utoipa::path(
    get, path = "/api/v1/stations", tag = "menu", security(("bearer" = [])),
    responses((status = 200, body = Vec<Station>))
)]
pub async fn stations(caller: Caller) -> Result<Json<Vec<Station>>, ApiError> {
    caller.require(Permission::ViewMenu)?;
    Ok(Json(
        caller
            .venue
            .read(|v| {
                let mut stations: Vec<Station> = v.stations.values().cloned().collect();
                stations.sort_by(|a, b| a.key.cmp(&b.key));
                stations
            })
            .await?,
    ))
}

/// Generates the create (POST) and update (PUT) handlers of one menu entity.
macro_rules! menu_entity {
    ($create:ident, $update:ident, $collection:literal, $member:literal, $ty:ty, $body:ty, $label:expr,
     $missing:expr, [$($refusal:tt)*], [$($update_refusal:tt)*],
     |$entity:ident| $command:expr, |$venue:ident, $id:ident| $view:expr) => {
        #[utoipa::path(
            post, path = $collection, tag = "menu", security(("bearer" = [])),
            request_body(content = $body, description = "`command_id` plus the entity; `id` optional (derived from `command_id`); unknown fields are ignored"),
            responses(
                (status = 201, description = "As saved; a retried `command_id` answers 200", body = $ty),
                (status = 403, description = "`forbidden`: the role may not edit the menu", body = ErrorBody),
                $($refusal)*
            )
        )]
        pub async fn $create(caller: Caller, ApiJson(body): ApiJson<serde_json::Value>) -> Result<Executed<$ty>, ApiError> {
            let (command_id, $entity): (Uuid, $ty) = entity_body(body, "id", None, $label)?;
            let $id = $entity.id;
            run(&caller, Permission::EditMenu, command_id, $command, StatusCode::CREATED, move |$venue| $view).await
        }

        #[utoipa::path(
            put, path = $member, tag = "menu", security(("bearer" = [])),
            params(("id" = Uuid, Path, description = "The entity; an id the venue does not have is 404, never a new entity")),
            request_body(content = $body, description = "`command_id` plus the whole entity (omitted fields take their defaults); the path names it; unknown fields are ignored"),
            responses(
                (status = 200, body = $ty),
                (status = 403, description = "`forbidden`: the role may not edit the menu", body = ErrorBody),
                $($update_refusal)*
            )
        )]
        pub async fn $update(
            caller: Caller,
            ApiPath(path_id): ApiPath<Uuid>,
            ApiJson(body): ApiJson<serde_json::Value>,
        ) -> Result<Executed<$ty>, ApiError> {
            let (command_id, $entity): (Uuid, $ty) = entity_body(body, "id", Some(path_id), $label)?;
            let $id = $entity.id;
            caller.require(Permission::EditMenu)?;
            require_existing(&caller, $missing, path_id, move |$venue| $view.is_some()).await?;
            run(&caller, Permission::EditMenu, command_id, $command, StatusCode::OK, move |$venue| $view).await
        }
    };
}

menu_entity!(
    create_category,
    update_category,
    "/api/v1/menu/categories",
    "/api/v1/menu/categories/{id}",
    Category,
    SaveCategory,
    Entity::Category,
    crate::domain::RejectionCode::CategoryNotFound,
    [(
        status = 422,
        description = "`empty_text`, `text_too_long`",
        body = ErrorBody
    )],
    [
        (
            status = 404,
            description = "`category_not_found`: the venue has no such entity; a PUT never creates",
            body = ErrorBody
        ),
        (
            status = 422,
            description = "`empty_text`, `text_too_long`",
            body = ErrorBody
        ),
    ],
    |category| Command::SaveCategory { category },
    |venue, id| venue.categories.get(&id).cloned()
);
menu_entity!(
    create_modifier_group,
    update_modifier_group,
    "/api/v1/menu/modifier-groups",
    "/api/v1/menu/modifier-groups/{id}",
    ModifierGroup,
    SaveModifierGroup,
    Entity::ModifierGroup,
    crate::domain::RejectionCode::ModifierGroupNotFound,
    [(
        status = 422,
        description = "`empty_text`, `text_too_long` (`field`: `name` or `options[i].name`), `no_options`, `duplicate_option`, `invalid_choices` (needs `min_choices <= max_choices <= options`)",
        body = ErrorBody
    )],
    [
        (
            status = 404,
            description =
                "`modifier_group_not_found`: the venue has no such entity; a PUT never creates",
            body = ErrorBody
        ),
        (
            status = 422,
            description = "`empty_text`, `text_too_long` (`field`: `name` or `options[i].name`), `no_options`, `duplicate_option`, `invalid_choices` (needs `min_choices <= max_choices <= options`)",
            body = ErrorBody
        )
    ],
    |group| Command::SaveModifierGroup { group },
    |venue, id| venue.modifier_groups.get(&id).cloned()
);
menu_entity!(
    create_item,
    update_item,
    "/api/v1/menu/items",
    "/api/v1/menu/items/{id}",
    MenuItem,
    SaveMenuItem,
    Entity::MenuItem,
    crate::domain::RejectionCode::MenuItemNotFound,
    [
        (
            status = 404,
            description = "`category_not_found`, `station_not_found` (`field`: `stations[i]`), `modifier_group_not_found` (`field`: `modifier_groups[i]`)",
            body = ErrorBody
        ),
        (
            status = 422,
            description = "`empty_text`, `text_too_long`, `invalid_price`, `no_station`, `invalid_course` (`field`: `default_course`)",
            body = ErrorBody
        ),
    ],
    [
        (
            status = 404,
            description = "`menu_item_not_found` (the path names nothing here), `category_not_found`, `station_not_found` (`field`: `stations[i]`), `modifier_group_not_found` (`field`: `modifier_groups[i]`)",
            body = ErrorBody
        ),
        (
            status = 422,
            description = "`empty_text`, `text_too_long`, `invalid_price`, `no_station`, `invalid_course` (`field`: `default_course`)",
            body = ErrorBody
        ),
    ],
    |item| Command::SaveMenuItem { item },
    |venue, id| venue.items.get(&id).cloned()
);
menu_entity!(
    create_station,
    update_station,
    "/api/v1/stations",
    "/api/v1/stations/{id}",
    Station,
    SaveStation,
    Entity::Station,
    crate::domain::RejectionCode::StationNotFound,
    [
        (
            status = 409,
            description = "`station_key_taken`",
            body = ErrorBody
        ),
        (
            status = 422,
            description = "`invalid_slug` (`field`: `key`), `empty_text`, `text_too_long`",
            body = ErrorBody
        ),
    ],
    [
        (
            status = 404,
            description = "`station_not_found`: the venue has no such entity; a PUT never creates",
            body = ErrorBody
        ),
        (
            status = 409,
            description = "`station_key_taken`",
            body = ErrorBody
        ),
        (
            status = 422,
            description = "`invalid_slug` (`field`: `key`), `empty_text`, `text_too_long`",
            body = ErrorBody
        ),
    ],
    |station| Command::SaveStation { station },
    |venue, id| venue.stations.get(&id).cloned()
);

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AvailabilityRequest {
    /// Client-generated UUID; retrying with the same id never repeats the change.
    pub command_id: Uuid,
    /// False marks the item sold out (86): new lines of it are refused.
    pub available: bool,
}

#[utoipa::path(
    post, path = "/api/v1/menu/items/{id}/availability", tag = "menu", security(("bearer" = [])),
    params(("id" = Uuid, Path)), request_body = AvailabilityRequest,
    responses(
        (status = 200, body = MenuItem),
        (status = 403, description = "`forbidden`: the role may not mark items sold out", body = ErrorBody),
        (status = 404, description = "`menu_item_not_found`", body = ErrorBody),
    )
)]
pub async fn set_availability(
    caller: Caller,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<AvailabilityRequest>,
) -> Result<Executed<MenuItem>, ApiError> {
    let item_id = MenuItemId(id);
    let command = Command::SetItemAvailability {
        item_id,
        available: body.available,
    };
    run(
        &caller,
        Permission::MarkItemAvailability,
        body.command_id,
        command,
        StatusCode::OK,
        move |v| v.items.get(&item_id).cloned(),
    )
    .await
}
