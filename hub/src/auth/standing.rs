//! The caller as the venues stand now: a verified token says who someone was when it was
//! issued; [`authorize`] checks it against the staff roster the engine keeps, so a
//! deactivated member is refused at once, a role change applies without waiting for a new
//! token, and a token for a venue other than the member's own holds only while they may
//! still act there. REST requests and WebSockets both call it; it never waits on a venue
//! actor or on a screen projection.

use super::{AuthError, Claims, reaches};
use crate::engine::Engine;

/// Brings `claims.role` up to date with the member's standing in their home venue and
/// checks they may still act in the token's venue.
pub fn authorize(engine: &Engine, claims: &mut Claims) -> Result<(), AuthError> {
    let home = claims.home_venue();
    let given = match engine.venue(home) {
        Some(venue) => match venue.staff_standing(claims.sub) {
            Some(standing) if standing.active => {
                claims.role = standing.role;
                Some(standing.venues)
            }
            Some(_) => return Err(AuthError::StaffInactive),
            // A venue with no staff yet (just created) knows nobody: the token's word stands.
            None if !venue.has_staff() => None,
            None => return Err(AuthError::StaffInactive),
        },
        // The member's venue is not served by this hub: the token's word stands.
        None => None,
    };
    if claims.venue == home {
        return Ok(());
    }
    let venue_tenant = engine
        .venue(claims.venue)
        .map(|venue| venue.tenant())
        .ok_or(AuthError::InvalidToken)?;
    // Home venue not served here: only an owner's reach follows from the token alone.
    let given = given.unwrap_or_default();
    if reaches(
        claims.role,
        &given,
        claims.tenant,
        claims.venue,
        venue_tenant,
    ) {
        Ok(())
    } else {
        Err(AuthError::VenueNotAllowed)
    }
}
