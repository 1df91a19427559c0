//! Protocol words the domain owns, checked against what clients read: every rejection code
//! has one spelling and is listed in `docs/api.md`, and every command's `name()` and every
//! event's `kind()` (metrics, logs, the journal's `kind` column) is its serde `type` tag.

use std::collections::BTreeSet;

use super::*;
use crate::domain::food_safety::FoodSafetyAlertKind;

/// The API document clients code against.
const API_DOC: &str = include_str!("../../../../docs/api.md");

/// The codes in the document's "Rejection codes" table (rows of the form "| `code` | ...").
fn documented_rejection_codes() -> BTreeSet<&'static str> {
    let table = API_DOC
        .split_once("### Rejection codes")
        .map(|(_, rest)| rest.split_once("\n## ").map_or(rest, |(table, _)| table))
        .unwrap_or_default();
    table
        .lines()
        .filter_map(|row| row.strip_prefix("| `"))
        .filter_map(|row| row.split_once('`').map(|(code, _)| code))
        .collect()
}

#[test]
fn every_rejection_code_is_listed_in_the_api_document() {
    let documented = documented_rejection_codes();
    assert!(
        documented.len() > 100,
        "the rejection code table was not found in docs/api.md"
    );
    let missing: Vec<&str> = RejectionCode::ALL
        .iter()
        .map(|code| code.as_str())
        .filter(|code| !documented.contains(code))
        .collect();
    assert!(missing.is_empty(), "docs/api.md does not list {missing:?}");
}

#[test]
fn every_rejection_code_has_one_spelling_that_reads_back() {
    let spellings: BTreeSet<&str> = RejectionCode::ALL.iter().map(|c| c.as_str()).collect();
    assert_eq!(
        spellings.len(),
        RejectionCode::ALL.len(),
        "two codes share a spelling"
    );
    for code in RejectionCode::ALL {
        assert_eq!(RejectionCode::parse(code.as_str()), Some(*code));
        assert_eq!(
            serde_json::to_value(code).ok(),
            Some(serde_json::Value::from(code.as_str())),
            "{code:?} serialises as its spelling"
        );
        let spelling = code.as_str();
        assert!(
            !spelling.is_empty()
                && spelling
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b == b'_'),
            "{spelling:?} is snake_case"
        );
    }
    assert_eq!(RejectionCode::parse("not_a_scanner_command"), None);
}

/// Values of every kind a sample command or event carries, taken from a fixture that made
/// them, so each sample is a value the domain really produces.
struct Payloads {
    station: Station,
    area: Area,
    table: TableLayout,
    category: Category,
    group: ModifierGroup,
    item: MenuItem,
    spec: DeviceSpec,
    staff: Staff,
    device: Device,
    alert: crate::domain::food_safety::FoodSafetyAlert,
    scan: RecordedScan,
    batch: CoolingRecord,
    line: Line,
}

fn payloads() -> Payloads {
    let mut f = Fixture::new();
    let manager = f.manager.clone();
    let probe = DeviceId(id(900));
    f.run(&provision(900, probe_spec("fridge-1")), &manager);
    f.run(
        &Command::RaiseFoodSafetyAlert {
            alert_id: AlertId(id(910)),
            device_id: probe,
            kind: FoodSafetyAlertKind::Excursion,
            celsius: Some(9.0),
            limit: Some(5.0),
            since: at(0),
        },
        &Actor::system(),
    );
    f.run(
        &Command::StartCoolingBatch {
            batch_id: CoolingBatchId(id(930)),
            device_id: probe,
            probe: "core".into(),
            label: "Beef rendang".into(),
            started_at: at(0),
        },
        &Actor::system(),
    );
    let order = f.open_dine_in(1000, T1, vec![line(1, TEH, 1, vec![])]);
    let v = &f.venue;
    Payloads {
        station: v.stations[&GRILL].clone(),
        area: v.areas[&AreaId(id(100))].clone(),
        table: v.tables[&T1].layout.clone(),
        category: v.categories[&CategoryId(id(300))].clone(),
        group: v.modifier_groups[&DONENESS].clone(),
        item: v.items[&STEAK].clone(),
        spec: probe_spec("fridge-1"),
        staff: v.staff[&StaffId(id(1))].clone(),
        device: v.devices[&probe].clone(),
        alert: v.food_safety_alerts[&AlertId(id(910))].clone(),
        scan: RecordedScan {
            id: ScanId(id(920)),
            device_id: probe,
            purpose: ScannerPurpose::Receiving,
            code: ScannedCode {
                kind: ScanKind::Ean13,
                gtin: Some("04006381333931".into()),
                lot: None,
                expiry: None,
                production: None,
                best_before: None,
                serial: None,
                net_weight_grams: None,
                raw: "4006381333931".into(),
            },
            at: at(0),
            recorded_at: at(0),
        },
        batch: v.cooling_batches[&CoolingBatchId(id(930))].clone(),
        line: f.order(order).lines[0].clone(),
    }
}

/// One command of every variant (the test below fails when a variant has none).
fn sample_commands(s: &Payloads) -> Vec<Command> {
    vec![
        Command::CreateVenue {
            venue_id: VenueId(id(9)),
            tenant_id: TenantId(id(8)),
            slug: "x".into(),
            name: "x".into(),
            timezone: "x".into(),
            currency: "x".into(),
        },
        Command::AddStaff {
            staff_id: StaffId(id(1)),
            name: "x".into(),
            role: Role::Waiter,
            username: None,
            pin_lookup: None,
            pin_hash: None,
            password_hash: None,
        },
        Command::UpdateStaff {
            staff_id: StaffId(id(1)),
            name: None,
            role: None,
            active: None,
        },
        Command::SetStaffPin {
            staff_id: StaffId(id(1)),
            pin_lookup: "x".into(),
            pin_hash: "x".into(),
        },
        Command::SetStaffPassword {
            staff_id: StaffId(id(1)),
            password_hash: "x".into(),
        },
        Command::GiveStaffVenues {
            staff_id: StaffId(id(1)),
            venues: vec![],
        },
        Command::SaveStation {
            station: s.station.clone(),
        },
        Command::SaveArea {
            area: s.area.clone(),
        },
        Command::SaveTable {
            table: s.table.clone(),
        },
        Command::RemoveTable { table_id: T1 },
        Command::AssignServer {
            table_id: T1,
            server_id: None,
        },
        Command::SaveCategory {
            category: s.category.clone(),
        },
        Command::SaveModifierGroup {
            group: s.group.clone(),
        },
        Command::SaveMenuItem {
            item: s.item.clone(),
        },
        Command::SetItemAvailability {
            item_id: STEAK,
            available: false,
        },
        Command::SeatParty {
            table_id: T1,
            guests: 2,
            server_id: None,
        },
        Command::MoveParty {
            table_id: T1,
            to_table_id: T1,
        },
        Command::MergeTables {
            table_id: T1,
            table_ids: vec![],
        },
        Command::SplitTables { table_id: T1 },
        Command::RequestBill { table_id: T1 },
        Command::ClearTable { table_id: T1 },
        Command::MarkTableClean { table_id: T1 },
        Command::OpenOrder {
            order_id: OrderId(id(1000)),
            kind: OrderKind::DineIn,
            table_id: None,
            guests: None,
            customer: None,
            channel: None,
            note: None,
            lines: vec![],
            hold: false,
        },
        Command::AddLines {
            order_id: OrderId(id(1000)),
            lines: vec![],
            hold: false,
        },
        Command::FireCourse {
            order_id: OrderId(id(1000)),
            course: 1,
        },
        Command::StartLines {
            order_id: OrderId(id(1000)),
            line_ids: vec![],
        },
        Command::MarkLinesReady {
            order_id: OrderId(id(1000)),
            line_ids: vec![],
            station_id: None,
        },
        Command::ServeLines {
            order_id: OrderId(id(1000)),
            line_ids: vec![],
        },
        Command::VoidLine {
            order_id: OrderId(id(1000)),
            line_id: LineId(id(1)),
            reason: "x".into(),
        },
        Command::StartTicket {
            order_id: OrderId(id(1000)),
            station_id: GRILL,
        },
        Command::BumpTicket {
            order_id: OrderId(id(1000)),
            station_id: GRILL,
        },
        Command::RecallTicket {
            order_id: OrderId(id(1000)),
            station_id: GRILL,
        },
        Command::ServeReady {
            order_id: OrderId(id(1000)),
        },
        Command::RaiseDeliveryAlert {
            order_id: OrderId(id(1000)),
            station_id: GRILL,
        },
        Command::ClearDeliveryAlert {
            order_id: OrderId(id(1000)),
            station_id: GRILL,
        },
        Command::ProvisionDevice {
            device_id: DeviceId(id(900)),
            spec: s.spec.clone(),
            secret_hash: "x".into(),
        },
        Command::UpdateDevice {
            device_id: DeviceId(id(900)),
            spec: s.spec.clone(),
        },
        Command::SetDeviceEnabled {
            device_id: DeviceId(id(900)),
            enabled: false,
        },
        Command::RotateDeviceSecret {
            device_id: DeviceId(id(900)),
            secret_hash: "x".into(),
        },
        Command::RemoveDevice {
            device_id: DeviceId(id(900)),
        },
        Command::RaiseFoodSafetyAlert {
            alert_id: AlertId(id(910)),
            device_id: DeviceId(id(900)),
            kind: FoodSafetyAlertKind::Excursion,
            celsius: None,
            limit: None,
            since: at(0),
        },
        Command::MarkFoodSafetyRecovered {
            alert_id: AlertId(id(910)),
        },
        Command::AcknowledgeFoodSafetyAlert {
            alert_id: AlertId(id(910)),
        },
        Command::ResolveFoodSafetyAlert {
            alert_id: AlertId(id(910)),
            corrective_action: "x".into(),
        },
        Command::RecordScan {
            scan_id: ScanId(id(920)),
            device_id: DeviceId(id(900)),
            scan: s.scan.code.clone(),
            scanned_at: at(0),
        },
        Command::PickUpTicket {
            device_id: DeviceId(id(900)),
            code: "x".into(),
        },
        Command::RequestService {
            table_id: T1,
            device_id: None,
            reason: ServiceReason::Service,
        },
        Command::CancelServiceRequest { table_id: T1 },
        Command::AcknowledgeServiceRequest { table_id: T1 },
        Command::StartCoolingBatch {
            batch_id: CoolingBatchId(id(930)),
            device_id: DeviceId(id(900)),
            probe: "x".into(),
            label: "x".into(),
            started_at: at(0),
        },
        Command::RecordCoolingProgress {
            batch_id: CoolingBatchId(id(930)),
            progress: CoolingProgress::Started { at: at(0) },
        },
        Command::StopCoolingBatch {
            batch_id: CoolingBatchId(id(930)),
            at: at(0),
        },
        Command::CloseOrder {
            order_id: OrderId(id(1000)),
        },
        Command::CancelOrder {
            order_id: OrderId(id(1000)),
            reason: "x".into(),
        },
    ]
}

/// One event of every variant (the test below fails when a variant has none).
fn sample_events(s: &Payloads) -> Vec<Event> {
    vec![
        Event::VenueCreated {
            venue_id: VenueId(id(9)),
            tenant_id: TenantId(id(8)),
            slug: "x".into(),
            name: "x".into(),
            timezone: "x".into(),
            currency: "x".into(),
        },
        Event::StaffAdded {
            staff: s.staff.clone(),
        },
        Event::StaffUpdated {
            staff_id: StaffId(id(1)),
            name: "x".into(),
            role: Role::Waiter,
            active: false,
        },
        Event::StaffPinChanged {
            staff_id: StaffId(id(1)),
            pin_lookup: "x".into(),
            pin_hash: "x".into(),
        },
        Event::StaffPasswordChanged {
            staff_id: StaffId(id(1)),
            password_hash: "x".into(),
        },
        Event::StaffVenuesGiven {
            staff_id: StaffId(id(1)),
            venues: vec![],
        },
        Event::StationSaved {
            station: s.station.clone(),
        },
        Event::AreaSaved {
            area: s.area.clone(),
        },
        Event::TableSaved {
            table: s.table.clone(),
        },
        Event::TableRemoved { table_id: T1 },
        Event::ServerAssigned {
            table_id: T1,
            server_id: None,
        },
        Event::CategorySaved {
            category: s.category.clone(),
        },
        Event::ModifierGroupSaved {
            group: s.group.clone(),
        },
        Event::MenuItemSaved {
            item: s.item.clone(),
        },
        Event::ItemAvailabilityChanged {
            item_id: STEAK,
            available: false,
        },
        Event::PartySeated {
            table_id: T1,
            guests: 2,
            server_id: None,
            at: at(0),
        },
        Event::PartyMoved {
            table_id: T1,
            to_table_id: T1,
        },
        Event::TablesMerged {
            table_id: T1,
            table_ids: vec![],
        },
        Event::TablesSplit {
            table_id: T1,
            table_ids: vec![],
        },
        Event::BillRequested {
            table_id: T1,
            at: at(0),
        },
        Event::TableCleared {
            table_id: T1,
            at: at(0),
        },
        Event::TableCleaned { table_id: T1 },
        Event::OrderOpened {
            order_id: OrderId(id(1000)),
            number: 1,
            kind: OrderKind::DineIn,
            table_id: None,
            guests: None,
            customer: None,
            channel: None,
            note: None,
            created_by: None,
            at: at(0),
        },
        Event::LinesAdded {
            order_id: OrderId(id(1000)),
            lines: vec![s.line.clone()],
        },
        Event::LinesFired {
            order_id: OrderId(id(1000)),
            courses: vec![],
            line_ids: vec![],
            at: at(0),
        },
        Event::LinesStarted {
            order_id: OrderId(id(1000)),
            line_ids: vec![],
            at: at(0),
        },
        Event::LinesReady {
            order_id: OrderId(id(1000)),
            line_ids: vec![],
            station_id: None,
            at: at(0),
        },
        Event::LinesServed {
            order_id: OrderId(id(1000)),
            line_ids: vec![],
            at: at(0),
        },
        Event::LineVoided {
            order_id: OrderId(id(1000)),
            line_id: LineId(id(1)),
            reason: "x".into(),
            by: None,
            after_cooking: false,
            at: at(0),
        },
        Event::TicketRecalled {
            order_id: OrderId(id(1000)),
            station_id: GRILL,
            at: at(0),
        },
        Event::TicketBumped {
            order_id: OrderId(id(1000)),
            station_id: GRILL,
            at: at(0),
        },
        Event::DeliveryAlertRaised {
            order_id: OrderId(id(1000)),
            station_id: GRILL,
            at: at(0),
        },
        Event::DeliveryAlertCleared {
            order_id: OrderId(id(1000)),
            station_id: GRILL,
            at: at(0),
        },
        Event::DeviceProvisioned {
            device: s.device.clone(),
        },
        Event::DeviceUpdated {
            device_id: DeviceId(id(900)),
            spec: s.spec.clone(),
        },
        Event::DeviceEnabledChanged {
            device_id: DeviceId(id(900)),
            enabled: false,
        },
        Event::DeviceSecretRotated {
            device_id: DeviceId(id(900)),
            secret_hash: "x".into(),
        },
        Event::DeviceRemoved {
            device_id: DeviceId(id(900)),
        },
        Event::FoodSafetyAlertRaised {
            alert: s.alert.clone(),
        },
        Event::FoodSafetyAlertRecovered {
            alert_id: AlertId(id(910)),
            at: at(0),
        },
        Event::FoodSafetyAlertAcknowledged {
            alert_id: AlertId(id(910)),
            by: None,
            at: at(0),
        },
        Event::FoodSafetyAlertResolved {
            alert_id: AlertId(id(910)),
            by: None,
            at: at(0),
            corrective_action: "x".into(),
        },
        Event::ScanRecorded {
            scan: s.scan.clone(),
        },
        Event::TicketPickedUp {
            order_id: OrderId(id(1000)),
            device_id: DeviceId(id(900)),
            at: at(0),
        },
        Event::ServiceRequested {
            table_id: T1,
            device_id: None,
            reason: ServiceReason::Service,
            at: at(0),
        },
        Event::ServiceRequestRepeated {
            table_id: T1,
            device_id: None,
            reason: ServiceReason::Service,
            at: at(0),
        },
        Event::ServiceRequestCancelled {
            table_id: T1,
            at: at(0),
        },
        Event::ServiceRequestAcknowledged {
            table_id: T1,
            device_id: None,
            by: None,
            at: at(0),
        },
        Event::CoolingBatchStarted {
            batch: s.batch.clone(),
        },
        Event::CoolingProgressRecorded {
            batch_id: CoolingBatchId(id(930)),
            progress: CoolingProgress::Started { at: at(0) },
            at: at(0),
        },
        Event::CoolingBatchStopped {
            batch_id: CoolingBatchId(id(930)),
            at: at(0),
        },
        Event::OrderClosed {
            order_id: OrderId(id(1000)),
            at: at(0),
        },
        Event::OrderCancelled {
            order_id: OrderId(id(1000)),
            reason: "x".into(),
            by: None,
            at: at(0),
        },
    ]
}

/// Every `type` tag serde accepts for an internally tagged enum, as it lists them when it
/// refuses an unknown one: the list comes from the enum itself, not from the samples.
fn serde_tags<T: serde::de::DeserializeOwned + std::fmt::Debug>() -> BTreeSet<String> {
    let refusal = serde_json::from_value::<T>(serde_json::json!({"type": "no_such_type"}))
        .expect_err("an unknown type is refused")
        .to_string();
    let (_, expected) = refusal
        .split_once("expected one of ")
        .unwrap_or_else(|| panic!("serde did not list the variants: {refusal}"));
    expected
        .split(", ")
        .map(|tag| tag.trim().trim_matches('`').to_owned())
        .collect()
}

#[test]
fn every_command_name_is_its_serde_type_tag() {
    let samples = sample_commands(&payloads());
    let mut tags = BTreeSet::new();
    for command in &samples {
        let json = serde_json::to_value(command).unwrap();
        assert_eq!(json["type"], command.name(), "{command:?}");
        let read_back: Command = serde_json::from_value(json).unwrap();
        assert_eq!(&read_back, command);
        assert!(
            tags.insert(command.name().to_owned()),
            "two samples of {}",
            command.name()
        );
    }
    assert_eq!(
        tags,
        serde_tags::<Command>(),
        "every command variant has one sample"
    );
}

#[test]
fn every_event_kind_is_its_serde_type_tag() {
    let samples = sample_events(&payloads());
    let mut tags = BTreeSet::new();
    for event in &samples {
        let json = serde_json::to_value(event).unwrap();
        assert_eq!(json["type"], event.kind(), "{event:?}");
        let read_back: Event = serde_json::from_value(json).unwrap();
        assert_eq!(&read_back, event);
        assert!(
            tags.insert(event.kind().to_owned()),
            "two samples of {}",
            event.kind()
        );
    }
    assert_eq!(
        tags,
        serde_tags::<Event>(),
        "every event variant has one sample"
    );
}
