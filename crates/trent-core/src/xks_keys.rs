//! The keys Trent holds for the AWS KMS External Key Store (XKS) proxy API.
//!
//! No table of keys: one 32-byte master secret, created once (random, sealed under the
//! root key, stored with [`trent_store::Store::init_meta`] so that racing nodes agree on
//! the first one, exactly as the grant token key), and every key's material derived from
//! it: HKDF-SHA-256(master, info = `"trent xks key v1"` ‖ len ‖ uri_path_prefix ‖ len ‖
//! key id), each length a 4-byte big-endian count of bytes. A key is therefore named by
//! its logical key store (its URI path prefix) and its id in the configuration; the same
//! pair gives the same key on every node and after every restart, and `trent root-key
//! migrate` re-seals the master secret (an entry of `SEALED_META`).

use trent_crypto::{random_bytes, CryptoError, RootKeyProvider, SecretBytes, XksKey};

use crate::error::internal;
use crate::{KeyService, KmsError};

/// The store's `meta` entry holding the sealed master secret.
pub(crate) const META_XKS_MASTER_KEY: &str = "xks_master_key";
/// Its associated data under the root key.
pub(crate) const XKS_MASTER_KEY_AAD: &[u8] = b"trent:meta:xks_master_key:v1";
const KEY_INFO_LABEL: &[u8] = b"trent xks key v1";
const HEALTH_INFO_LABEL: &[u8] = b"trent xks health probe v1";
const PROBE_AAD: &[u8] = b"trent:xks:health-probe:v1";
const MASTER_LEN: usize = 32;

/// The unsealed master secret of the XKS keys. `Debug` is redacted; zeroized on drop.
pub struct XksMaster(SecretBytes);

impl std::fmt::Debug for XksMaster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("XksMaster([REDACTED])")
    }
}

impl XksMaster {
    /// The key `key_id` of the logical key store at `uri_path_prefix`.
    pub fn key(&self, uri_path_prefix: &str, key_id: &str) -> Result<XksKey, CryptoError> {
        let prefix_len = len_prefix(uri_path_prefix)?;
        let id_len = len_prefix(key_id)?;
        XksKey::derive(
            &self.0,
            &[
                KEY_INFO_LABEL,
                &prefix_len,
                uri_path_prefix.as_bytes(),
                &id_len,
                key_id.as_bytes(),
            ],
        )
    }

    /// A key of no key store (its label differs from every served key's), used only by
    /// the health check's encrypt/decrypt round trip.
    pub fn health_probe_key(&self) -> Result<XksKey, CryptoError> {
        XksKey::derive(&self.0, &[HEALTH_INFO_LABEL])
    }
}

fn len_prefix(s: &str) -> Result<[u8; 4], CryptoError> {
    u32::try_from(s.len())
        .map(u32::to_be_bytes)
        .map_err(|_| CryptoError::InvalidKeyMaterial)
}

impl KeyService {
    /// The XKS master secret: the stored one unsealed, or, the first time, a new one
    /// sealed and stored (the first node's wins; every node then uses the stored one).
    pub async fn xks_master(&self) -> Result<XksMaster, KmsError> {
        let stored = match self
            .store
            .meta(META_XKS_MASTER_KEY)
            .await
            .map_err(internal("reading the XKS master secret"))?
        {
            Some(sealed) => sealed,
            None => {
                let fresh = random_bytes(MASTER_LEN)
                    .map_err(internal("generating the XKS master secret"))?;
                let sealed = self
                    .root
                    .seal(XKS_MASTER_KEY_AAD, fresh.expose())
                    .map_err(internal("sealing the XKS master secret"))?;
                self.store
                    .init_meta(META_XKS_MASTER_KEY, &sealed)
                    .await
                    .map_err(internal("storing the XKS master secret"))?
            }
        };
        let master = self
            .root
            .unseal(XKS_MASTER_KEY_AAD, &stored)
            .map_err(internal("unsealing the XKS master secret"))?;
        if master.len() != MASTER_LEN {
            tracing::error!(
                len = master.len(),
                "the stored XKS master secret has the wrong length"
            );
            return Err(KmsError::Internal);
        }
        Ok(XksMaster(master))
    }
}

/// A real probe of the root of trust: a fresh random value sealed and unsealed under the
/// root key (for PKCS#11, inside the token), and compared. Blocking: call it off the async
/// threads.
pub fn probe_root_key(root: &dyn RootKeyProvider) -> Result<(), CryptoError> {
    let probe = random_bytes(MASTER_LEN)?;
    let sealed = root.seal(PROBE_AAD, probe.expose())?;
    let opened = root.unseal(PROBE_AAD, &sealed)?;
    if opened != probe {
        return Err(CryptoError::UnsealFailure);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_bound_to_their_store_and_id() {
        let master = XksMaster(SecretBytes::new(vec![7; 32]));
        let a = master.key("/p", "foo").unwrap();
        let c = a.encrypt(b"", b"secret").unwrap();
        let again = master.key("/p", "foo").unwrap();
        assert!(again.decrypt(&c.iv, b"", &c.ciphertext, &c.tag).is_ok());
        // The length prefixes keep ("/pf", "oo") apart from ("/p", "foo").
        for (prefix, id) in [("/pf", "oo"), ("/q", "foo"), ("/p", "fo"), ("", "/pfoo")] {
            let other = master.key(prefix, id).unwrap();
            assert!(
                other.decrypt(&c.iv, b"", &c.ciphertext, &c.tag).is_err(),
                "{prefix} {id}"
            );
        }
        let probe = master.health_probe_key().unwrap();
        assert!(probe.decrypt(&c.iv, b"", &c.ciphertext, &c.tag).is_err());
        assert_eq!(format!("{master:?}"), "XksMaster([REDACTED])");
    }

    #[test]
    fn the_root_key_probe_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let root = trent_crypto::FileRootKey::create(&dir.path().join("root.key")).unwrap();
        probe_root_key(&root).unwrap();
    }
}
