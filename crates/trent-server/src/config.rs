//! Configuration: command-line flags, then environment variables (`TRENT_*`), then the
//! config file (TOML, `--config`), then the documented defaults.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use serde::Deserialize;

pub const DEFAULT_LISTEN: &str = "127.0.0.1:4599";
/// Below this much free space, state-changing requests are refused.
pub const DEFAULT_MIN_FREE_DISK_BYTES: u64 = 1 << 30;
/// How long SIGTERM drains before the listeners stop.
pub const DEFAULT_SHUTDOWN_DRAIN_MS: u64 = 5_000;
/// How long requests in flight may take once the listeners stopped.
pub const DEFAULT_SHUTDOWN_GRACE_MS: u64 = 30_000;
/// The admin listener's (`/metrics`, `/healthz`, `/readyz`).
pub const DEFAULT_ADMIN_LISTEN: &str = "127.0.0.1:4598";
pub const DEFAULT_DATA_DIR: &str = "trent-data";
/// The example account of AWS's documentation.
pub const DEFAULT_ACCOUNT_ID: &str = "111122223333";
/// AWS KMS's own requests are a few KiB at most (a 32 KiB policy is the largest field).
pub const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024;
/// A client has this long to send a request's headers (slowloris: a connection that
/// drips its headers is closed).
pub const DEFAULT_HEADER_READ_TIMEOUT_MS: u64 = 10_000;
/// ... and this long, once its headers are in, to send the whole body.
pub const DEFAULT_BODY_READ_TIMEOUT_MS: u64 = 30_000;
/// Connections served at once; more wait in the listen backlog.
pub const DEFAULT_MAX_CONNECTIONS: usize = 1024;

#[derive(Debug, Parser)]
#[command(
    name = "trent",
    version,
    about = "A self-hosted key management service that speaks the AWS KMS API"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server (creates the root key, the default account and an administrator on
    /// first start in an empty data directory).
    Serve(Box<ServeArgs>),
    /// Copy an SQLite deployment (the store in a data directory) into an empty PostgreSQL
    /// database, sealed key material verbatim, so that a cluster of nodes given the same
    /// root key file can take over.
    MigrateStore(MigrateStoreArgs),
    /// The audit trail: verify it, export it in CloudTrail's layout, print its public key.
    Audit(crate::audit::AuditArgs),
    /// The root of trust: `trent root-key migrate` re-seals every sealed secret under
    /// another root key (stop every server first).
    #[command(subcommand)]
    RootKey(RootKeyCommand),
    /// Copy a node's data directory (its SQLite store, audit trail and audit signing key;
    /// never the root key) into one backup file, while the server runs
    Backup(crate::backup::BackupArgs),
    /// Restore a backup file into an empty data directory (then give it its root key)
    Restore(crate::backup::RestoreArgs),
    /// Ask a running server's admin listener whether it is alive (`healthz`) or ready
    /// (`readyz`): exit 0 if it answers 200, else 1 with its answer (a container's
    /// HEALTHCHECK, a script waiting for a node)
    Probe(ProbeArgs),
    /// Print a shell completion script for `trent` (bash, zsh, fish, elvish, powershell)
    Completions(CompletionsArgs),
}

#[derive(Debug, Args)]
pub struct ProbeArgs {
    /// What to ask: `healthz` (alive) or `readyz` (ready to serve)
    #[arg(value_parser = ["healthz", "readyz"], default_value = "healthz")]
    pub check: String,
    /// The admin listener's address [default: 127.0.0.1:4598]
    #[arg(long, env = "TRENT_ADMIN_LISTEN")]
    pub admin_listen: Option<String>,
    /// Give up after this many milliseconds
    #[arg(long, default_value_t = 5000)]
    pub timeout_ms: u64,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Subcommand)]
pub enum RootKeyCommand {
    /// Re-seal every secret of the store and the data directory under a new root key of
    /// the provider `--to` (resumable: run it again after a failure); the store's root key
    /// check is switched last, after which servers start only with the new root key's
    /// `[root_key]` settings. Stop every server of the store first.
    Migrate(RootKeyMigrateArgs),
}

#[derive(Debug, Args)]
pub struct RootKeyMigrateArgs {
    /// The provider of the new root key: `file` (a new key file, root.key.new in the data
    /// directory), `passphrase` (root.key.sealed in the data directory) or `pkcs11` (the
    /// key `key_label` in the token, generated if absent)
    #[arg(long, value_parser = ["file", "passphrase", "pkcs11"])]
    pub to: String,
    /// A TOML file whose `[root_key]` table (the format of the config file's) gives the
    /// new provider's settings; its `provider` must be `--to`'s
    #[arg(long)]
    pub to_config: Option<PathBuf>,
    /// The servers' config file: its `[root_key]`, `data_dir` and `database_url` name the
    /// current root key and the store, as for `trent serve`
    #[arg(long, env = "TRENT_CONFIG")]
    pub config: Option<PathBuf>,
    /// The data directory [default: ./trent-data]
    #[arg(long, env = "TRENT_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// The PostgreSQL store of a cluster [default: the SQLite file trent.db in the data
    /// directory]
    #[arg(long, env = "TRENT_DATABASE_URL")]
    pub database_url: Option<DatabaseUrl>,
    /// Records re-sealed per store transaction
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub batch_size: u32,
}

impl RootKeyMigrateArgs {
    /// The current configuration, resolved exactly as `trent serve` resolves it.
    pub fn source_config(&self) -> Result<Config, String> {
        let mut args = ServeArgs::for_data_dir(self.data_dir.clone().unwrap_or_default());
        args.data_dir = self.data_dir.clone();
        args.config = self.config.clone();
        args.database_url = self.database_url.clone();
        Config::resolve(args)
    }

    /// The new root key's settings: `--to-config`'s `[root_key]` (the rest of the file, if
    /// it is a whole config file, is not read), its provider `--to`.
    pub fn target_settings(&self) -> Result<RootKeySettings, String> {
        #[derive(Deserialize)]
        struct RootKeyOnly {
            root_key: Option<RootKeyFileConfig>,
        }
        let table = match &self.to_config {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
                toml::from_str::<RootKeyOnly>(&text)
                    .map_err(|e| format!("invalid {}: {}", path.display(), toml_error(&text, &e)))?
                    .root_key
                    .ok_or_else(|| format!("{} has no [root_key] table", path.display()))?
            }
            None => RootKeyFileConfig::default(),
        };
        let provider = table.provider.clone().unwrap_or_else(|| self.to.clone());
        if provider != self.to {
            return Err(format!(
                "--to {} but the [root_key] of --to-config names provider {provider:?}",
                self.to
            ));
        }
        let settings = RootKeySettings::resolve(Some(RootKeyFileConfig {
            provider: Some(provider),
            ..table
        }));
        settings.map_err(|e| match &self.to_config {
            Some(p) => format!("invalid {}: {e}", p.display()),
            None => format!("--to {}: {e} (give its settings with --to-config)", self.to),
        })
    }
}

impl ServeArgs {
    /// `trent serve --data-dir DIR` with nothing else given: the settings of the
    /// environment and a config file (if set afterwards) apply, as for the server.
    pub fn for_data_dir(data_dir: PathBuf) -> ServeArgs {
        ServeArgs {
            listen: None,
            data_dir: Some(data_dir),
            account_id: None,
            config: None,
            dev_any_credentials: false,
            dev_allow_non_loopback: false,
            header_read_timeout_ms: None,
            body_read_timeout_ms: None,
            max_connections: None,
            admin_listen: None,
            min_free_disk_bytes: None,
            shutdown_drain_ms: None,
            shutdown_grace_ms: None,
            tls_cert: None,
            tls_key: None,
            tls_client_ca: None,
            trusted_network: false,
            trusted_proxies: Vec::new(),
            otlp_endpoint: None,
            otlp_ca: None,
            dev_test_clock: false,
            dev_reset: false,
            database_url: None,
            cache_ttl_ms: None,
            cache_capacity: None,
            no_quotas: false,
            no_rate_quotas: false,
            seed: None,
            audit: crate::audit::AuditServeArgs::default(),
        }
    }
}

#[derive(Debug, Args)]
pub struct MigrateStoreArgs {
    /// The data directory whose store (trent.db) is copied
    #[arg(long, env = "TRENT_DATA_DIR")]
    pub data_dir: PathBuf,
    /// The target database, e.g. postgres://user@host:5432/trent?sslmode=require; it must
    /// hold no Trent data yet
    #[arg(long)]
    pub to: DatabaseUrl,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on [default: 127.0.0.1:4599; port 0 picks a free port]
    #[arg(long, env = "TRENT_LISTEN")]
    pub listen: Option<String>,
    /// Data directory: root key, store, credentials [default: ./trent-data]
    #[arg(long, env = "TRENT_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// The default account id, used at first start [default: 111122223333]
    #[arg(long, env = "TRENT_ACCOUNT_ID")]
    pub account_id: Option<String>,
    /// A TOML config file with the same settings (listen, data_dir, account_id,
    /// dev_any_credentials, dev_allow_non_loopback, max_body_bytes, header_read_timeout_ms,
    /// body_read_timeout_ms, max_connections, and an [audit] table)
    #[arg(long, env = "TRENT_CONFIG")]
    pub config: Option<PathBuf>,
    /// DEVELOPMENT ONLY: accept any well-formed SigV4 credentials without checking the
    /// signature (a 12-digit access key id acts as that account's root, anything else as
    /// the default account's root)
    #[arg(long, env = "TRENT_DEV_ANY_CREDENTIALS")]
    pub dev_any_credentials: bool,
    /// DEVELOPMENT ONLY: let --dev-any-credentials listen on an address other than
    /// loopback (e.g. 0.0.0.0 in a container whose port only the host reaches); without
    /// it that combination is refused at start
    #[arg(long, env = "TRENT_DEV_ALLOW_NON_LOOPBACK")]
    pub dev_allow_non_loopback: bool,
    /// On SIGTERM, keep serving this many milliseconds while /readyz answers 503 and
    /// connections are told to close, so that a load balancer moves clients elsewhere;
    /// then stop accepting [default: 5000; SIGINT does not wait]
    #[arg(long, env = "TRENT_SHUTDOWN_DRAIN_MS")]
    pub shutdown_drain_ms: Option<u64>,
    /// Once stopped accepting, wait at most this many milliseconds for the requests in
    /// flight [default: 30000]
    #[arg(long, env = "TRENT_SHUTDOWN_GRACE_MS")]
    pub shutdown_grace_ms: Option<u64>,
    /// Refuse state-changing requests (KMSInternalException) while the data directory's
    /// file system has less free space than this; reads go on; 0: never [default:
    /// 1073741824, 1 GiB]
    #[arg(long, env = "TRENT_MIN_FREE_DISK_BYTES")]
    pub min_free_disk_bytes: Option<u64>,
    /// Address of the admin listener: /metrics (Prometheus), /healthz, /readyz; plain
    /// HTTP, unauthenticated; `off` for none [default: 127.0.0.1:4598; port 0 picks a free
    /// port]
    #[arg(long, env = "TRENT_ADMIN_LISTEN")]
    pub admin_listen: Option<String>,
    /// Serve the KMS API over TLS (HTTPS: TLS 1.2 and 1.3, HTTP/2 and HTTP/1.1) with this
    /// PEM certificate chain and --tls-key; both are read again on SIGHUP and when they
    /// change
    #[arg(long, env = "TRENT_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The PEM private key (PKCS#8, PKCS#1 or SEC1) of --tls-cert
    #[arg(long, env = "TRENT_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// With --tls-cert: require client certificates issued by a CA of this PEM file
    /// (mutual TLS)
    #[arg(long, env = "TRENT_TLS_CLIENT_CA", requires = "tls_cert")]
    pub tls_client_ca: Option<PathBuf>,
    /// Serve plain HTTP on a non-loopback address: the network to Trent is trusted, TLS
    /// ends in front of it (a load balancer or proxy); without it, or --tls-cert, such a
    /// listener is refused at start
    #[arg(long, env = "TRENT_TRUSTED_NETWORK")]
    pub trusted_network: bool,
    /// The proxies in front of Trent, as IP addresses or CIDR blocks, comma-separated:
    /// only from them are Forwarded / X-Forwarded-For (aws:SourceIp) and
    /// X-Forwarded-Proto (aws:SecureTransport) believed [default: none]
    #[arg(long, env = "TRENT_TRUSTED_PROXIES", value_delimiter = ',')]
    pub trusted_proxies: Vec<String>,
    /// Export a span per request (and its store and audit waits) over OTLP/HTTP to this
    /// collector (base URL: `/v1/traces` is appended, e.g. http://127.0.0.1:4318)
    /// [default: OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, OTEL_EXPORTER_OTLP_ENDPOINT, else none]
    #[arg(long, env = "TRENT_OTLP_ENDPOINT")]
    pub otlp_endpoint: Option<String>,
    /// PEM certificates to trust for an https --otlp-endpoint, besides the public roots
    /// [default: OTEL_EXPORTER_OTLP_CERTIFICATE]
    #[arg(long, env = "TRENT_OTLP_CA")]
    pub otlp_ca: Option<PathBuf>,
    /// Close a connection whose request headers have not all arrived within this many
    /// milliseconds [default: 10000]
    #[arg(long, env = "TRENT_HEADER_READ_TIMEOUT_MS")]
    pub header_read_timeout_ms: Option<u64>,
    /// Fail a request (and close its connection) whose body has not all arrived within
    /// this many milliseconds after its headers [default: 30000]
    #[arg(long, env = "TRENT_BODY_READ_TIMEOUT_MS")]
    pub body_read_timeout_ms: Option<u64>,
    /// Serve at most this many connections at once; further ones wait to be accepted
    /// [default: 1024]
    #[arg(long, env = "TRENT_MAX_CONNECTIONS")]
    pub max_connections: Option<usize>,
    /// TESTING ONLY: run KMS time (rotation periods, deletion windows, key usage) on a
    /// clock that `POST /_trent/test/clock`, SigV4-signed by an administrator of the default
    /// account, can move forward (audited as TrentSetTestClock); the offset is kept in the
    /// data directory (test-clock-offset) across restarts
    #[arg(long, env = "TRENT_DEV_TEST_CLOCK")]
    pub dev_test_clock: bool,
    /// TESTING ONLY: serve `POST /_trent/test/reset`, which empties one account (signed by
    /// its root) or every account (signed by the default account's root) without a restart
    /// (audited as TrentResetAccount)
    #[arg(long, env = "TRENT_DEV_RESET")]
    pub dev_reset: bool,
    /// The store: a PostgreSQL URL (postgres://user:password@host:port/db, with
    /// ?sslmode=require for TLS) shared by every node of a cluster [default: the SQLite
    /// file trent.db in the data directory]
    #[arg(long, env = "TRENT_DATABASE_URL")]
    pub database_url: Option<DatabaseUrl>,
    /// How long a node serves a cached key or alias before re-reading it, in milliseconds
    /// (the bound on staleness should a change notification be lost) [default: 5000]
    #[arg(long, env = "TRENT_CACHE_TTL_MS")]
    pub cache_ttl_ms: Option<u64>,
    /// How many keys a node keeps loaded (unsealed, policy parsed); a request for a key
    /// beyond them reads it from the store [default: 100000]
    #[arg(long, env = "TRENT_CACHE_CAPACITY")]
    pub cache_capacity: Option<usize>,
    /// Turn every resource quota off (as `quotas = false` in the config file), e.g. for a
    /// test suite that makes more keys than AWS allows
    #[arg(long, env = "TRENT_NO_QUOTAS")]
    pub no_quotas: bool,
    /// Turn the request-rate quotas off (ThrottlingException), keeping the resource
    /// quotas, e.g. for a test suite that calls faster than AWS allows
    #[arg(long, env = "TRENT_NO_RATE_QUOTAS")]
    pub no_rate_quotas: bool,
    /// A seed file (TOML, or JSON if it ends in .json): keys with fixed ids and their
    /// aliases, made at start if missing (see `trent-server/src/seed.rs`)
    #[arg(long, env = "TRENT_SEED")]
    pub seed: Option<PathBuf>,
    #[command(flatten)]
    pub audit: crate::audit::AuditServeArgs,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    listen: Option<String>,
    data_dir: Option<PathBuf>,
    account_id: Option<String>,
    dev_any_credentials: Option<bool>,
    dev_allow_non_loopback: Option<bool>,
    dev_test_clock: Option<bool>,
    dev_reset: Option<bool>,
    max_body_bytes: Option<usize>,
    header_read_timeout_ms: Option<u64>,
    body_read_timeout_ms: Option<u64>,
    max_connections: Option<usize>,
    admin_listen: Option<String>,
    min_free_disk_bytes: Option<u64>,
    shutdown_drain_ms: Option<u64>,
    shutdown_grace_ms: Option<u64>,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    tls_client_ca: Option<PathBuf>,
    trusted_network: Option<bool>,
    trusted_proxies: Option<Vec<String>>,
    otlp_endpoint: Option<String>,
    otlp_ca: Option<PathBuf>,
    database_url: Option<DatabaseUrl>,
    cache_ttl_ms: Option<u64>,
    cache_capacity: Option<usize>,
    audit: Option<crate::audit::AuditFileConfig>,
    root_key: Option<RootKeyFileConfig>,
    /// `[[pkcs11_clusters]]`: the PKCS#11 tokens AWS_CLOUDHSM custom key stores name.
    #[serde(default)]
    pkcs11_clusters: Vec<Pkcs11ClusterFileConfig>,
    /// `[xks]`: the AWS KMS External Key Store proxy API (`xks_config.rs`).
    xks: Option<crate::xks_config::XksFileConfig>,
    /// `[xks_client]`: how external key stores reach their XKS proxies (`xks_client.rs`).
    xks_client: Option<crate::xks_client::XksClientFileConfig>,
    /// `[quotas]` (a table of quotas), or `quotas = false` (none) / `true` (AWS's).
    quotas: Option<toml::Value>,
    /// The seed file (`--seed`).
    seed: Option<PathBuf>,
    /// `[[accounts]]`, `[[users]]`, `[[roles]]` (docs/identities.md).
    #[serde(default)]
    accounts: Vec<crate::identities::AccountSpec>,
    #[serde(default)]
    users: Vec<crate::identities::UserSpec>,
    #[serde(default)]
    roles: Vec<crate::identities::RoleSpec>,
    /// `[[services]]` (docs/services.md).
    #[serde(default)]
    services: Vec<crate::identities::ServiceSpec>,
}

/// The `[quotas]` table: AWS's resource quotas, each per account and Region unless its
/// name says otherwise; a quota not given keeps AWS's default.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct QuotasFileConfig {
    /// Customer managed keys (AWS: 100000).
    keys: Option<u64>,
    /// Aliases per KMS key (AWS: 50).
    aliases: Option<u64>,
    /// Grants per KMS key (AWS: 50000).
    grants: Option<u64>,
    /// Grants for one grantee principal per KMS key (AWS: 500).
    grants_per_grantee: Option<u64>,
    /// Custom key stores (AWS: 10).
    custom_key_stores: Option<u64>,
    /// `[quotas.rates]`: request-rate quotas by name (`CreateKey = 5`,
    /// `cryptographic_symmetric = 10000`, ...), or `rates = false` (none).
    rates: Option<toml::Value>,
}

/// The resource and request-rate quotas of `quotas = ...` / `[quotas]`, unless
/// `--no-quotas` (none) or `--no-rate-quotas` (no rate quota).
fn quotas(
    no_quotas: bool,
    no_rate_quotas: bool,
    file: Option<toml::Value>,
) -> Result<(trent_core::ResourceQuotas, trent_core::RateQuotas), String> {
    use trent_core::{RateQuotas, ResourceQuotas};
    let defaults = ResourceQuotas::default();
    if no_quotas {
        return Ok((ResourceQuotas::off(), RateQuotas::off()));
    }
    let (resources, mut rates) = match file {
        None | Some(toml::Value::Boolean(true)) => (defaults, RateQuotas::default()),
        Some(toml::Value::Boolean(false)) => (ResourceQuotas::off(), RateQuotas::off()),
        Some(table @ toml::Value::Table(_)) => {
            let q: QuotasFileConfig = table.try_into().map_err(|e| format!("[quotas]: {e}"))?;
            let rates = match q.rates {
                None | Some(toml::Value::Boolean(true)) => RateQuotas::default(),
                Some(toml::Value::Boolean(false)) => RateQuotas::off(),
                Some(toml::Value::Table(table)) => {
                    let mut rates = RateQuotas::default();
                    for (name, value) in table {
                        let rate = match value {
                            toml::Value::Integer(i) => i as f64,
                            toml::Value::Float(f) => f,
                            other => {
                                return Err(format!(
                                    "[quotas.rates] {name}: expected a number of requests per second, not {other}"
                                ))
                            }
                        };
                        rates
                            .set(&name, rate)
                            .map_err(|e| format!("[quotas.rates]: {e}"))?;
                    }
                    rates
                }
                Some(other) => {
                    return Err(format!(
                        "[quotas] rates: expected false or a [quotas.rates] table, not {other}"
                    ))
                }
            };
            (
                ResourceQuotas {
                    keys: q.keys.or(defaults.keys),
                    aliases: q.aliases.or(defaults.aliases),
                    grants: q.grants.or(defaults.grants),
                    grants_per_grantee: q.grants_per_grantee.or(defaults.grants_per_grantee),
                    custom_key_stores: q.custom_key_stores.or(defaults.custom_key_stores),
                },
                rates,
            )
        }
        Some(other) => {
            return Err(format!(
                "quotas: expected true, false or a [quotas] table, not {other}"
            ))
        }
    };
    if no_rate_quotas {
        rates = RateQuotas::off();
    }
    Ok((resources, rates))
}

/// A `[[pkcs11_clusters]]` entry: the PKCS#11 token an AWS_CLOUDHSM custom key store's
/// `CloudHsmClusterId` names.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Pkcs11ClusterFileConfig {
    cluster_id: String,
    module: PathBuf,
    token_label: String,
    trust_anchor_file: PathBuf,
}

/// The `[[pkcs11_clusters]]` entries, checked: a cluster id of AWS's form
/// (`cluster-` and 11 to 16 of `[2-7a-zA-Z]`) named once, a token label, a readable trust
/// anchor certificate (PEM, at most 5000 characters as `TrustAnchorCertificate`).
fn resolve_clusters(
    entries: Vec<Pkcs11ClusterFileConfig>,
) -> Result<Vec<trent_core::Pkcs11Cluster>, String> {
    let mut clusters: Vec<trent_core::Pkcs11Cluster> = Vec::new();
    for entry in entries {
        let id = &entry.cluster_id;
        let well_formed = id.strip_prefix("cluster-").is_some_and(|rest| {
            (11..=16).contains(&rest.len())
                && rest
                    .bytes()
                    .all(|b| b.is_ascii_alphabetic() || (b'2'..=b'7').contains(&b))
        });
        if !well_formed {
            return Err(format!(
                "pkcs11_clusters: invalid cluster_id {id:?}: expected \"cluster-\" and 11 to 16 of [2-7a-zA-Z]"
            ));
        }
        if clusters.iter().any(|c| &c.cluster_id == id) {
            return Err(format!("pkcs11_clusters: cluster_id {id:?} is given twice"));
        }
        if entry.token_label.is_empty() {
            return Err(format!("pkcs11_clusters: {id}: token_label is empty"));
        }
        let trust_anchor = std::fs::read_to_string(&entry.trust_anchor_file).map_err(|e| {
            format!(
                "pkcs11_clusters: {id}: cannot read trust_anchor_file {}: {e}",
                entry.trust_anchor_file.display()
            )
        })?;
        if !trust_anchor.contains("-----BEGIN CERTIFICATE-----") || trust_anchor.len() > 5000 {
            return Err(format!(
                "pkcs11_clusters: {id}: trust_anchor_file {} is not a PEM certificate of at most 5000 characters",
                entry.trust_anchor_file.display()
            ));
        }
        clusters.push(trent_core::Pkcs11Cluster {
            cluster_id: entry.cluster_id,
            module: entry.module,
            token_label: entry.token_label,
            trust_anchor,
        });
    }
    Ok(clusters)
}

/// The `[root_key]` table: which provider holds the root key, and its settings.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RootKeyFileConfig {
    provider: Option<String>,
    module: Option<PathBuf>,
    token_label: Option<String>,
    key_label: Option<String>,
    pin_file: Option<PathBuf>,
    passphrase_file: Option<PathBuf>,
}

/// Where the root key comes from (`[root_key]` of the config file).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum RootKeySettings {
    /// `root.key` in the data directory (the default).
    #[default]
    File,
    /// `root.key.sealed` in the data directory, sealed under a passphrase (Argon2id):
    /// from `TRENT_ROOT_KEY_PASSPHRASE`, else `passphrase_file`, else a terminal prompt.
    Passphrase { passphrase_file: Option<PathBuf> },
    /// An AES-256 key in a PKCS#11 token; the PIN from `TRENT_PKCS11_PIN`, else
    /// `pin_file`.
    Pkcs11 {
        module: PathBuf,
        token_label: String,
        key_label: String,
        pin_file: Option<PathBuf>,
    },
}

impl RootKeySettings {
    fn resolve(table: Option<RootKeyFileConfig>) -> Result<Self, String> {
        let Some(t) = table else {
            return Ok(Self::File);
        };
        let provider = t.provider.as_deref().unwrap_or("file");
        let pkcs11_only = [
            ("module", t.module.is_some()),
            ("token_label", t.token_label.is_some()),
            ("key_label", t.key_label.is_some()),
            ("pin_file", t.pin_file.is_some()),
        ];
        let not_for = |keys: &[(&str, bool)], for_provider: &str| -> Result<(), String> {
            match keys.iter().find(|(_, set)| *set) {
                Some((key, _)) => Err(format!(
                    "[root_key] {key} applies to provider \"{for_provider}\" only, not \"{provider}\""
                )),
                None => Ok(()),
            }
        };
        match provider {
            "file" => {
                not_for(&pkcs11_only, "pkcs11")?;
                not_for(
                    &[("passphrase_file", t.passphrase_file.is_some())],
                    "passphrase",
                )?;
                Ok(Self::File)
            }
            "passphrase" => {
                not_for(&pkcs11_only, "pkcs11")?;
                Ok(Self::Passphrase {
                    passphrase_file: t.passphrase_file,
                })
            }
            "pkcs11" => {
                not_for(
                    &[("passphrase_file", t.passphrase_file.is_some())],
                    "passphrase",
                )?;
                let missing = |key: &str| {
                    format!("[root_key] provider \"pkcs11\" needs {key}")
                };
                // A token's label is at most 32 bytes (CK_TOKEN_INFO); a key's is free.
                let token_label = match t.token_label {
                    Some(l) if !l.is_empty() && l.len() <= 32 => l,
                    Some(_) => return Err("[root_key] token_label must be 1 to 32 bytes".into()),
                    None => return Err(missing("token_label")),
                };
                let key_label = match t.key_label {
                    Some(l) if !l.is_empty() => l,
                    Some(_) => return Err("[root_key] key_label must not be empty".into()),
                    None => return Err(missing("key_label")),
                };
                Ok(Self::Pkcs11 {
                    module: t.module.ok_or_else(|| missing("module"))?,
                    token_label,
                    key_label,
                    pin_file: t.pin_file,
                })
            }
            other => Err(format!(
                "invalid [root_key] provider {other:?}: expected \"file\", \"passphrase\" or \"pkcs11\""
            )),
        }
    }
}

/// Reads the config file (the whole of it must be valid).
fn read_file(path: &std::path::Path) -> Result<FileConfig, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read config file {}: {e}", path.display()))?;
    toml::from_str::<FileConfig>(&text).map_err(|e| {
        format!(
            "invalid config file {}: {}",
            path.display(),
            toml_error(&text, &e)
        )
    })
}

/// A TOML error as "line L, column C: message", without the excerpt of the file `toml`
/// quotes (that line may hold a secret).
fn toml_error(text: &str, e: &toml::de::Error) -> String {
    match e.span() {
        Some(span) => {
            let before = &text[..span.start.min(text.len())];
            let line = before.matches('\n').count() + 1;
            let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
            format!("line {line}, column {column}: {}", e.message())
        }
        None => e.message().to_owned(),
    }
}

/// The identity tables of the config file, re-read on SIGHUP. The other settings take
/// effect at the next start only.
pub fn read_identities(path: &std::path::Path) -> Result<crate::identities::IdentitySpecs, String> {
    Ok(read_file(path)?.take_identities())
}

impl FileConfig {
    /// The identity tables (`[[accounts]]`, `[[users]]`, `[[roles]]`, `[[services]]`).
    fn take_identities(&mut self) -> crate::identities::IdentitySpecs {
        crate::identities::IdentitySpecs {
            accounts: std::mem::take(&mut self.accounts),
            users: std::mem::take(&mut self.users),
            roles: std::mem::take(&mut self.roles),
            services: std::mem::take(&mut self.services),
        }
    }
}

/// What SIGHUP re-reads of the config file: its identity tables and its `[xks]` table.
pub fn read_reloadable(
    path: &std::path::Path,
) -> Result<
    (
        crate::identities::IdentitySpecs,
        Option<crate::xks_config::XksSettings>,
    ),
    String,
> {
    let mut file = read_file(path)?;
    let identities = file.take_identities();
    let xks = file
        .xks
        .map(crate::xks_config::XksSettings::resolve)
        .transpose()
        .map_err(|e| format!("invalid config file {}: {e}", path.display()))?;
    Ok((identities, xks))
}

/// The settings in force.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub account_id: String,
    pub dev_any_credentials: bool,
    /// Development only: `dev_any_credentials` on a non-loopback address.
    pub dev_allow_non_loopback: bool,
    /// Testing only: the movable clock and its control endpoint.
    pub dev_test_clock: bool,
    /// Testing only: the reset endpoint.
    pub dev_reset: bool,
    pub max_body_bytes: usize,
    pub header_read_timeout: std::time::Duration,
    pub body_read_timeout: std::time::Duration,
    pub max_connections: usize,
    /// The admin listener's address (`admin_listen`); `None`: off.
    pub admin_listen: Option<SocketAddr>,
    /// The disk watermark (`min_free_disk_bytes`; 0: none).
    pub min_free_disk_bytes: u64,
    /// How long SIGTERM drains before the listeners stop (`shutdown_drain_ms`).
    pub shutdown_drain: std::time::Duration,
    /// How long requests in flight may take once the listeners stopped.
    pub shutdown_grace: std::time::Duration,
    /// The KMS listener's TLS (`tls_cert`, `tls_key`, `tls_client_ca`); `None`: plain
    /// HTTP, on a loopback address unless `trusted_network`.
    pub tls: Option<crate::tls::TlsFiles>,
    /// Plain HTTP on a non-loopback address is allowed: TLS ends in front of Trent.
    pub trusted_network: bool,
    /// The proxies whose forwarding headers are believed (`trusted_proxies`).
    pub proxies: crate::network::Proxies,
    /// Where spans are exported (`otlp_endpoint`, `otlp_ca`); `None`: nowhere.
    pub otlp: Option<crate::traces::OtlpSettings>,
    /// `None`: the SQLite file in the data directory.
    pub database_url: Option<DatabaseUrl>,
    pub cache_ttl: std::time::Duration,
    /// How many keys the key cache holds (`cache_capacity`).
    pub cache_capacity: usize,
    /// Resource quotas (`[quotas]`, `--no-quotas`).
    pub quotas: trent_core::ResourceQuotas,
    /// Request-rate quotas (`[quotas.rates]`, `--no-rate-quotas`).
    pub rates: trent_core::RateQuotas,
    /// The seed file applied at start (`--seed`).
    pub seed: Option<PathBuf>,
    pub audit: crate::audit::AuditSettings,
    /// The config file, re-read on SIGHUP for its identities.
    pub config_path: Option<PathBuf>,
    /// The identities of the config file (validated against the store at start).
    pub identities: crate::identities::IdentitySpecs,
    /// The root key provider (`[root_key]`).
    pub root_key: RootKeySettings,
    /// The PKCS#11 tokens AWS_CLOUDHSM custom key stores name (`[[pkcs11_clusters]]`).
    pub pkcs11_clusters: Vec<trent_core::Pkcs11Cluster>,
    /// `[xks]`: the XKS proxy's listener and key stores, if it is served.
    pub xks: Option<crate::xks_config::XksSettings>,
    /// `[xks_client]` (checked at start: see `xks_client.rs`).
    pub xks_client: Option<crate::xks_client::XksClientFileConfig>,
}

/// A database URL: printed (Debug, logs, messages) without its password.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct DatabaseUrl(String);

impl DatabaseUrl {
    /// The full URL, password included, for connecting only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::str::FromStr for DatabaseUrl {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self(s.to_owned()))
    }
}

impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}

impl std::fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Drop the query too: it may carry a password (`?password=...`).
        let url = self.0.split('?').next().unwrap_or("");
        match url.split_once("://") {
            Some((scheme, rest)) => match rest.rsplit_once('@') {
                Some((userinfo, host)) => {
                    let user = userinfo.split(':').next().unwrap_or("");
                    write!(f, "{scheme}://{user}@{host}")
                }
                None => write!(f, "{scheme}://{rest}"),
            },
            None => write!(f, "(not a URL)"),
        }
    }
}

impl Config {
    pub fn resolve(args: ServeArgs) -> Result<Config, String> {
        let mut file = match &args.config {
            Some(path) => read_file(path)?,
            None => FileConfig::default(),
        };
        let identities = file.take_identities();
        let listen_text = args
            .listen
            .or(file.listen)
            .unwrap_or_else(|| DEFAULT_LISTEN.to_owned());
        let listen: SocketAddr = listen_text.parse().map_err(|_| {
            format!("invalid listen address {listen_text:?}: expected IP:PORT, e.g. 127.0.0.1:4599")
        })?;
        let account_id = args
            .account_id
            .or(file.account_id)
            .unwrap_or_else(|| DEFAULT_ACCOUNT_ID.to_owned());
        if !trent_core::is_account_id(&account_id) {
            return Err(format!(
                "invalid account id {account_id:?}: expected 12 digits"
            ));
        }
        let max_body_bytes = file.max_body_bytes.unwrap_or(DEFAULT_MAX_BODY_BYTES);
        if !(1024..=64 * 1024 * 1024).contains(&max_body_bytes) {
            return Err(format!(
                "max_body_bytes {max_body_bytes} out of range (1 KiB to 64 MiB)"
            ));
        }
        let database_url = args.database_url.or(file.database_url);
        if let Some(url) = &database_url {
            if !(url.0.starts_with("postgres://") || url.0.starts_with("postgresql://")) {
                return Err(format!(
                    "invalid database URL {url}: expected postgres://..."
                ));
            }
        }
        let (quotas, rates) = quotas(args.no_quotas, args.no_rate_quotas, file.quotas.take())?;
        let cache_ttl_ms = args
            .cache_ttl_ms
            .or(file.cache_ttl_ms)
            .unwrap_or(u64::try_from(trent_core::DEFAULT_CACHE_TTL.as_millis()).unwrap_or(5000));
        if cache_ttl_ms > 3_600_000 {
            return Err(format!(
                "cache_ttl_ms {cache_ttl_ms} out of range (0 to 3600000)"
            ));
        }
        let cache_capacity = args
            .cache_capacity
            .or(file.cache_capacity)
            .unwrap_or(trent_core::DEFAULT_CACHE_CAPACITY);
        if !(1..=100_000_000).contains(&cache_capacity) {
            return Err(format!(
                "cache_capacity {cache_capacity} out of range (1 to 100000000)"
            ));
        }
        let header_read_timeout_ms = args
            .header_read_timeout_ms
            .or(file.header_read_timeout_ms)
            .unwrap_or(DEFAULT_HEADER_READ_TIMEOUT_MS);
        if !(100..=600_000).contains(&header_read_timeout_ms) {
            return Err(format!(
                "header_read_timeout_ms {header_read_timeout_ms} out of range (100 to 600000)"
            ));
        }
        let body_read_timeout_ms = args
            .body_read_timeout_ms
            .or(file.body_read_timeout_ms)
            .unwrap_or(DEFAULT_BODY_READ_TIMEOUT_MS);
        if !(100..=3_600_000).contains(&body_read_timeout_ms) {
            return Err(format!(
                "body_read_timeout_ms {body_read_timeout_ms} out of range (100 to 3600000)"
            ));
        }
        let max_connections = args
            .max_connections
            .or(file.max_connections)
            .unwrap_or(DEFAULT_MAX_CONNECTIONS);
        if !(1..=1_000_000).contains(&max_connections) {
            return Err(format!(
                "max_connections {max_connections} out of range (1 to 1000000)"
            ));
        }
        let dev_any_credentials =
            args.dev_any_credentials || file.dev_any_credentials.unwrap_or(false);
        let dev_allow_non_loopback =
            args.dev_allow_non_loopback || file.dev_allow_non_loopback.unwrap_or(false);
        // Decided before anything is bound or written.
        check_dev_listen(&listen, dev_any_credentials, dev_allow_non_loopback)?;
        let tls = tls_files(
            args.tls_cert.or(file.tls_cert),
            args.tls_key.or(file.tls_key),
            args.tls_client_ca.or(file.tls_client_ca),
        )?;
        let trusted_network = args.trusted_network || file.trusted_network.unwrap_or(false);
        check_plain_listen(
            &listen,
            tls.is_some(),
            trusted_network || (dev_any_credentials && dev_allow_non_loopback),
        )?;
        let proxies = if args.trusted_proxies.is_empty() {
            file.trusted_proxies.unwrap_or_default()
        } else {
            args.trusted_proxies
        };
        let proxies = crate::network::Proxies::parse(&proxies)?;
        let admin_text = args
            .admin_listen
            .or(file.admin_listen)
            .unwrap_or_else(|| DEFAULT_ADMIN_LISTEN.to_owned());
        let admin_listen = match admin_text.as_str() {
            "off" => None,
            text => Some(text.parse::<SocketAddr>().map_err(|_| {
                format!("invalid admin_listen address {text:?}: expected IP:PORT, e.g. 127.0.0.1:4598, or off")
            })?),
        };
        let shutdown_drain_ms = args
            .shutdown_drain_ms
            .or(file.shutdown_drain_ms)
            .unwrap_or(DEFAULT_SHUTDOWN_DRAIN_MS);
        if shutdown_drain_ms > 600_000 {
            return Err(format!(
                "shutdown_drain_ms {shutdown_drain_ms} out of range (0 to 600000)"
            ));
        }
        let shutdown_grace_ms = args
            .shutdown_grace_ms
            .or(file.shutdown_grace_ms)
            .unwrap_or(DEFAULT_SHUTDOWN_GRACE_MS);
        if shutdown_grace_ms > 3_600_000 {
            return Err(format!(
                "shutdown_grace_ms {shutdown_grace_ms} out of range (0 to 3600000)"
            ));
        }
        if let Some(admin) = &admin_listen {
            if !admin.ip().is_loopback() && !trusted_network {
                return Err(format!(
                    "refusing the admin listener (plain HTTP, unauthenticated) on the non-loopback address {admin}: listen on loopback, or add --trusted-network (TRENT_TRUSTED_NETWORK=true) if only trusted hosts reach it"
                ));
            }
        }
        let otlp = crate::traces::OtlpSettings::resolve(
            args.otlp_endpoint.or(file.otlp_endpoint),
            args.otlp_ca.or(file.otlp_ca),
            |name| std::env::var(name).ok(),
        )?;
        let audit = crate::audit::AuditSettings::resolve(args.audit, file.audit)?;
        let root_key = RootKeySettings::resolve(file.root_key).map_err(|e| match &args.config {
            Some(p) => format!("invalid config file {}: {e}", p.display()),
            None => e,
        })?;
        let pkcs11_clusters = resolve_clusters(file.pkcs11_clusters)?;
        // Refused at start, not at the first external key store's call.
        crate::xks_client::HttpXksClient::new(file.xks_client.clone())?;
        let xks_client = file.xks_client;
        let xks = file
            .xks
            .map(crate::xks_config::XksSettings::resolve)
            .transpose()
            .map_err(|e| match &args.config {
                Some(p) => format!("invalid config file {}: {e}", p.display()),
                None => e,
            })?;
        Ok(Config {
            xks,
            root_key,
            pkcs11_clusters,
            xks_client,
            config_path: args.config,
            identities,
            database_url,
            cache_ttl: std::time::Duration::from_millis(cache_ttl_ms),
            cache_capacity,
            quotas,
            rates,
            seed: args.seed.or(file.seed),
            audit,
            listen,
            data_dir: args
                .data_dir
                .or(file.data_dir)
                .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR)),
            account_id,
            dev_any_credentials,
            dev_allow_non_loopback,
            dev_test_clock: args.dev_test_clock || file.dev_test_clock.unwrap_or(false),
            dev_reset: args.dev_reset || file.dev_reset.unwrap_or(false),
            max_body_bytes,
            header_read_timeout: std::time::Duration::from_millis(header_read_timeout_ms),
            body_read_timeout: std::time::Duration::from_millis(body_read_timeout_ms),
            max_connections,
            tls,
            trusted_network,
            proxies,
            admin_listen,
            min_free_disk_bytes: args
                .min_free_disk_bytes
                .or(file.min_free_disk_bytes)
                .unwrap_or(DEFAULT_MIN_FREE_DISK_BYTES),
            shutdown_drain: std::time::Duration::from_millis(shutdown_drain_ms),
            shutdown_grace: std::time::Duration::from_millis(shutdown_grace_ms),
            otlp,
        })
    }
}

/// The KMS listener's TLS files: certificate and key together, a client CA only with them.
fn tls_files(
    cert: Option<PathBuf>,
    key: Option<PathBuf>,
    client_ca: Option<PathBuf>,
) -> Result<Option<crate::tls::TlsFiles>, String> {
    match (cert, key) {
        (Some(cert), Some(key)) => Ok(Some(crate::tls::TlsFiles {
            cert,
            key,
            client_ca,
            client_subject: None,
        })),
        (None, None) if client_ca.is_some() => {
            Err("tls_client_ca needs tls_cert and tls_key".into())
        }
        (None, None) => Ok(None),
        _ => Err("tls_cert and tls_key go together".into()),
    }
}

/// Plain HTTP on an address other than loopback would carry plaintexts, data keys and
/// signatures in the clear: refused unless the operator says that TLS ends in front of
/// Trent (`trusted_network`; a development container's `--dev-any-credentials
/// --dev-allow-non-loopback` is as explicit).
pub fn check_plain_listen(listen: &SocketAddr, tls: bool, trusted: bool) -> Result<(), String> {
    if !tls && !trusted && !listen.ip().is_loopback() {
        return Err(format!(
            "refusing to serve plain HTTP on the non-loopback address {listen}: give --tls-cert and --tls-key (tls_cert, tls_key), or --trusted-network (TRENT_TRUSTED_NETWORK=true, trusted_network = true) if TLS ends in front of Trent"
        ));
    }
    Ok(())
}

/// `--dev-any-credentials` makes anyone who can reach the port an account root: it listens
/// on a loopback address only, unless `--dev-allow-non-loopback` says otherwise (a
/// container, whose published port the host alone reaches, listens on 0.0.0.0).
pub fn check_dev_listen(
    listen: &SocketAddr,
    dev_any_credentials: bool,
    dev_allow_non_loopback: bool,
) -> Result<(), String> {
    if dev_any_credentials && !listen.ip().is_loopback() && !dev_allow_non_loopback {
        return Err(format!(
            "refusing --dev-any-credentials on the non-loopback address {listen}: anyone who reaches it would be an account root; listen on 127.0.0.1, or add --dev-allow-non-loopback (TRENT_DEV_ALLOW_NON_LOOPBACK=true) if that is really meant, e.g. in a container"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(database_url: Option<&str>) -> ServeArgs {
        ServeArgs {
            listen: None,
            data_dir: None,
            account_id: None,
            config: None,
            dev_any_credentials: false,
            dev_allow_non_loopback: false,
            dev_test_clock: false,
            dev_reset: false,
            database_url: database_url.map(|u| DatabaseUrl(u.to_owned())),
            cache_ttl_ms: None,
            cache_capacity: None,
            no_quotas: false,
            no_rate_quotas: false,
            seed: None,
            header_read_timeout_ms: None,
            body_read_timeout_ms: None,
            max_connections: None,
            admin_listen: None,
            min_free_disk_bytes: None,
            shutdown_drain_ms: None,
            shutdown_grace_ms: None,
            tls_cert: None,
            tls_key: None,
            tls_client_ca: None,
            trusted_network: false,
            trusted_proxies: Vec::new(),
            otlp_endpoint: None,
            otlp_ca: None,
            audit: Default::default(),
        }
    }

    #[test]
    fn plain_http_listens_on_loopback_unless_tls_ends_in_front() {
        let addr = |s: &str| s.parse::<SocketAddr>().unwrap();
        for loopback in ["127.0.0.1:4599", "127.0.0.2:0", "[::1]:4599"] {
            assert!(check_plain_listen(&addr(loopback), false, false).is_ok());
        }
        for open in ["0.0.0.0:4599", "[::]:4599", "192.0.2.10:4599"] {
            let err = check_plain_listen(&addr(open), false, false).unwrap_err();
            assert!(
                err.contains(open) && err.contains("--trusted-network"),
                "{err}"
            );
            assert!(err.contains("--tls-cert"), "{err}");
            assert!(check_plain_listen(&addr(open), true, false).is_ok());
            assert!(check_plain_listen(&addr(open), false, true).is_ok());
        }
        let mut a = args(None);
        a.listen = Some("0.0.0.0:0".into());
        assert!(Config::resolve(a).unwrap_err().contains("plain HTTP"));
        let mut a = args(None);
        a.listen = Some("0.0.0.0:0".into());
        a.trusted_network = true;
        a.trusted_proxies = vec!["10.0.0.0/8".into(), "192.0.2.1".into()];
        let config = Config::resolve(a).unwrap();
        assert!(config.trusted_network && config.tls.is_none());
        assert!(!config.proxies.is_empty());
        // TLS files are read at start (serve.rs), not here: naming them is enough.
        let mut a = args(None);
        a.listen = Some("0.0.0.0:0".into());
        a.tls_cert = Some("c.pem".into());
        a.tls_key = Some("k.pem".into());
        let config = Config::resolve(a).unwrap();
        assert_eq!(config.tls.unwrap().cert, PathBuf::from("c.pem"));
    }

    #[test]
    fn the_admin_listener_is_on_loopback_by_default_and_can_be_off() {
        let config = Config::resolve(args(None)).unwrap();
        assert_eq!(config.admin_listen, Some("127.0.0.1:4598".parse().unwrap()));
        let mut a = args(None);
        a.admin_listen = Some("off".into());
        assert_eq!(Config::resolve(a).unwrap().admin_listen, None);
        let mut a = args(None);
        a.admin_listen = Some("0.0.0.0:9090".into());
        let err = Config::resolve(a).unwrap_err();
        assert!(
            err.contains("0.0.0.0:9090") && err.contains("--trusted-network"),
            "{err}"
        );
        let mut a = args(None);
        a.admin_listen = Some("0.0.0.0:9090".into());
        a.trusted_network = true;
        assert!(Config::resolve(a).is_ok());
        let mut a = args(None);
        a.admin_listen = Some("localhost".into());
        assert!(Config::resolve(a).unwrap_err().contains("admin_listen"));
    }

    #[test]
    fn tls_settings_go_together() {
        assert_eq!(tls_files(None, None, None), Ok(None));
        let err = tls_files(Some("c".into()), None, None).unwrap_err();
        assert!(err.contains("tls_cert and tls_key go together"), "{err}");
        let err = tls_files(None, Some("k".into()), None).unwrap_err();
        assert!(err.contains("go together"), "{err}");
        let err = tls_files(None, None, Some("ca".into())).unwrap_err();
        assert!(err.contains("tls_client_ca needs"), "{err}");
        let files = tls_files(Some("c".into()), Some("k".into()), Some("ca".into()))
            .unwrap()
            .unwrap();
        assert_eq!(files.client_ca, Some(PathBuf::from("ca")));
        let mut a = args(None);
        a.trusted_proxies = vec!["10.0.0.0/40".into()];
        assert!(Config::resolve(a).unwrap_err().contains("10.0.0.0/40"));
    }

    #[test]
    fn dev_credentials_listen_on_loopback_unless_explicitly_allowed() {
        let addr = |s: &str| s.parse::<SocketAddr>().unwrap();
        for loopback in ["127.0.0.1:4599", "127.0.0.2:0", "[::1]:4599"] {
            assert!(
                check_dev_listen(&addr(loopback), true, false).is_ok(),
                "{loopback}"
            );
        }
        for open in ["0.0.0.0:4599", "[::]:4599", "192.0.2.10:4599"] {
            let err = check_dev_listen(&addr(open), true, false).unwrap_err();
            assert!(err.contains("--dev-allow-non-loopback"), "{err}");
            // The second switch allows it; without development credentials nothing to check.
            assert!(check_dev_listen(&addr(open), true, true).is_ok(), "{open}");
            assert!(
                check_dev_listen(&addr(open), false, false).is_ok(),
                "{open}"
            );
        }
        let mut a = args(None);
        a.listen = Some("0.0.0.0:0".into());
        a.dev_any_credentials = true;
        assert!(Config::resolve(a).is_err());
        let mut a = args(None);
        a.listen = Some("0.0.0.0:0".into());
        a.dev_any_credentials = true;
        a.dev_allow_non_loopback = true;
        let config = Config::resolve(a).unwrap();
        assert!(config.dev_any_credentials && config.dev_allow_non_loopback);
    }

    #[test]
    fn connection_limits_have_defaults_and_bounds() {
        let config = Config::resolve(args(None)).unwrap();
        assert_eq!(config.header_read_timeout.as_millis(), 10_000);
        assert_eq!(config.body_read_timeout.as_millis(), 30_000);
        assert_eq!(config.max_connections, DEFAULT_MAX_CONNECTIONS);
        let mut a = args(None);
        a.max_connections = Some(0);
        assert!(Config::resolve(a).unwrap_err().contains("max_connections"));
        let mut a = args(None);
        a.header_read_timeout_ms = Some(1);
        assert!(Config::resolve(a)
            .unwrap_err()
            .contains("header_read_timeout_ms"));
    }

    #[test]
    fn database_urls_never_print_their_password() {
        let url = DatabaseUrl("postgres://trent:s3cr3t@db:5432/trent?sslmode=require".into());
        assert_eq!(url.to_string(), "postgres://trent@db:5432/trent");
        assert_eq!(format!("{url:?}"), "postgres://trent@db:5432/trent");
        let url = DatabaseUrl("postgres://db/trent?password=s3cr3t".into());
        assert!(!format!("{url:?}").contains("s3cr3t"));
        let config = Config::resolve(args(Some("postgres://u:s3cr3t@h/db"))).unwrap();
        assert!(!format!("{config:?}").contains("s3cr3t"));
        assert_eq!(
            config.database_url.unwrap().expose(),
            "postgres://u:s3cr3t@h/db"
        );
    }

    #[test]
    fn toml_errors_never_quote_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("trent.toml");
        std::fs::write(
            &path,
            "[[users]]\narn = \"arn:aws:iam::111122223333:user/a\"\naccess_keys = [{ id = \"AKIAAAAAAAAAAAAAAAAA\", secret = \"s3cr3t-value\" ]\n",
        )
        .unwrap();
        let err = read_identities(&path).unwrap_err();
        assert!(err.contains("line 3"), "{err}");
        assert!(!err.contains("s3cr3t-value"), "{err}");
    }

    #[test]
    fn the_otlp_endpoint_from_the_file_and_the_flag() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("trent.toml");
        std::fs::write(
            &path,
            "otlp_endpoint = \"https://collector:4318\"\notlp_ca = \"/etc/trent/otlp-ca.pem\"\n",
        )
        .unwrap();
        let mut a = args(None);
        a.config = Some(path.clone());
        let otlp = Config::resolve(a).unwrap().otlp.unwrap();
        assert_eq!(otlp.traces_url, "https://collector:4318/v1/traces");
        assert_eq!(otlp.ca_file, Some("/etc/trent/otlp-ca.pem".into()));
        let mut a = args(None);
        a.config = Some(path);
        a.otlp_endpoint = Some("http://127.0.0.1:4318".into());
        let otlp = Config::resolve(a).unwrap().otlp.unwrap();
        assert_eq!(otlp.traces_url, "http://127.0.0.1:4318/v1/traces");
    }

    #[test]
    fn the_root_key_table() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("trent.toml");
        let resolve = |text: &str| {
            std::fs::write(&path, text).unwrap();
            let mut a = args(None);
            a.config = Some(path.clone());
            Config::resolve(a).map(|c| c.root_key)
        };
        assert_eq!(resolve("").unwrap(), RootKeySettings::File);
        assert_eq!(
            Config::resolve(args(None)).unwrap().root_key,
            RootKeySettings::File
        );
        assert_eq!(
            resolve("[root_key]\nprovider = \"file\"\n").unwrap(),
            RootKeySettings::File
        );
        assert_eq!(
            resolve(
                "[root_key]\nprovider = \"pkcs11\"\nmodule = \"/usr/lib/softhsm/libsofthsm2.so\"\ntoken_label = \"trent-root\"\nkey_label = \"trent-root-key\"\npin_file = \"/etc/trent/pin\"\n"
            )
            .unwrap(),
            RootKeySettings::Pkcs11 {
                module: "/usr/lib/softhsm/libsofthsm2.so".into(),
                token_label: "trent-root".into(),
                key_label: "trent-root-key".into(),
                pin_file: Some("/etc/trent/pin".into()),
            }
        );
        assert_eq!(
            resolve("[root_key]\nprovider = \"passphrase\"\npassphrase_file = \"/p\"\n").unwrap(),
            RootKeySettings::Passphrase {
                passphrase_file: Some("/p".into())
            }
        );
        for (text, expected) in [
            ("[root_key]\nprovider = \"hsm\"\n", "invalid [root_key] provider \"hsm\""),
            ("[root_key]\nprovider = \"pkcs11\"\npin = \"1234\"\n", "unknown field `pin`"),
            (
                "[root_key]\nprovider = \"pkcs11\"\ntoken_label = \"t\"\nkey_label = \"k\"\n",
                "needs module",
            ),
            (
                "[root_key]\nprovider = \"pkcs11\"\nmodule = \"/m.so\"\nkey_label = \"k\"\n",
                "needs token_label",
            ),
            (
                "[root_key]\nprovider = \"pkcs11\"\nmodule = \"/m.so\"\ntoken_label = \"t\"\n",
                "needs key_label",
            ),
            ("[root_key]\nmodule = \"/m.so\"\n", "applies to provider \"pkcs11\" only"),
            (
                "[root_key]\nprovider = \"passphrase\"\npin_file = \"/p\"\n",
                "pin_file applies to provider \"pkcs11\" only",
            ),
            (
                "[root_key]\nprovider = \"pkcs11\"\nmodule = \"/m.so\"\ntoken_label = \"t\"\nkey_label = \"k\"\npassphrase_file = \"/p\"\n",
                "passphrase_file applies to provider \"passphrase\" only",
            ),
        ] {
            let err = resolve(text).unwrap_err();
            assert!(err.contains(expected), "{text}: {err}");
            assert!(!err.contains("1234"), "{err}");
        }
    }

    #[test]
    fn cache_capacity_is_bounded() {
        let with = |n| {
            Config::resolve(ServeArgs {
                cache_capacity: Some(n),
                ..args(None)
            })
        };
        assert_eq!(with(5).unwrap().cache_capacity, 5);
        for n in [0, 100_000_001] {
            let err = with(n).unwrap_err();
            assert!(err.contains("cache_capacity"), "{err}");
        }
    }

    #[test]
    fn sqlite_is_the_default_and_other_schemes_are_refused() {
        let config = Config::resolve(args(None)).unwrap();
        assert!(config.database_url.is_none());
        assert_eq!(config.cache_ttl, trent_core::DEFAULT_CACHE_TTL);
        assert_eq!(config.cache_capacity, trent_core::DEFAULT_CACHE_CAPACITY);
        let err = Config::resolve(args(Some("mysql://u:s3cr3t@h/db"))).unwrap_err();
        assert!(err.contains("expected postgres://"), "{err}");
        assert!(!err.contains("s3cr3t"), "{err}");
    }

    #[test]
    fn the_target_of_a_root_key_migration() {
        let dir = tempfile::tempdir().unwrap();
        let target = |to: &str, text: Option<&str>| {
            let to_config = text.map(|t| {
                let path = dir.path().join("to.toml");
                std::fs::write(&path, t).unwrap();
                path
            });
            RootKeyMigrateArgs {
                to: to.into(),
                to_config,
                config: None,
                data_dir: None,
                database_url: None,
                batch_size: 100,
            }
            .target_settings()
        };
        assert_eq!(target("file", None).unwrap(), RootKeySettings::File);
        assert_eq!(
            target("passphrase", None).unwrap(),
            RootKeySettings::Passphrase {
                passphrase_file: None
            }
        );
        // A whole config file: only its [root_key] is read; the provider may be omitted.
        assert_eq!(
            target(
                "pkcs11",
                Some("listen = \"127.0.0.1:1\"\n[root_key]\nmodule = \"/m.so\"\ntoken_label = \"t\"\nkey_label = \"k\"\n")
            )
            .unwrap(),
            RootKeySettings::Pkcs11 {
                module: "/m.so".into(),
                token_label: "t".into(),
                key_label: "k".into(),
                pin_file: None
            }
        );
        for (to, text, expected) in [
            ("pkcs11", None, "give its settings with --to-config"),
            (
                "file",
                Some("[root_key]\nprovider = \"pkcs11\"\n"),
                "names provider \"pkcs11\"",
            ),
            ("file", Some("listen = \"x\"\n"), "has no [root_key] table"),
            (
                "file",
                Some("[root_key]\npin = \"1\"\n"),
                "unknown field `pin`",
            ),
        ] {
            let err = target(to, text).unwrap_err();
            assert!(err.contains(expected), "{expected:?} not in {err}");
        }
    }
}
