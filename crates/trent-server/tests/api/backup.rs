//! `trent backup` of a running node and `trent restore` into a new data directory: what
//! was made before the backup is there (a ciphertext made before it decrypts), what was
//! made after is not, the restored trail verifies, the root key is never in the backup,
//! and a damaged or misplaced restore writes nothing.

use std::path::Path;

use aws_sdk_kms::primitives::Blob;
use trent_testkit::process::{self, trent, Launch};
use trent_testkit::sdk::{client, expect_code, ok, REGION};

const ADMIN_KEY_ID: &str = "AKIABACKUPTESTADMIN1";
const ADMIN_SECRET: &str = "backup-test-secret-access-key-0123456789";

/// Small audit segments: the backup holds closed (compressed) ones and the open one.
fn serve(data: &Path) -> Launch {
    Launch::serve()
        .data_dir(data)
        .env("TRENT_ADMIN_ACCESS_KEY_ID", ADMIN_KEY_ID)
        .env("TRENT_ADMIN_SECRET_ACCESS_KEY", ADMIN_SECRET)
        .args(["--audit-segment-bytes", "4096"])
}

/// `trent backup --data-dir DATA --out ARCHIVE`.
fn backup(data: &Path, archive: &Path) -> (bool, String) {
    trent(&[
        "backup",
        "--data-dir",
        data.to_str().unwrap(),
        "--out",
        archive.to_str().unwrap(),
    ])
}

/// `trent restore --from ARCHIVE --data-dir DATA`.
fn restore(archive: &Path, data: &Path) -> (bool, String) {
    trent(&[
        "restore",
        "--from",
        archive.to_str().unwrap(),
        "--data-dir",
        data.to_str().unwrap(),
    ])
}

/// The names in a tar file (with `tar tf`).
fn names(archive: &Path) -> Vec<String> {
    let out = std::process::Command::new("tar")
        .arg("tf")
        .arg(archive)
        .output()
        .unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

#[tokio::test]
async fn a_backup_of_a_running_node_restores_what_it_held_and_nothing_after() {
    let work = tempfile::tempdir().unwrap();
    let data = work.path().join("data");
    let mut server = serve(&data).start();
    let kms = client(server.endpoint(), REGION, ADMIN_KEY_ID, ADMIN_SECRET);
    let before = ok(kms.create_key().send().await)
        .key_metadata
        .unwrap()
        .key_id;
    ok(kms
        .create_alias()
        .alias_name("alias/kept")
        .target_key_id(&before)
        .send()
        .await);
    let sealed = ok(kms
        .encrypt()
        .key_id("alias/kept")
        .plaintext(Blob::new(b"made before the backup".to_vec()))
        .send()
        .await)
    .ciphertext_blob
    .unwrap();
    for _ in 0..30 {
        ok(kms.list_keys().send().await);
    }

    // Online: the server keeps running (and holds its data directory's lock).
    let archive = work.path().join("node.backup");
    let (good, out) = backup(&data, &archive);
    assert!(good, "{out}");
    assert!(out.contains("audit chain node-1 up to seq"), "{out}");
    let listed = names(&archive);
    assert_eq!(listed[0], "manifest.json", "{listed:?}");
    assert!(listed.contains(&"trent.db".to_owned()), "{listed:?}");
    assert!(
        listed
            .iter()
            .any(|n| n.starts_with("audit/") && n.ends_with(".log")),
        "{listed:?}"
    );
    assert!(
        listed.iter().filter(|n| n.starts_with("audit/")).count() > 2,
        "{listed:?}"
    );
    for secret in ["root.key", "credentials", "root.key.sealed"] {
        assert!(
            !listed.iter().any(|n| n == secret),
            "{secret} in {listed:?}"
        );
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&archive).unwrap().permissions().mode();
        assert_eq!(
            mode & 0o077,
            0,
            "the backup is readable by others: {mode:o}"
        );
    }
    // A second backup to the same file is refused.
    let (good, out) = backup(&data, &archive);
    assert!(!good && out.contains("exists"), "{out}");

    // After the backup: a new key.
    let after = ok(kms.create_key().send().await)
        .key_metadata
        .unwrap()
        .key_id;
    let status = server.terminate();
    assert!(status.success());

    // Restore into a new directory; without its root key it does not start.
    let restored = work.path().join("restored");
    let (good, out) = restore(&archive, &restored);
    assert!(good, "{out}");
    assert!(!restored.join("root.key").exists());
    let refused = serve(&restored).start_fails().stderr;
    assert!(refused.contains("no root key"), "{refused}");
    std::fs::copy(data.join("root.key"), restored.join("root.key")).unwrap();
    let server = serve(&restored).start();
    let kms = client(server.endpoint(), REGION, ADMIN_KEY_ID, ADMIN_SECRET);
    let opened = ok(kms.decrypt().ciphertext_blob(sealed).send().await);
    assert_eq!(
        opened.plaintext.unwrap().as_ref(),
        b"made before the backup"
    );
    ok(kms.describe_key().key_id("alias/kept").send().await);
    expect_code(
        kms.describe_key().key_id(&after).send().await,
        "NotFoundException",
    );
    drop(server);
    let (good, out) = trent(&["audit", "verify", "--data-dir", restored.to_str().unwrap()]);
    assert!(good, "{out}");
}

#[test]
fn a_restore_refuses_a_damaged_backup_and_a_used_directory_and_writes_nothing() {
    let work = tempfile::tempdir().unwrap();
    let data = work.path().join("data");
    let server = serve(&data).start();
    let archive = work.path().join("node.backup");
    let (good, out) = backup(&data, &archive);
    assert!(good, "{out}");
    drop(server);

    // Into a directory that holds anything: refused.
    let used = work.path().join("used");
    std::fs::create_dir(&used).unwrap();
    std::fs::write(used.join("something"), b"x").unwrap();
    let (good, out) = restore(&archive, &used);
    assert!(!good && out.contains("not empty"), "{out}");
    assert_eq!(std::fs::read_dir(&used).unwrap().count(), 1);

    // One byte of the store changed in the archive: refused, nothing written.
    let mut bytes = std::fs::read(&archive).unwrap();
    let at = find(&bytes, b"SQLite format 3").expect("the store in the archive") + 4096;
    bytes[at] ^= 0x20;
    let damaged = work.path().join("damaged.backup");
    std::fs::write(&damaged, &bytes).unwrap();
    let target = work.path().join("target");
    let (good, out) = restore(&damaged, &target);
    assert!(!good && out.contains("trent.db is damaged"), "{out}");
    assert!(!target.exists());
    // Not a backup at all.
    let (good, out) = restore(&data.join("audit-signing-key.pub.pem"), &target);
    assert!(!good && out.contains("not a Trent backup"), "{out}");
    assert!(!target.exists());
    // Nothing is left beside the target either.
    let leftovers: Vec<_> = std::fs::read_dir(work.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with(".trent-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    // A PostgreSQL store is pg_dump's.
    let (good, out) = process::run(
        &process::trent_bin(),
        &["backup", "--data-dir", data.to_str().unwrap(), "--out", "x"],
        &[("TRENT_DATABASE_URL", "postgres://u@127.0.0.1:1/db")],
    );
    assert!(!good && out.contains("pg_dump"), "{out}");
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}
