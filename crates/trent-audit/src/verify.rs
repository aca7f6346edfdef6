//! Verification of a stored chain: every hash, every link, the sequence, every digest.
//!
//! The report says what happened and where, in terms an auditor can check by hand:
//! *changed* (an entry's content no longer matches its hash, or an entry's successor does
//! not link to it), *deleted* (sequence numbers missing), *inserted* (a sequence number
//! present twice, or an entry not linked into the chain), *reordered* (entries in another
//! order than their sequence numbers), and digests whose signature, range or hash does
//! not hold. Entries after the last digest are reported as not yet covered (a warning,
//! not a failure: the next digest will cover them).
//!
//! The lines are taken one at a time ([`Verifier`]): of each entry only what the checks
//! need is kept (its sequence number, hashes, place, and its digest if it is one; never
//! its text), so a trail far larger than memory is verified as it is read
//! ([`verify_stream`], [`verify_dir`]).

use std::borrow::Borrow;
use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use crate::anchor::Anchor;
use crate::chain::{decode_hash, parse_line, ParsedLine, GENESIS};
use crate::signing::{verify_digest, Digest};
use crate::store::{Location, StoredLine};
use crate::AuditError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// The entry's content does not match its stored hash.
    Changed { seq: Option<u64>, at: Location },
    /// The entry is not a chain entry at all (unreadable).
    Unreadable { at: Location },
    /// The entry does not link to the one before it (`prev` is not that entry's hash):
    /// the one before was changed and re-hashed, or this one was inserted.
    BrokenLink { seq: u64, at: Location },
    /// Sequence numbers `from..=to` are missing; `after` is where they should be.
    Deleted {
        from: u64,
        to: u64,
        after: Option<Location>,
    },
    /// A sequence number appears more than once.
    Inserted { seq: u64, at: Location },
    /// The entry is out of order: it is at `position` but belongs at `expected`.
    Reordered {
        seq: u64,
        at: Location,
        position: usize,
        expected: usize,
    },
    /// A digest whose signature does not verify with the public key.
    BadSignature { seq: u64, at: Location },
    /// A digest whose range, last hash or previous signature does not match the chain.
    DigestMismatch {
        seq: u64,
        at: Location,
        detail: String,
    },
    /// The chain has no published public key: its digests cannot be checked (and, in a
    /// database, nobody registered it: its entries were not written by a node).
    NoPublicKey { chain: String },
    /// The chain's anchor (where archiving left it) does not verify with its key: the
    /// chain is checked from its genesis instead.
    BadAnchor { chain: String, seq: u64 },
    /// The chain ends before the last digest says it does (entries cut off at the end).
    Truncated {
        chain: String,
        digest_end: u64,
        last_seq: u64,
    },
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Problem::Changed { seq, at } => match seq {
                Some(s) => write!(f, "CHANGED: entry seq {s} ({at}) does not match its hash"),
                None => write!(f, "CHANGED: entry ({at}) does not match its hash"),
            },
            Problem::Unreadable { at } => write!(f, "CHANGED: unreadable entry ({at})"),
            Problem::BrokenLink { seq, at } => write!(
                f,
                "CHANGED: entry seq {seq} ({at}) does not link to entry seq {} (changed or inserted)",
                seq.saturating_sub(1)
            ),
            Problem::Deleted { from, to, after } => {
                let range = if from == to {
                    format!("entry seq {from} is")
                } else {
                    format!("entries seq {from}..={to} are")
                };
                match after {
                    Some(at) => write!(f, "DELETED: {range} missing (before {at})"),
                    None => write!(f, "DELETED: {range} missing"),
                }
            }
            Problem::Inserted { seq, at } => {
                write!(f, "INSERTED: entry seq {seq} ({at}) appears more than once")
            }
            Problem::Reordered {
                seq,
                at,
                position,
                expected,
            } => write!(
                f,
                "REORDERED: entry seq {seq} ({at}) is entry #{position} but belongs at #{expected}"
            ),
            Problem::BadSignature { seq, at } => {
                write!(f, "DIGEST: signature of digest seq {seq} ({at}) does not verify")
            }
            Problem::DigestMismatch { seq, at, detail } => {
                write!(f, "DIGEST: digest seq {seq} ({at}): {detail}")
            }
            Problem::NoPublicKey { chain } => write!(
                f,
                "DIGEST: chain {chain} has no published audit signing public key (its digests cannot be checked)"
            ),
            Problem::BadAnchor { chain, seq } => write!(
                f,
                "ANCHOR: the anchor of chain {chain} (archived up to seq {seq}) does not verify with its audit signing key"
            ),
            Problem::Truncated {
                chain,
                digest_end,
                last_seq,
            } => write!(
                f,
                "DELETED: chain {chain} ends at seq {last_seq} but a digest covers up to seq {digest_end}"
            ),
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct Report {
    pub entries: usize,
    pub events: usize,
    pub digests: usize,
    pub chains: Vec<String>,
    pub problems: Vec<Problem>,
    /// Per chain: the first sequence number not covered by a verified digest, and the last.
    pub undigested: Vec<(String, u64, u64)>,
    /// Per chain, in chain order: what it holds and how many problems it has.
    pub summaries: Vec<ChainSummary>,
    /// Intents (write-ahead entries) in the trail.
    pub intents: usize,
    /// Intents without an outcome (chain, seq, request id or sharedEventID): requests the
    /// process did not finish (it stopped in between). A note, not a problem: the trail
    /// still names what each may have changed.
    pub unfinished: Vec<(String, u64, String)>,
}

/// One chain's part of a [`Report`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChainSummary {
    pub chain: String,
    pub entries: usize,
    pub events: usize,
    pub digests: usize,
    /// The highest sequence number present.
    pub last_seq: u64,
    /// The last sequence number covered by a signed digest that verified (0: none).
    pub digested_to: u64,
    /// The last sequence number archived, per the chain's anchor (0: none).
    pub anchored_at: u64,
    pub problems: usize,
}

impl ChainSummary {
    pub fn ok(&self) -> bool {
        self.problems == 0
    }
}

impl Report {
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }
}

/// What verification keeps of one entry of a chain: no line text, and what is usually
/// redundant kept aside only when it is not (see [`ChainState`]): 64 bytes.
struct Item {
    seq: u64,
    /// The offset of its [`Location`], if it has one (see [`HAS_OFFSET`]).
    offset: u64,
    /// The source of its [`Location`]: an index into [`Verifier`]'s sources.
    source: usize,
    /// The hash of its body.
    hash: [u8; 32],
    flags: u8,
}

/// [`Item::flags`]: its stored hash matches its body.
const HASH_OK: u8 = 1;
/// [`Item::flags`]: its location has an offset.
const HAS_OFFSET: u8 = 2;
/// [`Item::flags`]: its `prev` is the hash of the item before it (in the chain's storage
/// order), as in every chain not tampered with; else it is kept in [`ChainState::prevs`].
const PREV_IS_PREVIOUS: u8 = 4;

impl Item {
    fn hash_ok(&self) -> bool {
        self.flags & HASH_OK != 0
    }
}

/// Items in chunks of a fixed size: growing never copies them (a vector doubling its
/// buffer would hold both buffers for a moment: half again the memory).
struct Chunked<T> {
    chunks: Vec<Vec<T>>,
    len: usize,
}

const CHUNK: usize = 1 << 14;

impl<T> Default for Chunked<T> {
    fn default() -> Self {
        Chunked {
            chunks: Vec::new(),
            len: 0,
        }
    }
}

impl<T> Chunked<T> {
    fn push(&mut self, item: T) {
        match self.chunks.last_mut() {
            Some(chunk) if chunk.len() < CHUNK => chunk.push(item),
            _ => {
                let mut chunk = Vec::with_capacity(CHUNK);
                chunk.push(item);
                self.chunks.push(chunk);
            }
        }
        self.len += 1;
    }

    fn len(&self) -> usize {
        self.len
    }

    fn last(&self) -> Option<&T> {
        self.chunks.last().and_then(|c| c.last())
    }

    fn iter(&self) -> impl Iterator<Item = &T> {
        self.chunks.iter().flatten()
    }
}

impl<T> std::ops::Index<usize> for Chunked<T> {
    type Output = T;

    fn index(&self, i: usize) -> &T {
        &self.chunks[i / CHUNK][i % CHUNK]
    }
}

/// One line read from a store, reduced to what verification needs of it, for
/// [`Verifier::push_entry`].
#[derive(Debug, Clone)]
pub struct Entry {
    at: Location,
    body: EntryKind,
}

#[derive(Debug, Clone)]
enum EntryKind {
    /// Not an entry of a chain (no body it can read); `hashed`: it has a hash (it was an
    /// entry, and was changed).
    Unreadable {
        hashed: bool,
    },
    Chained(Chained),
}

#[derive(Debug, Clone)]
struct Chained {
    chain: String,
    seq: u64,
    kind: Kind,
    /// For an intent or an event: its request id or sharedEventID.
    pending: Option<String>,
    prev: Option<[u8; 32]>,
    hash: [u8; 32],
    hash_ok: bool,
    digest: Option<Box<Digest>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Intent,
    Event,
    /// A digest (or any other kind): counted as a digest.
    Other,
}

impl Entry {
    /// The entry of a line read at `at`, parsed (for a caller that reads more of each
    /// line than verification does, so that the line is parsed once).
    pub fn new(at: Location, parsed: ParsedLine) -> Entry {
        let hash_ok = parsed.hash_ok();
        let Some(body) = parsed.body else {
            return Entry {
                at,
                body: EntryKind::Unreadable {
                    hashed: parsed.stored_hash.is_some(),
                },
            };
        };
        let (kind, record) = match body.kind.as_str() {
            "intent" => (Kind::Intent, body.intent()),
            "event" => (Kind::Event, body.record()),
            _ => (Kind::Other, None),
        };
        let pending = record
            .as_ref()
            .and_then(|r| crate::pending_key(r).map(str::to_owned));
        let prev = decode_hash(&body.prev);
        Entry {
            at,
            body: EntryKind::Chained(Chained {
                chain: body.chain,
                seq: body.seq,
                kind,
                pending,
                prev,
                hash: parsed.computed_hash,
                hash_ok,
                digest: body.digest.map(Box::new),
            }),
        }
    }

    /// The entry of a stored line.
    pub fn parse(line: &StoredLine) -> Entry {
        Entry::new(line.location.clone(), parse_line(&line.line))
    }
}

/// A chain, as its lines are taken.
struct ChainState {
    items: Chunked<Item>,
    /// The `prev` of the items whose `prev` is not the hash of the item before them (see
    /// [`PREV_IS_PREVIOUS`]), by item index, in order.
    prevs: Vec<(usize, Option<[u8; 32]>)>,
    /// The digests of the items that carry one, by item index, in order.
    digests: Vec<(usize, Digest)>,
    /// The request ids (or sharedEventIDs) its outcomes name: the UUIDs as Trent writes
    /// them (lower-case, hyphenated) as their 16 bytes, any other as it is.
    outcome_ids: Chunked<[u8; 16]>,
    outcome_keys: HashSet<String>,
    summary: ChainSummary,
}

impl ChainState {
    fn new(chain: &str) -> ChainState {
        ChainState {
            items: Chunked::default(),
            prevs: Vec::new(),
            digests: Vec::new(),
            outcome_ids: Chunked::default(),
            outcome_keys: HashSet::new(),
            summary: ChainSummary {
                chain: chain.to_owned(),
                ..ChainSummary::default()
            },
        }
    }

    /// The `prev` of item `i`.
    fn prev(&self, i: usize) -> Option<[u8; 32]> {
        if self.items[i].flags & PREV_IS_PREVIOUS != 0 {
            return i.checked_sub(1).map(|p| self.items[p].hash);
        }
        self.prevs
            .binary_search_by_key(&i, |(at, _)| *at)
            .ok()
            .and_then(|k| self.prevs[k].1)
    }

    /// The digest of item `i`, if it carries one.
    fn digest(&self, i: usize) -> Option<&Digest> {
        self.digests
            .binary_search_by_key(&i, |(at, _)| *at)
            .ok()
            .map(|k| &self.digests[k].1)
    }
}

/// `key` as 16 bytes, if it is a UUID as Trent writes them (so that it is written back the
/// same from them).
fn uuid_of(key: &str) -> Option<[u8; 16]> {
    let id = uuid::Uuid::try_parse(key).ok()?;
    let mut buf = uuid::Uuid::encode_buffer();
    (id.hyphenated().encode_lower(&mut buf) == key).then(|| id.into_bytes())
}

/// Verification fed one line at a time, in storage order ([`Verifier::push`]), then
/// finished with the anchors and keys ([`Verifier::finish`]): the report of
/// [`verify_anchored`] over the same lines, holding about 80 bytes per entry instead of
/// its line.
#[derive(Default)]
pub struct Verifier {
    report: Report,
    chains: BTreeMap<String, ChainState>,
    /// The places lines were read from (a segment's name once for all its lines).
    sources: Vec<String>,
    /// The intents that name their request: (chain, seq, request id or sharedEventID).
    intents: Vec<(String, u64, String)>,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("entries", &self.report.entries)
            .field("chains", &self.chains.len())
            .finish_non_exhaustive()
    }
}

impl Verifier {
    pub fn new() -> Verifier {
        Verifier::default()
    }

    /// Takes the next stored line.
    pub fn push(&mut self, line: &StoredLine) {
        self.push_entry(Entry::parse(line));
    }

    /// Takes the next entry.
    pub fn push_entry(&mut self, entry: Entry) {
        self.report.entries += 1;
        let Entry { at, body } = entry;
        let c = match body {
            EntryKind::Chained(c) => c,
            EntryKind::Unreadable { hashed } => {
                self.report.problems.push(if hashed {
                    Problem::Changed { seq: None, at }
                } else {
                    Problem::Unreadable { at }
                });
                return;
            }
        };
        if !c.hash_ok {
            self.report.problems.push(Problem::Changed {
                seq: Some(c.seq),
                at: at.clone(),
            });
        }
        let offset = at.offset;
        let source = self.source(at.source);
        let state = match self.chains.get_mut(c.chain.as_str()) {
            Some(state) => state,
            None => self
                .chains
                .entry(c.chain.clone())
                .or_insert_with(|| ChainState::new(&c.chain)),
        };
        state.summary.entries += 1;
        if !c.hash_ok {
            state.summary.problems += 1;
        }
        match c.kind {
            Kind::Intent => {
                self.report.intents += 1;
                if let Some(k) = c.pending {
                    self.intents.push((c.chain, c.seq, k));
                }
            }
            Kind::Event => {
                self.report.events += 1;
                state.summary.events += 1;
                if let Some(k) = c.pending {
                    match uuid_of(&k) {
                        Some(id) => state.outcome_ids.push(id),
                        None => {
                            state.outcome_keys.insert(k);
                        }
                    }
                }
            }
            Kind::Other => {
                self.report.digests += 1;
                state.summary.digests += 1;
            }
        }
        let index = state.items.len();
        let mut flags = 0;
        if c.hash_ok {
            flags |= HASH_OK;
        }
        if offset.is_some() {
            flags |= HAS_OFFSET;
        }
        match (state.items.last(), c.prev) {
            (Some(before), Some(prev)) if before.hash == prev => flags |= PREV_IS_PREVIOUS,
            (_, prev) => state.prevs.push((index, prev)),
        }
        if let Some(d) = c.digest {
            state.digests.push((index, *d));
        }
        state.items.push(Item {
            seq: c.seq,
            offset: offset.unwrap_or(0),
            source,
            hash: c.hash,
            flags,
        });
    }

    /// The number of the source `source` (the last one again, for the lines of a segment).
    fn source(&mut self, source: String) -> usize {
        match self.sources.last() {
            Some(last) if *last == source => self.sources.len() - 1,
            _ => {
                self.sources.push(source);
                self.sources.len() - 1
            }
        }
    }

    /// The report of everything taken, of chains whose beginning was archived as in
    /// [`verify_anchored`], each chain's digests checked with `key_of(chain)`.
    pub fn finish(self, anchors: &[Anchor], key_of: impl Fn(&str) -> Option<[u8; 32]>) -> Report {
        let Verifier {
            mut report,
            mut chains,
            sources,
            intents,
        } = self;
        for anchor in anchors {
            // A chain archived whole (nothing after its anchor): still a chain of the report.
            if !chains.contains_key(&anchor.chain) {
                chains.insert(anchor.chain.clone(), ChainState::new(&anchor.chain));
            }
        }
        // What is left of each chain once it is checked: the outcomes its intents need.
        let mut outcomes: BTreeMap<String, (Vec<[u8; 16]>, HashSet<String>)> = BTreeMap::new();
        for (chain, state) in chains {
            let before = report.problems.len();
            let key = key_of(&chain);
            if key.is_none() {
                report.problems.push(Problem::NoPublicKey {
                    chain: chain.clone(),
                });
            }
            let anchor = anchors.iter().find(|a| a.chain == chain);
            let anchor = match (anchor, key.as_ref()) {
                (Some(a), Some(k)) if a.verifies(k) => Some(a),
                (Some(a), _) => {
                    report.problems.push(Problem::BadAnchor {
                        chain: chain.clone(),
                        seq: a.seq,
                    });
                    None
                }
                (None, _) => None,
            };
            let (last_seq, digested_to) =
                verify_chain(&chain, &state, &sources, key.as_ref(), anchor, &mut report);
            let ChainState {
                items,
                outcome_ids,
                outcome_keys,
                mut summary,
                ..
            } = state;
            drop(items);
            if let Some(a) = anchor {
                summary.anchored_at = a.seq;
            }
            summary.problems += report.problems.len() - before;
            summary.last_seq = last_seq;
            summary.digested_to = digested_to;
            report.summaries.push(summary);
            if intents.iter().any(|(c, _, _)| *c == chain) {
                let mut ids: Vec<[u8; 16]> = outcome_ids.iter().copied().collect();
                drop(outcome_ids);
                ids.sort_unstable();
                outcomes.insert(chain.clone(), (ids, outcome_keys));
            }
            report.chains.push(chain);
        }
        report.unfinished = intents
            .into_iter()
            .filter(|(chain, _, k)| {
                let done = outcomes
                    .get(chain)
                    .is_some_and(|(ids, keys)| match uuid_of(k) {
                        Some(id) => ids.binary_search(&id).is_ok(),
                        None => keys.contains(k),
                    });
                !done
            })
            .collect();
        report
    }
}

/// Verifies everything read from a store, with the audit signing public key.
pub fn verify(
    lines: impl IntoIterator<Item = impl Borrow<StoredLine>>,
    public_key: &[u8; 32],
) -> Report {
    verify_chains(lines, |_| Some(*public_key))
}

/// Verifies everything read from a store holding several nodes' chains, each chain's
/// digests with its own node's public key (`key_of(chain)`; `None`: none published).
pub fn verify_chains(
    lines: impl IntoIterator<Item = impl Borrow<StoredLine>>,
    key_of: impl Fn(&str) -> Option<[u8; 32]>,
) -> Report {
    verify_anchored(lines, &[], key_of)
}

/// [`verify_chains`] of chains whose beginning was archived: a chain with an anchor (whose
/// signature holds with the chain's key) is proved continuous from it instead of from its
/// genesis. The lines are taken one at a time (see [`Verifier`]): they may come from an
/// iterator that reads them as they are needed.
pub fn verify_anchored(
    lines: impl IntoIterator<Item = impl Borrow<StoredLine>>,
    anchors: &[Anchor],
    key_of: impl Fn(&str) -> Option<[u8; 32]>,
) -> Report {
    let mut verifier = Verifier::new();
    for line in lines {
        verifier.push(line.borrow());
    }
    verifier.finish(anchors, key_of)
}

/// [`verify_anchored`] of lines read as they are verified (as [`crate::dir_lines`] reads
/// them): the first line that cannot be read fails the verification with its error (a
/// trail that cannot be read whole is not verified).
pub fn verify_stream(
    lines: impl IntoIterator<Item = Result<StoredLine, AuditError>>,
    anchors: &[Anchor],
    key_of: impl Fn(&str) -> Option<[u8; 32]>,
) -> Result<Report, AuditError> {
    let mut verifier = Verifier::new();
    for line in lines {
        verifier.push(&line?);
    }
    Ok(verifier.finish(anchors, key_of))
}

/// Verifies the segments of `dir` as they are read, with the anchors found beside them
/// (see [`verify_stream`]).
pub fn verify_dir(
    dir: &Path,
    key_of: impl Fn(&str) -> Option<[u8; 32]>,
) -> Result<Report, AuditError> {
    let anchors = crate::anchor::read_anchors(dir)?;
    verify_stream(crate::store::dir_lines(dir)?, &anchors, key_of)
}

/// Where `item` was read.
fn location(sources: &[String], item: &Item) -> Location {
    Location {
        source: sources.get(item.source).cloned().unwrap_or_default(),
        offset: (item.flags & HAS_OFFSET != 0).then_some(item.offset),
    }
}

/// Checks one chain, its items in storage order. Returns the chain's last sequence number
/// and how far verified digests cover it.
fn verify_chain(
    chain: &str,
    state: &ChainState,
    sources: &[String],
    public_key: Option<&[u8; 32]>,
    anchor: Option<&Anchor>,
    report: &mut Report,
) -> (u64, u64) {
    let items = &state.items;
    let at = |i: usize| location(sources, &items[i]);
    // Where the chain starts: its genesis, or after its anchor.
    let first = anchor.map_or(1, |a| a.seq + 1);
    let anchor_hash = anchor.and_then(|a| decode_hash(&a.hash));
    // The items by sequence number, those of one sequence number in storage order.
    let mut order: Vec<usize> = (0..items.len()).collect();
    order.sort_by_key(|&i| items[i].seq);
    // Duplicates: the first occurrence is taken as the chain's, later ones as inserted.
    let mut duplicate = vec![false; items.len()];
    for pair in order.windows(2) {
        if items[pair[0]].seq == items[pair[1]].seq {
            duplicate[pair[1]] = true;
        }
    }
    for (i, _) in duplicate.iter().enumerate().filter(|(_, d)| **d) {
        report.problems.push(Problem::Inserted {
            seq: items[i].seq,
            at: at(i),
        });
    }
    // Entries the anchor says were archived have no business being here.
    for (i, it) in items.iter().enumerate().filter(|(_, it)| it.seq < first) {
        report.problems.push(Problem::Inserted {
            seq: it.seq,
            at: at(i),
        });
    }
    // The chain's entries, one per sequence number, in sequence order (item indexes).
    let kept: Vec<usize> = order
        .into_iter()
        .filter(|&i| !duplicate[i] && items[i].seq >= first)
        .collect();
    let rank = |seq: u64| kept.binary_search_by_key(&seq, |&i| items[i].seq);
    let last_seq = kept.last().map_or(first - 1, |&i| items[i].seq);

    // Gaps.
    let mut expected = first;
    for &i in &kept {
        let s = items[i].seq;
        if s > expected {
            report.problems.push(Problem::Deleted {
                from: expected,
                to: s - 1,
                after: Some(at(i)),
            });
        }
        expected = s + 1;
    }

    // Order: storage order of the unique entries against sequence order.
    let unique = items
        .iter()
        .enumerate()
        .filter(|(i, it)| !duplicate[*i] && it.seq >= first);
    for (pos, (i, it)) in unique.enumerate() {
        let r = rank(it.seq).unwrap_or(pos);
        if r != pos {
            report.problems.push(Problem::Reordered {
                seq: it.seq,
                at: at(i),
                position: pos + 1,
                expected: r + 1,
            });
        }
    }
    drop(duplicate);

    // Links: each entry's `prev` is the hash of entry seq-1 (when that one is present and
    // intact; a missing or changed predecessor is already reported).
    for (r, &i) in kept.iter().enumerate() {
        let it = &items[i];
        let s = it.seq;
        let expected_prev = if s == 1 {
            Some(GENESIS)
        } else if s == first {
            anchor_hash
        } else {
            r.checked_sub(1)
                .map(|p| &items[kept[p]])
                .filter(|p| p.seq == s - 1 && p.hash_ok())
                .map(|p| p.hash)
        };
        if let Some(e) = expected_prev {
            if it.hash_ok() && state.prev(i) != Some(e) {
                report
                    .problems
                    .push(Problem::BrokenLink { seq: s, at: at(i) });
            }
        }
    }

    // Digests, in sequence order.
    let mut previous_signature: Option<String> = anchor.and_then(|a| a.digest_signature.clone());
    let mut covered_to = anchor.map_or(0, |a| a.digest_seq);
    let mut digest_end = 0u64;
    for &i in &kept {
        let s = items[i].seq;
        let Some(d) = state.digest(i) else { continue };
        digest_end = digest_end.max(d.end_seq);
        if !public_key.is_some_and(|k| verify_digest(k, chain, d)) {
            report
                .problems
                .push(Problem::BadSignature { seq: s, at: at(i) });
            continue;
        }
        let mut details = Vec::new();
        if d.end_seq + 1 != s {
            details.push(format!("covers up to seq {} but is seq {s}", d.end_seq));
        }
        if d.start_seq != covered_to + 1 {
            details.push(format!(
                "starts at seq {} but the previous digest ends at seq {covered_to}",
                d.start_seq
            ));
        }
        if d.previous_digest_signature != previous_signature {
            details.push("does not carry the previous digest's signature".to_owned());
        }
        match rank(d.end_seq).ok().map(|r| &items[kept[r]]) {
            Some(last) if hex::encode(last.hash) == d.last_hash && last.hash_ok() => {}
            Some(_) => details.push(format!("the hash of seq {} does not match", d.end_seq)),
            // The anchor's entry, archived: the anchor vouches for its hash.
            None if anchor.is_some_and(|a| a.seq == d.end_seq && a.hash == d.last_hash) => {}
            None => details.push(format!("seq {} is missing", d.end_seq)),
        }
        if !details.is_empty() {
            report.problems.push(Problem::DigestMismatch {
                seq: s,
                at: at(i),
                detail: details.join("; "),
            });
        }
        previous_signature = Some(d.signature.clone());
        covered_to = s;
    }
    if digest_end > last_seq {
        report.problems.push(Problem::Truncated {
            chain: chain.to_owned(),
            digest_end,
            last_seq,
        });
    }
    if last_seq > covered_to && last_seq >= first {
        report
            .undigested
            .push((chain.to_owned(), covered_to.max(first - 1) + 1, last_seq));
    }
    (last_seq, covered_to)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;
    use crate::chain::{digest_body, event_body, intent_body, seal};
    use crate::signing::Signer;

    /// Verification as it was before it took lines one at a time (the whole trail in
    /// memory): the streaming verifier must report exactly what it reports.
    mod reference {
        use std::collections::{BTreeMap, HashMap};

        use crate::anchor::Anchor;
        use crate::chain::{decode_hash, parse_line, GENESIS};
        use crate::signing::verify_digest;
        use crate::store::{Location, StoredLine};
        use crate::verify::{ChainSummary, Problem, Report};

        struct Item {
            at: Location,
            seq: u64,
            prev: Option<[u8; 32]>,
            hash: [u8; 32],
            hash_ok: bool,
            digest: Option<crate::signing::Digest>,
        }

        /// [`verify_chains`] of chains whose beginning was archived: a chain with an anchor (whose
        /// signature holds with the chain's key) is proved continuous from it instead of from its
        /// genesis.
        pub(super) fn verify_anchored(
            lines: &[StoredLine],
            anchors: &[Anchor],
            key_of: impl Fn(&str) -> Option<[u8; 32]>,
        ) -> Report {
            let mut report = Report {
                entries: lines.len(),
                ..Report::default()
            };
            let mut chains: BTreeMap<String, Vec<Item>> = BTreeMap::new();
            let mut summaries: BTreeMap<String, ChainSummary> = BTreeMap::new();
            let mut intents = Vec::new();
            let mut outcomes = std::collections::HashSet::new();
            for l in lines {
                let parsed = parse_line(&l.line);
                let Some(body) = parsed.body.clone() else {
                    report.problems.push(if parsed.stored_hash.is_some() {
                        Problem::Changed {
                            seq: None,
                            at: l.location.clone(),
                        }
                    } else {
                        Problem::Unreadable {
                            at: l.location.clone(),
                        }
                    });
                    continue;
                };
                let summary = summaries
                    .entry(body.chain.clone())
                    .or_insert_with(|| ChainSummary {
                        chain: body.chain.clone(),
                        ..ChainSummary::default()
                    });
                summary.entries += 1;
                if !parsed.hash_ok() {
                    report.problems.push(Problem::Changed {
                        seq: Some(body.seq),
                        at: l.location.clone(),
                    });
                    summary.problems += 1;
                }
                if body.kind == "intent" {
                    report.intents += 1;
                    if let Some(k) = body
                        .intent()
                        .as_ref()
                        .and_then(|r| crate::pending_key(r).map(str::to_owned))
                    {
                        intents.push((body.chain.clone(), body.seq, k));
                    }
                } else if body.kind == "event" {
                    report.events += 1;
                    summary.events += 1;
                    if let Some(k) = body
                        .record()
                        .as_ref()
                        .and_then(|r| crate::pending_key(r).map(str::to_owned))
                    {
                        outcomes.insert((body.chain.clone(), k));
                    }
                } else {
                    report.digests += 1;
                    summary.digests += 1;
                }
                chains.entry(body.chain.clone()).or_default().push(Item {
                    at: l.location.clone(),
                    seq: body.seq,
                    prev: decode_hash(&body.prev),
                    hash: parsed.computed_hash,
                    hash_ok: parsed.hash_ok(),
                    digest: body.digest,
                });
            }
            for anchor in anchors {
                // A chain archived whole (nothing after its anchor): still a chain of the report.
                chains.entry(anchor.chain.clone()).or_default();
                summaries
                    .entry(anchor.chain.clone())
                    .or_insert_with(|| ChainSummary {
                        chain: anchor.chain.clone(),
                        ..ChainSummary::default()
                    });
            }
            for (chain, items) in chains {
                let before = report.problems.len();
                let key = key_of(&chain);
                if key.is_none() {
                    report.problems.push(Problem::NoPublicKey {
                        chain: chain.clone(),
                    });
                }
                let anchor = anchors.iter().find(|a| a.chain == chain);
                let anchor = match (anchor, key.as_ref()) {
                    (Some(a), Some(k)) if a.verifies(k) => Some(a),
                    (Some(a), _) => {
                        report.problems.push(Problem::BadAnchor {
                            chain: chain.clone(),
                            seq: a.seq,
                        });
                        None
                    }
                    (None, _) => None,
                };
                if let (Some(a), Some(s)) = (anchor, summaries.get_mut(&chain)) {
                    s.anchored_at = a.seq;
                }
                let (last_seq, digested_to) =
                    verify_chain(&chain, &items, key.as_ref(), anchor, &mut report);
                if let Some(s) = summaries.get_mut(&chain) {
                    s.problems += report.problems.len() - before;
                    s.last_seq = last_seq;
                    s.digested_to = digested_to;
                }
                report.chains.push(chain);
            }
            report.summaries = summaries.into_values().collect();
            report.unfinished = intents
                .into_iter()
                .filter(|(chain, _, k)| !outcomes.contains(&(chain.clone(), k.clone())))
                .collect();
            report
        }

        /// Returns the chain's last sequence number and how far verified digests cover it.
        fn verify_chain(
            chain: &str,
            items: &[Item],
            public_key: Option<&[u8; 32]>,
            anchor: Option<&Anchor>,
            report: &mut Report,
        ) -> (u64, u64) {
            // Where the chain starts: its genesis, or after its anchor.
            let first = anchor.map_or(1, |a| a.seq + 1);
            let anchor_hash = anchor.and_then(|a| decode_hash(&a.hash));
            // Duplicates: the first occurrence is taken as the chain's, later ones as inserted.
            let mut by_seq: HashMap<u64, &Item> = HashMap::new();
            for it in items {
                match by_seq.entry(it.seq) {
                    std::collections::hash_map::Entry::Occupied(_) => {
                        report.problems.push(Problem::Inserted {
                            seq: it.seq,
                            at: it.at.clone(),
                        });
                    }
                    std::collections::hash_map::Entry::Vacant(slot) => {
                        slot.insert(it);
                    }
                }
            }
            // Entries the anchor says were archived have no business being here.
            for it in items.iter().filter(|it| it.seq < first) {
                report.problems.push(Problem::Inserted {
                    seq: it.seq,
                    at: it.at.clone(),
                });
                by_seq.remove(&it.seq);
            }
            let mut seqs: Vec<u64> = by_seq.keys().copied().collect();
            seqs.sort_unstable();
            let last_seq = seqs.last().copied().unwrap_or(first - 1);

            // Gaps.
            let mut expected = first;
            for &s in &seqs {
                if s > expected {
                    report.problems.push(Problem::Deleted {
                        from: expected,
                        to: s - 1,
                        after: by_seq.get(&s).map(|i| i.at.clone()),
                    });
                }
                expected = s + 1;
            }

            // Order: storage order of the unique entries against sequence order.
            let unique: Vec<&Item> = {
                let mut seen = std::collections::HashSet::new();
                items
                    .iter()
                    .filter(|i| i.seq >= first && seen.insert(i.seq))
                    .collect()
            };
            let rank: HashMap<u64, usize> = seqs.iter().enumerate().map(|(r, s)| (*s, r)).collect();
            for (pos, it) in unique.iter().enumerate() {
                let r = rank.get(&it.seq).copied().unwrap_or(pos);
                if r != pos {
                    report.problems.push(Problem::Reordered {
                        seq: it.seq,
                        at: it.at.clone(),
                        position: pos + 1,
                        expected: r + 1,
                    });
                }
            }

            // Links: each entry's `prev` is the hash of entry seq-1 (when that one is present and
            // intact; a missing or changed predecessor is already reported).
            for &s in &seqs {
                let Some(it) = by_seq.get(&s) else { continue };
                let expected_prev = if s == 1 {
                    Some(GENESIS)
                } else if s == first {
                    anchor_hash
                } else {
                    by_seq.get(&(s - 1)).filter(|p| p.hash_ok).map(|p| p.hash)
                };
                if let Some(e) = expected_prev {
                    if it.hash_ok && it.prev != Some(e) {
                        report.problems.push(Problem::BrokenLink {
                            seq: s,
                            at: it.at.clone(),
                        });
                    }
                }
            }

            // Digests, in sequence order.
            let mut previous_signature: Option<String> =
                anchor.and_then(|a| a.digest_signature.clone());
            let mut covered_to = anchor.map_or(0, |a| a.digest_seq);
            let mut digest_end = 0u64;
            for &s in &seqs {
                let Some(it) = by_seq.get(&s) else { continue };
                let Some(d) = &it.digest else { continue };
                digest_end = digest_end.max(d.end_seq);
                if !public_key.is_some_and(|k| verify_digest(k, chain, d)) {
                    report.problems.push(Problem::BadSignature {
                        seq: s,
                        at: it.at.clone(),
                    });
                    continue;
                }
                let mut details = Vec::new();
                if d.end_seq + 1 != s {
                    details.push(format!("covers up to seq {} but is seq {s}", d.end_seq));
                }
                if d.start_seq != covered_to + 1 {
                    details.push(format!(
                        "starts at seq {} but the previous digest ends at seq {covered_to}",
                        d.start_seq
                    ));
                }
                if d.previous_digest_signature != previous_signature {
                    details.push("does not carry the previous digest's signature".to_owned());
                }
                match by_seq.get(&d.end_seq) {
                    Some(last) if hex::encode(last.hash) == d.last_hash && last.hash_ok => {}
                    Some(_) => {
                        details.push(format!("the hash of seq {} does not match", d.end_seq))
                    }
                    // The anchor's entry, archived: the anchor vouches for its hash.
                    None if anchor.is_some_and(|a| a.seq == d.end_seq && a.hash == d.last_hash) => {
                    }
                    None => details.push(format!("seq {} is missing", d.end_seq)),
                }
                if !details.is_empty() {
                    report.problems.push(Problem::DigestMismatch {
                        seq: s,
                        at: it.at.clone(),
                        detail: details.join("; "),
                    });
                }
                previous_signature = Some(d.signature.clone());
                covered_to = s;
            }
            if digest_end > last_seq {
                report.problems.push(Problem::Truncated {
                    chain: chain.to_owned(),
                    digest_end,
                    last_seq,
                });
            }
            if last_seq > covered_to && last_seq >= first {
                report
                    .undigested
                    .push((chain.to_owned(), covered_to.max(first - 1) + 1, last_seq));
            }
            (last_seq, covered_to)
        }
    }

    type ChainEnd = (u64, [u8; 32], u64, Option<String>);

    /// Which key verifies a chain's digests.
    type KeyOf<'a> = &'a dyn Fn(&str) -> Option<[u8; 32]>;

    /// A trail of two interleaved chains, with intents (one left without its outcome,
    /// one whose outcome comes first), request ids that are UUIDs and ones that are not,
    /// and a signed digest every few entries; in segments of 16 lines.
    fn trail(signer: &Signer) -> Vec<StoredLine> {
        let mut lines = Vec::new();
        // Per chain: last seq, its hash, the first seq not digested, the last signature.
        let mut state: BTreeMap<&str, ChainEnd> = BTreeMap::new();
        let mut push = |chain: &'static str, kind: &str, key: Option<String>| {
            let (seq, prev, undigested, last_sig) =
                state.entry(chain).or_insert((0, GENESIS, 1, None));
            *seq += 1;
            let body = if kind == "digest" {
                let mut d = Digest {
                    start_seq: *undigested,
                    end_seq: *seq - 1,
                    last_hash: hex::encode(*prev),
                    previous_digest_signature: last_sig.clone(),
                    public_key_fingerprint: String::new(),
                    digest_time: "2025-01-01T00:00:00Z".into(),
                    signature: String::new(),
                };
                signer.sign(chain, &mut d);
                *last_sig = Some(d.signature.clone());
                *undigested = *seq + 1;
                digest_body(chain, *seq, prev, &serde_json::to_string(&d).unwrap())
            } else {
                let mut r = crate::Record::service_event(
                    "Encrypt",
                    "111122223333",
                    "us-east-1",
                    "",
                    None,
                    1_700_000_000_000 + i64::try_from(*seq).unwrap(),
                );
                r.request_id = key;
                r.shared_event_id = None;
                let json = serde_json::to_string(&r).unwrap();
                if kind == "intent" {
                    intent_body(chain, *seq, prev, &json)
                } else {
                    event_body(chain, *seq, prev, &json)
                }
            };
            let e = seal(chain, *seq, body);
            *prev = e.hash;
            e.line
        };
        let mut raw = Vec::new();
        for i in 0..60u32 {
            let chain = if i % 3 == 2 { "n2" } else { "n1" };
            let key = if i % 2 == 0 {
                Some(crate::random_uuid())
            } else {
                Some(format!("req-{i}"))
            };
            match i {
                // An intent and its outcome; an intent without one; an outcome before
                // its intent; an intent whose key is an upper-case UUID.
                7 => {
                    raw.push(push(chain, "intent", Some(format!("pair-{i}"))));
                    raw.push(push(chain, "event", Some(format!("pair-{i}"))));
                }
                10 => raw.push(push(chain, "intent", key)),
                13 => {
                    let id = crate::random_uuid();
                    raw.push(push(chain, "event", Some(id.clone())));
                    raw.push(push(chain, "intent", Some(id)));
                }
                16 => {
                    let id = crate::random_uuid();
                    raw.push(push(chain, "event", Some(id.clone())));
                    raw.push(push(chain, "intent", Some(id.to_uppercase())));
                }
                _ if i % 7 == 6 => raw.push(push(chain, "digest", None)),
                _ => raw.push(push(chain, "event", key)),
            }
        }
        raw.push(push("n1", "digest", None));
        for (i, line) in raw.into_iter().enumerate() {
            lines.push(StoredLine {
                location: Location {
                    source: format!("seg-{}.log", i / 16),
                    offset: Some(u64::try_from(i % 16).unwrap() * 1000),
                },
                line,
            });
        }
        lines
    }

    /// A small deterministic generator (no seed file, same cases every run).
    struct Lcg(u64);

    impl Lcg {
        fn below(&mut self, n: usize) -> usize {
            self.0 = self
                .0
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            usize::try_from(self.0 >> 33).unwrap() % n.max(1)
        }
    }

    /// One random change of the kind tampering (or damage) makes.
    fn tamper(lines: &mut Vec<StoredLine>, rng: &mut Lcg) {
        let n = lines.len();
        if n == 0 {
            return;
        }
        let i = rng.below(n);
        match rng.below(10) {
            0 => {
                lines.remove(i);
            }
            1 => {
                let copy = lines[i].clone();
                lines.insert(rng.below(n + 1), copy);
            }
            2 => lines.swap(i, rng.below(n)),
            3 => lines[i].line = lines[i].line.replacen("Encrypt", "Decrypt", 1),
            4 => {
                // Changed and re-hashed: its own hash holds, its successor's link breaks.
                if let Some((_, body)) = lines[i].line.split_once(' ') {
                    let body = body.replacen("us-east-1", "us-west-2", 1);
                    lines[i].line =
                        format!("{} {body}", hex::encode(crate::sha256(body.as_bytes())));
                }
            }
            5 => lines[i].line = "not an entry".into(),
            6 => lines[i].line = format!("{} {{\"v\":1", "ab".repeat(32)),
            7 => lines.truncate(i),
            // A digest claiming more than the chain holds.
            8 => lines[i].line = lines[i].line.replacen("\"endSeq\":", "\"endSeq\":9", 1),
            _ => {
                let moved = lines.remove(i);
                let to = rng.below(lines.len() + 1);
                lines.insert(to, moved);
            }
        }
    }

    fn same(lines: &[StoredLine], anchors: &[Anchor], key_of: KeyOf) {
        let want = reference::verify_anchored(lines, anchors, key_of);
        let got = verify_anchored(lines, anchors, key_of);
        assert_eq!(format!("{got:?}"), format!("{want:?}"));
        let streamed = verify_stream(lines.iter().cloned().map(Ok), anchors, key_of).unwrap();
        assert_eq!(format!("{streamed:?}"), format!("{want:?}"));
    }

    #[test]
    fn taken_one_line_at_a_time_it_reports_what_the_whole_trail_did() {
        let (signer, _) = Signer::generate().unwrap();
        let key = signer.public_key();
        let lines = trail(&signer);
        let report = verify(&lines, &key);
        assert!(report.ok(), "{:?}", report.problems);
        assert_eq!(report.chains, ["n1", "n2"]);
        // The intent without an outcome, and the one whose key differs in case only.
        assert_eq!(report.unfinished.len(), 2, "{:?}", report.unfinished);
        let only_n1 = |c: &str| (c == "n1").then_some(key);
        // An anchor of n1 (verified from it) and one of a chain archived whole.
        let n1_at = |seq: u64| {
            let line = lines
                .iter()
                .find(|l| {
                    parse_line(&l.line)
                        .body
                        .is_some_and(|b| b.chain == "n1" && b.seq == seq)
                })
                .unwrap();
            hex::encode(parse_line(&line.line).stored_hash.unwrap())
        };
        let (digest_seq, digest_signature) = lines
            .iter()
            .filter_map(|l| parse_line(&l.line).body)
            .filter(|b| b.chain == "n1" && b.seq <= 9)
            .filter_map(|b| b.digest.map(|d| (b.seq, Some(d.signature))))
            .next_back()
            .unwrap();
        let mut anchor = Anchor {
            chain: "n1".into(),
            seq: 9,
            hash: n1_at(9),
            digest_seq,
            digest_signature,
            public_key_fingerprint: String::new(),
            anchor_time: "2025-01-01T00:00:00Z".into(),
            signature: String::new(),
        };
        anchor.sign(&signer);
        let mut whole = anchor.clone();
        whole.chain = "n0".into();
        whole.sign(&signer);
        let mut forged = anchor.clone();
        forged.seq = 10;
        let after_anchor: Vec<StoredLine> = lines
            .iter()
            .filter(|l| {
                parse_line(&l.line)
                    .body
                    .is_none_or(|b| b.chain != "n1" || b.seq > 9)
            })
            .cloned()
            .collect();
        let anchored = verify_anchored(&after_anchor, std::slice::from_ref(&anchor), |_| Some(key));
        assert!(anchored.ok(), "{:?}", anchored.problems);
        assert_eq!(anchored.summaries[0].anchored_at, 9);
        let anchor_sets: [&[Anchor]; 4] = [&[], &[anchor.clone()], &[anchor, whole], &[forged]];
        let keys: [KeyOf; 2] = [&|_| Some(key), &only_n1];
        let mut rng = Lcg(7);
        for round in 0..400 {
            let base = if round % 2 == 0 {
                &lines
            } else {
                &after_anchor
            };
            let mut tampered = base.clone();
            for _ in 0..=(round % 3) {
                if round >= 8 {
                    tamper(&mut tampered, &mut rng);
                }
            }
            for anchors in anchor_sets {
                for key_of in keys {
                    same(&tampered, anchors, key_of);
                }
            }
        }
    }

    #[test]
    fn a_line_that_cannot_be_read_fails_the_verification() {
        let (signer, _) = Signer::generate().unwrap();
        let lines = trail(&signer);
        let key = signer.public_key();
        let read = lines
            .into_iter()
            .take(5)
            .map(Ok)
            .chain([Err(AuditError::Io("unreadable".into()))]);
        let e = verify_stream(read, &[], |_| Some(key)).unwrap_err();
        assert!(e.to_string().contains("unreadable"), "{e}");
    }
}
