//! The demo venue `hub --demo` seeds into an empty database: Almahira Kemang, a mid-range
//! Jakarta restaurant with staff, stations, a floor plan and a menu priced in rupiah.
//! It only issues ordinary engine commands as the system, so everything it creates is in
//! the journal; it never touches the store directly and never seeds a hub that has venues.
//! On every start it also tells which demo logins still work, for the startup banner.

use std::collections::BTreeMap;

use anyhow::Context as _;
use chrono::Utc;
use uuid::Uuid;

use crate::{
    auth::secret::{hash_secret, pin_lookup, verify_secret},
    domain::SecretHash,
    domain::{
        Actor, Area, AreaId, Category, CategoryId, Command, MenuItem, MenuItemId, ModifierGroup,
        ModifierGroupId, ModifierId, ModifierOption, Role, StaffId, Station, StationId, TableId,
        TableLayout, TableShape,
        TableShape::{Booth, Rectangle, Round, Square},
        TaxCategory, username_key,
    },
    engine::{Engine, Envelope, VenueHandle, VenueSettings},
    store::{TenantRecord, UsernameClaim, VenueRecord},
};

const TENANT: &str = "Almahira";
const SLUG: &str = "demo";
const NAME: &str = "Almahira Kemang";
const TIMEZONE: &str = "Asia/Jakarta";
const CURRENCY: &str = "IDR";
/// The owner's username, the demo's one password login.
const OWNER_USERNAME: &str = "owner";

/// The demo venue and the demo logins that work in it, for `main` to print.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DemoVenue {
    pub slug: String,
    pub name: String,
    /// Whether this start seeded it (otherwise it was there already).
    pub seeded: bool,
    pub logins: Vec<DemoLogin>,
}

/// One demo staff member and the secret they log in with: a PIN, or a username and password.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DemoLogin {
    pub name: String,
    pub role: Role,
    pub pin: Option<&'static str>,
    pub username: Option<&'static str>,
    pub password: Option<&'static str>,
}

// ----- staff -------------------------------------------------------------------------

enum Login {
    Pin(&'static str),
    Password {
        username: &'static str,
        password: &'static str,
    },
}

const STAFF: &[(&str, Role, Login)] = &[
    (
        "Hendra Wijaya",
        Role::Owner,
        Login::Password {
            username: OWNER_USERNAME,
            password: "almahira-demo",
        },
    ),
    ("Budi Santoso", Role::Manager, Login::Pin("1111")),
    ("Dewi Lestari", Role::Cashier, Login::Pin("2222")),
    ("Wulan Sari", Role::Waiter, Login::Pin("3333")),
    ("Rizky", Role::Waiter, Login::Pin("3334")),
    ("Putri", Role::Waiter, Login::Pin("3335")),
    ("Agus Pratama", Role::Kitchen, Login::Pin("4444")),
];

// ----- kitchen stations (key, name) ----------------------------------------------------

const GRILL: &str = "grill";
const WOK: &str = "wok";
const FRY: &str = "fry";
const COLD: &str = "cold";
const BAR: &str = "bar";

const STATIONS: &[(&str, &str)] = &[
    (GRILL, "Grill"),
    (WOK, "Wok"),
    (FRY, "Fryer"),
    (COLD, "Cold Kitchen"),
    (BAR, "Bar"),
];

// ----- floor: areas and their tables (label, seats, shape, section) -------------------

type TableSpec = (&'static str, u16, TableShape, &'static str);

const FLOOR: &[(&str, &[TableSpec])] = &[
    (
        "Indoor",
        &[
            ("1", 2, Round, "A"),
            ("2", 2, Round, "A"),
            ("3", 4, Square, "A"),
            ("4", 4, Square, "A"),
            ("5", 4, Square, "A"),
            ("6", 6, Rectangle, "A"),
            ("7", 4, Booth, "B"),
            ("8", 4, Booth, "B"),
            ("9", 4, Square, "B"),
            ("10", 6, Rectangle, "B"),
            ("11", 8, Rectangle, "B"),
            ("12", 8, Round, "B"),
        ],
    ),
    (
        "Terrace",
        &[
            ("T1", 2, Round, "C"),
            ("T2", 2, Round, "C"),
            ("T3", 4, Square, "C"),
            ("T4", 4, Square, "C"),
            ("T5", 4, Square, "C"),
            ("T6", 4, Round, "C"),
            ("T7", 6, Rectangle, "C"),
            ("T8", 6, Rectangle, "C"),
        ],
    ),
    (
        "Bar",
        &[
            ("B1", 2, Round, "D"),
            ("B2", 2, Round, "D"),
            ("B3", 2, Round, "D"),
            ("B4", 4, Booth, "D"),
        ],
    ),
];

/// Tables sit in a grid of square cells on the area's 1000 x 1000 plan, each centred in its
/// cell; no table is wider or taller than a cell, so none overlap.
const GRID_COLUMNS: usize = 4;
const GRID_CELL: f64 = 250.0;

/// Where the `index`th table of an area is drawn: (x, y, width, height) in plan units,
/// x and y being the top-left corner.
fn placement(index: usize, seats: u16, shape: TableShape) -> (f64, f64, f64, f64) {
    let (width, height) = footprint(seats, shape);
    let column = (index % GRID_COLUMNS) as f64;
    let row = (index / GRID_COLUMNS) as f64;
    (
        column * GRID_CELL + (GRID_CELL - width) / 2.0,
        row * GRID_CELL + (GRID_CELL - height) / 2.0,
        width,
        height,
    )
}

/// Drawing size of a table: (width, height) in plan units.
fn footprint(seats: u16, shape: TableShape) -> (f64, f64) {
    match shape {
        Round if seats <= 2 => (60.0, 60.0),
        Round if seats <= 4 => (80.0, 80.0),
        Round => (110.0, 110.0),
        Square if seats <= 2 => (60.0, 60.0),
        Square => (80.0, 80.0),
        Rectangle if seats <= 6 => (140.0, 80.0),
        Rectangle => (180.0, 90.0),
        Booth => (120.0, 90.0),
    }
}

// ----- modifier groups (key, name, min, max, options with price deltas) ---------------

const SPICE: &str = "spice";
const DONENESS: &str = "doneness";
const SUGAR: &str = "sugar";
const ICE: &str = "ice";
const EXTRAS: &str = "extras";
const MILK: &str = "milk";

type GroupSpec = (
    &'static str,
    &'static str,
    u8,
    u8,
    &'static [(&'static str, i64)],
);

const MODIFIER_GROUPS: &[GroupSpec] = &[
    (
        SPICE,
        "Spice level",
        1,
        1,
        &[
            ("Tidak pedas", 0),
            ("Sedang", 0),
            ("Pedas", 0),
            ("Extra pedas", 0),
        ],
    ),
    (
        DONENESS,
        "Doneness",
        1,
        1,
        &[
            ("Rare", 0),
            ("Medium rare", 0),
            ("Medium", 0),
            ("Well done", 0),
        ],
    ),
    (
        SUGAR,
        "Sugar",
        0,
        1,
        &[("Normal", 0), ("Less sugar", 0), ("No sugar", 0)],
    ),
    (
        ICE,
        "Ice",
        0,
        1,
        &[("Normal", 0), ("Less ice", 0), ("No ice", 0)],
    ),
    (
        EXTRAS,
        "Extras",
        0,
        3,
        &[
            ("Telur ceplok", 5_000),
            ("Kerupuk", 3_000),
            ("Extra nasi", 7_000),
        ],
    ),
    (
        MILK,
        "Milk",
        0,
        1,
        &[("Fresh milk", 0), ("Oat milk", 8_000)],
    ),
];

// ----- the menu ------------------------------------------------------------------------

const PEANUT: &str = "peanut";
const GLUTEN: &str = "gluten";
const DAIRY: &str = "dairy";
const EGG: &str = "egg";
const FISH: &str = "fish";
const SHELLFISH: &str = "shellfish";
const SOY: &str = "soy";

/// A menu section: category name, the course its dishes join by default, and the dishes.
struct Section {
    category: &'static str,
    course: u8,
    dishes: &'static [Dish],
}

/// (name, price in rupiah, stations, prep minutes, allergens, modifier groups)
type Dish = (
    &'static str,
    i64,
    &'static [&'static str],
    u16,
    &'static [&'static str],
    &'static [&'static str],
);

// One dish a line, like a printed menu; rustfmt would spread each tuple over eight lines.
#[rustfmt::skip]
const MENU: &[Section] = &[
    Section {
        category: "Appetizers (Pembuka)",
        course: 1,
        dishes: &[
            ("Tempe Mendoan", 28_000, &[FRY], 8, &[SOY, GLUTEN], &[]),
            ("Tahu Telur", 38_000, &[FRY], 12, &[SOY, EGG, PEANUT], &[SPICE]),
            ("Gado-Gado", 42_000, &[COLD], 10, &[PEANUT, EGG, SOY], &[SPICE]),
            ("Lumpia Semarang", 36_000, &[FRY], 10, &[GLUTEN, EGG, SHELLFISH], &[]),
            ("Calamari Goreng", 52_000, &[FRY], 10, &[SHELLFISH, GLUTEN], &[]),
            ("Caesar Salad", 58_000, &[COLD], 8, &[DAIRY, EGG, GLUTEN, FISH], &[]),
        ],
    },
    Section {
        category: "Mains (Hidangan Utama)",
        course: 2,
        dishes: &[
            ("Rendang Sapi", 78_000, &[WOK], 10, &[], &[SPICE, EXTRAS]),
            ("Ayam Bakar Taliwang", 68_000, &[GRILL], 20, &[], &[SPICE, EXTRAS]),
            ("Ayam Penyet", 55_000, &[FRY], 15, &[SOY], &[SPICE, EXTRAS]),
            ("Soto Betawi", 58_000, &[WOK], 12, &[DAIRY], &[EXTRAS]),
            ("Sop Buntut", 95_000, &[WOK], 12, &[], &[EXTRAS]),
            ("Ikan Bakar Jimbaran", 115_000, &[GRILL], 25, &[FISH, SOY], &[SPICE]),
            ("Fish & Chips", 85_000, &[FRY], 15, &[FISH, GLUTEN], &[]),
            ("Beef Burger", 89_000, &[GRILL, FRY], 15, &[GLUTEN, DAIRY, EGG], &[DONENESS]),
            ("Spaghetti Aglio Olio", 65_000, &[WOK], 12, &[GLUTEN], &[]),
        ],
    },
    Section {
        category: "Rice & Noodles (Nasi & Mie)",
        course: 2,
        dishes: &[
            ("Nasi Goreng Kampung", 52_000, &[WOK], 12, &[EGG, SOY, SHELLFISH], &[SPICE, EXTRAS]),
            ("Nasi Goreng Seafood", 68_000, &[WOK], 12, &[EGG, SOY, SHELLFISH], &[SPICE, EXTRAS]),
            ("Mie Goreng Jawa", 50_000, &[WOK], 12, &[GLUTEN, EGG, SOY], &[SPICE, EXTRAS]),
            ("Kwetiau Siram Sapi", 62_000, &[WOK], 12, &[SOY], &[SPICE]),
            ("Nasi Campur Bali", 72_000, &[GRILL, WOK], 15, &[PEANUT, SOY], &[SPICE]),
        ],
    },
    Section {
        category: "Grill",
        course: 2,
        dishes: &[
            ("Sate Ayam Madura", 48_000, &[GRILL], 15, &[PEANUT, SOY], &[SPICE, EXTRAS]),
            ("Sate Kambing", 65_000, &[GRILL], 15, &[SOY], &[SPICE, EXTRAS]),
            ("Iga Bakar", 125_000, &[GRILL], 20, &[SOY], &[SPICE, EXTRAS]),
            ("Sirloin Steak 200g", 185_000, &[GRILL, FRY], 20, &[DAIRY], &[DONENESS]),
            ("Ribeye Steak 250g", 265_000, &[GRILL, FRY], 22, &[DAIRY], &[DONENESS]),
        ],
    },
    Section {
        category: "Desserts (Penutup)",
        course: 3,
        dishes: &[
            ("Pisang Goreng Keju", 32_000, &[FRY], 8, &[GLUTEN, DAIRY], &[]),
            ("Klepon", 25_000, &[COLD], 5, &[], &[]),
            ("Es Campur", 35_000, &[COLD], 5, &[DAIRY], &[]),
            ("Panna Cotta Pandan", 42_000, &[COLD], 5, &[DAIRY], &[]),
            ("Chocolate Lava Cake", 55_000, &[COLD], 15, &[GLUTEN, DAIRY, EGG], &[]),
        ],
    },
    Section {
        category: "Drinks (Minuman)",
        course: 1,
        dishes: &[
            ("Es Teh Manis", 15_000, &[BAR], 2, &[], &[SUGAR, ICE]),
            ("Es Jeruk", 22_000, &[BAR], 3, &[], &[SUGAR, ICE]),
            ("Teh Tarik", 25_000, &[BAR], 4, &[DAIRY], &[SUGAR, ICE]),
            ("Kopi Susu Gula Aren", 32_000, &[BAR], 4, &[DAIRY], &[SUGAR, ICE, MILK]),
            ("Cappuccino", 35_000, &[BAR], 4, &[DAIRY], &[SUGAR, MILK]),
            ("Jus Alpukat", 35_000, &[BAR], 5, &[DAIRY], &[SUGAR, ICE]),
            ("Es Kelapa Muda", 30_000, &[BAR], 3, &[], &[SUGAR, ICE]),
            ("Wedang Jahe", 22_000, &[BAR], 4, &[], &[SUGAR]),
            ("Air Mineral", 12_000, &[BAR], 1, &[], &[]),
        ],
    },
];

/// Packaged retail goods pay VAT (PPN) instead of the restaurant tax (PB1).
const PACKAGED_GOODS: &[&str] = &["Air Mineral"];

/// Items that start 86'd, so the demo shows a sold-out dish.
const SOLD_OUT: &[&str] = &["Sop Buntut"];

// ----- seeding -------------------------------------------------------------------------

/// Seeds the demo venue if the hub has no venue yet; returns `None` (and does nothing)
/// otherwise. `pin_key` is the hub's PIN lookup key.
pub async fn seed_if_empty(engine: &Engine, pin_key: &[u8]) -> anyhow::Result<Option<DemoVenue>> {
    if !engine.venues().is_empty() {
        return Ok(None);
    }
    let tenant = TenantRecord {
        id: Uuid::now_v7(),
        name: TENANT.to_owned(),
    };
    let venue = VenueRecord {
        id: Uuid::now_v7(),
        tenant_id: tenant.id,
        slug: SLUG.to_owned(),
        name: NAME.to_owned(),
        created_at: Utc::now(),
    };
    // The owner's username is claimed with the venue, in the store's one transaction that
    // also makes sure no other hub sharing the database seeded (or set up) a venue first.
    let owner = StaffId(Uuid::now_v7());
    let owner_claim = UsernameClaim {
        username: username_key(OWNER_USERNAME),
        venue_id: venue.id,
        staff_id: owner.0,
        claimed_at: Utc::now(),
    };
    let settings = VenueSettings {
        timezone: TIMEZONE,
        currency: CURRENCY,
    };
    let Some(handle) = engine
        .set_up_first_venue(tenant, venue, settings, &owner_claim)
        .await
        .context("creating the demo venue")?
    else {
        return Ok(None);
    };

    let logins = seed_staff(&handle, pin_key, owner).await?;
    let stations = seed_stations(&handle).await?;
    seed_floor(&handle).await?;
    let groups = seed_modifier_groups(&handle).await?;
    seed_menu(&handle, &stations, &groups).await?;

    Ok(Some(DemoVenue {
        slug: SLUG.to_owned(),
        name: NAME.to_owned(),
        seeded: true,
        logins,
    }))
}

/// The demo venue as it is now, with only the demo logins that still work: a PIN whose
/// lookup key still names the same active staff member (no hashing needed), and the
/// owner's password when the `owner` account is still active and the demo password still
/// verifies (one argon2 check, on the blocking pool). `None` when there is no venue with
/// the demo slug or none of its demo logins works any more, so a venue that was taken
/// into real use prints nobody's secrets.
pub async fn working_logins(engine: &Engine, pin_key: &[u8]) -> anyhow::Result<Option<DemoVenue>> {
    let Some(handle) = engine.venue_by_slug(SLUG) else {
        return Ok(None);
    };
    let lookups: Vec<Option<String>> = STAFF
        .iter()
        .map(|(_, _, login)| match login {
            Login::Pin(pin) => Some(pin_lookup(pin_key, handle.id(), pin)),
            Login::Password { .. } => None,
        })
        .collect();
    // Per demo login: the staff member who holds it now (role, password hash), if it is
    // still the one it was seeded for.
    let (name, holders) = handle
        .read(move |venue| {
            let holders: Vec<Option<(Role, Option<SecretHash>)>> = STAFF
                .iter()
                .zip(&lookups)
                .map(|((name, _, login), lookup)| {
                    let staff = match (login, lookup) {
                        (Login::Pin(_), Some(lookup)) => venue.staff_by_pin_lookup(lookup),
                        (Login::Password { username, .. }, _) => {
                            venue.staff_by_username(username).filter(|s| s.active)
                        }
                        (Login::Pin(_), None) => None,
                    };
                    staff
                        .filter(|s| s.name == *name)
                        .map(|s| (s.role, s.password_hash.clone()))
                })
                .collect();
            (venue.info.as_ref().map(|i| i.name.clone()), holders)
        })
        .await
        .context("reading the demo venue's staff")?;
    let mut logins = Vec::new();
    for ((staff_name, _, login), holder) in STAFF.iter().zip(holders) {
        let Some((role, password_hash)) = holder else {
            continue;
        };
        let login = match login {
            Login::Pin(pin) => DemoLogin {
                name: (*staff_name).to_owned(),
                role,
                pin: Some(*pin),
                username: None,
                password: None,
            },
            Login::Password { username, password } => {
                let Some(hash) = password_hash else { continue };
                let password: &'static str = password;
                let verified = tokio::task::spawn_blocking(move || verify_secret(password, &hash))
                    .await
                    .context("checking the demo password")?;
                if !verified {
                    continue;
                }
                DemoLogin {
                    name: (*staff_name).to_owned(),
                    role,
                    pin: None,
                    username: Some(*username),
                    password: Some(password),
                }
            }
        };
        logins.push(login);
    }
    if logins.is_empty() {
        return Ok(None);
    }
    Ok(Some(DemoVenue {
        slug: SLUG.to_owned(),
        name: name.unwrap_or_else(|| NAME.to_owned()),
        seeded: false,
        logins,
    }))
}

/// Executes one seeding command as the system, under a fresh command id.
async fn run(handle: &VenueHandle, command: Command) -> anyhow::Result<()> {
    let name = command.name();
    handle
        .execute(Envelope {
            command_id: Uuid::now_v7(),
            actor: Actor::system(),
            command,
        })
        .await
        .with_context(|| format!("seeding the demo venue: {name}"))?;
    Ok(())
}

/// Adds the demo staff; the one with a username and password is the owner, whose username
/// was claimed for `owner` with the venue.
async fn seed_staff(
    handle: &VenueHandle,
    pin_key: &[u8],
    owner: StaffId,
) -> anyhow::Result<Vec<DemoLogin>> {
    // argon2 takes tens of milliseconds a hash: hash on the blocking pool, all at once.
    let hashes: Vec<_> = STAFF
        .iter()
        .map(|(_, _, login)| {
            let secret = match login {
                Login::Pin(pin) => *pin,
                Login::Password { password, .. } => *password,
            };
            tokio::task::spawn_blocking(move || hash_secret(secret))
        })
        .collect();

    let mut logins = Vec::with_capacity(STAFF.len());
    for ((name, role, login), hash) in STAFF.iter().zip(hashes) {
        let hash = hash
            .await
            .context("hashing a demo secret")?
            .with_context(|| format!("hashing the secret of {name}"))?;
        let demo = match login {
            Login::Pin(pin) => DemoLogin {
                name: (*name).to_owned(),
                role: *role,
                pin: Some(*pin),
                username: None,
                password: None,
            },
            Login::Password { username, password } => DemoLogin {
                name: (*name).to_owned(),
                role: *role,
                pin: None,
                username: Some(*username),
                password: Some(*password),
            },
        };
        let (pin_hash, password_hash) = match demo.pin {
            Some(_) => (Some(hash), None),
            None => (None, Some(hash)),
        };
        run(
            handle,
            Command::AddStaff {
                staff_id: if demo.username.is_some() {
                    owner
                } else {
                    StaffId(Uuid::now_v7())
                },
                name: demo.name.clone(),
                role: demo.role,
                username: demo.username.map(str::to_owned),
                pin_lookup: demo
                    .pin
                    .map(|pin| pin_lookup(pin_key, handle.id(), pin).into()),
                pin_hash: pin_hash.map(SecretHash::from),
                password_hash: password_hash.map(SecretHash::from),
            },
        )
        .await?;
        logins.push(demo);
    }
    Ok(logins)
}

async fn seed_stations(handle: &VenueHandle) -> anyhow::Result<BTreeMap<&'static str, StationId>> {
    let mut ids = BTreeMap::new();
    for (key, name) in STATIONS {
        let id = StationId(Uuid::now_v7());
        run(
            handle,
            Command::SaveStation {
                station: Station {
                    id,
                    key: (*key).to_owned(),
                    name: (*name).to_owned(),
                    active: true,
                },
            },
        )
        .await?;
        ids.insert(*key, id);
    }
    Ok(ids)
}

async fn seed_floor(handle: &VenueHandle) -> anyhow::Result<()> {
    for (sort, (area_name, tables)) in (0..).zip(FLOOR) {
        let area_id = AreaId(Uuid::now_v7());
        run(
            handle,
            Command::SaveArea {
                area: Area {
                    id: area_id,
                    name: (*area_name).to_owned(),
                    sort,
                },
            },
        )
        .await?;
        for (index, (label, seats, shape, section)) in tables.iter().enumerate() {
            let (x, y, width, height) = placement(index, *seats, *shape);
            run(
                handle,
                Command::SaveTable {
                    table: TableLayout {
                        id: TableId(Uuid::now_v7()),
                        area_id,
                        label: (*label).to_owned(),
                        seats: *seats,
                        shape: *shape,
                        x,
                        y,
                        width,
                        height,
                        rotation: 0.0,
                        section: Some((*section).to_owned()),
                    },
                },
            )
            .await?;
        }
    }
    Ok(())
}

async fn seed_modifier_groups(
    handle: &VenueHandle,
) -> anyhow::Result<BTreeMap<&'static str, ModifierGroupId>> {
    let mut ids = BTreeMap::new();
    for (key, name, min_choices, max_choices, options) in MODIFIER_GROUPS {
        let id = ModifierGroupId(Uuid::now_v7());
        let options = options
            .iter()
            .map(|(option, price_delta)| ModifierOption {
                id: ModifierId(Uuid::now_v7()),
                name: (*option).to_owned(),
                price_delta: *price_delta,
            })
            .collect();
        run(
            handle,
            Command::SaveModifierGroup {
                group: ModifierGroup {
                    id,
                    name: (*name).to_owned(),
                    min_choices: *min_choices,
                    max_choices: *max_choices,
                    options,
                },
            },
        )
        .await?;
        ids.insert(*key, id);
    }
    Ok(ids)
}

async fn seed_menu(
    handle: &VenueHandle,
    stations: &BTreeMap<&'static str, StationId>,
    groups: &BTreeMap<&'static str, ModifierGroupId>,
) -> anyhow::Result<()> {
    for (sort, section) in (0..).zip(MENU) {
        let category_id = CategoryId(Uuid::now_v7());
        run(
            handle,
            Command::SaveCategory {
                category: Category {
                    id: category_id,
                    name: section.category.to_owned(),
                    sort,
                },
            },
        )
        .await?;
        for (sort, (name, price, dish_stations, prep_minutes, allergens, dish_groups)) in
            (0..).zip(section.dishes)
        {
            let id = MenuItemId(Uuid::now_v7());
            run(
                handle,
                Command::SaveMenuItem {
                    item: MenuItem {
                        id,
                        category_id,
                        name: (*name).to_owned(),
                        description: None,
                        price: *price,
                        tax_category: if PACKAGED_GOODS.contains(name) {
                            TaxCategory::Ppn
                        } else {
                            TaxCategory::Pb1
                        },
                        stations: lookup(stations, dish_stations, "station")?,
                        prep_minutes: *prep_minutes,
                        allergens: allergens.iter().map(|a| (*a).to_owned()).collect(),
                        default_course: section.course,
                        modifier_groups: lookup(groups, dish_groups, "modifier group")?,
                        available: true,
                        active: true,
                        sort,
                    },
                },
            )
            .await?;
            if SOLD_OUT.contains(name) {
                run(
                    handle,
                    Command::SetItemAvailability {
                        item_id: id,
                        available: false,
                    },
                )
                .await?;
            }
        }
    }
    Ok(())
}

/// The ids of the seeded entities the menu names by key.
fn lookup<T: Copy>(
    ids: &BTreeMap<&'static str, T>,
    keys: &[&str],
    what: &str,
) -> anyhow::Result<Vec<T>> {
    keys.iter()
        .map(|key| {
            ids.get(key)
                .copied()
                .with_context(|| format!("the demo menu names an unknown {what} {key:?}"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use tempfile::TempDir;

    use super::*;
    use crate::{
        auth::secret::verify_secret, domain::Venue, engine::EngineConfig, metrics::Metrics, store,
    };

    const KEY: &[u8] = b"demo-test-pin-key";

    async fn open(dir: &TempDir) -> Engine {
        let store = store::connect(None, dir.path()).await.unwrap();
        Engine::start(store, Metrics::new(), EngineConfig::default())
            .await
            .unwrap()
    }

    fn demo(engine: &Engine) -> VenueHandle {
        engine.venue_by_slug(SLUG).expect("the demo venue exists")
    }

    #[tokio::test]
    async fn an_empty_hub_gets_a_full_demo_venue_once() {
        let dir = TempDir::new().unwrap();
        let engine = open(&dir).await;

        let seeded = seed_if_empty(&engine, KEY).await.unwrap().unwrap();
        assert_eq!(seeded.slug, "demo");
        assert_eq!(seeded.name, "Almahira Kemang");
        assert_eq!(seeded.logins.len(), 7);

        let handle = demo(&engine);
        let venue = handle.read(|v| v.clone()).await.unwrap();
        let info = venue.info.clone().unwrap();
        assert_eq!(
            (
                info.name.as_str(),
                info.timezone.as_str(),
                info.currency.as_str()
            ),
            ("Almahira Kemang", "Asia/Jakarta", "IDR")
        );
        assert_eq!(venue.areas.len(), 3);
        assert_eq!(venue.tables.len(), 24);
        let areas_used: BTreeSet<_> = venue.tables.values().map(|t| t.layout.area_id).collect();
        assert_eq!(areas_used.len(), 3);
        assert!(venue.tables.values().all(|t| t.server_id.is_none()));
        assert_eq!(venue.stations.len(), 5);
        assert!(
            (30..=40).contains(&venue.items.len()),
            "{}",
            venue.items.len()
        );
        assert_eq!(venue.modifier_groups.len(), 6);

        let sop_buntut = venue
            .items
            .values()
            .find(|i| i.name == "Sop Buntut")
            .unwrap();
        assert!(!sop_buntut.available);
        let water = venue
            .items
            .values()
            .find(|i| i.name == "Air Mineral")
            .unwrap();
        assert_eq!(water.tax_category, TaxCategory::Ppn);
        let steak = venue
            .items
            .values()
            .find(|i| i.name == "Sirloin Steak 200g")
            .unwrap();
        assert_eq!(steak.stations.len(), 2);

        // The manager logs in with 1111 the way the login handler does it.
        let lookup = pin_lookup(KEY, handle.id(), "1111");
        let manager = handle
            .read(move |v| v.staff_by_pin_lookup(&lookup).cloned())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(manager.name, "Budi Santoso");
        assert_eq!(manager.role, Role::Manager);
        assert!(verify_secret("1111", manager.pin_hash.as_deref().unwrap()));
        assert!(!verify_secret("1112", manager.pin_hash.as_deref().unwrap()));

        let owner = venue.staff_by_username("owner").unwrap();
        assert_eq!(owner.role, Role::Owner);
        assert!(owner.pin_lookup.is_none());
        assert!(verify_secret(
            "almahira-demo",
            owner.password_hash.as_deref().unwrap()
        ));

        // A second start with data already there seeds nothing.
        let seq_before = handle.read_at(|_, seq| seq).await.unwrap();
        assert!(seed_if_empty(&engine, KEY).await.unwrap().is_none());
        assert_eq!(engine.venues().len(), 1);
        assert_eq!(handle.read_at(|_, seq| seq).await.unwrap(), seq_before);
        assert_eq!(handle.read(|v| v.clone()).await.unwrap(), venue);

        engine.shutdown().await;
    }

    #[tokio::test]
    async fn a_restarted_hub_rebuilds_the_same_demo_venue() {
        let dir = TempDir::new().unwrap();
        let engine = open(&dir).await;
        seed_if_empty(&engine, KEY).await.unwrap().unwrap();
        let before: Venue = demo(&engine).read(|v| v.clone()).await.unwrap();
        engine.shutdown().await;
        drop(engine);

        let engine = open(&dir).await;
        let after: Venue = demo(&engine).read(|v| v.clone()).await.unwrap();
        assert_eq!(after, before);
        assert!(seed_if_empty(&engine, KEY).await.unwrap().is_none());
        engine.shutdown().await;
    }

    #[tokio::test]
    async fn only_the_demo_logins_that_still_work_are_reported() {
        let dir = TempDir::new().unwrap();
        let engine = open(&dir).await;
        assert!(working_logins(&engine, KEY).await.unwrap().is_none());
        seed_if_empty(&engine, KEY).await.unwrap().unwrap();
        let all = working_logins(&engine, KEY).await.unwrap().unwrap();
        assert!(!all.seeded);
        assert_eq!(all.logins.len(), 7);

        // The manager's PIN changes: the lookup key no longer names Budi.
        let handle = demo(&engine);
        let budi = handle
            .read(|v| {
                v.staff
                    .values()
                    .find(|s| s.name == "Budi Santoso")
                    .unwrap()
                    .id
            })
            .await
            .unwrap();
        run(
            &handle,
            Command::SetStaffPin {
                staff_id: budi,
                pin_lookup: pin_lookup(KEY, handle.id(), "8080").into(),
                pin_hash: hash_secret("8080").unwrap().into(),
            },
        )
        .await
        .unwrap();
        let left = working_logins(&engine, KEY).await.unwrap().unwrap();
        let pins: Vec<_> = left.logins.iter().filter_map(|l| l.pin).collect();
        assert_eq!(pins, ["2222", "3333", "3334", "3335", "4444"]);
        assert!(
            left.logins
                .iter()
                .any(|l| l.password == Some("almahira-demo"))
        );
        // Another key: no PIN matches any more; only the password is left.
        let other = working_logins(&engine, b"another key")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(other.logins.len(), 1);
        engine.shutdown().await;
    }

    #[test]
    fn tables_in_an_area_do_not_overlap_and_stay_on_the_plan() {
        for (_, tables) in FLOOR {
            let rects: Vec<_> = tables
                .iter()
                .enumerate()
                .map(|(index, (_, seats, shape, _))| placement(index, *seats, *shape))
                .collect();
            for (i, a) in rects.iter().enumerate() {
                assert!(a.0 >= 0.0 && a.1 >= 0.0 && a.0 + a.2 <= 1000.0 && a.1 + a.3 <= 1000.0);
                for b in &rects[i + 1..] {
                    let apart = a.0 + a.2 <= b.0
                        || b.0 + b.2 <= a.0
                        || a.1 + a.3 <= b.1
                        || b.1 + b.3 <= a.1;
                    assert!(apart, "{a:?} overlaps {b:?}");
                }
            }
        }
    }
}
