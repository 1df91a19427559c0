//! Floor endpoints: the live floor plan, the layout editor (areas, tables) and what hosts
//! and waiters do with tables (seat, move, merge, split, bill, clear, clean, assign, answer
//! a call for service).

use axum::{Json, http::StatusCode};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::{
    body::{CommandOnly, SaveArea, SaveTable, distinct_ids, entity_body},
    command::{Executed, require_existing, run},
    error::{ApiError, ErrorBody},
    extract::{ApiJson, ApiPath, ApiQuery, Caller},
};
use crate::{
    auth::Permission,
    domain::{Area, Command, Entity, StaffId, TableId, TableLayout},
    view::{FloorView, TableView},
};

#[utoipa::path(
    get, path = "/api/v1/floor", tag = "floor", security(("bearer" = [])),
    responses((status = 200, description = "Areas with their tables and live status", body = FloorView))
)]
pub async fn floor(caller: Caller) -> Result<Json<FloorView>, ApiError> {
    caller.require(Permission::ViewFloor)?;
    Ok(Json(caller.venue.read_at(FloorView::of).await?))
}

#[utoipa::path(
    post, path = "/api/v1/areas", tag = "floor", security(("bearer" = [])),
    request_body(content = SaveArea, description = "`command_id` plus the area; `id` optional (derived from `command_id`); unknown fields are ignored"),
    responses(
        (status = 201, description = "The area as saved; a retried `command_id` answers 200", body = Area),
        (status = 403, description = "`forbidden`: the role may not edit the floor", body = ErrorBody),
        (status = 422, description = "`empty_text`, `text_too_long` (`field`: `name`)", body = ErrorBody),
    )
)]
pub async fn create_area(
    caller: Caller,
    ApiJson(body): ApiJson<serde_json::Value>,
) -> Result<Executed<Area>, ApiError> {
    save_area(caller, body, None, StatusCode::CREATED).await
}

#[utoipa::path(
    put, path = "/api/v1/areas/{id}", tag = "floor", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "The area; an id the venue does not have is 404, never a new area")),
    request_body(content = SaveArea, description = "`command_id` plus the whole area; the path names it; unknown fields are ignored"),
    responses(
        (status = 200, body = Area),
        (status = 403, description = "`forbidden`: the role may not edit the floor", body = ErrorBody),
        (status = 404, description = "`area_not_found`: the venue has no such area; a PUT never creates", body = ErrorBody),
        (status = 422, description = "`empty_text`, `text_too_long` (`field`: `name`)", body = ErrorBody),
    )
)]
pub async fn update_area(
    caller: Caller,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<serde_json::Value>,
) -> Result<Executed<Area>, ApiError> {
    save_area(caller, body, Some(id), StatusCode::OK).await
}

async fn save_area(
    caller: Caller,
    body: serde_json::Value,
    id: Option<Uuid>,
    status: StatusCode,
) -> Result<Executed<Area>, ApiError> {
    let (command_id, area): (Uuid, Area) = entity_body(body, "id", id, Entity::Area)?;
    let area_id = area.id;
    if id.is_some() {
        caller.require(Permission::EditFloor)?;
        require_existing(
            &caller,
            crate::domain::RejectionCode::AreaNotFound,
            area_id.0,
            move |v| v.areas.contains_key(&area_id),
        )
        .await?;
    }
    run(
        &caller,
        Permission::EditFloor,
        command_id,
        Command::SaveArea { area },
        status,
        move |v| v.areas.get(&area_id).cloned(),
    )
    .await
}

#[utoipa::path(
    post, path = "/api/v1/tables", tag = "floor", security(("bearer" = [])),
    request_body(content = SaveTable, description = "`command_id` plus the layout; `id` optional (derived from `command_id`); unknown fields are ignored"),
    responses(
        (status = 201, description = "The table as saved; a retried `command_id` answers 200", body = TableView),
        (status = 403, description = "`forbidden`: the role may not edit the floor", body = ErrorBody),
        (status = 404, description = "`area_not_found` (`field`: `area_id`)", body = ErrorBody),
        (status = 409, description = "`table_label_taken`", body = ErrorBody),
        (status = 422, description = "`empty_text`, `text_too_long`, `invalid_seats`, `invalid_geometry`", body = ErrorBody),
    )
)]
pub async fn create_table(
    caller: Caller,
    ApiJson(body): ApiJson<serde_json::Value>,
) -> Result<Executed<TableView>, ApiError> {
    save_table(caller, body, None, StatusCode::CREATED).await
}

#[utoipa::path(
    put, path = "/api/v1/tables/{id}", tag = "floor", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "The table; an id the venue does not have is 404, never a new table")),
    request_body(content = SaveTable, description = "`command_id` plus the whole layout; the path names the table; unknown fields are ignored"),
    responses(
        (status = 200, body = TableView),
        (status = 403, description = "`forbidden`: the role may not edit the floor", body = ErrorBody),
        (status = 404, description = "`table_not_found` (the path names no table here; a PUT never creates), `area_not_found` (`field`: `area_id`)", body = ErrorBody),
        (status = 409, description = "`table_label_taken`", body = ErrorBody),
        (status = 422, description = "`empty_text`, `text_too_long`, `invalid_seats`, `invalid_geometry`", body = ErrorBody),
    )
)]
pub async fn update_table(
    caller: Caller,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<serde_json::Value>,
) -> Result<Executed<TableView>, ApiError> {
    save_table(caller, body, Some(id), StatusCode::OK).await
}

async fn save_table(
    caller: Caller,
    body: serde_json::Value,
    id: Option<Uuid>,
    status: StatusCode,
) -> Result<Executed<TableView>, ApiError> {
    let (command_id, table): (Uuid, TableLayout) = entity_body(body, "id", id, Entity::Table)?;
    let table_id = table.id;
    if id.is_some() {
        caller.require(Permission::EditFloor)?;
        require_existing(
            &caller,
            crate::domain::RejectionCode::TableNotFound,
            table_id.0,
            move |v| v.tables.contains_key(&table_id),
        )
        .await?;
    }
    run(
        &caller,
        Permission::EditFloor,
        command_id,
        Command::SaveTable { table },
        status,
        move |v| TableView::find(v, table_id),
    )
    .await
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RemoveQuery {
    /// Idempotency id of this removal.
    pub command_id: Uuid,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Removed {
    pub removed: Uuid,
}

#[utoipa::path(
    delete, path = "/api/v1/tables/{id}", tag = "floor", security(("bearer" = [])),
    params(("id" = Uuid, Path), RemoveQuery),
    responses(
        (status = 200, body = Removed),
        (status = 403, description = "`forbidden`: the role may not edit the floor", body = ErrorBody),
        (status = 404, description = "`table_not_found`", body = ErrorBody),
        (status = 409, description = "`table_in_use`: occupied, merged, dirty, has merged tables or open orders", body = ErrorBody),
    )
)]
pub async fn remove_table(
    caller: Caller,
    ApiPath(id): ApiPath<Uuid>,
    ApiQuery(query): ApiQuery<RemoveQuery>,
) -> Result<Executed<Removed>, ApiError> {
    let command = Command::RemoveTable {
        table_id: TableId(id),
    };
    run(
        &caller,
        Permission::EditFloor,
        query.command_id,
        command,
        StatusCode::OK,
        move |_| Some(Removed { removed: id }),
    )
    .await
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SeatRequest {
    pub command_id: Uuid,
    #[schema(minimum = 1, maximum = 200)]
    pub guests: i32,
    /// Server for this party; the table's assigned server when absent.
    #[serde(default)]
    pub server_id: Option<StaffId>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MoveRequest {
    pub command_id: Uuid,
    pub to_table_id: TableId,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MergeRequest {
    pub command_id: Uuid,
    #[schema(schema_with = table_ids)]
    pub table_ids: Vec<TableId>,
}

fn table_ids() -> utoipa::openapi::schema::Array {
    distinct_ids(
        "TableId",
        1,
        "Tables to join to the one in the path: at least one, each once, not the path's table.",
    )
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssignServerRequest {
    pub command_id: Uuid,
    /// An active staff member, or null to unassign.
    pub server_id: Option<StaffId>,
}

/// Table actions answer with the table's new view (for `move`: the destination).
async fn table_action(
    caller: Caller,
    permission: Permission,
    command_id: Uuid,
    command: Command,
    show: TableId,
) -> Result<Executed<TableView>, ApiError> {
    run(
        &caller,
        permission,
        command_id,
        command,
        StatusCode::OK,
        move |v| TableView::find(v, show),
    )
    .await
}

fn guests(value: i32) -> u16 {
    // Out-of-range numbers become 0 so the domain answers with its own `invalid_guests`.
    u16::try_from(value).unwrap_or(0)
}

#[utoipa::path(
    post, path = "/api/v1/tables/{id}/seat", tag = "floor", security(("bearer" = [])),
    params(("id" = Uuid, Path)), request_body = SeatRequest,
    responses(
        (status = 200, body = TableView),
        (status = 403, description = "`forbidden`: the role may not take orders", body = ErrorBody),
        (status = 404, description = "`table_not_found`, `staff_not_found` (`field`: `server_id`)", body = ErrorBody),
        (status = 409, description = "`table_occupied`, `table_needs_cleaning`, `table_merged`", body = ErrorBody),
        (status = 422, description = "`invalid_guests`", body = ErrorBody),
    )
)]
pub async fn seat(
    caller: Caller,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<SeatRequest>,
) -> Result<Executed<TableView>, ApiError> {
    let command = Command::SeatParty {
        table_id: TableId(id),
        guests: guests(body.guests),
        server_id: body.server_id,
    };
    table_action(
        caller,
        Permission::TakeOrders,
        body.command_id,
        command,
        TableId(id),
    )
    .await
}

#[utoipa::path(
    post, path = "/api/v1/tables/{id}/move", tag = "floor", security(("bearer" = [])),
    params(("id" = Uuid, Path)), request_body = MoveRequest,
    responses(
        (status = 200, description = "The destination table", body = TableView),
        (status = 403, description = "`forbidden`: the role may not take orders", body = ErrorBody),
        (status = 404, description = "`table_not_found` (the destination with `field`: `to_table_id`)", body = ErrorBody),
        (status = 409, description = "`table_merged`, `table_not_occupied`, `table_has_merged_tables`; for the destination: `table_merged`, `table_needs_cleaning`, `table_occupied`", body = ErrorBody),
        (status = 422, description = "`same_table`", body = ErrorBody),
    )
)]
pub async fn move_party(
    caller: Caller,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<MoveRequest>,
) -> Result<Executed<TableView>, ApiError> {
    let command = Command::MoveParty {
        table_id: TableId(id),
        to_table_id: body.to_table_id,
    };
    table_action(
        caller,
        Permission::TakeOrders,
        body.command_id,
        command,
        body.to_table_id,
    )
    .await
}

#[utoipa::path(
    post, path = "/api/v1/tables/{id}/merge", tag = "floor", security(("bearer" = [])),
    params(("id" = Uuid, Path)), request_body = MergeRequest,
    responses(
        (status = 200, description = "The primary table", body = TableView),
        (status = 403, description = "`forbidden`: the role may not take orders", body = ErrorBody),
        (status = 404, description = "`table_not_found` (`field`: `table_ids[i]` for a joined table)", body = ErrorBody),
        (status = 409, description = "`table_merged`, `table_needs_cleaning`, `table_has_merged_tables`", body = ErrorBody),
        (status = 422, description = "`no_tables`, `duplicate_table`", body = ErrorBody),
    )
)]
pub async fn merge(
    caller: Caller,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<MergeRequest>,
) -> Result<Executed<TableView>, ApiError> {
    let command = Command::MergeTables {
        table_id: TableId(id),
        table_ids: body.table_ids,
    };
    table_action(
        caller,
        Permission::TakeOrders,
        body.command_id,
        command,
        TableId(id),
    )
    .await
}

macro_rules! simple_table_action {
    ($(#[$doc:meta])* $name:ident, $path:literal, $permission:expr, $command:ident, $conflicts:literal) => {
        $(#[$doc])*
        #[utoipa::path(
            post, path = $path, tag = "floor", security(("bearer" = [])),
            params(("id" = Uuid, Path)), request_body = CommandOnly,
            responses(
                (status = 200, body = TableView),
                (status = 403, description = "`forbidden`: the role may not do this", body = ErrorBody),
                (status = 404, description = "`table_not_found`", body = ErrorBody),
                (status = 409, description = $conflicts, body = ErrorBody),
            )
        )]
        pub async fn $name(caller: Caller, ApiPath(id): ApiPath<Uuid>, ApiJson(body): ApiJson<CommandOnly>) -> Result<Executed<TableView>, ApiError> {
            let command = Command::$command { table_id: TableId(id) };
            table_action(caller, $permission, body.command_id, command, TableId(id)).await
        }
    };
}

simple_table_action!(
    /// Releases the tables merged into this one.
    split, "/api/v1/tables/{id}/split", Permission::TakeOrders, SplitTables, "`table_merged`, `table_not_merged`");
simple_table_action!(
    /// The party asks for the bill.
    request_bill, "/api/v1/tables/{id}/bill", Permission::TakeOrders, RequestBill, "`table_merged`, `table_not_occupied`, `bill_already_requested`");
simple_table_action!(
    /// The party left with no open orders: the table needs cleaning.
    clear, "/api/v1/tables/{id}/clear", Permission::TakeOrders, ClearTable, "`table_merged`, `table_has_open_orders`, `table_not_occupied`");
simple_table_action!(
    /// The table was cleaned and is available again.
    clean, "/api/v1/tables/{id}/clean", Permission::CleanTables, MarkTableClean, "`table_not_dirty`");
simple_table_action!(
    /// A server saw the table's call for service and is on the way (the call button's LED
    /// shows it).
    acknowledge_service, "/api/v1/tables/{id}/service-request/acknowledge", Permission::TakeOrders, AcknowledgeServiceRequest, "`no_service_request`, `service_already_acknowledged`");
simple_table_action!(
    /// The call for service was dealt with: it leaves the floor plan.
    cancel_service, "/api/v1/tables/{id}/service-request/cancel", Permission::TakeOrders, CancelServiceRequest, "`no_service_request`");

#[utoipa::path(
    post, path = "/api/v1/tables/{id}/server", tag = "floor", security(("bearer" = [])),
    params(("id" = Uuid, Path)), request_body = AssignServerRequest,
    responses(
        (status = 200, body = TableView),
        (status = 403, description = "`forbidden`: the role may not edit the floor", body = ErrorBody),
        (status = 404, description = "`table_not_found`, `staff_not_found` (`field`: `server_id`)", body = ErrorBody),
    )
)]
pub async fn assign_server(
    caller: Caller,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<AssignServerRequest>,
) -> Result<Executed<TableView>, ApiError> {
    let command = Command::AssignServer {
        table_id: TableId(id),
        server_id: body.server_id,
    };
    table_action(
        caller,
        Permission::EditFloor,
        body.command_id,
        command,
        TableId(id),
    )
    .await
}
