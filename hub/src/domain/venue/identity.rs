//! The venue's identity: `CreateVenue` (once, before anything else) and the `VenueInfo` it
//! records. Reports count days in the venue's timezone, so an unknown zone is refused.

use serde::{Deserialize, Serialize};

use super::{
    Decision, Venue,
    validation::{MAX_NAME, trim_text, validate_slug, validate_text},
};
use crate::domain::{
    event::Event,
    id::{TenantId, VenueId},
    rejection::Rejection,
};

/// Identity of a venue, set once by `VenueCreated`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VenueInfo {
    pub id: VenueId,
    pub tenant_id: TenantId,
    pub slug: String,
    pub name: String,
    pub timezone: String,
    pub currency: String,
}

impl Venue {
    pub(super) fn decide_create_venue(
        &self,
        venue_id: VenueId,
        tenant_id: TenantId,
        slug: &str,
        name: &str,
        timezone: &str,
        currency: &str,
    ) -> Decision {
        if self.info.is_some() {
            return Err(Rejection::conflict(
                "venue_exists",
                "the venue already exists",
            ));
        }
        validate_slug("slug", slug)?;
        validate_text("name", name, MAX_NAME)?;
        validate_text("timezone", timezone, 64)?;
        // Reports count days in this zone; a name no one knows would count them in UTC.
        if timezone.trim().parse::<chrono_tz::Tz>().is_err() {
            return Err(Rejection::invalid(
                "invalid_timezone",
                "timezone",
                format!("{timezone:?} is not an IANA timezone such as Asia/Jakarta"),
            ));
        }
        if currency.len() != 3 || !currency.chars().all(|c| c.is_ascii_uppercase()) {
            return Err(Rejection::invalid(
                "invalid_currency",
                "currency",
                "currency must be an ISO 4217 code such as IDR",
            ));
        }
        Ok(vec![Event::VenueCreated {
            venue_id,
            tenant_id,
            slug: slug.to_owned(),
            name: trim_text(name).to_owned(),
            timezone: timezone.to_owned(),
            currency: currency.to_owned(),
        }])
    }

    pub(super) fn apply_venue_created(
        &mut self,
        venue_id: VenueId,
        tenant_id: TenantId,
        slug: &str,
        name: &str,
        timezone: &str,
        currency: &str,
    ) {
        self.info = Some(VenueInfo {
            id: venue_id,
            tenant_id,
            slug: slug.to_owned(),
            name: name.to_owned(),
            timezone: timezone.to_owned(),
            currency: currency.to_owned(),
        });
        self.next_order_number = self.next_order_number.max(1);
    }
}
