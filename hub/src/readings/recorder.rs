//! Owns the batching of temperature readings into the store: a bounded queue, one task
//! that writes up to `max_batch` readings per transaction (or whatever arrived within
//! `max_delay`), retries while the store is unavailable and prunes raw readings past their
//! retention. It must not decide anything about the readings: it stores what it is given.
//!
//! Nothing accepted is dropped quietly. While a batch is being retried the task takes no
//! new readings, so the queue fills and [`ReadingsRecorder::record`] waits: back-pressure
//! reaches the MQTT bridge instead of memory growing. Only a reading the store refuses for
//! good (bisected down to that one reading) or one recorded after [`ReadingsRecorder::stop`]
//! is lost, and both are logged and counted in `hub_readings_dropped_total`.

use std::{collections::HashMap, sync::Arc, time::Duration};

use chrono::Utc;
use chrono_tz::Tz;
use tokio::{
    sync::{mpsc, oneshot},
    task::JoinHandle,
    time::Instant,
};

use super::zone;
use crate::{
    domain::VenueId,
    engine::Engine,
    metrics::Metrics,
    store::{DatedReading, ReadingRow, Store, StoreError},
};

/// Tuning of the recorder.
#[derive(Clone, Debug)]
pub struct RecorderConfig {
    /// Most readings written in one transaction.
    pub max_batch: usize,
    /// Longest a reading waits in a partial batch before the batch is written anyway.
    pub max_delay: Duration,
    /// Readings queued before `record` waits (back-pressure).
    pub queue_capacity: usize,
    /// Raw readings measured longer ago than this are deleted (day summaries are kept);
    /// `None` keeps them for ever.
    pub retention: Option<Duration>,
    /// How often retention runs.
    pub prune_every: Duration,
    /// First wait before retrying a batch the store could not take; doubles per attempt.
    pub first_retry: Duration,
    /// Longest wait between two attempts.
    pub max_retry: Duration,
}

impl Default for RecorderConfig {
    fn default() -> Self {
        Self {
            max_batch: 2000,
            max_delay: Duration::from_millis(500),
            queue_capacity: 20_000,
            retention: Some(Duration::from_secs(90 * 24 * 3600)),
            prune_every: Duration::from_secs(3600),
            first_retry: Duration::from_millis(100),
            max_retry: Duration::from_secs(5),
        }
    }
}

enum Request {
    Record(ReadingRow),
    /// Answered once every reading queued before it is durable.
    Flush(oneshot::Sender<()>),
    /// Flush, then stop taking readings and end the task.
    Stop(oneshot::Sender<()>),
}

/// Why [`ReadingsRecorder::try_record`] did not take a reading; it is handed back.
#[derive(Debug, thiserror::Error)]
pub enum TryRecordError {
    #[error("the readings queue is full")]
    Full(ReadingRow),
    #[error("the readings recorder has stopped")]
    Stopped(ReadingRow),
}

/// The cloneable address of the recorder task.
#[derive(Clone)]
pub struct ReadingsRecorder {
    tx: mpsc::Sender<Request>,
    metrics: Metrics,
}

impl std::fmt::Debug for ReadingsRecorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReadingsRecorder")
            .field("queued", &(self.tx.max_capacity() - self.tx.capacity()))
            .finish()
    }
}

impl ReadingsRecorder {
    /// Starts the recorder task. `engine` tells each venue's timezone, which decides the day
    /// a reading counts towards. The task ends after [`stop`](Self::stop), or when every
    /// handle is dropped (after writing what was queued).
    pub fn start(
        store: Arc<dyn Store>,
        engine: Engine,
        metrics: Metrics,
        config: RecorderConfig,
    ) -> (Self, JoinHandle<()>) {
        let (tx, rx) = mpsc::channel(config.queue_capacity.max(1));
        let task = RecorderTask {
            store,
            engine,
            metrics: metrics.clone(),
            config,
            rx,
            pending: Vec::new(),
            oldest: None,
            zones: HashMap::new(),
        };
        (Self { tx, metrics }, tokio::spawn(task.run()))
    }

    /// Queues a reading, waiting while the queue is full. A reading that is not a finite
    /// number, or one recorded after the recorder stopped, is logged and counted as
    /// dropped.
    pub async fn record(&self, row: ReadingRow) {
        let Some(row) = self.plausible(row) else {
            return;
        };
        if let Err(mpsc::error::SendError(Request::Record(row))) =
            self.tx.send(Request::Record(row)).await
        {
            self.dropped_after_stop(&row);
        }
    }

    /// Queues a reading if there is room now; hands it back otherwise.
    pub fn try_record(&self, row: ReadingRow) -> Result<(), TryRecordError> {
        let Some(row) = self.plausible(row) else {
            return Ok(());
        };
        match self.tx.try_send(Request::Record(row)) {
            Ok(()) => Ok(()),
            Err(mpsc::error::TrySendError::Full(Request::Record(row))) => {
                Err(TryRecordError::Full(row))
            }
            Err(mpsc::error::TrySendError::Closed(Request::Record(row))) => {
                Err(TryRecordError::Stopped(row))
            }
            // Only readings are sent here, so nothing else can come back.
            Err(_) => Ok(()),
        }
    }

    /// Returns once every reading queued before this call is durable (or was dropped as
    /// described on the type). Waits as long as the store is unavailable.
    pub async fn flush(&self) {
        let (done, flushed) = oneshot::channel();
        if self.tx.send(Request::Flush(done)).await.is_ok() {
            let _ = flushed.await;
        }
    }

    /// Writes everything queued, then stops the task; later readings are dropped (and
    /// counted). Waits as long as the store is unavailable: bound it with a timeout.
    pub async fn stop(&self) {
        let (done, stopped) = oneshot::channel();
        if self.tx.send(Request::Stop(done)).await.is_ok() {
            let _ = stopped.await;
        }
    }

    fn plausible(&self, row: ReadingRow) -> Option<ReadingRow> {
        if row.celsius.is_finite() {
            return Some(row);
        }
        tracing::warn!(
            device = %row.device_id,
            probe = %row.probe,
            celsius = row.celsius,
            "dropping a reading that is not a number"
        );
        self.metrics.readings_dropped(1);
        None
    }

    fn dropped_after_stop(&self, row: &ReadingRow) {
        tracing::error!(
            device = %row.device_id,
            probe = %row.probe,
            measured_at = %row.measured_at,
            "a reading arrived after the readings recorder stopped; it is not stored"
        );
        self.metrics.readings_dropped(1);
    }
}

struct RecorderTask {
    store: Arc<dyn Store>,
    engine: Engine,
    metrics: Metrics,
    config: RecorderConfig,
    rx: mpsc::Receiver<Request>,
    pending: Vec<ReadingRow>,
    /// When the oldest reading of `pending` arrived.
    oldest: Option<Instant>,
    /// Each venue's timezone, looked up once (a venue's timezone never changes).
    zones: HashMap<VenueId, Tz>,
}

impl RecorderTask {
    async fn run(mut self) {
        let mut prune = tokio::time::interval_at(
            Instant::now() + self.config.prune_every,
            self.config.prune_every,
        );
        prune.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let deadline = self.oldest.map(|oldest| oldest + self.config.max_delay);
            let request = tokio::select! {
                request = self.rx.recv() => request,
                () = tokio::time::sleep_until(deadline.unwrap_or_else(Instant::now)),
                    if deadline.is_some() =>
                {
                    self.write_pending().await;
                    continue;
                }
                _ = prune.tick(), if self.config.retention.is_some() => {
                    self.prune().await;
                    continue;
                }
            };
            match request {
                Some(Request::Record(row)) => self.push(row).await,
                Some(Request::Flush(done)) => {
                    self.write_pending().await;
                    let _ = done.send(());
                }
                Some(Request::Stop(done)) => {
                    self.drain().await;
                    let _ = done.send(());
                    return;
                }
                None => {
                    self.write_pending().await;
                    return;
                }
            }
        }
    }

    async fn push(&mut self, row: ReadingRow) {
        let oldest = *self.oldest.get_or_insert_with(Instant::now);
        self.pending.push(row);
        // Checked here too: a steady stream keeps `recv` ready, so the deadline branch of
        // the loop alone would never fire below `max_batch`.
        if self.pending.len() >= self.config.max_batch.max(1)
            || oldest.elapsed() >= self.config.max_delay
        {
            self.write_pending().await;
        }
    }

    /// Takes no more readings, then writes everything already queued.
    async fn drain(&mut self) {
        self.rx.close();
        let mut stopping = Vec::new();
        while let Some(request) = self.rx.recv().await {
            match request {
                Request::Record(row) => self.push(row).await,
                Request::Flush(done) => {
                    self.write_pending().await;
                    let _ = done.send(());
                }
                Request::Stop(done) => stopping.push(done),
            }
        }
        self.write_pending().await;
        for done in stopping {
            let _ = done.send(());
        }
    }

    async fn write_pending(&mut self) {
        self.oldest = None;
        if self.pending.is_empty() {
            return;
        }
        let readings = std::mem::take(&mut self.pending);
        let mut batch = Vec::with_capacity(readings.len());
        for reading in readings {
            let zone = self.zone(reading.venue_id).await;
            batch.push(DatedReading {
                day: zone::local_day(zone, reading.measured_at),
                reading,
            });
        }
        self.write(batch).await;
    }

    /// Writes a batch in one call, retrying with growing waits while the store is
    /// unavailable. A batch the store refuses outright is split in halves until the
    /// readings it refuses are alone; those are dropped, loudly.
    async fn write(&self, batch: Vec<DatedReading>) {
        let mut parts = vec![batch];
        while let Some(mut part) = parts.pop() {
            let mut wait = self.config.first_retry;
            loop {
                match self.store.append_readings(&part).await {
                    Ok(inserted) => {
                        self.metrics.observe_reading_batch(part.len(), inserted);
                        break;
                    }
                    Err(StoreError::Unavailable(message)) => {
                        self.metrics.reading_store_failure();
                        tracing::warn!(
                            %message,
                            readings = part.len(),
                            retry_in = ?wait,
                            "the store cannot take readings now; retrying"
                        );
                        tokio::time::sleep(wait).await;
                        wait = (wait * 2).min(self.config.max_retry);
                    }
                    Err(error) => {
                        self.metrics.reading_store_failure();
                        if part.len() == 1 {
                            let reading = &part[0].reading;
                            tracing::error!(
                                error = format!("{error:#}"),
                                venue = %reading.venue_id,
                                device = %reading.device_id,
                                probe = %reading.probe,
                                measured_at = %reading.measured_at,
                                "the store refused a reading; it is not stored"
                            );
                            self.metrics.readings_dropped(1);
                        } else {
                            let second = part.split_off(part.len() / 2);
                            parts.push(second);
                            parts.push(part);
                        }
                        break;
                    }
                }
            }
        }
    }

    async fn zone(&mut self, venue: VenueId) -> Tz {
        if let Some(zone) = self.zones.get(&venue) {
            return *zone;
        }
        let name = match self.engine.venue(venue) {
            Some(handle) => {
                handle
                    .read(|v| v.info.as_ref().map(|info| info.timezone.clone()))
                    .await
            }
            None => Ok(None),
        };
        match name {
            Ok(Some(name)) => {
                let zone = zone::venue_zone_or_utc(&name);
                self.zones.insert(venue, zone);
                zone
            }
            Ok(None) => {
                tracing::warn!(%venue, "readings of a venue this hub does not serve: days counted in UTC");
                self.zones.insert(venue, Tz::UTC);
                Tz::UTC
            }
            // The venue is shutting down; the hub stops the recorder before its venues,
            // so this is a reading recorded during shutdown.
            Err(error) => {
                tracing::warn!(%venue, %error, "venue timezone unknown: days counted in UTC");
                Tz::UTC
            }
        }
    }

    async fn prune(&self) {
        let Some(retention) = self.config.retention else {
            return;
        };
        let Ok(retention) = chrono::Duration::from_std(retention) else {
            return;
        };
        let Some(before) = Utc::now().checked_sub_signed(retention) else {
            return;
        };
        match self.store.prune_readings(before).await {
            Ok(0) => {}
            Ok(deleted) => tracing::info!(deleted, %before, "pruned raw readings past retention"),
            Err(error) => tracing::warn!(%error, "pruning readings failed; will try again"),
        }
    }
}
