//! Key pairs generated ahead of need: RSA wrapping keys for GetParametersForImport, and
//! RSA data key pairs for GenerateDataKeyPair(WithoutPlaintext).
//!
//! Each of those requests hands out a fresh RSA key pair, and generating one takes ~75 ms
//! for RSA_2048 and up to seconds for RSA_4096 (BENCHMARKS.md). Once a spec has been asked
//! for, a background thread keeps a bounded number of pairs of it ready, so that the next
//! requests take one at once; past that number they wait for a generation of their own,
//! as before. A pair is handed out once and never reused; a pool lives in memory only
//! (its private keys leave it only sealed: inside import tokens, or encrypted under the
//! caller's KMS key, and are zeroized when dropped). Plain threads, not the runtime's
//! blocking pool: a shutdown never waits for a pair nobody asked for.

use std::collections::{HashMap, HashSet};
use std::hash::Hash;
use std::sync::Arc;

use parking_lot::Mutex;
use trent_crypto::{AsymmetricKeySpec, CryptoError, PrivateKey, WrappingKey, WrappingKeySpec};

use crate::error::internal;
use crate::KmsError;

/// Wrapping key pairs kept ready per spec that has been asked for.
const WRAPPING_POOL_SIZE: usize = 2;
/// RSA_2048 data key pairs kept ready once asked for: a burst of this many is served
/// without waiting; the pool then refills one generation at a time (~75 ms each).
const DATA_KEY_PAIR_POOL_SIZE: usize = 16;
/// RSA_3072 and RSA_4096 data key pairs kept ready: each takes up to seconds of a core to
/// make, which a larger pool would spend in the background after a single request.
const LARGE_DATA_KEY_PAIR_POOL_SIZE: usize = 2;

/// A pool of key pairs of type `K` by spec `S`.
pub(crate) struct KeyPool<S, K> {
    ready: Mutex<HashMap<S, Vec<K>>>,
    /// Specs a refill thread is working on.
    filling: Mutex<HashSet<S>>,
    /// How many pairs of a spec to keep ready.
    size: fn(S) -> usize,
    generate: fn(S) -> Result<K, CryptoError>,
    /// What the pool holds, for its thread's name and its log.
    what: &'static str,
}

/// GetParametersForImport's wrapping key pairs.
pub(crate) type WrappingKeyPool = KeyPool<WrappingKeySpec, WrappingKey>;
/// GenerateDataKeyPair's RSA pairs.
pub(crate) type DataKeyPairPool = KeyPool<AsymmetricKeySpec, PrivateKey>;

impl Default for WrappingKeyPool {
    fn default() -> Self {
        KeyPool::new(
            |_| WRAPPING_POOL_SIZE,
            WrappingKey::generate,
            "wrapping-keys",
        )
    }
}

impl Default for DataKeyPairPool {
    fn default() -> Self {
        let size: fn(AsymmetricKeySpec) -> usize = |spec| match spec {
            AsymmetricKeySpec::Rsa3072 | AsymmetricKeySpec::Rsa4096 => {
                LARGE_DATA_KEY_PAIR_POOL_SIZE
            }
            _ => DATA_KEY_PAIR_POOL_SIZE,
        };
        KeyPool::new(size, PrivateKey::generate, "data-key-pairs")
    }
}

impl<S, K> std::fmt::Debug for KeyPool<S, K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyPool")
            .field("what", &self.what)
            .finish_non_exhaustive()
    }
}

impl<S, K> KeyPool<S, K>
where
    S: Copy + Eq + Hash + Send + 'static,
    K: Send + 'static,
{
    fn new(
        size: fn(S) -> usize,
        generate: fn(S) -> Result<K, CryptoError>,
        what: &'static str,
    ) -> Self {
        KeyPool {
            ready: Mutex::new(HashMap::new()),
            filling: Mutex::new(HashSet::new()),
            size,
            generate,
            what,
        }
    }

    /// A key pair of `spec` nobody else gets: a ready one, else a fresh one (generated on
    /// the blocking pool); either way the pool is topped up behind it.
    pub(crate) async fn take(self: &Arc<Self>, spec: S) -> Result<K, KmsError> {
        let ready = self.ready.lock().get_mut(&spec).and_then(Vec::pop);
        self.refill(spec);
        match ready {
            Some(key) => Ok(key),
            None => self.generate_now(spec).await,
        }
    }

    /// A key pair of `spec` generated for this request alone, on the blocking pool,
    /// without the pool (for specs quick enough not to need one).
    pub(crate) async fn generate_now(&self, spec: S) -> Result<K, KmsError> {
        let generate = self.generate;
        tokio::task::spawn_blocking(move || generate(spec))
            .await
            .map_err(internal("a key generation task failed"))?
            .map_err(internal("generating a key pair"))
    }

    /// How many pairs of `spec` are ready.
    #[cfg(test)]
    pub(crate) fn ready(&self, spec: S) -> usize {
        self.ready.lock().get(&spec).map_or(0, Vec::len)
    }

    fn refill(self: &Arc<Self>, spec: S) {
        if !self.filling.lock().insert(spec) {
            return;
        }
        let pool = Arc::clone(self);
        let spawned = std::thread::Builder::new()
            .name(format!("trent-{}", self.what))
            .spawn(move || {
                while pool.ready.lock().get(&spec).map_or(0, Vec::len) < (pool.size)(spec) {
                    match (pool.generate)(spec) {
                        Ok(key) => pool.ready.lock().entry(spec).or_default().push(key),
                        Err(e) => {
                            tracing::warn!(error = %e, pool = pool.what, "generating a key pair ahead of need");
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

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_pool_hands_out_each_pair_once_and_refills_up_to_its_size() {
        let pool = Arc::new(DataKeyPairPool::default());
        let spec = AsymmetricKeySpec::EccNistP256;
        let first = pool.take(spec).await.unwrap();
        // The refill thread fills the pool up to its size, never past it.
        while pool.ready(spec) < DATA_KEY_PAIR_POOL_SIZE {
            std::thread::yield_now();
        }
        let mut seen = vec![first.public_key().der().to_vec()];
        for _ in 0..DATA_KEY_PAIR_POOL_SIZE + 3 {
            let key = pool.take(spec).await.unwrap();
            let public = key.public_key().der().to_vec();
            assert!(!seen.contains(&public), "a pair handed out twice");
            seen.push(public);
            assert!(pool.ready(spec) <= DATA_KEY_PAIR_POOL_SIZE);
        }
    }
}
