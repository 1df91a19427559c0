//! Owns the backend-independent rules every [`Store`](super::Store) implementation applies
//! before touching SQL, so Postgres and SQLite cannot drift apart on them. No SQL here.

use std::collections::{BTreeMap, HashSet};

use chrono::{DateTime, NaiveDate, SubsecRound as _, Utc};
use uuid::Uuid;

use super::{
    ClaimOutcome, Commit, DatedReading, ReadingDay, StoreError, StoreResult, UsernameClaim,
};
use crate::domain::{DeviceId, VenueId};

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

/// What a claim that inserted nothing found holding its username. Nothing at all means the
/// holder let go between the insert and the read: a retry will decide.
pub(super) fn claim_outcome(
    claim: &UsernameClaim,
    held: Option<UsernameClaim>,
) -> StoreResult<ClaimOutcome> {
    match held {
        Some(held) if held.venue_id == claim.venue_id && held.staff_id == claim.staff_id => {
            Ok(ClaimOutcome::AlreadyHeld)
        }
        Some(held) => Ok(ClaimOutcome::HeldBy(held)),
        None => Err(StoreError::Unavailable(format!(
            "username {:?} was released while it was claimed; try again",
            claim.username
        ))),
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

/// A unit's history never returns more readings than this per call (a week of one probe
/// reporting every minute).
pub(super) const MAX_READING_LIMIT: u32 = 10_000;

pub(super) fn reading_limit(requested: u32) -> i64 {
    i64::from(requested.clamp(1, MAX_READING_LIMIT))
}

/// What identifies a stored reading: the primary key of `device_readings`.
pub(super) type ReadingKey = (VenueId, DeviceId, String, DateTime<Utc>);

pub(super) fn reading_key(row: &DatedReading) -> ReadingKey {
    let r = &row.reading;
    (r.venue_id, r.device_id, r.probe.clone(), r.measured_at)
}

/// Readings as both backends store them: times cut to microseconds (what Postgres keeps,
/// so a reading is identified by the same key on either backend and when read back), and
/// only the first of readings sharing a key, so the rows a statement reports as inserted
/// map back to exactly one input each. A reading that is not a finite number is a bug in
/// the caller: SQLite would store NaN as NULL and Postgres would keep it and poison every
/// average, so the whole batch is refused.
pub(super) fn prepare_readings(rows: &[DatedReading]) -> StoreResult<Vec<DatedReading>> {
    if let Some(bad) = rows.iter().find(|row| !row.reading.celsius.is_finite()) {
        return Err(StoreError::Other(anyhow::anyhow!(
            "reading of device {} probe {:?} is not a finite number: {}",
            bad.reading.device_id,
            bad.reading.probe,
            bad.reading.celsius
        )));
    }
    let mut seen = HashSet::with_capacity(rows.len());
    Ok(rows
        .iter()
        .map(|row| {
            let mut row = row.clone();
            row.reading.measured_at = row.reading.measured_at.trunc_subsecs(6);
            row.reading.received_at = row.reading.received_at.trunc_subsecs(6);
            row
        })
        .filter(|row| seen.insert(reading_key(row)))
        .collect())
}

/// Adds the inserted readings up per venue, day, device and probe: the amounts each day
/// summary grows by. Computed here, not in SQL, so both backends add up the same way.
pub(super) fn summarise<'a>(
    inserted: impl IntoIterator<Item = &'a DatedReading>,
) -> Vec<ReadingDay> {
    let mut days: BTreeMap<(VenueId, NaiveDate, DeviceId, &'a str), ReadingDay> = BTreeMap::new();
    for row in inserted {
        let r = &row.reading;
        days.entry((r.venue_id, row.day, r.device_id, r.probe.as_str()))
            .and_modify(|day| {
                day.count += 1;
                day.min_celsius = day.min_celsius.min(r.celsius);
                day.max_celsius = day.max_celsius.max(r.celsius);
                day.sum_celsius += r.celsius;
                day.first_at = day.first_at.min(r.measured_at);
                day.last_at = day.last_at.max(r.measured_at);
            })
            .or_insert_with(|| ReadingDay {
                venue_id: r.venue_id,
                device_id: r.device_id,
                probe: r.probe.clone(),
                day: row.day,
                count: 1,
                min_celsius: r.celsius,
                max_celsius: r.celsius,
                sum_celsius: r.celsius,
                first_at: r.measured_at,
                last_at: r.measured_at,
            });
    }
    days.into_values().collect()
}

#[cfg(test)]
mod tests {
    use chrono::Datelike as _;

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

    fn dated(probe: &str, celsius: f64, at: DateTime<Utc>, day: u32) -> DatedReading {
        DatedReading {
            reading: super::super::ReadingRow {
                venue_id: VenueId(Uuid::from_u128(1)),
                device_id: DeviceId(Uuid::from_u128(2)),
                probe: probe.into(),
                celsius,
                measured_at: at,
                received_at: at,
            },
            day: NaiveDate::from_ymd_opt(2025, 6, day).unwrap(),
        }
    }

    #[test]
    fn readings_sharing_a_key_after_cutting_to_microseconds_are_kept_once() {
        let at = DateTime::from_timestamp(1_750_000_000, 123_456_789).unwrap();
        let later_nanos = DateTime::from_timestamp(1_750_000_000, 123_456_999).unwrap();
        let rows = [
            dated("main", 3.0, at, 1),
            dated("main", 9.0, later_nanos, 1),
            dated("core", 4.0, at, 1),
        ];
        let prepared = prepare_readings(&rows).unwrap();
        assert_eq!(prepared.len(), 2);
        assert_eq!(prepared[0].reading.celsius, 3.0);
        assert_eq!(
            prepared[0].reading.measured_at.timestamp_subsec_nanos(),
            123_456_000
        );
    }

    #[test]
    fn a_reading_that_is_not_a_number_refuses_the_batch() {
        let at = DateTime::from_timestamp(1_750_000_000, 0).unwrap();
        let rows = [dated("main", 3.0, at, 1), dated("main", f64::NAN, at, 1)];
        assert!(matches!(prepare_readings(&rows), Err(StoreError::Other(_))));
    }

    #[test]
    fn summaries_add_up_per_day_and_probe() {
        let t = |s: i64| DateTime::from_timestamp(1_750_000_000 + s, 0).unwrap();
        let rows = [
            dated("main", 4.0, t(60), 1),
            dated("main", 2.0, t(0), 1),
            dated("main", 6.0, t(120), 2),
            dated("core", 1.0, t(30), 1),
        ];
        let days = summarise(&rows);
        assert_eq!(days.len(), 3);
        let main_first = days
            .iter()
            .find(|d| d.probe == "main" && d.day.day() == 1)
            .unwrap();
        assert_eq!(
            (
                main_first.count,
                main_first.min_celsius,
                main_first.max_celsius
            ),
            (2, 2.0, 4.0)
        );
        assert_eq!(main_first.mean_celsius(), 3.0);
        assert_eq!((main_first.first_at, main_first.last_at), (t(0), t(60)));
    }
}
