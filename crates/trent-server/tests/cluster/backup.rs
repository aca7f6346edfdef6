//! A PostgreSQL store is backed up with pg_dump and restored with pg_restore (README,
//! "Backup and restore"): a node given the restored database and the same root key
//! decrypts what was encrypted before the dump.

use aws_sdk_kms::primitives::Blob;
use trent_testkit::cluster::Node;
use trent_testkit::postgres::{self, Database};

fn run(program: &str, args: &[&str]) {
    let out = std::process::Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn pg_dump_and_pg_restore_carry_a_cluster_s_store() {
    let Some(url) = postgres::url("pg_dump_and_pg_restore_carry_a_cluster_s_store") else {
        return;
    };
    let source = Database::create(&url, "dump").await;
    let node = Node::start(Some(&source.url), None, &[]);
    let client = node.client();
    let key = client
        .create_key()
        .send()
        .await
        .unwrap()
        .key_metadata
        .unwrap()
        .key_id;
    let sealed = client
        .encrypt()
        .key_id(&key)
        .plaintext(Blob::new(b"before the dump".to_vec()))
        .send()
        .await
        .unwrap()
        .ciphertext_blob
        .unwrap();
    let work = tempfile::tempdir().unwrap();
    let dump = work.path().join("trent.dump");
    // Online, as the README says: one consistent snapshot of every table.
    run(
        "pg_dump",
        &[
            "--format=custom",
            "--file",
            dump.to_str().unwrap(),
            &source.url,
        ],
    );
    let root = work.path().join("root.key");
    std::fs::copy(node.data_dir().join("root.key"), &root).unwrap();
    drop(node);

    let target = Database::create(&url, "restored").await;
    run(
        "pg_restore",
        &[
            "--no-owner",
            "--dbname",
            &target.url,
            dump.to_str().unwrap(),
        ],
    );
    let restored = Node::start(Some(&target.url), Some(&root), &[]);
    let opened = restored
        .client()
        .decrypt()
        .ciphertext_blob(sealed)
        .send()
        .await
        .unwrap();
    assert_eq!(opened.plaintext.unwrap().as_ref(), b"before the dump");
    // Another root key is refused by the restored database.
    let stranger = tempfile::tempdir().unwrap();
    let other_root = crate::new_root_key(stranger.path());
    let err = Node::launch(&stranger.path().join("node"), Some(&target.url), &[]);
    std::fs::create_dir_all(stranger.path().join("node")).unwrap();
    std::fs::copy(&other_root, stranger.path().join("node/root.key")).unwrap();
    let run = err.start_fails();
    assert!(run.stderr.contains("another root key"), "{}", run.stderr);
}
