//! Food-safety rules for temperature probes, as pure state machines the MQTT bridge feeds
//! with readings and clock ticks: a probe monitor (excursions that must last the unit's
//! delay before they alert, critical readings that alert at once, silence that means the
//! probe is offline) and a cooling batch (57 °C to 21 °C within 2 hours, to 5 °C within 6
//! hours in total, with a warning as soon as the curve says a deadline will be missed).
//! They decide what to raise or record; the engine journals it. No I/O, no clock.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::{
    device::UnitLimits,
    id::{AlertId, DeviceId, StaffId},
};

/// A food-safety alert and what people did about it: the HACCP record.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FoodSafetyAlert {
    pub id: AlertId,
    pub device_id: DeviceId,
    /// The unit the probe watches, as it was named when the alert was raised.
    pub unit: String,
    pub kind: FoodSafetyAlertKind,
    pub celsius: Option<f64>,
    pub limit: Option<f64>,
    /// When the problem began (first reading out of limits, last reading heard...).
    pub since: DateTime<Utc>,
    pub raised_at: DateTime<Utc>,
    /// The condition ended (back within limits, probe heard again); the alert stays open
    /// until someone resolves it.
    pub recovered_at: Option<DateTime<Utc>>,
    pub acknowledged_by: Option<StaffId>,
    pub acknowledged_at: Option<DateTime<Utc>>,
    pub resolved_by: Option<StaffId>,
    pub resolved_at: Option<DateTime<Utc>>,
    /// What was done: "moved stock to the reach-in, called the technician".
    pub corrective_action: Option<String>,
}

impl FoodSafetyAlert {
    pub fn is_open(&self) -> bool {
        self.resolved_at.is_none()
    }
}

/// Why a food-safety alert was raised.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FoodSafetyAlertKind {
    Excursion,
    Critical,
    Offline,
    /// A cooling batch will miss, or missed, a stage deadline.
    CoolingWarning,
    CoolingFailed,
}

impl From<ProbeAlertKind> for FoodSafetyAlertKind {
    fn from(kind: ProbeAlertKind) -> Self {
        match kind {
            ProbeAlertKind::Excursion => FoodSafetyAlertKind::Excursion,
            ProbeAlertKind::Critical => FoodSafetyAlertKind::Critical,
            ProbeAlertKind::Offline => FoodSafetyAlertKind::Offline,
        }
    }
}

/// Why a probe alerts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProbeAlertKind {
    /// Out of its limits for longer than the unit's alert delay.
    Excursion,
    /// Beyond the critical value: alerts at once.
    Critical,
    /// No reading for three report intervals.
    Offline,
}

/// What the monitor asks for after a reading or a tick.
#[derive(Clone, Debug, PartialEq)]
pub enum ProbeAction {
    Raise {
        kind: ProbeAlertKind,
        celsius: Option<f64>,
        /// The limit the reading broke, if any.
        limit: Option<f64>,
        /// When the problem started (first reading out of limits, last reading heard).
        since: DateTime<Utc>,
    },
    /// The condition behind an alert has ended (readings back in limits, probe heard
    /// again). A person still acknowledges and resolves the alert with a corrective action.
    Recovered { kind: ProbeAlertKind },
}

/// The live state of one probe against its unit's limits.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProbeMonitor {
    pub limits: UnitLimits,
    last_heard: Option<DateTime<Utc>>,
    out_of_limits_since: Option<DateTime<Utc>>,
    raised: Option<ProbeAlertKind>,
    offline: bool,
}

impl ProbeMonitor {
    pub fn new(limits: UnitLimits) -> Self {
        Self {
            limits,
            last_heard: None,
            out_of_limits_since: None,
            raised: None,
            offline: false,
        }
    }

    /// The limit a reading breaks, if it breaks one.
    fn broken_limit(&self, celsius: f64) -> Option<f64> {
        let above = self.limits.max_celsius.filter(|max| celsius > *max);
        let below = self.limits.min_celsius.filter(|min| celsius < *min);
        above.or(below)
    }

    /// Whether a reading is beyond the critical value on the side of the limit it guards.
    fn is_critical(&self, celsius: f64) -> bool {
        let Some(critical) = self.limits.critical_celsius else {
            return false;
        };
        let hot_side =
            self.limits.max_celsius.is_some_and(|max| critical > max) && celsius >= critical;
        let cold_side =
            self.limits.min_celsius.is_some_and(|min| critical < min) && celsius <= critical;
        hot_side || cold_side
    }

    pub fn observe(&mut self, celsius: f64, at: DateTime<Utc>) -> Vec<ProbeAction> {
        let mut actions = Vec::new();
        // The latest reading's time, even when the device's clock went back (a reboot, a
        // clock set right): silence is counted from what the device says now.
        self.last_heard = Some(at);
        if self.offline {
            self.offline = false;
            actions.push(ProbeAction::Recovered {
                kind: ProbeAlertKind::Offline,
            });
        }
        let Some(limit) = self.broken_limit(celsius) else {
            self.out_of_limits_since = None;
            if let Some(kind) = self.raised.take() {
                actions.push(ProbeAction::Recovered { kind });
            }
            return actions;
        };
        // An excursion cannot have begun after a reading that shows it: a clock that went
        // back starts the episode's delay again from this reading.
        let since = match self.out_of_limits_since {
            Some(since) if since <= at => since,
            _ => at,
        };
        self.out_of_limits_since = Some(since);
        let delay = Duration::minutes(i64::from(self.limits.alert_delay_minutes));
        let kind = if self.is_critical(celsius) {
            Some(ProbeAlertKind::Critical)
        } else if at - since >= delay {
            Some(ProbeAlertKind::Excursion)
        } else {
            None
        };
        // One alert per episode; an excursion that turns critical escalates once.
        let escalates = matches!(
            (self.raised, kind),
            (None, Some(_))
                | (
                    Some(ProbeAlertKind::Excursion),
                    Some(ProbeAlertKind::Critical)
                )
        );
        if let Some(kind) = kind.filter(|_| escalates) {
            self.raised = Some(kind);
            actions.push(ProbeAction::Raise {
                kind,
                celsius: Some(celsius),
                limit: Some(limit),
                since,
            });
        }
        actions
    }

    /// Starts the silence clock without a reading, e.g. when the hub starts and has not yet
    /// heard from a probe it knows: if the probe never reports, it still goes offline.
    pub fn assume_heard(&mut self, at: DateTime<Utc>) {
        if self.last_heard.is_none() {
            self.last_heard = Some(at);
        }
    }

    /// Called on a clock tick: a probe silent for three report intervals is offline.
    pub fn tick(&mut self, now: DateTime<Utc>) -> Vec<ProbeAction> {
        let Some(last) = self.last_heard else {
            return Vec::new();
        };
        let silence = Duration::seconds(3 * i64::from(self.limits.report_interval_seconds));
        if self.offline || now - last < silence {
            return Vec::new();
        }
        self.offline = true;
        vec![ProbeAction::Raise {
            kind: ProbeAlertKind::Offline,
            celsius: None,
            limit: None,
            since: last,
        }]
    }

    /// Marks the probe offline at once (its MQTT last will arrived).
    pub fn went_offline(&mut self, at: DateTime<Utc>) -> Vec<ProbeAction> {
        if self.offline {
            return Vec::new();
        }
        self.offline = true;
        vec![ProbeAction::Raise {
            kind: ProbeAlertKind::Offline,
            celsius: None,
            limit: None,
            since: self.last_heard.unwrap_or(at),
        }]
    }
}

/// The two stages of cooling cooked food safely.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CoolingStage {
    /// From 57 °C to 21 °C within 2 hours.
    ToTwentyOne,
    /// To 5 °C within 6 hours of the start.
    ToFive,
}

impl CoolingStage {
    pub fn target_celsius(self) -> f64 {
        match self {
            CoolingStage::ToTwentyOne => 21.0,
            CoolingStage::ToFive => 5.0,
        }
    }

    pub fn allowed(self) -> Duration {
        match self {
            CoolingStage::ToTwentyOne => Duration::hours(2),
            CoolingStage::ToFive => Duration::hours(6),
        }
    }
}

/// The temperature cooling is measured from.
pub const COOLING_START_CELSIUS: f64 = 57.0;

#[derive(Clone, Debug, PartialEq)]
pub enum CoolingAction {
    /// The batch reached 57 °C or below: the clock starts.
    Started { at: DateTime<Utc> },
    StageMet {
        stage: CoolingStage,
        at: DateTime<Utc>,
    },
    /// At the current rate the stage's deadline will be missed.
    Warning {
        stage: CoolingStage,
        deadline: DateTime<Utc>,
        predicted: Option<DateTime<Utc>>,
    },
    /// A deadline passed with the stage unmet: the batch failed (reheat or discard).
    Failed {
        stage: CoolingStage,
        deadline: DateTime<Utc>,
    },
    /// Both stages met in time.
    Passed { at: DateTime<Utc> },
}

/// One cooked batch being cooled on a probe.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CoolingBatch {
    started_at: Option<DateTime<Utc>>,
    stage: Option<CoolingStage>,
    warned: bool,
    finished: bool,
    /// Recent readings for the slope: (time, °C), oldest first, bounded.
    recent: Vec<(DateTime<Utc>, f64)>,
}

const SLOPE_WINDOW: usize = 12;

impl Default for CoolingBatch {
    fn default() -> Self {
        Self::new()
    }
}

impl CoolingBatch {
    pub fn new() -> Self {
        Self {
            started_at: None,
            stage: Some(CoolingStage::ToTwentyOne),
            warned: false,
            finished: false,
            recent: Vec::new(),
        }
    }

    /// A batch picked up where its journaled record left it (after a hub restart): when the
    /// clock started, the stage still to meet (`None`: both met), whether that stage was
    /// already warned about, and whether the batch is finished. Its slope starts afresh.
    pub fn resumed(
        started_at: Option<DateTime<Utc>>,
        stage: Option<CoolingStage>,
        warned: bool,
        finished: bool,
    ) -> Self {
        Self {
            started_at,
            stage,
            warned,
            finished,
            recent: Vec::new(),
        }
    }

    pub fn is_finished(&self) -> bool {
        self.finished
    }

    fn deadline(&self, stage: CoolingStage) -> Option<DateTime<Utc>> {
        self.started_at.map(|start| start + stage.allowed())
    }

    /// When the recent slope reaches `target`; `None` if the batch is not cooling.
    fn predict(&self, target: f64) -> Option<DateTime<Utc>> {
        let (first, last) = (self.recent.first()?, self.recent.last()?);
        let seconds = (last.0 - first.0).num_milliseconds() as f64 / 1000.0;
        if seconds <= 0.0 {
            return None;
        }
        let per_second = (last.1 - first.1) / seconds;
        if per_second >= 0.0 {
            return None;
        }
        let remaining = (last.1 - target) / -per_second;
        Some(last.0 + Duration::milliseconds((remaining * 1000.0) as i64))
    }

    pub fn observe(&mut self, celsius: f64, at: DateTime<Utc>) -> Vec<CoolingAction> {
        if self.finished {
            return Vec::new();
        }
        let mut actions = self.check_deadlines(at);
        if self.finished {
            return actions;
        }
        if self.started_at.is_none() {
            if celsius > COOLING_START_CELSIUS {
                return actions;
            }
            self.started_at = Some(at);
            actions.push(CoolingAction::Started { at });
        }
        self.recent.push((at, celsius));
        if self.recent.len() > SLOPE_WINDOW {
            self.recent.remove(0);
        }
        while let Some(stage) = self.stage
            && celsius <= stage.target_celsius()
        {
            actions.push(CoolingAction::StageMet { stage, at });
            self.warned = false;
            self.stage = match stage {
                CoolingStage::ToTwentyOne => Some(CoolingStage::ToFive),
                CoolingStage::ToFive => None,
            };
        }
        let Some(stage) = self.stage else {
            self.finished = true;
            actions.push(CoolingAction::Passed { at });
            return actions;
        };
        if !self.warned
            && let Some(deadline) = self.deadline(stage)
            && self.recent.len() >= 3
        {
            let predicted = self.predict(stage.target_celsius());
            if predicted.is_none_or(|p| p > deadline) {
                self.warned = true;
                actions.push(CoolingAction::Warning {
                    stage,
                    deadline,
                    predicted,
                });
            }
        }
        actions
    }

    /// Called on a clock tick (and before each reading): a passed deadline fails the batch.
    pub fn check_deadlines(&mut self, now: DateTime<Utc>) -> Vec<CoolingAction> {
        if self.finished {
            return Vec::new();
        }
        match self
            .stage
            .and_then(|stage| self.deadline(stage).map(|d| (stage, d)))
        {
            Some((stage, deadline)) if now > deadline => {
                self.finished = true;
                vec![CoolingAction::Failed { stage, deadline }]
            }
            _ => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::domain::device::UnitProfile;

    fn at(minutes: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 21, 18, 0, 0)
            .single()
            .unwrap_or_default()
            + Duration::minutes(minutes)
    }

    fn fridge() -> ProbeMonitor {
        ProbeMonitor::new(UnitLimits::for_profile(
            "Walk-in".into(),
            UnitProfile::ColdHolding,
        ))
    }

    fn raised(actions: &[ProbeAction]) -> Vec<ProbeAlertKind> {
        actions
            .iter()
            .filter_map(|a| match a {
                ProbeAction::Raise { kind, .. } => Some(*kind),
                ProbeAction::Recovered { .. } => None,
            })
            .collect()
    }

    #[test]
    fn an_excursion_shorter_than_the_delay_raises_nothing() {
        let mut probe = fridge();
        let mut all = Vec::new();
        // A door opening: 7 °C for 10 minutes, then back to 3 °C.
        for minute in 0..10 {
            all.extend(probe.observe(7.0, at(minute)));
        }
        all.extend(probe.observe(3.0, at(10)));
        assert!(raised(&all).is_empty(), "{all:?}");
    }

    #[test]
    fn a_longer_excursion_raises_exactly_one_alert_and_then_recovers() {
        let mut probe = fridge();
        let mut all = Vec::new();
        for minute in 0..40 {
            all.extend(probe.observe(7.0, at(minute)));
        }
        assert_eq!(raised(&all), vec![ProbeAlertKind::Excursion]);
        let first = all.iter().find_map(|a| match a {
            ProbeAction::Raise { since, limit, .. } => Some((*since, *limit)),
            ProbeAction::Recovered { .. } => None,
        });
        assert_eq!(
            first,
            Some((at(0), Some(5.0))),
            "the alert says when it started and which limit"
        );
        let back = probe.observe(4.0, at(41));
        assert_eq!(
            back,
            vec![ProbeAction::Recovered {
                kind: ProbeAlertKind::Excursion
            }]
        );
    }

    #[test]
    fn a_probe_whose_clock_went_back_still_alerts_after_the_delay_and_goes_offline_on_silence() {
        let mut probe = fridge();
        // Out of limits on a clock hours ahead, then the probe reboots with its clock set
        // back: the excursion is timed on the new clock, not never.
        assert!(raised(&probe.observe(6.0, at(300))).is_empty());
        let mut all = Vec::new();
        for minute in 0..=15 {
            all.extend(probe.observe(6.5, at(minute)));
        }
        assert_eq!(raised(&all), vec![ProbeAlertKind::Excursion], "{all:?}");
        assert!(matches!(
            all.last(),
            Some(ProbeAction::Raise { since, .. }) if *since == at(0)
        ));
        // Silence is counted from the newest reading, not the one with the latest clock.
        assert!(probe.tick(at(17)).is_empty());
        assert_eq!(raised(&probe.tick(at(19))), vec![ProbeAlertKind::Offline]);
    }

    #[test]
    fn a_critical_reading_alerts_at_once_and_an_excursion_escalates_once() {
        let mut probe = fridge();
        assert_eq!(
            raised(&probe.observe(9.0, at(0))),
            vec![ProbeAlertKind::Critical]
        );
        assert!(raised(&probe.observe(10.0, at(1))).is_empty(), "not twice");
        let mut slow = fridge();
        let mut all = Vec::new();
        for minute in 0..20 {
            all.extend(slow.observe(6.0, at(minute)));
        }
        all.extend(slow.observe(8.5, at(21)));
        assert_eq!(
            raised(&all),
            vec![ProbeAlertKind::Excursion, ProbeAlertKind::Critical]
        );
    }

    #[test]
    fn a_hot_holding_well_alerts_below_its_minimum() {
        let mut well = ProbeMonitor::new(UnitLimits::for_profile(
            "Bain-marie".into(),
            UnitProfile::HotHolding,
        ));
        let mut all = Vec::new();
        for minute in 0..16 {
            all.extend(well.observe(58.0, at(minute)));
        }
        assert_eq!(raised(&all), vec![ProbeAlertKind::Excursion]);
        assert_eq!(
            raised(&well.observe(50.0, at(17))),
            vec![ProbeAlertKind::Critical]
        );
        assert!(raised(&ProbeMonitor::new(well.limits.clone()).observe(75.0, at(0))).is_empty());
    }

    #[test]
    fn a_probe_silent_for_three_intervals_is_offline_until_heard_again() {
        let mut probe = fridge();
        probe.observe(3.0, at(0));
        assert!(
            probe.tick(at(2)).is_empty(),
            "two intervals of silence are fine"
        );
        assert_eq!(raised(&probe.tick(at(3))), vec![ProbeAlertKind::Offline]);
        assert!(probe.tick(at(10)).is_empty(), "once");
        assert_eq!(
            probe.observe(3.0, at(11)),
            vec![ProbeAction::Recovered {
                kind: ProbeAlertKind::Offline
            }]
        );
        assert_eq!(
            raised(&probe.went_offline(at(12))),
            vec![ProbeAlertKind::Offline],
            "a last will is immediate"
        );
    }

    fn cooling(readings: &[(i64, f64)]) -> Vec<CoolingAction> {
        let mut batch = CoolingBatch::new();
        readings
            .iter()
            .flat_map(|(minute, c)| batch.observe(*c, at(*minute)))
            .collect()
    }

    #[test]
    fn a_batch_cooled_in_time_passes_both_stages() {
        let actions = cooling(&[
            (0, 70.0),
            (5, 57.0),
            (60, 35.0),
            (110, 20.0),
            (200, 12.0),
            (300, 4.5),
        ]);
        assert_eq!(actions.first(), Some(&CoolingAction::Started { at: at(5) }));
        assert!(actions.contains(&CoolingAction::StageMet {
            stage: CoolingStage::ToTwentyOne,
            at: at(110)
        }));
        assert_eq!(actions.last(), Some(&CoolingAction::Passed { at: at(300) }));
        assert!(
            !actions
                .iter()
                .any(|a| matches!(a, CoolingAction::Failed { .. }))
        );
    }

    #[test]
    fn a_slow_batch_is_warned_before_its_deadline_and_fails_after_it() {
        let mut batch = CoolingBatch::new();
        let mut actions = Vec::new();
        // 57 °C at minute 0, losing only 0.15 °C a minute: 21 °C would take 4 hours.
        for minute in (0..=60).step_by(10) {
            actions.extend(batch.observe(57.0 - 0.15 * minute as f64, at(minute)));
        }
        let warning = actions.iter().find_map(|a| match a {
            CoolingAction::Warning {
                stage,
                deadline,
                predicted,
            } => Some((*stage, *deadline, *predicted)),
            _ => None,
        });
        let (stage, deadline, predicted) = warning.unwrap_or_else(|| panic!("warned: {actions:?}"));
        assert_eq!((stage, deadline), (CoolingStage::ToTwentyOne, at(120)));
        assert!(predicted.is_some_and(|p| p > at(200)), "{predicted:?}");
        assert_eq!(
            batch.check_deadlines(at(121)),
            vec![CoolingAction::Failed { stage, deadline }]
        );
        assert!(
            batch.observe(4.0, at(130)).is_empty(),
            "a failed batch stays failed"
        );
    }
}
