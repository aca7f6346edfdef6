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

/// What an entry is: its `kind`, and the member its payload is under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The outcome of a call (`"record"`).
    Event,
    /// A change about to be made (write-ahead; `"record"`). Its outcome follows as an
    /// event entry naming the same request (see [`crate::pending_key`]).
    Intent,
    /// A signed digest of the entries before it (`"digest"`).
    Digest,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Event => "event",
            Kind::Intent => "intent",
            Kind::Digest => "digest",
        }
    }

    fn member(self) -> &'static str {
        match self {
            Kind::Event | Kind::Intent => "record",
            Kind::Digest => "digest",
        }
    }
}

/// Appends the canonical body of an entry to `out`: the only place its members and
/// their order are written. `payload` is JSON (a record serialized with `serde_json`
/// by the request's task, or a digest).
fn write_body(out: &mut String, chain: &str, seq: u64, prev: &[u8; 32], kind: Kind, payload: &str) {
    use std::fmt::Write as _;
    out.push_str("{\"v\":");
    let _ = write!(out, "{FORMAT_VERSION}");
    out.push_str(",\"chain\":");
    // A chain name is a JSON string (escaped as serde_json escapes it).
    out.push_str(&Value::String(chain.to_owned()).to_string());
    let _ = write!(out, ",\"seq\":{seq},\"prev\":\"");
    push_hex(out, prev);
    out.push_str("\",\"kind\":\"");
    out.push_str(kind.name());
    out.push_str("\",\"");
    out.push_str(kind.member());
    out.push_str("\":");
    out.push_str(payload);
    out.push('}');
}

/// Lower-case hex, as `hex::encode` writes it, without its allocation.
fn push_hex(out: &mut String, bytes: &[u8; 32]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
}

/// The canonical body of an entry.
#[cfg(test)]
pub fn body(chain: &str, seq: u64, prev: &[u8; 32], kind: Kind, payload: &str) -> String {
    let mut out = String::with_capacity(160 + chain.len() + payload.len());
    write_body(&mut out, chain, seq, prev, kind, payload);
    out
}

/// The canonical body of an event entry.
#[cfg(test)]
pub fn event_body(chain: &str, seq: u64, prev: &[u8; 32], record_json: &str) -> String {
    body(chain, seq, prev, Kind::Event, record_json)
}

/// The canonical body of an intent entry (write-ahead).
#[cfg(test)]
pub fn intent_body(chain: &str, seq: u64, prev: &[u8; 32], record_json: &str) -> String {
    body(chain, seq, prev, Kind::Intent, record_json)
}

#[cfg(test)]
pub fn digest_body(chain: &str, seq: u64, prev: &[u8; 32], digest_json: &str) -> String {
    body(chain, seq, prev, Kind::Digest, digest_json)
}

/// Frames a body already made into its entry: `HASH BODY` (the tests' two-step way).
#[cfg(test)]
pub fn seal(chain: &str, seq: u64, body: String) -> SealedEntry {
    let mut line = String::with_capacity(65 + body.len());
    line.push_str(ZERO_HASH_HEX);
    line.push(' ');
    line.push_str(&body);
    finish_seal(chain, seq, line)
}

/// Makes an entry in one buffer (what the writer does for every event): the body is
/// written after room for its hash, hashed, and the hash put in front.
pub fn seal_entry(
    chain: &str,
    seq: u64,
    prev: &[u8; 32],
    kind: Kind,
    payload: &str,
) -> SealedEntry {
    let mut line = String::with_capacity(225 + chain.len() + payload.len());
    line.push_str(ZERO_HASH_HEX);
    line.push(' ');
    write_body(&mut line, chain, seq, prev, kind, payload);
    finish_seal(chain, seq, line)
}

const ZERO_HASH_HEX: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// `line` is 64 placeholder digits, a space and the body: hashes the body and writes
/// its hash over the placeholder.
fn finish_seal(chain: &str, seq: u64, mut line: String) -> SealedEntry {
    let hash = sha256(&line.as_bytes()[65..]);
    let mut hex = String::with_capacity(64);
    push_hex(&mut hex, &hash);
    line.replace_range(..64, &hex);
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The one-buffer framing is the two-step one, byte for byte, for every kind; the
    /// body is the documented canonical form.
    #[test]
    fn sealed_entries_are_framed_as_documented() {
        let prev: [u8; 32] = std::array::from_fn(|i| (i * 37 + 5) as u8);
        for kind in [Kind::Event, Kind::Intent, Kind::Digest] {
            for chain in ["n1", "node \"q\" \\ é"] {
                let payload = r#"{"eventName":"Encrypt","n":[1,2]}"#;
                let fast = seal_entry(chain, 42, &prev, kind, payload);
                let slow = seal(chain, 42, body(chain, 42, &prev, kind, payload));
                assert_eq!(fast.line, slow.line);
                assert_eq!(fast.hash, slow.hash);
                let (hash, text) = fast.line.split_once(' ').unwrap();
                assert_eq!(hash, hex::encode(sha256(text.as_bytes())));
                let expected = format!(
                    "{{\"v\":1,\"chain\":{},\"seq\":42,\"prev\":\"{}\",\"kind\":\"{}\",\"{}\":{payload}}}",
                    serde_json::to_string(chain).unwrap(),
                    hex::encode(prev),
                    kind.name(),
                    kind.member(),
                );
                assert_eq!(text, expected);
                let parsed = parse_line(&fast.line);
                assert!(parsed.hash_ok());
                if kind != Kind::Digest {
                    // (This payload is no digest: only records are read back here.)
                    let entry = parsed.body.unwrap();
                    assert_eq!((entry.chain.as_str(), entry.seq), (chain, 42));
                    assert_eq!(entry.prev, hex::encode(prev));
                    assert_eq!(entry.kind, kind.name());
                }
            }
        }
    }
}
