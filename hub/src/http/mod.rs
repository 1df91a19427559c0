//! The REST adapter: parses requests, calls the engine, maps results. No business rules
//! live here; every refusal comes from the domain or the auth policy.
//!
//! # Layout
//! - [`auth`], [`venues`], [`floor`], [`menu`], [`orders`], [`staff`], [`devices`],
//!   [`food_safety`], [`readings`], [`audit`], [`system`]: handlers; [`scans`] and [`cooling`] read what
//!   scanners and probes recorded.
//! - [`extract`]: JSON/path/query extractors with clear errors; the bearer-token `Caller`.
//! - [`drain`]: a body the handler left unread is read off (bounded) or the answer says
//!   `Connection: close`, so keep-alive connections survive refusals.
//! - [`command`]: running a command idempotently and answering with the resulting view.
//! - [`error`]: `ApiError` and the error body; [`openapi`]: the document.
//! - [`server`]: the accept loop and hyper connections (timeouts, TCP_NODELAY, graceful
//!   stop); [`admission`]: connection caps and the file-descriptor reserve.
//! - Read models live in [`crate::view`], shared with the WebSocket gateway.

pub mod admission;
pub mod audit;
pub mod auth;
pub mod body;
pub mod command;
pub mod cooling;
pub mod devices;
pub mod drain;
pub mod error;
pub mod extract;
pub mod floor;
pub mod food_safety;
pub mod menu;
pub mod openapi;
pub mod orders;
pub mod readings;
pub mod scans;
pub mod server;
pub mod setup;
pub mod staff;
pub mod system;
pub mod venues;

use std::time::Instant;

use axum::{
    Json, Router,
    extract::{DefaultBodyLimit, MatchedPath, Request, State},
    middleware::{self, Next},
    response::Response,
    routing::{get, post},
};
use tower_http::catch_panic::CatchPanicLayer;
use utoipa::OpenApi as _;

use crate::app::AppState;

/// Largest request body accepted; an order with hundreds of lines fits easily.
pub const MAX_BODY_BYTES: usize = 256 * 1024;

pub fn router(state: AppState) -> Router {
    let api = Router::new()
        .route("/auth/login", post(auth::login))
        .route("/auth/refresh", post(auth::refresh))
        .route("/auth/venue", post(auth::switch_venue))
        .route(
            "/venues",
            get(venues::list_venues).post(venues::create_venue),
        )
        .route("/setup", post(setup::setup))
        .route("/me", get(auth::me))
        .route("/venue", get(auth::venue))
        .route("/info", get(system::info))
        .route("/openapi.json", get(openapi_json))
        .route("/docs", get(system::api_docs))
        .route("/floor", get(floor::floor))
        .route("/areas", post(floor::create_area))
        .route("/areas/{id}", axum::routing::put(floor::update_area))
        .route("/tables", post(floor::create_table))
        .route(
            "/tables/{id}",
            axum::routing::put(floor::update_table).delete(floor::remove_table),
        )
        .route("/tables/{id}/seat", post(floor::seat))
        .route("/tables/{id}/move", post(floor::move_party))
        .route("/tables/{id}/merge", post(floor::merge))
        .route("/tables/{id}/split", post(floor::split))
        .route("/tables/{id}/bill", post(floor::request_bill))
        .route("/tables/{id}/clear", post(floor::clear))
        .route("/tables/{id}/clean", post(floor::clean))
        .route("/tables/{id}/server", post(floor::assign_server))
        .route(
            "/tables/{id}/service-request/acknowledge",
            post(floor::acknowledge_service),
        )
        .route(
            "/tables/{id}/service-request/cancel",
            post(floor::cancel_service),
        )
        .route("/menu", get(menu::menu))
        .route("/menu/categories", post(menu::create_category))
        .route(
            "/menu/categories/{id}",
            axum::routing::put(menu::update_category),
        )
        .route("/menu/modifier-groups", post(menu::create_modifier_group))
        .route(
            "/menu/modifier-groups/{id}",
            axum::routing::put(menu::update_modifier_group),
        )
        .route("/menu/items", post(menu::create_item))
        .route("/menu/items/{id}", axum::routing::put(menu::update_item))
        .route(
            "/menu/items/{id}/availability",
            post(menu::set_availability),
        )
        .route("/stations", get(menu::stations).post(menu::create_station))
        .route("/stations/{id}", axum::routing::put(menu::update_station))
        .route("/orders", get(orders::list_orders).post(orders::open_order))
        .route("/orders/{id}", get(orders::get_order))
        .route("/orders/{id}/lines", post(orders::add_lines))
        .route("/orders/{id}/fire", post(orders::fire_course))
        .route("/orders/{id}/lines/start", post(orders::start_lines))
        .route("/orders/{id}/lines/ready", post(orders::ready_lines))
        .route("/orders/{id}/lines/serve", post(orders::serve_lines))
        .route("/orders/{id}/lines/{line_id}/void", post(orders::void_line))
        .route(
            "/orders/{id}/stations/{station}/start",
            post(orders::start_ticket),
        )
        .route(
            "/orders/{id}/stations/{station}/bump",
            post(orders::bump_ticket),
        )
        .route(
            "/orders/{id}/stations/{station}/recall",
            post(orders::recall_ticket),
        )
        .route("/orders/{id}/serve-ready", post(orders::serve_ready))
        .route("/orders/{id}/close", post(orders::close_order))
        .route("/orders/{id}/cancel", post(orders::cancel_order))
        .route("/staff", get(staff::list_staff).post(staff::add_staff))
        .route("/staff/{id}", axum::routing::patch(staff::update_staff))
        .route("/staff/{id}/pin", post(staff::set_pin))
        .route("/staff/{id}/password", post(staff::set_password))
        .route("/staff/{id}/venues", axum::routing::put(staff::give_venues))
        .route(
            "/devices",
            get(devices::list_devices).post(devices::provision_device),
        )
        .route(
            "/devices/{id}",
            axum::routing::put(devices::update_device).delete(devices::remove_device),
        )
        .route("/devices/{id}/enabled", post(devices::set_enabled))
        .route("/devices/{id}/rotate", post(devices::rotate_secret))
        .route("/devices/{id}/readings", get(readings::history))
        .route("/food-safety/alerts", get(food_safety::list_alerts))
        .route("/food-safety/report", get(readings::report))
        .route(
            "/food-safety/alerts/{id}/acknowledge",
            post(food_safety::acknowledge),
        )
        .route(
            "/food-safety/alerts/{id}/resolve",
            post(food_safety::resolve),
        )
        .route("/food-safety/cooling", get(cooling::list_cooling))
        .route("/scans", get(scans::list_scans))
        .route("/events", get(audit::events))
        .route("/screens", get(audit::screens))
        .method_not_allowed_fallback(system::method_not_allowed);

    Router::new()
        .nest("/api/v1", api)
        .route("/ws", get(crate::ws::connection::upgrade))
        .route("/healthz", get(system::healthz))
        .route("/readyz", get(system::readyz))
        .route("/metrics", get(system::metrics))
        .fallback(system::static_or_not_found)
        .method_not_allowed_fallback(system::method_not_allowed)
        .layer(middleware::from_fn_with_state(state.clone(), observe))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(CatchPanicLayer::custom(|_| {
            axum::response::IntoResponse::into_response(error::ApiError::Internal(anyhow::anyhow!(
                "a request handler panicked"
            )))
        }))
        // Outermost: it must see every answer, including the fallback's and a panic's.
        .layer(middleware::from_fn(drain::settle_unread_body))
        .with_state(state)
}

async fn openapi_json() -> Json<utoipa::openapi::OpenApi> {
    Json(openapi::ApiDoc::openapi())
}

/// Counts and times every request by its route template (not its raw path, which would
/// make one series per order id).
async fn observe(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().as_str().to_owned();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let response = next.run(request).await;
    state.metrics.observe_http(
        &method,
        &route,
        response.status().as_u16(),
        started.elapsed(),
    );
    response
}
