//! Barcode scans as the venue records them: the decoded code (the hub's own type, mirroring
//! `devices::gs1::Scan` so the journal does not change when the codec does) and a recorded
//! scan with the scanner and purpose it came from. What a scan means for stock (receiving,
//! counting, waste) is decided later by inventory; here it is only kept and shown. Pass
//! scanners pick tickets up by their printed code. Decide and apply for both are in
//! `venue::scan`.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{
    device::ScannerPurpose,
    id::{DeviceId, ScanId},
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
