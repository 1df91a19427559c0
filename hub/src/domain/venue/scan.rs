//! Scans in the venue: receiving, counting and waste scanners record what they read (what
//! it means for stock is decided later by inventory; here it is kept and shown), and the
//! pass scanner picks a ticket up by its printed code, serving what is ready.

use super::{Decision, Venue, order::order_not_open};
use crate::domain::{
    Timestamp,
    device::{Device, DeviceKind, ScannerPurpose},
    event::Event,
    id::{DeviceId, ScanId},
    order::LineStatus,
    rejection::Rejection,
    scan::{MAX_RAW_CHARS, RECENT_SCANS_KEPT, RecordedScan, ScannedCode},
};

impl Venue {
    /// An enabled scanner of this venue, with its purpose.
    fn scanner(&self, device_id: DeviceId) -> Result<(&Device, ScannerPurpose), Rejection> {
        let device = self.enabled_device(device_id)?;
        match (device.kind, device.purpose) {
            (DeviceKind::Scanner, Some(purpose)) => Ok((device, purpose)),
            _ => Err(Rejection::conflict(
                "not_a_scanner",
                format!("{} is not a barcode scanner", device.name),
            )),
        }
    }

    pub(super) fn decide_record_scan(
        &self,
        scan_id: ScanId,
        device_id: DeviceId,
        scan: &ScannedCode,
        scanned_at: Timestamp,
        now: Timestamp,
    ) -> Decision {
        let (device, purpose) = self.scanner(device_id)?;
        if purpose == ScannerPurpose::Pass {
            return Err(Rejection::conflict(
                "wrong_scanner_purpose",
                format!(
                    "{} scans tickets at the pass, not stock: pick the ticket up instead",
                    device.name
                ),
            ));
        }
        if self.scans.iter().any(|s| s.id == scan_id) {
            return Err(Rejection::conflict("scan_exists", "this scan id is taken"));
        }
        let raw_chars = scan.raw.chars().count();
        if scan.raw.trim().is_empty() || raw_chars > MAX_RAW_CHARS {
            return Err(Rejection::invalid(
                "invalid_scan",
                "scan.raw",
                format!("a scanned code has 1 to {MAX_RAW_CHARS} characters"),
            ));
        }
        if scan
            .gtin
            .as_deref()
            .is_some_and(|g| g.len() != 14 || !g.bytes().all(|b| b.is_ascii_digit()))
        {
            return Err(Rejection::invalid(
                "invalid_scan",
                "scan.gtin",
                "a GTIN is recorded as 14 digits",
            ));
        }
        Ok(vec![Event::ScanRecorded {
            scan: RecordedScan {
                id: scan_id,
                device_id,
                purpose,
                code: scan.clone(),
                at: scanned_at,
                recorded_at: now,
            },
        }])
    }

    pub(super) fn decide_pick_up_ticket(
        &self,
        device_id: DeviceId,
        code: &str,
        now: Timestamp,
    ) -> Decision {
        let (device, purpose) = self.scanner(device_id)?;
        if purpose != ScannerPurpose::Pass {
            return Err(Rejection::conflict(
                "wrong_scanner_purpose",
                format!("{} is not the pass scanner", device.name),
            ));
        }
        let order = self.order_by_ticket_code(code).ok_or_else(|| {
            Rejection::not_found("ticket_not_found", format!("ticket {:?}", code.trim()))
        })?;
        if !order.is_open() {
            return Err(order_not_open(order));
        }
        let line_ids: Vec<_> = order
            .lines
            .iter()
            .filter(|l| l.status == LineStatus::Ready)
            .map(|l| l.id)
            .collect();
        if line_ids.is_empty() {
            return Err(Rejection::conflict(
                "nothing_to_pick_up",
                format!(
                    "ticket {} (order #{}) has nothing ready at the pass",
                    order.ticket_code(),
                    order.number
                ),
            ));
        }
        Ok(vec![
            Event::LinesServed {
                order_id: order.id,
                line_ids,
                at: now,
            },
            Event::TicketPickedUp {
                order_id: order.id,
                device_id,
                at: now,
            },
        ])
    }

    pub(super) fn apply_scan_recorded(&mut self, scan: &RecordedScan) {
        self.scans.push_back(scan.clone());
        while self.scans.len() > RECENT_SCANS_KEPT {
            self.scans.pop_front();
        }
    }
}
