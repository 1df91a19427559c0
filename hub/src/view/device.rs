//! What screens and the API show of kitchen devices and what they produced: a device
//! without its secret, a recorded scan with its scanner's name, a cooling-log entry with its
//! probe's unit and the deadline it is working to. They never change state.

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use crate::domain::{
    CoolingRecord, Device, DeviceId, DeviceKind, RecordedScan, ScannerPurpose, StationId, TableId,
    UnitLimits, Venue,
};

/// A device as the API and screens show it: everything but its secret.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeviceView {
    pub id: DeviceId,
    pub key: String,
    pub name: String,
    pub kind: DeviceKind,
    pub station_id: Option<StationId>,
    pub table_id: Option<TableId>,
    pub limits: Option<UnitLimits>,
    pub purpose: Option<ScannerPurpose>,
    pub enabled: bool,
    pub provisioned_at: DateTime<Utc>,
}

impl DeviceView {
    pub fn of(device: &Device) -> Self {
        Self {
            id: device.id,
            key: device.key.clone(),
            name: device.name.clone(),
            kind: device.kind,
            station_id: device.station_id,
            table_id: device.table_id,
            limits: device.limits.clone(),
            purpose: device.purpose,
            enabled: device.enabled,
            provisioned_at: device.provisioned_at,
        }
    }

    pub fn find(venue: &Venue, id: DeviceId) -> Option<Self> {
        venue.devices.get(&id).map(Self::of)
    }
}

/// A recorded scan with the scanner that made it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ScanView {
    #[serde(flatten)]
    pub scan: RecordedScan,
    /// The scanner's key and name; `None` once the device was removed.
    pub device_key: Option<String>,
    pub device_name: Option<String>,
}

impl ScanView {
    pub fn of(venue: &Venue, scan: &RecordedScan) -> Self {
        let device = venue.devices.get(&scan.device_id);
        Self {
            scan: scan.clone(),
            device_key: device.map(|d| d.key.clone()),
            device_name: device.map(|d| d.name.clone()),
        }
    }
}

/// A cooling-log entry with the probe's device and unit.
#[derive(Debug, Serialize, ToSchema)]
pub struct CoolingView {
    #[serde(flatten)]
    pub batch: CoolingRecord,
    pub device_key: Option<String>,
    /// The unit the probe watches, e.g. "Blast chiller".
    pub unit: Option<String>,
    /// The deadline of the stage still to meet, while the batch is cooling.
    pub next_deadline: Option<DateTime<Utc>>,
}

impl CoolingView {
    pub fn of(venue: &Venue, batch: &CoolingRecord) -> Self {
        let device = venue.devices.get(&batch.device_id);
        Self {
            batch: batch.clone(),
            device_key: device.map(|d| d.key.clone()),
            unit: device.and_then(|d| d.limits.as_ref().map(|l| l.unit.clone())),
            next_deadline: batch.next_deadline(),
        }
    }
}
