//! Almahira Hub: the real-time core of a restaurant.
//!
//! # Layout
//! - [`domain`]: pure rules. Commands are decided into events, events are applied to state.
//! - [`engine`]: one single-writer actor per venue: decide, persist (group commit), apply, publish.
//! - [`store`]: the event journal, snapshots and projections on Postgres or embedded SQLite.
//! - [`auth`]: staff login (PIN / password), tokens, roles and what each role may do.
//! - [`readings`]: probe temperature readings written in batches, with day summaries.
//! - [`ws`]: the WebSocket gateway for live screens: channels, snapshots, resume, delivery.
//! - [`view`]: read models shared by the REST API and the screens.
//! - [`mqtt`]: kitchen devices: the embedded broker and its gate, or an external broker;
//!   the bridge from device messages to commands and back.
//! - [`http`]: the REST adapter (`/api/v1`), health, metrics and the embedded web pages.
//! - [`config`], [`telemetry`], [`metrics`]: settings, logs and Prometheus figures.
//! - [`demo`]: the demo venue `hub --demo` seeds into an empty database.
//! - [`state`]: `AppState`, what every handler is given.
//! - [`app`]: wires everything into a running hub with a bound listener and a shutdown.

pub mod app;
pub mod auth;
pub mod config;
pub mod demo;
pub mod domain;
pub mod engine;
pub mod http;
pub mod metrics;
pub mod mqtt;
pub mod readings;
pub mod state;
pub mod store;
pub mod telemetry;
pub mod view;
pub mod ws;
