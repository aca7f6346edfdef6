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

    /// The anchor of `chain` (where archiving left its beginning), if it was archived.
    async fn anchor(&self, chain: &str) -> Result<Option<crate::Anchor>, AuditError> {
        let _ = chain;
        Ok(None)
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

    /// As [`AuditStore::events_newest_first`] with `query`'s time range, of the events
    /// that may match its attribute: a store with an index on the attributes returns only
    /// those that match it; the default returns every event (the caller checks each event
    /// against the query either way).
    async fn events_matching(
        &self,
        from: Option<&EventKey>,
        query: &crate::lookup::Query,
        limit: usize,
    ) -> Result<Vec<(EventKey, crate::Record)>, AuditError> {
        self.events_newest_first(from, query.start, query.end, limit)
            .await
    }
}

/// Segment files `audit/CHAIN-SEQ.log` (SEQ: the first sequence number, 20 digits, so
/// that names sort in chain order). One chain per directory owner (one node).
pub struct FileStore {
    dir: PathBuf,
    max_segment_bytes: u64,
    inner: Arc<Mutex<FileInner>>,
    /// The queue of this store's appender thread, which writes and syncs each batch (one
    /// thread kept for it: a blocking-pool task per batch cost a hand-off and its
    /// bookkeeping each time). `None` in the thread's own handle; the thread ends when
    /// the store is dropped.
    appender: Option<std::sync::mpsc::Sender<AppendJob>>,
    /// The compressor thread's queue of closed segments.
    compressor: Option<std::sync::mpsc::Sender<PathBuf>>,
}

/// A batch for the appender thread, and where its outcome goes.
type AppendJob = (
    Vec<SealedEntry>,
    tokio::sync::oneshot::Sender<Result<(), AuditError>>,
);

struct FileInner {
    current: Option<(PathBuf, File, u64)>,
    /// Set when a failed append could not be rolled back: nothing more may be appended.
    poisoned: bool,
    /// The time index of the segments, for `LookupEvents` (see [`Block`]).
    blocks: Vec<Block>,
}

/// About this many bytes of a segment form one [`Block`] of the time index.
const BLOCK_BYTES: u64 = 256 * 1024;

/// A run of whole lines of one segment and the span of its events' times: the index
/// `LookupEvents` reads the newest events through without reading every segment. Kept
/// in memory, built at start from the segments and extended by every append: one entry
/// per [`BLOCK_BYTES`] of trail (about 48 bytes per 256 KiB).
#[derive(Debug, Clone)]
struct Block {
    segment: Arc<PathBuf>,
    offset: u64,
    len: u64,
    /// `i64::MAX` and `i64::MIN` while the block holds no event (only digests).
    min_time: i64,
    max_time: i64,
}

impl Block {
    fn new(segment: Arc<PathBuf>, offset: u64) -> Block {
        Block {
            segment,
            offset,
            len: 0,
            min_time: i64::MAX,
            max_time: i64::MIN,
        }
    }

    fn add(&mut self, bytes: u64, time: Option<i64>) {
        self.len += bytes;
        if let Some(t) = time {
            self.min_time = self.min_time.min(t);
            self.max_time = self.max_time.max(t);
        }
    }
}

/// Extends the last block of `blocks` with a line at `offset` of `segment`, or starts a
/// new block when the last one is of another segment, not adjacent, or full.
fn index_line(
    blocks: &mut Vec<Block>,
    segment: &Arc<PathBuf>,
    offset: u64,
    bytes: u64,
    time: Option<i64>,
) {
    let extend = blocks.last().is_some_and(|b| {
        Arc::ptr_eq(&b.segment, segment) && b.offset + b.len == offset && b.len < BLOCK_BYTES
    });
    if !extend {
        blocks.push(Block::new(segment.clone(), offset));
    }
    if let Some(b) = blocks.last_mut() {
        b.add(bytes, time);
    }
}

/// The time of the event on `line` (`None` for a digest or an unreadable line).
fn line_time(line: &str) -> Option<i64> {
    let record = parse_line(line).body?.record()?;
    crate::parse_event_time(&record.event_time)
}

/// The index of the segments of `dir` (built once, at open). A closed segment never
/// changes: its part of the index is kept beside it (`<segment>.idx`, written when the
/// segment is closed) and read back instead of parsing every line of the segment again,
/// so that opening a trail of many gigabytes reads only its open segment. A missing or
/// inconsistent `.idx` file (it must cover the segment's bytes exactly) is rebuilt from
/// the segment. The index only speeds up `LookupEvents`; `trent audit verify` reads the
/// segments themselves.
fn build_index(dir: &Path) -> Result<Vec<Block>, AuditError> {
    let mut blocks = Vec::new();
    let all = segments(dir)?;
    let open = all.len().saturating_sub(1);
    for (i, path) in all.into_iter().enumerate() {
        let segment = Arc::new(path);
        if i < open {
            if let Some(saved) = read_segment_index(&segment) {
                blocks.extend(saved);
                continue;
            }
        }
        let start = blocks.len();
        let text = read_segment(segment.as_path())?;
        let mut offset = 0u64;
        for raw in text.split_inclusive(|b| *b == b'\n') {
            let line = raw.strip_suffix(b"\n").unwrap_or(raw);
            let time = std::str::from_utf8(line).ok().and_then(line_time);
            index_line(&mut blocks, &segment, offset, raw.len() as u64, time);
            offset += raw.len() as u64;
        }
        if i < open {
            write_segment_index(&segment, &blocks[start..]);
        }
    }
    Ok(blocks)
}

const INDEX_HEADER: &str = "trent-audit-index 1";

fn index_path(segment: &Path) -> PathBuf {
    let mut name = segment.as_os_str().to_owned();
    name.push(".idx");
    PathBuf::from(name)
}

/// Saves the index blocks of a closed segment beside it (best effort: without it the next
/// open reads the segment instead).
fn write_segment_index(segment: &Arc<PathBuf>, blocks: &[Block]) {
    let len: u64 = blocks.iter().map(|b| b.len).sum();
    let mut text = format!("{INDEX_HEADER} {len}\n");
    for b in blocks {
        text.push_str(&format!(
            "{} {} {} {}\n",
            b.offset, b.len, b.min_time, b.max_time
        ));
    }
    let path = index_path(segment);
    let tmp = path.with_extension("idx.tmp");
    let written = std::fs::write(&tmp, text).and_then(|()| std::fs::rename(&tmp, &path));
    if let Err(e) = written {
        tracing::warn!(file = %path.display(), error = %e, "cannot save an audit segment's index");
    }
}

/// The saved index of a closed segment, if it is there and covers the segment exactly.
fn read_segment_index(segment: &Arc<PathBuf>) -> Option<Vec<Block>> {
    let text = std::fs::read_to_string(index_path(segment)).ok()?;
    let segment_len = segment_len(segment.as_path())?;
    let mut lines = text.lines();
    let len: u64 = lines
        .next()?
        .strip_prefix(INDEX_HEADER)?
        .trim()
        .parse()
        .ok()?;
    if len != segment_len {
        return None;
    }
    let mut blocks = Vec::new();
    let mut next = 0u64;
    for line in lines {
        let mut fields = line.split(' ');
        let mut field = || fields.next()?.parse::<i64>().ok();
        let (offset, block_len, min_time, max_time) = (field()?, field()?, field()?, field()?);
        let (offset, block_len) = (u64::try_from(offset).ok()?, u64::try_from(block_len).ok()?);
        if offset != next || block_len == 0 {
            return None;
        }
        next = offset.checked_add(block_len)?;
        blocks.push(Block {
            segment: segment.clone(),
            offset,
            len: block_len,
            min_time,
            max_time,
        });
    }
    (next == segment_len).then_some(blocks)
}

/// The events of `block` in `from`, `start..=end` (see [`AuditStore::events_newest_first`]).
fn read_block(
    block: &Block,
    from: Option<&EventKey>,
    start: Option<i64>,
    end: Option<i64>,
) -> Result<Vec<(EventKey, crate::Record)>, AuditError> {
    let bytes = read_segment_range(block.segment.as_path(), block.offset, block.len)?;
    let mut out = Vec::new();
    for raw in bytes.split(|b| *b == b'\n') {
        let Ok(line) = std::str::from_utf8(raw) else {
            continue;
        };
        let Some(body) = parse_line(line).body else {
            continue;
        };
        let Some(record) = body.record() else {
            continue;
        };
        let Some(time) = crate::parse_event_time(&record.event_time) else {
            continue;
        };
        let key = EventKey {
            time,
            chain: body.chain,
            seq: body.seq,
        };
        let wanted = from.is_none_or(|f| key <= *f)
            && start.is_none_or(|s| time >= s)
            && end.is_none_or(|e| time <= e);
        if wanted {
            out.push((key, record));
        }
    }
    Ok(out)
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
        let mut store = FileStore {
            dir: dir.to_owned(),
            max_segment_bytes: max_segment_bytes.max(4096),
            inner: Arc::new(Mutex::new(FileInner {
                current: None,
                poisoned: false,
                blocks: Vec::new(),
            })),
            appender: None,
            compressor: None,
        };
        let compressor = start_compressor()?;
        let (tx, rx) = std::sync::mpsc::channel::<AppendJob>();
        let writer = FileStore {
            dir: store.dir.clone(),
            max_segment_bytes: store.max_segment_bytes,
            inner: store.inner.clone(),
            appender: None,
            compressor: Some(compressor.clone()),
        };
        std::thread::Builder::new()
            .name("trent-audit-append".into())
            .spawn(move || {
                while let Ok((entries, done)) = rx.recv() {
                    let _ = done.send(writer.append_blocking(&entries));
                }
            })?;
        store.appender = Some(tx);
        let mut all = segments(dir)?;
        let last = all.pop();
        // Closed segments not compressed yet (an older version wrote them, or the process
        // stopped first): compressed now, in the background.
        for closed in all {
            if closed.exists() {
                let _ = compressor.send(closed);
            }
        }
        store.compressor = Some(compressor);
        if let Some(last) = last.filter(|l| l.exists()) {
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
        store.inner.lock().blocks = build_index(dir)?;
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
            // The segment being closed never changes again: save its index.
            if let Some((closed, _, _)) = &inner.current {
                let blocks: Vec<Block> = inner
                    .blocks
                    .iter()
                    .filter(|b| *b.segment == *closed)
                    .cloned()
                    .collect();
                if let Some(first) = blocks.first() {
                    write_segment_index(&first.segment, &blocks);
                }
                if let Some(compressor) = &self.compressor {
                    let _ = compressor.send(closed.clone());
                }
            }
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
                let segment = inner
                    .blocks
                    .last()
                    .filter(|b| {
                        inner
                            .current
                            .as_ref()
                            .is_some_and(|(p, _, _)| *b.segment == *p)
                    })
                    .map(|b| b.segment.clone());
                let segment = match (segment, &inner.current) {
                    (Some(s), _) => s,
                    (None, Some((p, _, _))) => Arc::new(p.clone()),
                    (None, None) => return Ok(()),
                };
                let mut offset = before;
                for e in entries {
                    let bytes = e.line.len() as u64 + 1;
                    index_line(&mut inner.blocks, &segment, offset, bytes, e.event_time);
                    offset += bytes;
                }
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
        // An appender thread gone (it panicked) fails every later append: nothing is
        // acknowledged that was not written and synced.
        let (done, outcome) = tokio::sync::oneshot::channel();
        self.appender
            .as_ref()
            .ok_or(AuditError::Poisoned)?
            .send((entries, done))
            .map_err(|_| AuditError::Poisoned)?;
        outcome.await.map_err(|_| AuditError::Poisoned)?
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

    async fn last_digest(&self, chain: &str) -> Result<Option<StoredLine>, AuditError> {
        let (dir, chain) = (self.dir.clone(), chain.to_owned());
        tokio::task::spawn_blocking(move || last_digest_in(&dir, &chain))
            .await
            .map_err(|_| AuditError::Poisoned)?
    }

    async fn anchor(&self, chain: &str) -> Result<Option<crate::Anchor>, AuditError> {
        let chain = chain.to_owned();
        Ok(crate::anchor::read_anchors(&self.dir)?
            .into_iter()
            .find(|a| a.chain == chain))
    }

    /// Through the time index: only the blocks that may hold the newest wanted events
    /// are read, newest first, until `limit` events are certain (no block not yet read
    /// may hold a newer one).
    async fn events_newest_first(
        &self,
        from: Option<&EventKey>,
        start: Option<i64>,
        end: Option<i64>,
        limit: usize,
    ) -> Result<Vec<(EventKey, crate::Record)>, AuditError> {
        let mut candidates: Vec<Block> = self
            .inner
            .lock()
            .blocks
            .iter()
            .filter(|b| {
                b.min_time <= b.max_time
                    && start.is_none_or(|s| b.max_time >= s)
                    && end.is_none_or(|e| b.min_time <= e)
                    && from.is_none_or(|f| b.min_time <= f.time)
            })
            .cloned()
            .collect();
        candidates.sort_by_key(|b| std::cmp::Reverse(b.max_time));
        let from = from.cloned();
        tokio::task::spawn_blocking(move || {
            let mut found: Vec<(EventKey, crate::Record)> = Vec::new();
            for (i, block) in candidates.iter().enumerate() {
                found.extend(read_block(block, from.as_ref(), start, end)?);
                // What no later block can come before: times above the next block's
                // newest (blocks are read by their newest time, descending).
                let bound = candidates.get(i + 1).map(|b| b.max_time);
                let certain = found
                    .iter()
                    .filter(|(k, _)| bound.is_none_or(|t| k.time > t))
                    .count();
                if certain >= limit || bound.is_none() {
                    found.retain(|(k, _)| bound.is_none_or(|t| k.time > t));
                    break;
                }
            }
            found.sort_by(|a, b| b.0.cmp(&a.0));
            Ok(found)
        })
        .await
        .map_err(|_| AuditError::Poisoned)?
    }
}

/// Every line of every segment of `dir`, in order, with file and offset (all of it in
/// memory: [`dir_lines`] reads the same lines one at a time).
pub fn read_dir_lines(dir: &Path) -> Result<Vec<StoredLine>, AuditError> {
    dir_lines(dir)?.collect()
}

/// Every line of every segment of `dir`, in order, with file and offset, read as it is
/// needed: one segment open at a time, a compressed one decompressed as it is read, so
/// that a trail of any size is read in a few buffers' worth of memory. The segments are
/// those of `dir` when this is called.
pub fn dir_lines(dir: &Path) -> Result<DirLines, AuditError> {
    Ok(DirLines {
        segments: segments(dir)?.into_iter(),
        current: None,
    })
}

/// The lines of a directory's segments, in order (see [`dir_lines`]). After an error
/// (a segment that cannot be opened or read, or does not decompress) it ends: what
/// follows is not read.
pub struct DirLines {
    segments: std::vec::IntoIter<PathBuf>,
    current: Option<SegmentLines>,
}

impl std::fmt::Debug for DirLines {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DirLines")
            .field("segment", &self.current.as_ref().map(|c| &c.name))
            .finish_non_exhaustive()
    }
}

impl Iterator for DirLines {
    type Item = Result<StoredLine, AuditError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(current) = &mut self.current {
                match current.next_line() {
                    Ok(Some(line)) => return Some(Ok(line)),
                    Ok(None) => self.current = None,
                    Err(e) => {
                        self.current = None;
                        self.segments = Vec::new().into_iter();
                        return Some(Err(e));
                    }
                }
            }
            let path = self.segments.next()?;
            match SegmentLines::open(&path) {
                Ok(lines) => self.current = Some(lines),
                Err(e) => {
                    self.segments = Vec::new().into_iter();
                    return Some(Err(e));
                }
            }
        }
    }
}

/// How much of a segment is read at a time.
const READ_BUFFER_BYTES: usize = 1 << 16;

/// The lines of one segment as they are read: split at each newline (the last line also
/// without one), each with its segment's name and its byte offset.
struct SegmentLines {
    name: String,
    reader: Box<dyn BufRead + Send>,
    offset: u64,
    buf: Vec<u8>,
}

impl SegmentLines {
    /// The segment written as `path` (`<base>.log`), or its compressed file if it was
    /// compressed since.
    fn open(path: &Path) -> Result<SegmentLines, AuditError> {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let reader: Box<dyn BufRead + Send> = match File::open(path) {
            Ok(file) => Box::new(BufReader::with_capacity(READ_BUFFER_BYTES, file)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let file = File::open(compressed_path(path))?;
                let decoder = zstd::stream::read::Decoder::new(file)?;
                Box::new(BufReader::with_capacity(READ_BUFFER_BYTES, decoder))
            }
            Err(e) => return Err(e.into()),
        };
        Ok(SegmentLines {
            name,
            reader,
            offset: 0,
            buf: Vec::new(),
        })
    }

    fn next_line(&mut self) -> Result<Option<StoredLine>, AuditError> {
        self.buf.clear();
        let n = self.reader.read_until(b'\n', &mut self.buf)?;
        if n == 0 {
            return Ok(None);
        }
        let raw = self.buf.as_slice();
        let line = raw.strip_suffix(b"\n").unwrap_or(raw);
        let stored = StoredLine {
            location: Location {
                source: self.name.clone(),
                offset: Some(self.offset),
            },
            line: String::from_utf8_lossy(line).into_owned(),
        };
        self.offset += n as u64;
        Ok(Some(stored))
    }
}

/// The last digest of `chain` in the segments of `dir`, read newest segment first: a
/// digest is written every few thousand events or minutes, so this reads the last
/// segment or two instead of the whole trail.
fn last_digest_in(dir: &Path, chain: &str) -> Result<Option<StoredLine>, AuditError> {
    for path in segments(dir)?.into_iter().rev() {
        let mut lines = SegmentLines::open(&path)?;
        let mut found = None;
        while let Some(line) = lines.next_line()? {
            if parse_line(&line.line)
                .body
                .is_some_and(|b| b.chain == chain && b.digest.is_some())
            {
                found = Some(line);
            }
        }
        if found.is_some() {
            return Ok(found);
        }
    }
    Ok(None)
}

/// The segments of `dir`, in order, each by its name as written (`<base>.log`), whether
/// it is still that file or, closed and compressed, `<base>.log.zst`.
fn segments(dir: &Path) -> Result<Vec<PathBuf>, AuditError> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter_map(|p| {
            let name = p.file_name()?.to_str()?;
            if name.starts_with('.') {
                return None;
            }
            if name.ends_with(".log") {
                Some(p)
            } else {
                name.strip_suffix(COMPRESSED_SUFFIX)
                    .filter(|base| base.ends_with(".log"))
                    .map(|base| p.with_file_name(base))
            }
        })
        .collect();
    out.sort();
    out.dedup();
    Ok(out)
}

/// What a compressed segment's name adds to its name as written.
pub const COMPRESSED_SUFFIX: &str = ".zst";

/// The compressed file of the segment written as `segment`.
pub fn compressed_path(segment: &Path) -> PathBuf {
    let mut name = segment.as_os_str().to_owned();
    name.push(COMPRESSED_SUFFIX);
    PathBuf::from(name)
}

/// The bytes of the segment written as `segment` (`<base>.log`), decompressed if it was
/// compressed since.
pub fn read_segment(segment: &Path) -> Result<Vec<u8>, AuditError> {
    match std::fs::read(segment) {
        Ok(bytes) => Ok(bytes),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let compressed = std::fs::read(compressed_path(segment))?;
            zstd::stream::decode_all(compressed.as_slice()).map_err(AuditError::from)
        }
        Err(e) => Err(e.into()),
    }
}

/// The bytes of a compressed segment's file as they were written.
pub fn decompress_segment(compressed: &[u8]) -> Result<Vec<u8>, AuditError> {
    zstd::stream::decode_all(compressed).map_err(AuditError::from)
}

/// The length of the segment's bytes as written (decompressed).
fn segment_len(segment: &Path) -> Option<u64> {
    match std::fs::metadata(segment) {
        Ok(m) => Some(m.len()),
        Err(_) => {
            let mut head = [0u8; 18];
            let mut file = File::open(compressed_path(segment)).ok()?;
            let n = file.read(&mut head).ok()?;
            match zstd::zstd_safe::get_frame_content_size(&head[..n]) {
                Ok(Some(len)) => Some(len),
                _ => None,
            }
        }
    }
}

/// `len` bytes at `offset` of the segment's bytes as written.
fn read_segment_range(segment: &Path, offset: u64, len: u64) -> Result<Vec<u8>, AuditError> {
    let mut bytes = vec![0u8; usize::try_from(len).unwrap_or(0)];
    match File::open(segment) {
        Ok(mut file) => {
            file.seek(SeekFrom::Start(offset))?;
            file.read_exact(&mut bytes)?;
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let file = File::open(compressed_path(segment))?;
            let mut decoder = zstd::stream::read::Decoder::new(file)?;
            std::io::copy(&mut (&mut decoder).take(offset), &mut std::io::sink())?;
            decoder.read_exact(&mut bytes)?;
        }
        Err(e) => return Err(e.into()),
    }
    Ok(bytes)
}

/// zstd's level for closed segments: level 1 is both the fastest and, on this JSON,
/// the smallest (measured on a 24 MB trail: 1.87 MB at level 1, 2.15 MB at level 3, a
/// third of the CPU).
const COMPRESSION_LEVEL: i32 = 1;

/// Compresses the closed segment `segment` into `<segment>.zst` and removes the original,
/// only once the compressed file is durable and decompresses to the same bytes. Safe to
/// run again after an interruption (a leftover original is compressed again). Streams
/// through fixed buffers: a whole segment in memory (tens of MiB, zeroed by the kernel
/// page by page, twice) cost the server more than the compression itself.
pub fn compress_segment(segment: &Path) -> Result<(), AuditError> {
    let original = match File::open(segment) {
        Ok(f) => f,
        // Already compressed.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    let len = original.metadata()?.len();
    let dir = segment.parent().unwrap_or(Path::new("."));
    let target = compressed_path(segment);
    let partial = dir.join(format!(
        ".{}.partial",
        target
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("segment")
    ));
    {
        let mut options = OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let out = std::io::BufWriter::with_capacity(1 << 16, options.open(&partial)?);
        let mut encoder = zstd::stream::write::Encoder::new(out, COMPRESSION_LEVEL)?;
        encoder.include_contentsize(true)?;
        encoder.set_pledged_src_size(Some(len))?;
        std::io::copy(
            &mut BufReader::with_capacity(1 << 16, original),
            &mut encoder,
        )?;
        let out = encoder.finish()?;
        out.into_inner()
            .map_err(|e| AuditError::from(e.into_error()))?
            .sync_all()?;
    }
    if !same_bytes(segment, &partial)? {
        let _ = std::fs::remove_file(&partial);
        return Err(AuditError::Io(format!(
            "{}: its compression does not decompress to it; kept as it is",
            segment.display()
        )));
    }
    std::fs::rename(&partial, &target)?;
    sync_dir(dir)?;
    std::fs::remove_file(segment)?;
    sync_dir(dir)?;
    Ok(())
}

/// Whether the compressed file `compressed` decompresses to the bytes of `original`.
fn same_bytes(original: &Path, compressed: &Path) -> Result<bool, AuditError> {
    let mut a = BufReader::with_capacity(1 << 16, File::open(original)?);
    let mut b = zstd::stream::read::Decoder::new(File::open(compressed)?)?;
    let (mut x, mut y) = (vec![0u8; 1 << 16], vec![0u8; 1 << 16]);
    loop {
        let n = read_full(&mut a, &mut x)?;
        let m = read_full(&mut b, &mut y)?;
        if n != m || x[..n] != y[..m] {
            return Ok(false);
        }
        if n == 0 {
            return Ok(true);
        }
    }
}

/// Reads until `buf` is full or the input ends; how many bytes it read.
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> Result<usize, AuditError> {
    let mut filled = 0;
    while filled < buf.len() {
        match r.read(&mut buf[filled..])? {
            0 => break,
            n => filled += n,
        }
    }
    Ok(filled)
}

/// Compresses closed segments, one at a time, on a thread of its own (a 64 MiB segment
/// takes a fraction of a second: never on the appender's thread).
fn start_compressor() -> Result<std::sync::mpsc::Sender<PathBuf>, AuditError> {
    let (tx, rx) = std::sync::mpsc::channel::<PathBuf>();
    std::thread::Builder::new()
        .name("trent-audit-compress".into())
        .spawn(move || {
            while let Ok(segment) = rx.recv() {
                let started = std::time::Instant::now();
                match compress_segment(&segment) {
                    Ok(()) => {
                        metrics::histogram!("trent_audit_compression_duration_seconds")
                            .record(started.elapsed().as_secs_f64());
                    }
                    Err(e) => {
                        tracing::warn!(file = %segment.display(), error = %e, "cannot compress a closed audit segment; it stays as it is");
                    }
                }
            }
        })?;
    Ok(tx)
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

/// A chain id as it appears in the names of its files (`<this>-<seq>.log`,
/// `<this>.anchor.json`).
pub fn sanitize(chain: &str) -> String {
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

    #[tokio::test]
    async fn the_last_digest_is_found_from_the_newest_segment() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileStore::open(dir.path(), 4096).unwrap();
        // A digest now and then, over many segments.
        let mut prev = [GENESIS];
        for seq in 1..=120u64 {
            for (i, chain) in ["n1"].into_iter().enumerate() {
                let body = if seq % 25 == 0 {
                    let digest = crate::signing::Digest {
                        start_seq: seq - 24,
                        end_seq: seq - 1,
                        last_hash: hex::encode(prev[i]),
                        previous_digest_signature: None,
                        public_key_fingerprint: String::new(),
                        digest_time: String::new(),
                        signature: String::new(),
                    };
                    let json = serde_json::to_string(&digest).unwrap();
                    crate::chain::digest_body(chain, seq, &prev[i], &json)
                } else {
                    event_body(chain, seq, &prev[i], "{\"x\":1}")
                };
                let e = seal(chain, seq, body);
                prev[i] = e.hash;
                store.append(vec![e]).await.unwrap();
            }
        }
        assert!(segments(dir.path()).unwrap().len() > 4);
        let lines = store.read_all().await.unwrap();
        let by_full_scan = |chain: &str| {
            lines
                .iter()
                .rev()
                .find(|l| {
                    parse_line(&l.line)
                        .body
                        .is_some_and(|b| b.chain == chain && b.digest.is_some())
                })
                .map(|l| l.line.clone())
        };
        let found = store.last_digest("n1").await.unwrap().map(|l| l.line);
        assert_eq!(found, by_full_scan("n1"));
        let found = found.unwrap();
        assert!(found.contains("\"seq\":100,"), "{found}");
        // A chain with no digest (here: none at all) has none.
        assert_eq!(store.last_digest("n2").await.unwrap().map(|l| l.line), None);
    }

    #[tokio::test]
    async fn closed_segments_are_compressed_and_read_back_the_same() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileStore::open(dir.path(), 16 * 1024).unwrap();
        let mut prev = GENESIS;
        let mut appended = Vec::new();
        for seq in 1..=400u64 {
            let e = event_at("n1", seq, &prev, 1_700_000_000 + seq as i64 / 3);
            prev = e.hash;
            appended.push(e.line.clone());
            store.append(vec![e]).await.unwrap();
        }
        let all = segments(dir.path()).unwrap();
        assert!(all.len() > 3);
        let (closed, open) = all.split_at(all.len() - 1);
        // The compressor thread gets to every closed segment; the open one stays.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while closed.iter().any(|s| s.exists()) {
            assert!(std::time::Instant::now() < deadline, "not compressed");
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        for s in closed {
            assert!(compressed_path(s).is_file(), "{s:?}");
        }
        assert!(open[0].is_file() && !compressed_path(&open[0]).exists());
        let on_disk: u64 = closed
            .iter()
            .map(|s| std::fs::metadata(compressed_path(s)).unwrap().len())
            .sum();
        let written: u64 = closed.iter().map(|s| segment_len(s).unwrap()).sum();
        assert!(on_disk * 3 < written, "{on_disk} of {written} bytes");

        // Everything reads back as written, by the full scan and by the time index.
        let lines = store.read_all().await.unwrap();
        assert_eq!(lines.len(), 400);
        let read: Vec<&String> = lines.iter().map(|l| &l.line).collect();
        assert_eq!(read, appended.iter().collect::<Vec<_>>());
        let newest = store
            .events_newest_first(None, None, None, 400)
            .await
            .unwrap();
        assert_eq!(newest.len(), 400);
        assert_eq!(newest.last().unwrap().0.seq, 1);
        drop(store);
        // Reopened: the same, from the compressed files and their saved indexes; an
        // original left beside its compressed copy (an interrupted compression) reads
        // once and is compressed again.
        std::fs::write(&closed[0], read_segment(&closed[0]).unwrap()).unwrap();
        std::fs::write(dir.path().join(".n1-x.log.zst.partial"), b"torn").unwrap();
        let store = FileStore::open(dir.path(), 16 * 1024).unwrap();
        assert_eq!(store.read_all().await.unwrap().len(), 400);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while closed[0].exists() {
            assert!(std::time::Instant::now() < deadline, "not compressed again");
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        let again: Vec<String> = store
            .read_all()
            .await
            .unwrap()
            .into_iter()
            .map(|l| l.line)
            .collect();
        let lines: Vec<String> = lines.into_iter().map(|l| l.line).collect();
        assert_eq!(again, lines);
    }

    #[tokio::test]
    async fn closed_segments_keep_their_index_beside_them() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileStore::open(dir.path(), 16 * 1024).unwrap();
        let mut prev = GENESIS;
        for seq in 1..=400u64 {
            let e = event_at("n1", seq, &prev, 1_700_000_000 + seq as i64 / 3);
            prev = e.hash;
            store.append(vec![e]).await.unwrap();
        }
        let blocks = |store: &FileStore| -> Vec<(PathBuf, u64, u64, i64, i64)> {
            let inner = store.inner.lock();
            inner
                .blocks
                .iter()
                .map(|b| {
                    (
                        (*b.segment).clone(),
                        b.offset,
                        b.len,
                        b.min_time,
                        b.max_time,
                    )
                })
                .collect()
        };
        let written = blocks(&store);
        drop(store);
        let all = segments(dir.path()).unwrap();
        assert!(all.len() > 3);
        // Every closed segment has its index; the open one has none.
        for (i, segment) in all.iter().enumerate() {
            assert_eq!(
                index_path(segment).is_file(),
                i + 1 < all.len(),
                "{segment:?}"
            );
        }
        // Reopened from the saved indexes: the same index as built by the appends.
        let store = FileStore::open(dir.path(), 16 * 1024).unwrap();
        assert_eq!(blocks(&store), written);
        drop(store);
        // A saved index that does not cover its segment is ignored and rebuilt; a missing
        // one is rebuilt.
        std::fs::write(
            index_path(&all[0]),
            format!("{INDEX_HEADER} 12\n0 12 1 2\n"),
        )
        .unwrap();
        std::fs::remove_file(index_path(&all[1])).unwrap();
        let store = FileStore::open(dir.path(), 16 * 1024).unwrap();
        assert_eq!(blocks(&store), written);
        let segment = Arc::new(all[0].clone());
        assert!(read_segment_index(&segment).is_some());
        assert!(index_path(&all[1]).is_file());
    }

    #[test]
    fn lines_read_as_they_come_are_the_lines_read_whole() {
        let dir = tempfile::tempdir().unwrap();
        let name = |n: u64| dir.path().join(format!("n1-{n:020}.log"));
        // Empty lines, bytes that are not UTF-8, a carriage return, a last line without
        // its newline.
        std::fs::write(
            name(1),
            b"first\n\nsecond \xff\xfe bytes\r\nlast without newline",
        )
        .unwrap();
        // Compressed: lines of every length, one longer than the read buffer.
        let mut big = Vec::new();
        for i in 0..5000 {
            big.extend_from_slice(format!("line {i} {}\n", "x".repeat(i % 300)).as_bytes());
        }
        big.extend_from_slice(&[b'y'; 200_000]);
        big.extend_from_slice(b"\nend\n");
        std::fs::write(
            compressed_path(&name(2)),
            zstd::stream::encode_all(big.as_slice(), 1).unwrap(),
        )
        .unwrap();
        std::fs::write(name(3), b"").unwrap();
        std::fs::write(name(4), b"one\n").unwrap();
        let key = |l: &StoredLine| (l.location.clone(), l.line.clone());
        // The reference: each segment read whole, then split.
        let mut whole = Vec::new();
        for path in segments(dir.path()).unwrap() {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            let text = read_segment(&path).unwrap();
            let mut offset = 0u64;
            for raw in text.split_inclusive(|b| *b == b'\n') {
                whole.push(StoredLine {
                    location: Location {
                        source: name.clone(),
                        offset: Some(offset),
                    },
                    line: String::from_utf8_lossy(raw.strip_suffix(b"\n").unwrap_or(raw))
                        .into_owned(),
                });
                offset += raw.len() as u64;
            }
        }
        let streamed: Vec<StoredLine> = dir_lines(dir.path())
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(whole.len(), 4 + 5002 + 1);
        assert_eq!(
            streamed.iter().map(key).collect::<Vec<_>>(),
            whole.iter().map(key).collect::<Vec<_>>()
        );
        let collected = read_dir_lines(dir.path()).unwrap();
        assert_eq!(
            collected.iter().map(key).collect::<Vec<_>>(),
            whole.iter().map(key).collect::<Vec<_>>()
        );

        // A compressed segment that does not decompress: an error, and nothing read after.
        std::fs::write(compressed_path(&name(2)), b"not zstd at all").unwrap();
        let read: Vec<Result<StoredLine, AuditError>> = dir_lines(dir.path()).unwrap().collect();
        assert_eq!(read.len(), 5);
        assert!(read[..4].iter().all(Result::is_ok));
        assert!(read[4].is_err());
        // A segment gone between the listing and its reading: an error too.
        let mut lines = dir_lines(dir.path()).unwrap();
        std::fs::remove_file(compressed_path(&name(2))).unwrap();
        let read: Vec<Result<StoredLine, AuditError>> = lines.by_ref().collect();
        assert_eq!(read.len(), 5);
        assert!(read[4].is_err());
        assert!(lines.next().is_none());
    }

    /// A sealed event of `chain` at `time` (Unix seconds).
    fn event_at(chain: &str, seq: u64, prev: &[u8; 32], time: i64) -> SealedEntry {
        let r = crate::Record::service_event(
            "Encrypt",
            "111122223333",
            "us-east-1",
            "",
            None,
            time * 1000,
        );
        let json = serde_json::to_string(&r).unwrap();
        let mut e = seal(chain, seq, event_body(chain, seq, prev, &json));
        e.event_time = Some(time);
        e
    }

    #[tokio::test]
    async fn the_time_index_reads_newest_first_like_a_full_scan() {
        let dir = tempfile::tempdir().unwrap();
        // Small segments: many segments and blocks.
        let store = FileStore::open(dir.path(), 64 * 1024).unwrap();
        let mut prev = GENESIS;
        let mut seq = 0;
        // Times mostly rising, with a clock step back, bursts in one second, and digests.
        for i in 0..3000i64 {
            let time = 1_700_000_000 + i / 7 - if (1000..1100).contains(&i) { 50 } else { 0 };
            seq += 1;
            let e = event_at("n1", seq, &prev, time);
            prev = e.hash;
            let mut batch = vec![e];
            if i % 500 == 499 {
                seq += 1;
                let d = seal("n1", seq, crate::chain::digest_body("n1", seq, &prev, "{}"));
                prev = d.hash;
                batch.push(d);
            }
            store.append(batch).await.unwrap();
        }
        assert!(store.inner.lock().blocks.len() > 2);
        let check = |store: &FileStore| {
            let all = {
                let lines = read_dir_lines(dir.path()).unwrap();
                let mut all: Vec<EventKey> = crate::records_with_chain(&lines)
                    .into_iter()
                    .map(|(chain, seq, r)| EventKey {
                        time: crate::parse_event_time(&r.event_time).unwrap(),
                        chain,
                        seq,
                    })
                    .collect();
                all.sort_by(|a, b| b.cmp(a));
                all
            };
            let inner = store.inner.lock().blocks.len();
            (all, inner)
        };
        let (all, _) = check(&store);
        for (from, start, end, limit) in [
            (None, None, None, 10),
            (Some(all[700].clone()), None, None, 500),
            (None, Some(1_700_000_100), Some(1_700_000_200), 50),
            (Some(all[2000].clone()), Some(1_700_000_000), None, 5000),
        ] {
            let got = store
                .events_newest_first(from.as_ref(), start, end, limit)
                .await
                .unwrap();
            let want: Vec<&EventKey> = all
                .iter()
                .filter(|k| from.as_ref().is_none_or(|f| *k <= f))
                .filter(|k| start.is_none_or(|s| k.time >= s) && end.is_none_or(|e| k.time <= e))
                .collect();
            assert!(got.len() >= limit.min(want.len()));
            let keys: Vec<&EventKey> = got.iter().map(|(k, _)| k).collect();
            assert_eq!(
                keys,
                want[..got.len()].to_vec(),
                "{from:?} {start:?} {end:?}"
            );
        }
        // The index rebuilt at open is the one kept while appending.
        let appended: Vec<(u64, u64, i64, i64)> = store
            .inner
            .lock()
            .blocks
            .iter()
            .map(|b| (b.offset, b.len, b.min_time, b.max_time))
            .collect();
        drop(store);
        let store = FileStore::open(dir.path(), 64 * 1024).unwrap();
        let rebuilt: Vec<(u64, u64, i64, i64)> = store
            .inner
            .lock()
            .blocks
            .iter()
            .map(|b| (b.offset, b.len, b.min_time, b.max_time))
            .collect();
        assert_eq!(appended.len(), rebuilt.len());
        assert_eq!(
            appended.iter().map(|b| (b.2, b.3)).collect::<Vec<_>>(),
            rebuilt.iter().map(|b| (b.2, b.3)).collect::<Vec<_>>()
        );
    }
}
