//! The local backend: key material sealed under the root key in the store, unsealed into
//! memory when a key is loaded. Symmetric keys keep every material version (a ciphertext
//! names the one that made it); HMAC keys and key pairs have one.
//!
//! Everything here is in-process and fast, and runs on the caller's thread, except
//! private-key operations of RSA-3072/4096 keys, which take milliseconds and run on the
//! blocking pool rather than stall the other requests of the worker thread.

use std::collections::HashMap;
use std::sync::Arc;

use trent_crypto::{
    AsymmetricEncryptionAlgorithm, AsymmetricKeySpec, BlobHeader, CryptoError, HmacKey,
    MacAlgorithm, MessageType, ParsedBlob, PrivateKey, RootKeyProvider, SecretBytes,
    SigningAlgorithm, SymmetricKey,
};
use trent_store::KeyRecord;

use super::{Encrypted, Handle, KeyBackend, KeyError, KeyHandle, StoredMaterial};
use crate::error::internal;
use crate::keys::{material_bytes, NO_MATERIAL};
use crate::keyspec::KeyKind;
use crate::KmsError;

/// Unsealed key material of one of the three kinds a KMS key holds. Each kind redacts
/// itself in `Debug` and zeroizes on drop.
#[derive(Debug)]
pub(crate) enum Material {
    Symmetric(SymmetricKey),
    Hmac(HmacKey),
    /// The key pair (the public key comes with it).
    Asymmetric(PrivateKey),
}

impl Material {
    /// Material from its plaintext form: symmetric and HMAC keys are their raw bytes, key
    /// pairs their PKCS#8 DER private key.
    pub fn from_plain(kind: KeyKind, plain: &SecretBytes) -> Result<Self, CryptoError> {
        Ok(match kind {
            KeyKind::Symmetric => Material::Symmetric(SymmetricKey::from_material(plain)?),
            KeyKind::Hmac(spec) => Material::Hmac(HmacKey::from_material(spec, plain.expose())?),
            KeyKind::Asymmetric(spec) => {
                Material::Asymmetric(PrivateKey::from_pkcs8(spec, plain.expose())?)
            }
        })
    }

    /// The public key (DER SubjectPublicKeyInfo) of a key pair.
    pub fn public_key(&self) -> Option<&[u8]> {
        match self {
            Material::Asymmetric(k) => Some(k.public_key().der()),
            _ => None,
        }
    }
}

/// The authenticated data that binds sealed material to its key and version.
pub(crate) fn material_aad(key_arn: &str, material_id: &str) -> Vec<u8> {
    let mut aad = b"trent:material:v1:".to_vec();
    aad.extend_from_slice(&(key_arn.len() as u32).to_be_bytes());
    aad.extend_from_slice(key_arn.as_bytes());
    aad.extend_from_slice(material_id.as_bytes());
    aad
}

/// Private-key operations of these specs run on the blocking pool.
fn is_slow(spec: AsymmetricKeySpec) -> bool {
    matches!(
        spec,
        AsymmetricKeySpec::Rsa3072 | AsymmetricKeySpec::Rsa4096
    )
}

/// Material versions by their 32-byte id (the store keeps it as 64 hex digits).
#[derive(Debug)]
struct Versions {
    materials: HashMap<[u8; 32], Material>,
    current: [u8; 32],
}

/// A loaded local key. Cloning it is cheap (the material is shared).
#[derive(Debug, Clone)]
pub(crate) struct LocalKey(Arc<Versions>);

impl LocalKey {
    /// A key of these materials, `current` the one that encrypts, signs or MACs. A key
    /// pending import may have none.
    pub fn new(materials: HashMap<[u8; 32], Material>, current: [u8; 32]) -> Self {
        LocalKey(Arc::new(Versions { materials, current }))
    }

    fn current(&self) -> Option<&Material> {
        self.0.materials.get(&self.0.current)
    }

    fn hmac(&self) -> Result<&HmacKey, KeyError> {
        match self.current() {
            Some(Material::Hmac(k)) => Ok(k),
            _ => Err(KmsError::Internal.into()),
        }
    }

    fn private_key(&self) -> Result<&PrivateKey, KeyError> {
        match self.current() {
            Some(Material::Asymmetric(k)) => Ok(k),
            _ => Err(KmsError::Internal.into()),
        }
    }

    /// Runs `f` with the private key on the blocking pool.
    async fn blocking<T, F>(&self, f: F) -> Result<T, KeyError>
    where
        T: Send + 'static,
        F: FnOnce(&PrivateKey) -> Result<T, CryptoError> + Send + 'static,
    {
        let key = self.clone();
        tokio::task::spawn_blocking(move || Ok(f(key.private_key()?)?))
            .await
            .map_err(|e| KeyError::Kms(internal("a private-key task failed")(e)))?
    }
}

impl KeyHandle for LocalKey {
    async fn encrypt(
        &self,
        key_id: [u8; 16],
        context: &[u8],
        plaintext: &[u8],
    ) -> Result<Encrypted, KeyError> {
        let material_id = self.0.current;
        let Some(Material::Symmetric(material)) = self.current() else {
            return Err(KmsError::Internal.into());
        };
        let header = BlobHeader {
            key_id,
            material_id,
        };
        let blob = material.encrypt(&header, context, plaintext)?;
        Ok(Encrypted { blob, material_id })
    }

    async fn decrypt(
        &self,
        blob: &ParsedBlob<'_>,
        context: &[u8],
    ) -> Result<SecretBytes, KeyError> {
        match self.0.materials.get(&blob.header.material_id) {
            Some(Material::Symmetric(material)) => Ok(material.decrypt(blob, context)?),
            _ => Err(CryptoError::InvalidCiphertext.into()),
        }
    }

    async fn asymmetric_encrypt(
        &self,
        algorithm: AsymmetricEncryptionAlgorithm,
        plaintext: &[u8],
    ) -> Result<Vec<u8>, KeyError> {
        Ok(self
            .private_key()?
            .public_key()
            .encrypt(algorithm, plaintext)?)
    }

    async fn asymmetric_decrypt(
        &self,
        algorithm: AsymmetricEncryptionAlgorithm,
        ciphertext: &[u8],
    ) -> Result<SecretBytes, KeyError> {
        let private = self.private_key()?;
        if !is_slow(private.spec()) {
            return Ok(private.decrypt(algorithm, ciphertext)?);
        }
        let ciphertext = ciphertext.to_vec();
        self.blocking(move |k| k.decrypt(algorithm, &ciphertext))
            .await
    }

    async fn sign(
        &self,
        algorithm: SigningAlgorithm,
        message_type: MessageType,
        message: &[u8],
    ) -> Result<Vec<u8>, KeyError> {
        let private = self.private_key()?;
        if !is_slow(private.spec()) {
            return Ok(private.sign(algorithm, message_type, message)?);
        }
        let message = SecretBytes::from_slice(message);
        self.blocking(move |k| k.sign(algorithm, message_type, message.expose()))
            .await
    }

    async fn verify(
        &self,
        algorithm: SigningAlgorithm,
        message_type: MessageType,
        message: &[u8],
        signature: &[u8],
    ) -> Result<bool, KeyError> {
        Ok(self
            .private_key()?
            .public_key()
            .verify(algorithm, message_type, message, signature)?)
    }

    async fn mac(&self, algorithm: MacAlgorithm, message: &[u8]) -> Result<Vec<u8>, KeyError> {
        Ok(self.hmac()?.mac(algorithm, message)?)
    }

    async fn verify_mac(
        &self,
        algorithm: MacAlgorithm,
        message: &[u8],
        mac: &[u8],
    ) -> Result<bool, KeyError> {
        Ok(self.hmac()?.verify(algorithm, message, mac)?)
    }

    async fn derive_shared_secret(&self, peer_public_key: &[u8]) -> Result<SecretBytes, KeyError> {
        let private = self.private_key()?;
        if !is_slow(private.spec()) {
            return Ok(private.derive_shared_secret(peer_public_key)?);
        }
        let peer = peer_public_key.to_vec();
        self.blocking(move |k| k.derive_shared_secret(&peer)).await
    }

    fn public_key(&self) -> Option<&[u8]> {
        self.current().and_then(Material::public_key)
    }
}

/// New local material, and its plaintext form to seal.
#[derive(Debug)]
pub(crate) struct Generated {
    material: Material,
    plain: SecretBytes,
}

/// The local backend over the root key.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LocalBackend<'a> {
    root: &'a dyn RootKeyProvider,
}

impl<'a> LocalBackend<'a> {
    pub fn new(root: &'a dyn RootKeyProvider) -> Self {
        LocalBackend { root }
    }

    /// The handle of a key whose material is yet to be imported (Origin EXTERNAL).
    pub fn without_material(&self) -> Handle {
        Handle::Local(LocalKey::new(HashMap::new(), NO_MATERIAL))
    }

    /// Seals material given in plaintext (imported key material) as the material
    /// `material_id` of the key `key_arn`.
    pub fn seal(
        &self,
        key_arn: &str,
        material_id: &str,
        plain: &SecretBytes,
    ) -> Result<Vec<u8>, KmsError> {
        self.root
            .seal(&material_aad(key_arn, material_id), plain.expose())
            .map_err(internal("sealing key material"))
    }

    /// Material sealed for the key `from_arn`, sealed again for the key `to_arn` under the
    /// same material id (a replica of a multi-Region key).
    pub fn reseal(
        &self,
        from_arn: &str,
        to_arn: &str,
        material_id: &str,
        sealed: &[u8],
    ) -> Result<Vec<u8>, KmsError> {
        let plain = self
            .root
            .unseal(&material_aad(from_arn, material_id), sealed)
            .map_err(internal("unsealing key material"))?;
        self.seal(to_arn, material_id, &plain)
    }
}

impl LocalBackend<'_> {
    /// Material given from outside (a seed) as new material of `kind`; refused unless it
    /// is material of that kind.
    pub(crate) fn given(
        &self,
        kind: KeyKind,
        plain: &SecretBytes,
    ) -> Result<Generated, trent_crypto::CryptoError> {
        Ok(Generated {
            material: Material::from_plain(kind, plain)?,
            plain: plain.clone(),
        })
    }
}

impl KeyBackend for LocalBackend<'_> {
    type Generated = Generated;

    /// Raw symmetric and HMAC keys; key pairs (RSA-4096 takes up to seconds) are made on
    /// the blocking pool.
    async fn generate(&self, kind: KeyKind) -> Result<Generated, KmsError> {
        match kind {
            KeyKind::Symmetric => {
                let (key, plain) =
                    SymmetricKey::generate().map_err(internal("generating key material"))?;
                Ok(Generated {
                    material: Material::Symmetric(key),
                    plain,
                })
            }
            KeyKind::Hmac(spec) => {
                let key = HmacKey::generate(spec).map_err(internal("generating an HMAC key"))?;
                let plain = key.material().clone();
                Ok(Generated {
                    material: Material::Hmac(key),
                    plain,
                })
            }
            KeyKind::Asymmetric(spec) => {
                let key = tokio::task::spawn_blocking(move || PrivateKey::generate(spec))
                    .await
                    .map_err(internal("a key generation task failed"))?
                    .map_err(internal("generating a key pair"))?;
                let plain = key.pkcs8().clone();
                Ok(Generated {
                    material: Material::Asymmetric(key),
                    plain,
                })
            }
        }
    }

    fn store_form(
        &self,
        key_arn: &str,
        material_id: &str,
        generated: &Generated,
    ) -> Result<Vec<u8>, KmsError> {
        self.seal(key_arn, material_id, &generated.plain)
    }

    fn new_handle(&self, material_id: [u8; 32], generated: Generated) -> Handle {
        Handle::Local(LocalKey::new(
            HashMap::from([(material_id, generated.material)]),
            material_id,
        ))
    }

    fn load(
        &self,
        record: &KeyRecord,
        kind: KeyKind,
        current: [u8; 32],
        require_current: bool,
        stored: Vec<StoredMaterial>,
    ) -> Result<Handle, KmsError> {
        let mut materials = HashMap::new();
        for m in stored {
            let Some(id) = material_bytes(&m.material_id) else {
                tracing::error!(key_id = %record.key_id, "stored material id is malformed");
                return Err(KmsError::Internal);
            };
            let plain = self
                .root
                .unseal(&material_aad(&record.arn, &m.material_id), &m.stored)
                .map_err(internal("unsealing key material"))?;
            let material =
                Material::from_plain(kind, &plain).map_err(internal("loading key material"))?;
            materials.insert(id, material);
        }
        if require_current && !materials.contains_key(&current) {
            tracing::error!(key_id = %record.key_id, "current material of a key is missing");
            return Err(KmsError::Internal);
        }
        Ok(Handle::Local(LocalKey::new(materials, current)))
    }
}

#[cfg(test)]
mod tests {
    use trent_crypto::{canonical_encryption_context, parse_blob, FileRootKey, HmacKeySpec};

    use super::*;

    const ARN: &str = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";

    fn root() -> (FileRootKey, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let root = FileRootKey::create(&dir.path().join("root.key")).unwrap();
        (root, dir)
    }

    fn record(key_spec: trent_wire::KeySpec) -> KeyRecord {
        let mut record = crate::test_support::key_record(
            "1234abcd-12ab-34cd-56ef-1234567890ab",
            trent_wire::KeyState::Enabled,
        );
        record.arn = trent_wire::KeyArn::parse(ARN).unwrap();
        record.key_spec = key_spec;
        record
    }

    fn is_internal(e: KeyError) -> bool {
        matches!(e, KeyError::Kms(KmsError::Internal))
    }

    fn is_invalid_ciphertext(e: KeyError) -> bool {
        matches!(e, KeyError::Crypto(CryptoError::InvalidCiphertext))
    }

    #[tokio::test]
    async fn stored_material_loads_back_and_decrypts_what_the_new_key_encrypted() {
        let (root, _dir) = root();
        let backend = LocalBackend::new(&root);
        let id = [7u8; 32];
        let material_id = hex::encode(id);
        let generated = backend.generate(KeyKind::Symmetric).await.unwrap();
        let stored = backend.store_form(ARN, &material_id, &generated).unwrap();
        let created = backend.new_handle(id, generated);
        let context = canonical_encryption_context([("purpose", "test")]);
        let encrypted = created.encrypt([1; 16], &context, b"secret").await.unwrap();
        assert_eq!(encrypted.material_id, id);

        let load = |stored: Vec<u8>| {
            backend.load(
                &record(trent_wire::KeySpec::SymmetricDefault),
                KeyKind::Symmetric,
                id,
                true,
                vec![StoredMaterial {
                    material_id: material_id.clone(),
                    stored,
                }],
            )
        };
        let loaded = load(stored.clone()).unwrap();
        let blob = parse_blob(&encrypted.blob).unwrap();
        assert_eq!(blob.header.key_id, [1; 16]);
        let plain = loaded.decrypt(&blob, &context).await.unwrap();
        assert_eq!(plain.expose(), b"secret");
        // Another context, or material the key does not have: not this key's ciphertext.
        assert!(is_invalid_ciphertext(
            loaded.decrypt(&blob, b"").await.unwrap_err()
        ));
        let mut other = encrypted.blob.clone();
        other[17] ^= 1;
        let other = parse_blob(&other).unwrap();
        assert!(is_invalid_ciphertext(
            loaded.decrypt(&other, &context).await.unwrap_err()
        ));
        // Material sealed for another key does not load (fail closed).
        let moved = backend
            .store_form(&ARN.replace("1234abcd", "00000000"), &material_id, &{
                backend.generate(KeyKind::Symmetric).await.unwrap()
            })
            .unwrap();
        assert!(matches!(load(moved), Err(KmsError::Internal)));
        // A key whose state needs its current material refuses to load without it.
        let missing = backend.load(
            &record(trent_wire::KeySpec::SymmetricDefault),
            KeyKind::Symmetric,
            [9; 32],
            true,
            vec![StoredMaterial {
                material_id,
                stored,
            }],
        );
        assert!(matches!(missing, Err(KmsError::Internal)));
    }

    #[tokio::test]
    async fn a_key_asked_for_what_its_kind_cannot_do_answers_internal() {
        let (root, _dir) = root();
        let backend = LocalBackend::new(&root);
        let hmac = backend
            .generate(KeyKind::Hmac(HmacKeySpec::Hmac256))
            .await
            .unwrap();
        let hmac = backend.new_handle([1; 32], hmac);
        assert!(hmac.public_key().is_none());
        let e = hmac
            .sign(SigningAlgorithm::EcdsaSha256, MessageType::Raw, b"m")
            .await
            .unwrap_err();
        assert!(is_internal(e));
        assert!(is_internal(
            hmac.encrypt([0; 16], b"", b"m").await.unwrap_err()
        ));
        let mac = hmac.mac(MacAlgorithm::HmacSha256, b"m").await.unwrap();
        assert!(hmac
            .verify_mac(MacAlgorithm::HmacSha256, b"m", &mac)
            .await
            .unwrap());

        let pending = backend.without_material();
        assert!(pending.public_key().is_none());
        assert!(is_internal(
            pending.encrypt([0; 16], b"", b"m").await.unwrap_err()
        ));
    }

    #[tokio::test]
    async fn slow_private_keys_sign_on_the_blocking_pool_and_verify() {
        let (root, _dir) = root();
        let backend = LocalBackend::new(&root);
        let spec = AsymmetricKeySpec::Rsa3072;
        assert!(is_slow(spec));
        let pair = backend.generate(KeyKind::Asymmetric(spec)).await.unwrap();
        let pair = backend.new_handle([1; 32], pair);
        assert!(pair.public_key().is_some());
        let alg = SigningAlgorithm::RsassaPssSha256;
        let signature = pair.sign(alg, MessageType::Raw, b"message").await.unwrap();
        assert!(pair
            .verify(alg, MessageType::Raw, b"message", &signature)
            .await
            .unwrap());
        assert!(!pair
            .verify(alg, MessageType::Raw, b"other", &signature)
            .await
            .unwrap());
    }
}
