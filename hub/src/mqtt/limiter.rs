//! The device side's log lines go through the hub's [`LogLimiter`] (in
//! [`crate::telemetry`]), so a fleet sending garbage cannot flood the log.

pub use crate::telemetry::LogLimiter;
