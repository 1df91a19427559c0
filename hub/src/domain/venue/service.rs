//! Calls for service at a table (a call button press, or a screen on the guest's behalf):
//! request, acknowledge ("on my way"), cancel. One request per table at a time: pressing
//! again while it is open and unanswered changes nothing (it is journaled as a repeat, so
//! the record shows an impatient table, but no screen is told twice); asking for the bill
//! while a plain call is open turns it into a bill request. Clearing the table ends it.

use super::{Decision, Venue};
use crate::domain::{
    Actor, Timestamp,
    device::DeviceKind,
    event::Event,
    floor::{ServiceReason, ServiceRequest},
    id::{DeviceId, StaffId, TableId},
    rejection::Rejection,
};

impl Venue {
    fn service_request_at(&self, table_id: TableId) -> Result<&ServiceRequest, Rejection> {
        let table = self.table(table_id)?;
        table.service_request.as_ref().ok_or_else(|| {
            Rejection::conflict(
                "no_service_request",
                format!("nobody at table {} is calling", table.layout.label),
            )
        })
    }

    /// The events that end a table's open call, if it has one (the table is being cleared).
    pub(super) fn end_service_request(&self, table_id: TableId, now: Timestamp) -> Vec<Event> {
        self.tables
            .get(&table_id)
            .and_then(|t| t.service_request.as_ref())
            .map(|_| Event::ServiceRequestCancelled { table_id, at: now })
            .into_iter()
            .collect()
    }

    pub(super) fn decide_request_service(
        &self,
        table_id: TableId,
        device_id: Option<DeviceId>,
        reason: ServiceReason,
        now: Timestamp,
    ) -> Decision {
        let table = self.table(table_id)?;
        if let Some(device_id) = device_id {
            let device = self
                .enabled_device(device_id)
                .map_err(|r| r.within("device_id"))?;
            if device.kind != DeviceKind::CallButton {
                return Err(Rejection::conflict(
                    "not_a_call_button",
                    format!("{} is not a call button", device.name),
                ));
            }
            if device.table_id != Some(table_id) {
                return Err(Rejection::invalid(
                    "device_not_at_table",
                    "device_id",
                    format!(
                        "{} does not sit on table {}",
                        device.name, table.layout.label
                    ),
                ));
            }
        }
        let repeat = table.service_request.as_ref().is_some_and(|open| {
            open.acknowledged_at.is_none()
                && (open.reason == reason || open.reason == ServiceReason::Bill)
        });
        if repeat {
            return Ok(vec![Event::ServiceRequestRepeated {
                table_id,
                device_id,
                reason,
                at: now,
            }]);
        }
        Ok(vec![Event::ServiceRequested {
            table_id,
            device_id,
            reason,
            at: now,
        }])
    }

    pub(super) fn decide_cancel_service_request(
        &self,
        table_id: TableId,
        now: Timestamp,
    ) -> Decision {
        self.service_request_at(table_id)?;
        Ok(vec![Event::ServiceRequestCancelled { table_id, at: now }])
    }

    pub(super) fn decide_acknowledge_service_request(
        &self,
        table_id: TableId,
        actor: &Actor,
        now: Timestamp,
    ) -> Decision {
        let request = self.service_request_at(table_id)?;
        if request.acknowledged_at.is_some() {
            return Err(Rejection::conflict(
                "service_already_acknowledged",
                "someone is already on the way to this table",
            ));
        }
        Ok(vec![Event::ServiceRequestAcknowledged {
            table_id,
            device_id: request.device_id,
            by: actor.staff_id,
            at: now,
        }])
    }

    pub(super) fn apply_service_requested(
        &mut self,
        table_id: TableId,
        device_id: Option<DeviceId>,
        reason: ServiceReason,
        at: Timestamp,
    ) {
        if let Some(table) = self.tables.get_mut(&table_id) {
            table.service_request = Some(ServiceRequest {
                reason,
                since: at,
                device_id,
                acknowledged_by: None,
                acknowledged_at: None,
            });
        }
    }

    pub(super) fn apply_service_request_acknowledged(
        &mut self,
        table_id: TableId,
        by: Option<StaffId>,
        at: Timestamp,
    ) {
        if let Some(request) = self
            .tables
            .get_mut(&table_id)
            .and_then(|t| t.service_request.as_mut())
        {
            request.acknowledged_by = by;
            request.acknowledged_at = Some(at);
        }
    }

    pub(super) fn apply_service_request_cancelled(&mut self, table_id: TableId) {
        if let Some(table) = self.tables.get_mut(&table_id) {
            table.service_request = None;
        }
    }
}
