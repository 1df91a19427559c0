//! Order endpoints: open an order, add lines, fire courses, move lines through the kitchen
//! (start, ready, serve), void, close and cancel; list and read orders.

use axum::{Json, extract::State, http::StatusCode};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::{
    body::CommandOnly,
    command::{Executed, derived_id, run},
    error::{ApiError, ErrorBody},
    extract::{ApiJson, ApiPath, ApiQuery, Caller},
};
use crate::{
    app::AppState,
    auth::Permission,
    domain::{
        Command, Customer, LineId, LineInput, MenuItemId, ModifierId, Order, OrderId, OrderKind,
        OrderStatus, StationId, TableId,
    },
    view::OrderView,
};

/// A line as entered on a handheld.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LineRequest {
    /// Optional client id for the line; derived from `command_id` when absent.
    #[serde(default)]
    pub line_id: Option<LineId>,
    pub menu_item_id: MenuItemId,
    pub quantity: i32,
    /// Chosen modifier option ids.
    #[serde(default)]
    pub modifiers: Vec<ModifierId>,
    #[serde(default)]
    pub seat: Option<i32>,
    /// Course to join (1-9); the item's default when absent.
    #[serde(default)]
    pub course: Option<i32>,
    #[serde(default)]
    pub note: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OpenOrderRequest {
    pub command_id: Uuid,
    /// Optional client id for the order; derived from `command_id` when absent.
    #[serde(default)]
    pub order_id: Option<OrderId>,
    pub kind: OrderKind,
    /// Required for `dine_in`; the table is seated if it is free.
    #[serde(default)]
    pub table_id: Option<TableId>,
    #[serde(default)]
    pub guests: Option<i32>,
    /// Required with an address for `delivery`; optional for `takeaway`.
    #[serde(default)]
    pub customer: Option<Customer>,
    /// Delivery channel, e.g. `gofood`, `grabfood`, `shopeefood`, `phone`.
    #[serde(default)]
    pub channel: Option<String>,
    #[serde(default)]
    pub note: Option<String>,
    #[serde(default)]
    pub lines: Vec<LineRequest>,
    /// Hold every course; by default the first course fires at once.
    #[serde(default)]
    pub hold: bool,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddLinesRequest {
    pub command_id: Uuid,
    pub lines: Vec<LineRequest>,
    /// Keep the new lines held even if their course was already fired.
    #[serde(default)]
    pub hold: bool,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FireRequest {
    pub command_id: Uuid,
    pub course: i32,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LinesRequest {
    pub command_id: Uuid,
    pub line_ids: Vec<LineId>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReadyRequest {
    pub command_id: Uuid,
    pub line_ids: Vec<LineId>,
    /// Only this station's part of each line is ready.
    #[serde(default)]
    pub station_id: Option<StationId>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReasonRequest {
    pub command_id: Uuid,
    pub reason: String,
}

/// Narrows out-of-range numbers to a value the domain refuses with its own code.
fn small<T: TryFrom<i32> + Default>(value: i32) -> T {
    T::try_from(value).unwrap_or_default()
}

fn line_inputs(command_id: Uuid, lines: Vec<LineRequest>) -> Vec<LineInput> {
    lines
        .into_iter()
        .enumerate()
        .map(|(index, line)| LineInput {
            line_id: line
                .line_id
                .unwrap_or_else(|| LineId(derived_id(command_id, "line", index))),
            menu_item_id: line.menu_item_id,
            quantity: small(line.quantity),
            modifiers: line.modifiers,
            seat: line.seat.map(small),
            course: line.course.map(small),
            note: line.note,
        })
        .collect()
}

fn show_order(
    order_id: OrderId,
) -> impl FnOnce(&crate::domain::Venue) -> Option<OrderView> + Send + 'static {
    move |venue| OrderView::find(venue, order_id)
}

#[utoipa::path(
    post, path = "/api/v1/orders", tag = "orders", security(("bearer" = [])),
    request_body = OpenOrderRequest,
    responses(
        (status = 201, description = "The order as opened; a retried `command_id` answers 200 with `Idempotent-Replayed: true`", body = OrderView),
        (status = 404, description = "`table_not_found`, `menu_item_not_found`", body = ErrorBody),
        (status = 409, description = "`item_unavailable`, `table_merged`, `table_needs_cleaning`, `order_exists`", body = ErrorBody),
        (status = 422, description = "`invalid_quantity`, `invalid_modifier`, `missing_table`, `missing_address`, `invalid_field`...", body = ErrorBody),
    )
)]
pub async fn open_order(
    caller: Caller,
    ApiJson(body): ApiJson<OpenOrderRequest>,
) -> Result<Executed<OrderView>, ApiError> {
    let order_id = body
        .order_id
        .unwrap_or_else(|| OrderId(derived_id(body.command_id, "order", 0)));
    let command = Command::OpenOrder {
        order_id,
        kind: body.kind,
        table_id: body.table_id,
        guests: body.guests.map(small),
        customer: body.customer,
        channel: body.channel,
        note: body.note,
        lines: line_inputs(body.command_id, body.lines),
        hold: body.hold,
    };
    run(
        &caller,
        Permission::TakeOrders,
        body.command_id,
        command,
        StatusCode::CREATED,
        show_order(order_id),
    )
    .await
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct OrderListQuery {
    /// `open` (default), `closed`, `cancelled` or `all` (orders still in memory).
    pub status: Option<String>,
}

#[utoipa::path(
    get, path = "/api/v1/orders", tag = "orders", security(("bearer" = [])),
    params(OrderListQuery),
    responses((status = 200, description = "Orders by number", body = Vec<OrderView>), (status = 400, body = ErrorBody))
)]
pub async fn list_orders(
    caller: Caller,
    ApiQuery(query): ApiQuery<OrderListQuery>,
) -> Result<Json<Vec<OrderView>>, ApiError> {
    caller.require(Permission::ViewOrders)?;
    let wanted: Option<OrderStatus> = match query.status.as_deref().unwrap_or("open") {
        "open" => Some(OrderStatus::Open),
        "closed" => Some(OrderStatus::Closed),
        "cancelled" => Some(OrderStatus::Cancelled),
        "all" => None,
        other => {
            return Err(ApiError::bad_request(
                "invalid_query",
                format!("status must be open, closed, cancelled or all (got {other:?})"),
            ));
        }
    };
    let orders = caller
        .venue
        .read(move |venue| {
            let mut orders: Vec<OrderView> = venue
                .orders
                .values()
                .filter(|o| wanted.is_none_or(|s| o.status == s))
                .map(|o| OrderView::of(venue, o))
                .collect();
            orders.sort_by_key(|o| o.order.number);
            orders
        })
        .await?;
    Ok(Json(orders))
}

#[utoipa::path(
    get, path = "/api/v1/orders/{id}", tag = "orders", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, body = OrderView), (status = 404, body = ErrorBody))
)]
pub async fn get_order(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<OrderView>, ApiError> {
    caller.require(Permission::ViewOrders)?;
    if let Some(view) = caller.venue.read(show_order(OrderId(id))).await? {
        return Ok(Json(view));
    }
    // Older finished orders have left memory; their projection still has them.
    let document = state
        .store
        .order_document(caller.venue.id().0, id)
        .await
        .map_err(|e| ApiError::Unavailable(e.to_string()))?
        .ok_or(ApiError::Rejected(crate::domain::Rejection::not_found(
            "order_not_found",
            format!("order {id}"),
        )))?;
    let order: Order =
        serde_json::from_value(document).map_err(|e| ApiError::Internal(e.into()))?;
    Ok(Json(OrderView {
        subtotal: order.subtotal(),
        table_label: None,
        ticket_code: order.ticket_code(),
        order,
    }))
}

async fn order_command(
    caller: Caller,
    permission: Permission,
    command_id: Uuid,
    command: Command,
    order_id: OrderId,
) -> Result<Executed<OrderView>, ApiError> {
    run(
        &caller,
        permission,
        command_id,
        command,
        StatusCode::OK,
        show_order(order_id),
    )
    .await
}

#[utoipa::path(
    post, path = "/api/v1/orders/{id}/lines", tag = "orders", security(("bearer" = [])),
    params(("id" = Uuid, Path)), request_body = AddLinesRequest,
    responses((status = 200, body = OrderView), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody))
)]
pub async fn add_lines(
    caller: Caller,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<AddLinesRequest>,
) -> Result<Executed<OrderView>, ApiError> {
    let order_id = OrderId(id);
    let command = Command::AddLines {
        order_id,
        lines: line_inputs(body.command_id, body.lines),
        hold: body.hold,
    };
    order_command(
        caller,
        Permission::TakeOrders,
        body.command_id,
        command,
        order_id,
    )
    .await
}

#[utoipa::path(
    post, path = "/api/v1/orders/{id}/fire", tag = "orders", security(("bearer" = [])),
    params(("id" = Uuid, Path)), request_body = FireRequest,
    responses((status = 200, body = OrderView), (status = 409, description = "`nothing_to_fire`, `order_not_open`", body = ErrorBody))
)]
pub async fn fire_course(
    caller: Caller,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<FireRequest>,
) -> Result<Executed<OrderView>, ApiError> {
    let order_id = OrderId(id);
    let command = Command::FireCourse {
        order_id,
        course: small(body.course),
    };
    order_command(
        caller,
        Permission::TakeOrders,
        body.command_id,
        command,
        order_id,
    )
    .await
}

#[utoipa::path(
    post, path = "/api/v1/orders/{id}/lines/start", tag = "kitchen", security(("bearer" = [])),
    params(("id" = Uuid, Path)), request_body = LinesRequest,
    responses((status = 200, body = OrderView), (status = 409, description = "`invalid_line_transition`", body = ErrorBody))
)]
pub async fn start_lines(
    caller: Caller,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<LinesRequest>,
) -> Result<Executed<OrderView>, ApiError> {
    let order_id = OrderId(id);
    let command = Command::StartLines {
        order_id,
        line_ids: body.line_ids,
    };
    order_command(
        caller,
        Permission::KitchenWork,
        body.command_id,
        command,
        order_id,
    )
    .await
}

#[utoipa::path(
    post, path = "/api/v1/orders/{id}/lines/ready", tag = "kitchen", security(("bearer" = [])),
    params(("id" = Uuid, Path)), request_body = ReadyRequest,
    responses((status = 200, body = OrderView), (status = 409, description = "`invalid_line_transition`", body = ErrorBody))
)]
pub async fn ready_lines(
    caller: Caller,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<ReadyRequest>,
) -> Result<Executed<OrderView>, ApiError> {
    let order_id = OrderId(id);
    let command = Command::MarkLinesReady {
        order_id,
        line_ids: body.line_ids,
        station_id: body.station_id,
    };
    order_command(
        caller,
        Permission::KitchenWork,
        body.command_id,
        command,
        order_id,
    )
    .await
}

#[utoipa::path(
    post, path = "/api/v1/orders/{id}/lines/serve", tag = "orders", security(("bearer" = [])),
    params(("id" = Uuid, Path)), request_body = LinesRequest,
    responses((status = 200, body = OrderView), (status = 409, description = "`invalid_line_transition`", body = ErrorBody))
)]
pub async fn serve_lines(
    caller: Caller,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<LinesRequest>,
) -> Result<Executed<OrderView>, ApiError> {
    let order_id = OrderId(id);
    let command = Command::ServeLines {
        order_id,
        line_ids: body.line_ids,
    };
    order_command(
        caller,
        Permission::ServeLines,
        body.command_id,
        command,
        order_id,
    )
    .await
}

#[utoipa::path(
    post, path = "/api/v1/orders/{id}/lines/{line_id}/void", tag = "orders", security(("bearer" = [])),
    params(("id" = Uuid, Path), ("line_id" = Uuid, Path)), request_body = ReasonRequest,
    responses(
        (status = 200, body = OrderView),
        (status = 403, description = "`manager_approval_required` once cooking started; `forbidden` for roles that cannot void", body = ErrorBody),
        (status = 409, description = "`line_already_voided`", body = ErrorBody),
        (status = 422, description = "`missing_reason`", body = ErrorBody),
    )
)]
pub async fn void_line(
    caller: Caller,
    ApiPath((id, line_id)): ApiPath<(Uuid, Uuid)>,
    ApiJson(body): ApiJson<ReasonRequest>,
) -> Result<Executed<OrderView>, ApiError> {
    let order_id = OrderId(id);
    let command = Command::VoidLine {
        order_id,
        line_id: LineId(line_id),
        reason: body.reason,
    };
    order_command(
        caller,
        Permission::VoidBeforeCooking,
        body.command_id,
        command,
        order_id,
    )
    .await
}

#[utoipa::path(
    post, path = "/api/v1/orders/{id}/close", tag = "orders", security(("bearer" = [])),
    params(("id" = Uuid, Path)), request_body = CommandOnly,
    responses((status = 200, body = OrderView), (status = 409, description = "`order_has_unserved_lines`, `order_not_open`", body = ErrorBody))
)]
pub async fn close_order(
    caller: Caller,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<CommandOnly>,
) -> Result<Executed<OrderView>, ApiError> {
    let order_id = OrderId(id);
    order_command(
        caller,
        Permission::CloseOrders,
        body.command_id,
        Command::CloseOrder { order_id },
        order_id,
    )
    .await
}

#[utoipa::path(
    post, path = "/api/v1/orders/{id}/cancel", tag = "orders", security(("bearer" = [])),
    params(("id" = Uuid, Path)), request_body = ReasonRequest,
    responses((status = 200, body = OrderView), (status = 409, description = "`order_has_fired_lines`, `order_not_open`", body = ErrorBody))
)]
pub async fn cancel_order(
    caller: Caller,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<ReasonRequest>,
) -> Result<Executed<OrderView>, ApiError> {
    let order_id = OrderId(id);
    let command = Command::CancelOrder {
        order_id,
        reason: body.reason,
    };
    order_command(
        caller,
        Permission::CancelOrders,
        body.command_id,
        command,
        order_id,
    )
    .await
}

/// Runs a kitchen-screen command for the station named by its key in the path.
async fn station_command(
    caller: Caller,
    order_id: Uuid,
    station_key: String,
    command_id: Uuid,
    permission: Permission,
    make: impl FnOnce(OrderId, StationId) -> Command,
) -> Result<Executed<OrderView>, ApiError> {
    caller.require(permission)?;
    let key = station_key.clone();
    let station = caller
        .venue
        .read(move |v| crate::view::kitchen::station_by_key(v, &key).map(|s| s.id))
        .await?
        .ok_or_else(|| {
            ApiError::Rejected(
                crate::domain::Rejection::not_found(
                    "station_not_found",
                    format!("station {station_key:?}"),
                )
                .within("station"),
            )
        })?;
    let order_id = OrderId(order_id);
    order_command(
        caller,
        permission,
        command_id,
        make(order_id, station),
        order_id,
    )
    .await
}

/// Generates a kitchen-screen action on one station's part of an order.
macro_rules! station_action {
    ($(#[$doc:meta])* $name:ident, $path:literal, $command:ident, $conflicts:literal) => {
        $(#[$doc])*
        #[utoipa::path(
            post, path = $path, tag = "kitchen", security(("bearer" = [])),
            params(("id" = Uuid, Path), ("station" = String, Path, description = "Station key, e.g. `grill`")),
            request_body = CommandOnly,
            responses(
                (status = 200, body = OrderView),
                (status = 404, description = "`order_not_found`, `station_not_found`", body = ErrorBody),
                (status = 409, description = $conflicts, body = ErrorBody),
            )
        )]
        pub async fn $name(
            caller: Caller,
            ApiPath((id, station)): ApiPath<(Uuid, String)>,
            ApiJson(body): ApiJson<CommandOnly>,
        ) -> Result<Executed<OrderView>, ApiError> {
            station_command(caller, id, station, body.command_id, Permission::KitchenWork, |order_id, station_id| {
                Command::$command { order_id, station_id }
            })
            .await
        }
    };
}

station_action!(
    /// Start cooking the station's fired lines.
    start_ticket, "/api/v1/orders/{id}/stations/{station}/start", StartTicket, "`nothing_to_start`");
station_action!(
    /// The station's part of the order is done.
    bump_ticket, "/api/v1/orders/{id}/stations/{station}/bump", BumpTicket, "`nothing_to_bump`");
station_action!(
    /// Bring a bumped ticket back onto the station's screen.
    recall_ticket, "/api/v1/orders/{id}/stations/{station}/recall", RecallTicket, "`ticket_on_screen`, `not_at_station`");

#[utoipa::path(
    post, path = "/api/v1/orders/{id}/serve-ready", tag = "kitchen", security(("bearer" = [])),
    params(("id" = Uuid, Path)), request_body = CommandOnly,
    responses((status = 200, body = OrderView), (status = 409, description = "`nothing_to_serve`", body = ErrorBody))
)]
pub async fn serve_ready(
    caller: Caller,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<CommandOnly>,
) -> Result<Executed<OrderView>, ApiError> {
    let order_id = OrderId(id);
    order_command(
        caller,
        Permission::ServeLines,
        body.command_id,
        Command::ServeReady { order_id },
        order_id,
    )
    .await
}
