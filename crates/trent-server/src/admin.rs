//! The admin listener (`--admin-listen`, by default `127.0.0.1:4598`): `GET /metrics`
//! (Prometheus's text format, [`crate::telemetry`]), `GET /healthz` (the process serves)
//! and `GET /readyz` (the store answers, the audit trail is writable, the root of trust
//! seals and opens, and the server is not shutting down: 200, else 503 with the
//! reasons). Plain HTTP and unauthenticated, as
//! scrapers and probes expect: it says how Trent is doing, never what a key holds, and it
//! listens on loopback unless the operator says the network is trusted.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use crate::AppState;

/// Each readiness check must answer within this.
pub const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

pub fn app(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(state)
}

async fn metrics() -> Response {
    match crate::telemetry::render() {
        Some(text) => (
            [(
                header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            )],
            text,
        )
            .into_response(),
        None => (StatusCode::SERVICE_UNAVAILABLE, "metrics are not set up\n").into_response(),
    }
}

async fn healthz() -> Response {
    (StatusCode::OK, "ok\n").into_response()
}

/// Runs one check within [`CHECK_TIMEOUT`], timing it.
async fn check<F>(name: &'static str, work: F) -> (&'static str, Result<(), String>)
where
    F: std::future::Future<Output = Result<(), String>>,
{
    let started = Instant::now();
    let result = match tokio::time::timeout(CHECK_TIMEOUT, work).await {
        Ok(r) => r,
        Err(_) => Err(format!("no answer within {CHECK_TIMEOUT:?}")),
    };
    metrics::histogram!("trent_readiness_check_duration_seconds", "check" => name)
        .record(started.elapsed().as_secs_f64());
    (name, result)
}

/// The reasons Trent is not ready, empty if it is.
pub async fn not_ready(state: &AppState) -> Vec<(&'static str, String)> {
    if state.lifecycle.draining() {
        return vec![("shutdown", "the server is shutting down".to_owned())];
    }
    let audit = state.audit.log.clone();
    let (store, root_key, audit) = tokio::join!(
        check("store", state.service.check_store()),
        check("root_key", state.service.check_root_key()),
        check("audit", async move { audit.health() }),
    );
    let mut failed: Vec<(&'static str, String)> = [store, root_key, audit]
        .into_iter()
        .filter_map(|(name, r)| r.err().map(|e| (name, e)))
        .collect();
    if let Some(reason) = state.disk.reason() {
        failed.push(("disk", reason));
    }
    failed
}

async fn readyz(State(state): State<Arc<AppState>>) -> Response {
    let failed = not_ready(&state).await;
    metrics::gauge!("trent_ready").set(if failed.is_empty() { 1.0 } else { 0.0 });
    if failed.is_empty() {
        return (StatusCode::OK, "ready\n").into_response();
    }
    let mut body = String::from("not ready\n");
    for (name, reason) in &failed {
        tracing::warn!(check = name, %reason, "not ready");
        body.push_str(&format!("{name}: {reason}\n"));
    }
    (StatusCode::SERVICE_UNAVAILABLE, body).into_response()
}
