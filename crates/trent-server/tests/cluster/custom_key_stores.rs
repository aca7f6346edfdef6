//! A custom key store on a cluster: its configuration and connection state live in the
//! database, shared by every node; each node logs in to the store's token on its own. A
//! store connected through node A serves its keys on node B; disconnected through B, its
//! keys become Unavailable on A (through the change feed: the cache lifetime is far longer
//! than the test).

use std::time::Duration;

use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{ConnectionStateType, KeyState, OriginType};
use aws_sdk_kms::Client;

use trent_testkit::cluster::Node;
use trent_testkit::postgres::{self, Database};
use trent_testkit::sdk::error_code;
use trent_testkit::softhsm;

use crate::converges;

const NO_TTL: &[&str] = &["--cache-ttl-ms", "3600000"];
const DEADLINE: Duration = Duration::from_secs(10);
const PIN: &str = "cluster-pin-77";
const CLUSTER: &str = "cluster-234567abcdefg";

async fn state(client: &Client, id: &str) -> ConnectionStateType {
    client
        .describe_custom_key_stores()
        .custom_key_store_id(id)
        .send()
        .await
        .unwrap()
        .custom_key_stores()[0]
        .connection_state()
        .unwrap()
        .clone()
}

async fn encrypt_on(client: &Client, key: &str) -> Result<Blob, String> {
    client
        .encrypt()
        .key_id(key)
        .plaintext(Blob::new(b"shared".to_vec()))
        .send()
        .await
        .map(|o| o.ciphertext_blob.unwrap())
        .map_err(|e| error_code(&e))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_custom_key_store_is_shared_by_every_node() {
    let Some(url) = postgres::url("a_custom_key_store_is_shared_by_every_node") else {
        return;
    };
    let db = Database::create(&url, "trent_cluster_").await;
    let work = tempfile::tempdir().unwrap();
    let tokens = softhsm::Tokens::new(work.path());
    tokens.init_token("cluster-ks", "so-pin-1", PIN);
    let anchor = softhsm::trust_anchor(work.path(), "cluster-ca");
    let config = work.path().join("trent.toml");
    std::fs::write(
        &config,
        format!(
            "[[pkcs11_clusters]]\ncluster_id = \"{CLUSTER}\"\nmodule = \"{}\"\ntoken_label = \"cluster-ks\"\ntrust_anchor_file = \"{}\"\n",
            tokens.module.display(),
            anchor.display()
        ),
    )
    .unwrap();
    let mut args = NO_TTL.to_vec();
    args.extend(["--config", config.to_str().unwrap()]);
    let conf = tokens.conf.to_str().unwrap();
    let start = |root: Option<&std::path::Path>| {
        let dir = tempfile::Builder::new()
            .prefix("trent-cluster-")
            .tempdir()
            .unwrap();
        if let Some(root) = root {
            std::fs::copy(root, dir.path().join("root.key")).unwrap();
        }
        let process = Node::launch(dir.path(), Some(&db.url), &args)
            .env("SOFTHSM2_CONF", conf)
            .start();
        (process, dir)
    };
    let (a, a_dir) = start(None);
    let (b, _b_dir) = start(Some(&a_dir.path().join("root.key")));
    let ca = trent_testkit::cluster::client(a.endpoint());
    let cb = trent_testkit::cluster::client(b.endpoint());

    let id = ca
        .create_custom_key_store()
        .custom_key_store_name("shared")
        .cloud_hsm_cluster_id(CLUSTER)
        .trust_anchor_certificate(std::fs::read_to_string(&anchor).unwrap())
        .key_store_password(PIN)
        .send()
        .await
        .unwrap()
        .custom_key_store_id
        .unwrap();
    assert_eq!(state(&cb, &id).await, ConnectionStateType::Disconnected);
    ca.connect_custom_key_store()
        .custom_key_store_id(&id)
        .send()
        .await
        .unwrap();
    converges(
        "a custom key store connected on A, seen on B",
        DEADLINE,
        || async { state(&cb, &id).await == ConnectionStateType::Connected },
    )
    .await;
    // A key made on B (B logs in to the token itself), used on A.
    let key = cb
        .create_key()
        .custom_key_store_id(&id)
        .origin(OriginType::AwsCloudhsm)
        .send()
        .await
        .unwrap()
        .key_metadata
        .unwrap()
        .key_id;
    let blob = encrypt_on(&ca, &key).await.unwrap();
    let plain = cb
        .decrypt()
        .ciphertext_blob(blob.clone())
        .send()
        .await
        .unwrap()
        .plaintext
        .unwrap();
    assert_eq!(plain.as_ref(), b"shared");

    // Disconnected through B: A's cached key becomes unusable.
    cb.disconnect_custom_key_store()
        .custom_key_store_id(&id)
        .send()
        .await
        .unwrap();
    converges("a disconnection on B, seen on A", DEADLINE, || async {
        encrypt_on(&ca, &key).await == Err("KMSInvalidStateException".to_owned())
    })
    .await;
    let md = ca
        .describe_key()
        .key_id(&key)
        .send()
        .await
        .unwrap()
        .key_metadata
        .unwrap();
    assert_eq!(md.key_state(), Some(&KeyState::Unavailable));
    // Reconnected through A: B serves the key again.
    ca.connect_custom_key_store()
        .custom_key_store_id(&id)
        .send()
        .await
        .unwrap();
    converges("a reconnection on A, seen on B", DEADLINE, || async {
        encrypt_on(&cb, &key).await.is_ok()
    })
    .await;
    drop((a, b));
}
