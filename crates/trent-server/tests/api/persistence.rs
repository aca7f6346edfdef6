//! Durability: every acknowledged change survives `kill -9` and a restart on the same data
//! directory.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use aws_sdk_kms::primitives::{Blob, DateTime};
use aws_sdk_kms::types::{DataKeySpec, KeyState, Tag};
use aws_sdk_kms::Client;

use crate::harness::{create_alias, create_key, ok, TestServer, OTHER_REGION, REGION};

#[derive(Debug, PartialEq)]
struct KeySnapshot {
    arn: String,
    state: Option<KeyState>,
    enabled: bool,
    description: Option<String>,
    creation_date: Option<DateTime>,
    deletion_date: Option<DateTime>,
    pending_days: Option<i32>,
}

async fn snapshot_keys(client: &Client) -> BTreeMap<String, KeySnapshot> {
    let mut out = BTreeMap::new();
    let listed = ok(client.list_keys().send().await);
    assert!(!listed.truncated());
    for k in listed.keys() {
        let id = k.key_id().unwrap().to_owned();
        let md = ok(client.describe_key().key_id(&id).send().await)
            .key_metadata
            .unwrap();
        out.insert(
            id,
            KeySnapshot {
                arn: md.arn().unwrap().to_owned(),
                state: md.key_state().cloned(),
                enabled: md.enabled(),
                description: md.description().map(str::to_owned),
                creation_date: md.creation_date().copied(),
                deletion_date: md.deletion_date().copied(),
                pending_days: md.pending_deletion_window_in_days(),
            },
        );
    }
    out
}

async fn snapshot_aliases(client: &Client) -> BTreeSet<(String, String)> {
    let out = ok(client.list_aliases().send().await);
    assert!(!out.truncated());
    out.aliases()
        .iter()
        .filter(|a| !a.alias_name().unwrap_or_default().starts_with("alias/aws/"))
        .map(|a| {
            (
                a.alias_name().unwrap().to_owned(),
                a.target_key_id().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

async fn snapshot_tags(client: &Client, key_id: &str) -> BTreeMap<String, String> {
    ok(client.list_resource_tags().key_id(key_id).send().await)
        .tags()
        .iter()
        .map(|t| (t.tag_key().to_owned(), t.tag_value().to_owned()))
        .collect()
}

struct Sealed {
    blob: Blob,
    context: Option<HashMap<String, String>>,
    plaintext: Vec<u8>,
}

#[tokio::test]
async fn state_survives_kill_9_and_restart() {
    let mut server = TestServer::start();
    let client = server.client(REGION);

    // An enabled key with a description, tags, two aliases and ciphertexts.
    let out = ok(client
        .create_key()
        .description("survivor")
        .tags(
            Tag::builder()
                .tag_key("env")
                .tag_value("prod")
                .build()
                .unwrap(),
        )
        .send()
        .await);
    let main_key = out.key_metadata().unwrap().key_id().to_owned();
    ok(client
        .tag_resource()
        .key_id(&main_key)
        .tags(
            Tag::builder()
                .tag_key("team")
                .tag_value("")
                .build()
                .unwrap(),
        )
        .send()
        .await);
    create_alias(&client, "alias/main", &main_key).await;
    create_alias(&client, "alias/main-too", &main_key).await;

    // A disabled key, a key pending deletion, a key whose alias was moved away.
    let (disabled_key, _) = create_key(&client).await;
    let (pending_key, _) = create_key(&client).await;
    let (moved_from, _) = create_key(&client).await;
    create_alias(&client, "alias/moved", &moved_from).await;
    ok(client
        .update_alias()
        .alias_name("alias/moved")
        .target_key_id(&disabled_key)
        .send()
        .await);
    create_alias(&client, "alias/deleted", &moved_from).await;
    ok(client
        .delete_alias()
        .alias_name("alias/deleted")
        .send()
        .await);
    ok(client
        .update_key_description()
        .key_id(&moved_from)
        .description("changed")
        .send()
        .await);

    let mut sealed = Vec::new();
    for (i, key) in [&main_key, &disabled_key, &pending_key, &moved_from]
        .into_iter()
        .enumerate()
    {
        let context = (i % 2 == 0).then(|| {
            [("index".to_owned(), i.to_string())]
                .into_iter()
                .collect::<HashMap<_, _>>()
        });
        let plaintext = format!("secret number {i}").into_bytes();
        let blob = ok(client
            .encrypt()
            .key_id(key)
            .plaintext(Blob::new(plaintext.clone()))
            .set_encryption_context(context.clone())
            .send()
            .await)
        .ciphertext_blob
        .unwrap();
        sealed.push(Sealed {
            blob,
            context,
            plaintext,
        });
    }
    let data_key = ok(client
        .generate_data_key()
        .key_id("alias/main")
        .key_spec(DataKeySpec::Aes256)
        .send()
        .await);
    sealed.push(Sealed {
        blob: data_key.ciphertext_blob().unwrap().clone(),
        context: None,
        plaintext: data_key.plaintext().unwrap().as_ref().to_vec(),
    });

    ok(client.disable_key().key_id(&disabled_key).send().await);
    ok(client
        .schedule_key_deletion()
        .key_id(&pending_key)
        .pending_window_in_days(9)
        .send()
        .await);

    // A key in another region.
    let west = server.client(OTHER_REGION);
    let (west_key, _) = create_key(&west).await;
    create_alias(&west, "alias/main", &west_key).await;

    let keys_before = snapshot_keys(&client).await;
    assert_eq!(keys_before.len(), 4);
    let aliases_before = snapshot_aliases(&client).await;
    assert_eq!(aliases_before.len(), 3);
    let tags_before = snapshot_tags(&client, &main_key).await;
    assert_eq!(tags_before.len(), 2);
    let west_before = snapshot_keys(&west).await;

    for round in 0..2 {
        server.restart();
        let client = server.client(REGION);
        let west = server.client(OTHER_REGION);

        assert_eq!(
            snapshot_keys(&client).await,
            keys_before,
            "keys after restart {round}"
        );
        assert_eq!(
            snapshot_aliases(&client).await,
            aliases_before,
            "aliases after restart {round}"
        );
        assert_eq!(snapshot_tags(&client, &main_key).await, tags_before);
        assert_eq!(snapshot_keys(&west).await, west_before);
        assert_eq!(
            snapshot_aliases(&west).await,
            [("alias/main".to_owned(), west_key.clone())]
                .into_iter()
                .collect()
        );

        // Keys that can decrypt do; the others still refuse for their state.
        for (i, s) in sealed.iter().enumerate() {
            let res = client
                .decrypt()
                .ciphertext_blob(s.blob.clone())
                .set_encryption_context(s.context.clone())
                .send()
                .await;
            match i {
                1 => {
                    let err = res.expect_err("disabled key decrypted");
                    assert_eq!(
                        aws_sdk_kms::error::ProvideErrorMetadata::code(&err),
                        Some("DisabledException")
                    );
                }
                2 => {
                    let err = res.expect_err("pending-deletion key decrypted");
                    assert_eq!(
                        aws_sdk_kms::error::ProvideErrorMetadata::code(&err),
                        Some("KMSInvalidStateException")
                    );
                }
                _ => assert_eq!(
                    ok(res).plaintext().unwrap().as_ref(),
                    s.plaintext.as_slice(),
                    "ciphertext {i} after restart {round}"
                ),
            }
        }
    }

    // Re-enable and cancel: every old ciphertext decrypts.
    let client = server.client(REGION);
    ok(client.enable_key().key_id(&disabled_key).send().await);
    ok(client
        .cancel_key_deletion()
        .key_id(&pending_key)
        .send()
        .await);
    ok(client.enable_key().key_id(&pending_key).send().await);
    server.restart();
    let client = server.client(REGION);
    for s in &sealed {
        let out = ok(client
            .decrypt()
            .ciphertext_blob(s.blob.clone())
            .set_encryption_context(s.context.clone())
            .send()
            .await);
        assert_eq!(out.plaintext().unwrap().as_ref(), s.plaintext.as_slice());
    }
    let md = ok(client.describe_key().key_id(&pending_key).send().await)
        .key_metadata
        .unwrap();
    assert_eq!(md.key_state(), Some(&KeyState::Enabled));

    // New work after restarts.
    let (fresh, _) = create_key(&client).await;
    assert_eq!(snapshot_keys(&client).await.len(), 5);
    ok(client.describe_key().key_id(&fresh).send().await);
}

/// Every acknowledged write is durable: kill -9 right after a burst of writes loses none.
#[tokio::test]
async fn kill_right_after_writes_loses_nothing() {
    let mut server = TestServer::start();
    let client = server.client(REGION);
    let mut keys = BTreeSet::new();
    for i in 0..20 {
        let (id, _) = create_key(&client).await;
        create_alias(&client, &format!("alias/burst-{i}"), &id).await;
        keys.insert(id);
    }
    server.restart();
    let client = server.client(REGION);
    let listed: BTreeSet<String> = ok(client.list_keys().limit(1000).send().await)
        .keys()
        .iter()
        .filter_map(|k| k.key_id().map(str::to_owned))
        .collect();
    assert_eq!(listed, keys);
    assert_eq!(snapshot_aliases(&client).await.len(), 20);
}
