//! The floor: areas and tables (their layout), seating, moving, merging and splitting
//! parties, the bill request, clearing and cleaning. A merged table acts only through its
//! primary table, and a table that needs cleaning takes nobody until it is clean.

use std::collections::BTreeSet;

use super::{
    Decision, Venue,
    validation::{MAX_NAME, validate_guests, validate_text},
};
use crate::domain::{
    Timestamp,
    event::Event,
    floor::{Area, Party, Table, TableLayout, TableStatus},
    id::{StaffId, TableId},
    order::Order,
    rejection::Rejection,
};

impl Venue {
    pub fn table_status(&self, table: &Table) -> TableStatus {
        let primary = table
            .merged_into
            .and_then(|id| self.tables.get(&id))
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
        let mut open = self.open_orders_at(primary.id()).peekable();
        if open.peek().is_none() {
            return TableStatus::Seated;
        }
        if open.any(Order::has_food_ready) {
            TableStatus::FoodReady
        } else {
            TableStatus::Ordered
        }
    }

    pub(in crate::domain) fn table(&self, id: TableId) -> Result<&Table, Rejection> {
        self.tables
            .get(&id)
            .ok_or_else(|| Rejection::not_found("table_not_found", format!("table {id}")))
    }

    /// A table that is not merged into another one (merged tables act through their primary).
    pub(super) fn primary_table(&self, id: TableId) -> Result<&Table, Rejection> {
        let table = self.table(id)?;
        if let Some(primary) = table.merged_into {
            let label = self
                .tables
                .get(&primary)
                .map_or_else(|| primary.to_string(), |t| t.layout.label.clone());
            return Err(Rejection::conflict(
                "table_merged",
                format!("table {} is merged into table {label}", table.layout.label),
            ));
        }
        Ok(table)
    }

    fn has_merged_tables(&self, id: TableId) -> bool {
        self.tables.values().any(|t| t.merged_into == Some(id))
    }

    fn seatable_table(&self, id: TableId) -> Result<&Table, Rejection> {
        let table = self.primary_table(id)?;
        if table.needs_cleaning_since.is_some() {
            return Err(needs_cleaning(table));
        }
        if table.party.is_some() {
            return Err(Rejection::conflict(
                "table_occupied",
                format!("table {} is occupied", table.layout.label),
            ));
        }
        Ok(table)
    }

    fn occupied_table(&self, id: TableId) -> Result<&Table, Rejection> {
        let table = self.primary_table(id)?;
        if table.party.is_none() {
            return Err(Rejection::conflict(
                "table_not_occupied",
                format!("nobody is seated at table {}", table.layout.label),
            ));
        }
        Ok(table)
    }

    pub(super) fn decide_save_area(&self, area: &Area) -> Decision {
        validate_text("name", &area.name, MAX_NAME)?;
        Ok(vec![Event::AreaSaved { area: area.clone() }])
    }

    pub(super) fn decide_save_table(&self, table: &TableLayout) -> Decision {
        if !self.areas.contains_key(&table.area_id) {
            return Err(
                Rejection::not_found("area_not_found", format!("area {}", table.area_id))
                    .within("area_id"),
            );
        }
        validate_text("label", &table.label, 20)?;
        if !(1..=100).contains(&table.seats) {
            return Err(Rejection::invalid(
                "invalid_seats",
                "seats",
                "a table has between 1 and 100 seats",
            ));
        }
        let geometry = [table.x, table.y, table.width, table.height, table.rotation];
        if geometry.iter().any(|v| !v.is_finite()) || table.width <= 0.0 || table.height <= 0.0 {
            return Err(Rejection::invalid(
                "invalid_geometry",
                "width",
                "position, size and rotation must be finite, size positive",
            ));
        }
        if self
            .tables
            .values()
            .any(|t| t.id() != table.id && t.layout.label.eq_ignore_ascii_case(&table.label))
        {
            return Err(Rejection::conflict(
                "table_label_taken",
                format!("another table is labelled {:?}", table.label),
            ));
        }
        Ok(vec![Event::TableSaved {
            table: table.clone(),
        }])
    }

    pub(super) fn decide_remove_table(&self, table_id: TableId) -> Decision {
        let table = self.table(table_id)?;
        if !table.is_free()
            || self.has_merged_tables(table_id)
            || self.open_orders_at(table_id).next().is_some()
        {
            return Err(Rejection::conflict(
                "table_in_use",
                format!("table {} is in use", table.layout.label),
            ));
        }
        Ok(vec![Event::TableRemoved { table_id }])
    }

    pub(super) fn decide_assign_server(
        &self,
        table_id: TableId,
        server_id: Option<StaffId>,
    ) -> Decision {
        self.table(table_id)?;
        if let Some(server) = server_id {
            self.active_staff(server, "server_id")?;
        }
        Ok(vec![Event::ServerAssigned {
            table_id,
            server_id,
        }])
    }

    pub(super) fn decide_seat_party(
        &self,
        table_id: TableId,
        guests: u16,
        server_id: Option<StaffId>,
        now: Timestamp,
    ) -> Decision {
        let table = self.seatable_table(table_id)?;
        validate_guests("guests", guests)?;
        if let Some(server) = server_id {
            self.active_staff(server, "server_id")?;
        }
        Ok(vec![Event::PartySeated {
            table_id,
            guests,
            server_id: server_id.or(table.server_id),
            at: now,
        }])
    }

    pub(super) fn decide_move_party(&self, table_id: TableId, to_table_id: TableId) -> Decision {
        let from = self.occupied_table(table_id)?;
        if table_id == to_table_id {
            return Err(Rejection::invalid(
                "same_table",
                "to_table_id",
                "the party is already at that table",
            ));
        }
        if self.has_merged_tables(table_id) {
            return Err(Rejection::conflict(
                "table_has_merged_tables",
                format!("split table {} before moving its party", from.layout.label),
            ));
        }
        self.seatable_table(to_table_id)
            .map_err(|r| r.within("to_table_id"))?;
        Ok(vec![Event::PartyMoved {
            table_id,
            to_table_id,
        }])
    }

    pub(super) fn decide_merge_tables(&self, table_id: TableId, table_ids: &[TableId]) -> Decision {
        let primary = self.primary_table(table_id)?;
        if primary.needs_cleaning_since.is_some() {
            return Err(needs_cleaning(primary));
        }
        if table_ids.is_empty() {
            return Err(Rejection::invalid(
                "no_tables",
                "table_ids",
                "name at least one table to merge",
            ));
        }
        let mut seen = BTreeSet::new();
        for (index, other_id) in table_ids.iter().enumerate() {
            let field = format!("table_ids[{index}]");
            if *other_id == table_id || !seen.insert(*other_id) {
                return Err(Rejection::invalid(
                    "duplicate_table",
                    field,
                    "each table may be named once and not be the primary table",
                ));
            }
            let other = self
                .primary_table(*other_id)
                .map_err(|r| r.within(&field))?;
            if other.needs_cleaning_since.is_some() {
                return Err(needs_cleaning(other).within(&field));
            }
            if self.has_merged_tables(*other_id) {
                return Err(Rejection::conflict(
                    "table_has_merged_tables",
                    format!(
                        "table {} already has tables merged into it",
                        other.layout.label
                    ),
                )
                .within(&field));
            }
        }
        Ok(vec![Event::TablesMerged {
            table_id,
            table_ids: table_ids.to_vec(),
        }])
    }

    pub(super) fn decide_split_tables(&self, table_id: TableId) -> Decision {
        self.primary_table(table_id)?;
        let merged: Vec<TableId> = self
            .tables
            .values()
            .filter(|t| t.merged_into == Some(table_id))
            .map(Table::id)
            .collect();
        if merged.is_empty() {
            return Err(Rejection::conflict(
                "table_not_merged",
                "no tables are merged into this table",
            ));
        }
        Ok(vec![Event::TablesSplit {
            table_id,
            table_ids: merged,
        }])
    }

    pub(super) fn decide_request_bill(&self, table_id: TableId, now: Timestamp) -> Decision {
        let table = self.occupied_table(table_id)?;
        if table.bill_requested_at.is_some() {
            return Err(Rejection::conflict(
                "bill_already_requested",
                format!(
                    "the bill for table {} is already requested",
                    table.layout.label
                ),
            ));
        }
        Ok(vec![Event::BillRequested { table_id, at: now }])
    }

    pub(super) fn decide_clear_table(&self, table_id: TableId, now: Timestamp) -> Decision {
        let table = self.occupied_table(table_id)?;
        if self.open_orders_at(table_id).next().is_some() {
            return Err(Rejection::conflict(
                "table_has_open_orders",
                format!("table {} still has open orders", table.layout.label),
            ));
        }
        let mut events = self.end_service_request(table_id, now);
        events.push(Event::TableCleared { table_id, at: now });
        Ok(events)
    }

    pub(super) fn decide_mark_table_clean(&self, table_id: TableId) -> Decision {
        let table = self.table(table_id)?;
        if table.needs_cleaning_since.is_none() {
            return Err(Rejection::conflict(
                "table_not_dirty",
                format!("table {} does not need cleaning", table.layout.label),
            ));
        }
        Ok(vec![Event::TableCleaned { table_id }])
    }

    pub(super) fn apply_area_saved(&mut self, area: &Area) {
        self.areas.insert(area.id, area.clone());
    }

    pub(super) fn apply_table_saved(&mut self, table: &TableLayout) {
        match self.tables.get_mut(&table.id) {
            Some(existing) => existing.layout = table.clone(),
            None => {
                self.tables.insert(table.id, Table::new(table.clone()));
            }
        }
    }

    pub(super) fn apply_table_removed(&mut self, table_id: TableId) {
        self.tables.remove(&table_id);
    }

    pub(super) fn apply_server_assigned(&mut self, table_id: TableId, server_id: Option<StaffId>) {
        if let Some(table) = self.tables.get_mut(&table_id) {
            table.server_id = server_id;
        }
    }

    pub(super) fn apply_party_seated(
        &mut self,
        table_id: TableId,
        guests: u16,
        server_id: Option<StaffId>,
        at: Timestamp,
    ) {
        if let Some(table) = self.tables.get_mut(&table_id) {
            table.party = Some(Party {
                guests,
                seated_at: at,
                server_id,
            });
            table.bill_requested_at = None;
        }
    }

    pub(super) fn apply_party_moved(&mut self, table_id: TableId, to_table_id: TableId) {
        let (party, bill) = match self.tables.get_mut(&table_id) {
            Some(from) => (from.party.take(), from.bill_requested_at.take()),
            None => (None, None),
        };
        if let Some(to) = self.tables.get_mut(&to_table_id) {
            to.party = party;
            to.bill_requested_at = bill;
        }
        self.repoint_orders(table_id, to_table_id);
    }

    pub(super) fn apply_tables_merged(&mut self, table_id: TableId, table_ids: &[TableId]) {
        for other_id in table_ids {
            let moved = self.tables.get_mut(other_id).and_then(|other| {
                other.merged_into = Some(table_id);
                other.bill_requested_at = None;
                other.party.take()
            });
            if let (Some(moved), Some(primary)) = (moved, self.tables.get_mut(&table_id)) {
                match &mut primary.party {
                    Some(party) => party.guests = party.guests.saturating_add(moved.guests),
                    None => primary.party = Some(moved),
                }
            }
            self.repoint_orders(*other_id, table_id);
        }
    }

    pub(super) fn apply_tables_split(&mut self, table_ids: &[TableId]) {
        for other_id in table_ids {
            if let Some(other) = self.tables.get_mut(other_id) {
                other.merged_into = None;
            }
        }
    }

    pub(super) fn apply_bill_requested(&mut self, table_id: TableId, at: Timestamp) {
        if let Some(table) = self.tables.get_mut(&table_id) {
            table.bill_requested_at = Some(at);
        }
    }

    pub(super) fn apply_table_cleared(&mut self, table_id: TableId, at: Timestamp) {
        if let Some(table) = self.tables.get_mut(&table_id) {
            table.party = None;
            table.bill_requested_at = None;
            table.service_request = None;
            table.needs_cleaning_since = Some(at);
        }
    }

    pub(super) fn apply_table_cleaned(&mut self, table_id: TableId) {
        if let Some(table) = self.tables.get_mut(&table_id) {
            table.needs_cleaning_since = None;
        }
    }

    /// Open orders of a table whose party moved (or was merged) follow it.
    fn repoint_orders(&mut self, from: TableId, to: TableId) {
        for order in self.orders.values_mut() {
            if order.is_open() && order.table_id == Some(from) {
                order.table_id = Some(to);
            }
        }
    }
}

pub(super) fn needs_cleaning(table: &Table) -> Rejection {
    Rejection::conflict(
        "table_needs_cleaning",
        format!("table {} needs cleaning first", table.layout.label),
    )
}
