//! Log setup: installs the process-wide `tracing` subscriber once, in text or JSON.
//! This is the only process-global the hub touches, and installing it twice is harmless,
//! so many hubs (and tests) in one process can all call [`init_tracing`].

use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// What is logged when `RUST_LOG` is not set: our own info, and only sqlx's warnings
/// (it logs every statement at info). The embedded broker logs ordinary disconnects as
/// errors, so it is silent unless asked for (`RUST_LOG=info,rumqttd=info`); the gate and
/// the bridge log what matters about devices.
pub const DEFAULT_FILTER: &str = "info,sqlx=warn,rumqttd=off";

/// Installs the subscriber. `RUST_LOG` overrides [`DEFAULT_FILTER`]. Returns `false`
/// if a subscriber was already installed, which is not an error.
pub fn init_tracing(format: LogFormat) -> bool {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    match format {
        LogFormat::Text => builder.try_init().is_ok(),
        LogFormat::Json => builder.json().try_init().is_ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn initialising_twice_is_harmless() {
        init_tracing(LogFormat::Text);
        assert!(!init_tracing(LogFormat::Json));
    }
}
