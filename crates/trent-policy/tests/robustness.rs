//! Property tests: no input makes parsing or evaluation panic, and parsing is
//! deterministic.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use proptest::prelude::*;
use serde_json::{json, Value};
use trent_policy::{
    check_lockout, default_key_policy, evaluate, Policy, PolicyKind, PolicySet, PrincipalContext,
    RequestContext,
};

const KEY: &str = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";

fn contexts() -> Vec<RequestContext> {
    let mut out = Vec::new();
    let principals = [
        PrincipalContext::root("111122223333"),
        PrincipalContext::from_arn("arn:aws:iam::111122223333:user/a/b").unwrap(),
        PrincipalContext::assumed_role(
            "arn:aws:sts::444455556666:assumed-role/r/ss",
            "arn:aws:iam::444455556666:role/p/r",
        )
        .unwrap(),
        PrincipalContext::service("ec2.amazonaws.com"),
    ];
    for p in principals {
        let mut c = RequestContext::new(p, "kms:Encrypt", KEY);
        c.insert_encryption_context([("a", "1"), ("B", "*")]);
        c.insert("aws:SourceIp", "10.1.2.3");
        c.insert("aws:CurrentTime", "2024-01-01T00:00:00Z");
        c.insert("aws:SecureTransport", true);
        c.insert("kms:RotationPeriodInDays", 365i64);
        c.insert_all("aws:TagKeys", ["x", "y"]);
        out.push(c);
    }
    out
}

fn kinds() -> [PolicyKind; 3] {
    [
        PolicyKind::KeyPolicy,
        PolicyKind::IdentityPolicy,
        PolicyKind::TrustPolicy,
    ]
}

fn exercise(doc: &str) {
    for kind in kinds() {
        let first = Policy::parse(doc, kind);
        assert_eq!(first, Policy::parse(doc, kind), "parsing is deterministic");
        if let Ok(p) = first {
            let ids = [p.clone()];
            for ctx in contexts() {
                let d = evaluate(
                    &ctx,
                    &PolicySet {
                        key_policy: Some(&p),
                        key_account: "111122223333",
                        identity_policies: &ids,
                        grant_allows: false,
                    },
                );
                let _ = d.access_denied_message(&ctx);
                let _ = check_lockout(&p, &ctx);
            }
        }
    }
}

/// Arbitrary JSON, biased towards policy element names and operator names.
fn arb_json() -> impl Strategy<Value = Value> {
    let names = prop::sample::select(vec![
        "Version",
        "Id",
        "Statement",
        "Sid",
        "Effect",
        "Principal",
        "NotPrincipal",
        "Action",
        "NotAction",
        "Resource",
        "NotResource",
        "Condition",
        "AWS",
        "Service",
        "Federated",
        "StringEquals",
        "StringNotLike",
        "ForAllValues:StringLike",
        "ForAnyValue:ArnLike",
        "NumericLessThanIfExists",
        "DateGreaterThan",
        "Bool",
        "BinaryEquals",
        "IpAddress",
        "NotIpAddress",
        "Null",
        "aws:SourceIp",
        "kms:EncryptionContext:a",
        "aws:TagKeys",
        "aws:CurrentTime",
        "kms:RotationPeriodInDays",
        "x",
    ]);
    let strings = prop::sample::select(vec![
        "2012-10-17",
        "2008-10-17",
        "Allow",
        "Deny",
        "*",
        "kms:*",
        "kms:Encrypt",
        "kms:Enc?ypt",
        "111122223333",
        "arn:aws:iam::111122223333:root",
        "arn:aws:iam::111122223333:user/a/b",
        "arn:aws:iam::444455556666:role/p/r",
        "ec2.amazonaws.com",
        "10.0.0.0/8",
        "::/0",
        "true",
        "false",
        "2024-01-01",
        "1700000000",
        "aGVsbG8=",
        "${aws:username}",
        "${aws:PrincipalTag/x, 'd'}",
        "${*}",
        "${",
        "arn:*:*:*:*:*",
        "",
        "é?*",
    ]);
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        strings.prop_map(|s| Value::String(s.to_owned())),
        ".{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(5, 64, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((names.clone(), inner), 0..6).prop_map(|kv| {
                Value::Object(kv.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
            }),
        ]
    })
}

fn valid_policy() -> Value {
    json!({
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "a", "Effect": "Allow", "Principal": {"AWS": ["111122223333", "arn:aws:iam::444455556666:role/p/r"]},
             "Action": ["kms:Encrypt", "kms:Gen*"], "Resource": "*",
             "Condition": {"StringEquals": {"kms:EncryptionContext:a": "${aws:username}"},
                           "ForAllValues:StringLike": {"aws:TagKeys": ["x*", "y"]},
                           "IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}},
            {"Effect": "Deny", "NotPrincipal": {"AWS": "arn:aws:iam::111122223333:root"},
             "NotAction": "kms:Decrypt", "NotResource": "arn:aws:kms:*:*:key/x",
             "Condition": {"DateGreaterThan": {"aws:CurrentTime": "2020-01-01T00:00:00Z"},
                           "Null": {"kms:ViaService": "true"}}}
        ]
    })
}

/// A mutation: replace the value at a (pseudo-random) path with arbitrary JSON.
fn mutate(v: &mut Value, path: &[usize], new: Value) {
    let Some((&i, rest)) = path.split_first() else {
        *v = new;
        return;
    };
    let child = match v {
        Value::Object(m) if !m.is_empty() => {
            let k = m.keys().nth(i % m.len()).cloned().unwrap();
            m.get_mut(&k)
        }
        Value::Array(a) if !a.is_empty() => {
            let n = a.len();
            a.get_mut(i % n)
        }
        _ => None,
    };
    match child {
        Some(c) => mutate(c, rest, new),
        None => *v = new,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_text_never_panics(s in ".{0,300}") {
        exercise(&s);
    }

    #[test]
    fn arbitrary_json_never_panics(v in arb_json()) {
        exercise(&v.to_string());
    }

    #[test]
    fn mutated_valid_policies_never_panic(path in prop::collection::vec(0usize..8, 1..6), new in arb_json()) {
        let mut v = valid_policy();
        mutate(&mut v, &path, new);
        exercise(&v.to_string());
    }

    #[test]
    fn truncated_default_policy_never_panics(cut in 0usize..400) {
        let d = default_key_policy("111122223333");
        let cut = cut.min(d.len());
        if d.is_char_boundary(cut) {
            exercise(&d[..cut]);
        }
    }
}

#[test]
fn the_valid_policy_parses() {
    Policy::parse(&valid_policy().to_string(), PolicyKind::KeyPolicy).unwrap();
}
