//! The audit journal endpoint: who did what, when, from which device, filtered and paged.
//! Secrets recorded in events (hashes) are redacted by their type before they leave the hub.

use axum::{Json, extract::State};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::{
    error::{ApiError, ErrorBody},
    extract::{ApiQuery, Caller},
};
use crate::{
    auth::Permission,
    domain::{Event, secret},
    state::AppState,
    store::EventQuery,
};

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventsQuery {
    /// Only events after this sequence number (reading forwards).
    pub after_seq: Option<i64>,
    /// Only events before this sequence number (paging backwards).
    pub before_seq: Option<i64>,
    /// Comma-separated event types, e.g. `line_voided,order_cancelled`.
    pub kind: Option<String>,
    pub staff_id: Option<Uuid>,
    pub command_id: Option<Uuid>,
    /// RFC 3339 instant, inclusive.
    pub from: Option<DateTime<Utc>>,
    /// RFC 3339 instant, exclusive.
    pub to: Option<DateTime<Utc>>,
    /// `desc` (default, newest first) or `asc`.
    #[param(inline)]
    pub order: Option<JournalOrder>,
    /// 1-1000, default 100.
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<i64>,
}

/// The order journal entries are read in.
#[derive(Clone, Copy, Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum JournalOrder {
    Asc,
    #[default]
    Desc,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct JournalEntry {
    pub seq: i64,
    pub at: DateTime<Utc>,
    pub kind: String,
    pub command_id: Uuid,
    pub staff_id: Option<Uuid>,
    pub device: Option<String>,
    /// The event as recorded, with secrets redacted.
    #[schema(value_type = Object)]
    pub event: serde_json::Value,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct JournalPage {
    pub events: Vec<JournalEntry>,
}

/// A journal entry's event as people may see it: read back as the typed [`Event`] and
/// written out with every [`SecretHash`](crate::domain::SecretHash) redacted, so a secret
/// is hidden by its type, whatever its field is called. An entry that no longer reads as
/// an event shows only its kind.
fn shown(kind: &str, payload: serde_json::Value) -> serde_json::Value {
    serde_json::from_value::<Event>(payload)
        .ok()
        .and_then(|event| secret::redacted(|| serde_json::to_value(&event)).ok())
        .unwrap_or_else(|| {
            tracing::warn!(
                kind,
                "a journal entry does not read as an event; showing its kind only"
            );
            serde_json::json!({ "type": kind })
        })
}

#[utoipa::path(
    get, path = "/api/v1/events", tag = "audit", security(("bearer" = [])),
    params(EventsQuery),
    responses((status = 200, body = JournalPage), (status = 403, description = "`forbidden`: the role may not read the journal", body = ErrorBody))
)]
pub async fn events(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<EventsQuery>,
) -> Result<Json<JournalPage>, ApiError> {
    caller.require(Permission::ReadAudit)?;
    let newest_first = matches!(query.order.unwrap_or_default(), JournalOrder::Desc);
    let limit = query.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::bad_request(
            "invalid_query",
            "limit must be between 1 and 1000",
        ));
    }
    let filter = EventQuery {
        venue_id: caller.venue.id().0,
        after_seq: query.after_seq,
        before_seq: query.before_seq,
        kinds: query
            .kind
            .map(|k| {
                k.split(',')
                    .map(|s| s.trim().to_owned())
                    .filter(|s| !s.is_empty())
                    .collect()
            })
            .unwrap_or_default(),
        staff_id: query.staff_id,
        command_id: query.command_id,
        from: query.from,
        to: query.to,
        newest_first,
        limit,
    };
    let stored = state
        .store
        .query_events(&filter)
        .await
        .map_err(|e| ApiError::Unavailable(e.to_string()))?;
    let events = stored
        .into_iter()
        .map(|e| JournalEntry {
            event: shown(&e.kind, e.payload),
            seq: e.seq,
            at: e.at,
            kind: e.kind,
            command_id: e.command_id,
            staff_id: e.staff_id,
            device: e.device,
        })
        .collect();
    Ok(Json(JournalPage { events }))
}

#[utoipa::path(
    get, path = "/api/v1/screens", tag = "audit", security(("bearer" = [])),
    responses((status = 200, description = "Screens connected to this venue now, with what they last confirmed", body = Vec<crate::ws::ScreenPresence>), (status = 403, description = "`forbidden`: the role may not read the journal", body = ErrorBody))
)]
pub async fn screens(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<crate::ws::ScreenPresence>>, ApiError> {
    caller.require(Permission::ReadAudit)?;
    let seq = state.gateway.projector(caller.venue.id()).await?.seq();
    Ok(Json(
        state.gateway.presence().of_venue(caller.venue.id(), seq),
    ))
}
