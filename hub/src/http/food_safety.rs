//! Food-safety alert endpoints: list the alerts the kitchen must act on, acknowledge one
//! (who saw it), resolve it with the corrective action taken. Together with the journal
//! that is the venue's HACCP record. Alerts are raised by the hub from probe readings.

use axum::{Json, http::StatusCode};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::{
    command::{Executed, run},
    error::{ApiError, ErrorBody},
    extract::{ApiJson, ApiPath, ApiQuery, Caller},
};
use crate::{
    auth::Permission,
    domain::{AlertId, Command, food_safety::FoodSafetyAlert},
};

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AlertsQuery {
    /// `open` (default) or `all` (open and recently resolved).
    #[param(inline)]
    pub status: Option<AlertFilter>,
}

/// Which alerts `GET /food-safety/alerts` lists.
#[derive(Clone, Copy, Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AlertFilter {
    #[default]
    Open,
    All,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AcknowledgeRequest {
    pub command_id: Uuid,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResolveRequest {
    pub command_id: Uuid,
    /// What was done about it, for the food-safety record: not blank, at most 500
    /// characters. Missing, `null` or blank is refused by the rules as
    /// `missing_corrective_action`, the code the docs promise.
    #[serde(default)]
    #[schema(required = true, value_type = String, min_length = 1, max_length = 500, pattern = r"\S")]
    pub corrective_action: Option<String>,
}

#[utoipa::path(
    get, path = "/api/v1/food-safety/alerts", tag = "food-safety", security(("bearer" = [])),
    params(AlertsQuery),
    responses((status = 200, description = "Newest first", body = Vec<FoodSafetyAlert>))
)]
pub async fn list_alerts(
    caller: Caller,
    ApiQuery(query): ApiQuery<AlertsQuery>,
) -> Result<Json<Vec<FoodSafetyAlert>>, ApiError> {
    caller.require(Permission::ViewOrders)?;
    let open_only = matches!(query.status.unwrap_or_default(), AlertFilter::Open);
    let mut alerts = caller
        .venue
        .read(move |v| {
            v.food_safety_alerts
                .values()
                .filter(|a| !open_only || a.is_open())
                .cloned()
                .collect::<Vec<_>>()
        })
        .await?;
    alerts.sort_by_key(|a| std::cmp::Reverse(a.raised_at));
    Ok(Json(alerts))
}

fn show(
    alert_id: AlertId,
) -> impl FnOnce(&crate::domain::Venue) -> Option<FoodSafetyAlert> + Send + 'static {
    move |v| v.food_safety_alerts.get(&alert_id).cloned()
}

#[utoipa::path(
    post, path = "/api/v1/food-safety/alerts/{id}/acknowledge", tag = "food-safety", security(("bearer" = [])),
    params(("id" = Uuid, Path)), request_body = AcknowledgeRequest,
    responses(
        (status = 200, body = FoodSafetyAlert),
        (status = 403, description = "`forbidden`: the role may not do kitchen work", body = ErrorBody),
        (status = 404, description = "`alert_not_found`", body = ErrorBody),
        (status = 409, description = "`alert_already_acknowledged`, `alert_already_resolved`", body = ErrorBody),
    )
)]
pub async fn acknowledge(
    caller: Caller,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<AcknowledgeRequest>,
) -> Result<Executed<FoodSafetyAlert>, ApiError> {
    let alert_id = AlertId(id);
    let command = Command::AcknowledgeFoodSafetyAlert { alert_id };
    run(
        &caller,
        Permission::KitchenWork,
        body.command_id,
        command,
        StatusCode::OK,
        show(alert_id),
    )
    .await
}

#[utoipa::path(
    post, path = "/api/v1/food-safety/alerts/{id}/resolve", tag = "food-safety", security(("bearer" = [])),
    params(("id" = Uuid, Path)), request_body = ResolveRequest,
    responses(
        (status = 200, body = FoodSafetyAlert),
        (status = 403, description = "`forbidden`: the role may not do kitchen work", body = ErrorBody),
        (status = 404, description = "`alert_not_found`", body = ErrorBody),
        (status = 409, description = "`alert_already_resolved`", body = ErrorBody),
        (status = 422, description = "`missing_corrective_action`: blank or over 500 characters", body = ErrorBody),
    )
)]
pub async fn resolve(
    caller: Caller,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<ResolveRequest>,
) -> Result<Executed<FoodSafetyAlert>, ApiError> {
    let alert_id = AlertId(id);
    let command = Command::ResolveFoodSafetyAlert {
        alert_id,
        corrective_action: body.corrective_action.unwrap_or_default(),
    };
    run(
        &caller,
        Permission::KitchenWork,
        body.command_id,
        command,
        StatusCode::OK,
        show(alert_id),
    )
    .await
}
