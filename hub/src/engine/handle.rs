//! `VenueHandle`: the cloneable address of a venue actor. Every call is a message; reads run
//! inside the actor, so they see exactly the committed state and never block the writer
//! behind a lock.

use std::sync::Arc;

use tokio::sync::{broadcast, mpsc, oneshot};
use uuid::Uuid;

use super::{EngineError, Envelope, Feed, Outcome, Published, StaffRoster};
use crate::domain::{StaffId, Standing, TenantId, Venue, VenueId};

/// Runs inside the actor with the committed state and the command's result.
pub(super) type Responder = Box<dyn FnOnce(&Venue, Result<Outcome, EngineError>) + Send>;
/// Runs inside the actor with the committed state.
pub(super) type Reader = Box<dyn FnOnce(&Venue, u64) + Send>;

pub(super) enum Request {
    Execute(Box<Envelope>, Responder),
    Read(Reader),
    Shutdown(oneshot::Sender<()>),
}

#[derive(Clone)]
pub struct VenueHandle {
    pub(super) id: VenueId,
    /// The restaurant company the venue belongs to: its owners reach all of its venues.
    pub(super) tenant: TenantId,
    pub(super) slug: Arc<str>,
    pub(super) tx: mpsc::Sender<Request>,
    pub(super) feed: broadcast::Sender<Arc<Published>>,
    /// Staff standing as of the last commit, kept by the actor, read without asking it.
    pub(super) roster: Arc<StaffRoster>,
}

impl std::fmt::Debug for VenueHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VenueHandle")
            .field("id", &self.id)
            .field("slug", &self.slug)
            .finish()
    }
}

impl VenueHandle {
    pub fn id(&self) -> VenueId {
        self.id
    }

    pub fn tenant(&self) -> TenantId {
        self.tenant
    }

    pub fn slug(&self) -> &str {
        &self.slug
    }

    /// A staff member's standing (active, role, venues given) as of the venue's last
    /// commit; `None` when the venue has no such member. Never waits on the actor.
    pub fn staff_standing(&self, staff: StaffId) -> Option<Standing> {
        self.roster.standing(staff)
    }

    /// Whether the venue has any staff yet; one just created has none, so it can neither
    /// vouch for a token nor refuse it.
    pub fn has_staff(&self) -> bool {
        !self.roster.is_empty()
    }

    /// Executes a command; answers once its events are durable (or it was refused).
    pub async fn execute(&self, envelope: Envelope) -> Result<Outcome, EngineError> {
        self.execute_and_read(envelope, |_, outcome| outcome).await
    }

    /// Executes a command and, in the same turn of the actor, reads the state it left, so
    /// the answer shows exactly what the command did (e.g. the order it opened).
    pub async fn execute_and_read<T, F>(
        &self,
        envelope: Envelope,
        read: F,
    ) -> Result<T, EngineError>
    where
        T: Send + 'static,
        F: FnOnce(&Venue, Result<Outcome, EngineError>) -> Result<T, EngineError> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let responder: Responder = Box::new(move |venue, outcome| {
            let _ = reply.send(read(venue, outcome));
        });
        self.tx
            .send(Request::Execute(Box::new(envelope), responder))
            .await
            .map_err(|_| EngineError::Stopped)?;
        answer.await.map_err(|_| EngineError::Stopped)?
    }

    /// Reads the committed state.
    pub async fn read<T, F>(&self, read: F) -> Result<T, EngineError>
    where
        T: Send + 'static,
        F: FnOnce(&Venue) -> T + Send + 'static,
    {
        self.read_at(move |venue, _| read(venue)).await
    }

    /// Reads the committed state together with the sequence number it reflects.
    pub async fn read_at<T, F>(&self, read: F) -> Result<T, EngineError>
    where
        T: Send + 'static,
        F: FnOnce(&Venue, u64) -> T + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let reader: Reader = Box::new(move |venue, seq| {
            let _ = reply.send(read(venue, seq));
        });
        self.tx
            .send(Request::Read(reader))
            .await
            .map_err(|_| EngineError::Stopped)?;
        answer.await.map_err(|_| EngineError::Stopped)
    }

    /// A view of the state and the live feed of every later event, taken atomically: the
    /// first event the feed yields is the one with `seq + 1`.
    pub async fn subscribe<T, F>(&self, view: F) -> Result<(T, u64, Feed), EngineError>
    where
        T: Send + 'static,
        F: FnOnce(&Venue) -> T + Send + 'static,
    {
        let feed = self.feed.clone();
        self.read_at(move |venue, seq| (view(venue), seq, feed.subscribe()))
            .await
    }

    /// Finishes the queued work, writes a snapshot and stops the actor.
    pub async fn shutdown(&self) {
        let (done, finished) = oneshot::channel();
        if self.tx.send(Request::Shutdown(done)).await.is_ok() {
            let _ = finished.await;
        }
    }

    /// A new id for a command issued by the hub itself.
    pub fn system_command_id() -> Uuid {
        Uuid::now_v7()
    }
}
