//! The kitchen's side of an order: lines and tickets started, marked ready (per station or
//! whole), bumped off a station's screen and recalled onto it, served at the pass, and the
//! delivery alert for a ticket no screen showed. Also the station queue a bump bar walks.

use std::collections::BTreeSet;

use super::{Decision, Venue};
use crate::domain::{
    Timestamp,
    event::Event,
    id::{LineId, OrderId, StationId},
    order::{Line, LineStatus, Order},
    rejection::Rejection,
};

impl Venue {
    /// The orders on a station's screen, in the order the KDS shows their cards: oldest
    /// fired first, cards with only held lines last. A bump bar's cursor walks this list.
    pub fn station_queue(&self, station: StationId) -> Vec<OrderId> {
        let mut queue: Vec<(bool, Option<Timestamp>, u32, OrderId)> = self
            .open_orders()
            .filter(|o| o.is_on_station(station))
            .map(|o| {
                let fired = o.live_lines_at(station).filter_map(|l| l.fired_at).min();
                (fired.is_none(), fired, o.number, o.id)
            })
            .collect();
        queue.sort();
        queue.into_iter().map(|(_, _, _, id)| id).collect()
    }

    /// Open orders this station finished and no longer shows, newest bump first, with
    /// when it was bumped: what the station can recall.
    pub fn bumped_at_station(&self, station: StationId) -> Vec<(&Order, Option<Timestamp>)> {
        let mut bumped: Vec<(&Order, Option<Timestamp>)> = self
            .open_orders()
            .filter(|o| !o.is_on_station(station))
            .filter(|o| {
                o.lines_at(station)
                    .any(|l| l.stations_ready.contains(&station))
            })
            .map(|o| {
                let at = o
                    .lines_at(station)
                    .filter_map(|l| l.ready_at.or(l.fired_at))
                    .max();
                (o, at)
            })
            .collect();
        bumped.sort_by(|a, b| b.1.cmp(&a.1).then(b.0.number.cmp(&a.0.number)));
        bumped
    }

    /// The ticket a station bumped last: what `RecallTicket` brings back on "recall".
    pub fn last_bumped(&self, station: StationId) -> Option<OrderId> {
        self.bumped_at_station(station).first().map(|(o, _)| o.id)
    }

    pub(super) fn decide_start_lines(
        &self,
        order_id: OrderId,
        line_ids: &[LineId],
        now: Timestamp,
    ) -> Decision {
        let order = self.open_order(order_id)?;
        check_lines(order, line_ids, "start", |l| l.status == LineStatus::Fired)?;
        Ok(vec![Event::LinesStarted {
            order_id,
            line_ids: line_ids.to_vec(),
            at: now,
        }])
    }

    pub(super) fn decide_mark_lines_ready(
        &self,
        order_id: OrderId,
        line_ids: &[LineId],
        station_id: Option<StationId>,
        now: Timestamp,
    ) -> Decision {
        let order = self.open_order(order_id)?;
        if let Some(station) = station_id {
            self.station(station)?;
        }
        check_lines(order, line_ids, "mark ready", |l| {
            l.status.is_live_in_kitchen()
                && station_id
                    .is_none_or(|s| l.stations.contains(&s) && !l.stations_ready.contains(&s))
        })?;
        Ok(vec![Event::LinesReady {
            order_id,
            line_ids: line_ids.to_vec(),
            station_id,
            at: now,
        }])
    }

    pub(super) fn decide_serve_lines(
        &self,
        order_id: OrderId,
        line_ids: &[LineId],
        now: Timestamp,
    ) -> Decision {
        let order = self.open_order(order_id)?;
        check_lines(order, line_ids, "serve", |l| l.status == LineStatus::Ready)?;
        Ok(vec![Event::LinesServed {
            order_id,
            line_ids: line_ids.to_vec(),
            at: now,
        }])
    }

    pub(super) fn decide_start_ticket(
        &self,
        order_id: OrderId,
        station_id: StationId,
        now: Timestamp,
    ) -> Decision {
        let order = self.open_order(order_id)?;
        self.station(station_id)?;
        let line_ids: Vec<LineId> = order
            .lines_at(station_id)
            .filter(|l| l.status == LineStatus::Fired)
            .map(|l| l.id)
            .collect();
        if line_ids.is_empty() {
            return Err(Rejection::conflict(
                "nothing_to_start",
                format!(
                    "order #{} has no fired lines waiting at this station",
                    order.number
                ),
            ));
        }
        Ok(vec![Event::LinesStarted {
            order_id,
            line_ids,
            at: now,
        }])
    }

    pub(super) fn decide_bump_ticket(
        &self,
        order_id: OrderId,
        station_id: StationId,
        now: Timestamp,
    ) -> Decision {
        let order = self.open_order(order_id)?;
        self.station(station_id)?;
        let line_ids: Vec<LineId> = order.live_lines_at(station_id).map(|l| l.id).collect();
        if !line_ids.is_empty() {
            return Ok(vec![Event::LinesReady {
                order_id,
                line_ids,
                station_id: Some(station_id),
                at: now,
            }]);
        }
        if order.recalled.contains(&station_id) {
            return Ok(vec![Event::TicketBumped {
                order_id,
                station_id,
                at: now,
            }]);
        }
        Err(Rejection::conflict(
            "nothing_to_bump",
            format!("order #{} has nothing live at this station", order.number),
        ))
    }

    pub(super) fn decide_recall_ticket(
        &self,
        order_id: OrderId,
        station_id: StationId,
        now: Timestamp,
    ) -> Decision {
        let order = self.open_order(order_id)?;
        self.station(station_id)?;
        if order.lines_at(station_id).next().is_none() {
            return Err(Rejection::conflict(
                "not_at_station",
                format!("order #{} has nothing for this station", order.number),
            ));
        }
        if order.is_on_station(station_id) {
            return Err(Rejection::conflict(
                "ticket_on_screen",
                format!("order #{} is still on this station's screen", order.number),
            ));
        }
        Ok(vec![Event::TicketRecalled {
            order_id,
            station_id,
            at: now,
        }])
    }

    pub(super) fn decide_serve_ready(&self, order_id: OrderId, now: Timestamp) -> Decision {
        let order = self.open_order(order_id)?;
        let line_ids: Vec<LineId> = order
            .lines
            .iter()
            .filter(|l| l.status == LineStatus::Ready)
            .map(|l| l.id)
            .collect();
        if line_ids.is_empty() {
            return Err(Rejection::conflict(
                "nothing_to_serve",
                format!("order #{} has nothing ready at the pass", order.number),
            ));
        }
        Ok(vec![Event::LinesServed {
            order_id,
            line_ids,
            at: now,
        }])
    }

    pub(super) fn decide_raise_delivery_alert(
        &self,
        order_id: OrderId,
        station_id: StationId,
        now: Timestamp,
    ) -> Decision {
        let order = self.open_order(order_id)?;
        self.station(station_id)?;
        if order.unseen_at.contains(&station_id) {
            return Err(Rejection::conflict(
                "alert_already_raised",
                "this ticket's delivery alert is already raised",
            ));
        }
        Ok(vec![Event::DeliveryAlertRaised {
            order_id,
            station_id,
            at: now,
        }])
    }

    pub(super) fn decide_clear_delivery_alert(
        &self,
        order_id: OrderId,
        station_id: StationId,
        now: Timestamp,
    ) -> Decision {
        let order = self.order(order_id)?;
        if !order.unseen_at.contains(&station_id) {
            return Err(Rejection::conflict(
                "no_delivery_alert",
                "this ticket has no delivery alert at that station",
            ));
        }
        Ok(vec![Event::DeliveryAlertCleared {
            order_id,
            station_id,
            at: now,
        }])
    }

    pub(super) fn apply_lines_started(
        &mut self,
        order_id: OrderId,
        line_ids: &[LineId],
        at: Timestamp,
    ) {
        self.update_lines(order_id, line_ids, |line| {
            line.status = LineStatus::InProgress;
            line.started_at = Some(at);
        });
    }

    pub(super) fn apply_lines_ready(
        &mut self,
        order_id: OrderId,
        line_ids: &[LineId],
        station_id: Option<StationId>,
        at: Timestamp,
    ) {
        if let Some(order) = self.orders.get_mut(&order_id) {
            let cleared: Vec<StationId> = match station_id {
                Some(station) => vec![station],
                None => order
                    .lines
                    .iter()
                    .filter(|l| line_ids.contains(&l.id))
                    .flat_map(|l| l.stations.iter().copied())
                    .collect(),
            };
            order.recalled.retain(|s| !cleared.contains(s));
        }
        self.update_lines(order_id, line_ids, |line| {
            match station_id {
                Some(station) => {
                    Order::mark_station(&mut line.stations_ready, station);
                }
                None => line.stations_ready.clone_from(&line.stations),
            }
            if line
                .stations
                .iter()
                .all(|s| line.stations_ready.contains(s))
            {
                line.status = LineStatus::Ready;
                line.ready_at = Some(at);
            }
        });
    }

    pub(super) fn apply_lines_served(
        &mut self,
        order_id: OrderId,
        line_ids: &[LineId],
        at: Timestamp,
    ) {
        self.update_lines(order_id, line_ids, |line| {
            line.status = LineStatus::Served;
            line.served_at = Some(at);
        });
    }

    /// A recalled ticket is back on the station's screen until it is bumped again.
    pub(super) fn apply_ticket_recalled(&mut self, order_id: OrderId, station_id: StationId) {
        if let Some(order) = self.orders.get_mut(&order_id) {
            Order::mark_station(&mut order.recalled, station_id);
        }
    }

    pub(super) fn apply_ticket_bumped(&mut self, order_id: OrderId, station_id: StationId) {
        if let Some(order) = self.orders.get_mut(&order_id) {
            order.recalled.retain(|s| *s != station_id);
        }
    }

    /// A ticket no screen of the station acknowledged stays flagged until one does.
    pub(super) fn apply_delivery_alert_raised(&mut self, order_id: OrderId, station_id: StationId) {
        if let Some(order) = self.orders.get_mut(&order_id) {
            Order::mark_station(&mut order.unseen_at, station_id);
        }
    }

    pub(super) fn apply_delivery_alert_cleared(
        &mut self,
        order_id: OrderId,
        station_id: StationId,
    ) {
        if let Some(order) = self.orders.get_mut(&order_id) {
            order.unseen_at.retain(|s| *s != station_id);
        }
    }
}

/// Checks that `line_ids` names existing lines, each once, all allowing `action`.
fn check_lines(
    order: &Order,
    line_ids: &[LineId],
    action: &str,
    allowed: impl Fn(&Line) -> bool,
) -> Result<(), Rejection> {
    if line_ids.is_empty() {
        return Err(Rejection::invalid(
            "no_lines",
            "line_ids",
            "name at least one line",
        ));
    }
    let mut seen = BTreeSet::new();
    for (index, line_id) in line_ids.iter().enumerate() {
        let field = format!("line_ids[{index}]");
        if !seen.insert(*line_id) {
            return Err(Rejection::invalid(
                "duplicate_line",
                field,
                "each line may be named once",
            ));
        }
        let line = order.line(*line_id).ok_or_else(|| {
            Rejection::not_found("line_not_found", format!("line {line_id}")).within(&field)
        })?;
        if !allowed(line) {
            return Err(Rejection::conflict(
                "invalid_line_transition",
                format!(
                    "cannot {action} {}: it is {}",
                    line.name,
                    line.status.as_str()
                ),
            )
            .within(field));
        }
    }
    Ok(())
}
