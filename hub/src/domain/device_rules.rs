//! The device rules as one state machine with no I/O (the shape of rumqttc's `state.rs`):
//! it owns the probe monitors (unit limits, alert delays and silence on the device's
//! clock), the cooling batches being fed readings, and which probe alerts are open, so one
//! alert is raised per device and kind and a recovery marks the right one. It takes a
//! reading, a device event, a tick or the refusal of a command it asked for, and returns
//! the commands to send; the MQTT bridge decodes, calls it and does the I/O. No tokio, no
//! clock reads (times come in as arguments), no locks: the bridge task owns it.
//!
//! Clocks: the rules run on the device's clock (its `ts`), so a fast scenario clock plays
//! out alert delays at its own pace; an alert's `since` is moved to the hub's clock, as
//! long before the hub's now as the device measured.

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};

use super::{
    command::Command,
    cooling::CoolingProgress,
    device::{Device, DeviceKind, UnitLimits},
    food_safety::{CoolingAction, CoolingBatch, FoodSafetyAlertKind, ProbeAction, ProbeMonitor},
    id::{AlertId, CoolingBatchId, DeviceId, VenueId},
};

/// The probe whose readings are held against the unit's limits (or a probe's only one).
pub const UNIT_PROBE: &str = "main";

/// One device: device ids are chosen per venue, so rules are kept per venue and device.
pub type DeviceKey = (VenueId, DeviceId);

/// A command the rules ask the venue's engine to run, on behalf of `device`.
#[derive(Clone, Debug, PartialEq)]
pub struct RuleCommand {
    pub device: DeviceKey,
    pub command: Command,
}

/// Why the rules refuse what a device asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RuleRefusal {
    /// `cooling_start` on a probe that is already cooling a batch.
    CoolingBatchActive,
}

/// One probe reading as the device sent it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ProbeReading<'a> {
    pub probe: &'a str,
    pub celsius: f64,
}

/// A telemetry message: its readings and when the device measured them.
#[derive(Clone, Copy, Debug)]
pub struct TelemetryInput<'a> {
    pub readings: &'a [ProbeReading<'a>],
    /// The device's `ts`, if it sent one.
    pub device_time: Option<DateTime<Utc>>,
    /// When the hub received it.
    pub hub_now: DateTime<Utc>,
    /// `false` for a late message (seq at or below the last one): kept as data, but it
    /// never moves the rules backwards.
    pub in_order: bool,
}

/// A time on a device's clock moved to the hub's: as long before `hub_now` as it was
/// before `device_now` on the device's clock, and never after `hub_now`. Keeps an alert
/// record on one clock whether the device's runs behind, ahead, or fast.
pub fn on_hub_clock(
    at: DateTime<Utc>,
    device_now: DateTime<Utc>,
    hub_now: DateTime<Utc>,
) -> DateTime<Utc> {
    hub_now - (device_now - at).max(Duration::zero())
}

/// The device's time and the hub's at the moment the rules decided something.
#[derive(Clone, Copy, Debug)]
struct Clocks {
    device: DateTime<Utc>,
    hub: DateTime<Utc>,
}

impl Clocks {
    fn to_hub(self, at: DateTime<Utc>) -> DateTime<Utc> {
        on_hub_clock(at, self.device, self.hub)
    }
}

/// What the rules know about one device between messages.
#[derive(Clone, Debug, Default)]
struct DeviceClock {
    /// Device clock minus hub clock at the last message that carried a time, so silence
    /// is measured on the device's clock (firmware-sim runs scenario time faster).
    offset: Duration,
    monitor: Option<ProbeMonitor>,
}

/// A cooling batch the rules are feeding readings to.
#[derive(Clone, Debug)]
struct CoolingTrack {
    batch_id: CoolingBatchId,
    label: String,
    rule: CoolingBatch,
}

/// The device rules of every venue the bridge serves.
pub struct DeviceRules {
    devices: HashMap<DeviceKey, DeviceClock>,
    cooling: HashMap<(DeviceKey, String), CoolingTrack>,
    /// Open probe alerts the rules raised (or found open at start), one per device and kind.
    open_alerts: HashMap<(DeviceKey, FoodSafetyAlertKind), AlertId>,
    /// Where new alert ids come from (the bridge: time-ordered uuids; tests: a counter).
    alert_ids: Box<dyn FnMut() -> AlertId + Send>,
}

impl DeviceRules {
    pub fn new(alert_ids: impl FnMut() -> AlertId + Send + 'static) -> Self {
        Self {
            devices: HashMap::new(),
            cooling: HashMap::new(),
            open_alerts: HashMap::new(),
            alert_ids: Box::new(alert_ids),
        }
    }

    /// A probe the hub knows at start: its silence clock starts now, so a probe that never
    /// reports after a restart still goes offline, once.
    pub fn know_probe(&mut self, device: DeviceKey, limits: UnitLimits, hub_now: DateTime<Utc>) {
        let mut monitor = ProbeMonitor::new(limits);
        monitor.assume_heard(hub_now);
        self.devices.entry(device).or_default().monitor = Some(monitor);
    }

    /// An alert the venue still has open (found at start): never raised twice, and a
    /// recovery marks it.
    pub fn know_open_alert(
        &mut self,
        device: DeviceKey,
        kind: FoodSafetyAlertKind,
        alert_id: AlertId,
    ) {
        self.open_alerts.insert((device, kind), alert_id);
    }

    /// A batch still cooling in the venue's log (found at start): readings go on feeding it.
    pub fn know_cooling_batch(
        &mut self,
        device: DeviceKey,
        probe: String,
        batch_id: CoolingBatchId,
        label: String,
        rule: CoolingBatch,
    ) {
        self.cooling.insert(
            (device, probe),
            CoolingTrack {
                batch_id,
                label,
                rule,
            },
        );
    }

    /// A device is heard (it connected or sent something): it is watched from now on.
    pub fn heard(&mut self, device: DeviceKey) {
        self.devices.entry(device).or_default();
    }

    /// The open probe alert of `kind` on `device`, if any.
    pub fn open_alert(&self, device: DeviceKey, kind: FoodSafetyAlertKind) -> Option<AlertId> {
        self.open_alerts.get(&(device, kind)).copied()
    }

    /// The batch the probe is cooling, if any.
    pub fn cooling_batch(&self, device: DeviceKey, probe: &str) -> Option<CoolingBatchId> {
        self.cooling
            .get(&(device, probe.to_owned()))
            .map(|track| track.batch_id)
    }

    /// A telemetry message from `device` (whose limits are as the registry has them now).
    pub fn on_telemetry(
        &mut self,
        device: &Device,
        key: DeviceKey,
        telemetry: TelemetryInput<'_>,
    ) -> Vec<RuleCommand> {
        let mut commands = Vec::new();
        let measured_at = telemetry.device_time.unwrap_or(telemetry.hub_now);
        let clocks = Clocks {
            device: measured_at,
            hub: telemetry.hub_now,
        };
        if !telemetry.in_order {
            return commands;
        }
        for reading in telemetry.readings {
            let track_key = (key, reading.probe.to_owned());
            let Some(track) = self.cooling.get_mut(&track_key) else {
                continue;
            };
            let actions = track.rule.observe(reading.celsius, measured_at);
            self.cooling_commands(
                &track_key,
                actions,
                Some(reading.celsius),
                clocks,
                &mut commands,
            );
        }
        let clock = self.devices.entry(key).or_default();
        if telemetry.device_time.is_some() {
            clock.offset = measured_at - telemetry.hub_now;
        }
        if device.kind != DeviceKind::Probe {
            return commands;
        }
        let Some(limits) = &device.limits else {
            return commands;
        };
        let monitor = match &mut clock.monitor {
            Some(monitor) if &monitor.limits == limits => monitor,
            slot => slot.insert(ProbeMonitor::new(limits.clone())),
        };
        let readings = telemetry.readings;
        let unit_reading = readings
            .iter()
            .find(|r| r.probe == UNIT_PROBE)
            .or_else(|| (readings.len() == 1).then(|| &readings[0]));
        if let Some(reading) = unit_reading {
            let actions = monitor.observe(reading.celsius, measured_at);
            self.probe_commands(key, device.id, actions, clocks, &mut commands);
        }
        commands
    }

    /// The device's connection was lost (or, with an external broker, it said `offline`).
    pub fn went_offline(&mut self, key: DeviceKey, hub_now: DateTime<Utc>) -> Vec<RuleCommand> {
        let mut commands = Vec::new();
        let Some(clock) = self.devices.get_mut(&key) else {
            return commands;
        };
        let clocks = Clocks {
            device: hub_now + clock.offset,
            hub: hub_now,
        };
        if let Some(monitor) = &mut clock.monitor {
            let actions = monitor.went_offline(clocks.device);
            self.probe_commands(key, key.1, actions, clocks, &mut commands);
        }
        commands
    }

    /// A clock tick: silent probes go offline, passed cooling deadlines fail. Only devices
    /// for which `watched` holds (enabled and still registered) are kept and acted for.
    pub fn on_tick(
        &mut self,
        hub_now: DateTime<Utc>,
        watched: impl Fn(DeviceKey) -> bool,
    ) -> Vec<RuleCommand> {
        let mut commands = Vec::new();
        self.devices.retain(|key, _| watched(*key));
        let mut raised = Vec::new();
        for (key, clock) in &mut self.devices {
            if let Some(monitor) = &mut clock.monitor {
                let clocks = Clocks {
                    device: hub_now + clock.offset,
                    hub: hub_now,
                };
                let actions = monitor.tick(clocks.device);
                if !actions.is_empty() {
                    raised.push((*key, actions, clocks));
                }
            }
        }
        // In key order, so what a tick sends does not depend on hash order.
        raised.sort_by_key(|(key, ..)| *key);
        for (key, actions, clocks) in raised {
            self.probe_commands(key, key.1, actions, clocks, &mut commands);
        }
        let mut due = Vec::new();
        for (track_key, track) in &mut self.cooling {
            let offset = self
                .devices
                .get(&track_key.0)
                .map_or(Duration::zero(), |clock| clock.offset);
            let clocks = Clocks {
                device: hub_now + offset,
                hub: hub_now,
            };
            let actions = track.rule.check_deadlines(clocks.device);
            if !actions.is_empty() {
                due.push((track_key.clone(), actions, clocks));
            }
        }
        due.sort_by(|a, b| a.0.cmp(&b.0));
        for (track_key, actions, clocks) in due {
            if watched(track_key.0) {
                self.cooling_commands(&track_key, actions, None, clocks, &mut commands);
            }
        }
        commands
    }

    /// `cooling_start` from a probe: the command that opens batch `batch_id`, or a refusal
    /// when the probe is already cooling one. The batch is fed readings from now on; if the
    /// engine refuses the command, [`Self::on_refused`] forgets it again.
    pub fn start_cooling(
        &mut self,
        key: DeviceKey,
        probe: String,
        label: String,
        batch_id: CoolingBatchId,
        at: DateTime<Utc>,
    ) -> Result<Command, RuleRefusal> {
        let track_key = (key, probe.clone());
        if self.cooling.contains_key(&track_key) {
            return Err(RuleRefusal::CoolingBatchActive);
        }
        self.cooling.insert(
            track_key,
            CoolingTrack {
                batch_id,
                label: label.clone(),
                rule: CoolingBatch::new(),
            },
        );
        Ok(Command::StartCoolingBatch {
            batch_id,
            device_id: key.1,
            probe,
            label,
            started_at: at,
        })
    }

    /// `cooling_stop` for the batch labelled `label` on the device: the batch the rules were
    /// feeding, if any, which they stop feeding now (the engine records the stop).
    pub fn stop_cooling(&mut self, key: DeviceKey, label: &str) -> Option<CoolingBatchId> {
        let track_key = self
            .cooling
            .iter()
            .find(|(track_key, track)| track_key.0 == key && track.label == label)
            .map(|(track_key, _)| track_key.clone())?;
        self.cooling.remove(&track_key).map(|track| track.batch_id)
    }

    /// The engine refused a command the rules asked for: an alert it did not raise is not
    /// open (the next episode raises it again), a batch it did not start is not cooling.
    pub fn on_refused(&mut self, device: DeviceKey, command: &Command) {
        match command {
            Command::RaiseFoodSafetyAlert { alert_id, kind, .. } => {
                let key = (device, *kind);
                if self.open_alerts.get(&key) == Some(alert_id) {
                    self.open_alerts.remove(&key);
                }
            }
            Command::StartCoolingBatch {
                batch_id, probe, ..
            } => {
                let key = (device, probe.clone());
                if self
                    .cooling
                    .get(&key)
                    .is_some_and(|t| t.batch_id == *batch_id)
                {
                    self.cooling.remove(&key);
                }
            }
            _ => {}
        }
    }

    /// The monitor's decisions as engine commands, one open alert per device and kind.
    fn probe_commands(
        &mut self,
        key: DeviceKey,
        device_id: DeviceId,
        actions: Vec<ProbeAction>,
        clocks: Clocks,
        commands: &mut Vec<RuleCommand>,
    ) {
        for action in actions {
            match action {
                ProbeAction::Raise {
                    kind,
                    celsius,
                    limit,
                    since,
                } => {
                    let kind = FoodSafetyAlertKind::from(kind);
                    if self.open_alerts.contains_key(&(key, kind)) {
                        continue;
                    }
                    let alert_id = (self.alert_ids)();
                    self.open_alerts.insert((key, kind), alert_id);
                    commands.push(RuleCommand {
                        device: key,
                        command: Command::RaiseFoodSafetyAlert {
                            alert_id,
                            device_id,
                            kind,
                            celsius,
                            limit,
                            since: clocks.to_hub(since),
                        },
                    });
                }
                ProbeAction::Recovered { kind } => {
                    let kind = FoodSafetyAlertKind::from(kind);
                    if let Some(alert_id) = self.open_alerts.remove(&(key, kind)) {
                        commands.push(RuleCommand {
                            device: key,
                            command: Command::MarkFoodSafetyRecovered { alert_id },
                        });
                    }
                }
            }
        }
    }

    /// Cooling decisions: the record of the batch, plus an alert when a stage deadline will
    /// be or was missed. A finished batch is no longer fed.
    fn cooling_commands(
        &mut self,
        track_key: &(DeviceKey, String),
        actions: Vec<CoolingAction>,
        celsius: Option<f64>,
        clocks: Clocks,
        commands: &mut Vec<RuleCommand>,
    ) {
        let Some(batch_id) = self.cooling.get(track_key).map(|t| t.batch_id) else {
            return;
        };
        let device = track_key.0;
        for action in actions {
            let alert = match &action {
                CoolingAction::Warning {
                    stage, deadline, ..
                } => Some((FoodSafetyAlertKind::CoolingWarning, *stage, *deadline)),
                CoolingAction::Failed { stage, deadline } => {
                    Some((FoodSafetyAlertKind::CoolingFailed, *stage, *deadline))
                }
                _ => None,
            };
            commands.push(RuleCommand {
                device,
                command: Command::RecordCoolingProgress {
                    batch_id,
                    progress: CoolingProgress::from(action),
                },
            });
            if let Some((kind, stage, deadline)) = alert {
                commands.push(RuleCommand {
                    device,
                    command: Command::RaiseFoodSafetyAlert {
                        alert_id: (self.alert_ids)(),
                        device_id: device.1,
                        kind,
                        celsius,
                        limit: Some(stage.target_celsius()),
                        since: clocks.to_hub(deadline - stage.allowed()),
                    },
                });
            }
        }
        if self
            .cooling
            .get(track_key)
            .is_some_and(|t| t.rule.is_finished())
        {
            self.cooling.remove(track_key);
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use uuid::Uuid;

    use super::*;
    use crate::domain::device::UnitProfile;

    const VENUE: VenueId = VenueId(Uuid::from_u128(1));
    const FRIDGE: DeviceId = DeviceId(Uuid::from_u128(2));
    const KEY: DeviceKey = (VENUE, FRIDGE);

    fn at(minutes: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 21, 18, 0, 0)
            .single()
            .unwrap_or_default()
            + Duration::minutes(minutes)
    }

    fn rules() -> DeviceRules {
        let mut next = 100u128;
        DeviceRules::new(move || {
            next += 1;
            AlertId(Uuid::from_u128(next))
        })
    }

    fn fridge() -> Device {
        Device {
            id: FRIDGE,
            key: "fridge-1".into(),
            name: "Walk-in".into(),
            kind: DeviceKind::Probe,
            station_id: None,
            table_id: None,
            limits: Some(UnitLimits::for_profile(
                "Walk-in".into(),
                UnitProfile::ColdHolding,
            )),
            purpose: None,
            enabled: true,
            secret_hash: crate::domain::SecretHash::new(""),
            provisioned_at: at(0),
        }
    }

    fn reading(
        rules: &mut DeviceRules,
        device: &Device,
        probe: &str,
        celsius: f64,
        minute: i64,
    ) -> Vec<RuleCommand> {
        let readings = [ProbeReading { probe, celsius }];
        rules.on_telemetry(
            device,
            KEY,
            TelemetryInput {
                readings: &readings,
                device_time: Some(at(minute)),
                hub_now: at(minute),
                in_order: true,
            },
        )
    }

    fn raised_kinds(commands: &[RuleCommand]) -> Vec<FoodSafetyAlertKind> {
        commands
            .iter()
            .filter_map(|c| match &c.command {
                Command::RaiseFoodSafetyAlert { kind, .. } => Some(*kind),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn an_excursion_alerts_once_after_the_delay_and_its_recovery_marks_that_alert() {
        // Above the walk-in's 5 °C, below its critical 8 °C.
        let (mut rules, fridge) = (rules(), fridge());
        assert!(reading(&mut rules, &fridge, "main", 6.5, 0).is_empty());
        let delay = i64::from(fridge.limits.as_ref().map_or(0, |l| l.alert_delay_minutes));
        let raised = reading(&mut rules, &fridge, "main", 6.5, delay);
        assert_eq!(raised_kinds(&raised), [FoodSafetyAlertKind::Excursion]);
        let Command::RaiseFoodSafetyAlert {
            alert_id, since, ..
        } = raised[0].command.clone()
        else {
            unreachable!()
        };
        assert_eq!(
            since,
            at(0),
            "the episode began with the first warm reading"
        );
        assert!(reading(&mut rules, &fridge, "main", 7.0, delay + 1).is_empty());
        assert_eq!(
            rules.open_alert(KEY, FoodSafetyAlertKind::Excursion),
            Some(alert_id)
        );
        let recovered = reading(&mut rules, &fridge, "main", 3.0, delay + 2);
        assert_eq!(
            recovered,
            [RuleCommand {
                device: KEY,
                command: Command::MarkFoodSafetyRecovered { alert_id }
            }]
        );
        assert_eq!(rules.open_alert(KEY, FoodSafetyAlertKind::Excursion), None);
    }

    #[test]
    fn an_alert_open_at_start_is_not_raised_again() {
        let (mut rules, fridge) = (rules(), fridge());
        let open = AlertId(Uuid::from_u128(7));
        rules.know_open_alert(KEY, FoodSafetyAlertKind::Critical, open);
        assert!(raised_kinds(&reading(&mut rules, &fridge, "main", 30.0, 0)).is_empty());
        let recovered = reading(&mut rules, &fridge, "main", 2.0, 1);
        assert_eq!(
            recovered[0].command,
            Command::MarkFoodSafetyRecovered { alert_id: open }
        );
    }

    #[test]
    fn an_alert_the_engine_refused_is_raised_again_by_the_next_episode() {
        let (mut rules, fridge) = (rules(), fridge());
        let raised = reading(&mut rules, &fridge, "main", 30.0, 0);
        assert_eq!(raised_kinds(&raised), [FoodSafetyAlertKind::Critical]);
        rules.on_refused(KEY, &raised[0].command);
        assert_eq!(rules.open_alert(KEY, FoodSafetyAlertKind::Critical), None);
        assert!(reading(&mut rules, &fridge, "main", 2.0, 1).is_empty());
        let again = reading(&mut rules, &fridge, "main", 30.0, 2);
        assert_eq!(raised_kinds(&again), [FoodSafetyAlertKind::Critical]);
    }

    #[test]
    fn a_silent_probe_goes_offline_on_its_own_clock_once() {
        let (mut rules, fridge) = (rules(), fridge());
        // The device's clock runs an hour ahead of the hub's.
        let readings = [ProbeReading {
            probe: "main",
            celsius: 3.0,
        }];
        rules.on_telemetry(
            &fridge,
            KEY,
            TelemetryInput {
                readings: &readings,
                device_time: Some(at(60)),
                hub_now: at(0),
                in_order: true,
            },
        );
        let interval = i64::from(
            fridge
                .limits
                .as_ref()
                .map_or(0, |l| l.report_interval_seconds),
        );
        let watched = |_: DeviceKey| true;
        let quiet = at(0) + Duration::seconds(3 * interval - 1);
        assert!(rules.on_tick(quiet, watched).is_empty());
        let silent = at(0) + Duration::seconds(3 * interval);
        let offline = rules.on_tick(silent, watched);
        assert_eq!(raised_kinds(&offline), [FoodSafetyAlertKind::Offline]);
        let Command::RaiseFoodSafetyAlert { since, .. } = offline[0].command else {
            unreachable!()
        };
        assert_eq!(since, at(0), "on the hub's clock, when it was last heard");
        assert!(
            rules
                .on_tick(silent + Duration::minutes(5), watched)
                .is_empty()
        );
        assert!(
            rules.went_offline(KEY, silent).is_empty(),
            "already offline"
        );
    }

    #[test]
    fn a_device_no_longer_watched_is_forgotten_on_the_tick() {
        let (mut rules, fridge) = (rules(), fridge());
        rules.know_probe(
            KEY,
            fridge.limits.clone().unwrap_or_else(|| unreachable!()),
            at(0),
        );
        assert!(rules.on_tick(at(600), |_| false).is_empty());
        assert!(rules.went_offline(KEY, at(601)).is_empty());
    }

    #[test]
    fn a_probe_cools_one_batch_at_a_time_and_a_refused_start_frees_it() {
        let mut rules = rules();
        let batch = CoolingBatchId(Uuid::from_u128(50));
        let start = rules.start_cooling(KEY, "core".into(), "rendang".into(), batch, at(0));
        let Ok(start) = start else { unreachable!() };
        assert_eq!(
            rules.start_cooling(KEY, "core".into(), "soup".into(), batch, at(1)),
            Err(RuleRefusal::CoolingBatchActive)
        );
        rules.on_refused(KEY, &start);
        assert_eq!(rules.cooling_batch(KEY, "core"), None);
        assert!(
            rules
                .start_cooling(KEY, "core".into(), "soup".into(), batch, at(2))
                .is_ok()
        );
        assert_eq!(rules.stop_cooling(KEY, "soup"), Some(batch));
        assert_eq!(rules.stop_cooling(KEY, "soup"), None);
    }

    #[test]
    fn a_cooling_batch_records_its_progress_and_a_missed_deadline_alerts() {
        let (mut rules, mut chiller) = (rules(), fridge());
        chiller.limits = None;
        let batch = CoolingBatchId(Uuid::from_u128(51));
        let _ = rules.start_cooling(KEY, "core".into(), "rendang".into(), batch, at(0));
        let started = reading(&mut rules, &chiller, "core", 56.0, 0);
        assert!(matches!(
            started[..],
            [RuleCommand {
                command: Command::RecordCoolingProgress { batch_id, .. },
                ..
            }] if batch_id == batch
        ));
        let failed = rules.on_tick(at(121), |_| true);
        assert_eq!(raised_kinds(&failed), [FoodSafetyAlertKind::CoolingFailed]);
        assert_eq!(
            rules.cooling_batch(KEY, "core"),
            None,
            "a failed batch is not fed"
        );
        assert!(rules.on_tick(at(500), |_| true).is_empty());
    }

    #[test]
    fn a_late_reading_never_moves_the_rules() {
        let (mut rules, fridge) = (rules(), fridge());
        let readings = [ProbeReading {
            probe: "main",
            celsius: 30.0,
        }];
        let late = rules.on_telemetry(
            &fridge,
            KEY,
            TelemetryInput {
                readings: &readings,
                device_time: Some(at(0)),
                hub_now: at(0),
                in_order: false,
            },
        );
        assert!(late.is_empty());
    }

    #[test]
    fn a_device_time_moves_to_the_hub_clock_keeping_how_long_ago_it_was() {
        let hub = at(0);
        let minutes = Duration::minutes;
        // A device two hours ahead, or behind: the same 16 minutes before the hub's now.
        for skew in [minutes(120), minutes(-120), minutes(0)] {
            let device = hub + skew;
            assert_eq!(
                on_hub_clock(device - minutes(16), device, hub),
                hub - minutes(16)
            );
        }
        // Never after the hub's now, even for a time ahead of the device's own.
        assert_eq!(on_hub_clock(hub + minutes(5), hub, hub), hub);
    }
}
