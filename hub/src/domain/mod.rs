//! The pure core: venue state, the commands that may change it, the events that record
//! each change, and the rules between them. No I/O, no clock, no logging: time comes in
//! as an argument, so replaying the journal always rebuilds the same state.

pub mod id;
pub mod staff;

pub use id::*;
pub use staff::{Role, Staff};
