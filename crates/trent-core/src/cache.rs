//! The bounded in-memory cache of loaded keys ([`Key`]: the record, its parsed policy and
//! the backend's handle, e.g. unsealed material), and of alias targets:
//! the hot path (Encrypt, Decrypt, GenerateDataKey) is served from here and never reads
//! the store. Every local state change replaces or drops the affected entries; changes
//! made by other nodes arrive through the store's change feed ([`KeyCache::apply`]).
//!
//! Two rules keep a node from serving another node's overwritten state for long:
//! - an entry older than the cache's lifetime is a miss (the backstop if a notification is
//!   ever lost without the feed noticing);
//! - an entry read from the store is only kept if no invalidation happened since the read
//!   began (the `epoch`): otherwise a read racing with another node's write could put the
//!   old state back right after the notification dropped it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::RwLock;
use trent_policy::{Policy, PolicyKind};
use trent_store::{Change, GrantRecord, KeyRecord};

use crate::keys::Key;

/// The grants of one key, shared by every request that checks them.
pub(crate) type KeyGrants = Arc<[GrantRecord]>;

type AliasKey = (String, String, String);
/// The alias names of a key, and when they were read.
type AliasList = (Arc<[String]>, Instant);

/// What the cache holds for a key id.
pub(crate) enum Lookup {
    Fresh(Arc<Key>),
    /// Past the cache's lifetime: to be checked against the store before use.
    Stale(Arc<Key>),
    Missing,
}

#[derive(Debug)]
pub(crate) struct KeyCache {
    capacity: usize,
    ttl: Duration,
    /// Bumped by every invalidation; see the module documentation.
    epoch: AtomicU64,
    keys: RwLock<HashMap<String, (Arc<Key>, Instant)>>,
    /// (account, region, alias name) → key id
    aliases: RwLock<HashMap<AliasKey, (String, Instant)>>,
    /// key id → the names of the aliases pointing at it (`kms:ResourceAliases`). Any alias
    /// change drops them all: an alias moving from one key to another changes two entries,
    /// and alias changes are rare.
    key_aliases: RwLock<HashMap<String, AliasList>>,
    /// key id → the key's grants (for authorization by grant), same lifetime rules.
    grants: RwLock<HashMap<String, (KeyGrants, Instant)>>,
    /// `trent_key_cache_lookups_total` by result (handles taken once: the metrics
    /// recorder is installed before the service opens).
    pub(crate) lookups: CacheLookups,
}

/// The key cache's lookup counters: a fresh key, a stale one whose version the store
/// confirmed, a key read from the store.
#[derive(Debug)]
pub(crate) struct CacheLookups {
    pub hit: metrics::Counter,
    pub revalidated: metrics::Counter,
    pub miss: metrics::Counter,
}

impl CacheLookups {
    fn new() -> Self {
        let counter = |result: &'static str| metrics::counter!("trent_key_cache_lookups_total", "result" => result);
        CacheLookups {
            hit: counter("hit"),
            revalidated: counter("revalidated"),
            miss: counter("miss"),
        }
    }
}

impl KeyCache {
    pub fn new(capacity: usize, ttl: Duration) -> Self {
        Self {
            capacity: capacity.max(1),
            ttl,
            epoch: AtomicU64::new(0),
            keys: RwLock::default(),
            aliases: RwLock::default(),
            key_aliases: RwLock::default(),
            grants: RwLock::default(),
            lookups: CacheLookups::new(),
        }
    }

    /// Take this before reading what will be cached, and hand it to the `put_*` call.
    pub fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Acquire)
    }

    fn fresh(&self, at: Instant) -> bool {
        at.elapsed() < self.ttl
    }

    pub fn key(&self, key_id: &str) -> Option<Arc<Key>> {
        match self.lookup_key(key_id) {
            Lookup::Fresh(k) => Some(k),
            Lookup::Stale(_) | Lookup::Missing => None,
        }
    }

    /// A cached key, fresh or past its lifetime: a stale one may be renewed with
    /// [`KeyCache::renew_key`] once the store confirms its version.
    pub fn lookup_key(&self, key_id: &str) -> Lookup {
        match self.keys.read().get(key_id) {
            None => Lookup::Missing,
            Some((k, at)) if self.fresh(*at) => Lookup::Fresh(k.clone()),
            Some((k, _)) => Lookup::Stale(k.clone()),
        }
    }

    /// Starts a new lifetime for `key`, still cached, after the store said (in a read
    /// begun at `epoch`) that its version is current; nothing if the entry was replaced or
    /// anything was invalidated meanwhile.
    pub fn renew_key(&self, key: &Arc<Key>, epoch: u64) {
        let mut keys = self.keys.write();
        if self.epoch() != epoch {
            return;
        }
        if let Some((cached, at)) = keys.get_mut(&key.record.key_id) {
            if Arc::ptr_eq(cached, key) {
                *at = Instant::now();
            }
        }
    }

    /// Caches a key read (or written) since `epoch`, unless something was invalidated
    /// meanwhile.
    pub fn put_key(&self, key: Arc<Key>, epoch: u64) {
        let mut keys = self.keys.write();
        // Checked under the write lock that invalidations also take.
        if self.epoch() != epoch {
            return;
        }
        if keys.len() >= self.capacity && !keys.contains_key(&key.record.key_id) {
            // Bounded: drop an arbitrary entry; it is reloaded from the store on demand.
            if let Some(victim) = keys.keys().next().cloned() {
                keys.remove(&victim);
            }
        }
        keys.insert(key.record.key_id.clone(), (key, Instant::now()));
    }

    /// Replaces a cached key's record (state, tags, policy, ...) keeping its handle,
    /// unless something was invalidated since `epoch`. A changed policy is parsed here,
    /// outside the lock; one that does not parse drops the entry (the next load reports it).
    pub fn update_record(&self, record: KeyRecord, epoch: u64) {
        let old_policy = self
            .keys
            .read()
            .get(&record.key_id)
            .map(|(k, _)| (k.record.policy.clone(), k.policy.clone()));
        let policy = match old_policy {
            None => return,
            Some((text, parsed)) if text == record.policy => parsed,
            Some(_) => match Policy::parse(&record.policy, PolicyKind::KeyPolicy) {
                Ok(p) => Arc::new(p),
                Err(_) => {
                    self.drop_key(&record.key_id);
                    return;
                }
            },
        };
        let mut keys = self.keys.write();
        if self.epoch() != epoch {
            return;
        }
        if let Some((old, _)) = keys.get(&record.key_id) {
            let updated = Key::new(record, old.key_id_bytes, old.handle.clone(), policy);
            keys.insert(
                updated.record.key_id.clone(),
                (Arc::new(updated), Instant::now()),
            );
        }
    }

    pub fn alias(&self, account: &str, region: &str, name: &str) -> Option<String> {
        self.aliases
            .read()
            .get(&(account.to_owned(), region.to_owned(), name.to_owned()))
            .filter(|(_, at)| self.fresh(*at))
            .map(|(id, _)| id.clone())
    }

    pub fn put_alias(&self, account: &str, region: &str, name: &str, key_id: &str, epoch: u64) {
        let mut aliases = self.aliases.write();
        if self.epoch() != epoch {
            return;
        }
        if aliases.len() >= self.capacity {
            aliases.clear();
        }
        aliases.insert(
            (account.to_owned(), region.to_owned(), name.to_owned()),
            (key_id.to_owned(), Instant::now()),
        );
    }

    /// The aliases of a key, if cached and fresh.
    pub fn key_aliases(&self, key_id: &str) -> Option<Arc<[String]>> {
        self.key_aliases
            .read()
            .get(key_id)
            .filter(|(_, at)| self.fresh(*at))
            .map(|(names, _)| names.clone())
    }

    pub fn put_key_aliases(&self, key_id: &str, names: Arc<[String]>, epoch: u64) {
        let mut key_aliases = self.key_aliases.write();
        if self.epoch() != epoch {
            return;
        }
        if key_aliases.len() >= self.capacity {
            key_aliases.clear();
        }
        key_aliases.insert(key_id.to_owned(), (names, Instant::now()));
    }

    /// Forgets an alias (created, retargeted or deleted), and every key's alias list.
    pub fn drop_alias(&self, account: &str, region: &str, name: &str) {
        let mut aliases = self.aliases.write();
        let mut key_aliases = self.key_aliases.write();
        self.epoch.fetch_add(1, Ordering::AcqRel);
        aliases.remove(&(account.to_owned(), region.to_owned(), name.to_owned()));
        key_aliases.clear();
    }

    pub fn drop_key(&self, key_id: &str) {
        let mut keys = self.keys.write();
        let mut key_aliases = self.key_aliases.write();
        let mut grants = self.grants.write();
        self.epoch.fetch_add(1, Ordering::AcqRel);
        keys.remove(key_id);
        key_aliases.remove(key_id);
        grants.remove(key_id);
    }

    pub fn clear(&self) {
        let mut keys = self.keys.write();
        let mut aliases = self.aliases.write();
        let mut key_aliases = self.key_aliases.write();
        let mut grants = self.grants.write();
        self.epoch.fetch_add(1, Ordering::AcqRel);
        keys.clear();
        aliases.clear();
        key_aliases.clear();
        grants.clear();
    }

    /// The cached grants of a key.
    pub fn grants(&self, key_id: &str) -> Option<Arc<[GrantRecord]>> {
        self.grants
            .read()
            .get(key_id)
            .filter(|(_, at)| self.fresh(*at))
            .map(|(g, _)| g.clone())
    }

    /// Caches a key's grants read since `epoch`, unless something was invalidated meanwhile.
    pub fn put_grants(&self, key_id: &str, grants: Arc<[GrantRecord]>, epoch: u64) {
        let mut all = self.grants.write();
        if self.epoch() != epoch {
            return;
        }
        if all.len() >= self.capacity && !all.contains_key(key_id) {
            all.clear();
        }
        all.insert(key_id.to_owned(), (grants, Instant::now()));
    }

    /// Forgets a key's grants (a grant of it was created, retired or revoked).
    pub fn drop_grants(&self, key_id: &str) {
        let mut grants = self.grants.write();
        self.epoch.fetch_add(1, Ordering::AcqRel);
        grants.remove(key_id);
    }

    /// Forgets what a committed change (of this node or another) made stale.
    pub fn apply(&self, change: &Change) {
        match change {
            Change::Key(key_id) => self.drop_key(key_id),
            Change::Grants(key_id) => self.drop_grants(key_id),
            Change::Alias {
                account_id,
                region,
                alias_name,
            } => self.drop_alias(account_id, region, alias_name),
            // `All`, and whatever a newer store announces that this node does not know.
            _ => self.clear(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::{Handle, LocalKey};
    use crate::keys::NO_MATERIAL;

    fn loaded(key_id: &str, state: trent_wire::KeyState) -> Arc<Key> {
        Arc::new(Key::new(
            crate::test_support::key_record(key_id, state),
            [0; 16],
            Handle::Local(LocalKey::new(HashMap::new(), NO_MATERIAL)),
            Arc::new(
                Policy::parse(
                    &trent_policy::default_key_policy("111122223333"),
                    PolicyKind::KeyPolicy,
                )
                .unwrap(),
            ),
        ))
    }

    #[test]
    fn a_read_that_raced_an_invalidation_is_not_cached() {
        let cache = KeyCache::new(10, Duration::from_secs(60));
        let before_read = cache.epoch();
        // Another node's change is announced while this node reads the old state...
        cache.apply(&Change::Key("k".to_owned()));
        // ...so the old state it read must not be cached.
        cache.put_key(loaded("k", trent_wire::KeyState::Enabled), before_read);
        assert!(cache.key("k").is_none());
        cache.put_key(loaded("k", trent_wire::KeyState::Disabled), cache.epoch());
        assert_eq!(
            cache.key("k").unwrap().record.state,
            trent_wire::KeyState::Disabled
        );

        let before_read = cache.epoch();
        cache.apply(&Change::All);
        cache.put_alias("a", "r", "alias/x", "k", before_read);
        assert!(cache.alias("a", "r", "alias/x").is_none());
        assert!(cache.key("k").is_none(), "All forgets keys too");
    }

    #[test]
    fn changes_drop_only_what_they_name() {
        let cache = KeyCache::new(10, Duration::from_secs(60));
        cache.put_key(loaded("k1", trent_wire::KeyState::Enabled), cache.epoch());
        cache.put_key(loaded("k2", trent_wire::KeyState::Enabled), cache.epoch());
        cache.put_alias("a", "r", "alias/x", "k1", cache.epoch());
        cache.put_alias("a", "r", "alias/y", "k2", cache.epoch());
        cache.apply(&Change::Key("k1".to_owned()));
        cache.apply(&Change::Alias {
            account_id: "a".to_owned(),
            region: "r".to_owned(),
            alias_name: "alias/x".to_owned(),
        });
        assert!(cache.key("k1").is_none());
        assert!(cache.key("k2").is_some());
        assert!(cache.alias("a", "r", "alias/x").is_none());
        assert_eq!(cache.alias("a", "r", "alias/y").as_deref(), Some("k2"));
    }

    #[test]
    fn an_updated_record_carries_its_policy_parsed_and_alias_changes_drop_alias_lists() {
        let cache = KeyCache::new(10, Duration::from_secs(60));
        cache.put_key(loaded("k", trent_wire::KeyState::Enabled), cache.epoch());
        let mut record = cache.key("k").unwrap().record.clone();
        record.policy =
            r#"{"Statement":{"Effect":"Deny","Principal":"*","Action":"kms:*","Resource":"*"}}"#
                .to_owned();
        cache.update_record(record.clone(), cache.epoch());
        let k = cache.key("k").unwrap();
        assert_eq!(k.record.policy, record.policy);
        assert_eq!(k.policy.statements().len(), 1);
        assert_eq!(k.policy.id(), None);
        // A stored policy that does not parse is not served from the cache.
        record.policy = "{".to_owned();
        cache.update_record(record, cache.epoch());
        assert!(cache.key("k").is_none());

        let names: Arc<[String]> = vec!["alias/a".to_owned()].into();
        cache.put_key_aliases("k", names.clone(), cache.epoch());
        assert_eq!(cache.key_aliases("k"), Some(names.clone()));
        cache.apply(&Change::Alias {
            account_id: "a".to_owned(),
            region: "r".to_owned(),
            alias_name: "alias/b".to_owned(),
        });
        assert_eq!(cache.key_aliases("k"), None);
        cache.put_key_aliases("k", names, cache.epoch());
        cache.apply(&Change::Key("k".to_owned()));
        assert_eq!(cache.key_aliases("k"), None);
    }

    #[test]
    fn a_stale_key_is_renewed_only_if_nothing_changed_since_the_check_began() {
        let cache = KeyCache::new(10, Duration::from_millis(20));
        let k = loaded("k", trent_wire::KeyState::Enabled);
        cache.put_key(k.clone(), cache.epoch());
        std::thread::sleep(Duration::from_millis(25));
        let Lookup::Stale(stale) = cache.lookup_key("k") else {
            panic!("past its lifetime")
        };
        assert!(Arc::ptr_eq(&stale, &k));
        // An invalidation while the store was asked: no renewal.
        let before_check = cache.epoch();
        cache.apply(&Change::Key("other".to_owned()));
        cache.renew_key(&stale, before_check);
        assert!(matches!(cache.lookup_key("k"), Lookup::Stale(_)));
        // Another entry in its place: no renewal of it.
        let replaced = loaded("k", trent_wire::KeyState::Disabled);
        cache.put_key(replaced, cache.epoch());
        std::thread::sleep(Duration::from_millis(25));
        cache.renew_key(&stale, cache.epoch());
        assert!(matches!(cache.lookup_key("k"), Lookup::Stale(_)));
        // Confirmed current: fresh again, the same entry.
        let Lookup::Stale(current) = cache.lookup_key("k") else {
            panic!("stale")
        };
        cache.renew_key(&current, cache.epoch());
        let Lookup::Fresh(fresh) = cache.lookup_key("k") else {
            panic!("renewed")
        };
        assert!(Arc::ptr_eq(&fresh, &current));
        assert!(matches!(cache.lookup_key("nope"), Lookup::Missing));
    }

    #[test]
    fn entries_expire_after_the_lifetime() {
        let cache = KeyCache::new(10, Duration::ZERO);
        cache.put_key(loaded("k", trent_wire::KeyState::Enabled), cache.epoch());
        cache.put_alias("a", "r", "alias/x", "k", cache.epoch());
        assert!(cache.key("k").is_none());
        assert!(cache.alias("a", "r", "alias/x").is_none());
    }
    #[test]
    fn grant_changes_drop_the_keys_grants_only() {
        let cache = KeyCache::new(10, Duration::from_secs(60));
        let none: Arc<[GrantRecord]> = Arc::from(Vec::new());
        cache.put_key(loaded("k", trent_wire::KeyState::Enabled), cache.epoch());
        cache.put_grants("k", none.clone(), cache.epoch());
        cache.put_grants("k2", none.clone(), cache.epoch());
        cache.apply(&Change::Grants("k".to_owned()));
        assert!(cache.grants("k").is_none());
        assert!(cache.key("k").is_some(), "the key itself did not change");
        assert!(cache.grants("k2").is_some());
        // A read that raced a grant change is not cached.
        let before_read = cache.epoch();
        cache.apply(&Change::Grants("k".to_owned()));
        cache.put_grants("k", none.clone(), before_read);
        assert!(cache.grants("k").is_none());
        // A key change (deletion, say) drops its grants too.
        cache.apply(&Change::Key("k2".to_owned()));
        assert!(cache.grants("k2").is_none());
    }
}
