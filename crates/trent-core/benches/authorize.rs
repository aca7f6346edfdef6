//! The cost of authorization on the hot path: Encrypt of a cached symmetric key through the
//! key service (no HTTP, no audit), as the account root, as an IAM user allowed by an
//! identity policy through the default key policy's delegation, and with a 20-statement
//! key policy. The difference between these and `trent-crypto`'s raw encryption figure is
//! what building the request context and evaluating the policies costs.

use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion};
use trent_core::{
    BootstrapOptions, Caller, CallerAttributes, KeyService, Principal, ServiceConfig, SystemClock,
};
use trent_crypto::FileRootKey;
use trent_policy::{Policy, PolicyKind};
use trent_store::{SqliteStore, Store};
use trent_wire::{CreateKeyRequest, EncryptRequest, SensitiveBlob};

const ACCOUNT: &str = "111122223333";

fn caller(arn: &str, policies: Vec<Policy>) -> Option<Caller> {
    Some(Caller {
        principal: Principal::from_arn(arn)?,
        region: trent_wire::Region::parse("us-east-1").ok()?,
        access_key_id: "AKIABENCH".into(),
        attributes: CallerAttributes {
            identity_policies: policies.into(),
            source_ip: "127.0.0.1".parse().ok(),
            user_agent: Some("aws-sdk-rust/1.0 bench".into()),
            ..Default::default()
        },
    })
}

fn twenty_statements() -> String {
    let mut stmts: Vec<String> = (0..19)
        .map(|i| {
            format!(
                r#"{{"Sid":"s{i}","Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{ACCOUNT}:role/r{i}"}},
                   "Action":["kms:Encrypt","kms:Decrypt"],"Resource":"*",
                   "Condition":{{"StringEquals":{{"kms:EncryptionContext:project":"p{i}"}}}}}}"#
            )
        })
        .collect();
    stmts.push(format!(
        r#"{{"Sid":"root","Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{ACCOUNT}:root"}},"Action":"kms:*","Resource":"*"}}"#
    ));
    format!(
        r#"{{"Version":"2012-10-17","Statement":[{}]}}"#,
        stmts.join(",")
    )
}

fn bench(c: &mut Criterion) {
    let Ok(rt) = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    else {
        return;
    };
    let Ok(dir) = tempfile::tempdir() else { return };
    let setup = async {
        let root = Arc::new(FileRootKey::create(&dir.path().join("root.key")).ok()?);
        let store: Arc<dyn Store> =
            Arc::new(SqliteStore::open(&dir.path().join("t.db")).await.ok()?);
        let (service, _) = KeyService::open(
            store,
            root,
            Arc::new(SystemClock),
            ServiceConfig::default(),
            BootstrapOptions {
                account_id: ACCOUNT.into(),
                admin_access_key_id: None,
                admin_secret_access_key: None,
            },
            |_, _| Ok(()),
        )
        .await
        .ok()?;
        let root_caller = caller(&format!("arn:aws:iam::{ACCOUNT}:root"), Vec::new())?;
        let mut keys = Vec::new();
        for policy in [None, Some(twenty_statements())] {
            let created = service
                .create_key(
                    &root_caller,
                    CreateKeyRequest {
                        policy,
                        ..Default::default()
                    },
                )
                .await
                .ok()?;
            keys.push(created.key_metadata?.arn?);
        }
        Some((service, root_caller, keys))
    };
    let Some((service, root_caller, keys)) = rt.block_on(setup) else {
        return;
    };
    let Ok(identity) = Policy::parse(
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["kms:Encrypt","kms:Decrypt"],
            "Resource":"arn:aws:kms:*:111122223333:key/*"}]}"#,
        PolicyKind::IdentityPolicy,
    ) else {
        return;
    };
    let Some(user) = caller(
        &format!("arn:aws:iam::{ACCOUNT}:user/alice"),
        vec![identity],
    ) else {
        return;
    };
    let request = |key: &str| EncryptRequest {
        key_id: key.to_owned(),
        plaintext: SensitiveBlob::from(vec![7; 64]),
        ..Default::default()
    };
    for (name, caller, key) in [
        ("encrypt: root, default key policy", &root_caller, &keys[0]),
        ("encrypt: IAM user via delegation", &user, &keys[0]),
        (
            "encrypt: root, 20-statement key policy",
            &root_caller,
            &keys[1],
        ),
    ] {
        // Allowed, or the figure would be that of a denial.
        if rt.block_on(service.encrypt(caller, request(key))).is_err() {
            return;
        }
        c.bench_function(name, |b| {
            b.iter(|| rt.block_on(service.encrypt(caller, request(key))))
        });
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
