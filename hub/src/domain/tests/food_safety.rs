//! Food-safety alerts: raised once, acknowledged, resolved with a corrective action, only
//! from probes, and never beginning after they were raised.

use super::*;

#[test]
fn a_food_safety_alert_is_raised_once_acknowledged_and_resolved_with_a_corrective_action() {
    let mut f = Fixture::new();
    let manager = f.manager.clone();
    let kitchen = f.kitchen.clone();
    f.run(&provision(910, probe_spec("fridge-9")), &manager);
    let raise = |n: u128| Command::RaiseFoodSafetyAlert {
        alert_id: AlertId(id(n)),
        device_id: DeviceId(id(910)),
        kind: crate::domain::food_safety::FoodSafetyAlertKind::Excursion,
        celsius: Some(7.5),
        limit: Some(5.0),
        since: at(0),
    };
    f.run(&raise(920), &Actor::system());
    f.when(&raise(921), &Actor::system())
        .then_rejects("alert_already_open");
    let alert_id = AlertId(id(920));
    assert_eq!(f.venue.food_safety_alerts[&alert_id].unit, "Walk-in fridge");
    let resolve = |action: &str| Command::ResolveFoodSafetyAlert {
        alert_id,
        corrective_action: action.into(),
    };
    f.when(&resolve(" "), &kitchen)
        .then_rejects("missing_corrective_action");
    f.run(&Command::AcknowledgeFoodSafetyAlert { alert_id }, &kitchen);
    f.when(&Command::AcknowledgeFoodSafetyAlert { alert_id }, &kitchen)
        .then_rejects("alert_already_acknowledged");
    f.run(
        &Command::MarkFoodSafetyRecovered { alert_id },
        &Actor::system(),
    );
    f.run(
        &resolve("moved stock to the reach-in, technician called"),
        &kitchen,
    );
    let alert = &f.venue.food_safety_alerts[&alert_id];
    assert_eq!(
        (alert.acknowledged_by, alert.resolved_by),
        (kitchen.staff_id, kitchen.staff_id)
    );
    assert!(!alert.is_open());
    f.when(&resolve("again"), &kitchen)
        .then_rejects("alert_already_resolved");
    // Once resolved, a new excursion on the same probe is a new alert.
    f.run(&raise(922), &Actor::system());
}

#[test]
fn only_probes_raise_food_safety_alerts() {
    let mut f = Fixture::new();
    let manager = f.manager.clone();
    let mut scanner = probe_spec("scanner-9");
    scanner.kind = DeviceKind::Scanner;
    scanner.limits = None;
    scanner.purpose = Some(ScannerPurpose::Receiving);
    f.run(&provision(911, scanner), &manager);
    let raise = Command::RaiseFoodSafetyAlert {
        alert_id: AlertId(id(930)),
        device_id: DeviceId(id(911)),
        kind: crate::domain::food_safety::FoodSafetyAlertKind::Offline,
        celsius: None,
        limit: None,
        since: at(0),
    };
    f.when(&raise, &Actor::system()).then_rejects("not_a_probe");
}

#[test]
fn a_food_safety_alert_never_begins_after_it_was_raised() {
    let mut f = Fixture::new();
    let manager = f.manager.clone();
    f.run(&provision(912, probe_spec("fridge-12")), &manager);
    let alert_id = AlertId(id(940));
    f.run(
        &Command::RaiseFoodSafetyAlert {
            alert_id,
            device_id: DeviceId(id(912)),
            kind: crate::domain::food_safety::FoodSafetyAlertKind::Critical,
            celsius: Some(9.0),
            limit: Some(5.0),
            since: at(30),
        },
        &Actor::system(),
    );
    let alert = &f.venue.food_safety_alerts[&alert_id];
    assert_eq!(alert.raised_at, at(1));
    assert_eq!(alert.since, alert.raised_at);
}
