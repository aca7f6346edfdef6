//! Opening the root key of `[root_key]`'s provider other than `file` (which `serve`
//! opens before the store, as it always did): `pkcs11` and `passphrase`. Each failure is
//! a one-line message naming the problem, never the PIN or passphrase, and never a
//! fallback to another provider.

use std::io::IsTerminal;
use std::path::Path;
use std::sync::Arc;

use trent_crypto::{
    read_secret_file, KeyCreation, PassphraseRootKey, Pkcs11Config, Pkcs11RootKey, RootKeyError,
    RootKeyProvider, DEFAULT_POOL_SIZE, PASSPHRASE_ROOT_KEY_FILE,
};
use trent_store::Store;
use zeroize::Zeroizing;

use crate::config::RootKeySettings;
use crate::error_chain;

/// The PKCS#11 user PIN.
pub const PIN_ENV: &str = "TRENT_PKCS11_PIN";
/// The passphrase of the `passphrase` provider.
pub const PASSPHRASE_ENV: &str = "TRENT_ROOT_KEY_PASSPHRASE";

/// An opened provider, and how to tell an operator where its key is (for the root key
/// check's refusal).
pub struct Opened {
    pub root: Arc<dyn RootKeyProvider>,
    pub described: String,
}

/// Whether `store` is brand new: no root key has sealed its check value yet.
pub async fn store_is_new(store: &dyn Store) -> Result<bool, String> {
    trent_core::store_has_root_key_check(store)
        .await
        .map(|has| !has)
        .map_err(|e| format!("cannot read the store's metadata: {}", error_chain(&e)))
}

/// Opens the `pkcs11` or `passphrase` provider; a new root key is made only for a
/// brand-new store (`is_new`).
pub async fn open(settings: &RootKeySettings, dir: &Path, is_new: bool) -> Result<Opened, String> {
    match settings {
        RootKeySettings::File => Err("the file provider is opened before the store".into()),
        RootKeySettings::Pkcs11 {
            module,
            token_label,
            key_label,
            pin_file,
        } => {
            let pin = pkcs11_pin(pin_file.as_deref())?;
            let config = Pkcs11Config {
                module: module.clone(),
                token_label: token_label.clone(),
                key_label: key_label.clone(),
                pin,
                pool_size: DEFAULT_POOL_SIZE,
            };
            let creation = if is_new {
                KeyCreation::CreateIfMissing
            } else {
                KeyCreation::MustExist
            };
            let key = tokio::task::spawn_blocking(move || Pkcs11RootKey::open(config, creation))
                .await
                .map_err(|e| format!("opening the pkcs11 root key failed: {e}"))?
                .map_err(|e| error_chain(&e))?;
            if key.created() {
                tracing::info!(module = %module.display(), token = %token_label, key = %key_label, "generated a new root key in the PKCS#11 token");
            } else {
                tracing::info!(module = %module.display(), token = %token_label, key = %key_label, "using the root key in the PKCS#11 token");
            }
            Ok(Opened {
                root: Arc::new(key),
                described: format!("the key \"{key_label}\" of PKCS#11 token \"{token_label}\""),
            })
        }
        RootKeySettings::Passphrase { passphrase_file } => {
            let path = dir.join(PASSPHRASE_ROOT_KEY_FILE);
            let exists = path.exists();
            if !exists && !is_new {
                return Err(format!(
                    "{} has a store but no sealed root key ({PASSPHRASE_ROOT_KEY_FILE}): without the root key its keys cannot be used; restore {} from backup",
                    dir.display(),
                    path.display()
                ));
            }
            let passphrase = passphrase(passphrase_file.as_deref(), !exists)?;
            let opened = tokio::task::spawn_blocking({
                let path = path.clone();
                move || {
                    if exists {
                        PassphraseRootKey::load(&path, passphrase.as_bytes())
                    } else {
                        PassphraseRootKey::create(&path, passphrase.as_bytes())
                    }
                }
            })
            .await
            .map_err(|e| format!("opening the passphrase root key failed: {e}"))?;
            let key = opened.map_err(|e: RootKeyError| error_chain(&e))?;
            if exists {
                tracing::info!(path = %path.display(), "unsealed the root key with the passphrase");
            } else {
                tracing::info!(path = %path.display(), "created a new root key sealed under the passphrase");
            }
            Ok(Opened {
                root: Arc::new(key),
                described: format!("the sealed root key {}", path.display()),
            })
        }
    }
}

/// `TRENT_PKCS11_PIN`, else the PIN file; never a prompt (a server starts unattended).
fn pkcs11_pin(pin_file: Option<&Path>) -> Result<Zeroizing<String>, String> {
    if let Some(pin) = env_secret(PIN_ENV) {
        return Ok(pin);
    }
    match pin_file {
        Some(path) => read_secret_file(path).map_err(|e| format!("the PKCS#11 PIN: {e}")),
        None => Err(format!(
            "pkcs11 root key: no PIN given: set {PIN_ENV} or pin_file in [root_key]"
        )),
    }
}

/// `TRENT_ROOT_KEY_PASSPHRASE`, else the passphrase file, else a prompt on the terminal
/// (twice for a new key), else a refusal.
fn passphrase(file: Option<&Path>, new: bool) -> Result<Zeroizing<String>, String> {
    if let Some(p) = env_secret(PASSPHRASE_ENV) {
        return Ok(p);
    }
    if let Some(path) = file {
        return read_secret_file(path).map_err(|e| format!("the root key passphrase: {e}"));
    }
    if !std::io::stdin().is_terminal() {
        return Err(format!(
            "passphrase root key: no passphrase given: set {PASSPHRASE_ENV}, or passphrase_file in [root_key], or start trent on a terminal to be asked for it"
        ));
    }
    let ask = |prompt: &str| {
        rpassword::prompt_password(prompt)
            .map(Zeroizing::new)
            .map_err(|e| format!("cannot read the passphrase from the terminal: {e}"))
    };
    let first = ask("trent: root key passphrase: ")?;
    if first.is_empty() {
        return Err("passphrase root key: the passphrase is empty".into());
    }
    if new {
        let again = ask("trent: the same passphrase again: ")?;
        if *again != *first {
            return Err("passphrase root key: the passphrases differ".into());
        }
    }
    Ok(first)
}

fn env_secret(name: &str) -> Option<Zeroizing<String>> {
    let value = Zeroizing::new(std::env::var(name).ok()?);
    (!value.is_empty()).then_some(value)
}
