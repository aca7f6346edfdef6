//! Wrapping key pairs for GetParametersForImport, generated ahead of need.
//!
//! Each GetParametersForImport hands out a fresh RSA key pair, and generating one takes
//! ~75 ms for RSA_2048 and up to seconds for RSA_4096 (BENCHMARKS.md). Once a spec has
//! been asked for, a background thread keeps [`POOL_SIZE`] pairs of it ready, so that the
//! next requests take one at once. A pair is handed out once and never reused; the pool
//! lives in memory only (private keys leave it only sealed, inside import tokens).
//! Plain threads, not the runtime's blocking pool: a shutdown never waits for a pair
//! nobody asked for.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use parking_lot::Mutex;
use trent_crypto::{WrappingKey, WrappingKeySpec};

use crate::error::internal;
use crate::KmsError;

/// Pairs kept ready per spec that has been asked for.
const POOL_SIZE: usize = 2;

#[derive(Default)]
pub(crate) struct WrappingKeyPool {
    ready: Mutex<HashMap<WrappingKeySpec, Vec<WrappingKey>>>,
    /// Specs a refill thread is working on.
    filling: Mutex<HashSet<WrappingKeySpec>>,
}

impl std::fmt::Debug for WrappingKeyPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WrappingKeyPool").finish_non_exhaustive()
    }
}

impl WrappingKeyPool {
    /// A wrapping key pair of `spec` nobody else gets: a ready one, else a fresh one
    /// (generated on the blocking pool); either way the pool is topped up behind it.
    pub(crate) async fn take(
        self: &Arc<Self>,
        spec: WrappingKeySpec,
    ) -> Result<WrappingKey, KmsError> {
        let ready = self.ready.lock().get_mut(&spec).and_then(Vec::pop);
        self.refill(spec);
        match ready {
            Some(key) => Ok(key),
            None => tokio::task::spawn_blocking(move || WrappingKey::generate(spec))
                .await
                .map_err(internal("a key generation task failed"))?
                .map_err(internal("generating a wrapping key")),
        }
    }

    fn refill(self: &Arc<Self>, spec: WrappingKeySpec) {
        if !self.filling.lock().insert(spec) {
            return;
        }
        let pool = Arc::clone(self);
        let spawned = std::thread::Builder::new()
            .name("trent-wrapping-keys".into())
            .spawn(move || {
                while pool.ready.lock().get(&spec).map_or(0, Vec::len) < POOL_SIZE {
                    match WrappingKey::generate(spec) {
                        Ok(key) => pool.ready.lock().entry(spec).or_default().push(key),
                        Err(e) => {
                            tracing::warn!(error = %e, "generating a wrapping key ahead of need");
                            break;
                        }
                    }
                }
                pool.filling.lock().remove(&spec);
            });
        if spawned.is_err() {
            self.filling.lock().remove(&spec);
        }
    }
}
