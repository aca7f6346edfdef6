//! The audit trail in the server: opening the log (and Trent's audit signing key, sealed
//! under the root key), building each request's CloudTrail event at the one exit of the
//! pipeline, the audit settings, and the `trent audit ...` subcommands.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, Subcommand};
use serde::Deserialize;
use serde_json::Value;
use trent_audit::{
    redact, Actor, ApiCall, AuditLog, AuditStore, DigestPolicy, FileStore, PgAuditStore, Record,
    Resource, Signer,
};
use trent_core::{Caller, PrincipalKind};
use trent_crypto::RootKeyProvider;
use trent_wire::Operation;

pub const AUDIT_DIR: &str = "audit";
pub const SIGNING_KEY_FILE: &str = "audit-signing-key.sealed";
pub const PUBLIC_KEY_FILE: &str = "audit-signing-key.pub.pem";
pub(crate) const SIGNING_KEY_AAD: &[u8] = b"trent:audit-signing-key:v1";
/// The eventSource of STS calls.
pub const STS_EVENT_SOURCE: &str = "sts.amazonaws.com";

pub const DEFAULT_DIGEST_EVERY_EVENTS: u64 = 10_000;
pub const DEFAULT_DIGEST_EVERY_SECONDS: u64 = 300;
pub const DEFAULT_SEGMENT_BYTES: u64 = 64 * 1024 * 1024;
/// The chain id of a node keeping its trail in files (one chain per data directory).
pub const DEFAULT_CHAIN_ID: &str = "node-1";
/// CloudTrail keeps at most this much of a User-Agent.
const MAX_USER_AGENT: usize = 1024;

/// `trent serve` flags and environment of the audit trail.
#[derive(Debug, Args, Default)]
pub struct AuditServeArgs {
    /// Sign a digest of the audit chain after this many entries [default: 10000]
    #[arg(long, env = "TRENT_AUDIT_DIGEST_EVERY_EVENTS")]
    pub audit_digest_every_events: Option<u64>,
    /// Sign a digest of the audit chain at least this often, in seconds [default: 300]
    #[arg(long, env = "TRENT_AUDIT_DIGEST_EVERY_SECONDS")]
    pub audit_digest_every_seconds: Option<u64>,
    /// Start a new audit segment file past this size, in bytes [default: 64 MiB]
    #[arg(long, env = "TRENT_AUDIT_SEGMENT_BYTES")]
    pub audit_segment_bytes: Option<u64>,
    /// The id of this node's audit chain, distinct per node sharing one database (a
    /// second live node with the same id is refused) [default: on PostgreSQL `node-`
    /// and 16 hex digits of this node's audit signing public key; in files `node-1`]
    #[arg(long, env = "TRENT_AUDIT_CHAIN_ID")]
    pub audit_chain_id: Option<String>,
    /// Where the audit trail is kept: `database` (the PostgreSQL database of
    /// --database-url, every node's chain side by side) or `files` (segment files in the
    /// data directory) [default: database with --database-url, else files]
    #[arg(long, env = "TRENT_AUDIT_STORE", value_parser = ["database", "files"])]
    pub audit_store: Option<String>,
}

/// The `[audit]` table of the config file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditFileConfig {
    digest_every_events: Option<u64>,
    digest_every_seconds: Option<u64>,
    segment_bytes: Option<u64>,
    chain_id: Option<String>,
    store: Option<String>,
}

/// Where the audit trail is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditBackend {
    Files,
    Database,
}

#[derive(Debug, Clone)]
pub struct AuditSettings {
    pub digest_every_events: u64,
    pub digest_every: Duration,
    pub segment_bytes: u64,
    /// `None`: the default of the backend (see [`AuditServeArgs::audit_chain_id`]).
    pub chain_id: Option<String>,
    /// `None`: the database if the store is one, else files.
    pub backend: Option<AuditBackend>,
}

impl AuditSettings {
    pub fn resolve(
        args: AuditServeArgs,
        file: Option<AuditFileConfig>,
    ) -> Result<AuditSettings, String> {
        let file = file.unwrap_or_default();
        let events = args
            .audit_digest_every_events
            .or(file.digest_every_events)
            .unwrap_or(DEFAULT_DIGEST_EVERY_EVENTS);
        if !(1..=100_000_000).contains(&events) {
            return Err(format!(
                "audit digest_every_events {events} out of range (1 to 100000000)"
            ));
        }
        let seconds = args
            .audit_digest_every_seconds
            .or(file.digest_every_seconds)
            .unwrap_or(DEFAULT_DIGEST_EVERY_SECONDS);
        if !(1..=86_400).contains(&seconds) {
            return Err(format!(
                "audit digest_every_seconds {seconds} out of range (1 to 86400)"
            ));
        }
        let segment_bytes = args
            .audit_segment_bytes
            .or(file.segment_bytes)
            .unwrap_or(DEFAULT_SEGMENT_BYTES);
        if !(4096..=(1 << 40)).contains(&segment_bytes) {
            return Err(format!(
                "audit segment_bytes {segment_bytes} out of range (4 KiB to 1 TiB)"
            ));
        }
        let chain_id = args.audit_chain_id.or(file.chain_id);
        if let Some(chain_id) = &chain_id {
            if chain_id.is_empty()
                || chain_id.len() > 64
                || !chain_id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            {
                return Err(format!(
                    "invalid audit chain id {chain_id:?}: 1 to 64 characters of A-Z, a-z, 0-9, - and _"
                ));
            }
        }
        let backend = match args.audit_store.or(file.store).as_deref() {
            None => None,
            Some("database") => Some(AuditBackend::Database),
            Some("files") => Some(AuditBackend::Files),
            Some(other) => {
                return Err(format!(
                    "invalid audit store {other:?}: \"database\" or \"files\""
                ))
            }
        };
        Ok(AuditSettings {
            digest_every_events: events,
            digest_every: Duration::from_secs(seconds),
            segment_bytes,
            chain_id,
            backend,
        })
    }
}

/// The open audit trail of a running server.
pub struct Trail {
    pub log: AuditLog,
    /// What requests write through: aggregates unauthenticated failures.
    pub throttle: Arc<crate::audit_throttle::Throttle>,
    pub store: Arc<dyn AuditStore>,
    /// Receives the events of requests whose caller is unknown.
    pub default_account_id: String,
}

/// The default chain id of a node on a database: derived from its audit signing public
/// key, so that nodes with their own data directories never share a chain by default,
/// and a node keeps its chain across restarts.
pub fn derived_chain_id(public_key: &[u8; 32]) -> String {
    format!(
        "node-{}",
        &hex::encode(trent_audit::sha256(public_key))[..16]
    )
}

impl Trail {
    /// Opens the log with the signing key of `data_dir` (created, sealed under the root
    /// key, at first start), publishes its public key, and continues this node's chain:
    /// in the database of `database_url` (unless the settings ask for files), else in
    /// `data_dir/audit`.
    pub async fn open(
        data_dir: &Path,
        root: &dyn RootKeyProvider,
        settings: &AuditSettings,
        default_account_id: &str,
        database_url: Option<&str>,
    ) -> Result<Trail, String> {
        let signer = signing_key(data_dir, root)?;
        let pem = signer.public_key_pem();
        let pub_path = data_dir.join(PUBLIC_KEY_FILE);
        if std::fs::read_to_string(&pub_path).ok().as_deref() != Some(pem.as_str()) {
            write_file(&pub_path, pem.as_bytes(), 0o644)
                .map_err(|e| format!("cannot write {}: {e}", pub_path.display()))?;
        }
        let backend = settings.backend.unwrap_or(if database_url.is_some() {
            AuditBackend::Database
        } else {
            AuditBackend::Files
        });
        let (store, chain_id, place): (Arc<dyn AuditStore>, String, String) = match backend {
            AuditBackend::Files => {
                let dir = data_dir.join(AUDIT_DIR);
                let store = FileStore::open(&dir, settings.segment_bytes)
                    .map_err(|e| format!("cannot open the audit log {}: {e}", dir.display()))?;
                let chain = settings
                    .chain_id
                    .clone()
                    .unwrap_or_else(|| DEFAULT_CHAIN_ID.to_owned());
                (Arc::new(store), chain, dir.display().to_string())
            }
            AuditBackend::Database => {
                let url = database_url
                    .ok_or("the audit store \"database\" needs a database (--database-url)")?;
                let chain = settings
                    .chain_id
                    .clone()
                    .unwrap_or_else(|| derived_chain_id(&signer.public_key()));
                let place = format!("in the database (chain {chain})");
                let options = PgAuditStore::options(url).map_err(|e| e.to_string())?;
                let store = PgAuditStore::open(options, &chain, &pem)
                    .await
                    .map_err(|e| format!("cannot open the audit log {place}: {e}"))?;
                (Arc::new(store), chain, place)
            }
        };
        let dir = place;
        let (log, _writer) = AuditLog::open(
            store.clone(),
            &chain_id,
            signer,
            DigestPolicy {
                every_events: settings.digest_every_events,
                every: settings.digest_every,
            },
            Box::new(now_millis),
        )
        .await
        .map_err(|e| format!("cannot open the audit log {dir}: {e}"))?;
        tracing::info!(chain = %chain_id, "audit trail {dir}");
        let throttle = crate::audit_throttle::Throttle::new(log.clone());
        throttle.start_flusher();
        Ok(Trail {
            log,
            throttle,
            store,
            default_account_id: default_account_id.to_owned(),
        })
    }
}

fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Trent's audit signing key: unsealed from the data directory, or created and sealed.
pub(crate) fn signing_key(data_dir: &Path, root: &dyn RootKeyProvider) -> Result<Signer, String> {
    let path = data_dir.join(SIGNING_KEY_FILE);
    match std::fs::read(&path) {
        Ok(sealed) => {
            let pkcs8 = root.unseal(SIGNING_KEY_AAD, &sealed).map_err(|_| {
                format!(
                    "cannot unseal the audit signing key {} with this root key",
                    path.display()
                )
            })?;
            Signer::from_pkcs8(pkcs8.expose()).map_err(|e| format!("{}: {e}", path.display()))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let (signer, pkcs8) = Signer::generate().map_err(|e| e.to_string())?;
            let sealed = root
                .seal(SIGNING_KEY_AAD, &pkcs8)
                .map_err(|e| format!("cannot seal the audit signing key: {e}"))?;
            write_file(&path, &sealed, 0o600)
                .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
            tracing::info!(path = %path.display(), "created the audit signing key");
            Ok(signer)
        }
        Err(e) => Err(format!("cannot read {}: {e}", path.display())),
    }
}

pub(crate) fn write_file(path: &Path, bytes: &[u8], mode: u32) -> std::io::Result<()> {
    use std::io::Write;
    let tmp = path.with_extension("tmp");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, mode);
    #[cfg(not(unix))]
    let _ = mode;
    let mut file = options.open(&tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

/// What the stage and the request's protocol learned about a request, for its event.
#[derive(Debug, Default)]
pub struct RequestFacts {
    pub request_id: String,
    pub source_ip: Option<String>,
    pub user_agent: Option<String>,
    /// The operation named by `X-Amz-Target` (even an unknown one), if any.
    pub target_name: Option<String>,
    pub operation: Option<Operation>,
    /// The action an STS request named (once known).
    pub sts_action: Option<&'static str>,
    /// What an STS call (or a test clock move) records of its answer (no secret, no
    /// session token).
    pub response_elements: Option<Value>,
    pub caller: Option<Caller>,
    /// Who authenticated when it is not an IAM caller (a key store credential of the
    /// XKS proxy API); `caller` is then `None`.
    pub actor: Option<Actor>,
    /// The ARNs of the KMS keys the request used (returned with its operation's outcome,
    /// success or failure): the event's `resources`.
    pub keys_used: Vec<String>,
    /// Why authorization denied the request (the policies and grants evaluated, and what
    /// decided): its event's `additionalEventData.authorization`, for an
    /// `AccessDeniedException` only.
    pub denial: Option<Value>,
    /// The access key id and region the `Authorization` header claims (even if it does
    /// not verify).
    pub claimed_access_key_id: Option<String>,
    pub claimed_region: Option<String>,
    pub request_parameters: Option<Value>,
}

impl RequestFacts {
    /// Reads what the headers say (source address from the connection).
    pub fn from_parts(
        request_id: String,
        parts: &http::request::Parts,
        source_ip: Option<String>,
    ) -> RequestFacts {
        let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok());
        let user_agent = header("user-agent").map(|ua| {
            let mut end = ua.len().min(MAX_USER_AGENT);
            while !ua.is_char_boundary(end) {
                end -= 1;
            }
            ua[..end].to_owned()
        });
        let target_name = header("x-amz-target")
            .and_then(|t| t.rsplit('.').next())
            .filter(|n| {
                (1..=128).contains(&n.len()) && n.bytes().all(|b| b.is_ascii_alphanumeric())
            })
            .map(str::to_owned);
        // Credential=AKID/DATE/REGION/SERVICE/aws4_request
        let credential = header("authorization")
            .and_then(|a| a.split("Credential=").nth(1))
            .map(|c| c.split([',', ' ']).next().unwrap_or(""));
        let mut scope = credential.unwrap_or("").split('/');
        let well_formed = |s: &&str| {
            (1..=128).contains(&s.len())
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        };
        let claimed_access_key_id = scope.next().filter(well_formed).map(str::to_owned);
        let claimed_region = scope.nth(1).filter(well_formed).map(str::to_owned);
        RequestFacts {
            request_id,
            source_ip,
            user_agent,
            target_name,
            claimed_access_key_id,
            claimed_region,
            ..RequestFacts::default()
        }
    }

    /// Takes what may be logged of a request body.
    pub fn note_request(&mut self, operation_name: &str, body: &[u8]) {
        self.request_parameters = redact::request_parameters_from_json(operation_name, body);
    }
}

fn actor(caller: &Caller) -> Actor {
    let account_id = caller.principal.account_id.clone();
    let access_key_id = caller.access_key_id.clone();
    let arn = caller.principal.arn.clone();
    match caller.principal.kind {
        PrincipalKind::Root => Actor::Root {
            account_id: account_id.to_string(),
            access_key_id,
        },
        PrincipalKind::User => Actor::User {
            arn,
            account_id: account_id.to_string(),
            access_key_id,
        },
        PrincipalKind::Role => Actor::Role {
            arn,
            account_id: account_id.to_string(),
            access_key_id,
        },
        PrincipalKind::AssumedRole => {
            let session = caller.attributes.session.as_ref();
            Actor::AssumedRole {
                arn,
                account_id: account_id.to_string(),
                access_key_id,
                role_arn: session.map(|s| s.role_arn.clone()),
                creation_date: session.map(|s| trent_audit::event_time(s.issued_at)),
            }
        }
    }
}

/// The outcome of a request, as answered.
pub struct Outcome<'a> {
    /// The success body (JSON), if the request succeeded.
    pub response: Option<&'a [u8]>,
    pub error_code: Option<&'a str>,
    pub error_message: Option<&'a str>,
}

/// What a request is recorded as: the service it was for, its name, whether CloudTrail
/// counts it read-only. Its protocol says ([`crate::stage::Protocol::event`]).
pub struct Event {
    pub source: &'static str,
    pub name: String,
    pub read_only: bool,
}

/// Builds the CloudTrail record of a finished request.
pub fn record(trail: &Trail, facts: &RequestFacts, event: Event, outcome: &Outcome<'_>) -> Record {
    let Event {
        source: event_source,
        name: event_name,
        read_only,
    } = event;
    let (actor, account, region) = match (&facts.caller, &facts.actor) {
        (Some(c), _) => (actor(c), c.account_id().to_string(), c.region.to_string()),
        (None, Some(a)) => (
            a.clone(),
            trail.default_account_id.clone(),
            facts
                .claimed_region
                .clone()
                .unwrap_or_else(|| "us-east-1".to_owned()),
        ),
        (None, None) => (
            Actor::Unauthenticated {
                access_key_id: facts.claimed_access_key_id.clone(),
            },
            trail.default_account_id.clone(),
            facts
                .claimed_region
                .clone()
                .unwrap_or_else(|| "us-east-1".to_owned()),
        ),
    };

    let mut resources: Vec<Resource> = facts
        .keys_used
        .iter()
        .filter_map(|a| Resource::kms(a))
        .collect();
    let response: Option<Value> = match (outcome.response, facts.operation) {
        // (Only a KMS request has an operation.)
        (Some(body), Some(op)) if !op.is_read_only() => serde_json::from_slice(body).ok(),
        _ => None,
    };
    let mut response_elements = match (&response, facts.operation) {
        (Some(r), Some(op)) => redact::response_elements(op.name(), op.is_read_only(), r),
        _ => None,
    };
    if let (Some(op), Some(caller)) = (facts.operation, &facts.caller) {
        match op {
            Operation::CreateKey => {
                if let Some(arn) = response
                    .as_ref()
                    .and_then(|r| r["KeyMetadata"]["Arn"].as_str())
                {
                    resources.extend(Resource::kms(arn));
                }
            }
            Operation::CreateAlias | Operation::UpdateAlias | Operation::DeleteAlias => {
                // AWS records the alias as a resource, and (since December 2022) the key
                // ARN in responseElements.keyId although the operation returns nothing.
                let key_arn = resources.first().map(|r| r.arn.clone());
                let alias = facts
                    .request_parameters
                    .as_ref()
                    .and_then(|p| p["aliasName"].as_str())
                    .filter(|a| a.starts_with("alias/"));
                if let Some(alias) = alias {
                    let partition = if caller.region.starts_with("cn-") {
                        "aws-cn"
                    } else if caller.region.starts_with("us-gov-") {
                        "aws-us-gov"
                    } else {
                        "aws"
                    };
                    resources.extend(Resource::kms(&format!(
                        "arn:{partition}:kms:{}:{}:{alias}",
                        caller.region,
                        caller.account_id()
                    )));
                }
                if outcome.response.is_some() && op != Operation::DeleteAlias {
                    if let Some(k) = key_arn {
                        response_elements = Some(serde_json::json!({ "keyId": k }));
                    }
                }
            }
            _ => {}
        }
    }
    // A request of another protocol than KMS (or the test clock's) records what its
    // handler noted of its answer, if anything.
    if facts.operation.is_none() || facts.response_elements.is_some() {
        response_elements = outcome.response.and(facts.response_elements.clone());
    }
    // A service calling on the principal's behalf is recorded as AWS records it: the
    // principal's identity, invoked by the service, which is also the source and agent.
    let via = facts
        .caller
        .as_ref()
        .and_then(|c| c.attributes.via.as_deref());
    let (source_ip, user_agent) = match via {
        Some(v) => (
            Some(v.service_principal.clone()),
            Some(v.service_principal.clone()),
        ),
        None => (facts.source_ip.clone(), facts.user_agent.clone()),
    };
    let mut record = Record::api_call(ApiCall {
        event_source,
        event_name,
        read_only,
        actor,
        recipient_account_id: account,
        region,
        source_ip,
        user_agent,
        request_parameters: facts.request_parameters.clone(),
        response_elements,
        error_code: outcome.error_code.map(str::to_owned),
        error_message: outcome.error_message.map(str::to_owned),
        request_id: facts.request_id.clone(),
        resources,
        tls_details: None,
        unix_millis: now_millis(),
    });
    if let Some(v) = via {
        record.user_identity.invoked_by = Some(v.service_principal.clone());
    }
    if outcome.error_code == Some("AccessDeniedException") {
        if let Some(denial) = &facts.denial {
            record.additional_event_data = Some(serde_json::json!({ "authorization": denial }));
        }
    }
    record
}

/// What an intent record says of its change, besides its resources
/// (`additionalEventData.writeAhead`).
pub fn intent_details(intent: &trent_core::Intent) -> Value {
    let mut details = serde_json::Map::new();
    details.insert("change".into(), intent.change.into());
    details.insert("resources".into(), intent.resources.clone().into());
    if let Some(g) = &intent.grant_id {
        details.insert("grantId".into(), g.clone().into());
    }
    if !intent.key_material_ids.is_empty() {
        details.insert(
            "keyMaterialIds".into(),
            intent.key_material_ids.clone().into(),
        );
    }
    serde_json::json!({ "writeAhead": details })
}

/// The write-ahead hook of one state-changing request: each write it makes is first
/// recorded in the trail as an intent, durably, naming the request (its id, principal,
/// source, parameters: the record its outcome will have, without the outcome) and the
/// resources the write creates or changes. Its outcome follows as today's event.
pub struct RequestIntents {
    log: AuditLog,
    template: Record,
}

impl RequestIntents {
    pub fn new(trail: &Trail, facts: &RequestFacts, event: Event) -> RequestIntents {
        let pending = Outcome {
            response: None,
            error_code: None,
            error_message: None,
        };
        RequestIntents {
            log: trail.log.clone(),
            template: record(trail, facts, event, &pending),
        }
    }
}

impl trent_core::WriteAhead for RequestIntents {
    fn intend<'a>(
        &'a self,
        intent: &'a trent_core::Intent,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), String>> + Send + 'a>> {
        Box::pin(async move {
            let mut r = self.template.clone();
            r.event_id = trent_audit::random_uuid();
            r.event_time = trent_audit::event_time(now_millis());
            r.resources = intent
                .resources
                .iter()
                .filter_map(|a| Resource::kms(a))
                .collect();
            r.additional_event_data = Some(intent_details(intent));
            self.log.record_intent(&r).await.map_err(|e| e.to_string())
        })
    }
}

/// `trent audit ...`
#[derive(Debug, Args)]
pub struct AuditArgs {
    #[command(subcommand)]
    pub command: AuditCommand,
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Check the whole audit chain and every signed digest; report every entry changed,
    /// deleted, inserted or reordered (by sequence number, and file and offset or
    /// database row). With --database-url, every node's chain in the database, each
    /// chain's digests with the public key its node published there. Exits non-zero on
    /// any problem.
    Verify {
        #[arg(long, env = "TRENT_DATA_DIR", default_value = crate::config::DEFAULT_DATA_DIR)]
        data_dir: PathBuf,
        /// The audit signing public key (PEM) to trust [default: DATA_DIR/audit-signing-key.pub.pem].
        /// With --database-url: CHAIN=PEM_FILE, repeatable, pins a chain's key (checked
        /// against the one published in the database)
        #[arg(long)]
        public_key: Vec<String>,
        /// Verify the trail kept in this PostgreSQL database (every node's chain)
        #[arg(long, env = "TRENT_DATABASE_URL")]
        database_url: Option<crate::config::DatabaseUrl>,
    },
    /// Write the trail as CloudTrail log files (AWSLogs/ACCOUNT/CloudTrail/REGION/YYYY/MM/DD/*.json.gz)
    Export {
        #[arg(long, env = "TRENT_DATA_DIR", default_value = crate::config::DEFAULT_DATA_DIR)]
        data_dir: PathBuf,
        /// Output directory
        #[arg(long)]
        out: PathBuf,
        /// Only events at or after this time (RFC 3339, e.g. 2025-05-20T00:00:00Z)
        #[arg(long)]
        start: Option<String>,
        /// Only events at or before this time (RFC 3339)
        #[arg(long)]
        end: Option<String>,
        /// Export the trail kept in this PostgreSQL database (every node's events)
        #[arg(long, env = "TRENT_DATABASE_URL")]
        database_url: Option<crate::config::DatabaseUrl>,
    },
    /// Move the oldest segments (every closed one whose last entry is before --before)
    /// to --out, leaving a signed anchor: `trent audit verify` still proves the remaining
    /// chain continuous, and verifies the archive by itself (`--data-dir OUT`). Stop the
    /// server first (it takes the data directory's lock).
    Archive {
        #[arg(long, env = "TRENT_DATA_DIR", default_value = crate::config::DEFAULT_DATA_DIR)]
        data_dir: PathBuf,
        /// Archive what is older than this (RFC 3339, e.g. 2026-01-01T00:00:00Z)
        #[arg(long)]
        before: String,
        /// A new or empty directory for the archived segments
        #[arg(long)]
        out: PathBuf,
        /// The server's config file, for its `[root_key]` (the audit signing key is
        /// sealed under the root key)
        #[arg(long, env = "TRENT_CONFIG")]
        config: Option<PathBuf>,
        /// Archive this node's chain in the PostgreSQL audit table (the node may run)
        #[arg(long, env = "TRENT_DATABASE_URL")]
        database_url: Option<crate::config::DatabaseUrl>,
    },
    /// Print the audit signing public key (PEM)
    PublicKey {
        #[arg(long, env = "TRENT_DATA_DIR", default_value = crate::config::DEFAULT_DATA_DIR)]
        data_dir: PathBuf,
    },
}

/// Runs an audit subcommand; `Ok(false)` when verification found problems.
pub fn run(args: AuditArgs) -> Result<bool, String> {
    match args.command {
        AuditCommand::Verify {
            database_url: Some(url),
            public_key,
            ..
        } => verify_database(url.expose(), &public_key),
        AuditCommand::Verify {
            data_dir,
            public_key,
            database_url: None,
        } => {
            if public_key.len() > 1 {
                return Err("one --public-key only, without --database-url".into());
            }
            let key_path = public_key
                .into_iter()
                .next()
                .map(PathBuf::from)
                .unwrap_or_else(|| data_dir.join(PUBLIC_KEY_FILE));
            let pem = std::fs::read_to_string(&key_path)
                .map_err(|e| format!("cannot read {}: {e}", key_path.display()))?;
            let key = trent_audit::signing::parse_public_key_pem(&pem)
                .ok_or_else(|| format!("{} is not an Ed25519 public key", key_path.display()))?;
            // Read as it is verified: a trail of any size, in memory about a hundred bytes
            // per entry (never its lines).
            let dir = data_dir.join(AUDIT_DIR);
            if !dir.is_dir() {
                return Err(format!("{} has no audit log", data_dir.display()));
            }
            let report = trent_audit::verify_dir(&dir, |_| Some(key))
                .map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
            for s in report.summaries.iter().filter(|s| s.anchored_at > 0) {
                println!(
                    "note: chain {}: entries up to seq {} were archived; the chain is verified from its signed anchor",
                    s.chain, s.anchored_at
                );
            }
            for p in &report.problems {
                println!("{p}");
            }
            for (chain, from, to) in &report.undigested {
                println!(
                    "note: chain {chain}: entries seq {from}..={to} are not yet covered by a signed digest"
                );
            }
            print_unfinished(&report);
            println!(
                "{}: {} entries ({} events, {} intents, {} digests) in {} chain(s), {} problem(s)",
                if report.ok() { "OK" } else { "FAILED" },
                report.entries,
                report.events,
                report.intents,
                report.digests,
                report.chains.len(),
                report.problems.len()
            );
            Ok(report.ok())
        }
        AuditCommand::Archive {
            data_dir,
            before,
            out,
            config,
            database_url,
        } => {
            let before = parse_time(&before)?;
            let done = match &database_url {
                Some(url) => block_on(crate::audit_archive::archive_database(
                    url, &data_dir, config, before, &out,
                ))??,
                None => block_on(crate::audit_archive::archive(
                    &data_dir, config, before, &out,
                ))??,
            };
            if done.anchors.is_empty() && done.segments == 0 {
                println!("nothing to archive: no closed segment ends before the given time");
            }
            for a in &done.anchors {
                println!(
                    "archived chain {} up to seq {} into {}; anchor signed {}",
                    a.chain,
                    a.seq,
                    out.display(),
                    a.anchor_time
                );
            }
            match &database_url {
                Some(_) => println!("{} entries deleted from the database", done.entries),
                None => println!(
                    "{} segment(s), {} entries moved out of {}",
                    done.segments,
                    done.entries,
                    data_dir.join(AUDIT_DIR).display()
                ),
            }
            Ok(true)
        }
        AuditCommand::Export {
            data_dir,
            out,
            start,
            end,
            database_url,
        } => {
            let start = start.as_deref().map(parse_time).transpose()?;
            let end = end.as_deref().map(parse_time).transpose()?;
            let lines = match database_url {
                Some(url) => block_on(async {
                    let store = reader(url.expose()).await?;
                    let lines = store.read_all().await;
                    store.close().await;
                    lines.map_err(|e| format!("cannot read the audit trail: {e}"))
                })??,
                None => read_lines(&data_dir)?,
            };
            let records: Vec<Record> = trent_audit::records(&lines)
                .into_iter()
                .map(|(_, r)| r)
                .collect();
            let files = trent_audit::export(&records, &out, start, end)
                .map_err(|e| format!("cannot export to {}: {e}", out.display()))?;
            for f in &files {
                println!("{}", f.display());
            }
            Ok(true)
        }
        AuditCommand::PublicKey { data_dir } => {
            let path = data_dir.join(PUBLIC_KEY_FILE);
            let pem = std::fs::read_to_string(&path)
                .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            print!("{pem}");
            Ok(true)
        }
    }
}

/// Notes the intents without an outcome: requests the server did not finish (it stopped
/// in between). Not a problem of the trail: it names what they may have changed.
fn print_unfinished(report: &trent_audit::Report) {
    for (chain, seq, id) in &report.unfinished {
        println!(
            "note: chain {chain}: intent seq {seq} (request {id}) has no outcome: the server stopped before finishing it; the change it names may have been made"
        );
    }
}

/// Runs `f` on a runtime of its own (the audit subcommands are otherwise synchronous).
fn block_on<F: std::future::Future>(f: F) -> Result<F::Output, String> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map(|rt| rt.block_on(f))
        .map_err(|e| format!("cannot start the async runtime: {e}"))
}

async fn reader(url: &str) -> Result<PgAuditStore, String> {
    let options = PgAuditStore::options(url).map_err(|e| e.to_string())?;
    PgAuditStore::connect(options)
        .await
        .map_err(|e| format!("cannot open the audit trail in the database: {e}"))
}

/// How many rows of the audit table `trent audit verify --database-url` reads at a time.
const READ_BATCH: i64 = 10_000;

/// `trent audit verify --database-url`: every chain in the database, each with its
/// node's published key (or the one pinned with `--public-key CHAIN=FILE`), reported per
/// chain.
fn verify_database(url: &str, pinned: &[String]) -> Result<bool, String> {
    let mut pins = std::collections::BTreeMap::new();
    for p in pinned {
        let (chain, path) = p
            .split_once('=')
            .ok_or_else(|| format!("--public-key {p:?}: with --database-url, CHAIN=PEM_FILE"))?;
        let pem = std::fs::read_to_string(path).map_err(|e| format!("cannot read {path}: {e}"))?;
        let key = trent_audit::signing::parse_public_key_pem(&pem)
            .ok_or_else(|| format!("{path} is not an Ed25519 public key"))?;
        pins.insert(chain.to_owned(), key);
    }
    // The lines are verified as they are read, a batch of rows at a time: never the whole
    // table in memory.
    let (chains, verifier, anchors) = block_on(async {
        let store = reader(url).await?;
        let read = async {
            let chains = store.chains().await?;
            let mut verifier = trent_audit::Verifier::new();
            store
                .for_each_line(None, READ_BATCH, |line| {
                    verifier.push(&line);
                    Ok(())
                })
                .await?;
            let anchors = store.anchors().await?;
            Ok::<_, trent_audit::AuditError>((chains, verifier, anchors))
        }
        .await;
        store.close().await;
        read.map_err(|e| format!("cannot read the audit trail: {e}"))
    })??;
    let mut keys = std::collections::BTreeMap::new();
    let mut key_problems = Vec::new();
    for c in &chains {
        match trent_audit::signing::parse_public_key_pem(&c.public_key_pem) {
            Some(k) => {
                keys.insert(c.chain.clone(), k);
            }
            None => key_problems.push(format!(
                "DIGEST: chain {}: the published public key is not an Ed25519 public key",
                c.chain
            )),
        }
    }
    for (chain, key) in &pins {
        match keys.get(chain) {
            Some(published) if published != key => key_problems.push(format!(
                "DIGEST: chain {chain}: the public key published in the database is not the pinned one"
            )),
            None if !chains.iter().any(|c| &c.chain == chain) => {
                key_problems.push(format!("DELETED: chain {chain} (pinned) is not in the database"))
            }
            _ => {}
        }
        keys.insert(chain.clone(), *key);
    }
    let report = verifier.finish(&anchors, |chain| keys.get(chain).copied());
    let problems = report.problems.len() + key_problems.len();
    for s in &report.summaries {
        let from = s.anchored_at + 1;
        let digested = if s.digested_to < from {
            "no signed digest yet".to_owned()
        } else {
            format!("signed digests cover seq {from}..={}", s.digested_to)
        };
        if s.anchored_at > 0 {
            println!(
                "note: chain {}: entries up to seq {} were archived; the chain is verified from its signed anchor",
                s.chain, s.anchored_at
            );
        }
        let fingerprint = keys
            .get(&s.chain)
            .map(|k| hex::encode(trent_audit::sha256(k)))
            .unwrap_or_else(|| "none".into());
        println!(
            "chain {}: {}: {} entries ({} events, {} digests), last seq {}, {digested}, public key SHA-256 {fingerprint}, {} problem(s)",
            s.chain,
            if s.ok() { "OK" } else { "FAILED" },
            s.entries,
            s.events,
            s.digests,
            s.last_seq,
            s.problems
        );
    }
    for c in &chains {
        if !report.chains.contains(&c.chain) {
            println!("chain {}: no entries", c.chain);
        }
    }
    for p in &key_problems {
        println!("{p}");
    }
    for p in &report.problems {
        println!("{p}");
    }
    for (chain, from, to) in &report.undigested {
        println!(
            "note: chain {chain}: entries seq {from}..={to} are not yet covered by a signed digest"
        );
    }
    print_unfinished(&report);
    println!(
        "{}: {} entries ({} events, {} intents, {} digests) in {} chain(s), {problems} problem(s)",
        if problems == 0 { "OK" } else { "FAILED" },
        report.entries,
        report.events,
        report.intents,
        report.digests,
        report.chains.len(),
    );
    Ok(problems == 0)
}

fn read_lines(data_dir: &Path) -> Result<Vec<trent_audit::StoredLine>, String> {
    let dir = data_dir.join(AUDIT_DIR);
    if !dir.is_dir() {
        return Err(format!("{} has no audit log", data_dir.display()));
    }
    trent_audit::read_dir_lines(&dir).map_err(|e| format!("cannot read {}: {e}", dir.display()))
}

fn parse_time(text: &str) -> Result<i64, String> {
    time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .map(|t| t.unix_timestamp())
        .map_err(|_| format!("invalid time {text:?}: expected RFC 3339, e.g. 2025-05-20T00:00:00Z"))
}
