//! What a message's `msg_id`, `seq` and `boot` say about it, per device: new and in order,
//! after a gap, late (`out_of_order`), a redelivery (`duplicate`), or the first of a
//! counter that started again (a reboot, a new firmware-sim run). A pure state machine
//! the bridge feeds one message at a time; no I/O, no clock, no logging.
//!
//! The restart rule, so a food-safety probe never goes blind after a reboot while true
//! duplicates are still dropped:
//! - A redelivery is a `msg_id` seen among the device's last [`REMEMBERED_IDS`] with the
//!   same payload. A remembered `msg_id` with another payload is a device that reuses its
//!   ids after a reboot (ids made from the seq), so it is judged by its `seq`.
//! - A message naming a different `boot` than the last one starts a new run.
//! - Within a named boot, a `seq` at or below the last one is late, however far below.
//! - Without a boot: a `seq` at or below the last one starts a new run when it is the
//!   first message after a new connection, when it is 0 or 1 (counters start there), or
//!   when it is [`SEQ_RESTART_GAP`] or more below the last; otherwise it is late.

use std::collections::{HashMap, VecDeque};

/// msg_ids remembered per device to drop redeliveries.
pub const REMEMBERED_IDS: usize = 128;
/// A `seq` this far below the last one is a counter that started again, not a late
/// message (MQTT delivers a connection's messages in order; late ones come from a
/// device's own resend queue, which is short).
pub const SEQ_RESTART_GAP: u64 = 100;

/// Why the hub took a `seq` below the last one as a new run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RestartCause {
    /// The message names another `boot` than the last one.
    Boot,
    /// The first message after a new connection.
    Reconnect,
    /// A `seq` of 0 or 1, or far below the last one.
    CounterReset,
}

impl RestartCause {
    pub const ALL: [RestartCause; 3] = [
        RestartCause::Boot,
        RestartCause::Reconnect,
        RestartCause::CounterReset,
    ];

    /// The `cause` label of `hub_mqtt_counter_restarts_total`.
    pub fn as_str(self) -> &'static str {
        match self {
            RestartCause::Boot => "boot",
            RestartCause::Reconnect => "reconnect",
            RestartCause::CounterReset => "counter_reset",
        }
    }
}

/// What a message is, judged by its `msg_id`, `seq` and `boot`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The next one, or the device's first.
    InOrder,
    /// This many messages in between never arrived (or arrive later).
    Gap(u64),
    /// The first message of a counter that started again; `last` is the old counter's.
    Restarted { cause: RestartCause, last: u64 },
    /// At or below the last `seq` of the same run: kept as data, never acted on.
    OutOfOrder,
    /// A redelivery of a message already taken: dropped.
    Duplicate,
}

impl Verdict {
    /// Whether the message may move the rules and act (everything but late or repeated).
    pub fn in_order(self) -> bool {
        !matches!(self, Verdict::OutOfOrder | Verdict::Duplicate)
    }
}

/// One device's sequence as the bridge has seen it.
#[derive(Debug, Default)]
pub struct SequenceTrack {
    last_seq: Option<u64>,
    boot: Option<String>,
    /// A connection opened since the last message: the next `seq` may start again.
    fresh: bool,
    recent: VecDeque<String>,
    /// Payload digest per remembered msg_id.
    digests: HashMap<String, u64>,
}

impl SequenceTrack {
    /// The device opened a new connection (or announced itself online).
    pub fn connected(&mut self) {
        self.fresh = true;
    }

    /// Judges the next message; `digest` identifies its payload.
    pub fn observe(&mut self, msg_id: &str, digest: u64, seq: u64, boot: Option<&str>) -> Verdict {
        if self.digests.get(msg_id) == Some(&digest) {
            return Verdict::Duplicate;
        }
        self.remember(msg_id, digest);
        let fresh = std::mem::take(&mut self.fresh);
        let verdict = self.judge(seq, boot, fresh);
        if verdict != Verdict::OutOfOrder {
            self.last_seq = Some(seq);
            self.boot = boot.map(str::to_owned);
        }
        verdict
    }

    fn judge(&self, seq: u64, boot: Option<&str>, fresh: bool) -> Verdict {
        let Some(last) = self.last_seq else {
            return Verdict::InOrder;
        };
        if boot.is_some() && boot != self.boot.as_deref() {
            return Verdict::Restarted {
                cause: RestartCause::Boot,
                last,
            };
        }
        if seq > last {
            return match seq - last - 1 {
                0 => Verdict::InOrder,
                missing => Verdict::Gap(missing),
            };
        }
        let cause = if boot.is_some() {
            None
        } else if fresh {
            Some(RestartCause::Reconnect)
        } else if seq <= 1 || last - seq >= SEQ_RESTART_GAP {
            Some(RestartCause::CounterReset)
        } else {
            None
        };
        match cause {
            Some(cause) => Verdict::Restarted { cause, last },
            None => Verdict::OutOfOrder,
        }
    }

    fn remember(&mut self, msg_id: &str, digest: u64) {
        if let Some(known) = self.digests.get_mut(msg_id) {
            *known = digest;
            return;
        }
        self.digests.insert(msg_id.to_owned(), digest);
        self.recent.push_back(msg_id.to_owned());
        if self.recent.len() > REMEMBERED_IDS
            && let Some(old) = self.recent.pop_front()
        {
            self.digests.remove(&old);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(track: &mut SequenceTrack, seqs: impl IntoIterator<Item = u64>) -> Vec<Verdict> {
        seqs.into_iter()
            .map(|seq| track.observe(&format!("m-{seq}"), seq, seq, None))
            .collect()
    }

    #[test]
    fn the_next_seq_is_in_order_and_a_jump_is_a_gap() {
        let mut track = SequenceTrack::default();
        assert_eq!(
            run(&mut track, [7, 8, 11]),
            [Verdict::InOrder, Verdict::InOrder, Verdict::Gap(2)]
        );
    }

    #[test]
    fn a_late_seq_on_the_same_connection_is_out_of_order() {
        let mut track = SequenceTrack::default();
        run(&mut track, 1..=10);
        assert_eq!(track.observe("late", 0xaa, 7, None), Verdict::OutOfOrder);
        assert_eq!(track.observe("again", 0xbb, 10, None), Verdict::OutOfOrder);
        assert_eq!(track.observe("m-11", 11, 11, None), Verdict::InOrder);
    }

    #[test]
    fn a_redelivered_message_is_a_duplicate_whatever_happened_since() {
        let mut track = SequenceTrack::default();
        run(&mut track, 1..=5);
        track.connected();
        assert_eq!(track.observe("m-3", 3, 3, None), Verdict::Duplicate);
        // The redelivery did not use up the new connection's restart.
        assert_eq!(
            track.observe("n-1", 100, 1, None),
            Verdict::Restarted {
                cause: RestartCause::Reconnect,
                last: 5
            }
        );
    }

    #[test]
    fn a_counter_that_starts_again_is_a_restart() {
        // After a new connection, whatever the seq.
        let mut track = SequenceTrack::default();
        run(&mut track, 1..=450);
        track.connected();
        assert_eq!(
            track.observe("b-3", 1, 3, None),
            Verdict::Restarted {
                cause: RestartCause::Reconnect,
                last: 450
            }
        );
        assert_eq!(track.observe("b-4", 2, 4, None), Verdict::InOrder);
        // On the same connection: from 0 or 1, or far below.
        for (seq, last) in [(1, 4), (0, 1)] {
            assert_eq!(
                track.observe(&format!("c-{seq}"), 50 + seq, seq, None),
                Verdict::Restarted {
                    cause: RestartCause::CounterReset,
                    last
                }
            );
        }
        let mut far = SequenceTrack::default();
        run(&mut far, [500]);
        assert_eq!(
            far.observe("x", 9, 400, None),
            Verdict::Restarted {
                cause: RestartCause::CounterReset,
                last: 500
            }
        );
    }

    #[test]
    fn a_new_boot_restarts_and_within_a_boot_a_replay_stays_late() {
        let mut track = SequenceTrack::default();
        assert_eq!(track.observe("a-1", 1, 1, Some("a")), Verdict::InOrder);
        assert_eq!(track.observe("a-2", 2, 2, Some("a")), Verdict::InOrder);
        track.connected();
        assert_eq!(
            track.observe("a-1b", 3, 1, Some("a")),
            Verdict::OutOfOrder,
            "the same boot: a replay, even on a new connection"
        );
        assert_eq!(
            track.observe("b-1", 4, 1, Some("b")),
            Verdict::Restarted {
                cause: RestartCause::Boot,
                last: 2
            }
        );
        assert_eq!(track.observe("b-2", 5, 2, Some("b")), Verdict::InOrder);
    }

    #[test]
    fn a_msg_id_reused_with_another_payload_is_judged_by_its_seq() {
        let mut track = SequenceTrack::default();
        run(&mut track, 1..=20);
        track.connected();
        // The same ids as the first run (made from the seq), other payloads.
        assert!(matches!(
            track.observe("m-1", 1001, 1, None),
            Verdict::Restarted { .. }
        ));
        assert_eq!(track.observe("m-2", 1002, 2, None), Verdict::InOrder);
        assert_eq!(track.observe("m-2", 1002, 2, None), Verdict::Duplicate);
    }

    #[test]
    fn old_ids_are_forgotten_so_memory_is_bounded() {
        let mut track = SequenceTrack::default();
        track.observe("a", 1, 1, None);
        assert_eq!(track.observe("a", 1, 1, None), Verdict::Duplicate);
        for n in 0..REMEMBERED_IDS as u64 {
            track.observe(&n.to_string(), n, n + 2, None);
        }
        assert_ne!(track.observe("a", 1, 1, None), Verdict::Duplicate);
        assert!(track.digests.len() <= REMEMBERED_IDS);
    }
}
