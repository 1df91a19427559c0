//! Read models: what the REST API and the screens show, built from the venue state. Orders
//! with totals, tables with their derived status, the floor plan and the menu here; kitchen
//! cards, expo tickets and all-day counts in [`kitchen`]; devices, scans and the cooling
//! log in [`device`]. They never change state.

pub mod device;
pub mod index;
pub mod kitchen;

use serde::Serialize;
use utoipa::ToSchema;

use crate::domain::{
    Area, Category, MenuItem, ModifierGroup, Order, OrderId, Table, TableId, TableStatus, Venue,
};

#[derive(Debug, PartialEq, Serialize, ToSchema)]
pub struct OrderView {
    #[serde(flatten)]
    pub order: Order,
    /// Sum of the non-voided lines, in minor units, before service charge and taxes.
    pub subtotal: i64,
    pub table_label: Option<String>,
    /// The code printed on the order's tickets for the pass scanner, e.g. `T42`.
    pub ticket_code: String,
}

impl OrderView {
    pub fn of(venue: &Venue, order: &Order) -> Self {
        Self {
            order: order.clone(),
            subtotal: order.subtotal(),
            ticket_code: order.ticket_code(),
            table_label: order
                .table_id
                .and_then(|t| venue.tables.get(&t))
                .map(|t| t.layout.label.clone()),
        }
    }

    pub fn find(venue: &Venue, order_id: OrderId) -> Option<Self> {
        venue
            .orders
            .get(&order_id)
            .map(|order| Self::of(venue, order))
    }
}

#[derive(Debug, PartialEq, Serialize, ToSchema)]
pub struct TableView {
    #[serde(flatten)]
    pub table: Table,
    pub status: TableStatus,
    /// Open orders at this table (for a merged table: at its primary).
    pub open_orders: Vec<OrderId>,
}

impl TableView {
    pub fn of(venue: &Venue, table: &Table) -> Self {
        let primary = table.merged_into.unwrap_or(table.id());
        Self {
            table: table.clone(),
            status: venue.table_status(table),
            open_orders: venue.open_orders_at(primary).map(|o| o.id).collect(),
        }
    }

    pub fn find(venue: &Venue, table_id: TableId) -> Option<Self> {
        venue
            .tables
            .get(&table_id)
            .map(|table| Self::of(venue, table))
    }

    /// The same view from the kitchen index: no walk over every order.
    pub fn indexed(venue: &Venue, index: &index::KitchenIndex, table: &Table) -> Self {
        let primary = table.merged_into.unwrap_or(table.id());
        Self {
            table: table.clone(),
            status: index.table_status(venue, table),
            open_orders: index.open_orders_at(primary).collect(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AreaView {
    #[serde(flatten)]
    pub area: Area,
    pub tables: Vec<TableView>,
}

/// The whole floor plan with live table states.
#[derive(Debug, Serialize, ToSchema)]
pub struct FloorView {
    pub areas: Vec<AreaView>,
    /// The venue sequence number this view reflects.
    pub seq: u64,
}

impl FloorView {
    pub fn of(venue: &Venue, seq: u64) -> Self {
        Self::build(venue, seq, |t| TableView::of(venue, t))
    }

    /// The same view from the kitchen index: no walk over every order per table.
    pub fn indexed(venue: &Venue, index: &index::KitchenIndex, seq: u64) -> Self {
        Self::build(venue, seq, |t| TableView::indexed(venue, index, t))
    }

    fn build(venue: &Venue, seq: u64, table_view: impl Fn(&Table) -> TableView) -> Self {
        let mut areas: Vec<AreaView> = venue
            .areas
            .values()
            .map(|area| {
                let mut tables: Vec<TableView> = venue
                    .tables
                    .values()
                    .filter(|t| t.layout.area_id == area.id)
                    .map(&table_view)
                    .collect();
                tables.sort_by(|a, b| {
                    natural_key(&a.table.layout.label).cmp(&natural_key(&b.table.layout.label))
                });
                AreaView {
                    area: area.clone(),
                    tables,
                }
            })
            .collect();
        areas.sort_by(|a, b| (a.area.sort, &a.area.name).cmp(&(b.area.sort, &b.area.name)));
        Self { areas, seq }
    }
}

/// Sorts "T2" before "T10".
fn natural_key(label: &str) -> (String, u64, String) {
    let prefix: String = label.chars().take_while(|c| !c.is_ascii_digit()).collect();
    let rest = &label[prefix.len()..];
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    let number = digits.parse().unwrap_or(0);
    (prefix, number, rest[digits.len()..].to_owned())
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MenuView {
    pub categories: Vec<Category>,
    pub items: Vec<MenuItem>,
    pub modifier_groups: Vec<ModifierGroup>,
}

impl MenuView {
    pub fn of(venue: &Venue) -> Self {
        let mut categories: Vec<Category> = venue.categories.values().cloned().collect();
        categories.sort_by(|a, b| (a.sort, &a.name).cmp(&(b.sort, &b.name)));
        let category_sort = |item: &MenuItem| {
            venue
                .categories
                .get(&item.category_id)
                .map_or(i32::MAX, |c| c.sort)
        };
        let mut items: Vec<MenuItem> = venue.items.values().filter(|i| i.active).cloned().collect();
        items.sort_by(|a, b| {
            (category_sort(a), a.sort, &a.name).cmp(&(category_sort(b), b.sort, &b.name))
        });
        Self {
            categories,
            items,
            modifier_groups: venue.modifier_groups.values().cloned().collect(),
        }
    }
}
