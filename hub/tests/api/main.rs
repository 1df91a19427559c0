//! The hub's single integration-test binary: every module here runs against real databases
//! (and later real hubs), one isolated database per test.

/// Expands each scenario `async fn name(db: TestDatabase)` into a module `name` holding
/// `on_postgres` and `on_sqlite` tests, so one body states the behaviour for both backends
/// and a failure names the backend that broke it (`store::name::on_sqlite`).
macro_rules! on_both_backends {
    ($($scenario:ident),+ $(,)?) => {$(
        mod $scenario {
            use crate::database::{Backend, TestDatabase};

            #[tokio::test]
            async fn on_postgres() {
                super::$scenario(TestDatabase::new(Backend::Postgres).await).await;
            }

            #[tokio::test]
            async fn on_sqlite() {
                super::$scenario(TestDatabase::new(Backend::Sqlite).await).await;
            }
        }
    )+};
}

mod auth;
mod connection;
mod database;
mod device_access;
mod device_channel;
mod device_events;
mod devices;
mod errors;
mod firmware;
mod golden;
mod helpers;
mod live;
mod mqtt;
mod openapi;
mod orders;
mod readings;
mod recovery;
mod screen;
mod service;
mod store;
mod system;
mod tenancy;
