//! Scans recorded by receiving, counting and waste scanners, newest first, so what was
//! scanned is seen before inventory consumes it. Scans arrive from the device bridge; this
//! endpoint only reads what the venue keeps in memory (the journal keeps every scan).

use axum::Json;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use super::{
    error::{ApiError, ErrorBody},
    extract::{ApiQuery, Caller},
};
use crate::{auth::Permission, domain::ScannerPurpose, view::device::ScanView};

/// Most scans one answer carries (and the default).
const MAX_LIMIT: usize = 500;
const DEFAULT_LIMIT: usize = 100;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ScansQuery {
    /// `receiving`, `counting` or `waste`; all of them when absent.
    #[param(inline)]
    pub purpose: Option<StockPurpose>,
    /// How many, newest first: 1 to 500, default 100.
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<usize>,
}

/// The scanner purposes that record stock (a pass scanner reads tickets, not scans).
#[derive(Clone, Copy, Debug, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StockPurpose {
    Receiving,
    Counting,
    Waste,
}

impl From<StockPurpose> for ScannerPurpose {
    fn from(purpose: StockPurpose) -> Self {
        match purpose {
            StockPurpose::Receiving => ScannerPurpose::Receiving,
            StockPurpose::Counting => ScannerPurpose::Counting,
            StockPurpose::Waste => ScannerPurpose::Waste,
        }
    }
}

#[utoipa::path(
    get, path = "/api/v1/scans", tag = "devices", security(("bearer" = [])),
    params(ScansQuery),
    responses(
        (status = 200, description = "Newest first", body = Vec<ScanView>),
        (status = 403, description = "`forbidden`: the role may not do kitchen work", body = ErrorBody),
    )
)]
pub async fn list_scans(
    caller: Caller,
    ApiQuery(query): ApiQuery<ScansQuery>,
) -> Result<Json<Vec<ScanView>>, ApiError> {
    caller.require(Permission::KitchenWork)?;
    let purpose = query.purpose.map(ScannerPurpose::from);
    let limit = query.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::bad_request(
            "invalid_query",
            format!("limit must be between 1 and {MAX_LIMIT}"),
        ));
    }
    let scans = caller
        .venue
        .read(move |v| {
            v.scans
                .iter()
                .rev()
                .filter(|s| purpose.is_none_or(|p| s.purpose == p))
                .take(limit)
                .map(|s| ScanView::of(v, s))
                .collect::<Vec<_>>()
        })
        .await?;
    Ok(Json(scans))
}
