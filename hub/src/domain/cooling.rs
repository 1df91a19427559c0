//! The cooling log: one record per cooked batch cooled on a probe (label, probe, when the
//! clock started, when each stage was met, warnings, and how it ended). The rules that
//! decide when a stage is met or missed are the pure `food_safety::CoolingBatch`; the bridge
//! runs them and reports each step here as a `CoolingProgress`, which the venue journals.
//! Decide and apply for the cooling commands live here, beside the record they change.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{
    Actor, Timestamp,
    command::Command,
    device::DeviceKind,
    event::Event,
    food_safety::{CoolingAction, CoolingBatch, CoolingStage},
    id::{CoolingBatchId, DeviceId},
    rejection::Rejection,
    venue::{MAX_NAME, Venue, validate_text},
};

/// Finished cooling records kept in memory (the journal keeps every one).
pub const FINISHED_COOLING_KEPT: usize = 500;

/// Warnings one batch may collect; the rules warn at most once per stage.
pub const MAX_COOLING_WARNINGS: usize = 20;

/// One step of a cooling batch, as the bridge's `CoolingBatch` rule reported it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum CoolingProgress {
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
    /// The deadline passed with the stage unmet.
    Failed {
        stage: CoolingStage,
        deadline: DateTime<Utc>,
    },
    /// Both stages met in time.
    Passed { at: DateTime<Utc> },
}

impl From<CoolingAction> for CoolingProgress {
    fn from(action: CoolingAction) -> Self {
        match action {
            CoolingAction::Started { at } => CoolingProgress::Started { at },
            CoolingAction::StageMet { stage, at } => CoolingProgress::StageMet { stage, at },
            CoolingAction::Warning {
                stage,
                deadline,
                predicted,
            } => CoolingProgress::Warning {
                stage,
                deadline,
                predicted,
            },
            CoolingAction::Failed { stage, deadline } => {
                CoolingProgress::Failed { stage, deadline }
            }
            CoolingAction::Passed { at } => CoolingProgress::Passed { at },
        }
    }
}

impl CoolingProgress {
    /// The step's `type` tag, also the suffix of its screen frame (`cooling_<kind>`).
    pub fn kind(&self) -> &'static str {
        match self {
            CoolingProgress::Started { .. } => "started",
            CoolingProgress::StageMet { .. } => "stage_met",
            CoolingProgress::Warning { .. } => "warning",
            CoolingProgress::Failed { .. } => "failed",
            CoolingProgress::Passed { .. } => "passed",
        }
    }
}

/// How a cooling batch ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CoolingOutcome {
    Passed,
    /// A stage deadline passed: the food must be reheated or discarded.
    Failed,
    /// Taken off the probe before it passed or failed.
    Stopped,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CoolingWarning {
    pub stage: CoolingStage,
    pub deadline: DateTime<Utc>,
    /// When the current slope reaches the stage's target; `None` when it is not cooling.
    pub predicted: Option<DateTime<Utc>>,
    pub at: DateTime<Utc>,
}

/// A batch in the cooling log.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CoolingRecord {
    pub id: CoolingBatchId,
    pub device_id: DeviceId,
    /// Which probe of the device is in the food (`core`, `probe-2`...).
    pub probe: String,
    /// What is cooling: "Beef rendang, 12 portions".
    pub label: String,
    /// When the batch was put on the probe.
    pub started_at: DateTime<Utc>,
    /// When it reached 57 °C and the two-stage clock started.
    pub cooling_from: Option<DateTime<Utc>>,
    /// When it reached 21 °C (allowed: 2 hours from `cooling_from`).
    pub to_twenty_one_at: Option<DateTime<Utc>>,
    /// When it reached 5 °C (allowed: 6 hours from `cooling_from`).
    pub to_five_at: Option<DateTime<Utc>>,
    pub warnings: Vec<CoolingWarning>,
    pub outcome: Option<CoolingOutcome>,
    /// The stage whose deadline was missed, for a failed batch.
    pub failed_stage: Option<CoolingStage>,
    pub finished_at: Option<DateTime<Utc>>,
}

impl CoolingRecord {
    pub fn is_active(&self) -> bool {
        self.outcome.is_none()
    }

    /// The stage still to meet (`None` once both are met).
    pub fn stage(&self) -> Option<CoolingStage> {
        if self.to_twenty_one_at.is_none() {
            Some(CoolingStage::ToTwentyOne)
        } else if self.to_five_at.is_none() {
            Some(CoolingStage::ToFive)
        } else {
            None
        }
    }

    /// The deadline of the stage still to meet, once the clock has started.
    pub fn next_deadline(&self) -> Option<DateTime<Utc>> {
        let from = self.cooling_from?;
        if self.outcome.is_some() {
            return None;
        }
        Some(from + self.stage()?.allowed())
    }

    /// The cooling rule in the state this record describes, for the bridge to go on
    /// feeding readings after a restart without starting the clock again.
    pub fn rule(&self) -> CoolingBatch {
        let stage = self.stage();
        let warned = stage.is_some_and(|stage| self.warnings.iter().any(|w| w.stage == stage));
        CoolingBatch::resumed(self.cooling_from, stage, warned, self.outcome.is_some())
    }
}

const MAX_PROBE_NAME: usize = 40;

impl Venue {
    fn cooling_batch(&self, id: CoolingBatchId) -> Result<&CoolingRecord, Rejection> {
        self.cooling_batches.get(&id).ok_or_else(|| {
            Rejection::not_found("cooling_batch_not_found", format!("cooling batch {id}"))
        })
    }

    /// The batch currently cooling on a device's probe, if any.
    pub fn active_cooling_on(&self, device_id: DeviceId, probe: &str) -> Option<&CoolingRecord> {
        self.cooling_batches
            .values()
            .find(|b| b.is_active() && b.device_id == device_id && b.probe == probe)
    }

    pub(super) fn decide_cooling(
        &self,
        command: &Command,
        _actor: &Actor,
        now: Timestamp,
    ) -> Result<Vec<Event>, Rejection> {
        match command {
            Command::StartCoolingBatch {
                batch_id,
                device_id,
                probe,
                label,
                started_at,
            } => {
                if self.cooling_batches.contains_key(batch_id) {
                    return Err(Rejection::conflict(
                        "cooling_batch_exists",
                        "this cooling batch id is taken",
                    ));
                }
                let device = self.enabled_device(*device_id)?;
                if device.kind != DeviceKind::Probe {
                    return Err(Rejection::conflict(
                        "not_a_probe",
                        format!("{} is not a probe", device.name),
                    ));
                }
                validate_text("probe", probe, MAX_PROBE_NAME)?;
                validate_text("label", label, MAX_NAME)?;
                let probe = probe.trim();
                if let Some(active) = self.active_cooling_on(*device_id, probe) {
                    return Err(Rejection::conflict(
                        "cooling_batch_active",
                        format!(
                            "{} probe {probe} is still cooling {:?}: stop it first",
                            device.name, active.label
                        ),
                    ));
                }
                Ok(vec![Event::CoolingBatchStarted {
                    batch: CoolingRecord {
                        id: *batch_id,
                        device_id: *device_id,
                        probe: probe.to_owned(),
                        label: label.trim().to_owned(),
                        started_at: *started_at,
                        cooling_from: None,
                        to_twenty_one_at: None,
                        to_five_at: None,
                        warnings: Vec::new(),
                        outcome: None,
                        failed_stage: None,
                        finished_at: None,
                    },
                }])
            }
            Command::RecordCoolingProgress { batch_id, progress } => {
                let batch = self.cooling_batch(*batch_id)?;
                if !batch.is_active() {
                    return Err(finished(batch));
                }
                let started = batch.cooling_from.is_some();
                match progress {
                    CoolingProgress::Started { .. } if started => {
                        return Err(Rejection::conflict(
                            "cooling_already_started",
                            format!("{} is already cooling", batch.label),
                        ));
                    }
                    CoolingProgress::Started { .. } => {}
                    _ if !started => {
                        return Err(Rejection::conflict(
                            "cooling_not_started",
                            format!("{} has not reached 57 °C yet", batch.label),
                        ));
                    }
                    CoolingProgress::StageMet { stage, .. } => {
                        let met = match stage {
                            CoolingStage::ToTwentyOne => batch.to_twenty_one_at,
                            CoolingStage::ToFive => batch.to_five_at,
                        };
                        if met.is_some() {
                            return Err(Rejection::conflict(
                                "cooling_stage_already_met",
                                format!("{} already met that stage", batch.label),
                            ));
                        }
                    }
                    CoolingProgress::Warning { .. }
                        if batch.warnings.len() >= MAX_COOLING_WARNINGS =>
                    {
                        return Err(Rejection::conflict(
                            "too_many_cooling_warnings",
                            format!("{} has {MAX_COOLING_WARNINGS} warnings", batch.label),
                        ));
                    }
                    CoolingProgress::Warning { .. }
                    | CoolingProgress::Failed { .. }
                    | CoolingProgress::Passed { .. } => {}
                }
                Ok(vec![Event::CoolingProgressRecorded {
                    batch_id: *batch_id,
                    progress: progress.clone(),
                    at: now,
                }])
            }
            Command::StopCoolingBatch { batch_id, at } => {
                let batch = self.cooling_batch(*batch_id)?;
                if !batch.is_active() {
                    return Err(finished(batch));
                }
                Ok(vec![Event::CoolingBatchStopped {
                    batch_id: *batch_id,
                    at: *at,
                }])
            }
            _ => Err(Rejection::conflict(
                "not_a_cooling_command",
                "not a cooling command",
            )),
        }
    }

    pub(super) fn apply_cooling(&mut self, event: &Event) {
        match event {
            Event::CoolingBatchStarted { batch } => {
                self.cooling_batches.insert(batch.id, batch.clone());
            }
            Event::CoolingProgressRecorded {
                batch_id,
                progress,
                at: recorded_at,
            } => {
                let Some(batch) = self.cooling_batches.get_mut(batch_id) else {
                    return;
                };
                match progress {
                    CoolingProgress::Started { at } => batch.cooling_from = Some(*at),
                    CoolingProgress::StageMet { stage, at } => match stage {
                        CoolingStage::ToTwentyOne => batch.to_twenty_one_at = Some(*at),
                        CoolingStage::ToFive => batch.to_five_at = Some(*at),
                    },
                    CoolingProgress::Warning {
                        stage,
                        deadline,
                        predicted,
                    } => batch.warnings.push(CoolingWarning {
                        stage: *stage,
                        deadline: *deadline,
                        predicted: *predicted,
                        at: *recorded_at,
                    }),
                    CoolingProgress::Failed { stage, deadline } => {
                        batch.outcome = Some(CoolingOutcome::Failed);
                        batch.failed_stage = Some(*stage);
                        batch.finished_at = Some(*deadline);
                    }
                    CoolingProgress::Passed { at } => {
                        batch.outcome = Some(CoolingOutcome::Passed);
                        batch.finished_at = Some(*at);
                    }
                }
                self.forget_old_cooling();
            }
            Event::CoolingBatchStopped { batch_id, at } => {
                if let Some(batch) = self.cooling_batches.get_mut(batch_id) {
                    batch.outcome = Some(CoolingOutcome::Stopped);
                    batch.finished_at = Some(*at);
                }
                self.forget_old_cooling();
            }
            _ => {}
        }
    }

    /// Keeps every active batch and the most recently finished ones.
    fn forget_old_cooling(&mut self) {
        let mut finished: Vec<(DateTime<Utc>, CoolingBatchId)> = self
            .cooling_batches
            .values()
            .filter(|b| !b.is_active())
            .map(|b| (b.finished_at.unwrap_or(b.started_at), b.id))
            .collect();
        if finished.len() <= FINISHED_COOLING_KEPT {
            return;
        }
        finished.sort();
        for (_, id) in finished.iter().take(finished.len() - FINISHED_COOLING_KEPT) {
            self.cooling_batches.remove(id);
        }
    }
}

fn finished(batch: &CoolingRecord) -> Rejection {
    let outcome = match batch.outcome {
        Some(CoolingOutcome::Passed) => "passed",
        Some(CoolingOutcome::Failed) => "failed",
        _ => "stopped",
    };
    Rejection::conflict(
        "cooling_batch_finished",
        format!("{} already {outcome}", batch.label),
    )
}
