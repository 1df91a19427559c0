//! Order endpoints: open an order, add lines, fire courses, move lines through the kitchen
//! (start, ready, serve), void, close and cancel; list and read orders.

use axum::{Json, extract::State, http::StatusCode};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::{
    body::{CommandOnly, distinct_ids},
    command::{Executed, run},
    error::{ApiError, ErrorBody},
    extract::{ApiJson, ApiPath, ApiQuery, Caller},
};
use crate::{
    auth::Permission,
    domain::{
        Command, Customer, DerivedFor, Entity, LineId, LineInput, MenuItemId, ModifierId, Order,
        OrderId, OrderKind, OrderStatus, StationId, TableId, derived_id,
    },
    state::AppState,
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
    #[schema(minimum = 1, maximum = 999)]
    pub quantity: i32,
    #[serde(default)]
    #[schema(schema_with = modifier_ids)]
    pub modifiers: Vec<ModifierId>,
    /// Seats are numbered from 1.
    #[serde(default)]
    #[schema(minimum = 1, maximum = 255)]
    pub seat: Option<i32>,
    /// Course to join (1-9); the item's default when absent.
    #[serde(default)]
    #[schema(minimum = 1, maximum = 9)]
    pub course: Option<i32>,
    #[serde(default)]
    #[schema(min_length = 1, max_length = 500, pattern = r"\S")]
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
    /// For `dine_in` at a free table (default 1).
    #[serde(default)]
    #[schema(minimum = 1, maximum = 200)]
    pub guests: Option<i32>,
    /// Required with an address for `delivery`; optional otherwise.
    #[serde(default)]
    pub customer: Option<Customer>,
    /// Delivery channel, e.g. `gofood`, `grabfood`, `shopeefood`, `phone`.
    #[serde(default)]
    #[schema(min_length = 1, max_length = 40, pattern = r"\S")]
    pub channel: Option<String>,
    #[serde(default)]
    #[schema(min_length = 1, max_length = 500, pattern = r"\S")]
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
    #[schema(min_items = 1)]
    pub lines: Vec<LineRequest>,
    /// Keep the new lines held even if their course was already fired.
    #[serde(default)]
    pub hold: bool,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FireRequest {
    pub command_id: Uuid,
    #[schema(minimum = 1, maximum = 9)]
    pub course: i32,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LinesRequest {
    pub command_id: Uuid,
    #[schema(schema_with = line_ids)]
    pub line_ids: Vec<LineId>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReadyRequest {
    pub command_id: Uuid,
    #[schema(schema_with = line_ids)]
    pub line_ids: Vec<LineId>,
    /// Only this station's part of each line is ready.
    #[serde(default)]
    pub station_id: Option<StationId>,
}

fn modifier_ids() -> utoipa::openapi::schema::Array {
    distinct_ids(
        "ModifierId",
        0,
        "Chosen modifier option ids, each once; every group of the item gets between its `min_choices` and `max_choices`.",
    )
}

fn line_ids() -> utoipa::openapi::schema::Array {
    distinct_ids("LineId", 1, "Lines of the order: at least one, each once.")
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReasonRequest {
    pub command_id: Uuid,
    /// Not blank, at most 500 characters.
    #[schema(min_length = 1, max_length = 500, pattern = r"\S")]
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
                .unwrap_or_else(|| LineId(derived_id(command_id, DerivedFor::OrderLine(index)))),
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
        (status = 403, description = "`forbidden`: the role may not take orders", body = ErrorBody),
        (status = 404, description = "`table_not_found` (`field`: `table_id`), `menu_item_not_found` (`field`: `lines[i].menu_item_id`)", body = ErrorBody),
        (status = 409, description = "`order_exists`, `table_merged`, `table_needs_cleaning`; lines: `line_exists`, `item_unavailable`", body = ErrorBody),
        (status = 422, description = "`missing_table`, `unexpected_table`, `missing_address`, `invalid_guests`, `empty_text`, `text_too_long`; lines (`field`: `lines[i]...`): `invalid_quantity`, `invalid_course`, `invalid_seat`, `invalid_modifier`", body = ErrorBody),
    )
)]
pub async fn open_order(
    caller: Caller,
    ApiJson(body): ApiJson<OpenOrderRequest>,
) -> Result<Executed<OrderView>, ApiError> {
    let order_id = body.order_id.unwrap_or_else(|| {
        OrderId(derived_id(
            body.command_id,
            DerivedFor::Entity(Entity::Order),
        ))
    });
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
#[into_params(parameter_in = Query)]
pub struct OrderListQuery {
    /// `open` (default), `closed`, `cancelled` or `all` (orders still in memory).
    #[param(inline)]
    pub status: Option<OrderFilter>,
}

/// Which orders `GET /orders` lists.
#[derive(Clone, Copy, Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OrderFilter {
    #[default]
    Open,
    Closed,
    Cancelled,
    All,
}

#[utoipa::path(
    get, path = "/api/v1/orders", tag = "orders", security(("bearer" = [])),
    params(OrderListQuery),
    responses((status = 200, description = "Orders by number", body = Vec<OrderView>))
)]
pub async fn list_orders(
    caller: Caller,
    ApiQuery(query): ApiQuery<OrderListQuery>,
) -> Result<Json<Vec<OrderView>>, ApiError> {
    caller.require(Permission::ViewOrders)?;
    let wanted: Option<OrderStatus> = match query.status.unwrap_or_default() {
        OrderFilter::Open => Some(OrderStatus::Open),
        OrderFilter::Closed => Some(OrderStatus::Closed),
        OrderFilter::Cancelled => Some(OrderStatus::Cancelled),
        OrderFilter::All => None,
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
    responses(
        (status = 200, description = "The order, also when it has left memory (then `table_label` is null)", body = OrderView),
        (status = 404, description = "`order_not_found`", body = ErrorBody),
    )
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
            crate::domain::RejectionCode::OrderNotFound,
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
    responses(
        (status = 200, body = OrderView),
        (status = 403, description = "`forbidden`: the role may not take orders", body = ErrorBody),
        (status = 404, description = "`order_not_found`, `menu_item_not_found` (`field`: `lines[i].menu_item_id`)", body = ErrorBody),
        (status = 409, description = "`order_not_open`, `line_exists`, `item_unavailable`", body = ErrorBody),
        (status = 422, description = "`no_lines`; lines (`field`: `lines[i]...`): `invalid_quantity`, `invalid_course`, `invalid_seat`, `invalid_modifier`, `empty_text`, `text_too_long`", body = ErrorBody),
    )
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
    responses(
        (status = 200, body = OrderView),
        (status = 403, description = "`forbidden`: the role may not take orders", body = ErrorBody),
        (status = 404, description = "`order_not_found`", body = ErrorBody),
        (status = 409, description = "`nothing_to_fire`, `order_not_open`", body = ErrorBody),
        (status = 422, description = "`invalid_course`", body = ErrorBody),
    )
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
    responses(
        (status = 200, body = OrderView),
        (status = 403, description = "`forbidden`: the role may not do kitchen work", body = ErrorBody),
        (status = 404, description = "`order_not_found`, `line_not_found` (`field`: `line_ids[i]`)", body = ErrorBody),
        (status = 409, description = "`order_not_open`, `invalid_line_transition` (a line is not `fired`)", body = ErrorBody),
        (status = 422, description = "`no_lines`, `duplicate_line`", body = ErrorBody),
    )
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
    responses(
        (status = 200, body = OrderView),
        (status = 403, description = "`forbidden`: the role may not do kitchen work", body = ErrorBody),
        (status = 404, description = "`order_not_found`, `line_not_found` (`field`: `line_ids[i]`), `station_not_found`", body = ErrorBody),
        (status = 409, description = "`order_not_open`, `invalid_line_transition` (a line is not `fired` or `in_progress`, or not routed to `station_id`, or that station finished it)", body = ErrorBody),
        (status = 422, description = "`no_lines`, `duplicate_line`", body = ErrorBody),
    )
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
    responses(
        (status = 200, body = OrderView),
        (status = 404, description = "`order_not_found`, `line_not_found` (`field`: `line_ids[i]`)", body = ErrorBody),
        (status = 409, description = "`order_not_open`, `invalid_line_transition` (a line is not `ready`)", body = ErrorBody),
        (status = 422, description = "`no_lines`, `duplicate_line`", body = ErrorBody),
    )
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
        (status = 404, description = "`order_not_found`, `line_not_found`", body = ErrorBody),
        (status = 409, description = "`order_not_open`, `line_already_voided`", body = ErrorBody),
        (status = 422, description = "`missing_reason`: blank or over 500 characters", body = ErrorBody),
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
    responses(
        (status = 200, body = OrderView),
        (status = 403, description = "`forbidden`: the role may not close orders", body = ErrorBody),
        (status = 404, description = "`order_not_found`", body = ErrorBody),
        (status = 409, description = "`order_has_unserved_lines`, `order_not_open`", body = ErrorBody),
    )
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
    responses(
        (status = 200, body = OrderView),
        (status = 403, description = "`forbidden`: the role may not cancel orders", body = ErrorBody),
        (status = 404, description = "`order_not_found`", body = ErrorBody),
        (status = 409, description = "`order_has_fired_lines`, `order_not_open`", body = ErrorBody),
        (status = 422, description = "`missing_reason`: blank or over 500 characters", body = ErrorBody),
    )
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
                    crate::domain::RejectionCode::StationNotFound,
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
                (status = 403, description = "`forbidden`: the role may not do kitchen work", body = ErrorBody),
                (status = 404, description = "`order_not_found`, `station_not_found` (`field`: `station`)", body = ErrorBody),
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
    start_ticket, "/api/v1/orders/{id}/stations/{station}/start", StartTicket, "`order_not_open`, `nothing_to_start`");
station_action!(
    /// The station's part of the order is done.
    bump_ticket, "/api/v1/orders/{id}/stations/{station}/bump", BumpTicket, "`order_not_open`, `nothing_to_bump`");
station_action!(
    /// Bring a bumped ticket back onto the station's screen.
    recall_ticket, "/api/v1/orders/{id}/stations/{station}/recall", RecallTicket, "`order_not_open`, `ticket_on_screen`, `not_at_station`");

#[utoipa::path(
    post, path = "/api/v1/orders/{id}/serve-ready", tag = "kitchen", security(("bearer" = [])),
    params(("id" = Uuid, Path)), request_body = CommandOnly,
    responses(
        (status = 200, body = OrderView),
        (status = 404, description = "`order_not_found`", body = ErrorBody),
        (status = 409, description = "`order_not_open`, `nothing_to_serve`", body = ErrorBody),
    )
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
