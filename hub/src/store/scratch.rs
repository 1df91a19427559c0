//! Throw-away databases for the test suite and the benchmarks: a fresh, empty Postgres
//! database on a server (dropped again when the value is dropped, even after a panic), or a
//! SQLite file in a temporary directory. Schemas are not its business: the hub migrates
//! whatever it connects to. Never used by a running hub.

use anyhow::Context as _;
use sqlx::{AssertSqlSafe, Connection as _, PgConnection};
use tempfile::TempDir;
use uuid::Uuid;

/// The server used when `TEST_POSTGRES_URL` names none: this machine's Postgres.
pub const DEFAULT_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// `TEST_POSTGRES_URL`, or [`DEFAULT_ADMIN_URL`].
pub fn admin_url_from_env() -> String {
    std::env::var("TEST_POSTGRES_URL").unwrap_or_else(|_| DEFAULT_ADMIN_URL.to_owned())
}

/// A database that exists for as long as this value. Keep it alive until every store and
/// hub using [`url`](Self::url) has stopped.
pub struct ScratchDatabase {
    url: String,
    _cleanup: Cleanup,
}

/// What to remove at the end; never read, only dropped.
enum Cleanup {
    Postgres { _database: DroppedPostgresDatabase },
    Sqlite { _dir: TempDir },
}

impl ScratchDatabase {
    /// Creates `<prefix>_<uuid>` on the Postgres server of `admin_url`.
    pub async fn postgres(admin_url: &str, prefix: &str) -> anyhow::Result<Self> {
        let name = format!("{prefix}_{}", Uuid::new_v4().simple());
        let mut admin = PgConnection::connect(admin_url)
            .await
            .context("connecting to the Postgres server (set TEST_POSTGRES_URL)")?;
        // The name is ours (a prefix and a uuid), so formatting it into the statement is safe.
        sqlx::query(AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut admin)
            .await
            .with_context(|| format!("creating database {name}"))?;
        let _ = admin.close().await;
        Ok(Self {
            url: database_url(admin_url, &name),
            _cleanup: Cleanup::Postgres {
                _database: DroppedPostgresDatabase {
                    admin_url: admin_url.to_owned(),
                    name,
                },
            },
        })
    }

    /// Names a SQLite file in a fresh temporary directory; the hub creates it on connect.
    pub fn sqlite(prefix: &str) -> anyhow::Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix(&format!("{prefix}-"))
            .tempdir()
            .context("creating a temporary directory for SQLite")?;
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("hub.db").display());
        Ok(Self {
            url,
            _cleanup: Cleanup::Sqlite { _dir: dir },
        })
    }

    /// A `DATABASE_URL` for this database, as the hub accepts it.
    pub fn url(&self) -> &str {
        &self.url
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
    /// Best effort: a leftover database wastes disk but breaks nothing, so errors are only
    /// printed. `Drop` usually runs inside a tokio runtime, where blocking on a future would
    /// panic, hence a plain thread with its own small runtime. `WITH (FORCE)` ends
    /// connections a pool may still hold open.
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
            Ok(Err(error)) => eprintln!("could not drop database {}: {error}", self.name),
            Err(_) => eprintln!("dropping database {} panicked", self.name),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::database_url;

    #[test]
    fn the_database_name_replaces_only_the_path() {
        assert_eq!(
            database_url(
                "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable",
                "x"
            ),
            "postgres://postgres@127.0.0.1:5432/x?sslmode=disable"
        );
        assert_eq!(
            database_url("postgres://u:p@host", "y"),
            "postgres://u:p@host/y"
        );
    }
}
