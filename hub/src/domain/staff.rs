//! Staff of a venue: who they are, their role, and the hashed secrets they log in with.
//! Hashing happens in the auth adapter; the domain only keeps and compares the results.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::secret::SecretHash;

use super::id::{StaffId, VenueId};

/// What a staff member may do. Ordered from most to least privileged is not implied:
/// permissions are listed per action in `auth::policy`.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Owner,
    Manager,
    Cashier,
    Waiter,
    Kitchen,
}

impl Role {
    pub const ALL: [Role; 5] = [
        Role::Owner,
        Role::Manager,
        Role::Cashier,
        Role::Waiter,
        Role::Kitchen,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Manager => "manager",
            Role::Cashier => "cashier",
            Role::Waiter => "waiter",
            Role::Kitchen => "kitchen",
        }
    }

    /// Owners and managers may override rules that protect the kitchen and the books
    /// (voiding cooked food, editing the menu and staff).
    pub fn is_manager(self) -> bool {
        matches!(self, Role::Owner | Role::Manager)
    }

    /// Whether this role may void a line the kitchen already started (`in_progress`,
    /// `ready`, `served`): the food is wasted, so a manager decides. This is the rule behind
    /// the `void_after_cooking` permission: the venue checks it on the void itself, and the
    /// auth policy grants the permission from it, so the two cannot disagree.
    pub fn may_void_after_cooking(self) -> bool {
        self.is_manager()
    }
}

/// The form in which usernames are compared and registered: ASCII case does not matter.
pub fn username_key(username: &str) -> String {
    username.to_ascii_lowercase()
}

/// A staff member. Secrets are stored only as hashes produced by the auth adapter:
/// `pin_lookup` is a keyed hash used to find the member by PIN, `pin_hash` and
/// `password_hash` are argon2 PHC strings used to verify.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Staff {
    pub id: StaffId,
    pub name: String,
    pub role: Role,
    pub active: bool,
    pub username: Option<String>,
    pub pin_lookup: Option<SecretHash>,
    pub pin_hash: Option<SecretHash>,
    pub password_hash: Option<SecretHash>,
    /// Other venues of the tenant this member works at too (owners reach every venue of
    /// their tenant without being given any). Given by an owner.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub venues: Vec<VenueId>,
}

/// What authorising a request needs to know of a staff member, as their venue stands now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Standing {
    pub active: bool,
    pub role: Role,
    /// The other venues they were given.
    pub venues: Vec<VenueId>,
}

impl Staff {
    pub fn standing(&self) -> Standing {
        Standing {
            active: self.active,
            role: self.role,
            venues: self.venues.clone(),
        }
    }
}
