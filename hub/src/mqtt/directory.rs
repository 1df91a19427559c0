//! The device directory: every venue's registered devices by `(venue slug, device key)`, as
//! the gate and the bridge need them on every connection and message, kept current from
//! each venue's live feed (provisioned, updated, disabled, rotated, removed). A venue is
//! loaded on first use, so venues created after start-up are found too. Disabling,
//! rotating or removing a device also kicks its open MQTT connections.

use std::sync::Arc;

use dashmap::DashMap;
use sha2::{Digest, Sha256};
use tokio::sync::{Notify, OnceCell, Semaphore, broadcast::error::RecvError, mpsc};

use crate::{
    auth::verify_secret,
    domain::{Device, DeviceId, Event, VenueId},
    engine::{Engine, Published, VenueHandle},
};

/// A device as the MQTT side sees it, with its venue.
#[derive(Clone, Debug)]
pub struct DirectoryEntry {
    pub venue_id: VenueId,
    pub venue_slug: Arc<str>,
    pub handle: VenueHandle,
    pub device: Device,
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
    /// Open connections of a device wait on this; it fires when they must close.
    kicks: DashMap<DeviceKey, Arc<Notify>>,
    /// SHA-256 of secrets that already passed argon2, per device and secret hash, so a
    /// reconnect storm after a Wi-Fi outage does not cost one argon2 run per device each.
    verified: DashMap<DeviceId, (String, [u8; 32])>,
    /// Engine events the bridge answers with downlinks (a waiter answered a call).
    reactions: Option<mpsc::UnboundedSender<Arc<Published>>>,
    /// argon2 runs at once: each takes ~19 MiB and tens of milliseconds, so a reconnect
    /// storm of a thousand devices must queue rather than start a thousand threads.
    hashing: Semaphore,
}

impl Directory {
    pub fn new(engine: Engine, reactions: Option<mpsc::UnboundedSender<Arc<Published>>>) -> Self {
        Self {
            inner: Arc::new(Inner {
                engine,
                devices: DashMap::new(),
                watched: DashMap::new(),
                kicks: DashMap::new(),
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
    pub async fn verify(&self, device: &Device, secret: &str) -> bool {
        let digest: [u8; 32] = Sha256::digest(secret.as_bytes()).into();
        if let Some(known) = self.inner.verified.get(&device.id)
            && known.0 == device.secret_hash
            && known.1 == digest
        {
            return true;
        }
        let Ok(_permit) = self.inner.hashing.acquire().await else {
            return false;
        };
        let (plain, hash) = (secret.to_owned(), device.secret_hash.clone());
        let matches = tokio::task::spawn_blocking(move || verify_secret(&plain, &hash))
            .await
            .unwrap_or(false);
        if matches {
            self.inner
                .verified
                .insert(device.id, (device.secret_hash.clone(), digest));
        }
        matches
    }

    /// Fires when the device's open connections must close (disabled, rotated, removed).
    pub fn kick_signal(&self, slug: &str, key: &str) -> Arc<Notify> {
        self.inner
            .kicks
            .entry((Arc::from(slug), key.to_owned()))
            .or_default()
            .clone()
    }

    /// Loads a venue's devices and follows its feed, once per venue.
    async fn watch(&self, slug: &str) {
        let slug: Arc<str> = Arc::from(slug);
        let once = self.inner.watched.entry(slug.clone()).or_default().clone();
        let loaded = once
            .get_or_try_init(|| async {
                let handle = self.inner.engine.venue_by_slug(&slug).ok_or(())?;
                let (devices, _, feed) = handle
                    .subscribe(|venue| venue.devices.values().cloned().collect::<Vec<_>>())
                    .await
                    .map_err(|_| ())?;
                self.replace_venue(&handle, &slug, devices);
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

    fn replace_venue(&self, handle: &VenueHandle, slug: &Arc<str>, devices: Vec<Device>) {
        let keys: std::collections::HashSet<String> =
            devices.iter().map(|d| d.key.clone()).collect();
        self.inner
            .devices
            .retain(|(venue, key), _| venue != slug || keys.contains(key));
        for device in devices {
            self.inner.devices.insert(
                (slug.clone(), device.key.clone()),
                Arc::new(DirectoryEntry {
                    venue_id: handle.id(),
                    venue_slug: slug.clone(),
                    handle: handle.clone(),
                    device,
                }),
            );
        }
    }

    /// Keeps a venue's devices current until the venue stops.
    async fn follow(&self, handle: VenueHandle, slug: Arc<str>, mut feed: crate::engine::Feed) {
        loop {
            let kicked: Vec<DeviceId> = match feed.recv().await {
                Ok(published) => match &published.event {
                    Event::ServiceRequestAcknowledged { .. }
                    | Event::ServiceRequestCancelled { .. } => {
                        if let Some(reactions) = &self.inner.reactions {
                            let _ = reactions.send(published.clone());
                        }
                        continue;
                    }
                    Event::DeviceProvisioned { .. } | Event::DeviceUpdated { .. } => Vec::new(),
                    Event::DeviceEnabledChanged { device_id, enabled } if !enabled => {
                        vec![*device_id]
                    }
                    Event::DeviceEnabledChanged { .. } => Vec::new(),
                    Event::DeviceSecretRotated { device_id, .. }
                    | Event::DeviceRemoved { device_id } => vec![*device_id],
                    _ => continue,
                },
                Err(RecvError::Lagged(_)) => Vec::new(),
                Err(RecvError::Closed) => return,
            };
            // Keys of kicked devices as they were before this change (a removed device is
            // gone from the venue afterwards).
            let kicked_keys: Vec<String> = self
                .inner
                .devices
                .iter()
                .filter(|e| e.key().0 == slug && kicked.contains(&e.value().device.id))
                .map(|e| e.key().1.clone())
                .collect();
            let Ok(devices) = handle
                .read(|venue| venue.devices.values().cloned().collect::<Vec<_>>())
                .await
            else {
                return;
            };
            self.replace_venue(&handle, &slug, devices);
            for key in kicked_keys {
                if let Some(kick) = self.inner.kicks.get(&(slug.clone(), key)) {
                    kick.notify_waiters();
                }
            }
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
