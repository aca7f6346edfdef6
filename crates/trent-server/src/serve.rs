//! `trent serve`: opens the data directory, the root key, the store and the key
//! service, builds the identities, the authenticators and the audit trail, then serves
//! [`crate::app`] until a shutdown signal; the binary's `main` only parses the command
//! line and calls [`serve`].

use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use trent_core::{BootstrapError, BootstrapOptions, Clock, KeyService, ServiceConfig, SystemClock};
use trent_crypto::{FileRootKey, RootKeyError, RootKeyProvider, SecretBytes};
use trent_store::{PostgresStore, SqliteStore, Store};
use trent_wire::AccountId;

use crate::auth::{Authenticator, Sessions, SharedDirectory};
use crate::config::{self, Config, RootKeySettings};
use crate::identities::Directory;
use crate::tls::{ReloadingTls, TlsListener};
use crate::AppState;
use crate::{audit, cloudtrail, error_chain, service_events, sts, test_clock, STORE_FILE};

const ROOT_KEY_FILE: &str = "root.key";
const CREDENTIALS_FILE: &str = "credentials";
/// Store metadata: when a server first ran on this store with `--dev-any-credentials`.
const META_DEV_CREDENTIALS: &str = "dev_any_credentials_first_used";

/// Serves until SIGINT or SIGTERM, then stops the background jobs and flushes the audit
/// trail.
pub async fn serve(config: Config) -> Result<(), String> {
    if config.dev_any_credentials {
        tracing::warn!("DEVELOPMENT MODE: --dev-any-credentials accepts ANY well-formed credentials without checking signatures. Never use it with real keys.");
        eprintln!("trent: WARNING: development mode (--dev-any-credentials): any well-formed credentials are accepted, signatures are not checked");
        if config.dev_allow_non_loopback && !config.listen.ip().is_loopback() {
            tracing::warn!(listen = %config.listen, "DEVELOPMENT MODE ON A NON-LOOPBACK ADDRESS (--dev-allow-non-loopback): whoever reaches it is an account root");
            eprintln!("trent: WARNING: --dev-allow-non-loopback: development credentials on {}: whoever reaches it is an account root", config.listen);
        }
    }
    // The TLS files are read first: a bad one refuses the start before anything is
    // created.
    let kms_tls = config
        .tls
        .clone()
        .map(|files| ReloadingTls::open(files, TlsListener::Kms))
        .transpose()?;
    let xks_tls = config
        .xks
        .as_ref()
        .and_then(|x| x.tls.clone())
        .map(|files| ReloadingTls::open(files, TlsListener::Xks))
        .transpose()?;
    // A FIPS build serves only in FIPS mode (AWS-LC's power-on self tests passed).
    #[cfg(feature = "fips")]
    if !trent_crypto::Provider::current().fips {
        return Err(format!(
            "this trent was built with the fips feature but runs {}: refusing to start",
            trent_crypto::Provider::current()
        ));
    }
    // Before anything takes a metric handle (the key cache does when the service opens).
    crate::telemetry::install()?;
    let dir = &config.data_dir;
    prepare_data_dir(dir)?;
    // Held until the server ends: no other process works in this data directory meanwhile.
    let _data_dir_lock = crate::lock_data_dir(dir)?;
    if config.dev_reset {
        tracing::warn!(
            "TESTING MODE: --dev-reset lets an account's root empty the account (every account's keys, for the default account's root) with a signed POST {}. Never use it with real keys.",
            crate::test_reset::PATH
        );
    }
    let test_clock = if config.dev_test_clock {
        let clock = test_clock::TestClock::open(dir)?;
        tracing::warn!(time = ?clock.clock.time(), "TESTING MODE: --dev-test-clock runs KMS time on a clock that an administrator's signed POST {} can move. Never use it with real keys.", test_clock::PATH);
        eprintln!("trent: WARNING: testing mode (--dev-test-clock): rotation periods and deletion windows follow a clock an administrator can move (POST {})", test_clock::PATH);
        Some(clock)
    } else {
        None
    };
    let clock: Arc<dyn Clock> = match &test_clock {
        Some(t) => t.clock.clone(),
        None => Arc::new(SystemClock),
    };
    let root_path = dir.join(ROOT_KEY_FILE);
    let store_path = dir.join(STORE_FILE);
    // Opened before the store, so that a refused start leaves no new store behind: the
    // `file` provider as it always was, and the others with SQLite, whose store is new
    // when its file does not exist yet. With PostgreSQL the others ask the store whether
    // it is new (see below).
    let early_root: Option<crate::root_key::Opened> = match &config.root_key {
        RootKeySettings::File => Some(crate::root_key::Opened {
            root: open_file_root_key(&config, &root_path, &store_path)?,
            described: format!("a copy of the same {ROOT_KEY_FILE} in its data directory"),
        }),
        settings if config.database_url.is_none() => {
            Some(crate::root_key::open(settings, dir, !store_path.exists()).await?)
        }
        _ => None,
    };
    let mut node_presence = None;
    let store: Arc<dyn Store> = match &config.database_url {
        None => Arc::new(SqliteStore::open(&store_path).await.map_err(|e| {
            format!(
                "cannot open the store {}: {}",
                store_path.display(),
                error_chain(&e)
            )
        })?),
        Some(url) => {
            let store = PostgresStore::connect(url.expose())
                .await
                .map_err(|e| format!("cannot open the store {url}: {}", error_chain(&e)))?;
            // Held as long as this node runs: `trent root-key migrate` sees every node by
            // it, whatever its audit trail or data directory, and keeps nodes out while
            // it runs.
            node_presence = Some(store.announce_node().await.map_err(|e| match e {
                trent_store::StoreError::Conflict => format!(
                    "a root key migration of the database {url} is running: start the node when it is done"
                ),
                e => format!("cannot announce this node in the database {url}: {}", error_chain(&e)),
            })?);
            Arc::new(store)
        }
    };
    // On PostgreSQL, nodes starting at once on a new database would each make a root key
    // (a PKCS#11 key in the token, a sealed passphrase key): one at a time decides, under
    // a lease held until the store's root key check is written (by `KeyService::open`).
    let mut root_lease = None;
    let opened = match early_root {
        Some(opened) => opened,
        None => {
            root_lease = Some(take_root_key_lease(store.as_ref()).await?);
            let is_new = crate::root_key::store_is_new(store.as_ref()).await?;
            crate::root_key::open(&config.root_key, dir, is_new).await?
        }
    };
    let root = opened.root;
    note_dev_credentials(store.as_ref(), config.dev_any_credentials).await?;

    let admin_secret = std::env::var("TRENT_ADMIN_SECRET_ACCESS_KEY")
        .ok()
        .map(|s| SecretBytes::new(s.into_bytes()));
    let options = BootstrapOptions {
        account_id: config.account_id.clone(),
        admin_access_key_id: std::env::var("TRENT_ADMIN_ACCESS_KEY_ID").ok(),
        admin_secret_access_key: admin_secret,
    };
    let credentials_path = dir.join(CREDENTIALS_FILE);
    // Whatever its mode was changed to since, the credentials file is the owner's only.
    #[cfg(unix)]
    if credentials_path.exists() {
        restrict_mode(&credentials_path, 0o600)?;
    }
    let hand_over = |id: &str, secret: &SecretBytes| {
        write_credentials(&credentials_path, id, secret)
            .map_err(|e| format!("cannot write {}: {e}", credentials_path.display()))
    };
    let (service, report) = KeyService::open(
        store.clone(),
        root.clone(),
        clock.clone(),
        ServiceConfig {
            cache_ttl: config.cache_ttl,
            cache_capacity: config.cache_capacity,
            pkcs11_clusters: config.pkcs11_clusters.clone(),
            quotas: config.quotas.clone(),
            rates: config.rates.clone(),
        },
        options,
        hand_over,
    )
    .await
    .map_err(|e| match (&e, &config.database_url) {
        (BootstrapError::RootKeyMismatch, Some(url)) => format!(
            "{}: the database {url} was created with another root key: every node of a cluster needs {}",
            dir.display(),
            opened.described
        ),
        _ => format!("{}: {}", dir.display(), error_chain(&e)),
    })?;
    if let Some(holder) = root_lease {
        store
            .release_lease(ROOT_KEY_LEASE, &holder)
            .await
            .map_err(|e| format!("cannot release the root key lease: {}", error_chain(&e)))?;
    }
    if report.account_id != config.account_id {
        tracing::warn!(
            stored = %report.account_id,
            requested = %config.account_id,
            "this data directory was created for another default account; keeping the stored one"
        );
    }
    if report.created_admin.is_some() {
        println!(
            "trent: created account {} with administrator {}; its access key is in {} (profile default)",
            report.account_id,
            report.admin_arn,
            credentials_path.display()
        );
    }
    service.set_xks_client(Arc::new(crate::xks_client::HttpXksClient::new(
        config.xks_client.clone(),
    )?));
    let keys = service
        .access_keys()
        .await
        .map_err(|e| format!("cannot load access keys: {e}"))?;
    let directory = Directory::build(&config.identities, &keys, &report.account_id).map_err(
        |e| match &config.config_path {
            Some(p) => format!("invalid config file {}: {e}", p.display()),
            None => e,
        },
    )?;
    log_directory(&directory, "identities loaded");
    let directory: SharedDirectory = Arc::new(parking_lot::RwLock::new(Arc::new(directory)));
    let sessions = Arc::new(Sessions::new(root.clone(), clock));
    let default_account = AccountId::parse(report.account_id.as_str())
        .map_err(|e| format!("the store's default account {:?}: {e}", report.account_id))?;
    let authenticator = |service: &str| {
        Authenticator::new(
            service,
            directory.clone(),
            sessions.clone(),
            config.dev_any_credentials,
            default_account.clone(),
        )
    };
    // Configured services ([[services]]) forward their callers' requests to KMS only.
    let auth = authenticator("kms").with_forwarding();
    let cloudtrail_auth = authenticator(cloudtrail::SIGNING_NAME);
    let sts_auth = authenticator(sts::SIGNING_NAME);
    let trail = audit::Trail::open(
        dir,
        root.as_ref(),
        &config.audit,
        &report.account_id,
        config.database_url.as_ref().map(|u| u.expose()),
    )
    .await?;
    let audit_log = trail.log.clone();
    let audit_throttle = trail.throttle.clone();
    let service = Arc::new(service);
    // The XKS proxy's keys, derived from the store's master secret (created at the first
    // start with an [xks] table).
    let xks_state: Option<crate::xks::SharedXks> = match &config.xks {
        Some(settings) => {
            let master = service
                .xks_master()
                .await
                .map_err(|e| format!("cannot open the XKS master secret: {e}"))?;
            let xks = crate::xks::XksState::new(settings, &master, root.clone())?;
            Some(Arc::new(parking_lot::RwLock::new(Arc::new(xks))))
        }
        None => None,
    };
    if let Some(path) = config.config_path.clone() {
        tokio::spawn(reload_on_sighup(
            path,
            service.clone(),
            directory.clone(),
            report.account_id.clone(),
            xks_state.clone().map(|x| (x, root.clone())),
        ));
    }
    // The seed's keys, before anything is served: audited as a service event, write-ahead.
    if let Some(path) = &config.seed {
        let keys = crate::seed::read(path, &report.account_id)?;
        let made = crate::seed::apply(&service, &audit_log, &keys)
            .await
            .map_err(|e| format!("--seed {}: {e}", path.display()))?;
        tracing::info!(
            created = made.created,
            existing = made.existing,
            aliases = made.aliases,
            "seed {} applied",
            path.display()
        );
    }
    // The keys by state and spec, for the metrics.
    tokio::spawn(crate::telemetry::key_census(service.clone()));
    // Rotation, deletion and the key-usage flush; their service events go to the trail.
    let jobs = service.start_jobs(Arc::new(service_events::AuditEvents {
        log: audit_log.clone(),
    }));
    let lifecycle = crate::listener::Lifecycle::new();
    let disk = crate::disk::DiskGuard::new(dir.clone(), config.min_free_disk_bytes);
    tokio::spawn(disk.clone().watch());
    let state = Arc::new(AppState {
        service,
        auth,
        cloudtrail_auth,
        sts_auth,
        directory,
        sessions,
        max_body_bytes: config.max_body_bytes,
        proxies: config.proxies.clone(),
        audit: trail,
        test_clock,
        test_reset: config.dev_reset,
        lifecycle: lifecycle.clone(),
        console: Default::default(),
        disk,
    });

    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", config.listen))?;
    let local = listener
        .local_addr()
        .map_err(|e| format!("cannot read the listening address: {e}"))?;
    // Before anything is announced: a signal from then on shuts down gracefully.
    let signals = shutdown_signals();
    // The XKS proxy's listener, announced before the KMS one (whose line says the server
    // is ready).
    let xks_listener = match (&config.xks, xks_state) {
        (Some(settings), Some(xks)) => {
            let xks_listener = tokio::net::TcpListener::bind(settings.listen)
                .await
                .map_err(|e| format!("[xks] cannot listen on {}: {e}", settings.listen))?;
            let xks_local = xks_listener
                .local_addr()
                .map_err(|e| format!("cannot read the XKS listening address: {e}"))?;
            let scheme = if xks_tls.is_some() { "https" } else { "http" };
            println!("trent xks proxy listening on {scheme}://{xks_local}");
            tracing::info!(
                local = %xks_local,
                tls = xks_tls.is_some(),
                mutual_tls = settings.tls.as_ref().is_some_and(|t| t.client_ca.is_some()),
                key_stores = settings.key_stores.len(),
                "serving the AWS KMS External Key Store proxy API"
            );
            Some((xks_listener, xks))
        }
        _ => None,
    };
    // The admin listener (/metrics, /healthz, /readyz), announced before the KMS one.
    let admin_listener = match config.admin_listen {
        Some(addr) => {
            let l = tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|e| format!("cannot listen on {addr} (admin_listen): {e}"))?;
            let local = l
                .local_addr()
                .map_err(|e| format!("cannot read the admin listening address: {e}"))?;
            println!("trent admin listening on http://{local}");
            tracing::info!(%local, "serving /metrics, /healthz and /readyz");
            Some(l)
        }
        None => None,
    };
    // TLS files are read again on SIGHUP and when they change.
    for tls in kms_tls.iter().chain(xks_tls.iter()) {
        tokio::spawn(tls.clone().watch());
    }
    let scheme = if kms_tls.is_some() { "https" } else { "http" };
    println!("trent listening on {scheme}://{local}");
    println!(
        "trent console at {scheme}://{local}{}/",
        crate::console::PREFIX
    );
    let _ = std::io::stdout().flush();
    let tls = kms_tls.is_some();
    let mutual_tls = kms_tls.as_ref().is_some_and(|t| t.mutual());
    match &config.database_url {
        Some(url) => {
            tracing::info!(%local, tls, mutual_tls, data_dir = %dir.display(), database = %url, "serving the AWS KMS API")
        }
        None => {
            tracing::info!(%local, tls, mutual_tls, data_dir = %dir.display(), "serving the AWS KMS API")
        }
    }
    tracing::info!(crypto = %trent_crypto::Provider::current(), "cryptographic provider");

    let limits = crate::listener::Limits {
        header_read_timeout: config.header_read_timeout,
        body_read_timeout: config.body_read_timeout,
        max_connections: config.max_connections,
    };
    // The first SIGTERM drains (readiness 503, connections told to go) for
    // `shutdown_drain`, then stops every listener; SIGINT, or a second signal, stops at
    // once.
    let drain = config.shutdown_drain;
    let grace = config.shutdown_grace;
    tokio::spawn({
        let lifecycle = lifecycle.clone();
        async move {
            let mut signals = signals;
            let first = signals.next().await;
            lifecycle.start_draining();
            if first == "SIGTERM" && !drain.is_zero() {
                tracing::info!(?drain, "SIGTERM: draining (readiness 503, connections closed after their request), then stopping");
                tokio::select! {
                    () = tokio::time::sleep(drain) => {}
                    again = signals.next() => tracing::info!("{again}: stopping without the rest of the drain"),
                }
            }
            tracing::info!(
                ?grace,
                "{first}: accepting no more connections; finishing the requests in flight"
            );
            lifecycle.stop();
        }
    });
    let xks_served = {
        let xks = xks_listener.map(|(l, xks)| (l, crate::http::xks_app(state.clone(), xks)));
        let lifecycle = lifecycle.clone();
        async move {
            if let Some((l, app)) = xks {
                crate::listener::serve(l, app, limits, xks_tls, lifecycle, grace).await;
            }
        }
    };
    let admin_served = {
        let admin = admin_listener.map(|l| (l, crate::admin::app(state.clone())));
        let lifecycle = lifecycle.clone();
        async move {
            if let Some((l, app)) = admin {
                crate::listener::serve(l, app, limits, None, lifecycle, grace).await;
            }
        }
    };
    let kms_served = crate::listener::serve(
        listener,
        crate::app(state),
        limits,
        kms_tls,
        lifecycle,
        grace,
    );
    tokio::join!(kms_served, xks_served, admin_served);
    // Stop the jobs and write the key usage still in memory.
    jobs.shutdown().await;
    // Write the counts of unauthenticated failures not yet written.
    audit_throttle.flush_all().await;
    // Sign what the last digest does not cover yet.
    if let Err(e) = audit_log.digest_now().await {
        tracing::error!(error = %e, "cannot write the audit digest at shutdown");
    }
    // Only now is this node gone.
    drop(node_presence);
    Ok(())
}

fn log_directory(directory: &Directory, message: &str) {
    let (accounts, users, roles, keys) = directory.counts();
    tracing::info!(accounts, users, roles, access_keys = keys, "{message}");
}

/// SIGHUP re-reads the config file's identities and the XKS proxy's key stores
/// (credentials, keys, prefixes; its listener changes at the next start only, its TLS files are reloaded by `tls.rs`): a
/// valid file replaces both at once (requests in flight finish with what they started
/// with); an invalid one is refused, with its message in the log, and the running
/// configuration stays.
#[cfg(unix)]
async fn reload_on_sighup(
    path: std::path::PathBuf,
    service: Arc<KeyService>,
    directory: SharedDirectory,
    default_account: String,
    xks: Option<(crate::xks::SharedXks, Arc<dyn RootKeyProvider>)>,
) {
    let mut hangups = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "cannot listen for SIGHUP; the config file is read at start only");
            return;
        }
    };
    while hangups.recv().await.is_some() {
        let reloaded = async {
            let (specs, xks_settings) = config::read_reloadable(&path)?;
            let keys = service
                .access_keys()
                .await
                .map_err(|e| format!("cannot load access keys: {e}"))?;
            let new = Directory::build(&specs, &keys, &default_account)
                .map_err(|e| format!("invalid config file {}: {e}", path.display()))?;
            let new_xks = match (&xks, xks_settings) {
                (Some((_, root)), Some(settings)) => {
                    let master = service
                        .xks_master()
                        .await
                        .map_err(|e| format!("cannot open the XKS master secret: {e}"))?;
                    Some(crate::xks::XksState::new(&settings, &master, root.clone())?)
                }
                (Some(_), None) => {
                    return Err(format!(
                        "{}: the [xks] table is gone; the XKS proxy stops only with a restart",
                        path.display()
                    ))
                }
                (None, Some(_)) => {
                    tracing::warn!("SIGHUP: the new [xks] table takes effect at the next start");
                    None
                }
                (None, None) => None,
            };
            Ok::<_, String>((new, new_xks))
        }
        .await;
        match reloaded {
            Ok((new, new_xks)) => {
                // In effect before it is announced: whoever reads the line (an operator,
                // a test) may rely on the new identities from then on.
                let new = Arc::new(new);
                *directory.write() = new.clone();
                log_directory(&new, "SIGHUP: identities reloaded");
                if let (Some((shared, _)), Some(x)) = (&xks, new_xks) {
                    let key_stores = x.key_store_count();
                    *shared.write() = Arc::new(x);
                    tracing::info!(
                        key_stores,
                        "SIGHUP: XKS key stores reloaded (listen and TLS change at the next start)"
                    );
                }
            }
            Err(e) => {
                tracing::error!(
                    "SIGHUP: config file refused, keeping the running configuration: {e}"
                )
            }
        }
    }
}

#[cfg(not(unix))]
async fn reload_on_sighup(
    _path: std::path::PathBuf,
    _service: Arc<KeyService>,
    _directory: SharedDirectory,
    _default_account: String,
    _xks: Option<(crate::xks::SharedXks, Arc<dyn RootKeyProvider>)>,
) {
}

/// Creates the data directory (0700) if needed and checks it is usable.
fn prepare_data_dir(dir: &Path) -> Result<(), String> {
    if !dir.exists() {
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder
            .create(dir)
            .map_err(|e| format!("cannot create the data directory {}: {e}", dir.display()))?;
    }
    if !dir.is_dir() {
        return Err(format!(
            "the data directory {} is not a directory",
            dir.display()
        ));
    }
    // An existing directory too: it holds the root key, the store and the credentials.
    #[cfg(unix)]
    restrict_mode(dir, 0o700)?;
    std::fs::read_dir(dir)
        .map_err(|e| format!("cannot read the data directory {}: {e}", dir.display()))?;
    let probe = dir.join(".trent-write-check");
    std::fs::write(&probe, b"")
        .and_then(|()| std::fs::remove_file(&probe))
        .map_err(|e| format!("cannot write in the data directory {}: {e}", dir.display()))?;
    Ok(())
}

/// Sets `path`'s permission bits to `mode` if it grants more (never loosens them).
#[cfg(unix)]
fn restrict_mode(path: &Path, mode: u32) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    let current = std::fs::metadata(path)
        .map_err(|e| format!("cannot read the mode of {}: {e}", path.display()))?
        .permissions()
        .mode()
        & 0o7777;
    if current & !mode != 0 {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(current & mode))
            .map_err(|e| format!("cannot restrict {} to mode {mode:o}: {e}", path.display()))?;
        tracing::warn!(path = %path.display(), from = %format!("{current:o}"), to = %format!("{:o}", current & mode), "tightened the permissions");
    }
    Ok(())
}

/// A store served with `--dev-any-credentials` was open to anyone with any credentials:
/// the first such start is recorded in the store (the SQLite file of the data directory,
/// or the PostgreSQL database every node of a cluster shares), and every later start
/// without the switch warns that its keys may have been used by anyone.
async fn note_dev_credentials(store: &dyn Store, dev_any_credentials: bool) -> Result<(), String> {
    if dev_any_credentials {
        let now = SystemClock.now_millis().to_string();
        store
            .init_meta(META_DEV_CREDENTIALS, now.as_bytes())
            .await
            .map_err(|e| format!("cannot record the development mode in the store: {e}"))?;
        return Ok(());
    }
    let used = store
        .meta(META_DEV_CREDENTIALS)
        .await
        .map_err(|e| format!("cannot read the store's metadata: {e}"))?;
    if let Some(first) = used {
        let since = std::str::from_utf8(&first)
            .ok()
            .and_then(|t| t.parse::<i64>().ok())
            .and_then(|ms| time::OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000)).ok())
            .and_then(|t| {
                t.format(&time::format_description::well_known::Rfc3339)
                    .ok()
            })
            .unwrap_or_else(|| "an unknown time".to_owned());
        tracing::warn!(first_used = %since, "THIS STORE WAS SERVED WITH --dev-any-credentials: anyone who reached the server could use, change or delete its keys without valid credentials. Do not trust it with real secrets; start over with a new data directory (and database).");
        eprintln!("trent: WARNING: this store was served with --dev-any-credentials (first at {since}): anyone who reached the server could use its keys then; do not trust it with real secrets");
    }
    Ok(())
}

/// The AWS shared credentials file (mode 0600), profile `default`.
fn write_credentials(
    path: &Path,
    access_key_id: &str,
    secret: &SecretBytes,
) -> std::io::Result<()> {
    let secret = std::str::from_utf8(secret.expose())
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidData, "secret is not UTF-8"))?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    // `mode` applies to a new file only: an existing one is tightened too.
    #[cfg(unix)]
    file.set_permissions(std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
    let mut text = zeroize::Zeroizing::new(String::new());
    text.push_str("[default]\naws_access_key_id = ");
    text.push_str(access_key_id);
    text.push_str("\naws_secret_access_key = ");
    text.push_str(secret);
    text.push('\n');
    file.write_all(text.as_bytes())?;
    file.sync_all()
}

/// The `file` provider: `root.key` in the data directory, created for a new store.
fn open_file_root_key(
    config: &Config,
    root_path: &Path,
    store_path: &Path,
) -> Result<Arc<dyn RootKeyProvider>, String> {
    let root: Arc<dyn RootKeyProvider> = match FileRootKey::load(root_path) {
        Ok(k) => Arc::new(k),
        // A cluster's first node creates the root key; the database then refuses any node
        // given another one (the root key check), so a missing copy cannot go unnoticed.
        Err(RootKeyError::NotFound { .. })
            if config.database_url.is_some() || !store_path.exists() =>
        {
            let k = FileRootKey::create(root_path).map_err(|e| error_chain(&e))?;
            tracing::info!(path = %root_path.display(), "created a new root key");
            Arc::new(k)
        }
        Err(RootKeyError::NotFound { .. }) => {
            return Err(format!(
                "{} has a store ({STORE_FILE}) but no root key ({ROOT_KEY_FILE}): without the root key its keys cannot be used; restore {} from backup",
                config.data_dir.display(),
                root_path.display()
            ))
        }
        Err(e) => return Err(error_chain(&e)),
    };
    Ok(root)
}

/// SIGTERM and SIGINT, registered before the server says it listens: a signal that
/// arrives from then on is a graceful shutdown, never the signal's default action (which
/// would kill the process before it flushed anything).
struct ShutdownSignals {
    #[cfg(unix)]
    terminate: Option<tokio::signal::unix::Signal>,
    #[cfg(unix)]
    interrupt: Option<tokio::signal::unix::Signal>,
}

fn shutdown_signals() -> ShutdownSignals {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let register = |kind: SignalKind, name: &str| match signal(kind) {
            Ok(s) => Some(s),
            Err(e) => {
                tracing::error!(error = %e, "cannot handle {name}: it will not shut the server down gracefully");
                None
            }
        };
        ShutdownSignals {
            terminate: register(SignalKind::terminate(), "SIGTERM"),
            interrupt: register(SignalKind::interrupt(), "SIGINT"),
        }
    }
    #[cfg(not(unix))]
    ShutdownSignals {}
}

/// The next delivery of `signal`; never, if it could not be registered.
#[cfg(unix)]
async fn wait_for(signal: Option<&mut tokio::signal::unix::Signal>) {
    match signal {
        Some(s) => {
            s.recv().await;
        }
        None => std::future::pending::<()>().await,
    }
}

impl ShutdownSignals {
    /// The next shutdown signal: `SIGTERM` or `SIGINT`.
    async fn next(&mut self) -> &'static str {
        #[cfg(unix)]
        {
            let name = tokio::select! {
                () = wait_for(self.terminate.as_mut()) => "SIGTERM",
                () = wait_for(self.interrupt.as_mut()) => "SIGINT",
            };
            tracing::info!("{name}: shutting down");
            name
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
            tracing::info!("shutting down");
            "SIGINT"
        }
    }
}

/// The lease under which a node of a PostgreSQL cluster decides whether the store is new and
/// makes its root key (see `serve`).
const ROOT_KEY_LEASE: &str = "trent:root-key";

/// Takes [`ROOT_KEY_LEASE`], waiting (at most a minute) for a node that holds it; the
/// holder name to release it with. A node that dies holding it holds it 30 s at most.
async fn take_root_key_lease(store: &dyn Store) -> Result<String, String> {
    let holder = uuid::Uuid::new_v4().to_string();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let taken = store
            .try_acquire_lease(ROOT_KEY_LEASE, &holder, std::time::Duration::from_secs(30))
            .await
            .map_err(|e| format!("cannot take the root key lease: {}", error_chain(&e)))?;
        if taken {
            return Ok(holder);
        }
        if std::time::Instant::now() >= deadline {
            return Err(
                "another node has held the root key lease for a minute: it is starting, or died while starting (the lease expires 30 s after)".into(),
            );
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}
