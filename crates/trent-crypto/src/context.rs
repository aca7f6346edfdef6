//! The canonical encoding of a KMS encryption context, bound into a blob's AAD.
//!
//! AWS KMS binds the
//! [encryption context](https://docs.aws.amazon.com/kms/latest/developerguide/encrypt_context.html)
//! to the ciphertext as additional authenticated data: decryption succeeds only
//! with the exact same set of pairs, in any order. The encoding must therefore
//! be order-independent and unambiguous (`{"a":"bc"}` ≠ `{"ab":"c"}`), hence
//! sorted pairs with length prefixes.

/// The unambiguous encoding of an encryption context: pairs sorted by key bytes;
/// u32 BE count, then for each pair u32 BE key length ‖ key ‖ u32 BE value
/// length ‖ value. An empty/absent context encodes as the empty byte string (so
/// no-context blobs have AAD = header).
///
/// An encryption context is a map, so keys are unique; should duplicate keys be
/// passed anyway, pairs are ordered by key then value so the encoding stays
/// deterministic. Lengths are u32: KMS bounds a request body to a few KiB, far
/// below 4 GiB (larger lengths would saturate, which no request can reach).
pub fn canonical_encryption_context<'a>(
    pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Vec<u8> {
    let mut pairs: Vec<(&str, &str)> = pairs.into_iter().collect();
    if pairs.is_empty() {
        return Vec::new();
    }
    // `str` ordering is byte-wise lexicographic ordering of the UTF-8 encoding.
    pairs.sort_unstable();
    let total = 4 + pairs
        .iter()
        .map(|(k, v)| 8 + k.len() + v.len())
        .sum::<usize>();
    let mut out = Vec::with_capacity(total);
    out.extend_from_slice(&len_u32(pairs.len()).to_be_bytes());
    for (k, v) in pairs {
        out.extend_from_slice(&len_u32(k.len()).to_be_bytes());
        out.extend_from_slice(k.as_bytes());
        out.extend_from_slice(&len_u32(v.len()).to_be_bytes());
        out.extend_from_slice(v.as_bytes());
    }
    out
}

fn len_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_is_empty() {
        assert!(canonical_encryption_context([]).is_empty());
        assert!(canonical_encryption_context(Vec::<(&str, &str)>::new()).is_empty());
    }

    #[test]
    fn exact_encoding() {
        let got = canonical_encryption_context([("b", "2"), ("a", "xy")]);
        let expected: Vec<u8> = [
            &[0, 0, 0, 2][..],
            &[0, 0, 0, 1],
            b"a",
            &[0, 0, 0, 2],
            b"xy",
            &[0, 0, 0, 1],
            b"b",
            &[0, 0, 0, 1],
            b"2",
        ]
        .concat();
        assert_eq!(got, expected);
    }

    #[test]
    fn ambiguity_is_impossible() {
        assert_ne!(
            canonical_encryption_context([("a", "bc")]),
            canonical_encryption_context([("ab", "c")])
        );
        assert_ne!(
            canonical_encryption_context([("a", "b"), ("c", "d")]),
            canonical_encryption_context([("a", "b\0\0\0\x01c\0\0\0\x01d")])
        );
        assert_ne!(
            canonical_encryption_context([("", "")]),
            canonical_encryption_context([])
        );
    }

    #[test]
    fn order_does_not_matter() {
        let a = canonical_encryption_context([("x", "1"), ("y", "2"), ("é", "3"), ("Z", "4")]);
        let b = canonical_encryption_context([("é", "3"), ("Z", "4"), ("y", "2"), ("x", "1")]);
        assert_eq!(a, b);
        let map: std::collections::HashMap<String, String> = [("y", "2"), ("x", "1")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        assert_eq!(
            canonical_encryption_context(map.iter().map(|(k, v)| (k.as_str(), v.as_str()))),
            canonical_encryption_context([("x", "1"), ("y", "2")])
        );
    }

    #[test]
    fn sorted_by_key_bytes() {
        // 'Z' (0x5A) sorts before 'a' (0x61); "a" before "aa".
        let enc = canonical_encryption_context([("aa", ""), ("a", ""), ("Z", "")]);
        let keys: Vec<u8> = [enc[8], enc[17], enc[26]].to_vec();
        assert_eq!(keys, b"Zaa");
        assert_eq!(enc[26..28].to_vec(), b"aa");
    }
}
