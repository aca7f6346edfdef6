//! Authorization on every request, through the real server and the official SDK: a table
//! of cases after AWS's documented key-policy examples, run under several principals'
//! credentials (the administrator, and account roots of other accounts through
//! `--dev-any-credentials`).
//! <https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-overview.html>
//! <https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-modifying-external-accounts.html>
//! <https://docs.aws.amazon.com/kms/latest/developerguide/policy-conditions.html>

use std::collections::HashMap;

use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::Client;

use crate::harness::*;

/// The key owner's account (the dev switch's default account) and two others.
const OWNER: &str = DEFAULT_ACCOUNT;
const PARTNER: &str = "444455556666";
const STRANGER: &str = "777788889999";
const ADMIN: &str = "arn:aws:iam::111122223333:user/admin";

fn policy(statements: &[String]) -> String {
    format!(
        "{{\"Version\":\"2012-10-17\",\"Statement\":[{}]}}",
        statements.join(",")
    )
}

fn statement(effect: &str, principal: &str, actions: &str, condition: Option<&str>) -> String {
    let condition = condition
        .map(|c| format!(",\"Condition\":{c}"))
        .unwrap_or_default();
    format!(
        "{{\"Effect\":\"{effect}\",\"Principal\":{principal},\"Action\":{actions},\"Resource\":\"*\"{condition}}}"
    )
}

/// The default key policy's statement: the account may do everything, through IAM.
fn owner_account() -> String {
    statement(
        "Allow",
        &format!("{{\"AWS\":\"arn:aws:iam::{OWNER}:root\"}}"),
        "\"kms:*\"",
        None,
    )
}

#[derive(Clone, Copy, Debug)]
enum Who {
    /// The bootstrap administrator (IAM user with AdministratorAccess).
    Admin,
    /// The root of the owner account.
    OwnerRoot,
    PartnerRoot,
    StrangerRoot,
}

impl Who {
    fn arn(self) -> String {
        match self {
            Who::Admin => ADMIN.to_owned(),
            Who::OwnerRoot => format!("arn:aws:iam::{OWNER}:root"),
            Who::PartnerRoot => format!("arn:aws:iam::{PARTNER}:root"),
            Who::StrangerRoot => format!("arn:aws:iam::{STRANGER}:root"),
        }
    }
}

#[derive(Clone, Copy, Debug)]
enum Expect {
    Allowed,
    /// Denied because nothing allows ("no resource-based policy allows").
    NoResourcePolicy,
    /// Denied by an explicit Deny in the key policy.
    ExplicitDenyInKeyPolicy,
}

struct Case {
    name: &'static str,
    key_policy: String,
    who: Who,
    /// Encrypt with this encryption context.
    context: &'static [(&'static str, &'static str)],
    /// Name the key by this alias instead of its ARN (same account only).
    by_alias: bool,
    expect: Expect,
}

fn case(name: &'static str, key_policy: String, who: Who, expect: Expect) -> Case {
    Case {
        name,
        key_policy,
        who,
        context: &[],
        by_alias: false,
        expect,
    }
}

fn cases() -> Vec<Case> {
    let partner_root = format!("{{\"AWS\":\"arn:aws:iam::{PARTNER}:root\"}}");
    let partner_account = format!("{{\"AWS\":\"{PARTNER}\"}}");
    let admin_only = format!("{{\"AWS\":\"{ADMIN}\"}}");
    let someone_else = "{\"AWS\":\"arn:aws:iam::111122223333:user/someone-else\"}".to_owned();
    let encrypt = "\"kms:Encrypt\"";
    let use_key = "[\"kms:Encrypt\",\"kms:Decrypt\",\"kms:DescribeKey\"]";
    vec![
        // Allow, and delegation to IAM: the default key policy lets the account's IAM
        // policies decide; the administrator's AdministratorAccess allows.
        case("default policy, admin", policy(&[owner_account()]), Who::Admin, Expect::Allowed),
        case("default policy, owner root", policy(&[owner_account()]), Who::OwnerRoot, Expect::Allowed),
        // A key policy that names neither the caller nor its account: IAM cannot help.
        case(
            "policy for someone else, admin",
            policy(&[statement("Allow", &someone_else, "\"kms:*\"", None)]),
            Who::Admin,
            Expect::NoResourcePolicy,
        ),
        case(
            "policy for someone else, owner root",
            policy(&[statement("Allow", &someone_else, "\"kms:*\"", None)]),
            Who::OwnerRoot,
            Expect::NoResourcePolicy,
        ),
        // The key policy allows the administrator directly.
        case(
            "policy naming the admin",
            policy(&[statement("Allow", &admin_only, encrypt, None)]),
            Who::Admin,
            Expect::Allowed,
        ),
        // Explicit deny wins over every allow.
        case(
            "explicit deny of the admin",
            policy(&[owner_account(), statement("Deny", &admin_only, encrypt, None)]),
            Who::Admin,
            Expect::ExplicitDenyInKeyPolicy,
        ),
        case(
            "explicit deny of everyone",
            policy(&[owner_account(), statement("Deny", "\"*\"", "\"kms:*\"", None)]),
            Who::OwnerRoot,
            Expect::ExplicitDenyInKeyPolicy,
        ),
        // Cross-account: the key policy allows the other account (its root holds every
        // permission of its account, so needs no identity policy).
        case(
            "cross-account, partner allowed by ARN",
            policy(&[owner_account(), statement("Allow", &partner_root, use_key, None)]),
            Who::PartnerRoot,
            Expect::Allowed,
        ),
        case(
            "cross-account, partner allowed by account id",
            policy(&[owner_account(), statement("Allow", &partner_account, use_key, None)]),
            Who::PartnerRoot,
            Expect::Allowed,
        ),
        case(
            "cross-account, another account not named",
            policy(&[owner_account(), statement("Allow", &partner_root, use_key, None)]),
            Who::StrangerRoot,
            Expect::NoResourcePolicy,
        ),
        case(
            "cross-account, default policy",
            policy(&[owner_account()]),
            Who::PartnerRoot,
            Expect::NoResourcePolicy,
        ),
        // kms:CallerAccount: everyone in the partner account, as AWS's example does.
        case(
            "kms:CallerAccount matches",
            policy(&[owner_account(), statement("Allow", "{\"AWS\":\"*\"}", encrypt, Some(&format!("{{\"StringEquals\":{{\"kms:CallerAccount\":\"{PARTNER}\"}}}}")))]),
            Who::PartnerRoot,
            Expect::Allowed,
        ),
        case(
            "kms:CallerAccount does not match",
            policy(&[owner_account(), statement("Allow", "{\"AWS\":\"*\"}", encrypt, Some(&format!("{{\"StringEquals\":{{\"kms:CallerAccount\":\"{PARTNER}\"}}}}")))]),
            Who::StrangerRoot,
            Expect::NoResourcePolicy,
        ),
        // Conditions on the encryption context.
        Case {
            context: &[("project", "alpha")],
            ..case(
                "kms:EncryptionContext:project matches",
                policy(&[owner_account(), statement("Deny", "\"*\"", encrypt, Some("{\"StringNotEquals\":{\"kms:EncryptionContext:project\":\"alpha\"}}"))]),
                Who::Admin,
                Expect::Allowed,
            )
        },
        Case {
            context: &[("project", "beta")],
            ..case(
                "kms:EncryptionContext:project differs",
                policy(&[owner_account(), statement("Deny", "\"*\"", encrypt, Some("{\"StringNotEquals\":{\"kms:EncryptionContext:project\":\"alpha\"}}"))]),
                Who::Admin,
                Expect::ExplicitDenyInKeyPolicy,
            )
        },
        Case {
            context: &[("project", "alpha"), ("team", "blue")],
            ..case(
                "ForAllValues kms:EncryptionContextKeys within the list",
                policy(&[statement("Allow", &admin_only, encrypt, Some("{\"ForAllValues:StringEquals\":{\"kms:EncryptionContextKeys\":[\"project\",\"team\"]}}"))]),
                Who::Admin,
                Expect::Allowed,
            )
        },
        Case {
            context: &[("project", "alpha"), ("stage", "x")],
            ..case(
                "ForAllValues kms:EncryptionContextKeys outside the list",
                policy(&[statement("Allow", &admin_only, encrypt, Some("{\"ForAllValues:StringEquals\":{\"kms:EncryptionContextKeys\":[\"project\",\"team\"]}}"))]),
                Who::Admin,
                Expect::NoResourcePolicy,
            )
        },
        // aws:ResourceTag: every test key is tagged env=test.
        case(
            "aws:ResourceTag matches",
            policy(&[statement("Allow", &admin_only, encrypt, Some("{\"StringEquals\":{\"aws:ResourceTag/env\":\"test\"}}"))]),
            Who::Admin,
            Expect::Allowed,
        ),
        case(
            "aws:ResourceTag differs",
            policy(&[statement("Allow", &admin_only, encrypt, Some("{\"StringEquals\":{\"aws:ResourceTag/env\":\"prod\"}}"))]),
            Who::Admin,
            Expect::NoResourcePolicy,
        ),
        // kms:RequestAlias: only when the request names the key by that alias.
        Case {
            by_alias: true,
            ..case(
                "kms:RequestAlias by alias",
                policy(&[
                    statement("Allow", &admin_only, encrypt, Some("{\"StringLike\":{\"kms:RequestAlias\":\"alias/case-*\"}}")),
                    statement("Allow", &admin_only, "\"kms:CreateAlias\"", None),
                ]),
                Who::Admin,
                Expect::Allowed,
            )
        },
        case(
            "kms:RequestAlias by ARN",
            policy(&[statement("Allow", &admin_only, encrypt, Some("{\"StringLike\":{\"kms:RequestAlias\":\"alias/case-*\"}}"))]),
            Who::Admin,
            Expect::NoResourcePolicy,
        ),
        // aws:SourceIp: the tests connect from 127.0.0.1.
        case(
            "aws:SourceIp in range",
            policy(&[statement("Allow", &admin_only, encrypt, Some("{\"IpAddress\":{\"aws:SourceIp\":\"127.0.0.0/8\"}}"))]),
            Who::Admin,
            Expect::Allowed,
        ),
        case(
            "aws:SourceIp out of range",
            policy(&[owner_account(), statement("Deny", "\"*\"", encrypt, Some("{\"NotIpAddress\":{\"aws:SourceIp\":\"192.0.2.0/24\"}}"))]),
            Who::Admin,
            Expect::ExplicitDenyInKeyPolicy,
        ),
    ]
}

#[tokio::test]
async fn documented_key_policy_examples() {
    let server = TestServer::start_with(&["--dev-any-credentials"], &[]);
    let admin = server.client(REGION);
    let clients: HashMap<&str, Client> = [
        ("owner", server.client_as(REGION, OWNER, "any-secret")),
        ("partner", server.client_as(REGION, PARTNER, "any-secret")),
        ("stranger", server.client_as(REGION, STRANGER, "any-secret")),
    ]
    .into_iter()
    .collect();
    let mut failures = Vec::new();
    for (i, c) in cases().into_iter().enumerate() {
        let created = ok(admin
            .create_key()
            .policy(&c.key_policy)
            .bypass_policy_lockout_safety_check(true)
            .tags(
                aws_sdk_kms::types::Tag::builder()
                    .tag_key("env")
                    .tag_value("test")
                    .build()
                    .unwrap(),
            )
            .send()
            .await);
        let md = created.key_metadata().unwrap();
        let arn = md.arn().unwrap().to_owned();
        let alias = format!("alias/case-{i}");
        if c.by_alias {
            ok(admin
                .create_alias()
                .alias_name(&alias)
                .target_key_id(md.key_id())
                .send()
                .await);
        }
        let client = match c.who {
            Who::Admin => &admin,
            Who::OwnerRoot => &clients["owner"],
            Who::PartnerRoot => &clients["partner"],
            Who::StrangerRoot => &clients["stranger"],
        };
        let mut req = client
            .encrypt()
            .key_id(if c.by_alias { &alias } else { &arn })
            .plaintext(Blob::new(b"table".to_vec()));
        for (k, v) in c.context {
            req = req.encryption_context(*k, *v);
        }
        let result = req.send().await;
        let denied = |why: String| {
            format!(
                "User: {} is not authorized to perform: kms:Encrypt on resource: {arn} {why}",
                c.who.arn()
            )
        };
        let outcome = match (&c.expect, result) {
            (Expect::Allowed, Ok(_)) => Ok(()),
            (Expect::Allowed, Err(e)) => Err(format!("denied: {e:?}")),
            (_, Ok(_)) => Err("allowed".to_owned()),
            (expect, Err(e)) => {
                let e = e.into_service_error();
                use aws_sdk_kms::error::ProvideErrorMetadata;
                let want = match expect {
                    Expect::NoResourcePolicy => denied(
                        "because no resource-based policy allows the kms:Encrypt action".into(),
                    ),
                    _ => denied("with an explicit deny in a resource-based policy".into()),
                };
                if e.code() == Some("AccessDeniedException") && e.message() == Some(want.as_str()) {
                    Ok(())
                } else {
                    Err(format!("{:?}: {:?} (wanted {want})", e.code(), e.message()))
                }
            }
        };
        if let Err(why) = outcome {
            failures.push(format!("{} ({:?}): {why}", c.name, c.who));
        }
    }
    assert!(
        failures.is_empty(),
        "failed cases:\n{}",
        failures.join("\n")
    );
}

/// Operations on no key are decided by identity policies alone; an account root and the
/// administrator may do them. Alias operations also need the key's policy to allow.
#[tokio::test]
async fn operations_on_no_key_and_on_aliases() {
    let server = TestServer::start_with(&["--dev-any-credentials"], &[]);
    let admin = server.client(REGION);
    let partner = server.client_as(REGION, PARTNER, "any-secret");
    ok(admin.list_keys().send().await);
    ok(partner.list_keys().send().await);
    ok(admin.generate_random().number_of_bytes(8).send().await);
    ok(admin.list_aliases().send().await);
    // A key whose policy does not let the administrator create aliases for it.
    let locked = ok(admin
        .create_key()
        .policy(policy(&[statement(
            "Allow",
            &format!("{{\"AWS\":\"{ADMIN}\"}}"),
            "[\"kms:DescribeKey\",\"kms:Encrypt\"]",
            None,
        )]))
        .bypass_policy_lockout_safety_check(true)
        .send()
        .await);
    let arn = locked.key_metadata().unwrap().arn().unwrap().to_owned();
    let e = admin
        .create_alias()
        .alias_name("alias/nope")
        .target_key_id(&arn)
        .send()
        .await;
    expect_err(
        e,
        "AccessDeniedException",
        Some(&format!("User: {ADMIN} is not authorized to perform: kms:CreateAlias on resource: {arn} because no resource-based policy allows the kms:CreateAlias action")),
    );
    // No alias was made: only AWS's predefined aliases are listed, none with a key.
    let listed = ok(admin.list_aliases().send().await);
    assert!(listed
        .aliases()
        .iter()
        .all(|a| a.target_key_id().is_none() && a.alias_name().unwrap().starts_with("alias/aws/")));
}

/// A tag change changes what aws:ResourceTag conditions see at once.
#[tokio::test]
async fn tags_and_policies_take_effect_on_the_next_request() {
    let server = TestServer::start();
    let admin = server.client(REGION);
    let created = ok(admin
        .create_key()
        .policy(policy(&[
            owner_account(),
            statement(
                "Deny",
                "\"*\"",
                "\"kms:Encrypt\"",
                Some("{\"StringEquals\":{\"aws:ResourceTag/frozen\":\"yes\"}}"),
            ),
        ]))
        .send()
        .await);
    let key = created.key_metadata().unwrap().key_id().to_owned();
    encrypt(&admin, &key, b"ok").await;
    ok(admin
        .tag_resource()
        .key_id(&key)
        .tags(
            aws_sdk_kms::types::Tag::builder()
                .tag_key("frozen")
                .tag_value("yes")
                .build()
                .unwrap(),
        )
        .send()
        .await);
    let e = admin
        .encrypt()
        .key_id(&key)
        .plaintext(Blob::new(b"x".to_vec()))
        .send()
        .await;
    expect_code(e, "AccessDeniedException");
    ok(admin
        .untag_resource()
        .key_id(&key)
        .tag_keys("frozen")
        .send()
        .await);
    encrypt(&admin, &key, b"ok again").await;
}

/// Principals of the configuration file (see `docs/identities.md`) for the table below.
mod principals {
    pub const ALICE: &str = "arn:aws:iam::111122223333:user/engineering/alice";
    pub const BOB: &str = "arn:aws:iam::111122223333:user/bob";
    pub const CAROL: &str = "arn:aws:iam::111122223333:user/carol";
    pub const DAVE: &str = "arn:aws:iam::444455556666:user/dave";
    pub const ERIN: &str = "arn:aws:iam::444455556666:user/erin";

    /// (ARN, access key id, secret)
    pub const USERS: &[(&str, &str, &str)] = &[
        (ALICE, "AKIAALICE00000000001", "alice-secret-1"),
        (BOB, "AKIABOB0000000000001", "bob-secret-1"),
        (CAROL, "AKIACAROL00000000001", "carol-secret-1"),
        (DAVE, "AKIADAVE000000000001", "dave-secret-1"),
        (ERIN, "AKIAERIN000000000001", "erin-secret-1"),
    ];

    /// Alice (team=blue) may use keys through IAM; Bob has no identity policy; Carol's
    /// IAM allows everything but denies Encrypt; in the partner account, Dave's IAM allows
    /// Encrypt and Erin has no identity policy.
    pub fn config() -> String {
        let allow = |action: &str| {
            format!(
                r#"'''{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":"{action}","Resource":"*"}}]}}'''"#
            )
        };
        format!(
            r#"[[accounts]]
id = "444455556666"

[[users]]
arn = "{ALICE}"
access_keys = [{{ id = "AKIAALICE00000000001", secret = "alice-secret-1" }}]
tags = {{ team = "blue" }}
[users.policies]
use = {use_keys}

[[users]]
arn = "{BOB}"
access_keys = [{{ id = "AKIABOB0000000000001", secret = "bob-secret-1" }}]
tags = {{ team = "red" }}

[[users]]
arn = "{CAROL}"
access_keys = [{{ id = "AKIACAROL00000000001", secret = "carol-secret-1" }}]
[users.policies]
all = {all}
no-encrypt = '''{{"Version":"2012-10-17","Statement":[{{"Effect":"Deny","Action":"kms:Encrypt","Resource":"*"}}]}}'''

[[users]]
arn = "{DAVE}"
access_keys = [{{ id = "AKIADAVE000000000001", secret = "dave-secret-1" }}]
[users.policies]
encrypt = {encrypt}

[[users]]
arn = "{ERIN}"
access_keys = [{{ id = "AKIAERIN000000000001", secret = "erin-secret-1" }}]
"#,
            use_keys = allow("kms:*"),
            all = allow("*"),
            encrypt = allow("kms:Encrypt"),
        )
    }
}

/// Why a case is denied, as AWS's message ends.
#[derive(Clone, Copy, Debug)]
enum Why {
    Allowed,
    NoResourcePolicy,
    NoIdentityPolicy,
    DenyInKeyPolicy,
    DenyInIdentityPolicy,
}

#[tokio::test]
async fn documented_examples_under_several_principals() {
    use principals::*;
    let dir = tempfile::Builder::new()
        .prefix("trent-config-")
        .tempdir()
        .unwrap();
    let config_path = dir.path().join("trent.toml");
    std::fs::write(&config_path, config()).unwrap();
    let server = TestServer::start_with(&["--config", config_path.to_str().unwrap()], &[]);
    let admin = server.client(REGION);
    let clients: HashMap<&str, Client> = USERS
        .iter()
        .map(|(arn, key, secret)| (*arn, server.client_as(REGION, key, secret)))
        .collect();

    let principal = |arn: &str| format!("{{\"AWS\":\"{arn}\"}}");
    let encrypt = "\"kms:Encrypt\"";
    let default = policy(&[owner_account()]);
    let same_account = format!("{{\"StringEquals\":{{\"kms:CallerAccount\":\"{OWNER}\"}}}}");
    // (name, key policy, caller, encryption context, expected)
    let table: Vec<UserCase> = vec![
        ("delegation to IAM: identity policy allows", default.clone(), ALICE, &[], Why::Allowed),
        ("delegation to IAM: no identity policy", default.clone(), BOB, &[], Why::NoIdentityPolicy),
        (
            "key policy allows the user directly, no identity policy needed",
            policy(&[owner_account(), statement("Allow", &principal(BOB), encrypt, None)]),
            BOB,
            &[],
            Why::Allowed,
        ),
        (
            "explicit deny in the key policy wins over IAM",
            policy(&[owner_account(), statement("Deny", &principal(ALICE), encrypt, None)]),
            ALICE,
            &[],
            Why::DenyInKeyPolicy,
        ),
        ("explicit deny in an identity policy wins", default.clone(), CAROL, &[], Why::DenyInIdentityPolicy),
        (
            "cross-account: key policy and the partner's IAM allow",
            policy(&[owner_account(), statement("Allow", &principal(&format!("arn:aws:iam::{PARTNER}:root")), encrypt, None)]),
            DAVE,
            &[],
            Why::Allowed,
        ),
        (
            "cross-account: the partner's IAM does not allow",
            policy(&[owner_account(), statement("Allow", &principal(&format!("arn:aws:iam::{PARTNER}:root")), encrypt, None)]),
            ERIN,
            &[],
            Why::NoIdentityPolicy,
        ),
        ("cross-account: the key policy does not allow", default.clone(), DAVE, &[], Why::NoResourcePolicy),
        (
            "aws:PrincipalTag/team matches",
            policy(&[owner_account(), statement("Allow", "{\"AWS\":\"*\"}", encrypt, Some(&format!("{{\"StringEquals\":{{\"aws:PrincipalTag/team\":\"red\",\"kms:CallerAccount\":\"{OWNER}\"}}}}")))]),
            BOB,
            &[],
            Why::Allowed,
        ),
        (
            "aws:PrincipalTag/team differs",
            policy(&[statement("Allow", "{\"AWS\":\"*\"}", encrypt, Some(&format!("{{\"StringEquals\":{{\"aws:PrincipalTag/team\":\"red\",\"kms:CallerAccount\":\"{OWNER}\"}}}}")))]),
            ALICE,
            &[],
            Why::NoResourcePolicy,
        ),
        (
            "${aws:username} in the encryption context matches",
            policy(&[statement("Allow", "{\"AWS\":\"*\"}", encrypt, Some("{\"StringEquals\":{\"kms:EncryptionContext:owner\":\"${aws:username}\"}}"))]),
            BOB,
            &[("owner", "bob")],
            Why::Allowed,
        ),
        (
            "${aws:username} in the encryption context differs",
            policy(&[statement("Allow", "{\"AWS\":\"*\"}", encrypt, Some("{\"StringEquals\":{\"kms:EncryptionContext:owner\":\"${aws:username}\"}}"))]),
            BOB,
            &[("owner", "alice")],
            Why::NoResourcePolicy,
        ),
        (
            "kms:CallerAccount keeps other accounts out",
            policy(&[statement("Allow", "{\"AWS\":\"*\"}", encrypt, Some(&same_account))]),
            DAVE,
            &[],
            Why::NoResourcePolicy,
        ),
        (
            "kms:EncryptionContext:project for IAM-delegated use",
            policy(&[owner_account(), statement("Deny", "\"*\"", encrypt, Some("{\"StringNotEquals\":{\"kms:EncryptionContext:project\":\"alpha\"}}"))]),
            ALICE,
            &[("project", "alpha")],
            Why::Allowed,
        ),
    ];
    let mut failures = Vec::new();
    for (name, key_policy, who, context, why) in table {
        let created = ok(admin
            .create_key()
            .policy(&key_policy)
            .bypass_policy_lockout_safety_check(true)
            .send()
            .await);
        let arn = created.key_metadata().unwrap().arn().unwrap().to_owned();
        let mut req = clients[who]
            .encrypt()
            .key_id(&arn)
            .plaintext(Blob::new(b"table".to_vec()));
        for (k, v) in context {
            req = req.encryption_context(*k, *v);
        }
        let result = req.send().await;
        let reason = match why {
            Why::Allowed => None,
            Why::NoResourcePolicy => {
                Some("because no resource-based policy allows the kms:Encrypt action")
            }
            Why::NoIdentityPolicy => {
                Some("because no identity-based policy allows the kms:Encrypt action")
            }
            Why::DenyInKeyPolicy => Some("with an explicit deny in a resource-based policy"),
            Why::DenyInIdentityPolicy => Some("with an explicit deny in an identity-based policy"),
        };
        let outcome = match (reason, result) {
            (None, Ok(_)) => Ok(()),
            (None, Err(e)) => Err(format!("denied: {:?}", e.into_service_error())),
            (Some(_), Ok(_)) => Err("allowed".to_owned()),
            (Some(reason), Err(e)) => {
                use aws_sdk_kms::error::ProvideErrorMetadata;
                let e = e.into_service_error();
                let want = format!(
                    "User: {who} is not authorized to perform: kms:Encrypt on resource: {arn} {reason}"
                );
                if e.code() == Some("AccessDeniedException") && e.message() == Some(want.as_str()) {
                    Ok(())
                } else {
                    Err(format!("{:?}: {:?} (wanted {want})", e.code(), e.message()))
                }
            }
        };
        if let Err(detail) = outcome {
            failures.push(format!("{name}: {detail}"));
        }
    }
    assert!(
        failures.is_empty(),
        "failed cases:\n{}",
        failures.join("\n")
    );
}

/// (name, key policy, caller, encryption context, expected)
type UserCase<'a> = (&'a str, String, &'a str, &'a [(&'a str, &'a str)], Why);

/// Grants to IAM users of the owner account: Bob has no identity policy, so the default
/// key policy (delegation to IAM) does not let him Decrypt, but a grant to his ARN does,
/// for exactly its operations; Carol's identity policy denies Encrypt explicitly, and a
/// grant cannot override that deny.
#[tokio::test]
async fn grants_to_iam_users_add_permissions_but_never_beat_a_deny() {
    use aws_sdk_kms::types::GrantOperation;
    use principals::*;
    let dir = tempfile::Builder::new()
        .prefix("trent-config-")
        .tempdir()
        .unwrap();
    let config_path = dir.path().join("trent.toml");
    std::fs::write(&config_path, config()).unwrap();
    let server = TestServer::start_with(&["--config", config_path.to_str().unwrap()], &[]);
    let admin = server.client(REGION);
    let bob = server.client_as(REGION, "AKIABOB0000000000001", "bob-secret-1");
    let carol = server.client_as(REGION, "AKIACAROL00000000001", "carol-secret-1");
    let key = ok(admin.create_key().send().await);
    let key = key.key_metadata().unwrap().key_id().to_owned();
    let blob = ok(admin
        .encrypt()
        .key_id(&key)
        .plaintext(Blob::new(b"for bob".to_vec()))
        .send()
        .await)
    .ciphertext_blob()
    .unwrap()
    .clone();
    let decrypt = |client: &Client| client.decrypt().ciphertext_blob(blob.clone()).send();

    let e = expect_code(decrypt(&bob).await, "AccessDeniedException");
    assert!(
        aws_sdk_kms::error::ProvideErrorMetadata::message(&e)
            .unwrap_or_default()
            .ends_with("because no identity-based policy allows the kms:Decrypt action"),
        "{e:?}"
    );
    ok(admin
        .create_grant()
        .key_id(&key)
        .grantee_principal(BOB)
        .operations(GrantOperation::Decrypt)
        .send()
        .await);
    let out = ok(decrypt(&bob).await);
    assert_eq!(out.plaintext().unwrap().as_ref(), b"for bob");
    // Only the granted operation.
    expect_code(
        bob.encrypt()
            .key_id(&key)
            .plaintext(Blob::new(b"x".to_vec()))
            .send()
            .await,
        "AccessDeniedException",
    );

    ok(admin
        .create_grant()
        .key_id(&key)
        .grantee_principal(CAROL)
        .operations(GrantOperation::Encrypt)
        .send()
        .await);
    let e = expect_code(
        carol
            .encrypt()
            .key_id(&key)
            .plaintext(Blob::new(b"x".to_vec()))
            .send()
            .await,
        "AccessDeniedException",
    );
    assert!(
        aws_sdk_kms::error::ProvideErrorMetadata::message(&e)
            .unwrap_or_default()
            .ends_with("with an explicit deny in an identity-based policy"),
        "{e:?}"
    );
}
