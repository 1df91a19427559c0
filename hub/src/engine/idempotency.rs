//! The window of recently accepted command ids. A retry of an id in the window is answered
//! with the original sequence range instead of being decided again. It is not part of the
//! snapshot (copying 200k entries on the writer for every snapshot cost more than the rest
//! of it): a venue starts with the newest command records of the store, written in the
//! same transaction as their events, so the window survives restarts.

use std::collections::{HashMap, VecDeque};

use uuid::Uuid;

/// How many command ids a venue remembers: days of service at a busy venue.
pub const REMEMBERED_COMMANDS: usize = 200_000;

/// What is remembered of an accepted command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Recorded {
    pub first_seq: u64,
    pub last_seq: u64,
    /// [`super::fingerprint`] of the command, to refuse an id reused for a different
    /// command. Unknown for commands rebuilt from the journal (it stores events, not
    /// commands) and for records stored before fingerprints were.
    pub fingerprint: Option<u64>,
}

#[derive(Clone, Debug, Default)]
pub struct RecentCommands {
    order: VecDeque<Uuid>,
    ranges: HashMap<Uuid, Recorded>,
}

impl RecentCommands {
    pub fn get(&self, command_id: &Uuid) -> Option<Recorded> {
        self.ranges.get(command_id).copied()
    }

    /// Forgets a command whose batch failed to commit, so a retry is decided afresh.
    pub fn forget(&mut self, command_id: &Uuid) {
        if self.ranges.remove(command_id).is_some() {
            self.order.retain(|id| id != command_id);
        }
    }

    /// Records a command's range; extends it when the same id is seen again in replay
    /// (one command's events are contiguous, so first stays and last grows).
    pub fn record(
        &mut self,
        command_id: Uuid,
        first_seq: u64,
        last_seq: u64,
        fingerprint: Option<u64>,
    ) {
        match self.ranges.get_mut(&command_id) {
            Some(range) => range.last_seq = range.last_seq.max(last_seq),
            None => {
                self.ranges.insert(
                    command_id,
                    Recorded {
                        first_seq,
                        last_seq,
                        fingerprint,
                    },
                );
                self.order.push_back(command_id);
                while self.order.len() > REMEMBERED_COMMANDS {
                    if let Some(oldest) = self.order.pop_front() {
                        self.ranges.remove(&oldest);
                    }
                }
            }
        }
    }
}

/// A fingerprint as the store keeps it (a signed 64-bit column), bit for bit.
pub fn stored_fingerprint(fingerprint: Option<u64>) -> Option<i64> {
    fingerprint.map(|bits| i64::from_ne_bytes(bits.to_ne_bytes()))
}

/// A fingerprint read back from the store.
pub fn loaded_fingerprint(stored: Option<i64>) -> Option<u64> {
    stored.map(|bits| u64::from_ne_bytes(bits.to_ne_bytes()))
}
