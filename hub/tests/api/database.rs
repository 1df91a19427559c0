//! Owns provisioning one isolated, throw-away database per test, on either backend, so
//! tests can run in parallel and never see each other's rows. It must not know the schema:
//! the hub applies its own migrations when it connects to [`TestDatabase::url`].
//!
//! Postgres: a fresh `hub_test_<uuid>` database on the server named by `TEST_POSTGRES_URL`
//! (default `postgres://postgres@127.0.0.1:5432/postgres`), dropped again when the
//! `TestDatabase` is dropped. SQLite: a file in a temporary directory, deleted with it.

// Scenario bodies and helpers are plain fns called by `#[tokio::test]`s, so clippy does not
// see them as tests; a failed expectation here should panic and fail the test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: panicking is how a test fails"
)]

use hub::store::scratch::{ScratchDatabase, admin_url_from_env};

/// Which database engine a test runs against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

/// A database that exists for one test. Keep it alive for as long as anything (a store,
/// a spawned hub) may still use [`url`](Self::url).
pub struct TestDatabase {
    database: ScratchDatabase,
    backend: Backend,
}

impl TestDatabase {
    pub async fn new(backend: Backend) -> Self {
        match backend {
            Backend::Postgres => Self::postgres().await,
            Backend::Sqlite => Self::sqlite().await,
        }
    }

    /// Creates an empty Postgres database; panics if the server cannot be reached, because
    /// a suite that silently skipped Postgres would prove nothing about production.
    pub async fn postgres() -> Self {
        let admin_url = admin_url_from_env();
        let database = ScratchDatabase::postgres(&admin_url, "hub_test")
            .await
            .unwrap_or_else(|error| panic!("tests need Postgres at {admin_url}: {error:#}"));
        Self {
            database,
            backend: Backend::Postgres,
        }
    }

    /// Names a SQLite file in a fresh temporary directory; the hub creates it on connect.
    pub async fn sqlite() -> Self {
        Self {
            database: ScratchDatabase::sqlite("hub-test")
                .expect("a temporary directory for SQLite"),
            backend: Backend::Sqlite,
        }
    }

    /// A `DATABASE_URL` for this database, as the hub accepts it.
    pub fn url(&self) -> &str {
        self.database.url()
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }
}
