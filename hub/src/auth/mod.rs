//! Staff authentication and authorisation: everything that decides *who* is calling and
//! *what they may do*, as plain values the HTTP, WebSocket and MQTT adapters call into.
//! It holds no global state and does no I/O: keys, lifetimes and the login throttle are
//! values hung off the hub's `AppState`, and time always comes in as an argument.
//!
//! # Layout
//! - [`secret`]: argon2id hashing of PINs and passwords, the keyed PIN lookup that finds a
//!   venue's staff member by PIN without trying argon2 on every member, input rules.
//! - [`token`]: HS256 JWT access and refresh tokens ([`TokenKeys`], [`Claims`]).
//! - [`policy`]: the role -> [`Permission`] table, the one place that says who may do what.
//! - [`standing`]: [`authorize`], a verified token checked against the staff roster the
//!   engine keeps (active, role, venues given) on every request and socket.
//! - [`throttle`]: [`LoginThrottle`], which locks out a venue or address after repeated
//!   failed logins.
//! - [`error`]: [`AuthError`], with a stable `code()` the clients switch on.
//! - [`device_sync`]: [`DeviceSync`], how far the MQTT door has put each venue's device
//!   registry in force, which device answers over HTTP wait for.

pub mod device_sync;
pub mod error;
pub mod policy;
pub mod secret;
pub mod standing;
pub mod throttle;
pub mod token;

pub use device_sync::DeviceSync;
pub use error::AuthError;
pub use policy::{Permission, allows, permissions, reaches, require};
pub use secret::{
    hash_secret, pin_lookup, random_key, validate_password, validate_pin, verify_secret,
};
pub use standing::authorize;
pub use throttle::{LoginThrottle, ThrottleConfig};
pub use token::{Claims, Identity, TokenKeys, TokenKind, TokenLifetimes};
