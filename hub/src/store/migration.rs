//! Owns embedding the SQL migrations in the binary, so a hub started anywhere (a fresh
//! laptop, a container without the source tree) can create or upgrade its own schema.
//! It must not hold SQL of its own: the schema lives in `migrations/<backend>/*.sql`.
//!
//! The `sqlx::migrate!` macro would do this, but it needs sqlx's `macros` feature, which the
//! workspace leaves off to keep compile times down; building the [`Migrator`] from
//! `include_str!` sources gives the same checksums the sqlx CLI computes for the same files.

use std::borrow::Cow;

use sqlx::{
    SqlSafeStr as _,
    migrate::{Migration, MigrationType, Migrator},
};

/// One migration file: `(version, description, sql)`, named `<version>_<description>.sql`.
type Source = (i64, &'static str, &'static str);

const POSTGRES: &[Source] = &[
    (
        1,
        "journal",
        include_str!("../../../migrations/postgres/0001_journal.sql"),
    ),
    (
        2,
        "readings",
        include_str!("../../../migrations/postgres/0002_readings.sql"),
    ),
    (
        3,
        "tenancy",
        include_str!("../../../migrations/postgres/0003_tenancy.sql"),
    ),
    (
        4,
        "command_window",
        include_str!("../../../migrations/postgres/0004_command_window.sql"),
    ),
];

const SQLITE: &[Source] = &[
    (
        1,
        "journal",
        include_str!("../../../migrations/sqlite/0001_journal.sql"),
    ),
    (
        2,
        "readings",
        include_str!("../../../migrations/sqlite/0002_readings.sql"),
    ),
    (
        3,
        "tenancy",
        include_str!("../../../migrations/sqlite/0003_tenancy.sql"),
    ),
    (
        4,
        "command_window",
        include_str!("../../../migrations/sqlite/0004_command_window.sql"),
    ),
];

pub(super) fn postgres() -> Migrator {
    migrator(POSTGRES)
}

pub(super) fn sqlite() -> Migrator {
    migrator(SQLITE)
}

fn migrator(sources: &'static [Source]) -> Migrator {
    let migrations = sources
        .iter()
        .map(|&(version, description, sql)| {
            Migration::new(
                version,
                Cow::Borrowed(description),
                MigrationType::Simple,
                sql.into_sql_str(),
                false,
            )
        })
        .collect();
    Migrator::with_migrations(migrations)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A migration file added to the directory but not to the list above would silently never
    /// run; this keeps the two in step.
    fn assert_embedded(dir: &str, sources: &[Source]) {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../migrations")
            .join(dir);
        let mut on_disk: Vec<String> = std::fs::read_dir(&path)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|name| name.ends_with(".sql"))
            .collect();
        on_disk.sort();
        let embedded: Vec<String> = sources
            .iter()
            .map(|(version, description, _)| format!("{version:04}_{description}.sql"))
            .collect();
        assert_eq!(
            on_disk, embedded,
            "migrations/{dir} and the embedded list differ"
        );
    }

    #[test]
    fn every_postgres_migration_file_is_embedded() {
        assert_embedded("postgres", POSTGRES);
    }

    #[test]
    fn every_sqlite_migration_file_is_embedded() {
        assert_embedded("sqlite", SQLITE);
    }

    #[test]
    fn both_backends_have_the_same_migration_versions() {
        let versions = |sources: &[Source]| sources.iter().map(|s| (s.0, s.1)).collect::<Vec<_>>();
        assert_eq!(versions(POSTGRES), versions(SQLITE));
    }
}
