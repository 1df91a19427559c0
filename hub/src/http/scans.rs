//! Scans recorded by receiving, counting and waste scanners, newest first, so what was
//! scanned is seen before inventory consumes it. Scans arrive from the device bridge; this
//! endpoint only reads what the venue keeps in memory (the journal keeps every scan).

use axum::Json;
use serde::Deserialize;
use utoipa::IntoParams;

use super::{
    error::{ApiError, ErrorBody},
    extract::{ApiQuery, Caller},
};
use crate::{auth::Permission, domain::ScannerPurpose, view::device::ScanView};

/// Most scans one answer carries (and the default).
const MAX_LIMIT: usize = 500;
const DEFAULT_LIMIT: usize = 100;

#[derive(Debug, Deserialize, IntoParams)]
pub struct ScansQuery {
    /// `receiving`, `counting` or `waste`; all of them when absent.
    pub purpose: Option<String>,
    /// How many, newest first: 1 to 500, default 100.
    pub limit: Option<usize>,
}

fn parse_purpose(purpose: Option<&str>) -> Result<Option<ScannerPurpose>, ApiError> {
    let Some(purpose) = purpose else {
        return Ok(None);
    };
    match purpose {
        "receiving" => Ok(Some(ScannerPurpose::Receiving)),
        "counting" => Ok(Some(ScannerPurpose::Counting)),
        "waste" => Ok(Some(ScannerPurpose::Waste)),
        other => Err(ApiError::bad_request(
            "invalid_query",
            format!("purpose must be receiving, counting or waste (got {other:?})"),
        )),
    }
}

#[utoipa::path(
    get, path = "/api/v1/scans", tag = "devices", security(("bearer" = [])),
    params(ScansQuery),
    responses(
        (status = 200, description = "Newest first", body = Vec<ScanView>),
        (status = 400, description = "`invalid_query`", body = ErrorBody),
        (status = 403, body = ErrorBody),
    )
)]
pub async fn list_scans(
    caller: Caller,
    ApiQuery(query): ApiQuery<ScansQuery>,
) -> Result<Json<Vec<ScanView>>, ApiError> {
    caller.require(Permission::KitchenWork)?;
    let purpose = parse_purpose(query.purpose.as_deref())?;
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
