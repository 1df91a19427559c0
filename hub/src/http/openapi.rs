//! The OpenAPI document of the REST API, served at `/api/v1/openapi.json`: the operations
//! the handlers declare, the error answers every operation of a kind can give, and the
//! cross-field rules of a few request bodies. It describes the code, never a hub's state,
//! so it is built and serialised once per process and the same bytes are served to all.

use std::sync::LazyLock;

use axum::{
    body::Bytes,
    http::header,
    response::{IntoResponse, Response},
};
use utoipa::{
    Modify, OpenApi,
    openapi::{
        self, Content, Ref, RefOr, Schema,
        path::{Operation, ParameterIn},
        response::Response as ApiResponse,
        schema::{Object, OneOf, SchemaType, Type},
        security::{HttpAuthScheme, HttpBuilder, SecurityScheme},
    },
};

use super::{
    audit, auth, cooling, devices,
    error::{ApiError, ErrorBody},
    floor, food_safety, menu, orders, readings, scans, setup, staff, system, venues,
};

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut openapi::OpenApi) {
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
        description = "Live orders, tables, menu and kitchen state of Almahira venues. Every change is a command with a client-generated `command_id` (UUID): retrying it returns the original result (`Idempotent-Replayed: true`) and never repeats the change. Errors are `{\"error\": code, \"message\": ..., \"field\": ...}` with stable codes. Money is in minor units of the venue currency (IDR). Live screens use the WebSocket at `/ws` (docs/websocket.md).",
    ),
    modifiers(&BearerAuth, &ProtocolResponses, &CrossFieldRules),
    components(schemas(ErrorBody)),
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
        openapi_json, crate::ws::connection::upgrade,
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
        (name = "live", description = "The WebSocket for live screens (docs/websocket.md)"),
        (name = "system", description = "Health, readiness, metrics, this document"),
    )
)]
pub struct ApiDoc;

/// The serialised document. A process-wide constant rather than hub state: it is a pure
/// function of the code, the same for every hub a process runs.
static DOCUMENT: LazyLock<Result<Bytes, String>> = LazyLock::new(|| {
    serde_json::to_vec(&ApiDoc::openapi())
        .map(Bytes::from)
        .map_err(|e| e.to_string())
});

/// The document's JSON, serialised on first use.
pub fn document() -> Result<Bytes, ApiError> {
    DOCUMENT
        .as_ref()
        .map(Bytes::clone)
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("serialising the OpenAPI document: {e}")))
}

#[utoipa::path(
    get, path = "/api/v1/openapi.json", tag = "system",
    responses((status = 200, description = "This document (OpenAPI 3.1)", content_type = "application/json", body = Object))
)]
pub async fn openapi_json() -> Result<Response, ApiError> {
    let bytes = document()?;
    Ok(([(header::CONTENT_TYPE, "application/json")], bytes).into_response())
}

/// Adds the answers the protocol gives every operation of a kind, read from the operation
/// itself: a token (401, 503), a JSON body (400, 413, 415, 422), path parameters (400, 404),
/// a query (400); and for a command, 409 `command_id_reused`, the replay headers on its
/// answers and the 200 a retry of a create gets. Done here rather than in each
/// `#[utoipa::path]` because utoipa keys responses by status and a later entry for a status
/// replaces an earlier one, so a shared set could not be combined with an endpoint's own
/// codes for the same status; and a new endpoint gets them without anyone remembering.
struct ProtocolResponses;

/// Operations with a token that change something but are not commands: switching venues
/// only issues tokens, so it has no `command_id`, no replay and no journal entry.
const NOT_COMMANDS: &[&str] = &["/api/v1/auth/venue"];

impl Modify for ProtocolResponses {
    fn modify(&self, openapi: &mut openapi::OpenApi) {
        for (path, item) in openapi.paths.paths.iter_mut() {
            let operations = [
                (false, item.get.as_mut()),
                (true, item.post.as_mut()),
                (true, item.put.as_mut()),
                (true, item.patch.as_mut()),
                (true, item.delete.as_mut()),
            ];
            for (changes, operation) in operations {
                if let Some(operation) = operation {
                    add_protocol_errors(path, changes, operation);
                }
            }
        }
    }
}

fn add_protocol_errors(path: &str, changes: bool, operation: &mut Operation) {
    let secured = operation.security.as_ref().is_some_and(|s| !s.is_empty());
    let json_body = operation
        .request_body
        .as_ref()
        .is_some_and(|body| body.content.contains_key("application/json"));
    let parameters = operation.parameters.as_deref().unwrap_or_default();
    let in_path = parameters
        .iter()
        .any(|p| matches!(p.parameter_in, ParameterIn::Path));
    let in_query = parameters
        .iter()
        .any(|p| matches!(p.parameter_in, ParameterIn::Query));
    let responses = &mut operation.responses.responses;
    let has_own_404 = responses.contains_key("404");
    let mut add = |status: &str, text: &str| add_error(responses, status, text);
    if secured {
        add(
            "401",
            "`invalid_token` (missing, malformed or for another hub), `token_expired`, `wrong_token_kind`, `staff_inactive`",
        );
        add(
            "503",
            "`unavailable`: the store cannot be reached or the hub is stopping; nothing was changed",
        );
    }
    if json_body {
        add(
            "400",
            "`invalid_json`: not JSON, cut short or trailing characters; `unreadable_body`",
        );
        add("413", "`payload_too_large`: the body is over 256 KiB");
        add(
            "415",
            "`unsupported_media_type`: the body is not sent as `application/json`",
        );
        add(
            "422",
            "`invalid_field`: a missing field, a wrong type, an unknown field or enum value; `field` names it",
        );
    }
    if in_path {
        add("400", "`invalid_path`: a path segment is not a valid id");
        if path.contains("{id}") && !has_own_404 {
            add("404", "`*_not_found`: the path names nothing in this venue");
        }
    }
    if in_query {
        add(
            "400",
            "`invalid_query`: a query parameter is malformed or out of range",
        );
    }
    if secured && changes && !NOT_COMMANDS.contains(&path) {
        add(
            "409",
            "`command_id_reused`: the `command_id` was used for a different command",
        );
        add_command_answers(responses);
    }
}

/// A command's answers carry `Idempotent-Replayed` and `X-Venue-Seq`, and a retry of an
/// accepted create answers 200 (not 201) with the entity as it is now.
fn add_command_answers(responses: &mut std::collections::BTreeMap<String, RefOr<ApiResponse>>) {
    if let Some(RefOr::T(created)) = responses.get("201")
        && !responses.contains_key("200")
    {
        let mut replayed = created.clone();
        replayed.description =
            "A retry of an accepted `command_id`: the entity as it is now, with `Idempotent-Replayed: true`"
                .to_owned();
        responses.insert("200".to_owned(), RefOr::T(replayed));
    }
    for (status, response) in responses.iter_mut() {
        let RefOr::T(response) = response else {
            continue;
        };
        if !status.starts_with('2') {
            continue;
        }
        response.headers.insert(
            "idempotent-replayed".to_owned(),
            openapi::HeaderBuilder::new()
                .schema(
                    Object::builder()
                        .schema_type(Type::String)
                        .enum_values(Some(["true", "false"])),
                )
                .description(Some(
                    "`true` when the `command_id` was already accepted: nothing was changed again",
                ))
                .build(),
        );
        response.headers.insert(
            "x-venue-seq".to_owned(),
            openapi::HeaderBuilder::new()
                .schema(
                    Object::builder()
                        .schema_type(Type::Integer)
                        .format(Some(openapi::SchemaFormat::KnownFormat(
                            openapi::KnownFormat::Int64,
                        )))
                        .minimum(Some(0)),
                )
                .description(Some(
                    "Sequence number of the last event the command produced (the original one on a replay)",
                ))
                .build(),
        );
    }
}

/// Adds `text` to the answer for `status`, creating it (with the error body) if it is new.
fn add_error(
    responses: &mut std::collections::BTreeMap<String, RefOr<ApiResponse>>,
    status: &str,
    text: &str,
) {
    let error_body = || Content::new(Some(Ref::from_schema_name("ErrorBody")));
    let entry = responses
        .entry(status.to_owned())
        .or_insert_with(|| RefOr::T(ApiResponse::new("")));
    if let RefOr::T(response) = entry {
        if response.description.is_empty() {
            response.description = text.to_owned();
        } else if !response.description.contains(text) {
            response.description = format!("{}; {text}", response.description);
        }
        response
            .content
            .entry("application/json".to_owned())
            .or_insert_with(error_body);
    }
}

/// Rules between the fields of a body, which derived schemas cannot state: which fields an
/// order of each kind, a device of each kind, a login or a new staff member needs. Each body
/// becomes a `oneOf` of copies of its derived schema, one per allowed shape, so the rules
/// stay next to the fields they constrain and a client (or a fuzzer) can build a valid body.
struct CrossFieldRules;

/// One allowed shape of a body: a fixed value of one field, fields it must have (not
/// null), fields it must not have (absent or null), and field schemas it narrows.
struct Shape {
    title: &'static str,
    fixed: Option<(&'static str, &'static str)>,
    required: &'static [&'static str],
    forbidden: &'static [&'static str],
    narrowed: Vec<(&'static str, RefOr<Schema>)>,
}

impl Shape {
    fn new(title: &'static str) -> Self {
        Self {
            title,
            fixed: None,
            required: &[],
            forbidden: &[],
            narrowed: Vec::new(),
        }
    }

    fn when(mut self, field: &'static str, value: &'static str) -> Self {
        self.fixed = Some((field, value));
        self
    }

    fn needs(mut self, fields: &'static [&'static str]) -> Self {
        self.required = fields;
        self
    }

    fn without(mut self, fields: &'static [&'static str]) -> Self {
        self.forbidden = fields;
        self
    }

    fn narrow(mut self, field: &'static str, schema: Schema) -> Self {
        self.narrowed.push((field, RefOr::T(schema)));
        self
    }
}

impl Modify for CrossFieldRules {
    fn modify(&self, openapi: &mut openapi::OpenApi) {
        let Some(components) = openapi.components.as_mut() else {
            return;
        };
        let schemas = &mut components.schemas;
        let not_blank = || {
            Object::builder()
                .schema_type(Type::String)
                .pattern(Some(NOT_BLANK))
                .build()
        };
        split(
            schemas,
            "LoginRequest",
            vec![
                Shape::new("PIN login")
                    .needs(&["venue", "pin"])
                    .without(&["username", "password"]),
                Shape::new("Password login")
                    .needs(&["username", "password"])
                    .without(&["pin"]),
            ],
        );
        split(
            schemas,
            "OpenOrderRequest",
            vec![
                Shape::new("Dine-in order")
                    .when("kind", "dine_in")
                    .needs(&["table_id"]),
                Shape::new("Takeaway order")
                    .when("kind", "takeaway")
                    .without(&["table_id"]),
                Shape::new("Delivery order")
                    .when("kind", "delivery")
                    .needs(&["customer"])
                    .without(&["table_id"])
                    .narrow(
                        "customer",
                        openapi::schema::AllOf::builder()
                            .item(Ref::from_schema_name("Customer"))
                            .item(
                                Object::builder()
                                    .required("address")
                                    .property("address", not_blank()),
                            )
                            .build()
                            .into(),
                    ),
            ],
        );
        split(
            schemas,
            "AddStaffRequest",
            vec![
                Shape::new("With a PIN")
                    .needs(&["pin"])
                    .without(&["password"]),
                Shape::new("With a username and password").needs(&["username", "password"]),
            ],
        );
        split(
            schemas,
            "DeviceRequest",
            vec![
                Shape::new("Probe")
                    .when("kind", "probe")
                    .needs(&["limits"])
                    .without(&["station_id", "table_id", "purpose"]),
                Shape::new("Bump bar")
                    .when("kind", "bump_bar")
                    .needs(&["station_id"])
                    .without(&["table_id", "limits", "purpose"]),
                Shape::new("Scanner")
                    .when("kind", "scanner")
                    .needs(&["purpose"])
                    .without(&["station_id", "table_id", "limits"]),
                Shape::new("Call button")
                    .when("kind", "call_button")
                    .needs(&["table_id"])
                    .without(&["station_id", "limits", "purpose"]),
            ],
        );
    }
}

/// Text with at least one character that is not white space: what the hub's "cannot be
/// empty" rule accepts.
pub const NOT_BLANK: &str = r"\S";

/// Replaces the object schema `name` by a `oneOf` of its `shapes`. A name that is not an
/// object schema is left alone; the document test notices a rule that did not apply.
fn split(
    schemas: &mut std::collections::BTreeMap<String, RefOr<Schema>>,
    name: &str,
    shapes: Vec<Shape>,
) {
    let Some(RefOr::T(Schema::Object(base))) = schemas.get(name) else {
        return;
    };
    let base = base.clone();
    let items = shapes
        .into_iter()
        .map(|shape| RefOr::T(Schema::Object(shaped(&base, shape))))
        .collect::<Vec<_>>();
    let mut one_of = OneOf::new();
    one_of.items = items;
    one_of.description = base.description.clone();
    schemas.insert(name.to_owned(), RefOr::T(Schema::OneOf(one_of)));
}

fn shaped(base: &Object, shape: Shape) -> Object {
    let mut object = base.clone();
    object.title = Some(shape.title.to_owned());
    object.description = None;
    if let Some((field, value)) = shape.fixed {
        object.properties.insert(
            field.to_owned(),
            Object::builder()
                .schema_type(Type::String)
                .enum_values(Some([value]))
                .into(),
        );
        push_required(&mut object, field);
    }
    for field in shape.required {
        if let Some(schema) = object.properties.get_mut(*field) {
            *schema = not_null(schema.clone());
        }
        push_required(&mut object, field);
    }
    for field in shape.forbidden {
        object
            .properties
            .insert((*field).to_owned(), Object::with_type(Type::Null).into());
        object.required.retain(|r| r != field);
    }
    for (field, schema) in shape.narrowed {
        object.properties.insert(field.to_owned(), schema);
    }
    object
}

fn push_required(object: &mut Object, field: &str) {
    if !object.required.iter().any(|r| r == field) {
        object.required.push(field.to_owned());
    }
}

/// The schema of an optional field without its `null`: `oneOf [null, X]` becomes `X`, and
/// `type: [T, null]` becomes `type: T`.
fn not_null(schema: RefOr<Schema>) -> RefOr<Schema> {
    match schema {
        RefOr::T(Schema::OneOf(one_of)) => {
            let mut rest = one_of
                .items
                .into_iter()
                .filter(|item| !is_null(item))
                .collect::<Vec<_>>();
            if rest.len() == 1 {
                rest.remove(0)
            } else {
                let mut one_of = OneOf::new();
                one_of.items = rest;
                RefOr::T(Schema::OneOf(one_of))
            }
        }
        RefOr::T(Schema::Object(mut object)) => {
            if let SchemaType::Array(types) = &object.schema_type {
                let rest = types
                    .iter()
                    .filter(|t| !matches!(t, Type::Null))
                    .cloned()
                    .collect::<Vec<_>>();
                object.schema_type = match rest.as_slice() {
                    [only] => SchemaType::Type(only.clone()),
                    _ => SchemaType::Array(rest),
                };
            }
            RefOr::T(Schema::Object(object))
        }
        other => other,
    }
}

fn is_null(schema: &RefOr<Schema>) -> bool {
    matches!(schema, RefOr::T(Schema::Object(object))
        if matches!(object.schema_type, SchemaType::Type(Type::Null)))
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        reason = "test code: panicking is how a test fails"
    )]

    use serde_json::Value;

    use super::*;

    fn doc() -> Value {
        serde_json::from_slice(&document().unwrap()).unwrap()
    }

    #[test]
    fn every_reference_in_the_document_names_a_component() {
        let doc = doc();
        let mut refs = Vec::new();
        collect_refs(&doc, &mut refs);
        for reference in refs {
            let name = reference.trim_start_matches("#/components/schemas/");
            assert!(
                doc["components"]["schemas"][name].is_object(),
                "{reference} is not defined"
            );
        }
    }

    fn collect_refs(value: &Value, out: &mut Vec<String>) {
        match value {
            Value::Object(map) => {
                if let Some(Value::String(r)) = map.get("$ref") {
                    out.push(r.clone());
                }
                map.values().for_each(|v| collect_refs(v, out));
            }
            Value::Array(items) => items.iter().for_each(|v| collect_refs(v, out)),
            _ => {}
        }
    }

    #[test]
    fn the_cross_field_rules_apply_to_the_bodies_they_name() {
        let doc = doc();
        for name in [
            "LoginRequest",
            "OpenOrderRequest",
            "AddStaffRequest",
            "DeviceRequest",
        ] {
            assert!(
                doc["components"]["schemas"][name]["oneOf"].is_array(),
                "{name} is split into its shapes"
            );
        }
    }

    #[test]
    fn every_parameter_sits_where_its_name_says() {
        let doc = doc();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, operation) in item.as_object().unwrap() {
                for parameter in operation["parameters"].as_array().into_iter().flatten() {
                    let name = parameter["name"].as_str().unwrap();
                    let in_path = path.contains(&format!("{{{name}}}"));
                    assert_eq!(
                        parameter["in"] == "path",
                        in_path,
                        "{method} {path}: parameter {name} is `in: {}`",
                        parameter["in"]
                    );
                }
            }
        }
    }

    /// Whether `schema` (through references and every `oneOf` shape) requires `field`.
    fn requires(doc: &Value, schema: &Value, field: &str) -> bool {
        if let Some(reference) = schema["$ref"].as_str() {
            let name = reference.trim_start_matches("#/components/schemas/");
            return requires(doc, &doc["components"]["schemas"][name], field);
        }
        if let Some(shapes) = schema["oneOf"].as_array() {
            return shapes.iter().all(|shape| requires(doc, shape, field));
        }
        schema["required"]
            .as_array()
            .is_some_and(|required| required.iter().any(|r| r == field))
    }

    #[test]
    fn every_operation_documents_the_errors_of_its_kind() {
        let doc = doc();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, operation) in item.as_object().unwrap() {
                let responses = &operation["responses"];
                let has = |status: &str| responses[status].is_object();
                let label = format!("{method} {path}");
                let secured = operation["security"].is_array();
                if secured {
                    assert!(has("401"), "{label} documents 401");
                }
                let body = &operation["requestBody"]["content"]["application/json"]["schema"];
                if body.is_object() {
                    for status in ["400", "413", "415", "422"] {
                        assert!(has(status), "{label} documents {status}");
                    }
                }
                if secured && method != "get" && !NOT_COMMANDS.contains(&path.as_str()) {
                    let in_query = operation["parameters"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .any(|p| p["name"] == "command_id" && p["in"] == "query");
                    assert!(
                        in_query || requires(&doc, body, "command_id"),
                        "{label} documents its required command_id"
                    );
                    assert!(has("409"), "{label} documents 409 command_id_reused");
                }
                if path.contains("{id}") {
                    assert!(has("404"), "{label} documents 404");
                }
            }
        }
    }
}
