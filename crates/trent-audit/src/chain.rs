//! The hash chain: how an entry is framed, hashed and linked to the one before it.
//!
//! An entry is one line: `HASH BODY\n`, where BODY is the canonical JSON of the entry
//! (fixed member order, produced only by [`event_body`] / [`digest_body`]) and HASH is the
//! lower-case hex SHA-256 of BODY's bytes. BODY names its chain (one per node, so that
//! several nodes can share one database), its sequence number (1, 2, ... without gaps)
//! and the hash of the entry before it (`prev`; 64 zeros for the first). Changing,
//! removing, inserting or reordering entries therefore breaks a hash or a link, and the
//! signed digests (see [`crate::signing`]) pin the chain's end so that truncation shows.

use serde::Deserialize;
use serde_json::Value;

pub const GENESIS: [u8; 32] = [0; 32];
pub const FORMAT_VERSION: u32 = 1;

pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes);
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

/// One entry ready to store: its place in the chain and its framed line.
#[derive(Debug, Clone)]
pub struct SealedEntry {
    pub chain: String,
    pub seq: u64,
    pub hash: [u8; 32],
    /// `HASH BODY` without the newline.
    pub line: String,
    /// For an event: its `eventTime` in Unix seconds (a database store indexes it, for
    /// `LookupEvents`); `None` for a digest.
    pub event_time: Option<i64>,
}

/// The canonical body of an event entry. `record_json` is the record serialized with
/// `serde_json` (done by the request's task, so the writer only frames and hashes).
pub fn event_body(chain: &str, seq: u64, prev: &[u8; 32], record_json: &str) -> String {
    let chain = Value::String(chain.to_owned());
    format!(
        "{{\"v\":{FORMAT_VERSION},\"chain\":{chain},\"seq\":{seq},\"prev\":\"{}\",\"kind\":\"event\",\"record\":{record_json}}}",
        hex::encode(prev)
    )
}

/// The canonical body of an intent entry (write-ahead): the record of a change about to
/// be made, written before it is made. Its outcome follows as an event entry naming the
/// same request (see [`crate::pending_key`]).
pub fn intent_body(chain: &str, seq: u64, prev: &[u8; 32], record_json: &str) -> String {
    let chain = Value::String(chain.to_owned());
    format!(
        "{{\"v\":{FORMAT_VERSION},\"chain\":{chain},\"seq\":{seq},\"prev\":\"{}\",\"kind\":\"intent\",\"record\":{record_json}}}",
        hex::encode(prev)
    )
}

pub fn digest_body(chain: &str, seq: u64, prev: &[u8; 32], digest_json: &str) -> String {
    let chain = Value::String(chain.to_owned());
    format!(
        "{{\"v\":{FORMAT_VERSION},\"chain\":{chain},\"seq\":{seq},\"prev\":\"{}\",\"kind\":\"digest\",\"digest\":{digest_json}}}",
        hex::encode(prev)
    )
}

pub fn seal(chain: &str, seq: u64, body: String) -> SealedEntry {
    let hash = sha256(body.as_bytes());
    let mut line = String::with_capacity(65 + body.len());
    line.push_str(&hex::encode(hash));
    line.push(' ');
    line.push_str(&body);
    SealedEntry {
        chain: chain.to_owned(),
        seq,
        hash,
        line,
        event_time: None,
    }
}

/// The parsed body of an entry.
#[derive(Debug, Clone, Deserialize)]
pub struct EntryBody {
    pub v: u32,
    pub chain: String,
    pub seq: u64,
    pub prev: String,
    pub kind: String,
    /// Kept as JSON: a record this version cannot read does not hide its entry.
    #[serde(default)]
    pub record: Option<Value>,
    #[serde(default)]
    pub digest: Option<crate::signing::Digest>,
}

/// A line as read back: its stored hash, whether the hash matches the body, the body.
#[derive(Debug, Clone)]
pub struct ParsedLine {
    pub stored_hash: Option<[u8; 32]>,
    pub computed_hash: [u8; 32],
    pub body: Option<EntryBody>,
}

impl ParsedLine {
    pub fn hash_ok(&self) -> bool {
        self.stored_hash == Some(self.computed_hash)
    }
}

pub fn parse_line(line: &str) -> ParsedLine {
    let (hash_text, body_text) = line.split_once(' ').unwrap_or(("", line));
    let stored_hash = hex::decode(hash_text)
        .ok()
        .and_then(|v| <[u8; 32]>::try_from(v).ok());
    ParsedLine {
        stored_hash,
        computed_hash: sha256(body_text.as_bytes()),
        body: serde_json::from_str(body_text).ok(),
    }
}

impl EntryBody {
    /// The record of an event entry (an outcome); `None` for intents and digests.
    pub fn record(&self) -> Option<crate::Record> {
        if self.kind != "event" {
            return None;
        }
        self.record
            .as_ref()
            .and_then(|r| serde_json::from_value(r.clone()).ok())
    }

    /// The record of an intent entry (a change about to be made).
    pub fn intent(&self) -> Option<crate::Record> {
        if self.kind != "intent" {
            return None;
        }
        self.record
            .as_ref()
            .and_then(|r| serde_json::from_value(r.clone()).ok())
    }
}

pub fn decode_hash(text: &str) -> Option<[u8; 32]> {
    hex::decode(text)
        .ok()
        .and_then(|v| <[u8; 32]>::try_from(v).ok())
}
