//! [`Metrics`]: the hub's Prometheus counters, histograms and gauges, in a registry owned
//! by the value (no global registry), rendered in the text exposition format for
//! `GET /metrics`. It only records what adapters and the engine tell it.

use std::{
    fmt::{self, Write},
    sync::Arc,
    time::Duration,
};

use prometheus_client::{
    encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder},
    metrics::{
        counter::Counter,
        family::Family,
        gauge::Gauge,
        histogram::{Histogram, exponential_buckets},
    },
    registry::Registry,
};

/// Commit latencies from half a millisecond (SQLite, one small batch) to two seconds
/// (a struggling Postgres).
const COMMIT_SECONDS_BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0,
];
const HTTP_SECONDS_BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

/// What happened to a command sent to a venue engine.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
enum Outcome {
    Accepted,
    Rejected,
    Duplicate,
    Unavailable,
}

impl EncodeLabelValue for Outcome {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), fmt::Error> {
        encoder.write_str(match self {
            Outcome::Accepted => "accepted",
            Outcome::Rejected => "rejected",
            Outcome::Duplicate => "duplicate",
            Outcome::Unavailable => "unavailable",
        })
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CommandLabels {
    venue: String,
    outcome: Outcome,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CodeLabels {
    code: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: String,
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct VenueLabels {
    venue: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    reason: &'static str,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

struct Inner {
    registry: Registry,
    commands: Family<CommandLabels, Counter>,
    rejections: Family<CodeLabels, Counter>,
    http_requests: Family<RequestLabels, Counter>,
    http_seconds: HistogramFamily<RouteLabels>,
    http_connections: Gauge,
    http_refused: Family<ReasonLabels, Counter>,
    http_closed: Family<ReasonLabels, Counter>,
    http_accept_errors: Counter,
    commit_seconds: Histogram,
    commit_batch_size: Histogram,
    venues: Gauge,
    open_orders: Family<VenueLabels, Gauge>,
    mqtt: crate::mqtt::metrics::MqttMetrics,
    readings_persisted: Counter,
    readings_duplicate: Counter,
    readings_dropped: Counter,
    reading_batches: Counter,
    reading_batch_size: Histogram,
    reading_store_failures: Counter,
}

/// The hub's metrics. Cloning shares the same counters; one per hub, in `AppState`.
///
/// Label values must come from bounded sets: venue slugs, rejection codes, and axum's
/// *matched route template* (`/api/v1/orders/{id}`), never a raw path.
#[derive(Clone)]
pub struct Metrics {
    inner: Arc<Inner>,
}

impl fmt::Debug for Metrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::default();

        let commands = Family::<CommandLabels, Counter>::default();
        // prometheus-client appends `_total` to counter names.
        registry.register(
            "hub_commands",
            "Commands handled by venue engines, by outcome",
            commands.clone(),
        );
        let rejections = Family::<CodeLabels, Counter>::default();
        registry.register(
            "hub_rejections",
            "Commands rejected by the domain, by rejection code",
            rejections.clone(),
        );
        let http_requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "hub_http_requests",
            "HTTP requests answered, by method, route template and status",
            http_requests.clone(),
        );
        let http_seconds: HistogramFamily<RouteLabels> =
            Family::new_with_constructor(|| Histogram::new(HTTP_SECONDS_BUCKETS));
        registry.register(
            "hub_http_request_seconds",
            "HTTP request latency by route template",
            http_seconds.clone(),
        );
        let http_connections = Gauge::default();
        registry.register(
            "hub_http_connections",
            "HTTP connections open, WebSockets included",
            http_connections.clone(),
        );
        let http_refused = Family::<ReasonLabels, Counter>::default();
        registry.register(
            "hub_http_connections_refused",
            "HTTP connections refused at once, by the cap that was full",
            http_refused.clone(),
        );
        for reason in crate::http::admission::REFUSAL_REASONS {
            let _ = http_refused.get_or_create(&ReasonLabels { reason });
        }
        let http_closed = Family::<ReasonLabels, Counter>::default();
        registry.register(
            "hub_http_connections_closed",
            "HTTP connections the hub closed: a timeout, or to make room for a new one",
            http_closed.clone(),
        );
        for reason in crate::http::server::CLOSE_REASONS {
            let _ = http_closed.get_or_create(&ReasonLabels { reason });
        }
        let http_accept_errors = Counter::default();
        registry.register(
            "hub_http_accept_errors",
            "Failed accepts on the HTTP port (out of file descriptors); each pauses accepting briefly",
            http_accept_errors.clone(),
        );
        let commit_seconds = Histogram::new(COMMIT_SECONDS_BUCKETS);
        registry.register(
            "hub_commit_seconds",
            "Time to persist one batch of events",
            commit_seconds.clone(),
        );
        let commit_batch_size = Histogram::new(exponential_buckets(1.0, 2.0, 10));
        registry.register(
            "hub_commit_batch_size",
            "Commands persisted per transaction (group commit)",
            commit_batch_size.clone(),
        );
        let venues = Gauge::default();
        registry.register("hub_venues", "Venues served by this hub", venues.clone());
        let open_orders = Family::<VenueLabels, Gauge>::default();
        registry.register(
            "hub_open_orders",
            "Orders currently open, by venue",
            open_orders.clone(),
        );

        let mqtt = crate::mqtt::metrics::MqttMetrics::register(&mut registry);
        let readings_persisted = Counter::default();
        registry.register(
            "hub_readings_persisted",
            "Temperature readings newly stored by the readings recorder",
            readings_persisted.clone(),
        );
        let readings_duplicate = Counter::default();
        registry.register(
            "hub_readings_duplicate",
            "Readings the store already had (a retried batch or a repeated message)",
            readings_duplicate.clone(),
        );
        let readings_dropped = Counter::default();
        registry.register(
            "hub_readings_dropped",
            "Readings that were not stored: refused by the store, or recorded after the recorder stopped",
            readings_dropped.clone(),
        );
        let reading_batches = Counter::default();
        registry.register(
            "hub_reading_batches",
            "Batches of readings written to the store",
            reading_batches.clone(),
        );
        let reading_batch_size = Histogram::new(exponential_buckets(1.0, 2.0, 13));
        registry.register(
            "hub_reading_batch_size",
            "Readings per batch written to the store",
            reading_batch_size.clone(),
        );
        let reading_store_failures = Counter::default();
        registry.register(
            "hub_reading_store_failures",
            "Failed attempts to write a batch of readings (each retry counts)",
            reading_store_failures.clone(),
        );

        Self {
            inner: Arc::new(Inner {
                registry,
                commands,
                rejections,
                http_requests,
                http_seconds,
                http_connections,
                http_refused,
                http_closed,
                http_accept_errors,
                commit_seconds,
                commit_batch_size,
                venues,
                open_orders,
                mqtt,
                readings_persisted,
                readings_duplicate,
                readings_dropped,
                reading_batches,
                reading_batch_size,
                reading_store_failures,
            }),
        }
    }

    fn command(&self, venue: &str, outcome: Outcome) {
        self.inner
            .commands
            .get_or_create(&CommandLabels {
                venue: venue.to_owned(),
                outcome,
            })
            .inc();
    }

    pub fn command_accepted(&self, venue: &str) {
        self.command(venue, Outcome::Accepted);
    }

    /// A domain rejection; also counted under its stable code.
    pub fn command_rejected(&self, venue: &str, code: &str) {
        self.command(venue, Outcome::Rejected);
        self.inner
            .rejections
            .get_or_create(&CodeLabels {
                code: code.to_owned(),
            })
            .inc();
    }

    /// A retry answered from the idempotency record.
    pub fn command_duplicate(&self, venue: &str) {
        self.command(venue, Outcome::Duplicate);
    }

    /// The engine or its store could not take the command (stopped, overloaded, DB down).
    pub fn command_unavailable(&self, venue: &str) {
        self.command(venue, Outcome::Unavailable);
    }

    /// One group commit: how long the transaction took and how many commands it held.
    pub fn observe_commit(&self, duration: Duration, batch_size: usize) {
        self.inner.commit_seconds.observe(duration.as_secs_f64());
        self.inner.commit_batch_size.observe(batch_size as f64);
    }

    /// One answered HTTP request; `route` is the matched route template.
    pub fn observe_http(&self, method: &str, route: &str, status: u16, duration: Duration) {
        self.inner
            .http_requests
            .get_or_create(&RequestLabels {
                method: method.to_owned(),
                route: route.to_owned(),
                status,
            })
            .inc();
        self.inner
            .http_seconds
            .get_or_create(&RouteLabels {
                route: route.to_owned(),
            })
            .observe(duration.as_secs_f64());
    }

    /// An HTTP connection opened (`1`) or closed (`-1`).
    pub fn http_connections(&self, delta: i64) {
        self.inner.http_connections.inc_by(delta);
    }

    /// A connection refused because the cap named by `reason` was full.
    pub fn http_connection_refused(&self, reason: &'static str) {
        self.inner
            .http_refused
            .get_or_create(&ReasonLabels { reason })
            .inc();
    }

    /// A connection the hub closed, for `reason`.
    pub fn http_connection_closed(&self, reason: &'static str) {
        self.inner
            .http_closed
            .get_or_create(&ReasonLabels { reason })
            .inc();
    }

    pub fn http_accept_failed(&self) {
        self.inner.http_accept_errors.inc();
    }

    pub fn set_venues(&self, count: usize) {
        self.inner
            .venues
            .set(i64::try_from(count).unwrap_or(i64::MAX));
    }

    pub fn set_open_orders(&self, venue: &str, count: usize) {
        self.inner
            .open_orders
            .get_or_create(&VenueLabels {
                venue: venue.to_owned(),
            })
            .set(i64::try_from(count).unwrap_or(i64::MAX));
    }

    /// The device side's figures.
    pub fn mqtt(&self) -> &crate::mqtt::metrics::MqttMetrics {
        &self.inner.mqtt
    }

    /// One batch of readings written: `size` readings sent, `inserted` of them new.
    pub fn observe_reading_batch(&self, size: usize, inserted: usize) {
        self.inner.reading_batches.inc();
        self.inner.reading_batch_size.observe(size as f64);
        self.inner.readings_persisted.inc_by(inserted as u64);
        self.inner
            .readings_duplicate
            .inc_by(size.saturating_sub(inserted) as u64);
    }

    /// One failed attempt to write a batch of readings.
    pub fn reading_store_failure(&self) {
        self.inner.reading_store_failures.inc();
    }

    /// Readings that will never be stored.
    pub fn readings_dropped(&self, count: usize) {
        self.inner.readings_dropped.inc_by(count as u64);
    }

    /// Everything in the Prometheus text exposition format (OpenMetrics flavour).
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail; an encoding error would mean a bug in a
        // label encoder, and a partial page is better than none for a scrape.
        if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &self.inner.registry) {
            tracing::error!(error = %e, "encoding metrics");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_are_counted_per_venue_and_outcome() {
        let metrics = Metrics::new();
        metrics.command_accepted("demo");
        metrics.command_accepted("demo");
        metrics.command_rejected("demo", "table_occupied");
        metrics.command_duplicate("demo");
        metrics.command_unavailable("kemang");
        let text = metrics.encode();
        assert!(text.contains("# TYPE hub_commands counter"), "{text}");
        assert!(
            text.contains(r#"hub_commands_total{venue="demo",outcome="accepted"} 2"#),
            "{text}"
        );
        assert!(text.contains(r#"hub_commands_total{venue="demo",outcome="rejected"} 1"#));
        assert!(text.contains(r#"hub_commands_total{venue="demo",outcome="duplicate"} 1"#));
        assert!(text.contains(r#"hub_commands_total{venue="kemang",outcome="unavailable"} 1"#));
        assert!(text.contains(r#"hub_rejections_total{code="table_occupied"} 1"#));
    }

    #[test]
    fn commits_fill_the_latency_and_batch_histograms() {
        let metrics = Metrics::new();
        metrics.observe_commit(Duration::from_millis(3), 5);
        metrics.observe_commit(Duration::from_millis(30), 1);
        let text = metrics.encode();
        assert!(text.contains("hub_commit_seconds_count 2"), "{text}");
        assert!(
            text.contains(r#"hub_commit_seconds_bucket{le="0.005"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(r#"hub_commit_seconds_bucket{le="2.0"} 2"#),
            "{text}"
        );
        assert!(text.contains("hub_commit_batch_size_sum 6.0"), "{text}");
        assert!(
            text.contains(r#"hub_commit_batch_size_bucket{le="1.0"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(r#"hub_commit_batch_size_bucket{le="512.0"} 2"#),
            "{text}"
        );
    }

    #[test]
    fn http_requests_are_counted_and_timed_by_route() {
        let metrics = Metrics::new();
        metrics.observe_http("POST", "/api/v1/orders", 201, Duration::from_millis(4));
        metrics.observe_http("POST", "/api/v1/orders", 201, Duration::from_millis(6));
        let text = metrics.encode();
        assert!(
            text.contains(
                r#"hub_http_requests_total{method="POST",route="/api/v1/orders",status="201"} 2"#
            ),
            "{text}"
        );
        assert!(
            text.contains(r#"hub_http_request_seconds_count{route="/api/v1/orders"} 2"#),
            "{text}"
        );
    }

    #[test]
    fn gauges_show_the_latest_value() {
        let metrics = Metrics::new();
        metrics.set_venues(3);
        metrics.set_open_orders("demo", 7);
        metrics.set_open_orders("demo", 4);
        let text = metrics.encode();
        assert!(text.contains("hub_venues 3"), "{text}");
        assert!(
            text.contains(r#"hub_open_orders{venue="demo"} 4"#),
            "{text}"
        );
    }

    #[test]
    fn reading_batches_count_new_and_duplicate_readings() {
        let metrics = Metrics::new();
        metrics.observe_reading_batch(10, 7);
        metrics.observe_reading_batch(3, 3);
        metrics.reading_store_failure();
        metrics.readings_dropped(2);
        let text = metrics.encode();
        assert!(text.contains("hub_readings_persisted_total 10"), "{text}");
        assert!(text.contains("hub_readings_duplicate_total 3"), "{text}");
        assert!(text.contains("hub_reading_batches_total 2"), "{text}");
        assert!(text.contains("hub_reading_batch_size_sum 13.0"), "{text}");
        assert!(
            text.contains("hub_reading_store_failures_total 1"),
            "{text}"
        );
        assert!(text.contains("hub_readings_dropped_total 2"), "{text}");
    }

    #[test]
    fn clones_share_counters_but_separate_hubs_do_not() {
        let a = Metrics::new();
        let b = Metrics::new();
        a.clone().command_accepted("demo");
        assert!(a.encode().contains(r#"outcome="accepted"} 1"#));
        assert!(!b.encode().contains("accepted"));
    }
}
