//! Evaluation cost from the compiled form: the default key policy with one identity
//! policy carrying a condition (the common case), and a 20-statement key policy.

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use trent_policy::{
    default_key_policy, evaluate, Policy, PolicyKind, PolicySet, PrincipalContext, RequestContext,
};

const KEY: &str = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";

fn request() -> RequestContext {
    let p = PrincipalContext::from_arn("arn:aws:iam::111122223333:user/eng/alice")
        .unwrap_or_else(|| PrincipalContext::root("111122223333"));
    let mut ctx = RequestContext::new(p, "kms:Decrypt", KEY);
    ctx.insert_encryption_context([("project", "alpha"), ("stage", "prod"), ("owner", "alice")]);
    ctx.insert("aws:SourceIp", "10.1.2.3");
    ctx.insert("aws:SecureTransport", true);
    ctx
}

fn twenty_statements() -> String {
    let mut stmts = Vec::new();
    for i in 0..19 {
        stmts.push(format!(
            r#"{{"Sid":"s{i}","Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::111122223333:role/r{i}"}},
               "Action":["kms:Encrypt","kms:Decrypt","kms:ReEncrypt*","kms:GenerateDataKey*"],"Resource":"*",
               "Condition":{{"StringEquals":{{"kms:EncryptionContext:project":"p{i}"}},"Bool":{{"aws:SecureTransport":"true"}}}}}}"#
        ));
    }
    stmts.push(
        r#"{"Sid":"user","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:user/eng/alice"},
            "Action":"kms:Decrypt","Resource":"*",
            "Condition":{"StringEquals":{"kms:EncryptionContext:project":"alpha"},
                         "IpAddress":{"aws:SourceIp":"10.0.0.0/8"},
                         "ForAllValues:StringLike":{"kms:EncryptionContextKeys":["project","st*","owner"]}}}"#
            .to_owned(),
    );
    format!(
        r#"{{"Version":"2012-10-17","Statement":[{}]}}"#,
        stmts.join(",")
    )
}

fn bench(c: &mut Criterion) {
    let ctx = request();
    let (Ok(default), Ok(identity), Ok(big)) = (
        Policy::parse(&default_key_policy("111122223333"), PolicyKind::KeyPolicy),
        Policy::parse(
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":["kms:Encrypt","kms:Decrypt"],
               "Resource":"arn:aws:kms:*:111122223333:key/*",
               "Condition":{"StringEquals":{"kms:EncryptionContext:owner":"${aws:username}"}}}}"#,
            PolicyKind::IdentityPolicy,
        ),
        Policy::parse(&twenty_statements(), PolicyKind::KeyPolicy),
    ) else {
        return;
    };
    let ids = [identity];
    // Both benchmarks measure a request that is allowed (the last statement decides).
    for (kp, ids) in [(&default, &ids[..]), (&big, &[][..])] {
        let set = PolicySet {
            key_policy: Some(kp),
            key_account: "111122223333",
            identity_policies: ids,
            grant_allows: false,
        };
        assert!(evaluate(&ctx, &set).is_allowed());
    }

    c.bench_function("default key policy + identity policy with condition", |b| {
        let set = PolicySet {
            key_policy: Some(&default),
            key_account: "111122223333",
            identity_policies: &ids,
            grant_allows: false,
        };
        b.iter(|| evaluate(black_box(&ctx), black_box(&set)))
    });
    c.bench_function("20-statement key policy", |b| {
        let set = PolicySet {
            key_policy: Some(&big),
            key_account: "111122223333",
            identity_policies: &[],
            grant_allows: false,
        };
        b.iter(|| evaluate(black_box(&ctx), black_box(&set)))
    });
    c.bench_function("parse 20-statement key policy", |b| {
        let text = twenty_statements();
        b.iter(|| Policy::parse(black_box(&text), PolicyKind::KeyPolicy))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
