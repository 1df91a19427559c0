//! Temperature record endpoints: a unit's reading history (for a chart) and the daily
//! food-safety report (each probe's minimum, maximum, mean and whether it left its limits,
//! then the day's alerts with who acknowledged and resolved them and what was done), as
//! JSON or as a CSV file to hand an inspector. Readings come from the store; devices,
//! limits, staff names and alerts from the venue's state. No rules are decided here.

use std::fmt::Write as _;

use axum::{
    Json,
    extract::State,
    http::{HeaderValue, header},
    response::{IntoResponse, Response},
};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::{
    error::{ApiError, ErrorBody},
    extract::{ApiPath, ApiQuery, Caller},
};
use crate::{
    auth::Permission,
    domain::{
        DeviceId, DeviceKind, Rejection, StaffId, UnitLimits, Venue,
        food_safety::{FoodSafetyAlert, FoodSafetyAlertKind},
        venue::RESOLVED_ALERTS_KEPT,
    },
    readings::zone,
    state::AppState,
    store::{ReadingDay, StoreError},
};

/// Points returned when the request names no `limit`.
const DEFAULT_HISTORY_LIMIT: u32 = 1000;
/// Most points one history request may ask for (a week of one probe reporting each minute).
const MAX_HISTORY_LIMIT: u32 = 10_000;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HistoryQuery {
    /// RFC 3339 instant, inclusive, before `to`; default `to` minus 24 hours.
    #[param(format = DateTime)]
    pub from: Option<String>,
    /// RFC 3339 instant, exclusive; default now.
    #[param(format = DateTime)]
    pub to: Option<String>,
    /// Only this probe of the device (`main`, `core`); default every probe.
    pub probe: Option<String>,
    /// 1-10 000, default 1000: the newest readings of the range are kept.
    #[param(minimum = 1, maximum = 10000)]
    pub limit: Option<u32>,
}

/// One reading of a probe.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReadingPoint {
    pub probe: String,
    pub celsius: f64,
    /// Device time, or the hub's receive time for devices without a clock.
    pub measured_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReadingHistory {
    pub device_id: DeviceId,
    pub device_name: String,
    /// The unit the probe watches (`Walk-in fridge`), if it is a probe.
    pub unit: Option<String>,
    /// The unit's limits as they are now.
    pub limits: Option<UnitLimits>,
    pub probe: Option<String>,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub limit: u32,
    /// True when there were as many points as `limit`: older readings of the range may
    /// have been left out (narrow the range or raise the limit).
    pub truncated: bool,
    /// Oldest first.
    pub points: Vec<ReadingPoint>,
}

#[utoipa::path(
    get, path = "/api/v1/devices/{id}/readings", tag = "food-safety", security(("bearer" = [])),
    params(("id" = Uuid, Path), HistoryQuery),
    responses(
        (status = 200, body = ReadingHistory),
        (status = 403, description = "`forbidden`: the role may not read temperatures", body = ErrorBody),
        (status = 404, description = "`device_not_found`", body = ErrorBody),
        (status = 422, description = "`invalid_time`, `invalid_range`, `invalid_limit` (with `field`)", body = ErrorBody),
    )
)]
pub async fn history(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<Uuid>,
    ApiQuery(query): ApiQuery<HistoryQuery>,
) -> Result<Json<ReadingHistory>, ApiError> {
    caller.require(Permission::ReadTemperatures)?;
    let device_id = DeviceId(id);
    let to = match &query.to {
        Some(text) => instant("to", text)?,
        None => Utc::now(),
    };
    let from = match &query.from {
        Some(text) => instant("from", text)?,
        None => to - Duration::hours(24),
    };
    if from >= to {
        return Err(ApiError::invalid_field(
            "invalid_range",
            "from",
            format!("from ({from}) must be before to ({to})"),
        ));
    }
    let limit = query.limit.unwrap_or(DEFAULT_HISTORY_LIMIT);
    if !(1..=MAX_HISTORY_LIMIT).contains(&limit) {
        return Err(ApiError::invalid_field(
            "invalid_limit",
            "limit",
            format!("limit must be between 1 and {MAX_HISTORY_LIMIT} (got {limit})"),
        ));
    }
    let probe = query.probe.filter(|p| !p.trim().is_empty());
    let device = caller
        .venue
        .read(move |v| {
            v.devices
                .get(&device_id)
                .map(|d| (d.name.clone(), d.limits.clone()))
        })
        .await?;
    let Some((device_name, limits)) = device else {
        return Err(ApiError::Rejected(Rejection::not_found(
            crate::domain::RejectionCode::DeviceNotFound,
            format!("device {device_id}"),
        )));
    };
    let readings = state
        .store
        .reading_history(
            caller.venue.id(),
            device_id,
            probe.as_deref(),
            from,
            to,
            limit,
        )
        .await
        .map_err(store_error)?;
    let truncated = readings.len() >= limit as usize;
    Ok(Json(ReadingHistory {
        device_id,
        device_name,
        unit: limits.as_ref().map(|l| l.unit.clone()),
        limits,
        probe,
        from,
        to,
        limit,
        truncated,
        points: readings
            .into_iter()
            .map(|r| ReadingPoint {
                probe: r.probe,
                celsius: r.celsius,
                measured_at: r.measured_at,
            })
            .collect(),
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReportQuery {
    /// The venue-local day, `YYYY-MM-DD`; default today in the venue's timezone.
    #[param(format = Date)]
    pub date: Option<String>,
    /// `json` (default) or `csv` (a file download).
    #[param(pattern = "^(json|csv)$")]
    pub format: Option<String>,
}

/// One probe's day.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProbeDay {
    pub device_id: DeviceId,
    /// The device's name now; absent for a device removed since.
    pub device_name: Option<String>,
    /// The unit the probe watches now.
    pub unit: Option<String>,
    /// The probe on the device; empty for a probe device that sent nothing that day.
    pub probe: String,
    pub readings: i64,
    pub min_celsius: Option<f64>,
    pub max_celsius: Option<f64>,
    /// Rounded to 0.01 °C.
    pub mean_celsius: Option<f64>,
    pub first_reading_at: Option<DateTime<Utc>>,
    pub last_reading_at: Option<DateTime<Utc>>,
    /// The unit's limits as they are now.
    pub limit_min_celsius: Option<f64>,
    pub limit_max_celsius: Option<f64>,
    /// Whether any reading of the day was outside those limits; absent when there were no
    /// readings or the unit has no limits.
    pub breached: Option<bool>,
}

/// A food-safety alert active during the day, with the names of the people who handled it.
#[derive(Debug, Serialize, ToSchema)]
pub struct AlertLine {
    pub id: Uuid,
    pub device_id: DeviceId,
    pub unit: String,
    pub kind: FoodSafetyAlertKind,
    pub celsius: Option<f64>,
    pub limit: Option<f64>,
    pub since: DateTime<Utc>,
    pub raised_at: DateTime<Utc>,
    pub recovered_at: Option<DateTime<Utc>>,
    pub acknowledged_by: Option<StaffId>,
    pub acknowledged_by_name: Option<String>,
    pub acknowledged_at: Option<DateTime<Utc>>,
    pub resolved_by: Option<StaffId>,
    pub resolved_by_name: Option<String>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub corrective_action: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FoodSafetyReport {
    /// The venue's slug.
    pub venue: String,
    pub venue_name: String,
    pub date: NaiveDate,
    pub timezone: String,
    /// The instants the day spans, `[from, to)`.
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    /// One row per probe, by unit then probe; probe devices silent all day appear with
    /// zero readings.
    pub probes: Vec<ProbeDay>,
    /// Alerts raised before the day ended and not resolved before it began, oldest first.
    pub alerts: Vec<AlertLine>,
    /// False when the hub may no longer hold every alert of the day in memory (it keeps
    /// the 200 most recently resolved); the journal (`GET /events`) has them all.
    pub alerts_complete: bool,
    /// The cooling log: batches put on a probe that day, oldest first.
    pub cooling: Vec<CoolingLine>,
}

/// One cooked batch of the cooling log (57 °C to 21 °C within 2 h, to 5 °C within 6 h).
#[derive(Debug, Serialize, ToSchema)]
pub struct CoolingLine {
    pub batch_id: Uuid,
    /// What was cooling, as the cook named it.
    pub label: String,
    pub device_id: DeviceId,
    pub device_name: Option<String>,
    pub probe: String,
    pub started_at: DateTime<Utc>,
    /// When it was at 57 °C and the clock started.
    pub cooling_from: Option<DateTime<Utc>>,
    pub reached_21_at: Option<DateTime<Utc>>,
    pub reached_5_at: Option<DateTime<Utc>>,
    /// Warnings that a stage deadline would be missed.
    pub warnings: usize,
    /// `passed`, `failed` or `stopped`; absent while still cooling.
    pub outcome: Option<crate::domain::CoolingOutcome>,
    pub finished_at: Option<DateTime<Utc>>,
}

#[utoipa::path(
    get, path = "/api/v1/food-safety/report", tag = "food-safety", security(("bearer" = [])),
    params(ReportQuery),
    responses(
        (status = 200, description = "JSON, or with `format=csv` a `text/csv` attachment", content(
            (FoodSafetyReport = "application/json"),
            (String = "text/csv"),
        )),
        (status = 403, description = "`forbidden`: the role may not read temperatures", body = ErrorBody),
        (status = 422, description = "`invalid_date`, `invalid_format` (with `field`)", body = ErrorBody),
    )
)]
pub async fn report(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<ReportQuery>,
) -> Result<Response, ApiError> {
    caller.require(Permission::ReadTemperatures)?;
    let csv = match query.format.as_deref().unwrap_or("json") {
        "json" => false,
        "csv" => true,
        other => {
            return Err(ApiError::invalid_field(
                "invalid_format",
                "format",
                format!("format must be json or csv (got {other:?})"),
            ));
        }
    };
    let date = query
        .date
        .as_deref()
        .map(|text| {
            NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|_| {
                ApiError::invalid_field(
                    "invalid_date",
                    "date",
                    format!("date must be a calendar day like 2025-06-01 (got {text:?})"),
                )
            })
        })
        .transpose()?;
    let now = Utc::now();
    let (mut report, devices) = caller.venue.read(move |v| venue_part(v, date, now)).await?;
    let days = state
        .store
        .reading_days(caller.venue.id(), report.date)
        .await
        .map_err(store_error)?;
    report.probes = probe_days(days, devices);
    if csv {
        Ok(csv_response(&report))
    } else {
        Ok(Json(report).into_response())
    }
}

/// What the report needs of a probe device, read from the venue.
struct ProbeDevice {
    id: DeviceId,
    name: String,
    limits: Option<UnitLimits>,
}

/// Everything the report takes from the venue's state, in one read.
fn venue_part(
    venue: &Venue,
    date: Option<NaiveDate>,
    now: DateTime<Utc>,
) -> (FoodSafetyReport, Vec<ProbeDevice>) {
    let (slug, venue_name, timezone) = venue.info.as_ref().map_or_else(
        || (String::new(), String::new(), "UTC".to_owned()),
        |info| (info.slug.clone(), info.name.clone(), info.timezone.clone()),
    );
    let zone = zone::venue_zone_or_utc(&timezone);
    let date = date.unwrap_or_else(|| zone::local_day(zone, now));
    let (from, to) = zone::day_span(zone, date);
    let name_of = |id: Option<StaffId>| {
        id.and_then(|id| venue.staff.get(&id))
            .map(|s| s.name.clone())
    };
    let mut alerts: Vec<&FoodSafetyAlert> = venue
        .food_safety_alerts
        .values()
        .filter(|a| a.raised_at < to && a.resolved_at.is_none_or(|at| at >= from))
        .collect();
    alerts.sort_by_key(|a| (a.raised_at, a.id));
    let alerts = alerts
        .into_iter()
        .map(|a| AlertLine {
            id: a.id.0,
            device_id: a.device_id,
            unit: a.unit.clone(),
            kind: a.kind,
            celsius: a.celsius,
            limit: a.limit,
            since: a.since,
            raised_at: a.raised_at,
            recovered_at: a.recovered_at,
            acknowledged_by: a.acknowledged_by,
            acknowledged_by_name: name_of(a.acknowledged_by),
            acknowledged_at: a.acknowledged_at,
            resolved_by: a.resolved_by,
            resolved_by_name: name_of(a.resolved_by),
            resolved_at: a.resolved_at,
            corrective_action: a.corrective_action.clone(),
        })
        .collect();
    let mut cooling: Vec<CoolingLine> = venue
        .cooling_batches
        .values()
        .filter(|b| b.started_at >= from && b.started_at < to)
        .map(|b| CoolingLine {
            batch_id: b.id.0,
            label: b.label.clone(),
            device_id: b.device_id,
            device_name: venue.devices.get(&b.device_id).map(|d| d.name.clone()),
            probe: b.probe.clone(),
            started_at: b.started_at,
            cooling_from: b.cooling_from,
            reached_21_at: b.to_twenty_one_at,
            reached_5_at: b.to_five_at,
            warnings: b.warnings.len(),
            outcome: b.outcome,
            finished_at: b.finished_at,
        })
        .collect();
    cooling.sort_by_key(|b| (b.started_at, b.batch_id));
    let resolved_in_memory = venue
        .food_safety_alerts
        .values()
        .filter(|a| !a.is_open())
        .count();
    let devices = venue
        .devices
        .values()
        .filter(|d| d.kind == DeviceKind::Probe || d.limits.is_some())
        .map(|d| ProbeDevice {
            id: d.id,
            name: d.name.clone(),
            limits: d.limits.clone(),
        })
        .collect();
    let report = FoodSafetyReport {
        venue: slug,
        venue_name,
        date,
        timezone,
        from,
        to,
        probes: Vec::new(),
        alerts,
        alerts_complete: resolved_in_memory < RESOLVED_ALERTS_KEPT,
        cooling,
    };
    (report, devices)
}

/// Joins the day summaries with the devices as they are now; adds a zero row for every
/// probe device that sent nothing, since a silent probe is itself a food-safety finding.
fn probe_days(days: Vec<ReadingDay>, devices: Vec<ProbeDevice>) -> Vec<ProbeDay> {
    let mut rows: Vec<ProbeDay> = days
        .into_iter()
        .map(|day| {
            let device = devices.iter().find(|d| d.id == day.device_id);
            let limits = device.and_then(|d| d.limits.as_ref());
            let (limit_min, limit_max) = (
                limits.and_then(|l| l.min_celsius),
                limits.and_then(|l| l.max_celsius),
            );
            let breached = limits
                .filter(|_| limit_min.is_some() || limit_max.is_some())
                .map(|_| {
                    limit_min.is_some_and(|min| day.min_celsius < min)
                        || limit_max.is_some_and(|max| day.max_celsius > max)
                });
            ProbeDay {
                device_id: day.device_id,
                device_name: device.map(|d| d.name.clone()),
                unit: limits.map(|l| l.unit.clone()),
                mean_celsius: Some((day.mean_celsius() * 100.0).round() / 100.0),
                probe: day.probe,
                readings: day.count,
                min_celsius: Some(day.min_celsius),
                max_celsius: Some(day.max_celsius),
                first_reading_at: Some(day.first_at),
                last_reading_at: Some(day.last_at),
                limit_min_celsius: limit_min,
                limit_max_celsius: limit_max,
                breached,
            }
        })
        .collect();
    for device in &devices {
        if rows.iter().all(|row| row.device_id != device.id) {
            let limits = device.limits.as_ref();
            rows.push(ProbeDay {
                device_id: device.id,
                device_name: Some(device.name.clone()),
                unit: limits.map(|l| l.unit.clone()),
                probe: String::new(),
                readings: 0,
                min_celsius: None,
                max_celsius: None,
                mean_celsius: None,
                first_reading_at: None,
                last_reading_at: None,
                limit_min_celsius: limits.and_then(|l| l.min_celsius),
                limit_max_celsius: limits.and_then(|l| l.max_celsius),
                breached: None,
            });
        }
    }
    rows.sort_by(|a, b| {
        (&a.unit, &a.device_name, &a.probe, a.device_id).cmp(&(
            &b.unit,
            &b.device_name,
            &b.probe,
            b.device_id,
        ))
    });
    rows
}

fn csv_response(report: &FoodSafetyReport) -> Response {
    let filename = format!(
        "food-safety-{}-{}.csv",
        file_safe(&report.venue),
        report.date
    );
    let mut response = to_csv(report).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    if let Ok(value) = HeaderValue::from_str(&format!("attachment; filename=\"{filename}\"")) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    response
}

/// The report as CSV (RFC 4180, CRLF line ends) in four sections separated by an empty
/// line, each with its own header row: the report itself, the probes, the alerts, the
/// cooling log. Starts
/// with a UTF-8 byte-order mark so spreadsheet programs read names and actions correctly.
pub fn to_csv(report: &FoodSafetyReport) -> String {
    let mut out = String::from("\u{feff}");
    let time = |at: Option<DateTime<Utc>>| at.map(|at| at.to_rfc3339()).unwrap_or_default();
    let number = |value: Option<f64>| value.map(|v| v.to_string()).unwrap_or_default();
    let flag = |value: Option<bool>| match value {
        Some(true) => "yes".to_owned(),
        Some(false) => "no".to_owned(),
        None => String::new(),
    };
    csv_row(
        &mut out,
        &[
            "report",
            "venue",
            "venue_name",
            "date",
            "timezone",
            "from",
            "to",
        ]
        .map(Cell::plain),
    );
    csv_row(
        &mut out,
        &[
            Cell::plain("food_safety"),
            Cell::text(&report.venue),
            Cell::text(&report.venue_name),
            Cell::plain(&report.date.to_string()),
            Cell::text(&report.timezone),
            Cell::plain(&report.from.to_rfc3339()),
            Cell::plain(&report.to.to_rfc3339()),
        ],
    );
    out.push_str("\r\n");
    csv_row(
        &mut out,
        &[
            "unit",
            "device",
            "device_id",
            "probe",
            "readings",
            "min_celsius",
            "max_celsius",
            "mean_celsius",
            "limit_min_celsius",
            "limit_max_celsius",
            "breached",
            "first_reading_at",
            "last_reading_at",
        ]
        .map(Cell::plain),
    );
    for probe in &report.probes {
        csv_row(
            &mut out,
            &[
                Cell::text(probe.unit.as_deref().unwrap_or_default()),
                Cell::text(probe.device_name.as_deref().unwrap_or_default()),
                Cell::plain(&probe.device_id.to_string()),
                Cell::text(&probe.probe),
                Cell::plain(&probe.readings.to_string()),
                Cell::plain(&number(probe.min_celsius)),
                Cell::plain(&number(probe.max_celsius)),
                Cell::plain(&number(probe.mean_celsius)),
                Cell::plain(&number(probe.limit_min_celsius)),
                Cell::plain(&number(probe.limit_max_celsius)),
                Cell::plain(&flag(probe.breached)),
                Cell::plain(&time(probe.first_reading_at)),
                Cell::plain(&time(probe.last_reading_at)),
            ],
        );
    }
    out.push_str("\r\n");
    csv_row(
        &mut out,
        &[
            "alert_id",
            "raised_at",
            "unit",
            "device_id",
            "kind",
            "celsius",
            "limit_celsius",
            "since",
            "recovered_at",
            "acknowledged_by",
            "acknowledged_at",
            "resolved_by",
            "resolved_at",
            "corrective_action",
        ]
        .map(Cell::plain),
    );
    for alert in &report.alerts {
        let kind = serde_json::to_value(alert.kind)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        csv_row(
            &mut out,
            &[
                Cell::plain(&alert.id.to_string()),
                Cell::plain(&alert.raised_at.to_rfc3339()),
                Cell::text(&alert.unit),
                Cell::plain(&alert.device_id.to_string()),
                Cell::plain(&kind),
                Cell::plain(&number(alert.celsius)),
                Cell::plain(&number(alert.limit)),
                Cell::plain(&alert.since.to_rfc3339()),
                Cell::plain(&time(alert.recovered_at)),
                Cell::text(alert.acknowledged_by_name.as_deref().unwrap_or_default()),
                Cell::plain(&time(alert.acknowledged_at)),
                Cell::text(alert.resolved_by_name.as_deref().unwrap_or_default()),
                Cell::plain(&time(alert.resolved_at)),
                Cell::text(alert.corrective_action.as_deref().unwrap_or_default()),
            ],
        );
    }
    out.push_str("\r\n");
    csv_row(
        &mut out,
        &[
            "cooling_batch_id",
            "label",
            "device",
            "device_id",
            "probe",
            "started_at",
            "cooling_from",
            "reached_21_at",
            "reached_5_at",
            "warnings",
            "outcome",
            "finished_at",
        ]
        .map(Cell::plain),
    );
    for batch in &report.cooling {
        let outcome = batch
            .outcome
            .and_then(|o| serde_json::to_value(o).ok())
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        csv_row(
            &mut out,
            &[
                Cell::plain(&batch.batch_id.to_string()),
                Cell::text(&batch.label),
                Cell::text(batch.device_name.as_deref().unwrap_or_default()),
                Cell::plain(&batch.device_id.to_string()),
                Cell::text(&batch.probe),
                Cell::plain(&batch.started_at.to_rfc3339()),
                Cell::plain(&time(batch.cooling_from)),
                Cell::plain(&time(batch.reached_21_at)),
                Cell::plain(&time(batch.reached_5_at)),
                Cell::plain(&batch.warnings.to_string()),
                Cell::plain(&outcome),
                Cell::plain(&time(batch.finished_at)),
            ],
        );
    }
    out
}

/// One CSV field: `plain` for values the hub formats itself (numbers, times, codes),
/// `text` for what people typed (names, corrective actions), which a spreadsheet must
/// never run as a formula.
struct Cell(String);

impl Cell {
    fn plain(value: &str) -> Self {
        Self(value.to_owned())
    }

    fn text(value: &str) -> Self {
        // A leading = + - @ (or tab / CR) makes spreadsheet programs evaluate the cell; a
        // quote in front shows it as the text it is (OWASP's CSV-injection advice).
        if value.starts_with(['=', '+', '-', '@', '\t', '\r']) {
            Self(format!("'{value}"))
        } else {
            Self(value.to_owned())
        }
    }
}

fn csv_row(out: &mut String, cells: &[Cell]) {
    for (i, Cell(value)) in cells.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        if value.contains([',', '"', '\r', '\n']) {
            let _ = write!(out, "\"{}\"", value.replace('"', "\"\""));
        } else {
            out.push_str(value);
        }
    }
    out.push_str("\r\n");
}

/// Keeps a file name to letters, digits, `-` and `_` (slugs already are).
fn file_safe(text: &str) -> String {
    let safe: String = text
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'))
        .collect();
    if safe.is_empty() {
        "venue".into()
    } else {
        safe
    }
}

fn instant(field: &'static str, text: &str) -> Result<DateTime<Utc>, ApiError> {
    DateTime::parse_from_rfc3339(text)
        .map(|at| at.with_timezone(&Utc))
        .map_err(|_| {
            ApiError::invalid_field(
                "invalid_time",
                field,
                format!("{field} must be an RFC 3339 instant like 2025-06-01T08:00:00+07:00 (got {text:?})"),
            )
        })
}

fn store_error(error: StoreError) -> ApiError {
    match error {
        StoreError::Unavailable(message) => ApiError::Unavailable(message),
        other => ApiError::Internal(anyhow::Error::new(other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_with_commas_quotes_or_line_breaks_are_quoted_and_quotes_doubled() {
        let mut out = String::new();
        csv_row(
            &mut out,
            &[
                Cell::plain("a,b"),
                Cell::plain("say \"hi\""),
                Cell::plain("two\nlines"),
                Cell::plain("plain"),
            ],
        );
        assert_eq!(out, "\"a,b\",\"say \"\"hi\"\"\",\"two\nlines\",plain\r\n");
    }

    #[test]
    fn typed_text_that_looks_like_a_formula_is_shown_as_text() {
        assert_eq!(Cell::text("=HYPERLINK(\"x\")").0, "'=HYPERLINK(\"x\")");
        assert_eq!(Cell::text("-moved stock").0, "'-moved stock");
        assert_eq!(Cell::plain("-18.5").0, "-18.5");
        assert_eq!(Cell::text("moved stock").0, "moved stock");
    }
}
