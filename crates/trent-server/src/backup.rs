//! `trent backup` and `trent restore`: a node's data directory (SQLite store) as one file,
//! taken while the server runs, and back.
//!
//! The backup is a tar archive: `manifest.json` first (format, time, Trent's version, each
//! file's size and SHA-256, the audit chains' heads, the SHA-256 of the store's root key
//! check: which root key the store needs), then `trent.db` (a consistent snapshot:
//! `VACUUM INTO` on a read-only connection, key material sealed as stored), the audit
//! trail's segments (each up to its last complete entry, read after the snapshot, so every
//! change in the snapshot has its audit entries) and the audit signing key (sealed under
//! the root key) with its public key. Never the root key (`root.key`, `root.key.sealed`),
//! never the administrator's `credentials` file (plaintext): the root key is supplied
//! separately at restore, from wherever it is kept.
//!
//! `trent restore` checks every file against the manifest and the store's integrity, and
//! writes them into an empty data directory, or refuses and writes nothing.

use std::io::Read;
use std::path::{Path, PathBuf};

use clap::Args;
use serde::{Deserialize, Serialize};

use crate::audit::{AUDIT_DIR, PUBLIC_KEY_FILE, SIGNING_KEY_FILE};
use crate::config::DatabaseUrl;
use crate::STORE_FILE;

const MANIFEST: &str = "manifest.json";
const FORMAT: &str = "trent-backup";
const FORMAT_VERSION: u32 = 1;

#[derive(Debug, Args)]
pub struct BackupArgs {
    /// The data directory of the node (running or not)
    #[arg(long, env = "TRENT_DATA_DIR", default_value = crate::config::DEFAULT_DATA_DIR)]
    pub data_dir: PathBuf,
    /// The backup file to write (it must not exist)
    #[arg(long)]
    pub out: PathBuf,
    /// A PostgreSQL store is not backed up by `trent backup`: use pg_dump (README)
    #[arg(long, env = "TRENT_DATABASE_URL", hide = true)]
    pub database_url: Option<DatabaseUrl>,
}

#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// The backup file
    #[arg(long)]
    pub from: PathBuf,
    /// The data directory to restore into: it must be empty or not exist
    #[arg(long)]
    pub data_dir: PathBuf,
}

/// What a backup holds, and how to check it.
#[derive(Debug, Serialize, Deserialize)]
pub struct Manifest {
    pub format: String,
    pub version: u32,
    /// RFC 3339.
    pub created_at: String,
    pub trent_version: String,
    /// Hex SHA-256 of the store's root key check: a root key that opens it is the one.
    pub root_key_check_sha256: Option<String>,
    pub audit_heads: Vec<AuditHead>,
    pub files: Vec<FileEntry>,
}

/// The last entry of an audit chain in the backup.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct AuditHead {
    pub chain: String,
    pub seq: u64,
    /// Hex SHA-256 of the entry.
    pub hash: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FileEntry {
    /// Relative to the data directory, `/`-separated.
    pub path: String,
    pub bytes: u64,
    pub sha256: String,
}

/// Whether `path` is one a backup may hold (and so one a restore may write).
fn allowed(path: &str) -> bool {
    if path == STORE_FILE || path == SIGNING_KEY_FILE || path == PUBLIC_KEY_FILE {
        return true;
    }
    match path
        .strip_prefix(AUDIT_DIR)
        .and_then(|p| p.strip_prefix('/'))
    {
        Some(name) => {
            (name.ends_with(".log") || name.ends_with(".log.zst") || name.ends_with(".anchor.json"))
                && !name.starts_with('.')
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        }
        None => false,
    }
}

/// `trent backup`.
pub async fn backup(args: BackupArgs) -> Result<(), String> {
    if let Some(url) = &args.database_url {
        return Err(format!(
            "the store is the PostgreSQL database {url}: back it up with pg_dump (README, \"Backup and restore\"); `trent backup` copies an SQLite data directory"
        ));
    }
    let dir = &args.data_dir;
    let db = dir.join(STORE_FILE);
    if !db.is_file() {
        return Err(format!(
            "{} has no store ({STORE_FILE}): nothing to back up",
            dir.display()
        ));
    }
    if args.out.exists() {
        return Err(format!("{} exists: give a new file", args.out.display()));
    }
    let parent = match args.out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => PathBuf::from("."),
    };
    // The snapshot is made beside the output (same file system), removed at the end.
    let staging = tempfile::Builder::new()
        .prefix(".trent-backup-")
        .tempdir_in(&parent)
        .map_err(|e| {
            format!(
                "cannot make a working directory in {}: {e}",
                parent.display()
            )
        })?;
    let snapshot = staging.path().join(STORE_FILE);
    let check = trent_store::snapshot_sqlite(&db, &snapshot)
        .await
        .map_err(|e| {
            format!(
                "cannot snapshot {}: {}",
                db.display(),
                crate::error_chain(&e)
            )
        })?;

    // (path in the archive, bytes)
    let mut files: Vec<(String, Vec<u8>)> = vec![(
        STORE_FILE.to_owned(),
        std::fs::read(&snapshot).map_err(|e| format!("cannot read the snapshot: {e}"))?,
    )];
    for name in [SIGNING_KEY_FILE, PUBLIC_KEY_FILE] {
        let path = dir.join(name);
        match std::fs::read(&path) {
            Ok(bytes) => files.push((name.to_owned(), bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
        }
    }
    // The trail, read after the snapshot: whatever the snapshot holds was audited before.
    let mut heads = Vec::new();
    let audit = dir.join(AUDIT_DIR);
    // Each file by the name it was written under: a segment may be compressed (renamed
    // to `.log.zst`) while this runs, so a closed one is read compressed if it is, and a
    // `.log` gone meanwhile is read from its compressed file.
    let mut names: Vec<String> = match std::fs::read_dir(&audit) {
        Ok(entries) => entries
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|n| !n.starts_with('.'))
            .filter_map(|n| {
                if n.ends_with(".anchor.json") || n.ends_with(".log") {
                    Some(n)
                } else {
                    n.strip_suffix(trent_audit::COMPRESSED_SUFFIX)
                        .filter(|base| base.ends_with(".log"))
                        .map(str::to_owned)
                }
            })
            .collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(format!("cannot list {}: {e}", audit.display())),
    };
    names.sort();
    names.dedup();
    for name in names {
        let path = audit.join(&name);
        let read = |p: &Path| std::fs::read(p);
        let (name, bytes, written) = if name.ends_with(".log") {
            let compressed = trent_audit::compressed_path(&path);
            let zst_name = format!("{name}{}", trent_audit::COMPRESSED_SUFFIX);
            match read(&compressed) {
                // Closed and compressed: copied as it is.
                Ok(bytes) => {
                    let written = trent_audit::decompress_segment(&bytes).ok();
                    (zst_name, bytes, written)
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => match read(&path) {
                    Ok(mut bytes) => {
                        // Up to the last complete entry: the writer may be appending.
                        let end = bytes.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
                        bytes.truncate(end);
                        let written = Some(bytes.clone());
                        (name, bytes, written)
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                        let bytes = read(&compressed)
                            .map_err(|e| format!("cannot read {}: {e}", compressed.display()))?;
                        let written = trent_audit::decompress_segment(&bytes).ok();
                        (zst_name, bytes, written)
                    }
                    Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
                },
                Err(e) => return Err(format!("cannot read {}: {e}", compressed.display())),
            }
        } else {
            let bytes = read(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            (name, bytes, None)
        };
        let archived = format!("{AUDIT_DIR}/{name}");
        if !allowed(&archived) {
            return Err(format!("{}: not an audit file's name", path.display()));
        }
        if let Some(head) = written.as_deref().and_then(last_entry) {
            heads.retain(|h: &AuditHead| h.chain != head.chain);
            heads.push(head);
        }
        files.push((archived, bytes));
    }

    let manifest = Manifest {
        format: FORMAT.to_owned(),
        version: FORMAT_VERSION,
        created_at: time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default(),
        trent_version: env!("CARGO_PKG_VERSION").to_owned(),
        root_key_check_sha256: check.map(|c| hex::encode(trent_audit::sha256(&c))),
        audit_heads: heads,
        files: files
            .iter()
            .map(|(path, bytes)| FileEntry {
                path: path.clone(),
                bytes: bytes.len() as u64,
                sha256: hex::encode(trent_audit::sha256(bytes)),
            })
            .collect(),
    };
    let manifest_json = serde_json::to_vec_pretty(&manifest)
        .map_err(|e| format!("cannot encode the manifest: {e}"))?;

    // Written under a temporary name, synced, then renamed: a backup file is whole or
    // absent.
    let partial = staging.path().join("backup.tar");
    {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let file = options
            .open(&partial)
            .map_err(|e| format!("cannot write {}: {e}", partial.display()))?;
        let mut tar = tar::Builder::new(std::io::BufWriter::new(file));
        let mut add = |path: &str, bytes: &[u8]| {
            let mut header = tar::Header::new_ustar();
            header.set_size(bytes.len() as u64);
            header.set_mode(0o600);
            header.set_mtime(
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs()),
            );
            header.set_entry_type(tar::EntryType::Regular);
            tar.append_data(&mut header, path, bytes)
                .map_err(|e| format!("cannot write the backup: {e}"))
        };
        add(MANIFEST, &manifest_json)?;
        for (path, bytes) in &files {
            add(path, bytes)?;
        }
        let file = tar
            .into_inner()
            .map_err(|e| format!("cannot write the backup: {e}"))?
            .into_inner()
            .map_err(|e| format!("cannot write the backup: {e}"))?;
        file.sync_all()
            .map_err(|e| format!("cannot write the backup: {e}"))?;
    }
    std::fs::hard_link(&partial, &args.out)
        .map_err(|e| format!("cannot write {}: {e}", args.out.display()))?;
    sync_dir(&parent);
    let total: u64 = manifest.files.iter().map(|f| f.bytes).sum();
    println!(
        "trent: backed up {} ({} files, {total} bytes) to {}",
        dir.display(),
        manifest.files.len(),
        args.out.display()
    );
    for head in &manifest.audit_heads {
        println!("  audit chain {} up to seq {}", head.chain, head.seq);
    }
    println!("  the root key is not in it: keep {}/root.key (or the passphrase, or the HSM) for the restore", dir.display());
    Ok(())
}

/// The chain, sequence number and hash of the last entry in these lines.
fn last_entry(bytes: &[u8]) -> Option<AuditHead> {
    let text = std::str::from_utf8(bytes).ok()?;
    let line = text.lines().rev().find(|l| !l.trim().is_empty())?;
    let parsed = trent_audit::parse_line(line);
    let body = parsed.body?;
    Some(AuditHead {
        chain: body.chain,
        seq: body.seq,
        hash: hex::encode(parsed.stored_hash?),
    })
}

fn sync_dir(dir: &Path) {
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
}

/// `trent restore`.
pub async fn restore(args: RestoreArgs) -> Result<(), String> {
    let target = &args.data_dir;
    if target.exists() {
        let mut entries = std::fs::read_dir(target)
            .map_err(|e| format!("cannot read {}: {e}", target.display()))?;
        if entries.next().is_some() {
            return Err(format!(
                "{} is not empty: restore into a new data directory",
                target.display()
            ));
        }
    }
    let file = std::fs::File::open(&args.from)
        .map_err(|e| format!("cannot open {}: {e}", args.from.display()))?;
    let mut archive = tar::Archive::new(std::io::BufReader::new(file));
    let mut entries = archive
        .entries()
        .map_err(|e| format!("{}: not a Trent backup: {e}", args.from.display()))?;
    let not_a_backup = |why: String| format!("{}: not a Trent backup: {why}", args.from.display());

    // The manifest first.
    let mut first = entries
        .next()
        .ok_or_else(|| not_a_backup("it is empty".into()))?
        .map_err(|e| not_a_backup(e.to_string()))?;
    if first.path().ok().as_deref() != Some(Path::new(MANIFEST)) {
        return Err(not_a_backup(format!("its first file is not {MANIFEST}")));
    }
    let mut manifest_json = Vec::new();
    first
        .by_ref()
        .take(1 << 20)
        .read_to_end(&mut manifest_json)
        .map_err(|e| not_a_backup(e.to_string()))?;
    let manifest: Manifest = serde_json::from_slice(&manifest_json)
        .map_err(|e| not_a_backup(format!("its manifest cannot be read: {e}")))?;
    if manifest.format != FORMAT || manifest.version != FORMAT_VERSION {
        return Err(not_a_backup(format!(
            "format {} version {} (this Trent reads {FORMAT} version {FORMAT_VERSION})",
            manifest.format, manifest.version
        )));
    }
    for f in &manifest.files {
        if !allowed(&f.path) {
            return Err(not_a_backup(format!("it names the file {:?}", f.path)));
        }
    }

    // Everything is written into a working directory beside the target, checked, then
    // renamed into place: a refused restore leaves nothing.
    let parent = match target.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&parent)
        .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
    let staging = tempfile::Builder::new()
        .prefix(".trent-restore-")
        .tempdir_in(&parent)
        .map_err(|e| {
            format!(
                "cannot make a working directory in {}: {e}",
                parent.display()
            )
        })?;
    let mut seen = std::collections::HashSet::new();
    for entry in entries {
        let mut entry = entry.map_err(|e| not_a_backup(e.to_string()))?;
        let path = entry
            .path()
            .map_err(|e| not_a_backup(e.to_string()))?
            .to_str()
            .map(str::to_owned)
            .ok_or_else(|| not_a_backup("a file name is not UTF-8".into()))?;
        let expected = manifest
            .files
            .iter()
            .find(|f| f.path == path)
            .ok_or_else(|| not_a_backup(format!("{path} is not in its manifest")))?;
        if !seen.insert(path.clone()) {
            return Err(not_a_backup(format!("{path} is in it twice")));
        }
        let mut bytes = Vec::new();
        entry
            .by_ref()
            .take(expected.bytes + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| not_a_backup(e.to_string()))?;
        if bytes.len() as u64 != expected.bytes
            || hex::encode(trent_audit::sha256(&bytes)) != expected.sha256
        {
            return Err(format!(
                "{}: {path} is damaged (its size or SHA-256 differs from the manifest's)",
                args.from.display()
            ));
        }
        let out = staging.path().join(&path);
        if let Some(dir) = out.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        }
        crate::write_new_private(&out, &bytes)?;
    }
    if let Some(missing) = manifest.files.iter().find(|f| !seen.contains(&f.path)) {
        return Err(format!(
            "{}: {} is missing (the backup is cut short)",
            args.from.display(),
            missing.path
        ));
    }
    let db = staging.path().join(STORE_FILE);
    if !db.is_file() {
        return Err(not_a_backup(format!("it holds no {STORE_FILE}")));
    }
    trent_store::check_sqlite(&db).await?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(staging.path(), std::fs::Permissions::from_mode(0o700));
    }
    // Into place: the target is absent or an empty directory.
    if target.exists() {
        std::fs::remove_dir(target)
            .map_err(|e| format!("cannot replace the empty {}: {e}", target.display()))?;
    }
    let staged = staging.keep();
    std::fs::rename(&staged, target).map_err(|e| {
        format!(
            "cannot move the restored files to {}: {e} (they are in {})",
            target.display(),
            staged.display()
        )
    })?;
    sync_dir(&parent);
    println!(
        "trent: restored {} ({} files, taken {} by Trent {}) into {}",
        args.from.display(),
        manifest.files.len(),
        manifest.created_at,
        manifest.trent_version,
        target.display()
    );
    for head in &manifest.audit_heads {
        println!("  audit chain {} up to seq {}", head.chain, head.seq);
    }
    println!(
        "  now give it its root key (copy root.key into {}, or the same passphrase file or HSM settings); a server started with another root key refuses to start",
        target.display()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::allowed;

    #[test]
    fn a_backup_names_only_the_files_of_a_data_directory() {
        for ok in [
            "trent.db",
            "audit-signing-key.sealed",
            "audit-signing-key.pub.pem",
            "audit/node-1-00000000000000000001.log",
            "audit/node-1.anchor.json",
            "audit/node-1-00000000000000000001.log.zst",
        ] {
            assert!(allowed(ok), "{ok}");
        }
        for refused in [
            "root.key",
            "root.key.sealed",
            "credentials",
            "../trent.db",
            "/etc/passwd",
            "audit/../root.key",
            "audit/x.idx",
            "audit/.node-1.anchor.json.partial",
            "audit/.hidden.log",
            "audit/a/b.log",
            "audit/",
            "other/x.log",
        ] {
            assert!(!allowed(refused), "{refused}");
        }
    }
}
