//! The menu and the kitchen's stations: stations (their keys are unique), categories,
//! modifier groups, items (each prepared by known stations, with known modifier groups)
//! and availability (86).

use std::collections::BTreeSet;

use super::{
    Decision, Venue,
    validation::{MAX_NAME, validate_course, validate_slug, validate_text},
};
use crate::domain::{
    event::Event,
    id::{MenuItemId, StationId},
    menu::{Category, MenuItem, ModifierGroup, Station},
    rejection::Rejection,
};

impl Venue {
    pub(super) fn station(&self, id: StationId) -> Result<&Station, Rejection> {
        self.stations.get(&id).ok_or_else(|| {
            Rejection::not_found("station_not_found", format!("station {id}")).within("station_id")
        })
    }

    pub(super) fn decide_save_station(&self, station: &Station) -> Decision {
        validate_slug("key", &station.key)?;
        validate_text("name", &station.name, MAX_NAME)?;
        if self
            .stations
            .values()
            .any(|s| s.id != station.id && s.key == station.key)
        {
            return Err(Rejection::conflict(
                "station_key_taken",
                format!("another station uses the key {:?}", station.key),
            ));
        }
        Ok(vec![Event::StationSaved {
            station: station.clone(),
        }])
    }

    pub(super) fn decide_save_category(&self, category: &Category) -> Decision {
        validate_text("name", &category.name, MAX_NAME)?;
        Ok(vec![Event::CategorySaved {
            category: category.clone(),
        }])
    }

    pub(super) fn decide_save_modifier_group(&self, group: &ModifierGroup) -> Decision {
        validate_modifier_group(group)?;
        Ok(vec![Event::ModifierGroupSaved {
            group: group.clone(),
        }])
    }

    pub(super) fn decide_save_menu_item(&self, item: &MenuItem) -> Decision {
        self.validate_menu_item(item)?;
        Ok(vec![Event::MenuItemSaved { item: item.clone() }])
    }

    pub(super) fn decide_set_item_availability(
        &self,
        item_id: MenuItemId,
        available: bool,
    ) -> Decision {
        if !self.items.contains_key(&item_id) {
            return Err(Rejection::not_found(
                "menu_item_not_found",
                format!("menu item {item_id}"),
            ));
        }
        Ok(vec![Event::ItemAvailabilityChanged { item_id, available }])
    }

    fn validate_menu_item(&self, item: &MenuItem) -> Result<(), Rejection> {
        validate_text("name", &item.name, MAX_NAME)?;
        if !self.categories.contains_key(&item.category_id) {
            return Err(Rejection::not_found(
                "category_not_found",
                format!("category {}", item.category_id),
            )
            .within("category_id"));
        }
        if item.price < 0 {
            return Err(Rejection::invalid(
                "invalid_price",
                "price",
                "a price cannot be negative",
            ));
        }
        if item.stations.is_empty() {
            return Err(Rejection::invalid(
                "no_station",
                "stations",
                "an item is prepared by at least one station",
            ));
        }
        for (index, station) in item.stations.iter().enumerate() {
            if !self.stations.contains_key(station) {
                return Err(Rejection::not_found(
                    "station_not_found",
                    format!("station {station}"),
                )
                .within(format!("stations[{index}]")));
            }
        }
        for (index, group) in item.modifier_groups.iter().enumerate() {
            if !self.modifier_groups.contains_key(group) {
                return Err(Rejection::not_found(
                    "modifier_group_not_found",
                    format!("modifier group {group}"),
                )
                .within(format!("modifier_groups[{index}]")));
            }
        }
        validate_course("default_course", item.default_course)
    }

    pub(super) fn apply_station_saved(&mut self, station: &Station) {
        self.stations.insert(station.id, station.clone());
    }

    pub(super) fn apply_category_saved(&mut self, category: &Category) {
        self.categories.insert(category.id, category.clone());
    }

    pub(super) fn apply_modifier_group_saved(&mut self, group: &ModifierGroup) {
        self.modifier_groups.insert(group.id, group.clone());
    }

    pub(super) fn apply_menu_item_saved(&mut self, item: &MenuItem) {
        self.items.insert(item.id, item.clone());
    }

    pub(super) fn apply_item_availability_changed(&mut self, item_id: MenuItemId, available: bool) {
        if let Some(item) = self.items.get_mut(&item_id) {
            item.available = available;
        }
    }
}

fn validate_modifier_group(group: &ModifierGroup) -> Result<(), Rejection> {
    validate_text("name", &group.name, MAX_NAME)?;
    if group.options.is_empty() {
        return Err(Rejection::invalid(
            "no_options",
            "options",
            "a modifier group needs options",
        ));
    }
    let mut ids = BTreeSet::new();
    for (index, option) in group.options.iter().enumerate() {
        validate_text("name", &option.name, MAX_NAME)
            .map_err(|r| r.within(format!("options[{index}]")))?;
        if !ids.insert(option.id) {
            return Err(Rejection::invalid(
                "duplicate_option",
                format!("options[{index}].id"),
                "option ids must be unique",
            ));
        }
    }
    if group.max_choices == 0
        || group.min_choices > group.max_choices
        || usize::from(group.max_choices) > group.options.len()
    {
        return Err(Rejection::invalid(
            "invalid_choices",
            "max_choices",
            "need 0 <= min_choices <= max_choices <= number of options, and max_choices >= 1",
        ));
    }
    Ok(())
}
