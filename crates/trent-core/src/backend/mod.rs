//! Key backends: where a KMS key's material lives, and what a loaded key can do with it.
//!
//! The split follows rustls's `SigningKey`/`Signer` (`src/crypto/signer.rs`): the protocol
//! side (here, the operations under `ops/`) decides *whether* a request may use a key and
//! *what* it means (key usage, key state, algorithm against key spec, AWS's errors); the
//! key side only does it. Two traits:
//!
//! - [`KeyBackend`] turns what the store keeps of a key (its record and its stored
//!   materials) into a [`Handle`], and makes new material (CreateKey, rotation) together
//!   with what the store is to keep of it.
//! - [`KeyHandle`] is a loaded, usable key: symmetric encryption into a ciphertext blob and
//!   back, asymmetric encryption and decryption, signing and verification, MACs, ECDH, and
//!   its public key. Every method is `async` (a remote backend waits on the network), but
//!   a backend whose work is local and fast answers with a future that is ready at once:
//!   no task, no allocation. Whether a slow private-key operation runs on the blocking
//!   pool is the backend's decision, not the operation's.
//!
//! Operations hold a [`Handle`], an enum over the backends: calls are dispatched by one
//! `match`, with no boxed future and no `dyn` call on the Encrypt/Decrypt hot path: either
//! [`Handle::Local`], material sealed under the root key in the store, unsealed into memory
//! when the key is loaded ([`local`]), or [`Handle::Token`], a key object inside the
//! PKCS#11 token of an `AWS_CLOUDHSM` custom key store ([`token`]).
//!
//! How the next backends plug in (issue 15), each as a new implementation of both traits
//! and a new variant of [`Handle`], chosen by what the key record says of where the key
//! lives (origin, custom key store id, key manager); no operation changes:
//!
//! - **A key inside a PKCS#11 token** (`AWS_CLOUDHSM` key stores, done: [`token`]): the
//!   handle keeps a reference to the token object (the store holds no material) and this
//!   node's connection to the token; `encrypt`/`decrypt` run in the token, on a session
//!   from the connection's pool; CreateKey makes the object in the token (non-extractable,
//!   sensitive) and stores its reference as the key's one material row.
//! - **An external key behind an XKS proxy** (`EXTERNAL_KEY_STORE`): `encrypt` encrypts
//!   under Trent's own material, then calls the proxy's `/encrypt`, and returns the bytes it
//!   produced (its ciphertext, IV and tag inside Trent's blob); `decrypt` undoes both.
//! - **An AWS managed key**: local material, another key manager; a new value of the
//!   record's key manager, not a new backend.
//!
//! A backend that cannot do its work (a token or proxy unreachable, a proxy error) answers
//! [`KeyError::Kms`] with the error AWS gives for it (`KMSInternalException`,
//! `XksProxy...`, `CustomKeyStoreInvalidStateException`, ...): the request fails, never
//! falls back to other material. A capability a key lacks (a symmetric key asked to sign)
//! is refused by the operation's checks before it gets here; a handle asked anyway answers
//! `KMSInternalException`, as Trent always has.

/// The [`KeyHandle`] methods of a backend whose keys only encrypt and decrypt symmetrically
/// (token and external keys): refused as any handle refuses what its key cannot do (the
/// operations check the key's usage before they get here).
macro_rules! refuse_all_but_symmetric {
    () => {
        async fn asymmetric_encrypt(
            &self,
            _: trent_crypto::AsymmetricEncryptionAlgorithm,
            _: &[u8],
        ) -> Result<Vec<u8>, $crate::backend::KeyError> {
            Err($crate::backend::KeyError::Kms($crate::KmsError::Internal))
        }

        async fn asymmetric_decrypt(
            &self,
            _: trent_crypto::AsymmetricEncryptionAlgorithm,
            _: &[u8],
        ) -> Result<trent_crypto::SecretBytes, $crate::backend::KeyError> {
            Err($crate::backend::KeyError::Kms($crate::KmsError::Internal))
        }

        async fn sign(
            &self,
            _: trent_crypto::SigningAlgorithm,
            _: trent_crypto::MessageType,
            _: &[u8],
        ) -> Result<Vec<u8>, $crate::backend::KeyError> {
            Err($crate::backend::KeyError::Kms($crate::KmsError::Internal))
        }

        async fn verify(
            &self,
            _: trent_crypto::SigningAlgorithm,
            _: trent_crypto::MessageType,
            _: &[u8],
            _: &[u8],
        ) -> Result<bool, $crate::backend::KeyError> {
            Err($crate::backend::KeyError::Kms($crate::KmsError::Internal))
        }

        async fn mac(
            &self,
            _: trent_crypto::MacAlgorithm,
            _: &[u8],
        ) -> Result<Vec<u8>, $crate::backend::KeyError> {
            Err($crate::backend::KeyError::Kms($crate::KmsError::Internal))
        }

        async fn verify_mac(
            &self,
            _: trent_crypto::MacAlgorithm,
            _: &[u8],
            _: &[u8],
        ) -> Result<bool, $crate::backend::KeyError> {
            Err($crate::backend::KeyError::Kms($crate::KmsError::Internal))
        }

        async fn derive_shared_secret(
            &self,
            _: &[u8],
        ) -> Result<trent_crypto::SecretBytes, $crate::backend::KeyError> {
            Err($crate::backend::KeyError::Kms($crate::KmsError::Internal))
        }

        fn public_key(&self) -> Option<&[u8]> {
            None
        }
    };
}
pub(crate) use refuse_all_but_symmetric;

pub(crate) mod external;
pub(crate) mod local;
pub(crate) mod token;

use std::future::Future;

use trent_crypto::{
    AsymmetricEncryptionAlgorithm, CryptoError, MacAlgorithm, MessageType, ParsedBlob, SecretBytes,
    SigningAlgorithm,
};
use trent_store::KeyRecord;

pub(crate) use local::{material_aad, LocalBackend, LocalKey};

use crate::keyspec::KeyKind;
use crate::KmsError;

/// Why a key operation failed.
#[derive(Debug)]
pub(crate) enum KeyError {
    /// The cryptographic layer refused the request's input (a ciphertext that does not
    /// open, a digest of the wrong length, a peer key on another curve): the operation
    /// says what that is in AWS's terms.
    Crypto(CryptoError),
    /// Already in AWS's terms: the key cannot do this at all, or its backend failed.
    Kms(KmsError),
}

impl KeyError {
    /// The error the caller gets: `crypto` says what a refusal of the crypto layer means
    /// to this operation.
    pub fn into_kms(self, crypto: impl FnOnce(CryptoError) -> KmsError) -> KmsError {
        match self {
            KeyError::Crypto(e) => crypto(e),
            KeyError::Kms(e) => e,
        }
    }
}

impl From<KmsError> for KeyError {
    fn from(e: KmsError) -> Self {
        KeyError::Kms(e)
    }
}

impl From<CryptoError> for KeyError {
    fn from(e: CryptoError) -> Self {
        KeyError::Crypto(e)
    }
}

/// A ciphertext blob a symmetric encryption key made.
#[derive(Debug)]
pub(crate) struct Encrypted {
    /// The blob, as the backend produced it (it names the key and the material version).
    pub blob: Vec<u8>,
    /// The material version that encrypted it (`KeyMaterialId` in responses).
    pub material_id: [u8; 32],
}

/// What a loaded key can do. The operation has checked the request (usage, state,
/// algorithm against the key spec, lengths) before it calls any of these.
pub(crate) trait KeyHandle {
    /// Encrypts `plaintext` into a ciphertext blob of the key `key_id` (its 16 blob bytes)
    /// under its current material, bound to `context` (the canonical encryption context).
    fn encrypt(
        &self,
        key_id: [u8; 16],
        context: &[u8],
        plaintext: &[u8],
    ) -> impl Future<Output = Result<Encrypted, KeyError>> + Send;

    /// Opens a ciphertext blob of this key under `context`. A blob of material the key does
    /// not have, or one that does not authenticate, is [`CryptoError::InvalidCiphertext`].
    fn decrypt(
        &self,
        blob: &ParsedBlob<'_>,
        context: &[u8],
    ) -> impl Future<Output = Result<SecretBytes, KeyError>> + Send;

    /// RSAES-OAEP / SM2PKE encryption with the key's public key.
    fn asymmetric_encrypt(
        &self,
        algorithm: AsymmetricEncryptionAlgorithm,
        plaintext: &[u8],
    ) -> impl Future<Output = Result<Vec<u8>, KeyError>> + Send;

    /// RSAES-OAEP / SM2PKE decryption with the key's private key.
    fn asymmetric_decrypt(
        &self,
        algorithm: AsymmetricEncryptionAlgorithm,
        ciphertext: &[u8],
    ) -> impl Future<Output = Result<SecretBytes, KeyError>> + Send;

    /// A signature of `message` (a message, a digest or an ML-DSA μ, as `message_type`
    /// says).
    fn sign(
        &self,
        algorithm: SigningAlgorithm,
        message_type: MessageType,
        message: &[u8],
    ) -> impl Future<Output = Result<Vec<u8>, KeyError>> + Send;

    /// Whether `signature` is the key's signature of `message`.
    fn verify(
        &self,
        algorithm: SigningAlgorithm,
        message_type: MessageType,
        message: &[u8],
        signature: &[u8],
    ) -> impl Future<Output = Result<bool, KeyError>> + Send;

    /// The HMAC of `message`.
    fn mac(
        &self,
        algorithm: MacAlgorithm,
        message: &[u8],
    ) -> impl Future<Output = Result<Vec<u8>, KeyError>> + Send;

    /// Whether `mac` is the HMAC of `message` (compared in constant time).
    fn verify_mac(
        &self,
        algorithm: MacAlgorithm,
        message: &[u8],
        mac: &[u8],
    ) -> impl Future<Output = Result<bool, KeyError>> + Send;

    /// ECDH with the peer's public key (DER SubjectPublicKeyInfo): the raw shared secret.
    fn derive_shared_secret(
        &self,
        peer_public_key: &[u8],
    ) -> impl Future<Output = Result<SecretBytes, KeyError>> + Send;

    /// The public key (DER SubjectPublicKeyInfo) of a key pair; `None` for symmetric and
    /// HMAC keys. Known once the key is loaded.
    fn public_key(&self) -> Option<&[u8]>;
}

/// A loaded key of any backend (see the module documentation).
#[derive(Debug, Clone)]
pub(crate) enum Handle {
    /// Material sealed under the root key, unsealed in memory.
    Local(LocalKey),
    /// A key object inside the PKCS#11 token of an `AWS_CLOUDHSM` custom key store.
    Token(token::TokenKey),
    /// A key of an external key store: local material, and the external key through the
    /// store's XKS proxy (double encryption).
    External(external::ExternalKey),
}

/// Forwards a [`KeyHandle`] method to the backend's handle.
macro_rules! dispatch {
    ($self:ident, $k:ident => $call:expr) => {
        match $self {
            Handle::Local($k) => $call,
            Handle::Token($k) => $call,
            Handle::External($k) => $call,
        }
    };
}

impl KeyHandle for Handle {
    async fn encrypt(
        &self,
        key_id: [u8; 16],
        context: &[u8],
        plaintext: &[u8],
    ) -> Result<Encrypted, KeyError> {
        dispatch!(self, k => k.encrypt(key_id, context, plaintext).await)
    }

    async fn decrypt(
        &self,
        blob: &ParsedBlob<'_>,
        context: &[u8],
    ) -> Result<SecretBytes, KeyError> {
        dispatch!(self, k => k.decrypt(blob, context).await)
    }

    async fn asymmetric_encrypt(
        &self,
        algorithm: AsymmetricEncryptionAlgorithm,
        plaintext: &[u8],
    ) -> Result<Vec<u8>, KeyError> {
        dispatch!(self, k => k.asymmetric_encrypt(algorithm, plaintext).await)
    }

    async fn asymmetric_decrypt(
        &self,
        algorithm: AsymmetricEncryptionAlgorithm,
        ciphertext: &[u8],
    ) -> Result<SecretBytes, KeyError> {
        dispatch!(self, k => k.asymmetric_decrypt(algorithm, ciphertext).await)
    }

    async fn sign(
        &self,
        algorithm: SigningAlgorithm,
        message_type: MessageType,
        message: &[u8],
    ) -> Result<Vec<u8>, KeyError> {
        dispatch!(self, k => k.sign(algorithm, message_type, message).await)
    }

    async fn verify(
        &self,
        algorithm: SigningAlgorithm,
        message_type: MessageType,
        message: &[u8],
        signature: &[u8],
    ) -> Result<bool, KeyError> {
        dispatch!(self, k => k.verify(algorithm, message_type, message, signature).await)
    }

    async fn mac(&self, algorithm: MacAlgorithm, message: &[u8]) -> Result<Vec<u8>, KeyError> {
        dispatch!(self, k => k.mac(algorithm, message).await)
    }

    async fn verify_mac(
        &self,
        algorithm: MacAlgorithm,
        message: &[u8],
        mac: &[u8],
    ) -> Result<bool, KeyError> {
        dispatch!(self, k => k.verify_mac(algorithm, message, mac).await)
    }

    async fn derive_shared_secret(&self, peer_public_key: &[u8]) -> Result<SecretBytes, KeyError> {
        dispatch!(self, k => k.derive_shared_secret(peer_public_key).await)
    }

    fn public_key(&self) -> Option<&[u8]> {
        dispatch!(self, k => k.public_key())
    }
}

/// A material as the store keeps it: its id (64 hex digits) and its stored form (sealed
/// bytes for local material).
pub(crate) struct StoredMaterial {
    pub material_id: String,
    pub stored: Vec<u8>,
}

/// Where keys of one kind live: loads them from what the store keeps, and makes new
/// material. The key service picks the backend by what the key record says of where the
/// key lives (its custom key store, if any).
pub(crate) trait KeyBackend {
    /// Fresh material made for a new key or key version, not yet bound to either.
    type Generated: Send;

    /// Makes new material of `kind` (CreateKey, rotation). Slow generation (RSA key
    /// pairs) must not stall the caller's worker thread.
    fn generate(
        &self,
        kind: KeyKind,
    ) -> impl Future<Output = Result<Self::Generated, KmsError>> + Send;

    /// What the store keeps of `generated` as the material `material_id` of the key
    /// `key_arn` (bound to both).
    fn store_form(
        &self,
        key_arn: &str,
        material_id: &str,
        generated: &Self::Generated,
    ) -> Result<Vec<u8>, KmsError>;

    /// The handle of a new key whose only material is `generated`, as `material_id`.
    fn new_handle(&self, material_id: [u8; 32], generated: Self::Generated) -> Handle;

    /// The handle of a stored key: `record` with `stored`, its materials (a key pending
    /// import may have none). `current` is the current material's id; `require_current`
    /// says that the key's state needs it present.
    fn load(
        &self,
        record: &KeyRecord,
        kind: KeyKind,
        current: [u8; 32],
        require_current: bool,
        stored: Vec<StoredMaterial>,
    ) -> Result<Handle, KmsError>;
}
