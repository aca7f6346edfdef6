//! KMS authorization: AWS's documented key policy examples, delegation to IAM,
//! cross-account use, explicit denies, grants, NotPrincipal, role sessions, the
//! lockout safety check and the AccessDeniedException messages.
//!
//! Examples follow the AWS KMS Developer Guide: "Default key policy", "Key policy
//! examples", "kms:ViaService", "kms:EncryptionContext:context-key",
//! "kms:CallerAccount", "kms:GrantIsForAWSResource", "Allowing users in other accounts
//! to use a KMS key", "kms:RequestAlias", "kms:ResourceAliases".
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::IpAddr;

use trent_policy::{
    check_lockout, default_key_policy, evaluate, limit_by_session_policy, AllowedBy, Decision,
    Grant, ImplicitDenyReason, Policy, PolicyError, PolicyKind, PolicySet, PolicySource,
    PrincipalContext, RequestContext,
};

const ACCT: &str = "111122223333";
const EXT: &str = "444455556666";
const KEY: &str = "arn:aws:kms:us-west-2:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";

fn key_policy(doc: &str) -> Policy {
    Policy::parse(doc, PolicyKind::KeyPolicy).unwrap()
}

fn iam(doc: &str) -> Policy {
    Policy::parse(doc, PolicyKind::IdentityPolicy).unwrap()
}

fn user(arn: &str) -> PrincipalContext {
    PrincipalContext::from_arn(arn).unwrap()
}

fn session(role_arn: &str, name: &str) -> PrincipalContext {
    let (acct, role) = {
        let rest = role_arn.strip_prefix("arn:aws:iam::").unwrap();
        let (a, r) = rest.split_once(":role/").unwrap();
        (a, r.rsplit('/').next().unwrap())
    };
    PrincipalContext::assumed_role(
        &format!("arn:aws:sts::{acct}:assumed-role/{role}/{name}"),
        role_arn,
    )
    .unwrap()
}

fn decide(
    principal: PrincipalContext,
    action: &str,
    kp: &Policy,
    ids: &[Policy],
    setup: impl FnOnce(&mut RequestContext),
) -> Decision {
    let mut ctx = RequestContext::new(principal, action, KEY);
    setup(&mut ctx);
    evaluate(
        &ctx,
        &PolicySet {
            key_policy: Some(kp),
            key_account: ACCT,
            identity_policies: ids,
            grant_allows: false,
        },
    )
}

const NO_RESOURCE: Decision = Decision::ImplicitDeny {
    reason: ImplicitDenyReason::NoResourceBasedPolicyAllows,
};
const NO_IDENTITY: Decision = Decision::ImplicitDeny {
    reason: ImplicitDenyReason::NoIdentityBasedPolicyAllows,
};
const DENY_KEY: Decision = Decision::ExplicitDeny {
    source: PolicySource::KeyPolicy,
};
const DENY_IAM: Decision = Decision::ExplicitDeny {
    source: PolicySource::IdentityPolicy,
};

fn allow_all_kms() -> Policy {
    iam(
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"kms:*","Resource":"*"}}"#,
    )
}

#[test]
fn default_key_policy_delegates_to_iam() {
    let kp = key_policy(&default_key_policy(ACCT));
    let alice = || user("arn:aws:iam::111122223333:user/alice");
    // Root: allowed by the key policy itself.
    assert_eq!(
        decide(
            PrincipalContext::root(ACCT),
            "kms:ScheduleKeyDeletion",
            &kp,
            &[],
            |_| {}
        ),
        Decision::Allow(AllowedBy::KeyPolicy)
    );
    // A user needs an IAM policy.
    assert_eq!(
        decide(alice(), "kms:Encrypt", &kp, &[], |_| {}),
        NO_IDENTITY
    );
    assert_eq!(
        decide(alice(), "kms:Encrypt", &kp, &[allow_all_kms()], |_| {}),
        Decision::Allow(AllowedBy::KeyPolicyAndIdentityPolicy)
    );
    // An IAM policy for another action does not help.
    let enc_only = iam(
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"kms:Encrypt","Resource":"*"}}"#,
    );
    assert_eq!(
        decide(
            alice(),
            "kms:Decrypt",
            &kp,
            std::slice::from_ref(&enc_only),
            |_| {}
        ),
        NO_IDENTITY
    );
    // An IAM policy scoped to another key does not help either.
    let other_key = iam(
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"kms:*","Resource":"arn:aws:kms:us-west-2:111122223333:key/other"}}"#,
    );
    assert_eq!(
        decide(alice(), "kms:Encrypt", &kp, &[other_key], |_| {}),
        NO_IDENTITY
    );
    // Action names are case-insensitive.
    let lower = iam(
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"KMS:encrypt","Resource":"*"}}"#,
    );
    assert!(decide(alice(), "kms:Encrypt", &kp, &[lower], |_| {}).is_allowed());
}

#[test]
fn key_policy_without_delegation_ignores_iam() {
    // Only a named role may use the key; the account root is not in the policy.
    let kp = key_policy(
        r#"{"Version":"2012-10-17","Statement":[
        {"Sid":"Allow use of the key","Effect":"Allow",
         "Principal":{"AWS":"arn:aws:iam::111122223333:role/KMSKeyUserRole"},
         "Action":["kms:Encrypt","kms:Decrypt","kms:ReEncrypt*","kms:GenerateDataKey*","kms:DescribeKey"],
         "Resource":"*"}]}"#,
    );
    let bob = user("arn:aws:iam::111122223333:user/bob");
    assert_eq!(
        decide(bob, "kms:Encrypt", &kp, &[allow_all_kms()], |_| {}),
        NO_RESOURCE
    );
    let s = session("arn:aws:iam::111122223333:role/KMSKeyUserRole", "app");
    assert_eq!(
        decide(
            s.clone(),
            "kms:GenerateDataKeyWithoutPlaintext",
            &kp,
            &[],
            |_| {}
        ),
        Decision::Allow(AllowedBy::KeyPolicy)
    );
    assert_eq!(
        decide(s.clone(), "kms:ReEncryptFrom", &kp, &[], |_| {}),
        Decision::Allow(AllowedBy::KeyPolicy)
    );
    assert_eq!(
        decide(s, "kms:ScheduleKeyDeletion", &kp, &[], |_| {}),
        NO_RESOURCE
    );
    // Even the root is refused when the policy does not name it.
    assert_eq!(
        decide(
            PrincipalContext::root(ACCT),
            "kms:Encrypt",
            &kp,
            &[],
            |_| {}
        ),
        NO_RESOURCE
    );
}

#[test]
fn console_default_policy_administrators_users_and_grants() {
    let kp = key_policy(
        r#"{"Version":"2012-10-17","Id":"key-consolepolicy-3","Statement":[
        {"Sid":"Enable IAM User Permissions","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"},
        {"Sid":"Allow access for Key Administrators","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:role/ops/KMSAdminRole"},
         "Action":["kms:Create*","kms:Describe*","kms:Enable*","kms:List*","kms:Put*","kms:Update*","kms:Revoke*","kms:Disable*","kms:Get*","kms:Delete*","kms:TagResource","kms:UntagResource","kms:ScheduleKeyDeletion","kms:CancelKeyDeletion","kms:RotateKeyOnDemand"],
         "Resource":"*"},
        {"Sid":"Allow use of the key","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:role/KMSKeyUserRole"},
         "Action":["kms:Encrypt","kms:Decrypt","kms:ReEncrypt*","kms:GenerateDataKey*","kms:DescribeKey"],"Resource":"*"},
        {"Sid":"Allow attachment of persistent resources","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:role/KMSKeyUserRole"},
         "Action":["kms:CreateGrant","kms:ListGrants","kms:RevokeGrant"],"Resource":"*",
         "Condition":{"Bool":{"kms:GrantIsForAWSResource":"true"}}}]}"#,
    );
    let admin = || session("arn:aws:iam::111122223333:role/ops/KMSAdminRole", "admin");
    let app = || session("arn:aws:iam::111122223333:role/KMSKeyUserRole", "app");
    assert!(decide(admin(), "kms:PutKeyPolicy", &kp, &[], |_| {}).is_allowed());
    assert!(decide(admin(), "kms:DisableKey", &kp, &[], |_| {}).is_allowed());
    assert_eq!(
        decide(admin(), "kms:Decrypt", &kp, &[], |_| {}),
        NO_IDENTITY,
        "delegation applies, no IAM policy"
    );
    assert!(decide(app(), "kms:Decrypt", &kp, &[], |_| {}).is_allowed());
    assert_eq!(
        decide(app(), "kms:CreateGrant", &kp, &[], |c| {
            c.insert("kms:GrantIsForAWSResource", true);
        }),
        Decision::Allow(AllowedBy::KeyPolicy)
    );
    assert_eq!(
        decide(app(), "kms:CreateGrant", &kp, &[], |_| {}),
        NO_IDENTITY
    );
    assert_eq!(
        decide(app(), "kms:CreateGrant", &kp, &[], |c| {
            c.insert("kms:GrantIsForAWSResource", false);
        }),
        NO_IDENTITY
    );
}

#[test]
fn via_service_example() {
    let kp = key_policy(
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow",
        "Principal":{"AWS":"arn:aws:iam::111122223333:user/ExampleUser"},
        "Action":["kms:Encrypt","kms:Decrypt","kms:ReEncrypt*","kms:GenerateDataKey*","kms:CreateGrant","kms:ListGrants","kms:DescribeKey"],
        "Resource":"*",
        "Condition":{"StringEquals":{"kms:ViaService":["ec2.us-west-2.amazonaws.com","rds.us-west-2.amazonaws.com"]}}}]}"#,
    );
    let u = || user("arn:aws:iam::111122223333:user/ExampleUser");
    assert!(decide(u(), "kms:Decrypt", &kp, &[], |c| {
        c.insert("kms:ViaService", "ec2.us-west-2.amazonaws.com");
    })
    .is_allowed());
    assert_eq!(
        decide(u(), "kms:Decrypt", &kp, &[], |c| {
            c.insert("kms:ViaService", "s3.us-west-2.amazonaws.com");
        }),
        NO_RESOURCE
    );
    // Called directly, not through a service: the key is absent, the condition false.
    assert_eq!(decide(u(), "kms:Decrypt", &kp, &[], |_| {}), NO_RESOURCE);
}

#[test]
fn encryption_context_examples() {
    // Allow Decrypt only with a given pair; require the AppName key (case-sensitive via
    // EncryptionContextKeys); deny anything else with an explicit Deny.
    let kp = key_policy(
        r#"{"Version":"2012-10-17","Statement":[
        {"Sid":"Enable IAM User Permissions","Effect":"Allow","Principal":{"AWS":"111122223333"},"Action":"kms:*","Resource":"*"},
        {"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:role/RoleForExampleApp"},
         "Action":"kms:Decrypt","Resource":"*",
         "Condition":{"StringEquals":{"kms:EncryptionContext:AppName":"ExampleApp"}}},
        {"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:role/RoleForExampleApp"},
         "Action":"kms:GenerateDataKey","Resource":"*",
         "Condition":{"ForAnyValue:StringEquals":{"kms:EncryptionContextKeys":"AppName"}}},
        {"Effect":"Deny","Principal":"*","Action":"kms:Encrypt","Resource":"*",
         "Condition":{"StringNotEquals":{"kms:EncryptionContext:Department":"IT"}}}]}"#,
    );
    let app = || session("arn:aws:iam::111122223333:role/RoleForExampleApp", "ss");
    let with_ec = |pairs: &'static [(&'static str, &'static str)]| {
        move |c: &mut RequestContext| {
            c.insert_encryption_context(pairs.iter().copied());
        }
    };
    assert!(decide(
        app(),
        "kms:Decrypt",
        &kp,
        &[],
        with_ec(&[("AppName", "ExampleApp")])
    )
    .is_allowed());
    assert!(decide(
        app(),
        "kms:Decrypt",
        &kp,
        &[],
        with_ec(&[("AppName", "ExampleApp"), ("x", "y")])
    )
    .is_allowed());
    assert_eq!(
        decide(
            app(),
            "kms:Decrypt",
            &kp,
            &[],
            with_ec(&[("AppName", "Other")])
        ),
        NO_IDENTITY
    );
    assert_eq!(decide(app(), "kms:Decrypt", &kp, &[], |_| {}), NO_IDENTITY);
    assert!(decide(
        app(),
        "kms:GenerateDataKey",
        &kp,
        &[],
        with_ec(&[("AppName", "x")])
    )
    .is_allowed());
    assert_eq!(
        decide(
            app(),
            "kms:GenerateDataKey",
            &kp,
            &[],
            with_ec(&[("appname", "x")])
        ),
        NO_IDENTITY
    );
    // The Deny: any principal, any Encrypt without Department=IT, even the root.
    let root = || PrincipalContext::root(ACCT);
    assert_eq!(decide(root(), "kms:Encrypt", &kp, &[], |_| {}), DENY_KEY);
    assert_eq!(
        decide(
            root(),
            "kms:Encrypt",
            &kp,
            &[],
            with_ec(&[("Department", "HR")])
        ),
        DENY_KEY
    );
    assert!(decide(
        root(),
        "kms:Encrypt",
        &kp,
        &[],
        with_ec(&[("Department", "IT")])
    )
    .is_allowed());
}

#[test]
fn caller_account_with_any_principal() {
    // The shape of AWS managed key policies (aws/ebs): any principal of the account,
    // through the service.
    let kp = key_policy(
        r#"{"Version":"2012-10-17","Statement":[{"Sid":"Allow access through EBS","Effect":"Allow",
        "Principal":{"AWS":"*"},"Action":["kms:Encrypt","kms:Decrypt","kms:GenerateDataKey*","kms:DescribeKey"],"Resource":"*",
        "Condition":{"StringEquals":{"kms:CallerAccount":"111122223333","kms:ViaService":"ec2.us-west-2.amazonaws.com"}}}]}"#,
    );
    let via = |c: &mut RequestContext| {
        c.insert("kms:ViaService", "ec2.us-west-2.amazonaws.com");
    };
    assert!(decide(
        user("arn:aws:iam::111122223333:user/x"),
        "kms:Decrypt",
        &kp,
        &[],
        via
    )
    .is_allowed());
    assert_eq!(
        decide(
            user("arn:aws:iam::111122223333:user/x"),
            "kms:Decrypt",
            &kp,
            &[],
            |_| {}
        ),
        NO_RESOURCE
    );
    // Another account's principal: kms:CallerAccount differs.
    assert_eq!(
        decide(
            user("arn:aws:iam::444455556666:user/x"),
            "kms:Decrypt",
            &kp,
            &[allow_all_kms()],
            via
        ),
        NO_RESOURCE
    );
}

#[test]
fn cross_account_needs_both_policies() {
    let kp = key_policy(&format!(
        r#"{{"Version":"2012-10-17","Statement":[
        {{"Sid":"Enable IAM User Permissions","Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{ACCT}:root"}},"Action":"kms:*","Resource":"*"}},
        {{"Sid":"Allow an external account to use this KMS key","Effect":"Allow",
          "Principal":{{"AWS":["arn:aws:iam::{EXT}:root","arn:aws:iam::{EXT}:role/ExampleRole"]}},
          "Action":["kms:Encrypt","kms:Decrypt","kms:ReEncrypt*","kms:GenerateDataKey*","kms:DescribeKey"],"Resource":"*"}}]}}"#
    ));
    let ext_user = || user("arn:aws:iam::444455556666:user/bob");
    let ext_iam = iam(&format!(
        r#"{{"Version":"2012-10-17","Statement":{{"Effect":"Allow","Action":["kms:Decrypt"],"Resource":"{KEY}"}}}}"#
    ));
    assert_eq!(
        decide(
            ext_user(),
            "kms:Decrypt",
            &kp,
            std::slice::from_ref(&ext_iam),
            |_| {}
        ),
        Decision::Allow(AllowedBy::KeyPolicyAndIdentityPolicy)
    );
    assert_eq!(
        decide(ext_user(), "kms:Decrypt", &kp, &[], |_| {}),
        NO_IDENTITY
    );
    // The key policy does not allow CreateGrant to the other account.
    assert_eq!(
        decide(
            ext_user(),
            "kms:CreateGrant",
            &kp,
            &[allow_all_kms()],
            |_| {}
        ),
        NO_RESOURCE
    );
    // Named directly, a cross-account role still needs its own IAM policy.
    let ext_role = || session("arn:aws:iam::444455556666:role/ExampleRole", "xx");
    assert_eq!(
        decide(ext_role(), "kms:Encrypt", &kp, &[], |_| {}),
        NO_IDENTITY
    );
    assert!(decide(ext_role(), "kms:Encrypt", &kp, &[allow_all_kms()], |_| {}).is_allowed());
    // The other account's root has every permission of its account.
    assert!(decide(PrincipalContext::root(EXT), "kms:Decrypt", &kp, &[], |_| {}).is_allowed());
    // A third account is not in the key policy.
    assert_eq!(
        decide(
            user("arn:aws:iam::777788889999:user/eve"),
            "kms:Decrypt",
            &kp,
            &[allow_all_kms()],
            |_| {}
        ),
        NO_RESOURCE
    );
}

#[test]
fn explicit_deny_wins_everywhere() {
    let kp = key_policy(&default_key_policy(ACCT));
    let deny = iam(
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Deny","Action":"kms:Decrypt","Resource":"*"}}"#,
    );
    let alice = || user("arn:aws:iam::111122223333:user/alice");
    assert_eq!(
        decide(
            alice(),
            "kms:Decrypt",
            &kp,
            &[allow_all_kms(), deny.clone()],
            |_| {}
        ),
        DENY_IAM
    );
    // Grants cannot override an explicit deny.
    let mut ctx = RequestContext::new(alice(), "kms:Decrypt", KEY);
    ctx.insert("kms:ViaService", "x");
    let set = PolicySet {
        key_policy: Some(&kp),
        key_account: ACCT,
        identity_policies: std::slice::from_ref(&deny),
        grant_allows: true,
    };
    assert_eq!(evaluate(&ctx, &set), DENY_IAM);
    // Deny by source IP in the key policy.
    let kp = key_policy(&format!(
        r#"{{"Version":"2012-10-17","Statement":[
        {{"Effect":"Allow","Principal":{{"AWS":"{ACCT}"}},"Action":"kms:*","Resource":"*"}},
        {{"Effect":"Deny","Principal":"*","Action":"kms:*","Resource":"*","Condition":{{"NotIpAddress":{{"aws:SourceIp":"192.0.2.0/24"}}}}}}]}}"#
    ));
    let ip = |s: &str| {
        let ip: IpAddr = s.parse().unwrap();
        move |c: &mut RequestContext| {
            c.insert("aws:SourceIp", ip);
        }
    };
    assert!(decide(
        PrincipalContext::root(ACCT),
        "kms:Decrypt",
        &kp,
        &[],
        ip("192.0.2.9")
    )
    .is_allowed());
    assert_eq!(
        decide(
            PrincipalContext::root(ACCT),
            "kms:Decrypt",
            &kp,
            &[],
            ip("198.51.100.1")
        ),
        DENY_KEY
    );
}

#[test]
fn grants_allow_without_policies() {
    let kp = key_policy(
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:role/admin"},"Action":"kms:*","Resource":"*"}}"#,
    );
    let grantee = user("arn:aws:iam::444455556666:user/worker");
    let grant = Grant {
        grantee_principal: grantee.arn.clone(),
        operations: vec!["Decrypt".into()],
        constraints: None,
    };
    let ctx = RequestContext::new(grantee.clone(), "kms:Decrypt", KEY);
    let set = PolicySet {
        key_policy: Some(&kp),
        key_account: ACCT,
        identity_policies: &[],
        grant_allows: grant.allows(&grantee, "Decrypt", Some(&[])),
    };
    assert_eq!(evaluate(&ctx, &set), Decision::Allow(AllowedBy::Grant));
    let set = PolicySet {
        grant_allows: grant.allows(&grantee, "Encrypt", Some(&[])),
        ..set
    };
    assert_eq!(evaluate(&ctx, &set), NO_RESOURCE);
}

#[test]
fn role_arn_principal_matches_sessions_and_not_other_roles() {
    let kp = key_policy(
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:role/team/app"},"Action":"kms:Decrypt","Resource":"*"}}"#,
    );
    assert!(decide(
        session("arn:aws:iam::111122223333:role/team/app", "i-123"),
        "kms:Decrypt",
        &kp,
        &[],
        |_| {}
    )
    .is_allowed());
    assert_eq!(
        decide(
            session("arn:aws:iam::111122223333:role/app", "i-123"),
            "kms:Decrypt",
            &kp,
            &[],
            |_| {}
        ),
        NO_RESOURCE
    );
    // A session ARN names only that session.
    let kp = key_policy(
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"AWS":"arn:aws:sts::111122223333:assumed-role/app/s1"},"Action":"kms:Decrypt","Resource":"*"}}"#,
    );
    assert!(decide(
        session("arn:aws:iam::111122223333:role/app", "s1"),
        "kms:Decrypt",
        &kp,
        &[],
        |_| {}
    )
    .is_allowed());
    assert_eq!(
        decide(
            session("arn:aws:iam::111122223333:role/app", "s2"),
            "kms:Decrypt",
            &kp,
            &[],
            |_| {}
        ),
        NO_RESOURCE
    );
    // aws:PrincipalArn is the role ARN for a session.
    let kp = key_policy(
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":"*","Action":"kms:Decrypt","Resource":"*","Condition":{"ArnLike":{"aws:PrincipalArn":"arn:aws:iam::111122223333:role/team/*"}}}}"#,
    );
    assert!(decide(
        session("arn:aws:iam::111122223333:role/team/app", "ss"),
        "kms:Decrypt",
        &kp,
        &[],
        |_| {}
    )
    .is_allowed());
    assert_eq!(
        decide(
            user("arn:aws:iam::111122223333:user/team/app"),
            "kms:Decrypt",
            &kp,
            &[],
            |_| {}
        ),
        NO_RESOURCE
    );
}

#[test]
fn not_principal_with_deny() {
    // IAM's example: deny everyone but one role session; the role and the account must
    // be listed too, or the session is denied as well.
    let full = key_policy(
        r#"{"Version":"2012-10-17","Statement":[
        {"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*"},
        {"Effect":"Deny","NotPrincipal":{"AWS":[
            "arn:aws:sts::111122223333:assumed-role/auditor/app",
            "arn:aws:iam::111122223333:role/auditor",
            "arn:aws:iam::111122223333:root"]},
         "Action":"kms:*","Resource":"*"}]}"#,
    );
    let app = || session("arn:aws:iam::111122223333:role/auditor", "app");
    assert!(decide(app(), "kms:Decrypt", &full, &[], |_| {}).is_allowed());
    assert_eq!(
        decide(
            session("arn:aws:iam::111122223333:role/auditor", "other"),
            "kms:Decrypt",
            &full,
            &[],
            |_| {}
        ),
        DENY_KEY
    );
    assert_eq!(
        decide(
            user("arn:aws:iam::111122223333:user/bob"),
            "kms:Decrypt",
            &full,
            &[],
            |_| {}
        ),
        DENY_KEY
    );
    // The root is listed, so it is not denied.
    assert!(decide(
        PrincipalContext::root(ACCT),
        "kms:Decrypt",
        &full,
        &[],
        |_| {}
    )
    .is_allowed());
    // Without the account in the list, the named user is denied too.
    let partial = key_policy(
        r#"{"Version":"2012-10-17","Statement":[
        {"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*"},
        {"Effect":"Deny","NotPrincipal":{"AWS":"arn:aws:iam::111122223333:user/alice"},"Action":"kms:*","Resource":"*"}]}"#,
    );
    assert_eq!(
        decide(
            user("arn:aws:iam::111122223333:user/alice"),
            "kms:Decrypt",
            &partial,
            &[],
            |_| {}
        ),
        DENY_KEY
    );
    let listed = key_policy(
        r#"{"Version":"2012-10-17","Statement":[
        {"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*"},
        {"Effect":"Deny","NotPrincipal":{"AWS":["arn:aws:iam::111122223333:user/alice","111122223333"]},"Action":"kms:*","Resource":"*"}]}"#,
    );
    assert!(decide(
        user("arn:aws:iam::111122223333:user/alice"),
        "kms:Decrypt",
        &listed,
        &[],
        |_| {}
    )
    .is_allowed());
    assert_eq!(
        decide(
            user("arn:aws:iam::111122223333:user/bob"),
            "kms:Decrypt",
            &listed,
            &[],
            |_| {}
        ),
        DENY_KEY
    );
}

#[test]
fn not_principal_with_allow_and_not_action() {
    let kp = key_policy(
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","NotPrincipal":{"AWS":["arn:aws:iam::111122223333:user/mallory","111122223333"]},"NotAction":["kms:ScheduleKeyDeletion","kms:Put*"],"Resource":"*"}}"#,
    );
    assert!(decide(
        user("arn:aws:iam::111122223333:user/alice"),
        "kms:Decrypt",
        &kp,
        &[],
        |_| {}
    )
    .is_allowed());
    assert_eq!(
        decide(
            user("arn:aws:iam::111122223333:user/alice"),
            "kms:PutKeyPolicy",
            &kp,
            &[],
            |_| {}
        ),
        NO_RESOURCE
    );
    assert_eq!(
        decide(
            user("arn:aws:iam::111122223333:user/mallory"),
            "kms:Decrypt",
            &kp,
            &[],
            |_| {}
        ),
        NO_RESOURCE
    );
}

#[test]
fn request_alias_and_resource_aliases() {
    let kp = key_policy(
        r#"{"Version":"2012-10-17","Statement":[
        {"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:role/app"},"Action":"kms:Encrypt","Resource":"*",
         "Condition":{"StringEquals":{"kms:RequestAlias":"alias/finance-key"}}},
        {"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:role/app"},"Action":"kms:Decrypt","Resource":"*",
         "Condition":{"ForAnyValue:StringLike":{"kms:ResourceAliases":"alias/finance-*"}}}]}"#,
    );
    let app = || session("arn:aws:iam::111122223333:role/app", "ss");
    assert!(decide(app(), "kms:Encrypt", &kp, &[], |c| {
        c.insert("kms:RequestAlias", "alias/finance-key");
    })
    .is_allowed());
    assert_eq!(decide(app(), "kms:Encrypt", &kp, &[], |_| {}), NO_RESOURCE);
    assert!(decide(app(), "kms:Decrypt", &kp, &[], |c| {
        c.insert_all("kms:ResourceAliases", ["alias/x", "alias/finance-2024"]);
    })
    .is_allowed());
    assert_eq!(
        decide(app(), "kms:Decrypt", &kp, &[], |c| {
            c.insert_all("kms:ResourceAliases", Vec::<&str>::new());
        }),
        NO_RESOURCE
    );
}

#[test]
fn resource_patterns_in_key_policies() {
    let kp = key_policy(
        r#"{"Version":"2012-10-17","Statement":[
        {"Effect":"Allow","Principal":{"AWS":"111122223333"},"Action":"kms:*","Resource":"arn:aws:kms:us-west-2:111122223333:key/*"},
        {"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:user/x"},"Action":"kms:*","NotResource":"arn:aws:kms:*:*:key/1234abcd-*"}]}"#,
    );
    assert!(decide(
        PrincipalContext::root(ACCT),
        "kms:Decrypt",
        &kp,
        &[],
        |_| {}
    )
    .is_allowed());
    assert_eq!(
        decide(
            user("arn:aws:iam::111122223333:user/x"),
            "kms:Decrypt",
            &kp,
            &[],
            |_| {}
        ),
        NO_IDENTITY
    );
}

#[test]
fn operations_on_no_key_use_identity_policies() {
    let alice = user("arn:aws:iam::111122223333:user/alice");
    let ctx = RequestContext::new(alice, "kms:CreateKey", "*");
    let set = |ids: &'static [Policy]| PolicySet {
        key_policy: None,
        key_account: ACCT,
        identity_policies: ids,
        grant_allows: false,
    };
    let d = evaluate(&ctx, &set(&[]));
    assert_eq!(d, NO_IDENTITY);
    assert_eq!(
        d.access_denied_message(&ctx).unwrap(),
        "User: arn:aws:iam::111122223333:user/alice is not authorized to perform: kms:CreateKey on resource: * because no identity-based policy allows the kms:CreateKey action"
    );
    let root = RequestContext::new(PrincipalContext::root(ACCT), "kms:CreateKey", "*");
    assert_eq!(
        evaluate(&root, &set(&[])),
        Decision::Allow(AllowedBy::AccountRoot)
    );
    // A policy scoped to key ARNs does not allow CreateKey, whose resource is "*".
    let scoped = iam(
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"kms:*","Resource":"arn:aws:kms:*:111122223333:key/*"}}"#,
    );
    let ids = vec![scoped];
    let s = PolicySet {
        key_policy: None,
        key_account: ACCT,
        identity_policies: &ids,
        grant_allows: false,
    };
    assert_eq!(evaluate(&ctx, &s), NO_IDENTITY);
    let ids = vec![allow_all_kms()];
    let s = PolicySet {
        identity_policies: &ids,
        ..s
    };
    assert_eq!(
        evaluate(&ctx, &s),
        Decision::Allow(AllowedBy::IdentityPolicy)
    );
}

#[test]
fn access_denied_messages() {
    let u = user("arn:aws:iam::111122223333:user/bob");
    let ctx = RequestContext::new(u, "kms:Encrypt", KEY);
    let m = |d: Decision| d.access_denied_message(&ctx).unwrap();
    assert_eq!(
        m(NO_RESOURCE),
        format!("User: arn:aws:iam::111122223333:user/bob is not authorized to perform: kms:Encrypt on resource: {KEY} because no resource-based policy allows the kms:Encrypt action")
    );
    assert_eq!(
        m(NO_IDENTITY),
        format!("User: arn:aws:iam::111122223333:user/bob is not authorized to perform: kms:Encrypt on resource: {KEY} because no identity-based policy allows the kms:Encrypt action")
    );
    assert_eq!(
        m(DENY_KEY),
        format!("User: arn:aws:iam::111122223333:user/bob is not authorized to perform: kms:Encrypt on resource: {KEY} with an explicit deny in a resource-based policy")
    );
    assert_eq!(
        m(DENY_IAM),
        format!("User: arn:aws:iam::111122223333:user/bob is not authorized to perform: kms:Encrypt on resource: {KEY} with an explicit deny in an identity-based policy")
    );
    assert_eq!(
        Decision::Allow(AllowedBy::Grant).access_denied_message(&ctx),
        None
    );
}

#[test]
fn lockout_safety_check() {
    let caller = |p: PrincipalContext| RequestContext::new(p, "kms:CreateKey", KEY);
    let admin = user("arn:aws:iam::111122223333:user/admin");
    // The default policy delegates to the account: fine for anyone of the account.
    let def = key_policy(&default_key_policy(ACCT));
    assert!(check_lockout(&def, &caller(admin.clone())).is_ok());
    // A policy naming only someone else locks the caller out.
    let other = key_policy(
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:role/Security"},"Action":"kms:*","Resource":"*"}}"#,
    );
    let err = check_lockout(&other, &caller(admin.clone())).unwrap_err();
    assert_eq!(err, PolicyError::Lockout);
    assert_eq!(
        err.to_string(),
        "The new key policy will not allow you to update the key policy in the future."
    );
    // Naming the caller, with PutKeyPolicy covered by a wildcard, passes.
    let mine = key_policy(
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:user/admin"},"Action":"kms:Put*","Resource":"*"}}"#,
    );
    assert!(check_lockout(&mine, &caller(admin.clone())).is_ok());
    // An explicit Deny of PutKeyPolicy to everyone but a named role fails for others.
    let deny = key_policy(
        r#"{"Version":"2012-10-17","Statement":[
        {"Effect":"Allow","Principal":{"AWS":"111122223333"},"Action":"kms:*","Resource":"*"},
        {"Effect":"Deny","Principal":"*","Action":"kms:PutKeyPolicy","Resource":"*",
         "Condition":{"ArnNotEquals":{"aws:PrincipalArn":"arn:aws:iam::111122223333:role/Security"}}}]}"#,
    );
    assert_eq!(
        check_lockout(&deny, &caller(admin)),
        Err(PolicyError::Lockout)
    );
    assert!(check_lockout(
        &deny,
        &caller(session("arn:aws:iam::111122223333:role/Security", "ss"))
    )
    .is_ok());
}

#[test]
fn service_principals() {
    let kp = key_policy(
        r#"{"Version":"2012-10-17","Statement":[
        {"Effect":"Allow","Principal":{"Service":"logs.us-west-2.amazonaws.com"},"Action":["kms:Encrypt*","kms:Decrypt*","kms:GenerateDataKey*","kms:Describe*"],"Resource":"*",
         "Condition":{"ArnLike":{"kms:EncryptionContext:aws:logs:arn":"arn:aws:logs:us-west-2:111122223333:*"}}}]}"#,
    );
    let logs = || PrincipalContext::service("logs.us-west-2.amazonaws.com");
    let ec = |c: &mut RequestContext| {
        c.insert_encryption_context([(
            "aws:logs:arn",
            "arn:aws:logs:us-west-2:111122223333:log-group:app",
        )]);
    };
    assert_eq!(
        decide(logs(), "kms:GenerateDataKey", &kp, &[], ec),
        Decision::Allow(AllowedBy::KeyPolicy)
    );
    assert_eq!(
        decide(logs(), "kms:GenerateDataKey", &kp, &[], |_| {}),
        NO_RESOURCE
    );
    assert_eq!(
        decide(
            PrincipalContext::service("s3.amazonaws.com"),
            "kms:Decrypt",
            &kp,
            &[],
            ec
        ),
        NO_RESOURCE
    );
    // A user is not the service.
    assert_eq!(
        decide(
            user("arn:aws:iam::111122223333:user/logs"),
            "kms:Decrypt",
            &kp,
            &[allow_all_kms()],
            ec
        ),
        NO_RESOURCE
    );
}

#[test]
fn trust_policies_for_assume_role() {
    let role = "arn:aws:iam::111122223333:role/deploy";
    let trust = Policy::parse(
        r#"{"Version":"2012-10-17","Statement":[
        {"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:user/ci"},"Action":"sts:AssumeRole"},
        {"Effect":"Allow","Principal":{"AWS":"444455556666"},"Action":["sts:AssumeRole","sts:TagSession"],
         "Condition":{"StringEquals":{"sts:ExternalId":"xyz"}}}]}"#,
        PolicyKind::TrustPolicy,
    )
    .unwrap();
    let run = |p: PrincipalContext, ids: &[Policy], setup: &dyn Fn(&mut RequestContext)| {
        let mut ctx = RequestContext::new(p, "sts:AssumeRole", role);
        setup(&mut ctx);
        evaluate(
            &ctx,
            &PolicySet {
                key_policy: Some(&trust),
                key_account: ACCT,
                identity_policies: ids,
                grant_allows: false,
            },
        )
    };
    let assume_any = iam(
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"sts:AssumeRole","Resource":"*"}}"#,
    );
    assert!(run(user("arn:aws:iam::111122223333:user/ci"), &[], &|_| {}).is_allowed());
    assert_eq!(
        run(
            user("arn:aws:iam::111122223333:user/other"),
            std::slice::from_ref(&assume_any),
            &|_| {}
        ),
        NO_RESOURCE
    );
    let ext = || user("arn:aws:iam::444455556666:user/partner");
    let ext_id = |c: &mut RequestContext| {
        c.insert("sts:ExternalId", "xyz");
    };
    assert!(run(ext(), std::slice::from_ref(&assume_any), &ext_id).is_allowed());
    assert_eq!(run(ext(), &[], &ext_id), NO_IDENTITY);
    assert_eq!(run(ext(), &[assume_any], &|_| {}), NO_RESOURCE);
}

#[test]
fn case_rules_actions_insensitive_arns_sensitive() {
    let alice = || user("arn:aws:iam::111122223333:user/alice");
    let kp = key_policy(&default_key_policy(ACCT));
    let upper_key = iam(
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"KMS:DECRYPT","Resource":"arn:aws:kms:us-west-2:111122223333:key/1234ABCD-12AB-34CD-56EF-1234567890AB"}}"#,
    );
    assert_eq!(
        decide(alice(), "kms:Decrypt", &kp, &[upper_key], |_| {}),
        NO_IDENTITY
    );
    let exact_key = iam(&format!(
        r#"{{"Version":"2012-10-17","Statement":{{"Effect":"Allow","Action":"KMS:DECRYPT","Resource":"{KEY}"}}}}"#
    ));
    assert!(decide(alice(), "kms:Decrypt", &kp, &[exact_key], |_| {}).is_allowed());
    // Principal ARNs compare exactly.
    let kp = key_policy(
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:user/Alice"},"Action":"kms:*","Resource":"*"}}"#,
    );
    assert_eq!(
        decide(alice(), "kms:Decrypt", &kp, &[], |_| {}),
        NO_RESOURCE
    );
}

/// A role session's permissions are the intersection of the role's and the session
/// policy's; an explicit deny in the session policy denies; a key policy naming the
/// session's own ARN is not narrowed, one naming the role (or the account) is.
/// <https://docs.aws.amazon.com/IAM/latest/UserGuide/access_policies.html#policies_session>
#[test]
fn session_policies_narrow_role_sessions() {
    let role = "arn:aws:iam::111122223333:role/app";
    let session_arn = "arn:aws:sts::111122223333:assumed-role/app/s1";
    let only_decrypt = iam(r#"{"Version":"2012-10-17","Statement":[
            {"Effect":"Allow","Action":"kms:Decrypt","Resource":"*"},
            {"Effect":"Deny","Action":"kms:ReEncrypt*","Resource":"*"}]}"#);
    let narrowed = |kp: &Policy, action: &str| {
        let ctx = RequestContext::new(session(role, "s1"), action, KEY);
        let set = PolicySet {
            key_policy: Some(kp),
            key_account: ACCT,
            identity_policies: &[allow_all_kms()],
            grant_allows: false,
        };
        limit_by_session_policy(evaluate(&ctx, &set), &ctx, &only_decrypt, Some(kp))
    };
    let delegating = key_policy(&default_key_policy(ACCT));
    assert_eq!(
        narrowed(&delegating, "kms:Decrypt"),
        Decision::Allow(AllowedBy::KeyPolicyAndIdentityPolicy)
    );
    assert_eq!(
        narrowed(&delegating, "kms:Encrypt"),
        Decision::ImplicitDeny {
            reason: ImplicitDenyReason::NoSessionPolicyAllows
        }
    );
    assert_eq!(
        narrowed(&delegating, "kms:ReEncryptFrom"),
        Decision::ExplicitDeny {
            source: PolicySource::SessionPolicy
        }
    );
    let naming = |principal: &str| {
        key_policy(&format!(
            r#"{{"Version":"2012-10-17","Statement":{{"Effect":"Allow","Principal":{{"AWS":"{principal}"}},"Action":"kms:Encrypt","Resource":"*"}}}}"#
        ))
    };
    assert_eq!(
        narrowed(&naming(role), "kms:Encrypt"),
        Decision::ImplicitDeny {
            reason: ImplicitDenyReason::NoSessionPolicyAllows
        }
    );
    assert_eq!(
        narrowed(&naming(session_arn), "kms:Encrypt"),
        Decision::Allow(AllowedBy::KeyPolicy)
    );
    // The message AWS gives.
    let ctx = RequestContext::new(session(role, "s1"), "kms:Encrypt", KEY);
    assert_eq!(
        narrowed(&delegating, "kms:Encrypt").access_denied_message(&ctx).unwrap(),
        format!("User: {session_arn} is not authorized to perform: kms:Encrypt on resource: {KEY} because no session policy allows the kms:Encrypt action")
    );
}
