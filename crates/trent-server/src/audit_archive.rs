//! `trent audit archive --before DATE --out DIR`: moves a node's oldest audit segments
//! (every closed segment whose last entry is older than DATE, oldest first; never the
//! newest segment of a chain) out of the data directory, and leaves a signed anchor in
//! their place, so that `trent audit verify` still proves the remaining chain continuous.
//!
//! In order, each step durable before the next: the whole trail is verified (a trail with
//! a problem is not archived: an anchor would vouch for it); the segments are copied to
//! `DIR/audit/` with the public key and the chain's previous anchor (so the archive
//! verifies by itself: `trent audit verify --data-dir DIR`); the new anchor is written;
//! the segments are deleted. Run again after an interruption, it finishes the deletion.
//! It takes the data directory's lock: stop the server first.

use std::path::{Path, PathBuf};

use trent_audit::anchor::{read_anchors, write_anchor, Anchor};
use trent_audit::StoredLine;

use crate::audit::{AUDIT_DIR, PUBLIC_KEY_FILE};
use crate::config::{Config, ServeArgs};

/// What one run did.
#[derive(Debug, Default)]
pub struct Archived {
    pub segments: usize,
    pub entries: usize,
    pub anchors: Vec<Anchor>,
}

/// `trent audit archive`.
pub async fn archive(
    data_dir: &Path,
    config_file: Option<PathBuf>,
    before: i64,
    out: &Path,
) -> Result<Archived, String> {
    let _lock = crate::lock_data_dir(data_dir)?;
    let audit = data_dir.join(AUDIT_DIR);
    if !audit.is_dir() {
        return Err(format!("{} has no audit log", data_dir.display()));
    }
    let pem_path = data_dir.join(PUBLIC_KEY_FILE);
    let pem = std::fs::read_to_string(&pem_path)
        .map_err(|e| format!("cannot read {}: {e}", pem_path.display()))?;
    let public_key = trent_audit::signing::parse_public_key_pem(&pem)
        .ok_or_else(|| format!("{} is not an Ed25519 public key", pem_path.display()))?;
    let anchors = read_anchors(&audit).map_err(|e| e.to_string())?;

    // The trail is read once: the segments are known by the lines read from them.
    let mut lines = trent_audit::read_dir_lines(&audit).map_err(|e| e.to_string())?;
    let mut segments = segments_of(&audit, &lines);
    // An interrupted run: its anchor is written, some segments it covers are not gone.
    let mut done = Archived::default();
    let (stale, kept): (Vec<Segment>, Vec<Segment>) = segments.into_iter().partition(|s| {
        anchors
            .iter()
            .any(|a| a.chain == s.chain && s.last_seq <= a.seq)
    });
    segments = kept;
    for segment in &stale {
        remove_segment(&segment.path)?;
        done.segments += 1;
    }
    lines.retain(|l| !stale.iter().any(|s| s.name == l.location.source));

    let report = trent_audit::verify_anchored(&lines, &anchors, |_| Some(public_key));
    if !report.ok() {
        let problems: Vec<String> = report.problems.iter().map(ToString::to_string).collect();
        return Err(format!(
            "the audit trail does not verify; nothing is archived:\n{}",
            problems.join("\n")
        ));
    }
    let chains: Vec<String> = report.chains.clone();
    let mut plans = Vec::new();
    for chain in &chains {
        let of_chain: Vec<&Segment> = segments.iter().filter(|s| &s.chain == chain).collect();
        // Never the newest: the writer appends to it.
        let closed = of_chain.len().saturating_sub(1);
        let archived: Vec<&Segment> = of_chain
            .into_iter()
            .take(closed)
            .take_while(|s| s.last_time.is_some_and(|t| t < before))
            .collect();
        if !archived.is_empty() {
            plans.push((chain.clone(), archived));
        }
    }
    if plans.is_empty() {
        return Ok(done);
    }

    let signer = signer(data_dir, config_file, public_key).await?;

    // The archive: a directory laid out as a data directory's trail.
    let out_audit = out.join(AUDIT_DIR);
    check_new_dir(out)?;
    create_private_dir(&out_audit)?;
    copy_durably(&pem_path, &out.join(PUBLIC_KEY_FILE))?;
    let now = trent_audit::event_time(now_millis());
    for (chain, segments) in &plans {
        let previous = anchors.iter().find(|a| &a.chain == chain);
        if let Some(previous) = previous {
            write_anchor(&out_audit, previous).map_err(|e| e.to_string())?;
        }
        for s in segments {
            // As it is on disk: the original, or its compressed file.
            let file = if s.path.exists() {
                s.path.clone()
            } else {
                trent_audit::compressed_path(&s.path)
            };
            let name = file.file_name().unwrap_or_default();
            copy_durably(&file, &out_audit.join(name))?;
        }
        // The new anchor: the last entry archived, and the last digest at or before it.
        let last = segments.last().ok_or("no segment")?;
        let archived_lines: Vec<StoredLine> = lines
            .iter()
            .filter(|l| segments.iter().any(|s| l.location.source == s.name))
            .cloned()
            .collect();
        let mut digest_seq = previous.map_or(0, |a| a.digest_seq);
        let mut digest_signature = previous.and_then(|a| a.digest_signature.clone());
        let mut hash = None;
        for l in &archived_lines {
            let parsed = trent_audit::parse_line(&l.line);
            let Some(body) = parsed.body else { continue };
            if body.chain != *chain {
                continue;
            }
            if let Some(d) = &body.digest {
                if body.seq > digest_seq {
                    digest_seq = body.seq;
                    digest_signature = Some(d.signature.clone());
                }
            }
            if body.seq == last.last_seq {
                hash = parsed.stored_hash.map(hex::encode);
            }
        }
        let mut anchor = Anchor {
            chain: chain.clone(),
            seq: last.last_seq,
            hash: hash.ok_or_else(|| {
                format!("entry seq {} of chain {chain} is missing", last.last_seq)
            })?,
            digest_seq,
            digest_signature,
            public_key_fingerprint: String::new(),
            anchor_time: now.clone(),
            signature: String::new(),
        };
        anchor.sign(&signer);
        sync_dir(&out_audit)?;
        write_anchor(&audit, &anchor).map_err(|e| e.to_string())?;
        for s in segments {
            remove_segment(&s.path)?;
            done.segments += 1;
            done.entries += s.entries;
        }
        sync_dir(&audit)?;
        done.anchors.push(anchor);
    }

    // What is left proves itself continuous from the new anchors.
    let anchors = read_anchors(&audit).map_err(|e| e.to_string())?;
    let lines = trent_audit::read_dir_lines(&audit).map_err(|e| e.to_string())?;
    let report = trent_audit::verify_anchored(&lines, &anchors, |_| Some(public_key));
    if !report.ok() {
        let problems: Vec<String> = report.problems.iter().map(ToString::to_string).collect();
        return Err(format!(
            "after archiving, the remaining trail does not verify:\n{}",
            problems.join("\n")
        ));
    }
    Ok(done)
}

/// The data directory's audit signing key (unsealed with its root key), if it is the one
/// of `public_key`.
async fn signer(
    data_dir: &Path,
    config_file: Option<PathBuf>,
    public_key: [u8; 32],
) -> Result<trent_audit::Signer, String> {
    if !data_dir.join(crate::audit::SIGNING_KEY_FILE).is_file() {
        return Err(format!("{} has no audit signing key", data_dir.display()));
    }
    let root =
        crate::root_migrate::open_source(&root_settings(data_dir, config_file)?, data_dir).await?;
    let signer = crate::audit::signing_key(data_dir, root.as_ref())?;
    if signer.public_key() != public_key {
        return Err(format!(
            "the audit signing key of {} does not match its public key",
            data_dir.display()
        ));
    }
    Ok(signer)
}

/// `out` must not exist, or be empty.
fn check_new_dir(out: &Path) -> Result<(), String> {
    let used = out.exists()
        && std::fs::read_dir(out)
            .map_err(|e| format!("cannot read {}: {e}", out.display()))?
            .next()
            .is_some();
    if used {
        return Err(format!(
            "{} is not empty: archive into a new directory",
            out.display()
        ));
    }
    Ok(())
}

/// The settings `trent serve` would use for this data directory.
fn serve_config(data_dir: &Path, config: Option<PathBuf>) -> Result<Config, String> {
    let mut args = ServeArgs::for_data_dir(data_dir.to_owned());
    args.config = config;
    Config::resolve(args)
}

/// The root key settings `trent serve` would use for this data directory.
fn root_settings(
    data_dir: &Path,
    config: Option<PathBuf>,
) -> Result<crate::config::RootKeySettings, String> {
    Ok(serve_config(data_dir, config)?.root_key)
}

/// How many rows one `DELETE` of the archive removes.
const DELETE_BATCH: i64 = 10_000;

/// `trent audit archive --database-url`: the node's own chain in the PostgreSQL audit
/// table (the node whose data directory holds the chain's signing key), while the nodes
/// run: its entries before `before` (never its last one, which the node continues) are
/// written to `OUT/audit/` as a segment, then the anchor is put in `audit_anchors`, then
/// the rows are deleted in batches.
pub async fn archive_database(
    url: &crate::config::DatabaseUrl,
    data_dir: &Path,
    config_file: Option<PathBuf>,
    before: i64,
    out: &Path,
) -> Result<Archived, String> {
    let pem_path = data_dir.join(PUBLIC_KEY_FILE);
    let pem = std::fs::read_to_string(&pem_path)
        .map_err(|e| format!("cannot read {}: {e}", pem_path.display()))?;
    let public_key = trent_audit::signing::parse_public_key_pem(&pem)
        .ok_or_else(|| format!("{} is not an Ed25519 public key", pem_path.display()))?;
    let config = serve_config(data_dir, config_file.clone())?;
    let chain = config
        .audit
        .chain_id
        .clone()
        .unwrap_or_else(|| crate::audit::derived_chain_id(&public_key));
    // `url` prints without its password; only the connection sees it.
    let options =
        trent_audit::PgAuditStore::options(url.expose()).map_err(|e| format!("{url}: {e}"))?;
    let store = trent_audit::PgAuditStore::connect(options)
        .await
        .map_err(|e| format!("cannot open the audit trail in the database: {e}"))?;
    let result = archive_chain(
        &store,
        &chain,
        &pem,
        public_key,
        data_dir,
        config_file,
        before,
        out,
    )
    .await;
    store.close().await;
    result
}

#[allow(clippy::too_many_arguments)]
async fn archive_chain(
    store: &trent_audit::PgAuditStore,
    chain: &str,
    pem: &str,
    public_key: [u8; 32],
    data_dir: &Path,
    config_file: Option<PathBuf>,
    before: i64,
    out: &Path,
) -> Result<Archived, String> {
    let published = store
        .chains()
        .await
        .map_err(|e| e.to_string())?
        .into_iter()
        .find(|c| c.chain == chain)
        .ok_or_else(|| {
            format!("the database has no audit chain {chain:?} (this data directory's)")
        })?;
    if trent_audit::signing::parse_public_key_pem(&published.public_key_pem) != Some(public_key) {
        return Err(format!(
            "the audit chain {chain:?} in the database is signed with another key than {}'s",
            data_dir.display()
        ));
    }
    let previous = store
        .anchors()
        .await
        .map_err(|e| e.to_string())?
        .into_iter()
        .find(|a| a.chain == chain);
    let mut done = Archived::default();
    // An interrupted run: its anchor is in, some of its rows are not gone.
    if let Some(a) = &previous {
        let n = store
            .delete_through(chain, a.seq, DELETE_BATCH)
            .await
            .map_err(|e| e.to_string())?;
        done.entries += usize::try_from(n).unwrap_or(usize::MAX);
    }
    let lines = store.chain_lines(chain).await.map_err(|e| e.to_string())?;
    let anchors: Vec<Anchor> = previous.iter().cloned().collect();
    let report = trent_audit::verify_anchored(&lines, &anchors, |_| Some(public_key));
    if !report.ok() {
        let problems: Vec<String> = report.problems.iter().map(ToString::to_string).collect();
        return Err(format!(
            "the audit chain {chain:?} does not verify; nothing is archived:\n{}",
            problems.join("\n")
        ));
    }
    // The entries to archive: those before `before`, in order, never the last one.
    let mut taken = Vec::new();
    for l in lines.iter().take(lines.len().saturating_sub(1)) {
        let parsed = trent_audit::parse_line(&l.line);
        let Some(body) = parsed.body else { break };
        match entry_time(&body) {
            Some(t) if t < before => taken.push((l, body, parsed.stored_hash)),
            _ => break,
        }
    }
    let Some((_, last, last_hash)) = taken.last() else {
        return Ok(done);
    };
    let seq = last.seq;
    let hash = last_hash
        .map(hex::encode)
        .ok_or_else(|| format!("entry seq {seq} of chain {chain} has no hash"))?;
    let mut digest_seq = previous.as_ref().map_or(0, |a| a.digest_seq);
    let mut digest_signature = previous.as_ref().and_then(|a| a.digest_signature.clone());
    for (_, body, _) in &taken {
        if let Some(d) = &body.digest {
            digest_seq = body.seq;
            digest_signature = Some(d.signature.clone());
        }
    }

    let signer = signer(data_dir, config_file, public_key).await?;

    // The archive, as a data directory's trail: one segment, the key, the old anchor.
    check_new_dir(out)?;
    let out_audit = out.join(AUDIT_DIR);
    create_private_dir(&out_audit)?;
    crate::write_new_private(&out.join(PUBLIC_KEY_FILE), pem.as_bytes())?;
    if let Some(previous) = &previous {
        write_anchor(&out_audit, previous).map_err(|e| e.to_string())?;
    }
    let first = taken.first().map_or(1, |(_, b, _)| b.seq);
    let mut text = String::new();
    for (l, _, _) in &taken {
        text.push_str(&l.line);
        text.push('\n');
    }
    let segment = out_audit.join(format!("{}-{first:020}.log", trent_audit::sanitize(chain)));
    crate::write_new_private(&segment, text.as_bytes())?;
    sync_dir(&out_audit)?;

    let mut anchor = Anchor {
        chain: chain.to_owned(),
        seq,
        hash,
        digest_seq,
        digest_signature,
        public_key_fingerprint: String::new(),
        anchor_time: trent_audit::event_time(now_millis()),
        signature: String::new(),
    };
    anchor.sign(&signer);
    store.put_anchor(&anchor).await.map_err(|e| e.to_string())?;
    let n = store
        .delete_through(chain, seq, DELETE_BATCH)
        .await
        .map_err(|e| e.to_string())?;
    done.entries += usize::try_from(n).unwrap_or(usize::MAX);
    done.segments += 1;
    done.anchors.push(anchor);
    Ok(done)
}

/// The time of an entry: its record's event time, or its digest's.
fn entry_time(body: &trent_audit::EntryBody) -> Option<i64> {
    match &body.digest {
        Some(d) => trent_audit::parse_event_time(&d.digest_time),
        None => body
            .record
            .as_ref()
            .and_then(|r| r.get("eventTime"))
            .and_then(|t| t.as_str())
            .and_then(trent_audit::parse_event_time),
    }
}

struct Segment {
    path: PathBuf,
    name: String,
    chain: String,
    last_seq: u64,
    /// Unix seconds of its last entry.
    last_time: Option<i64>,
    entries: usize,
}

/// The segments the lines were read from (`read_dir_lines` reads them in order, each
/// whole), oldest first.
fn segments_of(dir: &Path, lines: &[StoredLine]) -> Vec<Segment> {
    let mut out: Vec<Segment> = Vec::new();
    for l in lines {
        let body = trent_audit::parse_line(&l.line).body;
        let same = out.last().is_some_and(|s| s.name == l.location.source);
        if !same {
            out.push(Segment {
                path: dir.join(&l.location.source),
                name: l.location.source.clone(),
                chain: body.as_ref().map(|b| b.chain.clone()).unwrap_or_default(),
                last_seq: 0,
                last_time: None,
                entries: 0,
            });
        }
        let (Some(s), Some(body)) = (out.last_mut(), body) else {
            continue;
        };
        s.entries += 1;
        s.last_seq = s.last_seq.max(body.seq);
        if let Some(t) = entry_time(&body) {
            s.last_time = Some(s.last_time.map_or(t, |l| l.max(t)));
        }
    }
    out
}

/// Deletes a segment: its file as written, its compressed file, its index (whichever
/// are there).
fn remove_segment(path: &Path) -> Result<(), String> {
    let mut index = path.as_os_str().to_owned();
    index.push(".idx");
    for file in [
        path.to_owned(),
        trent_audit::compressed_path(path),
        PathBuf::from(index),
    ] {
        match std::fs::remove_file(&file) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(format!("cannot delete {}: {e}", file.display())),
        }
    }
    Ok(())
}

fn create_private_dir(dir: &Path) -> Result<(), String> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder
        .create(dir)
        .map_err(|e| format!("cannot create {}: {e}", dir.display()))
}

fn copy_durably(from: &Path, to: &Path) -> Result<(), String> {
    let bytes = std::fs::read(from).map_err(|e| format!("cannot read {}: {e}", from.display()))?;
    crate::write_new_private(to, &bytes)
}

fn sync_dir(dir: &Path) -> Result<(), String> {
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| format!("cannot sync {}: {e}", dir.display()))
}

fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}
