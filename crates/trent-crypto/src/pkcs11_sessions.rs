//! What every use of a PKCS#11 token shares (the root key provider and the keys of
//! `AWS_CLOUDHSM` custom key stores): the module, loaded once per process and never
//! finalized; finding a token by its label; logging in; and a bounded pool of logged-in
//! sessions with one more session that only holds the login.
//!
//! **One module, one context.** `C_Finalize` ends every session of every user of the
//! module in this process, so a context is never finalized while the process lives: the
//! first load of a module path is kept ([`load_module`]), and every later user (another
//! custom key store on the same SoftHSM2 library, the root key's token) shares it.
//!
//! **Sessions.** In PKCS#11 the login belongs to the application, per token, so sessions
//! opened after the first login share it (`CKR_USER_ALREADY_LOGGED_IN` is success); a
//! keeper session opened at start holds the login and keeps object handles valid while
//! pooled sessions come and go. Closing the keeper (dropping [`TokenSessions`]) after the
//! pooled ones logs the application out of the token.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Function, Pkcs11};
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::object::Attribute;
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;
use cryptoki::types::AuthPin;
use parking_lot::{Condvar, Mutex};

use crate::error::Pkcs11Refusal;
use crate::RootKeyError;

/// Serializes what touches a module's global state (C_Initialize, the slot and token
/// lists, opening and closing sessions, logging in, generating and destroying keys):
/// SoftHSM2, for one, is not safe against these running at once from several threads.
/// All rare; encryption and decryption run in parallel, one per pooled session.
pub(crate) static MODULE_LOCK: Mutex<()> = Mutex::new(());

pub(crate) fn refusal(refusal: Pkcs11Refusal, message: String) -> RootKeyError {
    RootKeyError::Pkcs11 { refusal, message }
}

/// The attributes of an AES-256 key generated to stay in its token: a token object,
/// private, sensitive, never extractable, that encrypts and decrypts and wraps nothing.
pub(crate) fn protected_aes_key_attributes() -> [Attribute; 9] {
    [
        Attribute::ValueLen((crate::aead::KEY_LEN as u64).into()),
        Attribute::Token(true),
        Attribute::Private(true),
        Attribute::Sensitive(true),
        Attribute::Extractable(false),
        Attribute::Encrypt(true),
        Attribute::Decrypt(true),
        Attribute::Wrap(false),
        Attribute::Unwrap(false),
    ]
}

/// A refusal of the data itself (bad ciphertext, tag mismatch, bad lengths or
/// parameters): the session is fine and goes back to the pool. SoftHSM2 reports a GCM
/// tag mismatch as CKR_GENERAL_ERROR from C_Decrypt (after C_DecryptInit succeeded,
/// and having ended the operation), so that counts as a refusal of the data too; a
/// device that truly failed fails the next call's C_EncryptInit/C_DecryptInit, which
/// closes the session.
pub(crate) fn is_data_error(e: &CkError) -> bool {
    matches!(
        e,
        CkError::Pkcs11(
            RvError::GeneralError | RvError::FunctionFailed,
            Function::Decrypt
        )
    ) || matches!(
        e,
        CkError::Pkcs11(
            RvError::EncryptedDataInvalid
                | RvError::EncryptedDataLenRange
                | RvError::DataInvalid
                | RvError::DataLenRange
                | RvError::ArgumentsBad
                | RvError::MechanismParamInvalid
                | RvError::BufferTooSmall,
            _
        ) | CkError::TryFromInt(_)
    )
}

/// The module at `module`, loaded and initialized once per process (see the module
/// documentation); the caller holds [`MODULE_LOCK`].
fn load_module(module: &Path) -> Result<Pkcs11, RootKeyError> {
    static LOADED: Mutex<Option<HashMap<PathBuf, Pkcs11>>> = Mutex::new(None);
    let mut loaded = LOADED.lock();
    let loaded = loaded.get_or_insert_with(HashMap::new);
    if let Some(context) = loaded.get(module) {
        return Ok(context.clone());
    }
    let context = Pkcs11::new(module).map_err(|e| {
        refusal(
            Pkcs11Refusal::Module,
            format!("cannot load the PKCS#11 module {}: {e}", module.display()),
        )
    })?;
    match context.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
        // Another context of this process (loaded under another path) initialized it.
        Ok(()) | Err(CkError::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => {
            loaded.insert(module.to_owned(), context.clone());
            Ok(context)
        }
        Err(e) => Err(refusal(
            Pkcs11Refusal::Module,
            format!(
                "cannot initialize the PKCS#11 module {}: {e}",
                module.display()
            ),
        )),
    }
}

/// How many times the slots are listed again when one of them vanished or changed while
/// being read (a token being created or removed meanwhile, e.g. by another process).
const SLOT_LIST_ATTEMPTS: usize = 3;

fn find_token(context: &Pkcs11, token_label: &str) -> Result<Slot, RootKeyError> {
    let mut attempt = 0;
    let found = 'listing: loop {
        attempt += 1;
        let slots = context.get_slots_with_initialized_token().map_err(|e| {
            refusal(
                Pkcs11Refusal::Device,
                format!("cannot list the module's tokens: {e}"),
            )
        })?;
        let mut found = Vec::new();
        for slot in slots {
            match context.get_token_info(slot) {
                Ok(info) => {
                    if info.label().trim_end() == token_label {
                        found.push(slot);
                    }
                }
                // The slot list changed under us: list again, a few times.
                Err(_) if attempt < SLOT_LIST_ATTEMPTS => continue 'listing,
                Err(e) => {
                    return Err(refusal(
                        Pkcs11Refusal::Device,
                        format!("cannot read the token information of slot {slot}: {e}"),
                    ))
                }
            }
        }
        break found;
    };
    match found.as_slice() {
        [slot] => Ok(*slot),
        [] => Err(refusal(
            Pkcs11Refusal::TokenNotFound,
            format!("no initialized token is labelled \"{token_label}\""),
        )),
        _ => Err(refusal(
            Pkcs11Refusal::TokenNotFound,
            format!(
                "{} tokens are labelled \"{token_label}\"; the label must name one",
                found.len()
            ),
        )),
    }
}

fn login(session: &Session, pin: &AuthPin, token_label: &str) -> Result<(), RootKeyError> {
    match session.login(UserType::User, Some(pin)) {
        Ok(()) | Err(CkError::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => Ok(()),
        Err(CkError::Pkcs11(RvError::PinIncorrect, _)) => Err(refusal(
            Pkcs11Refusal::PinIncorrect,
            format!("the PIN of token \"{token_label}\" is wrong (CKR_PIN_INCORRECT)"),
        )),
        Err(CkError::Pkcs11(RvError::PinLocked, _)) => Err(refusal(
            Pkcs11Refusal::PinLocked,
            format!("the user PIN of token \"{token_label}\" is locked (CKR_PIN_LOCKED)"),
        )),
        Err(CkError::Pkcs11(
            rv @ (RvError::PinLenRange | RvError::PinInvalid | RvError::PinExpired),
            _,
        )) => Err(refusal(
            Pkcs11Refusal::PinIncorrect,
            format!("token \"{token_label}\" refused the PIN: {rv}"),
        )),
        // Never the cryptoki error's text for anything else either: keep it to the code.
        Err(CkError::Pkcs11(rv, Function::Login)) => Err(refusal(
            Pkcs11Refusal::Device,
            format!("logging in to token \"{token_label}\" failed: {rv}"),
        )),
        Err(e) => Err(refusal(
            Pkcs11Refusal::Device,
            format!("logging in to token \"{token_label}\" failed: {e}"),
        )),
    }
}

/// Logged-in sessions on one token (see the module documentation). `Debug`-free: it
/// holds the PIN.
pub(crate) struct TokenSessions {
    token_label: String,
    context: Pkcs11,
    slot: Slot,
    pin: AuthPin,
    keeper: Mutex<Option<Session>>,
    max: usize,
    state: Mutex<PoolState>,
    freed: Condvar,
}

struct PoolState {
    idle: Vec<Session>,
    /// Sessions open: idle plus lent out.
    open: usize,
}

impl TokenSessions {
    /// Loads the module, finds the token by label and logs in on a keeper session; the
    /// pool (at most `pool_size` sessions, at least 1) opens sessions on demand.
    pub fn open(
        module: &Path,
        token_label: &str,
        pin: &str,
        pool_size: usize,
    ) -> Result<Self, RootKeyError> {
        let pin = AuthPin::from(pin);
        let _module_lock = MODULE_LOCK.lock();
        let context = load_module(module)?;
        let slot = find_token(&context, token_label)?;
        let session = context.open_ro_session(slot).map_err(|e| {
            refusal(
                Pkcs11Refusal::Device,
                format!("opening a session on token \"{token_label}\" failed: {e}"),
            )
        })?;
        login(&session, &pin, token_label)?;
        let max = pool_size.max(1);
        Ok(Self {
            token_label: token_label.to_owned(),
            context,
            slot,
            pin,
            keeper: Mutex::new(Some(session)),
            max,
            state: Mutex::new(PoolState {
                idle: Vec::with_capacity(max),
                open: 0,
            }),
            freed: Condvar::new(),
        })
    }

    pub fn token_label(&self) -> &str {
        &self.token_label
    }

    /// Runs `op` on the keeper session, under the module lock (start-up checks only).
    pub fn with_keeper<T>(
        &self,
        op: impl FnOnce(&Session) -> Result<T, RootKeyError>,
    ) -> Result<T, RootKeyError> {
        let _module_lock = MODULE_LOCK.lock();
        let keeper = self.keeper.lock();
        match keeper.as_ref() {
            Some(session) => op(session),
            None => Err(refusal(
                Pkcs11Refusal::Device,
                format!("token \"{}\" is closed", self.token_label),
            )),
        }
    }

    /// A fresh read-write session, logged in (for the rare writes: generating and
    /// destroying keys). The caller holds [`MODULE_LOCK`] while it uses it.
    pub fn open_rw(&self) -> Result<Session, RootKeyError> {
        let rw = self.context.open_rw_session(self.slot).map_err(|e| {
            refusal(
                Pkcs11Refusal::Device,
                format!(
                    "opening a read-write session on token \"{}\" failed: {e}",
                    self.token_label
                ),
            )
        })?;
        login(&rw, &self.pin, &self.token_label)?;
        Ok(rw)
    }

    /// Sessions of the pool open now (idle and lent out); never more than the pool size.
    pub fn open_sessions(&self) -> usize {
        self.state.lock().open
    }

    /// Takes an idle session, opens a new one while under the bound, or waits.
    fn acquire(&self) -> Result<Session, CkError> {
        let mut state = self.state.lock();
        loop {
            if let Some(session) = state.idle.pop() {
                return Ok(session);
            }
            if state.open < self.max {
                state.open += 1;
                drop(state);
                let module_lock = MODULE_LOCK.lock();
                let opened = self.context.open_ro_session(self.slot).and_then(|s| {
                    match s.login(UserType::User, Some(&self.pin)) {
                        Ok(()) | Err(CkError::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => Ok(s),
                        Err(e) => Err(e),
                    }
                });
                drop(module_lock);
                if opened.is_err() {
                    self.state.lock().open -= 1;
                    self.freed.notify_one();
                }
                return opened;
            }
            self.freed.wait(&mut state);
        }
    }

    /// Runs `op` on a pooled session. A refusal of the data ([`is_data_error`]) keeps the
    /// session and is answered at once; a stale object handle keeps the session if
    /// `refind` finds the object again on it (else closes it), and `op` runs once more;
    /// any other failure (a device or session error) closes the session, and `op` runs
    /// once more on a fresh one.
    pub fn with_session<T>(
        &self,
        mut op: impl FnMut(&Session) -> Result<T, CkError>,
        mut refind: impl FnMut(&Session) -> bool,
    ) -> Result<T, CkError> {
        let mut last = None;
        for _ in 0..2 {
            let session = self.acquire()?;
            match op(&session) {
                Ok(v) => {
                    self.release(session, true);
                    return Ok(v);
                }
                Err(e) if is_data_error(&e) => {
                    self.release(session, true);
                    return Err(e);
                }
                Err(
                    e
                    @ CkError::Pkcs11(RvError::KeyHandleInvalid | RvError::ObjectHandleInvalid, _),
                ) => {
                    let healthy = refind(&session);
                    self.release(session, healthy);
                    last = Some(e);
                }
                Err(e) => {
                    self.release(session, false);
                    last = Some(e);
                }
            }
        }
        Err(last.unwrap_or(CkError::InvalidValue))
    }

    /// Returns a session to the pool, or closes it (a device or session error).
    fn release(&self, session: Session, healthy: bool) {
        let mut state = self.state.lock();
        if healthy {
            state.idle.push(session);
        } else {
            state.open -= 1;
            drop(state);
            let module_lock = MODULE_LOCK.lock();
            drop(session);
            drop(module_lock);
        }
        self.freed.notify_one();
    }
}

impl Drop for TokenSessions {
    fn drop(&mut self) {
        let _module_lock = MODULE_LOCK.lock();
        self.state.lock().idle.clear();
        drop(self.keeper.lock().take());
    }
}
