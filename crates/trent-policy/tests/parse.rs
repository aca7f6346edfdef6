//! Policy documents KMS and IAM refuse, with their messages, and documents they accept.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use trent_policy::{
    default_key_policy, Policy, PolicyError, PolicyErrorCode, PolicyKind, PolicyVersion,
    KEY_POLICY_MAX_BYTES,
};

fn key_err(doc: &str) -> String {
    Policy::parse(doc, PolicyKind::KeyPolicy)
        .expect_err(doc)
        .to_string()
}

fn iam_err(doc: &str) -> String {
    Policy::parse(doc, PolicyKind::IdentityPolicy)
        .expect_err(doc)
        .to_string()
}

fn trust_err(doc: &str) -> String {
    Policy::parse(doc, PolicyKind::TrustPolicy)
        .expect_err(doc)
        .to_string()
}

const ROOT: &str = r#"{"AWS":"arn:aws:iam::111122223333:root"}"#;

fn key_stmt(stmt_body: &str) -> String {
    format!(r#"{{"Version":"2012-10-17","Statement":[{{{stmt_body}}}]}}"#)
}

#[test]
fn accepts_documented_shapes() {
    // The default key policy, as KMS returns it.
    Policy::parse(&default_key_policy("111122223333"), PolicyKind::KeyPolicy).unwrap();
    // Statement as an object, account ids, lists of principals, services, 2008 version.
    let doc = r#"{"Version":"2008-10-17","Id":"x","Statement":{"Sid":"a b","Effect":"Allow",
        "Principal":{"AWS":["111122223333","arn:aws:iam::444455556666:role/path/R","*"],
                     "Service":"logs.us-east-1.amazonaws.com"},
        "Action":["kms:Encrypt","kms:Decrypt"],"Resource":"*"}}"#;
    let p = Policy::parse(doc, PolicyKind::KeyPolicy).unwrap();
    assert_eq!(p.version(), PolicyVersion::V2008_10_17);
    assert_eq!(
        p.aws_principals().collect::<Vec<_>>(),
        vec![
            "arn:aws:iam::111122223333:root",
            "arn:aws:iam::444455556666:role/path/R"
        ]
    );
    // "Principal": "*" and NotPrincipal.
    Policy::parse(
        &key_stmt(r#""Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*""#),
        PolicyKind::KeyPolicy,
    )
    .unwrap();
    Policy::parse(
        &key_stmt(r#""Effect":"Deny","NotPrincipal":{"AWS":"arn:aws:sts::111122223333:assumed-role/r/ss"},"Action":"kms:*","Resource":"*""#),
        PolicyKind::KeyPolicy,
    )
    .unwrap();
    // No Version at all.
    Policy::parse(
        &format!(r#"{{"Statement":{{"Effect":"Allow","Principal":{ROOT},"Action":"kms:*","Resource":"*"}}}}"#),
        PolicyKind::KeyPolicy,
    )
    .unwrap();
}

#[test]
fn key_policy_statement_without_action_or_resource_is_accepted_but_ineffective() {
    // CreateKey/PutKeyPolicy docs: the request succeeds, the statement has no effect.
    Policy::parse(
        &key_stmt(&format!(
            r#""Effect":"Allow","Principal":{ROOT},"Resource":"*""#
        )),
        PolicyKind::KeyPolicy,
    )
    .unwrap();
    Policy::parse(
        &key_stmt(&format!(
            r#""Effect":"Allow","Principal":{ROOT},"Action":"kms:*""#
        )),
        PolicyKind::KeyPolicy,
    )
    .unwrap();
}

#[test]
fn syntax_errors() {
    let syntax = "Syntax errors in policy.";
    for doc in [
        "",
        "not json",
        "[]",
        "\"a string\"",
        "{",
        r#"{"Version":"2012-10-17"}"#,
        r#"{"Version":"2012-10-17","Statement":[]}"#,
        r#"{"Version":"2012-10-17","Statement":"x"}"#,
        r#"{"Version":"2012-10-17","Statement":["x"]}"#,
        r#"{"Version":"2013-01-01","Statement":{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*"}}"#,
        r#"{"Version":20121017,"Statement":{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*"}}"#,
        r#"{"Version":"2012-10-17","Id":5,"Statement":{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*"}}"#,
    ] {
        assert_eq!(key_err(doc), syntax, "{doc}");
    }
    for body in [
        r#""Principal":"*","Action":"kms:*","Resource":"*""#,
        r#""Effect":"Permit","Principal":"*","Action":"kms:*","Resource":"*""#,
        r#""Effect":true,"Principal":"*","Action":"kms:*","Resource":"*""#,
        r#""Effect":"Allow","Principal":"*","Action":"kms:*","NotAction":"kms:Decrypt","Resource":"*""#,
        r#""Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*","NotResource":"*""#,
        r#""Effect":"Allow","Principal":"*","NotPrincipal":"*","Action":"kms:*","Resource":"*""#,
        r#""Effect":"Allow","Principal":"*","Action":5,"Resource":"*""#,
        r#""Effect":"Allow","Principal":"*","Action":["kms:Encrypt",5],"Resource":"*""#,
        r#""Effect":"Allow","Principal":"*","Action":"kms:*","Resource":{"a":1}"#,
        r#""Sid":1,"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*""#,
        r#""Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*","Condition":"x""#,
        r#""Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*","Condition":{"StringEquals":"x"}"#,
        r#""Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*","Condition":{"StringEquals":{"kms:ViaService":{"a":"b"}}}"#,
        r#""Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*","Condition":{"StringEquals":{"kms:ViaService":[null]}}}"#,
        r#""Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*","Condition":{"StringEqualz":{"kms:ViaService":"x"}}"#,
        r#""Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*","Condition":{"NullIfExists":{"kms:ViaService":"true"}}"#,
        r#""Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*","Condition":{"ForSomeValues:StringEquals":{"kms:ViaService":"x"}}"#,
    ] {
        assert_eq!(key_err(&key_stmt(body)), syntax, "{body}");
    }
    // IAM tolerates an unknown operator with nothing under it.
    Policy::parse(
        &key_stmt(r#""Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*","Condition":{"Whatever":{}}"#),
        PolicyKind::KeyPolicy,
    )
    .unwrap();
}

#[test]
fn unknown_fields_case_sensitive() {
    assert_eq!(
        key_err(r#"{"Version":"2012-10-17","statement":[]}"#),
        "Unknown field statement"
    );
    assert_eq!(
        key_err(r#"{"Version":"2012-10-17","Comment":"x","Statement":[]}"#),
        "Unknown field Comment"
    );
    assert_eq!(
        key_err(&key_stmt(
            r#""effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*""#
        )),
        "Unknown field effect"
    );
}

#[test]
fn effect_case_is_legacy_parsing() {
    assert_eq!(
        key_err(&key_stmt(
            r#""Effect":"allow","Principal":"*","Action":"kms:*","Resource":"*""#
        )),
        "The policy failed legacy parsing"
    );
}

#[test]
fn principals() {
    let no = "Policy contains a statement with no principal.";
    assert_eq!(
        key_err(&key_stmt(
            r#""Effect":"Allow","Action":"kms:*","Resource":"*""#
        )),
        no
    );
    let invalid = "Policy contains a statement with one or more invalid principals.";
    for p in [
        r#""arn:aws:iam::111122223333:root""#,
        r#"{"AWS":"arn:aws:iam::111122223333:user/*"}"#,
        r#"{"AWS":"arn:aws:iam::*:root"}"#,
        r#"{"AWS":"AIDACKCEVSQ6C2EXAMPLE"}"#,
        r#"{"AWS":"11112222333"}"#,
        r#"{"AWS":"arn:aws:iam::111122223333:group/admins"}"#,
        r#"{"AWS":[]}"#,
        r#"{"AWS":5}"#,
        r#"{"AWS":["arn:aws:iam::111122223333:root",5]}"#,
        r#"{}"#,
        r#"{"CanonicalUser":"79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be"}"#,
        r#"{"aws":"111122223333"}"#,
        r#"{"Service":"Not A Service"}"#,
        r#"["*"]"#,
    ] {
        let body = format!(r#""Effect":"Allow","Principal":{p},"Action":"kms:*","Resource":"*""#);
        assert_eq!(key_err(&key_stmt(&body)), invalid, "{p}");
    }
}

#[test]
fn actions_and_resources() {
    let body = |a: &str| {
        key_stmt(&format!(
            r#""Effect":"Allow","Principal":{ROOT},"Action":{a},"Resource":"*""#
        ))
    };
    assert_eq!(
        key_err(&body(r#""Encrypt""#)),
        "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc."
    );
    assert_eq!(
        key_err(&body(r#""""#)),
        "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc."
    );
    assert_eq!(
        key_err(&body(r#""kms:a:b""#)),
        "Actions/Condition can contain only one colon."
    );
    assert_eq!(
        key_err(&body(r#""k@s:Encrypt""#)),
        "Vendor k@s is not valid"
    );
    let r = key_stmt(&format!(
        r#""Effect":"Allow","Principal":{ROOT},"Action":"kms:*","Resource":"key""#
    ));
    assert_eq!(key_err(&r), "Resource key must be in ARN format or \"*\".");
    let c = key_stmt(&format!(
        r#""Effect":"Allow","Principal":{ROOT},"Action":"kms:*","Resource":"*","Condition":{{"StringEquals":{{"ViaService":"x"}}}}"#
    ));
    assert_eq!(
        key_err(&c),
        "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc."
    );
}

#[test]
fn bad_dates_fail_legacy_parsing() {
    let c = key_stmt(&format!(
        r#""Effect":"Allow","Principal":{ROOT},"Action":"kms:*","Resource":"*","Condition":{{"DateLessThan":{{"aws:CurrentTime":"yesterday"}}}}"#
    ));
    assert_eq!(key_err(&c), "The policy failed legacy parsing");
}

#[test]
fn duplicate_sids() {
    let doc = format!(
        r#"{{"Version":"2012-10-17","Statement":[
            {{"Sid":"A","Effect":"Allow","Principal":{ROOT},"Action":"kms:*","Resource":"*"}},
            {{"Sid":"A","Effect":"Deny","Principal":{ROOT},"Action":"kms:Decrypt","Resource":"*"}}]}}"#
    );
    assert_eq!(
        key_err(&doc),
        "Statement IDs (SID) in a single policy must be unique."
    );
}

#[test]
fn size_limit_is_limit_exceeded() {
    let pad = " ".repeat(KEY_POLICY_MAX_BYTES);
    let doc = format!("{}{pad}", default_key_policy("111122223333"));
    let err = Policy::parse(&doc, PolicyKind::KeyPolicy).unwrap_err();
    assert_eq!(err.code(), PolicyErrorCode::LimitExceeded);
    assert!(matches!(err, PolicyError::TooLarge { limit: 32768, .. }));
    // Exactly at the limit is fine.
    let base = default_key_policy("111122223333");
    let doc = format!("{base}{}", " ".repeat(KEY_POLICY_MAX_BYTES - base.len()));
    Policy::parse(&doc, PolicyKind::KeyPolicy).unwrap();
    assert_eq!(
        Policy::parse("x", PolicyKind::KeyPolicy)
            .unwrap_err()
            .code(),
        PolicyErrorCode::MalformedPolicyDocument
    );
}

#[test]
fn identity_policy_rules() {
    assert_eq!(
        iam_err(
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*"}}"#
        ),
        "Has prohibited field Principal"
    );
    assert_eq!(
        iam_err(r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Resource":"*"}}"#),
        "Policy statement must contain actions."
    );
    assert_eq!(
        iam_err(
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":[],"Resource":"*"}}"#
        ),
        "Policy statement must contain actions."
    );
    assert_eq!(
        iam_err(r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"kms:*"}}"#),
        "Policy statement must contain resources."
    );
    assert_eq!(
        iam_err(r#"{"Statement":{"Effect":"Allow","Action":"kms:*","Resource":"*"}}"#),
        "Policy document must be version 2012-10-17 or greater."
    );
    assert_eq!(
        iam_err(r#"{"Version":"2012-10-17","Statement":{"Sid":"Allow use","Effect":"Allow","Action":"kms:*","Resource":"*"}}"#),
        "Statement IDs (SID) must be alpha-numeric. Check that your input satisfies the regular expression [0-9A-Za-z]*"
    );
    Policy::parse(
        r#"{"Version":"2012-10-17","Statement":{"Sid":"AllowUse1","Effect":"Allow","NotAction":"kms:Decrypt","NotResource":"arn:aws:kms:*:*:key/x"}}"#,
        PolicyKind::IdentityPolicy,
    )
    .unwrap();
}

#[test]
fn trust_policy_rules() {
    let ok = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"sts:AssumeRole"}}"#;
    Policy::parse(ok, PolicyKind::TrustPolicy).unwrap();
    assert_eq!(
        trust_err(
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"sts:AssumeRole"}}"#
        ),
        "Missing required field Principal"
    );
    assert_eq!(
        trust_err(
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"AWS":"111122223333"},"Action":"sts:AssumeRole","Resource":"*"}}"#
        ),
        "Has prohibited field Resource"
    );
    assert_eq!(
        trust_err(
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"AWS":"bob"},"Action":"sts:AssumeRole"}}"#
        ),
        "Invalid principal in policy: \"AWS\":\"bob\""
    );
    assert!(trust_err(r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"AWS":"111122223333"},"Action":"kms:Decrypt"}}"#)
        .contains("kms:Decrypt"));
}

#[test]
fn duplicate_json_keys_are_refused() {
    // Last-wins would enforce Allow while GetKeyPolicy shows Deny first.
    let e = key_err(&key_stmt(
        r#""Effect":"Deny","Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*""#,
    ));
    assert_eq!(
        e,
        "The policy document has the field Effect more than once in the same JSON object."
    );
    // At any depth, for every kind of policy, with escapes resolved.
    let e = iam_err(
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*","Condition":{"StringEquals":{"kms:EncryptionContext:a":"1","kms:EncryptionContext:\u0061":"2"}}}]}"#,
    );
    assert!(e.contains("kms:EncryptionContext:a more than once"), "{e}");
    let e = trust_err(
        r#"{"Version":"2012-10-17","Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"sts:AssumeRole"}]}"#,
    );
    assert!(e.contains("field Version"), "{e}");
    let e = key_err(&key_stmt(
        r#""Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root","AWS":"*"},"Action":"kms:*","Resource":"*""#,
    ));
    assert!(e.contains("field AWS"), "{e}");
    // A long name is cut in the message.
    let long = "k".repeat(1000);
    let e = iam_err(&format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":"kms:*","Resource":"*","Condition":{{"Null":{{"{long}":"true","{long}":"false"}}}}}}]}}"#
    ));
    assert!(
        e.contains(&format!("field {}... more", "k".repeat(128))),
        "{e}"
    );
    // Keys that differ by case, and the same key in different objects, are not duplicates.
    Policy::parse(
        r#"{"Version":"2012-10-17","Statement":[{"Sid":"a","Effect":"Allow","Action":"kms:*","Resource":"*"},{"Sid":"b","Effect":"Allow","Action":"kms:*","Resource":"*","Condition":{"StringEquals":{"kms:EncryptionContext:a":"1"},"StringLike":{"kms:EncryptionContext:a":"1"}}}]}"#,
        PolicyKind::IdentityPolicy,
    )
    .unwrap();
}

#[test]
fn principal_arns_take_iam_paths_but_no_wildcards() {
    // Any printable ASCII in a path, as IAM allows.
    Policy::parse(
        &key_stmt(
            r#""Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:user/x~y/alice"},"Action":"kms:*","Resource":"*""#,
        ),
        PolicyKind::KeyPolicy,
    )
    .unwrap();
    // A wildcard in a principal ARN matches nothing partially: refused, not read literally.
    for p in [
        "arn:aws:iam::111122223333:user/a*/alice",
        "arn:aws:iam::111122223333:user/a?/alice",
        "arn:aws:iam::111122223333:user/a b/alice",
        "arn:aws:sts::111122223333:assumed-role/app/s",
    ] {
        let e = key_err(&key_stmt(&format!(
            r#""Effect":"Allow","Principal":{{"AWS":"{p}"}},"Action":"kms:*","Resource":"*""#
        )));
        assert_eq!(
            e, "Policy contains a statement with one or more invalid principals.",
            "{p}"
        );
    }
}
