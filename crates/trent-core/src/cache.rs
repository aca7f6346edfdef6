//! The bounded in-memory cache of keys with their unsealed material, and of alias targets:
//! the hot path (Encrypt, Decrypt, GenerateDataKey) is served from here and never reads
//! the store. Every local state change replaces or drops the affected entries.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::RwLock;
use trent_crypto::{HmacKey, PrivateKey, SymmetricKey};
use trent_store::KeyRecord;

/// Unsealed key material of one of the three kinds a KMS key holds. Each kind redacts
/// itself in `Debug` and zeroizes on drop.
#[derive(Debug)]
pub(crate) enum Material {
    Symmetric(SymmetricKey),
    Hmac(HmacKey),
    /// The key pair (the public key comes with it).
    Asymmetric(PrivateKey),
}

/// A key as the hot path needs it.
#[derive(Debug)]
pub(crate) struct LoadedKey {
    pub record: KeyRecord,
    pub key_id_bytes: [u8; 16],
    /// Material versions by their 32-byte id (the store keeps it as 64 hex digits). HMAC
    /// and asymmetric keys have exactly one.
    pub materials: HashMap<[u8; 32], Arc<Material>>,
    pub current_material: [u8; 32],
}

impl LoadedKey {
    pub fn current(&self) -> Option<&Arc<Material>> {
        self.materials.get(&self.current_material)
    }

    /// The symmetric material version `id`, if this is a symmetric key that has it.
    pub fn symmetric(&self, id: &[u8; 32]) -> Option<&SymmetricKey> {
        match self.materials.get(id).map(|m| &**m) {
            Some(Material::Symmetric(k)) => Some(k),
            _ => None,
        }
    }

    pub fn current_symmetric(&self) -> Option<&SymmetricKey> {
        self.symmetric(&self.current_material)
    }

    pub fn hmac(&self) -> Option<&HmacKey> {
        match self.current().map(|m| &**m) {
            Some(Material::Hmac(k)) => Some(k),
            _ => None,
        }
    }

    pub fn private_key(&self) -> Option<&PrivateKey> {
        match self.current().map(|m| &**m) {
            Some(Material::Asymmetric(k)) => Some(k),
            _ => None,
        }
    }
}

#[derive(Debug)]
pub(crate) struct KeyCache {
    capacity: usize,
    keys: RwLock<HashMap<String, Arc<LoadedKey>>>,
    /// (account, region, alias name) → key id
    aliases: RwLock<HashMap<(String, String, String), String>>,
}

impl KeyCache {
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            keys: RwLock::default(),
            aliases: RwLock::default(),
        }
    }

    pub fn key(&self, key_id: &str) -> Option<Arc<LoadedKey>> {
        self.keys.read().get(key_id).cloned()
    }

    pub fn put_key(&self, key: Arc<LoadedKey>) {
        let mut keys = self.keys.write();
        if keys.len() >= self.capacity && !keys.contains_key(&key.record.key_id) {
            // Bounded: drop an arbitrary entry; it is reloaded from the store on demand.
            if let Some(victim) = keys.keys().next().cloned() {
                keys.remove(&victim);
            }
        }
        keys.insert(key.record.key_id.clone(), key);
    }

    /// Replaces a cached key's record (state, tags, ...) keeping its material.
    pub fn update_record(&self, record: KeyRecord) {
        let mut keys = self.keys.write();
        if let Some(old) = keys.get(&record.key_id) {
            let updated = LoadedKey {
                key_id_bytes: old.key_id_bytes,
                materials: old.materials.clone(),
                current_material: old.current_material,
                record,
            };
            keys.insert(updated.record.key_id.clone(), Arc::new(updated));
        }
    }

    pub fn alias(&self, account: &str, region: &str, name: &str) -> Option<String> {
        self.aliases
            .read()
            .get(&(account.to_owned(), region.to_owned(), name.to_owned()))
            .cloned()
    }

    pub fn put_alias(&self, account: &str, region: &str, name: &str, key_id: &str) {
        let mut aliases = self.aliases.write();
        if aliases.len() >= self.capacity {
            aliases.clear();
        }
        aliases.insert(
            (account.to_owned(), region.to_owned(), name.to_owned()),
            key_id.to_owned(),
        );
    }

    pub fn drop_alias(&self, account: &str, region: &str, name: &str) {
        self.aliases
            .write()
            .remove(&(account.to_owned(), region.to_owned(), name.to_owned()));
    }
}
