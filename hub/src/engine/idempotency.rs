//! The window of recently accepted command ids. A retry of an id in the window is answered
//! with the original sequence range instead of being decided again. The window is part of
//! the snapshot and is rebuilt from the journal, so it survives restarts.

use std::collections::{HashMap, VecDeque};

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// How many command ids a venue remembers: days of service at a busy venue.
pub const REMEMBERED_COMMANDS: usize = 200_000;

/// What is remembered of an accepted command.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recorded {
    pub first_seq: u64,
    pub last_seq: u64,
    /// [`super::fingerprint`] of the command, to refuse an id reused for a different
    /// command. Unknown for commands rebuilt from the journal (it stores events, not
    /// commands) and for those remembered under an older fingerprint scheme.
    pub fingerprint: Option<u64>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct RecentCommands {
    order: VecDeque<Uuid>,
    ranges: HashMap<Uuid, Recorded>,
}

impl RecentCommands {
    pub fn get(&self, command_id: &Uuid) -> Option<Recorded> {
        self.ranges.get(command_id).copied()
    }

    /// Forgets every fingerprint (they were made under another scheme): the commands are
    /// still known, so a retry is still answered, but no longer compared.
    pub fn forget_fingerprints(&mut self) {
        for recorded in self.ranges.values_mut() {
            recorded.fingerprint = None;
        }
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
