//! The HTTP ceiling of this machine for `bench commands`: a bare axum server in the bench
//! process that answers the three requests the workload makes (login, menu, open order)
//! with no engine, no store and no authentication beyond seeing a bearer token. The order
//! body is parsed into the hub's own `OpenOrderRequest` (so the JSON work is the same) and
//! answered `201` with an order view of the same shape and size as the hub's. The menu it
//! serves is the one read from the hub, so the same client loop sends the same orders.
//! It measures nothing itself; [`crate::commands::drive`] does, as for the hub rows.

use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicU32, Ordering},
    },
};

use anyhow::Context as _;
use axum::{
    Json, Router,
    extract::State,
    http::{HeaderMap, StatusCode},
    routing::{get, post},
    serve::ListenerExt as _,
};
use chrono::Utc;
use hub::http::orders::OpenOrderRequest;
use serde_json::{Value, json};
use tokio::{sync::oneshot, task::JoinHandle};
use uuid::Uuid;

/// A bare axum server on 127.0.0.1; stopped when dropped.
pub struct BareOrders {
    address: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    serving: JoinHandle<()>,
}

struct Shared {
    menu: Value,
    next_number: AtomicU32,
}

impl BareOrders {
    /// Starts serving `menu` (a `GET /api/v1/menu` answer of the hub) on a free port.
    pub async fn start(menu: Value) -> anyhow::Result<Self> {
        let shared = Arc::new(Shared {
            menu,
            next_number: AtomicU32::new(1),
        });
        let app = Router::new()
            .route("/api/v1/auth/login", post(login))
            .route("/api/v1/menu", get(menu_answer))
            .route("/api/v1/orders", post(open_order))
            .with_state(shared);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .context("binding the bare axum server")?;
        let address = listener.local_addr().context("the bare server's address")?;
        // The same socket option the hub sets, so the rows differ only in what runs behind.
        let listener = listener.tap_io(|stream| {
            let _ = stream.set_nodelay(true);
        });
        let (stop, stopped) = oneshot::channel::<()>();
        let serving = tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = stopped.await;
                })
                .await;
        });
        Ok(Self {
            address,
            stop: Some(stop),
            serving,
        })
    }

    /// `http://127.0.0.1:<port>`, without a trailing slash.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.address)
    }
}

impl Drop for BareOrders {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.serving.abort();
    }
}

async fn login() -> Json<Value> {
    Json(json!({
        "access_token": "bare", "refresh_token": "bare", "token_type": "Bearer",
        "role": "waiter", "expires_in": 900, "refresh_expires_in": 43200,
    }))
}

async fn menu_answer(State(shared): State<Arc<Shared>>) -> Json<Value> {
    Json(shared.menu.clone())
}

/// Parses the body as the hub does (its own request type, unknown fields refused) and
/// answers with an order view of the hub's shape: every line fired, nothing looked up.
async fn open_order(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Result<Json<OpenOrderRequest>, axum::extract::rejection::JsonRejection>,
) -> (StatusCode, Json<Value>) {
    if !headers.contains_key(axum::http::header::AUTHORIZATION) {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({"error": "missing_token"})),
        );
    }
    let Json(request) = match body {
        Ok(request) => request,
        Err(rejection) => {
            return (
                StatusCode::UNPROCESSABLE_ENTITY,
                Json(json!({"error": "invalid_field", "message": rejection.body_text()})),
            );
        }
    };
    let number = shared.next_number.fetch_add(1, Ordering::Relaxed);
    let now = Utc::now();
    let lines: Vec<Value> = request
        .lines
        .iter()
        .map(|line| {
            json!({
                "id": Uuid::new_v4(), "menu_item_id": line.menu_item_id, "name": "Item",
                "unit_price": 38000, "quantity": line.quantity,
                "modifiers": line.modifiers.iter().map(|id| json!({
                    "group_id": Uuid::nil(), "modifier_id": id, "name": "Option", "price_delta": 0,
                })).collect::<Vec<_>>(),
                "seat": line.seat, "course": line.course.unwrap_or(1), "note": line.note,
                "stations": [Uuid::nil()], "stations_ready": [], "allergens": [],
                "status": "fired", "added_at": now, "added_by": Uuid::nil(), "fired_at": now,
                "started_at": null, "ready_at": null, "served_at": null, "void": null,
            })
        })
        .collect();
    let order = json!({
        "id": request.order_id.map_or_else(|| json!(Uuid::new_v4()), |id| json!(id)),
        "number": number, "kind": request.kind, "status": "open",
        "table_id": request.table_id, "guests": request.guests, "customer": request.customer,
        "channel": request.channel, "note": request.note, "created_by": Uuid::nil(),
        "created_at": now, "lines": lines, "fired_courses": [1], "closed_at": null,
        "cancelled_at": null, "cancel_reason": null, "recalled": [], "unseen_at": [],
        "subtotal": 38000, "table_label": null, "ticket_code": format!("T{number}"),
    });
    (StatusCode::CREATED, Json(order))
}
