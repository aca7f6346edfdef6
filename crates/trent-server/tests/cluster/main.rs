//! Multi-node tests: several `trent` processes on one PostgreSQL database, the official AWS
//! SDK talking to each. They check what a cluster promises (DESIGN.md, "Guarantees"): a
//! change made through one node takes effect on the others (measured, printed as
//! `PROPAGATION ...`), concurrent writers through different nodes lose nothing, a node
//! killed under load loses no acknowledged write, a database crash makes nodes answer
//! AWS's retryable errors (never a wrong answer) until they recover by themselves, and an
//! SQLite deployment moves to PostgreSQL intact.
//!
//! They need `TRENT_TEST_POSTGRES_URL` (e.g. `postgres://postgres@127.0.0.1:5432/test`):
//! without it each test prints that it was skipped and passes. Each test runs on a fresh
//! database of its own. The nodes, the databases and the SDK clients come from the test kit
//! (`trent-testkit`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod archive;
mod audit;
mod backup;
mod crash;
mod custom_key_stores;
mod import;
mod migrate;
mod propagation;
mod rolling;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// A root key file for a cluster (every node gets a copy).
pub fn new_root_key(dir: &Path) -> PathBuf {
    let path = dir.join("root.key");
    trent_crypto::FileRootKey::create(&path).unwrap();
    path
}

/// Polls `probe` in a tight loop until it returns `true` or `deadline` passes; returns the
/// time it took. Fails the test at the deadline.
pub async fn converges<F, Fut>(what: &str, deadline: Duration, mut probe: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    loop {
        if probe().await {
            let took = start.elapsed();
            eprintln!("PROPAGATION {what}: {took:?}");
            return took;
        }
        assert!(
            start.elapsed() < deadline,
            "{what} did not reach the other node within {deadline:?}"
        );
        tokio::task::yield_now().await;
    }
}
