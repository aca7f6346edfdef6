//! Custom key stores: the `AWS_CLOUDHSM` key stores of AWS KMS, on PKCS#11 tokens.
//!
//! Trent cannot reach AWS CloudHSM; the "cluster" a key store names is a PKCS#11 token
//! configured on every node (`[[pkcs11_clusters]]`: cluster id, module, token label, trust
//! anchor certificate), and `KeyStorePassword` is the token's user PIN (AWS's `kmsuser`).
//! What the store keeps of a key store (its configuration, its password sealed under the
//! root key, its `ConnectionState`) is shared by every node; each node holds its own
//! connection to the token (a logged-in session pool, [`trent_crypto::TokenKeyStore`]),
//! opened when a key of a connected store is first loaded on it, closed when the store is
//! disconnected.
//!
//! ConnectCustomKeyStore answers at once with the store `CONNECTING` and connects in the
//! background, as AWS does: the store becomes `CONNECTED`, or `FAILED` with its
//! `ConnectionErrorCode` (`CLUSTER_NOT_FOUND` for a token or module that is not there,
//! `INVALID_CREDENTIALS` for a wrong PIN, `USER_LOCKED_OUT` for a locked one,
//! `NETWORK_ERRORS` for a device failure). Every state change announces
//! [`trent_store::Change::All`], so every node reloads the keys whose usability it
//! decides.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use parking_lot::Mutex;
use trent_crypto::{Pkcs11Refusal, RootKeyError, RootKeyProvider, TokenKeyStore};
use trent_store::{
    ConnectionErrorCodeType, ConnectionStateType, CustomKeyStoreRecord, Store, StoreError,
};
use trent_wire::ErrorCode;
use zeroize::Zeroizing;

use crate::cache::KeyCache;
use crate::error::internal;
use crate::KmsError;

/// A PKCS#11 token standing for an AWS CloudHSM cluster (`[[pkcs11_clusters]]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pkcs11Cluster {
    /// What CreateCustomKeyStore's `CloudHsmClusterId` names.
    pub cluster_id: String,
    /// The PKCS#11 module (shared library).
    pub module: PathBuf,
    /// The token's label.
    pub token_label: String,
    /// The PEM text of `trust_anchor_file`: `TrustAnchorCertificate` must match it.
    pub trust_anchor: String,
}

/// The associated data of a custom key store's sealed secret.
pub fn secret_aad(custom_key_store_id: &str) -> Vec<u8> {
    let mut aad = b"trent custom key store secret\0".to_vec();
    aad.extend_from_slice(custom_key_store_id.as_bytes());
    aad
}

/// Whether two PEM texts are the same certificate text (line endings and surrounding
/// whitespace aside).
pub(crate) fn same_pem(a: &str, b: &str) -> bool {
    let lines = |s: &str| -> Vec<String> {
        s.lines()
            .map(|l| l.trim().to_owned())
            .filter(|l| !l.is_empty())
            .collect()
    };
    lines(a) == lines(b)
}

/// A custom key store error in AWS's terms.
pub(crate) fn error(code: ErrorCode, message: impl Into<String>) -> KmsError {
    KmsError::CustomKeyStore {
        code,
        message: message.into(),
    }
}

/// Whether a CreateCustomKeyStore or UpdateCustomKeyStore request names any XKS proxy
/// property.
macro_rules! names_xks_proxy {
    ($req:expr) => {
        $req.xks_proxy_uri_endpoint.is_some()
            || $req.xks_proxy_uri_path.is_some()
            || $req.xks_proxy_vpc_endpoint_service_name.is_some()
            || $req.xks_proxy_vpc_endpoint_service_owner.is_some()
            || $req.xks_proxy_authentication_credential.is_some()
            || $req.xks_proxy_connectivity.is_some()
    };
}
pub(crate) use names_xks_proxy;

/// An XKS proxy property given for a store of type AWS_CLOUDHSM.
pub(crate) fn xks_properties_refused() -> KmsError {
    KmsError::Validation {
        message: "XksProxy properties are not valid for a custom key store of type AWS_CLOUDHSM."
            .into(),
    }
}

pub(crate) fn not_found(id: &str) -> KmsError {
    error(
        ErrorCode::CustomKeyStoreNotFoundException,
        format!("Custom key store '{id}' does not exist."),
    )
}

/// The clusters this node knows and its connections to them.
#[derive(Default)]
pub(crate) struct CustomKeyStores {
    clusters: Vec<Pkcs11Cluster>,
    /// Open connections, by custom key store id.
    open: Mutex<HashMap<String, Arc<TokenKeyStore>>>,
}

impl std::fmt::Debug for CustomKeyStores {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CustomKeyStores")
            .field("clusters", &self.clusters)
            .finish_non_exhaustive()
    }
}

impl CustomKeyStores {
    pub fn new(clusters: Vec<Pkcs11Cluster>) -> Self {
        Self {
            clusters,
            open: Mutex::default(),
        }
    }

    pub fn cluster(&self, cluster_id: &str) -> Option<&Pkcs11Cluster> {
        self.clusters.iter().find(|c| c.cluster_id == cluster_id)
    }

    /// This node's connection to the store's token, if open.
    pub fn connection(&self, id: &str) -> Option<Arc<TokenKeyStore>> {
        self.open.lock().get(id).cloned()
    }

    /// Closes this node's connection to the store's token, if open (sessions in use end
    /// with their last user).
    pub fn close(&self, id: &str) {
        self.open.lock().remove(id);
    }

    /// Connects this node to the token of `store` (logs in with its sealed password):
    /// the connection, or the ConnectionErrorCode of the failure.
    pub async fn connect(
        &self,
        root: &Arc<dyn RootKeyProvider>,
        store: &CustomKeyStoreRecord,
    ) -> Result<Arc<TokenKeyStore>, ConnectionErrorCodeType> {
        if let Some(open) = self.connection(&store.custom_key_store_id) {
            return Ok(open);
        }
        let cluster = store
            .cloud_hsm_cluster_id
            .as_deref()
            .and_then(|c| self.cluster(c))
            .cloned()
            .ok_or(ConnectionErrorCodeType::ClusterNotFound)?;
        let sealed = store
            .sealed_secret
            .as_deref()
            .ok_or(ConnectionErrorCodeType::InternalError)?;
        let pin = root
            .unseal(&secret_aad(&store.custom_key_store_id), sealed)
            .map_err(|e| {
                tracing::error!(error = %e, custom_key_store_id = %store.custom_key_store_id, "cannot unseal a custom key store's password");
                ConnectionErrorCodeType::InternalError
            })?;
        let pin = Zeroizing::new(
            String::from_utf8(pin.expose().to_vec())
                .map_err(|_| ConnectionErrorCodeType::InternalError)?,
        );
        let opened = tokio::task::spawn_blocking(move || {
            TokenKeyStore::connect(&cluster.module, &cluster.token_label, &pin)
        })
        .await
        .map_err(|_| ConnectionErrorCodeType::InternalError)?;
        let connection = match opened {
            Ok(c) => Arc::new(c),
            Err(e) => {
                tracing::warn!(error = %e, custom_key_store_id = %store.custom_key_store_id, "cannot connect a custom key store");
                return Err(connection_error(&e));
            }
        };
        let mut open = self.open.lock();
        Ok(open
            .entry(store.custom_key_store_id.clone())
            .or_insert(connection)
            .clone())
    }
}

/// The ConnectionErrorCode of a token that refused a connection.
fn connection_error(e: &RootKeyError) -> ConnectionErrorCodeType {
    match e {
        RootKeyError::Pkcs11 { refusal, .. } => match refusal {
            Pkcs11Refusal::Module | Pkcs11Refusal::TokenNotFound => {
                ConnectionErrorCodeType::ClusterNotFound
            }
            Pkcs11Refusal::PinIncorrect | Pkcs11Refusal::NoPin => {
                ConnectionErrorCodeType::InvalidCredentials
            }
            Pkcs11Refusal::PinLocked => ConnectionErrorCodeType::UserLockedOut,
            Pkcs11Refusal::Device => ConnectionErrorCodeType::NetworkErrors,
            Pkcs11Refusal::KeyNotFound | Pkcs11Refusal::KeyNotProtected => {
                ConnectionErrorCodeType::InternalError
            }
        },
        _ => ConnectionErrorCodeType::InternalError,
    }
}

/// The background half of ConnectCustomKeyStore, once this node connected to the store's
/// token or proxy (`outcome`): records CONNECTED, or FAILED with the error code, unless the
/// store left CONNECTING meanwhile (a DisconnectCustomKeyStore won).
pub(crate) async fn finish_connect(
    store: Arc<dyn Store>,
    stores: Arc<CustomKeyStores>,
    cache: Arc<KeyCache>,
    connecting: CustomKeyStoreRecord,
    outcome: Result<(), ConnectionErrorCodeType>,
) {
    let id = connecting.custom_key_store_id.clone();
    let mut current = connecting;
    for _ in 0..crate::optimistic::MAX_ATTEMPTS {
        if current.connection_state != ConnectionStateType::Connecting {
            break;
        }
        let mut next = current.clone();
        match &outcome {
            Ok(_) => {
                next.connection_state = ConnectionStateType::Connected;
                next.connection_error_code = None;
            }
            Err(code) => {
                next.connection_state = ConnectionStateType::Failed;
                next.connection_error_code = Some(*code);
            }
        }
        match store.update_custom_key_store(&next).await {
            Ok(_) => {
                cache.clear();
                if outcome.is_err() {
                    stores.close(&id);
                }
                return;
            }
            Err(StoreError::Conflict) => match store.custom_key_store(&id).await {
                Ok(Some(fresh)) => current = fresh,
                Ok(None) => break,
                Err(e) => {
                    tracing::error!(error = %e, custom_key_store_id = %id, "reading a custom key store");
                    break;
                }
            },
            Err(e) => {
                tracing::error!(error = %e, custom_key_store_id = %id, "recording a custom key store's connection state");
                break;
            }
        }
    }
    // Not CONNECTING any more (disconnected, deleted) or not recorded: this node keeps no
    // connection the store's state does not vouch for.
    stores.close(&id);
    cache.clear();
}

/// Reads a custom key store of the caller's account and region.
pub(crate) async fn find(
    store: &dyn Store,
    account: &str,
    region: &str,
    id: &str,
) -> Result<CustomKeyStoreRecord, KmsError> {
    match store
        .custom_key_store(id)
        .await
        .map_err(internal("reading a custom key store"))?
    {
        Some(s) if s.account_id == account && s.region == region => Ok(s),
        _ => Err(not_found(id)),
    }
}

impl crate::KeyService {
    /// The custom key store `id` of the caller's account and region with this node's
    /// connection to its token, for CreateKey: `CustomKeyStoreNotFoundException` if there
    /// is none, `CustomKeyStoreInvalidStateException` unless it is `CONNECTED`.
    pub(crate) async fn connected_key_store(
        &self,
        caller: &crate::Caller,
        id: &str,
    ) -> Result<(CustomKeyStoreRecord, Arc<TokenKeyStore>), KmsError> {
        let record = find(&*self.store, caller.account_id(), &caller.region, id).await?;
        if record.connection_state != ConnectionStateType::Connected {
            return Err(error(
                ErrorCode::CustomKeyStoreInvalidStateException,
                format!(
                    "Custom key store '{id}' is {}. It must be CONNECTED.",
                    record.connection_state.as_str()
                ),
            ));
        }
        let token = self
            .custom_key_stores
            .connect(&self.root, &record)
            .await
            .map_err(|code| {
                tracing::error!(custom_key_store_id = %id, error_code = code.as_str(), "this node cannot connect to a connected custom key store");
                KmsError::Internal
            })?;
        Ok((record, token))
    }

    /// Destroys the token object of a key of a custom key store whose deletion completed,
    /// if its store is connected; otherwise the object stays in the token, as AWS leaves
    /// the key material of a deleted key of a disconnected store in its cluster.
    pub(crate) async fn destroy_token_object(
        &self,
        record: &trent_store::KeyRecord,
        object_id: Option<[u8; 16]>,
    ) {
        let (Some(store_id), Some(object_id)) = (&record.custom_key_store_id, object_id) else {
            return;
        };
        let key_store = match self.store.custom_key_store(store_id).await {
            Ok(Some(s)) if s.connection_state == ConnectionStateType::Connected => s,
            _ => {
                tracing::warn!(key_arn = %record.arn, custom_key_store_id = %store_id, "the custom key store of a deleted key is not connected: its key object stays in the token");
                return;
            }
        };
        let destroyed = match self.custom_key_stores.connect(&self.root, &key_store).await {
            Ok(token) => tokio::task::spawn_blocking(move || token.destroy_key(&object_id))
                .await
                .map_err(|e| e.to_string())
                .and_then(|r| r.map_err(|e| e.to_string())),
            Err(code) => Err(code.as_str().to_owned()),
        };
        match destroyed {
            Ok(_) => {
                tracing::info!(key_arn = %record.arn, "destroyed the token object of a deleted key")
            }
            Err(e) => {
                tracing::error!(key_arn = %record.arn, error = %e, "cannot destroy the token object of a deleted key")
            }
        }
    }
}
