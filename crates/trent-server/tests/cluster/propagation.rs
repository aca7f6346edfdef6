//! Several nodes, one truth: startup races, propagation of every kind of change, and
//! concurrent conflicting writes.

use std::collections::BTreeSet;
use std::time::Duration;

use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::Tag;
use aws_sdk_kms::Client;

use trent_testkit::cluster::Node;
use trent_testkit::postgres::{self, Database};
use trent_testkit::sdk::error_code;

use crate::{converges, new_root_key};

/// Far above a test's length: what reaches the other node can only have come through
/// the change feed, not through the cache lifetime.
const NO_TTL: &[&str] = &["--cache-ttl-ms", "3600000"];
const DEADLINE: Duration = Duration::from_secs(10);

async fn create_key(client: &Client) -> String {
    client
        .create_key()
        .send()
        .await
        .unwrap()
        .key_metadata()
        .unwrap()
        .key_id()
        .to_owned()
}

async fn state_on(client: &Client, key_id: &str) -> String {
    client
        .describe_key()
        .key_id(key_id)
        .send()
        .await
        .unwrap()
        .key_metadata()
        .unwrap()
        .key_state()
        .unwrap()
        .as_str()
        .to_owned()
}

async fn tags_on(client: &Client, key_id: &str) -> BTreeSet<(String, String)> {
    client
        .list_resource_tags()
        .key_id(key_id)
        .limit(1000)
        .send()
        .await
        .unwrap()
        .tags()
        .iter()
        .map(|t| (t.tag_key().to_owned(), t.tag_value().to_owned()))
        .collect()
}

/// What `Encrypt` through `key` (an id or an alias) answers on a node: the key id used,
/// or the error code.
async fn encrypt_on(client: &Client, key: &str) -> Result<String, String> {
    client
        .encrypt()
        .key_id(key)
        .plaintext(Blob::new(b"probe".to_vec()))
        .send()
        .await
        // Encrypt answers the key's ARN: keep its key id.
        .map(|o| {
            let arn = o.key_id().unwrap_or_default();
            arn.rsplit('/').next().unwrap_or(arn).to_owned()
        })
        .map_err(|e| error_code(&e))
}

/// Three nodes started at the same moment on an empty database, each asking for another
/// default account: they agree on one root key check, one account and one administrator.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn nodes_starting_at_once_agree_on_one_deployment() {
    let Some(url) = postgres::url("nodes_starting_at_once_agree_on_one_deployment") else {
        return;
    };
    let db = Database::create(&url, "trent_cluster_").await;
    let keys = tempfile::tempdir().unwrap();
    let root = new_root_key(keys.path());
    let starts: Vec<_> = ["111111111111", "222222222222", "333333333333"]
        .into_iter()
        .map(|account| {
            let (db_url, root) = (db.url.clone(), root.clone());
            std::thread::spawn(move || {
                Node::start(Some(&db_url), Some(&root), &["--account-id", account])
            })
        })
        .collect();
    let nodes: Vec<Node> = starts.into_iter().map(|t| t.join().unwrap()).collect();

    let created: Vec<bool> = nodes
        .iter()
        .map(|n| n.data_dir().join("credentials").exists())
        .collect();
    assert_eq!(
        created.iter().filter(|c| **c).count(),
        1,
        "exactly one node created the administrator: {created:?}"
    );
    let mut accounts = BTreeSet::new();
    let mut ids = Vec::new();
    for node in &nodes {
        let client = node.client();
        let out = client.create_key().send().await.unwrap();
        let arn = out.key_metadata().unwrap().arn().unwrap().to_owned();
        accounts.insert(arn.split(':').nth(4).unwrap().to_owned());
        ids.push(out.key_metadata().unwrap().key_id().to_owned());
    }
    assert_eq!(
        accounts.len(),
        1,
        "nodes disagree on the account: {accounts:?}"
    );
    // Every node serves every key.
    for node in &nodes {
        let listed: BTreeSet<String> = node
            .client()
            .list_keys()
            .send()
            .await
            .unwrap()
            .keys()
            .iter()
            .map(|k| k.key_id().unwrap().to_owned())
            .collect();
        for id in &ids {
            assert!(listed.contains(id), "{id} missing from a node's ListKeys");
        }
    }
}

/// Each kind of change made on node A reaches node B, which had the key and alias cached.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_change_on_one_node_reaches_the_other() {
    let Some(url) = postgres::url("every_change_on_one_node_reaches_the_other") else {
        return;
    };
    let db = Database::create(&url, "trent_cluster_").await;
    let a = Node::start(Some(&db.url), None, NO_TTL);
    let root = a.data_dir().join("root.key");
    let b = Node::start(Some(&db.url), Some(&root), NO_TTL);
    let (ca, cb) = (a.client(), b.client());

    let key = create_key(&ca).await;
    let other = create_key(&ca).await;
    // B caches the key (and later the alias) by using it.
    assert_eq!(encrypt_on(&cb, &key).await, Ok(key.clone()));
    assert_eq!(state_on(&cb, &key).await, "Enabled");

    ca.disable_key().key_id(&key).send().await.unwrap();
    converges("DisableKey", DEADLINE, || async {
        encrypt_on(&cb, &key).await == Err("DisabledException".to_owned())
    })
    .await;
    assert_eq!(state_on(&cb, &key).await, "Disabled");

    ca.enable_key().key_id(&key).send().await.unwrap();
    converges("EnableKey", DEADLINE, || async {
        encrypt_on(&cb, &key).await == Ok(key.clone())
    })
    .await;

    ca.tag_resource()
        .key_id(&key)
        .tags(
            Tag::builder()
                .tag_key("team")
                .tag_value("red")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    converges("TagResource", DEADLINE, || async {
        tags_on(&cb, &key)
            .await
            .contains(&("team".to_owned(), "red".to_owned()))
    })
    .await;
    ca.untag_resource()
        .key_id(&key)
        .tag_keys("team")
        .send()
        .await
        .unwrap();
    converges("UntagResource", DEADLINE, || async {
        tags_on(&cb, &key).await.is_empty()
    })
    .await;

    let alias = "alias/cluster-moves";
    ca.create_alias()
        .alias_name(alias)
        .target_key_id(&key)
        .send()
        .await
        .unwrap();
    converges("CreateAlias", DEADLINE, || async {
        encrypt_on(&cb, alias).await == Ok(key.clone())
    })
    .await;
    ca.update_alias()
        .alias_name(alias)
        .target_key_id(&other)
        .send()
        .await
        .unwrap();
    converges("UpdateAlias", DEADLINE, || async {
        encrypt_on(&cb, alias).await == Ok(other.clone())
    })
    .await;
    ca.delete_alias().alias_name(alias).send().await.unwrap();
    converges("DeleteAlias", DEADLINE, || async {
        encrypt_on(&cb, alias).await == Err("NotFoundException".to_owned())
    })
    .await;

    ca.update_key_description()
        .key_id(&key)
        .description("changed on A")
        .send()
        .await
        .unwrap();
    converges("UpdateKeyDescription", DEADLINE, || async {
        cb.describe_key()
            .key_id(&key)
            .send()
            .await
            .unwrap()
            .key_metadata()
            .unwrap()
            .description()
            == Some("changed on A")
    })
    .await;

    ca.schedule_key_deletion()
        .key_id(&key)
        .pending_window_in_days(7)
        .send()
        .await
        .unwrap();
    converges("ScheduleKeyDeletion", DEADLINE, || async {
        encrypt_on(&cb, &key).await == Err("KMSInvalidStateException".to_owned())
    })
    .await;
    assert_eq!(state_on(&cb, &key).await, "PendingDeletion");
    ca.cancel_key_deletion().key_id(&key).send().await.unwrap();
    converges("CancelKeyDeletion", DEADLINE, || async {
        state_on(&cb, &key).await == "Disabled"
    })
    .await;
}

/// Tags added to one key through two nodes at once: every acknowledged tag is there at
/// the end, on both nodes (no silent overwrite).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_tagging_through_two_nodes_loses_nothing() {
    const PER_NODE: usize = 20;
    let Some(url) = postgres::url("concurrent_tagging_through_two_nodes_loses_nothing") else {
        return;
    };
    let db = Database::create(&url, "trent_cluster_").await;
    let a = Node::start(Some(&db.url), None, NO_TTL);
    let root = a.data_dir().join("root.key");
    let b = Node::start(Some(&db.url), Some(&root), NO_TTL);
    let key = create_key(&a.client()).await;

    let mut tasks = Vec::new();
    for (n, node) in [&a, &b].into_iter().enumerate() {
        for i in 0..PER_NODE {
            let (client, key) = (node.client(), key.clone());
            tasks.push(tokio::spawn(async move {
                let tag = (format!("node{n}-tag{i}"), format!("{n}/{i}"));
                client
                    .tag_resource()
                    .key_id(&key)
                    .tags(
                        Tag::builder()
                            .tag_key(&tag.0)
                            .tag_value(&tag.1)
                            .build()
                            .unwrap(),
                    )
                    .send()
                    .await
                    .map(|_| tag)
                    .map_err(|e| error_code(&e))
            }));
        }
    }
    let mut acknowledged = BTreeSet::new();
    let mut refused = Vec::new();
    for task in tasks {
        match task.await.unwrap() {
            Ok(tag) => {
                acknowledged.insert(tag);
            }
            Err(code) => refused.push(code),
        }
    }
    eprintln!(
        "concurrent TagResource through 2 nodes: {} acknowledged, {} refused {refused:?}",
        acknowledged.len(),
        refused.len()
    );
    // Refusals, if any, are AWS's retryable internal error, never a silent loss.
    assert!(
        refused.iter().all(|c| c == "KMSInternalException"),
        "{refused:?}"
    );
    // The store holds them all at once; each node shows them once the last write's
    // notification has reached it.
    for node in [&a, &b] {
        let client = node.client();
        converges("the last concurrent tag", DEADLINE, || async {
            tags_on(&client, &key).await == acknowledged
        })
        .await;
    }
}

async fn material_on(client: &Client, key_id: &str) -> String {
    client
        .describe_key()
        .key_id(key_id)
        .send()
        .await
        .unwrap()
        .key_metadata()
        .unwrap()
        .current_key_material_id()
        .unwrap()
        .to_owned()
}

async fn is_primary_on(client: &Client, key_id: &str) -> bool {
    let out = client.describe_key().key_id(key_id).send().await.unwrap();
    out.key_metadata()
        .unwrap()
        .multi_region_configuration()
        .unwrap()
        .multi_region_key_type()
        == Some(&aws_sdk_kms::types::MultiRegionKeyType::Primary)
}

/// A multi-Region key changed on node A (a rotation of the primary, which adds material to
/// every replica; UpdatePrimaryRegion, which changes every region-key) reaches node B,
/// which had the replica cached.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn multi_region_changes_reach_the_other_node() {
    let Some(url) = postgres::url("multi_region_changes_reach_the_other_node") else {
        return;
    };
    let db = Database::create(&url, "trent_cluster_").await;
    let a = Node::start(Some(&db.url), None, NO_TTL);
    let root = a.data_dir().join("root.key");
    let b = Node::start(Some(&db.url), Some(&root), NO_TTL);
    let (a_us, b_eu) = (a.client_in("us-east-1"), b.client_in("eu-west-1"));

    let out = a_us.create_key().multi_region(true).send().await.unwrap();
    let key = out.key_metadata().unwrap().key_id().to_owned();
    a_us.replicate_key()
        .key_id(&key)
        .replica_region("eu-west-1")
        .send()
        .await
        .unwrap();
    // B caches the replica by using it.
    let first = material_on(&b_eu, &key).await;
    assert!(encrypt_on(&b_eu, &key).await.is_ok());
    assert!(!is_primary_on(&b_eu, &key).await);

    a_us.rotate_key_on_demand()
        .key_id(&key)
        .send()
        .await
        .unwrap();
    let rotated = material_on(&a_us, &key).await;
    assert_ne!(rotated, first);
    converges("RotateKeyOnDemand of the primary", DEADLINE, || async {
        material_on(&b_eu, &key).await == rotated
    })
    .await;
    // A ciphertext of the new material made on A decrypts on B.
    let blob = a_us
        .encrypt()
        .key_id(&key)
        .plaintext(Blob::new(b"new material".to_vec()))
        .send()
        .await
        .unwrap()
        .ciphertext_blob()
        .unwrap()
        .clone();
    let out = b_eu.decrypt().ciphertext_blob(blob).send().await.unwrap();
    assert_eq!(out.key_material_id(), Some(rotated.as_str()));

    a_us.update_primary_region()
        .key_id(&key)
        .primary_region("eu-west-1")
        .send()
        .await
        .unwrap();
    converges("UpdatePrimaryRegion", DEADLINE, || async {
        is_primary_on(&b_eu, &key).await
    })
    .await;
    b_eu.rotate_key_on_demand()
        .key_id(&key)
        .send()
        .await
        .unwrap();
}

/// A change that no notification announced (made here in the database, behind Trent's
/// back, as a lost notification would leave it) reaches a node once its cached key is past
/// `cache_ttl_ms`: the node then checks the key's version, finds it changed and reads the
/// key again. A key that did not change goes on being served after the same check.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_change_no_notification_announced_is_seen_after_the_cache_lifetime() {
    use sqlx::Connection as _;
    let Some(url) =
        postgres::url("a_change_no_notification_announced_is_seen_after_the_cache_lifetime")
    else {
        return;
    };
    let db = Database::create(&url, "trent_cluster_").await;
    let node = Node::start(Some(&db.url), None, &["--cache-ttl-ms", "300"]);
    let client = node.client();
    let (changed, kept) = (create_key(&client).await, create_key(&client).await);
    for key in [&changed, &kept] {
        assert_eq!(encrypt_on(&client, key).await, Ok(key.clone()));
    }
    // Disabled in the database with its version bumped (as every store write does), and
    // no NOTIFY.
    let mut conn = sqlx::PgConnection::connect(&db.url).await.unwrap();
    let updated =
        sqlx::query("UPDATE keys SET state = 'Disabled', version = version + 1 WHERE key_id = $1")
            .bind(&changed)
            .execute(&mut conn)
            .await
            .unwrap();
    assert_eq!(updated.rows_affected(), 1);
    conn.close().await.unwrap();
    converges("an unannounced DisableKey", DEADLINE, || async {
        encrypt_on(&client, &changed).await.err().as_deref() == Some("DisabledException")
    })
    .await;
    // The unchanged key, loaded with the other, is past its lifetime too by now: served after
    // its version check, and from the cache after that.
    for _ in 0..3 {
        assert_eq!(encrypt_on(&client, &kept).await, Ok(kept.clone()));
    }
    assert_eq!(state_on(&client, &changed).await, "Disabled");
}
