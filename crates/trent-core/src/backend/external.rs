//! The external backend: a symmetric KMS key of an external key store. Its own material
//! is local (sealed under the root key, as any key's), and every encryption is double, as
//! AWS KMS's is for such keys: first under the key's material (a version-2 blob), then
//! that blob under the external key by the store's XKS proxy (the outer, version-4 blob,
//! whose AAD binds the header and the encryption context). Decryption undoes both; no
//! plaintext is ever produced without the proxy.
//!
//! A key whose store is not connected has no proxy: every use is refused as AWS refuses
//! a key that is `Unavailable`. A proxy that fails (unreachable, slow, refusing) makes
//! the operation fail with `KMSInvalidStateException`, as AWS KMS's cryptographic
//! operations answer for every failure of an external key store; a ciphertext the proxy
//! does not authenticate is `InvalidCiphertextException`.

use std::sync::Arc;

use trent_crypto::{BlobHeader, CryptoError, ParsedBlob, SecretBytes, BLOB_VERSION, TAG_LEN};
use trent_wire::ErrorCode;

use super::{Encrypted, KeyError, KeyHandle, LocalKey};
use crate::external_key_stores::{
    current_metadata, XksEncrypted, XksFailure, XksProxy, XksProxyClient,
};
use crate::KmsError;

/// A key store's proxy and how to reach it.
#[derive(Debug)]
pub(crate) struct Connection {
    pub client: Arc<dyn XksProxyClient>,
    pub proxy: XksProxy,
}

/// A loaded key of an external key store.
#[derive(Debug, Clone)]
pub(crate) struct ExternalKey {
    pub local: LocalKey,
    pub arn: String,
    pub xks_key_id: String,
    /// `None` while the key is unavailable.
    pub connection: Option<Arc<Connection>>,
}

/// How a cryptographic operation fails when the proxy does.
fn proxy_failed(e: XksFailure) -> KeyError {
    if e == XksFailure::Proxy("InvalidCiphertextException".into()) {
        return KeyError::Crypto(CryptoError::InvalidCiphertext);
    }
    tracing::warn!(failure = ?e, "an external key store's proxy failed a cryptographic operation");
    KeyError::Kms(KmsError::CustomKeyStore {
        code: ErrorCode::KMSInvalidStateException,
        message: match e {
            XksFailure::TimedOut => "The external key store proxy did not respond in time.".into(),
            XksFailure::AccessDenied => {
                "The external key store proxy rejected the request's authentication.".into()
            }
            XksFailure::Proxy(name) => format!("The external key store proxy answered {name}."),
            XksFailure::Unreachable(_) | XksFailure::Tls(_) => {
                "KMS cannot reach the external key store proxy.".into()
            }
            XksFailure::InvalidUriPath | XksFailure::InvalidResponse(_) => {
                "KMS cannot interpret the response of the external key store proxy.".into()
            }
        },
    })
}

impl ExternalKey {
    fn connection(
        &self,
    ) -> Result<(&Connection, crate::external_key_stores::XksRequestMetadata), KeyError> {
        let connection = self.connection.as_deref().ok_or_else(|| {
            KeyError::Kms(KmsError::InvalidState {
                arn: self.arn.clone(),
                state: "unavailable".into(),
            })
        })?;
        let metadata = current_metadata(&self.arn).ok_or_else(|| {
            tracing::error!("an external key used outside of a request");
            KeyError::Kms(KmsError::Internal)
        })?;
        Ok((connection, metadata))
    }
}

impl KeyHandle for ExternalKey {
    async fn encrypt(
        &self,
        key_id: [u8; 16],
        context: &[u8],
        plaintext: &[u8],
    ) -> Result<Encrypted, KeyError> {
        let (c, metadata) = self.connection()?;
        let inner = self.local.encrypt(key_id, context, plaintext).await?;
        let header = BlobHeader {
            key_id,
            material_id: inner.material_id,
        };
        let aad = trent_crypto::external_blob_aad(&header, context);
        let outer = c
            .client
            .encrypt(&c.proxy, &self.xks_key_id, &aad, &inner.blob, &metadata)
            .await
            .map_err(proxy_failed)?;
        let mut ciphertext_and_tag = outer.ciphertext;
        ciphertext_and_tag.extend_from_slice(&outer.tag);
        Ok(Encrypted {
            blob: trent_crypto::external_blob(&header, &outer.iv, &ciphertext_and_tag),
            material_id: inner.material_id,
        })
    }

    async fn decrypt(
        &self,
        blob: &ParsedBlob<'_>,
        context: &[u8],
    ) -> Result<SecretBytes, KeyError> {
        let (c, metadata) = self.connection()?;
        let parts = blob.external_parts(context)?;
        let (ciphertext, tag) = parts
            .ciphertext_and_tag
            .split_at(parts.ciphertext_and_tag.len() - TAG_LEN);
        let encrypted = XksEncrypted {
            iv: parts.nonce,
            ciphertext: ciphertext.to_vec(),
            tag: tag.try_into().map_err(|_| CryptoError::InvalidCiphertext)?,
        };
        let inner = c
            .client
            .decrypt(
                &c.proxy,
                &self.xks_key_id,
                &parts.aad,
                &encrypted,
                &metadata,
            )
            .await
            .map_err(proxy_failed)?;
        // The inner blob must be the key's own, for the header the outer one names.
        let inner_blob = trent_crypto::parse_blob(inner.expose())?;
        if inner_blob.version() != BLOB_VERSION || inner_blob.header != blob.header {
            return Err(CryptoError::InvalidCiphertext.into());
        }
        self.local.decrypt(&inner_blob, context).await
    }

    super::refuse_all_but_symmetric!();
}
