//! Owns venue-local calendar days: which day a reading counts towards and which instants a
//! day spans, in the venue's IANA timezone (`Asia/Jakarta`). A venue whose timezone name
//! is not a known IANA zone is treated as UTC, and whoever resolves it logs that once.

use chrono::{DateTime, NaiveDate, NaiveTime, TimeZone as _, Utc};
use chrono_tz::Tz;

/// The zone named `name`, or `None` when the name is not an IANA zone.
pub fn venue_zone(name: &str) -> Option<Tz> {
    name.trim().parse::<Tz>().ok()
}

/// The zone named `name`, or UTC when it is unknown (with a warning in the log).
pub fn venue_zone_or_utc(name: &str) -> Tz {
    venue_zone(name).unwrap_or_else(|| {
        tracing::warn!(
            timezone = name,
            "unknown venue timezone: days are counted in UTC"
        );
        Tz::UTC
    })
}

/// The calendar day `at` falls on in `zone`.
pub fn local_day(zone: Tz, at: DateTime<Utc>) -> NaiveDate {
    at.with_timezone(&zone).date_naive()
}

/// The instants `[start, end)` of calendar day `day` in `zone`. A day starts at its first
/// existing local instant: where a clock change skips midnight, the day starts when the
/// clocks land; where midnight happens twice, at the earlier one.
pub fn day_span(zone: Tz, day: NaiveDate) -> (DateTime<Utc>, DateTime<Utc>) {
    let start = start_of_day(zone, day);
    let end = day
        .succ_opt()
        .map_or(DateTime::<Utc>::MAX_UTC, |next| start_of_day(zone, next));
    (start, end)
}

fn start_of_day(zone: Tz, day: NaiveDate) -> DateTime<Utc> {
    let midnight = day.and_time(NaiveTime::MIN);
    // Clock changes move by at most a few hours, and never twice in one morning.
    (0..=3)
        .find_map(|hours| {
            zone.from_local_datetime(&(midnight + chrono::Duration::hours(hours)))
                .earliest()
        })
        .map_or_else(|| midnight.and_utc(), |local| local.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().to_utc()
    }

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    #[test]
    fn jakarta_midnight_is_five_pm_utc_the_day_before() {
        let jakarta = venue_zone("Asia/Jakarta").unwrap();
        assert_eq!(
            local_day(jakarta, utc("2025-06-01T16:59:59Z")),
            date(2025, 6, 1)
        );
        assert_eq!(
            local_day(jakarta, utc("2025-06-01T17:00:00Z")),
            date(2025, 6, 2)
        );
        assert_eq!(
            day_span(jakarta, date(2025, 6, 2)),
            (utc("2025-06-01T17:00:00Z"), utc("2025-06-02T17:00:00Z"))
        );
    }

    #[test]
    fn the_three_indonesian_zones_and_utc_are_known() {
        for (name, offset_hours) in [
            ("Asia/Jakarta", 7),
            ("Asia/Makassar", 8),
            ("Asia/Jayapura", 9),
            ("UTC", 0),
        ] {
            let zone = venue_zone(name).unwrap();
            let (start, _) = day_span(zone, date(2025, 1, 1));
            assert_eq!(
                start,
                utc("2025-01-01T00:00:00Z") - chrono::Duration::hours(offset_hours),
                "{name}"
            );
        }
    }

    #[test]
    fn an_unknown_zone_name_counts_days_in_utc() {
        assert_eq!(venue_zone("Mars/Olympus_Mons"), None);
        assert_eq!(venue_zone_or_utc("WIB"), Tz::UTC);
    }

    #[test]
    fn a_day_with_a_clock_change_is_twenty_three_hours_long() {
        // Europe/Amsterdam moved to summer time on 30 March 2025.
        let amsterdam = venue_zone("Europe/Amsterdam").unwrap();
        let (start, end) = day_span(amsterdam, date(2025, 3, 30));
        assert_eq!(end - start, chrono::Duration::hours(23));
    }

    #[test]
    fn a_day_whose_midnight_was_skipped_starts_when_the_clocks_land() {
        // America/Havana skipped from 00:00 to 01:00 on 9 March 2025.
        let havana = venue_zone("America/Havana").unwrap();
        let (start, _) = day_span(havana, date(2025, 3, 9));
        assert_eq!(start, utc("2025-03-09T05:00:00Z"));
    }
}
