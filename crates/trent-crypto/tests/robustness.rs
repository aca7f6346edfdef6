//! Property-based robustness of the ciphertext blob and the encryption-context encoding:
//! the stable-toolchain stand-in for fuzz targets. A `CiphertextBlob` is whatever a
//! client sends, so:
//!
//! - `parse_blob` never panics, and accepts exactly the structurally valid blobs;
//! - any change to a real blob (bit flips, truncation, extension, splicing, insertion,
//!   deletion) fails to parse or fails to decrypt, always with `InvalidCiphertext`;
//! - `canonical_encryption_context` is injective (it decodes back to its map) and does
//!   not depend on the order the pairs come in, so a context cannot be swapped for
//!   another that encodes alike.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, HashMap};
use std::sync::LazyLock;

use proptest::prelude::*;
use proptest::sample::Index;
use trent_crypto::{
    canonical_encryption_context, parse_blob, BlobHeader, CryptoError, SymmetricKey,
    BLOB_HEADER_LEN, BLOB_OVERHEAD, BLOB_SALT_LEN, BLOB_V1_OVERHEAD, BLOB_VERSION,
    BLOB_VERSION_EXTERNAL, BLOB_VERSION_TOKEN, BLOB_VERSION_V1, NONCE_LEN,
};

/// The minimum length of a blob of this version byte; `None` for an unknown version.
fn overhead(version: u8) -> Option<usize> {
    match version {
        BLOB_VERSION => Some(BLOB_OVERHEAD),
        // A token key's blob (GCM in the token): the version-1 layout.
        BLOB_VERSION_V1 | BLOB_VERSION_TOKEN | BLOB_VERSION_EXTERNAL => Some(BLOB_V1_OVERHEAD),
        _ => None,
    }
}

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        max_shrink_iters: 4096,
        ..ProptestConfig::default()
    }
}

/// One real key for the whole run (generation is not what is under test).
static KEY: LazyLock<SymmetricKey> = LazyLock::new(|| SymmetricKey::generate().unwrap().0);
/// Another key, for blobs that must not decrypt under [`KEY`].
static OTHER_KEY: LazyLock<SymmetricKey> = LazyLock::new(|| SymmetricKey::generate().unwrap().0);

fn header() -> impl Strategy<Value = BlobHeader> {
    (any::<[u8; 16]>(), any::<[u8; 32]>()).prop_map(|(key_id, material_id)| BlobHeader {
        key_id,
        material_id,
    })
}

/// Context strings from a tiny alphabet (so that maps collide and nearly collide), with
/// bytes that look like the encoding's own length prefixes, or anything at all.
fn context_string() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => "[ab\u{0}\u{1}\u{4}]{0,4}",
        1 => prop::collection::vec(any::<char>(), 0..12).prop_map(String::from_iter),
    ]
}

fn context_map() -> impl Strategy<Value = BTreeMap<String, String>> {
    prop::collection::btree_map(context_string(), context_string(), 0..5)
}

fn encode(map: &BTreeMap<String, String>) -> Vec<u8> {
    canonical_encryption_context(map.iter().map(|(k, v)| (k.as_str(), v.as_str())))
}

/// A real blob: random header, context and plaintext, encrypted under [`KEY`].
#[derive(Debug, Clone)]
struct Sealed {
    blob: Vec<u8>,
    context: Vec<u8>,
    plaintext: Vec<u8>,
}

fn sealed() -> impl Strategy<Value = Sealed> {
    (
        header(),
        context_map(),
        prop::collection::vec(any::<u8>(), 0..96),
    )
        .prop_map(|(header, map, plaintext)| {
            let context = encode(&map);
            let blob = KEY.encrypt(&header, &context, &plaintext).unwrap();
            Sealed {
                blob,
                context,
                plaintext,
            }
        })
}

/// One way of damaging a blob; positions are resolved against the blob's length.
#[derive(Debug, Clone)]
enum Mutation {
    /// XOR one byte with a non-zero mask.
    Flip(Index, u8),
    /// Several flips at once.
    Flips(Vec<(Index, u8)>),
    /// Keep a prefix.
    Truncate(Index),
    /// Drop a prefix.
    DropFront(Index),
    /// Append bytes.
    Extend(Vec<u8>),
    /// Insert bytes somewhere.
    Insert(Index, Vec<u8>),
    /// Remove a range.
    Delete(Index, Index),
    /// Replace a range with other bytes.
    Replace(Index, Index, Vec<u8>),
    /// The first part of this blob, then the rest of another real blob (the donor).
    Splice(Index, Index, Sealed),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let bytes = || prop::collection::vec(any::<u8>(), 1..24);
    let mask = || 1u8..=255;
    prop_oneof![
        3 => (any::<Index>(), mask()).prop_map(|(i, m)| Mutation::Flip(i, m)),
        1 => prop::collection::vec((any::<Index>(), mask()), 2..6).prop_map(Mutation::Flips),
        2 => any::<Index>().prop_map(Mutation::Truncate),
        1 => any::<Index>().prop_map(Mutation::DropFront),
        2 => bytes().prop_map(Mutation::Extend),
        1 => (any::<Index>(), bytes()).prop_map(|(i, b)| Mutation::Insert(i, b)),
        1 => (any::<Index>(), any::<Index>()).prop_map(|(a, b)| Mutation::Delete(a, b)),
        1 => (any::<Index>(), any::<Index>(), bytes())
            .prop_map(|(a, b, r)| Mutation::Replace(a, b, r)),
        2 => (any::<Index>(), any::<Index>(), sealed())
            .prop_map(|(a, b, donor)| Mutation::Splice(a, b, donor)),
    ]
}

/// `[lo, hi)` within `len`, from two indices.
fn range(a: &Index, b: &Index, len: usize) -> (usize, usize) {
    let (x, y) = (a.index(len + 1), b.index(len + 1));
    (x.min(y), x.max(y))
}

fn apply(blob: &[u8], m: &Mutation) -> Vec<u8> {
    let mut out = blob.to_vec();
    match m {
        Mutation::Flip(i, mask) => {
            let at = i.index(out.len());
            out[at] ^= mask;
        }
        Mutation::Flips(flips) => {
            for (i, mask) in flips {
                let at = i.index(out.len());
                out[at] ^= mask;
            }
        }
        Mutation::Truncate(i) => {
            let len = i.index(out.len());
            out.truncate(len);
        }
        Mutation::DropFront(i) => {
            let end = i.index(out.len());
            out.drain(..=end);
        }
        Mutation::Extend(extra) => out.extend_from_slice(extra),
        Mutation::Insert(i, extra) => {
            let at = i.index(out.len() + 1);
            out.splice(at..at, extra.iter().copied());
        }
        Mutation::Delete(a, b) => {
            let (lo, hi) = range(a, b, out.len());
            out.drain(lo..hi);
        }
        Mutation::Replace(a, b, r) => {
            let (lo, hi) = range(a, b, out.len());
            out.splice(lo..hi, r.iter().copied());
        }
        Mutation::Splice(a, b, donor) => {
            let keep = a.index(out.len() + 1);
            out.truncate(keep);
            out.extend_from_slice(&donor.blob[b.index(donor.blob.len() + 1)..]);
        }
    }
    out
}

/// Parse then decrypt under [`KEY`].
fn open(blob: &[u8], context: &[u8]) -> Result<Vec<u8>, CryptoError> {
    let parsed = parse_blob(blob)?;
    KEY.decrypt(&parsed, context).map(|pt| pt.expose().to_vec())
}

/// A reference decoder of the canonical encoding; `None` if the bytes are not one.
fn decode_context(mut bytes: &[u8]) -> Option<Vec<(Vec<u8>, Vec<u8>)>> {
    fn take<'a>(bytes: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
        if bytes.len() < n {
            return None;
        }
        let (head, rest) = bytes.split_at(n);
        *bytes = rest;
        Some(head)
    }
    fn length(bytes: &mut &[u8]) -> Option<usize> {
        let b: [u8; 4] = take(bytes, 4)?.try_into().ok()?;
        usize::try_from(u32::from_be_bytes(b)).ok()
    }
    if bytes.is_empty() {
        return Some(Vec::new());
    }
    let count = length(&mut bytes)?;
    let mut pairs = Vec::new();
    for _ in 0..count {
        let k = length(&mut bytes)?;
        let key = take(&mut bytes, k)?.to_vec();
        let v = length(&mut bytes)?;
        let value = take(&mut bytes, v)?.to_vec();
        pairs.push((key, value));
    }
    bytes.is_empty().then_some(pairs)
}

proptest! {
    #![proptest_config(config(1000))]

    #[test]
    fn parse_blob_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..160)) {
        match parse_blob(&bytes) {
            Ok(parsed) => {
                prop_assert_eq!(bytes[0], parsed.version());
                let overhead = overhead(bytes[0]);
                prop_assert!(overhead.is_some());
                let overhead = overhead.unwrap();
                prop_assert!(bytes.len() >= overhead);
                prop_assert_eq!(&parsed.header.to_bytes()[1..], &bytes[1..BLOB_HEADER_LEN]);
                prop_assert_eq!(parsed.plaintext_len(), bytes.len() - overhead);
                // Forged bytes that parse never authenticate.
                prop_assert!(matches!(
                    KEY.decrypt(&parsed, &[]),
                    Err(CryptoError::InvalidCiphertext)
                ));
            }
            Err(e) => {
                prop_assert!(matches!(e, CryptoError::InvalidCiphertext), "{:?}", e);
                prop_assert!(bytes.first().and_then(|v| overhead(*v)).is_none_or(|o| bytes.len() < o));
            }
        }
    }

    /// Bytes shaped like a blob (either version, length around the minimum), so that
    /// the success path of the parser and the AEAD's refusal are both reached.
    #[test]
    fn blob_shaped_bytes_never_authenticate(
        version in prop_oneof![3 => Just(BLOB_VERSION), 2 => Just(BLOB_VERSION_V1), 1 => any::<u8>()],
        rest in prop::collection::vec(any::<u8>(), BLOB_V1_OVERHEAD - 3..BLOB_OVERHEAD + 40),
        context in context_map(),
    ) {
        let mut bytes = vec![version];
        bytes.extend_from_slice(&rest);
        let result = open(&bytes, &encode(&context));
        prop_assert!(matches!(result, Err(CryptoError::InvalidCiphertext)), "{:?}", result);
    }

    #[test]
    fn mutated_blobs_never_decrypt(s in sealed(), m in mutation()) {
        // The untouched blob does decrypt: the property is not vacuous.
        prop_assert_eq!(open(&s.blob, &s.context).unwrap(), s.plaintext.clone());
        let mutated = apply(&s.blob, &m);
        let result = open(&mutated, &s.context);
        let whole_donor = match &m {
            Mutation::Splice(_, _, donor) if mutated == donor.blob => Some(donor),
            _ => None,
        };
        if mutated == s.blob {
            prop_assert_eq!(result.unwrap(), s.plaintext);
        } else if let Some(donor) = whole_donor {
            // The splice kept none of this blob: it is the donor, another genuine blob,
            // which decrypts under its own context only.
            prop_assert_eq!(
                result.ok(),
                (donor.context == s.context).then(|| donor.plaintext.clone())
            );
        } else {
            prop_assert!(
                matches!(result, Err(CryptoError::InvalidCiphertext)),
                "mutation {:?} gave {:?}",
                m,
                result.map(|pt| pt.len())
            );
        }
    }

    #[test]
    fn blobs_do_not_decrypt_under_another_context_or_key(
        s in sealed(),
        other in context_map(),
    ) {
        let other = encode(&other);
        if other != s.context {
            prop_assert!(matches!(open(&s.blob, &other), Err(CryptoError::InvalidCiphertext)));
        }
        let parsed = parse_blob(&s.blob).unwrap();
        prop_assert!(matches!(
            OTHER_KEY.decrypt(&parsed, &s.context),
            Err(CryptoError::InvalidCiphertext)
        ));
    }

    #[test]
    fn the_nonce_is_fresh(h in header(), plaintext in prop::collection::vec(any::<u8>(), 0..32)) {
        let a = KEY.encrypt(&h, &[], &plaintext).unwrap();
        let b = KEY.encrypt(&h, &[], &plaintext).unwrap();
        let salt = BLOB_HEADER_LEN..BLOB_HEADER_LEN + BLOB_SALT_LEN;
        let nonce = salt.end..salt.end + NONCE_LEN;
        prop_assert_ne!(&a[salt.clone()], &b[salt]);
        prop_assert_ne!(&a[nonce.clone()], &b[nonce]);
    }

    #[test]
    fn context_encoding_decodes_back_to_its_map(map in context_map()) {
        let encoded = encode(&map);
        let pairs = decode_context(&encoded);
        prop_assert!(pairs.is_some(), "not a canonical encoding: {:?}", encoded);
        let expected: Vec<(Vec<u8>, Vec<u8>)> = map
            .iter()
            .map(|(k, v)| (k.as_bytes().to_vec(), v.as_bytes().to_vec()))
            .collect();
        // Sorted by key bytes, as `BTreeMap<String, _>` iterates.
        prop_assert_eq!(pairs.unwrap(), expected);
    }

    #[test]
    fn context_encoding_is_injective(a in context_map(), b in context_map()) {
        prop_assert_eq!(a == b, encode(&a) == encode(&b), "{:?} / {:?}", a, b);
    }

    /// Near collisions: one character moved between a key and its value, or between
    /// two neighbouring pairs, is a different context.
    #[test]
    fn context_encoding_separates_near_misses(
        map in prop::collection::btree_map(context_string(), context_string(), 1..5),
        pick in any::<Index>(),
        way in 0u8..3,
    ) {
        let pairs: Vec<(String, String)> = map.clone().into_iter().collect();
        let i = pick.index(pairs.len());
        let mut moved = pairs.clone();
        let (k, v) = &mut moved[i];
        match way {
            0 => {
                // Last character of the key to the front of the value.
                if let Some(c) = k.pop() {
                    v.insert(0, c);
                }
            }
            1 => {
                // First character of the value to the end of the key.
                if !v.is_empty() {
                    let c = v.remove(0);
                    k.push(c);
                }
            }
            _ => {
                // Merge with the next pair.
                if i + 1 < moved.len() {
                    let (nk, nv) = moved.remove(i + 1);
                    moved[i].1.push_str(&nk);
                    moved[i].1.push_str(&nv);
                }
            }
        }
        let other: BTreeMap<String, String> = moved.into_iter().collect();
        prop_assert_eq!(map == other, encode(&map) == encode(&other), "{:?} / {:?}", map, other);
    }

    #[test]
    fn context_encoding_ignores_order(map in context_map(), seed in any::<u64>()) {
        let sorted: Vec<(&str, &str)> = map.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let expected = canonical_encryption_context(sorted.iter().copied());
        // Reversed, rotated, and a `HashMap`'s arbitrary order.
        let reversed: Vec<(&str, &str)> = sorted.iter().rev().copied().collect();
        prop_assert_eq!(&canonical_encryption_context(reversed), &expected);
        let mut rotated = sorted.clone();
        if !rotated.is_empty() {
            let by = usize::try_from(seed % rotated.len() as u64).unwrap();
            rotated.rotate_left(by);
        }
        prop_assert_eq!(&canonical_encryption_context(rotated), &expected);
        let hashed: HashMap<&str, &str> = sorted.iter().copied().collect();
        prop_assert_eq!(&canonical_encryption_context(hashed), &expected);
    }

    #[test]
    fn context_encoding_ignores_any_permutation(
        pairs in context_map()
            .prop_map(|m| m.into_iter().collect::<Vec<_>>())
            .prop_shuffle(),
    ) {
        let map: BTreeMap<String, String> = pairs.iter().cloned().collect();
        prop_assert_eq!(
            canonical_encryption_context(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str()))),
            encode(&map)
        );
    }
}
