//! The cooling log: one record per cooked batch cooled on a probe (label, probe, when the
//! clock started, when each stage was met, warnings, and how it ended). The rules that
//! decide when a stage is met or missed are the pure `food_safety::CoolingBatch`; the bridge
//! runs them and reports each step here as a `CoolingProgress`, which the venue journals.
//! Decide and apply for the cooling commands are in `venue::cooling`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{
    food_safety::{CoolingAction, CoolingBatch, CoolingStage},
    id::{CoolingBatchId, DeviceId},
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
