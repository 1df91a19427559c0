//! Almahira Hub: the real-time core of a restaurant.

pub mod auth;
pub mod config;
pub mod demo;
pub mod domain;
pub mod engine;
pub mod metrics;
pub mod store;
pub mod telemetry;
