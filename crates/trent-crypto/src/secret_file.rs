//! Reading a small secret (the PKCS#11 user PIN, the root key's passphrase) from a file
//! an operator keeps next to the configuration: refused, as ssh refuses a private key,
//! when group or others may access it; one trailing newline (as `echo` writes) dropped.

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use zeroize::Zeroizing;

use crate::RootKeyError;

/// A PIN or passphrase is short; anything larger is not one.
const MAX_SECRET_LEN: usize = 4096;

/// Reads the secret in `path`. Errors name the file and the problem, never the content.
pub fn read_secret_file(path: &Path) -> Result<Zeroizing<String>, RootKeyError> {
    let refuse = |reason: String| RootKeyError::SecretFile {
        path: path.to_path_buf(),
        reason,
    };
    let mut file = File::open(path).map_err(|e| refuse(format!("cannot open it: {e}")))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let metadata = file
            .metadata()
            .map_err(|e| refuse(format!("cannot read its mode: {e}")))?;
        if !metadata.is_file() {
            return Err(refuse("not a regular file".into()));
        }
        let mode = metadata.permissions().mode() & 0o7777;
        if mode & 0o077 != 0 {
            return Err(refuse(format!(
                "it has mode {mode:04o}: it must not be accessible by group or others; run `chmod 600 {}`",
                path.display()
            )));
        }
    }
    let mut buf = Zeroizing::new([0u8; MAX_SECRET_LEN + 1]);
    let len =
        read_into(&mut file, &mut buf[..]).map_err(|e| refuse(format!("cannot read it: {e}")))?;
    if len > MAX_SECRET_LEN {
        return Err(refuse(format!("larger than {MAX_SECRET_LEN} bytes")));
    }
    let mut content = &buf[..len];
    if let Some(rest) = content.strip_suffix(b"\n") {
        content = rest.strip_suffix(b"\r").unwrap_or(rest);
    }
    if content.is_empty() {
        return Err(refuse("it is empty".into()));
    }
    let text = std::str::from_utf8(content).map_err(|_| refuse("not UTF-8 text".into()))?;
    let mut secret = Zeroizing::new(String::with_capacity(text.len()));
    secret.push_str(text);
    Ok(secret)
}

/// Reads `file` into `buf` until its end or until `buf` is full; the number of bytes read.
/// Secrets are read into a fixed (zeroizing) buffer this way, so that no reallocation
/// leaves a copy behind; a full buffer tells the caller the file is too large.
pub(crate) fn read_into(file: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut len = 0;
    while len < buf.len() {
        match file.read(&mut buf[len..]) {
            Ok(0) => break,
            Ok(n) => len += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(len)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(path: &Path, content: &[u8], mode: u32) {
        std::fs::write(path, content).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
        }
    }

    #[test]
    fn reads_and_strips_one_newline() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pin");
        write(&path, b"1234\n", 0o600);
        assert_eq!(read_secret_file(&path).unwrap().as_str(), "1234");
        write(&path, b"12 34", 0o400);
        assert_eq!(read_secret_file(&path).unwrap().as_str(), "12 34");
        write(&path, b"1234\r\n", 0o600);
        assert_eq!(read_secret_file(&path).unwrap().as_str(), "1234");
    }

    #[cfg(unix)]
    #[test]
    fn refuses_open_modes_missing_and_empty_files_without_the_content() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pin");
        for mode in [0o640, 0o604, 0o644] {
            write(&path, b"s3cr3t-pin", mode);
            let err = read_secret_file(&path).unwrap_err().to_string();
            assert!(err.contains("chmod 600"), "{err}");
            assert!(!err.contains("s3cr3t-pin"), "{err}");
        }
        write(&path, b"\n", 0o600);
        assert!(read_secret_file(&path)
            .unwrap_err()
            .to_string()
            .contains("empty"));
        let err = read_secret_file(&dir.path().join("missing"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("cannot open"), "{err}");
    }
}
