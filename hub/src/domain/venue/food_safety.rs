//! Food-safety alerts in the venue's record (HACCP): raised from a probe's excursion, its
//! condition recovered, acknowledged and resolved with a corrective action. One open alert
//! per probe and kind until its condition ends. The rules that decide when to raise are
//! the pure monitors of `domain::food_safety`.

use super::{
    Decision, Venue,
    validation::{MAX_NOTE, trim_text, validate_text},
};
use crate::domain::{
    Actor, Timestamp,
    event::Event,
    food_safety::{FoodSafetyAlert, FoodSafetyAlertKind},
    id::{AlertId, DeviceId, StaffId},
    rejection::Rejection,
};

/// Resolved food-safety alerts kept in memory (the journal keeps every one).
pub const RESOLVED_ALERTS_KEPT: usize = 200;

impl Venue {
    fn food_safety_alert(&self, id: AlertId) -> Result<&FoodSafetyAlert, Rejection> {
        self.food_safety_alerts
            .get(&id)
            .ok_or_else(|| Rejection::not_found("alert_not_found", format!("alert {id}")))
    }

    #[expect(
        clippy::too_many_arguments,
        reason = "one argument per field of the command it decides"
    )]
    pub(super) fn decide_raise_food_safety_alert(
        &self,
        alert_id: AlertId,
        device_id: DeviceId,
        kind: FoodSafetyAlertKind,
        celsius: Option<f64>,
        limit: Option<f64>,
        since: Timestamp,
        now: Timestamp,
    ) -> Decision {
        let device = self.device(device_id)?;
        let Some(limits) = &device.limits else {
            return Err(Rejection::conflict(
                "not_a_probe",
                format!("{} is not a probe", device.name),
            ));
        };
        if self.food_safety_alerts.contains_key(&alert_id) {
            return Err(Rejection::conflict(
                "alert_exists",
                "this alert id is taken",
            ));
        }
        if self.food_safety_alerts.values().any(|a| {
            a.is_open() && a.device_id == device_id && a.kind == kind && a.recovered_at.is_none()
        }) {
            return Err(Rejection::conflict(
                "alert_already_open",
                format!("{} already has an open {kind:?} alert", device.name),
            ));
        }
        Ok(vec![Event::FoodSafetyAlertRaised {
            alert: FoodSafetyAlert {
                id: alert_id,
                device_id,
                unit: limits.unit.clone(),
                kind,
                celsius,
                limit,
                // A device clock ahead of the hub's must not make a record whose
                // problem begins after it was raised.
                since: since.min(now),
                raised_at: now,
                recovered_at: None,
                acknowledged_by: None,
                acknowledged_at: None,
                resolved_by: None,
                resolved_at: None,
                corrective_action: None,
            },
        }])
    }

    pub(super) fn decide_mark_food_safety_recovered(
        &self,
        alert_id: AlertId,
        now: Timestamp,
    ) -> Decision {
        let alert = self.food_safety_alert(alert_id)?;
        if alert.recovered_at.is_some() || !alert.is_open() {
            return Err(Rejection::conflict(
                "alert_already_recovered",
                "this alert's condition already ended",
            ));
        }
        Ok(vec![Event::FoodSafetyAlertRecovered { alert_id, at: now }])
    }

    pub(super) fn decide_acknowledge_food_safety_alert(
        &self,
        alert_id: AlertId,
        actor: &Actor,
        now: Timestamp,
    ) -> Decision {
        let alert = self.food_safety_alert(alert_id)?;
        if alert.acknowledged_at.is_some() || !alert.is_open() {
            return Err(Rejection::conflict(
                "alert_already_acknowledged",
                "this alert is already acknowledged",
            ));
        }
        Ok(vec![Event::FoodSafetyAlertAcknowledged {
            alert_id,
            by: actor.staff_id,
            at: now,
        }])
    }

    pub(super) fn decide_resolve_food_safety_alert(
        &self,
        alert_id: AlertId,
        corrective_action: &str,
        actor: &Actor,
        now: Timestamp,
    ) -> Decision {
        let alert = self.food_safety_alert(alert_id)?;
        if !alert.is_open() {
            return Err(Rejection::conflict(
                "alert_already_resolved",
                "this alert is already resolved",
            ));
        }
        validate_text("corrective_action", corrective_action, MAX_NOTE).map_err(|_| {
            Rejection::invalid(
                "missing_corrective_action",
                "corrective_action",
                "say what was done about it (the food-safety record needs it)",
            )
        })?;
        let mut events = Vec::new();
        if alert.acknowledged_at.is_none() {
            events.push(Event::FoodSafetyAlertAcknowledged {
                alert_id,
                by: actor.staff_id,
                at: now,
            });
        }
        events.push(Event::FoodSafetyAlertResolved {
            alert_id,
            by: actor.staff_id,
            at: now,
            corrective_action: trim_text(corrective_action).to_owned(),
        });
        Ok(events)
    }

    pub(super) fn apply_food_safety_alert_raised(&mut self, alert: &FoodSafetyAlert) {
        self.food_safety_alerts.insert(alert.id, alert.clone());
    }

    pub(super) fn apply_food_safety_alert_recovered(&mut self, alert_id: AlertId, at: Timestamp) {
        if let Some(alert) = self.food_safety_alerts.get_mut(&alert_id) {
            alert.recovered_at = Some(at);
        }
    }

    pub(super) fn apply_food_safety_alert_acknowledged(
        &mut self,
        alert_id: AlertId,
        by: Option<StaffId>,
        at: Timestamp,
    ) {
        if let Some(alert) = self.food_safety_alerts.get_mut(&alert_id) {
            alert.acknowledged_by = by;
            alert.acknowledged_at = Some(at);
        }
    }

    pub(super) fn apply_food_safety_alert_resolved(
        &mut self,
        alert_id: AlertId,
        by: Option<StaffId>,
        at: Timestamp,
        corrective_action: &str,
    ) {
        if let Some(alert) = self.food_safety_alerts.get_mut(&alert_id) {
            alert.resolved_by = by;
            alert.resolved_at = Some(at);
            alert.corrective_action = Some(corrective_action.to_owned());
        }
        // Resolved alerts stay for the day's screens; the journal keeps them all.
        let resolved: Vec<AlertId> = self
            .food_safety_alerts
            .values()
            .filter(|a| !a.is_open())
            .map(|a| a.id)
            .collect();
        for old in resolved
            .iter()
            .take(resolved.len().saturating_sub(RESOLVED_ALERTS_KEPT))
        {
            self.food_safety_alerts.remove(old);
        }
    }
}
