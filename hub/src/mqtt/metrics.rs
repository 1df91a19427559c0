//! The device side's Prometheus figures: connections refused and open, messages accepted
//! and refused per reason, sequence gaps and restarted counters, downlinks, device
//! commands the engine refused, the depth of each venue's engine queue and how often one
//! was full.
//! Registered in the hub's one registry by [`crate::metrics::Metrics`].

use prometheus_client::{
    encoding::EncodeLabelSet,
    metrics::{counter::Counter, family::Family, gauge::Gauge},
    registry::Registry,
};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabels {
    kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CauseLabels {
    cause: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CommandLabels {
    command: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct VenueLabels {
    venue: String,
}

#[derive(Clone)]
pub struct MqttMetrics {
    refused: Family<ReasonLabels, Counter>,
    connected: Gauge,
    accepted: Family<KindLabels, Counter>,
    rejected: Family<ReasonLabels, Counter>,
    seq_gaps: Counter,
    counter_restarts: Family<CauseLabels, Counter>,
    downlinks: Family<KindLabels, Counter>,
    downlinks_dropped: Counter,
    commands_failed: Family<CommandLabels, Counter>,
    external_reconnects: Counter,
    drained: Counter,
    engine_queue_depth: Family<VenueLabels, Gauge>,
    engine_queue_full: Family<VenueLabels, Counter>,
}

impl MqttMetrics {
    pub fn register(registry: &mut Registry) -> Self {
        let metrics = Self {
            refused: Family::default(),
            connected: Gauge::default(),
            accepted: Family::default(),
            rejected: Family::default(),
            seq_gaps: Counter::default(),
            counter_restarts: Family::default(),
            downlinks: Family::default(),
            downlinks_dropped: Counter::default(),
            commands_failed: Family::default(),
            external_reconnects: Counter::default(),
            drained: Counter::default(),
            engine_queue_depth: Family::default(),
            engine_queue_full: Family::default(),
        };
        registry.register(
            "hub_mqtt_connections_refused",
            "Device connections refused or closed by the gate, by reason",
            metrics.refused.clone(),
        );
        registry.register(
            "hub_mqtt_devices_connected",
            "Devices with at least one open MQTT connection",
            metrics.connected.clone(),
        );
        registry.register(
            "hub_mqtt_messages",
            "Device messages the bridge took in (decoded and checked), by topic kind",
            metrics.accepted.clone(),
        );
        registry.register(
            "hub_mqtt_rejected",
            "Device messages refused by the bridge, by reason",
            metrics.rejected.clone(),
        );
        registry.register(
            "hub_mqtt_seq_gaps",
            "Device messages that never arrived, judged by gaps in their seq",
            metrics.seq_gaps.clone(),
        );
        registry.register(
            "hub_mqtt_counter_restarts",
            "Devices whose seq counter started again (a reboot), by how the hub knew",
            metrics.counter_restarts.clone(),
        );
        registry.register(
            "hub_mqtt_downlinks",
            "Messages sent to devices, by kind",
            metrics.downlinks.clone(),
        );
        registry.register(
            "hub_mqtt_downlinks_dropped",
            "Downlinks dropped because the broker link was full",
            metrics.downlinks_dropped.clone(),
        );
        registry.register(
            "hub_mqtt_device_commands_failed",
            "Commands from device messages the engine refused or could not take",
            metrics.commands_failed.clone(),
        );
        registry.register(
            "hub_mqtt_external_reconnects",
            "Failed polls of the external broker connection (each is retried)",
            metrics.external_reconnects.clone(),
        );
        registry.register(
            "hub_mqtt_drained",
            "Device messages taken off the broker and dropped (drain-only benchmark baseline)",
            metrics.drained.clone(),
        );
        registry.register(
            "hub_mqtt_engine_queue_depth",
            "Device work queued or running on a venue's engine queue",
            metrics.engine_queue_depth.clone(),
        );
        registry.register(
            "hub_mqtt_engine_queue_full",
            "Times the bridge waited for room in a venue's full engine queue (nothing is dropped)",
            metrics.engine_queue_full.clone(),
        );
        for reason in super::gate::REFUSAL_REASONS {
            let _ = metrics.refused.get_or_create(&ReasonLabels {
                reason: reason.to_owned(),
            });
        }
        for reason in super::bridge::all_rejection_reasons() {
            let _ = metrics.rejected.get_or_create(&ReasonLabels {
                reason: reason.to_owned(),
            });
        }
        for cause in super::sequence::RestartCause::ALL {
            let _ = metrics.counter_restarts.get_or_create(&CauseLabels {
                cause: cause.as_str().to_owned(),
            });
        }
        metrics
    }

    pub fn connection_refused(&self, reason: &str) {
        self.refused
            .get_or_create(&ReasonLabels {
                reason: reason.to_owned(),
            })
            .inc();
    }

    pub fn devices_connected(&self, delta: i64) {
        self.connected.inc_by(delta);
    }

    pub fn accepted(&self, kind: &str) {
        self.accepted
            .get_or_create(&KindLabels {
                kind: kind.to_owned(),
            })
            .inc();
    }

    pub fn rejected(&self, reason: &str) {
        self.rejected
            .get_or_create(&ReasonLabels {
                reason: reason.to_owned(),
            })
            .inc();
    }

    pub fn seq_gap(&self, missing: u64) {
        self.seq_gaps.inc_by(missing);
    }

    pub fn counter_restart(&self, cause: &str) {
        self.counter_restarts
            .get_or_create(&CauseLabels {
                cause: cause.to_owned(),
            })
            .inc();
    }

    pub fn downlink(&self, kind: &str) {
        self.downlinks
            .get_or_create(&KindLabels {
                kind: kind.to_owned(),
            })
            .inc();
    }

    pub fn downlink_dropped(&self) {
        self.downlinks_dropped.inc();
    }

    pub fn command_failed(&self, command: &str) {
        self.commands_failed
            .get_or_create(&CommandLabels {
                command: command.to_owned(),
            })
            .inc();
    }

    pub fn drained(&self) {
        self.drained.inc();
    }

    /// The depth gauge of a venue's engine queue (shared: the queue raises and lowers it).
    pub fn engine_queue_depth(&self, venue: &str) -> Gauge {
        self.engine_queue_depth
            .get_or_create(&VenueLabels {
                venue: venue.to_owned(),
            })
            .clone()
    }

    pub fn engine_queue_full(&self, venue: &str) {
        self.engine_queue_full
            .get_or_create(&VenueLabels {
                venue: venue.to_owned(),
            })
            .inc();
    }

    pub fn external_reconnect(&self) {
        self.external_reconnects.inc();
    }
}
