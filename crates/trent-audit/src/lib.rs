//! The audit trail: every call to Trent recorded in CloudTrail's record format, in an
//! append-only, hash-chained, group-committed log with signed digests.
//!
//! What it is for: [`Record`] is one CloudTrail event ([`Record::api_call`] for requests,
//! [`Record::service_event`] for what KMS does by itself); [`redact`] decides, from AWS's
//! service model, which request and response members a record may carry; [`AuditLog`]
//! makes a record durable (one fsync per batch) before its request may answer;
//! [`AuditStore`] is where the chain lives ([`FileStore`]: segment files); [`verify()`]
//! checks a stored chain and its [`signing`] digests and says exactly what was changed,
//! deleted, inserted or reordered (reading it as it goes: [`verify_dir`], [`Verifier`]);
//! [`export()`] and [`lookup`] read it back.
//!
//! What it must never do: record a plaintext, a ciphertext blob, a data key, a private
//! key, a signature, a MAC, a message or a credential (redaction works from the model,
//! so unknown members are dropped, not logged); let a request answer before its event is
//! durable; rewrite or delete an acknowledged entry; write the signing key unsealed.

pub mod anchor;
mod chain;
pub mod export;
mod fields;
pub mod lookup;
mod pg;
mod record;
pub mod redact;
pub mod signing;
mod store;
pub mod verify;
mod writer;

pub use anchor::Anchor;
pub use chain::{parse_line, sha256, EntryBody, ParsedLine, SealedEntry};
pub use export::export;
pub use pg::{PgAuditStore, PgChain};
pub use record::{
    event_time, parse_event_time, random_uuid, unique_id, Actor, ApiCall, Record, Resource,
    SessionAttributes, SessionContext, SessionIssuer, TlsDetails, UserIdentity,
    CLOUDTRAIL_EVENT_SOURCE, EVENT_VERSION, KMS_EVENT_SOURCE, KMS_KEY_TYPE,
    MAX_ERROR_MESSAGE_CHARS, MAX_MEMBER_BYTES, MAX_RECORD_BYTES, MAX_RESOURCES, MAX_STRING_CHARS,
    MAX_USER_AGENT_CHARS, TRUNCATED_FIELDS,
};
pub use signing::{public_key_pem, Signer};
pub use store::{
    compress_segment, compressed_path, decompress_segment, dir_lines, read_dir_lines, read_segment,
    sanitize, tail_of, AuditStore, DirLines, EventKey, FileStore, Location, StoredLine, Tail,
    COMPRESSED_SUFFIX,
};
pub use verify::{
    verify, verify_anchored, verify_chains, verify_dir, verify_stream, ChainSummary, Problem,
    Report, Verifier,
};
pub use writer::{AuditLog, DigestPolicy};

#[derive(Debug, Clone, thiserror::Error)]
pub enum AuditError {
    #[error("audit log I/O: {0}")]
    Io(String),
    #[error("the audit log stopped accepting entries after a write it could not roll back")]
    Poisoned,
    #[error("the audit writer is not running")]
    Closed,
    #[error("cannot encode an audit record")]
    Encode,
    #[error("invalid audit signing key")]
    Key,
    /// Another live node writes this chain (it holds the chain's lock in the database).
    #[error("audit chain {0:?} is being written by another live node: give every node its own --audit-chain-id")]
    ChainInUse(String),
    /// The chain was started by a node with another signing key (another data directory).
    #[error("audit chain {0:?} in the database belongs to another node (its digests are signed by another audit signing key): give this node its own --audit-chain-id")]
    ChainOwner(String),
    /// The audit database failed or is unreachable.
    #[error("audit database: {0}")]
    Database(String),
}

impl From<std::io::Error> for AuditError {
    fn from(e: std::io::Error) -> Self {
        AuditError::Io(e.to_string())
    }
}

/// The `errorCode` an intent without an outcome is shown with (export, LookupEvents): the
/// process stopped after recording the intent and before recording the outcome, so the
/// change it names may or may not have been made.
pub const OUTCOME_UNKNOWN: &str = "OutcomeUnknown";
const OUTCOME_UNKNOWN_MESSAGE: &str = "The outcome of this request was not recorded: the server stopped after recording its intent (write-ahead) and before its outcome. The change it names may have been made.";

/// What ties an intent to its outcome: the request id of a request, the `sharedEventID` of
/// a service event.
pub fn pending_key(r: &Record) -> Option<&str> {
    r.request_id.as_deref().or(r.shared_event_id.as_deref())
}

/// An intent whose outcome is not in the trail, as it is shown: marked with
/// [`OUTCOME_UNKNOWN`].
pub fn unfinished(mut r: Record) -> Record {
    r.error_code = Some(OUTCOME_UNKNOWN.to_owned());
    r.error_message = Some(OUTCOME_UNKNOWN_MESSAGE.to_owned());
    r
}

/// Every record of stored lines, in chain order per line, with its sequence number
/// (digests and unreadable lines skipped): every outcome, and every intent whose outcome
/// is missing (see [`unfinished`]).
pub fn records(lines: &[StoredLine]) -> Vec<(u64, Record)> {
    records_with_chain(lines)
        .into_iter()
        .map(|(_, seq, r)| (seq, r))
        .collect()
}

/// As [`records`], with each record's chain.
pub fn records_with_chain(lines: &[StoredLine]) -> Vec<(String, u64, Record)> {
    let mut out = Vec::new();
    let mut intents = Vec::new();
    let mut outcomes = std::collections::HashSet::new();
    for (i, l) in lines.iter().enumerate() {
        let Some(body) = parse_line(&l.line).body else {
            continue;
        };
        if let Some(record) = body.record() {
            if let Some(k) = pending_key(&record) {
                outcomes.insert((body.chain.clone(), k.to_owned()));
            }
            out.push((i, (body.chain, body.seq, record)));
        } else if let Some(record) = body.intent() {
            intents.push((i, (body.chain, body.seq, record)));
        }
    }
    // An outcome is written by the node that wrote its intent, in the same chain.
    for (at, (chain, seq, record)) in intents {
        let done =
            pending_key(&record).is_some_and(|k| outcomes.contains(&(chain.clone(), k.to_owned())));
        if !done {
            out.push((at, (chain, seq, unfinished(record))));
        }
    }
    out.sort_by_key(|(at, _)| *at);
    out.into_iter().map(|(_, r)| r).collect()
}
