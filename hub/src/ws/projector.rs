//! One projector per venue: keeps a replica of the venue (fed by the engine's live feed,
//! after events are durable), turns every event into view-level frames per channel, keeps
//! the last frames in a ring for resume, and fans them out through a broadcast channel.
//! Frames are serialised once here, never per screen.
//!
//! It also tracks delivery: every ticket fired at a station must be confirmed by a screen of
//! that station (`seen`) within the configured time, or the projector asks the engine to
//! raise a delivery alert (an event like any other, so it is journaled and resumable).
//!
//! Frames are built only for channels someone listens on: each channel counts its open
//! subscriptions and remembers the seq since which its frames have been built without a
//! break. A resume from before that seq gets a snapshot, never a gap. A channel whose last
//! subscriber left keeps being built for a heartbeat timeout, so a screen that reconnects
//! at once still resumes from the ring; after that it costs nothing until it is opened
//! again. The delivery watch and the kitchen index run whoever listens.
//!
//! The state sits behind a `Mutex` that is never held across an await: publishing a batch
//! and opening a channel both happen under it, which is what makes "snapshot at seq S, then
//! every frame after S" atomic.

use std::{
    collections::{BTreeMap, BTreeSet, HashMap, VecDeque},
    sync::{Arc, Mutex, MutexGuard},
    time::{Duration, Instant},
};

use axum::extract::ws::Utf8Bytes;
use serde_json::{Value, json};
use tokio::sync::broadcast::{self, error::RecvError};
use uuid::Uuid;

use super::{
    GatewayConfig, delivery::DeliveryWatch, error::ErrorCode, live::VenueLive, protocol::Channel,
};
use crate::{
    domain::{
        Actor, Command, CoolingBatchId, CoolingProgress, DeviceId, Event, OrderId, ServiceReason,
        StaffId, StationId, TableId, Venue,
    },
    engine::{EngineError, Envelope, Feed, Published, VenueHandle},
    view::{
        FloorView, OrderView, TableView,
        device::{CoolingView, DeviceView, ScanView},
        index::{self, KitchenIndex},
        kitchen::{self as view, is_on_expo},
    },
};

/// The frames one event produced, in order, all carrying its `seq`.
#[derive(Debug)]
pub struct FrameBatch {
    pub seq: u64,
    pub frames: Vec<Frame>,
    /// The projector was rebuilt: every subscriber must take a fresh snapshot.
    pub resync: bool,
}

#[derive(Debug)]
pub struct Frame {
    pub channel: Channel,
    /// The whole text frame, ready to send; cloning shares the bytes.
    pub text: Utf8Bytes,
}

/// What opening a channel yields: the text frames to send first, and the seq after which
/// live frames of this channel apply.
pub struct Opened {
    pub frames: Vec<Utf8Bytes>,
    pub from_seq: u64,
    /// The station behind a `kds:` channel, for delivery confirmation.
    pub station: Option<StationId>,
    /// Keeps the channel built while it lives; dropping it closes the subscription.
    pub listening: Listening,
}

/// One open subscription of a channel, counted by the projector for as long as it lives.
pub struct Listening {
    projector: Projector,
    channel: Channel,
}

impl Drop for Listening {
    fn drop(&mut self) {
        self.projector.state().close(&self.channel);
    }
}

/// Who listens on one channel, and since when its frames have been built.
struct Audience {
    subscribers: usize,
    /// Every frame of this channel after this seq was built (and is in the ring, as far
    /// as the ring reaches).
    built_since: u64,
    /// When the last subscriber left; the channel stops being built a linger later.
    idle_since: Option<Instant>,
}

struct State {
    replica: Venue,
    /// The replica's kitchen views, kept up to date from the orders each command touched.
    index: KitchenIndex,
    seq: u64,
    ring: VecDeque<Arc<FrameBatch>>,
    /// Resume works for any `since >= ring_floor`: every event after it is in the ring.
    ring_floor: u64,
    last_on_channel: HashMap<Channel, u64>,
    /// Which fired tickets no screen of their station has confirmed yet.
    delivery: DeliveryWatch,
    audit_recent: VecDeque<Value>,
    /// The channels being built, with their subscriber counts.
    audience: HashMap<Channel, Audience>,
    /// How long a channel with no subscriber is still built (for a quick reconnect).
    linger: Duration,
    /// Frames built since the projector started (all channels).
    frames_built: u64,
}

const AUDIT_KEPT: usize = 100;

#[derive(Clone)]
pub struct Projector {
    inner: Arc<Inner>,
}

struct Inner {
    venue: VenueHandle,
    /// Device last values (read for the `devices` snapshot; not journaled).
    live: Arc<VenueLive>,
    state: Mutex<State>,
    frames: broadcast::Sender<Arc<FrameBatch>>,
    config: GatewayConfig,
    /// The projector's own commands (delivery alerts), executed one after another so a
    /// clear can never overtake the raise it answers.
    commands: tokio::sync::mpsc::UnboundedSender<Command>,
}

impl Projector {
    /// Starts projecting a venue from its current state.
    pub async fn start(
        venue: VenueHandle,
        config: GatewayConfig,
        live: Arc<VenueLive>,
    ) -> Result<Self, EngineError> {
        let (replica, seq, feed) = venue.subscribe(Venue::clone).await?;
        let (frames, _) = broadcast::channel(config.fanout_capacity);
        let mut state = State {
            index: KitchenIndex::rebuild(&replica),
            replica,
            seq,
            ring: VecDeque::new(),
            ring_floor: seq,
            last_on_channel: HashMap::new(),
            delivery: DeliveryWatch::new(config.delivery_timeout),
            audit_recent: VecDeque::new(),
            audience: HashMap::new(),
            linger: config.heartbeat_timeout,
            frames_built: 0,
        };
        state.track_live_tickets(seq);
        let (commands, queue) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(execute_in_order(venue.clone(), queue));
        let projector = Self {
            inner: Arc::new(Inner {
                venue,
                live,
                state: Mutex::new(state),
                frames,
                config,
                commands,
            }),
        };
        tokio::spawn(projector.clone().run(feed));
        Ok(projector)
    }

    pub fn venue(&self) -> &VenueHandle {
        &self.inner.venue
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.inner
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Frames built since the projector started, over all channels.
    pub fn frames_built(&self) -> u64 {
        self.state().frames_built
    }

    /// The seq of the last frame built on a channel (the next frame's `prev`), if any.
    pub fn last_frame_seq(&self, channel: &Channel) -> Option<u64> {
        self.state().last_on_channel.get(channel).copied()
    }

    /// The current sequence number of the replica.
    pub fn seq(&self) -> u64 {
        self.state().seq
    }

    /// A receiver of every batch published from now on.
    pub fn receiver(&self) -> broadcast::Receiver<Arc<FrameBatch>> {
        let _state = self.state();
        self.inner.frames.subscribe()
    }

    async fn run(self, mut feed: Feed) {
        // The events of one command, projected together once the last one arrives.
        let mut group: Vec<Arc<Published>> = Vec::new();
        let mut tick = tokio::time::interval(Duration::from_millis(250));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                received = feed.recv() => match received {
                    Ok(published) => {
                        let complete = published.seq >= published.command_last_seq;
                        group.push(published);
                        if complete {
                            let commands = self.publish(&group);
                            group.clear();
                            self.issue(commands);
                        }
                    }
                    Err(RecvError::Lagged(missed)) => {
                        tracing::warn!(venue = %self.inner.venue.slug(), missed, "projector fell behind; rebuilding");
                        match self.inner.venue.subscribe(Venue::clone).await {
                            Ok((replica, seq, fresh)) => {
                                feed = fresh;
                                group.clear();
                                self.rebuild(replica, seq);
                            }
                            Err(_) => return,
                        }
                    }
                    Err(RecvError::Closed) => return,
                },
                _ = tick.tick() => {
                    let commands = self.overdue();
                    self.issue(commands);
                }
            }
        }
    }

    fn publish(&self, group: &[Arc<Published>]) -> Vec<Command> {
        let mut state = self.state();
        let (batch, commands) = state.project(group, &self.inner.live);
        let batch = Arc::new(batch);
        state.ring.push_back(batch.clone());
        while state.ring.len() > self.inner.config.resume_window {
            if let Some(old) = state.ring.pop_front() {
                state.ring_floor = old.seq;
            }
        }
        let _ = self.inner.frames.send(batch);
        commands
    }

    fn rebuild(&self, replica: Venue, seq: u64) {
        let mut state = self.state();
        state.index = KitchenIndex::rebuild(&replica);
        state.replica = replica;
        state.seq = seq;
        state.ring.clear();
        state.ring_floor = seq;
        state.delivery.clear();
        state.track_live_tickets(seq);
        let _ = self.inner.frames.send(Arc::new(FrameBatch {
            seq,
            frames: Vec::new(),
            resync: true,
        }));
    }

    /// Opens a channel for a subscriber: replays what it missed since `since` from the
    /// ring, or gives a snapshot (flagged `resync` when a resume was asked for but the
    /// events are no longer kept).
    pub fn open(
        &self,
        channel: &Channel,
        since: Option<u64>,
    ) -> Result<Opened, (ErrorCode, String)> {
        let mut state = self.state();
        let station = match channel {
            Channel::Kds(key) => Some(
                view::station_by_key(&state.replica, key)
                    .map(|s| s.id)
                    .ok_or((
                        ErrorCode::StationNotFound,
                        format!("no station with key {key:?}"),
                    ))?,
            ),
            // Another venue's member (or an invented id) has no channel here to watch.
            Channel::Staff(staff) if !state.replica.staff.contains_key(staff) => {
                return Err((
                    ErrorCode::StaffNotFound,
                    format!("no staff member {staff} at this venue"),
                ));
            }
            _ => None,
        };
        let built_since = state.open(channel);
        let listening = Listening {
            projector: self.clone(),
            channel: channel.clone(),
        };
        if let Some(since) = since
            && since >= state.ring_floor
            && since >= built_since
            && since <= state.seq
        {
            let replayed: Vec<Utf8Bytes> = state
                .ring
                .iter()
                .filter(|batch| batch.seq > since)
                .flat_map(|batch| batch.frames.iter())
                .filter(|frame| frame.channel == *channel)
                .map(|frame| frame.text.clone())
                .collect();
            let marker = json!({
                "type": "resumed",
                "channel": channel,
                "since": since,
                "seq": state.seq,
                "replayed": replayed.len(),
            });
            let mut frames = vec![Utf8Bytes::from(marker.to_string())];
            frames.extend(replayed);
            return Ok(Opened {
                frames,
                from_seq: state.seq,
                station,
                listening,
            });
        }
        let reason = match since {
            None => Value::Null,
            Some(since) if since > state.seq => json!("ahead_of_hub"),
            Some(_) => json!("too_old"),
        };
        let data = state.snapshot(channel, station, &self.inner.live);
        // Dropped off the lock: a refused snapshot closes the subscription it counted.
        let data = match data {
            Ok(data) => data,
            Err(refusal) => {
                drop(state);
                drop(listening);
                return Err(refusal);
            }
        };
        let frame = json!({
            "type": "snapshot",
            "channel": channel,
            "seq": state.seq,
            "resync": since.is_some(),
            "reason": reason,
            "data": data,
        });
        Ok(Opened {
            frames: vec![Utf8Bytes::from(frame.to_string())],
            from_seq: state.seq,
            station,
            listening,
        })
    }

    /// A fresh snapshot of a channel, flagged as a resync (after lag or a rebuild).
    pub fn resync(&self, channel: &Channel, reason: &str) -> Option<(Utf8Bytes, u64)> {
        let state = self.state();
        let station = match channel {
            Channel::Kds(key) => Some(view::station_by_key(&state.replica, key)?.id),
            _ => None,
        };
        let data = state.snapshot(channel, station, &self.inner.live).ok()?;
        let frame = json!({
            "type": "snapshot",
            "channel": channel,
            "seq": state.seq,
            "resync": true,
            "reason": reason,
            "data": data,
        });
        Some((Utf8Bytes::from(frame.to_string()), state.seq))
    }

    /// A screen of these stations has rendered everything up to `seq`.
    pub fn seen(&self, stations: &[StationId], seq: u64) {
        let commands = {
            let mut state = self.state();
            let State {
                delivery, replica, ..
            } = &mut *state;
            delivery.seen(stations, seq, |order, station| {
                replica
                    .orders
                    .get(&order)
                    .is_some_and(|o| o.unseen_at.contains(&station))
            })
        };
        self.issue(commands);
    }

    fn overdue(&self) -> Vec<Command> {
        let mut state = self.state();
        let now = Instant::now();
        state.forget_idle_channels(now);
        state.delivery.tick(now)
    }

    /// Queues the projector's own commands (delivery alerts) for the engine, off the lock.
    fn issue(&self, commands: Vec<Command>) {
        for command in commands {
            let _ = self.inner.commands.send(command);
        }
    }
}

/// Executes the projector's commands in the order they were issued. Refusals are expected
/// (an alert already cleared by a bump) and only logged.
async fn execute_in_order(
    venue: VenueHandle,
    mut queue: tokio::sync::mpsc::UnboundedReceiver<Command>,
) {
    while let Some(command) = queue.recv().await {
        let envelope = Envelope {
            command_id: Uuid::now_v7(),
            actor: Actor {
                device: Some("hub".into()),
                ..Actor::system()
            },
            command,
        };
        match venue.execute(envelope).await {
            Ok(_) | Err(EngineError::Rejected(_)) => {}
            Err(error) => tracing::warn!(%error, "delivery alert command not applied"),
        }
    }
}

/// The staff channels an order's news goes to: whoever took it and the table's server.
fn staff_channels(venue: &Venue, order: &crate::domain::Order) -> Vec<Channel> {
    let server = order
        .table_id
        .and_then(|t| venue.tables.get(&t))
        .and_then(|t| t.party.as_ref().and_then(|p| p.server_id).or(t.server_id));
    let mut staff: Vec<crate::domain::StaffId> =
        order.created_by.into_iter().chain(server).collect();
    staff.dedup();
    staff.into_iter().map(Channel::Staff).collect()
}

/// The staff channel of the server looking after a table (its party's, or the table's).
fn table_staff_channel(venue: &Venue, table_id: TableId) -> Option<Channel> {
    let table = venue.tables.get(&table_id)?;
    let server = table
        .party
        .as_ref()
        .and_then(|p| p.server_id)
        .or(table.server_id)?;
    Some(Channel::Staff(server))
}

/// A device as screens show it, with its last live values.
fn device_value(venue: &Venue, live: &VenueLive, device_id: DeviceId) -> Value {
    let Some(device) = venue.devices.get(&device_id) else {
        return json!({"id": device_id});
    };
    let mut value = to_value(&DeviceView::of(device));
    value["live"] = live.device(device_id).map_or(Value::Null, |l| to_value(&l));
    value
}

fn cooling_value(venue: &Venue, batch_id: CoolingBatchId) -> Value {
    venue
        .cooling_batches
        .get(&batch_id)
        .map_or(Value::Null, |b| to_value(&CoolingView::of(venue, b)))
}

/// What the floor is told about a table's call for service, with a sentence to show.
fn service_notice(venue: &Venue, event: &Event, table_id: TableId) -> Value {
    let label = venue
        .tables
        .get(&table_id)
        .map_or_else(|| "?".to_owned(), |t| t.layout.label.clone());
    let staff_name = |id: &Option<StaffId>| {
        id.and_then(|id| venue.staff.get(&id))
            .map(|s| s.name.clone())
    };
    match event {
        Event::ServiceRequested {
            device_id,
            reason,
            at,
            ..
        } => {
            let what = match reason {
                ServiceReason::Service => "Service requested",
                ServiceReason::Bill => "Bill requested",
            };
            json!({
                "table_id": table_id,
                "table_label": label,
                "reason": reason,
                "since": at,
                "device_id": device_id,
                "message": format!("{what} at table {label}"),
            })
        }
        Event::ServiceRequestAcknowledged {
            device_id, by, at, ..
        } => {
            let name = staff_name(by);
            json!({
                "table_id": table_id,
                "table_label": label,
                "device_id": device_id,
                "acknowledged_by": by,
                "acknowledged_by_name": name,
                "acknowledged_at": at,
                "message": format!("{} is on the way to table {label}", name.as_deref().unwrap_or("Someone")),
            })
        }
        Event::ServiceRequestCancelled { at, .. } => json!({
            "table_id": table_id,
            "table_label": label,
            "at": at,
            "message": format!("Table {label} no longer needs service"),
        }),
        _ => Value::Null,
    }
}

/// Everything a screen may show about the entities one event touches, typed: compared as
/// views (`PartialEq`), and serialised only when they changed.
#[derive(Default)]
struct Views {
    /// Which of the touched orders is on which touched station (for the delivery watch,
    /// whether or not the station's channel is built).
    on_station: BTreeSet<(OrderId, StationId)>,
    /// Cards, only at the stations whose channel is built.
    cards: BTreeMap<(OrderId, StationId), view::KdsCard>,
    tickets: BTreeMap<OrderId, view::ExpoTicket>,
    orders: BTreeMap<OrderId, OrderView>,
    tables: BTreeMap<TableId, TableView>,
    all_day: BTreeMap<StationId, Vec<view::AllDayCount>>,
    ready: BTreeSet<OrderId>,
    /// Stations that have not confirmed each order (its raised delivery alerts).
    unseen: BTreeMap<OrderId, Vec<StationId>>,
}

fn to_value<T: serde::Serialize>(value: &T) -> Value {
    serde_json::to_value(value).unwrap_or(Value::Null)
}

/// What one command touched, and which of it the channels being built need to see.
struct Touched {
    orders: BTreeSet<OrderId>,
    tables: BTreeSet<TableId>,
    stations: BTreeSet<StationId>,
    /// The touched stations whose `kds:` channel is built.
    built_stations: BTreeSet<StationId>,
    /// The touched orders whose `order:` channel is built.
    built_orders: BTreeSet<OrderId>,
    /// `expo` is built.
    tickets: bool,
    /// `floor` or some `staff:` channel is built (they are told when food is ready).
    ready: bool,
    /// `floor` is built.
    floor: bool,
}

impl Views {
    fn capture(venue: &Venue, index: &KitchenIndex, touched: &Touched) -> Self {
        let mut views = Views::default();
        for order_id in &touched.orders {
            let Some(order) = venue.orders.get(order_id) else {
                continue;
            };
            if touched.built_orders.contains(order_id) {
                views.orders.insert(*order_id, OrderView::of(venue, order));
            }
            views.unseen.insert(*order_id, order.unseen_at.clone());
            for station in &touched.stations {
                if order.is_on_station(*station) {
                    views.on_station.insert((*order_id, *station));
                    if touched.built_stations.contains(station) {
                        views.cards.insert(
                            (*order_id, *station),
                            view::kds_card(venue, order, *station),
                        );
                    }
                }
            }
            if (touched.tickets || touched.ready) && is_on_expo(order) {
                let ticket = view::expo_ticket(venue, order);
                if ticket.ready {
                    views.ready.insert(*order_id);
                }
                if touched.tickets {
                    views.tickets.insert(*order_id, ticket);
                }
            }
        }
        if touched.floor {
            for table_id in &touched.tables {
                if let Some(table) = venue.tables.get(table_id) {
                    views
                        .tables
                        .insert(*table_id, TableView::indexed(venue, index, table));
                }
            }
        }
        for station in &touched.built_stations {
            views.all_day.insert(*station, index.all_day(*station));
        }
        views
    }
}

impl State {
    /// Counts a subscription of a channel; returns the seq since which it has been built
    /// (now, if nobody was listening).
    fn open(&mut self, channel: &Channel) -> u64 {
        let seq = self.seq;
        let audience = self
            .audience
            .entry(channel.clone())
            .or_insert_with(|| Audience {
                subscribers: 0,
                built_since: seq,
                idle_since: None,
            });
        audience.subscribers += 1;
        audience.idle_since = None;
        audience.built_since
    }

    /// A subscription of a channel ended.
    fn close(&mut self, channel: &Channel) {
        if let Some(audience) = self.audience.get_mut(channel) {
            audience.subscribers = audience.subscribers.saturating_sub(1);
            if audience.subscribers == 0 {
                audience.idle_since = Some(Instant::now());
            }
        }
    }

    /// Stops building the channels nobody has listened on for the linger.
    fn forget_idle_channels(&mut self, now: Instant) {
        let linger = self.linger;
        self.audience.retain(|_, audience| {
            audience
                .idle_since
                .is_none_or(|since| now.duration_since(since) < linger)
        });
    }

    /// Whether frames of this channel are built now.
    fn builds(&self, channel: &Channel) -> bool {
        self.audience.contains_key(channel)
    }

    fn track_live_tickets(&mut self, seq: u64) {
        let now = Instant::now();
        for (order_id, station) in self.index.live_tickets() {
            if !self.replica.stations.contains_key(&station) {
                continue;
            }
            let alerted = self
                .replica
                .orders
                .get(&order_id)
                .is_some_and(|o| o.unseen_at.contains(&station));
            self.delivery.track(order_id, station, seq, now, alerted);
        }
    }

    /// The `kds:` channel of a station (by its key).
    fn station_channel(&self, station: StationId) -> Channel {
        let key = self
            .replica
            .stations
            .get(&station)
            .map_or("?", |s| s.key.as_str());
        Channel::Kds(key.to_owned())
    }

    /// Applies one command's events to the replica and returns their frames (all carrying
    /// the command's last sequence number), plus any delivery commands to issue.
    fn project(
        &mut self,
        group: &[Arc<Published>],
        live: &VenueLive,
    ) -> (FrameBatch, Vec<Command>) {
        let Some(last) = group.last() else {
            return (
                FrameBatch {
                    seq: self.seq,
                    frames: Vec::new(),
                    resync: false,
                },
                Vec::new(),
            );
        };
        let seq = last.seq;
        let (orders, tables) =
            index::touched(&self.replica, &self.index, group.iter().map(|p| &p.event));
        let mut stations: BTreeSet<StationId> = orders
            .iter()
            .filter_map(|id| self.replica.orders.get(id))
            .flat_map(|o| o.lines.iter().flat_map(|l| l.stations.iter().copied()))
            .collect();
        for published in group {
            if let Event::LinesAdded { lines, .. } = &published.event {
                stations.extend(lines.iter().flat_map(|l| l.stations.iter().copied()));
            }
        }

        let built_stations = stations
            .iter()
            .copied()
            .filter(|station| self.builds(&self.station_channel(*station)))
            .collect();
        let built_orders = orders
            .iter()
            .copied()
            .filter(|order| self.builds(&Channel::Order(*order)))
            .collect();
        let floor = self.builds(&Channel::Floor);
        let mut touched = Touched {
            orders,
            tables,
            stations,
            built_stations,
            built_orders,
            tickets: self.builds(&Channel::Expo),
            ready: floor
                || self
                    .audience
                    .keys()
                    .any(|channel| matches!(channel, Channel::Staff(_))),
            floor,
        };
        let before = Views::capture(&self.replica, &self.index, &touched);
        for published in group {
            self.replica.apply(&published.event);
        }
        self.index
            .refresh(&self.replica, touched.orders.iter().copied());
        self.seq = seq;
        for order_id in &touched.orders {
            let table = self.replica.orders.get(order_id).and_then(|o| o.table_id);
            touched.tables.extend(table);
        }
        let after = Views::capture(&self.replica, &self.index, &touched);
        let orders = &touched.orders;

        let mut out: Vec<(Channel, &'static str, Value)> = Vec::new();
        let mut commands = Vec::new();
        let replica = &self.replica;

        for (key, card) in &after.cards {
            let channel = self.station_channel(key.1);
            match before.cards.get(key) {
                None => out.push((channel, "card_added", to_value(card))),
                Some(old) if old != card => out.push((channel, "card_updated", to_value(card))),
                Some(_) => {}
            }
        }
        for key in before.on_station.difference(&after.on_station) {
            let order = replica.orders.get(&key.0);
            let bumped = order.is_some_and(|o| o.is_open());
            if let Some(old) = before.cards.get(key) {
                out.push((
                    self.station_channel(key.1),
                    if bumped {
                        "card_bumped"
                    } else {
                        "card_removed"
                    },
                    json!({"order_id": key.0, "number": old.number, "label": old.label}),
                ));
            }
            commands.extend(self.delivery.left_station(
                key.0,
                key.1,
                order.is_some_and(|o| o.unseen_at.contains(&key.1)),
                bumped,
            ));
        }
        for (station, counts) in &after.all_day {
            if before.all_day.get(station) != Some(counts) {
                out.push((
                    self.station_channel(*station),
                    "all_day_changed",
                    json!({"counts": to_value(counts)}),
                ));
            }
        }
        let expo = Channel::Expo;
        for (order_id, ticket) in &after.tickets {
            match before.tickets.get(order_id) {
                None => out.push((expo.clone(), "ticket_added", to_value(ticket))),
                Some(old) if old != ticket => {
                    out.push((expo.clone(), "ticket_updated", to_value(ticket)))
                }
                Some(_) => {}
            }
        }
        for (order_id, old) in &before.tickets {
            if !after.tickets.contains_key(order_id) {
                out.push((
                    expo.clone(),
                    "ticket_removed",
                    json!({"order_id": order_id, "number": old.number}),
                ));
            }
        }
        for (order_id, order) in &after.orders {
            if before.orders.get(order_id) != Some(order) {
                out.push((Channel::Order(*order_id), "order_changed", to_value(order)));
            }
        }
        let floor = Channel::Floor;
        for (table_id, table) in &after.tables {
            if before.tables.get(table_id) != Some(table) {
                out.push((floor.clone(), "table_changed", to_value(table)));
            }
        }
        for table_id in before.tables.keys() {
            if !after.tables.contains_key(table_id) {
                out.push((
                    floor.clone(),
                    "table_removed",
                    json!({"table_id": table_id}),
                ));
            }
        }
        for order_id in after.ready.difference(&before.ready) {
            if let Some(order) = replica.orders.get(order_id) {
                let notice = json!({
                    "order_id": order_id,
                    "number": order.number,
                    "label": view::order_label(replica, order),
                    "table_id": order.table_id,
                    "message": format!("Food ready: {}", view::order_label(replica, order)),
                });
                out.push((floor.clone(), "food_ready", notice.clone()));
                for channel in staff_channels(replica, order) {
                    out.push((channel, "food_ready", notice.clone()));
                }
            }
        }
        let alerts = Channel::Alerts;
        let devices = Channel::Devices;
        // Delivery alerts, from what changed in each order's unconfirmed stations: a raise,
        // a clear by a screen's `seen` or a bump, or an order closed with alerts open.
        let no_stations = Vec::new();
        for order_id in orders {
            let old = before.unseen.get(order_id).unwrap_or(&no_stations);
            let new = after.unseen.get(order_id).unwrap_or(&no_stations);
            let Some(order) = replica.orders.get(order_id) else {
                continue;
            };
            let changes = new
                .iter()
                .filter(|s| !old.contains(s))
                .map(|s| (*s, true))
                .chain(old.iter().filter(|s| !new.contains(s)).map(|s| (*s, false)));
            for (station_id, raised) in changes {
                let station = replica.stations.get(&station_id);
                let label = view::order_label(replica, order);
                let station_name = station.map_or("?", |s| s.name.as_str());
                let message = match (raised, order.is_open()) {
                    (true, _) => format!(
                        "{station_name} has not seen {label} (order #{})",
                        order.number
                    ),
                    (false, true) => format!(
                        "{station_name} has now seen {label} (order #{})",
                        order.number
                    ),
                    (false, false) => format!(
                        "order #{} ({label}) is {}",
                        order.number,
                        order.status.as_str()
                    ),
                };
                let alert = json!({
                    "order_id": order_id,
                    "number": order.number,
                    "label": label,
                    "station": station.map(|s| s.key.clone()),
                    "station_name": station_name,
                    "at": last.at,
                    "message": message,
                });
                let kind = if raised {
                    "delivery_alert"
                } else {
                    "delivery_alert_cleared"
                };
                out.push((alerts.clone(), kind, alert.clone()));
                out.push((expo.clone(), kind, alert.clone()));
                for channel in staff_channels(replica, order) {
                    out.push((channel, kind, alert.clone()));
                }
            }
        }
        for published in group {
            let event = &published.event;
            match event {
                Event::LinesFired {
                    order_id, line_ids, ..
                } => {
                    if let Some(order) = replica.orders.get(order_id) {
                        let fired_stations: BTreeSet<StationId> = order
                            .lines
                            .iter()
                            .filter(|l| line_ids.contains(&l.id))
                            .flat_map(|l| l.stations.iter().copied())
                            .collect();
                        let now = Instant::now();
                        for station in fired_stations {
                            self.delivery.fired(*order_id, station, seq, now);
                        }
                    }
                }
                Event::FoodSafetyAlertRaised { alert } => {
                    let alert = replica
                        .food_safety_alerts
                        .get(&alert.id)
                        .map_or(Value::Null, to_value);
                    out.push((alerts.clone(), "food_safety_alert", alert.clone()));
                    out.push((devices.clone(), "food_safety_alert", alert));
                }
                Event::FoodSafetyAlertRecovered { alert_id, .. }
                | Event::FoodSafetyAlertAcknowledged { alert_id, .. }
                | Event::FoodSafetyAlertResolved { alert_id, .. } => {
                    let alert = replica
                        .food_safety_alerts
                        .get(alert_id)
                        .map_or(Value::Null, to_value);
                    out.push((alerts.clone(), "food_safety_alert_changed", alert.clone()));
                    out.push((devices.clone(), "food_safety_alert_changed", alert));
                }
                Event::DeviceProvisioned { device } => {
                    out.push((
                        devices.clone(),
                        "device_provisioned",
                        device_value(replica, live, device.id),
                    ));
                }
                Event::DeviceUpdated { device_id, .. } => {
                    out.push((
                        devices.clone(),
                        "device_updated",
                        device_value(replica, live, *device_id),
                    ));
                }
                Event::DeviceEnabledChanged { device_id, .. } => {
                    out.push((
                        devices.clone(),
                        "device_enabled",
                        device_value(replica, live, *device_id),
                    ));
                }
                Event::DeviceRemoved { device_id } => {
                    live.forget_device(*device_id);
                    out.push((
                        devices.clone(),
                        "device_removed",
                        json!({"device_id": device_id}),
                    ));
                }
                Event::ScanRecorded { scan } => {
                    out.push((
                        devices.clone(),
                        "scan_recorded",
                        to_value(&ScanView::of(replica, scan)),
                    ));
                }
                Event::CoolingBatchStarted { batch } => {
                    out.push((
                        devices.clone(),
                        "cooling_started",
                        cooling_value(replica, batch.id),
                    ));
                }
                Event::CoolingProgressRecorded {
                    batch_id, progress, ..
                } => {
                    let kind = match progress {
                        CoolingProgress::Started { .. } => "cooling_clock_started",
                        CoolingProgress::StageMet { .. } => "cooling_stage_met",
                        CoolingProgress::Warning { .. } => "cooling_warning",
                        CoolingProgress::Failed { .. } => "cooling_failed",
                        CoolingProgress::Passed { .. } => "cooling_passed",
                    };
                    out.push((devices.clone(), kind, cooling_value(replica, *batch_id)));
                }
                Event::CoolingBatchStopped { batch_id, .. } => {
                    out.push((
                        devices.clone(),
                        "cooling_stopped",
                        cooling_value(replica, *batch_id),
                    ));
                }
                Event::TicketPickedUp {
                    order_id,
                    device_id,
                    ..
                } => {
                    if let Some(order) = replica.orders.get(order_id) {
                        let label = view::order_label(replica, order);
                        let notice = json!({
                            "order_id": order_id,
                            "number": order.number,
                            "ticket_code": order.ticket_code(),
                            "label": label,
                            "device_id": device_id,
                            "message": format!("Picked up: {label} ({})", order.ticket_code()),
                        });
                        out.push((expo.clone(), "ticket_picked_up", notice));
                    }
                }
                Event::ServiceRequested { table_id, .. }
                | Event::ServiceRequestAcknowledged { table_id, .. }
                | Event::ServiceRequestCancelled { table_id, .. } => {
                    let kind = match event {
                        Event::ServiceRequested { .. } => "service_requested",
                        Event::ServiceRequestAcknowledged { .. } => "service_acknowledged",
                        _ => "service_cancelled",
                    };
                    let notice = service_notice(replica, event, *table_id);
                    out.push((floor.clone(), kind, notice.clone()));
                    if let Some(channel) = table_staff_channel(replica, *table_id) {
                        out.push((channel, kind, notice));
                    }
                }
                Event::ItemAvailabilityChanged { item_id, available } => {
                    let name = replica.items.get(item_id).map(|i| i.name.clone());
                    out.push((
                        alerts.clone(),
                        "item_availability",
                        json!({"menu_item_id": item_id, "name": name, "available": available}),
                    ));
                }
                _ => {}
            }
            let entry = json!({
                "seq": published.seq,
                "at": published.at,
                "kind": event.kind(),
                "command_id": published.command_id,
                "staff_id": published.actor.staff_id,
                "device": published.actor.device,
                // Secret hashes are redacted by their type (`SecretHash`).
                "event": crate::domain::secret::redacted(|| to_value(event)),
            });
            self.audit_recent.push_back(entry.clone());
            while self.audit_recent.len() > AUDIT_KEPT {
                self.audit_recent.pop_front();
            }
            out.push((Channel::Audit, "journal_entry", entry));
            if matches!(
                event,
                Event::OrderClosed { .. } | Event::OrderCancelled { .. }
            ) && let Some(order_id) = event.order_id()
            {
                self.delivery.finished(order_id);
            }
        }
        let at = last.at;
        let frames: Vec<Frame> = out
            .into_iter()
            .filter(|(channel, _, _)| self.audience.contains_key(channel))
            .map(|(channel, kind, data)| {
                let prev = self
                    .last_on_channel
                    .insert(channel.clone(), seq)
                    .unwrap_or(0);
                let frame = json!({
                    "type": "event",
                    "channel": &channel,
                    "seq": seq,
                    "prev": prev,
                    "kind": kind,
                    "at": at,
                    "data": data,
                });
                Frame {
                    channel,
                    text: Utf8Bytes::from(frame.to_string()),
                }
            })
            .collect();
        self.frames_built += frames.len() as u64;
        for published in group {
            if let Event::OrderClosed { order_id, .. } | Event::OrderCancelled { order_id, .. } =
                &published.event
            {
                // The order's channel will not speak again; forget its pointer.
                self.last_on_channel.remove(&Channel::Order(*order_id));
            }
        }
        (
            FrameBatch {
                seq,
                frames,
                resync: false,
            },
            commands,
        )
    }

    fn snapshot(
        &self,
        channel: &Channel,
        station: Option<StationId>,
        live: &VenueLive,
    ) -> Result<Value, (ErrorCode, String)> {
        let venue = &self.replica;
        let delivery_alerts = |filter: &dyn Fn(&crate::domain::Order) -> bool| -> Vec<Value> {
            venue
                .open_orders()
                .filter(|o| filter(o))
                .flat_map(|o| {
                    o.unseen_at.iter().map(move |s| {
                        let station = venue.stations.get(s);
                        json!({
                            "order_id": o.id,
                            "number": o.number,
                            "label": view::order_label(venue, o),
                            "station": station.map(|s| s.key.clone()),
                            "station_name": station.map(|s| s.name.clone()),
                        })
                    })
                })
                .collect()
        };
        Ok(match channel {
            Channel::Kds(_) => {
                let station_id =
                    station.ok_or((ErrorCode::StationNotFound, "no such station".to_owned()))?;
                json!({
                    "station": venue.stations.get(&station_id),
                    "cards": self.index.station_cards(venue, station_id),
                    "all_day": self.index.all_day(station_id),
                    "recently_bumped": view::recently_bumped(venue, station_id),
                })
            }
            Channel::Expo => json!({
                "tickets": self.index.expo_tickets(venue),
                "delivery_alerts": delivery_alerts(&|_| true),
            }),
            Channel::Floor => to_value(&FloorView::indexed(venue, &self.index, self.seq)),
            Channel::Order(order_id) => to_value(&OrderView::find(venue, *order_id).ok_or((
                ErrorCode::OrderNotFound,
                format!("order {order_id} is not live in this venue"),
            ))?),
            Channel::Alerts => json!({
                "delivery_alerts": delivery_alerts(&|_| true),
                "food_safety": venue.food_safety_alerts.values().filter(|a| a.is_open()).collect::<Vec<_>>(),
                "sold_out": venue.items.values().filter(|i| i.active && !i.available)
                    .map(|i| json!({"menu_item_id": i.id, "name": i.name}))
                    .collect::<Vec<_>>(),
            }),
            Channel::Audit => json!({ "recent": self.audit_recent }),
            Channel::Devices => {
                let values = live.devices();
                let mut devices: Vec<&crate::domain::Device> = venue.devices.values().collect();
                devices.sort_by(|a, b| a.key.cmp(&b.key));
                let mut cooling: Vec<CoolingView> = venue
                    .cooling_batches
                    .values()
                    .filter(|b| b.is_active())
                    .map(|b| CoolingView::of(venue, b))
                    .collect();
                cooling.sort_by_key(|c| c.batch.started_at);
                json!({
                    "devices": devices.into_iter().map(|d| {
                        let mut value = to_value(&DeviceView::of(d));
                        value["live"] = values.get(&d.id).map_or(Value::Null, to_value);
                        value
                    }).collect::<Vec<_>>(),
                    "food_safety": venue.food_safety_alerts.values().filter(|a| a.is_open()).collect::<Vec<_>>(),
                    "cooling": cooling,
                })
            }
            Channel::Staff(staff_id) => {
                let channel = Channel::Staff(*staff_id);
                let mine = |o: &crate::domain::Order| staff_channels(venue, o).contains(&channel);
                json!({
                    "food_ready": venue.open_orders().filter(|o| mine(o) && view::expo_ticket(venue, o).ready && is_on_expo(o))
                        .map(|o| json!({"order_id": o.id, "number": o.number, "label": view::order_label(venue, o), "table_id": o.table_id}))
                        .collect::<Vec<_>>(),
                    "delivery_alerts": delivery_alerts(&mine),
                })
            }
        })
    }
}
