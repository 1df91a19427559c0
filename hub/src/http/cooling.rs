//! The cooling log: every cooked batch cooled on a probe, with when each stage was met, its
//! warnings and how it ended. Batches are started and advanced by the device bridge from
//! probe readings; this endpoint reads the log for a day (HACCP record keeping).

use axum::Json;
use chrono::{DateTime, FixedOffset, NaiveDate, Offset, TimeZone, Utc};
use serde::Deserialize;
use utoipa::IntoParams;

use super::{
    error::{ApiError, ErrorBody},
    extract::{ApiQuery, Caller},
};
use crate::{auth::Permission, view::device::CoolingView};

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CoolingQuery {
    /// `YYYY-MM-DD`: batches put on a probe that day. Without it: every batch in memory
    /// (all active ones and the most recent finished ones).
    #[param(format = Date)]
    pub date: Option<String>,
    /// The UTC offset the day is counted in, `+07:00` (default `+00:00`).
    #[param(pattern = "^[+-]([01][0-9]|2[0-3]):[0-5][0-9]$")]
    pub offset: Option<String>,
}

/// The UTC offset a day is counted in, exactly `±HH:MM` as documented (`+07:00`, `-05:30`);
/// UTC without one.
fn parse_offset(offset: Option<&str>) -> Result<FixedOffset, ApiError> {
    let Some(text) = offset else {
        return Ok(Utc.fix());
    };
    let refused =
        || ApiError::bad_request("invalid_query", "offset must look like +07:00 or -05:30");
    let sign = match text.as_bytes().first() {
        Some(b'+') => 1,
        Some(b'-') => -1,
        _ => return Err(refused()),
    };
    let digits = |range: std::ops::Range<usize>| {
        text.get(range)
            .filter(|part| part.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|part| part.parse::<i32>().ok())
    };
    match (text.len(), text.get(3..4), digits(1..3), digits(4..6)) {
        (6, Some(":"), Some(hours), Some(minutes)) if hours < 24 && minutes < 60 => {
            FixedOffset::east_opt(sign * (hours * 3600 + minutes * 60)).ok_or_else(refused)
        }
        _ => Err(refused()),
    }
}

/// The instants `[start, end)` of a calendar day at a UTC offset.
fn day_bounds(
    date: &str,
    offset: Option<&str>,
) -> Result<(DateTime<Utc>, DateTime<Utc>), ApiError> {
    let day = NaiveDate::parse_from_str(date, "%Y-%m-%d").map_err(|_| {
        ApiError::bad_request(
            "invalid_query",
            format!("date must be YYYY-MM-DD (got {date:?})"),
        )
    })?;
    let offset = parse_offset(offset)?;
    let start = offset
        .from_local_datetime(&day.and_hms_opt(0, 0, 0).unwrap_or_default())
        .single()
        .ok_or_else(|| ApiError::bad_request("invalid_query", "that day has no start"))?
        .with_timezone(&Utc);
    Ok((start, start + chrono::Duration::days(1)))
}

#[utoipa::path(
    get, path = "/api/v1/food-safety/cooling", tag = "food-safety", security(("bearer" = [])),
    params(CoolingQuery),
    responses(
        (status = 200, description = "Active batches first, then newest first", body = Vec<CoolingView>),
        (status = 403, description = "`forbidden`: the role may not do kitchen work", body = ErrorBody),
    )
)]
pub async fn list_cooling(
    caller: Caller,
    ApiQuery(query): ApiQuery<CoolingQuery>,
) -> Result<Json<Vec<CoolingView>>, ApiError> {
    caller.require(Permission::KitchenWork)?;
    // A malformed offset is refused even without a date, rather than silently unused.
    parse_offset(query.offset.as_deref())?;
    let bounds = query
        .date
        .as_deref()
        .map(|date| day_bounds(date, query.offset.as_deref()))
        .transpose()?;
    let mut batches = caller
        .venue
        .read(move |v| {
            v.cooling_batches
                .values()
                .filter(|b| {
                    bounds.is_none_or(|(start, end)| b.started_at >= start && b.started_at < end)
                })
                .map(|b| CoolingView::of(v, b))
                .collect::<Vec<_>>()
        })
        .await?;
    batches.sort_by_key(|c| (!c.batch.is_active(), std::cmp::Reverse(c.batch.started_at)));
    Ok(Json(batches))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_day_is_counted_at_the_given_offset() {
        let (start, end) = day_bounds("2026-11-21", Some("+07:00")).unwrap();
        assert_eq!(start.to_rfc3339(), "2026-11-20T17:00:00+00:00");
        assert_eq!(end - start, chrono::Duration::days(1));
        let (utc, _) = day_bounds("2026-11-21", None).unwrap();
        assert_eq!(utc.to_rfc3339(), "2026-11-21T00:00:00+00:00");
    }

    #[test]
    fn a_malformed_date_or_offset_is_a_bad_request() {
        assert!(day_bounds("21/11/2026", None).is_err());
        assert!(day_bounds("2026-11-21", Some("Asia/Jakarta")).is_err());
        for bad in [
            "", "+0700", "+07", "07:00", "+24:00", "+07:60", "+-1:00", "+07:00 ",
        ] {
            assert!(parse_offset(Some(bad)).is_err(), "{bad:?}");
        }
        assert_eq!(
            parse_offset(Some("-05:30")).unwrap().local_minus_utc(),
            -(5 * 3600 + 30 * 60)
        );
    }
}
