//! Rules for what devices do through the bridge: scanners recording scans and picking
//! tickets up at the pass, call buttons asking for service, cooling batches logged from a
//! probe, devices acting without a staff member, and the station queue a bump bar walks.

use chrono::Duration;

use super::*;
use crate::domain::{
    cooling::{CoolingOutcome, CoolingProgress},
    food_safety::{CoolingBatch, CoolingStage},
    order::{parse_ticket_code, ticket_code},
    scan::{RECENT_SCANS_KEPT, ScanKind, ScannedCode},
};

const RECEIVING: DeviceId = DeviceId(Uuid::from_u128(950));
const PASS: DeviceId = DeviceId(Uuid::from_u128(951));
const BUTTON_T1: DeviceId = DeviceId(Uuid::from_u128(952));
const CHILLER: DeviceId = DeviceId(Uuid::from_u128(953));
const BUMP_GRILL: DeviceId = DeviceId(Uuid::from_u128(954));

fn spec(key: &str, kind: DeviceKind) -> DeviceSpec {
    DeviceSpec {
        key: key.into(),
        name: key.replace('-', " "),
        kind,
        station_id: None,
        table_id: None,
        limits: None,
        purpose: None,
    }
}

/// The fixture plus a receiving scanner, a pass scanner, a call button on table 1, a blast
/// chiller probe and a grill bump bar.
fn with_devices() -> Fixture {
    let mut f = Fixture::new();
    let manager = f.manager.clone();
    let mut receiving = spec("scanner-receiving", DeviceKind::Scanner);
    receiving.purpose = Some(ScannerPurpose::Receiving);
    let mut pass = spec("scanner-pass", DeviceKind::Scanner);
    pass.purpose = Some(ScannerPurpose::Pass);
    let mut button = spec("button-t1", DeviceKind::CallButton);
    button.table_id = Some(T1);
    let mut chiller = spec("chiller-1", DeviceKind::Probe);
    chiller.limits = Some(UnitLimits::for_profile(
        "Blast chiller".into(),
        UnitProfile::BlastChiller,
    ));
    let mut bump = spec("bump-grill", DeviceKind::BumpBar);
    bump.station_id = Some(GRILL);
    for (device, spec) in [
        (RECEIVING, receiving),
        (PASS, pass),
        (BUTTON_T1, button),
        (CHILLER, chiller),
        (BUMP_GRILL, bump),
    ] {
        f.run(
            &Command::ProvisionDevice {
                device_id: device,
                spec,
                secret_hash: "hash".into(),
            },
            &manager,
        );
    }
    f
}

fn device_actor(f: &Fixture, device: DeviceId) -> Actor {
    Actor::device(f.venue.devices[&device].key.clone())
}

fn code(raw: &str) -> ScannedCode {
    ScannedCode {
        kind: ScanKind::Gs1,
        gtin: Some("09506000134352".into()),
        lot: Some("L42".into()),
        expiry: chrono::NaiveDate::from_ymd_opt(2026, 12, 31),
        production: None,
        best_before: None,
        serial: None,
        net_weight_grams: Some(1500),
        raw: raw.into(),
    }
}

fn record(scan: u128, device: DeviceId, raw: &str) -> Command {
    Command::RecordScan {
        scan_id: ScanId(id(scan)),
        device_id: device,
        scan: code(raw),
        scanned_at: at(0),
    }
}

// ----- scans ---------------------------------------------------------------------------

#[test]
fn a_receiving_scanner_records_its_scans_with_its_purpose() {
    let mut f = with_devices();
    let scanner = device_actor(&f, RECEIVING);
    let events = f.run(&record(1, RECEIVING, "(01)09506000134352(10)L42"), &scanner);
    let Event::ScanRecorded { scan } = &events[0] else {
        panic!("expected a recorded scan, got {events:?}");
    };
    assert_eq!(scan.purpose, ScannerPurpose::Receiving);
    assert_eq!(scan.code.lot.as_deref(), Some("L42"));
    assert_eq!(f.venue.scans.len(), 1);
    f.when(&record(1, RECEIVING, "again"), &scanner)
        .then_rejects("scan_exists");
}

#[test]
fn the_venue_keeps_only_the_most_recent_scans() {
    let mut f = with_devices();
    let scanner = device_actor(&f, RECEIVING);
    for n in 0..(RECENT_SCANS_KEPT as u128 + 5) {
        f.run(
            &record(10_000 + n, RECEIVING, &format!("code {n}")),
            &scanner,
        );
    }
    assert_eq!(f.venue.scans.len(), RECENT_SCANS_KEPT);
    assert_eq!(
        f.venue.scans.front().map(|s| s.id),
        Some(ScanId(id(10_005))),
        "the oldest five left memory"
    );
}

#[test]
fn only_an_enabled_stock_scanner_records_scans() {
    let mut f = with_devices();
    let manager = f.manager.clone();
    let actor = Actor::device("whoever");
    f.when(&record(1, PASS, "x"), &actor)
        .then_rejects("wrong_scanner_purpose");
    f.when(&record(1, CHILLER, "x"), &actor)
        .then_rejects("not_a_scanner");
    f.when(&record(1, DeviceId(id(999)), "x"), &actor)
        .then_rejects("device_not_found");
    f.run(
        &Command::SetDeviceEnabled {
            device_id: RECEIVING,
            enabled: false,
        },
        &manager,
    );
    f.when(&record(1, RECEIVING, "x"), &actor)
        .then_rejects("device_disabled");
}

#[test]
fn a_scan_needs_a_raw_code_and_a_gtin_of_fourteen_digits() {
    let f = with_devices();
    let actor = device_actor(&f, RECEIVING);
    f.when(&record(1, RECEIVING, "  "), &actor)
        .then_rejects("invalid_scan");
    let mut bad = code("4006381333931");
    bad.gtin = Some("4006381333931".into());
    let command = Command::RecordScan {
        scan_id: ScanId(id(2)),
        device_id: RECEIVING,
        scan: bad,
        scanned_at: at(0),
    };
    f.when(&command, &actor).then_rejects("invalid_scan");
}

// ----- pass pick-up ----------------------------------------------------------------------

#[test]
fn ticket_codes_are_the_order_number_and_read_back_leniently() {
    assert_eq!(ticket_code(42), "T42");
    for written in ["T42", "t42", " T0042 ", "T42\n"] {
        assert_eq!(parse_ticket_code(written), Some(42), "{written:?}");
    }
    for wrong in [
        "42",
        "T",
        "T-42",
        "T4 2",
        "TT42",
        "T0",
        "X42",
        "T99999999999",
    ] {
        assert_eq!(parse_ticket_code(wrong), None, "{wrong:?}");
    }
}

#[test]
fn a_pass_scan_serves_every_ready_line_of_the_ticket_and_records_the_pick_up() {
    let mut f = with_devices();
    let order_id = f.open_dine_in(
        1000,
        T1,
        vec![line(1, TEH, 1, vec![]), line(2, SATAY, 1, vec![])],
    );
    let bar = device_actor(&f, BUMP_GRILL);
    let scanner = device_actor(&f, PASS);
    let code = f.order(order_id).ticket_code();
    let pick_up = Command::PickUpTicket {
        device_id: PASS,
        code: code.to_lowercase(),
    };
    f.when(&pick_up, &scanner)
        .then_rejects("nothing_to_pick_up");
    f.run(
        &Command::BumpTicket {
            order_id,
            station_id: GRILL,
        },
        &bar,
    );
    let events = f.run(&pick_up, &scanner);
    assert!(matches!(
        &events[..],
        [Event::LinesServed { .. }, Event::TicketPickedUp { order_id: o, device_id: PASS, .. }] if *o == order_id
    ));
    let statuses: Vec<LineStatus> = f.order(order_id).lines.iter().map(|l| l.status).collect();
    assert_eq!(statuses, vec![LineStatus::Fired, LineStatus::Served]);
    f.when(&pick_up, &scanner)
        .then_rejects("nothing_to_pick_up");
}

#[test]
fn an_unknown_ticket_code_is_not_found_and_only_the_pass_scanner_picks_up() {
    let mut f = with_devices();
    f.open_dine_in(1000, T1, vec![line(2, SATAY, 1, vec![])]);
    let scanner = device_actor(&f, PASS);
    for code in ["T999", "hello", ""] {
        let refused = f
            .decide(
                &Command::PickUpTicket {
                    device_id: PASS,
                    code: code.into(),
                },
                &scanner,
            )
            .unwrap_err();
        assert_eq!(
            (refused.code, refused.kind),
            ("ticket_not_found", RejectionKind::NotFound)
        );
    }
    f.when(
        &Command::PickUpTicket {
            device_id: RECEIVING,
            code: "T1".into(),
        },
        &scanner,
    )
    .then_rejects("wrong_scanner_purpose");
}

// ----- devices acting without staff ------------------------------------------------------

#[test]
fn a_device_does_kitchen_work_without_a_staff_member() {
    let mut f = with_devices();
    let order_id = f.open_dine_in(1000, T1, vec![line(2, SATAY, 1, vec![])]);
    let bar = device_actor(&f, BUMP_GRILL);
    for command in [
        Command::StartTicket {
            order_id,
            station_id: GRILL,
        },
        Command::BumpTicket {
            order_id,
            station_id: GRILL,
        },
        Command::RecallTicket {
            order_id,
            station_id: GRILL,
        },
        Command::BumpTicket {
            order_id,
            station_id: GRILL,
        },
        Command::ServeReady { order_id },
    ] {
        f.run(&command, &bar);
    }
    assert_eq!(f.order(order_id).lines[0].status, LineStatus::Served);
}

#[test]
fn a_device_is_never_a_manager() {
    let mut f = with_devices();
    let order_id = f.open_dine_in(1000, T1, vec![line(2, SATAY, 1, vec![])]);
    let bar = device_actor(&f, BUMP_GRILL);
    f.run(
        &Command::StartTicket {
            order_id,
            station_id: GRILL,
        },
        &bar,
    );
    assert!(!bar.is_manager());
    assert!(Actor::system().is_manager());
    let void = Command::VoidLine {
        order_id,
        line_id: LineId(id(2)),
        reason: "dropped".into(),
    };
    f.when(&void, &bar)
        .then_rejects("manager_approval_required");
}

#[test]
fn the_station_queue_is_oldest_fired_first_and_recall_takes_the_newest_bump() {
    let mut f = with_devices();
    let waiter = f.waiter.clone();
    let first = OrderId(id(1000));
    let second = OrderId(id(1001));
    let third = OrderId(id(1002));
    for (minute, order_id, table) in [(5, second, T2), (3, first, T1), (7, third, T3)] {
        let command = open(order_id, OrderKind::DineIn, Some(table), vec![]);
        for event in f.venue.decide(&command, &waiter, at(minute)).unwrap() {
            f.venue.apply(&event);
        }
        let add = Command::AddLines {
            order_id,
            lines: vec![line(u128::from(minute), SATAY, 1, vec![])],
            hold: false,
        };
        for event in f.venue.decide(&add, &waiter, at(minute)).unwrap() {
            f.venue.apply(&event);
        }
    }
    assert_eq!(f.venue.station_queue(GRILL), vec![first, second, third]);
    assert!(f.venue.station_queue(BAR).is_empty());
    assert_eq!(f.venue.last_bumped(GRILL), None);
    let bar = device_actor(&f, BUMP_GRILL);
    for (minute, order_id) in [(10, third), (12, first)] {
        let bump = Command::BumpTicket {
            order_id,
            station_id: GRILL,
        };
        for event in f.venue.decide(&bump, &bar, at(minute)).unwrap() {
            f.venue.apply(&event);
        }
    }
    assert_eq!(f.venue.station_queue(GRILL), vec![second]);
    assert_eq!(f.venue.last_bumped(GRILL), Some(first));
}

// ----- call buttons ----------------------------------------------------------------------

fn press(reason: ServiceReason) -> Command {
    Command::RequestService {
        table_id: T1,
        device_id: Some(BUTTON_T1),
        reason,
    }
}

#[test]
fn a_press_opens_one_call_and_pressing_again_changes_nothing() {
    let mut f = with_devices();
    let button = device_actor(&f, BUTTON_T1);
    let events = f.run(&press(ServiceReason::Service), &button);
    assert!(matches!(events[..], [Event::ServiceRequested { .. }]));
    let call = f.venue.tables[&T1].service_request.clone().unwrap();
    assert_eq!(
        (call.reason, call.device_id, call.acknowledged_at),
        (ServiceReason::Service, Some(BUTTON_T1), None)
    );
    let before = f.venue.clone();
    let again = f.run(&press(ServiceReason::Service), &button);
    assert!(matches!(again[..], [Event::ServiceRequestRepeated { .. }]));
    assert_eq!(f.venue, before, "a repeat is journaled but changes nothing");
    assert!(
        again[0].table_ids().is_empty(),
        "no table frame for a repeat"
    );
}

#[test]
fn asking_for_the_bill_turns_an_open_call_into_a_bill_request_but_not_back() {
    let mut f = with_devices();
    let button = device_actor(&f, BUTTON_T1);
    f.run(&press(ServiceReason::Service), &button);
    let events = f.run(&press(ServiceReason::Bill), &button);
    assert!(matches!(events[..], [Event::ServiceRequested { .. }]));
    let events = f.run(&press(ServiceReason::Service), &button);
    assert!(matches!(events[..], [Event::ServiceRequestRepeated { .. }]));
    assert_eq!(
        f.venue.tables[&T1]
            .service_request
            .as_ref()
            .map(|c| c.reason),
        Some(ServiceReason::Bill)
    );
}

#[test]
fn a_waiter_acknowledges_a_call_once_and_the_button_is_named_for_its_led() {
    let mut f = with_devices();
    let button = device_actor(&f, BUTTON_T1);
    let waiter = f.waiter.clone();
    let acknowledge = Command::AcknowledgeServiceRequest { table_id: T1 };
    f.when(&acknowledge, &waiter)
        .then_rejects("no_service_request");
    f.run(&press(ServiceReason::Service), &button);
    let events = f.run(&acknowledge, &waiter);
    assert!(matches!(
        events[..],
        [Event::ServiceRequestAcknowledged {
            device_id: Some(BUTTON_T1),
            by: Some(_),
            ..
        }]
    ));
    let call = f.venue.tables[&T1].service_request.clone().unwrap();
    assert_eq!(call.acknowledged_by, waiter.staff_id);
    f.when(&acknowledge, &waiter)
        .then_rejects("service_already_acknowledged");
    let events = f.run(&press(ServiceReason::Service), &button);
    assert!(
        matches!(events[..], [Event::ServiceRequested { .. }]),
        "a press after the acknowledgement is a new call"
    );
}

#[test]
fn the_button_cancels_its_call_and_clearing_the_table_ends_it() {
    let mut f = with_devices();
    let button = device_actor(&f, BUTTON_T1);
    let waiter = f.waiter.clone();
    let cancel = Command::CancelServiceRequest { table_id: T1 };
    f.when(&cancel, &button).then_rejects("no_service_request");
    f.run(&press(ServiceReason::Service), &button);
    f.run(&cancel, &button);
    assert_eq!(f.venue.tables[&T1].service_request, None);

    f.run(
        &Command::SeatParty {
            table_id: T1,
            guests: 2,
            server_id: None,
        },
        &waiter,
    );
    f.run(&press(ServiceReason::Bill), &button);
    let events = f.run(&Command::ClearTable { table_id: T1 }, &waiter);
    assert!(matches!(
        events[..],
        [
            Event::ServiceRequestCancelled { .. },
            Event::TableCleared { .. }
        ]
    ));
    assert_eq!(f.venue.tables[&T1].service_request, None);
}

#[test]
fn closing_the_last_order_of_a_calling_table_ends_the_call() {
    let mut f = with_devices();
    let button = device_actor(&f, BUTTON_T1);
    let order_id = f.open_dine_in(1000, T1, vec![line(2, SATAY, 1, vec![])]);
    let kitchen = f.kitchen.clone();
    f.run(
        &Command::BumpTicket {
            order_id,
            station_id: GRILL,
        },
        &kitchen,
    );
    f.run(&Command::ServeReady { order_id }, &kitchen);
    f.run(&press(ServiceReason::Bill), &button);
    let manager = f.manager.clone();
    let events = f.run(&Command::CloseOrder { order_id }, &manager);
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::ServiceRequestCancelled { table_id: T1, .. }))
    );
    assert_eq!(f.venue.tables[&T1].service_request, None);
}

#[test]
fn a_call_button_calls_only_for_its_own_table() {
    let f = with_devices();
    let button = device_actor(&f, BUTTON_T1);
    let elsewhere = Command::RequestService {
        table_id: T2,
        device_id: Some(BUTTON_T1),
        reason: ServiceReason::Service,
    };
    f.when(&elsewhere, &button)
        .then_rejects("device_not_at_table");
    let scanner = Command::RequestService {
        table_id: T1,
        device_id: Some(PASS),
        reason: ServiceReason::Service,
    };
    f.when(&scanner, &button).then_rejects("not_a_call_button");
    let unknown = Command::RequestService {
        table_id: TableId(id(999)),
        device_id: None,
        reason: ServiceReason::Service,
    };
    f.when(&unknown, &button).then_rejects("table_not_found");
}

// ----- cooling ---------------------------------------------------------------------------

const BATCH: CoolingBatchId = CoolingBatchId(Uuid::from_u128(960));

fn start_batch(batch: CoolingBatchId, probe: &str) -> Command {
    Command::StartCoolingBatch {
        batch_id: batch,
        device_id: CHILLER,
        probe: probe.into(),
        label: "Rendang, 12 portions".into(),
        started_at: at(0),
    }
}

fn progress(progress: CoolingProgress) -> Command {
    Command::RecordCoolingProgress {
        batch_id: BATCH,
        progress,
    }
}

#[test]
fn a_cooling_batch_is_logged_from_the_rules_steps_until_it_passes() {
    let mut f = with_devices();
    let chiller = device_actor(&f, CHILLER);
    f.run(&start_batch(BATCH, "core"), &chiller);
    // Feed the pure rule a good cooling curve and record what it reports.
    let mut rule = CoolingBatch::new();
    let start = at(0);
    let curve = [
        (0, 70.0),
        (10, 57.0),
        (60, 35.0),
        (100, 20.0),
        (200, 9.0),
        (280, 4.5),
    ];
    for (minutes, celsius) in curve {
        for action in rule.observe(celsius, start + Duration::minutes(minutes)) {
            f.run(&progress(action.into()), &chiller);
        }
    }
    let record = &f.venue.cooling_batches[&BATCH];
    assert_eq!(record.outcome, Some(CoolingOutcome::Passed));
    assert_eq!(record.cooling_from, Some(start + Duration::minutes(10)));
    assert_eq!(
        record.to_twenty_one_at,
        Some(start + Duration::minutes(100))
    );
    assert_eq!(record.to_five_at, Some(start + Duration::minutes(280)));
    assert_eq!(record.finished_at, Some(start + Duration::minutes(280)));
    assert_eq!(record.label, "Rendang, 12 portions");
    f.when(
        &Command::StopCoolingBatch {
            batch_id: BATCH,
            at: at(9),
        },
        &chiller,
    )
    .then_rejects("cooling_batch_finished");
}

#[test]
fn a_failed_batch_keeps_its_warning_and_missed_stage_and_takes_no_more_steps() {
    let mut f = with_devices();
    let chiller = device_actor(&f, CHILLER);
    f.run(&start_batch(BATCH, "core"), &chiller);
    let from = at(0);
    let deadline = from + CoolingStage::ToTwentyOne.allowed();
    for step in [
        CoolingProgress::Started { at: from },
        CoolingProgress::Warning {
            stage: CoolingStage::ToTwentyOne,
            deadline,
            predicted: None,
        },
        CoolingProgress::Failed {
            stage: CoolingStage::ToTwentyOne,
            deadline,
        },
    ] {
        f.run(&progress(step), &chiller);
    }
    let record = &f.venue.cooling_batches[&BATCH];
    assert_eq!(record.outcome, Some(CoolingOutcome::Failed));
    assert_eq!(record.failed_stage, Some(CoolingStage::ToTwentyOne));
    assert_eq!(record.warnings.len(), 1);
    assert_eq!(record.finished_at, Some(deadline));
    assert!(!record.is_active());
    f.when(&progress(CoolingProgress::Passed { at: at(5) }), &chiller)
        .then_rejects("cooling_batch_finished");
}

#[test]
fn a_batch_records_nothing_before_its_clock_starts_and_meets_each_stage_once() {
    let mut f = with_devices();
    let chiller = device_actor(&f, CHILLER);
    f.run(&start_batch(BATCH, "core"), &chiller);
    let met = progress(CoolingProgress::StageMet {
        stage: CoolingStage::ToTwentyOne,
        at: at(3),
    });
    f.when(&met, &chiller).then_rejects("cooling_not_started");
    f.run(&progress(CoolingProgress::Started { at: at(1) }), &chiller);
    f.when(&progress(CoolingProgress::Started { at: at(2) }), &chiller)
        .then_rejects("cooling_already_started");
    f.run(&met, &chiller);
    f.when(&met, &chiller)
        .then_rejects("cooling_stage_already_met");
    f.when(
        &Command::RecordCoolingProgress {
            batch_id: CoolingBatchId(id(999)),
            progress: CoolingProgress::Passed { at: at(4) },
        },
        &chiller,
    )
    .then_rejects("cooling_batch_not_found");
}

#[test]
fn one_batch_cools_on_a_probe_at_a_time_and_only_probes_cool() {
    let mut f = with_devices();
    let chiller = device_actor(&f, CHILLER);
    f.run(&start_batch(BATCH, "core"), &chiller);
    let second = CoolingBatchId(id(961));
    f.when(&start_batch(second, "core"), &chiller)
        .then_rejects("cooling_batch_active");
    f.when(&start_batch(BATCH, "probe-2"), &chiller)
        .then_rejects("cooling_batch_exists");
    f.run(&start_batch(second, "probe-2"), &chiller);
    f.run(
        &Command::StopCoolingBatch {
            batch_id: BATCH,
            at: at(30),
        },
        &chiller,
    );
    assert_eq!(
        f.venue.cooling_batches[&BATCH].outcome,
        Some(CoolingOutcome::Stopped)
    );
    f.run(&start_batch(CoolingBatchId(id(962)), "core"), &chiller);
    let on_a_scanner = Command::StartCoolingBatch {
        batch_id: CoolingBatchId(id(963)),
        device_id: RECEIVING,
        probe: "core".into(),
        label: "Soup".into(),
        started_at: at(0),
    };
    f.when(&on_a_scanner, &chiller).then_rejects("not_a_probe");
    f.when(&start_batch(CoolingBatchId(id(964)), " "), &chiller)
        .then_rejects("empty_text");
}

#[test]
fn a_batch_resumed_from_its_record_keeps_its_clock_and_fails_at_the_original_deadline() {
    let mut f = with_devices();
    let chiller = device_actor(&f, CHILLER);
    f.run(&start_batch(BATCH, "core"), &chiller);
    let start = at(0);
    let mut rule = CoolingBatch::new();
    for (minutes, celsius) in [(0, 56.0), (20, 50.0), (40, 45.0)] {
        for action in rule.observe(celsius, start + Duration::minutes(minutes)) {
            f.run(&progress(action.into()), &chiller);
        }
    }
    assert_eq!(
        f.venue.cooling_batches[&BATCH].warnings.len(),
        1,
        "too slow"
    );
    // The hub restarts: the bridge rebuilds the rule from the journaled record.
    let mut resumed = f.venue.cooling_batches[&BATCH].rule();
    assert!(
        resumed
            .observe(44.0, start + Duration::minutes(60))
            .is_empty(),
        "no second start and no second warning for the same stage"
    );
    let actions = resumed.check_deadlines(start + Duration::minutes(121));
    for action in actions {
        f.run(&progress(action.into()), &chiller);
    }
    let record = &f.venue.cooling_batches[&BATCH];
    assert_eq!(record.outcome, Some(CoolingOutcome::Failed));
    assert_eq!(
        record.finished_at,
        Some(start + CoolingStage::ToTwentyOne.allowed())
    );
    assert!(record.rule().is_finished());
}
