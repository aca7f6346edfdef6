//! Verification of a stored chain: every hash, every link, the sequence, every digest.
//!
//! The report says what happened and where, in terms an auditor can check by hand:
//! *changed* (an entry's content no longer matches its hash, or an entry's successor does
//! not link to it), *deleted* (sequence numbers missing), *inserted* (a sequence number
//! present twice, or an entry not linked into the chain), *reordered* (entries in another
//! order than their sequence numbers), and digests whose signature, range or hash does
//! not hold. Entries after the last digest are reported as not yet covered (a warning,
//! not a failure: the next digest will cover them).

use std::collections::{BTreeMap, HashMap};

use crate::anchor::Anchor;
use crate::chain::{decode_hash, parse_line, GENESIS};
use crate::signing::verify_digest;
use crate::store::{Location, StoredLine};

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

struct Item {
    at: Location,
    seq: u64,
    prev: Option<[u8; 32]>,
    hash: [u8; 32],
    hash_ok: bool,
    digest: Option<crate::signing::Digest>,
}

/// Verifies everything read from a store, with the audit signing public key.
pub fn verify(lines: &[StoredLine], public_key: &[u8; 32]) -> Report {
    verify_chains(lines, |_| Some(*public_key))
}

/// Verifies everything read from a store holding several nodes' chains, each chain's
/// digests with its own node's public key (`key_of(chain)`; `None`: none published).
pub fn verify_chains(lines: &[StoredLine], key_of: impl Fn(&str) -> Option<[u8; 32]>) -> Report {
    verify_anchored(lines, &[], key_of)
}

/// [`verify_chains`] of chains whose beginning was archived: a chain with an anchor (whose
/// signature holds with the chain's key) is proved continuous from it instead of from its
/// genesis.
pub fn verify_anchored(
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
    let mut previous_signature: Option<String> = anchor.and_then(|a| a.digest_signature.clone());
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
            Some(_) => details.push(format!("the hash of seq {} does not match", d.end_seq)),
            // The anchor's entry, archived: the anchor vouches for its hash.
            None if anchor.is_some_and(|a| a.seq == d.end_seq && a.hash == d.last_hash) => {}
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
