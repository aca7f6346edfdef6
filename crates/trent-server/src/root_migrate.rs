//! `trent root-key migrate --to pkcs11|passphrase|file`: re-seals every secret sealed
//! under the current root key (the one `[root_key]` of the servers' configuration names,
//! opened as `trent serve` opens it) under a new one, offline (every server stopped).
//!
//! The store's records go through `trent_core::root_migration` (a batch per store
//! transaction, resumable, the root key check switched last); the data directory's
//! sealed file, the audit signing key, is re-sealed here before the switch. The new
//! root key is always a key other than the current one: a `file` target is a new key
//! file, `root.key.new` (the operator moves it to `root.key` once the migration is
//! done); a `passphrase` target is `root.key.sealed` (refused if the current provider is
//! `passphrase`: same file); a `pkcs11` target is the key `key_label` of the token,
//! generated if absent. Each of them, if it exists already, is taken as the target of an
//! earlier interrupted run.
//!
//! Audited write-ahead: a `TrentMigrateRootKey` event (phase `started`) is in the data
//! directory's audit trail before anything changes, or the command stops; another (phase
//! `completed`, with the counts) when it is done.

use std::path::Path;
use std::sync::Arc;

use trent_core::root_migration::{self, CheckState, MigrateError, KINDS};
use trent_crypto::{FileRootKey, RootKeyError, RootKeyProvider};
use trent_store::{PostgresStore, SqliteStore, Store};

use crate::audit::{SIGNING_KEY_AAD, SIGNING_KEY_FILE};
use crate::config::{RootKeyMigrateArgs, RootKeySettings};
use crate::{error_chain, STORE_FILE};

/// The new key file of a `file` target, next to `root.key`.
pub const NEW_ROOT_KEY_FILE: &str = "root.key.new";
const ROOT_KEY_FILE: &str = "root.key";
/// The store's default account (`trent_core::service`).
const META_DEFAULT_ACCOUNT: &str = "default_account_id";
/// TESTING ONLY: stop after this many store transactions, as a crash would (the
/// resumability test).
pub const TEST_MAX_BATCHES_ENV: &str = "TRENT_TEST_ROOT_KEY_MIGRATE_MAX_BATCHES";

pub async fn migrate(args: RootKeyMigrateArgs) -> Result<(), String> {
    let config = args.source_config()?;
    let target_settings = args.target_settings()?;
    let dir = &config.data_dir;
    if !dir.is_dir() {
        return Err(format!("{} is not a data directory", dir.display()));
    }
    // A server of this data directory must not run meanwhile (on SQLite, or with its audit
    // trail in files, the database's live-chain check below cannot see it).
    let _data_dir_lock = crate::lock_data_dir(dir)?;
    if matches!(config.root_key, RootKeySettings::Passphrase { .. })
        && matches!(target_settings, RootKeySettings::Passphrase { .. })
    {
        return Err(
            "the current root key is a passphrase root key already: its sealed key file would be the target's too"
                .into(),
        );
    }
    let max_batches = match std::env::var(TEST_MAX_BATCHES_ENV) {
        Ok(v) => Some(
            v.parse::<u64>()
                .map_err(|_| format!("{TEST_MAX_BATCHES_ENV}: not a number"))?,
        ),
        Err(_) => None,
    };

    if let Some(url) = &config.database_url {
        refuse_live_nodes(url.expose()).await?;
    }
    // Held to the end: no node of the database runs, or starts, meanwhile.
    let mut _nodes_excluded = None;
    let store: Arc<dyn Store> = match &config.database_url {
        None => {
            let path = dir.join(STORE_FILE);
            // Opening would create an empty store: a missing file is a mistake, say so.
            if !path.is_file() {
                return Err(format!(
                    "{} has no store ({STORE_FILE}) to migrate",
                    dir.display()
                ));
            }
            Arc::new(SqliteStore::open(&path).await.map_err(|e| {
                format!(
                    "cannot open the store {}: {}",
                    path.display(),
                    error_chain(&e)
                )
            })?)
        }
        Some(url) => {
            let store = PostgresStore::connect(url.expose())
                .await
                .map_err(|e| format!("cannot open the store {url}: {}", error_chain(&e)))?;
            // Every running node holds its presence in the database, whatever its audit
            // trail or data directory.
            _nodes_excluded = Some(
                store
                    .exclude_nodes()
                    .await
                    .map_err(|e| format!("cannot lock the database {url}: {}", error_chain(&e)))?
                    .ok_or("a node of this database is running: stop every node first")?,
            );
            Arc::new(store)
        }
    };
    let source = open_source(&config.root_key, dir).await?;
    let (target, target_described) = open_target(&target_settings, dir).await?;
    let fail = |e: MigrateError| error_chain(&e);
    root_migration::refuse_same_key(source.as_ref(), target.as_ref()).map_err(fail)?;
    match root_migration::check_state(store.as_ref(), source.as_ref(), target.as_ref())
        .await
        .map_err(fail)?
    {
        CheckState::Source => println!(
            "trent: re-sealing every secret of {} under {target_described}",
            dir.display()
        ),
        CheckState::Target => println!(
            "trent: the store's root key check is already under {target_described}: checking that every secret is, and re-sealing this data directory's files"
        ),
    }

    // Write-ahead: the migration is in the audit trail before it changes anything, or it
    // does not start. The trail is opened with whichever root key opens the signing key
    // now (the target's, when an earlier run got that far) and kept open to the end: the
    // signing key itself never changes, only how it is sealed.
    let trail = open_trail(&config, store.as_ref(), source.as_ref(), target.as_ref())
        .await
        .map_err(|e| format!("{e}; so the migration did not start (nothing was changed)"))?;
    let (from, to) = (source.kind(), target.kind());
    record(
        &trail,
        serde_json::json!({ "phase": "started", "fromProvider": from, "toProvider": to }),
    )
    .await
    .map_err(|e| {
        format!("cannot record the migration in the audit trail, so it did not start (nothing was changed): {e}")
    })?;

    // Servers refuse to start from here until the migration is finished.
    root_migration::begin(store.as_ref()).await.map_err(fail)?;
    let report = root_migration::reseal_store(
        store.as_ref(),
        source.as_ref(),
        target.as_ref(),
        args.batch_size,
        max_batches,
        |kind, counts| {
            println!(
                "trent: {}: {} re-sealed, {} already under the new root key",
                root_migration::kind_name(kind),
                counts.resealed,
                counts.already
            );
        },
    )
    .await
    .map_err(fail)?;
    if !report.complete {
        return Err(format!(
            "stopped as {TEST_MAX_BATCHES_ENV} asks, before the end: run the command again to finish"
        ));
    }
    let signing_key = reseal_file(
        &dir.join(SIGNING_KEY_FILE),
        SIGNING_KEY_AAD,
        source.as_ref(),
        target.as_ref(),
    )?;
    root_migration::switch_root_key_check(store.as_ref(), source.as_ref(), target.as_ref())
        .await
        .map_err(fail)?;
    root_migration::finish(store.as_ref()).await.map_err(fail)?;
    let counts: serde_json::Map<String, serde_json::Value> = KINDS
        .iter()
        .map(|k| {
            let c = report.of(*k);
            (
                root_migration::kind_name(*k).to_owned(),
                serde_json::json!({ "resealed": c.resealed, "alreadyResealed": c.already }),
            )
        })
        .collect();
    let audited = record(
        &trail,
        serde_json::json!({
            "phase": "completed",
            "fromProvider": from,
            "toProvider": to,
            "records": counts,
        }),
    )
    .await;
    drop(store);

    let total = |f: fn(&root_migration::Counts) -> u64| {
        KINDS.iter().map(|k| f(&report.of(*k))).sum::<u64>()
    };
    println!(
        "trent: done: {} secrets re-sealed, {} were already; audit signing key: {signing_key}; the store's root key check is now under {target_described}",
        total(|c| c.resealed),
        total(|c| c.already),
    );
    match target_settings {
        RootKeySettings::File => println!(
            "trent: next: move {} to {} (keep the old root.key until the servers run with the new one, then destroy it), and set [root_key] provider = \"file\"",
            dir.join(NEW_ROOT_KEY_FILE).display(),
            dir.join(ROOT_KEY_FILE).display()
        ),
        _ => println!(
            "trent: next: start the servers with the new [root_key] settings; keep the old root key until they run, then destroy it"
        ),
    }
    audited.map_err(|e| {
        format!("the migration is complete, but its audit event could not be recorded: {e}")
    })
}

/// This data directory's audit trail, opened with the root key that opens its signing key
/// now: the target's once an earlier run re-sealed it, else the source's (which creates
/// it, as a server would, if there is none).
async fn open_trail(
    config: &crate::config::Config,
    store: &dyn Store,
    source: &dyn RootKeyProvider,
    target: &dyn RootKeyProvider,
) -> Result<crate::audit::Trail, String> {
    // The store's own default account (a server has opened it: its root key check was
    // there); unreadable, the event is not attributed to another account but refused.
    let account = store
        .meta(META_DEFAULT_ACCOUNT)
        .await
        .map_err(|e| error_chain(&e))?
        .and_then(|a| String::from_utf8(a).ok())
        .filter(|a| trent_core::is_account_id(a))
        .ok_or("the store's default account id is missing or malformed")?;
    let signing_key = config.data_dir.join(SIGNING_KEY_FILE);
    let root = match std::fs::read(&signing_key) {
        Ok(sealed) if target.unseal(SIGNING_KEY_AAD, &sealed).is_ok() => target,
        Ok(_) => source,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => source,
        Err(e) => return Err(format!("cannot read {}: {e}", signing_key.display())),
    };
    crate::audit::Trail::open(
        &config.data_dir,
        root,
        &config.audit,
        &account,
        config.database_url.as_ref().map(|u| u.expose()),
    )
    .await
    .map_err(|e| format!("cannot open the audit trail: {e}"))
}

/// Records a service event `TrentMigrateRootKey` (the providers, the phase, and at the
/// end the counts; never a secret) and seals it into a digest at once.
async fn record(trail: &crate::audit::Trail, parameters: serde_json::Value) -> Result<(), String> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    let record = trent_audit::Record::service_event(
        "TrentMigrateRootKey",
        &trail.default_account_id,
        "",
        "",
        Some(parameters),
        now,
    );
    trail.log.record(&record).await.map_err(|e| e.to_string())?;
    trail.log.digest_now().await.map_err(|e| e.to_string())?;
    Ok(())
}

/// Refuses to run while a node of the cluster runs, naming the chains of those writing
/// their audit trail into the database (each holds its chain's lock while it runs). Every
/// node, whatever its audit store, is refused by its presence lock besides (see
/// `migrate`); a server on SQLite, by the data directory's lock.
async fn refuse_live_nodes(url: &str) -> Result<(), String> {
    let audit = trent_audit::PgAuditStore::connect(
        trent_audit::PgAuditStore::options(url).map_err(|e| e.to_string())?,
    )
    .await
    .map_err(|e| format!("cannot read the audit chains of the database: {e}"))?;
    let live = audit.live_chains().await.map_err(|e| e.to_string());
    audit.close().await;
    let live = live?;
    if live.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{} node(s) of this database are running (audit chains {}): stop every node first",
            live.len(),
            live.join(", ")
        ))
    }
}

/// The current root key, as `trent serve` opens it, never a new one.
pub(crate) async fn open_source(
    settings: &RootKeySettings,
    dir: &Path,
) -> Result<Arc<dyn RootKeyProvider>, String> {
    match settings {
        RootKeySettings::File => {
            let path = dir.join(ROOT_KEY_FILE);
            FileRootKey::load(&path)
                .map(|k| Arc::new(k) as Arc<dyn RootKeyProvider>)
                .map_err(|e| format!("the current root key: {}", error_chain(&e)))
        }
        other => crate::root_key::open(other, dir, false)
            .await
            .map(|o| o.root)
            .map_err(|e| format!("the current root key: {e}")),
    }
}

/// The new root key: made if absent, else the one an earlier run made.
async fn open_target(
    settings: &RootKeySettings,
    dir: &Path,
) -> Result<(Arc<dyn RootKeyProvider>, String), String> {
    match settings {
        RootKeySettings::File => {
            let path = dir.join(NEW_ROOT_KEY_FILE);
            let key = match FileRootKey::load(&path) {
                Ok(k) => k,
                Err(RootKeyError::NotFound { .. }) => {
                    let k = FileRootKey::create(&path)
                        .map_err(|e| format!("the new root key: {}", error_chain(&e)))?;
                    println!("trent: created the new root key {}", path.display());
                    k
                }
                Err(e) => return Err(format!("the new root key: {}", error_chain(&e))),
            };
            Ok((
                Arc::new(key),
                format!("the root key file {}", path.display()),
            ))
        }
        other => crate::root_key::open(other, dir, true)
            .await
            .map(|o| (o.root, o.described))
            .map_err(|e| format!("the new root key: {e}")),
    }
}

/// Re-seals a sealed file of the data directory (atomically replaced), if it exists.
fn reseal_file(
    path: &Path,
    aad: &[u8],
    source: &dyn RootKeyProvider,
    target: &dyn RootKeyProvider,
) -> Result<&'static str, String> {
    let sealed = match std::fs::read(path) {
        Ok(s) => s,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok("none"),
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    };
    match root_migration::reseal_one(source, target, aad, &sealed) {
        Ok(None) => Ok("already under the new root key"),
        Ok(Some(resealed)) => {
            crate::audit::write_file(path, &resealed, 0o600)
                .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
            Ok("re-sealed")
        }
        Err(Some(e)) => Err(format!("{}: {}", path.display(), error_chain(&e))),
        Err(None) => Err(format!(
            "{}: neither the current nor the new root key opens it",
            path.display()
        )),
    }
}
