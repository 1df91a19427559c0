//! Almahira Hub: the real-time core of a restaurant.

pub mod domain;
pub mod store;
