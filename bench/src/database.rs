//! Owns the throw-away databases a benchmark runs against: a fresh `hub_bench_<uuid>`
//! database on a local Postgres server, dropped again when the run ends (also after an
//! error, a panic or Ctrl-C), or a SQLite file in a temporary directory. It must not know
//! the schema (the hub migrates what it connects to) and never touches a remote server.

use anyhow::{Context as _, bail};
use hub::store::scratch::ScratchDatabase;
use sqlx::{Connection as _, PgConnection};

/// The admin URL used when neither `--admin-url` nor `TEST_POSTGRES_URL` names one.
pub const DEFAULT_POSTGRES_ADMIN_URL: &str = hub::store::scratch::DEFAULT_ADMIN_URL;

/// A database that exists for one benchmark row. Keep it alive until the hub using
/// [`url`](Self::url) has stopped.
pub struct FreshDatabase {
    database: ScratchDatabase,
}

impl FreshDatabase {
    /// Creates an empty database on the Postgres server of `admin_url`, which must be on
    /// this machine: a benchmark that wrote thousands of orders into a shared server could
    /// hurt someone else's figures (or data).
    pub async fn postgres(admin_url: &str) -> anyhow::Result<Self> {
        ensure_loopback(admin_url)?;
        let database = ScratchDatabase::postgres(admin_url, "hub_bench")
            .await
            .with_context(|| format!("preparing a database on {}", redact(admin_url)))?;
        Ok(Self { database })
    }

    /// Names a SQLite file in a fresh temporary directory; the hub creates it on connect.
    pub fn sqlite() -> anyhow::Result<Self> {
        Ok(Self {
            database: ScratchDatabase::sqlite("hub-bench")?,
        })
    }

    /// A `DATABASE_URL` for this database, as the hub accepts it.
    pub fn url(&self) -> &str {
        self.database.url()
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

/// Process ids of the server backends connected to the database of `url` (the hub's
/// pool), without the one asking. The server runs on this machine (loopback only), so
/// their CPU time can be read from `/proc`.
pub async fn backend_pids(url: &str) -> anyhow::Result<Vec<u32>> {
    ensure_loopback(url)?;
    let mut connection = PgConnection::connect(url)
        .await
        .with_context(|| format!("connecting to {}", redact(url)))?;
    let pids: Vec<(i32,)> = sqlx::query_as(
        "SELECT pid FROM pg_stat_activity \
         WHERE datname = current_database() AND pid <> pg_backend_pid()",
    )
    .fetch_all(&mut connection)
    .await
    .context("listing the database's backends")?;
    let _ = connection.close().await;
    Ok(pids
        .into_iter()
        .filter_map(|(pid,)| u32::try_from(pid).ok())
        .collect())
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

#[cfg(test)]
mod tests {
    use super::*;

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
