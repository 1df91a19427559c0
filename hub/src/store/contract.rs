//! Owns the backend-independent rules every [`Store`](super::Store) implementation applies
//! before touching SQL, so Postgres and SQLite cannot drift apart on them. No SQL here.

use std::collections::HashSet;

use uuid::Uuid;

use super::{Commit, StoreError, StoreResult};

/// The audit journal never returns more than this many events per call, whatever the
/// client asks for, so one request cannot pull a whole venue's history into memory.
pub(super) const MAX_QUERY_LIMIT: i64 = 1000;

pub(super) fn query_limit(requested: i64) -> i64 {
    requested.clamp(1, MAX_QUERY_LIMIT)
}

/// Replay may ask for everything (`i64::MAX`), but a negative limit means "no limit" to
/// SQLite and is an error to Postgres; treating it as zero keeps the backends identical.
pub(super) fn replay_limit(requested: i64) -> i64 {
    requested.max(0)
}

/// Refuses a commit that mixes venues: events are numbered per venue, so an event filed
/// under the wrong venue would corrupt two journals at once. This is an engine bug, not a
/// conflict a retry could resolve.
pub(super) fn check_commit(commit: &Commit) -> StoreResult<()> {
    let misfiled = commit
        .events
        .iter()
        .map(|event| event.venue_id)
        .chain(commit.orders.iter().map(|order| order.venue_id))
        .chain(commit.lines.iter().map(|line| line.venue_id))
        .chain(commit.tables.iter().map(|table| table.venue_id))
        .find(|venue_id| *venue_id != commit.venue_id);
    match misfiled {
        Some(other) => Err(StoreError::Other(anyhow::anyhow!(
            "a commit for venue {} carries a row of venue {other}",
            commit.venue_id
        ))),
        None => Ok(()),
    }
}

pub(super) fn is_empty(commit: &Commit) -> bool {
    commit.events.is_empty()
        && commit.commands.is_empty()
        && commit.orders.is_empty()
        && commit.lines.is_empty()
        && commit.tables.is_empty()
        && commit.removed_tables.is_empty()
}

/// Keeps only the last row per id, in their original order. A group commit may carry the
/// same order several times (one per command that touched it); the last one is the newest,
/// and Postgres refuses to upsert one row twice in a single statement.
pub(super) fn newest_per_id<T>(rows: &[T], id: impl Fn(&T) -> Uuid) -> Vec<&T> {
    let mut seen = HashSet::with_capacity(rows.len());
    let mut newest: Vec<&T> = rows
        .iter()
        .rev()
        .filter(|row| seen.insert(id(row)))
        .collect();
    newest.reverse();
    newest
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_limits_are_clamped_to_one_through_a_thousand() {
        assert_eq!(query_limit(0), 1);
        assert_eq!(query_limit(-5), 1);
        assert_eq!(query_limit(50), 50);
        assert_eq!(query_limit(1_000_000), 1000);
    }

    #[test]
    fn the_last_row_for_an_id_wins_and_order_is_kept() {
        let a = Uuid::from_u128(1);
        let b = Uuid::from_u128(2);
        let rows = [(a, "a1"), (b, "b1"), (a, "a2")];
        let newest = newest_per_id(&rows, |row| row.0);
        assert_eq!(newest, vec![&(b, "b1"), &(a, "a2")]);
    }

    #[test]
    fn a_commit_carrying_another_venues_event_is_refused() {
        let commit = Commit {
            venue_id: Uuid::from_u128(1),
            events: vec![super::super::StoredEvent {
                venue_id: Uuid::from_u128(2),
                seq: 1,
                at: chrono::Utc::now(),
                command_id: Uuid::from_u128(3),
                staff_id: None,
                device: None,
                kind: "x".into(),
                payload: serde_json::json!({}),
            }],
            ..Commit::default()
        };
        assert!(matches!(check_commit(&commit), Err(StoreError::Other(_))));
    }
}
