//! Parse arbitrary bytes as every kind of policy; whatever parses is evaluated against a
//! fixed set of requests and run through the lockout check. Nothing may panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use trent_policy::{
    check_lockout, evaluate, Policy, PolicyKind, PolicySet, PrincipalContext, RequestContext,
};

const KEY: &str = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";

fn contexts() -> Vec<RequestContext> {
    let mut principals = vec![PrincipalContext::root("111122223333")];
    principals.extend(PrincipalContext::from_arn(
        "arn:aws:iam::111122223333:user/eng/alice",
    ));
    principals.extend(PrincipalContext::from_arn(
        "arn:aws:iam::111122223333:user/x~y/bob",
    ));
    principals.extend(PrincipalContext::assumed_role(
        "arn:aws:sts::444455556666:assumed-role/app/s1",
        "arn:aws:iam::444455556666:role/p/app",
    ));
    principals.push(PrincipalContext::service("ec2.amazonaws.com"));
    principals
        .into_iter()
        .map(|p| {
            let mut c = RequestContext::new(p, "kms:Decrypt", KEY);
            // `Project` and `project` make one ambiguous condition key.
            c.insert_encryption_context([("project", "alpha"), ("Project", "beta"), ("Owner", "*")]);
            c.insert("aws:SourceIp", "10.1.2.3");
            c.insert("aws:CurrentTime", "2024-06-01T12:00:00Z");
            c.insert("aws:EpochTime", 1_717_243_200i64);
            c.insert("aws:SecureTransport", true);
            c.insert("kms:RequestAlias", "alias/app");
            c.insert_all("kms:ResourceAliases", ["alias/app", "alias/x"]);
            c.insert_all("aws:TagKeys", Vec::<&str>::new());
            c
        })
        .collect()
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for kind in [
        PolicyKind::KeyPolicy,
        PolicyKind::IdentityPolicy,
        PolicyKind::TrustPolicy,
    ] {
        let Ok(policy) = Policy::parse(text, kind) else {
            continue;
        };
        let ids = [policy.clone()];
        for ctx in contexts() {
            let set = PolicySet {
                key_policy: Some(&policy),
                key_account: "111122223333",
                identity_policies: &ids,
                grant_allows: false,
            };
            let d = evaluate(&ctx, &set);
            let _ = d.access_denied_message(&ctx);
            let _ = check_lockout(&policy, &ctx);
        }
    }
});
