//! Every condition operator, qualifier and policy variable, including IAM's tricky cases.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::IpAddr;

use time::macros::datetime;
use trent_policy::{
    evaluate, ContextValue, Policy, PolicyKind, PolicySet, PrincipalContext, RequestContext,
};

const USER: &str = "arn:aws:iam::111122223333:user/eng/alice";
const KEY: &str = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";

fn ctx() -> RequestContext {
    RequestContext::new(
        PrincipalContext::from_arn(USER).unwrap(),
        "kms:Encrypt",
        KEY,
    )
}

/// Does an identity policy `Allow kms:Encrypt on *` with this condition block allow?
fn holds(condition: &str, ctx: &RequestContext) -> bool {
    let doc = format!(
        r#"{{"Version":"2012-10-17","Statement":{{"Effect":"Allow","Action":"kms:Encrypt","Resource":"*","Condition":{condition}}}}}"#
    );
    let p = Policy::parse(&doc, PolicyKind::IdentityPolicy).unwrap();
    let set = PolicySet {
        key_policy: None,
        key_account: "111122223333",
        identity_policies: std::slice::from_ref(&p),
        grant_allows: false,
    };
    evaluate(ctx, &set).is_allowed()
}

fn with(key: &str, v: impl Into<ContextValue>) -> RequestContext {
    let mut c = ctx();
    c.insert(key, v);
    c
}

fn with_all(key: &str, vals: &[&str]) -> RequestContext {
    let mut c = ctx();
    c.insert_all(key, vals.iter().copied());
    c
}

#[test]
fn string_equals_and_not_equals() {
    let c = with("kms:ViaService", "s3.us-east-1.amazonaws.com");
    assert!(holds(
        r#"{"StringEquals":{"kms:ViaService":"s3.us-east-1.amazonaws.com"}}"#,
        &c
    ));
    assert!(!holds(
        r#"{"StringEquals":{"kms:ViaService":"S3.us-east-1.amazonaws.com"}}"#,
        &c
    ));
    // Several values: OR.
    assert!(holds(
        r#"{"StringEquals":{"kms:ViaService":["ec2.us-east-1.amazonaws.com","s3.us-east-1.amazonaws.com"]}}"#,
        &c
    ));
    // Negated with several values: NOR.
    assert!(!holds(
        r#"{"StringNotEquals":{"kms:ViaService":["ec2.us-east-1.amazonaws.com","s3.us-east-1.amazonaws.com"]}}"#,
        &c
    ));
    assert!(holds(
        r#"{"StringNotEquals":{"kms:ViaService":["ec2.us-east-1.amazonaws.com","rds.us-east-1.amazonaws.com"]}}"#,
        &c
    ));
    // Absent key: false, and true for the negated operator.
    assert!(!holds(r#"{"StringEquals":{"kms:ViaService":"x"}}"#, &ctx()));
    assert!(holds(
        r#"{"StringNotEquals":{"kms:ViaService":"x"}}"#,
        &ctx()
    ));
}

#[test]
fn string_ignore_case() {
    let c = with("aws:PrincipalTag/team", "Payments");
    assert!(holds(
        r#"{"StringEqualsIgnoreCase":{"aws:PrincipalTag/team":"PAYMENTS"}}"#,
        &c
    ));
    assert!(!holds(
        r#"{"StringNotEqualsIgnoreCase":{"aws:PrincipalTag/team":"payments"}}"#,
        &c
    ));
    assert!(holds(
        r#"{"StringNotEqualsIgnoreCase":{"aws:PrincipalTag/team":"billing"}}"#,
        &c
    ));
}

#[test]
fn string_like() {
    let c = with("kms:RequestAlias", "alias/app-prod");
    assert!(holds(
        r#"{"StringLike":{"kms:RequestAlias":"alias/app-*"}}"#,
        &c
    ));
    assert!(holds(
        r#"{"StringLike":{"kms:RequestAlias":"alias/app-pro?"}}"#,
        &c
    ));
    assert!(
        !holds(r#"{"StringLike":{"kms:RequestAlias":"alias/APP-*"}}"#, &c),
        "case-sensitive"
    );
    assert!(!holds(
        r#"{"StringNotLike":{"kms:RequestAlias":["alias/x*","alias/app*"]}}"#,
        &c
    ));
    assert!(holds(
        r#"{"StringNotLike":{"kms:RequestAlias":["alias/x*","alias/y*"]}}"#,
        &c
    ));
}

#[test]
fn condition_key_names_are_case_insensitive() {
    let c = with("aws:PrincipalTag/Team", "a");
    assert!(holds(
        r#"{"StringEquals":{"AWS:principaltag/TEAM":"a"}}"#,
        &c
    ));
    let mut c = ctx();
    c.insert_encryption_context([("Project", "alpha")]);
    assert!(holds(
        r#"{"StringEquals":{"kms:encryptioncontext:project":"alpha"}}"#,
        &c
    ));
    // ...but values stay case-sensitive, and EncryptionContextKeys keeps the key's case.
    assert!(!holds(
        r#"{"StringEquals":{"kms:EncryptionContext:Project":"Alpha"}}"#,
        &c
    ));
    assert!(!holds(
        r#"{"ForAnyValue:StringEquals":{"kms:EncryptionContextKeys":"project"}}"#,
        &c
    ));
    assert!(holds(
        r#"{"ForAnyValue:StringEquals":{"kms:EncryptionContextKeys":"Project"}}"#,
        &c
    ));
}

/// Does a key policy with an Allow for the caller under `allow_condition` and a Deny
/// under `deny_condition` allow?
fn key_policy_allows(allow_condition: &str, deny_condition: &str, ctx: &RequestContext) -> bool {
    let doc = format!(
        r#"{{"Version":"2012-10-17","Statement":[
            {{"Effect":"Allow","Principal":{{"AWS":"{USER}"}},"Action":"kms:Encrypt","Resource":"*","Condition":{allow_condition}}},
            {{"Effect":"Deny","Principal":"*","Action":"kms:Encrypt","Resource":"*","Condition":{deny_condition}}}]}}"#
    );
    let p = Policy::parse(&doc, PolicyKind::KeyPolicy).unwrap();
    let set = PolicySet {
        key_policy: Some(&p),
        key_account: "111122223333",
        identity_policies: &[],
        grant_allows: false,
    };
    evaluate(ctx, &set).is_allowed()
}

#[test]
fn encryption_context_keys_differing_only_by_case_hide_nothing() {
    // `kms:EncryptionContext:tenant` names both `tenant` and `Tenant`: the key is
    // single-valued, so with both present an Allow needs each value to pass, and a Deny
    // applies when either does.
    let mut both = ctx();
    both.insert_encryption_context([("tenant", "A"), ("Tenant", "B")]);
    let mut one = ctx();
    one.insert_encryption_context([("Tenant", "A")]);
    let allow_a = r#"{"StringEquals":{"kms:EncryptionContext:tenant":"A"}}"#;
    assert!(holds(allow_a, &one));
    assert!(!holds(allow_a, &both));
    assert!(!holds(
        r#"{"StringNotEquals":{"kms:EncryptionContext:tenant":"B"}}"#,
        &both
    ));
    assert!(holds(
        r#"{"StringLike":{"kms:EncryptionContext:tenant":["A","B"]}}"#,
        &both
    ));
    let always = r#"{"StringEquals":{"aws:username":"alice"}}"#;
    let never = r#"{"StringEquals":{"aws:username":"nobody"}}"#;
    assert!(key_policy_allows(always, never, &both));
    // A Deny on either value applies.
    let deny_b = r#"{"StringEquals":{"kms:EncryptionContext:tenant":"B"}}"#;
    assert!(!key_policy_allows(always, deny_b, &both));
    assert!(key_policy_allows(always, deny_b, &one));
    let deny_unless_a = r#"{"StringNotEquals":{"kms:EncryptionContext:tenant":"A"}}"#;
    assert!(!key_policy_allows(always, deny_unless_a, &both));
    assert!(key_policy_allows(always, deny_unless_a, &one));
    // Set operators see the values as the set they are.
    assert!(holds(
        r#"{"ForAnyValue:StringEquals":{"kms:EncryptionContext:tenant":"A"}}"#,
        &both
    ));
    assert!(!holds(
        r#"{"ForAllValues:StringEquals":{"kms:EncryptionContext:tenant":"A"}}"#,
        &both
    ));
    // A new encryption context replaces the ambiguity with it.
    both.insert_encryption_context([("tenant", "A")]);
    assert!(holds(allow_a, &both));
}

#[test]
fn numeric() {
    let c = with("kms:ScheduleKeyDeletionPendingWindowInDays", 7i64);
    let k = "kms:ScheduleKeyDeletionPendingWindowInDays";
    let t = |op: &str, v: &str| holds(&format!(r#"{{"{op}":{{"{k}":"{v}"}}}}"#), &c);
    assert!(t("NumericEquals", "7"));
    assert!(t("NumericEquals", "7.0"));
    assert!(!t("NumericNotEquals", "7"));
    assert!(t("NumericNotEquals", "8"));
    assert!(t("NumericLessThan", "8"));
    assert!(!t("NumericLessThan", "7"));
    assert!(t("NumericLessThanEquals", "7"));
    assert!(t("NumericGreaterThan", "6"));
    assert!(!t("NumericGreaterThan", "7"));
    assert!(t("NumericGreaterThanEquals", "7"));
    assert!(!t("NumericGreaterThanEquals", "7.5"));
    // A value that is not a number never matches.
    assert!(!t("NumericEquals", "seven"));
    // Numbers given as JSON numbers, and context numbers given as strings.
    assert!(holds(
        &format!(r#"{{"NumericLessThanEquals":{{"{k}":30}}}}"#),
        &c
    ));
    let s = with(k, "10");
    assert!(holds(
        &format!(r#"{{"NumericGreaterThan":{{"{k}":"9"}}}}"#),
        &s
    ));
}

#[test]
fn dates_iso8601_and_epoch() {
    let c = with("aws:CurrentTime", datetime!(2024-06-01 12:00:00 UTC));
    let t = |op: &str, v: &str| holds(&format!(r#"{{"{op}":{{"aws:CurrentTime":"{v}"}}}}"#), &c);
    assert!(t("DateEquals", "2024-06-01T12:00:00Z"));
    assert!(t("DateEquals", "2024-06-01T14:00:00+02:00"));
    assert!(t("DateEquals", "1717243200"));
    assert!(!t("DateNotEquals", "2024-06-01T12:00:00Z"));
    assert!(t("DateNotEquals", "2024-06-01T12:00:01Z"));
    assert!(t("DateLessThan", "2024-06-02"));
    assert!(!t("DateLessThan", "2024-06-01T12:00:00Z"));
    assert!(t("DateLessThanEquals", "2024-06-01T12:00:00Z"));
    assert!(t("DateGreaterThan", "2024-06-01"));
    assert!(t("DateGreaterThan", "2024-06-01T11:59:59.999Z"));
    assert!(t("DateGreaterThanEquals", "1717243200"));
    assert!(!t("DateGreaterThan", "1717243200"));
    // aws:EpochTime is a number; date operators take it as epoch seconds.
    let e = with("aws:EpochTime", 1_717_243_200i64);
    assert!(holds(
        r#"{"DateGreaterThanEquals":{"aws:EpochTime":"2024-06-01T12:00:00Z"}}"#,
        &e
    ));
    assert!(!holds(
        r#"{"DateGreaterThan":{"aws:EpochTime":"2024-06-01T12:00:00Z"}}"#,
        &e
    ));
}

#[test]
fn bool_operator() {
    let c = with("aws:SecureTransport", true);
    assert!(holds(r#"{"Bool":{"aws:SecureTransport":"true"}}"#, &c));
    assert!(holds(r#"{"Bool":{"aws:SecureTransport":true}}"#, &c));
    assert!(!holds(r#"{"Bool":{"aws:SecureTransport":"false"}}"#, &c));
    assert!(!holds(
        r#"{"Bool":{"aws:SecureTransport":"false"}}"#,
        &ctx()
    ));
    let f = with("kms:GrantIsForAWSResource", "false");
    assert!(holds(
        r#"{"Bool":{"kms:GrantIsForAWSResource":"false"}}"#,
        &f
    ));
}

#[test]
fn binary_equals() {
    let mut c = ctx();
    c.insert("aws:Binary", ContextValue::Binary(b"hello".to_vec()));
    assert!(holds(r#"{"BinaryEquals":{"aws:Binary":"aGVsbG8="}}"#, &c));
    assert!(!holds(r#"{"BinaryEquals":{"aws:Binary":"aGVsbG9v"}}"#, &c));
    assert!(!holds(
        r#"{"BinaryEquals":{"aws:Binary":"not base64!"}}"#,
        &c
    ));
}

#[test]
fn ip_addresses() {
    let ip: IpAddr = "203.0.113.7".parse().unwrap();
    let c = with("aws:SourceIp", ip);
    assert!(holds(
        r#"{"IpAddress":{"aws:SourceIp":"203.0.113.0/24"}}"#,
        &c
    ));
    assert!(holds(r#"{"IpAddress":{"aws:SourceIp":"203.0.113.7"}}"#, &c));
    assert!(holds(r#"{"IpAddress":{"aws:SourceIp":"0.0.0.0/0"}}"#, &c));
    assert!(!holds(
        r#"{"IpAddress":{"aws:SourceIp":"203.0.114.0/24"}}"#,
        &c
    ));
    assert!(holds(
        r#"{"NotIpAddress":{"aws:SourceIp":["10.0.0.0/8","192.168.0.0/16"]}}"#,
        &c
    ));
    assert!(!holds(
        r#"{"NotIpAddress":{"aws:SourceIp":["10.0.0.0/8","203.0.113.0/25"]}}"#,
        &c
    ));
    let v6: IpAddr = "2001:db8::1".parse().unwrap();
    let c6 = with("aws:SourceIp", v6);
    assert!(holds(
        r#"{"IpAddress":{"aws:SourceIp":"2001:db8::/32"}}"#,
        &c6
    ));
    assert!(!holds(
        r#"{"IpAddress":{"aws:SourceIp":"2001:db9::/32"}}"#,
        &c6
    ));
    assert!(!holds(
        r#"{"IpAddress":{"aws:SourceIp":"203.0.113.0/24"}}"#,
        &c6
    ));
    let mapped: IpAddr = "::ffff:203.0.113.7".parse().unwrap();
    assert!(holds(
        r#"{"IpAddress":{"aws:SourceIp":"203.0.113.0/24"}}"#,
        &with("aws:SourceIp", mapped)
    ));
    assert!(!holds(r#"{"IpAddress":{"aws:SourceIp":"not-an-ip"}}"#, &c));
}

#[test]
fn arn_operators() {
    let c = with(
        "aws:PrincipalArn",
        "arn:aws:iam::111122223333:role/ops/admin",
    );
    assert!(holds(
        r#"{"ArnLike":{"aws:PrincipalArn":"arn:aws:iam::111122223333:role/ops/*"}}"#,
        &c
    ));
    assert!(holds(
        r#"{"ArnEquals":{"aws:PrincipalArn":"arn:aws:iam::*:role/ops/admin"}}"#,
        &c
    ));
    assert!(holds(
        r#"{"ArnLike":{"aws:PrincipalArn":"arn:aws:iam::????22223333:role/*"}}"#,
        &c
    ));
    assert!(!holds(
        r#"{"ArnLike":{"aws:PrincipalArn":"arn:aws:iam::111122223333:user/*"}}"#,
        &c
    ));
    // `*` matches within one part only: it does not swallow the account's colon.
    assert!(!holds(
        r#"{"ArnLike":{"aws:PrincipalArn":"arn:aws:iam:*:role/ops/admin"}}"#,
        &c
    ));
    assert!(!holds(
        r#"{"ArnNotLike":{"aws:PrincipalArn":"arn:aws:iam::111122223333:role/*"}}"#,
        &c
    ));
    assert!(holds(
        r#"{"ArnNotEquals":{"aws:PrincipalArn":"arn:aws:iam::111122223333:user/x"}}"#,
        &c
    ));
    // Not an ARN in the request: no match.
    assert!(!holds(
        r#"{"ArnLike":{"kms:ViaService":"arn:*:*:*:*:*"}}"#,
        &with("kms:ViaService", "s3")
    ));
}

#[test]
fn null_operator() {
    let c = with("aws:PrincipalTag/team", "a");
    assert!(holds(r#"{"Null":{"aws:PrincipalTag/team":"false"}}"#, &c));
    assert!(!holds(r#"{"Null":{"aws:PrincipalTag/team":"true"}}"#, &c));
    assert!(holds(
        r#"{"Null":{"aws:PrincipalTag/team":"true"}}"#,
        &ctx()
    ));
    assert!(!holds(
        r#"{"Null":{"aws:PrincipalTag/team":"false"}}"#,
        &ctx()
    ));
    assert!(holds(r#"{"Null":{"aws:PrincipalTag/team":true}}"#, &ctx()));
    // An empty set is null.
    assert!(holds(
        r#"{"Null":{"aws:TagKeys":"true"}}"#,
        &with_all("aws:TagKeys", &[])
    ));
}

#[test]
fn if_exists() {
    // Missing key: true.
    assert!(holds(
        r#"{"StringEqualsIfExists":{"kms:ViaService":"x"}}"#,
        &ctx()
    ));
    assert!(holds(
        r#"{"NumericLessThanIfExists":{"kms:RotationPeriodInDays":"365"}}"#,
        &ctx()
    ));
    // Present key: the operator decides.
    let c = with("kms:ViaService", "y");
    assert!(!holds(
        r#"{"StringEqualsIfExists":{"kms:ViaService":"x"}}"#,
        &c
    ));
    assert!(holds(
        r#"{"StringNotEqualsIfExists":{"kms:ViaService":"x"}}"#,
        &c
    ));
    assert!(holds(
        r#"{"StringLikeIfExists":{"kms:ViaService":"*"}}"#,
        &c
    ));
}

#[test]
fn for_all_values() {
    let op = r#"{"ForAllValues:StringEquals":{"aws:TagKeys":["env","team"]}}"#;
    assert!(holds(op, &with_all("aws:TagKeys", &["env"])));
    assert!(holds(op, &with_all("aws:TagKeys", &["env", "team"])));
    assert!(!holds(op, &with_all("aws:TagKeys", &["env", "owner"])));
    // True on an empty set and on a missing key.
    assert!(holds(op, &with_all("aws:TagKeys", &[])));
    assert!(holds(op, &ctx()));
}

#[test]
fn for_any_value() {
    let op = r#"{"ForAnyValue:StringEquals":{"aws:TagKeys":["env","team"]}}"#;
    assert!(holds(op, &with_all("aws:TagKeys", &["owner", "team"])));
    assert!(!holds(op, &with_all("aws:TagKeys", &["owner"])));
    // False on an empty set and on a missing key.
    assert!(!holds(op, &with_all("aws:TagKeys", &[])));
    assert!(!holds(op, &ctx()));
}

#[test]
fn set_operators_with_negated_operators() {
    // ForAllValues:StringNotLike — every request value matches none of the patterns
    // (IAM's "deny restricted tags" example); true when the key is missing.
    let op = r#"{"ForAllValues:StringNotLike":{"aws:TagKeys":"key1*"}}"#;
    assert!(!holds(op, &with_all("aws:TagKeys", &["key1:legal"])));
    assert!(!holds(op, &with_all("aws:TagKeys", &["key1:hr", "key2:x"])));
    assert!(holds(op, &with_all("aws:TagKeys", &["key2:audit"])));
    assert!(holds(op, &ctx()));
    // ForAnyValue:StringNotEquals — at least one request value is outside the list.
    let op = r#"{"ForAnyValue:StringNotEquals":{"aws:TagKeys":["a","b"]}}"#;
    assert!(holds(op, &with_all("aws:TagKeys", &["a", "c"])));
    assert!(!holds(op, &with_all("aws:TagKeys", &["a", "b"])));
    assert!(!holds(op, &ctx()));
    // With IfExists, a missing key is true whatever the set operator.
    assert!(holds(
        r#"{"ForAnyValue:StringEqualsIfExists":{"aws:TagKeys":"a"}}"#,
        &ctx()
    ));
}

#[test]
fn multi_valued_key_without_set_operator() {
    let c = with_all("kms:ResourceAliases", &["alias/a", "alias/b"]);
    assert!(holds(
        r#"{"StringEquals":{"kms:ResourceAliases":"alias/b"}}"#,
        &c
    ));
    assert!(!holds(
        r#"{"StringNotEquals":{"kms:ResourceAliases":"alias/b"}}"#,
        &c
    ));
    assert!(holds(
        r#"{"StringNotEquals":{"kms:ResourceAliases":"alias/c"}}"#,
        &c
    ));
}

#[test]
fn several_operators_and_keys_are_anded() {
    let mut c = ctx();
    c.insert("kms:ViaService", "s3.us-east-1.amazonaws.com");
    c.insert("kms:CallerAccount", "111122223333");
    let both = r#"{"StringEquals":{"kms:ViaService":"s3.us-east-1.amazonaws.com","kms:CallerAccount":"111122223333"}}"#;
    assert!(holds(both, &c));
    let one_wrong = r#"{"StringEquals":{"kms:ViaService":"s3.us-east-1.amazonaws.com","kms:CallerAccount":"444455556666"}}"#;
    assert!(!holds(one_wrong, &c));
    let two_ops = r#"{"StringEquals":{"kms:ViaService":"s3.us-east-1.amazonaws.com"},"StringLike":{"kms:CallerAccount":"4*"}}"#;
    assert!(!holds(two_ops, &c));
}

#[test]
fn policy_variables() {
    let mut c = ctx();
    c.insert("aws:PrincipalTag/team", "payments");
    c.insert_encryption_context([("team", "payments"), ("owner", "alice")]);
    assert!(holds(
        r#"{"StringEquals":{"kms:EncryptionContext:owner":"${aws:username}"}}"#,
        &c
    ));
    assert!(holds(
        r#"{"StringEquals":{"kms:EncryptionContext:team":"${aws:PrincipalTag/team}"}}"#,
        &c
    ));
    assert!(holds(
        r#"{"StringLike":{"kms:EncryptionContext:owner":"${aws:username}*"}}"#,
        &c
    ));
    // A missing variable with a default.
    assert!(holds(
        r#"{"StringEquals":{"kms:EncryptionContext:team":"${aws:PrincipalTag/dept, 'payments'}"}}"#,
        &c
    ));
    // A missing variable without a default matches nothing.
    assert!(!holds(
        r#"{"StringEquals":{"kms:EncryptionContext:team":"${aws:PrincipalTag/dept}"}}"#,
        &c
    ));
}

#[test]
fn escaped_special_characters_are_literal() {
    let c = with("kms:RequestAlias", "alias/a*b");
    assert!(holds(
        r#"{"StringLike":{"kms:RequestAlias":"alias/a${*}b"}}"#,
        &c
    ));
    assert!(!holds(
        r#"{"StringLike":{"kms:RequestAlias":"alias/a${*}b"}}"#,
        &with("kms:RequestAlias", "alias/aXb")
    ));
    let q = with("kms:RequestAlias", "alias/$?");
    assert!(holds(
        r#"{"StringEquals":{"kms:RequestAlias":"alias/${$}${?}"}}"#,
        &q
    ));
}

#[test]
fn substituted_values_are_not_wildcards() {
    let mut c = ctx();
    c.insert("aws:PrincipalTag/prefix", "*");
    c.insert("kms:RequestAlias", "alias/anything");
    assert!(!holds(
        r#"{"StringLike":{"kms:RequestAlias":"alias/${aws:PrincipalTag/prefix}"}}"#,
        &c
    ));
}

#[test]
fn variables_only_in_2012_policies() {
    let doc = r#"{"Version":"2008-10-17","Statement":{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:user/eng/alice"},"Action":"kms:Encrypt","Resource":"*","Condition":{"StringEquals":{"kms:RequestAlias":"${aws:username}"}}}}"#;
    let p = Policy::parse(doc, PolicyKind::KeyPolicy).unwrap();
    let set = PolicySet {
        key_policy: Some(&p),
        key_account: "111122223333",
        identity_policies: &[],
        grant_allows: false,
    };
    assert!(!evaluate(&with("kms:RequestAlias", "alice"), &set).is_allowed());
    assert!(evaluate(&with("kms:RequestAlias", "${aws:username}"), &set).is_allowed());
}

#[test]
fn resource_with_variables_and_wildcards() {
    let doc = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"kms:*","Resource":"arn:aws:kms:*:111122223333:key/${aws:PrincipalTag/key}"}}"#;
    let p = Policy::parse(doc, PolicyKind::IdentityPolicy).unwrap();
    let set = PolicySet {
        key_policy: None,
        key_account: "111122223333",
        identity_policies: std::slice::from_ref(&p),
        grant_allows: false,
    };
    let c = with(
        "aws:PrincipalTag/key",
        "1234abcd-12ab-34cd-56ef-1234567890ab",
    );
    assert!(evaluate(&c, &set).is_allowed());
    assert!(!evaluate(&with("aws:PrincipalTag/key", "other"), &set).is_allowed());
    assert!(!evaluate(&ctx(), &set).is_allowed());
}

#[test]
fn encryption_context_is_replaced_not_merged() {
    let mut c = ctx();
    c.insert_encryption_context([("project", "alpha"), ("stage", "dev")]);
    c.insert_encryption_context([("project", "beta")]);
    assert!(!holds(
        r#"{"StringEquals":{"kms:EncryptionContext:project":"alpha"}}"#,
        &c
    ));
    assert!(holds(
        r#"{"StringEquals":{"kms:EncryptionContext:project":"beta"}}"#,
        &c
    ));
    assert!(holds(
        r#"{"Null":{"kms:EncryptionContext:stage":"true"}}"#,
        &c
    ));
    assert!(holds(
        r#"{"ForAllValues:StringEquals":{"kms:EncryptionContextKeys":"project"}}"#,
        &c
    ));
}

#[test]
fn principal_keys_filled_from_the_principal() {
    let c = ctx();
    assert!(holds(
        r#"{"StringEquals":{"aws:username":"alice","aws:PrincipalAccount":"111122223333","kms:CallerAccount":"111122223333","aws:PrincipalType":"User","aws:PrincipalArn":"arn:aws:iam::111122223333:user/eng/alice"}}"#,
        &c
    ));
    let s = RequestContext::new(
        PrincipalContext::assumed_role(
            "arn:aws:sts::111122223333:assumed-role/app/s1",
            "arn:aws:iam::111122223333:role/svc/app",
        )
        .unwrap(),
        "kms:Encrypt",
        KEY,
    );
    assert!(holds(
        r#"{"StringEquals":{"aws:PrincipalType":"AssumedRole","aws:PrincipalArn":"arn:aws:iam::111122223333:role/svc/app"},"Null":{"aws:username":"true"}}"#,
        &s
    ));
}
