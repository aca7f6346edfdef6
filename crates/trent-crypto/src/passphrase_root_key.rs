//! The `passphrase` root key provider, for hosts without an HSM: a random 256-bit root
//! key kept in the data directory sealed under a key derived from a passphrase by
//! Argon2id, unsealed at start. Whoever copies the file still needs the passphrase.
//!
//! File format (text, one line, mode 0600, created with `create_new` and fsync'd with its
//! directory, like `root.key`):
//! `trent-root-key-sealed v1 argon2id m=<KiB>,t=<passes>,p=<lanes> <base64 salt> <base64 sealed> <checksum>\n`
//! where `sealed` is the root key sealed by [`SealingKey`] (format 1) under
//! Argon2id(passphrase, salt (16 random bytes), m, t, p) → 32 bytes, with the line up to
//! and including the salt as associated data (the parameters and salt cannot be edited
//! without unsealing failing), and `checksum` is the hex of the first 4 bytes of SHA-256
//! of everything before it. The checksum tells a damaged file (refused as damaged) from
//! a wrong passphrase (refused as such): a wrong passphrase never creates a new key.
//!
//! New files use OWASP's recommended minimum for Argon2id: m = 19456 KiB (19 MiB), t = 2,
//! p = 1. Reading accepts other parameters within sane bounds (a file is never weakened
//! by Trent; an attacker able to edit it could replace it anyway).

use std::fmt;
use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use argon2::{Algorithm, Argon2, Params, Version};
use aws_lc_rs::digest::{digest, SHA256};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use zeroize::Zeroizing;

use crate::aead::KEY_LEN;
use crate::file_root_key::write_new_secret_file;
use crate::{
    random_array, random_bytes, CryptoError, RootKeyError, RootKeyProvider, SealingKey,
    SecretBytes, SEALED_OVERHEAD,
};

/// The file's name in the data directory.
pub const PASSPHRASE_ROOT_KEY_FILE: &str = "root.key.sealed";
const MAGIC: &str = "trent-root-key-sealed";
const VERSION: &str = "v1";
const KDF: &str = "argon2id";
const SALT_LEN: usize = 16;
const CHECKSUM_LEN: usize = 4;
const MAX_FILE_LEN: usize = 1024;
/// OWASP's recommendation for Argon2id (Password Storage Cheat Sheet).
const M_COST_KIB: u32 = 19_456;
const T_COST: u32 = 2;
const P_COST: u32 = 1;
/// Bounds on what a file may ask for: at most 4 GiB, 64 passes, 16 lanes.
const MAX_M_COST_KIB: u32 = 4 * 1024 * 1024;
const MAX_T_COST: u32 = 64;
const MAX_P_COST: u32 = 16;

/// The `passphrase` root key provider. `Debug` shows the path only.
pub struct PassphraseRootKey {
    path: PathBuf,
    key: SealingKey,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct KdfParams {
    m: u32,
    t: u32,
    p: u32,
}

impl KdfParams {
    const DEFAULT: Self = Self {
        m: M_COST_KIB,
        t: T_COST,
        p: P_COST,
    };

    fn text(self) -> String {
        format!("m={},t={},p={}", self.m, self.t, self.p)
    }

    fn parse(text: &str) -> Option<Self> {
        let mut fields = text.split(',');
        let mut next = |name: &str| -> Option<u32> {
            let v = fields.next()?.strip_prefix(name)?.strip_prefix('=')?;
            if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) || v.len() > 10 {
                return None;
            }
            v.parse().ok()
        };
        let params = Self {
            m: next("m")?,
            t: next("t")?,
            p: next("p")?,
        };
        if fields.next().is_some() {
            return None;
        }
        Some(params)
    }

    fn in_bounds(self) -> bool {
        (1..=MAX_P_COST).contains(&self.p)
            && (1..=MAX_T_COST).contains(&self.t)
            && self.m >= 8 * self.p
            && self.m <= MAX_M_COST_KIB
    }
}

/// Argon2id(passphrase, salt) → the 32-byte wrapping key.
fn derive(passphrase: &[u8], salt: &[u8], params: KdfParams) -> Result<SealingKey, RootKeyError> {
    let argon_params = Params::new(params.m, params.t, params.p, Some(KEY_LEN))
        .map_err(|e| RootKeyError::Passphrase(format!("invalid Argon2id parameters: {e}")))?;
    let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, argon_params);
    let mut out = Zeroizing::new([0u8; KEY_LEN]);
    argon
        .hash_password_into(passphrase, salt, out.as_mut())
        .map_err(|e| RootKeyError::Passphrase(format!("Argon2id failed: {e}")))?;
    Ok(SealingKey::from_material(&SecretBytes::new(out.to_vec()))?)
}

fn checksum_hex(text: &str) -> String {
    hex::encode(&digest(&SHA256, text.as_bytes()).as_ref()[..CHECKSUM_LEN])
}

/// `MAGIC VERSION KDF params salt`: the associated data of the seal.
fn header(params: KdfParams, salt: &[u8]) -> String {
    format!(
        "{MAGIC} {VERSION} {KDF} {} {}",
        params.text(),
        STANDARD.encode(salt)
    )
}

impl PassphraseRootKey {
    /// Creates a new random root key, sealed under `passphrase`, at `path` (never
    /// overwriting: [`RootKeyError::AlreadyExists`]). Mode 0600 from the start; file and
    /// directory fsync'd before returning.
    pub fn create(path: &Path, passphrase: &[u8]) -> Result<Self, RootKeyError> {
        if passphrase.is_empty() {
            return Err(RootKeyError::Passphrase("the passphrase is empty".into()));
        }
        let params = KdfParams::DEFAULT;
        let salt: [u8; SALT_LEN] = random_array()?;
        let material = random_bytes(KEY_LEN)?;
        let head = header(params, &salt);
        let wrapping = derive(passphrase, &salt, params)?;
        let sealed = wrapping.seal(head.as_bytes(), material.expose())?;
        let body = format!("{head} {}", STANDARD.encode(&sealed));
        let line = format!("{body} {}\n", checksum_hex(&body));

        write_new_secret_file(path, line.as_bytes())?;
        Ok(Self {
            path: path.to_path_buf(),
            key: SealingKey::from_material(&material)?,
        })
    }

    /// Unseals the root key at `path` with `passphrase`: [`RootKeyError::NotFound`] if
    /// there is no file, [`RootKeyError::TooOpen`] if group or others may access it,
    /// [`RootKeyError::Damaged`] if it is not a valid file, and
    /// [`RootKeyError::Passphrase`] if the passphrase is wrong.
    pub fn load(path: &Path, passphrase: &[u8]) -> Result<Self, RootKeyError> {
        let io_err = |source| RootKeyError::Io {
            path: path.to_path_buf(),
            source,
        };
        let mut file = File::open(path).map_err(|source| {
            if source.kind() == io::ErrorKind::NotFound {
                RootKeyError::NotFound {
                    path: path.to_path_buf(),
                }
            } else {
                io_err(source)
            }
        })?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let metadata = file.metadata().map_err(io_err)?;
            let mode = metadata.permissions().mode() & 0o7777;
            if metadata.is_file() && mode & 0o077 != 0 {
                return Err(RootKeyError::TooOpen {
                    path: path.to_path_buf(),
                    mode,
                });
            }
        }
        let mut buf = Vec::with_capacity(MAX_FILE_LEN + 1);
        (&mut file)
            .take(MAX_FILE_LEN as u64 + 1)
            .read_to_end(&mut buf)
            .map_err(io_err)?;
        let damaged = |reason: String| RootKeyError::Damaged {
            path: path.to_path_buf(),
            reason,
        };
        if buf.len() > MAX_FILE_LEN {
            return Err(damaged(format!(
                "file is larger than {MAX_FILE_LEN} bytes, not a sealed root key file"
            )));
        }
        let (params, salt, sealed, head) = parse(&buf).map_err(damaged)?;
        let wrapping = derive(passphrase, &salt, params)?;
        let material = wrapping.unseal(head.as_bytes(), &sealed).map_err(|_| {
            RootKeyError::Passphrase(format!(
                "the passphrase does not unseal {} (wrong passphrase)",
                path.display()
            ))
        })?;
        Ok(Self {
            path: path.to_path_buf(),
            key: SealingKey::from_material(&material)?,
        })
    }

    /// The file this key was created at or loaded from.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

type Parsed = (KdfParams, Vec<u8>, Vec<u8>, String);

/// Parses the file; the reason is for an operator and never holds secret bytes.
fn parse(content: &[u8]) -> Result<Parsed, String> {
    if content.is_empty() {
        return Err("file is empty".into());
    }
    let content = content.strip_suffix(b"\n").unwrap_or(content);
    let text = std::str::from_utf8(content).map_err(|_| "file is not UTF-8 text".to_string())?;
    if text.contains(['\n', '\r']) {
        return Err("expected a single line".into());
    }
    let fields: Vec<&str> = text.split(' ').collect();
    if fields[0] != MAGIC {
        return Err(format!(
            "not a Trent sealed root key file (it must start with \"{MAGIC} {VERSION} \")"
        ));
    }
    match fields.get(1) {
        Some(&VERSION) => {}
        Some(v) => return Err(format!("unsupported format version {v:.8}")),
        None => return Err("missing format version".into()),
    }
    if fields.len() != 7 {
        return Err(format!(
            "truncated or malformed: expected 7 space-separated fields, found {}",
            fields.len()
        ));
    }
    let (body, checksum) = text
        .rsplit_once(' ')
        .ok_or_else(|| "missing checksum".to_string())?;
    if checksum != checksum_hex(body) {
        return Err("checksum mismatch".into());
    }
    if fields[2] != KDF {
        return Err(format!("unsupported key derivation {:.16}", fields[2]));
    }
    let params = KdfParams::parse(fields[3])
        .filter(|p| p.in_bounds())
        .ok_or_else(|| "invalid or out-of-bounds Argon2id parameters".to_string())?;
    let salt = STANDARD
        .decode(fields[4])
        .map_err(|_| "salt is not valid base64".to_string())?;
    if salt.len() != SALT_LEN {
        return Err(format!("salt is {} bytes, expected {SALT_LEN}", salt.len()));
    }
    let sealed = STANDARD
        .decode(fields[5])
        .map_err(|_| "sealed key is not valid base64".to_string())?;
    if sealed.len() != KEY_LEN + SEALED_OVERHEAD {
        return Err(format!(
            "sealed key is {} bytes, expected {}",
            sealed.len(),
            KEY_LEN + SEALED_OVERHEAD
        ));
    }
    let head = header(params, &salt);
    Ok((params, salt, sealed, head))
}

impl RootKeyProvider for PassphraseRootKey {
    fn kind(&self) -> &'static str {
        "passphrase"
    }

    fn seal(&self, aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, CryptoError> {
        self.key.seal(aad, plaintext)
    }

    fn unseal(&self, aad: &[u8], sealed: &[u8]) -> Result<SecretBytes, CryptoError> {
        self.key.unseal(aad, sealed)
    }
}

impl fmt::Debug for PassphraseRootKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PassphraseRootKey")
            .field("path", &self.path)
            .field("key", &"[REDACTED]")
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASS: &[u8] = b"correct horse battery staple";

    #[test]
    fn round_trip_across_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(PASSPHRASE_ROOT_KEY_FILE);
        let created = PassphraseRootKey::create(&path, PASS).unwrap();
        assert_eq!(created.kind(), "passphrase");
        let sealed = created.seal(b"aad", b"material").unwrap();
        drop(created);
        let loaded = PassphraseRootKey::load(&path, PASS).unwrap();
        assert_eq!(
            loaded.unseal(b"aad", &sealed).unwrap().expose(),
            b"material"
        );
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            text.starts_with("trent-root-key-sealed v1 argon2id m=19456,t=2,p=1 "),
            "{text}"
        );
        assert!(text.ends_with('\n'));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert!(matches!(
            PassphraseRootKey::create(&path, PASS),
            Err(RootKeyError::AlreadyExists { .. })
        ));
    }

    #[test]
    fn a_wrong_passphrase_is_refused_and_the_file_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(PASSPHRASE_ROOT_KEY_FILE);
        PassphraseRootKey::create(&path, PASS).unwrap();
        let before = std::fs::read(&path).unwrap();
        let err = PassphraseRootKey::load(&path, b"wrong horse").unwrap_err();
        assert!(matches!(err, RootKeyError::Passphrase(_)), "{err:?}");
        let message = err.to_string();
        assert!(message.contains("wrong passphrase"), "{message}");
        assert!(!message.contains("wrong horse"), "{message}");
        assert_eq!(std::fs::read(&path).unwrap(), before);
        assert!(matches!(
            PassphraseRootKey::load(&path, b""),
            Err(RootKeyError::Passphrase(_))
        ));
    }

    #[test]
    fn damage_is_not_a_wrong_passphrase() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(PASSPHRASE_ROOT_KEY_FILE);
        PassphraseRootKey::create(&path, PASS).unwrap();
        let content = std::fs::read(&path).unwrap();
        let write = |bytes: &[u8]| {
            std::fs::write(&path, bytes).unwrap();
        };
        for i in [0, 10, 30, 40, 60, content.len() - 5] {
            let mut edited = content.clone();
            edited[i] ^= 0x01;
            write(&edited);
            assert!(
                matches!(
                    PassphraseRootKey::load(&path, PASS),
                    Err(RootKeyError::Damaged { .. })
                ),
                "byte {i}"
            );
        }
        write(&content[..content.len() / 2]);
        assert!(matches!(
            PassphraseRootKey::load(&path, PASS),
            Err(RootKeyError::Damaged { .. })
        ));
        write(b"");
        assert!(matches!(
            PassphraseRootKey::load(&path, PASS),
            Err(RootKeyError::Damaged { .. })
        ));
        write(&content);
        PassphraseRootKey::load(&path, PASS).unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn a_file_others_can_access_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(PASSPHRASE_ROOT_KEY_FILE);
        PassphraseRootKey::create(&path, PASS).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        assert!(matches!(
            PassphraseRootKey::load(&path, PASS),
            Err(RootKeyError::TooOpen { mode: 0o640, .. })
        ));
    }

    #[test]
    fn missing_is_not_found_and_debug_is_redacted() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(PASSPHRASE_ROOT_KEY_FILE);
        assert!(matches!(
            PassphraseRootKey::load(&path, PASS),
            Err(RootKeyError::NotFound { .. })
        ));
        let key = PassphraseRootKey::create(&path, PASS).unwrap();
        let dbg = format!("{key:?}");
        assert!(dbg.contains("[REDACTED]") && dbg.contains(PASSPHRASE_ROOT_KEY_FILE));
        assert!(!dbg.contains("horse"));
    }

    #[test]
    fn params_parse_and_bounds() {
        assert_eq!(
            KdfParams::parse("m=19456,t=2,p=1"),
            Some(KdfParams::DEFAULT)
        );
        for bad in [
            "",
            "m=1,t=2",
            "m=1,t=2,p=1,x=3",
            "t=2,m=1,p=1",
            "m=-1,t=2,p=1",
        ] {
            assert_eq!(KdfParams::parse(bad), None, "{bad}");
        }
        assert!(!KdfParams {
            m: u32::MAX,
            t: 2,
            p: 1
        }
        .in_bounds());
        assert!(!KdfParams {
            m: 19456,
            t: 0,
            p: 1
        }
        .in_bounds());
        assert!(KdfParams::DEFAULT.in_bounds());
    }
}
