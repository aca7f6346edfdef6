//! Where the chain is kept: a small trait (append a batch durably; find a chain's end;
//! read everything back in order) and its file implementation. The database backend
//! ([`crate::PgAuditStore`]: one chain per node, keyed by the chain id every entry
//! carries) implements the same trait; the chain logic, the writer and verification do
//! not change.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use parking_lot::Mutex;

use crate::chain::{decode_hash, parse_line, SealedEntry};
use crate::AuditError;

/// Where an entry was read from, for reports: a segment file and the byte offset of the
/// line, or a database row (`offset` then `None`: the source names the row's key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub source: String,
    pub offset: Option<u64>,
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.offset {
            Some(offset) => write!(f, "{} at offset {offset}", self.source),
            None => f.write_str(&self.source),
        }
    }
}

/// Where an event sits in the order `LookupEvents` reads the trail, newest first: its
/// event time (Unix seconds), then its chain, then its sequence number. Several nodes'
/// chains interleave by time; within one second, by chain and sequence.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EventKey {
    pub time: i64,
    pub chain: String,
    pub seq: u64,
}

/// A stored line, as read back (without its newline).
#[derive(Debug, Clone)]
pub struct StoredLine {
    pub location: Location,
    pub line: String,
}

/// The end of a chain, to continue it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tail {
    pub seq: u64,
    pub hash: [u8; 32],
}

#[async_trait]
pub trait AuditStore: Send + Sync + 'static {
    /// Appends `entries` (consecutive, of one chain) and returns only once they are
    /// durable. On error nothing of the batch may count as written: the caller answers
    /// every waiter with an error and retries the same sequence numbers later.
    async fn append(&self, entries: Vec<SealedEntry>) -> Result<(), AuditError>;
    /// The last entry of `chain`, if any.
    async fn tail(&self, chain: &str) -> Result<Option<Tail>, AuditError>;
    /// Every stored line, in storage order.
    async fn read_all(&self) -> Result<Vec<StoredLine>, AuditError>;

    /// The last digest entry of `chain`, if any.
    async fn last_digest(&self, chain: &str) -> Result<Option<StoredLine>, AuditError> {
        let lines = self.read_all().await?;
        Ok(lines.into_iter().rev().find(|l| {
            parse_line(&l.line)
                .body
                .is_some_and(|b| b.chain == chain && b.digest.is_some())
        }))
    }

    /// Events whose key is at or before `from` (every one if `None`) and whose time is
    /// within `start..=end` (Unix seconds, inclusive, each bound optional), newest first.
    /// At least `limit` of them when that many exist; a store may return more (this
    /// default, which reads everything once, returns all).
    async fn events_newest_first(
        &self,
        from: Option<&EventKey>,
        start: Option<i64>,
        end: Option<i64>,
        limit: usize,
    ) -> Result<Vec<(EventKey, crate::Record)>, AuditError> {
        let _ = limit;
        let lines = self.read_all().await?;
        let mut out: Vec<(EventKey, crate::Record)> = crate::records_with_chain(&lines)
            .into_iter()
            .filter_map(|(chain, seq, record)| {
                let time = crate::parse_event_time(&record.event_time)?;
                let key = EventKey { time, chain, seq };
                let wanted = from.is_none_or(|f| key <= *f)
                    && start.is_none_or(|s| time >= s)
                    && end.is_none_or(|e| time <= e);
                wanted.then_some((key, record))
            })
            .collect();
        out.sort_by(|a, b| b.0.cmp(&a.0));
        Ok(out)
    }
}

/// Segment files `audit/CHAIN-SEQ.log` (SEQ: the first sequence number, 20 digits, so
/// that names sort in chain order). One chain per directory owner (one node).
pub struct FileStore {
    dir: PathBuf,
    max_segment_bytes: u64,
    inner: Arc<Mutex<FileInner>>,
}

struct FileInner {
    current: Option<(PathBuf, File, u64)>,
    /// Set when a failed append could not be rolled back: nothing more may be appended.
    poisoned: bool,
}

impl std::fmt::Debug for FileStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileStore").field("dir", &self.dir).finish()
    }
}

impl FileStore {
    /// Opens (creating) the directory. A torn last line (a write the process died in the
    /// middle of, never acknowledged since its fsync had not returned) is cut off.
    pub fn open(dir: &Path, max_segment_bytes: u64) -> Result<FileStore, AuditError> {
        create_dir(dir)?;
        let store = FileStore {
            dir: dir.to_owned(),
            max_segment_bytes: max_segment_bytes.max(4096),
            inner: Arc::new(Mutex::new(FileInner {
                current: None,
                poisoned: false,
            })),
        };
        if let Some(last) = segments(dir)?.pop() {
            let mut file = OpenOptions::new().read(true).append(true).open(&last)?;
            let len = file.metadata()?.len();
            let complete = complete_length(&mut file, len)?;
            if complete < len {
                tracing::warn!(
                    file = %last.display(),
                    bytes = len - complete,
                    "cutting off an incomplete audit entry left by a crash (it was never acknowledged)"
                );
                file.set_len(complete)?;
                file.sync_all()?;
            }
            store.inner.lock().current = Some((last, file, complete));
        }
        Ok(store)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn append_blocking(&self, entries: &[SealedEntry]) -> Result<(), AuditError> {
        let Some(first) = entries.first() else {
            return Ok(());
        };
        let mut inner = self.inner.lock();
        if inner.poisoned {
            return Err(AuditError::Poisoned);
        }
        let rotate = match &inner.current {
            None => true,
            Some((_, _, len)) => *len >= self.max_segment_bytes,
        };
        if rotate {
            let path = self
                .dir
                .join(format!("{}-{:020}.log", sanitize(&first.chain), first.seq));
            let file = OpenOptions::new()
                .read(true)
                .append(true)
                .create(true)
                .open(&path)?;
            let len = file.metadata()?.len();
            sync_dir(&self.dir)?;
            inner.current = Some((path, file, len));
        }
        let mut buf = Vec::with_capacity(entries.iter().map(|e| e.line.len() + 1).sum());
        for e in entries {
            buf.extend_from_slice(e.line.as_bytes());
            buf.push(b'\n');
        }
        let Some((_, file, len)) = inner.current.as_mut() else {
            return Err(AuditError::Poisoned);
        };
        let before = *len;
        let written = file.write_all(&buf).and_then(|()| file.sync_data());
        match written {
            Ok(()) => {
                *len = before + buf.len() as u64;
                Ok(())
            }
            Err(e) => {
                // Take back whatever reached the file, so that the retried sequence
                // numbers are not duplicated; if even that fails, stop appending.
                if file
                    .set_len(before)
                    .and_then(|()| file.sync_data())
                    .is_err()
                {
                    inner.poisoned = true;
                }
                Err(AuditError::from(e))
            }
        }
    }
}

#[async_trait]
impl AuditStore for FileStore {
    async fn append(&self, entries: Vec<SealedEntry>) -> Result<(), AuditError> {
        let this = FileStore {
            dir: self.dir.clone(),
            max_segment_bytes: self.max_segment_bytes,
            inner: self.inner.clone(),
        };
        tokio::task::spawn_blocking(move || this.append_blocking(&entries))
            .await
            .map_err(|_| AuditError::Poisoned)?
    }

    async fn tail(&self, chain: &str) -> Result<Option<Tail>, AuditError> {
        let dir = self.dir.clone();
        let chain = chain.to_owned();
        tokio::task::spawn_blocking(move || {
            for path in segments(&dir)?.into_iter().rev() {
                let mut last = None;
                for line in BufReader::new(File::open(&path)?).lines() {
                    let line = line?;
                    let parsed = parse_line(&line);
                    if let Some(body) = parsed.body.filter(|b| b.chain == chain) {
                        last = Some(Tail {
                            seq: body.seq,
                            hash: parsed.stored_hash.unwrap_or(parsed.computed_hash),
                        });
                    }
                }
                if last.is_some() {
                    return Ok(last);
                }
            }
            Ok(None)
        })
        .await
        .map_err(|_| AuditError::Poisoned)?
    }

    async fn read_all(&self) -> Result<Vec<StoredLine>, AuditError> {
        let dir = self.dir.clone();
        tokio::task::spawn_blocking(move || read_dir_lines(&dir))
            .await
            .map_err(|_| AuditError::Poisoned)?
    }
}

/// Every line of every segment of `dir`, in order, with file and offset.
pub fn read_dir_lines(dir: &Path) -> Result<Vec<StoredLine>, AuditError> {
    let mut out = Vec::new();
    for path in segments(dir)? {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mut text = Vec::new();
        File::open(&path)?.read_to_end(&mut text)?;
        let mut offset = 0usize;
        for raw in text.split_inclusive(|b| *b == b'\n') {
            let line = raw.strip_suffix(b"\n").unwrap_or(raw);
            out.push(StoredLine {
                location: Location {
                    source: name.clone(),
                    offset: Some(offset as u64),
                },
                line: String::from_utf8_lossy(line).into_owned(),
            });
            offset += raw.len();
        }
    }
    Ok(out)
}

fn segments(dir: &Path) -> Result<Vec<PathBuf>, AuditError> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "log"))
        .collect();
    out.sort();
    Ok(out)
}

/// The length of the file up to its last newline.
fn complete_length(file: &mut File, len: u64) -> Result<u64, AuditError> {
    let mut pos = len;
    let mut buf = [0u8; 4096];
    while pos > 0 {
        let n = buf.len().min(usize::try_from(pos).unwrap_or(buf.len()));
        pos -= n as u64;
        file.seek(SeekFrom::Start(pos))?;
        file.read_exact(&mut buf[..n])?;
        if let Some(i) = buf[..n].iter().rposition(|b| *b == b'\n') {
            return Ok(pos + i as u64 + 1);
        }
    }
    Ok(0)
}

fn sanitize(chain: &str) -> String {
    chain
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn create_dir(dir: &Path) -> Result<(), AuditError> {
    if !dir.exists() {
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder.create(dir)?;
    }
    Ok(())
}

fn sync_dir(dir: &Path) -> Result<(), AuditError> {
    #[cfg(unix)]
    File::open(dir)?.sync_all()?;
    Ok(())
}

/// The tail of a chain as found in already-read lines (for stores that read everything).
pub fn tail_of(lines: &[StoredLine], chain: &str) -> Option<Tail> {
    lines.iter().rev().find_map(|l| {
        let (hash, _) = l.line.split_once(' ')?;
        let p = parse_line(&l.line);
        let body = p.body?;
        (body.chain == chain).then_some(Tail {
            seq: body.seq,
            hash: decode_hash(hash)?,
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain::{event_body, seal, GENESIS};

    #[tokio::test]
    async fn appends_rotate_and_read_back_in_order_and_torn_tails_are_cut() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileStore::open(dir.path(), 4096).unwrap();
        let mut prev = GENESIS;
        for seq in 1..=100u64 {
            let e = seal("n1", seq, event_body("n1", seq, &prev, "{\"x\":1}"));
            prev = e.hash;
            store.append(vec![e]).await.unwrap();
        }
        let lines = store.read_all().await.unwrap();
        assert_eq!(lines.len(), 100);
        assert!(segments(dir.path()).unwrap().len() > 1);
        assert_eq!(
            store.tail("n1").await.unwrap(),
            Some(Tail {
                seq: 100,
                hash: prev
            })
        );
        assert_eq!(tail_of(&lines, "n1").unwrap().seq, 100);
        drop(store);

        // A crash in the middle of a write leaves a partial line: cut on open.
        let last = segments(dir.path()).unwrap().pop().unwrap();
        let before = std::fs::metadata(&last).unwrap().len();
        OpenOptions::new()
            .append(true)
            .open(&last)
            .unwrap()
            .write_all(b"0123 {\"v\":1,\"ch")
            .unwrap();
        let store = FileStore::open(dir.path(), 4096).unwrap();
        assert_eq!(std::fs::metadata(&last).unwrap().len(), before);
        assert_eq!(store.tail("n1").await.unwrap().unwrap().seq, 100);
    }
}
