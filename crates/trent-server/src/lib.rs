//! The `trent` server as a library: the HTTP front ([`app`]), the one stage every request
//! goes through ([`stage`]) and the protocols it serves (KMS JSON 1.1 in [`kms`], STS,
//! the CloudTrail API, the test clock, and on a listener of its own the AWS KMS External
//! Key Store proxy API in [`xks`]), the web console at `/console/` ([`console`]), and
//! everything behind them up to the key service — configuration, SigV4 authentication, the
//! identity directory, the audit trail, the listener — and [`serve::serve`], which opens a
//! data directory and serves it. The `trent` binary (`main.rs`) only parses the
//! command line and calls into this crate.
//!
//! It must never print a secret except the administrator's credentials, once, into the
//! credentials file the operator asked for, and never answer a request whose audit event
//! was not recorded.

pub mod admin;
pub mod audit;
mod audit_archive;
mod audit_throttle;
pub mod auth;
pub mod backup;
pub mod cloudtrail;
pub mod config;
pub mod console;
pub mod disk;
pub mod http;
pub mod identities;
pub mod kms;
pub mod listener;
pub mod logging;
pub mod migrate;
pub mod network;
pub mod probe;
pub mod root_key;
pub mod root_migrate;
pub mod seed;
pub mod serve;
mod service_events;
pub mod stage;
pub mod sts;
pub mod telemetry;
pub mod test_clock;
pub mod test_reset;
pub mod tls;
pub mod traces;
pub mod xks;
pub mod xks_client;
pub mod xks_config;
mod zeroizing;

pub use http::{app, AppState};

/// The SQLite store's file in a data directory.
pub const STORE_FILE: &str = "trent.db";

/// The lock file of a data directory: one process at a time uses a data directory (a
/// server, or `trent root-key migrate`), holding an exclusive lock on it for as long as it
/// runs (released by the system when the process ends, however it ends).
pub const LOCK_FILE: &str = "trent.lock";

/// Takes the data directory's lock ([`LOCK_FILE`]); refused while another process holds it.
/// The lock lasts as long as the returned file is open.
pub fn lock_data_dir(dir: &std::path::Path) -> Result<std::fs::File, String> {
    let path = dir.join(LOCK_FILE);
    let mut options = std::fs::OpenOptions::new();
    options.create(true).truncate(false).write(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let file = options
        .open(&path)
        .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(format!(
            "the data directory {} is in use by another trent process (a server, or a root key migration): stop it first",
            dir.display()
        )),
        Err(std::fs::TryLockError::Error(e)) => {
            Err(format!("cannot lock {}: {e}", path.display()))
        }
    }
}

/// An error and its sources, `: `-separated, for the operator.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

/// Writes a new file (refused if it exists), readable by its owner only, synced.
pub(crate) fn write_new_private(path: &std::path::Path, bytes: &[u8]) -> Result<(), String> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(path)
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}
