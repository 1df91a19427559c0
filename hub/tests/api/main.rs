//! The hub's single integration-test binary: every module here runs against real databases
//! (and later real hubs), one isolated database per test.

mod database;
mod store;
