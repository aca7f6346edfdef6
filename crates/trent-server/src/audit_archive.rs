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
use trent_audit::verify::Entry;
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

    // The trail is read once, as it is verified: of its lines only what the checks need
    // (see `trent_audit::Verifier`) and what archiving needs of each segment is kept.
    let Scan {
        mut segments,
        report,
    } = scan(&audit, &anchors, public_key)?;
    // An interrupted run: its anchor is written, some segments it covers are not gone.
    // They are not verified (the anchor vouches for them).
    let mut done = Archived::default();
    let (stale, kept): (Vec<Segment>, Vec<Segment>) =
        segments.into_iter().partition(|s| s.stale(&anchors));
    segments = kept;
    for segment in &stale {
        remove_segment(&segment.path)?;
        done.segments += 1;
    }

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
        // The new anchor: the last entry archived, and the last digest at or before it
        // (the first digest of the highest sequence number, as the segments were read).
        let last = segments.last().ok_or("no segment")?;
        let mut digest_seq = previous.map_or(0, |a| a.digest_seq);
        let mut digest_signature = previous.and_then(|a| a.digest_signature.clone());
        for s in segments {
            if let Some((seq, signature)) = &s.digest {
                if *seq > digest_seq {
                    digest_seq = *seq;
                    digest_signature = Some(signature.clone());
                }
            }
        }
        // The trail verified: each entry of the chain is there once, in sequence order,
        // so its entry `last.last_seq` is in the last segment if anywhere.
        let hash = last.last_hash.map(hex::encode);
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

    // What is left proves itself continuous from the new anchors (read as it is verified).
    let report =
        trent_audit::verify_dir(&audit, |_| Some(public_key)).map_err(|e| e.to_string())?;
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

/// What archiving needs of a segment, from its lines.
struct Segment {
    path: PathBuf,
    name: String,
    /// The chain of its first line ("" if that line is unreadable).
    chain: String,
    /// The highest sequence number in it.
    last_seq: u64,
    /// The stored hash of its last line of `chain` with sequence number `last_seq`.
    last_hash: Option<[u8; 32]>,
    /// Unix seconds of its last entry.
    last_time: Option<i64>,
    /// The readable entries in it.
    entries: usize,
    /// Its digest of `chain` with the highest sequence number (the first of them):
    /// sequence number and signature.
    digest: Option<(u64, String)>,
}

impl Segment {
    fn new(dir: &Path, name: &str, chain: String) -> Segment {
        Segment {
            path: dir.join(name),
            name: name.to_owned(),
            chain,
            last_seq: 0,
            last_hash: None,
            last_time: None,
            entries: 0,
            digest: None,
        }
    }

    /// Takes the next line of the segment.
    fn add(&mut self, parsed: &trent_audit::ParsedLine) {
        let Some(body) = &parsed.body else { return };
        self.entries += 1;
        if body.seq > self.last_seq {
            self.last_seq = body.seq;
            self.last_hash = None;
        }
        if body.chain == self.chain {
            if body.seq == self.last_seq {
                self.last_hash = parsed.stored_hash;
            }
            if let Some(d) = &body.digest {
                if self.digest.as_ref().is_none_or(|(seq, _)| body.seq > *seq) {
                    self.digest = Some((body.seq, d.signature.clone()));
                }
            }
        }
        if let Some(t) = entry_time(body) {
            self.last_time = Some(self.last_time.map_or(t, |l| l.max(t)));
        }
    }

    /// Whether an anchor (of an earlier run, interrupted) covers the segment whole.
    fn stale(&self, anchors: &[Anchor]) -> bool {
        anchors
            .iter()
            .any(|a| a.chain == self.chain && self.last_seq <= a.seq)
    }
}

/// What one reading of the trail tells: its segments, oldest first, and the verification
/// of every one that no anchor covers.
struct Scan {
    segments: Vec<Segment>,
    report: trent_audit::Report,
}

/// Reads the segments of `dir` once, in order, each line as it comes (never the whole
/// trail in memory): each segment summed up, and every line verified but those of the
/// segments an anchor covers whole (left by an interrupted run: removed, not verified).
/// A segment's lines are held back (as verification keeps them, not as text) only for as
/// long as an anchor may still cover it.
fn scan(dir: &Path, anchors: &[Anchor], public_key: [u8; 32]) -> Result<Scan, String> {
    let mut verifier = trent_audit::Verifier::new();
    let mut segments: Vec<Segment> = Vec::new();
    // The entries of the current segment not yet handed to the verifier.
    let mut held: Vec<Entry> = Vec::new();
    let mut holding = false;
    let lines = trent_audit::dir_lines(dir).map_err(|e| e.to_string())?;
    for line in lines {
        let StoredLine { location, line } = line.map_err(|e| e.to_string())?;
        let parsed = trent_audit::parse_line(&line);
        drop(line);
        if segments.last().is_none_or(|s| s.name != location.source) {
            if let Some(s) = segments.last() {
                // The end of a segment: it is stale, or its lines are verified.
                if !s.stale(anchors) {
                    held.drain(..).for_each(|e| verifier.push_entry(e));
                }
                held.clear();
            }
            let chain = parsed
                .body
                .as_ref()
                .map(|b| b.chain.clone())
                .unwrap_or_default();
            segments.push(Segment::new(dir, &location.source, chain));
            holding = true;
        }
        let Some(segment) = segments.last_mut() else {
            continue;
        };
        segment.add(&parsed);
        let entry = Entry::new(location, parsed);
        if holding && segment.stale(anchors) {
            held.push(entry);
        } else {
            // No anchor can cover this segment any more (its last sequence number only
            // grows): what it held, and the rest of it, go to the verifier as they come.
            holding = false;
            held.drain(..).for_each(|e| verifier.push_entry(e));
            verifier.push_entry(entry);
        }
    }
    if !segments.last().is_some_and(|s| s.stale(anchors)) {
        held.drain(..).for_each(|e| verifier.push_entry(e));
    }
    Ok(Scan {
        segments,
        report: verifier.finish(anchors, |_| Some(public_key)),
    })
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Segments of chain `n` holding seq 1..=5, 6..=10 and 11..=15 (events, each linked to
    /// the one before), written plainly; their lines.
    fn trail(dir: &Path) -> Vec<StoredLine> {
        let mut prev = [0u8; 32];
        for first in [1u64, 6, 11] {
            let mut text = String::new();
            for seq in first..first + 5 {
                let body = format!(
                    "{{\"v\":1,\"chain\":\"n\",\"seq\":{seq},\"prev\":\"{}\",\"kind\":\"event\",\"record\":{{\"eventTime\":\"2025-01-01T00:00:{seq:02}Z\"}}}}",
                    hex::encode(prev)
                );
                prev = trent_audit::sha256(body.as_bytes());
                text.push_str(&format!("{} {body}\n", hex::encode(prev)));
            }
            std::fs::write(dir.join(format!("n-{first:020}.log")), text).unwrap();
        }
        trent_audit::read_dir_lines(dir).unwrap()
    }

    fn anchor_at(lines: &[StoredLine], seq: u64, signer: &trent_audit::Signer) -> Anchor {
        let hash = lines
            .iter()
            .map(|l| trent_audit::parse_line(&l.line))
            .find(|p| p.body.as_ref().is_some_and(|b| b.seq == seq))
            .and_then(|p| p.stored_hash)
            .unwrap();
        let mut anchor = Anchor {
            chain: "n".into(),
            seq,
            hash: hex::encode(hash),
            digest_seq: 0,
            digest_signature: None,
            public_key_fingerprint: String::new(),
            anchor_time: "2025-01-02T00:00:00Z".into(),
            signature: String::new(),
        };
        anchor.sign(signer);
        anchor
    }

    #[test]
    fn one_reading_sums_up_the_segments_and_verifies_those_no_anchor_covers() {
        let dir = tempfile::tempdir().unwrap();
        let lines = trail(dir.path());
        let (signer, _) = trent_audit::Signer::generate().unwrap();
        let key = signer.public_key();
        // What verification of the lines read whole, but those of `skipped`, reports.
        let whole = |anchors: &[Anchor], skipped: &[&str]| {
            let kept = lines
                .iter()
                .filter(|l| !skipped.contains(&l.location.source.as_str()));
            format!(
                "{:?}",
                trent_audit::verify_anchored(kept, anchors, |_| Some(key))
            )
        };

        // No anchor: every line verified; each segment summed up.
        let scan_ = scan(dir.path(), &[], key).unwrap();
        assert_eq!(format!("{:?}", scan_.report), whole(&[], &[]));
        assert!(scan_.report.ok(), "{:?}", scan_.report.problems);
        let sums: Vec<(String, u64, usize, Option<i64>)> = scan_
            .segments
            .iter()
            .map(|s| (s.name.clone(), s.last_seq, s.entries, s.last_time))
            .collect();
        let t = |s: i64| Some(1_735_689_600 + s);
        assert_eq!(
            sums,
            [
                ("n-00000000000000000001.log".to_owned(), 5, 5, t(5)),
                ("n-00000000000000000006.log".to_owned(), 10, 5, t(10)),
                ("n-00000000000000000011.log".to_owned(), 15, 5, t(15)),
            ]
        );
        assert!(scan_.segments.iter().all(|s| s.chain == "n"));
        let hash_of = |seq: u64| {
            lines
                .iter()
                .map(|l| trent_audit::parse_line(&l.line))
                .find(|p| p.body.as_ref().is_some_and(|b| b.seq == seq))
                .and_then(|p| p.stored_hash)
        };
        assert_eq!(scan_.segments[1].last_hash, hash_of(10));

        // An anchor at the end of the first segment: it is left out (stale), the rest
        // verifies from the anchor.
        let at5 = [anchor_at(&lines, 5, &signer)];
        let scan_ = scan(dir.path(), &at5, key).unwrap();
        assert_eq!(
            format!("{:?}", scan_.report),
            whole(&at5, &["n-00000000000000000001.log"])
        );
        assert!(scan_.report.ok(), "{:?}", scan_.report.problems);
        assert!(scan_.segments[0].stale(&at5));
        assert!(!scan_.segments[1].stale(&at5));

        // An anchor inside the second segment: the first is stale; the second, held back
        // while the anchor might cover it, is verified whole (its first entries, which
        // the anchor says were archived, are reported).
        let at7 = [anchor_at(&lines, 7, &signer)];
        let scan_ = scan(dir.path(), &at7, key).unwrap();
        let report = whole(&at7, &["n-00000000000000000001.log"]);
        assert_eq!(format!("{:?}", scan_.report), report);
        assert!(report.contains("Inserted { seq: 6"), "{report}");
        assert!(report.contains("Inserted { seq: 7"), "{report}");

        // An anchor past the trail: every segment is stale.
        let at15 = [anchor_at(&lines, 15, &signer)];
        let scan_ = scan(dir.path(), &at15, key).unwrap();
        assert!(scan_.segments.iter().all(|s| s.stale(&at15)));
        assert_eq!(
            format!("{:?}", scan_.report),
            whole(
                &at15,
                &[
                    "n-00000000000000000001.log",
                    "n-00000000000000000006.log",
                    "n-00000000000000000011.log"
                ]
            )
        );
    }
}
