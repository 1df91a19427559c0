//! The kitchen read models kept up to date from the orders each command touched, so that a
//! command costs what it changed rather than what is open: which open orders sit at each
//! table, each station's card queue, the expo tickets and each station's all-day counts.
//!
//! Every order's share of those views (its [`Contribution`]) is remembered; refreshing an
//! order takes its old share out and puts its new one in. The from-scratch functions in
//! [`super::kitchen`] and on [`Venue`] stay the reference: [`KitchenIndex::rebuild`] uses no
//! other source, and the property test below holds the two equal after any accepted
//! command sequence. Nothing here changes the venue.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::{
    domain::{
        LineStatus, MenuItemId, Order, OrderId, Table, TableId, TableStatus, Timestamp, Venue,
    },
    view::kitchen::{self, AllDayCount, ExpoTicket, KdsCard},
};

/// Where an order sorts in a station's queue: oldest live line fired first, held-only last
/// (the order of `Venue::station_queue`).
type QueueKey = (bool, Option<Timestamp>, u32, OrderId);

/// Where an order sorts on expo: first fired first, then by number (`expo_tickets`).
type ExpoKey = (Option<Timestamp>, u32, OrderId);

/// One menu item's all-day count at one station, with each order's part of it.
#[derive(Clone, Debug, Default, PartialEq)]
struct ItemTally {
    total: u32,
    /// Quantity and line name per order; the count shows the name of the first order's line,
    /// as the reference (which walks open orders in id order) does.
    by_order: BTreeMap<OrderId, (u32, String)>,
}

/// What one open order adds to the kitchen views.
#[derive(Clone, Debug, Default, PartialEq)]
struct Contribution {
    table: Option<TableId>,
    queue: Vec<(crate::domain::StationId, QueueKey)>,
    expo: Option<ExpoKey>,
    /// Per station and item: the quantity still to cook and the first line's name.
    all_day: Vec<(crate::domain::StationId, MenuItemId, u32, String)>,
}

impl Contribution {
    fn of(order: &Order) -> Self {
        if !order.is_open() {
            return Self::default();
        }
        let mut stations: BTreeSet<crate::domain::StationId> = order
            .lines
            .iter()
            .flat_map(|l| l.stations.iter().copied())
            .collect();
        stations.extend(order.recalled.iter().copied());
        let mut queue = Vec::new();
        let mut all_day = Vec::new();
        for station in stations {
            if order.is_on_station(station) {
                let fired = order
                    .live_lines_at(station)
                    .filter_map(|l| l.fired_at)
                    .min();
                queue.push((station, (fired.is_none(), fired, order.number, order.id)));
            }
            let mut items: Vec<(MenuItemId, u32, String)> = Vec::new();
            for line in order.live_lines_at(station) {
                match items
                    .iter_mut()
                    .find(|(item, _, _)| *item == line.menu_item_id)
                {
                    Some(entry) => entry.1 += u32::from(line.quantity),
                    None => items.push((
                        line.menu_item_id,
                        u32::from(line.quantity),
                        line.name.clone(),
                    )),
                }
            }
            all_day.extend(
                items
                    .into_iter()
                    .map(|(item, quantity, name)| (station, item, quantity, name)),
            );
        }
        let expo = kitchen::is_on_expo(order).then(|| {
            let fired = order
                .lines
                .iter()
                .filter(|l| l.status != LineStatus::Voided)
                .filter_map(|l| l.fired_at)
                .min();
            (fired, order.number, order.id)
        });
        Self {
            table: order.table_id,
            queue,
            expo,
            all_day,
        }
    }
}

/// The incrementally maintained kitchen views of one venue.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct KitchenIndex {
    contributions: HashMap<OrderId, Contribution>,
    open_at_table: HashMap<TableId, BTreeSet<OrderId>>,
    queues: HashMap<crate::domain::StationId, BTreeSet<QueueKey>>,
    expo: BTreeSet<ExpoKey>,
    all_day: HashMap<crate::domain::StationId, BTreeMap<MenuItemId, ItemTally>>,
}

impl KitchenIndex {
    /// The index of a venue, from scratch (at start-up and after a rebuild).
    pub fn rebuild(venue: &Venue) -> Self {
        let mut index = Self::default();
        index.refresh(venue, venue.open_orders().map(|o| o.id));
        index
    }

    /// Brings these orders' shares up to date with the venue as it is now. Every order whose
    /// kitchen state a command changed must be named, and only those need be.
    pub fn refresh(&mut self, venue: &Venue, orders: impl IntoIterator<Item = OrderId>) {
        for order_id in orders {
            let new = venue
                .orders
                .get(&order_id)
                .map(Contribution::of)
                .unwrap_or_default();
            let old = self.contributions.remove(&order_id).unwrap_or_default();
            if old == new {
                if new != Contribution::default() {
                    self.contributions.insert(order_id, new);
                }
                continue;
            }
            self.withdraw(order_id, &old);
            self.add(order_id, &new);
            if new != Contribution::default() {
                self.contributions.insert(order_id, new);
            }
        }
    }

    fn withdraw(&mut self, order_id: OrderId, share: &Contribution) {
        if let Some(table) = share.table
            && let Some(orders) = self.open_at_table.get_mut(&table)
        {
            orders.remove(&order_id);
            if orders.is_empty() {
                self.open_at_table.remove(&table);
            }
        }
        for (station, key) in &share.queue {
            if let Some(queue) = self.queues.get_mut(station) {
                queue.remove(key);
                if queue.is_empty() {
                    self.queues.remove(station);
                }
            }
        }
        if let Some(key) = &share.expo {
            self.expo.remove(key);
        }
        for (station, item, quantity, _) in &share.all_day {
            let Some(items) = self.all_day.get_mut(station) else {
                continue;
            };
            if let Some(tally) = items.get_mut(item) {
                tally.total -= quantity;
                tally.by_order.remove(&order_id);
                if tally.by_order.is_empty() {
                    items.remove(item);
                }
            }
            if items.is_empty() {
                self.all_day.remove(station);
            }
        }
    }

    fn add(&mut self, order_id: OrderId, share: &Contribution) {
        if let Some(table) = share.table {
            self.open_at_table
                .entry(table)
                .or_default()
                .insert(order_id);
        }
        for (station, key) in &share.queue {
            self.queues.entry(*station).or_default().insert(*key);
        }
        if let Some(key) = share.expo {
            self.expo.insert(key);
        }
        for (station, item, quantity, name) in &share.all_day {
            let tally = self
                .all_day
                .entry(*station)
                .or_default()
                .entry(*item)
                .or_default();
            tally.total += quantity;
            tally.by_order.insert(order_id, (*quantity, name.clone()));
        }
    }

    /// Every (order, station) with lines the station still has to cook, in no set order.
    pub fn live_tickets(&self) -> impl Iterator<Item = (OrderId, crate::domain::StationId)> + '_ {
        self.contributions.iter().flat_map(|(order_id, share)| {
            let mut stations: Vec<crate::domain::StationId> =
                share.all_day.iter().map(|(station, ..)| *station).collect();
            stations.dedup();
            stations
                .into_iter()
                .map(move |station| (*order_id, station))
        })
    }

    /// Open orders at a table, in id order (as `Venue::open_orders_at`).
    pub fn open_orders_at(&self, table: TableId) -> impl Iterator<Item = OrderId> + '_ {
        self.open_at_table
            .get(&table)
            .into_iter()
            .flat_map(|orders| orders.iter().copied())
    }

    /// A station's queue of orders (as `Venue::station_queue`).
    pub fn station_queue(&self, station: crate::domain::StationId) -> Vec<OrderId> {
        self.queues
            .get(&station)
            .into_iter()
            .flat_map(|queue| queue.iter().map(|(_, _, _, id)| *id))
            .collect()
    }

    /// The cards on a station's screen (as `kitchen::station_cards`).
    pub fn station_cards(&self, venue: &Venue, station: crate::domain::StationId) -> Vec<KdsCard> {
        self.station_queue(station)
            .into_iter()
            .filter_map(|id| venue.orders.get(&id))
            .map(|order| kitchen::kds_card(venue, order, station))
            .collect()
    }

    /// The tickets on expo (as `kitchen::expo_tickets`).
    pub fn expo_tickets(&self, venue: &Venue) -> Vec<ExpoTicket> {
        self.expo
            .iter()
            .filter_map(|(_, _, id)| venue.orders.get(id))
            .map(|order| kitchen::expo_ticket(venue, order))
            .collect()
    }

    /// A station's all-day counts (as `kitchen::all_day`): most first, then by name.
    pub fn all_day(&self, station: crate::domain::StationId) -> Vec<AllDayCount> {
        let mut counts: Vec<AllDayCount> = self
            .all_day
            .get(&station)
            .into_iter()
            .flat_map(|items| items.iter())
            .filter_map(|(item, tally)| {
                let (_, name) = tally.by_order.values().next()?;
                Some(AllDayCount {
                    menu_item_id: *item,
                    name: name.clone(),
                    quantity: tally.total,
                })
            })
            .collect();
        counts.sort_by(|a, b| {
            b.quantity
                .cmp(&a.quantity)
                .then_with(|| a.name.cmp(&b.name))
        });
        counts
    }

    /// A table's live status (as `Venue::table_status`), from the index's open orders.
    pub fn table_status(&self, venue: &Venue, table: &Table) -> TableStatus {
        let primary = table
            .merged_into
            .and_then(|id| venue.tables.get(&id))
            .unwrap_or(table);
        if primary.needs_cleaning_since.is_some() {
            return TableStatus::NeedsCleaning;
        }
        if primary.party.is_none() {
            return TableStatus::Available;
        }
        if primary.bill_requested_at.is_some() {
            return TableStatus::BillRequested;
        }
        let mut open = self
            .open_orders_at(primary.id())
            .filter_map(|id| venue.orders.get(&id))
            .peekable();
        if open.peek().is_none() {
            return TableStatus::Seated;
        }
        if open.any(Order::has_food_ready) {
            TableStatus::FoodReady
        } else {
            TableStatus::Ordered
        }
    }
}

/// The orders and tables one command's events touch, found before they are applied: the
/// orders they name, the tables they name and those orders sit at, and every open order at
/// those tables (a table that moves or merges relabels its orders). Refreshing these orders
/// after the events are applied keeps the index exact.
pub fn touched(
    venue: &Venue,
    index: &KitchenIndex,
    events: impl IntoIterator<Item = impl std::borrow::Borrow<crate::domain::Event>>,
) -> (BTreeSet<OrderId>, BTreeSet<TableId>) {
    let mut orders = BTreeSet::new();
    let mut tables = BTreeSet::new();
    for event in events {
        let event = event.borrow();
        orders.extend(event.order_id());
        tables.extend(event.table_ids());
    }
    for order_id in &orders {
        tables.extend(venue.orders.get(order_id).and_then(|o| o.table_id));
    }
    for table_id in &tables {
        orders.extend(index.open_orders_at(*table_id));
    }
    (orders, tables)
}

#[cfg(test)]
#[path = "index_tests.rs"]
mod tests;
