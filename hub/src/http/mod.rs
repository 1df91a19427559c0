//! The REST adapter: parses requests, calls the engine, maps results. No business rules
//! live here; every refusal comes from the domain or the auth policy.
//!
//! # Layout
//! - [`auth`], [`venues`], [`floor`], [`menu`], [`orders`], [`staff`], [`devices`],
//!   [`food_safety`], [`readings`], [`audit`], [`system`]: handlers; [`scans`] and [`cooling`] read what
//!   scanners and probes recorded.
//! - [`extract`]: JSON/path/query extractors with clear errors; the bearer-token `Caller`.
//! - [`command`]: running a command idempotently and answering with the resulting view.
//! - [`drain`]: a body the handler left unread is read off (bounded) or the answer says
//!   `Connection: close`, so keep-alive connections survive refusals.
//! - [`error`]: `ApiError` and the error body; [`openapi`]: the document, built once.
//! - [`route`]: the route table [`routes`] fills, which the document is tested against.
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
pub mod route;
pub mod scans;
pub mod server;
pub mod setup;
pub mod staff;
pub mod system;
pub mod venues;

use std::time::Instant;

use axum::{
    Router,
    extract::{DefaultBodyLimit, MatchedPath, Request, State},
    middleware::{self, Next},
    response::Response,
};
use tower_http::catch_panic::CatchPanicLayer;

use self::route::Routes;
use crate::state::AppState;

/// Largest request body accepted; an order with hundreds of lines fits easily.
pub const MAX_BODY_BYTES: usize = 256 * 1024;

/// Every route of the hub. The router serves exactly these, and a test holds the OpenAPI
/// document to the same list, so a route cannot be added without being documented.
pub fn routes() -> Routes {
    Routes::new()
        .post("/api/v1/auth/login", auth::login)
        .post("/api/v1/auth/refresh", auth::refresh)
        .post("/api/v1/auth/venue", auth::switch_venue)
        .get("/api/v1/venues", venues::list_venues)
        .post("/api/v1/venues", venues::create_venue)
        .post("/api/v1/setup", setup::setup)
        .get("/api/v1/me", auth::me)
        .get("/api/v1/venue", auth::venue)
        .get("/api/v1/info", system::info)
        .get("/api/v1/openapi.json", openapi::openapi_json)
        .get("/api/v1/docs", system::api_docs)
        .get("/api/v1/floor", floor::floor)
        .post("/api/v1/areas", floor::create_area)
        .put("/api/v1/areas/{id}", floor::update_area)
        .post("/api/v1/tables", floor::create_table)
        .put("/api/v1/tables/{id}", floor::update_table)
        .delete("/api/v1/tables/{id}", floor::remove_table)
        .post("/api/v1/tables/{id}/seat", floor::seat)
        .post("/api/v1/tables/{id}/move", floor::move_party)
        .post("/api/v1/tables/{id}/merge", floor::merge)
        .post("/api/v1/tables/{id}/split", floor::split)
        .post("/api/v1/tables/{id}/bill", floor::request_bill)
        .post("/api/v1/tables/{id}/clear", floor::clear)
        .post("/api/v1/tables/{id}/clean", floor::clean)
        .post("/api/v1/tables/{id}/server", floor::assign_server)
        .post(
            "/api/v1/tables/{id}/service-request/acknowledge",
            floor::acknowledge_service,
        )
        .post(
            "/api/v1/tables/{id}/service-request/cancel",
            floor::cancel_service,
        )
        .get("/api/v1/menu", menu::menu)
        .post("/api/v1/menu/categories", menu::create_category)
        .put("/api/v1/menu/categories/{id}", menu::update_category)
        .post("/api/v1/menu/modifier-groups", menu::create_modifier_group)
        .put(
            "/api/v1/menu/modifier-groups/{id}",
            menu::update_modifier_group,
        )
        .post("/api/v1/menu/items", menu::create_item)
        .put("/api/v1/menu/items/{id}", menu::update_item)
        .post(
            "/api/v1/menu/items/{id}/availability",
            menu::set_availability,
        )
        .get("/api/v1/stations", menu::stations)
        .post("/api/v1/stations", menu::create_station)
        .put("/api/v1/stations/{id}", menu::update_station)
        .get("/api/v1/orders", orders::list_orders)
        .post("/api/v1/orders", orders::open_order)
        .get("/api/v1/orders/{id}", orders::get_order)
        .post("/api/v1/orders/{id}/lines", orders::add_lines)
        .post("/api/v1/orders/{id}/fire", orders::fire_course)
        .post("/api/v1/orders/{id}/lines/start", orders::start_lines)
        .post("/api/v1/orders/{id}/lines/ready", orders::ready_lines)
        .post("/api/v1/orders/{id}/lines/serve", orders::serve_lines)
        .post(
            "/api/v1/orders/{id}/lines/{line_id}/void",
            orders::void_line,
        )
        .post(
            "/api/v1/orders/{id}/stations/{station}/start",
            orders::start_ticket,
        )
        .post(
            "/api/v1/orders/{id}/stations/{station}/bump",
            orders::bump_ticket,
        )
        .post(
            "/api/v1/orders/{id}/stations/{station}/recall",
            orders::recall_ticket,
        )
        .post("/api/v1/orders/{id}/serve-ready", orders::serve_ready)
        .post("/api/v1/orders/{id}/close", orders::close_order)
        .post("/api/v1/orders/{id}/cancel", orders::cancel_order)
        .get("/api/v1/staff", staff::list_staff)
        .post("/api/v1/staff", staff::add_staff)
        .patch("/api/v1/staff/{id}", staff::update_staff)
        .post("/api/v1/staff/{id}/pin", staff::set_pin)
        .post("/api/v1/staff/{id}/password", staff::set_password)
        .put("/api/v1/staff/{id}/venues", staff::give_venues)
        .get("/api/v1/devices", devices::list_devices)
        .post("/api/v1/devices", devices::provision_device)
        .put("/api/v1/devices/{id}", devices::update_device)
        .delete("/api/v1/devices/{id}", devices::remove_device)
        .post("/api/v1/devices/{id}/enabled", devices::set_enabled)
        .post("/api/v1/devices/{id}/rotate", devices::rotate_secret)
        .get("/api/v1/devices/{id}/readings", readings::history)
        .get("/api/v1/food-safety/alerts", food_safety::list_alerts)
        .get("/api/v1/food-safety/report", readings::report)
        .post(
            "/api/v1/food-safety/alerts/{id}/acknowledge",
            food_safety::acknowledge,
        )
        .post(
            "/api/v1/food-safety/alerts/{id}/resolve",
            food_safety::resolve,
        )
        .get("/api/v1/food-safety/cooling", cooling::list_cooling)
        .get("/api/v1/scans", scans::list_scans)
        .get("/api/v1/events", audit::events)
        .get("/api/v1/screens", audit::screens)
        .get("/ws", crate::ws::connection::upgrade)
        .get("/healthz", system::healthz)
        .get("/readyz", system::readyz)
        .get("/metrics", system::metrics)
}

pub fn router(state: AppState) -> Router {
    routes()
        .into_router()
        // After every route: axum gives the fallback to the routes that exist when it is set.
        .method_not_allowed_fallback(system::method_not_allowed)
        .fallback(system::static_or_not_found)
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
