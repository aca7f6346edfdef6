//! Property-based robustness of the request decoder: the stable-toolchain stand-in for
//! fuzz targets. A request body is attacker-controlled bytes, so for every request type
//! tested here, whatever arrives:
//!
//! - decoding never panics;
//! - it yields either a request or a `WireError` whose code is `SerializationException`
//!   or `ValidationException`, rendered as AWS renders it (`N validation error(s)
//!   detected: ...`, never serde's internal text or positions, never a blob's bytes);
//! - a request that decodes re-encodes (`Serialize`) to a body that decodes to the
//!   same request.
//!
//! The JSON strategies build objects whose keys are mostly the shape's real member
//! names (from `generated.rs`), so the decoder's typed paths and the validator are
//! reached rather than only the "unknown member" path.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::fmt::Debug;

use proptest::prelude::*;
use proptest::sample::select;
use serde_json::{Map, Number, Value};
use trent_wire::{
    CreateKeyRequest, CustomerMasterKeySpec, DataKeySpec, DecryptRequest, DryRunModifierType,
    EncryptRequest, EncryptionAlgorithmSpec, ErrorCode, GenerateDataKeyRequest, Input,
    KeyEncryptionMechanism, KeySpec, KeyUsageType, ListKeysRequest, OriginType, RecipientInfo,
    SensitiveBlob, Tag, TagResourceRequest, ViolationValue, WireError,
};

const CASES: u32 = 512;

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: CASES,
        // Shrinking stays bounded so a failure reports quickly.
        max_shrink_iters: 2048,
        ..ProptestConfig::default()
    }
}

// ---------------------------------------------------------------------------------------
// Member names, as in generated.rs (top-level members, then those of nested shapes).

const ENCRYPT_MEMBERS: &[&str] = &[
    "KeyId",
    "Plaintext",
    "EncryptionContext",
    "GrantTokens",
    "EncryptionAlgorithm",
    "DryRun",
];
const DECRYPT_MEMBERS: &[&str] = &[
    "CiphertextBlob",
    "EncryptionContext",
    "GrantTokens",
    "KeyId",
    "EncryptionAlgorithm",
    "Recipient",
    "DryRun",
    "DryRunModifiers",
    // RecipientInfo
    "KeyEncryptionAlgorithm",
    "AttestationDocument",
];
const CREATE_KEY_MEMBERS: &[&str] = &[
    "Policy",
    "Description",
    "KeyUsage",
    "CustomerMasterKeySpec",
    "KeySpec",
    "Origin",
    "CustomKeyStoreId",
    "BypassPolicyLockoutSafetyCheck",
    "Tags",
    "MultiRegion",
    "XksKeyId",
    // Tag
    "TagKey",
    "TagValue",
];
const GENERATE_DATA_KEY_MEMBERS: &[&str] = &[
    "KeyId",
    "EncryptionContext",
    "NumberOfBytes",
    "KeySpec",
    "GrantTokens",
    "Recipient",
    "DryRun",
    // RecipientInfo
    "KeyEncryptionAlgorithm",
    "AttestationDocument",
];
const LIST_KEYS_MEMBERS: &[&str] = &["Limit", "Marker"];
const TAG_RESOURCE_MEMBERS: &[&str] = &[
    "KeyId", "Tags", // Tag
    "TagKey", "TagValue",
];

// ---------------------------------------------------------------------------------------
// Strategies for JSON.

/// Any character, control characters and astral planes included (JSON escapes them).
fn any_string(max: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(any::<char>(), 0..max).prop_map(String::from_iter)
}

/// Strings a KMS body plausibly holds: enum values, base64, key ids, and strings just
/// around the length bounds of the model.
fn interesting_string() -> impl Strategy<Value = String> {
    let enums: Vec<&'static str> = [
        EncryptionAlgorithmSpec::VALUES,
        KeyUsageType::VALUES,
        CustomerMasterKeySpec::VALUES,
        KeySpec::VALUES,
        OriginType::VALUES,
        DataKeySpec::VALUES,
        KeyEncryptionMechanism::VALUES,
        DryRunModifierType::VALUES,
    ]
    .concat();
    prop_oneof![
        3 => any_string(24),
        2 => select(enums).prop_map(str::to_owned),
        2 => prop::collection::vec(any::<u8>(), 0..64).prop_map(|b| base64_std(&b)),
        // Base64 with the padding dropped, mangled, or with whitespace.
        1 => "[A-Za-z0-9+/=\\- _.]{0,24}",
        1 => Just("alias/test".to_owned()),
        1 => Just("1234abcd-12ab-34cd-56ef-1234567890ab".to_owned()),
        1 => (0usize..4).prop_map(|extra| "k".repeat(2047 + extra)),
        1 => (0usize..4).prop_map(|extra| "m".repeat(1023 + extra)),
        1 => (0usize..4).prop_map(|extra| "t".repeat(127 + extra)),
        1 => (0usize..4).prop_map(|extra| "ÿ".repeat(63 + extra)),
        1 => Just(String::new()),
    ]
}

/// Numbers at and around the model's bounds, and anything else JSON can carry.
fn interesting_number() -> impl Strategy<Value = Number> {
    prop_oneof![
        2 => (-3i64..1030).prop_map(Number::from),
        1 => select(vec![
            i64::from(i32::MAX),
            i64::from(i32::MAX) + 1,
            i64::from(i32::MIN),
            i64::from(i32::MIN) - 1,
            i64::MAX,
            i64::MIN,
        ])
        .prop_map(Number::from),
        1 => any::<i64>().prop_map(Number::from),
        1 => any::<u64>().prop_map(Number::from),
        1 => any::<f64>().prop_filter_map("finite", Number::from_f64),
    ]
}

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        1 => Just(Value::Null),
        1 => any::<bool>().prop_map(Value::Bool),
        2 => interesting_number().prop_map(Value::Number),
        4 => interesting_string().prop_map(Value::String),
    ]
}

/// An object key: mostly a real member name, sometimes a near miss or anything.
fn key(members: &'static [&'static str]) -> impl Strategy<Value = String> {
    prop_oneof![
        6 => select(members).prop_map(str::to_owned),
        1 => select(members).prop_map(|m| m.to_ascii_lowercase()),
        1 => any_string(12),
    ]
}

/// A JSON tree whose objects are keyed by `members`.
fn json_value(members: &'static [&'static str]) -> impl Strategy<Value = Value> {
    leaf().prop_recursive(4, 48, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((key(members), inner), 0..6)
                .prop_map(|pairs| Value::Object(pairs.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// A request body: mostly an object keyed by member names (duplicate keys possible, as
/// a hand-written body may have them), sometimes any JSON value.
fn json_body(members: &'static [&'static str]) -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        4 => prop::collection::vec((key(members), json_value(members)), 0..8)
            .prop_map(|pairs| object_text(&pairs)),
        1 => json_value(members).prop_map(|v| serde_json::to_vec(&v).unwrap()),
    ]
}

/// The text of an object with these members in this order, duplicates kept.
fn object_text(pairs: &[(String, Value)]) -> Vec<u8> {
    let mut out = b"{".to_vec();
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend(serde_json::to_vec(k).unwrap());
        out.push(b':');
        out.extend(serde_json::to_vec(v).unwrap());
    }
    out.push(b'}');
    out
}

/// Bytes near JSON: a body from `json_body` with a few byte-level edits.
fn mangled_json(members: &'static [&'static str]) -> impl Strategy<Value = Vec<u8>> {
    (
        json_body(members),
        prop::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..3), 1..4),
    )
        .prop_map(|(mut body, edits)| {
            for (at, byte, kind) in edits {
                let i = at.index(body.len() + 1);
                match kind {
                    0 => body.insert(i, byte),
                    1 if i < body.len() => {
                        body.remove(i);
                    }
                    _ if i < body.len() => body[i] = byte,
                    _ => body.push(byte),
                }
            }
            body
        })
}

// ---------------------------------------------------------------------------------------
// Shaped bodies: each member present or not, mostly of the JSON type it takes (so that
// the validator and the success path are reached), with contents anywhere in or out of
// the model's bounds.

/// The JSON type a member takes, as in `generated.rs`'s raw structs.
enum Kind {
    Str,
    /// A base64 blob, with the model's maximum length in bytes.
    Blob(usize),
    Int,
    Bool,
    /// A string-to-string map (the encryption context).
    Map,
    Enum(&'static [&'static str]),
    EnumList(&'static [&'static str]),
    StrList,
    Struct(&'static [(&'static str, Kind)]),
    StructList(&'static [(&'static str, Kind)]),
}

const RECIPIENT: &[(&str, Kind)] = &[
    (
        "KeyEncryptionAlgorithm",
        Kind::Enum(KeyEncryptionMechanism::VALUES),
    ),
    ("AttestationDocument", Kind::Blob(262_144)),
];
const TAG: &[(&str, Kind)] = &[("TagKey", Kind::Str), ("TagValue", Kind::Str)];

const ENCRYPT_SHAPE: &[(&str, Kind)] = &[
    ("KeyId", Kind::Str),
    ("Plaintext", Kind::Blob(4096)),
    ("EncryptionContext", Kind::Map),
    ("GrantTokens", Kind::StrList),
    (
        "EncryptionAlgorithm",
        Kind::Enum(EncryptionAlgorithmSpec::VALUES),
    ),
    ("DryRun", Kind::Bool),
];
const DECRYPT_SHAPE: &[(&str, Kind)] = &[
    ("CiphertextBlob", Kind::Blob(6144)),
    ("EncryptionContext", Kind::Map),
    ("GrantTokens", Kind::StrList),
    ("KeyId", Kind::Str),
    (
        "EncryptionAlgorithm",
        Kind::Enum(EncryptionAlgorithmSpec::VALUES),
    ),
    ("Recipient", Kind::Struct(RECIPIENT)),
    ("DryRun", Kind::Bool),
    (
        "DryRunModifiers",
        Kind::EnumList(DryRunModifierType::VALUES),
    ),
];
const CREATE_KEY_SHAPE: &[(&str, Kind)] = &[
    ("Policy", Kind::Str),
    ("Description", Kind::Str),
    ("KeyUsage", Kind::Enum(KeyUsageType::VALUES)),
    (
        "CustomerMasterKeySpec",
        Kind::Enum(CustomerMasterKeySpec::VALUES),
    ),
    ("KeySpec", Kind::Enum(KeySpec::VALUES)),
    ("Origin", Kind::Enum(OriginType::VALUES)),
    ("CustomKeyStoreId", Kind::Str),
    ("BypassPolicyLockoutSafetyCheck", Kind::Bool),
    ("Tags", Kind::StructList(TAG)),
    ("MultiRegion", Kind::Bool),
    ("XksKeyId", Kind::Str),
];
const GENERATE_DATA_KEY_SHAPE: &[(&str, Kind)] = &[
    ("KeyId", Kind::Str),
    ("EncryptionContext", Kind::Map),
    ("NumberOfBytes", Kind::Int),
    ("KeySpec", Kind::Enum(DataKeySpec::VALUES)),
    ("GrantTokens", Kind::StrList),
    ("Recipient", Kind::Struct(RECIPIENT)),
    ("DryRun", Kind::Bool),
];
const LIST_KEYS_SHAPE: &[(&str, Kind)] = &[("Limit", Kind::Int), ("Marker", Kind::Str)];
const TAG_RESOURCE_SHAPE: &[(&str, Kind)] =
    &[("KeyId", Kind::Str), ("Tags", Kind::StructList(TAG))];

/// Base64 of `n` random bytes, `n` mostly small, sometimes at the model's bound.
fn blob_text(max: usize) -> BoxedStrategy<Value> {
    let around_bound = if max <= 8192 {
        (max - 1..max + 2).boxed()
    } else {
        (0usize..64).boxed()
    };
    prop_oneof![
        4 => 0usize..64,
        1 => around_bound,
    ]
    .prop_flat_map(|n| prop::collection::vec(any::<u8>(), n))
    .prop_map(|b| Value::String(base64_std(&b)))
    .boxed()
}

/// A value for a member of this kind: of the right JSON type nine times in ten.
fn typed(kind: &'static Kind, members: &'static [&'static str]) -> BoxedStrategy<Value> {
    let right: BoxedStrategy<Value> = match kind {
        Kind::Str => interesting_string().prop_map(Value::String).boxed(),
        Kind::Blob(max) => blob_text(*max),
        Kind::Int => interesting_number().prop_map(Value::Number).boxed(),
        Kind::Bool => any::<bool>().prop_map(Value::Bool).boxed(),
        Kind::Map => prop::collection::vec((any_string(12), interesting_string()), 0..5)
            .prop_map(|pairs| {
                Value::Object(
                    pairs
                        .into_iter()
                        .map(|(k, v)| (k, Value::String(v)))
                        .collect(),
                )
            })
            .boxed(),
        Kind::Enum(values) => prop_oneof![
            4 => select(*values).prop_map(str::to_owned),
            1 => interesting_string(),
        ]
        .prop_map(Value::String)
        .boxed(),
        Kind::EnumList(values) => prop::collection::vec(
            prop_oneof![
                4 => select(*values).prop_map(str::to_owned),
                1 => interesting_string(),
            ],
            0..4,
        )
        .prop_map(|v| Value::Array(v.into_iter().map(Value::String).collect()))
        .boxed(),
        Kind::StrList => prop_oneof![
            6 => prop::collection::vec(interesting_string(), 0..4),
            1 => prop::collection::vec(interesting_string(), 10..13),
        ]
        .prop_map(|v| Value::Array(v.into_iter().map(Value::String).collect()))
        .boxed(),
        Kind::Struct(shape) => shaped(shape, members)
            .prop_map(|pairs| Value::Object(pairs.into_iter().collect()))
            .boxed(),
        Kind::StructList(shape) => prop::collection::vec(
            shaped(shape, members).prop_map(|pairs| Value::Object(pairs.into_iter().collect())),
            0..4,
        )
        .prop_map(Value::Array)
        .boxed(),
    };
    prop_oneof![
        9 => right,
        1 => json_value(members),
    ]
    .boxed()
}

/// The members of a structure: each present three times in four, plus now and then an
/// unknown one.
fn shaped(
    shape: &'static [(&'static str, Kind)],
    members: &'static [&'static str],
) -> BoxedStrategy<Vec<(String, Value)>> {
    let each: Vec<BoxedStrategy<Option<(String, Value)>>> = shape
        .iter()
        .map(|(name, kind)| {
            prop::option::weighted(
                0.75,
                typed(kind, members).prop_map(move |v| ((*name).to_owned(), v)),
            )
            .boxed()
        })
        .collect();
    (
        each,
        prop::option::weighted(0.1, (any_string(8), json_value(members))),
    )
        .prop_map(|(present, unknown)| present.into_iter().flatten().chain(unknown).collect())
        .boxed()
}

fn shaped_body(
    shape: &'static [(&'static str, Kind)],
    members: &'static [&'static str],
) -> impl Strategy<Value = Vec<u8>> {
    shaped(shape, members).prop_map(|pairs| object_text(&pairs))
}

/// Deeply nested arrays and objects, past serde_json's recursion limit.
fn nested(depth: usize, open: &str, close: &str) -> Vec<u8> {
    let mut out = Vec::new();
    for _ in 0..depth {
        out.extend_from_slice(open.as_bytes());
    }
    for _ in 0..depth {
        out.extend_from_slice(close.as_bytes());
    }
    out
}

fn base64_std(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for (i, shift) in [18u32, 12, 6, 0].into_iter().enumerate() {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> shift) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

// ---------------------------------------------------------------------------------------
// The properties.

/// Members whose values are blobs: AWS never prints them in a violation.
const BLOB_MEMBERS: &[&str] = &["plaintext", "ciphertextBlob", "attestationDocument"];

/// What every refusal must look like.
fn check_error(e: &WireError) -> Result<(), TestCaseError> {
    match e {
        WireError::Serialization(message) => {
            prop_assert_eq!(e.code(), ErrorCode::SerializationException);
            prop_assert_eq!(&e.message(), message);
            // Neither the decoder's private tag nor serde's position suffix leaks.
            prop_assert!(!message.contains('\u{1}'), "{:?}", message);
            prop_assert!(!message.contains(" at line "), "{:?}", message);
        }
        WireError::Validation(errors) => {
            prop_assert_eq!(e.code(), ErrorCode::ValidationException);
            let n = errors.len();
            prop_assert!(n >= 1, "a validation error without violations");
            let prefix = if n == 1 {
                "1 validation error detected: ".to_owned()
            } else {
                format!("{n} validation errors detected: ")
            };
            let message = e.message();
            prop_assert!(message.starts_with(&prefix), "{:?}", message);
            for v in errors.violations() {
                prop_assert!(!v.path().is_empty(), "{:?}", v);
                prop_assert!(!v.constraint().is_empty(), "{:?}", v);
                let member = v.path().rsplit('.').next().unwrap_or_default();
                if BLOB_MEMBERS.contains(&member) {
                    prop_assert_eq!(v.value(), &ViolationValue::Hidden, "{:?}", v);
                }
            }
        }
    }
    Ok(())
}

/// Decodes `body` as a `T`; checks a refusal's form, or a request's round trip.
fn check_body<T>(body: &[u8]) -> Result<(), TestCaseError>
where
    T: Input + serde::Serialize + PartialEq + Debug,
{
    match T::from_json(body) {
        Ok(request) => check_round_trip(&request),
        Err(e) => check_error(&e),
    }
}

/// A decoded request, re-encoded, decodes to itself.
fn check_round_trip<T>(request: &T) -> Result<(), TestCaseError>
where
    T: Input + serde::Serialize + PartialEq + Debug,
{
    let encoded = serde_json::to_vec(request).unwrap();
    match T::from_json(&encoded) {
        Ok(again) => prop_assert_eq!(&again, request),
        Err(e) => prop_assert!(
            false,
            "re-encoded request refused: {} (body {})",
            e,
            String::from_utf8_lossy(&encoded)
        ),
    }
    Ok(())
}

/// The four properties on arbitrary input, for one request type.
macro_rules! decoder_properties {
    ($module:ident, $ty:ty, $members:expr, $shape:expr) => {
        mod $module {
            use super::*;

            proptest! {
                #![proptest_config(config())]

                #[test]
                fn arbitrary_bytes(body in prop::collection::vec(any::<u8>(), 0..256)) {
                    check_body::<$ty>(&body)?;
                }

                #[test]
                fn arbitrary_json(body in json_body($members)) {
                    check_body::<$ty>(&body)?;
                }

                #[test]
                fn shaped_json(body in shaped_body($shape, $members)) {
                    check_body::<$ty>(&body)?;
                }

                #[test]
                fn mangled_json_bytes(body in mangled_json($members)) {
                    check_body::<$ty>(&body)?;
                }

                #[test]
                fn deep_nesting(
                    depth in 0usize..400,
                    member in select($members),
                    kind in 0u8..3,
                ) {
                    let (open, close) = match kind {
                        0 => ("[", "]"),
                        1 => (r#"{"a":"#, "}"),
                        _ => ("{\"\u{0}\":[", "]}"),
                    };
                    let inner = String::from_utf8(nested(depth, open, close)).unwrap();
                    let inner = if inner.is_empty() { "1".to_owned() } else { inner };
                    check_body::<$ty>(format!("{{\"{member}\":{inner}}}").as_bytes())?;
                    check_body::<$ty>(inner.as_bytes())?;
                }
            }
        }
    };
}

decoder_properties!(encrypt, EncryptRequest, ENCRYPT_MEMBERS, ENCRYPT_SHAPE);
decoder_properties!(decrypt, DecryptRequest, DECRYPT_MEMBERS, DECRYPT_SHAPE);
decoder_properties!(
    create_key,
    CreateKeyRequest,
    CREATE_KEY_MEMBERS,
    CREATE_KEY_SHAPE
);
decoder_properties!(
    generate_data_key,
    GenerateDataKeyRequest,
    GENERATE_DATA_KEY_MEMBERS,
    GENERATE_DATA_KEY_SHAPE
);
decoder_properties!(
    list_keys,
    ListKeysRequest,
    LIST_KEYS_MEMBERS,
    LIST_KEYS_SHAPE
);
decoder_properties!(
    tag_resource,
    TagResourceRequest,
    TAG_RESOURCE_MEMBERS,
    TAG_RESOURCE_SHAPE
);

// ---------------------------------------------------------------------------------------
// Valid requests, built within the model's constraints: each must decode, and round-trip.

fn chars_in(
    chars: impl Strategy<Value = char> + 'static,
    len: std::ops::Range<usize>,
) -> BoxedStrategy<String> {
    prop::collection::vec(chars, len)
        .prop_map(String::from_iter)
        .boxed()
}

/// 1 to 2048 characters, any of them.
fn key_id() -> BoxedStrategy<String> {
    prop_oneof![
        4 => chars_in(any::<char>(), 1..40),
        1 => (0usize..3).prop_map(|short| "é".repeat(2048 - short)),
    ]
    .boxed()
}

fn blob(max: usize) -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 1..=max)
}

fn context() -> impl Strategy<Value = Option<BTreeMap<String, String>>> {
    prop::option::of(prop::collection::btree_map(
        any_string(12),
        any_string(12),
        0..5,
    ))
}

fn grant_tokens() -> impl Strategy<Value = Option<Vec<String>>> {
    prop::option::of(prop::collection::vec(
        chars_in(any::<char>(), 1..20),
        0..=10,
    ))
}

fn recipient() -> impl Strategy<Value = Option<RecipientInfo>> {
    prop::option::of(
        (
            prop::option::of(select(KeyEncryptionMechanism::ALL)),
            prop::option::of(blob(200)),
        )
            .prop_map(
                |(key_encryption_algorithm, attestation_document)| RecipientInfo {
                    key_encryption_algorithm,
                    attestation_document,
                },
            ),
    )
}

fn tag() -> impl Strategy<Value = Tag> {
    (
        chars_in(any::<char>(), 1..20),
        chars_in(any::<char>(), 0..20),
    )
        .prop_map(|(tag_key, tag_value)| Tag { tag_key, tag_value })
}

/// `[\u0009\u000A\u000D\u0020-\u00FF]`
fn policy_char() -> impl Strategy<Value = char> {
    prop_oneof![
        1 => select(vec!['\t', '\n', '\r']),
        9 => prop::char::range(' ', '\u{ff}'),
    ]
}

fn encrypt_request() -> impl Strategy<Value = EncryptRequest> {
    (
        key_id(),
        blob(4096),
        context(),
        grant_tokens(),
        prop::option::of(select(EncryptionAlgorithmSpec::ALL)),
        prop::option::of(any::<bool>()),
    )
        .prop_map(
            |(
                key_id,
                plaintext,
                encryption_context,
                grant_tokens,
                encryption_algorithm,
                dry_run,
            )| {
                EncryptRequest {
                    key_id,
                    plaintext: SensitiveBlob::from(plaintext),
                    encryption_context,
                    grant_tokens,
                    encryption_algorithm,
                    dry_run,
                }
            },
        )
}

fn decrypt_request() -> impl Strategy<Value = DecryptRequest> {
    (
        prop::option::of(blob(6144)),
        context(),
        grant_tokens(),
        prop::option::of(key_id()),
        prop::option::of(select(EncryptionAlgorithmSpec::ALL)),
        recipient(),
        prop::option::of(any::<bool>()),
        prop::option::of(prop::collection::vec(select(DryRunModifierType::ALL), 0..3)),
    )
        .prop_map(
            |(
                ciphertext_blob,
                encryption_context,
                grant_tokens,
                key_id,
                encryption_algorithm,
                recipient,
                dry_run,
                dry_run_modifiers,
            )| DecryptRequest {
                ciphertext_blob,
                encryption_context,
                grant_tokens,
                key_id,
                encryption_algorithm,
                recipient,
                dry_run,
                dry_run_modifiers,
            },
        )
}

fn create_key_request() -> impl Strategy<Value = CreateKeyRequest> {
    (
        (
            prop::option::of(chars_in(policy_char(), 1..200)),
            prop::option::of(any_string(40)),
            prop::option::of(select(KeyUsageType::ALL)),
            prop::option::of(select(CustomerMasterKeySpec::ALL)),
            prop::option::of(select(KeySpec::ALL)),
            prop::option::of(select(OriginType::ALL)),
        ),
        (
            prop::option::of(chars_in(any::<char>(), 1..65)),
            prop::option::of(any::<bool>()),
            prop::option::of(prop::collection::vec(tag(), 0..4)),
            prop::option::of(any::<bool>()),
            prop::option::of("[a-zA-Z0-9._-]{1,128}"),
        ),
    )
        .prop_map(
            |(
                (policy, description, key_usage, customer_master_key_spec, key_spec, origin),
                (
                    custom_key_store_id,
                    bypass_policy_lockout_safety_check,
                    tags,
                    multi_region,
                    xks_key_id,
                ),
            )| CreateKeyRequest {
                policy,
                description,
                key_usage,
                customer_master_key_spec,
                key_spec,
                origin,
                custom_key_store_id,
                bypass_policy_lockout_safety_check,
                tags,
                multi_region,
                xks_key_id,
            },
        )
}

fn generate_data_key_request() -> impl Strategy<Value = GenerateDataKeyRequest> {
    (
        key_id(),
        context(),
        prop::option::of(1i32..=1024),
        prop::option::of(select(DataKeySpec::ALL)),
        grant_tokens(),
        recipient(),
        prop::option::of(any::<bool>()),
    )
        .prop_map(
            |(
                key_id,
                encryption_context,
                number_of_bytes,
                key_spec,
                grant_tokens,
                recipient,
                dry_run,
            )| GenerateDataKeyRequest {
                key_id,
                encryption_context,
                number_of_bytes,
                key_spec,
                grant_tokens,
                recipient,
                dry_run,
            },
        )
}

fn list_keys_request() -> impl Strategy<Value = ListKeysRequest> {
    (
        prop::option::of(1i32..=1000),
        prop::option::of(chars_in(prop::char::range(' ', '\u{ff}'), 1..100)),
    )
        .prop_map(|(limit, marker)| ListKeysRequest { limit, marker })
}

fn tag_resource_request() -> impl Strategy<Value = TagResourceRequest> {
    (key_id(), prop::collection::vec(tag(), 0..6))
        .prop_map(|(key_id, tags)| TagResourceRequest { key_id, tags })
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn valid_encrypt_round_trips(request in encrypt_request()) {
        check_round_trip(&request)?;
    }

    #[test]
    fn valid_decrypt_round_trips(request in decrypt_request()) {
        check_round_trip(&request)?;
    }

    #[test]
    fn valid_create_key_round_trips(request in create_key_request()) {
        check_round_trip(&request)?;
    }

    #[test]
    fn valid_generate_data_key_round_trips(request in generate_data_key_request()) {
        check_round_trip(&request)?;
    }

    #[test]
    fn valid_list_keys_round_trips(request in list_keys_request()) {
        check_round_trip(&request)?;
    }

    #[test]
    fn valid_tag_resource_round_trips(request in tag_resource_request()) {
        check_round_trip(&request)?;
    }
}

#[test]
fn the_base64_helper_is_standard_base64() {
    assert_eq!(base64_std(b""), "");
    assert_eq!(base64_std(b"f"), "Zg==");
    assert_eq!(base64_std(b"fo"), "Zm8=");
    assert_eq!(base64_std(b"foo"), "Zm9v");
    assert_eq!(base64_std(b"hunter2"), "aHVudGVyMg==");
}
