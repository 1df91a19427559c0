//! The OpenAPI document of the REST API, served at `/api/v1/openapi.json`.

use utoipa::{
    Modify, OpenApi,
    openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme},
};

use super::{
    audit, auth, cooling, devices, floor, food_safety, menu, orders, readings, scans, setup, staff,
    system, venues,
};

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Almahira Hub API",
        description = "Live orders, tables, menu and kitchen state of Almahira venues. Every change is a command with a client-generated `command_id` (UUID): retrying it returns the original result (`Idempotent-Replayed: true`) and never repeats the change. Errors are `{\"error\": code, \"message\": ..., \"field\": ...}` with stable codes. Money is in minor units of the venue currency (IDR).",
    ),
    modifiers(&BearerAuth),
    paths(
        setup::setup, auth::login, auth::refresh, auth::switch_venue, auth::me, auth::venue,
        venues::list_venues, venues::create_venue,
        floor::floor, floor::create_area, floor::update_area, floor::create_table, floor::update_table,
        floor::remove_table, floor::seat, floor::move_party, floor::merge, floor::split,
        floor::request_bill, floor::clear, floor::clean, floor::assign_server,
        floor::acknowledge_service, floor::cancel_service,
        menu::menu, menu::stations, menu::create_category, menu::update_category,
        menu::create_modifier_group, menu::update_modifier_group, menu::create_item, menu::update_item,
        menu::create_station, menu::update_station, menu::set_availability,
        orders::open_order, orders::list_orders, orders::get_order, orders::add_lines, orders::fire_course,
        orders::start_lines, orders::ready_lines, orders::serve_lines, orders::void_line,
        orders::start_ticket, orders::bump_ticket, orders::recall_ticket, orders::serve_ready,
        orders::close_order, orders::cancel_order,
        staff::list_staff, staff::add_staff, staff::update_staff, staff::set_pin, staff::set_password,
        staff::give_venues,
        devices::list_devices, devices::provision_device, devices::update_device,
        devices::set_enabled, devices::rotate_secret, devices::remove_device,
        food_safety::list_alerts, food_safety::acknowledge, food_safety::resolve,
        readings::history, readings::report,
        cooling::list_cooling, scans::list_scans,
        audit::events, audit::screens,
        system::healthz, system::readyz, system::metrics, system::info, system::api_docs,
    ),
    tags(
        (name = "auth", description = "Staff login by PIN or password; tokens"),
        (name = "venues", description = "The venues of a tenant; owners add venues"),
        (name = "floor", description = "Areas, tables and parties"),
        (name = "menu", description = "Menu, modifiers, stations and 86"),
        (name = "orders", description = "Orders and their lines"),
        (name = "kitchen", description = "Kitchen progress of lines"),
        (name = "staff", description = "Staff management"),
        (name = "devices", description = "Kitchen device registry and MQTT credentials"),
        (name = "food-safety", description = "Temperature alerts and their corrective actions, probe histories and the daily report (HACCP)"),
        (name = "audit", description = "The immutable event journal"),
        (name = "system", description = "Health, readiness, metrics"),
    )
)]
pub struct ApiDoc;
