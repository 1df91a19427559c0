//! Operational endpoints (liveness, readiness, Prometheus metrics), the public hub info the
//! landing page reads, the readable API reference page, and the static web apps embedded
//! in the binary.

use axum::{
    Json,
    extract::State,
    http::{StatusCode, Uri, header},
    response::{IntoResponse, Response},
};
use rust_embed::RustEmbed;
use serde::Serialize;
use utoipa::ToSchema;

use super::error::{ApiError, ErrorBody};
use crate::state::AppState;

/// The pages and modules under `web/`; the browser tests' npm packages, the tests
/// themselves and the npm manifests are development files and stay out of the binary.
#[derive(RustEmbed)]
#[folder = "../web/"]
#[exclude = "node_modules/*"]
#[exclude = "tests/*"]
#[exclude = "package.json"]
#[exclude = "package-lock.json"]
struct WebAssets;

#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    pub status: &'static str,
}

#[utoipa::path(get, path = "/healthz", tag = "system", responses((status = 200, body = Health)))]
pub async fn healthz() -> Json<Health> {
    Json(Health { status: "ok" })
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Readiness {
    pub status: &'static str,
    /// `postgres` or `sqlite`.
    pub store: String,
    pub venues: usize,
}

#[utoipa::path(
    get, path = "/readyz", tag = "system",
    responses((status = 200, body = Readiness), (status = 503, description = "The store cannot be reached", body = ErrorBody))
)]
pub async fn readyz(State(state): State<AppState>) -> Result<Json<Readiness>, ApiError> {
    state
        .store
        .ping()
        .await
        .map_err(|e| ApiError::Unavailable(e.to_string()))?;
    Ok(Json(Readiness {
        status: "ready",
        store: serde_json::to_value(state.store.backend())
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default(),
        venues: state.engine.venues().len(),
    }))
}

#[utoipa::path(get, path = "/metrics", tag = "system", responses((status = 200, description = "Prometheus text format", content_type = "text/plain")))]
pub async fn metrics(State(state): State<AppState>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics.encode(),
    )
        .into_response()
}

#[derive(Debug, Serialize, ToSchema)]
pub struct VenueLink {
    pub slug: String,
    pub name: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AppLink {
    pub name: String,
    pub href: String,
    pub description: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct HubInfo {
    pub name: &'static str,
    pub version: &'static str,
    pub venues: Vec<VenueLink>,
    pub apps: Vec<AppLink>,
}

#[utoipa::path(get, path = "/api/v1/info", tag = "system", responses((status = 200, body = HubInfo)))]
pub async fn info(State(state): State<AppState>) -> Json<HubInfo> {
    let mut venues = Vec::new();
    for handle in state.engine.venues() {
        let name = handle
            .read(|v| v.info.as_ref().map(|i| i.name.clone()))
            .await
            .ok()
            .flatten()
            .unwrap_or_default();
        venues.push(VenueLink {
            slug: handle.slug().to_owned(),
            name,
        });
    }
    Json(HubInfo {
        name: "Almahira Hub",
        version: env!("CARGO_PKG_VERSION"),
        venues,
        apps: vec![
            AppLink {
                name: "API reference".into(),
                href: API_DOCS_PATH.into(),
                description:
                    "Every REST operation with its parameters, bodies, responses and error codes"
                        .into(),
            },
            AppLink {
                name: "OpenAPI document".into(),
                href: "/api/v1/openapi.json".into(),
                description: "The same, machine-readable (OpenAPI 3.1 JSON)".into(),
            },
        ],
    })
}

/// Where the readable API reference is served.
pub const API_DOCS_PATH: &str = "/api/v1/docs";

/// The page that renders `/api/v1/openapi.json` for people (`web/apps/api/`). It lives under
/// `/api/v1` beside the document it reads; its scripts are ordinary static files.
#[utoipa::path(
    get, path = "/api/v1/docs", tag = "system",
    responses((status = 200, description = "The API reference as an HTML page, rendered from the OpenAPI document in the browser; needs no network beyond the hub", content_type = "text/html"))
)]
pub async fn api_docs() -> Response {
    static_file("apps/api/index.html").unwrap_or_else(|| ApiError::NotFound("page").into_response())
}

/// Serves the embedded web apps; anything else under the API gets a JSON 404.
pub async fn static_or_not_found(uri: Uri) -> Response {
    let path = uri.path().trim_start_matches('/');
    if path.starts_with("api/") || path == "api" {
        return ApiError::NotFound("route").into_response();
    }
    let path = if path.is_empty() || path.ends_with('/') {
        format!("{path}index.html")
    } else {
        path.to_owned()
    };
    static_file(&path).unwrap_or_else(|| ApiError::NotFound("page").into_response())
}

/// An embedded file with its content type, revalidated on every load.
fn static_file(path: &str) -> Option<Response> {
    let file = WebAssets::get(path)?;
    let mime = file.metadata.mimetype().to_owned();
    Some(
        (
            [
                (header::CONTENT_TYPE, mime),
                (header::CACHE_CONTROL, "no-cache".to_owned()),
            ],
            file.data,
        )
            .into_response(),
    )
}

/// JSON 405 for a known path with the wrong method.
pub async fn method_not_allowed() -> Response {
    ApiError::BadRequest {
        status: StatusCode::METHOD_NOT_ALLOWED,
        code: "method_not_allowed",
        message: "this path does not accept that method".into(),
        field: None,
    }
    .into_response()
}
