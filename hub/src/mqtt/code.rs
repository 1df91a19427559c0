//! Every code the device side answers on a device's `error` topic or counts as a refusal,
//! beyond the codec's own (`devices::codec::Rejection`) and the engine's rejection codes
//! (which pass through unchanged): one enum, one spelling each. A test below checks that
//! `docs/devices.md` names every one of them, the gate's connection refusals and the
//! counter-restart causes too, so the page firmware writers read cannot fall behind.

/// A refusal the bridge or a device action answers with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeviceError {
    /// No device with this key in the venue (external broker).
    UnknownDevice,
    /// The device is disabled (external broker).
    DeviceDisabled,
    /// A redelivery of a message already taken: counted, not answered.
    Duplicate,
    /// A `seq` at or below the last one of the same run.
    OutOfOrder,
    /// An event that is not for this kind of device.
    WrongDeviceKind,
    /// A bump bar without a station, a call button without a table.
    NotPaired,
    /// A scan that does not decode.
    BadScan,
    /// `recall` on a station with no bumped ticket.
    NothingToRecall,
    /// `cooling_start` on a probe that is already cooling a batch.
    CoolingBatchActive,
    /// `cooling_stop` for a batch never started on this device.
    CoolingBatchNotFound,
    /// The engine could not take the command now; nothing changed, send it again.
    Unavailable,
}

impl DeviceError {
    pub const ALL: [DeviceError; 11] = [
        DeviceError::UnknownDevice,
        DeviceError::DeviceDisabled,
        DeviceError::Duplicate,
        DeviceError::OutOfOrder,
        DeviceError::WrongDeviceKind,
        DeviceError::NotPaired,
        DeviceError::BadScan,
        DeviceError::NothingToRecall,
        DeviceError::CoolingBatchActive,
        DeviceError::CoolingBatchNotFound,
        DeviceError::Unavailable,
    ];

    /// The `code` of the error reply and the `reason` label of `hub_mqtt_rejected_total`.
    pub fn code(self) -> &'static str {
        match self {
            DeviceError::UnknownDevice => "unknown_device",
            DeviceError::DeviceDisabled => "device_disabled",
            DeviceError::Duplicate => "duplicate",
            DeviceError::OutOfOrder => "out_of_order",
            DeviceError::WrongDeviceKind => "wrong_device_kind",
            DeviceError::NotPaired => "not_paired",
            DeviceError::BadScan => "bad_scan",
            DeviceError::NothingToRecall => "nothing_to_recall",
            DeviceError::CoolingBatchActive => "cooling_batch_active",
            DeviceError::CoolingBatchNotFound => "cooling_batch_not_found",
            DeviceError::Unavailable => "unavailable",
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;
    use crate::mqtt::{gate::REFUSAL_REASONS, sequence::RestartCause};

    fn devices_md() -> String {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/devices.md");
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    #[test]
    fn codes_are_spelled_once() {
        let codes: HashSet<&str> = DeviceError::ALL.iter().map(|e| e.code()).collect();
        assert_eq!(codes.len(), DeviceError::ALL.len());
    }

    #[test]
    fn docs_name_every_code_the_device_side_answers_or_counts() {
        let doc = devices_md();
        let missing: Vec<&str> = DeviceError::ALL
            .iter()
            .map(|e| e.code())
            .chain(devices::codec::Rejection::REASONS)
            .chain(REFUSAL_REASONS)
            .chain(RestartCause::ALL.iter().map(|c| c.as_str()))
            .filter(|code| !doc.contains(&format!("`{code}`")))
            .collect();
        assert!(
            missing.is_empty(),
            "docs/devices.md does not name {missing:?}"
        );
        for metric in [
            "hub_mqtt_connections_refused_total",
            "hub_mqtt_rejected_total",
            "hub_mqtt_seq_gaps_total",
            "hub_mqtt_counter_restarts_total",
        ] {
            assert!(
                doc.contains(metric),
                "docs/devices.md does not name {metric}"
            );
        }
    }
}
