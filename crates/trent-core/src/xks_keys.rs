//! The keys Trent holds for the AWS KMS External Key Store (XKS) proxy API.
//!
//! No table of keys: one AES-256 master key, created once (random, sealed under the root
//! key with [`RootKeyProvider::seal_derivation_key`] — with the `pkcs11` root key it is
//! made in the token and stored wrapped with the root key — and stored with
//! [`trent_store::Store::init_meta`] so that racing nodes agree on the first one, exactly
//! as the grant token key), and every key derived from it
//! ([`trent_crypto::XksMasterKey::derive`]) with info = `"trent xks key v2"` ‖ len ‖
//! uri_path_prefix ‖ len ‖ key id, each length a 4-byte big-endian count of bytes. A key
//! is therefore named by its logical key store (its URI path prefix) and its id in the
//! configuration; the same pair gives the same key on every node, after every restart,
//! and on either side of `trent root-key migrate` (which moves the master key, an entry
//! of `SEALED_META`, to the new root of trust). With the `pkcs11` root key the master
//! key and every derived key live in the token only.

use trent_crypto::{random_bytes, CryptoError, RootKeyProvider, XksKey, XksMasterKey};

use crate::error::internal;
use crate::{KeyService, KmsError};

/// The store's `meta` entry holding the sealed master key.
pub(crate) const META_XKS_MASTER_KEY: &str = "xks_master_key";
/// Its associated data under the root key.
pub(crate) const XKS_MASTER_KEY_AAD: &[u8] = b"trent:meta:xks_master_key:v2";
const KEY_INFO_LABEL: &[u8] = b"trent xks key v2";
const HEALTH_INFO_LABEL: &[u8] = b"trent xks health probe v2";
const PROBE_AAD: &[u8] = b"trent:xks:health-probe:v1";
const PROBE_LEN: usize = 32;

/// The XKS master key, where the root key keeps it (in this process, zeroized on drop;
/// or in the token). `Debug` is redacted.
#[derive(Debug)]
pub struct XksMaster(XksMasterKey);

impl XksMaster {
    /// The key `key_id` of the logical key store at `uri_path_prefix`.
    pub fn key(&self, uri_path_prefix: &str, key_id: &str) -> Result<XksKey, CryptoError> {
        let prefix_len = len_prefix(uri_path_prefix)?;
        let id_len = len_prefix(key_id)?;
        self.0.derive(&[
            KEY_INFO_LABEL,
            &prefix_len,
            uri_path_prefix.as_bytes(),
            &id_len,
            key_id.as_bytes(),
        ])
    }

    /// A key of no key store (its label differs from every served key's), used only by
    /// the health check's encrypt/decrypt round trip.
    pub fn health_probe_key(&self) -> Result<XksKey, CryptoError> {
        self.0.derive(&[HEALTH_INFO_LABEL])
    }

    /// Whether the keys live in a token.
    pub fn is_in_token(&self) -> bool {
        self.0.is_in_token()
    }
}

fn len_prefix(s: &str) -> Result<[u8; 4], CryptoError> {
    u32::try_from(s.len())
        .map(u32::to_be_bytes)
        .map_err(|_| CryptoError::InvalidKeyMaterial)
}

impl KeyService {
    /// The XKS master key: the stored one opened where the root key is, or, the first
    /// time, a new one sealed and stored (the first node's wins; every node then uses the
    /// stored one).
    pub async fn xks_master(&self) -> Result<XksMaster, KmsError> {
        let stored = match self
            .store
            .meta(META_XKS_MASTER_KEY)
            .await
            .map_err(internal("reading the XKS master key"))?
        {
            Some(sealed) => sealed,
            None => {
                let sealed = self
                    .root
                    .seal_derivation_key(XKS_MASTER_KEY_AAD, None)
                    .map_err(internal("making and sealing the XKS master key"))?;
                self.store
                    .init_meta(META_XKS_MASTER_KEY, &sealed)
                    .await
                    .map_err(internal("storing the XKS master key"))?
            }
        };
        let master = self
            .root
            .open_derivation_key(XKS_MASTER_KEY_AAD, &stored)
            .map_err(internal("opening the XKS master key"))?;
        Ok(XksMaster(master))
    }
}

/// A real probe of the root of trust: a fresh random value sealed and unsealed under the
/// root key (for PKCS#11, inside the token), and compared. Blocking: call it off the async
/// threads.
pub fn probe_root_key(root: &dyn RootKeyProvider) -> Result<(), CryptoError> {
    let probe = random_bytes(PROBE_LEN)?;
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
    use trent_crypto::SecretBytes;

    #[test]
    fn keys_are_bound_to_their_store_and_id() {
        let master = XksMaster(XksMasterKey::in_process(&SecretBytes::new(vec![7; 32])).unwrap());
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
        assert_eq!(
            format!("{master:?}"),
            "XksMaster(XksMasterKey(in process, [REDACTED]))"
        );
        assert!(!master.is_in_token());
    }

    #[test]
    fn the_root_key_probe_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let root = trent_crypto::FileRootKey::create(&dir.path().join("root.key")).unwrap();
        probe_root_key(&root).unwrap();
    }
}
