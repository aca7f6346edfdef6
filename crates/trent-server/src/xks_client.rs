//! The XKS proxy client of external key stores: the AWS KMS External Key Store Proxy API
//! v1 over HTTPS (rustls, HTTP/1.1, a connection per call), signed with SigV4 (signing name
//! `kms-xks-proxy`, the key store's Region), each call within 250 ms
//! (`trent_core::external_key_stores::CALL_BUDGET`). Only `https://` endpoints, on port 443
//! as AWS KMS requires, verified against the web PKI roots plus the `[xks_client]`
//! `ca_file`; `connect_to` entries say where an endpoint's host is reached instead of its
//! DNS name and port 443 (the certificate is still checked for the host's name).
//!
//! ```toml
//! [xks_client]
//! ca_file = "/etc/trent/xks-proxies-ca.pem"   # optional: CAs trusted besides the web PKI
//! connect_to = [{ endpoint = "https://xks.example.com", address = "10.0.0.7:443" }]
//! ```

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::SystemTime;

use async_trait::async_trait;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use rustls::pki_types::ServerName;
use serde::Deserialize;
use serde_json::{json, Value};
use trent_core::external_key_stores::{
    XksEncrypted, XksFailure, XksHealth, XksKeyMetadata, XksProxy, XksProxyClient,
    XksRequestMetadata, CALL_BUDGET,
};
use trent_crypto::SecretBytes;
use zeroize::Zeroizing;

/// The largest answer read from a proxy.
const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// The `[xks_client]` table.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct XksClientFileConfig {
    ca_file: Option<PathBuf>,
    #[serde(default)]
    connect_to: Vec<ConnectTo>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConnectTo {
    endpoint: String,
    address: SocketAddr,
}

/// The client (see the module documentation).
pub struct HttpXksClient {
    tls: tokio_rustls::TlsConnector,
    /// Host name → where to connect.
    connect_to: HashMap<String, SocketAddr>,
}

impl std::fmt::Debug for HttpXksClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpXksClient")
            .field("connect_to", &self.connect_to)
            .finish_non_exhaustive()
    }
}

/// The host of an `https://host` endpoint (XksProxyUriEndpoint's form).
fn endpoint_host(endpoint: &str) -> Option<&str> {
    endpoint
        .strip_prefix("https://")
        .filter(|h| !h.is_empty() && !h.contains(['/', ':', '@']))
}

impl HttpXksClient {
    /// From the `[xks_client]` table (its absence: the web PKI roots, DNS and port 443).
    pub fn new(config: Option<XksClientFileConfig>) -> Result<Self, String> {
        let config = config.unwrap_or_default();
        let tls = crate::tls::client_config(config.ca_file.as_deref(), "ca_file", "[xks_client] ")?;
        let mut connect_to = HashMap::new();
        for entry in config.connect_to {
            let host = endpoint_host(&entry.endpoint).ok_or_else(|| {
                format!(
                    "[xks_client] connect_to: endpoint {:?} is not https://HOST",
                    entry.endpoint
                )
            })?;
            if connect_to.insert(host.to_owned(), entry.address).is_some() {
                return Err(format!(
                    "[xks_client] connect_to: {:?} is given twice",
                    entry.endpoint
                ));
            }
        }
        Ok(Self {
            tls: tokio_rustls::TlsConnector::from(Arc::new(tls)),
            connect_to,
        })
    }

    /// `POST {uri_path}/{operation}` with `body`, signed; the status and JSON answer.
    async fn post(
        &self,
        proxy: &XksProxy,
        operation: &str,
        body: Vec<u8>,
    ) -> Result<(u16, Value), XksFailure> {
        match tokio::time::timeout(CALL_BUDGET, self.exchange(proxy, operation, body)).await {
            Ok(answer) => answer,
            Err(_) => Err(XksFailure::TimedOut),
        }
    }

    async fn exchange(
        &self,
        proxy: &XksProxy,
        operation: &str,
        body: Vec<u8>,
    ) -> Result<(u16, Value), XksFailure> {
        let host = endpoint_host(&proxy.uri_endpoint).ok_or_else(|| {
            XksFailure::Unreachable(format!("{} is not https://HOST", proxy.uri_endpoint))
        })?;
        let stream = match self.connect_to.get(host) {
            Some(addr) => tokio::net::TcpStream::connect(addr).await,
            None => tokio::net::TcpStream::connect((host, 443)).await,
        }
        .map_err(|e| XksFailure::Unreachable(format!("connecting to {host}: {e}")))?;
        let name = ServerName::try_from(host.to_owned())
            .map_err(|e| XksFailure::Unreachable(format!("{host}: {e}")))?;
        let tls = self
            .tls
            .connect(name, stream)
            .await
            .map_err(|e| XksFailure::Tls(format!("TLS with {host}: {e}")))?;
        let (mut sender, connection) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tls))
                .await
                .map_err(|e| XksFailure::Unreachable(format!("HTTP with {host}: {e}")))?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        let path = format!("{}/{operation}", proxy.uri_path);
        let signer = trent_sigv4::Signer::new(
            trent_sigv4::Credentials {
                access_key_id: proxy.access_key_id.clone(),
                secret_access_key: trent_sigv4::SecretKey::new(proxy.secret_access_key.as_str()),
                session_token: None,
            },
            &proxy.region,
            "kms-xks-proxy",
        );
        let headers = [("host", host), ("content-type", "application/json")];
        let signed = signer.sign("POST", &path, "", &headers, &body, SystemTime::now());
        let mut request = http::Request::post(&path)
            .header("host", host)
            .header("content-type", "application/json");
        for (name, value) in signed {
            request = request.header(name, value);
        }
        let request = request
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| XksFailure::Unreachable(e.to_string()))?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| XksFailure::Unreachable(format!("HTTP with {host}: {e}")))?;
        let status = response.status().as_u16();
        // The API's answers are small (a 4300-byte plaintext in base64 at most): a larger
        // one is not the API's.
        let bytes = http_body_util::Limited::new(response.into_body(), MAX_ANSWER_BYTES)
            .collect()
            .await
            .map_err(|e| XksFailure::InvalidResponse(format!("reading the answer of {host}: {e}")))?
            .to_bytes();
        let value: Value = serde_json::from_slice(&bytes)
            .map_err(|_| XksFailure::InvalidResponse(format!("HTTP {status}, not JSON")))?;
        Ok((status, value))
    }
}

/// A non-200 answer in the API's terms.
fn failure(status: u16, answer: &Value) -> XksFailure {
    let name = answer
        .get("errorName")
        .and_then(Value::as_str)
        .unwrap_or_default();
    match (status, name) {
        (401, _) | (403, _) => XksFailure::AccessDenied,
        (404, "InvalidUriPathException") => XksFailure::InvalidUriPath,
        (_, "") => XksFailure::InvalidResponse(format!("HTTP {status} without an errorName")),
        (_, name) => XksFailure::Proxy(name.to_owned()),
    }
}

fn request_metadata(metadata: &XksRequestMetadata) -> Value {
    let mut m = json!({
        "kmsRequestId": metadata.kms_request_id,
        "kmsOperation": metadata.kms_operation,
        "awsPrincipalArn": metadata.aws_principal_arn,
    });
    if let Some(arn) = &metadata.kms_key_arn {
        m["kmsKeyArn"] = json!(arn);
    }
    m
}

/// The `keys/{id}/{operation}` path of an external key (ids are `[a-zA-Z0-9-_.]`, nothing
/// to escape).
fn key_path(key_id: &str, operation: &str) -> String {
    format!("keys/{key_id}/{operation}")
}

/// A base64 field of an answer.
fn field(answer: &Value, name: &str) -> Result<Vec<u8>, XksFailure> {
    let text = answer
        .get(name)
        .and_then(Value::as_str)
        .ok_or_else(|| XksFailure::InvalidResponse(format!("no {name}")))?;
    B64.decode(text)
        .map_err(|_| XksFailure::InvalidResponse(format!("{name} is not base64")))
}

#[async_trait]
impl XksProxyClient for HttpXksClient {
    async fn health(
        &self,
        proxy: &XksProxy,
        metadata: &XksRequestMetadata,
    ) -> Result<XksHealth, XksFailure> {
        let body = json!({ "requestMetadata": request_metadata(metadata) });
        let (status, answer) = self
            .post(proxy, "health", body.to_string().into_bytes())
            .await?;
        if status != 200 {
            return Err(failure(status, &answer));
        }
        let fleet = answer
            .get("ekmFleetDetails")
            .and_then(Value::as_array)
            .ok_or_else(|| XksFailure::InvalidResponse("no ekmFleetDetails".into()))?;
        let mut available = false;
        for instance in fleet {
            match instance.get("healthStatus").and_then(Value::as_str) {
                Some("ACTIVE" | "DEGRADED") => available = true,
                Some("UNAVAILABLE") => {}
                _ => {
                    return Err(XksFailure::InvalidResponse(
                        "an ekmFleetDetails entry without a healthStatus".into(),
                    ))
                }
            }
        }
        Ok(XksHealth { available })
    }

    async fn metadata(
        &self,
        proxy: &XksProxy,
        key_id: &str,
        metadata: &XksRequestMetadata,
    ) -> Result<XksKeyMetadata, XksFailure> {
        let body = json!({ "requestMetadata": request_metadata(metadata) });
        let (status, answer) = self
            .post(
                proxy,
                &key_path(key_id, "metadata"),
                body.to_string().into_bytes(),
            )
            .await?;
        if status != 200 {
            return Err(failure(status, &answer));
        }
        let text = |name: &str| {
            answer
                .get(name)
                .and_then(Value::as_str)
                .map(str::to_owned)
                .ok_or_else(|| XksFailure::InvalidResponse(format!("no {name}")))
        };
        let key_usage = answer
            .get("keyUsage")
            .and_then(Value::as_array)
            .ok_or_else(|| XksFailure::InvalidResponse("no keyUsage".into()))?
            .iter()
            .map(|u| {
                u.as_str().map(str::to_owned).ok_or_else(|| {
                    XksFailure::InvalidResponse("a keyUsage that is not text".into())
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(XksKeyMetadata {
            key_spec: text("keySpec")?,
            key_usage,
            key_status: text("keyStatus")?,
        })
    }

    async fn encrypt(
        &self,
        proxy: &XksProxy,
        key_id: &str,
        aad: &[u8],
        plaintext: &[u8],
        metadata: &XksRequestMetadata,
    ) -> Result<XksEncrypted, XksFailure> {
        let body = Zeroizing::new(
            json!({
                "requestMetadata": request_metadata(metadata),
                "plaintext": B64.encode(plaintext),
                "encryptionAlgorithm": "AES_GCM",
                "additionalAuthenticatedData": B64.encode(aad),
                "ciphertextDataIntegrityValueAlgorithm": "SHA_256",
            })
            .to_string()
            .into_bytes(),
        );
        let (status, answer) = self
            .post(proxy, &key_path(key_id, "encrypt"), body.to_vec())
            .await?;
        if status != 200 {
            return Err(failure(status, &answer));
        }
        if answer.get("ciphertextMetadata").is_some() {
            return Err(XksFailure::InvalidResponse(
                "ciphertextMetadata is not supported".into(),
            ));
        }
        let ciphertext = field(&answer, "ciphertext")?;
        let iv: [u8; 12] = field(&answer, "initializationVector")?
            .try_into()
            .map_err(|_| {
                XksFailure::InvalidResponse("an initializationVector that is not 12 bytes".into())
            })?;
        let tag: [u8; 16] = field(&answer, "authenticationTag")?
            .try_into()
            .map_err(|_| {
                XksFailure::InvalidResponse("an authenticationTag that is not 16 bytes".into())
            })?;
        if ciphertext.len() != plaintext.len() {
            return Err(XksFailure::InvalidResponse(
                "a ciphertext of another length than the plaintext".into(),
            ));
        }
        // The proxy's promise that the ciphertext decrypts (the specification's Appendix
        // C): SHA-256 over AAD ‖ IV ‖ ciphertext ‖ tag.
        let cdiv = field(&answer, "ciphertextDataIntegrityValue")?;
        let mut input = Vec::with_capacity(aad.len() + iv.len() + ciphertext.len() + tag.len());
        input.extend_from_slice(aad);
        input.extend_from_slice(&iv);
        input.extend_from_slice(&ciphertext);
        input.extend_from_slice(&tag);
        if cdiv.as_slice() != trent_audit::sha256(&input).as_slice() {
            return Err(XksFailure::InvalidResponse(
                "the ciphertextDataIntegrityValue does not match".into(),
            ));
        }
        Ok(XksEncrypted {
            iv,
            ciphertext,
            tag,
        })
    }

    async fn decrypt(
        &self,
        proxy: &XksProxy,
        key_id: &str,
        aad: &[u8],
        encrypted: &XksEncrypted,
        metadata: &XksRequestMetadata,
    ) -> Result<SecretBytes, XksFailure> {
        let body = json!({
            "requestMetadata": request_metadata(metadata),
            "ciphertext": B64.encode(&encrypted.ciphertext),
            "encryptionAlgorithm": "AES_GCM",
            "initializationVector": B64.encode(encrypted.iv),
            "authenticationTag": B64.encode(encrypted.tag),
            "additionalAuthenticatedData": B64.encode(aad),
        });
        let (status, answer) = self
            .post(
                proxy,
                &key_path(key_id, "decrypt"),
                body.to_string().into_bytes(),
            )
            .await?;
        if status != 200 {
            return Err(failure(status, &answer));
        }
        let plaintext = SecretBytes::new(field(&answer, "plaintext")?);
        if plaintext.len() != encrypted.ciphertext.len() {
            return Err(XksFailure::InvalidResponse(
                "a plaintext of another length than the ciphertext".into(),
            ));
        }
        Ok(plaintext)
    }
}
