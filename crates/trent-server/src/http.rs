//! The HTTP front: one route, which picks the protocol a request speaks from its method,
//! path and headers and hands it to the one stage every protocol shares
//! ([`crate::stage::serve`]: request id, body cap, SigV4, audit, timing), or to the web
//! console (`/console/`, whose pages make their API calls through that same stage).

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::response::Response;
use axum::Router;
use http::Method;
use trent_core::KeyService;

use crate::auth::{Authenticator, Sessions, SharedDirectory};
use crate::cloudtrail::CloudTrailJson;
use crate::kms::KmsJson;
use crate::stage::serve;
use crate::sts::StsQuery;
use crate::test_clock::TestClockApi;
use crate::xks::{SharedXks, XksApi};

pub struct AppState {
    pub service: Arc<KeyService>,
    pub auth: Authenticator,
    /// SigV4 for the CloudTrail API (its own signing name).
    pub cloudtrail_auth: Authenticator,
    /// SigV4 for STS (its own signing name).
    pub sts_auth: Authenticator,
    /// The identities in force (replaced on SIGHUP).
    pub directory: SharedDirectory,
    pub sessions: Arc<Sessions>,
    pub max_body_bytes: usize,
    /// The proxies whose forwarding headers name a request's client.
    pub proxies: crate::network::Proxies,
    pub audit: crate::audit::Trail,
    /// `--dev-test-clock` (testing only): the movable clock and its endpoint.
    pub test_clock: Option<crate::test_clock::TestClock>,
    /// `--dev-reset` (testing only): the reset endpoint.
    pub test_reset: bool,
    /// The disk watermark: state-changing requests refused while it is low.
    pub disk: std::sync::Arc<crate::disk::DiskGuard>,
    /// Draining or stopping (SIGTERM): readiness says so.
    pub lifecycle: std::sync::Arc<crate::listener::Lifecycle>,
    /// The web console's sessions.
    pub console: crate::console::session::Sessions,
}

pub fn app(state: Arc<AppState>) -> Router {
    Router::new().fallback(handle).with_state(state)
}

/// The XKS proxy listener's app: every request goes to the XKS proxy API
/// ([`crate::xks`]), through the same stage (and audit trail) as the KMS listener's.
pub fn xks_app(state: Arc<AppState>, xks: SharedXks) -> Router {
    Router::new().fallback(handle_xks).with_state((state, xks))
}

async fn handle_xks(
    State((state, xks)): State<(Arc<AppState>, SharedXks)>,
    request: http::Request<Body>,
) -> Response {
    // The key stores in force when the request arrived (SIGHUP may replace them).
    let xks = xks.read().clone();
    serve(&XksApi(&xks), &state, request).await
}

/// Routes a request to its protocol. Only the method, path and headers decide (the body is
/// read by the stage, under the protocol's envelope for its errors).
async fn handle(State(state): State<Arc<AppState>>, request: http::Request<Body>) -> Response {
    let (method, path) = (request.method(), request.uri().path());
    if let Some(clock) = &state.test_clock {
        // Testing only: signed and audited like any request, for an administrator only.
        if path == crate::test_clock::PATH && (method == Method::GET || method == Method::POST) {
            return serve(&TestClockApi(clock), &state, request).await;
        }
    }
    if state.test_reset && crate::test_reset::routes(method, path) {
        // Testing only: signed and audited like any request, for an account's root only.
        return serve(&crate::test_reset::TestResetApi, &state, request).await;
    }
    // The web console: pages for a browser, each action an API call through the stage.
    if crate::console::routes(path) {
        return crate::console::handle(state, request).await;
    }
    // STS answers in its own (XML) envelope, errors before the body is read included.
    if crate::sts::is_sts_request(request.headers()) {
        return serve(&StsQuery, &state, request).await;
    }
    let target = request
        .headers()
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok());
    if method == Method::POST && path == "/" && target == Some(crate::cloudtrail::TARGET) {
        return serve(&CloudTrailJson, &state, request).await;
    }
    serve(&KmsJson, &state, request).await
}
