//! The global condition keys (`aws:*`) a request is authorized with are the same in KMS
//! (key policies) and STS (AssumeRole's trust policies), for the account's root, an IAM
//! user with long-term access keys, and role sessions with a source identity, as AWS's
//! "AWS global condition context keys" reference says, key by key:
//! <https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html>
//!
//! - `aws:MultiFactorAuthPresent`: absent for long-term access keys, `false` for temporary
//!   credentials (Trent's sessions are never MFA-authenticated);
//! - `aws:SourceIdentity`: in every request of a session that has one;
//! - `aws:ViaAWSService`, `aws:PrincipalIsAWSService`: always, `false`;
//! - `aws:userid`: the account id, the user's `AIDA...` id, `ROLEID:SESSION`.

use aws_sdk_kms::primitives::Blob;

use crate::harness::{expect_code, ok, TestServer, DEFAULT_ACCOUNT, REGION};
use crate::identities::{
    allow, start_with_config, user, ConfigFile, ALICE_ARN, ALICE_KEY, ALICE_SECRET,
};
use crate::sts::{assume, creds, kms_client, sts_err, sts_ok, xml, Creds};

const ROOT_KEY: &str = "AKIAROOT111122223333";
const ROOT_SECRET: &str = "root-secret-0123456789";
const SOURCE: &str = "arn:aws:iam::111122223333:role/source";

/// The roles AssumeRole is tested against: each trusts the account (so the caller's
/// identity policy must allow too) under one condition.
const GATES: [(&str, &str); 7] = [
    (
        "gate-long-term",
        r#""Null":{"aws:MultiFactorAuthPresent":"true"}"#,
    ),
    (
        "gate-session",
        r#""Bool":{"aws:MultiFactorAuthPresent":"false"}"#,
    ),
    (
        "gate-not-via",
        r#""Bool":{"aws:ViaAWSService":"false","aws:PrincipalIsAWSService":"false"}"#,
    ),
    ("gate-via", r#""Bool":{"aws:ViaAWSService":"true"}"#),
    (
        "gate-service",
        r#""Bool":{"aws:PrincipalIsAWSService":"true"}"#,
    ),
    (
        "gate-source",
        r#""StringEquals":{"aws:SourceIdentity":"alice-src"}"#,
    ),
    ("gate-userid", r#""StringLike":{"aws:userid":"AIDA*"}"#),
];

fn gate_arn(name: &str) -> String {
    format!("arn:aws:iam::{DEFAULT_ACCOUNT}:role/{name}")
}

fn config_text() -> String {
    let mut text = format!(
        r#"{alice}
[[accounts]]
id = "{DEFAULT_ACCOUNT}"
access_keys = [{{ id = "{ROOT_KEY}", secret = "{ROOT_SECRET}" }}]

[[roles]]
arn = "{SOURCE}"
trust_policy = '''{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"AWS":"{ALICE_ARN}"}},"Action":["sts:AssumeRole","sts:SetSourceIdentity"]}}]}}'''
[roles.policies]
kms = {kms}
sts = {sts}
"#,
        alice = user(
            ALICE_ARN,
            ALICE_KEY,
            ALICE_SECRET,
            &[("kms", "kms:*"), ("sts", "sts:AssumeRole")]
        ),
        kms = allow("kms:*"),
        sts = allow("sts:AssumeRole"),
    );
    for (name, condition) in GATES {
        text.push_str(&format!(
            r#"
[[roles]]
arn = "{arn}"
trust_policy = '''{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{DEFAULT_ACCOUNT}:root"}},"Action":"sts:AssumeRole","Condition":{{{condition}}}}}]}}'''
"#,
            arn = gate_arn(name)
        ));
    }
    text
}

/// A session of the source role for Alice, with this source identity and session name:
/// its access key, secret and token.
async fn session(server: &TestServer, source_identity: &str, name: &str) -> [String; 3] {
    let resp = assume(
        server,
        &creds(ALICE_KEY, ALICE_SECRET),
        SOURCE,
        name,
        &[("SourceIdentity", source_identity)],
    )
    .await;
    sts_ok(&resp);
    assert_eq!(
        xml(&resp, "SourceIdentity").as_deref(),
        Some(source_identity)
    );
    ["AccessKeyId", "SecretAccessKey", "SessionToken"].map(|t| xml(&resp, t).unwrap())
}

#[tokio::test]
async fn assume_role_sees_the_global_keys_kms_sees() {
    let config = ConfigFile::new(&config_text());
    let server = start_with_config(&config);
    let [k1, s1, t1] = session(&server, "alice-src", "alice-s").await;
    let [k2, s2, t2] = session(&server, "mallory", "mallory-s").await;
    let callers = [
        ("alice", creds(ALICE_KEY, ALICE_SECRET)),
        (
            "session alice-src",
            Creds {
                key: &k1,
                secret: &s1,
                token: Some(&t1),
            },
        ),
        (
            "session mallory",
            Creds {
                key: &k2,
                secret: &s2,
                token: Some(&t2),
            },
        ),
    ];
    // Whether alice, the alice-src session and the mallory session may assume each gate.
    let expected = [
        ("gate-long-term", [true, false, false]),
        ("gate-session", [false, true, true]),
        ("gate-not-via", [true, true, true]),
        ("gate-via", [false, false, false]),
        ("gate-service", [false, false, false]),
        ("gate-source", [false, true, false]),
        ("gate-userid", [true, false, false]),
    ];
    for (gate, allowed) in expected {
        for ((who, c), allowed) in callers.iter().zip(allowed) {
            let resp = assume(&server, c, &gate_arn(gate), "gate", &[]).await;
            if allowed {
                assert_eq!(resp.status, 200, "{who} -> {gate}: {}", resp.body_text());
            } else {
                assert_eq!(resp.status, 403, "{who} -> {gate}: {}", resp.body_text());
                sts_err(&resp, 403, "AccessDenied", None);
            }
        }
    }
}

#[tokio::test]
async fn key_policies_see_the_global_keys_assume_role_sees() {
    let config = ConfigFile::new(&config_text());
    let server = start_with_config(&config);
    let [k1, s1, t1] = session(&server, "alice-src", "alice-s").await;
    let [k2, s2, t2] = session(&server, "mallory", "mallory-s").await;
    let callers = [
        ("root", server.client_as(REGION, ROOT_KEY, ROOT_SECRET)),
        ("alice", server.client_as(REGION, ALICE_KEY, ALICE_SECRET)),
        ("session alice-src", kms_client(&server, &k1, &s1, &t1)),
        ("session mallory", kms_client(&server, &k2, &s2, &t2)),
    ];
    let admin = server.client(REGION);
    // Each key lets the account's principals use it (as their IAM policies say) unless
    // the condition denies kms:Encrypt; whether root, alice, and the two sessions may.
    let expected = [
        (
            r#""Bool":{"aws:MultiFactorAuthPresent":"false"}"#,
            [true, true, false, false],
        ),
        (
            r#""Null":{"aws:MultiFactorAuthPresent":"true"}"#,
            [false, false, true, true],
        ),
        (
            // IfExists: a request without the key matches (AWS: "If the key is not
            // present, evaluate the condition element as true"), so the Deny applies to
            // callers without a source identity too.
            r#""StringNotEqualsIfExists":{"aws:SourceIdentity":"alice-src"}"#,
            [false, false, true, false],
        ),
        (
            r#""Null":{"aws:SourceIdentity":"false"}"#,
            [true, true, false, false],
        ),
        (
            r#""Null":{"aws:PrincipalIsAWSService":"true"}"#,
            [true, true, true, true],
        ),
        (
            r#""Bool":{"aws:PrincipalIsAWSService":"false"}"#,
            [false, false, false, false],
        ),
        (
            r#""StringNotLike":{"aws:userid":["111122223333","AIDA*"]}"#,
            [true, true, false, false],
        ),
        (
            r#""StringNotLike":{"aws:userid":"AROA*:alice-s"}"#,
            [false, false, true, false],
        ),
    ];
    for (condition, allowed) in expected {
        let policy = format!(
            r#"{{"Version":"2012-10-17","Statement":[
            {{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{DEFAULT_ACCOUNT}:root"}},"Action":"kms:*","Resource":"*"}},
            {{"Effect":"Deny","Principal":{{"AWS":"*"}},"Action":"kms:Encrypt","Resource":"*","Condition":{{{condition}}}}}]}}"#
        );
        let key = ok(admin.create_key().policy(policy).send().await)
            .key_metadata()
            .unwrap()
            .arn()
            .unwrap()
            .to_owned();
        for ((who, client), allowed) in callers.iter().zip(allowed) {
            let out = client
                .encrypt()
                .key_id(&key)
                .plaintext(Blob::new(b"who".to_vec()))
                .send()
                .await;
            match (allowed, out) {
                (true, Ok(_)) => {}
                (true, Err(e)) => panic!("{who} under {condition}: {e:?}"),
                (false, Ok(_)) => panic!("{who} under {condition}: allowed"),
                (false, out) => {
                    expect_code(out, "AccessDeniedException");
                }
            }
        }
    }
}

const BOB_ARN: &str = "arn:aws:iam::111122223333:user/bob";
const CAROL_ARN: &str = "arn:aws:iam::111122223333:user/carol";

/// RetireGrant and ListRetirableGrants authorize by the caller's identity policies alone
/// (no key policy); those see the same global keys as every other KMS request: Bob's
/// Allow holds only with `aws:SecureTransport` and `aws:userid` present, Carol's Deny
/// applies as soon as `aws:userid` is.
#[tokio::test]
async fn identity_policies_of_grant_retirement_see_the_global_keys() {
    let retire = r#"["kms:RetireGrant","kms:ListRetirableGrants"]"#;
    let text = format!(
        r#"[[users]]
arn = "{BOB_ARN}"
access_keys = [{{ id = "AKIABOB0000000000001", secret = "bob-secret-0123456789" }}]
[users.policies]
retire = '''{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":{retire},"Resource":"*","Condition":{{"Bool":{{"aws:SecureTransport":"false"}},"StringLike":{{"aws:userid":"AIDA*"}}}}}}]}}'''

[[users]]
arn = "{CAROL_ARN}"
access_keys = [{{ id = "AKIACAROL00000000001", secret = "carol-secret-012345678" }}]
[users.policies]
retire = '''{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":"kms:*","Resource":"*"}},{{"Effect":"Deny","Action":{retire},"Resource":"*","Condition":{{"Null":{{"aws:userid":"false"}}}}}}]}}'''
"#
    );
    let config = ConfigFile::new(&text);
    let server = start_with_config(&config);
    let admin = server.client(REGION);
    let bob = server.client_as(REGION, "AKIABOB0000000000001", "bob-secret-0123456789");
    let carol = server.client_as(REGION, "AKIACAROL00000000001", "carol-secret-012345678");
    let key = ok(admin.create_key().send().await)
        .key_metadata()
        .unwrap()
        .key_id()
        .to_owned();
    let mut grants = Vec::new();
    for retiring in [BOB_ARN, CAROL_ARN] {
        let out = ok(admin
            .create_grant()
            .key_id(&key)
            .grantee_principal(ALICE_ARN)
            .retiring_principal(retiring)
            .operations(aws_sdk_kms::types::GrantOperation::Encrypt)
            .send()
            .await);
        grants.push(out.grant_id().unwrap().to_owned());
    }

    let listed = ok(bob
        .list_retirable_grants()
        .retiring_principal(BOB_ARN)
        .send()
        .await);
    assert_eq!(listed.grants().len(), 1);
    let denied = carol
        .list_retirable_grants()
        .retiring_principal(CAROL_ARN)
        .send()
        .await;
    expect_code(denied, "AccessDeniedException");

    // Retiring by the account's permission (neither is the grant's retiring principal
    // for the other's grant): Bob may, Carol may not.
    ok(bob
        .retire_grant()
        .key_id(&key)
        .grant_id(&grants[1])
        .send()
        .await);
    let denied = carol
        .retire_grant()
        .key_id(&key)
        .grant_id(&grants[0])
        .send()
        .await;
    expect_code(denied, "AccessDeniedException");
}
