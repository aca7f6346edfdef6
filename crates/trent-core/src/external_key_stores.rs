//! External key stores (`EXTERNAL_KEY_STORE`): custom key stores whose key manager is
//! reached through an XKS proxy (the AWS KMS External Key Store Proxy API v1, over HTTPS
//! with SigV4 signing name `kms-xks-proxy`).
//!
//! The key service speaks to a proxy only through [`XksProxyClient`], which the server
//! provides (HTTP, TLS, SigV4 and the API's JSON are the server's, not the key service's):
//! this module says what is asked and what each failure means in AWS KMS's terms —
//! a management operation's `XksProxy*` exception, a connection's `ConnectionErrorCode`.
//! A call that gets no answer within [`CALL_BUDGET`] has failed.

use std::time::Duration;

use async_trait::async_trait;
use trent_store::ConnectionErrorCodeType;
use trent_wire::ErrorCode;
use zeroize::Zeroizing;

use crate::custom_key_stores::error;
use crate::KmsError;

/// How long a call to a proxy may take, as AWS KMS allows it.
pub const CALL_BUDGET: Duration = Duration::from_millis(250);

/// Where a proxy is and how to sign for it. `Debug` never shows the secret.
#[derive(Clone)]
pub struct XksProxy {
    /// `https://host` (XksProxyUriEndpoint).
    pub uri_endpoint: String,
    /// `/.../kms/xks/v1` (XksProxyUriPath).
    pub uri_path: String,
    pub access_key_id: String,
    pub secret_access_key: Zeroizing<String>,
    /// The Region requests are signed for (the key store's).
    pub region: String,
}

impl std::fmt::Debug for XksProxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("XksProxy")
            .field("uri_endpoint", &self.uri_endpoint)
            .field("uri_path", &self.uri_path)
            .field("access_key_id", &self.access_key_id)
            .finish_non_exhaustive()
    }
}

/// Why a call to a proxy failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum XksFailure {
    /// No connection (refused, no route, the name does not resolve).
    Unreachable(String),
    /// No answer within [`CALL_BUDGET`].
    TimedOut,
    /// The TLS handshake failed (an untrusted or mismatched certificate).
    Tls(String),
    /// The proxy refused the credential (401 `AuthenticationFailedException`) or the
    /// request (403 `AccessDeniedException`).
    AccessDenied,
    /// The proxy does not serve this path (404 `InvalidUriPathException`).
    InvalidUriPath,
    /// An answer that is not the API's (not JSON, fields missing or malformed).
    InvalidResponse(String),
    /// An error of the API other than the above: its `errorName`.
    Proxy(String),
}

impl XksFailure {
    /// The ConnectionErrorCode of a connection attempt that failed so.
    pub fn connection_error(&self) -> ConnectionErrorCodeType {
        match self {
            XksFailure::Unreachable(_) => ConnectionErrorCodeType::XksProxyNotReachable,
            XksFailure::TimedOut => ConnectionErrorCodeType::XksProxyTimedOut,
            XksFailure::Tls(_) => ConnectionErrorCodeType::XksProxyInvalidTlsConfiguration,
            XksFailure::AccessDenied => ConnectionErrorCodeType::XksProxyAccessDenied,
            XksFailure::InvalidUriPath => ConnectionErrorCodeType::XksProxyInvalidConfiguration,
            XksFailure::InvalidResponse(_) => ConnectionErrorCodeType::XksProxyInvalidResponse,
            XksFailure::Proxy(_) => ConnectionErrorCodeType::XksProxyInvalidResponse,
        }
    }

    /// The error of CreateCustomKeyStore or UpdateCustomKeyStore whose check of the proxy
    /// failed so.
    pub fn management_error(&self) -> KmsError {
        match self {
            XksFailure::Unreachable(why) | XksFailure::Tls(why) => error(
                ErrorCode::XksProxyUriUnreachableException,
                format!("KMS cannot reach the external key store proxy: {why}"),
            ),
            XksFailure::TimedOut => error(
                ErrorCode::XksProxyUriUnreachableException,
                "The external key store proxy did not respond in time.",
            ),
            XksFailure::AccessDenied => error(
                ErrorCode::XksProxyIncorrectAuthenticationCredentialException,
                "The external key store proxy rejected the XksProxyAuthenticationCredential.",
            ),
            XksFailure::InvalidUriPath => error(
                ErrorCode::XksProxyInvalidConfigurationException,
                "The external key store proxy does not serve the XksProxyUriPath.",
            ),
            XksFailure::InvalidResponse(why) => error(
                ErrorCode::XksProxyInvalidResponseException,
                format!("KMS cannot interpret the response of the external key store proxy: {why}"),
            ),
            XksFailure::Proxy(name) => error(
                ErrorCode::XksProxyInvalidResponseException,
                format!("The external key store proxy answered {name}."),
            ),
        }
    }
}

/// What a proxy's GetHealthStatus says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XksHealth {
    /// Whether at least one external key manager instance is `ACTIVE` or `DEGRADED`.
    pub available: bool,
}

/// Who asks and why, sent as the request's `requestMetadata`.
#[derive(Debug, Clone)]
pub struct XksRequestMetadata {
    pub aws_principal_arn: String,
    pub kms_operation: &'static str,
    pub kms_request_id: String,
    pub kms_key_arn: Option<String>,
}

/// What a proxy's GetKeyMetadata says of an external key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XksKeyMetadata {
    pub key_spec: String,
    pub key_usage: Vec<String>,
    pub key_status: String,
}

/// What a proxy's Encrypt made: AES-GCM with a 12-byte IV and a 16-byte tag (checked by
/// the client, as is the ciphertext data integrity value it asks for).
pub struct XksEncrypted {
    pub iv: [u8; 12],
    pub ciphertext: Vec<u8>,
    pub tag: [u8; 16],
}

/// The calls the key service makes to XKS proxies (the server implements them), each
/// within [`CALL_BUDGET`].
#[async_trait]
pub trait XksProxyClient: Send + Sync + std::fmt::Debug {
    /// `POST {uri_path}/health`.
    async fn health(
        &self,
        proxy: &XksProxy,
        metadata: &XksRequestMetadata,
    ) -> Result<XksHealth, XksFailure>;

    /// `POST {uri_path}/keys/{key_id}/metadata`.
    async fn metadata(
        &self,
        proxy: &XksProxy,
        key_id: &str,
        metadata: &XksRequestMetadata,
    ) -> Result<XksKeyMetadata, XksFailure>;

    /// `POST {uri_path}/keys/{key_id}/encrypt` (AES_GCM, with `aad`, asking for the
    /// SHA_256 ciphertext data integrity value and checking it).
    async fn encrypt(
        &self,
        proxy: &XksProxy,
        key_id: &str,
        aad: &[u8],
        plaintext: &[u8],
        metadata: &XksRequestMetadata,
    ) -> Result<XksEncrypted, XksFailure>;

    /// `POST {uri_path}/keys/{key_id}/decrypt`.
    async fn decrypt(
        &self,
        proxy: &XksProxy,
        key_id: &str,
        aad: &[u8],
        encrypted: &XksEncrypted,
        metadata: &XksRequestMetadata,
    ) -> Result<trent_crypto::SecretBytes, XksFailure>;
}

/// The request a key is used for, as the XKS `requestMetadata` tells the proxy.
#[derive(Debug, Clone)]
pub struct XksCaller {
    pub principal_arn: String,
    pub operation: &'static str,
    pub request_id: String,
}

tokio::task_local! {
    static CALLER: XksCaller;
}

/// Runs `work` (a request's operation) with `caller` as what the XKS proxies it reaches are
/// told of the request.
pub async fn scope<F: std::future::Future>(caller: XksCaller, work: F) -> F::Output {
    CALLER.scope(caller, work).await
}

/// The `requestMetadata` of a call about `key_arn` in the current request; `None` outside
/// any request (nothing reaches a proxy then).
pub(crate) fn current_metadata(key_arn: &str) -> Option<XksRequestMetadata> {
    request_metadata(Some(key_arn))
}

/// The `requestMetadata` of the current request, about `key_arn` if it names a key;
/// `None` outside any request.
fn request_metadata(key_arn: Option<&str>) -> Option<XksRequestMetadata> {
    CALLER
        .try_with(|c| XksRequestMetadata {
            aws_principal_arn: c.principal_arn.clone(),
            kms_operation: c.operation,
            kms_request_id: c.request_id.clone(),
            kms_key_arn: key_arn.map(str::to_owned),
        })
        .ok()
}

/// The `requestMetadata` of a management call of the current request (CreateCustomKeyStore,
/// UpdateCustomKeyStore, ConnectCustomKeyStore, CreateKey's check of an external key): the
/// request's caller, operation and id; `KMSInternalException` outside any request.
pub(crate) fn management_metadata() -> Result<XksRequestMetadata, KmsError> {
    request_metadata(None).ok_or_else(|| {
        tracing::error!("an XKS proxy call outside of a request");
        KmsError::Internal
    })
}

impl crate::KeyService {
    /// Gives the service its XKS proxy client (the server's). Without one, every
    /// operation that needs a proxy fails with `KMSInternalException`.
    pub fn set_xks_client(&self, client: std::sync::Arc<dyn XksProxyClient>) {
        if self.xks_client.set(client).is_err() {
            tracing::warn!("the XKS proxy client was set twice; the first one is kept");
        }
    }

    pub(crate) fn xks_client(&self) -> Result<std::sync::Arc<dyn XksProxyClient>, KmsError> {
        self.xks_client.get().cloned().ok_or_else(|| {
            tracing::error!("no XKS proxy client: external key stores cannot be reached");
            KmsError::Internal
        })
    }
}

/// The proxy of an external key store's record, its secret unsealed.
pub(crate) fn proxy_of(
    root: &dyn trent_crypto::RootKeyProvider,
    store: &trent_store::CustomKeyStoreRecord,
) -> Result<XksProxy, KmsError> {
    let (Some(uri_endpoint), Some(uri_path), Some(access_key_id), Some(sealed)) = (
        store.xks_proxy_uri_endpoint.clone(),
        store.xks_proxy_uri_path.clone(),
        store.xks_proxy_access_key_id.clone(),
        store.sealed_secret.as_deref(),
    ) else {
        tracing::error!(custom_key_store_id = %store.custom_key_store_id, "an external key store without its proxy configuration");
        return Err(KmsError::Internal);
    };
    let secret = root
        .unseal(
            &crate::custom_key_stores::secret_aad(&store.custom_key_store_id),
            sealed,
        )
        .map_err(crate::error::internal(
            "unsealing an external key store's credential",
        ))?;
    let secret = String::from_utf8(secret.expose().to_vec()).map_err(|_| {
        tracing::error!(custom_key_store_id = %store.custom_key_store_id, "an external key store's credential is not text");
        KmsError::Internal
    })?;
    Ok(XksProxy {
        uri_endpoint,
        uri_path,
        access_key_id,
        secret_access_key: Zeroizing::new(secret),
        region: store.region.to_string(),
    })
}

/// Checks a proxy as CreateCustomKeyStore and UpdateCustomKeyStore do: it answers
/// GetHealthStatus, signed with the credential, and some key manager instance is up.
pub(crate) async fn check_proxy(
    client: &dyn XksProxyClient,
    proxy: &XksProxy,
    metadata: &XksRequestMetadata,
) -> Result<(), KmsError> {
    match client.health(proxy, metadata).await {
        Ok(h) if h.available => Ok(()),
        Ok(_) => Err(error(
            ErrorCode::XksProxyUriUnreachableException,
            "Every external key manager instance of the external key store proxy is unavailable.",
        )),
        Err(e) => Err(e.management_error()),
    }
}

/// Connects to an external key store as ConnectCustomKeyStore's background half does:
/// a healthy proxy, or the ConnectionErrorCode of the failure.
pub(crate) async fn connect(
    client: &dyn XksProxyClient,
    proxy: &XksProxy,
    metadata: &XksRequestMetadata,
) -> Result<(), ConnectionErrorCodeType> {
    match client.health(proxy, metadata).await {
        Ok(h) if h.available => Ok(()),
        Ok(_) => Err(ConnectionErrorCodeType::XksProxyNotReachable),
        Err(e) => {
            tracing::warn!(failure = ?e, endpoint = %proxy.uri_endpoint, "cannot connect an external key store");
            Err(e.connection_error())
        }
    }
}

impl crate::KeyService {
    /// The proxy of the external key store `store_id` if it is `CONNECTED`, for loading one
    /// of its keys; `None` (the key is `Unavailable`) otherwise.
    pub(crate) async fn external_connection(
        &self,
        store_id: &str,
    ) -> Result<Option<std::sync::Arc<crate::backend::external::Connection>>, KmsError> {
        let store = self
            .store
            .custom_key_store(store_id)
            .await
            .map_err(crate::error::internal("reading a custom key store"))?;
        match store {
            Some(s) if s.connection_state == trent_store::ConnectionStateType::Connected => Ok(
                Some(std::sync::Arc::new(crate::backend::external::Connection {
                    client: self.xks_client()?,
                    proxy: proxy_of(&*self.root, &s)?,
                })),
            ),
            _ => Ok(None),
        }
    }

    /// What CreateKey checks of a new key of the external key store `store_id` with the
    /// external key `xks_key_id`: the store is the caller's, of type EXTERNAL_KEY_STORE and
    /// `CONNECTED`; no other key of it uses the external key (`XksKeyAlreadyInUseException`);
    /// the proxy knows the key (`XksKeyNotFoundException`), an enabled AES_256 key that
    /// encrypts and decrypts (`XksKeyInvalidConfigurationException`). The store's proxy.
    pub(crate) async fn external_key_connection(
        &self,
        caller: &crate::Caller,
        store_id: &str,
        xks_key_id: &str,
    ) -> Result<std::sync::Arc<crate::backend::external::Connection>, KmsError> {
        let record = crate::custom_key_stores::find(
            &*self.store,
            caller.account_id(),
            &caller.region,
            store_id,
        )
        .await?;
        if record.store_type != trent_store::CustomKeyStoreType::ExternalKeyStore {
            return Err(KmsError::Validation {
                message: format!(
                    "Custom key store '{store_id}' is not an external key store: the Origin must be AWS_CLOUDHSM."
                ),
            });
        }
        if record.connection_state != trent_store::ConnectionStateType::Connected {
            return Err(error(
                ErrorCode::CustomKeyStoreInvalidStateException,
                format!(
                    "Custom key store '{store_id}' is {}. It must be CONNECTED.",
                    record.connection_state.as_str()
                ),
            ));
        }
        // Every key of the account and Region, a page at a time (a store holds few).
        let mut after: Option<String> = None;
        loop {
            let page = self
                .store
                .list_keys(caller.account_id(), &caller.region, after.as_deref(), 1000)
                .await
                .map_err(crate::error::internal("listing keys"))?;
            if page.iter().any(|k| {
                k.custom_key_store_id.as_deref() == Some(store_id)
                    && k.xks_key_id.as_deref() == Some(xks_key_id)
            }) {
                return Err(error(
                    ErrorCode::XksKeyAlreadyInUseException,
                    format!("The external key '{xks_key_id}' is already associated with a KMS key in custom key store '{store_id}'."),
                ));
            }
            match page.last() {
                Some(last) if page.len() == 1000 => after = Some(last.key_id.clone()),
                _ => break,
            }
        }
        let client = self.xks_client()?;
        let proxy = proxy_of(&*self.root, &record)?;
        let metadata = management_metadata()?;
        let key = match client.metadata(&proxy, xks_key_id, &metadata).await {
            Ok(key) => key,
            Err(XksFailure::Proxy(name)) if name == "KeyNotFoundException" => {
                return Err(error(
                    ErrorCode::XksKeyNotFoundException,
                    format!(
                        "The external key store proxy cannot find the external key '{xks_key_id}'."
                    ),
                ))
            }
            Err(e) => {
                tracing::warn!(failure = ?e, "GetKeyMetadata of an external key failed");
                return Err(error(
                    ErrorCode::CustomKeyStoreInvalidStateException,
                    "The external key store proxy did not describe the external key.",
                ));
            }
        };
        let usable = key.key_spec == "AES_256"
            && key.key_status == "ENABLED"
            && key.key_usage.iter().any(|u| u == "ENCRYPT")
            && key.key_usage.iter().any(|u| u == "DECRYPT");
        if !usable {
            return Err(error(
                ErrorCode::XksKeyInvalidConfigurationException,
                format!(
                    "The external key '{xks_key_id}' must be an enabled AES_256 key that can ENCRYPT and DECRYPT (it is {} {} {:?}).",
                    key.key_status, key.key_spec, key.key_usage
                ),
            ));
        }
        Ok(std::sync::Arc::new(crate::backend::external::Connection {
            client,
            proxy,
        }))
    }
}
