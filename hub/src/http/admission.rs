//! Which TCP connections the HTTP port takes, and which it lets go when full. A connection
//! is admitted under a cap per client address and a total cap; the total is lowered to fit
//! the open-files limit with a reserve left over, so a flood of HTTP connections cannot
//! take the file descriptors the store's pool, the MQTT port and the hub itself need.
//!
//! When the total is reached, the connection that has waited longest without a request in
//! progress (silent, sending its head slowly, or idle between requests) is told to close
//! to make room, so idle sockets cannot lock real clients out; only when none is waiting
//! is the newcomer refused. An address over its own cap is refused and never makes room.
//! A WebSocket keeps its place while it is open but is never closed to make room.
//! Nothing here does I/O on a connection: the server acts on what this decides.

use std::{
    net::IpAddr,
    sync::{
        Arc,
        atomic::{AtomicU64, AtomicUsize, Ordering},
    },
};

use dashmap::DashMap;
use tokio::{sync::Notify, time::Instant};

use crate::metrics::Metrics;

/// The smallest total cap, whatever the open-files arithmetic says: below it the hub would
/// hardly serve anyone, and the limit is then clearly too low (a warning says so).
const MIN_TOTAL: usize = 16;
/// Connections admitted beyond the total while the ones told to make room are closing.
const OVERSHOOT: usize = 16;
/// The reserve when none is configured: a quarter of the open-files limit, at least this.
const MIN_RESERVE: u64 = 64;

/// `idle_since` while a request is in progress.
const BUSY: u64 = u64::MAX - 1;
/// `idle_since` once the connection was told to make room.
const EVICTED: u64 = u64::MAX;

/// The configured caps.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Most connections at once, before the open-files limit is considered.
    pub max_connections: usize,
    /// Most connections at once from one address; 0 = no cap.
    pub max_per_address: usize,
    /// File descriptors left to the rest of the hub; `None`: a quarter of the limit, ≥ 64.
    pub fd_reserve: Option<u64>,
}

/// Why a connection was not admitted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Its address holds as many connections as one address may.
    PerAddress,
    /// The hub holds as many as it may, and none is waiting idle to make room.
    Total,
}

/// Every refusal's metrics label, for pre-registering.
pub const REFUSAL_REASONS: [&str; 2] = ["per_address", "total"];

impl Refusal {
    /// The metrics label.
    pub fn reason(self) -> &'static str {
        match self {
            Refusal::PerAddress => "per_address",
            Refusal::Total => "total",
        }
    }

    /// What the client is told.
    pub fn message(self) -> &'static str {
        match self {
            Refusal::PerAddress => {
                "this address has too many connections open to the hub; close some and retry"
            }
            Refusal::Total => "the hub has too many connections open; retry in a moment",
        }
    }
}

/// The open-files limit of this process and how many are open now, from `/proc`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OpenFiles {
    pub limit: u64,
    pub in_use: u64,
}

impl OpenFiles {
    /// `None` where `/proc` is not available or the limit is `unlimited`.
    pub fn of_this_process() -> Option<Self> {
        let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
        let limit = soft_open_files_limit(&limits)?;
        let in_use = std::fs::read_dir("/proc/self/fd").ok()?.count() as u64;
        Some(Self { limit, in_use })
    }
}

/// The soft "Max open files" of a `/proc/<pid>/limits` text.
pub fn soft_open_files_limit(limits: &str) -> Option<u64> {
    limits
        .lines()
        .find_map(|line| line.strip_prefix("Max open files"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|soft| soft.parse().ok())
}

/// The total cap for `limits` given the process's open files: the configured cap, or less
/// when the open-files limit minus what is open and the reserve leaves less room.
pub fn total_cap(limits: &Limits, files: Option<OpenFiles>) -> usize {
    let Some(files) = files else {
        return limits.max_connections;
    };
    let reserve = limits
        .fd_reserve
        .unwrap_or_else(|| (files.limit / 4).max(MIN_RESERVE));
    let room = files
        .limit
        .saturating_sub(files.in_use)
        .saturating_sub(reserve)
        .saturating_sub(OVERSHOOT as u64);
    let room = usize::try_from(room).unwrap_or(usize::MAX);
    limits.max_connections.min(room.max(MIN_TOTAL))
}

/// The connections of one HTTP port.
pub struct Admission {
    total: usize,
    per_address: Option<usize>,
    open: AtomicUsize,
    by_address: DashMap<IpAddr, usize>,
    /// Connections still speaking HTTP (not upgraded), the candidates to make room.
    places: DashMap<u64, Arc<Place>>,
    next_id: AtomicU64,
    epoch: Instant,
    metrics: Metrics,
}

impl Admission {
    /// Caps for this process as it stands now; logs what they came to.
    pub fn new(limits: &Limits, metrics: Metrics) -> Arc<Self> {
        let files = OpenFiles::of_this_process();
        let total = total_cap(limits, files);
        let per_address = (limits.max_per_address > 0).then_some(limits.max_per_address);
        match files {
            Some(files) if total < limits.max_connections => {
                let reserve = limits
                    .fd_reserve
                    .unwrap_or_else(|| (files.limit / 4).max(MIN_RESERVE));
                if total <= MIN_TOTAL {
                    tracing::warn!(
                        limit = files.limit,
                        in_use = files.in_use,
                        reserve,
                        "the open-files limit leaves almost no room for HTTP connections; raise it (ulimit -n, LimitNOFILE=)"
                    );
                }
                tracing::info!(
                    total,
                    per_address = limits.max_per_address,
                    open_files_limit = files.limit,
                    in_use = files.in_use,
                    reserve,
                    "HTTP connections capped by the open-files limit"
                );
            }
            _ => tracing::info!(
                total,
                per_address = limits.max_per_address,
                "HTTP connection caps"
            ),
        }
        Arc::new(Self {
            total,
            per_address,
            open: AtomicUsize::new(0),
            by_address: DashMap::new(),
            places: DashMap::new(),
            next_id: AtomicU64::new(0),
            epoch: Instant::now(),
            metrics,
        })
    }

    /// The total cap in force.
    pub fn total(&self) -> usize {
        self.total
    }

    /// Admits a connection from `address`, or says which cap refuses it. The ticket must
    /// live as long as the socket; the place as long as it speaks HTTP.
    pub fn admit(self: &Arc<Self>, address: IpAddr) -> Result<(Ticket, Arc<Place>), Refusal> {
        let address = address.to_canonical();
        if let Some(cap) = self.per_address {
            let mut count = self.by_address.entry(address).or_insert(0);
            if *count >= cap {
                return Err(Refusal::PerAddress);
            }
            *count += 1;
        }
        if !self.take_one() {
            self.release_address(address);
            return Err(Refusal::Total);
        }
        self.metrics.http_connections(1);
        let ticket = Ticket {
            admission: self.clone(),
            address,
        };
        let place = Arc::new(Place {
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
            epoch: self.epoch,
            idle_since: AtomicU64::new(self.now_ms()),
            evicted: Notify::new(),
        });
        self.places.insert(place.id, place.clone());
        Ok((ticket, place))
    }

    /// The connection stopped speaking HTTP (it ended, or became a WebSocket): it can no
    /// longer be told to make room.
    pub fn leave(&self, place: &Place) {
        self.places.remove(&place.id);
    }

    fn take_one(&self) -> bool {
        loop {
            let open = self.open.load(Ordering::Acquire);
            if open >= self.total + OVERSHOOT || (open >= self.total && !self.make_room()) {
                return false;
            }
            if self
                .open
                .compare_exchange(open, open + 1, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
            {
                return true;
            }
        }
    }

    /// Tells the connection idle the longest to close; `false` if none is idle.
    fn make_room(&self) -> bool {
        // A candidate may turn busy between the scan and the claim: look again.
        for _ in 0..3 {
            let oldest = self
                .places
                .iter()
                .filter_map(|entry| {
                    let since = entry.idle_since.load(Ordering::Acquire);
                    (since < BUSY).then(|| (since, entry.value().clone()))
                })
                .min_by_key(|(since, _)| *since);
            let Some((since, place)) = oldest else {
                return false;
            };
            if place
                .idle_since
                .compare_exchange(since, EVICTED, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
            {
                place.evicted.notify_one();
                return true;
            }
        }
        false
    }

    fn release_address(&self, address: IpAddr) {
        if self.per_address.is_some() {
            if let Some(mut count) = self.by_address.get_mut(&address) {
                *count = count.saturating_sub(1);
            }
            self.by_address.remove_if(&address, |_, count| *count == 0);
        }
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(BUSY - 1)
    }
}

/// An admitted connection's share of the caps, given back when dropped (when the socket
/// closes, also after a WebSocket upgrade).
pub struct Ticket {
    admission: Arc<Admission>,
    address: IpAddr,
}

impl Drop for Ticket {
    fn drop(&mut self) {
        self.admission.open.fetch_sub(1, Ordering::AcqRel);
        self.admission.release_address(self.address);
        self.admission.metrics.http_connections(-1);
    }
}

/// Whether a connection has a request in progress, and the signal to make room.
pub struct Place {
    id: u64,
    epoch: Instant,
    /// Milliseconds after `epoch` since when no request is in progress, or [`BUSY`], or
    /// [`EVICTED`].
    idle_since: AtomicU64,
    evicted: Notify,
}

impl Place {
    /// A request arrived.
    pub fn busy(&self) {
        let _ = self
            .idle_since
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |since| {
                (since != EVICTED).then_some(BUSY)
            });
    }

    /// The answer was sent.
    pub fn idle(&self) {
        let now = u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(BUSY - 1);
        let _ = self
            .idle_since
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |since| {
                (since != EVICTED).then_some(now)
            });
    }

    pub fn is_busy(&self) -> bool {
        self.idle_since.load(Ordering::Acquire) == BUSY
    }

    /// Resolves when the connection is told to close to make room for a new one.
    pub async fn evicted(&self) {
        self.evicted.notified().await;
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;

    const LIMITS: &str = "Limit                     Soft Limit           Hard Limit           Units     \n\
        Max cpu time              unlimited            unlimited            seconds   \n\
        Max open files            256                  4096                 files     \n";

    fn limits(max_connections: usize, max_per_address: usize) -> Limits {
        Limits {
            max_connections,
            max_per_address,
            fd_reserve: None,
        }
    }

    fn address(last: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(10, 0, 0, last))
    }

    fn admission(total: usize, per_address: usize) -> Arc<Admission> {
        let admission = Admission::new(&limits(total, per_address), Metrics::new());
        assert!(admission.total() <= total);
        admission
    }

    #[test]
    fn the_soft_open_files_limit_is_read_from_proc() {
        assert_eq!(soft_open_files_limit(LIMITS), Some(256));
        assert_eq!(
            soft_open_files_limit("Max open files  unlimited unlimited files\n"),
            None
        );
    }

    #[test]
    fn the_open_files_limit_lowers_the_total_and_keeps_a_reserve() {
        let files = Some(OpenFiles {
            limit: 256,
            in_use: 40,
        });
        // 256 - 40 in use - 64 reserve - 16 overshoot.
        assert_eq!(total_cap(&limits(10_000, 0), files), 136);
        let reserved = Limits {
            fd_reserve: Some(100),
            ..limits(10_000, 0)
        };
        assert_eq!(total_cap(&reserved, files), 100);
        assert_eq!(total_cap(&limits(50, 0), files), 50, "the smaller cap wins");
        let crowded = Some(OpenFiles {
            limit: 256,
            in_use: 250,
        });
        assert_eq!(total_cap(&limits(10_000, 0), crowded), MIN_TOTAL);
        assert_eq!(total_cap(&limits(10_000, 0), None), 10_000);
        let large = Some(OpenFiles {
            limit: 1 << 20,
            in_use: 40,
        });
        assert_eq!(total_cap(&limits(10_000, 0), large), 10_000);
    }

    #[test]
    fn one_address_over_its_cap_is_refused_and_others_are_not() {
        let admission = admission(100, 2);
        let first = admission.admit(address(1)).unwrap();
        let _second = admission.admit(address(1)).unwrap();
        assert_eq!(admission.admit(address(1)).err(), Some(Refusal::PerAddress));
        assert!(admission.admit(address(2)).is_ok());
        drop(first);
        assert!(
            admission.admit(address(1)).is_ok(),
            "a closed one frees its place"
        );
    }

    #[tokio::test]
    async fn when_full_the_longest_idle_connection_makes_room_and_busy_ones_do_not() {
        let admission = admission(MIN_TOTAL, 0);
        let mut held: Vec<_> = (0..MIN_TOTAL)
            .map(|i| admission.admit(address(u8::try_from(i).unwrap())).unwrap())
            .collect();
        for (_, place) in &held[1..] {
            place.busy();
        }
        let newcomer = admission.admit(address(200)).unwrap();
        // The only idle one, the first, is told to go.
        tokio::time::timeout(std::time::Duration::from_secs(1), held[0].1.evicted())
            .await
            .unwrap();
        // Its task closes it; the newcomer and everyone else is busy: no more room.
        admission.leave(&held[0].1);
        held.remove(0);
        newcomer.1.busy();
        assert_eq!(admission.admit(address(201)).err(), Some(Refusal::Total));
        // Once an answer is sent, that connection can make room.
        held[3].1.idle();
        assert!(admission.admit(address(202)).is_ok());
    }
}
