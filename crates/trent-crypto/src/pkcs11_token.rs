//! Keys inside a PKCS#11 token: the KMS keys of an `AWS_CLOUDHSM` custom key store, whose
//! "cluster" is a token (see the key service's `custom_key_stores`). Each KMS key is one
//! AES-256 secret key object generated in the token (CKM_AES_KEY_GEN; `CKA_TOKEN`,
//! `CKA_PRIVATE`, `CKA_SENSITIVE` true, `CKA_EXTRACTABLE` false, encrypt and decrypt
//! only), found by its `CKA_ID` (16 random bytes, what the store keeps of the key instead
//! of material) and labelled with the KMS key id for whoever lists the token. Encryption
//! and decryption run in the token (CKM_AES_GCM, random 96-bit IV from aws-lc, 128-bit
//! tag), into and out of version-3 ciphertext blobs ([`crate::token_blob`]).
//!
//! A [`TokenKeyStore`] is one connection to the token: the user logged in with the
//! store's password (AWS's `kmsuser` crypto user) on a keeper session, and a bounded pool
//! of sessions (`pkcs11_sessions.rs`). Dropping it closes them (disconnection).

use std::collections::HashMap;
use std::fmt;
use std::path::Path;

use cryptoki::error::{Error as CkError, RvError};
use cryptoki::mechanism::aead::GcmParams;
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::Session;
use parking_lot::Mutex;

use crate::aead::{NONCE_LEN, TAG_LEN};
use crate::blob::{token_blob, token_blob_aad, BlobHeader, ParsedBlob};
use crate::pkcs11_sessions::{
    is_data_error, protected_aes_key_attributes, TokenSessions, MODULE_LOCK,
};
use crate::{random_array, CryptoError, RootKeyError, SecretBytes};

/// Sessions a custom key store's connection holds at most.
pub const TOKEN_POOL_SIZE: usize = 4;
const TAG_BITS: u64 = (TAG_LEN * 8) as u64;

/// Why a token operation failed.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// The token holds no key with this id (deleted from the token behind Trent's back).
    #[error("the token holds no key with this id")]
    KeyNotFound,
    /// The ciphertext does not open under the key (tampered, wrong context).
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    /// The token or its module failed (never the PIN in it).
    #[error("token \"{token}\": {what}")]
    Device { token: String, what: String },
}

/// What a key object in the token is, as read from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenKeyAttributes {
    pub extractable: bool,
    pub sensitive: bool,
    pub value_len: u64,
}

/// The protection attributes of the key object `key`.
pub(crate) fn read_attributes(
    session: &Session,
    key: ObjectHandle,
) -> Result<TokenKeyAttributes, CkError> {
    let attributes = session.get_attributes(
        key,
        &[
            AttributeType::Extractable,
            AttributeType::Sensitive,
            AttributeType::ValueLen,
        ],
    )?;
    let mut out = TokenKeyAttributes {
        extractable: true,
        sensitive: false,
        value_len: 0,
    };
    for attribute in attributes {
        match attribute {
            Attribute::Extractable(v) => out.extractable = v,
            Attribute::Sensitive(v) => out.sensitive = v,
            Attribute::ValueLen(v) => out.value_len = u64::from(v),
            _ => {}
        }
    }
    Ok(out)
}

/// A connection to a token holding KMS keys (see the module documentation).
pub struct TokenKeyStore {
    sessions: TokenSessions,
    /// Object handles of the keys used so far, by `CKA_ID`.
    handles: Mutex<HashMap<[u8; 16], ObjectHandle>>,
}

impl TokenKeyStore {
    /// Loads the module, finds the token by its label and logs the user in with `pin`.
    /// Fails as the root key provider does ([`RootKeyError::Pkcs11`] with its
    /// [`crate::Pkcs11Refusal`]: module, token not found, PIN incorrect or locked, device).
    pub fn connect(module: &Path, token_label: &str, pin: &str) -> Result<Self, RootKeyError> {
        Ok(Self {
            sessions: TokenSessions::open(module, token_label, pin, TOKEN_POOL_SIZE)?,
            handles: Mutex::new(HashMap::new()),
        })
    }

    fn device(&self, what: &str, e: CkError) -> TokenError {
        TokenError::Device {
            token: self.sessions.token_label().to_owned(),
            what: format!("{what}: {e}"),
        }
    }

    /// Generates a new AES-256 key in the token, labelled `label`; returns its `CKA_ID`.
    pub fn generate_key(&self, label: &str) -> Result<[u8; 16], TokenError> {
        let id = random_array::<16>()?;
        let mut template = template(&id);
        template.push(Attribute::Label(label.as_bytes().to_vec()));
        template.extend(protected_aes_key_attributes());
        template.extend([
            Attribute::Sign(false),
            Attribute::Verify(false),
            Attribute::Derive(false),
        ]);
        let _module_lock = MODULE_LOCK.lock();
        let rw = self.sessions.open_rw().map_err(|e| TokenError::Device {
            token: self.sessions.token_label().to_owned(),
            what: e.to_string(),
        })?;
        let handle = rw
            .generate_key(&Mechanism::AesKeyGen, &template)
            .map_err(|e| self.device("generating a key", e))?;
        drop(rw);
        self.handles.lock().insert(id, handle);
        Ok(id)
    }

    /// Destroys the key `id`; `false` if the token holds none.
    pub fn destroy_key(&self, id: &[u8; 16]) -> Result<bool, TokenError> {
        let _module_lock = MODULE_LOCK.lock();
        let rw = self.sessions.open_rw().map_err(|e| TokenError::Device {
            token: self.sessions.token_label().to_owned(),
            what: e.to_string(),
        })?;
        let found = rw
            .find_objects(&template(id))
            .map_err(|e| self.device("finding a key", e))?;
        for object in &found {
            rw.destroy_object(*object)
                .map_err(|e| self.device("destroying a key", e))?;
        }
        drop(rw);
        self.handles.lock().remove(id);
        Ok(!found.is_empty())
    }

    /// The attributes of the key `id` that say it cannot leave the token.
    pub fn key_attributes(&self, id: &[u8; 16]) -> Result<TokenKeyAttributes, TokenError> {
        self.with_key(id, read_attributes)
    }

    /// Encrypts `plaintext` in the token under the key `id` into a version-3 blob of
    /// `header`, bound to `context`.
    pub fn encrypt_blob(
        &self,
        id: &[u8; 16],
        header: &BlobHeader,
        context: &[u8],
        plaintext: &[u8],
    ) -> Result<Vec<u8>, TokenError> {
        let aad = token_blob_aad(header, context);
        let (iv, ciphertext) = self.with_key(id, |session, key| {
            // A fresh IV for every attempt (a retry on a new session too).
            let mut iv: [u8; NONCE_LEN] = random_array().map_err(|_| CkError::InvalidValue)?;
            let params = GcmParams::new(&mut iv, &aad, TAG_BITS.into())?;
            let ciphertext = session.encrypt(&Mechanism::AesGcm(params), key, plaintext)?;
            Ok((iv, ciphertext))
        })?;
        if ciphertext.len() != plaintext.len() + TAG_LEN {
            return Err(CryptoError::EncryptionFailure.into());
        }
        Ok(token_blob(header, &iv, &ciphertext))
    }

    /// Opens a version-3 blob in the token under the key `id` and `context`;
    /// [`CryptoError::InvalidCiphertext`] if it does not authenticate.
    pub fn decrypt_blob(
        &self,
        id: &[u8; 16],
        blob: &ParsedBlob<'_>,
        context: &[u8],
    ) -> Result<SecretBytes, TokenError> {
        let parts = blob.token_parts(context)?;
        self.decrypt_parts(id, &parts.nonce, &parts.aad, parts.ciphertext_and_tag)
    }

    /// [`decrypt_blob`](Self::decrypt_blob) of a blob's parts
    /// ([`ParsedBlob::token_parts`]), for a caller that must own them (a blocking task).
    pub fn decrypt_parts(
        &self,
        id: &[u8; 16],
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        ciphertext_and_tag: &[u8],
    ) -> Result<SecretBytes, TokenError> {
        let opened = self.with_key(id, |session, key| {
            let mut iv = *nonce;
            let params = GcmParams::new(&mut iv, aad, TAG_BITS.into())?;
            session.decrypt(&Mechanism::AesGcm(params), key, ciphertext_and_tag)
        });
        match opened {
            Ok(plaintext) if plaintext.len() + TAG_LEN == ciphertext_and_tag.len() => {
                Ok(SecretBytes::new(plaintext))
            }
            Ok(_) => Err(CryptoError::InvalidCiphertext.into()),
            Err(e) => Err(e),
        }
    }

    /// `n` random bytes from the token's generator (C_GenerateRandom).
    pub fn random(&self, n: usize) -> Result<SecretBytes, TokenError> {
        let n = u32::try_from(n).map_err(|_| CryptoError::RandomFailure)?;
        self.with_session(|session| session.generate_random_vec(n))
            .map(SecretBytes::new)
    }

    /// Whether the token answers (a health probe: its information read through a pooled
    /// session's slot).
    pub fn probe(&self) -> Result<(), TokenError> {
        self.with_session(|session| session.get_session_info().map(|_| ()))
    }

    fn find(&self, session: &Session, id: &[u8; 16]) -> Result<Option<ObjectHandle>, CkError> {
        if let Some(handle) = self.handles.lock().get(id) {
            return Ok(Some(*handle));
        }
        let found = session.find_objects(&template(id))?;
        match found.as_slice() {
            [handle] => {
                self.handles.lock().insert(*id, *handle);
                Ok(Some(*handle))
            }
            _ => Ok(None),
        }
    }

    /// Runs `op` with the key `id` on a pooled session; a data refusal is
    /// [`CryptoError::InvalidCiphertext`], a missing key [`TokenError::KeyNotFound`].
    fn with_key<T>(
        &self,
        id: &[u8; 16],
        op: impl Fn(&Session, ObjectHandle) -> Result<T, CkError>,
    ) -> Result<T, TokenError> {
        let mut missing = false;
        let result = self.with_session(|session| {
            let Some(key) = self.find(session, id)? else {
                missing = true;
                return Err(CkError::Pkcs11(
                    RvError::KeyHandleInvalid,
                    cryptoki::context::Function::FindObjects,
                ));
            };
            match op(session, key) {
                // A stale handle: forget it, so the retry finds the key again.
                Err(
                    e
                    @ CkError::Pkcs11(RvError::KeyHandleInvalid | RvError::ObjectHandleInvalid, _),
                ) => {
                    self.handles.lock().remove(id);
                    Err(e)
                }
                other => other,
            }
        });
        if missing {
            return Err(TokenError::KeyNotFound);
        }
        result
    }

    /// Runs `op` on a pooled session (see [`TokenSessions::with_session`]; a stale key
    /// handle is forgotten by `with_key`, and found again by its id on the retry): a
    /// refusal of the data is [`CryptoError::InvalidCiphertext`], anything else a device
    /// error.
    fn with_session<T>(
        &self,
        op: impl FnMut(&Session) -> Result<T, CkError>,
    ) -> Result<T, TokenError> {
        self.sessions.with_session(op, |_| true).map_err(|e| {
            if is_data_error(&e) {
                CryptoError::InvalidCiphertext.into()
            } else {
                self.device("a token operation", e)
            }
        })
    }
}

fn template(id: &[u8; 16]) -> Vec<Attribute> {
    vec![
        Attribute::Class(ObjectClass::SECRET_KEY),
        Attribute::KeyType(KeyType::AES),
        Attribute::Id(id.to_vec()),
    ]
}

impl fmt::Debug for TokenKeyStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenKeyStore")
            .field("token_label", &self.sessions.token_label())
            .finish_non_exhaustive()
    }
}
