//! Trent's cryptography: secret byte containers, AES-256-GCM over aws-lc-rs,
//! the symmetric ciphertext-blob format, the canonical encryption-context
//! encoding, and the root-key providers that seal every secret the store keeps.
//!
//! This crate knows nothing of HTTP, storage or policy. It must never let
//! secret bytes escape in plaintext: not into errors, `Debug`/`Display` output,
//! logs or files (the root key file is the single, deliberate exception, mode
//! 0600); every buffer holding a secret is zeroized on drop. It must never
//! implement a cryptographic primitive itself: all primitives come from
//! aws-lc-rs. And it must never reuse a nonce: every encryption draws a fresh
//! random 96-bit nonce.

mod aead;
mod blob;
mod context;
mod error;
mod file_root_key;
mod random;
mod sealing;
mod secret;

pub use aead::{KEY_LEN, NONCE_LEN, TAG_LEN};
pub use blob::{
    parse_blob, BlobHeader, ParsedBlob, SymmetricKey, BLOB_HEADER_LEN, BLOB_OVERHEAD, BLOB_VERSION,
};
pub use context::canonical_encryption_context;
pub use error::{CryptoError, RootKeyError};
pub use file_root_key::FileRootKey;
pub use random::{random_array, random_bytes};
pub use sealing::{RootKeyProvider, SealingKey, SEALED_OVERHEAD, SEALED_VERSION};
pub use secret::SecretBytes;
