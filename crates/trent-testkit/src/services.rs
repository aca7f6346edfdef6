//! An AWS service that calls Trent on its callers' behalf, as S3 calls KMS for SSE-KMS:
//! the forwarded-request header (docs/services.md) and [`S3Service`], a small object store
//! speaking enough of S3's REST API for the AWS CLI's `s3api put-object` and `get-object`.
//!
//! No storage server installable here speaks SSE-KMS to an AWS KMS endpoint (MinIO goes
//! through KES, Ceph RGW through Vault, KMIP or Barbican, Garage has SSE-C only, and
//! LocalStack and moto use their own KMS), so the suite brings this one. It calls Trent
//! exactly as S3 calls KMS: GenerateDataKey (`AES_256`, encryption context
//! `aws:s3:arn` = the object's ARN, `alias/aws/s3` when the caller names no key) on PUT,
//! Decrypt with the same context on GET, each signed with the service's own credentials
//! and carrying the caller's signed request. It checks no signature itself: Trent does,
//! with the caller's key, and refuses the call when it does not verify.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use aws_sdk_kms::error::ProvideErrorMetadata;
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::Client;
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, State};
use axum::response::Response;
use base64::Engine;
use http::{HeaderMap, Method, StatusCode, Uri};
use serde_json::json;

/// The header a configured service identity forwards its caller's request in.
pub const FORWARDED_REQUEST: &str = "x-trent-forwarded-request";

/// The value of [`FORWARDED_REQUEST`] for a request the caller signed: its method, path
/// and query as sent, its headers (`Authorization` among them), and what the service
/// knows besides (the payload's hash when no signed `x-amz-content-sha256` says it; the
/// caller's address).
pub fn forwarded_request(
    method: &str,
    path: &str,
    query: &str,
    headers: &[(String, String)],
    payload_hash: Option<&str>,
    source_ip: Option<&str>,
) -> String {
    let mut v = json!({
        "method": method,
        "path": path,
        "query": query,
        "headers": headers,
    });
    if let Some(h) = payload_hash {
        v["payloadHash"] = h.into();
    }
    if let Some(ip) = source_ip {
        v["sourceIp"] = ip.into();
    }
    base64::engine::general_purpose::STANDARD.encode(v.to_string())
}

/// Adds the forwarded request to one SDK call, before it is signed.
pub fn forwarding<T, E, B>(
    op: aws_sdk_kms::client::customize::CustomizableOperation<T, E, B>,
    forwarded: String,
) -> aws_sdk_kms::client::customize::CustomizableOperation<T, E, B> {
    op.mutate_request(move |req| {
        req.headers_mut()
            .insert(FORWARDED_REQUEST, forwarded.clone());
    })
}

/// One stored object: its ciphertext and what decrypting it needs.
struct Object {
    nonce: [u8; NONCE_LEN],
    ciphertext: Vec<u8>,
    encrypted_data_key: Vec<u8>,
    key_arn: String,
    context: BTreeMap<String, String>,
}

struct Inner {
    kms: Client,
    objects: Mutex<HashMap<String, Arc<Object>>>,
}

/// The test service: an S3-like object store on `127.0.0.1`, every object under SSE-KMS.
pub struct S3Service {
    endpoint: String,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for S3Service {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl S3Service {
    /// Starts the service on a free port; `kms` is its client of Trent, with the service
    /// identity's own credentials.
    pub async fn start(kms: Client) -> S3Service {
        let state = Arc::new(Inner {
            kms,
            objects: Mutex::new(HashMap::new()),
        });
        let app = axum::Router::new()
            .fallback(handle)
            .with_state(state)
            .into_make_service_with_connect_info::<SocketAddr>();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binding the S3 test service");
        let endpoint = format!("http://{}", listener.local_addr().expect("its address"));
        let task = tokio::spawn(async move {
            axum::serve(listener, app)
                .await
                .expect("the S3 test service");
        });
        S3Service { endpoint, task }
    }

    /// `http://127.0.0.1:PORT`
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }
}

async fn handle(
    State(state): State<Arc<Inner>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    // Path-style addressing: /BUCKET/KEY (the key percent-encoded as sent).
    let raw_path = uri.path();
    let Some((bucket, key)) = raw_path
        .strip_prefix('/')
        .and_then(|p| p.split_once('/'))
        .filter(|(b, k)| !b.is_empty() && !k.is_empty())
    else {
        return s3_error(
            StatusCode::BAD_REQUEST,
            "InvalidRequest",
            "path-style /bucket/key only",
        );
    };
    let key = percent_encoding::percent_decode_str(key).decode_utf8_lossy();
    let object_arn = format!("arn:aws:s3:::{bucket}/{key}");
    let forwarded = forwarded_request(
        method.as_str(),
        raw_path,
        uri.query().unwrap_or(""),
        &headers
            .iter()
            .filter_map(|(k, v)| Some((k.as_str().to_owned(), v.to_str().ok()?.to_owned())))
            .collect::<Vec<_>>(),
        None,
        Some(&peer.ip().to_string()),
    );
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let id = format!("{bucket}/{key}");
    match method {
        Method::PUT => {
            let body_sha256 =
                hex::encode(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &body));
            // S3 checks the body against the hash the caller signed.
            if let Some(declared) = header("x-amz-content-sha256") {
                if declared.len() == 64 && declared != body_sha256 {
                    return s3_error(
                        StatusCode::BAD_REQUEST,
                        "XAmzContentSHA256Mismatch",
                        "The provided 'x-amz-content-sha256' header does not match what was computed.",
                    );
                }
            }
            if header("x-amz-server-side-encryption") != Some("aws:kms") {
                return s3_error(
                    StatusCode::BAD_REQUEST,
                    "InvalidRequest",
                    "this test service stores SSE-KMS objects only",
                );
            }
            let key_id = header("x-amz-server-side-encryption-aws-kms-key-id")
                .unwrap_or("alias/aws/s3")
                .to_owned();
            let mut context = BTreeMap::new();
            if let Some(extra) = header("x-amz-server-side-encryption-context") {
                let parsed: Option<BTreeMap<String, String>> =
                    base64::engine::general_purpose::STANDARD
                        .decode(extra)
                        .ok()
                        .and_then(|j| serde_json::from_slice(&j).ok());
                match parsed {
                    Some(p) => context.extend(p),
                    None => {
                        return s3_error(
                            StatusCode::BAD_REQUEST,
                            "InvalidArgument",
                            "x-amz-server-side-encryption-context is not base64 of a JSON object",
                        )
                    }
                }
            }
            context.insert("aws:s3:arn".to_owned(), object_arn);
            let op = state
                .kms
                .generate_data_key()
                .key_id(&key_id)
                .key_spec(aws_sdk_kms::types::DataKeySpec::Aes256)
                .set_encryption_context(Some(context.clone().into_iter().collect()))
                .customize();
            let answer = match forwarding(op, forwarded).send().await {
                Ok(a) => a,
                Err(e) => return kms_error(&e),
            };
            let (Some(plaintext), Some(blob), Some(key_arn)) =
                (answer.plaintext, answer.ciphertext_blob, answer.key_id)
            else {
                return s3_error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "InternalError",
                    "incomplete GenerateDataKey answer",
                );
            };
            // A fresh data key seals this one object only: a fixed nonce never repeats
            // under a key.
            let nonce = [0u8; NONCE_LEN];
            let sealing = LessSafeKey::new(
                UnboundKey::new(&AES_256_GCM, plaintext.as_ref()).expect("a 256-bit data key"),
            );
            let mut ciphertext = body.to_vec();
            sealing
                .seal_in_place_append_tag(
                    Nonce::assume_unique_for_key(nonce),
                    Aad::from(id.as_bytes()),
                    &mut ciphertext,
                )
                .expect("sealing");
            let etag = format!("\"{}\"", &body_sha256[..32]);
            state.objects.lock().unwrap().insert(
                id,
                Arc::new(Object {
                    nonce,
                    ciphertext,
                    encrypted_data_key: blob.into_inner(),
                    key_arn: key_arn.clone(),
                    context,
                }),
            );
            Response::builder()
                .status(StatusCode::OK)
                .header("etag", etag)
                .header("x-amz-server-side-encryption", "aws:kms")
                .header("x-amz-server-side-encryption-aws-kms-key-id", key_arn)
                .body(Body::empty())
                .expect("a response")
        }
        Method::GET => {
            let Some(object) = state.objects.lock().unwrap().get(&id).cloned() else {
                return s3_error(
                    StatusCode::NOT_FOUND,
                    "NoSuchKey",
                    "The specified key does not exist.",
                );
            };
            let op = state
                .kms
                .decrypt()
                .key_id(&object.key_arn)
                .ciphertext_blob(Blob::new(object.encrypted_data_key.clone()))
                .set_encryption_context(Some(object.context.clone().into_iter().collect()))
                .customize();
            let answer = match forwarding(op, forwarded).send().await {
                Ok(a) => a,
                Err(e) => return kms_error(&e),
            };
            let Some(plaintext) = answer.plaintext else {
                return s3_error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "InternalError",
                    "no plaintext",
                );
            };
            let opening = LessSafeKey::new(
                UnboundKey::new(&AES_256_GCM, plaintext.as_ref()).expect("a 256-bit data key"),
            );
            let mut data = object.ciphertext.clone();
            let Ok(clear) = opening.open_in_place(
                Nonce::assume_unique_for_key(object.nonce),
                Aad::from(id.as_bytes()),
                &mut data,
            ) else {
                return s3_error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "InternalError",
                    "the object does not open",
                );
            };
            let clear = clear.to_vec();
            Response::builder()
                .status(StatusCode::OK)
                .header("content-length", clear.len())
                .header("content-type", "binary/octet-stream")
                .header("x-amz-server-side-encryption", "aws:kms")
                .header(
                    "x-amz-server-side-encryption-aws-kms-key-id",
                    &object.key_arn,
                )
                .body(Body::from(clear))
                .expect("a response")
        }
        _ => s3_error(
            StatusCode::METHOD_NOT_ALLOWED,
            "MethodNotAllowed",
            "PUT and GET only",
        ),
    }
}

/// A KMS refusal as S3 answers it: `AccessDenied` (403) for a denial, else
/// `KMS.<error type>` (400), with KMS's message.
fn kms_error<E: ProvideErrorMetadata + std::error::Error + 'static, R: std::fmt::Debug>(
    e: &aws_sdk_kms::error::SdkError<E, R>,
) -> Response {
    let (code, message) = match e.as_service_error() {
        Some(s) => (
            s.code().unwrap_or("Unknown").to_owned(),
            s.message().unwrap_or("").to_owned(),
        ),
        None => (
            "InternalError".to_owned(),
            aws_sdk_kms::error::DisplayErrorContext(e).to_string(),
        ),
    };
    if code == "AccessDeniedException" {
        s3_error(StatusCode::FORBIDDEN, "AccessDenied", &message)
    } else {
        s3_error(StatusCode::BAD_REQUEST, &format!("KMS.{code}"), &message)
    }
}

fn s3_error(status: StatusCode, code: &str, message: &str) -> Response {
    let escape = |s: &str| {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
    };
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{}</Code><Message>{}</Message></Error>",
        escape(code),
        escape(message)
    );
    Response::builder()
        .status(status)
        .header("content-type", "application/xml")
        .body(Body::from(body))
        .expect("a response")
}

/// What a test reads of an S3 error answer.
pub fn s3_error_code(body: &str) -> Option<String> {
    let start = body.find("<Code>")? + "<Code>".len();
    let end = body[start..].find("</Code>")? + start;
    Some(body[start..end].to_owned())
}
