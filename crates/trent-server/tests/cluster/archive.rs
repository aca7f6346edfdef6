//! `trent audit archive --database-url`: a node's chain in the PostgreSQL audit table is
//! archived while the node runs; the rest of the table verifies from the anchor, the
//! archive verifies by itself, and the node's next digest continues the chain.

use aws_sdk_kms::primitives::Blob;
use trent_testkit::cluster::Node;
use trent_testkit::postgres::{self, Database};
use trent_testkit::process::trent;

async fn requests(node: &Node, n: usize) {
    let client = node.client();
    let key = client
        .create_key()
        .send()
        .await
        .unwrap()
        .key_metadata
        .unwrap()
        .key_id;
    for i in 0..n {
        client
            .encrypt()
            .key_id(&key)
            .plaintext(Blob::new(format!("{i}").into_bytes()))
            .send()
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn a_running_node_s_chain_is_archived_from_the_database() {
    let Some(url) = postgres::url("a_running_node_s_chain_is_archived_from_the_database") else {
        return;
    };
    let db = Database::create(&url, "archive").await;
    // A first run that ends with a digest, then a running node.
    let node = Node::start(Some(&db.url), None, &[]);
    requests(&node, 20).await;
    let (status, dir, logs) = node.terminate();
    assert!(status.success(), "{logs}");
    let node = Node::start_in(dir, Some(&db.url), &[]);
    requests(&node, 20).await;

    let work = tempfile::tempdir().unwrap();
    let out = work.path().join("archive");
    let (good, said) = trent(&[
        "audit",
        "archive",
        "--database-url",
        &db.url,
        "--data-dir",
        node.data_dir().to_str().unwrap(),
        "--before",
        "2999-01-01T00:00:00Z",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(good, "{said}");
    assert!(said.contains("archived chain node-"), "{said}");
    let (good, said) = trent(&["audit", "verify", "--database-url", &db.url]);
    assert!(good, "{said}");
    assert!(said.contains("were archived"), "{said}");
    let (good, said) = trent(&["audit", "verify", "--data-dir", out.to_str().unwrap()]);
    assert!(good, "{said}");

    // The node goes on; its final digest continues from the anchor's.
    requests(&node, 10).await;
    let (status, _dir, logs) = node.terminate();
    assert!(status.success(), "{logs}");
    let (good, said) = trent(&["audit", "verify", "--database-url", &db.url]);
    assert!(good, "{said}");
    assert!(!said.contains("not yet covered"), "{said}");
}
