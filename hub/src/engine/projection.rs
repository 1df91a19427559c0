//! Relational projections: the orders, lines and tables a batch touched, flattened into the
//! store's rows so reports and outside readers never have to replay the journal.

use std::collections::BTreeSet;

use crate::{
    domain::{Event, Order, OrderId, TableId, Venue},
    store::{Commit, OrderLineRow, OrderRow, TableRow},
};

/// Collects what a batch changed, then writes the rows into the commit.
#[derive(Default)]
pub struct Touched {
    orders: BTreeSet<OrderId>,
    tables: BTreeSet<TableId>,
    removed_tables: BTreeSet<TableId>,
}

impl Touched {
    pub fn note(&mut self, event: &Event, venue: &Venue) {
        if let Event::TableRemoved { table_id } = event {
            self.removed_tables.insert(*table_id);
            self.tables.remove(table_id);
            return;
        }
        self.tables.extend(event.table_ids());
        if let Some(order_id) = event.order_id() {
            self.orders.insert(order_id);
            // An order's progress changes its table's status (ordered, food ready...).
            if let Some(table_id) = venue.orders.get(&order_id).and_then(|o| o.table_id) {
                self.tables.insert(table_id);
            }
        }
    }

    /// Fails only if an order's document cannot be serialised: it is never stored as `null`.
    pub fn write_rows(self, venue: &Venue, commit: &mut Commit) -> Result<(), serde_json::Error> {
        let venue_id = commit.venue_id;
        for order_id in &self.orders {
            if let Some(order) = venue.orders.get(order_id) {
                commit.orders.push(order_row(venue_id, order)?);
                commit
                    .lines
                    .extend(
                        order
                            .lines
                            .iter()
                            .enumerate()
                            .map(|(position, line)| OrderLineRow {
                                id: line.id.0,
                                order_id: order.id.0,
                                venue_id,
                                position: i32::try_from(position).unwrap_or(i32::MAX),
                                menu_item_id: line.menu_item_id.0,
                                name: line.name.clone(),
                                quantity: i32::from(line.quantity),
                                unit_price: line.unit_price,
                                line_total: line.total(),
                                seat: line.seat.map(i32::from),
                                course: i32::from(line.course),
                                status: line.status.as_str().to_owned(),
                                note: line.note.clone(),
                                void_reason: line.void.as_ref().map(|v| v.reason.clone()),
                                added_at: line.added_at,
                                fired_at: line.fired_at,
                                started_at: line.started_at,
                                ready_at: line.ready_at,
                                served_at: line.served_at,
                                voided_at: line.void.as_ref().map(|v| v.at),
                            }),
                    );
            }
        }
        for table_id in &self.tables {
            if let Some(table) = venue.tables.get(table_id) {
                commit.tables.push(TableRow {
                    id: table_id.0,
                    venue_id,
                    area_id: table.layout.area_id.0,
                    label: table.layout.label.clone(),
                    seats: i32::from(table.layout.seats),
                    status: venue.table_status(table).as_str().to_owned(),
                    guests: table.party.as_ref().map(|p| i32::from(p.guests)),
                    seated_at: table.party.as_ref().map(|p| p.seated_at),
                    server_id: table
                        .party
                        .as_ref()
                        .and_then(|p| p.server_id)
                        .or(table.server_id)
                        .map(|s| s.0),
                    merged_into: table.merged_into.map(|t| t.0),
                });
            }
        }
        commit
            .removed_tables
            .extend(self.removed_tables.iter().map(|t| t.0));
        Ok(())
    }
}

fn order_row(venue_id: uuid::Uuid, order: &Order) -> Result<OrderRow, serde_json::Error> {
    let customer = order.customer.as_ref();
    Ok(OrderRow {
        id: order.id.0,
        venue_id,
        number: i64::from(order.number),
        kind: order.kind.as_str().to_owned(),
        status: order.status.as_str().to_owned(),
        table_id: order.table_id.map(|t| t.0),
        guests: order.guests.map(i32::from),
        customer_name: customer.map(|c| c.name.clone()),
        customer_phone: customer.and_then(|c| c.phone.clone()),
        delivery_address: customer.and_then(|c| c.address.clone()),
        channel: order.channel.clone(),
        created_by: order.created_by.map(|s| s.0),
        created_at: order.created_at,
        closed_at: order.closed_at,
        cancelled_at: order.cancelled_at,
        subtotal: order.subtotal(),
        document: serde_json::to_value(order)?,
    })
}
