//! SoftHSM2 for the PKCS#11 tests: the module, and token directories of a test's own.
//!
//! Each [`Tokens`] is a `softhsm2.conf` and a token directory in a folder the test owns;
//! whoever loads the module (the `trent` binary, `pkcs11-tool`, the test process) is given
//! the configuration with `SOFTHSM2_CONF`. SoftHSM2 missing is a failure, never a skip:
//! `.ci/run` installs it.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The SoftHSM2 module: `TRENT_TEST_SOFTHSM_MODULE`, or where Debian and others put it.
pub fn module() -> PathBuf {
    if let Some(p) = std::env::var_os("TRENT_TEST_SOFTHSM_MODULE") {
        return PathBuf::from(p);
    }
    for candidate in [
        "/usr/lib/softhsm/libsofthsm2.so",
        "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
        "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
        "/usr/local/lib/softhsm/libsofthsm2.so",
        "/usr/lib64/pkcs11/libsofthsm2.so",
    ] {
        if Path::new(candidate).is_file() {
            return PathBuf::from(candidate);
        }
    }
    panic!("SoftHSM2 is not installed (no libsofthsm2.so): apt-get install softhsm2 opensc, or set TRENT_TEST_SOFTHSM_MODULE");
}

/// A SoftHSM2 configuration with a token directory of its own, under `work`.
#[derive(Debug, Clone)]
pub struct Tokens {
    /// The `softhsm2.conf` to pass as `SOFTHSM2_CONF`.
    pub conf: PathBuf,
    /// The module ([`module`]).
    pub module: PathBuf,
}

impl Tokens {
    /// Writes `work/softhsm2.conf` and creates `work/tokens` (which must not exist yet).
    pub fn new(work: &Path) -> Self {
        let tokens = work.join("tokens");
        std::fs::create_dir(&tokens).unwrap();
        let conf = work.join("softhsm2.conf");
        std::fs::write(
            &conf,
            format!(
                "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n",
                tokens.display()
            ),
        )
        .unwrap();
        Tokens {
            conf,
            module: module(),
        }
    }

    /// Initializes a token `label` in a free slot with these SO and user PINs.
    pub fn init_token(&self, label: &str, so_pin: &str, pin: &str) {
        let out = Command::new("softhsm2-util")
            .env("SOFTHSM2_CONF", &self.conf)
            .args([
                "--init-token",
                "--free",
                "--label",
                label,
                "--so-pin",
                so_pin,
                "--pin",
                pin,
            ])
            .output()
            .expect("softhsm2-util runs (apt-get install softhsm2)");
        assert!(
            out.status.success(),
            "softhsm2-util --init-token {label}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// A self-signed CA certificate (PEM) made with `openssl` in `dir`, to stand for a
/// cluster's trust anchor (`[[pkcs11_clusters]]` `trust_anchor_file`); its path.
pub fn trust_anchor(dir: &Path, name: &str) -> PathBuf {
    let pem = dir.join(format!("{name}.pem"));
    let out = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
        ])
        .args(["-nodes", "-days", "2", "-subj"])
        .arg(format!("/CN={name}"))
        .arg("-keyout")
        .arg(dir.join(format!("{name}.key")))
        .arg("-out")
        .arg(&pem)
        .output()
        .expect("run openssl");
    assert!(out.status.success(), "openssl: {out:?}");
    pem
}
