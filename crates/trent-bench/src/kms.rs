//! The KMS JSON 1.1 protocol as the load generator speaks it: `POST /` with
//! `X-Amz-Target: TrentService.<Operation>`, `Content-Type: application/x-amz-json-1.1`,
//! a JSON body, SigV4-signed; errors are a JSON body whose `__type` names the exception.
//!
//! <https://docs.aws.amazon.com/kms/latest/APIReference/CommonParameters.html>

use std::time::{Duration, SystemTime};

use base64::Engine as _;
use bytes::Bytes;
use http::header::{HeaderName, HeaderValue, CONTENT_LENGTH, CONTENT_TYPE, HOST};
use http::{HeaderMap, Method, Request, StatusCode, Uri};
use http_body_util::{BodyExt as _, Full};
use serde_json::{json, Value};
use trent_sigv4::Signer;

use crate::endpoint::{Connector, Endpoint, Sender};
use crate::BenchError;

/// The JSON 1.1 media type every KMS request and response uses.
pub const CONTENT_TYPE_JSON: &str = "application/x-amz-json-1.1";
const X_AMZ_TARGET: HeaderName = HeaderName::from_static("x-amz-target");
const X_AMZN_ERROR_TYPE: HeaderName = HeaderName::from_static("x-amzn-errortype");
/// Setup calls (CreateKey, the first Encrypt, ...) are single requests: give up on them
/// after this long rather than hang.
pub const SETUP_TIMEOUT: Duration = Duration::from_secs(30);
/// Error bodies kept for reporting are cut to this many bytes.
const ERROR_BODY_LIMIT: usize = 2048;

/// The operation under load.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Op {
    Encrypt,
    Decrypt,
    GenerateDataKey,
    GenerateRandom,
    /// Sign with a SIGN_VERIFY key of `--key-spec`.
    Sign,
    /// GenerateDataKeyPair of `--key-pair-spec` under a symmetric key.
    GenerateDataKeyPair,
    /// A new symmetric key per request: the write path (one durable store write each).
    CreateKey,
}

impl Op {
    /// The AWS operation name, as in `TrentService.<name>`.
    pub fn operation(self) -> &'static str {
        match self {
            Op::Encrypt => "Encrypt",
            Op::Decrypt => "Decrypt",
            Op::GenerateDataKey => "GenerateDataKey",
            Op::GenerateRandom => "GenerateRandom",
            Op::Sign => "Sign",
            Op::GenerateDataKeyPair => "GenerateDataKeyPair",
            Op::CreateKey => "CreateKey",
        }
    }

    /// The command-line spelling, also used in the JSON report.
    pub fn cli_name(self) -> &'static str {
        match self {
            Op::Encrypt => "encrypt",
            Op::Decrypt => "decrypt",
            Op::GenerateDataKey => "generate-data-key",
            Op::GenerateRandom => "generate-random",
            Op::Sign => "sign",
            Op::GenerateDataKeyPair => "generate-data-key-pair",
            Op::CreateKey => "create-key",
        }
    }

    /// Whether the operation runs against a KMS key (GenerateRandom and CreateKey do not).
    pub fn needs_key(self) -> bool {
        !matches!(self, Op::GenerateRandom | Op::CreateKey)
    }

    /// The accepted `--payload-size` range, if the operation uses it: AWS's limits,
    /// Encrypt plaintext and Sign message 1–4096 bytes (Decrypt decrypts such a
    /// ciphertext) and GenerateRandom `NumberOfBytes` 1–1024.
    pub fn payload_range(self) -> Option<std::ops::RangeInclusive<usize>> {
        match self {
            Op::Encrypt | Op::Decrypt | Op::Sign => Some(1..=4096),
            Op::GenerateRandom => Some(1..=1024),
            Op::GenerateDataKey | Op::GenerateDataKeyPair | Op::CreateKey => None,
        }
    }

    /// The KMS key a run creates for itself: (KeySpec, KeyUsage).
    pub fn key_to_create(self, key_spec: &str) -> (&str, &'static str) {
        match self {
            Op::Sign => (key_spec, "SIGN_VERIFY"),
            _ => ("SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT"),
        }
    }
}

/// The key specs a Sign run accepts, with the signing algorithm it uses for each (the
/// first, or the PSS SHA-256 one for RSA, of the algorithms AWS lists for the spec).
pub const SIGNING_SPECS: &[(&str, &str)] = &[
    ("ECC_NIST_P256", "ECDSA_SHA_256"),
    ("ECC_NIST_P384", "ECDSA_SHA_384"),
    ("ECC_NIST_P521", "ECDSA_SHA_512"),
    ("ECC_SECG_P256K1", "ECDSA_SHA_256"),
    ("ECC_NIST_EDWARDS25519", "ED25519_SHA_512"),
    ("RSA_2048", "RSASSA_PSS_SHA_256"),
    ("RSA_3072", "RSASSA_PSS_SHA_256"),
    ("RSA_4096", "RSASSA_PSS_SHA_256"),
    ("ML_DSA_44", "ML_DSA_SHAKE_256"),
    ("ML_DSA_65", "ML_DSA_SHAKE_256"),
    ("ML_DSA_87", "ML_DSA_SHAKE_256"),
    ("SM2", "SM2DSA"),
];

/// AWS's DataKeyPairSpec values.
pub const DATA_KEY_PAIR_SPECS: &[&str] = &[
    "RSA_2048",
    "RSA_3072",
    "RSA_4096",
    "ECC_NIST_P256",
    "ECC_NIST_P384",
    "ECC_NIST_P521",
    "ECC_SECG_P256K1",
    "SM2",
    "ECC_NIST_EDWARDS25519",
];

/// The signing algorithm a Sign run uses with a key spec.
pub fn signing_algorithm(key_spec: &str) -> Option<&'static str> {
    SIGNING_SPECS
        .iter()
        .find(|(spec, _)| *spec == key_spec)
        .map(|(_, alg)| *alg)
}

/// One request, prepared once and sent many times: only the signature changes.
#[derive(Debug, Clone)]
pub struct RequestTemplate {
    pub operation: &'static str,
    target: String,
    target_value: HeaderValue,
    content_length: HeaderValue,
    body: Bytes,
}

impl RequestTemplate {
    pub fn new(operation: &'static str, body: &Value) -> Result<Self, BenchError> {
        let target = format!("TrentService.{operation}");
        let body = Bytes::from(serde_json::to_vec(body).map_err(BenchError::Json)?);
        Ok(Self {
            operation,
            target_value: HeaderValue::try_from(target.as_str()).map_err(http::Error::from)?,
            target,
            content_length: HeaderValue::from(body.len()),
            body,
        })
    }

    pub fn body(&self) -> &Bytes {
        &self.body
    }

    /// The same operation with another body.
    pub fn with_body(&self, body: &Value) -> Result<Self, BenchError> {
        let body = Bytes::from(serde_json::to_vec(body).map_err(BenchError::Json)?);
        Ok(Self {
            operation: self.operation,
            target: self.target.clone(),
            target_value: self.target_value.clone(),
            content_length: HeaderValue::from(body.len()),
            body,
        })
    }
}

/// The `KeyMetadata.KeyId` of a CreateKey response body.
pub fn created_key_id(body: &[u8]) -> Option<String> {
    let reply: Value = serde_json::from_slice(body).ok()?;
    reply["KeyMetadata"]["KeyId"].as_str().map(str::to_owned)
}

/// The request body of the operation under load. `spec` is the key spec of a Sign run's
/// key, or the DataKeyPairSpec of a GenerateDataKeyPair run.
pub fn operation_body(
    op: Op,
    key_id: Option<&str>,
    payload_size: usize,
    ciphertext_blob: Option<&str>,
    spec: &str,
) -> Value {
    match op {
        Op::Encrypt => json!({ "KeyId": key_id, "Plaintext": plaintext(payload_size) }),
        Op::Decrypt => json!({ "KeyId": key_id, "CiphertextBlob": ciphertext_blob }),
        Op::GenerateDataKey => json!({ "KeyId": key_id, "KeySpec": "AES_256" }),
        Op::GenerateRandom => json!({ "NumberOfBytes": payload_size }),
        Op::Sign => json!({
            "KeyId": key_id,
            "Message": plaintext(payload_size),
            "MessageType": "RAW",
            "SigningAlgorithm": signing_algorithm(spec),
        }),
        Op::GenerateDataKeyPair => json!({ "KeyId": key_id, "KeyPairSpec": spec }),
        Op::CreateKey => json!({ "Description": "trent-bench" }),
    }
}

/// A fixed, non-secret plaintext of `size` bytes, base64 as JSON 1.1 blobs are.
fn plaintext(size: usize) -> String {
    let bytes: Vec<u8> = (0..=250u8).cycle().take(size).collect();
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// A response, its body read to the end (so the connection can carry the next request).
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Reply {
    pub fn is_success(&self) -> bool {
        self.status == StatusCode::OK
    }

    /// The exception name of an error reply: the body's `__type` (AWS may prefix it
    /// with a namespace, `com.amazonaws.kms#NotFoundException`), else the
    /// `x-amzn-ErrorType` header, else the HTTP status.
    pub fn error_type(&self) -> String {
        #[derive(serde::Deserialize)]
        struct ErrorBody {
            #[serde(rename = "__type")]
            kind: Option<String>,
        }
        let from_body = serde_json::from_slice::<ErrorBody>(&self.body)
            .ok()
            .and_then(|b| b.kind);
        let from_header = || {
            self.headers
                .get(&X_AMZN_ERROR_TYPE)
                .and_then(|v| v.to_str().ok())
                .map(|v| v.split(':').next().unwrap_or(v).to_owned())
        };
        match from_body.or_else(from_header) {
            Some(kind) if !kind.is_empty() => kind
                .rsplit_once('#')
                .map_or(kind.as_str(), |(_, name)| name)
                .to_owned(),
            _ => format!("HTTP {}", self.status.as_u16()),
        }
    }

    /// The body as text for a report, cut to a readable length.
    pub fn body_excerpt(&self) -> String {
        let end = self.body.len().min(ERROR_BODY_LIMIT);
        let mut text = String::from_utf8_lossy(&self.body[..end]).into_owned();
        if end < self.body.len() {
            text.push_str("...");
        }
        text
    }
}

/// Signs and sends KMS requests to one endpoint.
pub struct Client {
    connector: Connector,
    signer: Signer,
    host_value: HeaderValue,
    content_type: HeaderValue,
}

impl Client {
    pub fn new(connector: Connector, signer: Signer) -> Result<Self, BenchError> {
        let host_value = HeaderValue::try_from(connector.endpoint().authority.as_str())
            .map_err(http::Error::from)?;
        Ok(Self {
            connector,
            signer,
            host_value,
            content_type: HeaderValue::from_static(CONTENT_TYPE_JSON),
        })
    }

    pub fn endpoint(&self) -> &Endpoint {
        self.connector.endpoint()
    }

    pub async fn connect(&self) -> Result<Sender, BenchError> {
        self.connector.connect().await
    }

    /// Builds the signed request for `template` at `now` (`X-Amz-Date` must be current,
    /// so this runs per request; the signer caches the derived signing key).
    pub fn request(
        &self,
        template: &RequestTemplate,
        now: SystemTime,
    ) -> Result<Request<Full<Bytes>>, BenchError> {
        let authority = self.connector.endpoint().authority.as_str();
        let signed = self.signer.sign(
            "POST",
            "/",
            "",
            &[
                ("content-type", CONTENT_TYPE_JSON),
                ("host", authority),
                ("x-amz-target", template.target.as_str()),
            ],
            &template.body,
            now,
        );
        let mut builder = Request::builder()
            .method(Method::POST)
            .uri(Uri::from_static("/"))
            .header(HOST, self.host_value.clone())
            .header(CONTENT_TYPE, self.content_type.clone())
            .header(CONTENT_LENGTH, template.content_length.clone())
            .header(X_AMZ_TARGET, template.target_value.clone());
        for (name, value) in signed {
            builder = builder.header(name, value);
        }
        Ok(builder.body(Full::new(template.body.clone()))?)
    }

    /// One setup call on a connection of its own; a non-200 reply is an error carrying
    /// the exception name and body. Returns the response JSON.
    pub async fn call(&self, operation: &'static str, body: &Value) -> Result<Value, BenchError> {
        let template = RequestTemplate::new(operation, body)?;
        let reply = self.send_once(&template).await?;
        if !reply.is_success() {
            return Err(BenchError::Rejected {
                operation,
                status: reply.status.as_u16(),
                error_type: reply.error_type(),
                body: reply.body_excerpt(),
            });
        }
        serde_json::from_slice(&reply.body).map_err(|_| BenchError::UnexpectedResponse {
            operation,
            reason: "the body is not JSON",
        })
    }

    /// Sends `template` once on a new connection, within [`SETUP_TIMEOUT`].
    pub async fn send_once(&self, template: &RequestTemplate) -> Result<Reply, BenchError> {
        let exchange = async {
            let mut sender = self.connect().await?;
            sender.ready().await.map_err(BenchError::Http)?;
            let request = self.request(template, SystemTime::now())?;
            send(&mut sender, request).await.map_err(BenchError::Http)
        };
        tokio::time::timeout(SETUP_TIMEOUT, exchange)
            .await
            .map_err(|_| BenchError::Timeout {
                operation: template.operation,
            })?
    }

    /// CreateKey for a run given no `--key-id`.
    pub async fn create_key(&self, key_spec: &str, key_usage: &str) -> Result<String, BenchError> {
        let reply = self
            .call(
                "CreateKey",
                &json!({
                    "Description": "trent-bench load-test key (scheduled for deletion after the run)",
                    "KeySpec": key_spec,
                    "KeyUsage": key_usage,
                }),
            )
            .await?;
        reply["KeyMetadata"]["KeyId"]
            .as_str()
            .map(str::to_owned)
            .ok_or(BenchError::UnexpectedResponse {
                operation: "CreateKey",
                reason: "no KeyMetadata.KeyId in the response",
            })
    }

    /// Encrypts the benchmark plaintext once, for a Decrypt run; returns the base64
    /// `CiphertextBlob`.
    pub async fn encrypt_once(
        &self,
        key_id: &str,
        payload_size: usize,
    ) -> Result<String, BenchError> {
        let body = operation_body(Op::Encrypt, Some(key_id), payload_size, None, "");
        let reply = self.call("Encrypt", &body).await?;
        reply["CiphertextBlob"]
            .as_str()
            .map(str::to_owned)
            .ok_or(BenchError::UnexpectedResponse {
                operation: "Encrypt",
                reason: "no CiphertextBlob in the response",
            })
    }

    /// ScheduleKeyDeletion with the shortest window AWS allows (7 days), for the key a
    /// run created itself.
    pub async fn schedule_key_deletion(&self, key_id: &str) -> Result<(), BenchError> {
        self.call(
            "ScheduleKeyDeletion",
            &json!({ "KeyId": key_id, "PendingWindowInDays": 7 }),
        )
        .await
        .map(drop)
    }
}

/// Sends one request on a ready connection and reads the whole response.
pub async fn send(
    sender: &mut Sender,
    request: Request<Full<Bytes>>,
) -> Result<Reply, hyper::Error> {
    let response = sender.send_request(request).await?;
    let (parts, body) = response.into_parts();
    let body = body.collect().await?.to_bytes();
    Ok(Reply {
        status: parts.status,
        headers: parts.headers,
        body,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(status: u16, headers: &[(&str, &str)], body: &str) -> Reply {
        let mut map = HeaderMap::new();
        for (k, v) in headers {
            map.insert(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        Reply {
            status: StatusCode::from_u16(status).unwrap(),
            headers: map,
            body: Bytes::from(body.to_owned()),
        }
    }

    #[test]
    fn error_type_comes_from_the_body_then_the_header_then_the_status() {
        let r = reply(400, &[], r#"{"__type":"NotFoundException","message":"x"}"#);
        assert_eq!(r.error_type(), "NotFoundException");
        let r = reply(
            400,
            &[],
            r#"{"__type":"com.amazonaws.kms#DisabledException"}"#,
        );
        assert_eq!(r.error_type(), "DisabledException");
        let r = reply(
            403,
            &[("x-amzn-ErrorType", "AccessDeniedException:http://internal")],
            "<html/>",
        );
        assert_eq!(r.error_type(), "AccessDeniedException");
        let r = reply(503, &[], "");
        assert_eq!(r.error_type(), "HTTP 503");
        assert!(!r.is_success());
        assert!(reply(200, &[], "{}").is_success());
    }

    #[test]
    fn body_excerpt_is_bounded() {
        let long = "x".repeat(5000);
        let excerpt = reply(500, &[], &long).body_excerpt();
        assert_eq!(excerpt.len(), ERROR_BODY_LIMIT + 3);
        assert!(excerpt.ends_with("..."));
        assert_eq!(reply(500, &[], "short").body_excerpt(), "short");
    }

    #[test]
    fn operation_bodies_follow_the_service_model() {
        let b = operation_body(Op::Encrypt, Some("alias/k"), 3, None, "");
        assert_eq!(b, json!({"KeyId": "alias/k", "Plaintext": "AAEC"}));
        let b = operation_body(Op::Decrypt, Some("k"), 3, Some("Y3Q="), "");
        assert_eq!(b, json!({"KeyId": "k", "CiphertextBlob": "Y3Q="}));
        let b = operation_body(Op::GenerateDataKey, Some("k"), 99, None, "");
        assert_eq!(b, json!({"KeyId": "k", "KeySpec": "AES_256"}));
        let b = operation_body(Op::CreateKey, None, 32, None, "");
        assert_eq!(b, json!({"Description": "trent-bench"}));
        assert!(!Op::CreateKey.needs_key());
        let b = operation_body(Op::GenerateRandom, None, 32, None, "");
        assert_eq!(b, json!({"NumberOfBytes": 32}));
        let b = operation_body(Op::Sign, Some("k"), 3, None, "ML_DSA_65");
        assert_eq!(
            b,
            json!({"KeyId": "k", "Message": "AAEC", "MessageType": "RAW",
                   "SigningAlgorithm": "ML_DSA_SHAKE_256"})
        );
        let b = operation_body(Op::GenerateDataKeyPair, Some("k"), 1, None, "RSA_2048");
        assert_eq!(b, json!({"KeyId": "k", "KeyPairSpec": "RSA_2048"}));
        let plain = plaintext(4096);
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(plain)
            .unwrap();
        assert_eq!(decoded.len(), 4096);
    }

    #[test]
    fn templates_carry_target_and_length() {
        let t = RequestTemplate::new("GenerateRandom", &json!({"NumberOfBytes": 8})).unwrap();
        assert_eq!(t.target, "TrentService.GenerateRandom");
        assert_eq!(t.body().as_ref(), br#"{"NumberOfBytes":8}"#);
        assert_eq!(t.content_length, HeaderValue::from(19usize));
    }
}
