//! The bridge's engine work queues: one per venue, so a slow commit in one venue never
//! stalls the bridge for another, and a device's commands run in the order they came.
//! Each queue is bounded. When one is full the bridge waits for room (back-pressure:
//! uplinks then wait in the broker link, and devices' QoS 1 messages in their outboxes);
//! a job is never dropped, because it may be a food-safety alarm. A full queue is counted
//! (`hub_mqtt_engine_queue_full_total`) and logged at a bounded rate; each queue's depth
//! (jobs waiting or running) is the `hub_mqtt_engine_queue_depth` gauge.

use std::{collections::HashMap, future::Future, pin::Pin, sync::Arc};

use prometheus_client::metrics::gauge::Gauge;
use tokio::sync::mpsc::{self, error::TrySendError};

use super::limiter::LogLimiter;
use crate::{domain::VenueId, metrics::Metrics};

/// Engine work for one venue: a command and what to tell the device after it.
pub type Job = Pin<Box<dyn Future<Output = ()> + Send>>;

/// Jobs a venue's queue holds before the bridge waits for room.
pub const ENGINE_QUEUE_CAPACITY: usize = 256;

struct VenueQueue {
    jobs: mpsc::Sender<Job>,
    /// Jobs queued or running.
    depth: Gauge,
}

/// One bounded queue, with its worker task, per venue.
pub struct VenueQueues {
    capacity: usize,
    queues: HashMap<VenueId, VenueQueue>,
    metrics: Metrics,
    log_limiter: Arc<LogLimiter>,
}

impl VenueQueues {
    pub fn new(capacity: usize, metrics: Metrics, log_limiter: Arc<LogLimiter>) -> Self {
        Self {
            capacity: capacity.max(1),
            queues: HashMap::new(),
            metrics,
            log_limiter,
        }
    }

    /// Runs `job` after the venue's earlier work; waits for room while the venue's queue
    /// is full. `venue_slug` labels the venue's figures.
    pub async fn push(&mut self, venue: VenueId, venue_slug: &str, job: Job) {
        let capacity = self.capacity;
        let metrics = &self.metrics;
        let queue = self.queues.entry(venue).or_insert_with(|| {
            let (jobs, mut rx) = mpsc::channel::<Job>(capacity);
            let depth = metrics.mqtt().engine_queue_depth(venue_slug);
            let worker_depth = depth.clone();
            tokio::spawn(async move {
                while let Some(job) = rx.recv().await {
                    job.await;
                    worker_depth.dec();
                }
            });
            VenueQueue { jobs, depth }
        });
        queue.depth.inc();
        let job = match queue.jobs.try_send(job) {
            Ok(()) => return,
            Err(TrySendError::Full(job)) => job,
            Err(TrySendError::Closed(_)) => {
                queue.depth.dec();
                tracing::error!(venue = venue_slug, "a venue's engine queue stopped");
                return;
            }
        };
        self.metrics.mqtt().engine_queue_full(venue_slug);
        if let Some(suppressed) = self.log_limiter.allow_counting("engine_queue_full") {
            tracing::warn!(
                venue = venue_slug,
                capacity,
                suppressed,
                "a venue's engine queue is full; the bridge waits for room"
            );
        }
        if queue.jobs.send(job).await.is_err() {
            queue.depth.dec();
            tracing::error!(venue = venue_slug, "a venue's engine queue stopped");
        }
    }
}

#[cfg(test)]
mod tests {
    use tokio::sync::oneshot;
    use uuid::Uuid;

    use super::*;

    fn job(log: &mpsc::UnboundedSender<&'static str>, name: &'static str) -> Job {
        let log = log.clone();
        Box::pin(async move {
            let _ = log.send(name);
        })
    }

    #[tokio::test]
    async fn a_full_queue_makes_the_bridge_wait_and_loses_no_job() {
        let metrics = Metrics::new();
        let mut queues = VenueQueues::new(1, metrics.clone(), Arc::new(LogLimiter::default()));
        let venue = VenueId(Uuid::from_u128(1));
        let (log, mut events) = mpsc::unbounded_channel::<&'static str>();
        // The first job holds the venue's worker until it is released, so with room for
        // one job the third push cannot get in before that.
        let (release, released) = oneshot::channel::<()>();
        let first = log.clone();
        let blocked: Job = Box::pin(async move {
            let _ = released.await;
            let _ = first.send("first");
        });
        queues.push(venue, "demo", blocked).await;
        queues.push(venue, "demo", job(&log, "second")).await;
        let releaser = log.clone();
        tokio::spawn(async move {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            let _ = releaser.send("released");
            let _ = release.send(());
        });
        queues.push(venue, "demo", job(&log, "third")).await;
        let _ = log.send("third pushed");
        let mut seen = Vec::new();
        while seen.len() < 5
            && let Some(event) = events.recv().await
        {
            seen.push(event);
        }
        let at = |name: &str| seen.iter().position(|e| *e == name);
        assert!(at("released") < at("third pushed"), "{seen:?}");
        assert!(
            at("first") < at("third pushed"),
            "the bridge waited: {seen:?}"
        );
        let jobs: Vec<&str> = seen
            .iter()
            .copied()
            .filter(|e| ["first", "second", "third"].contains(e))
            .collect();
        assert_eq!(jobs, ["first", "second", "third"], "none lost, in order");
        let figures = metrics.encode();
        assert!(
            figures.contains("hub_mqtt_engine_queue_full_total{venue=\"demo\"}")
                && !figures.contains("hub_mqtt_engine_queue_full_total{venue=\"demo\"} 0"),
            "{figures}"
        );
        // The worker lowers the depth once a job has ended.
        let idle = "hub_mqtt_engine_queue_depth{venue=\"demo\"} 0";
        while !metrics.encode().contains(idle) {
            tokio::task::yield_now().await;
        }
    }
}
