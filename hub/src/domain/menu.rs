//! The menu a venue sells and the kitchen stations that prepare it: categories, items with
//! prices in minor units, tax category, routing, allergens, and modifier groups.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::id::{CategoryId, MenuItemId, ModifierGroupId, ModifierId, StationId};

/// A kitchen station (grill, fry, cold, bar, pastry...). `key` names its screen channel.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Station {
    pub id: StationId,
    /// Short lowercase name used in channel names, e.g. `grill` for `kds:grill`: 1-40 of
    /// `a-z 0-9 - _`, unique in the venue.
    #[schema(min_length = 1, max_length = 40, pattern = "^[a-z0-9_-]+$")]
    pub key: String,
    #[schema(min_length = 1, max_length = 120, pattern = r"\S")]
    pub name: String,
    #[serde(default = "yes")]
    pub active: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Category {
    pub id: CategoryId,
    #[schema(min_length = 1, max_length = 120, pattern = r"\S")]
    pub name: String,
    #[serde(default)]
    pub sort: i32,
}

/// Which Indonesian tax applies to an item; billing computes the amounts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TaxCategory {
    /// Regional restaurant tax (Pajak Barang dan Jasa Tertentu), typically 10% on food and drink.
    #[default]
    Pb1,
    /// National VAT, for goods outside the PB1 regime (e.g. packaged retail goods).
    Ppn,
    /// No tax.
    Exempt,
}

/// One choice inside a modifier group, with the price it adds (may be negative).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ModifierOption {
    pub id: ModifierId,
    #[schema(min_length = 1, max_length = 120, pattern = r"\S")]
    pub name: String,
    #[serde(default)]
    pub price_delta: i64,
}

/// A set of options of which a line must pick between `min_choices` and `max_choices`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ModifierGroup {
    pub id: ModifierGroupId,
    #[schema(min_length = 1, max_length = 120, pattern = r"\S")]
    pub name: String,
    /// At most `max_choices`.
    #[serde(default)]
    #[schema(maximum = 255)]
    pub min_choices: u8,
    /// At least 1 and at most the number of options.
    #[schema(minimum = 1, maximum = 255)]
    pub max_choices: u8,
    /// Option ids are unique in the group.
    #[schema(min_items = 1)]
    pub options: Vec<ModifierOption>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct MenuItem {
    pub id: MenuItemId,
    pub category_id: CategoryId,
    #[schema(min_length = 1, max_length = 120, pattern = r"\S")]
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    /// Price in minor units of the venue currency.
    #[schema(minimum = 0)]
    pub price: i64,
    #[serde(default)]
    pub tax_category: TaxCategory,
    /// Stations that prepare this item; a line is ready when every one of them is.
    #[schema(min_items = 1)]
    pub stations: Vec<StationId>,
    /// Expected preparation time, for screens' timers and speed-of-service targets.
    #[serde(default)]
    #[schema(maximum = 65535)]
    pub prep_minutes: u16,
    #[serde(default)]
    pub allergens: Vec<String>,
    /// Course a line of this item joins unless the order says otherwise (1 = first).
    #[serde(default = "first_course")]
    #[schema(minimum = 1, maximum = 9, default = 1)]
    pub default_course: u8,
    #[serde(default)]
    pub modifier_groups: Vec<ModifierGroupId>,
    /// False while the item is 86'd (sold out): new lines are refused.
    #[serde(default = "yes")]
    pub available: bool,
    /// False once the item is retired from the menu.
    #[serde(default = "yes")]
    pub active: bool,
    #[serde(default)]
    pub sort: i32,
}

fn yes() -> bool {
    true
}

fn first_course() -> u8 {
    1
}
