//! The web console at `/console/` on the KMS listener: keys, key policies, rotation,
//! deletion and the audit trail in a browser.
//!
//! - **Every action is an API call** made as the signed-in principal ([`call`]): the pages
//!   hold no authority of their own, and a denied call shows AWS's `AccessDenied` text.
//! - **Sessions are the server's** ([`session`]): after sign-in the browser holds only an
//!   `HttpOnly`, `Secure`, `SameSite=Strict` cookie; forms that change something carry a
//!   CSRF token; a session ends after 15 idle minutes. Sign-in is refused over plain HTTP
//!   from anywhere but the machine itself (the session cookie would travel in clear).
//! - **Server-rendered HTML** ([`views`], maud: compile-time templates, escaped by
//!   default), plain forms that work without script, one stylesheet shipped inside the
//!   binary, and a Content-Security-Policy that allows nothing from another origin and no
//!   inline script or style. Why not a single-page app: every page is a few API calls
//!   the server makes anyway (it holds the credentials), so rendering there needs no
//!   JSON API of its own, no build step and no JavaScript toolchain, and the pages stay
//!   small, fast and readable by screen readers as plain HTML.
//!
//! It must never send the principal's secret (or a role session's) to the browser, and
//! never act but through the API.

pub mod call;
mod charts;
mod keys;
pub mod session;
mod stores;
mod trail;
mod views;

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Body;
use axum::response::Response;
use http::{header, HeaderValue, Method, StatusCode};
use maud::Markup;

use crate::http::AppState;
use call::{Api, As};
use session::{Current, Flash};

/// Where the console is served.
pub const PREFIX: &str = "/console";
/// The Content-Security-Policy of every console response: this origin's stylesheet and
/// images, no script at all, forms posting only here, no framing.
pub const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self'; \
     form-action 'self'; frame-ancestors 'none'; base-uri 'none'";
/// The largest form the console takes (a 32 KB key policy, percent-encoded).
const MAX_FORM: usize = 160 * 1024;

const STYLESHEET: &str = include_str!("assets/console.css");

/// Whether a request's path is the console's.
pub fn routes(path: &str) -> bool {
    path == PREFIX || path.starts_with("/console/")
}

/// Serves a console request.
pub async fn handle(state: Arc<AppState>, request: http::Request<Body>) -> Response {
    let (parts, body) = request.into_parts();
    let path = parts.uri.path().to_owned();
    let sub = path.strip_prefix(PREFIX).unwrap_or("");
    let query = parse_query(parts.uri.query().unwrap_or(""));
    if sub == "/assets/console.css" && parts.method == Method::GET {
        return asset(STYLESHEET, "text/css; charset=utf-8");
    }
    let Some(api) = Api::new(state.clone(), &parts) else {
        return error_page(StatusCode::INTERNAL_SERVER_ERROR, "No client address.");
    };
    let now = state.service.clock().now();
    let form = if parts.method == Method::POST {
        match axum::body::to_bytes(body, MAX_FORM).await {
            Ok(bytes) => {
                // Zeroized on drop, as the form is: it may carry a secret access key.
                let bytes = crate::zeroizing::RequestBody::new(bytes);
                match crate::sts::parse_form(&bytes) {
                    Ok(form) => Form(form),
                    Err(_) => {
                        return error_page(StatusCode::BAD_REQUEST, "The form cannot be read.")
                    }
                }
            }
            Err(_) => return error_page(StatusCode::PAYLOAD_TOO_LARGE, "The form is too large."),
        }
    } else {
        Form::default()
    };
    match (&parts.method, sub) {
        (&Method::GET, "/sign-in") => return sign_in_page(&parts, None),
        (&Method::POST, "/sign-in") => return sign_in(&api, &parts, &form, now).await,
        _ => {}
    }
    // Everything else is for a signed-in principal.
    let current = session::cookie(&parts.headers, session::COOKIE)
        .and_then(|token| state.console.touch(token, now));
    let Some(current) = current else {
        return redirect("/console/sign-in");
    };
    if parts.method == Method::POST {
        let given = form.get("csrf").map(String::as_str).unwrap_or("");
        if !current.csrf_matches(given) {
            return error_page(
                StatusCode::FORBIDDEN,
                "The form is not from this session (its CSRF token does not match). Reload the page and try again.",
            );
        }
    }
    let page = Page {
        api,
        who: As {
            credentials: current.principal.credentials.clone(),
            region: current.principal.region.clone(),
        },
        current,
        query,
        form,
    };
    match (&parts.method, sub) {
        (&Method::GET, "" | "/") => redirect("/console/keys"),
        (&Method::POST, "/sign-out") => {
            page.api.state().console.end(&page.current);
            let mut response = redirect("/console/sign-in");
            set_cookie(&mut response, &session::clear_cookie(session::COOKIE));
            response
        }
        (&Method::POST, "/region") => {
            let region = page.field("region").trim();
            if !trent_wire::ids::is_region_name(region) {
                return page.done(
                    "/console/keys",
                    false,
                    format!("{region} is not a region name."),
                );
            }
            page.api.state().console.set_region(&page.current, region);
            page.done(
                "/console/keys",
                true,
                format!("The console now works in {region}."),
            )
        }
        (&Method::GET, "/keys") => keys::list(&page).await,
        (&Method::GET, "/keys/new") => keys::new_key_page(&page, None),
        (&Method::POST, "/keys/new") => match page.field("step") {
            "review" => keys::review_page(&page),
            "edit" => keys::new_key_page(&page, None),
            _ => keys::create(&page).await,
        },
        (&Method::GET, "/audit") => trail::history(&page).await,
        (&Method::GET, "/custom-key-stores") => stores::list(&page).await,
        (&Method::POST, "/custom-key-stores/create") => stores::create(&page).await,
        (&Method::POST, "/custom-key-stores/connect") => stores::act(&page, "connect").await,
        (&Method::POST, "/custom-key-stores/disconnect") => stores::act(&page, "disconnect").await,
        (&Method::GET, "/audit/event") => trail::event(&page).await,
        (method, sub) => match sub.strip_prefix("/keys/") {
            Some(rest) => match (method, rest.split_once('/')) {
                (&Method::GET, None) => keys::detail(&page, rest, None).await,
                (&Method::GET, Some((key, "public-key.pem"))) => {
                    keys::public_key_download(&page, key).await
                }
                (&Method::POST, Some((key, action))) => keys::act(&page, key, action).await,
                _ => not_found(&page),
            },
            None => not_found(&page),
        },
    }
}

/// A posted form, zeroized when dropped: it may carry a secret access key, a key policy
/// or wrapped key material.
#[derive(Default)]
pub struct Form(BTreeMap<String, String>);

impl std::ops::Deref for Form {
    type Target = BTreeMap<String, String>;

    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl Drop for Form {
    fn drop(&mut self) {
        use zeroize::Zeroize as _;
        for (mut name, mut value) in std::mem::take(&mut self.0) {
            name.zeroize();
            value.zeroize();
        }
    }
}

/// What a signed-in request's handler has.
pub struct Page {
    pub api: Api,
    pub who: As,
    pub current: Current,
    pub query: BTreeMap<String, String>,
    pub form: Form,
}

impl Page {
    pub async fn kms(
        &self,
        op: &str,
        body: serde_json::Value,
    ) -> Result<serde_json::Value, call::ApiError> {
        self.api.kms(&self.who, op, &body).await
    }

    pub fn query(&self, name: &str) -> &str {
        self.query.get(name).map(String::as_str).unwrap_or("")
    }

    pub fn field(&self, name: &str) -> &str {
        self.form.get(name).map(String::as_str).unwrap_or("")
    }

    /// Redirects with a message for the next page.
    pub fn done(&self, to: &str, ok: bool, text: impl Into<String>) -> Response {
        self.api.state().console.flash(
            &self.current,
            Flash {
                ok,
                text: text.into(),
            },
        );
        redirect(to)
    }

    pub fn html(&self, title: &str, body: Markup) -> Response {
        html(StatusCode::OK, views::layout(title, Some(self), body))
    }
}

async fn sign_in(
    api: &Api,
    parts: &http::request::Parts,
    form: &BTreeMap<String, String>,
    now: std::time::SystemTime,
) -> Response {
    let field = |name: &str| form.get(name).map(String::as_str).unwrap_or("").trim();
    // Login CSRF: the form's token must be the one its page set in a cookie.
    let cookie = session::cookie(&parts.headers, session::SIGN_IN_COOKIE).unwrap_or("");
    if cookie.is_empty() || !session::csrf_equal(cookie, field("csrf")) {
        return sign_in_page(
            parts,
            Some("The sign-in form expired. Try again.".to_owned()),
        );
    }
    if !secure_enough(api, parts) {
        return sign_in_page(
            parts,
            Some("The console signs in over HTTPS only (or from this machine): the session cookie would cross the network in clear. Enable TLS (--tls-cert, --tls-key).".to_owned()),
        );
    }
    let region = match field("region") {
        "" => "us-east-1",
        r => r,
    };
    if !trent_wire::ids::is_region_name(region) {
        return sign_in_page(parts, Some(format!("{region} is not a region name.")));
    }
    let who = As {
        credentials: Arc::new(trent_sigv4::Credentials {
            access_key_id: field("access_key_id").to_owned(),
            secret_access_key: trent_sigv4::SecretKey::new(
                form.get("secret_access_key")
                    .map(String::as_str)
                    .unwrap_or(""),
            ),
            session_token: None,
        }),
        region: region.to_owned(),
    };
    // Who these credentials are: STS GetCallerIdentity, signed with them (a wrong secret
    // is the API's own refusal).
    let identity = match api.sts(&who, &[("Action", "GetCallerIdentity")]).await {
        Ok(xml) => xml,
        Err(e) => return sign_in_page(parts, Some(e.to_string())),
    };
    let user_arn = call::xml_text(&identity, "Arn").unwrap_or_default();
    let account = call::xml_text(&identity, "Account").unwrap_or_default();
    if user_arn.is_empty() || account.is_empty() {
        return sign_in_page(parts, Some("KMSInternalException".to_owned()));
    }
    let new = match field("role_arn") {
        "" => session::NewSession {
            principal: session::Principal {
                arn: user_arn,
                account,
                region: region.to_owned(),
                credentials: who.credentials.clone(),
                signed_in_as: None,
            },
            expires: None,
        },
        role_arn => {
            let session_name = user_arn.rsplit('/').next().unwrap_or("console").to_owned();
            let xml = match api
                .sts(
                    &who,
                    &[
                        ("Action", "AssumeRole"),
                        ("RoleArn", role_arn),
                        ("RoleSessionName", &session_name),
                    ],
                )
                .await
            {
                Ok(xml) => xml,
                Err(e) => return sign_in_page(parts, Some(e.to_string())),
            };
            let (Some(key), Some(secret), Some(token), Some(arn), Some(expiration)) = (
                call::xml_text(&xml, "AccessKeyId"),
                call::xml_text(&xml, "SecretAccessKey"),
                call::xml_text(&xml, "SessionToken"),
                call::xml_text(&xml, "Arn"),
                call::xml_text(&xml, "Expiration"),
            ) else {
                return sign_in_page(parts, Some("KMSInternalException".to_owned()));
            };
            let Ok(expires) = time::OffsetDateTime::parse(
                &expiration,
                &time::format_description::well_known::Rfc3339,
            ) else {
                return sign_in_page(parts, Some("KMSInternalException".to_owned()));
            };
            session::NewSession {
                principal: session::Principal {
                    arn,
                    account,
                    region: region.to_owned(),
                    credentials: Arc::new(trent_sigv4::Credentials {
                        access_key_id: key,
                        secret_access_key: trent_sigv4::SecretKey::new(secret),
                        session_token: Some(token),
                    }),
                    signed_in_as: Some(user_arn),
                },
                expires: Some(std::time::SystemTime::from(expires)),
            }
        }
    };
    let Some(token) = api.state().console.create(new, now) else {
        return sign_in_page(parts, Some("KMSInternalException".to_owned()));
    };
    let mut response = redirect("/console/keys");
    set_cookie(&mut response, &session::set_cookie(session::COOKIE, &token));
    set_cookie(
        &mut response,
        &session::clear_cookie(session::SIGN_IN_COOKIE),
    );
    response
}

/// Whether a session cookie may be set for this request: it came over TLS (to Trent, or to
/// a trusted proxy that said so), or from this machine to a loopback address. (A proxy on
/// this machine that is not among the trusted ones connects from loopback too, but the
/// browser's `Host` then names the proxy's public name: refused.)
fn secure_enough(api: &Api, parts: &http::request::Parts) -> bool {
    let Some(peer) = parts.extensions.get::<crate::listener::Peer>().copied() else {
        return false;
    };
    match api.state().proxies.client(peer, &parts.headers) {
        Ok(client) if client.secure_transport => true,
        Ok(client) => client.ip.is_loopback() && is_loopback_host(&parts.headers),
        Err(_) => false,
    }
}

/// Whether the request's `Host` is a loopback name (`localhost`, `127.x.x.x`, `[::1]`),
/// with or without a port.
fn is_loopback_host(headers: &http::HeaderMap) -> bool {
    let Some(host) = headers.get(header::HOST).and_then(|h| h.to_str().ok()) else {
        return false;
    };
    let name = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => host.rsplit_once(':').map_or(host, |(name, _)| name),
    };
    name.eq_ignore_ascii_case("localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

fn sign_in_page(parts: &http::request::Parts, error: Option<String>) -> Response {
    let Some(token) = session::random_token() else {
        return error_page(StatusCode::INTERNAL_SERVER_ERROR, "No randomness.");
    };
    let region = parse_query(parts.uri.query().unwrap_or(""))
        .remove("region")
        .unwrap_or_else(|| "us-east-1".to_owned());
    let status = if error.is_some() {
        StatusCode::UNAUTHORIZED
    } else {
        StatusCode::OK
    };
    let mut response = html(status, views::sign_in(&token, &region, error.as_deref()));
    set_cookie(
        &mut response,
        &session::set_cookie(session::SIGN_IN_COOKIE, &token),
    );
    response
}

fn not_found(page: &Page) -> Response {
    let mut response = page.html("Not found", views::not_found());
    *response.status_mut() = StatusCode::NOT_FOUND;
    response
}

/// An HTML response with the console's security headers.
pub fn html(status: StatusCode, markup: Markup) -> Response {
    let mut response = Response::new(Body::from(markup.into_string()));
    *response.status_mut() = status;
    secure_headers(&mut response, "text/html; charset=utf-8");
    response
}

fn error_page(status: StatusCode, message: &str) -> Response {
    html(status, views::error(message))
}

fn asset(text: &'static str, content_type: &'static str) -> Response {
    let mut response = Response::new(Body::from(text));
    secure_headers(&mut response, content_type);
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    response
}

/// A file to save (`Content-Disposition: attachment`), with the console's security
/// headers. `filename` is the console's own (a key id), never the caller's text.
pub fn download(body: String, content_type: &'static str, filename: &str) -> Response {
    let mut response = Response::new(Body::from(body));
    secure_headers(&mut response, content_type);
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{filename}\"")) {
        response
            .headers_mut()
            .insert(header::CONTENT_DISPOSITION, v);
    }
    response
}

fn secure_headers(response: &mut Response, content_type: &'static str) {
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(
        "cross-origin-opener-policy",
        HeaderValue::from_static("same-origin"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
}

fn set_cookie(response: &mut Response, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
}

/// A `303 See Other` (after a form, the browser GETs the next page).
pub fn redirect(to: &str) -> Response {
    let mut response = Response::new(Body::empty());
    *response.status_mut() = StatusCode::SEE_OTHER;
    if let Ok(v) = HeaderValue::from_str(to) {
        response.headers_mut().insert(header::LOCATION, v);
    }
    secure_headers(&mut response, "text/html; charset=utf-8");
    response
}

/// A query string's parameters (later duplicates win).
fn parse_query(query: &str) -> BTreeMap<String, String> {
    crate::sts::parse_form(query.as_bytes()).unwrap_or_default()
}

/// A path segment or query value, percent-encoded.
pub fn encode(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_names_count_as_this_machine() {
        let host = |h: &str| {
            let mut headers = http::HeaderMap::new();
            headers.insert(
                header::HOST,
                HeaderValue::from_str(h).unwrap_or(HeaderValue::from_static("x")),
            );
            is_loopback_host(&headers)
        };
        for yes in [
            "localhost",
            "localhost:4599",
            "127.0.0.1:4599",
            "127.1.2.3",
            "[::1]:4599",
            "[::1]",
        ] {
            assert!(host(yes), "{yes}");
        }
        for no in [
            "kms.example.com",
            "kms.example.com:443",
            "10.0.0.5:4599",
            "[2001:db8::1]:4599",
            "localhost.example.com",
        ] {
            assert!(!host(no), "{no}");
        }
        assert!(!is_loopback_host(&http::HeaderMap::new()));
    }
}
