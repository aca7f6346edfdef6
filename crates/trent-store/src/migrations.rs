//! The schema migrations, shared by every backend.
//!
//! Each migration is a numbered `.sql` file under `migrations/`, embedded at compile time,
//! written in the common subset of SQLite and PostgreSQL so that both backends run the same
//! text. A backend's runner keeps `schema_migrations(version, applied_at)`, applies every
//! migration it has not recorded, each in its own transaction together with its row in
//! `schema_migrations`, and refuses a database whose schema is newer than this binary.

use crate::StoreError;

/// One schema migration.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Migration {
    /// 1, 2, 3, ...: the file's number, applied in this order.
    pub(crate) version: i64,
    pub(crate) name: &'static str,
    pub(crate) sql: &'static str,
}

/// Every migration, oldest first. Append only: a released migration is never edited.
pub(crate) const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "0001_initial",
        sql: include_str!("../migrations/0001_initial.sql"),
    },
    Migration {
        version: 2,
        name: "0002_leases",
        sql: include_str!("../migrations/0002_leases.sql"),
    },
    Migration {
        version: 3,
        name: "0003_key_policy",
        sql: include_str!("../migrations/0003_key_policy.sql"),
    },
    Migration {
        version: 4,
        name: "0004_grants",
        sql: include_str!("../migrations/0004_grants.sql"),
    },
    Migration {
        version: 5,
        name: "0005_key_time",
        sql: include_str!("../migrations/0005_key_time.sql"),
    },
    Migration {
        version: 6,
        name: "0006_import",
        sql: include_str!("../migrations/0006_import.sql"),
    },
    Migration {
        version: 7,
        name: "0007_multi_region",
        sql: include_str!("../migrations/0007_multi_region.sql"),
    },
    Migration {
        version: 8,
        name: "0008_key_manager",
        sql: include_str!("../migrations/0008_key_manager.sql"),
    },
    Migration {
        version: 9,
        name: "0009_custom_key_stores",
        sql: include_str!("../migrations/0009_custom_key_stores.sql"),
    },
    Migration {
        version: 10,
        name: "0010_xks_key_id",
        sql: include_str!("../migrations/0010_xks_key_id.sql"),
    },
    Migration {
        version: 11,
        name: "0011_key_counts",
        sql: include_str!("../migrations/0011_key_counts.sql"),
    },
];

/// The schema version this binary writes: that of the last migration.
pub(crate) const LATEST_VERSION: i64 = MIGRATIONS[MIGRATIONS.len() - 1].version;

/// The runner's own bookkeeping table; `IF NOT EXISTS` makes re-opening a no-op.
pub(crate) const CREATE_SCHEMA_MIGRATIONS: &str = "CREATE TABLE IF NOT EXISTS schema_migrations (\
     version BIGINT NOT NULL PRIMARY KEY, \
     applied_at BIGINT NOT NULL)";

/// Refuses a database whose highest recorded migration (`found`) is newer than this
/// binary's: [`SchemaTooNew`] as the source of [`StoreError::Backend`].
pub(crate) fn check_not_too_new(found: Option<i64>) -> Result<(), StoreError> {
    match found.filter(|v| *v > LATEST_VERSION) {
        Some(found) => Err(StoreError::Backend(Box::new(SchemaTooNew {
            found,
            supported: LATEST_VERSION,
        }))),
        None => Ok(()),
    }
}

impl Migration {
    /// Logs that this migration was applied.
    pub(crate) fn log_applied(&self) {
        tracing::info!(
            version = self.version,
            name = self.name,
            "applied store migration"
        );
    }
}

/// The database's schema is newer than this binary knows: running it could corrupt data
/// written by the newer version, so the store refuses to open.
#[derive(Debug, thiserror::Error)]
#[error("store schema version {found} is newer than this binary supports ({supported})")]
pub struct SchemaTooNew {
    pub found: i64,
    pub supported: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_increase_from_one_and_match_file_names() {
        // Strictly increasing rather than consecutive: a number may be taken by a
        // migration of a branch not merged yet (the runner applies each unrecorded one).
        assert_eq!(MIGRATIONS[0].version, 1);
        for pair in MIGRATIONS.windows(2) {
            assert!(pair[0].version < pair[1].version, "{}", pair[1].name);
        }
        for m in MIGRATIONS {
            let expected = m.version;
            assert!(
                m.name.starts_with(&format!("{expected:04}_")),
                "migration {} is not numbered {expected:04}",
                m.name
            );
            assert!(!m.sql.trim().is_empty(), "{} is empty", m.name);
        }
        assert_eq!(LATEST_VERSION, MIGRATIONS[MIGRATIONS.len() - 1].version);
    }

    #[test]
    fn migrations_avoid_backend_specific_types() {
        // The same text runs on SQLite and PostgreSQL: BLOB and AUTOINCREMENT are
        // SQLite-only, SERIAL and BOOLEAN PostgreSQL-only, and INTEGER is 32 bits in
        // PostgreSQL (too small for a millisecond time): integers are BIGINT.
        for m in MIGRATIONS {
            let upper = m.sql.to_uppercase();
            let code: String = upper
                .lines()
                .map(|l| l.split("--").next().unwrap_or(""))
                .collect::<Vec<_>>()
                .join("\n");
            for word in [" BLOB", "AUTOINCREMENT", "SERIAL", " BOOLEAN", " INTEGER "] {
                assert!(!code.contains(word), "{} uses {word}", m.name);
            }
        }
    }
}
