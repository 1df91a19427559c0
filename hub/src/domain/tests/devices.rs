//! Devices: provisioning, the pairing each kind needs, plausible probe limits, and what may
//! change after provisioning.

use super::*;

#[test]
fn a_probe_is_provisioned_with_its_unit_and_keys_are_unique() {
    let mut f = Fixture::new();
    let manager = f.manager.clone();
    f.run(&provision(900, probe_spec("fridge-1")), &manager);
    let device = &f.venue.devices[&DeviceId(id(900))];
    assert!(device.enabled);
    assert_eq!(
        device.limits.as_ref().and_then(|l| l.max_celsius),
        Some(5.0)
    );
    f.when(&provision(901, probe_spec("fridge-1")), &manager)
        .then_rejects("device_key_taken");
    f.when(&provision(902, probe_spec("Fridge 1")), &manager)
        .then_rejects("invalid_slug");
}

#[test]
fn each_kind_of_device_needs_its_own_pairing_and_nothing_else() {
    let f = Fixture::new();
    let manager = f.manager.clone();
    let mut bar = probe_spec("bump-grill");
    bar.kind = DeviceKind::BumpBar;
    bar.station_id = Some(GRILL);
    assert_eq!(
        f.rejection(&provision(903, bar.clone()), &manager),
        "not_for_device_kind",
        "limits are for probes"
    );
    bar.limits = None;
    bar.station_id = None;
    f.when(&provision(903, bar.clone()), &manager)
        .then_rejects("missing_station");
    bar.station_id = Some(StationId(id(999)));
    f.when(&provision(903, bar.clone()), &manager)
        .then_rejects("station_not_found");
    let mut button = probe_spec("button-1");
    button.kind = DeviceKind::CallButton;
    button.limits = None;
    f.when(&provision(904, button), &manager)
        .then_rejects("missing_table");
    let mut scanner = probe_spec("scanner-1");
    scanner.kind = DeviceKind::Scanner;
    scanner.limits = None;
    f.when(&provision(905, scanner), &manager)
        .then_rejects("missing_purpose");
}

#[test]
fn probe_limits_must_be_plausible_and_ordered() {
    let f = Fixture::new();
    let manager = f.manager.clone();
    let with = |change: fn(&mut UnitLimits)| {
        let mut spec = probe_spec("probe-x");
        if let Some(limits) = spec.limits.as_mut() {
            change(limits);
        }
        provision(906, spec)
    };
    f.when(&with(|l| l.max_celsius = Some(900.0)), &manager)
        .then_rejects("invalid_limits");
    f.when(&with(|l| l.critical_celsius = Some(4.0)), &manager)
        .then_rejects("invalid_limits");
    f.when(&with(|l| l.min_celsius = Some(6.0)), &manager)
        .then_rejects("invalid_limits");
    f.when(&with(|l| l.report_interval_seconds = 1), &manager)
        .then_rejects("invalid_limits");
}

#[test]
fn a_device_keeps_its_key_and_kind_but_can_be_disabled_rotated_and_removed() {
    let mut f = Fixture::new();
    let manager = f.manager.clone();
    let device_id = DeviceId(id(907));
    f.run(&provision(907, probe_spec("fridge-2")), &manager);
    let mut renamed = probe_spec("fridge-2");
    renamed.name = "Dessert fridge probe".into();
    f.run(
        &Command::UpdateDevice {
            device_id,
            spec: renamed,
        },
        &manager,
    );
    assert_eq!(f.venue.devices[&device_id].name, "Dessert fridge probe");
    let rekeyed = Command::UpdateDevice {
        device_id,
        spec: probe_spec("fridge-3"),
    };
    f.when(&rekeyed, &manager)
        .then_rejects("device_identity_fixed");
    f.run(
        &Command::SetDeviceEnabled {
            device_id,
            enabled: false,
        },
        &manager,
    );
    assert!(!f.venue.devices[&device_id].enabled);
    f.run(
        &Command::RotateDeviceSecret {
            device_id,
            secret_hash: "new".into(),
        },
        &manager,
    );
    assert_eq!(f.venue.devices[&device_id].secret_hash, "new");
    f.run(&Command::RemoveDevice { device_id }, &manager);
    assert!(f.venue.devices.is_empty());
    f.when(&Command::RemoveDevice { device_id }, &manager)
        .then_rejects("device_not_found");
}
