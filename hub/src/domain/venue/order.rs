//! Orders as the waiter handles them: opening one (dine-in seats the table if nobody sits
//! there yet), adding lines priced and routed from the menu, firing a held course, voiding
//! a line (after cooking only with a manager), closing and cancelling. The kitchen's side
//! of a line (start, ready, bump, serve) is in `kitchen`.

use std::collections::BTreeSet;

use super::{
    Decision, Venue,
    floor::needs_cleaning,
    validation::{
        MAX_NAME, MAX_NOTE, MAX_QUANTITY, is_blank, trim_text, validate_course, validate_guests,
        validate_text,
    },
};
use crate::domain::{
    Actor, Timestamp,
    command::LineInput,
    event::Event,
    id::{LineId, OrderId, StaffId, TableId},
    menu::MenuItem,
    order::{Customer, Line, LineModifier, LineStatus, LineVoid, Order, OrderKind, OrderStatus},
    rejection::{Rejection, RejectionCode},
};

/// How many closed or cancelled orders stay in memory (for reprints, late voids and the
/// screens' recall); older ones are read from the store's projection.
pub const FINISHED_ORDERS_KEPT: usize = 1000;

impl Venue {
    pub fn open_orders_at(&self, table_id: TableId) -> impl Iterator<Item = &Order> {
        self.orders
            .values()
            .filter(move |order| order.is_open() && order.table_id == Some(table_id))
    }

    pub fn open_orders(&self) -> impl Iterator<Item = &Order> {
        self.orders.values().filter(|order| order.is_open())
    }

    /// The order whose printed ticket code this is (see `order::ticket_code`), if it is
    /// still in memory.
    pub fn order_by_ticket_code(&self, code: &str) -> Option<&Order> {
        let number = crate::domain::order::parse_ticket_code(code)?;
        self.orders.values().find(|o| o.number == number)
    }

    pub(super) fn order(&self, id: OrderId) -> Result<&Order, Rejection> {
        self.orders.get(&id).ok_or_else(|| {
            Rejection::not_found(RejectionCode::OrderNotFound, format!("order {id}"))
        })
    }

    pub(super) fn open_order(&self, id: OrderId) -> Result<&Order, Rejection> {
        let order = self.order(id)?;
        if !order.is_open() {
            return Err(order_not_open(order));
        }
        Ok(order)
    }

    #[expect(
        clippy::too_many_arguments,
        reason = "one argument per field of the command it decides"
    )]
    pub(super) fn decide_open_order(
        &self,
        order_id: OrderId,
        kind: OrderKind,
        table_id: Option<TableId>,
        guests: Option<u16>,
        customer: &Option<Customer>,
        channel: &Option<String>,
        note: &Option<String>,
        lines: &[LineInput],
        hold: bool,
        actor: &Actor,
        now: Timestamp,
    ) -> Decision {
        if self.orders.contains_key(&order_id) {
            return Err(Rejection::conflict(
                RejectionCode::OrderExists,
                "this order id is taken",
            ));
        }
        if let Some(guests) = guests {
            validate_guests("guests", guests)?;
        }
        if let Some(note) = note {
            validate_text("note", note, MAX_NOTE)?;
        }
        if let Some(channel) = channel {
            validate_text("channel", channel, 40)?;
        }
        if let Some(customer) = customer {
            validate_text("customer.name", &customer.name, MAX_NAME)?;
        }
        let mut events = Vec::new();
        match kind {
            OrderKind::DineIn => {
                let Some(table_id) = table_id else {
                    return Err(Rejection::invalid(
                        RejectionCode::MissingTable,
                        "table_id",
                        "a dine-in order needs a table",
                    ));
                };
                let table = self
                    .primary_table(table_id)
                    .map_err(|r| r.within("table_id"))?;
                if table.needs_cleaning_since.is_some() {
                    return Err(needs_cleaning(table).within("table_id"));
                }
                if table.party.is_none() {
                    events.push(Event::PartySeated {
                        table_id,
                        guests: guests.unwrap_or(1),
                        server_id: actor.staff_id.or(table.server_id),
                        at: now,
                    });
                }
            }
            OrderKind::Takeaway | OrderKind::Delivery => {
                if table_id.is_some() {
                    return Err(Rejection::invalid(
                        RejectionCode::UnexpectedTable,
                        "table_id",
                        "only dine-in orders have a table",
                    ));
                }
                if kind == OrderKind::Delivery {
                    let has_address = customer
                        .as_ref()
                        .and_then(|c| c.address.as_deref())
                        .is_some_and(|a| !is_blank(a));
                    if !has_address {
                        return Err(Rejection::invalid(
                            RejectionCode::MissingAddress,
                            "customer.address",
                            "a delivery order needs a customer with an address",
                        ));
                    }
                }
            }
        }
        let new_lines = self.build_lines(None, lines, actor, now)?;
        events.push(Event::OrderOpened {
            order_id,
            number: self.next_order_number.max(1),
            kind,
            table_id,
            guests,
            customer: customer.clone(),
            channel: channel.clone(),
            note: note.clone(),
            created_by: actor.staff_id,
            at: now,
        });
        if !new_lines.is_empty() {
            let fire = lines_to_fire(&[], &new_lines, &[], hold);
            events.push(Event::LinesAdded {
                order_id,
                lines: new_lines,
            });
            events.extend(fire.map(|(courses, line_ids)| Event::LinesFired {
                order_id,
                courses,
                line_ids,
                at: now,
            }));
        }
        Ok(events)
    }

    pub(super) fn decide_add_lines(
        &self,
        order_id: OrderId,
        lines: &[LineInput],
        hold: bool,
        actor: &Actor,
        now: Timestamp,
    ) -> Decision {
        let order = self.open_order(order_id)?;
        if lines.is_empty() {
            return Err(Rejection::invalid(
                RejectionCode::NoLines,
                "lines",
                "add at least one line",
            ));
        }
        let new_lines = self.build_lines(Some(order), lines, actor, now)?;
        let fire = lines_to_fire(&order.lines, &new_lines, &order.fired_courses, hold);
        let mut events = vec![Event::LinesAdded {
            order_id,
            lines: new_lines,
        }];
        events.extend(fire.map(|(courses, line_ids)| Event::LinesFired {
            order_id,
            courses,
            line_ids,
            at: now,
        }));
        Ok(events)
    }

    pub(super) fn decide_fire_course(
        &self,
        order_id: OrderId,
        course: u8,
        now: Timestamp,
    ) -> Decision {
        let order = self.open_order(order_id)?;
        validate_course("course", course)?;
        let line_ids: Vec<LineId> = order
            .lines
            .iter()
            .filter(|l| l.course == course && l.status == LineStatus::New)
            .map(|l| l.id)
            .collect();
        if line_ids.is_empty() {
            return Err(Rejection::conflict(
                RejectionCode::NothingToFire,
                format!(
                    "course {course} of order #{} has no held lines",
                    order.number
                ),
            ));
        }
        Ok(vec![Event::LinesFired {
            order_id,
            courses: vec![course],
            line_ids,
            at: now,
        }])
    }

    pub(super) fn decide_void_line(
        &self,
        order_id: OrderId,
        line_id: LineId,
        reason: &str,
        actor: &Actor,
        now: Timestamp,
    ) -> Decision {
        let order = self.open_order(order_id)?;
        let line = order.line(line_id).ok_or_else(|| {
            Rejection::not_found(RejectionCode::LineNotFound, format!("line {line_id}"))
                .within("line_id")
        })?;
        if line.status == LineStatus::Voided {
            return Err(Rejection::conflict(
                RejectionCode::LineAlreadyVoided,
                format!("{} is already voided", line.name),
            ));
        }
        validate_text("reason", reason, MAX_NOTE).map_err(|_| {
            Rejection::invalid(
                RejectionCode::MissingReason,
                "reason",
                "a void needs a reason",
            )
        })?;
        let after_cooking = line.status.is_cooking_started();
        // The `void_after_cooking` permission, checked here where the line's state is known.
        if after_cooking && !actor.may_void_after_cooking() {
            return Err(Rejection::forbidden(
                RejectionCode::ManagerApprovalRequired,
                format!(
                    "{} is already {}: only a manager can void it",
                    line.name,
                    line.status.as_str()
                ),
            ));
        }
        Ok(vec![Event::LineVoided {
            order_id,
            line_id,
            reason: trim_text(reason).to_owned(),
            by: actor.staff_id,
            after_cooking,
            at: now,
        }])
    }

    pub(super) fn decide_close_order(&self, order_id: OrderId, now: Timestamp) -> Decision {
        let order = self.open_order(order_id)?;
        let unserved = order
            .lines
            .iter()
            .filter(|l| !matches!(l.status, LineStatus::Served | LineStatus::Voided))
            .count();
        if unserved > 0 {
            return Err(Rejection::conflict(
                RejectionCode::OrderHasUnservedLines,
                format!(
                    "order #{} has {unserved} lines not yet served",
                    order.number
                ),
            ));
        }
        let mut events = vec![Event::OrderClosed { order_id, at: now }];
        if let Some(table_id) = order.table_id
            && self
                .tables
                .get(&table_id)
                .is_some_and(|t| t.party.is_some())
            && self.open_orders_at(table_id).all(|o| o.id == order_id)
        {
            events.extend(self.end_service_request(table_id, now));
            events.push(Event::TableCleared { table_id, at: now });
        }
        Ok(events)
    }

    pub(super) fn decide_cancel_order(
        &self,
        order_id: OrderId,
        reason: &str,
        actor: &Actor,
        now: Timestamp,
    ) -> Decision {
        let order = self.open_order(order_id)?;
        validate_text("reason", reason, MAX_NOTE).map_err(|_| {
            Rejection::invalid(
                RejectionCode::MissingReason,
                "reason",
                "a cancellation needs a reason",
            )
        })?;
        if order
            .lines
            .iter()
            .any(|l| !matches!(l.status, LineStatus::New | LineStatus::Voided))
        {
            return Err(Rejection::conflict(
                RejectionCode::OrderHasFiredLines,
                format!(
                    "order #{} has lines in the kitchen: void them first",
                    order.number
                ),
            ));
        }
        Ok(vec![Event::OrderCancelled {
            order_id,
            reason: trim_text(reason).to_owned(),
            by: actor.staff_id,
            at: now,
        }])
    }

    /// Turns client line inputs into priced, routed lines, checking every rule of the menu.
    fn build_lines(
        &self,
        order: Option<&Order>,
        inputs: &[LineInput],
        actor: &Actor,
        now: Timestamp,
    ) -> Result<Vec<Line>, Rejection> {
        let mut ids = BTreeSet::new();
        inputs
            .iter()
            .enumerate()
            .map(|(index, input)| {
                let at = format!("lines[{index}]");
                if !ids.insert(input.line_id)
                    || order.is_some_and(|o| o.line(input.line_id).is_some())
                {
                    return Err(Rejection::conflict(
                        RejectionCode::LineExists,
                        "this line id is taken",
                    )
                    .within(at));
                }
                self.build_line(input, actor, now).map_err(|r| r.within(at))
            })
            .collect()
    }

    fn build_line(
        &self,
        input: &LineInput,
        actor: &Actor,
        now: Timestamp,
    ) -> Result<Line, Rejection> {
        let item = self
            .items
            .get(&input.menu_item_id)
            .filter(|item| item.active)
            .ok_or_else(|| {
                Rejection::not_found(
                    RejectionCode::MenuItemNotFound,
                    format!("menu item {}", input.menu_item_id),
                )
                .within("menu_item_id")
            })?;
        if !item.available {
            return Err(Rejection::conflict(
                RejectionCode::ItemUnavailable,
                format!("{} is sold out (86)", item.name),
            )
            .within("menu_item_id"));
        }
        if !(1..=MAX_QUANTITY).contains(&input.quantity) {
            return Err(Rejection::invalid(
                RejectionCode::InvalidQuantity,
                "quantity",
                format!("quantity must be between 1 and {MAX_QUANTITY}"),
            ));
        }
        let course = input.course.unwrap_or(item.default_course);
        validate_course("course", course)?;
        if let Some(seat) = input.seat
            && seat == 0
        {
            return Err(Rejection::invalid(
                RejectionCode::InvalidSeat,
                "seat",
                "seats are numbered from 1",
            ));
        }
        if let Some(note) = &input.note {
            validate_text("note", note, MAX_NOTE)?;
        }
        Ok(Line {
            id: input.line_id,
            menu_item_id: item.id,
            name: item.name.clone(),
            quantity: input.quantity,
            unit_price: item.price,
            modifiers: self.choose_modifiers(item, input)?,
            seat: input.seat,
            course,
            note: input.note.as_ref().map(|n| trim_text(n).to_owned()),
            stations: item.stations.clone(),
            stations_ready: Vec::new(),
            allergens: item.allergens.clone(),
            status: LineStatus::New,
            added_at: now,
            added_by: actor.staff_id,
            fired_at: None,
            started_at: None,
            ready_at: None,
            served_at: None,
            void: None,
        })
    }

    fn choose_modifiers(
        &self,
        item: &MenuItem,
        input: &LineInput,
    ) -> Result<Vec<LineModifier>, Rejection> {
        let mut chosen = Vec::with_capacity(input.modifiers.len());
        let mut seen = BTreeSet::new();
        for (index, modifier_id) in input.modifiers.iter().enumerate() {
            let found = item
                .modifier_groups
                .iter()
                .filter_map(|g| self.modifier_groups.get(g))
                .find_map(|g| {
                    g.options
                        .iter()
                        .find(|o| o.id == *modifier_id)
                        .map(|o| (g, o))
                });
            let Some((group, option)) = found else {
                return Err(Rejection::invalid(
                    RejectionCode::InvalidModifier,
                    format!("modifiers[{index}]"),
                    format!("{modifier_id} is not an option of {}", item.name),
                ));
            };
            if !seen.insert(*modifier_id) {
                return Err(Rejection::invalid(
                    RejectionCode::InvalidModifier,
                    format!("modifiers[{index}]"),
                    format!("{} is chosen twice", option.name),
                ));
            }
            chosen.push(LineModifier {
                group_id: group.id,
                modifier_id: option.id,
                name: option.name.clone(),
                price_delta: option.price_delta,
            });
        }
        for group in item
            .modifier_groups
            .iter()
            .filter_map(|g| self.modifier_groups.get(g))
        {
            let count = chosen.iter().filter(|m| m.group_id == group.id).count();
            if count < usize::from(group.min_choices) || count > usize::from(group.max_choices) {
                return Err(Rejection::invalid(
                    RejectionCode::InvalidModifier,
                    "modifiers",
                    format!(
                        "{}: choose between {} and {} of {}",
                        item.name, group.min_choices, group.max_choices, group.name
                    ),
                ));
            }
        }
        Ok(chosen)
    }

    #[expect(
        clippy::too_many_arguments,
        reason = "one argument per field of the event it applies"
    )]
    pub(super) fn apply_order_opened(
        &mut self,
        order_id: OrderId,
        number: u32,
        kind: OrderKind,
        table_id: Option<TableId>,
        guests: Option<u16>,
        customer: &Option<Customer>,
        channel: &Option<String>,
        note: &Option<String>,
        created_by: Option<StaffId>,
        at: Timestamp,
    ) {
        self.orders.insert(
            order_id,
            Order {
                id: order_id,
                number,
                kind,
                status: OrderStatus::Open,
                table_id,
                guests,
                customer: customer.clone(),
                channel: channel.clone(),
                note: note.clone(),
                created_by,
                created_at: at,
                lines: Vec::new(),
                fired_courses: Vec::new(),
                closed_at: None,
                cancelled_at: None,
                cancel_reason: None,
                recalled: Vec::new(),
                unseen_at: Vec::new(),
            },
        );
        self.next_order_number = self.next_order_number.max(number.saturating_add(1));
    }

    pub(super) fn apply_lines_added(&mut self, order_id: OrderId, lines: &[Line]) {
        if let Some(order) = self.orders.get_mut(&order_id) {
            order.lines.extend(lines.iter().cloned());
        }
    }

    pub(super) fn apply_lines_fired(
        &mut self,
        order_id: OrderId,
        courses: &[u8],
        line_ids: &[LineId],
        at: Timestamp,
    ) {
        if let Some(order) = self.orders.get_mut(&order_id) {
            for course in courses {
                if !order.fired_courses.contains(course) {
                    order.fired_courses.push(*course);
                }
            }
            order.fired_courses.sort_unstable();
            for_lines(order, line_ids, |line| {
                line.status = LineStatus::Fired;
                line.fired_at = Some(at);
            });
        }
    }

    pub(super) fn apply_line_voided(
        &mut self,
        order_id: OrderId,
        line_id: LineId,
        reason: &str,
        by: Option<StaffId>,
        after_cooking: bool,
        at: Timestamp,
    ) {
        self.update_lines(order_id, &[line_id], |line| {
            line.status = LineStatus::Voided;
            line.void = Some(LineVoid {
                reason: reason.to_owned(),
                by,
                at,
                after_cooking,
            });
        });
    }

    pub(super) fn apply_order_closed(&mut self, order_id: OrderId, at: Timestamp) {
        if let Some(order) = self.orders.get_mut(&order_id) {
            order.status = OrderStatus::Closed;
            order.closed_at = Some(at);
            order.recalled.clear();
            order.unseen_at.clear();
            self.finish(order_id);
        }
    }

    pub(super) fn apply_order_cancelled(&mut self, order_id: OrderId, reason: &str, at: Timestamp) {
        if let Some(order) = self.orders.get_mut(&order_id) {
            order.status = OrderStatus::Cancelled;
            order.cancelled_at = Some(at);
            order.recalled.clear();
            order.unseen_at.clear();
            order.cancel_reason = Some(reason.to_owned());
            self.finish(order_id);
        }
    }

    /// Changes the named lines of an order, if the order is still in memory.
    pub(super) fn update_lines(
        &mut self,
        order_id: OrderId,
        line_ids: &[LineId],
        change: impl FnMut(&mut Line),
    ) {
        if let Some(order) = self.orders.get_mut(&order_id) {
            for_lines(order, line_ids, change);
        }
    }

    /// Keeps a bounded number of finished orders in memory.
    fn finish(&mut self, order_id: OrderId) {
        self.finished_orders.push_back(order_id);
        while self.finished_orders.len() > FINISHED_ORDERS_KEPT {
            if let Some(oldest) = self.finished_orders.pop_front() {
                self.orders.remove(&oldest);
            }
        }
    }
}

/// The refusal for acting on an order that is closed or cancelled.
pub(super) fn order_not_open(order: &Order) -> Rejection {
    Rejection::conflict(
        RejectionCode::OrderNotOpen,
        format!("order #{} is {}", order.number, order.status.as_str()),
    )
}

fn for_lines(order: &mut Order, line_ids: &[LineId], mut change: impl FnMut(&mut Line)) {
    for line in order.lines.iter_mut().filter(|l| line_ids.contains(&l.id)) {
        change(line);
    }
}

/// Which lines a send fires: with `hold`, none; otherwise new lines of courses already
/// fired, or, when nothing has been fired yet, every held line of the lowest course.
fn lines_to_fire(
    existing: &[Line],
    added: &[Line],
    fired_courses: &[u8],
    hold: bool,
) -> Option<(Vec<u8>, Vec<LineId>)> {
    if hold {
        return None;
    }
    let held = || {
        existing
            .iter()
            .chain(added)
            .filter(|l| l.status == LineStatus::New)
    };
    let mut courses: Vec<u8> = fired_courses.to_vec();
    if courses.is_empty() {
        courses.extend(held().map(|l| l.course).min());
    }
    let line_ids: Vec<LineId> = held()
        .filter(|l| courses.contains(&l.course))
        .map(|l| l.id)
        .collect();
    if line_ids.is_empty() {
        return None;
    }
    let mut fired: Vec<u8> = held()
        .filter(|l| courses.contains(&l.course))
        .map(|l| l.course)
        .collect();
    fired.sort_unstable();
    fired.dedup();
    Some((fired, line_ids))
}
