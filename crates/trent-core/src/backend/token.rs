//! The token backend: a symmetric KMS key of an `AWS_CLOUDHSM` custom key store, an
//! AES-256 key object inside the store's PKCS#11 token (`trent_crypto::TokenKeyStore`).
//! The store keeps no material of it, not even sealed: its one material row holds the
//! token object's `CKA_ID` ([`stored_form`]). Encryption and decryption run in the token,
//! on the blocking pool (a real HSM answers in milliseconds), into version-3 blobs.
//!
//! A key whose store is not connected (on this node: not `CONNECTED`, or this node could
//! not log in) has a handle without a connection: every cryptographic use is refused as
//! AWS refuses a key that is `Unavailable`.

use std::sync::Arc;

use trent_crypto::{BlobHeader, CryptoError, ParsedBlob, SecretBytes, TokenError, TokenKeyStore};

use super::{Encrypted, KeyError, KeyHandle};
use crate::KmsError;

/// What a material row of a token-resident key holds: this prefix and the object's
/// `CKA_ID`.
const STORED_PREFIX: &[u8] = b"pkcs11-object-id:";

/// The stored form of a token key's one material: a reference, not material.
pub(crate) fn stored_form(object_id: &[u8; 16]) -> Vec<u8> {
    let mut out = STORED_PREFIX.to_vec();
    out.extend_from_slice(object_id);
    out
}

/// The object id a material row of a token key holds.
pub(crate) fn object_id(stored: &[u8]) -> Option<[u8; 16]> {
    stored.strip_prefix(STORED_PREFIX)?.try_into().ok()
}

/// A loaded token key.
#[derive(Clone)]
pub(crate) struct TokenKey {
    /// The key's ARN, for the refusal of an unavailable key.
    pub arn: String,
    pub object_id: [u8; 16],
    pub material_id: [u8; 32],
    /// `None` while the key is unavailable.
    pub connection: Option<Arc<TokenKeyStore>>,
}

impl std::fmt::Debug for TokenKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenKey")
            .field("arn", &self.arn)
            .field("connected", &self.connection.is_some())
            .finish_non_exhaustive()
    }
}

impl TokenKey {
    fn connection(&self) -> Result<Arc<TokenKeyStore>, KeyError> {
        self.connection.clone().ok_or_else(|| {
            KeyError::Kms(KmsError::InvalidState {
                arn: self.arn.clone(),
                state: "unavailable".into(),
            })
        })
    }

    async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce(&TokenKeyStore) -> Result<T, TokenError> + Send + 'static,
    ) -> Result<T, KeyError> {
        let connection = self.connection()?;
        let done = tokio::task::spawn_blocking(move || work(&connection))
            .await
            .map_err(|_| KeyError::Kms(KmsError::Internal))?;
        done.map_err(|e| match e {
            TokenError::Crypto(c) => KeyError::Crypto(c),
            other => {
                tracing::error!(error = %other, "a token key operation failed");
                KeyError::Kms(KmsError::Internal)
            }
        })
    }
}

impl KeyHandle for TokenKey {
    async fn encrypt(
        &self,
        key_id: [u8; 16],
        context: &[u8],
        plaintext: &[u8],
    ) -> Result<Encrypted, KeyError> {
        let header = BlobHeader {
            key_id,
            material_id: self.material_id,
        };
        let (object, context, plaintext) = (
            self.object_id,
            context.to_vec(),
            SecretBytes::new(plaintext.to_vec()),
        );
        let blob = self
            .blocking(move |t| t.encrypt_blob(&object, &header, &context, plaintext.expose()))
            .await?;
        Ok(Encrypted {
            blob,
            material_id: self.material_id,
        })
    }

    async fn decrypt(
        &self,
        blob: &ParsedBlob<'_>,
        context: &[u8],
    ) -> Result<SecretBytes, KeyError> {
        if blob.header.material_id != self.material_id {
            return Err(KeyError::Crypto(CryptoError::InvalidCiphertext));
        }
        // The blob borrows the request: the blocking task gets its own copy of its parts.
        let parts = blob.token_parts(context)?;
        let (object, nonce, aad, ciphertext) = (
            self.object_id,
            parts.nonce,
            parts.aad,
            parts.ciphertext_and_tag.to_vec(),
        );
        self.blocking(move |t| t.decrypt_parts(&object, &nonce, &aad, &ciphertext))
            .await
    }

    super::refuse_all_but_symmetric!();
}
