//! Who may do what: the [`Permission`]s the hub checks and the one table, [`allows`],
//! that grants them to each [`Role`]. Adapters ask it before calling the engine; it knows
//! nothing of requests, tokens or venues.

use serde::{Deserialize, Serialize};

use super::AuthError;
use crate::domain::{Role, TenantId, VenueId};

/// Something a staff member may be allowed to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Permission {
    /// See tables, areas and who is seated where.
    ViewFloor,
    ViewMenu,
    ViewOrders,
    /// Open orders, add lines, fire courses, seat/move/merge/split tables, request the bill.
    TakeOrders,
    /// Mark ready lines as served at the table.
    ServeLines,
    /// Start and finish lines on the kitchen screen or bump bar.
    KitchenWork,
    /// Void a line the kitchen has not started: nothing is wasted.
    VoidBeforeCooking,
    /// Void a line already cooked: food is wasted, so a manager decides.
    VoidAfterCooking,
    /// Take payment and close an order.
    CloseOrders,
    /// Cancel a whole order.
    CancelOrders,
    /// Mark a table clean and free again.
    CleanTables,
    /// Mark a menu item sold out (86) or back: the kitchen is who runs out.
    MarkItemAvailability,
    /// Change the menu, items, prices and stations.
    EditMenu,
    /// Change areas and the table layout.
    EditFloor,
    /// Add, change and deactivate staff.
    ManageStaff,
    /// Provision kitchen devices, rotate their secrets, disable and remove them.
    ManageDevices,
    /// Read the audit trail (the event journal).
    ReadAudit,
    ViewMetrics,
    /// Read probe temperature histories and the daily food-safety report (HACCP record).
    ReadTemperatures,
    /// Add venues to the tenant and give staff other venues of it: the owner's call.
    ManageVenues,
}

impl Permission {
    pub const ALL: [Permission; 20] = [
        Permission::ViewFloor,
        Permission::ViewMenu,
        Permission::ViewOrders,
        Permission::TakeOrders,
        Permission::ServeLines,
        Permission::KitchenWork,
        Permission::VoidBeforeCooking,
        Permission::VoidAfterCooking,
        Permission::CloseOrders,
        Permission::CancelOrders,
        Permission::CleanTables,
        Permission::MarkItemAvailability,
        Permission::EditMenu,
        Permission::EditFloor,
        Permission::ManageStaff,
        Permission::ManageDevices,
        Permission::ReadAudit,
        Permission::ViewMetrics,
        Permission::ReadTemperatures,
        Permission::ManageVenues,
    ];

    /// Phrase for error messages: "your role may not ...".
    pub fn describe(self) -> &'static str {
        match self {
            Permission::ViewFloor => "view the floor",
            Permission::ViewMenu => "view the menu",
            Permission::ViewOrders => "view orders",
            Permission::TakeOrders => "take orders",
            Permission::ServeLines => "serve lines",
            Permission::KitchenWork => "do kitchen work",
            Permission::VoidBeforeCooking => "void lines",
            Permission::VoidAfterCooking => "void cooked lines",
            Permission::CloseOrders => "close orders",
            Permission::CancelOrders => "cancel orders",
            Permission::CleanTables => "clean tables",
            Permission::MarkItemAvailability => "mark items sold out or available",
            Permission::EditMenu => "edit the menu",
            Permission::EditFloor => "edit the floor plan",
            Permission::ManageStaff => "manage staff",
            Permission::ManageDevices => "manage devices",
            Permission::ReadAudit => "read the audit trail",
            Permission::ViewMetrics => "view metrics",
            Permission::ReadTemperatures => "read temperature records",
            Permission::ManageVenues => "manage the tenant's venues",
        }
    }
}

/// Whether `role` has `permission`. The whole policy is this table.
pub fn allows(role: Role, permission: Permission) -> bool {
    use Permission::*;
    // The venue checks this one on the void itself (only then is it known whether cooking
    // started); the table grants it from the same domain rule.
    if permission == VoidAfterCooking {
        return role.may_void_after_cooking();
    }
    match role {
        Role::Owner => true,
        Role::Manager => permission != ManageVenues,
        Role::Cashier => matches!(
            permission,
            ViewFloor
                | ViewMenu
                | ViewOrders
                | TakeOrders
                | ServeLines
                | VoidBeforeCooking
                | CloseOrders
                | CancelOrders
                | CleanTables
        ),
        Role::Waiter => matches!(
            permission,
            ViewFloor
                | ViewMenu
                | ViewOrders
                | TakeOrders
                | ServeLines
                | VoidBeforeCooking
                | CleanTables
        ),
        // The expeditor at the pass is kitchen staff: it marks tickets picked up (served).
        // The kitchen keeps the temperature log, so it reads temperatures and the report.
        Role::Kitchen => matches!(
            permission,
            ViewFloor
                | ViewMenu
                | ViewOrders
                | ServeLines
                | KitchenWork
                | MarkItemAvailability
                | ReadTemperatures
        ),
    }
}

/// [`allows`] as a `Result`, for `?` in adapters.
pub fn require(role: Role, permission: Permission) -> Result<(), AuthError> {
    if allows(role, permission) {
        Ok(())
    } else {
        Err(AuthError::Forbidden(permission))
    }
}

/// Whether a staff member whose own venue belongs to `tenant` may act at `venue` of
/// `venue_tenant`: an owner reaches every venue of their tenant; anyone else only their own
/// venue and the ones an owner gave them (`given`).
pub fn reaches(
    role: Role,
    given: &[VenueId],
    tenant: TenantId,
    venue: VenueId,
    venue_tenant: TenantId,
) -> bool {
    tenant == venue_tenant && (role == Role::Owner || given.contains(&venue))
}

/// Everything `role` may do, for a client deciding which buttons to show.
pub fn permissions(role: Role) -> Vec<Permission> {
    Permission::ALL
        .into_iter()
        .filter(|p| allows(role, *p))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use Permission::*;

    #[test]
    fn owners_may_do_everything_and_managers_all_but_the_tenants_venues() {
        for permission in Permission::ALL {
            assert!(allows(Role::Owner, permission), "{permission:?}");
            assert_eq!(
                allows(Role::Manager, permission),
                permission != ManageVenues,
                "{permission:?}"
            );
        }
    }

    #[test]
    fn an_owner_reaches_every_venue_of_their_tenant_and_no_other() {
        let (tenant, other) = (
            TenantId(uuid::Uuid::from_u128(1)),
            TenantId(uuid::Uuid::from_u128(2)),
        );
        let venue = VenueId(uuid::Uuid::from_u128(3));
        assert!(reaches(Role::Owner, &[], tenant, venue, tenant));
        assert!(!reaches(Role::Owner, &[], tenant, venue, other));
    }

    #[test]
    fn anyone_else_reaches_only_the_venues_they_were_given() {
        let tenant = TenantId(uuid::Uuid::from_u128(1));
        let (given, not_given) = (
            VenueId(uuid::Uuid::from_u128(3)),
            VenueId(uuid::Uuid::from_u128(4)),
        );
        for role in [Role::Manager, Role::Cashier, Role::Waiter, Role::Kitchen] {
            assert!(reaches(role, &[given], tenant, given, tenant), "{role:?}");
            assert!(
                !reaches(role, &[given], tenant, not_given, tenant),
                "{role:?}"
            );
            // A venue given by mistake across tenants still does not open.
            assert!(!reaches(
                role,
                &[given],
                tenant,
                given,
                TenantId(uuid::Uuid::from_u128(9))
            ));
        }
    }

    #[test]
    fn everyone_can_see_the_floor_the_menu_and_the_orders() {
        for role in Role::ALL {
            for permission in [ViewFloor, ViewMenu, ViewOrders] {
                assert!(allows(role, permission), "{role:?} {permission:?}");
            }
        }
    }

    #[test]
    fn the_kitchen_cannot_void_anything() {
        assert!(!allows(Role::Kitchen, VoidBeforeCooking));
        assert!(!allows(Role::Kitchen, VoidAfterCooking));
    }

    #[test]
    fn the_kitchen_can_86_an_item_but_not_edit_the_menu() {
        assert!(allows(Role::Kitchen, MarkItemAvailability));
        assert!(!allows(Role::Kitchen, EditMenu));
    }

    #[test]
    fn a_waiter_cannot_edit_the_menu_or_86_an_item() {
        assert!(!allows(Role::Waiter, EditMenu));
        assert!(!allows(Role::Waiter, MarkItemAvailability));
    }

    #[test]
    fn only_the_kitchen_and_managers_do_kitchen_work() {
        assert!(allows(Role::Kitchen, KitchenWork));
        assert!(!allows(Role::Waiter, KitchenWork));
        assert!(!allows(Role::Cashier, KitchenWork));
    }

    #[test]
    fn the_kitchen_does_not_take_or_close_orders() {
        for permission in [TakeOrders, CloseOrders, CancelOrders, CleanTables] {
            assert!(!allows(Role::Kitchen, permission), "{permission:?}");
        }
    }

    #[test]
    fn waiters_and_cashiers_take_orders_and_void_uncooked_lines_only() {
        for role in [Role::Waiter, Role::Cashier] {
            assert!(allows(role, TakeOrders));
            assert!(allows(role, ServeLines));
            assert!(allows(role, CleanTables));
            assert!(allows(role, VoidBeforeCooking));
            assert!(!allows(role, VoidAfterCooking), "{role:?}");
        }
    }

    #[test]
    fn a_cashier_closes_and_cancels_orders_but_a_waiter_does_not() {
        assert!(allows(Role::Cashier, CloseOrders));
        assert!(allows(Role::Cashier, CancelOrders));
        assert!(!allows(Role::Waiter, CloseOrders));
        assert!(!allows(Role::Waiter, CancelOrders));
    }

    #[test]
    fn only_managers_edit_the_floor_manage_staff_read_audit_and_metrics() {
        for role in [Role::Cashier, Role::Waiter, Role::Kitchen] {
            for permission in [
                EditMenu,
                EditFloor,
                ManageStaff,
                ManageDevices,
                ReadAudit,
                ViewMetrics,
            ] {
                assert!(!allows(role, permission), "{role:?} {permission:?}");
            }
        }
    }

    #[test]
    fn only_the_kitchen_and_managers_read_temperature_records() {
        assert!(allows(Role::Kitchen, ReadTemperatures));
        assert!(!allows(Role::Waiter, ReadTemperatures));
        assert!(!allows(Role::Cashier, ReadTemperatures));
    }

    #[test]
    fn require_names_the_missing_permission() {
        assert!(require(Role::Waiter, TakeOrders).is_ok());
        let err = require(Role::Kitchen, VoidBeforeCooking).unwrap_err();
        assert_eq!(err.code(), "forbidden");
        assert_eq!(err.to_string(), "your role may not void lines");
    }

    #[test]
    fn permissions_lists_exactly_what_allows_grants() {
        assert_eq!(
            permissions(Role::Kitchen),
            vec![
                ViewFloor,
                ViewMenu,
                ViewOrders,
                ServeLines,
                KitchenWork,
                MarkItemAvailability,
                ReadTemperatures
            ]
        );
        assert_eq!(permissions(Role::Owner).len(), Permission::ALL.len());
    }
}
