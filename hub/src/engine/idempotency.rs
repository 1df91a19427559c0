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
    /// Hash of the command, to refuse an id reused for a different command. Unknown for
    /// commands rebuilt from the journal (it stores events, not commands) and for commands
    /// that carry freshly salted secrets.
    pub fingerprint: Option<u64>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct RecentCommands {
    order: VecDeque<Uuid>,
    ranges: HashMap<Uuid, Recorded>,
}

/// Fields that hold a freshly salted hash: a retry of the same command carries a new one.
const SALTED: [&str; 3] = ["pin_hash", "password_hash", "secret_hash"];

/// A stable hash of a command. The salted hashes of staff secrets and device secrets are
/// left out, since a retry of the same command carries new ones; everything else counts,
/// so an id reused for another kind of command, another person or another device is caught.
pub fn fingerprint(command: &crate::domain::Command) -> Option<u64> {
    use crate::domain::Command;
    use sha2::{Digest, Sha256};
    let salted = matches!(
        command,
        Command::AddStaff { .. }
            | Command::SetStaffPin { .. }
            | Command::SetStaffPassword { .. }
            | Command::ProvisionDevice { .. }
            | Command::RotateDeviceSecret { .. }
    );
    let bytes = if salted {
        let mut value = serde_json::to_value(command).ok()?;
        if let Some(fields) = value.as_object_mut() {
            for field in SALTED {
                fields.remove(field);
            }
        }
        serde_json::to_vec(&value).ok()?
    } else {
        serde_json::to_vec(command).ok()?
    };
    let digest = Sha256::digest(&bytes);
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    Some(u64::from_be_bytes(first))
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

#[cfg(test)]
mod tests {
    use uuid::Uuid;

    use super::fingerprint;
    use crate::domain::{Command, Role, StaffId};

    fn add_staff(name: &str, pin_hash: &str) -> Command {
        Command::AddStaff {
            staff_id: StaffId(Uuid::from_u128(7)),
            name: name.to_owned(),
            role: Role::Waiter,
            username: None,
            pin_lookup: Some("lookup".to_owned()),
            pin_hash: Some(pin_hash.to_owned()),
            password_hash: None,
        }
    }

    #[test]
    fn a_retry_with_a_fresh_salt_is_the_same_command_but_another_person_is_not() {
        let first = fingerprint(&add_staff("Wulan", "$argon2id$salt-one")).unwrap();
        assert_eq!(
            fingerprint(&add_staff("Wulan", "$argon2id$salt-two")),
            Some(first)
        );
        assert_ne!(
            fingerprint(&add_staff("Budi", "$argon2id$salt-one")),
            Some(first)
        );
        let other_kind = Command::SplitTables {
            table_id: crate::domain::TableId(Uuid::from_u128(7)),
        };
        assert_ne!(fingerprint(&other_kind), Some(first));
    }
}
