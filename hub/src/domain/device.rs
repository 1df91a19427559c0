//! Kitchen devices registered to a venue: temperature probes (with the limits of the unit
//! they watch), bump bars (paired with a station), barcode scanners (with a purpose) and
//! call buttons (at a table). The secret a device logs in with is kept only as a hash
//! made by the auth adapter.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::secret::SecretHash;

use super::id::{DeviceId, StationId, TableId};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeviceKind {
    Probe,
    BumpBar,
    Scanner,
    CallButton,
}

/// What a probe watches, with food-safety defaults (all configurable per unit).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum UnitProfile {
    /// Fridge: cold holding at or below 5 °C.
    ColdHolding,
    /// Freezer: at or below -18 °C.
    Freezer,
    /// Hot-holding well: at or above 60 °C.
    HotHolding,
    /// Blast chiller: cooling batches from 57 °C to 5 °C.
    BlastChiller,
}

/// The storage or holding unit a probe watches, and when it must alert.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct UnitLimits {
    /// e.g. "Walk-in fridge", "Bain-marie 2".
    #[schema(min_length = 1, max_length = 120, pattern = r"\S")]
    pub unit: String,
    pub profile: UnitProfile,
    /// Readings below this are an excursion (hot holding), if set; below `max_celsius`.
    #[schema(minimum = -60, maximum = 300)]
    pub min_celsius: Option<f64>,
    /// Readings above this are an excursion (cold holding, freezers), if set.
    #[schema(minimum = -60, maximum = 300)]
    pub max_celsius: Option<f64>,
    /// An excursion must last this long before it alerts (a door opening does not page).
    #[schema(maximum = 240)]
    pub alert_delay_minutes: u16,
    /// Beyond this reading (above a max, or below a min) the alert is immediate.
    #[schema(minimum = -60, maximum = 300)]
    pub critical_celsius: Option<f64>,
    /// How often the probe reports; three missed intervals raise "probe offline".
    #[schema(minimum = 5, maximum = 3600)]
    pub report_interval_seconds: u32,
}

impl UnitLimits {
    /// The usual limits of a profile: what a manager gets unless they say otherwise.
    pub fn for_profile(unit: String, profile: UnitProfile) -> Self {
        let (min, max, critical) = match profile {
            UnitProfile::ColdHolding => (None, Some(5.0), Some(8.0)),
            UnitProfile::Freezer => (None, Some(-18.0), Some(-12.0)),
            UnitProfile::HotHolding => (Some(60.0), None, Some(54.0)),
            UnitProfile::BlastChiller => (None, None, None),
        };
        Self {
            unit,
            profile,
            min_celsius: min,
            max_celsius: max,
            alert_delay_minutes: 15,
            critical_celsius: critical,
            report_interval_seconds: 60,
        }
    }
}

/// What a scanner's scans are for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ScannerPurpose {
    Receiving,
    Counting,
    Waste,
    /// At the pass: scanning a ticket's code marks it picked up.
    Pass,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Device {
    pub id: DeviceId,
    /// The device's name on the wire (MQTT client id and topic segment): lowercase letters,
    /// digits, `-` and `_`, unique in the venue, e.g. `fridge-1`.
    pub key: String,
    pub name: String,
    pub kind: DeviceKind,
    /// Bump bars: the station whose screen they drive.
    pub station_id: Option<StationId>,
    /// Call buttons: the table they sit on.
    pub table_id: Option<TableId>,
    /// Probes: the unit they watch and its limits.
    pub limits: Option<UnitLimits>,
    /// Scanners: what their scans are for.
    pub purpose: Option<ScannerPurpose>,
    pub enabled: bool,
    /// Argon2 hash of the device's secret; never shown by the API.
    pub secret_hash: SecretHash,
    pub provisioned_at: DateTime<Utc>,
}
