//! Staff of the venue: adding and updating members, their PIN and password, the other
//! venues an owner gives them, and the lookups login uses. Only an owner (or the system)
//! creates, changes or promotes to an owner, and no two members share a PIN.

use super::{
    Decision, Venue,
    validation::{MAX_NAME, trim_text, validate_text},
};
use crate::domain::{
    Actor, SecretHash,
    event::Event,
    id::{StaffId, VenueId},
    rejection::{Rejection, RejectionCode},
    staff::{Role, Staff},
};

/// Most other venues one staff member can be given: a chain's managers cover a region, not
/// the whole country.
const MAX_GIVEN_VENUES: usize = 64;

impl Venue {
    pub fn staff_by_pin_lookup(&self, lookup: &str) -> Option<&Staff> {
        self.staff
            .values()
            .find(|staff| staff.active && staff.pin_lookup.as_deref() == Some(lookup))
    }

    /// Whether any staff member, active or not, holds this PIN: a deactivated member may be
    /// reactivated, and two people must never share a PIN.
    fn pin_in_use(&self, lookup: &str, except: Option<StaffId>) -> bool {
        self.staff
            .values()
            .any(|staff| Some(staff.id) != except && staff.pin_lookup.as_deref() == Some(lookup))
    }

    pub fn staff_by_username(&self, username: &str) -> Option<&Staff> {
        self.staff.values().find(|staff| {
            staff
                .username
                .as_deref()
                .is_some_and(|name| name.eq_ignore_ascii_case(username))
        })
    }

    pub(super) fn active_staff(&self, id: StaffId, field: &str) -> Result<&Staff, Rejection> {
        match self.staff.get(&id) {
            Some(staff) if staff.active => Ok(staff),
            _ => Err(Rejection::not_found(
                RejectionCode::StaffNotFound,
                format!("staff member {id}"),
            )
            .within(field)),
        }
    }

    fn known_staff(&self, id: StaffId) -> Result<&Staff, Rejection> {
        self.staff.get(&id).ok_or_else(|| {
            Rejection::not_found(RejectionCode::StaffNotFound, format!("staff member {id}"))
        })
    }

    #[expect(
        clippy::too_many_arguments,
        reason = "one argument per field of the command it decides"
    )]
    pub(super) fn decide_add_staff(
        &self,
        staff_id: StaffId,
        name: &str,
        role: Role,
        username: Option<&str>,
        pin_lookup: Option<&str>,
        pin_hash: Option<&str>,
        password_hash: Option<&str>,
        actor: &Actor,
    ) -> Decision {
        if self.staff.contains_key(&staff_id) {
            return Err(Rejection::conflict(
                RejectionCode::StaffExists,
                "this staff id is taken",
            ));
        }
        validate_text("name", name, MAX_NAME)?;
        guard_owner_role(actor, role)?;
        let has_pin = pin_lookup.is_some() && pin_hash.is_some();
        let has_password = username.is_some() && password_hash.is_some();
        if !has_pin && !has_password {
            return Err(Rejection::invalid(
                RejectionCode::MissingCredentials,
                "pin",
                "a staff member needs a PIN or a username and password",
            ));
        }
        if let Some(username) = username {
            validate_text("username", username, 64)?;
            if self.staff_by_username(username).is_some() {
                return Err(Rejection::conflict(
                    RejectionCode::UsernameTaken,
                    format!("username {username:?} is taken"),
                ));
            }
        }
        if let Some(lookup) = pin_lookup
            && self.pin_in_use(lookup, None)
        {
            return Err(Rejection::conflict(
                RejectionCode::PinTaken,
                "another staff member of this venue uses that PIN",
            ));
        }
        Ok(vec![Event::StaffAdded {
            staff: Staff {
                id: staff_id,
                name: trim_text(name).to_owned(),
                role,
                active: true,
                username: username.map(str::to_owned),
                pin_lookup: pin_lookup.map(SecretHash::from),
                pin_hash: pin_hash.map(SecretHash::from),
                password_hash: password_hash.map(SecretHash::from),
                venues: Vec::new(),
            },
        }])
    }

    pub(super) fn decide_update_staff(
        &self,
        staff_id: StaffId,
        name: Option<&str>,
        role: Option<Role>,
        active: Option<bool>,
        actor: &Actor,
    ) -> Decision {
        let staff = self.known_staff(staff_id)?;
        if let Some(name) = name {
            validate_text("name", name, MAX_NAME)?;
        }
        guard_owner_role(actor, staff.role)?;
        if let Some(role) = role {
            guard_owner_role(actor, role)?;
        }
        Ok(vec![Event::StaffUpdated {
            staff_id,
            name: name.map_or_else(|| staff.name.clone(), |n| trim_text(n).to_owned()),
            role: role.unwrap_or(staff.role),
            active: active.unwrap_or(staff.active),
        }])
    }

    pub(super) fn decide_set_staff_pin(
        &self,
        staff_id: StaffId,
        pin_lookup: &str,
        pin_hash: &str,
        actor: &Actor,
    ) -> Decision {
        let staff = self.known_staff(staff_id)?;
        guard_owner_role(actor, staff.role)?;
        if self.pin_in_use(pin_lookup, Some(staff_id)) {
            return Err(Rejection::conflict(
                RejectionCode::PinTaken,
                "another staff member of this venue uses that PIN",
            ));
        }
        Ok(vec![Event::StaffPinChanged {
            staff_id,
            pin_lookup: pin_lookup.into(),
            pin_hash: pin_hash.into(),
        }])
    }

    pub(super) fn decide_set_staff_password(
        &self,
        staff_id: StaffId,
        password_hash: &str,
        actor: &Actor,
    ) -> Decision {
        let staff = self.known_staff(staff_id)?;
        guard_owner_role(actor, staff.role)?;
        if staff.username.is_none() {
            return Err(Rejection::conflict(
                RejectionCode::NoUsername,
                "this staff member logs in by PIN only",
            ));
        }
        Ok(vec![Event::StaffPasswordChanged {
            staff_id,
            password_hash: password_hash.into(),
        }])
    }

    /// Only an owner gives staff other venues, and only of venues other than this one (the
    /// adapter has checked they belong to the same tenant). The list is kept sorted and
    /// without repeats.
    pub(super) fn decide_give_staff_venues(
        &self,
        staff_id: StaffId,
        venues: &[VenueId],
        actor: &Actor,
    ) -> Decision {
        if actor.role.is_some_and(|role| role != Role::Owner) {
            return Err(Rejection::forbidden(
                RejectionCode::OwnerOnly,
                "only an owner gives staff other venues",
            ));
        }
        if !self.staff.contains_key(&staff_id) {
            return Err(Rejection::not_found(
                RejectionCode::StaffNotFound,
                format!("staff member {staff_id}"),
            ));
        }
        let home = self.info.as_ref().map(|info| info.id);
        if venues.iter().any(|venue| Some(*venue) == home) {
            return Err(Rejection::invalid(
                RejectionCode::OwnVenue,
                "venues",
                "a staff member already works at their own venue",
            ));
        }
        let mut given = venues.to_vec();
        given.sort();
        given.dedup();
        if given.len() > MAX_GIVEN_VENUES {
            return Err(Rejection::invalid(
                RejectionCode::TooManyVenues,
                "venues",
                format!("at most {MAX_GIVEN_VENUES} other venues"),
            ));
        }
        // Recorded even when unchanged: who confirmed which venues belongs in the audit trail.
        Ok(vec![Event::StaffVenuesGiven {
            staff_id,
            venues: given,
        }])
    }

    pub(super) fn apply_staff_added(&mut self, staff: &Staff) {
        self.staff.insert(staff.id, staff.clone());
    }

    pub(super) fn apply_staff_updated(
        &mut self,
        staff_id: StaffId,
        name: &str,
        role: Role,
        active: bool,
    ) {
        if let Some(staff) = self.staff.get_mut(&staff_id) {
            name.clone_into(&mut staff.name);
            staff.role = role;
            staff.active = active;
        }
    }

    pub(super) fn apply_staff_pin_changed(
        &mut self,
        staff_id: StaffId,
        pin_lookup: &str,
        pin_hash: &str,
    ) {
        if let Some(staff) = self.staff.get_mut(&staff_id) {
            staff.pin_lookup = Some(pin_lookup.into());
            staff.pin_hash = Some(pin_hash.into());
        }
    }

    pub(super) fn apply_staff_password_changed(&mut self, staff_id: StaffId, password_hash: &str) {
        if let Some(staff) = self.staff.get_mut(&staff_id) {
            staff.password_hash = Some(password_hash.into());
        }
    }

    pub(super) fn apply_staff_venues_given(&mut self, staff_id: StaffId, venues: &[VenueId]) {
        if let Some(staff) = self.staff.get_mut(&staff_id) {
            venues.clone_into(&mut staff.venues);
        }
    }
}

/// Only an owner (or the system) may create, change or promote to an owner.
fn guard_owner_role(actor: &Actor, role: Role) -> Result<(), Rejection> {
    if role == Role::Owner && actor.role.is_some_and(|r| r != Role::Owner) {
        return Err(Rejection::forbidden(
            RejectionCode::OwnerOnly,
            "only an owner can manage owners",
        ));
    }
    Ok(())
}
