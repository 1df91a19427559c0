//! Temperature readings of probes on their way to the store: the MQTT bridge hands every
//! accepted reading to the [`ReadingsRecorder`], which writes them in batches (raw readings
//! plus per-probe, per-venue-local-day summaries) and prunes raw readings past their
//! retention. It decides nothing about food safety: alerts are the engine's business.
//!
//! # Layout
//! - [`recorder`]: the batching task and its cloneable handle (record, flush, stop).
//! - [`zone`]: venue-local calendar days from the venue's IANA timezone.

pub mod recorder;
pub mod zone;

pub use recorder::{ReadingsRecorder, RecorderConfig, TryRecordError};
