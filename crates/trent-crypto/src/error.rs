//! The crate's error types. No variant ever carries secret bytes.

use std::path::PathBuf;

/// A failure of a cryptographic operation.
///
/// Deliberately coarse where detail would help an attacker: a blob that fails to
/// authenticate is [`CryptoError::InvalidCiphertext`] whatever the reason (wrong
/// key, wrong context, tampering, truncation).
#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    /// The system random number generator failed.
    #[error("the system random number generator failed")]
    RandomFailure,
    /// Key material of the wrong size was supplied.
    #[error("invalid key length: expected {expected} bytes, got {actual}")]
    InvalidKeyLength {
        /// Required length in bytes.
        expected: usize,
        /// Supplied length in bytes.
        actual: usize,
    },
    /// The AEAD refused to encrypt (should not happen with valid inputs).
    #[error("encryption failed")]
    EncryptionFailure,
    /// A ciphertext blob is malformed, was tampered with, or does not belong to
    /// this key and encryption context.
    #[error("the ciphertext is invalid")]
    InvalidCiphertext,
    /// Sealing a secret under the root key failed.
    #[error("sealing under the root key failed")]
    SealFailure,
    /// A sealed secret could not be unsealed: wrong root key, wrong associated
    /// data, tampering, truncation or unknown format version.
    #[error("unsealing under the root key failed")]
    UnsealFailure,
    /// The algorithm (or message type) cannot be used with this key.
    #[error("the algorithm is not compatible with this key")]
    IncompatibleAlgorithm,
    /// A DIGEST or EXTERNAL_MU message has the wrong length for the algorithm.
    #[error("invalid digest length: expected {expected} bytes, got {actual}")]
    InvalidDigestLength {
        /// Required length in bytes.
        expected: usize,
        /// Supplied length in bytes.
        actual: usize,
    },
    /// Private (or HMAC) key material is malformed or not of the expected spec.
    #[error("the key material is invalid for this key spec")]
    InvalidKeyMaterial,
    /// A public key is malformed, or not on the expected curve / of the expected spec.
    #[error("the public key is invalid for this key spec")]
    InvalidPublicKey,
    /// The plaintext is longer than the algorithm accepts with this key.
    #[error("the plaintext is too large for this key and algorithm")]
    PlaintextTooLarge,
    /// Key generation failed (should not happen).
    #[error("key generation failed")]
    KeyGenerationFailure,
    /// The signing primitive failed (should not happen with valid inputs).
    #[error("signing failed")]
    SigningFailure,
    /// The device holding the key (a PKCS#11 token) failed the operation for a reason
    /// other than the data.
    #[error("the device holding the key failed")]
    DeviceFailure,
}

/// A failure to create or load a root key.
///
/// The messages are meant for an operator reading the server's start-up output.
#[derive(Debug, thiserror::Error)]
pub enum RootKeyError {
    /// The root key file does not exist.
    #[error("root key file {} does not exist", path.display())]
    NotFound {
        /// Where the file was expected.
        path: PathBuf,
    },
    /// Refused to create a root key file because one is already there.
    #[error("root key file {} already exists; refusing to overwrite it", path.display())]
    AlreadyExists {
        /// The existing file.
        path: PathBuf,
    },
    /// Reading or writing the root key file failed.
    #[error("I/O error on root key file {}", path.display())]
    Io {
        /// The file concerned.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The file is readable or writable by group or others (as ssh refuses a private
    /// key file that is): whoever can read it can unseal everything.
    #[error(
        "root key file {} has mode {mode:04o}: it must not be accessible by group or others; run `chmod 600 {}`",
        path.display(),
        path.display()
    )]
    TooOpen {
        /// The file concerned.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The file exists but does not hold a valid root key: bad format, wrong
    /// length, checksum mismatch. `reason` never contains key bytes.
    #[error("root key file {} is damaged: {reason}", path.display())]
    Damaged {
        /// The file concerned.
        path: PathBuf,
        /// What is wrong with it, for a human.
        reason: String,
    },
    /// The cryptographic layer failed (e.g. the random number generator).
    #[error("cannot set up the root key")]
    Crypto(#[from] CryptoError),
    /// The `pkcs11` provider cannot start: `message` names the module, token or key
    /// concerned and never contains the PIN.
    #[error("pkcs11 root key: {message}")]
    Pkcs11 {
        /// What kind of refusal, for callers that react to it.
        refusal: Pkcs11Refusal,
        /// For an operator.
        message: String,
    },
    /// The `passphrase` provider cannot start (no passphrase, wrong passphrase, damaged
    /// file); never contains the passphrase.
    #[error("passphrase root key: {0}")]
    Passphrase(String),
    /// A file holding a secret (the PKCS#11 PIN, the passphrase) cannot be used.
    #[error("secret file {}: {reason}", path.display())]
    SecretFile {
        /// The file concerned.
        path: PathBuf,
        /// What is wrong with it; never its content.
        reason: String,
    },
}

/// Why the `pkcs11` provider refused to start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pkcs11Refusal {
    /// The PKCS#11 module (shared library) cannot be loaded or initialized.
    Module,
    /// No initialized token carries the configured label (or several do).
    TokenNotFound,
    /// The token holds no AES key with the configured label (or several).
    KeyNotFound,
    /// The key exists but is not an AES-256 key that is sensitive and non-extractable.
    KeyNotProtected,
    /// The token refused the PIN (CKR_PIN_INCORRECT).
    PinIncorrect,
    /// The token's user PIN is locked.
    PinLocked,
    /// No PIN was given.
    NoPin,
    /// Any other failure of the module or token.
    Device,
}
