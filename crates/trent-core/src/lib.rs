//! The key service: one handler per AWS KMS operation (`ops/`), the key-state machine,
//! key resolution (key id, key ARN, alias name, alias ARN), the cache of unsealed key
//! material, identities bootstrap, and the injected [`Clock`].
//!
//! This crate knows nothing of HTTP, JSON framing or SigV4: it takes an authenticated
//! [`Caller`] and a decoded request, and returns a response or a [`KmsError`]. It never
//! writes plaintext key material anywhere but memory: everything it persists goes through
//! the root key first.

mod authz;
mod aws_managed;
mod backend;
mod cache;
mod clock;
mod custom_key_stores;
mod deletion;
mod error;
pub mod external_key_stores;
mod global_keys;
mod grants;
mod identity;
mod ids;
mod import;
mod jobs;
mod key_pools;
mod key_state;
mod keys;
pub mod keys_used;
mod keyspec;
mod last_usage;
pub mod ops;
mod optimistic;
mod quotas;
mod rates;
pub mod root_migration;
mod rotation;
mod seed;
mod service;
#[cfg(test)]
mod test_support;
pub mod write_ahead;
pub mod xks_keys;

pub use clock::{Clock, ManualClock, OffsetClock, SystemClock, TestTime};
pub use custom_key_stores::Pkcs11Cluster;
pub use error::KmsError;
pub use identity::{
    AccessKeyEntry, Caller, CallerAttributes, Principal, PrincipalCache, PrincipalKind,
    RoleSession, ServiceCall,
};
pub use ids::{is_account_id, is_region};
pub use jobs::{JobsHandle, ServiceEvent, ServiceEventSink};
pub use keys_used::KeysUsed;
pub use last_usage::{FLUSH_EVERY as KEY_USAGE_FLUSH_EVERY, TRACKED_OPERATIONS};
pub use quotas::ResourceQuotas;
pub use rates::RateQuotas;
pub use seed::{SeedKey, SeedReport};
pub use service::{
    store_has_root_key_check, BootstrapError, BootstrapOptions, BootstrapReport, KeyService,
    ServiceConfig, DEFAULT_CACHE_CAPACITY, DEFAULT_CACHE_TTL,
};
pub use write_ahead::{Intent, WriteAhead};
