//! The venue's devices: provisioning (each kind with its own pairing: a bump bar to a
//! station, a call button to a table, a probe to a unit with plausible limits, a scanner
//! to a purpose), updating, enabling, rotating the secret and removing. A device's key and
//! kind never change.

use super::{
    Decision, Venue,
    validation::{MAX_NAME, trim_text, validate_slug, validate_text},
};
use crate::domain::{
    Timestamp,
    command::DeviceSpec,
    device::{Device, DeviceKind, UnitLimits},
    event::Event,
    id::DeviceId,
    rejection::{Rejection, RejectionCode},
};

impl Venue {
    pub(in crate::domain) fn device(&self, id: DeviceId) -> Result<&Device, Rejection> {
        self.devices.get(&id).ok_or_else(|| {
            Rejection::not_found(RejectionCode::DeviceNotFound, format!("device {id}"))
        })
    }

    /// A device that may act: disabled devices are refused whatever they send.
    pub(in crate::domain) fn enabled_device(&self, id: DeviceId) -> Result<&Device, Rejection> {
        let device = self.device(id)?;
        if !device.enabled {
            return Err(Rejection::conflict(
                RejectionCode::DeviceDisabled,
                format!("{} is disabled", device.name),
            ));
        }
        Ok(device)
    }

    pub fn device_by_key(&self, key: &str) -> Option<&Device> {
        self.devices.values().find(|d| d.key == key)
    }

    pub(super) fn decide_provision_device(
        &self,
        device_id: DeviceId,
        spec: &DeviceSpec,
        secret_hash: &str,
        now: Timestamp,
    ) -> Decision {
        if self.devices.contains_key(&device_id) {
            return Err(Rejection::conflict(
                RejectionCode::DeviceExists,
                "this device id is taken",
            ));
        }
        validate_slug("key", &spec.key)?;
        if self.device_by_key(&spec.key).is_some() {
            return Err(Rejection::conflict(
                RejectionCode::DeviceKeyTaken,
                format!("another device is called {:?}", spec.key),
            ));
        }
        self.validate_device_spec(spec)?;
        Ok(vec![Event::DeviceProvisioned {
            device: Device {
                id: device_id,
                key: spec.key.clone(),
                name: trim_text(&spec.name).to_owned(),
                kind: spec.kind,
                station_id: spec.station_id,
                table_id: spec.table_id,
                limits: spec.limits.clone(),
                purpose: spec.purpose,
                enabled: true,
                secret_hash: secret_hash.into(),
                provisioned_at: now,
            },
        }])
    }

    pub(super) fn decide_update_device(&self, device_id: DeviceId, spec: &DeviceSpec) -> Decision {
        let device = self.device(device_id)?;
        if spec.key != device.key || spec.kind != device.kind {
            return Err(Rejection::invalid(
                RejectionCode::DeviceIdentityFixed,
                "key",
                "a device's key and kind cannot change; provision a new device",
            ));
        }
        self.validate_device_spec(spec)?;
        Ok(vec![Event::DeviceUpdated {
            device_id,
            spec: spec.clone(),
        }])
    }

    pub(super) fn decide_set_device_enabled(&self, device_id: DeviceId, enabled: bool) -> Decision {
        self.device(device_id)?;
        Ok(vec![Event::DeviceEnabledChanged { device_id, enabled }])
    }

    pub(super) fn decide_rotate_device_secret(
        &self,
        device_id: DeviceId,
        secret_hash: &str,
    ) -> Decision {
        self.device(device_id)?;
        Ok(vec![Event::DeviceSecretRotated {
            device_id,
            secret_hash: secret_hash.into(),
        }])
    }

    pub(super) fn decide_remove_device(&self, device_id: DeviceId) -> Decision {
        self.device(device_id)?;
        Ok(vec![Event::DeviceRemoved { device_id }])
    }

    /// Each kind of device needs its own pairing, and nothing that belongs to another kind.
    fn validate_device_spec(&self, spec: &DeviceSpec) -> Result<(), Rejection> {
        validate_text("name", &spec.name, MAX_NAME)?;
        let not_for = |field: &str| {
            Rejection::invalid(
                RejectionCode::NotForDeviceKind,
                field,
                format!("{field} does not apply to this kind of device"),
            )
        };
        let (wants_station, wants_table, wants_limits, wants_purpose) = match spec.kind {
            DeviceKind::BumpBar => (true, false, false, false),
            DeviceKind::CallButton => (false, true, false, false),
            DeviceKind::Probe => (false, false, true, false),
            DeviceKind::Scanner => (false, false, false, true),
        };
        match (wants_station, spec.station_id) {
            (true, Some(station)) => {
                self.station(station)?;
            }
            (true, None) => {
                return Err(Rejection::invalid(
                    RejectionCode::MissingStation,
                    "station_id",
                    "a bump bar drives one station's screen",
                ));
            }
            (false, Some(_)) => return Err(not_for("station_id")),
            (false, None) => {}
        }
        match (wants_table, spec.table_id) {
            (true, Some(table)) => {
                self.table(table).map_err(|r| r.within("table_id"))?;
            }
            (true, None) => {
                return Err(Rejection::invalid(
                    RejectionCode::MissingTable,
                    "table_id",
                    "a call button sits on a table",
                ));
            }
            (false, Some(_)) => return Err(not_for("table_id")),
            (false, None) => {}
        }
        match (wants_limits, &spec.limits) {
            (true, Some(limits)) => validate_limits(limits)?,
            (true, None) => {
                return Err(Rejection::invalid(
                    RejectionCode::MissingLimits,
                    "limits",
                    "a probe needs the unit it watches and its limits",
                ));
            }
            (false, Some(_)) => return Err(not_for("limits")),
            (false, None) => {}
        }
        match (wants_purpose, spec.purpose) {
            (true, None) => Err(Rejection::invalid(
                RejectionCode::MissingPurpose,
                "purpose",
                "a scanner is set up for receiving, counting, waste or the pass",
            )),
            (false, Some(_)) => Err(not_for("purpose")),
            (true, Some(_)) | (false, None) => Ok(()),
        }
    }

    pub(super) fn apply_device_provisioned(&mut self, device: &Device) {
        self.devices.insert(device.id, device.clone());
    }

    pub(super) fn apply_device_updated(&mut self, device_id: DeviceId, spec: &DeviceSpec) {
        if let Some(device) = self.devices.get_mut(&device_id) {
            device.name = trim_text(&spec.name).to_owned();
            device.station_id = spec.station_id;
            device.table_id = spec.table_id;
            device.limits = spec.limits.clone();
            device.purpose = spec.purpose;
        }
    }

    pub(super) fn apply_device_enabled_changed(&mut self, device_id: DeviceId, enabled: bool) {
        if let Some(device) = self.devices.get_mut(&device_id) {
            device.enabled = enabled;
        }
    }

    pub(super) fn apply_device_secret_rotated(&mut self, device_id: DeviceId, secret_hash: &str) {
        if let Some(device) = self.devices.get_mut(&device_id) {
            device.secret_hash = secret_hash.into();
        }
    }

    pub(super) fn apply_device_removed(&mut self, device_id: DeviceId) {
        self.devices.remove(&device_id);
    }
}

/// Plausible food-safety limits: inside what a probe can read, ordered, with a critical
/// value beyond the limit it guards.
fn validate_limits(limits: &UnitLimits) -> Result<(), Rejection> {
    let field = |name: &str| format!("limits.{name}");
    validate_text("limits.unit", &limits.unit, MAX_NAME)?;
    let plausible =
        |value: Option<f64>| value.is_none_or(|v| v.is_finite() && (-60.0..=300.0).contains(&v));
    if !plausible(limits.min_celsius)
        || !plausible(limits.max_celsius)
        || !plausible(limits.critical_celsius)
    {
        return Err(Rejection::invalid(
            RejectionCode::InvalidLimits,
            field("max_celsius"),
            "temperatures must be between -60 and 300 °C",
        ));
    }
    if let (Some(min), Some(max)) = (limits.min_celsius, limits.max_celsius)
        && min >= max
    {
        return Err(Rejection::invalid(
            RejectionCode::InvalidLimits,
            field("min_celsius"),
            "min_celsius must be below max_celsius",
        ));
    }
    if let Some(critical) = limits.critical_celsius {
        let beyond_max = limits.max_celsius.is_none_or(|max| critical > max);
        let beyond_min = limits.min_celsius.is_none_or(|min| critical < min);
        let guards = match (limits.min_celsius, limits.max_celsius) {
            (None, Some(_)) => beyond_max,
            (Some(_), None) => beyond_min,
            (Some(_), Some(_)) => beyond_max || beyond_min,
            (None, None) => true,
        };
        if !guards {
            return Err(Rejection::invalid(
                RejectionCode::InvalidLimits,
                field("critical_celsius"),
                "critical_celsius must lie beyond the limit it guards",
            ));
        }
    }
    if !(5..=3600).contains(&limits.report_interval_seconds) {
        return Err(Rejection::invalid(
            RejectionCode::InvalidLimits,
            field("report_interval_seconds"),
            "probes report every 5 to 3600 seconds",
        ));
    }
    if limits.alert_delay_minutes > 240 {
        return Err(Rejection::invalid(
            RejectionCode::InvalidLimits,
            field("alert_delay_minutes"),
            "an alert delay is at most 240 minutes",
        ));
    }
    Ok(())
}
