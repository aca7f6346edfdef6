//! Optimistic concurrency: the one helper every version-checked write of the key service
//! goes through.
//!
//! Every node of a cluster writes to the same store, so a change is decided on a read of
//! what it changes and written with a check that what it read is still what is stored (the
//! record's version); the store answers [`StoreError::Conflict`] otherwise, and the change
//! is decided again on a fresh read, so that no writer's change is lost or overwritten.
//! [`KeyService::optimistic`] owns that loop: this node's lock on the key, the attempts and
//! their limit, the pause between them, the cache invalidation once the write has
//! committed, and the one error of an update that never got through. What an attempt
//! reads, decides and writes is the caller's.
//!
//! Write-ahead audit (`write_ahead.rs`) needs nothing from it: an attempt writes through
//! the service's store, which records the intent of that write before the store sees it,
//! so every attempt that writes is announced first, the one that commits included.

use std::future::Future;

use trent_store::{KeyRecord, StoreError};

use crate::error::internal;
use crate::{KeyService, KmsError};

/// How many times an update is decided and written again on a fresh read when another
/// writer got there first.
pub(crate) const MAX_ATTEMPTS: usize = 16;

/// How many stripes of update locks: enough that unrelated keys rarely share one.
const LOCK_STRIPES: usize = 64;

/// Striped locks that serialize this node's updates of one key (see
/// [`KeyService::optimistic`]).
pub(crate) struct UpdateLocks(Vec<tokio::sync::Mutex<()>>);

impl Default for UpdateLocks {
    fn default() -> Self {
        UpdateLocks(
            (0..LOCK_STRIPES)
                .map(|_| tokio::sync::Mutex::new(()))
                .collect(),
        )
    }
}

impl UpdateLocks {
    fn stripe(&self, key_id: &str) -> &tokio::sync::Mutex<()> {
        use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
        let hash = BuildHasherDefault::<DefaultHasher>::default().hash_one(key_id);
        &self.0[(hash % LOCK_STRIPES as u64) as usize]
    }
}

/// Why one attempt of an optimistic update ended without the update's result.
#[derive(Debug)]
pub(crate) enum Retry {
    /// The version-checked write lost to a concurrent change: decide again on a fresh read.
    Conflict,
    /// The update fails with this error, without another attempt.
    Fail(KmsError),
}

impl From<KmsError> for Retry {
    fn from(e: KmsError) -> Self {
        Retry::Fail(e)
    }
}

/// What the key cache forgets once a version-checked write has committed.
pub(crate) enum Invalidate {
    /// The key's cached entry takes the stored record (state, tags, policy, ...) and keeps
    /// its material, unless something was invalidated since the attempt began.
    Record(Box<KeyRecord>),
    /// These keys are read again from the store on their next use (their material, their
    /// rotation schedule, their replicas or their primary changed).
    Keys(Vec<String>),
    /// Everything cached: a deleted key takes its aliases with it.
    All,
}

/// One attempt of [`KeyService::optimistic`]; its write goes through
/// [`Attempt::committed`].
#[derive(Clone, Copy)]
pub(crate) struct Attempt<'s> {
    service: &'s KeyService,
    /// The cache's epoch before the attempt read anything.
    epoch: u64,
    /// What the update does, for the log (e.g. "updating a key").
    what: &'static str,
}

impl Attempt<'_> {
    /// The store's answer to the attempt's version-checked write. Once it has committed the
    /// cache forgets what `invalidate` names, and the stored value is returned; a conflict
    /// is [`Retry::Conflict`]; any other store error fails the update (as
    /// `KMSInternalException`, or the dependency timeout it was). A store error that means
    /// something else to the caller (`NotFound`, `AlreadyExists`) is matched before this.
    pub(crate) fn committed<S>(
        &self,
        written: Result<S, StoreError>,
        invalidate: impl FnOnce(&S) -> Invalidate,
    ) -> Result<S, Retry> {
        match written {
            Ok(stored) => {
                let cache = &self.service.cache;
                match invalidate(&stored) {
                    Invalidate::Record(record) => cache.update_record(*record, self.epoch),
                    Invalidate::Keys(key_ids) => {
                        for key_id in &key_ids {
                            cache.drop_key(key_id);
                        }
                    }
                    Invalidate::All => cache.clear(),
                }
                Ok(stored)
            }
            Err(StoreError::Conflict) => Err(Retry::Conflict),
            Err(e) => Err(Retry::Fail(internal(self.what)(e))),
        }
    }
}

impl KeyService {
    /// Runs `run` (read, decide, write with [`Attempt::committed`]) until it ends
    /// otherwise than by a conflict, at most [`MAX_ATTEMPTS`] times, with a short random
    /// pause after each conflict. `run` reads afresh each time and re-checks what the
    /// change depends on (the key's state, ...). `key_id` is the key whose lock this node's
    /// writers take (for a change of several keys of a multi-Region key, its primary).
    /// An update that conflicts at every attempt is `KMSInternalException`.
    ///
    /// Correctness rests on the store's version check alone (other nodes write too); the
    /// local lock only keeps this node's writers to one key from colliding, so that
    /// conflicts, and their retries, come from other nodes only. `run` must not start
    /// another optimistic update: the lock is not reentrant.
    ///
    /// (`run` returns a future rather than being an async closure: the future of an
    /// `AsyncFnMut` called in a generic function is not yet provably `Send` on stable Rust,
    /// rust-lang/rust#139475, and the key service's futures run on a multi-threaded
    /// runtime.)
    pub(crate) async fn optimistic<'s, T, F, Fut>(
        &'s self,
        key_id: &str,
        what: &'static str,
        mut run: F,
    ) -> Result<T, KmsError>
    where
        F: FnMut(Attempt<'s>) -> Fut,
        Fut: Future<Output = Result<T, Retry>>,
    {
        let _local = self.update_locks.stripe(key_id).lock().await;
        for attempt in 0..MAX_ATTEMPTS {
            let this = Attempt {
                service: self,
                epoch: self.cache.epoch(),
                what,
            };
            match run(this).await {
                Ok(done) => return Ok(done),
                Err(Retry::Conflict) => conflict_backoff(attempt).await,
                Err(Retry::Fail(e)) => return Err(e),
            }
        }
        tracing::error!(
            key_id,
            "giving up {what} after {MAX_ATTEMPTS} concurrent modifications"
        );
        Err(KmsError::Internal)
    }
}

/// A short random pause before retrying a conflicting update, growing with the attempt,
/// so that writers on different nodes do not retry in lockstep.
async fn conflict_backoff(attempt: usize) {
    let cap_micros = 200u64.saturating_mul(1 << attempt.min(6));
    let jitter = trent_crypto::random_array::<8>()
        .map(u64::from_le_bytes)
        .unwrap_or(0);
    tokio::time::sleep(std::time::Duration::from_micros(jitter % cap_micros)).await;
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    use trent_store::Store;
    use trent_wire::CreateKeyRequest;

    use super::*;
    use crate::write_ahead::{scope, testing::Recorder};
    use crate::{Caller, Principal};

    /// A service on a SQLite file holding one key, the store without the service (another
    /// node's writes), and the write-ahead hook the service's writes are announced to.
    struct Fixture {
        service: KeyService,
        other: Arc<dyn Store>,
        hook: Arc<Recorder>,
        key_id: String,
        _dir: tempfile::TempDir,
    }

    async fn fixture() -> Fixture {
        let (service, other, dir) = crate::test_support::sqlite_service("111122223333").await;
        let caller = Caller {
            principal: Principal::from_arn("arn:aws:iam::111122223333:root").unwrap(),
            region: trent_wire::Region::parse("us-east-1").unwrap(),
            access_key_id: "AKIATEST".into(),
            attributes: Default::default(),
        };
        let hook = Arc::new(Recorder::default());
        let created = scope(
            hook.clone(),
            service.create_key(&caller, CreateKeyRequest::default()),
        )
        .await
        .unwrap();
        let key_id = created.key_metadata.unwrap().key_id;
        // Cached, as a key in use is.
        service.load(&key_id).await.unwrap().unwrap();
        hook.intents.lock().clear();
        Fixture {
            service,
            other,
            hook,
            key_id,
            _dir: dir,
        }
    }

    impl Fixture {
        /// Another node changes the key's description (and so its version).
        async fn other_writes(&self, description: &str) {
            let mut record = self.other.key(&self.key_id).await.unwrap().unwrap();
            record.description = description.to_owned();
            self.other.update_key(&record).await.unwrap();
        }

        /// One attempt of this node's update: appends `mine` to the description it reads,
        /// with `meanwhile` run between its read and its version-checked write.
        async fn append(
            &self,
            attempt: Attempt<'_>,
            mine: &str,
            meanwhile: Option<&str>,
        ) -> Result<KeyRecord, Retry> {
            let mut record = self.service.store.key(&self.key_id).await.unwrap().unwrap();
            if let Some(description) = meanwhile {
                self.other_writes(description).await;
            }
            record.description = format!("{}+{mine}", record.description);
            let written = self.service.store.update_key(&record).await;
            attempt.committed(written, |stored| {
                Invalidate::Record(Box::new(stored.clone()))
            })
        }

        fn stored_intents(&self) -> usize {
            self.hook.intents.lock().len()
        }
    }

    #[tokio::test]
    async fn a_conflict_is_decided_again_on_a_fresh_read() {
        let f = &fixture().await;
        let attempts = &AtomicUsize::new(0);
        let stored = scope(
            f.hook.clone(),
            f.service
                .optimistic(&f.key_id, "updating a key", |attempt| async move {
                    let n = attempts.fetch_add(1, Ordering::Relaxed);
                    let meanwhile = (n == 0).then_some("theirs");
                    f.append(attempt, "mine", meanwhile).await
                }),
        )
        .await
        .unwrap();
        assert_eq!(attempts.load(Ordering::Relaxed), 2);
        // The other writer's change is kept: the second attempt read it.
        assert_eq!(stored.description, "theirs+mine");
        let in_store = f.other.key(&f.key_id).await.unwrap().unwrap();
        assert_eq!(in_store.description, "theirs+mine");
        assert_eq!(in_store.version, stored.version);
        // Each attempt's write was announced before it reached the store.
        assert_eq!(f.stored_intents(), 2);
        // The cached key took the stored record.
        let cached = f.service.cache.key(&f.key_id).unwrap();
        assert_eq!(cached.record.version, stored.version);
        assert_eq!(cached.record.description, "theirs+mine");
    }

    #[tokio::test]
    async fn an_update_that_always_conflicts_gives_up_with_one_internal_error() {
        let f = &fixture().await;
        let before = f.service.cache.key(&f.key_id).unwrap().record.clone();
        let attempts = &AtomicUsize::new(0);
        let e = scope(
            f.hook.clone(),
            f.service
                .optimistic(&f.key_id, "updating a key", |attempt| async move {
                    let n = attempts.fetch_add(1, Ordering::Relaxed);
                    let theirs = format!("theirs {n}");
                    f.append(attempt, "mine", Some(&theirs)).await
                }),
        )
        .await
        .unwrap_err();
        assert!(matches!(e, KmsError::Internal), "{e:?}");
        assert_eq!(attempts.load(Ordering::Relaxed), MAX_ATTEMPTS);
        assert_eq!(f.stored_intents(), MAX_ATTEMPTS);
        // Only the other writer's changes are stored; the cache saw no write of this node.
        let in_store = f.other.key(&f.key_id).await.unwrap().unwrap();
        assert_eq!(in_store.description, format!("theirs {}", MAX_ATTEMPTS - 1));
        let cached = f.service.cache.key(&f.key_id).unwrap();
        assert_eq!(cached.record.version, before.version);
    }

    #[tokio::test]
    async fn a_refusal_or_a_store_failure_ends_the_update_at_once() {
        let f = &fixture().await;
        let attempts = &AtomicUsize::new(0);
        let e = f
            .service
            .optimistic(&f.key_id, "updating a key", |_| async move {
                attempts.fetch_add(1, Ordering::Relaxed);
                Err::<(), _>(
                    KmsError::Disabled {
                        arn: "arn:aws:kms:us-east-1:111122223333:key/x".into(),
                    }
                    .into(),
                )
            })
            .await
            .unwrap_err();
        assert!(matches!(e, KmsError::Disabled { .. }), "{e:?}");
        assert_eq!(attempts.load(Ordering::Relaxed), 1);

        // A write whose intent cannot be recorded fails (fail closed), and is not retried.
        let refusing = Arc::new(Recorder {
            refuse: true,
            ..Recorder::default()
        });
        let attempts = &AtomicUsize::new(0);
        let e = scope(
            refusing,
            f.service
                .optimistic(&f.key_id, "updating a key", |attempt| async move {
                    attempts.fetch_add(1, Ordering::Relaxed);
                    f.append(attempt, "mine", None).await
                }),
        )
        .await
        .unwrap_err();
        assert!(matches!(e, KmsError::Internal), "{e:?}");
        assert_eq!(attempts.load(Ordering::Relaxed), 1);
        let in_store = f.other.key(&f.key_id).await.unwrap().unwrap();
        assert_eq!(in_store.version, 1);
    }

    #[tokio::test]
    async fn this_nodes_writers_to_one_key_take_turns() {
        let f = &fixture().await;
        let attempts = &AtomicUsize::new(0);
        let update = |mine: &'static str| {
            f.service
                .optimistic(&f.key_id, "updating a key", move |attempt| async move {
                    attempts.fetch_add(1, Ordering::Relaxed);
                    f.append(attempt, mine, None).await
                })
        };
        let (a, b) = scope(f.hook.clone(), async {
            tokio::join!(update("a"), update("b"))
        })
        .await;
        a.unwrap();
        b.unwrap();
        // Without the local lock both would read the same version and one would conflict.
        assert_eq!(attempts.load(Ordering::Relaxed), 2);
        let in_store = f.other.key(&f.key_id).await.unwrap().unwrap();
        assert_eq!(in_store.description, "+a+b");
    }
}
