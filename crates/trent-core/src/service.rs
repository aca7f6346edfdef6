//! The key service: shared state of every operation, bootstrap of a deployment.

use std::sync::Arc;
use std::time::{Duration, Instant};

use trent_crypto::{RootKeyProvider, SecretBytes};
use trent_store::{AccessKeyRecord, Store, StoreError};

use crate::cache::KeyCache;
use crate::error::internal;
use crate::{AccessKeyEntry, Clock, KmsError, Principal};

/// Meta entry holding a value sealed under the root key at first start: unsealing it at
/// every start proves the root key is the one this store was created with.
pub(crate) const META_ROOT_CHECK: &str = "root_key_check";
const META_DEFAULT_ACCOUNT: &str = "default_account_id";
/// When this deployment began tracking key usage (GetKeyLastUsage's TrackingStartDate).
const META_USAGE_TRACKING_START: &str = "key_usage_tracking_start";
pub(crate) const ROOT_CHECK_AAD: &[u8] = b"trent:meta:root_key_check:v1";
pub(crate) const ROOT_CHECK_PLAINTEXT: &[u8] = b"trent root key check v1";

/// The lease nodes take to create the administrator: only one node of a cluster
/// starting on an empty database creates it.
const BOOTSTRAP_LEASE: &str = "trent:bootstrap";
/// Long enough for a bootstrap; a node that died holding it delays the others this long.
const BOOTSTRAP_LEASE_TTL: Duration = Duration::from_secs(30);
/// How long a starting node waits for another node's bootstrap.
const BOOTSTRAP_WAIT: Duration = Duration::from_secs(60);

/// Whether a root key has sealed this store's check value yet, i.e. whether the store
/// has been opened by a key service before. A root-key provider that makes a new key
/// (the `pkcs11` and `passphrase` providers) does so only for a store that has not.
pub async fn store_has_root_key_check(store: &dyn Store) -> Result<bool, StoreError> {
    Ok(store.meta(META_ROOT_CHECK).await?.is_some())
}

#[derive(Debug, Clone)]
pub struct ServiceConfig {
    /// How many keys the material cache holds.
    pub cache_capacity: usize,
    /// How long a cached key or alias is served before it is re-read from the store: the
    /// bound on staleness should a change notification from another node ever be lost.
    pub cache_ttl: Duration,
    /// The PKCS#11 tokens that stand for AWS CloudHSM clusters (`[[pkcs11_clusters]]`).
    pub pkcs11_clusters: Vec<crate::Pkcs11Cluster>,
    /// Resource quotas (`[quotas]`).
    pub quotas: crate::ResourceQuotas,
    /// Request-rate quotas (`[quotas.rates]`).
    pub rates: crate::RateQuotas,
}

/// The default cache lifetime: a few seconds, short enough to bound staleness, long
/// enough that the hot path rarely reads the store.
pub const DEFAULT_CACHE_TTL: Duration = Duration::from_secs(5);

/// The default number of keys the cache holds: about 0.5 GB of memory at ~5 KB per key
/// (record, parsed policy, condition keys, unsealed material).
pub const DEFAULT_CACHE_CAPACITY: usize = 100_000;

impl Default for ServiceConfig {
    fn default() -> Self {
        Self {
            cache_capacity: DEFAULT_CACHE_CAPACITY,
            cache_ttl: DEFAULT_CACHE_TTL,
            pkcs11_clusters: Vec::new(),
            quotas: crate::ResourceQuotas::default(),
            rates: crate::RateQuotas::default(),
        }
    }
}

/// What first start needs.
#[derive(Debug, Clone)]
pub struct BootstrapOptions {
    /// The default account, used when the store has none yet.
    pub account_id: String,
    /// Pinned administrator credentials (CI pipelines need known ones); random if absent.
    pub admin_access_key_id: Option<String>,
    pub admin_secret_access_key: Option<SecretBytes>,
}

/// What bootstrap did.
#[derive(Debug)]
pub struct BootstrapReport {
    /// The deployment's default account (the stored one wins over the option).
    pub account_id: String,
    /// Set when this start created the administrator: its access key id.
    pub created_admin: Option<String>,
    pub admin_arn: String,
}

#[derive(Debug, thiserror::Error)]
pub enum BootstrapError {
    #[error("the root key does not match this data directory (the store was created with another root key)")]
    RootKeyMismatch,
    #[error("invalid administrator access key id {0:?}: 16 to 128 characters of A-Z and 0-9")]
    InvalidAccessKeyId(String),
    #[error("the administrator secret access key must be 1 to 128 printable characters")]
    InvalidSecret,
    #[error("cannot hand the administrator's credentials over: {0}")]
    HandOver(String),
    #[error("store: {0}")]
    Store(#[from] StoreError),
    #[error("crypto: {0}")]
    Crypto(#[from] trent_crypto::CryptoError),
    #[error("another node has been bootstrapping this store for too long (its bootstrap lease is still held)")]
    BootstrapBusy,
    #[error("a root key migration of this store was interrupted: run `trent root-key migrate` again, with the same target, to finish it before starting a server")]
    MigrationInProgress,
}

/// The AWS KMS key service. Cheap to share (`Arc`); every operation is a method in `ops/`.
pub struct KeyService {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) root: Arc<dyn RootKeyProvider>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) cache: Arc<KeyCache>,
    /// Striped locks that serialize this node's updates of one key (see `optimistic.rs`).
    pub(crate) update_locks: crate::optimistic::UpdateLocks,
    default_account_id: String,
    /// Keys over time: the background jobs' bell, their audit sink, pending key usage.
    pub(crate) jobs_wake: tokio::sync::Notify,
    pub(crate) events: std::sync::OnceLock<Arc<dyn crate::jobs::ServiceEventSink>>,
    pub(crate) usage: crate::last_usage::UsageTracker,
    pub(crate) usage_tracking_start: i64,
    /// This node's name as the holder of the background jobs' leases.
    pub(crate) job_holder: String,
    /// The key grant tokens are MACed with (see `grants.rs`), loaded on first use.
    pub(crate) grant_token_key: tokio::sync::OnceCell<trent_crypto::HmacKey>,
    /// Grants that tokens named and the store did not have (see `grants.rs`).
    pub(crate) absent_grants: crate::grants::AbsentGrants,
    /// The key imported key material ids are MACed with (see `import.rs`), loaded on first
    /// use.
    pub(crate) material_id_key: tokio::sync::OnceCell<trent_crypto::HmacKey>,
    /// GetParametersForImport's wrapping key pairs, generated ahead of need.
    pub(crate) wrapping_keys: Arc<crate::key_pools::WrappingKeyPool>,
    /// RSA data key pairs for GenerateDataKeyPair, generated ahead of need.
    pub(crate) data_key_pairs: Arc<crate::key_pools::DataKeyPairPool>,
    /// The PKCS#11 clusters this node knows and its connections to custom key stores.
    pub(crate) custom_key_stores: Arc<crate::custom_key_stores::CustomKeyStores>,
    /// Resource quotas.
    pub(crate) quotas: crate::ResourceQuotas,
    /// Request-rate quotas.
    pub(crate) rates: crate::rates::RateLimiter,
    /// How external key stores' XKS proxies are reached (the server's client).
    pub(crate) xks_client: std::sync::OnceLock<Arc<dyn crate::external_key_stores::XksProxyClient>>,
}

impl std::fmt::Debug for KeyService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyService")
            .field("root", &self.root)
            .field("default_account_id", &self.default_account_id)
            .finish_non_exhaustive()
    }
}

/// What the readiness check seals and opens with the root key.
const READINESS_AAD: &[u8] = b"trent readiness check";

impl KeyService {
    /// Readiness: the store answers a read (of a key version, by an id no key has).
    pub async fn check_store(&self) -> Result<(), String> {
        self.store
            .key_version("00000000-0000-0000-0000-000000000000")
            .await
            .map(|_| ())
            .map_err(|e| format!("the store does not answer: {e}"))
    }

    /// How many keys there are of each state, spec and manager (for the metrics).
    pub async fn key_census(&self) -> Result<Vec<trent_store::KeyCensus>, String> {
        self.store
            .key_census()
            .await
            .map_err(|e| format!("cannot count the keys: {e}"))
    }

    /// Readiness: the root of trust seals and opens (a PKCS#11 token is reached).
    pub async fn check_root_key(&self) -> Result<(), String> {
        let root = self.root.clone();
        tokio::task::spawn_blocking(move || {
            let sealed = root
                .seal(READINESS_AAD, b"ready")
                .map_err(|e| format!("the root key cannot seal: {e}"))?;
            let opened = root
                .unseal(READINESS_AAD, &sealed)
                .map_err(|e| format!("the root key cannot open what it sealed: {e}"))?;
            if opened.expose() == b"ready" {
                Ok(())
            } else {
                Err("the root key opened something else than it sealed".to_owned())
            }
        })
        .await
        .map_err(|e| format!("the root key check did not finish: {e}"))?
    }

    /// Opens the service on a store: checks the root key against the store, and on first
    /// start records the default account and creates the administrator.
    ///
    /// A new administrator's credentials go to `hand_over` (access key id, secret) *before*
    /// the access key is stored: if the process dies in between, the next start simply
    /// creates the administrator again, and no stored key is ever one nobody holds.
    pub async fn open<H>(
        store: Arc<dyn Store>,
        root: Arc<dyn RootKeyProvider>,
        clock: Arc<dyn Clock>,
        config: ServiceConfig,
        options: BootstrapOptions,
        hand_over: H,
    ) -> Result<(Self, BootstrapReport), BootstrapError>
    where
        H: FnOnce(&str, &SecretBytes) -> Result<(), String>,
    {
        let check = root.seal(ROOT_CHECK_AAD, ROOT_CHECK_PLAINTEXT)?;
        let stored = store.init_meta(META_ROOT_CHECK, &check).await?;
        match root.unseal(ROOT_CHECK_AAD, &stored) {
            Ok(p) if p.expose() == ROOT_CHECK_PLAINTEXT => {}
            _ => return Err(BootstrapError::RootKeyMismatch),
        }
        if store
            .meta(crate::root_migration::META_MIGRATION)
            .await?
            .is_some()
        {
            return Err(BootstrapError::MigrationInProgress);
        }
        let account = store
            .init_meta(META_DEFAULT_ACCOUNT, options.account_id.as_bytes())
            .await?;
        let account_id = String::from_utf8(account)
            .ok()
            .filter(|a| crate::is_account_id(a))
            .ok_or_else(|| StoreError::Corrupt {
                what: "default account id".into(),
            })?;
        let admin_arn = format!("arn:aws:iam::{account_id}:user/admin");
        let tracking_start = store
            .init_meta(
                META_USAGE_TRACKING_START,
                clock.now_millis().to_string().as_bytes(),
            )
            .await?;
        let usage_tracking_start = std::str::from_utf8(&tracking_start)
            .ok()
            .and_then(|s| s.parse::<i64>().ok())
            .ok_or_else(|| StoreError::Corrupt {
                what: "key usage tracking start".into(),
            })?;

        // Subscribed before anything is cached: no change can slip between.
        let cache = Arc::new(KeyCache::new(config.cache_capacity, config.cache_ttl));
        let mut changes = store.subscribe().await?;
        let weak = Arc::downgrade(&cache);
        tokio::spawn(async move {
            while let Some(change) = changes.next().await {
                let Some(cache) = weak.upgrade() else { break };
                cache.apply(&change);
            }
        });
        let service = KeyService {
            // Every write of a KMS resource is announced to the audit trail first.
            store: Arc::new(crate::write_ahead::WriteAheadStore::new(store)),
            root,
            clock,
            cache,
            update_locks: crate::optimistic::UpdateLocks::default(),
            default_account_id: account_id.clone(),
            jobs_wake: crate::jobs::new_wake(),
            events: std::sync::OnceLock::new(),
            usage: crate::last_usage::UsageTracker::default(),
            usage_tracking_start,
            job_holder: uuid::Uuid::new_v4().to_string(),
            grant_token_key: tokio::sync::OnceCell::new(),
            absent_grants: crate::grants::AbsentGrants::default(),
            material_id_key: tokio::sync::OnceCell::new(),
            wrapping_keys: Arc::default(),
            data_key_pairs: Arc::default(),
            custom_key_stores: Arc::new(crate::custom_key_stores::CustomKeyStores::new(
                config.pkcs11_clusters,
            )),
            quotas: config.quotas,
            rates: crate::rates::RateLimiter::new(config.rates),
            xks_client: std::sync::OnceLock::new(),
        };
        // Nodes starting at once on an empty database: one creates the administrator while
        // holding the lease, the others wait for it and then find the administrator there.
        let holder = uuid::Uuid::new_v4().to_string();
        let deadline = Instant::now() + BOOTSTRAP_WAIT;
        while !service
            .store
            .try_acquire_lease(BOOTSTRAP_LEASE, &holder, BOOTSTRAP_LEASE_TTL)
            .await?
        {
            if Instant::now() >= deadline {
                return Err(BootstrapError::BootstrapBusy);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let created = service
            .create_admin(&account_id, &admin_arn, options, hand_over)
            .await;
        let released = service.store.release_lease(BOOTSTRAP_LEASE, &holder).await;
        let created_admin = created?;
        released?;
        Ok((
            service,
            BootstrapReport {
                account_id,
                created_admin,
                admin_arn,
            },
        ))
    }

    /// Creates the administrator if the store has no access key yet (under the bootstrap
    /// lease); returns its access key id if it did.
    async fn create_admin<H>(
        &self,
        account_id: &str,
        admin_arn: &str,
        options: BootstrapOptions,
        hand_over: H,
    ) -> Result<Option<String>, BootstrapError>
    where
        H: FnOnce(&str, &SecretBytes) -> Result<(), String>,
    {
        let service = self;
        let created_admin = if service.store.access_keys().await?.is_empty() {
            let id = match options.admin_access_key_id {
                Some(id) => {
                    if !(16..=128).contains(&id.len())
                        || !id
                            .bytes()
                            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
                    {
                        return Err(BootstrapError::InvalidAccessKeyId(id));
                    }
                    id
                }
                None => new_access_key_id()?,
            };
            let secret = match options.admin_secret_access_key {
                Some(s) => {
                    if s.is_empty()
                        || s.len() > 128
                        || !s.expose().iter().all(|b| b.is_ascii_graphic())
                    {
                        return Err(BootstrapError::InvalidSecret);
                    }
                    s
                }
                None => new_secret_access_key()?,
            };
            let record = AccessKeyRecord {
                access_key_id: id.clone(),
                account_id: account_id.to_owned(),
                principal_arn: admin_arn.to_owned(),
                sealed_secret: service.root.seal(&access_key_aad(&id), secret.expose())?,
                created_at: service.clock.now_millis(),
                status: "Active".into(),
            };
            hand_over(&id, &secret).map_err(BootstrapError::HandOver)?;
            service.store.put_access_key(&record).await?;
            Some(id)
        } else {
            None
        };
        Ok(created_admin)
    }

    pub fn default_account_id(&self) -> &str {
        &self.default_account_id
    }

    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// Every active access key with its unsealed secret (for the SigV4 credential lookup).
    pub async fn access_keys(&self) -> Result<Vec<AccessKeyEntry>, KmsError> {
        let records = self
            .store
            .access_keys()
            .await
            .map_err(internal("listing access keys"))?;
        let mut out = Vec::with_capacity(records.len());
        for r in records.into_iter().filter(|r| r.status == "Active") {
            let secret = self
                .root
                .unseal(&access_key_aad(&r.access_key_id), &r.sealed_secret)
                .map_err(internal("unsealing an access key"))?;
            let Some(principal) = Principal::from_arn(&r.principal_arn) else {
                tracing::error!(access_key_id = %r.access_key_id, "access key with an invalid principal ARN");
                continue;
            };
            out.push(AccessKeyEntry {
                access_key_id: r.access_key_id,
                secret,
                principal,
            });
        }
        Ok(out)
    }
}

pub(crate) fn access_key_aad(access_key_id: &str) -> Vec<u8> {
    let mut aad = b"trent:access-key:v1:".to_vec();
    aad.extend_from_slice(access_key_id.as_bytes());
    aad
}

/// `AKIA` + 16 characters of base32 (as AWS's long-term access key ids look).
fn new_access_key_id() -> Result<String, trent_crypto::CryptoError> {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let bytes = trent_crypto::random_array::<16>()?;
    let mut id = String::from("AKIA");
    id.extend(bytes.iter().map(|b| ALPHABET[usize::from(b % 32)] as char));
    Ok(id)
}

/// 40 characters of base64 (30 random bytes), as AWS's secret access keys look.
fn new_secret_access_key() -> Result<SecretBytes, trent_crypto::CryptoError> {
    use base64::Engine;
    let bytes = trent_crypto::random_bytes(30)?;
    let encoded = base64::engine::general_purpose::STANDARD.encode(bytes.expose());
    Ok(SecretBytes::new(encoded.into_bytes()))
}

#[cfg(test)]
mod tests {
    use trent_crypto::FileRootKey;
    use trent_store::SqliteStore;

    use super::*;
    use crate::SystemClock;

    type HandOver = Box<dyn FnOnce(&str, &SecretBytes) -> Result<(), String>>;

    fn options() -> BootstrapOptions {
        BootstrapOptions {
            account_id: "111122223333".into(),
            admin_access_key_id: None,
            admin_secret_access_key: None,
        }
    }

    #[tokio::test]
    async fn credentials_are_handed_over_before_the_access_key_is_stored() {
        let dir = tempfile::tempdir().unwrap();
        let root: Arc<dyn RootKeyProvider> =
            Arc::new(FileRootKey::create(&dir.path().join("root.key")).unwrap());
        let store: Arc<dyn Store> =
            Arc::new(SqliteStore::open(&dir.path().join("t.db")).await.unwrap());
        let open = |hand_over: HandOver| {
            KeyService::open(
                store.clone(),
                root.clone(),
                Arc::new(SystemClock),
                ServiceConfig::default(),
                options(),
                hand_over,
            )
        };

        // The operator never got the credentials: nothing may be stored.
        let failed = open(Box::new(|_, _| Err("disk full".into()))).await;
        assert!(matches!(failed, Err(BootstrapError::HandOver(_))));
        assert!(store.access_keys().await.unwrap().is_empty());

        // The next start creates the administrator, and exactly the key handed over works.
        let handed = Arc::new(parking_lot::Mutex::new(None));
        let sink = handed.clone();
        let (service, report) = open(Box::new(move |id, secret| {
            *sink.lock() = Some((id.to_owned(), secret.clone()));
            Ok(())
        }))
        .await
        .unwrap();
        let (id, secret) = handed.lock().take().unwrap();
        assert_eq!(report.created_admin.as_deref(), Some(id.as_str()));
        let keys = service.access_keys().await.unwrap();
        assert_eq!(keys.len(), 1);
        assert_eq!(keys[0].access_key_id, id);
        assert_eq!(keys[0].secret, secret);
        assert_eq!(
            keys[0].principal.arn,
            "arn:aws:iam::111122223333:user/admin"
        );

        // Later starts hand nothing over.
        let (_, report) = open(Box::new(|_, _| panic!("no second administrator")))
            .await
            .unwrap();
        assert!(report.created_admin.is_none());
    }
}
