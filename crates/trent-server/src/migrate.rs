//! `trent migrate-store`: moves a single-machine deployment (the SQLite store of a data
//! directory) into an empty PostgreSQL database for a cluster. Sealed material is copied
//! verbatim; the root key stays a file, which the operator copies to every node.

use std::path::Path;

use trent_store::{copy_sqlite_to_postgres, PostgresStore, SqliteStore};

use crate::config::DatabaseUrl;
use crate::{error_chain, STORE_FILE};

pub async fn migrate_store(data_dir: &Path, to: &DatabaseUrl) -> Result<(), String> {
    let source_path = data_dir.join(STORE_FILE);
    // Opening would create an empty store: a missing file is a mistake, say so.
    if !source_path.is_file() {
        return Err(format!(
            "{} has no store ({STORE_FILE}) to migrate",
            data_dir.display()
        ));
    }
    let source = SqliteStore::open(&source_path).await.map_err(|e| {
        format!(
            "cannot open the store {}: {}",
            source_path.display(),
            error_chain(&e)
        )
    })?;
    let target = PostgresStore::connect(to.expose())
        .await
        .map_err(|e| format!("cannot open the store {to}: {}", error_chain(&e)))?;
    let report = copy_sqlite_to_postgres(&source, &target)
        .await
        .map_err(|e| {
            format!(
                "migrating {} to {to}: {}",
                source_path.display(),
                error_chain(&e)
            )
        })?;
    source.close().await;
    target.close().await;
    println!(
        "trent: copied {} keys ({} material versions), {} aliases, {} access keys and {} metadata entries from {} to {to}; counts verified",
        report.keys,
        report.materials,
        report.aliases,
        report.access_keys,
        report.meta,
        source_path.display()
    );
    println!(
        "trent: give every node a copy of {} (mode 0600) and start it with --database-url",
        data_dir.join("root.key").display()
    );
    Ok(())
}
