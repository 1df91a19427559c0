//! The delivery watch: every ticket fired at a station must be confirmed by a screen of that
//! station (`seen`) within the configured time, or a delivery alert is raised; a later
//! confirmation, a bump or the order ending clears it. A pure state machine in the rumqttc
//! shape: it takes inputs (fired, seen, left the station, finished, tick) with the time
//! injected, and returns the commands to issue. It does no I/O, reads no clock and holds no
//! lock of its own; the projector feeds it and sends what it returns to the engine.
//!
//! Each input costs what it touches: tickets are indexed by order, by station and (those not
//! yet alerted) by when they were fired, so a tick looks only at the tickets that fell due.

use std::{
    collections::{BTreeMap, BTreeSet},
    time::{Duration, Instant},
};

use crate::domain::{Command, OrderId, StationId};

/// A fired ticket no screen of its station has confirmed yet.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Pending {
    fired_seq: u64,
    since: Instant,
    alerted: bool,
}

#[derive(Debug)]
pub struct DeliveryWatch {
    /// Zero turns alerts off (a venue without kitchen screens); confirmations still count.
    timeout: Duration,
    pending: BTreeMap<(OrderId, StationId), Pending>,
    by_station: BTreeSet<(StationId, OrderId)>,
    /// Tickets not yet alerted, oldest first.
    due: BTreeSet<(Instant, OrderId, StationId)>,
}

impl DeliveryWatch {
    pub fn new(timeout: Duration) -> Self {
        Self {
            timeout,
            pending: BTreeMap::new(),
            by_station: BTreeSet::new(),
            due: BTreeSet::new(),
        }
    }

    /// Forgets every ticket (the projector is rebuilt).
    pub fn clear(&mut self) {
        self.pending.clear();
        self.by_station.clear();
        self.due.clear();
    }

    /// Watches a ticket whose delivery is unknown, e.g. at start-up: `alerted` when its alert
    /// is already raised. Replaces what was watched for it.
    pub fn track(
        &mut self,
        order: OrderId,
        station: StationId,
        seq: u64,
        now: Instant,
        alerted: bool,
    ) {
        self.forget(order, station);
        self.insert(order, station, seq, now, alerted);
    }

    /// Lines of an order were fired at a station at `seq`; a ticket already watched keeps
    /// its first firing.
    pub fn fired(&mut self, order: OrderId, station: StationId, seq: u64, now: Instant) {
        if !self.pending.contains_key(&(order, station)) {
            self.insert(order, station, seq, now, false);
        }
    }

    /// A screen of these stations rendered everything up to `seq`. Returns the clears for the
    /// confirmed tickets whose alert is up (`unseen` says whether it is).
    pub fn seen(
        &mut self,
        stations: &[StationId],
        seq: u64,
        unseen: impl Fn(OrderId, StationId) -> bool,
    ) -> Vec<Command> {
        let mut confirmed = Vec::new();
        for station in stations {
            let watched = self
                .by_station
                .range((*station, OrderId(uuid::Uuid::nil()))..)
                .take_while(|(s, _)| s == station)
                .map(|(_, order)| *order);
            for order in watched {
                if self
                    .pending
                    .get(&(order, *station))
                    .is_some_and(|p| p.fired_seq <= seq)
                {
                    confirmed.push((order, *station));
                }
            }
        }
        let mut commands = Vec::new();
        for (order_id, station_id) in confirmed {
            self.forget(order_id, station_id);
            if unseen(order_id, station_id) {
                commands.push(Command::ClearDeliveryAlert {
                    order_id,
                    station_id,
                });
            }
        }
        commands
    }

    /// The ticket left the station's screen (bumped, voided, or the order ended). Returns the
    /// clear when its alert is up (`alerted_now`: the order still shows it unseen) and the
    /// order is still open.
    pub fn left_station(
        &mut self,
        order_id: OrderId,
        station_id: StationId,
        alerted_now: bool,
        open: bool,
    ) -> Option<Command> {
        let pending = self.forget(order_id, station_id)?;
        ((pending.alerted || alerted_now) && open).then_some(Command::ClearDeliveryAlert {
            order_id,
            station_id,
        })
    }

    /// The order closed or was cancelled: none of its tickets is watched any more.
    pub fn finished(&mut self, order: OrderId) {
        let stations: Vec<StationId> = self
            .pending
            .range((order, StationId(uuid::Uuid::nil()))..)
            .take_while(|((o, _), _)| *o == order)
            .map(|((_, s), _)| *s)
            .collect();
        for station in stations {
            self.forget(order, station);
        }
    }

    /// Raises an alert for every ticket unconfirmed for longer than the timeout.
    pub fn tick(&mut self, now: Instant) -> Vec<Command> {
        if self.timeout.is_zero() {
            return Vec::new();
        }
        let mut commands = Vec::new();
        while let Some(&(since, order_id, station_id)) = self.due.first() {
            if now.saturating_duration_since(since) < self.timeout {
                break;
            }
            self.due.pop_first();
            if let Some(pending) = self.pending.get_mut(&(order_id, station_id)) {
                pending.alerted = true;
            }
            commands.push(Command::RaiseDeliveryAlert {
                order_id,
                station_id,
            });
        }
        commands
    }

    fn insert(
        &mut self,
        order: OrderId,
        station: StationId,
        seq: u64,
        now: Instant,
        alerted: bool,
    ) {
        self.pending.insert(
            (order, station),
            Pending {
                fired_seq: seq,
                since: now,
                alerted,
            },
        );
        self.by_station.insert((station, order));
        if !alerted {
            self.due.insert((now, order, station));
        }
    }

    fn forget(&mut self, order: OrderId, station: StationId) -> Option<Pending> {
        let pending = self.pending.remove(&(order, station))?;
        self.by_station.remove(&(station, order));
        self.due.remove(&(pending.since, order, station));
        Some(pending)
    }
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        reason = "test code: panicking is how a test fails"
    )]

    use super::*;

    const SECOND: Duration = Duration::from_secs(1);

    fn order(n: u128) -> OrderId {
        OrderId(uuid::Uuid::from_u128(n))
    }

    fn station(n: u128) -> StationId {
        StationId(uuid::Uuid::from_u128(1000 + n))
    }

    fn raise(o: u128, s: u128) -> Command {
        Command::RaiseDeliveryAlert {
            order_id: order(o),
            station_id: station(s),
        }
    }

    fn clear(o: u128, s: u128) -> Command {
        Command::ClearDeliveryAlert {
            order_id: order(o),
            station_id: station(s),
        }
    }

    #[test]
    fn a_ticket_nobody_confirms_raises_one_alert_once_the_time_is_up() {
        let start = Instant::now();
        let mut watch = DeliveryWatch::new(10 * SECOND);
        watch.fired(order(1), station(1), 5, start);
        assert_eq!(watch.tick(start + 9 * SECOND), vec![]);
        assert_eq!(watch.tick(start + 10 * SECOND), vec![raise(1, 1)]);
        assert_eq!(watch.tick(start + 60 * SECOND), vec![], "raised only once");
    }

    #[test]
    fn a_confirmed_ticket_raises_nothing() {
        let start = Instant::now();
        let mut watch = DeliveryWatch::new(10 * SECOND);
        watch.fired(order(1), station(1), 5, start);
        assert_eq!(watch.seen(&[station(1)], 5, |_, _| false), vec![]);
        assert_eq!(watch.tick(start + 60 * SECOND), vec![]);
    }

    #[test]
    fn seen_confirms_only_what_was_fired_by_then_at_the_screens_stations() {
        let start = Instant::now();
        let mut watch = DeliveryWatch::new(10 * SECOND);
        watch.fired(order(1), station(1), 5, start);
        watch.fired(order(2), station(1), 7, start);
        watch.fired(order(3), station(2), 5, start);
        watch.seen(&[station(1)], 6, |_, _| false);
        assert_eq!(
            watch.tick(start + 10 * SECOND),
            vec![raise(2, 1), raise(3, 2)]
        );
    }

    #[test]
    fn a_late_confirmation_clears_a_raised_alert() {
        let start = Instant::now();
        let mut watch = DeliveryWatch::new(10 * SECOND);
        watch.fired(order(1), station(1), 5, start);
        watch.tick(start + 10 * SECOND);
        assert_eq!(watch.seen(&[station(1)], 5, |_, _| true), vec![clear(1, 1)]);
    }

    #[test]
    fn a_bumped_ticket_clears_its_alert_while_the_order_is_open() {
        let start = Instant::now();
        let mut watch = DeliveryWatch::new(10 * SECOND);
        watch.fired(order(1), station(1), 5, start);
        watch.fired(order(2), station(1), 5, start);
        watch.tick(start + 10 * SECOND);
        assert_eq!(
            watch.left_station(order(1), station(1), false, true),
            Some(clear(1, 1))
        );
        assert_eq!(watch.left_station(order(2), station(1), false, false), None);
        assert_eq!(
            watch.left_station(order(1), station(1), true, true),
            None,
            "not watched any more"
        );
    }

    #[test]
    fn a_finished_order_is_no_longer_watched() {
        let start = Instant::now();
        let mut watch = DeliveryWatch::new(10 * SECOND);
        watch.fired(order(1), station(1), 5, start);
        watch.fired(order(1), station(2), 5, start);
        watch.fired(order(2), station(1), 5, start);
        watch.finished(order(1));
        assert_eq!(watch.tick(start + 10 * SECOND), vec![raise(2, 1)]);
    }

    #[test]
    fn a_zero_timeout_raises_nothing() {
        let start = Instant::now();
        let mut watch = DeliveryWatch::new(Duration::ZERO);
        watch.fired(order(1), station(1), 5, start);
        assert_eq!(watch.tick(start + 60 * SECOND), vec![]);
    }

    #[test]
    fn refiring_keeps_the_first_firing() {
        let start = Instant::now();
        let mut watch = DeliveryWatch::new(10 * SECOND);
        watch.fired(order(1), station(1), 5, start);
        watch.fired(order(1), station(1), 9, start + 5 * SECOND);
        assert_eq!(watch.tick(start + 10 * SECOND), vec![raise(1, 1)]);
    }
}
