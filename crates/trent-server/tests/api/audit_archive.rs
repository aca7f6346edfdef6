//! `trent audit archive`: the oldest segments move out with a signed anchor left behind;
//! the remaining chain, the archive, and the chain a restarted server goes on writing all
//! verify; a changed anchor does not.

use std::path::Path;

use aws_sdk_kms::primitives::Blob;
use trent_testkit::process::{trent, Launch};
use trent_testkit::sdk::{client, ok, REGION};

const ADMIN_KEY_ID: &str = "AKIAARCHIVETESTADMIN";
const ADMIN_SECRET: &str = "archive-test-secret-access-key-0123456789";

fn serve(data: &Path) -> Launch {
    Launch::serve()
        .data_dir(data)
        .env("TRENT_ADMIN_ACCESS_KEY_ID", ADMIN_KEY_ID)
        .env("TRENT_ADMIN_SECRET_ACCESS_KEY", ADMIN_SECRET)
        // Small segments, and no digest but the ones asked for: the segments kept after
        // the archive hold none, and the chain must go on from the anchor's.
        .args([
            "--audit-segment-bytes",
            "4096",
            "--audit-digest-every-events",
            "100000000",
            "--audit-digest-every-seconds",
            "86400",
        ])
}

async fn some_requests(endpoint: &str, n: usize) {
    let kms = client(endpoint, REGION, ADMIN_KEY_ID, ADMIN_SECRET);
    let key = ok(kms.create_key().send().await)
        .key_metadata
        .unwrap()
        .key_id;
    for i in 0..n {
        ok(kms
            .encrypt()
            .key_id(&key)
            .plaintext(Blob::new(format!("request {i}").into_bytes()))
            .send()
            .await);
    }
}

fn verify(dir: &Path) -> (bool, String) {
    trent(&["audit", "verify", "--data-dir", dir.to_str().unwrap()])
}

/// The segments in `dir/audit`, by the name each was written under (a closed one may be
/// compressed, `.log.zst`).
fn segments(dir: &Path) -> usize {
    let mut names: Vec<String> = std::fs::read_dir(dir.join("audit"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with('.'))
        .filter_map(|n| {
            let base = n.strip_suffix(".zst").unwrap_or(&n).to_owned();
            base.ends_with(".log").then_some(base)
        })
        .collect();
    names.sort();
    names.dedup();
    names.len()
}

#[tokio::test]
async fn archived_segments_leave_an_anchor_the_remaining_chain_verifies_from() {
    let work = tempfile::tempdir().unwrap();
    let data = work.path().join("data");
    // A first run that ends with a digest (SIGTERM), a second that does not (killed):
    // the digest is in a segment the archive takes, the newest segment holds none, and
    // the chain must go on from the digest the anchor names.
    let mut server = serve(&data).start();
    some_requests(server.endpoint(), 20).await;
    assert!(server.terminate().success());
    let mut server = serve(&data).start();
    some_requests(server.endpoint(), 40).await;

    // Not while the server runs.
    let out = work.path().join("archive-1");
    let far_future = "2999-01-01T00:00:00Z";
    let archive = |out: &Path, before: &str| {
        trent(&[
            "audit",
            "archive",
            "--data-dir",
            data.to_str().unwrap(),
            "--before",
            before,
            "--out",
            out.to_str().unwrap(),
        ])
    };
    let (good, said) = archive(&out, far_future);
    assert!(!good && said.contains("in use"), "{said}");
    server.kill();
    let before = segments(&data);
    assert!(before >= 3, "{before} segments");

    // Nothing older than the first entry.
    let (good, said) = archive(&out, "2001-01-01T00:00:00Z");
    assert!(good && said.contains("nothing to archive"), "{said}");

    let (good, said) = archive(&out, far_future);
    assert!(good, "{said}");
    assert!(said.contains("archived chain node-1 up to seq"), "{said}");
    assert_eq!(segments(&data), 1, "every closed segment went");
    assert_eq!(segments(&out), before - 1);
    let anchor: serde_json::Value =
        serde_json::from_slice(&std::fs::read(data.join("audit/node-1.anchor.json")).unwrap())
            .unwrap();
    assert!(anchor["digestSeq"].as_u64().unwrap() > 0, "{anchor}");
    assert!(anchor["digestSignature"].is_string(), "{anchor}");
    let (good, said) = verify(&data);
    assert!(good, "{said}");
    assert!(said.contains("were archived"), "{said}");
    // The archive verifies by itself, from the genesis.
    let (good, said) = verify(&out);
    assert!(good, "{said}");

    // The server goes on writing the chain (and its next digest) after the anchor.
    let mut server = serve(&data).start();
    some_requests(server.endpoint(), 40).await;
    assert!(server.terminate().success());
    let (good, said) = verify(&data);
    assert!(good, "{said}");
    assert!(
        !said.contains("not yet covered"),
        "the final digest covers all: {said}"
    );

    // A second archive moves the anchor on; the archive carries the previous anchor.
    server.kill();
    let out2 = work.path().join("archive-2");
    let (good, said) = archive(&out2, far_future);
    assert!(good, "{said}");
    assert!(out2.join("audit/node-1.anchor.json").is_file());
    let (good, said) = verify(&out2);
    assert!(good, "{said}");
    let (good, said) = verify(&data);
    assert!(good, "{said}");

    // A changed anchor is caught.
    let path = data.join("audit/node-1.anchor.json");
    let text = std::fs::read_to_string(&path).unwrap();
    let mut anchor: serde_json::Value = serde_json::from_str(&text).unwrap();
    let seq = anchor["seq"].as_u64().unwrap();
    anchor["seq"] = (seq + 1).into();
    std::fs::write(&path, anchor.to_string()).unwrap();
    let (good, said) = verify(&data);
    assert!(!good && said.contains("ANCHOR"), "{said}");
    // And an archive refuses a trail that does not verify.
    let (good, said) = archive(&work.path().join("archive-3"), far_future);
    assert!(!good && said.contains("does not verify"), "{said}");
}

#[tokio::test]
async fn an_interrupted_archive_finishes_deleting_what_its_anchor_covers() {
    let work = tempfile::tempdir().unwrap();
    let data = work.path().join("data");
    let mut server = serve(&data).start();
    some_requests(server.endpoint(), 40).await;
    server.kill();
    let before = segments(&data);
    assert!(before >= 3, "{before} segments");
    let archive = |out: &Path| {
        trent(&[
            "audit",
            "archive",
            "--data-dir",
            data.to_str().unwrap(),
            "--before",
            "2999-01-01T00:00:00Z",
            "--out",
            out.to_str().unwrap(),
        ])
    };
    let out = work.path().join("archive-1");
    let (good, said) = archive(&out);
    assert!(good, "{said}");
    assert_eq!(segments(&data), 1);

    // As if the run had stopped after writing its anchor, before deleting the segments
    // it covers: they are back beside the anchor.
    for e in std::fs::read_dir(out.join("audit")).unwrap() {
        let e = e.unwrap();
        let name = e.file_name().to_string_lossy().into_owned();
        if name.contains(".log") {
            std::fs::copy(e.path(), data.join("audit").join(&name)).unwrap();
        }
    }
    assert_eq!(segments(&data), before);
    let (good, said) = verify(&data);
    assert!(!good && said.contains("INSERTED"), "{said}");

    // The next run deletes them (without verifying them: the anchor vouches for them),
    // verifies the rest, and finds nothing more to archive.
    let (good, said) = archive(&work.path().join("archive-2"));
    assert!(good, "{said}");
    assert!(
        said.contains(&format!("{} segment(s)", before - 1)),
        "{said}"
    );
    assert_eq!(segments(&data), 1);
    let (good, said) = verify(&data);
    assert!(good, "{said}");
    assert!(said.contains("were archived"), "{said}");
}
