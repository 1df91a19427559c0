//! The WebSocket protocol's frames (JSON text, `type`-tagged) and channel names. This file
//! is the contract screen makers build against; `docs/websocket.md` describes it in prose.

use serde::Deserialize;
use uuid::Uuid;

use crate::{
    auth::Permission,
    domain::{LineId, OrderId, Role, StaffId, TableId},
};

/// Frames a client sends.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ClientFrame {
    /// First frame when the token was not given in `Sec-WebSocket-Protocol`.
    Hello {
        token: String,
        #[serde(default)]
        device: Option<String>,
    },
    /// Opens a channel; `since` is the last `seq` applied on it (resume), or null.
    Subscribe {
        channel: String,
        #[serde(default)]
        since: Option<u64>,
    },
    Unsubscribe {
        channel: String,
    },
    /// An action; `id` is a UUID and makes it idempotent like an HTTP `command_id`.
    Command {
        id: Uuid,
        command: ScreenCommand,
    },
    /// The highest `seq` this screen has rendered (delivery acknowledgement).
    Seen {
        seq: u64,
    },
    /// Answer to `ping`.
    Pong {
        #[serde(default)]
        seq: Option<u64>,
    },
}

/// What kitchen, expo and floor screens do. Stations are named by key (`grill`).
#[derive(Clone, Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ScreenCommand {
    /// Start cooking the station's fired lines of an order.
    StartTicket {
        order_id: OrderId,
        station: String,
    },
    /// The station's part of the order is done.
    BumpTicket {
        order_id: OrderId,
        station: String,
    },
    /// One line is done at the station.
    BumpLine {
        order_id: OrderId,
        line_id: LineId,
        station: String,
    },
    /// Bring back the ticket this station bumped last.
    RecallLast {
        station: String,
    },
    RecallTicket {
        order_id: OrderId,
        station: String,
    },
    /// Expo: everything ready went out to the guest.
    ServeReady {
        order_id: OrderId,
    },
    /// Waiter or expo: these ready lines were served.
    MarkServed {
        order_id: OrderId,
        line_ids: Vec<LineId>,
    },
    /// Floor: a server saw a table's call for service and is on the way.
    AcknowledgeService {
        table_id: TableId,
    },
}

impl ScreenCommand {
    /// The permission each command needs. No wildcard: a new command must say which.
    pub fn permission(&self) -> Permission {
        match self {
            ScreenCommand::ServeReady { .. } | ScreenCommand::MarkServed { .. } => {
                Permission::ServeLines
            }
            ScreenCommand::AcknowledgeService { .. } => Permission::TakeOrders,
            ScreenCommand::StartTicket { .. }
            | ScreenCommand::BumpTicket { .. }
            | ScreenCommand::BumpLine { .. }
            | ScreenCommand::RecallLast { .. }
            | ScreenCommand::RecallTicket { .. } => Permission::KitchenWork,
        }
    }
}

/// A channel a client may open.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Channel {
    /// Cards routed to one station, by station key.
    Kds(String),
    /// Whole tickets across stations, with readiness.
    Expo,
    /// Tables and their live state.
    Floor,
    /// One order.
    Order(OrderId),
    /// Service alerts: delivery (unseen tickets), 86'd items.
    Alerts,
    /// The raw journal, for managers.
    Audit,
    /// Messages for one staff member (food ready at their tables, unseen tickets, calls
    /// for service at their tables).
    Staff(StaffId),
    /// Kitchen devices with their live values, food-safety alerts, scans, cooling batches.
    Devices,
}

impl Channel {
    /// Parses a channel name; `me` is the caller's own staff channel.
    pub fn parse(name: &str, me: StaffId) -> Option<Channel> {
        let channel = match name {
            "expo" => Channel::Expo,
            "floor" => Channel::Floor,
            "alerts" => Channel::Alerts,
            "audit" => Channel::Audit,
            "devices" => Channel::Devices,
            "me" => Channel::Staff(me),
            _ => {
                let (kind, rest) = name.split_once(':')?;
                match kind {
                    "kds" if !rest.is_empty() => Channel::Kds(rest.to_owned()),
                    "order" => Channel::Order(OrderId(rest.parse().ok()?)),
                    "staff" => Channel::Staff(StaffId(rest.parse().ok()?)),
                    _ => return None,
                }
            }
        };
        Some(channel)
    }

    /// The channel's wire name (`kds:grill`, `order:<id>`, `expo`, ...).
    pub fn name(&self) -> String {
        self.to_string()
    }

    /// Whether a role may open this channel.
    pub fn allows(&self, role: Role, me: StaffId) -> bool {
        let kitchen_side = matches!(role, Role::Kitchen | Role::Manager | Role::Owner);
        match self {
            Channel::Kds(_) | Channel::Expo | Channel::Devices => kitchen_side,
            Channel::Floor | Channel::Order(_) | Channel::Alerts => true,
            Channel::Audit => role.is_manager(),
            Channel::Staff(id) => *id == me || role.is_manager(),
        }
    }
}

impl std::fmt::Display for Channel {
    /// The wire spelling, the inverse of [`Channel::parse`].
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Channel::Kds(key) => write!(f, "kds:{key}"),
            Channel::Expo => f.write_str("expo"),
            Channel::Floor => f.write_str("floor"),
            Channel::Order(id) => write!(f, "order:{id}"),
            Channel::Alerts => f.write_str("alerts"),
            Channel::Audit => f.write_str("audit"),
            Channel::Staff(id) => write!(f, "staff:{id}"),
            Channel::Devices => f.write_str(super::live::DEVICES_CHANNEL),
        }
    }
}

/// A channel travels in frames as its wire name.
impl serde::Serialize for Channel {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// WebSocket close codes the hub uses (4000-4999 are for applications).
pub mod close {
    /// No valid token (missing, expired, wrong kind, unknown venue).
    pub const UNAUTHORIZED: u16 = 4401;
    /// The client did not say hello in time or missed heartbeats.
    pub const TIMEOUT: u16 = 4408;
    /// The client could not keep up even after being told to resync.
    pub const TOO_SLOW: u16 = 4409;
    /// The client kept flooding after being rate limited.
    pub const FLOODING: u16 = 4429;
    /// The hub is stopping.
    pub const GOING_AWAY: u16 = 1001;
}
