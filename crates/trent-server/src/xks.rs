//! The AWS KMS External Key Store (XKS) proxy API v1
//! (<https://github.com/aws/aws-kms-xksproxy-api-spec>): Trent as the external key
//! manager of an AWS KMS external key store, or of another Trent.
//!
//! `POST {uri_path_prefix}/kms/xks/v1/keys/{keyId}/metadata|encrypt|decrypt` and
//! `POST {uri_path_prefix}/kms/xks/v1/health`, SigV4-signed with the signing name
//! `kms-xks-proxy` by a credential of the logical key store the prefix names (not an IAM
//! identity); errors as `{"errorName": ..., "errorMessage": ...}` with the statuses of the
//! specification's error table. Served on a listener of its own ([`crate::serve`]),
//! through the same stage as every protocol: every call is audited (event source
//! `kms-xks-proxy`, its `requestMetadata` in `requestParameters`; never a plaintext or a
//! ciphertext).
//!
//! Keys are AES-256 keys derived from the store's XKS master key
//! ([`trent_core::xks_keys`]; in the token when the root key is `pkcs11`); encryption is AES-256-GCM with a random 12-byte IV over
//! the specification's AAD encoding (2-byte big-endian length of the AAD ‖ AAD ‖ 1-byte
//! length of the ciphertext metadata ‖ ciphertext metadata). Trent returns no ciphertext
//! metadata, so a decrypt that passes some fails like any other tampering.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use serde::Deserialize;
use serde_json::{json, Value};
use trent_audit::Actor;
use trent_core::xks_keys::{probe_root_key, XksMaster};
use trent_crypto::{RootKeyProvider, SecretBytes, XksKey};
use trent_sigv4::{CredentialLookup, SecretKey, Verifier};
use zeroize::Zeroizing;

use crate::audit::{Event, RequestFacts};
use crate::auth::{AuthError, Connection};
use crate::http::AppState;
use crate::stage::{Protocol, WireFailure};
use crate::xks_config::{Usage, XksSettings, API_PATH};

/// The SigV4 signing name of the XKS proxy API.
pub const SIGNING_NAME: &str = "kms-xks-proxy";
/// The audit trail's event source for XKS proxy API calls.
pub const EVENT_SOURCE: &str = "kms-xks-proxy";
/// The API's content type.
pub const CONTENT_TYPE: &str = "application/json";
/// What the specification requires a proxy to handle, and Trent's limits.
const MAX_PLAINTEXT: usize = 4300;
const MAX_CIPHERTEXT: usize = 4300;
const MAX_AAD: usize = 8192;
const MAX_CIPHERTEXT_METADATA: usize = 20;
/// The spec's bound on `errorMessage` (fewer than 512 printable ASCII characters).
const MAX_ERROR_MESSAGE: usize = 511;
/// How long the health check waits for the root of trust.
const HEALTH_PROBE_TIMEOUT: Duration = Duration::from_secs(5);
/// AWS's allowed clock skew between signer and verifier.
const CLOCK_SKEW: Duration = Duration::from_secs(5 * 60);

/// The specification's error names and their HTTP statuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum XksError {
    Validation,
    InvalidState,
    InvalidCiphertext,
    InvalidKeyUsage,
    AuthenticationFailed,
    AccessDenied,
    KeyNotFound,
    InvalidUriPath,
    Throttling,
    UnsupportedOperation,
    DependencyTimeout,
    Internal,
}

impl XksError {
    const ALL: [XksError; 12] = [
        XksError::Validation,
        XksError::InvalidState,
        XksError::InvalidCiphertext,
        XksError::InvalidKeyUsage,
        XksError::AuthenticationFailed,
        XksError::AccessDenied,
        XksError::KeyNotFound,
        XksError::InvalidUriPath,
        XksError::Throttling,
        XksError::UnsupportedOperation,
        XksError::DependencyTimeout,
        XksError::Internal,
    ];

    pub fn name(self) -> &'static str {
        match self {
            XksError::Validation => "ValidationException",
            XksError::InvalidState => "InvalidStateException",
            XksError::InvalidCiphertext => "InvalidCiphertextException",
            XksError::InvalidKeyUsage => "InvalidKeyUsageException",
            XksError::AuthenticationFailed => "AuthenticationFailedException",
            XksError::AccessDenied => "AccessDeniedException",
            XksError::KeyNotFound => "KeyNotFoundException",
            XksError::InvalidUriPath => "InvalidUriPathException",
            XksError::Throttling => "ThrottlingException",
            XksError::UnsupportedOperation => "UnsupportedOperationException",
            XksError::DependencyTimeout => "DependencyTimeoutException",
            XksError::Internal => "InternalException",
        }
    }

    pub fn status(self) -> u16 {
        match self {
            XksError::Validation
            | XksError::InvalidState
            | XksError::InvalidCiphertext
            | XksError::InvalidKeyUsage => 400,
            XksError::AuthenticationFailed => 401,
            XksError::AccessDenied => 403,
            XksError::KeyNotFound | XksError::InvalidUriPath => 404,
            XksError::Throttling => 429,
            XksError::UnsupportedOperation => 501,
            XksError::DependencyTimeout => 503,
            XksError::Internal => 500,
        }
    }

    fn with(self, message: impl Into<String>) -> WireFailure {
        WireFailure {
            type_name: self.name(),
            status: self.status(),
            message: Some(message.into()),
        }
    }
}

/// The four operations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Operation {
    GetHealthStatus,
    GetKeyMetadata,
    Encrypt,
    Decrypt,
}

impl Operation {
    fn name(self) -> &'static str {
        match self {
            Operation::GetHealthStatus => "GetHealthStatus",
            Operation::GetKeyMetadata => "GetKeyMetadata",
            Operation::Encrypt => "Encrypt",
            Operation::Decrypt => "Decrypt",
        }
    }

    /// The `requestMetadata` fields the specification makes required.
    fn required_metadata(self) -> &'static [&'static str] {
        match self {
            Operation::GetHealthStatus => &["kmsRequestId", "kmsOperation"],
            Operation::GetKeyMetadata => &["awsPrincipalArn", "kmsOperation", "kmsRequestId"],
            Operation::Encrypt | Operation::Decrypt => &[
                "awsPrincipalArn",
                "kmsKeyArn",
                "kmsOperation",
                "kmsRequestId",
            ],
        }
    }
}

/// The request path, taken apart: `{prefix}/kms/xks/v1/health` or
/// `{prefix}/kms/xks/v1/keys/{keyId}/{metadata|encrypt|decrypt}`.
fn parse_path(path: &str) -> Option<(&str, Operation, Option<&str>)> {
    if let Some(prefix) = path.strip_suffix("/health") {
        let prefix = prefix.strip_suffix(API_PATH)?;
        return Some((prefix, Operation::GetHealthStatus, None));
    }
    let (rest, op) = path.rsplit_once('/')?;
    let op = match op {
        "metadata" => Operation::GetKeyMetadata,
        "encrypt" => Operation::Encrypt,
        "decrypt" => Operation::Decrypt,
        _ => return None,
    };
    let (rest, key_id) = rest.rsplit_once('/')?;
    if key_id.is_empty() {
        return None;
    }
    let prefix = rest.strip_suffix("/keys")?.strip_suffix(API_PATH)?;
    Some((prefix, op, Some(key_id)))
}

struct ServedKey {
    usage: Usage,
    key: XksKey,
}

struct ServedStore {
    uri_path_prefix: String,
    keys: HashMap<String, ServedKey>,
}

/// The access keys of every key store: access key id → (secret, key store index).
struct KeyStoreCredentials(HashMap<String, (Arc<SecretKey>, usize)>);

impl CredentialLookup for KeyStoreCredentials {
    type Principal = usize;

    fn lookup(&self, access_key_id: &str) -> Option<(Arc<SecretKey>, usize)> {
        self.0
            .get(access_key_id)
            .map(|(secret, store)| (Arc::clone(secret), *store))
    }
}

/// What the XKS proxy serves: its key stores with their keys, the credentials' verifier,
/// the root of trust its health check probes.
pub struct XksState {
    stores: Vec<ServedStore>,
    verifier: Verifier<KeyStoreCredentials>,
    root: Arc<dyn RootKeyProvider>,
    probe: Arc<XksKey>,
}

impl std::fmt::Debug for XksState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("XksState")
            .field("key_stores", &self.stores.len())
            .finish_non_exhaustive()
    }
}

impl XksState {
    /// How many logical key stores it serves.
    pub fn key_store_count(&self) -> usize {
        self.stores.len()
    }

    /// Derives every configured key from `master`.
    pub fn new(
        settings: &XksSettings,
        master: &XksMaster,
        root: Arc<dyn RootKeyProvider>,
    ) -> Result<XksState, String> {
        let mut credentials = HashMap::new();
        let mut stores = Vec::with_capacity(settings.key_stores.len());
        for (index, ks) in settings.key_stores.iter().enumerate() {
            for (id, secret) in &ks.credentials {
                credentials.insert(id.clone(), (Arc::clone(secret), index));
            }
            let mut keys = HashMap::with_capacity(ks.keys.len());
            for (id, usage) in &ks.keys {
                let key = master.key(&ks.uri_path_prefix, id).map_err(|e| {
                    format!(
                        "cannot derive the XKS key {id:?} of {:?}: {e}",
                        ks.uri_path_prefix
                    )
                })?;
                keys.insert(id.clone(), ServedKey { usage: *usage, key });
            }
            stores.push(ServedStore {
                uri_path_prefix: ks.uri_path_prefix.clone(),
                keys,
            });
        }
        let probe = master
            .health_probe_key()
            .map_err(|e| format!("cannot derive the XKS health probe key: {e}"))?;
        Ok(XksState {
            stores,
            verifier: Verifier::new(KeyStoreCredentials(credentials), SIGNING_NAME, CLOCK_SKEW)
                .with_unsigned_content_type(),
            root,
            probe: Arc::new(probe),
        })
    }
}

/// The XKS state in force, replaced as a whole on SIGHUP.
pub type SharedXks = Arc<parking_lot::RwLock<Arc<XksState>>>;

/// The protocol, over one [`XksState`].
pub struct XksApi<'a>(pub &'a XksState);

/// A request whose path named an operation; the key store its credential belongs to once
/// authenticated.
pub struct Prepared {
    prefix: String,
    operation: Operation,
    key_id: Option<String>,
    credential_store: Option<usize>,
}

impl Protocol for XksApi<'_> {
    const NAME: &'static str = "xks";
    const CONTENT_TYPE: &'static str = CONTENT_TYPE;
    type Prepared = Prepared;

    /// The path must name one of the four operations (else `InvalidUriPathException`),
    /// and the method be POST (else 405).
    fn prepare(
        &self,
        parts: &http::request::Parts,
        _body: &[u8],
        facts: &mut RequestFacts,
    ) -> Result<Prepared, WireFailure> {
        facts.target_name = None;
        let Some((prefix, operation, key_id)) = parse_path(parts.uri.path()) else {
            return Err(XksError::InvalidUriPath
                .with("The request was rejected because the specified URI path is not valid."));
        };
        facts.target_name = Some(operation.name().to_owned());
        if parts.method != http::Method::POST {
            return Err(WireFailure {
                type_name: XksError::Validation.name(),
                status: 405,
                message: Some(format!(
                    "Method {} is not allowed: the XKS proxy API takes POST only",
                    parts.method
                )),
            });
        }
        Ok(Prepared {
            prefix: prefix.to_owned(),
            operation,
            key_id: key_id.map(str::to_owned),
            credential_store: None,
        })
    }

    /// SigV4 (signing name `kms-xks-proxy`, any region) with the credentials of the key
    /// stores; which key store the access key belongs to is checked against the path in
    /// [`Protocol::handle`].
    fn authenticate(
        &self,
        _state: &AppState,
        parts: &http::request::Parts,
        body: &[u8],
        _connection: &Connection,
        prepared: &mut Prepared,
        facts: &mut RequestFacts,
    ) -> Result<(), WireFailure> {
        let verified = self
            .0
            .verifier
            .verify(parts, body, SystemTime::now())
            .map_err(|e| self.auth_failure(AuthError::SigV4(e)))?;
        let store = self
            .0
            .stores
            .get(verified.principal)
            .ok_or_else(|| XksError::Internal.with("unknown key store"))?;
        facts.actor = Some(Actor::XksProxyCredential {
            access_key_id: verified.access_key_id,
            uri_path_prefix: store.uri_path_prefix.clone(),
        });
        prepared.credential_store = Some(verified.principal);
        Ok(())
    }

    fn auth_failure(&self, e: AuthError) -> WireFailure {
        XksError::AuthenticationFailed.with(e.message())
    }

    fn body_too_large(&self, limit: usize) -> WireFailure {
        XksError::UnsupportedOperation.with(format!(
            "The request body is larger than the limit of {limit} bytes"
        ))
    }

    async fn handle(
        &self,
        _state: &AppState,
        _parts: &http::request::Parts,
        body: &[u8],
        prepared: Prepared,
        facts: &mut RequestFacts,
    ) -> Result<Vec<u8>, WireFailure> {
        let Some(index) = self
            .0
            .stores
            .iter()
            .position(|s| s.uri_path_prefix == prepared.prefix)
        else {
            return Err(XksError::InvalidUriPath
                .with("The request was rejected because the specified URI path is not valid."));
        };
        if prepared.credential_store != Some(index) {
            return Err(XksError::AuthenticationFailed
                .with("The access key does not belong to the key store of this URI path."));
        }
        let store = &self.0.stores[index];
        let op = prepared.operation;
        let request: Request = serde_json::from_slice(body).map_err(|e| {
            XksError::Validation.with(format!(
                "The request body is not valid JSON for {}: {}",
                op.name(),
                e
            ))
        })?;
        let mut parameters = serde_json::Map::new();
        if let Some(m) = &request.request_metadata {
            parameters.insert("requestMetadata".into(), m.clone());
        }
        if let Some(id) = &prepared.key_id {
            parameters.insert("keyId".into(), Value::String(id.clone()));
        }
        if let Some(a) = &request.encryption_algorithm {
            parameters.insert("encryptionAlgorithm".into(), Value::String(a.clone()));
        }
        if let Some(a) = &request.cdiv_algorithm {
            parameters.insert(
                "ciphertextDataIntegrityValueAlgorithm".into(),
                Value::String(a.clone()),
            );
        }
        facts.request_parameters = Some(Value::Object(parameters));
        check_metadata(request.request_metadata.as_ref(), op)?;
        let key_id = prepared.key_id.as_deref().unwrap_or_default();
        match op {
            Operation::GetKeyMetadata => {
                let key = find_key(store, key_id)?;
                Ok(json_bytes(&json!({
                    "keySpec": "AES_256",
                    "keyUsage": key.usage.names(),
                    "keyStatus": "ENABLED",
                })))
            }
            Operation::Encrypt => encrypt(store, key_id, &request),
            Operation::Decrypt => decrypt(store, key_id, &request),
            Operation::GetHealthStatus => Ok(self.health().await),
        }
    }

    fn event(&self, facts: &RequestFacts) -> Event {
        Event {
            source: EVENT_SOURCE,
            name: facts
                .target_name
                .clone()
                .unwrap_or_else(|| "XksProxyRequest".to_owned()),
            read_only: true,
        }
    }

    /// `{"errorName": ..., "errorMessage": ...}`; the message printable ASCII and shorter
    /// than 512 characters, as the specification requires. A failure the stage made in
    /// another protocol's terms (the audit trail down, a body too slow) is answered with
    /// the specification's nearest name.
    fn error_body(&self, failure: &WireFailure, _request_id: &str) -> Vec<u8> {
        let name = if XksError::ALL.iter().any(|e| e.name() == failure.type_name) {
            failure.type_name
        } else if failure.status >= 500 {
            XksError::Internal.name()
        } else {
            XksError::Validation.name()
        };
        let mut body = serde_json::Map::new();
        body.insert("errorName".into(), name.into());
        if let Some(m) = &failure.message {
            let printable: String = m
                .chars()
                .filter(|c| (' '..='~').contains(c))
                .take(MAX_ERROR_MESSAGE)
                .collect();
            body.insert("errorMessage".into(), printable.into());
        }
        serde_json::to_vec(&body).unwrap_or_default()
    }
}

impl XksApi<'_> {
    /// A real probe: a random value sealed and unsealed under the root key (inside the
    /// token for PKCS#11) and an AES-GCM round trip under a key derived for the probe
    /// alone. Either failing answers `healthStatus` `UNAVAILABLE`.
    async fn health(&self) -> Vec<u8> {
        let root = Arc::clone(&self.0.root);
        let probe = Arc::clone(&self.0.probe);
        let check = tokio::task::spawn_blocking(move || -> Result<(), String> {
            probe_root_key(root.as_ref()).map_err(|e| format!("root key probe: {e}"))?;
            let value = trent_crypto::random_bytes(32).map_err(|e| e.to_string())?;
            let c = probe
                .encrypt(b"trent xks health", value.expose())
                .map_err(|e| e.to_string())?;
            let back = probe
                .decrypt(&c.iv, b"trent xks health", &c.ciphertext, &c.tag)
                .map_err(|e| e.to_string())?;
            if back != value {
                return Err("the probe key round trip differs".into());
            }
            Ok(())
        });
        let status = match tokio::time::timeout(HEALTH_PROBE_TIMEOUT, check).await {
            Ok(Ok(Ok(()))) => "ACTIVE",
            Ok(Ok(Err(e))) => {
                tracing::error!(error = %e, "XKS health check: the root of trust failed its probe");
                "UNAVAILABLE"
            }
            Ok(Err(e)) => {
                tracing::error!(error = %e, "XKS health check: the probe did not run");
                "UNAVAILABLE"
            }
            Err(_) => {
                tracing::error!(
                    "XKS health check: the root of trust did not answer within {HEALTH_PROBE_TIMEOUT:?}"
                );
                "UNAVAILABLE"
            }
        };
        let version = env!("CARGO_PKG_VERSION");
        json_bytes(&json!({
            "xksProxyFleetSize": 1,
            "xksProxyVendor": "Trent",
            "xksProxyModel": format!("Trent XKS Proxy {version}"),
            "ekmVendor": "Trent",
            "ekmFleetDetails": [{
                "id": format!("trent-root-key-{}", self.0.root.kind()),
                "model": format!("Trent {version} ({} root key)", self.0.root.kind()),
                "healthStatus": status,
            }],
        }))
    }
}

fn json_bytes(v: &Value) -> Vec<u8> {
    serde_json::to_vec(v).unwrap_or_default()
}

/// A base64 string field that may hold a plaintext: zeroized on drop.
struct SecretString(Zeroizing<String>);

impl<'de> Deserialize<'de> for SecretString {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(|s| SecretString(Zeroizing::new(s)))
    }
}

/// The fields of the four requests (each operation reads its own); anything else is
/// ignored, a field of the wrong type or given twice refuses the request.
#[derive(Deserialize)]
struct Request {
    #[serde(rename = "requestMetadata")]
    request_metadata: Option<Value>,
    plaintext: Option<SecretString>,
    ciphertext: Option<String>,
    #[serde(rename = "ciphertextMetadata")]
    ciphertext_metadata: Option<String>,
    #[serde(rename = "encryptionAlgorithm")]
    encryption_algorithm: Option<String>,
    #[serde(rename = "additionalAuthenticatedData")]
    aad: Option<String>,
    #[serde(rename = "initializationVector")]
    iv: Option<String>,
    #[serde(rename = "authenticationTag")]
    tag: Option<String>,
    #[serde(rename = "ciphertextDataIntegrityValueAlgorithm")]
    cdiv_algorithm: Option<String>,
}

/// `requestMetadata`: an object with the operation's required fields as strings, and
/// every optional one the specification names a string if present. Its values are not
/// otherwise judged (the specification forbids it: `kmsRequestId` is opaque, and an
/// unknown `kmsOperation` must be accepted).
fn check_metadata(metadata: Option<&Value>, op: Operation) -> Result<(), WireFailure> {
    let Some(Value::Object(m)) = metadata else {
        return Err(XksError::Validation.with("requestMetadata is missing or not an object"));
    };
    for field in op.required_metadata() {
        match m.get(*field) {
            Some(Value::String(_)) => {}
            Some(_) => {
                return Err(
                    XksError::Validation.with(format!("requestMetadata.{field} must be a string"))
                )
            }
            None => {
                return Err(
                    XksError::Validation.with(format!("requestMetadata.{field} is required"))
                )
            }
        }
    }
    for field in [
        "awsPrincipalArn",
        "awsSourceVpc",
        "awsSourceVpce",
        "kmsKeyArn",
        "kmsOperation",
        "kmsRequestId",
        "kmsViaService",
    ] {
        if m.get(field).is_some_and(|v| !v.is_string()) {
            return Err(
                XksError::Validation.with(format!("requestMetadata.{field} must be a string"))
            );
        }
    }
    Ok(())
}

fn find_key<'a>(store: &'a ServedStore, key_id: &str) -> Result<&'a ServedKey, WireFailure> {
    store.keys.get(key_id).ok_or_else(|| {
        XksError::KeyNotFound
            .with("The request was rejected because the specified external key is not found.")
    })
}

/// Standard base64 (RFC 4648 section 4, padded), decoded into a zeroizing buffer.
fn decode(field: &str, text: &str, max: usize) -> Result<Zeroizing<Vec<u8>>, WireFailure> {
    let bytes = Zeroizing::new(
        B64.decode(text)
            .map_err(|_| XksError::Validation.with(format!("{field} is not valid Base64")))?,
    );
    if bytes.len() > max {
        return Err(XksError::UnsupportedOperation.with(format!(
            "{field} is {} bytes, more than the {max} bytes this proxy supports",
            bytes.len()
        )));
    }
    Ok(bytes)
}

fn check_algorithm(request: &Request) -> Result<(), WireFailure> {
    match request.encryption_algorithm.as_deref() {
        Some("AES_GCM") => Ok(()),
        Some(_) => Err(XksError::Validation.with("encryptionAlgorithm must be AES_GCM")),
        None => Err(XksError::Validation.with("encryptionAlgorithm is required")),
    }
}

/// The AES-GCM associated data: 2-byte big-endian length of the AAD ‖ AAD ‖ 1-byte length
/// of the ciphertext metadata ‖ ciphertext metadata (both lengths bounded before).
fn gcm_aad(aad: &[u8], ciphertext_metadata: &[u8]) -> Result<Vec<u8>, WireFailure> {
    let aad_len = u16::try_from(aad.len())
        .map_err(|_| XksError::UnsupportedOperation.with("AAD too long"))?;
    let cm_len = u8::try_from(ciphertext_metadata.len())
        .map_err(|_| XksError::Validation.with("ciphertextMetadata too long"))?;
    let mut out = Vec::with_capacity(3 + aad.len() + ciphertext_metadata.len());
    out.extend_from_slice(&aad_len.to_be_bytes());
    out.extend_from_slice(aad);
    out.push(cm_len);
    out.extend_from_slice(ciphertext_metadata);
    Ok(out)
}

fn encrypt(store: &ServedStore, key_id: &str, request: &Request) -> Result<Vec<u8>, WireFailure> {
    let plaintext = match &request.plaintext {
        Some(p) => decode("plaintext", &p.0, MAX_PLAINTEXT)?,
        None => return Err(XksError::Validation.with("plaintext is required")),
    };
    check_algorithm(request)?;
    let cdiv = match request.cdiv_algorithm.as_deref() {
        None => false,
        Some("SHA_256") => true,
        Some(_) => {
            return Err(
                XksError::Validation.with("ciphertextDataIntegrityValueAlgorithm must be SHA_256")
            )
        }
    };
    let aad = match &request.aad {
        Some(a) => decode("additionalAuthenticatedData", a, MAX_AAD)?,
        None => Zeroizing::new(Vec::new()),
    };
    let key = find_key(store, key_id)?;
    if !key.usage.encrypt {
        return Err(XksError::InvalidKeyUsage.with("The key does not support ENCRYPT."));
    }
    // The CDIV is the proxy's promise that a decrypt will succeed (spec, Appendix C): it
    // checks with one, which a key that cannot decrypt cannot do.
    if cdiv && !key.usage.decrypt {
        return Err(XksError::InvalidKeyUsage
            .with("A ciphertextDataIntegrityValue needs a key that supports DECRYPT too."));
    }
    let gcm_aad = gcm_aad(&aad, &[])?;
    let out = key.key.encrypt(&gcm_aad, &plaintext).map_err(|e| {
        tracing::error!(error = %e, "XKS encrypt failed");
        XksError::Internal.with("encryption failed")
    })?;
    let mut response = serde_json::Map::new();
    response.insert("ciphertext".into(), B64.encode(&out.ciphertext).into());
    response.insert("initializationVector".into(), B64.encode(out.iv).into());
    response.insert("authenticationTag".into(), B64.encode(out.tag).into());
    if cdiv {
        // AAD ‖ ciphertextMetadata (none) ‖ IV ‖ ciphertext ‖ tag, hashed before the
        // check decrypt below (Appendix C's order).
        let mut input =
            Vec::with_capacity(aad.len() + out.iv.len() + out.ciphertext.len() + out.tag.len());
        input.extend_from_slice(&aad);
        input.extend_from_slice(&out.iv);
        input.extend_from_slice(&out.ciphertext);
        input.extend_from_slice(&out.tag);
        let digest = trent_audit::sha256(&input);
        let back: SecretBytes = key
            .key
            .decrypt(&out.iv, &gcm_aad, &out.ciphertext, &out.tag)
            .map_err(|e| {
                tracing::error!(error = %e, "XKS encrypt: the check decrypt failed");
                XksError::Internal.with("the ciphertext did not decrypt")
            })?;
        if back.expose() != plaintext.as_slice() {
            tracing::error!("XKS encrypt: the check decrypt differs from the plaintext");
            return Err(XksError::Internal.with("the ciphertext did not decrypt"));
        }
        response.insert(
            "ciphertextDataIntegrityValue".into(),
            B64.encode(digest).into(),
        );
    }
    Ok(json_bytes(&Value::Object(response)))
}

fn decrypt(store: &ServedStore, key_id: &str, request: &Request) -> Result<Vec<u8>, WireFailure> {
    let required = |v: &Option<String>, name: &str| {
        v.clone()
            .ok_or_else(|| XksError::Validation.with(format!("{name} is required")))
    };
    let ciphertext = decode(
        "ciphertext",
        &required(&request.ciphertext, "ciphertext")?,
        MAX_CIPHERTEXT,
    )?;
    let iv = decode(
        "initializationVector",
        &required(&request.iv, "initializationVector")?,
        64,
    )?;
    let tag = decode(
        "authenticationTag",
        &required(&request.tag, "authenticationTag")?,
        64,
    )?;
    check_algorithm(request)?;
    let aad = match &request.aad {
        Some(a) => decode("additionalAuthenticatedData", a, MAX_AAD)?,
        None => Zeroizing::new(Vec::new()),
    };
    let metadata = match &request.ciphertext_metadata {
        Some(m) => {
            let m = decode("ciphertextMetadata", m, usize::MAX)?;
            if m.len() > MAX_CIPHERTEXT_METADATA {
                return Err(XksError::Validation.with("ciphertextMetadata is longer than 20 bytes"));
            }
            m
        }
        None => Zeroizing::new(Vec::new()),
    };
    let key = find_key(store, key_id)?;
    if !key.usage.decrypt {
        return Err(XksError::InvalidKeyUsage.with("The key does not support DECRYPT."));
    }
    let invalid = || {
        XksError::InvalidCiphertext.with(
            "The request was rejected because the specified ciphertext, initialization vector, additional authenticated data or authentication tag is corrupted, missing, or otherwise invalid.",
        )
    };
    if !(iv.len() == 12 || iv.len() == 16) || tag.len() != 16 {
        return Err(invalid());
    }
    let gcm_aad = gcm_aad(&aad, &metadata)?;
    let plaintext = key
        .key
        .decrypt(&iv, &gcm_aad, &ciphertext, &tag)
        .map_err(|e| match e {
            trent_crypto::CryptoError::InvalidCiphertext => invalid(),
            // The token failed, not the data.
            e => {
                tracing::error!(error = %e, "XKS decrypt failed");
                XksError::Internal.with("decryption failed")
            }
        })?;
    let encoded = Zeroizing::new(B64.encode(plaintext.expose()));
    let mut out = Vec::with_capacity(encoded.len() + 16);
    out.extend_from_slice(b"{\"plaintext\":\"");
    out.extend_from_slice(encoded.as_bytes());
    out.extend_from_slice(b"\"}");
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        assert_eq!(
            parse_path("/a/b/kms/xks/v1/health"),
            Some(("/a/b", Operation::GetHealthStatus, None))
        );
        assert_eq!(
            parse_path("/kms/xks/v1/health"),
            Some(("", Operation::GetHealthStatus, None))
        );
        assert_eq!(
            parse_path("/p/kms/xks/v1/keys/foo.1/encrypt"),
            Some(("/p", Operation::Encrypt, Some("foo.1")))
        );
        assert_eq!(
            parse_path("/kms/xks/v1/keys/k/metadata"),
            Some(("", Operation::GetKeyMetadata, Some("k")))
        );
        for bad in [
            "/",
            "/p/kms/xks/v1",
            "/p/kms/xks/v1/keys//decrypt",
            "/p/kms/xks/v1/keys/k/sign",
            "/p/kms/xks/v2/health",
            "/p/kms/xks/v1/key/k/decrypt",
            "/p/kms/xks/v1/keys/a/b/decrypt",
        ] {
            assert_eq!(parse_path(bad).map(|p| p.1), None, "{bad}");
        }
    }

    #[test]
    fn aad_encoding() {
        assert_eq!(gcm_aad(b"", b"").ok(), Some(vec![0, 0, 0]));
        assert_eq!(
            gcm_aad(b"ab", b"c").ok(),
            Some(vec![0, 2, b'a', b'b', 1, b'c'])
        );
    }

    #[test]
    fn cdiv_matches_the_specification_example() {
        // Appendix C: AAD ‖ ciphertextMetadata ‖ IV ‖ ciphertext ‖ tag.
        let mut input = Vec::new();
        input.extend_from_slice(b"project=nile,department=marketing");
        input.extend_from_slice(b"key_version=1");
        for part in [
            "HMrlRw85cAJUd5Ax",
            "ghxkK1txeDNn3q8Y",
            "vBxN2ncH1oEkR8WVXpmyYQ==",
        ] {
            input.extend_from_slice(&B64.decode(part).unwrap());
        }
        assert_eq!(
            B64.encode(trent_audit::sha256(&input)),
            "qHA/ImC9h5HsLRXqCyPmWgYx7tzyoTplzILbP0fPXsc="
        );
    }

    #[test]
    fn error_names_and_statuses() {
        assert_eq!(XksError::InvalidUriPath.status(), 404);
        assert_eq!(
            XksError::AuthenticationFailed.name(),
            "AuthenticationFailedException"
        );
    }
}
