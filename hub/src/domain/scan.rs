//! Barcode scans as the venue records them: the decoded code (the hub's own type, mirroring
//! `devices::gs1::Scan` so the journal does not change when the codec does) and a recorded
//! scan with the scanner and purpose it came from. What a scan means for stock (receiving,
//! counting, waste) is decided later by inventory; here it is only kept and shown. Pass
//! scanners pick tickets up by their printed code. Decide and apply for both live here.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{
    Actor, Timestamp,
    command::Command,
    device::{Device, DeviceKind, ScannerPurpose},
    event::Event,
    id::{DeviceId, ScanId},
    order::LineStatus,
    rejection::Rejection,
    venue::Venue,
};

/// Recorded scans kept in memory for screens and the scans endpoint (the journal keeps all).
pub const RECENT_SCANS_KEPT: usize = 500;

/// Longest raw code accepted: GS1 element strings stay well below this.
pub const MAX_RAW_CHARS: usize = 200;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ScanKind {
    Ean13,
    UpcA,
    Ean8,
    Gs1,
}

/// A decoded barcode: product (GTIN-14), lot, dates, serial and weight when it carried them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ScannedCode {
    pub kind: ScanKind,
    /// Always 14 digits (GTIN-14) when present.
    #[serde(default)]
    pub gtin: Option<String>,
    #[serde(default)]
    pub lot: Option<String>,
    #[serde(default)]
    pub expiry: Option<NaiveDate>,
    #[serde(default)]
    pub production: Option<NaiveDate>,
    #[serde(default)]
    pub best_before: Option<NaiveDate>,
    #[serde(default)]
    pub serial: Option<String>,
    #[serde(default)]
    pub net_weight_grams: Option<u64>,
    /// The code exactly as scanned.
    pub raw: String,
}

impl From<devices::gs1::ScanKind> for ScanKind {
    fn from(kind: devices::gs1::ScanKind) -> Self {
        match kind {
            devices::gs1::ScanKind::Ean13 => ScanKind::Ean13,
            devices::gs1::ScanKind::UpcA => ScanKind::UpcA,
            devices::gs1::ScanKind::Ean8 => ScanKind::Ean8,
            devices::gs1::ScanKind::Gs1 => ScanKind::Gs1,
        }
    }
}

impl From<devices::gs1::Scan> for ScannedCode {
    fn from(scan: devices::gs1::Scan) -> Self {
        Self {
            kind: scan.kind.into(),
            gtin: scan.gtin,
            lot: scan.lot,
            expiry: scan.expiry,
            production: scan.production,
            best_before: scan.best_before,
            serial: scan.serial,
            net_weight_grams: scan.net_weight_grams,
            raw: scan.raw,
        }
    }
}

/// A scan the venue accepted from one of its scanners.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RecordedScan {
    pub id: ScanId,
    pub device_id: DeviceId,
    /// What the scanner was set up for when it scanned.
    pub purpose: ScannerPurpose,
    pub code: ScannedCode,
    /// When the scanner read it (the device's clock).
    pub at: DateTime<Utc>,
    /// When the hub recorded it.
    pub recorded_at: DateTime<Utc>,
}

impl Venue {
    /// An enabled scanner of this venue, with its purpose.
    fn scanner(&self, device_id: DeviceId) -> Result<(&Device, ScannerPurpose), Rejection> {
        let device = self.enabled_device(device_id)?;
        match (device.kind, device.purpose) {
            (DeviceKind::Scanner, Some(purpose)) => Ok((device, purpose)),
            _ => Err(Rejection::conflict(
                "not_a_scanner",
                format!("{} is not a barcode scanner", device.name),
            )),
        }
    }

    pub(super) fn decide_scan(
        &self,
        command: &Command,
        _actor: &Actor,
        now: Timestamp,
    ) -> Result<Vec<Event>, Rejection> {
        match command {
            Command::RecordScan {
                scan_id,
                device_id,
                scan,
                scanned_at,
            } => {
                let (device, purpose) = self.scanner(*device_id)?;
                if purpose == ScannerPurpose::Pass {
                    return Err(Rejection::conflict(
                        "wrong_scanner_purpose",
                        format!(
                            "{} scans tickets at the pass, not stock: pick the ticket up instead",
                            device.name
                        ),
                    ));
                }
                if self.scans.iter().any(|s| s.id == *scan_id) {
                    return Err(Rejection::conflict("scan_exists", "this scan id is taken"));
                }
                let raw_chars = scan.raw.chars().count();
                if scan.raw.trim().is_empty() || raw_chars > MAX_RAW_CHARS {
                    return Err(Rejection::invalid(
                        "invalid_scan",
                        "scan.raw",
                        format!("a scanned code has 1 to {MAX_RAW_CHARS} characters"),
                    ));
                }
                if scan
                    .gtin
                    .as_deref()
                    .is_some_and(|g| g.len() != 14 || !g.bytes().all(|b| b.is_ascii_digit()))
                {
                    return Err(Rejection::invalid(
                        "invalid_scan",
                        "scan.gtin",
                        "a GTIN is recorded as 14 digits",
                    ));
                }
                Ok(vec![Event::ScanRecorded {
                    scan: RecordedScan {
                        id: *scan_id,
                        device_id: *device_id,
                        purpose,
                        code: scan.clone(),
                        at: *scanned_at,
                        recorded_at: now,
                    },
                }])
            }
            Command::PickUpTicket { device_id, code } => {
                let (device, purpose) = self.scanner(*device_id)?;
                if purpose != ScannerPurpose::Pass {
                    return Err(Rejection::conflict(
                        "wrong_scanner_purpose",
                        format!("{} is not the pass scanner", device.name),
                    ));
                }
                let order = self.order_by_ticket_code(code).ok_or_else(|| {
                    Rejection::not_found("ticket_not_found", format!("ticket {:?}", code.trim()))
                })?;
                if !order.is_open() {
                    return Err(Rejection::conflict(
                        "order_not_open",
                        format!("order #{} is {}", order.number, order.status.as_str()),
                    ));
                }
                let line_ids: Vec<_> = order
                    .lines
                    .iter()
                    .filter(|l| l.status == LineStatus::Ready)
                    .map(|l| l.id)
                    .collect();
                if line_ids.is_empty() {
                    return Err(Rejection::conflict(
                        "nothing_to_pick_up",
                        format!(
                            "ticket {} (order #{}) has nothing ready at the pass",
                            order.ticket_code(),
                            order.number
                        ),
                    ));
                }
                Ok(vec![
                    Event::LinesServed {
                        order_id: order.id,
                        line_ids,
                        at: now,
                    },
                    Event::TicketPickedUp {
                        order_id: order.id,
                        device_id: *device_id,
                        at: now,
                    },
                ])
            }
            _ => Err(Rejection::conflict(
                "not_a_scanner_command",
                "not a scanner command",
            )),
        }
    }

    pub(super) fn apply_scan(&mut self, event: &Event) {
        if let Event::ScanRecorded { scan } = event {
            self.scans.push_back(scan.clone());
            while self.scans.len() > RECENT_SCANS_KEPT {
                self.scans.pop_front();
            }
        }
    }
}
