//! The `Engine`: every venue this hub serves, each behind its own actor. The maps only route
//! (id or slug -> handle); handles are cloned out before any await.

use std::sync::Arc;

use anyhow::Context as _;
use dashmap::DashMap;
use tokio::sync::{broadcast, mpsc};
use uuid::Uuid;

use super::{
    EngineConfig, EngineError, Envelope, Outcome, actor::VenueActor, handle::VenueHandle, recovery,
};
use crate::{
    domain::{Actor, Command, TenantId, VenueId},
    metrics::Metrics,
    store::{Store, StoreError, TenantRecord, UsernameClaim, VenueRecord},
};

#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

struct Inner {
    venues: DashMap<VenueId, VenueHandle>,
    slugs: DashMap<String, VenueId>,
    store: Arc<dyn Store>,
    metrics: Metrics,
    config: EngineConfig,
    tasks: std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

/// What a new venue is set up with besides its name and slug.
#[derive(Clone, Copy, Debug)]
pub struct VenueSettings<'a> {
    /// IANA zone, e.g. `Asia/Jakarta`: what "today" means in reports.
    pub timezone: &'a str,
    /// ISO 4217 code, e.g. `IDR`.
    pub currency: &'a str,
}

/// The command that records a venue's creation, checked before the registry row exists so
/// no empty venue is left behind by bad input.
fn creation(
    tenant: &TenantRecord,
    venue: &VenueRecord,
    settings: VenueSettings<'_>,
) -> Result<Command, EngineError> {
    let command = Command::CreateVenue {
        venue_id: VenueId(venue.id),
        tenant_id: TenantId(tenant.id),
        slug: venue.slug.clone(),
        name: venue.name.clone(),
        timezone: settings.timezone.to_owned(),
        currency: settings.currency.to_owned(),
    };
    crate::domain::Venue::default().decide(&command, &Actor::system(), chrono::Utc::now())?;
    Ok(command)
}

fn slug_taken(slug: &str) -> EngineError {
    EngineError::Rejected(crate::domain::Rejection::conflict(
        crate::domain::RejectionCode::VenueSlugTaken,
        format!("a venue with slug {slug:?} exists"),
    ))
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("venues", &self.inner.venues.len())
            .finish()
    }
}

impl Engine {
    /// Starts an actor for every venue in the store, rebuilding each from its snapshot and
    /// journal.
    pub async fn start(
        store: Arc<dyn Store>,
        metrics: Metrics,
        config: EngineConfig,
    ) -> anyhow::Result<Self> {
        let engine = Self {
            inner: Arc::new(Inner {
                venues: DashMap::new(),
                slugs: DashMap::new(),
                store,
                metrics,
                config,
                tasks: std::sync::Mutex::new(Vec::new()),
            }),
        };
        let venues = engine
            .inner
            .store
            .list_venues()
            .await
            .context("listing venues")?;
        for venue in venues {
            engine
                .spawn_venue(&venue)
                .await
                .with_context(|| format!("recovering venue {}", venue.slug))?;
        }
        engine.inner.metrics.set_venues(engine.inner.venues.len());
        Ok(engine)
    }

    async fn spawn_venue(&self, record: &VenueRecord) -> Result<VenueHandle, StoreError> {
        let started = std::time::Instant::now();
        let recovered = recovery::recover(self.inner.store.as_ref(), record.id).await?;
        tracing::info!(
            venue = %record.slug,
            seq = recovered.seq,
            from_snapshot = recovered.snapshot_seq,
            replayed = recovered.replayed_events,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "venue recovered"
        );
        let id = VenueId(record.id);
        let slug: Arc<str> = Arc::from(record.slug.as_str());
        let (tx, rx) = mpsc::channel(self.inner.config.queue_capacity);
        let (feed, _) = broadcast::channel(self.inner.config.feed_capacity);
        let actor = VenueActor::new(
            id,
            slug.clone(),
            recovered,
            self.inner.store.clone(),
            self.inner.metrics.clone(),
            self.inner.config.clone(),
            feed.clone(),
        );
        let roster = actor.roster.clone();
        let task = tokio::spawn(actor.run(rx));
        if let Ok(mut tasks) = self.inner.tasks.lock() {
            tasks.push(task);
        }
        let handle = VenueHandle {
            id,
            tenant: TenantId(record.tenant_id),
            slug,
            tx,
            feed,
            roster,
        };
        self.inner.venues.insert(id, handle.clone());
        self.inner.slugs.insert(record.slug.clone(), id);
        Ok(handle)
    }

    /// Registers a new venue of `tenant`, starts its actor and records its creation in its
    /// journal under `command_id`. A retry of the same request (same venue id) finishes or
    /// replays the first; another venue with the slug is refused with `venue_slug_taken`.
    pub async fn create_venue(
        &self,
        tenant: TenantRecord,
        venue: VenueRecord,
        settings: VenueSettings<'_>,
        command_id: Uuid,
    ) -> Result<(VenueHandle, Outcome), EngineError> {
        let command = creation(&tenant, &venue, settings)?;
        let handle = match self.inner.store.create_venue(&tenant, &venue).await {
            Ok(()) => self
                .spawn_venue(&venue)
                .await
                .map_err(|e| EngineError::Unavailable(e.to_string()))?,
            Err(StoreError::Conflict(_)) => match self.venue(VenueId(venue.id)) {
                Some(existing) if existing.tenant() == TenantId(tenant.id) => existing,
                _ => return Err(slug_taken(&venue.slug)),
            },
            Err(other) => return Err(EngineError::Unavailable(other.to_string())),
        };
        let outcome = handle
            .execute(Envelope {
                command_id,
                actor: Actor::system(),
                command,
            })
            .await?;
        self.inner.metrics.set_venues(self.inner.venues.len());
        Ok((handle, outcome))
    }

    /// First-run setup: registers the hub's first venue and claims its owner's username,
    /// unless the store already has a venue (decided by the store, in one transaction);
    /// then starts the venue and records its creation. `None` when a venue existed.
    pub async fn set_up_first_venue(
        &self,
        tenant: TenantRecord,
        venue: VenueRecord,
        settings: VenueSettings<'_>,
        owner: &UsernameClaim,
    ) -> Result<Option<VenueHandle>, EngineError> {
        let command = creation(&tenant, &venue, settings)?;
        let created = self
            .inner
            .store
            .create_first_venue(&tenant, &venue, owner)
            .await
            .map_err(|e| EngineError::Unavailable(e.to_string()))?;
        if !created {
            return Ok(None);
        }
        let handle = self
            .spawn_venue(&venue)
            .await
            .map_err(|e| EngineError::Unavailable(e.to_string()))?;
        handle
            .execute(Envelope {
                command_id: VenueHandle::system_command_id(),
                actor: Actor::system(),
                command,
            })
            .await?;
        self.inner.metrics.set_venues(self.inner.venues.len());
        Ok(Some(handle))
    }

    pub fn venue(&self, id: VenueId) -> Option<VenueHandle> {
        self.inner.venues.get(&id).map(|handle| handle.clone())
    }

    pub fn venue_by_slug(&self, slug: &str) -> Option<VenueHandle> {
        let id = self.inner.slugs.get(slug).map(|id| *id)?;
        self.venue(id)
    }

    /// Every venue, ordered by slug.
    pub fn venues(&self) -> Vec<VenueHandle> {
        let mut venues: Vec<VenueHandle> = self
            .inner
            .venues
            .iter()
            .map(|entry| entry.value().clone())
            .collect();
        venues.sort_by(|a, b| a.slug().cmp(b.slug()));
        venues
    }

    /// Every venue of one tenant, ordered by slug.
    pub fn venues_of(&self, tenant: TenantId) -> Vec<VenueHandle> {
        let mut venues = self.venues();
        venues.retain(|venue| venue.tenant() == tenant);
        venues
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.inner.store
    }

    /// Executes on the venue with the given id.
    pub async fn execute(
        &self,
        venue: VenueId,
        envelope: Envelope,
    ) -> Result<Outcome, EngineError> {
        let handle = self.venue(venue).ok_or(EngineError::Stopped)?;
        handle.execute(envelope).await
    }

    /// Lets every actor finish its queued work and write a final snapshot.
    pub async fn shutdown(&self) {
        for handle in self.venues() {
            handle.shutdown().await;
        }
        let tasks = match self.inner.tasks.lock() {
            Ok(mut tasks) => std::mem::take(&mut *tasks),
            Err(_) => Vec::new(),
        };
        for task in tasks {
            let _ = task.await;
        }
    }
}
