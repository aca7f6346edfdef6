//! GetKeyLastUsage's bookkeeping: the last successful cryptographic use of each key,
//! recorded in memory on the hot path (a sharded map, no store write per request) and
//! flushed to the store in batches: every few seconds, when the jobs are woken, and at
//! graceful shutdown.
//!
//! The bound on loss: a process killed without a graceful shutdown (kill -9, power loss)
//! loses the uses recorded since its last flush, at most [`FLUSH_EVERY`] of them; the key
//! then reports an earlier use (or none), never a wrong one.

use std::collections::HashMap;
use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
use std::time::Duration;

use parking_lot::Mutex;
use trent_store::KeyUsageRecord;

/// How often the pending uses are written to the store.
pub const FLUSH_EVERY: Duration = Duration::from_secs(2);

const SHARDS: usize = 32;

/// The operations whose use GetKeyLastUsage reports (`KeyLastUsageTrackingOperation`).
pub const TRACKED_OPERATIONS: &[&str] = &[
    "Decrypt",
    "DeriveSharedSecret",
    "Encrypt",
    "GenerateDataKey",
    "GenerateDataKeyPair",
    "GenerateDataKeyPairWithoutPlaintext",
    "GenerateDataKeyWithoutPlaintext",
    "GenerateMac",
    "ReEncrypt",
    "Sign",
    "Verify",
    "VerifyMac",
];

/// Uses not yet flushed, by key id; only the latest use of a key is kept.
#[derive(Debug)]
pub(crate) struct UsageTracker {
    shards: Vec<Mutex<HashMap<String, KeyUsageRecord>>>,
}

impl Default for UsageTracker {
    fn default() -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
        }
    }
}

impl UsageTracker {
    fn shard(&self, key_id: &str) -> &Mutex<HashMap<String, KeyUsageRecord>> {
        let hash = BuildHasherDefault::<DefaultHasher>::default().hash_one(key_id);
        &self.shards[(hash % SHARDS as u64) as usize]
    }

    /// Keeps `usage` unless a later use of its key is already pending.
    pub fn record(&self, usage: KeyUsageRecord) {
        let mut shard = self.shard(&usage.key_id).lock();
        match shard.get(&usage.key_id) {
            Some(existing) if existing.used_at > usage.used_at => {}
            _ => {
                shard.insert(usage.key_id.clone(), usage);
            }
        }
    }

    pub fn pending(&self, key_id: &str) -> Option<KeyUsageRecord> {
        self.shard(key_id).lock().get(key_id).cloned()
    }

    /// Takes every pending use (to flush).
    pub fn drain(&self) -> Vec<KeyUsageRecord> {
        let mut out = Vec::new();
        for shard in &self.shards {
            out.extend(shard.lock().drain().map(|(_, u)| u));
        }
        out
    }

    /// Puts back uses whose flush failed (later uses recorded meanwhile win).
    pub fn restore(&self, uses: Vec<KeyUsageRecord>) {
        for u in uses {
            self.record(u);
        }
    }

    /// Forgets a deleted key's pending use.
    pub fn forget(&self, key_id: &str) {
        self.shard(key_id).lock().remove(key_id);
    }
}

impl crate::KeyService {
    /// Records a successful cryptographic use of a key (`key` is its ARN or id) by
    /// `operation`, with its audit event and request ids. Memory only: the flusher writes
    /// it to the store. Operations GetKeyLastUsage does not track are ignored.
    pub fn note_key_usage(
        &self,
        key: &str,
        operation: &str,
        event_id: Option<&str>,
        request_id: Option<&str>,
    ) {
        if !TRACKED_OPERATIONS.contains(&operation) {
            return;
        }
        // Usage is kept per region-key: an ARN names a multi-Region key's region-key by
        // its region (`arn:PARTITION:kms:REGION:ACCOUNT:key/ID`).
        let key_id = match key.rsplit_once(":key/") {
            Some((prefix, id)) => {
                let region = prefix.split(':').nth(3).unwrap_or_default();
                crate::ids::StorageKeyId::named(id, region).into_string()
            }
            None => key.to_owned(),
        };
        self.usage.record(KeyUsageRecord {
            key_id,
            operation: operation.to_owned(),
            used_at: self.clock.now_millis(),
            event_id: event_id.map(str::to_owned),
            request_id: request_id.map(str::to_owned),
        });
    }

    /// Writes the pending uses to the store (one transaction); on failure they stay
    /// pending for the next flush.
    pub async fn flush_key_usage(&self) -> Result<usize, crate::KmsError> {
        let pending = self.usage.drain();
        if pending.is_empty() {
            return Ok(0);
        }
        match self.store.record_key_usage(&pending).await {
            Ok(()) => Ok(pending.len()),
            Err(e) => {
                let n = pending.len();
                self.usage.restore(pending);
                Err(crate::error::internal("flushing key usage")(format!(
                    "{n} pending: {e}"
                )))
            }
        }
    }

    /// The last use of a key: the later of the stored one and one still pending here.
    pub(crate) async fn key_last_usage(
        &self,
        key_id: &str,
    ) -> Result<Option<KeyUsageRecord>, crate::KmsError> {
        let stored = self
            .store
            .key_last_usage(key_id)
            .await
            .map_err(crate::error::internal("reading key usage"))?;
        let pending = self.usage.pending(key_id);
        Ok(match (stored, pending) {
            (Some(s), Some(p)) => Some(if p.used_at >= s.used_at { p } else { s }),
            (s, p) => p.or(s),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(key: &str, op: &str, t: i64) -> KeyUsageRecord {
        KeyUsageRecord {
            key_id: key.into(),
            operation: op.into(),
            used_at: t,
            event_id: None,
            request_id: None,
        }
    }

    #[test]
    fn keeps_the_latest_use_per_key_until_drained() {
        let t = UsageTracker::default();
        t.record(at("a", "Encrypt", 5));
        t.record(at("a", "Decrypt", 3));
        t.record(at("b", "Sign", 1));
        assert_eq!(t.pending("a").unwrap().operation, "Encrypt");
        let mut drained = t.drain();
        drained.sort_by(|x, y| x.key_id.cmp(&y.key_id));
        assert_eq!(drained, vec![at("a", "Encrypt", 5), at("b", "Sign", 1)]);
        assert!(t.pending("a").is_none());
        t.record(at("a", "Decrypt", 9));
        t.restore(vec![at("a", "Encrypt", 5)]);
        assert_eq!(t.pending("a").unwrap().operation, "Decrypt");
        t.forget("a");
        assert!(t.drain().is_empty());
    }
}
