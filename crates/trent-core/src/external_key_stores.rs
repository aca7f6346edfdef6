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

/// The calls the key service makes to XKS proxies (the server implements them).
#[async_trait]
pub trait XksProxyClient: Send + Sync + std::fmt::Debug {
    /// `POST {uri_path}/health`, within [`CALL_BUDGET`].
    async fn health(
        &self,
        proxy: &XksProxy,
        metadata: &XksRequestMetadata,
    ) -> Result<XksHealth, XksFailure>;
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
