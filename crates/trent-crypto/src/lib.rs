//! Trent's cryptography: secret byte containers, AES-256-GCM, the symmetric
//! ciphertext-blob format, the canonical encryption-context encoding, the
//! root-key providers that seal every secret the store keeps, and the
//! asymmetric (RSA, ECDSA, Ed25519, ML-DSA, SM2, ECDH) and HMAC keys of AWS
//! KMS's key specs.
//!
//! This crate knows nothing of HTTP, storage or policy. It must never let
//! secret bytes escape in plaintext: not into errors, `Debug`/`Display` output,
//! logs or files (the root key file is the single, deliberate exception, mode
//! 0600); every buffer holding a secret is zeroized on drop. It must never
//! implement a cryptographic primitive itself: the primitives come from
//! aws-lc-rs wherever aws-lc-rs has the algorithm, and otherwise from named,
//! well-kept crates (RustCrypto `sm2` for SM2, RustCrypto `ml-dsa` for ML-DSA
//! signing on an external μ, `ed25519-dalek` for Ed25519ph), each module
//! saying why. RSA private-key operations never leave aws-lc-rs (constant-time;
//! the `rsa` crate has the Marvin timing advisory RUSTSEC-2023-0071). And it
//! must never reuse a nonce: every encryption draws a fresh random 96-bit nonce,
//! and ciphertext blobs do so under a key derived for that one ciphertext.

mod aead;
mod asymmetric;
mod blob;
mod context;
mod error;
mod file_root_key;
mod hmac;
mod import;
mod passphrase_root_key;
mod pkcs11_root_key;
mod pkcs11_sessions;
mod pkcs11_token;
mod provider;
mod random;
mod rng;
mod sealing;
mod secret;
mod secret_file;
mod xks;

pub use aead::{KEY_LEN, NONCE_LEN, TAG_LEN};
pub use asymmetric::certificate_subject_common_names;
pub use asymmetric::{
    AsymmetricEncryptionAlgorithm, AsymmetricKeySpec, MessageType, PrivateKey, PublicKey,
    SigningAlgorithm,
};
pub use blob::{
    external_blob, external_blob_aad, parse_blob, token_blob, token_blob_aad, BlobHeader,
    ParsedBlob, SymmetricKey, TokenBlobParts, BLOB_HEADER_LEN, BLOB_OVERHEAD, BLOB_SALT_LEN,
    BLOB_V1_OVERHEAD, BLOB_VERSION, BLOB_VERSION_EXTERNAL, BLOB_VERSION_TOKEN, BLOB_VERSION_V1,
};
pub use context::canonical_encryption_context;
pub use error::{CryptoError, Pkcs11Refusal, RootKeyError};
pub use file_root_key::FileRootKey;
pub use hmac::{HmacKey, HmacKeySpec, MacAlgorithm};
pub use import::{WrappingAlgorithm, WrappingKey, WrappingKeySpec};
pub use passphrase_root_key::{PassphraseRootKey, PASSPHRASE_ROOT_KEY_FILE};
pub use pkcs11_root_key::{
    KeyCreation, Pkcs11Config, Pkcs11RootKey, DEFAULT_POOL_SIZE, PKCS11_SEALED_VERSION,
    PKCS11_WRAPPED_VERSION,
};
pub use pkcs11_token::{TokenError, TokenKeyAttributes, TokenKeyStore, TOKEN_POOL_SIZE};
pub use provider::Provider;
pub use random::{random_array, random_bytes};
pub use sealing::{RootKeyProvider, SealingKey, SEALED_OVERHEAD, SEALED_VERSION};
pub use secret::SecretBytes;
pub use secret_file::read_secret_file;
pub use xks::{XksCiphertext, XksKey, XksMasterKey};

/// SHA-256 of the concatenation of `parts`.
pub fn sha256(parts: &[&[u8]]) -> [u8; 32] {
    let mut hash = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
    for part in parts {
        hash.update(part);
    }
    let mut out = [0u8; 32];
    out.copy_from_slice(hash.finish().as_ref());
    out
}
