//! The menu: items need known stations and non-negative prices.

use super::*;

#[test]
fn a_menu_item_needs_a_known_station_and_a_non_negative_price() {
    let f = Fixture::new();
    let mut bad = match item(
        MenuItemId(id(399)),
        CategoryId(id(300)),
        "Nasi",
        -1,
        GRILL,
        vec![],
        1,
    ) {
        Command::SaveMenuItem { item } => item,
        _ => unreachable!(),
    };
    f.when(&Command::SaveMenuItem { item: bad.clone() }, &f.manager)
        .then_rejects("invalid_price");
    bad.price = 10_000;
    bad.stations = vec![StationId(id(999))];
    f.when(&Command::SaveMenuItem { item: bad }, &f.manager)
        .then_rejects("station_not_found");
}
