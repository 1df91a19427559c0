//! Owns the throw-away databases a benchmark runs against: a fresh `hub_bench_<uuid>`
//! database on a local Postgres server, dropped again when the run ends (also after an
//! error, a panic or Ctrl-C), or a SQLite file in a temporary directory. It must not know
//! the schema (the hub migrates what it connects to) and never touches a remote server.

use anyhow::{Context as _, bail};
use sqlx::{AssertSqlSafe, Connection as _, PgConnection};
use tempfile::TempDir;
use uuid::Uuid;

/// The admin URL used when neither `--admin-url` nor `TEST_POSTGRES_URL` names one.
pub const DEFAULT_POSTGRES_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// A database that exists for one benchmark row. Keep it alive until the hub using
/// [`url`](Self::url) has stopped.
pub struct FreshDatabase {
    url: String,
    _cleanup: Cleanup,
}

/// What to remove when the row is over; never read, only dropped.
enum Cleanup {
    Postgres { _database: DroppedPostgresDatabase },
    Sqlite { _dir: TempDir },
}

impl FreshDatabase {
    /// Creates an empty database on the Postgres server of `admin_url`, which must be on
    /// this machine: a benchmark that wrote thousands of orders into a shared server could
    /// hurt someone else's figures (or data).
    pub async fn postgres(admin_url: &str) -> anyhow::Result<Self> {
        ensure_loopback(admin_url)?;
        let name = format!("hub_bench_{}", Uuid::new_v4().simple());
        let mut admin = PgConnection::connect(admin_url)
            .await
            .with_context(|| format!("connecting to Postgres at {}", redact(admin_url)))?;
        // The name is ours (a uuid), so formatting it into the statement is safe.
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
    pub fn sqlite() -> anyhow::Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix("hub-bench-")
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

/// The server's version string, e.g. `15.4 (Debian 15.4-1)`, for the report header.
pub async fn postgres_version(admin_url: &str) -> anyhow::Result<String> {
    ensure_loopback(admin_url)?;
    let mut admin = PgConnection::connect(admin_url)
        .await
        .with_context(|| format!("connecting to Postgres at {}", redact(admin_url)))?;
    let (version,): (String,) = sqlx::query_as("SHOW server_version")
        .fetch_one(&mut admin)
        .await
        .context("reading the Postgres server version")?;
    let _ = admin.close().await;
    Ok(version)
}

/// Refuses any host but this machine's loopback address.
fn ensure_loopback(url: &str) -> anyhow::Result<()> {
    let host = host(url);
    if !matches!(host, "127.0.0.1" | "localhost" | "[::1]") {
        bail!(
            "the benchmark only runs against a Postgres server on 127.0.0.1 (got host {host:?} in {})",
            redact(url)
        );
    }
    Ok(())
}

/// The host of `scheme://user:password@host:port/path?query`, without the port.
fn host(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.split(['/', '?']).next().unwrap_or_default();
    let host_port = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    if host_port.starts_with('[') {
        return host_port
            .find(']')
            .map_or(host_port, |end| &host_port[..=end]);
    }
    host_port.split(':').next().unwrap_or_default()
}

/// Replaces the password of `scheme://user:password@host` with `***` for messages.
fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let Some((userinfo, host)) = rest.rsplit_once('@') else {
        return url.to_owned();
    };
    match userinfo.split_once(':') {
        Some((user, _password)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_owned(),
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
    /// Best effort: a leftover database is reported, not fatal. `Drop` runs inside the
    /// benchmark's tokio runtime, where blocking on a future would panic, hence a plain
    /// thread with its own small runtime. `WITH (FORCE)` ends connections a hub that did
    /// not stop cleanly may still hold open.
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
    use super::*;

    #[test]
    fn the_database_name_replaces_only_the_path_of_the_admin_url() {
        assert_eq!(
            database_url("postgres://postgres@127.0.0.1:5432/postgres", "b1"),
            "postgres://postgres@127.0.0.1:5432/b1"
        );
        assert_eq!(
            database_url("postgres://u:p@localhost/admin?sslmode=disable", "b1"),
            "postgres://u:p@localhost/b1?sslmode=disable"
        );
    }

    #[test]
    fn only_loopback_servers_are_accepted() {
        assert!(ensure_loopback("postgres://postgres@127.0.0.1:5432/postgres").is_ok());
        assert!(ensure_loopback("postgres://u:p@localhost/postgres").is_ok());
        assert!(ensure_loopback("postgres://u@[::1]:5432/postgres").is_ok());
        assert!(ensure_loopback("postgres://u:p@db.example.com:5432/postgres").is_err());
        assert!(ensure_loopback("postgres://u:p@10.0.0.5/postgres").is_err());
    }

    #[test]
    fn messages_never_show_the_password() {
        let err = ensure_loopback("postgres://u:hunter2@db/postgres").unwrap_err();
        assert!(!err.to_string().contains("hunter2"), "{err}");
    }
}
