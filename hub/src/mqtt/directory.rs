//! The device directory: every venue's registered devices by `(venue slug, device key)`, as
//! the gate and the bridge need them on every connection and message, kept current from
//! each venue's live feed (provisioned, updated, disabled, rotated, removed). A venue is
//! loaded on first use, so venues created after start-up are found too.
//!
//! Each entry carries the [`Access`] of its credential (key, secret, enabled). Every open
//! connection holds a [`Session`] of it; when the credential changes (rotated, disabled,
//! removed) the directory revokes the old access, which closes those connections, and
//! waits until they are closed before it reports the change applied to [`DeviceSync`],
//! which is what the HTTP answer waits for. A CONNECT whose secret check ran while the
//! change was applied finds its access revoked and is checked again.

use std::{sync::Arc, time::Duration};

use dashmap::DashMap;
use sha2::{Digest, Sha256};
use tokio::sync::{OnceCell, Semaphore, broadcast::error::RecvError, mpsc, watch};

use crate::{
    auth::{DeviceSync, verify_secret},
    domain::{Device, DeviceId, Event, VenueId},
    engine::{Engine, Published, VenueHandle},
};

/// How long a credential change waits for the connections it closes.
const SESSIONS_CLOSE_PATIENCE: Duration = Duration::from_secs(5);

/// What names one device in the hub: device ids are chosen per venue (a client may pick
/// one), so everything kept per device is kept per venue and device.
pub type VenueDevice = (VenueId, DeviceId);

/// A device as the MQTT side sees it, with its venue.
#[derive(Clone, Debug)]
pub struct DirectoryEntry {
    pub venue_id: VenueId,
    pub venue_slug: Arc<str>,
    pub handle: VenueHandle,
    pub device: Device,
    /// The right to hold connections under the device's credential as it is in `device`.
    pub access: Arc<Access>,
}

impl DirectoryEntry {
    pub fn device_ref(&self) -> VenueDevice {
        (self.venue_id, self.device.id)
    }
}

/// The right to hold MQTT connections under one credential: a device's key with its
/// current secret, while it is enabled. Revoked once, for good, when that changes.
#[derive(Debug)]
pub struct Access {
    revoked: watch::Sender<bool>,
}

impl Access {
    fn new() -> Self {
        Self {
            revoked: watch::channel(false).0,
        }
    }

    /// A session under this credential, `None` once it is revoked. A session taken before
    /// the revocation is counted: the revocation waits for it to close.
    pub fn session(&self) -> Option<Session> {
        let revoked = self.revoked.subscribe();
        let already = *revoked.borrow();
        (!already).then_some(Session { revoked })
    }

    fn revoke(&self) {
        self.revoked.send_replace(true);
    }

    /// Resolves once no session of this credential is left.
    async fn sessions_closed(&self) {
        self.revoked.closed().await;
    }
}

/// One connection's hold on its credential; dropping it says the connection is closed.
#[derive(Debug)]
pub struct Session {
    revoked: watch::Receiver<bool>,
}

impl Session {
    pub fn is_revoked(&self) -> bool {
        *self.revoked.borrow()
    }

    /// Resolves when the credential is revoked.
    pub async fn revoked(&mut self) {
        // An error means the access itself is gone, which only happens once nothing can
        // hold it any more: treat it as revoked.
        let _ = self.revoked.wait_for(|revoked| *revoked).await;
    }
}

/// Whether connections opened under `old` may stay open under `new`.
fn same_credential(old: &Device, new: &Device) -> bool {
    old.id == new.id && old.secret_hash == new.secret_hash && old.enabled == new.enabled
}

type DeviceKey = (Arc<str>, String);

#[derive(Clone)]
pub struct Directory {
    inner: Arc<Inner>,
}

struct Inner {
    engine: Engine,
    devices: DashMap<DeviceKey, Arc<DirectoryEntry>>,
    /// Venues whose feed is being watched, by slug; the cell is set once loaded.
    watched: DashMap<Arc<str>, Arc<OnceCell<()>>>,
    /// Where the directory says how far each venue's changes are in force.
    sync: DeviceSync,
    /// SHA-256 of secrets that already passed argon2, per device and secret hash, so a
    /// reconnect storm after a Wi-Fi outage does not cost one argon2 run per device each.
    verified: DashMap<VenueDevice, (String, [u8; 32])>,
    /// Engine events the bridge answers with downlinks (a waiter answered a call).
    reactions: Option<mpsc::UnboundedSender<Arc<Published>>>,
    /// argon2 runs at once: each takes ~19 MiB and tens of milliseconds, so a reconnect
    /// storm of a thousand devices must queue rather than start a thousand threads.
    hashing: Semaphore,
}

impl Directory {
    pub fn new(
        engine: Engine,
        sync: DeviceSync,
        reactions: Option<mpsc::UnboundedSender<Arc<Published>>>,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                engine,
                devices: DashMap::new(),
                watched: DashMap::new(),
                sync,
                verified: DashMap::new(),
                reactions,
                hashing: Semaphore::new(
                    std::thread::available_parallelism().map_or(2, |n| n.get()),
                ),
            }),
        }
    }

    /// The device `key` of venue `slug`, loading the venue on first use.
    pub async fn lookup(&self, slug: &str, key: &str) -> Option<Arc<DirectoryEntry>> {
        let loaded = self
            .inner
            .watched
            .get(slug)
            .is_some_and(|once| once.initialized());
        if !loaded {
            self.watch(slug).await;
        }
        self.inner
            .devices
            .get(&(Arc::from(slug), key.to_owned()))
            .map(|entry| entry.clone())
    }

    /// Whether `secret` is the device's current secret. Runs argon2 off the async threads
    /// the first time, a few at once; a repeat of a secret that already matched the same
    /// hash is answered from memory (a wrong one is never remembered).
    pub async fn verify(&self, entry: &DirectoryEntry, secret: &str) -> bool {
        let device = &entry.device;
        let digest: [u8; 32] = Sha256::digest(secret.as_bytes()).into();
        if let Some(known) = self.inner.verified.get(&entry.device_ref())
            && known.0 == device.secret_hash.as_str()
            && known.1 == digest
        {
            return true;
        }
        let Ok(_permit) = self.inner.hashing.acquire().await else {
            return false;
        };
        let (plain, hash) = (secret.to_owned(), device.secret_hash.to_string());
        let matches = tokio::task::spawn_blocking(move || verify_secret(&plain, &hash))
            .await
            .unwrap_or(false);
        if matches {
            self.inner
                .verified
                .insert(entry.device_ref(), (device.secret_hash.to_string(), digest));
        }
        matches
    }

    /// Loads a venue's devices and follows its feed, once per venue.
    async fn watch(&self, slug: &str) {
        let slug: Arc<str> = Arc::from(slug);
        let once = self.inner.watched.entry(slug.clone()).or_default().clone();
        let loaded = once
            .get_or_try_init(|| async {
                let handle = self.inner.engine.venue_by_slug(&slug).ok_or(())?;
                // Before the first view, so no answered change falls between the two.
                self.inner.sync.following(handle.id());
                let subscribed = handle
                    .subscribe(|venue| venue.devices.values().cloned().collect::<Vec<_>>())
                    .await;
                let Ok((devices, seq, feed)) = subscribed else {
                    self.inner.sync.stopped(handle.id());
                    return Err(());
                };
                let revoked = self.replace_venue(&handle, &slug, devices);
                close_sessions(revoked).await;
                self.inner.sync.applied(handle.id(), seq);
                let directory = self.clone();
                let followed = slug.clone();
                tokio::spawn(async move { directory.follow(handle, followed, feed).await });
                Ok::<(), ()>(())
            })
            .await;
        if loaded.is_err() {
            // No such venue (yet): forget the slug so a made-up name leaves nothing behind.
            self.inner.watched.remove(&slug);
        }
    }

    /// Puts a venue's devices as they are now in place; revokes (and returns) the access of
    /// every credential that changed or went away, after the new entries are in, so a
    /// connection that finds its access revoked finds the new state when it looks again.
    fn replace_venue(
        &self,
        handle: &VenueHandle,
        slug: &Arc<str>,
        devices: Vec<Device>,
    ) -> Vec<Arc<Access>> {
        let keys: std::collections::HashSet<String> =
            devices.iter().map(|d| d.key.clone()).collect();
        let mut revoked = Vec::new();
        let mut forgotten = Vec::new();
        self.inner.devices.retain(|(venue, key), entry| {
            let keep = venue != slug || keys.contains(key);
            if !keep {
                revoked.push(entry.access.clone());
                forgotten.push(entry.device_ref());
            }
            keep
        });
        for id in forgotten {
            self.inner.verified.remove(&id);
        }
        for device in devices {
            let key = (slug.clone(), device.key.clone());
            let previous = self.inner.devices.get(&key).map(|entry| entry.clone());
            let access = match previous {
                Some(old) if same_credential(&old.device, &device) => old.access.clone(),
                Some(old) => {
                    revoked.push(old.access.clone());
                    Arc::new(Access::new())
                }
                None => Arc::new(Access::new()),
            };
            self.inner.devices.insert(
                key,
                Arc::new(DirectoryEntry {
                    venue_id: handle.id(),
                    venue_slug: slug.clone(),
                    handle: handle.clone(),
                    device,
                    access,
                }),
            );
        }
        for access in &revoked {
            access.revoke();
        }
        revoked
    }

    /// Keeps a venue's devices current until the venue stops, and says how far it got.
    async fn follow(&self, handle: VenueHandle, slug: Arc<str>, mut feed: crate::engine::Feed) {
        let venue = handle.id();
        loop {
            match feed.recv().await {
                Ok(published) => match &published.event {
                    Event::ServiceRequestAcknowledged { .. }
                    | Event::ServiceRequestCancelled { .. } => {
                        if let Some(reactions) = &self.inner.reactions {
                            let _ = reactions.send(published.clone());
                        }
                        self.inner.sync.applied(venue, published.seq);
                        continue;
                    }
                    Event::DeviceProvisioned { .. }
                    | Event::DeviceUpdated { .. }
                    | Event::DeviceEnabledChanged { .. }
                    | Event::DeviceSecretRotated { .. }
                    | Event::DeviceRemoved { .. } => {}
                    _ => {
                        self.inner.sync.applied(venue, published.seq);
                        continue;
                    }
                },
                // Events were missed: the venue's devices as they are now cover them.
                Err(RecvError::Lagged(_)) => {}
                Err(RecvError::Closed) => {
                    self.inner.sync.stopped(venue);
                    return;
                }
            }
            let Ok((devices, seq)) = handle
                .read_at(|venue, seq| (venue.devices.values().cloned().collect::<Vec<_>>(), seq))
                .await
            else {
                self.inner.sync.stopped(venue);
                return;
            };
            let revoked = self.replace_venue(&handle, &slug, devices);
            close_sessions(revoked).await;
            self.inner.sync.applied(venue, seq);
        }
    }

    /// Every known device, for periodic checks (probe silence).
    pub fn entries(&self) -> Vec<Arc<DirectoryEntry>> {
        self.inner
            .devices
            .iter()
            .map(|e| e.value().clone())
            .collect()
    }

    /// Loads every venue the engine serves now.
    pub async fn load_all(&self) {
        for handle in self.inner.engine.venues() {
            self.watch(handle.slug()).await;
        }
    }
}

/// Waits (a bounded time) until no connection of the revoked credentials is open.
async fn close_sessions(revoked: Vec<Arc<Access>>) {
    if revoked.is_empty() {
        return;
    }
    let closing = revoked.iter().map(|access| access.sessions_closed());
    if tokio::time::timeout(
        SESSIONS_CLOSE_PATIENCE,
        futures_util::future::join_all(closing),
    )
    .await
    .is_err()
    {
        tracing::warn!(
            patience = ?SESSIONS_CLOSE_PATIENCE,
            "connections under a revoked device credential did not close in time"
        );
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeviceRef<'a> {
    pub venue: &'a str,
    pub key: &'a str,
}

/// Splits an MQTT user name `<venue>/<key>`.
pub fn parse_username(username: &str) -> Option<DeviceRef<'_>> {
    let (venue, key) = username.split_once('/')?;
    (devices::topic::is_valid_venue(venue) && devices::topic::is_valid_device(key))
        .then_some(DeviceRef { venue, key })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_username_names_venue_and_device() {
        assert_eq!(
            parse_username("demo/fridge-1"),
            Some(DeviceRef {
                venue: "demo",
                key: "fridge-1"
            })
        );
    }

    #[test]
    fn a_username_without_a_venue_or_with_extra_levels_is_refused() {
        for bad in [
            "fridge-1",
            "demo/",
            "/fridge-1",
            "demo/fridge/1",
            "Demo/fridge-1",
            "",
        ] {
            assert_eq!(parse_username(bad), None, "{bad}");
        }
    }
}
