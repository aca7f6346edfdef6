//! The `pkcs11` root key provider: the root key is a non-extractable AES-256 secret key
//! in a PKCS#11 token (an HSM, or SoftHSM2), and every seal and unseal runs inside the
//! token (CKM_AES_GCM); the key never enters this process.
//!
//! Sealed format, version 2 (distinct from the in-process format 1 of [`crate::SealingKey`],
//! so that a secret sealed by one provider is never misread by another: each refuses the
//! other's version byte with [`CryptoError::UnsealFailure`]):
//! `0x02 ‖ IV (12 bytes, random from aws-lc) ‖ AES-256-GCM ciphertext ‖ tag (16 bytes)`,
//! the caller's associated data as the GCM AAD.
//!
//! The key is found by `CKO_SECRET_KEY`, `CKK_AES` and `CKA_LABEL = key_label` in the
//! token whose label is `token_label`; it must be 32 bytes with `CKA_EXTRACTABLE` false
//! and `CKA_SENSITIVE` true, or the provider refuses to start.
//!
//! **Where the key comes from.** [`KeyCreation::CreateIfMissing`] generates it inside the
//! token (CKM_AES_KEY_GEN, 32 bytes, `CKA_TOKEN`, `CKA_PRIVATE`, `CKA_SENSITIVE` true,
//! `CKA_EXTRACTABLE` false, `CKA_ENCRYPT`/`CKA_DECRYPT`/`CKA_WRAP`/`CKA_UNWRAP` true,
//! nothing else allowed; wrapping serves the XKS proxy's master key, below) when
//! no key carries the label. The server asks for that only when its store is brand new,
//! as the `file` provider creates `root.key` only for a new store; for an existing store
//! it passes [`KeyCreation::MustExist`] and a missing key is a refusal (a new key could
//! unseal nothing the store holds). Several keys with the same label are a refusal too
//! (which one sealed the store?). Start-up never falls back to another provider.
//!
//! **Sessions.** A bounded pool (default [`DEFAULT_POOL_SIZE`]) of read-only sessions,
//! opened on demand and logged in as the user (in PKCS#11 the login belongs to the
//! application, so later sessions share it; `CKR_USER_ALREADY_LOGGED_IN` is success),
//! plus one session opened at start that only holds the login. A caller waits when all
//! are busy. A session whose call fails with anything but a refusal of the data (e.g. a
//! device or session error) is closed, not returned to the pool, and the call is tried
//! once more on a fresh session; a stale key handle is looked up again by label.
//!
//! **Derivation keys** (the XKS proxy's master key) are stored wrapped with the root key
//! (CKM_AES_KEY_WRAP_PAD, format version 3, bound to their record's associated data by a
//! sealed SHA-256 of the wrapped bytes) and unwrapped into the token as non-extractable
//! session objects, so the XKS keys derived from them never leave the token either. A
//! root key the operator made without CKA_WRAP/CKA_UNWRAP serves everything but the XKS
//! proxy, which then refuses to start.
//!
//! **The PIN** is held in a zeroizing [`AuthPin`] (for logging in new sessions), never
//! in `Debug` output, logs or errors.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use cryptoki::error::Error as CkError;
use cryptoki::mechanism::aead::GcmParams;
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::Session;
use parking_lot::Mutex;
use zeroize::Zeroizing;

use crate::aead::{KEY_LEN, NONCE_LEN, TAG_LEN};
use crate::error::Pkcs11Refusal;
use crate::pkcs11_sessions::{protected_aes_key_attributes, refusal, TokenSessions, MODULE_LOCK};
use crate::{random_array, CryptoError, RootKeyError, RootKeyProvider, SecretBytes, XksMasterKey};

/// Version byte of the sealed format of this provider.
pub const PKCS11_SEALED_VERSION: u8 = 2;
/// Version byte of a derivation key wrapped by this provider (see
/// [`RootKeyProvider::seal_derivation_key`]).
pub const PKCS11_WRAPPED_VERSION: u8 = 3;
/// An AES-256 key wrapped with CKM_AES_KEY_WRAP_PAD (RFC 5649): the key and 8 bytes.
const WRAPPED_LEN: usize = KEY_LEN + 8;
/// What binds a wrapped key to its associated data: SHA-256 of the wrapped bytes, sealed.
const BINDING_AAD_PREFIX: &[u8] = b"trent:pkcs11:wrapped-key-binding:v1:";
/// Sessions the pool holds at most unless configured otherwise.
pub const DEFAULT_POOL_SIZE: usize = 4;
const TAG_BITS: u64 = (TAG_LEN * 8) as u64;
const OVERHEAD: usize = 1 + NONCE_LEN + TAG_LEN;

/// What to do when the token holds no key with the configured label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyCreation {
    /// Generate it in the token (a brand-new store only).
    CreateIfMissing,
    /// Refuse to start.
    MustExist,
}

/// Where the root key is. `Debug` never shows the PIN.
pub struct Pkcs11Config {
    /// The PKCS#11 module (shared library), e.g. `/usr/lib/softhsm/libsofthsm2.so`.
    pub module: PathBuf,
    /// The token's label (`CK_TOKEN_INFO`).
    pub token_label: String,
    /// `CKA_LABEL` of the AES key.
    pub key_label: String,
    /// The user PIN.
    pub pin: Zeroizing<String>,
    /// How many sessions the pool holds at most (at least 1).
    pub pool_size: usize,
}

impl fmt::Debug for Pkcs11Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pkcs11Config")
            .field("module", &self.module)
            .field("token_label", &self.token_label)
            .field("key_label", &self.key_label)
            .field("pin", &"[REDACTED]")
            .field("pool_size", &self.pool_size)
            .finish()
    }
}

/// The `pkcs11` root key provider (see the module documentation).
pub struct Pkcs11RootKey {
    module: PathBuf,
    key_label: String,
    created: bool,
    key: Mutex<ObjectHandle>,
    sessions: Arc<TokenSessions>,
}

impl Pkcs11RootKey {
    /// Loads the module, finds the token by label, logs in, finds (or, with
    /// [`KeyCreation::CreateIfMissing`], generates) the key and checks it is protected.
    /// Every failure is a [`RootKeyError::Pkcs11`] naming the problem.
    pub fn open(config: Pkcs11Config, creation: KeyCreation) -> Result<Self, RootKeyError> {
        let Pkcs11Config {
            module,
            token_label,
            key_label,
            pin,
            pool_size,
        } = config;
        let sessions = Arc::new(TokenSessions::open(&module, &token_label, &pin, pool_size)?);
        let device = |what: &str, e: CkError| {
            refusal(
                Pkcs11Refusal::Device,
                format!("{what} on token \"{token_label}\" failed: {e}"),
            )
        };
        let mut created = false;
        let key = match sessions.with_keeper(|session| find_key(session, &key_label, &token_label))? {
            Some(key) => key,
            None if creation == KeyCreation::CreateIfMissing => {
                // A read-write session for the one write: the login is the application's,
                // so the new session shares it.
                let module_lock = MODULE_LOCK.lock();
                let rw = sessions.open_rw()?;
                generate_key(&rw, &key_label).map_err(|e| {
                    device(&format!("generating the AES-256 key \"{key_label}\""), e)
                })?;
                drop(rw);
                drop(module_lock);
                created = true;
                sessions.with_keeper(|session| find_key(session, &key_label, &token_label))?.ok_or_else(|| {
                    refusal(
                        Pkcs11Refusal::KeyNotFound,
                        format!("the key \"{key_label}\" just generated in token \"{token_label}\" cannot be found"),
                    )
                })?
            }
            None => {
                return Err(refusal(
                    Pkcs11Refusal::KeyNotFound,
                    format!(
                        "token \"{token_label}\" holds no AES key labelled \"{key_label}\"; without the key that sealed this store its keys cannot be used (a new key is generated only for a new store)"
                    ),
                ))
            }
        };
        sessions.with_keeper(|session| check_key(session, key, &key_label))?;
        Ok(Self {
            module,
            key_label,
            created,
            key: Mutex::new(key),
            sessions,
        })
    }

    /// Whether [`Pkcs11RootKey::open`] generated the key.
    pub fn created(&self) -> bool {
        self.created
    }

    /// The module this provider loaded.
    pub fn module(&self) -> &Path {
        &self.module
    }

    /// The token's label.
    pub fn token_label(&self) -> &str {
        self.sessions.token_label()
    }

    /// The key's label.
    pub fn key_label(&self) -> &str {
        &self.key_label
    }

    fn key(&self) -> ObjectHandle {
        *self.key.lock()
    }

    /// Sessions of the pool open now (idle and lent out); never more than the pool size.
    pub fn open_sessions(&self) -> usize {
        self.sessions.open_sessions()
    }

    /// Runs `op` on a pooled session; a session that fails with anything but a refusal
    /// of the data is closed, and `op` runs once more on a fresh one.
    fn with_session<T>(
        &self,
        op: impl Fn(&Session, ObjectHandle) -> Result<T, CkError>,
    ) -> Result<T, CkError> {
        self.sessions.with_session(
            |session| op(session, self.key()),
            // The handle went stale (some modules drop them when a session closes): find
            // the key again by its label before the retry.
            |session| match session
                .find_objects(&key_template(&self.key_label))
                .as_deref()
            {
                Ok([key]) => {
                    *self.key.lock() = *key;
                    true
                }
                _ => false,
            },
        )
    }
}

impl RootKeyProvider for Pkcs11RootKey {
    fn kind(&self) -> &'static str {
        "pkcs11"
    }

    fn seal(&self, aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let (iv, ciphertext) = self
            .with_session(|session, key| {
                // A fresh IV for every attempt (a retry on a new session too).
                let mut iv: [u8; NONCE_LEN] = random_array().map_err(|_| CkError::InvalidValue)?;
                let params = GcmParams::new(&mut iv, aad, TAG_BITS.into())?;
                let ciphertext = session.encrypt(&Mechanism::AesGcm(params), key, plaintext)?;
                // The IV as the token used it (a module may write its own into the
                // parameters).
                Ok((iv, ciphertext))
            })
            .map_err(|_| CryptoError::SealFailure)?;
        if ciphertext.len() != plaintext.len() + TAG_LEN {
            return Err(CryptoError::SealFailure);
        }
        let mut out = Vec::with_capacity(OVERHEAD + plaintext.len());
        out.push(PKCS11_SEALED_VERSION);
        out.extend_from_slice(&iv);
        out.extend_from_slice(&ciphertext);
        Ok(out)
    }

    fn unseal(&self, aad: &[u8], sealed: &[u8]) -> Result<SecretBytes, CryptoError> {
        if sealed.len() < OVERHEAD || sealed[0] != PKCS11_SEALED_VERSION {
            return Err(CryptoError::UnsealFailure);
        }
        let (iv, ciphertext) = sealed[1..].split_at(NONCE_LEN);
        let iv: [u8; NONCE_LEN] = iv.try_into().map_err(|_| CryptoError::UnsealFailure)?;
        let plaintext = self
            .with_session(|session, key| {
                let mut iv = iv;
                let params = GcmParams::new(&mut iv, aad, TAG_BITS.into())?;
                session.decrypt(&Mechanism::AesGcm(params), key, ciphertext)
            })
            .map(SecretBytes::new)
            .map_err(|_| CryptoError::UnsealFailure)?;
        if plaintext.len() + TAG_LEN != ciphertext.len() {
            return Err(CryptoError::UnsealFailure);
        }
        Ok(plaintext)
    }

    /// `0x03 ‖ the key wrapped with the root key (CKM_AES_KEY_WRAP_PAD, 40 bytes) ‖
    /// SHA-256 of the wrapped bytes sealed under the root key with `aad` (which binds the
    /// wrapped key to its record, as every sealed secret is)`. The key is made (fresh:
    /// CKM_AES_KEY_GEN) or created (`material`: during a migration, when the source root
    /// key held it in process anyway) as an extractable session object, wrapped, and
    /// destroyed. The root key needs CKA_WRAP (a key Trent generates has it).
    fn seal_derivation_key(
        &self,
        aad: &[u8],
        material: Option<&SecretBytes>,
    ) -> Result<Vec<u8>, CryptoError> {
        if material.is_some_and(|m| m.len() != KEY_LEN) {
            return Err(CryptoError::InvalidKeyLength {
                expected: KEY_LEN,
                actual: material.map_or(0, SecretBytes::len),
            });
        }
        let key = self.key();
        let wrapped = self
            .sessions
            .with_keeper(|session| {
                let mut template = vec![
                    Attribute::Class(ObjectClass::SECRET_KEY),
                    Attribute::KeyType(KeyType::AES),
                    Attribute::Token(false),
                    Attribute::Private(true),
                    Attribute::Sensitive(true),
                    Attribute::Extractable(true),
                    Attribute::Encrypt(false),
                    Attribute::Decrypt(false),
                    Attribute::Derive(false),
                ];
                let made = match material {
                    Some(material) => {
                        template.push(Attribute::Value(material.expose().to_vec()));
                        let made = session.create_object(&template);
                        for attribute in &mut template {
                            if let Attribute::Value(value) = attribute {
                                zeroize::Zeroize::zeroize(value);
                            }
                        }
                        made
                    }
                    None => {
                        template.retain(|a| !matches!(a, Attribute::Class(_) | Attribute::KeyType(_)));
                        template.push(Attribute::ValueLen((KEY_LEN as u64).into()));
                        session.generate_key(&Mechanism::AesKeyGen, &template)
                    }
                };
                let made = made.map_err(|e| {
                    refusal(
                        Pkcs11Refusal::Device,
                        format!("making a derivation key in the token failed: {e}"),
                    )
                })?;
                let wrapped = session.wrap_key(&Mechanism::AesKeyWrapPad, key, made);
                let _ = session.destroy_object(made);
                wrapped.map_err(|e| {
                    refusal(
                        Pkcs11Refusal::Device,
                        format!("wrapping a derivation key with the root key failed (the root key needs CKA_WRAP and CKA_UNWRAP): {e}"),
                    )
                })
            })
            .map_err(|e| {
                tracing::error!(error = %e, "the pkcs11 root key could not wrap a derivation key");
                CryptoError::SealFailure
            })?;
        if wrapped.len() != WRAPPED_LEN {
            return Err(CryptoError::SealFailure);
        }
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &wrapped);
        let binding = self.seal(&binding_aad(aad), digest.as_ref())?;
        let mut out = Vec::with_capacity(1 + WRAPPED_LEN + binding.len());
        out.push(PKCS11_WRAPPED_VERSION);
        out.extend_from_slice(&wrapped);
        out.extend_from_slice(&binding);
        Ok(out)
    }

    /// Unwraps the key inside the token as a session object: sensitive, not extractable,
    /// for derivation only. It never enters this process.
    fn open_derivation_key(&self, aad: &[u8], sealed: &[u8]) -> Result<XksMasterKey, CryptoError> {
        let wrapped = self.bound_wrapped(aad, sealed)?;
        let handle = self.unwrap_derivation_key(
            wrapped,
            &[
                Attribute::Sensitive(true),
                Attribute::Extractable(false),
                Attribute::Derive(true),
            ],
        )?;
        Ok(XksMasterKey::in_token(Arc::clone(&self.sessions), handle))
    }

    /// Unwraps the key as an extractable session object, reads it and destroys it: only
    /// for a migration away from this token.
    fn export_derivation_key(&self, aad: &[u8], sealed: &[u8]) -> Result<SecretBytes, CryptoError> {
        let wrapped = self.bound_wrapped(aad, sealed)?;
        let handle = self.unwrap_derivation_key(
            wrapped,
            &[
                Attribute::Sensitive(false),
                Attribute::Extractable(true),
                Attribute::Derive(false),
            ],
        )?;
        let value = self
            .sessions
            .with_keeper(|session| {
                let read = session.get_attributes(handle, &[AttributeType::Value]);
                let _ = session.destroy_object(handle);
                read.map_err(|e| {
                    refusal(
                        Pkcs11Refusal::Device,
                        format!("reading an unwrapped derivation key failed: {e}"),
                    )
                })
            })
            .map_err(|e| {
                tracing::error!(error = %e, "the pkcs11 root key could not export a derivation key");
                CryptoError::UnsealFailure
            })?;
        let mut material = None;
        for attribute in value {
            if let Attribute::Value(v) = attribute {
                material = Some(SecretBytes::new(v));
            }
        }
        match material {
            Some(m) if m.len() == KEY_LEN => Ok(m),
            _ => Err(CryptoError::UnsealFailure),
        }
    }
}

impl Pkcs11RootKey {
    /// Splits a version-3 wrapped derivation key and checks its binding to `aad` (under
    /// the root key, in the token); the wrapped bytes.
    fn bound_wrapped<'a>(&self, aad: &[u8], sealed: &'a [u8]) -> Result<&'a [u8], CryptoError> {
        if sealed.len() <= 1 + WRAPPED_LEN || sealed[0] != PKCS11_WRAPPED_VERSION {
            return Err(CryptoError::UnsealFailure);
        }
        let (wrapped, binding) = sealed[1..].split_at(WRAPPED_LEN);
        let bound = self.unseal(&binding_aad(aad), binding)?;
        if bound.expose() != aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, wrapped).as_ref()
        {
            return Err(CryptoError::UnsealFailure);
        }
        Ok(wrapped)
    }

    /// Unwraps `wrapped` with the root key into a session object with `attributes`.
    fn unwrap_derivation_key(
        &self,
        wrapped: &[u8],
        attributes: &[Attribute],
    ) -> Result<ObjectHandle, CryptoError> {
        let mut template = vec![
            Attribute::Class(ObjectClass::SECRET_KEY),
            Attribute::KeyType(KeyType::AES),
            Attribute::Token(false),
            Attribute::Private(true),
            Attribute::Encrypt(false),
            Attribute::Decrypt(false),
            Attribute::Wrap(false),
            Attribute::Unwrap(false),
        ];
        template.extend_from_slice(attributes);
        let key = self.key();
        self.sessions
            .with_keeper(|session| {
                session
                    .unwrap_key(&Mechanism::AesKeyWrapPad, key, wrapped, &template)
                    .map_err(|e| {
                        refusal(
                            Pkcs11Refusal::Device,
                            format!("unwrapping a derivation key with the root key failed: {e}"),
                        )
                    })
            })
            .map_err(|e| {
                tracing::error!(error = %e, "the pkcs11 root key could not unwrap a derivation key");
                CryptoError::UnsealFailure
            })
    }
}

fn binding_aad(aad: &[u8]) -> Vec<u8> {
    [BINDING_AAD_PREFIX, aad].concat()
}

impl fmt::Debug for Pkcs11RootKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pkcs11RootKey")
            .field("module", &self.module)
            .field("token_label", &self.sessions.token_label())
            .field("key_label", &self.key_label)
            .finish_non_exhaustive()
    }
}

fn key_template(key_label: &str) -> Vec<Attribute> {
    vec![
        Attribute::Class(ObjectClass::SECRET_KEY),
        Attribute::KeyType(KeyType::AES),
        Attribute::Label(key_label.as_bytes().to_vec()),
    ]
}

fn find_key(
    session: &Session,
    key_label: &str,
    token_label: &str,
) -> Result<Option<ObjectHandle>, RootKeyError> {
    let found = session
        .find_objects(&key_template(key_label))
        .map_err(|e| {
            refusal(
                Pkcs11Refusal::Device,
                format!(
                    "searching token \"{token_label}\" for the key \"{key_label}\" failed: {e}"
                ),
            )
        })?;
    match found.as_slice() {
        [] => Ok(None),
        [key] => Ok(Some(*key)),
        _ => Err(refusal(
            Pkcs11Refusal::KeyNotFound,
            format!(
                "token \"{token_label}\" holds {} AES keys labelled \"{key_label}\"; the label must name one",
                found.len()
            ),
        )),
    }
}

fn generate_key(session: &Session, key_label: &str) -> Result<ObjectHandle, CkError> {
    let mut template = key_template(key_label);
    template.retain(|a| !matches!(a, Attribute::Class(_) | Attribute::KeyType(_)));
    // As every protected key, but it also wraps and unwraps: the derivation keys of the
    // XKS proxy are stored wrapped with it and unwrapped into the token.
    template.extend(
        protected_aes_key_attributes()
            .into_iter()
            .map(|attribute| match attribute {
                Attribute::Wrap(_) => Attribute::Wrap(true),
                Attribute::Unwrap(_) => Attribute::Unwrap(true),
                other => other,
            }),
    );
    session.generate_key(&Mechanism::AesKeyGen, &template)
}

/// Refuses a key that is not AES-256, sensitive and non-extractable.
fn check_key(session: &Session, key: ObjectHandle, key_label: &str) -> Result<(), RootKeyError> {
    let attributes = session
        .get_attributes(
            key,
            &[
                AttributeType::Extractable,
                AttributeType::Sensitive,
                AttributeType::ValueLen,
            ],
        )
        .map_err(|e| {
            refusal(
                Pkcs11Refusal::Device,
                format!("cannot read the attributes of the key \"{key_label}\": {e}"),
            )
        })?;
    let (mut extractable, mut sensitive, mut len) = (None, None, None);
    for attribute in attributes {
        match attribute {
            Attribute::Extractable(v) => extractable = Some(v),
            Attribute::Sensitive(v) => sensitive = Some(v),
            Attribute::ValueLen(v) => len = Some(u64::from(v)),
            _ => {}
        }
    }
    let unsafe_key = |why: &str| {
        refusal(
            Pkcs11Refusal::KeyNotProtected,
            format!("the key \"{key_label}\" {why}; refusing to use it as the root key"),
        )
    };
    if extractable != Some(false) {
        return Err(unsafe_key("is extractable (CKA_EXTRACTABLE must be false)"));
    }
    if sensitive != Some(true) {
        return Err(unsafe_key("is not sensitive (CKA_SENSITIVE must be true)"));
    }
    if len != Some(KEY_LEN as u64) {
        return Err(unsafe_key(&format!(
            "is not a 256-bit AES key (CKA_VALUE_LEN {len:?})"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use cryptoki::context::Function;
    use cryptoki::error::RvError;

    /// The only test of this binary that loads a PKCS#11 module: a SoftHSM2 token of its
    /// own (SOFTHSM2_CONF is read at the module's first initialization). Without SoftHSM2
    /// it fails, as the integration tests do.
    #[test]
    fn failed_sessions_are_closed_and_refusals_of_data_keep_theirs() {
        let module = std::env::var_os("TRENT_TEST_SOFTHSM_MODULE")
            .map(PathBuf::from)
            .or_else(|| {
                [
                    "/usr/lib/softhsm/libsofthsm2.so",
                    "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
                    "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
                    "/usr/local/lib/softhsm/libsofthsm2.so",
                    "/usr/lib64/pkcs11/libsofthsm2.so",
                ]
                .into_iter()
                .map(PathBuf::from)
                .find(|p| p.is_file())
            })
            .expect("SoftHSM2 is installed (apt-get install softhsm2)");
        let dir = tempfile::tempdir().unwrap();
        let tokens = dir.path().join("tokens");
        std::fs::create_dir(&tokens).unwrap();
        let conf = dir.path().join("softhsm2.conf");
        std::fs::write(
            &conf,
            format!("directories.tokendir = {}\n", tokens.display()),
        )
        .unwrap();
        let status = std::process::Command::new("softhsm2-util")
            .env("SOFTHSM2_CONF", &conf)
            .args([
                "--init-token",
                "--free",
                "--label",
                "pool",
                "--so-pin",
                "so-1",
            ])
            .args(["--pin", "1234"])
            .output()
            .expect("softhsm2-util runs")
            .status;
        assert!(status.success());
        std::env::set_var("SOFTHSM2_CONF", &conf);
        let key = Pkcs11RootKey::open(
            Pkcs11Config {
                module,
                token_label: "pool".into(),
                key_label: "k".into(),
                pin: Zeroizing::new("1234".into()),
                pool_size: 2,
            },
            KeyCreation::CreateIfMissing,
        )
        .unwrap();
        assert_eq!(key.open_sessions(), 0);
        let sealed = key.seal(b"aad", b"x").unwrap();
        assert_eq!(key.open_sessions(), 1);

        // A device or session error: the session is closed, a fresh one tried once more,
        // and closed too when it fails the same way.
        let attempts = std::sync::atomic::AtomicUsize::new(0);
        let failed = key.with_session(|_, _| -> Result<(), CkError> {
            attempts.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            Err(CkError::Pkcs11(RvError::DeviceError, Function::Encrypt))
        });
        assert!(matches!(
            failed,
            Err(CkError::Pkcs11(RvError::DeviceError, _))
        ));
        assert_eq!(attempts.into_inner(), 2);
        assert_eq!(key.open_sessions(), 0);

        // A refusal of the data keeps its session, without a second attempt.
        let attempts = std::sync::atomic::AtomicUsize::new(0);
        let refused = key.with_session(|_, _| -> Result<(), CkError> {
            attempts.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            Err(CkError::Pkcs11(
                RvError::EncryptedDataInvalid,
                Function::Decrypt,
            ))
        });
        assert!(refused.is_err());
        assert_eq!(attempts.into_inner(), 1);
        assert_eq!(key.open_sessions(), 1);

        // A failure on the first session only: the second, fresh one succeeds.
        let attempts = std::sync::atomic::AtomicUsize::new(0);
        let recovered = key.with_session(|_, _| {
            if attempts.fetch_add(1, std::sync::atomic::Ordering::Relaxed) == 0 {
                Err(CkError::Pkcs11(
                    RvError::SessionHandleInvalid,
                    Function::Encrypt,
                ))
            } else {
                Ok(7)
            }
        });
        assert_eq!(recovered.unwrap(), 7);
        assert_eq!(key.open_sessions(), 1);
        assert_eq!(key.unseal(b"aad", &sealed).unwrap().expose(), b"x");
        assert!(key.open_sessions() <= 2);
    }
}
