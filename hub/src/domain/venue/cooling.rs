//! The cooling log in the venue: a batch put on a probe (one active batch per probe), each
//! step the bridge's `CoolingBatch` rule reports (started, stage met, warning, failed,
//! passed) and a batch taken off early. A finished batch takes no more steps. The record
//! itself is `domain::cooling`.

use chrono::{DateTime, Utc};

use super::{
    Decision, Venue,
    validation::{MAX_NAME, validate_text},
};
use crate::domain::{
    Timestamp,
    cooling::{
        CoolingOutcome, CoolingProgress, CoolingRecord, CoolingWarning, FINISHED_COOLING_KEPT,
        MAX_COOLING_WARNINGS,
    },
    device::DeviceKind,
    event::Event,
    food_safety::CoolingStage,
    id::{CoolingBatchId, DeviceId},
    rejection::Rejection,
};

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

    pub(super) fn decide_start_cooling_batch(
        &self,
        batch_id: CoolingBatchId,
        device_id: DeviceId,
        probe: &str,
        label: &str,
        started_at: Timestamp,
    ) -> Decision {
        if self.cooling_batches.contains_key(&batch_id) {
            return Err(Rejection::conflict(
                "cooling_batch_exists",
                "this cooling batch id is taken",
            ));
        }
        let device = self.enabled_device(device_id)?;
        if device.kind != DeviceKind::Probe {
            return Err(Rejection::conflict(
                "not_a_probe",
                format!("{} is not a probe", device.name),
            ));
        }
        validate_text("probe", probe, MAX_PROBE_NAME)?;
        validate_text("label", label, MAX_NAME)?;
        let probe = probe.trim();
        if let Some(active) = self.active_cooling_on(device_id, probe) {
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
                id: batch_id,
                device_id,
                probe: probe.to_owned(),
                label: label.trim().to_owned(),
                started_at,
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

    pub(super) fn decide_record_cooling_progress(
        &self,
        batch_id: CoolingBatchId,
        progress: &CoolingProgress,
        now: Timestamp,
    ) -> Decision {
        let batch = self.cooling_batch(batch_id)?;
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
            CoolingProgress::Warning { .. } if batch.warnings.len() >= MAX_COOLING_WARNINGS => {
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
            batch_id,
            progress: progress.clone(),
            at: now,
        }])
    }

    pub(super) fn decide_stop_cooling_batch(
        &self,
        batch_id: CoolingBatchId,
        at: Timestamp,
    ) -> Decision {
        let batch = self.cooling_batch(batch_id)?;
        if !batch.is_active() {
            return Err(finished(batch));
        }
        Ok(vec![Event::CoolingBatchStopped { batch_id, at }])
    }

    pub(super) fn apply_cooling_batch_started(&mut self, batch: &CoolingRecord) {
        self.cooling_batches.insert(batch.id, batch.clone());
    }

    pub(super) fn apply_cooling_progress_recorded(
        &mut self,
        batch_id: CoolingBatchId,
        progress: &CoolingProgress,
        recorded_at: Timestamp,
    ) {
        let Some(batch) = self.cooling_batches.get_mut(&batch_id) else {
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
                at: recorded_at,
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

    pub(super) fn apply_cooling_batch_stopped(&mut self, batch_id: CoolingBatchId, at: Timestamp) {
        if let Some(batch) = self.cooling_batches.get_mut(&batch_id) {
            batch.outcome = Some(CoolingOutcome::Stopped);
            batch.finished_at = Some(at);
        }
        self.forget_old_cooling();
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
