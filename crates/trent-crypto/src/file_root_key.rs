//! The `file` root key provider: a 256-bit root key in a local file, created by
//! `trent init` (or the first start) with mode 0600.
//!
//! File format (text, one line):
//! `trent-root-key v1 <base64 of the 32 key bytes> <hex of the first 4 bytes of SHA-256(key)>\n`.
//! The checksum turns a truncated, edited or swapped-in file into a clear
//! [`RootKeyError::Damaged`] at start-up instead of a server that cannot unseal
//! anything. It reveals 32 bits of a hash of the key, which costs nothing
//! against a 256-bit key (and whoever reads the file has the key anyway).

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use aws_lc_rs::digest::{digest, SHA256};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use zeroize::Zeroizing;

use crate::aead::KEY_LEN;
use crate::secret_file::read_into;
use crate::{random_bytes, CryptoError, RootKeyError, RootKeyProvider, SealingKey, SecretBytes};

const MAGIC: &str = "trent-root-key";
const VERSION: &str = "v1";
const CHECKSUM_LEN: usize = 4;
/// A valid file is 72 bytes; anything much larger is not a root key file.
const MAX_FILE_LEN: usize = 1024;

/// The `file` root key provider. `Debug` shows the path, never the key.
pub struct FileRootKey {
    path: PathBuf,
    key: SealingKey,
}

impl FileRootKey {
    /// Creates a new random root key at `path`.
    ///
    /// Never overwrites (`create_new`; [`RootKeyError::AlreadyExists`] if
    /// anything is there). On unix the file is created with mode 0600 (no window
    /// in which it is readable by others). File and parent directory are fsync'd
    /// before returning, so an acknowledged key survives a crash. The parent
    /// directory must exist.
    pub fn create(path: &Path) -> Result<Self, RootKeyError> {
        let material = random_bytes(KEY_LEN)?;
        let line = encode_line(&material);
        write_new_secret_file(path, line.as_bytes())?;

        Ok(Self {
            path: path.to_path_buf(),
            key: SealingKey::from_material(&material)?,
        })
    }

    /// Loads the root key at `path`: [`RootKeyError::NotFound`] if there is no
    /// file, [`RootKeyError::TooOpen`] if group or others may access it (unix),
    /// [`RootKeyError::Damaged`] if its content is not a valid root key.
    pub fn load(path: &Path) -> Result<Self, RootKeyError> {
        let mut file = File::open(path).map_err(|source| {
            if source.kind() == io::ErrorKind::NotFound {
                RootKeyError::NotFound {
                    path: path.to_path_buf(),
                }
            } else {
                RootKeyError::Io {
                    path: path.to_path_buf(),
                    source,
                }
            }
        })?;
        // Like ssh with a private key: a key others can read is refused, not used (the
        // mode of the open file, so that it cannot change between check and read).
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let metadata = file.metadata().map_err(|source| RootKeyError::Io {
                path: path.to_path_buf(),
                source,
            })?;
            let mode = metadata.permissions().mode() & 0o7777;
            // (Not a file at all: reading it fails below, as it always did.)
            if metadata.is_file() && mode & 0o077 != 0 {
                return Err(RootKeyError::TooOpen {
                    path: path.to_path_buf(),
                    mode,
                });
            }
        }
        // A fixed, zeroizing buffer: no reallocation leaves copies of the key behind.
        let mut buf = Zeroizing::new([0u8; MAX_FILE_LEN + 1]);
        let len = read_into(&mut file, &mut buf[..]).map_err(|source| RootKeyError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let damaged = |reason: String| RootKeyError::Damaged {
            path: path.to_path_buf(),
            reason,
        };
        if len > MAX_FILE_LEN {
            return Err(damaged(format!(
                "file is larger than {MAX_FILE_LEN} bytes, not a root key file"
            )));
        }
        let material = parse_line(&buf[..len]).map_err(damaged)?;
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

impl RootKeyProvider for FileRootKey {
    fn kind(&self) -> &'static str {
        "file"
    }

    fn seal(&self, aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, CryptoError> {
        self.key.seal(aad, plaintext)
    }

    fn unseal(&self, aad: &[u8], sealed: &[u8]) -> Result<SecretBytes, CryptoError> {
        self.key.unseal(aad, sealed)
    }
}

impl fmt::Debug for FileRootKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FileRootKey")
            .field("path", &self.path)
            .field("key", &"[REDACTED]")
            .finish()
    }
}

fn checksum_hex(material: &[u8]) -> String {
    let hash = digest(&SHA256, material);
    hex::encode(&hash.as_ref()[..CHECKSUM_LEN])
}

/// The file's single line. Built in one pre-sized, zeroizing buffer.
fn encode_line(material: &SecretBytes) -> Zeroizing<String> {
    let checksum = checksum_hex(material.expose());
    let b64_len = material.len().div_ceil(3) * 4;
    let mut line = Zeroizing::new(String::with_capacity(
        MAGIC.len() + VERSION.len() + b64_len + checksum.len() + 4,
    ));
    line.push_str(MAGIC);
    line.push(' ');
    line.push_str(VERSION);
    line.push(' ');
    STANDARD.encode_string(material.expose(), &mut line);
    line.push(' ');
    line.push_str(&checksum);
    line.push('\n');
    line
}

/// Parses the file content; the error is a reason for an operator, never
/// containing key bytes.
fn parse_line(content: &[u8]) -> Result<SecretBytes, String> {
    if content.is_empty() {
        return Err("file is empty".into());
    }
    // The trailing newline is optional: tools that store secrets (e.g. as
    // environment or orchestrator secrets) often strip it, and the checksum
    // protects the key either way.
    let content = content.strip_suffix(b"\n").unwrap_or(content);
    let text = std::str::from_utf8(content).map_err(|_| "file is not UTF-8 text".to_string())?;
    if text.contains(['\n', '\r']) {
        return Err("expected a single line".into());
    }
    let fields: Vec<&str> = text.split(' ').collect();
    if fields[0] != MAGIC {
        return Err(format!(
            "not a Trent root key file (it must start with \"{MAGIC} {VERSION} \")"
        ));
    }
    match fields.get(1) {
        Some(&VERSION) => {}
        Some(v)
            if v.len() <= 8
                && v.starts_with('v')
                && v.len() > 1
                && v[1..].bytes().all(|b| b.is_ascii_digit()) =>
        {
            return Err(format!(
                "unsupported format version {v} (this version of Trent reads {VERSION})"
            ))
        }
        _ => return Err("missing or malformed format version".into()),
    }
    if fields.len() != 4 {
        return Err(format!(
            "truncated or malformed: expected 4 space-separated fields, found {}",
            fields.len()
        ));
    }
    let material = SecretBytes::new(
        STANDARD
            .decode(fields[2])
            .map_err(|_| "key is not valid base64".to_string())?,
    );
    if material.len() != KEY_LEN {
        return Err(format!(
            "key is {} bytes, expected {KEY_LEN}",
            material.len()
        ));
    }
    let checksum = fields[3];
    if checksum.len() != 2 * CHECKSUM_LEN
        || !checksum
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    {
        return Err(format!(
            "checksum is not {} lowercase hexadecimal digits",
            2 * CHECKSUM_LEN
        ));
    }
    if checksum != checksum_hex(material.expose()) {
        return Err("checksum mismatch".into());
    }
    Ok(material)
}

/// Makes the new directory entry durable (POSIX requires an fsync of the
/// directory for that). Not possible, nor needed, on Windows.
#[cfg(unix)]
pub(crate) fn sync_parent_dir(path: &Path) -> io::Result<()> {
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    File::open(parent)?.sync_all()
}

#[cfg(not(unix))]
pub(crate) fn sync_parent_dir(_path: &Path) -> io::Result<()> {
    Ok(())
}

/// Writes `content` to a new file at `path`: never over anything
/// ([`RootKeyError::AlreadyExists`]), mode 0600 from the start on unix, the file and its
/// directory fsync'd before returning. A partial file this call created is removed, so
/// that the operator may simply retry.
pub(crate) fn write_new_secret_file(path: &Path, content: &[u8]) -> Result<(), RootKeyError> {
    let io_err = |source| RootKeyError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = match options.open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            return Err(RootKeyError::AlreadyExists {
                path: path.to_path_buf(),
            })
        }
        Err(e) => return Err(io_err(e)),
    };
    if let Err(e) = file.write_all(content).and_then(|()| file.sync_all()) {
        drop(file);
        // We created the file, so removing a partial one is safe. A failed removal
        // leaves a file that loading reports as damaged, which is the truth.
        let _ = std::fs::remove_file(path);
        return Err(io_err(e));
    }
    drop(file);
    sync_parent_dir(path).map_err(io_err)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Writes a key file as an operator would keep it: mode 0600.
    fn write_private(path: &Path, content: impl AsRef<[u8]>) -> io::Result<()> {
        let mut options = OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        options.open(path)?.write_all(content.as_ref())
    }

    #[cfg(unix)]
    #[test]
    fn a_key_others_can_access_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("root.key");
        FileRootKey::create(&path).unwrap();
        for mode in [0o640, 0o604, 0o644, 0o660, 0o602] {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
            let err = FileRootKey::load(&path).unwrap_err();
            assert!(
                matches!(err, RootKeyError::TooOpen { mode: m, .. } if m == mode),
                "{mode:o}: {err:?}"
            );
            let message = err.to_string();
            assert!(message.contains(&path.display().to_string()), "{message}");
            assert!(
                message.contains(&format!("chmod 600 {}", path.display())),
                "{message}"
            );
        }
        // The owner's own bits are the owner's business (0400 is the tightest).
        for mode in [0o600, 0o400] {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
            FileRootKey::load(&path).unwrap();
        }
    }

    fn damaged_reason(r: Result<FileRootKey, RootKeyError>) -> String {
        match r {
            Err(RootKeyError::Damaged { reason, .. }) => reason,
            other => panic!("expected Damaged, got {other:?}"),
        }
    }

    #[test]
    fn create_then_load() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("root.key");
        let created = FileRootKey::create(&path).unwrap();
        assert_eq!(created.kind(), "file");
        assert_eq!(created.path(), path);

        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }

        let content = std::fs::read_to_string(&path).unwrap();
        assert!(content.starts_with("trent-root-key v1 "));
        assert!(content.ends_with('\n'));
        assert_eq!(content.len(), 72);

        let loaded = FileRootKey::load(&path).unwrap();
        let sealed = created.seal(b"aad", b"material").unwrap();
        assert_eq!(
            loaded.unseal(b"aad", &sealed).unwrap().expose(),
            b"material"
        );
        let sealed = loaded.seal(b"aad", b"other").unwrap();
        assert_eq!(created.unseal(b"aad", &sealed).unwrap().expose(), b"other");
    }

    #[test]
    fn missing_newline_is_accepted() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("root.key");
        let created = FileRootKey::create(&path).unwrap();
        let content = std::fs::read_to_string(&path).unwrap();
        write_private(&path, content.trim_end()).unwrap();
        let loaded = FileRootKey::load(&path).unwrap();
        let sealed = created.seal(b"", b"x").unwrap();
        assert!(loaded.unseal(b"", &sealed).is_ok());
    }

    #[test]
    fn create_twice_is_already_exists() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("root.key");
        FileRootKey::create(&path).unwrap();
        let before = std::fs::read(&path).unwrap();
        let err = FileRootKey::create(&path).unwrap_err();
        assert!(matches!(&err, RootKeyError::AlreadyExists { path: p } if p == &path));
        assert_eq!(
            err.to_string(),
            format!(
                "root key file {} already exists; refusing to overwrite it",
                path.display()
            )
        );
        assert_eq!(std::fs::read(&path).unwrap(), before);
    }

    #[test]
    fn create_in_missing_directory_is_io() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nope").join("root.key");
        assert!(matches!(
            FileRootKey::create(&path),
            Err(RootKeyError::Io { .. })
        ));
    }

    #[test]
    fn missing_is_not_found() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("root.key");
        let err = FileRootKey::load(&path).unwrap_err();
        assert!(matches!(&err, RootKeyError::NotFound { path: p } if p == &path));
        assert_eq!(
            err.to_string(),
            format!("root key file {} does not exist", path.display())
        );
    }

    #[test]
    fn directory_is_io() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            FileRootKey::load(dir.path()),
            Err(RootKeyError::Io { .. })
        ));
    }

    #[test]
    fn truncated_files_are_damaged() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("root.key");
        FileRootKey::create(&path).unwrap();
        let content = std::fs::read(&path).unwrap();
        // Every truncation except dropping only the final newline.
        for len in 0..content.len() - 1 {
            write_private(&path, &content[..len]).unwrap();
            let reason = damaged_reason(FileRootKey::load(&path));
            assert!(!reason.is_empty());
        }
        write_private(&path, b"").unwrap();
        assert_eq!(damaged_reason(FileRootKey::load(&path)), "file is empty");
    }

    #[test]
    fn every_edited_byte_is_damaged() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("root.key");
        FileRootKey::create(&path).unwrap();
        let content = std::fs::read(&path).unwrap();
        for i in 0..content.len() {
            let mut edited = content.clone();
            edited[i] ^= 0x01;
            write_private(&path, &edited).unwrap();
            damaged_reason(FileRootKey::load(&path));
            let mut edited = content.clone();
            edited[i] ^= 0x20; // e.g. a case change
            write_private(&path, &edited).unwrap();
            damaged_reason(FileRootKey::load(&path));
        }
    }

    #[test]
    fn checksum_mismatch_message() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("root.key");
        let line = format!(
            "trent-root-key v1 {} {}\n",
            STANDARD.encode([1u8; 32]),
            checksum_hex(&[2u8; 32])
        );
        write_private(&path, line).unwrap();
        let err = FileRootKey::load(&path).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "root key file {} is damaged: checksum mismatch",
                path.display()
            )
        );
    }

    #[test]
    fn garbage_is_damaged() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("root.key");
        let valid_b64 = STANDARD.encode([1u8; 32]);
        let valid_sum = checksum_hex(&[1u8; 32]);
        let short_b64 = STANDARD.encode([1u8; 16]);
        let short_sum = checksum_hex(&[1u8; 16]);
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (vec![0xff, 0xfe, 0x00], "file is not UTF-8 text"),
            (b"hello world\n".to_vec(), "not a Trent root key file"),
            (vec![0u8; 32], "not a Trent root key file"),
            (vec![b'A'; 5000], "larger than 1024 bytes"),
            (
                format!("trent-root-key v2 {valid_b64} {valid_sum}\n").into_bytes(),
                "unsupported format version v2",
            ),
            (
                format!("trent-root-key {valid_b64} {valid_sum}\n").into_bytes(),
                "missing or malformed format version",
            ),
            (
                format!("trent-root-key v1 {valid_b64} {valid_sum} extra\n").into_bytes(),
                "expected 4 space-separated fields, found 5",
            ),
            (
                format!("trent-root-key v1  {valid_b64} {valid_sum}\n").into_bytes(),
                "expected 4 space-separated fields, found 5",
            ),
            (
                format!("trent-root-key v1 {valid_b64} {valid_sum}\r\n").into_bytes(),
                "expected a single line",
            ),
            (
                format!("trent-root-key v1 {valid_b64} {valid_sum}\n\n").into_bytes(),
                "expected a single line",
            ),
            (
                format!("trent-root-key v1 {short_b64} {short_sum}\n").into_bytes(),
                "key is 16 bytes, expected 32",
            ),
            (
                format!("trent-root-key v1 !!!! {valid_sum}\n").into_bytes(),
                "key is not valid base64",
            ),
            (
                format!(
                    "trent-root-key v1 {valid_b64} {}\n",
                    valid_sum.to_uppercase()
                )
                .into_bytes(),
                "checksum is not 8 lowercase hexadecimal digits",
            ),
            (
                format!("trent-root-key v1 {valid_b64} {valid_sum}0\n").into_bytes(),
                "checksum is not 8 lowercase hexadecimal digits",
            ),
        ];
        for (content, expected) in cases {
            write_private(&path, &content).unwrap();
            let reason = damaged_reason(FileRootKey::load(&path));
            assert!(
                reason.contains(expected),
                "{reason:?} should contain {expected:?}"
            );
        }
        // The well-formed line itself loads.
        write_private(
            &path,
            format!("trent-root-key v1 {valid_b64} {valid_sum}\n"),
        )
        .unwrap();
        FileRootKey::load(&path).unwrap();
    }

    #[test]
    fn other_root_key_cannot_unseal() {
        let dir = tempfile::tempdir().unwrap();
        let a = FileRootKey::create(&dir.path().join("a.key")).unwrap();
        let b = FileRootKey::create(&dir.path().join("b.key")).unwrap();
        let sealed = a.seal(b"aad", b"material").unwrap();
        assert!(matches!(
            b.unseal(b"aad", &sealed),
            Err(CryptoError::UnsealFailure)
        ));
    }

    #[test]
    fn debug_does_not_leak_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("root.key");
        let key = FileRootKey::create(&path).unwrap();
        let content = std::fs::read_to_string(&path).unwrap();
        let b64 = content.split(' ').nth(2).unwrap();
        let material = STANDARD.decode(b64).unwrap();
        let dbg = format!("{key:?} {key:#?}");
        assert!(dbg.contains("[REDACTED]"));
        assert!(!dbg.contains(b64));
        assert!(!dbg.contains(&hex::encode(&material)));
        assert!(!dbg.contains(&format!("{material:?}")));
    }
}
