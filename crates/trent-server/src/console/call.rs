//! The console's calls. Each is a real KMS, STS or CloudTrail API request, SigV4-signed
//! with the session's credentials and served by the same stage as a request from the
//! network ([`crate::stage::serve`]: signature check, authorization, the audit event
//! durable before the answer). So the console can do nothing its principal could not do
//! with the AWS CLI, every denial is the API's own `AccessDeniedException` text, and
//! everything it does is on the trail, under the principal's name, with the browser's
//! address as the source (the forwarding headers of a trusted proxy are passed on, so
//! that `aws:SourceIp` and `aws:SecureTransport` are the browser's, as for its page
//! request).

use std::sync::Arc;
use std::time::SystemTime;

use axum::body::Body;
use http::{HeaderName, HeaderValue};
use serde_json::Value;

use crate::cloudtrail::CloudTrailJson;
use crate::http::AppState;
use crate::kms::KmsJson;
use crate::listener::Peer;
use crate::stage::serve;
use crate::sts::StsQuery;

/// The `User-Agent` of the console's calls, as the trail records them.
pub const USER_AGENT: &str = concat!("trent-console/", env!("CARGO_PKG_VERSION"));
/// An answer larger than this is not one the console reads (LookupEvents' 50 events of
/// at most 100 KB each stay well under it).
const MAX_ANSWER: usize = 16 << 20;
/// The headers a trusted proxy names the browser with, passed on to each call.
const FORWARDING: [&str; 3] = ["forwarded", "x-forwarded-for", "x-forwarded-proto"];

/// An API error as the API answered it.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub code: String,
    pub message: String,
}

impl ApiError {
    pub fn is_access_denied(&self) -> bool {
        self.code == "AccessDeniedException" || self.code == "AccessDenied"
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.message.is_empty() {
            f.write_str(&self.code)
        } else {
            write!(f, "{}: {}", self.code, self.message)
        }
    }
}

/// Who a call is made as.
#[derive(Clone)]
pub struct As {
    pub credentials: Arc<trent_sigv4::Credentials>,
    pub region: String,
}

/// Makes API calls on behalf of one browser request.
#[derive(Clone)]
pub struct Api {
    state: Arc<AppState>,
    peer: Peer,
    host: HeaderValue,
    forwarding: Vec<(HeaderName, HeaderValue)>,
}

impl Api {
    /// The calls of a browser request; `None` if its connection has no peer (then nothing
    /// says who asked, and the stage would refuse every call).
    pub fn new(state: Arc<AppState>, parts: &http::request::Parts) -> Option<Api> {
        let peer = parts.extensions.get::<Peer>().copied()?;
        let host = parts
            .headers
            .get(http::header::HOST)
            .cloned()
            .unwrap_or(HeaderValue::from_static("localhost"));
        let forwarding = FORWARDING
            .iter()
            .flat_map(|name| {
                parts
                    .headers
                    .get_all(*name)
                    .iter()
                    .map(|v| (HeaderName::from_static(name), v.clone()))
            })
            .collect();
        Some(Api {
            state,
            peer,
            host,
            forwarding,
        })
    }

    pub fn state(&self) -> &Arc<AppState> {
        &self.state
    }

    /// A KMS operation (`TrentService.<op>`), its answer's JSON.
    pub async fn kms(&self, who: &As, op: &str, body: &Value) -> Result<Value, ApiError> {
        let target = format!("TrentService.{op}");
        let body = serde_json::to_vec(body).map_err(internal)?;
        let headers = [
            ("content-type", crate::kms::CONTENT_TYPE),
            ("x-amz-target", target.as_str()),
        ];
        let (status, answer) = self.send(&KmsJson, who, "kms", &headers, body).await?;
        json_answer(status, &answer)
    }

    /// CloudTrail's LookupEvents, its answer's JSON.
    pub async fn lookup_events(&self, who: &As, body: &Value) -> Result<Value, ApiError> {
        let body = serde_json::to_vec(body).map_err(internal)?;
        let headers = [
            ("content-type", crate::kms::CONTENT_TYPE),
            ("x-amz-target", crate::cloudtrail::TARGET),
        ];
        let (status, answer) = self
            .send(
                &CloudTrailJson,
                who,
                crate::cloudtrail::SIGNING_NAME,
                &headers,
                body,
            )
            .await?;
        json_answer(status, &answer)
    }

    /// An STS action (Query protocol), its answer's XML.
    /// (Zeroized when dropped: AssumeRole's answer holds the session's secret.)
    pub async fn sts(
        &self,
        who: &As,
        params: &[(&str, &str)],
    ) -> Result<zeroize::Zeroizing<String>, ApiError> {
        let mut form = String::from("Version=2011-06-15");
        for (name, value) in params {
            form.push('&');
            form.push_str(&percent_encoding::utf8_percent_encode(name, FORM).to_string());
            form.push('=');
            form.push_str(&percent_encoding::utf8_percent_encode(value, FORM).to_string());
        }
        let headers = [(
            "content-type",
            "application/x-www-form-urlencoded; charset=utf-8",
        )];
        let (status, answer) = self
            .send(&StsQuery, who, "sts", &headers, form.into_bytes())
            .await?;
        let text = zeroize::Zeroizing::new(String::from_utf8_lossy(&answer).into_owned());
        if status == 200 {
            return Ok(text);
        }
        Err(ApiError {
            code: xml_text(&text, "Code").unwrap_or_else(|| format!("HTTP {status}")),
            message: xml_text(&text, "Message").unwrap_or_default(),
        })
    }

    async fn send<P: crate::stage::Protocol>(
        &self,
        protocol: &P,
        who: &As,
        service: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> Result<(u16, axum::body::Bytes), ApiError> {
        let host = self.host.to_str().map_err(internal)?;
        let mut signed_headers: Vec<(&str, &str)> =
            vec![("host", host), ("user-agent", USER_AGENT)];
        signed_headers.extend_from_slice(headers);
        let signer = trent_sigv4::Signer::new((*who.credentials).clone(), &who.region, service);
        let signature = signer.sign("POST", "/", "", &signed_headers, &body, SystemTime::now());
        let mut request = http::Request::post("/");
        for (name, value) in signed_headers.iter() {
            request = request.header(*name, *value);
        }
        for (name, value) in signature {
            request = request.header(name, value);
        }
        for (name, value) in &self.forwarding {
            request = request.header(name, value.clone());
        }
        let mut request = request.body(Body::from(body)).map_err(internal)?;
        request.extensions_mut().insert(self.peer);
        let response = serve(protocol, &self.state, request).await;
        let status = response.status().as_u16();
        let bytes = axum::body::to_bytes(response.into_body(), MAX_ANSWER)
            .await
            .map_err(internal)?;
        // The body as the stage made it: its buffer is zeroized when dropped (an answer may
        // carry a data key, or a role session's secret).
        Ok((status, bytes))
    }
}

/// The characters a form value keeps as they are (`application/x-www-form-urlencoded`).
const FORM: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

fn internal(e: impl std::fmt::Display) -> ApiError {
    tracing::error!(error = %e, "a console call could not be made");
    ApiError {
        code: "KMSInternalException".into(),
        message: String::new(),
    }
}

/// A JSON protocol's answer: the body, or its error envelope.
fn json_answer(status: u16, body: &[u8]) -> Result<Value, ApiError> {
    if status == 200 {
        // An answer the console cannot read is an error, never an empty page.
        return serde_json::from_slice(body).map_err(internal);
    }
    let value: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let code = value["__type"]
        .as_str()
        .map(|t| t.rsplit('#').next().unwrap_or(t).to_owned())
        .unwrap_or_else(|| format!("HTTP {status}"));
    let message = value["message"]
        .as_str()
        .or_else(|| value["Message"].as_str())
        .unwrap_or("")
        .to_owned();
    Err(ApiError { code, message })
}

/// The text of the first `<tag>` element of an XML answer, its entities decoded.
pub fn xml_text(xml: &str, tag: &str) -> Option<String> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let start = xml.find(&open)? + open.len();
    let end = start + xml[start..].find(&close)?;
    Some(
        xml[start..end]
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&quot;", "\"")
            .replace("&apos;", "'")
            .replace("&amp;", "&"),
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn errors_are_read_from_either_envelope() {
        let e = json_answer(
            400,
            br#"{"__type":"AccessDeniedException","message":"User: x is not authorized"}"#,
        )
        .unwrap_err();
        assert_eq!(e.code, "AccessDeniedException");
        assert!(e.is_access_denied());
        assert_eq!(
            e.to_string(),
            "AccessDeniedException: User: x is not authorized"
        );
        let e = json_answer(500, b"").unwrap_err();
        assert_eq!(e.code, "HTTP 500");
        assert_eq!(
            xml_text("<E><Code>A&amp;B</Code></E>", "Code").as_deref(),
            Some("A&B")
        );
        assert_eq!(xml_text("<E></E>", "Code"), None);
    }
}
