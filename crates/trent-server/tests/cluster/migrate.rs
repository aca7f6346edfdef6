//! `trent migrate-store`: an SQLite deployment moves to PostgreSQL with its keys, their
//! states, tags, aliases and every material version; old ciphertexts still decrypt.

use std::collections::BTreeMap;

use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::Tag;
use aws_sdk_kms::Client;

use trent_testkit::cluster::Node;
use trent_testkit::postgres::{self, Database};
use trent_testkit::process;

/// Everything a client can see of the keys (id → state, description, tags) and aliases.
async fn snapshot(client: &Client) -> (BTreeMap<String, String>, BTreeMap<String, String>) {
    let mut keys = BTreeMap::new();
    for k in client.list_keys().limit(1000).send().await.unwrap().keys() {
        let id = k.key_id().unwrap();
        let meta = client.describe_key().key_id(id).send().await.unwrap();
        let meta = meta.key_metadata().unwrap();
        let tags = client.list_resource_tags().key_id(id).send().await.unwrap();
        let tags: Vec<String> = tags
            .tags()
            .iter()
            .map(|t| format!("{}={}", t.tag_key(), t.tag_value()))
            .collect();
        let rotation = client
            .get_key_rotation_status()
            .key_id(id)
            .send()
            .await
            .unwrap();
        let rotations: Vec<String> = client
            .list_key_rotations()
            .key_id(id)
            .send()
            .await
            .unwrap()
            .rotations()
            .iter()
            .map(|r| {
                format!(
                    "{:?} {:?} {:?}",
                    r.key_material_id(),
                    r.rotation_type(),
                    r.rotation_date()
                )
            })
            .collect();
        keys.insert(
            id.to_owned(),
            format!(
                "{:?} {:?} {:?} {:?} {:?} {:?} {:?} {:?} {:?}",
                meta.key_state(),
                meta.description(),
                meta.arn(),
                tags,
                meta.current_key_material_id(),
                rotation.key_rotation_enabled(),
                rotation.rotation_period_in_days(),
                rotation.next_rotation_date(),
                rotations
            ),
        );
    }
    let aliases = client
        .list_aliases()
        .limit(1000)
        .send()
        .await
        .unwrap()
        .aliases()
        .iter()
        .map(|a| {
            (
                a.alias_name().unwrap().to_owned(),
                a.target_key_id().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    (keys, aliases)
}

fn migrate(data_dir: &std::path::Path, to: &str) -> std::process::Output {
    process::command(&process::trent_bin())
        .arg("migrate-store")
        .arg("--data-dir")
        .arg(data_dir)
        .arg("--to")
        .arg(to)
        .env("TRENT_LOG", "warn")
        .output()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_deployment_moves_to_postgres_intact() {
    let Some(url) = postgres::url("sqlite_deployment_moves_to_postgres_intact") else {
        return;
    };
    let db = Database::create(&url, "trent_cluster_").await;

    // A deployment on one machine, with some history.
    let single = Node::start(None, None, &[]);
    let client = single.client();
    let mut ciphertexts = Vec::new();
    let mut key_ids = Vec::new();
    for i in 0..5 {
        let key = client
            .create_key()
            .description(format!("key {i}"))
            .tags(
                Tag::builder()
                    .tag_key("n")
                    .tag_value(i.to_string())
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .unwrap();
        let id = key.key_metadata().unwrap().key_id().to_owned();
        let plaintext = format!("secret number {i}");
        let blob = client
            .encrypt()
            .key_id(&id)
            .plaintext(Blob::new(plaintext.as_bytes().to_vec()))
            .encryption_context("purpose", "migration")
            .send()
            .await
            .unwrap()
            .ciphertext_blob()
            .unwrap()
            .clone();
        ciphertexts.push((id.clone(), plaintext, blob));
        key_ids.push(id);
    }
    client
        .create_alias()
        .alias_name("alias/moved")
        .target_key_id(&key_ids[0])
        .send()
        .await
        .unwrap();
    client
        .create_alias()
        .alias_name("alias/moved-too")
        .target_key_id(&key_ids[1])
        .send()
        .await
        .unwrap();
    client
        .disable_key()
        .key_id(&key_ids[2])
        .send()
        .await
        .unwrap();
    client
        .schedule_key_deletion()
        .key_id(&key_ids[3])
        .pending_window_in_days(30)
        .send()
        .await
        .unwrap();
    // Rotation: a schedule on one key, an on-demand rotation of another.
    client
        .enable_key_rotation()
        .key_id(&key_ids[0])
        .rotation_period_in_days(100)
        .send()
        .await
        .unwrap();
    client
        .rotate_key_on_demand()
        .key_id(&key_ids[1])
        .send()
        .await
        .unwrap();
    let before = snapshot(&client).await;
    assert!(before.0[&key_ids[1]].contains("OnDemand"), "{before:?}");
    let dir = single.into_dir();

    // The copy.
    let out = migrate(dir.path(), &db.url);
    assert!(
        out.status.success(),
        "migrate-store failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(report.contains("copied 5 keys"), "{report}");
    assert!(report.contains("2 aliases"), "{report}");

    // A second copy into the now non-empty database is refused, and changes nothing.
    let again = migrate(dir.path(), &db.url);
    assert!(
        !again.status.success(),
        "a non-empty target must be refused"
    );
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("already holds Trent data"),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );

    // A cluster node with a copy of the root key serves the same deployment.
    let node = Node::start(Some(&db.url), Some(&dir.path().join("root.key")), &[]);
    let client = node.client();
    assert_eq!(snapshot(&client).await, before);
    for (id, plaintext, blob) in &ciphertexts {
        let out = client
            .decrypt()
            .ciphertext_blob(blob.clone())
            .encryption_context("purpose", "migration")
            .send()
            .await;
        if id == &key_ids[2] || id == &key_ids[3] {
            // Disabled and pending deletion keys stay unusable.
            assert!(out.is_err(), "{id} should refuse to decrypt");
            continue;
        }
        let out = out.unwrap();
        assert_eq!(
            out.key_id(),
            Some(format!("arn:aws:kms:us-east-1:111122223333:key/{id}").as_str())
        );
        assert_eq!(out.plaintext().unwrap().as_ref(), plaintext.as_bytes());
    }
    // And it keeps working: new keys alongside the migrated ones.
    client.create_key().send().await.unwrap();
}

/// A multi-Region key (a primary and its replica, each its own row with the shared id and
/// material history) moves with the rest: the replica still decrypts what the primary
/// encrypted, with the same configuration and rotations.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn multi_region_keys_move_to_postgres_intact() {
    let Some(url) = postgres::url("multi_region_keys_move_to_postgres_intact") else {
        return;
    };
    let db = Database::create(&url, "trent_cluster_").await;
    let single = Node::start(None, None, &[]);
    let (us, eu) = (single.client_in("us-east-1"), single.client_in("eu-west-1"));
    let out = us.create_key().multi_region(true).send().await.unwrap();
    let key = out.key_metadata().unwrap().key_id().to_owned();
    let old = us
        .encrypt()
        .key_id(&key)
        .plaintext(Blob::new(b"first material".to_vec()))
        .send()
        .await
        .unwrap()
        .ciphertext_blob()
        .unwrap()
        .clone();
    us.rotate_key_on_demand().key_id(&key).send().await.unwrap();
    us.replicate_key()
        .key_id(&key)
        .replica_region("eu-west-1")
        .description("replica")
        .send()
        .await
        .unwrap();
    let describe = |client: Client| {
        let key = key.clone();
        async move {
            let md = client.describe_key().key_id(&key).send().await.unwrap();
            let rotations = client
                .list_key_rotations()
                .key_id(&key)
                .send()
                .await
                .unwrap();
            format!("{:?} {:?}", md.key_metadata(), rotations.rotations())
        }
    };
    let before = (describe(us.clone()).await, describe(eu.clone()).await);
    let dir = single.into_dir();

    let out = migrate(dir.path(), &db.url);
    assert!(
        out.status.success(),
        "migrate-store failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("copied 2 keys"));

    let node = Node::start(Some(&db.url), Some(&dir.path().join("root.key")), &[]);
    let (us, eu) = (node.client_in("us-east-1"), node.client_in("eu-west-1"));
    assert_eq!(
        (describe(us.clone()).await, describe(eu.clone()).await),
        before
    );
    let out = eu.decrypt().ciphertext_blob(old).send().await.unwrap();
    assert_eq!(out.plaintext().unwrap().as_ref(), b"first material");
    // Rotation from the primary still reaches the replica.
    us.rotate_key_on_demand().key_id(&key).send().await.unwrap();
    let current = |client: Client| {
        let key = key.clone();
        async move {
            client
                .describe_key()
                .key_id(&key)
                .send()
                .await
                .unwrap()
                .key_metadata()
                .unwrap()
                .current_key_material_id()
                .map(str::to_owned)
        }
    };
    assert_eq!(current(us).await, current(eu).await);
}
