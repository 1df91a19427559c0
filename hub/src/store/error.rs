//! Owns turning driver errors into [`StoreError`], so callers can tell "retry later / 503"
//! from "you sent a duplicate" from "bug". It must not decide anything beyond that mapping.

use super::StoreError;

/// Classifies an error from the Postgres store.
pub(super) fn from_postgres(error: sqlx::Error) -> StoreError {
    classify(error, postgres_unreachable)
}

/// Classifies an error from the SQLite store.
pub(super) fn from_sqlite(error: sqlx::Error) -> StoreError {
    classify(error, sqlite_unreachable)
}

fn classify(error: sqlx::Error, unreachable: fn(&str) -> bool) -> StoreError {
    use sqlx::Error;
    match &error {
        Error::Database(db) if db.is_unique_violation() => {
            StoreError::Conflict(db.message().to_owned())
        }
        Error::Database(db) if db.code().is_some_and(|code| unreachable(&code)) => {
            StoreError::Unavailable(error.to_string())
        }
        Error::Io(_)
        | Error::Tls(_)
        | Error::PoolTimedOut
        | Error::PoolClosed
        | Error::WorkerCrashed
        | Error::BeginFailed => StoreError::Unavailable(error.to_string()),
        _ => StoreError::Other(anyhow::Error::new(error)),
    }
}

/// SQLSTATEs that mean "not now" rather than "never": class 08 connection exceptions,
/// class 53 insufficient resources (too many connections, disk full) and 57P01..57P03
/// (server shutting down or not accepting connections yet).
fn postgres_unreachable(sqlstate: &str) -> bool {
    sqlstate.starts_with("08") || sqlstate.starts_with("53") || sqlstate.starts_with("57P")
}

/// SQLite reports its extended result code as a decimal number whose low byte is the
/// primary code. BUSY/LOCKED mean another writer outlasted `busy_timeout`; IOERR, FULL and
/// CANTOPEN are the disk's fault. All of them may succeed on a retry.
fn sqlite_unreachable(code: &str) -> bool {
    const SQLITE_BUSY: i64 = 5;
    const SQLITE_LOCKED: i64 = 6;
    const SQLITE_IOERR: i64 = 10;
    const SQLITE_FULL: i64 = 13;
    const SQLITE_CANTOPEN: i64 = 14;
    code.parse::<i64>().is_ok_and(|extended| {
        matches!(
            extended & 0xff,
            SQLITE_BUSY | SQLITE_LOCKED | SQLITE_IOERR | SQLITE_FULL | SQLITE_CANTOPEN
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postgres_connection_failures_are_unavailable_but_constraint_failures_are_not() {
        assert!(postgres_unreachable("08006"));
        assert!(postgres_unreachable("57P01"));
        assert!(postgres_unreachable("53300"));
        assert!(!postgres_unreachable("23503"));
        assert!(!postgres_unreachable("42P01"));
    }

    #[test]
    fn sqlite_busy_and_io_errors_are_unavailable_but_constraint_failures_are_not() {
        assert!(sqlite_unreachable("5"));
        assert!(sqlite_unreachable("517")); // SQLITE_BUSY_SNAPSHOT
        assert!(sqlite_unreachable("266")); // SQLITE_IOERR_READ
        assert!(!sqlite_unreachable("787")); // SQLITE_CONSTRAINT_FOREIGNKEY
        assert!(!sqlite_unreachable("1"));
    }

    #[test]
    fn a_pool_timeout_is_unavailable() {
        assert!(matches!(
            from_postgres(sqlx::Error::PoolTimedOut),
            StoreError::Unavailable(_)
        ));
        assert!(matches!(
            from_sqlite(sqlx::Error::PoolTimedOut),
            StoreError::Unavailable(_)
        ));
    }
}
