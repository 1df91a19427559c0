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

use sqlx::{AssertSqlSafe, Connection as _, PgConnection};
use tempfile::TempDir;
use uuid::Uuid;

const DEFAULT_POSTGRES_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// Which database engine a test runs against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

/// A database that exists for one test. Keep it alive for as long as anything (a store,
/// a spawned hub) may still use [`url`](Self::url).
pub struct TestDatabase {
    url: String,
    backend: Backend,
    _cleanup: Cleanup,
}

/// What to remove when the test is over; the fields are never read, only dropped.
enum Cleanup {
    Postgres { _database: DroppedPostgresDatabase },
    Sqlite { _dir: TempDir },
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
        let admin_url = std::env::var("TEST_POSTGRES_URL")
            .unwrap_or_else(|_| DEFAULT_POSTGRES_ADMIN_URL.to_owned());
        let name = format!("hub_test_{}", Uuid::new_v4().simple());
        let mut admin = PgConnection::connect(&admin_url)
            .await
            .unwrap_or_else(|error| {
                panic!("tests need Postgres at {admin_url} (set TEST_POSTGRES_URL): {error}")
            });
        // The name is ours (a uuid), so formatting it into the statement is safe.
        sqlx::query(AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut admin)
            .await
            .unwrap_or_else(|error| panic!("creating test database {name}: {error}"));
        let _ = admin.close().await;
        Self {
            url: database_url(&admin_url, &name),
            backend: Backend::Postgres,
            _cleanup: Cleanup::Postgres {
                _database: DroppedPostgresDatabase { admin_url, name },
            },
        }
    }

    /// Names a SQLite file in a fresh temporary directory; the hub creates it on connect.
    pub async fn sqlite() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("hub-test-")
            .tempdir()
            .expect("creating a temporary directory for SQLite");
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("hub.db").display());
        Self {
            url,
            backend: Backend::Sqlite,
            _cleanup: Cleanup::Sqlite { _dir: dir },
        }
    }

    /// A `DATABASE_URL` for this database, as the hub accepts it.
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }
}

/// Replaces the database name (the URL path) of `admin_url`, keeping host, user and query.
fn database_url(admin_url: &str, name: &str) -> String {
    let (base, query) = match admin_url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (admin_url, None),
    };
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let path_start = base[authority_start..]
        .find('/')
        .map_or(base.len(), |i| authority_start + i);
    let mut url = format!("{}/{name}", &base[..path_start]);
    if let Some(query) = query {
        url.push('?');
        url.push_str(query);
    }
    url
}

struct DroppedPostgresDatabase {
    admin_url: String,
    name: String,
}

impl Drop for DroppedPostgresDatabase {
    /// Best effort: a leftover database wastes disk but fails no test, so errors are only
    /// printed. `Drop` usually runs inside the test's tokio runtime, where blocking on a
    /// future would panic, hence a plain thread with its own small runtime. `WITH (FORCE)`
    /// ends connections a store's pool may still hold open.
    fn drop(&mut self) {
        let admin_url = self.admin_url.clone();
        let name = self.name.clone();
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|error| error.to_string())?;
            runtime.block_on(async {
                let mut admin = PgConnection::connect(&admin_url)
                    .await
                    .map_err(|error| error.to_string())?;
                sqlx::query(AssertSqlSafe(format!(
                    "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                )))
                .execute(&mut admin)
                .await
                .map_err(|error| error.to_string())?;
                let _ = admin.close().await;
                Ok::<_, String>(())
            })
        })
        .join();
        match dropped {
            Ok(Ok(())) => {}
            Ok(Err(error)) => eprintln!("could not drop test database {}: {error}", self.name),
            Err(_) => eprintln!("dropping test database {} panicked", self.name),
        }
    }
}

#[test]
fn the_database_name_replaces_only_the_path_of_the_admin_url() {
    assert_eq!(
        database_url("postgres://postgres@127.0.0.1:5432/postgres", "t1"),
        "postgres://postgres@127.0.0.1:5432/t1"
    );
    assert_eq!(
        database_url("postgres://u:p@db/admin?sslmode=disable", "t1"),
        "postgres://u:p@db/t1?sslmode=disable"
    );
    assert_eq!(
        database_url("postgres://db:5432", "t1"),
        "postgres://db:5432/t1"
    );
}
