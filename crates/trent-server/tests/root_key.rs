//! `[root_key]` providers other than `file`, through the real `trent` binary: `pkcs11`
//! on a SoftHSM2 token made for each test (its own `SOFTHSM2_CONF`, passed to the server
//! only), and `passphrase`. Served through the AWS SDK, restarted, refused at start with a
//! one-line message that never shows the PIN or passphrase. Without SoftHSM2 the pkcs11
//! tests FAIL (`.ci/run` installs it).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::Command;

use aws_sdk_kms::primitives::Blob;
use trent_testkit::cluster::{self, Node};
use trent_testkit::postgres::{self, Database};
use trent_testkit::process::{Launch, Trent};
use trent_testkit::sdk::{client, ok, REGION};
use trent_testkit::server::read_credentials_file;
use trent_testkit::softhsm;

const PIN: &str = "pin-7f3a9c21e4";
const SO_PIN: &str = "so-pin-0000";
const TOKEN: &str = "trent-root";
const KEY_LABEL: &str = "trent-root-key";
const PASSPHRASE: &str = "passphrase-9d2e77b1c0";

/// A SoftHSM2 token directory of its own, with one initialized token labelled [`TOKEN`].
struct Hsm {
    conf: PathBuf,
    module: PathBuf,
}

impl Hsm {
    fn new(work: &Path) -> Self {
        let tokens = softhsm::Tokens::new(work);
        tokens.init_token(TOKEN, SO_PIN, PIN);
        Self {
            conf: tokens.conf,
            module: tokens.module,
        }
    }

    /// A config file with `[root_key] provider = "pkcs11"` and these overrides.
    fn config(&self, work: &Path, name: &str, token: &str, key: &str, extra: &str) -> PathBuf {
        let path = work.join(name);
        std::fs::write(
            &path,
            format!(
                "[root_key]\nprovider = \"pkcs11\"\nmodule = \"{}\"\ntoken_label = \"{token}\"\nkey_label = \"{key}\"\n{extra}",
                self.module.display()
            ),
        )
        .unwrap();
        path
    }

    fn serve(&self, data: &Path, config: &Path) -> Launch {
        Launch::serve()
            .data_dir(data)
            .args(["--config", config.to_str().unwrap()])
            .env("SOFTHSM2_CONF", self.conf.to_str().unwrap())
    }
}

fn write_private(path: &Path, content: &str, mode: u32) {
    std::fs::write(path, content).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// CreateKey and Encrypt through the SDK; the key id and the ciphertext.
async fn create_and_encrypt(server: &Trent, data: &Path) -> (String, Vec<u8>) {
    let (id, secret) = read_credentials_file(data);
    let kms = client(server.endpoint(), REGION, &id, &secret);
    let key = ok(kms.create_key().send().await)
        .key_metadata
        .unwrap()
        .key_id;
    let ct = ok(kms
        .encrypt()
        .key_id(&key)
        .plaintext(Blob::new(b"hello, root key".to_vec()))
        .send()
        .await)
    .ciphertext_blob
    .unwrap()
    .into_inner();
    assert_eq!(decrypt(server, data, &ct).await, b"hello, root key");
    (key, ct)
}

async fn decrypt(server: &Trent, data: &Path, ct: &[u8]) -> Vec<u8> {
    let (id, secret) = read_credentials_file(data);
    let kms = client(server.endpoint(), REGION, &id, &secret);
    ok(kms
        .decrypt()
        .ciphertext_blob(Blob::new(ct.to_vec()))
        .send()
        .await)
    .plaintext
    .unwrap()
    .into_inner()
}

#[track_caller]
fn assert_clean(output: &str) {
    for secret in [PIN, PASSPHRASE] {
        assert!(!output.contains(secret), "a secret in the output: {output}");
    }
}

#[tokio::test]
async fn pkcs11_serves_restarts_and_keeps_no_root_key_file() {
    let work = tempfile::tempdir().unwrap();
    let hsm = Hsm::new(work.path());
    let data = work.path().join("data");
    let pin_file = work.path().join("pin");
    write_private(&pin_file, &format!("{PIN}\n"), 0o600);
    let config = hsm.config(
        work.path(),
        "trent.toml",
        TOKEN,
        KEY_LABEL,
        &format!("pin_file = \"{}\"\n", pin_file.display()),
    );
    let mut server = hsm.serve(&data, &config).start();
    let (_key, ct) = create_and_encrypt(&server, &data).await;
    assert!(server.terminate().success());
    assert_clean(&server.logs());
    assert!(!data.join("root.key").exists());
    assert!(!data.join("root.key.sealed").exists());

    // Restarted, the PIN from the environment this time (no pin_file): still decrypts.
    let env_config = hsm.config(work.path(), "env.toml", TOKEN, KEY_LABEL, "");
    let mut server = hsm
        .serve(&data, &env_config)
        .env("TRENT_PKCS11_PIN", PIN)
        .start();
    assert_eq!(decrypt(&server, &data, &ct).await, b"hello, root key");
    create_and_encrypt(&server, &data).await;
    assert!(server.terminate().success());
    assert_clean(&server.logs());
    assert!(!data.join("root.key").exists());

    // The key is in the token, sensitive and never extractable (as pkcs11-tool lists it).
    let out = Command::new("pkcs11-tool")
        .env("SOFTHSM2_CONF", &hsm.conf)
        .arg("--module")
        .arg(&hsm.module)
        .args(["--token-label", TOKEN, "--login", "--pin", PIN, "-O"])
        .output()
        .expect("pkcs11-tool runs (apt-get install opensc)");
    let listing = String::from_utf8_lossy(&out.stdout);
    assert!(listing.contains(KEY_LABEL), "{listing}");
    assert!(listing.contains("never extractable"), "{listing}");
}

#[test]
fn pkcs11_start_is_refused_with_a_clear_message() {
    let work = tempfile::tempdir().unwrap();
    let hsm = Hsm::new(work.path());
    let data = work.path().join("data");
    let refused = |launch: Launch, expected: &str| {
        let run = launch.start_fails();
        let output = run.output();
        assert!(output.contains(expected), "{expected:?} not in: {output}");
        assert!(output.contains("trent: error: "), "{output}");
        assert_clean(&output);
        // Never a fallback to a root key file, and no store left behind.
        assert!(!data.join("root.key").exists());
        assert!(!data.join("trent.db").exists());
    };
    let config = hsm.config(work.path(), "trent.toml", TOKEN, KEY_LABEL, "");

    // Wrong PIN (CKR_PIN_INCORRECT): the PIN itself never in the output.
    refused(
        hsm.serve(&data, &config)
            .env("TRENT_PKCS11_PIN", "wrong-pin-55aa"),
        "CKR_PIN_INCORRECT",
    );
    let run = hsm
        .serve(&data, &config)
        .env("TRENT_PKCS11_PIN", "wrong-pin-55aa")
        .start_fails();
    assert!(!run.output().contains("wrong-pin-55aa"), "{}", run.output());

    // No PIN at all.
    refused(hsm.serve(&data, &config), "no PIN given");

    // A PIN file that group or others can read, and one that cannot be read.
    let pin_file = work.path().join("pin");
    write_private(&pin_file, PIN, 0o644);
    let open_pin = hsm.config(
        work.path(),
        "open-pin.toml",
        TOKEN,
        KEY_LABEL,
        &format!("pin_file = \"{}\"\n", pin_file.display()),
    );
    refused(hsm.serve(&data, &open_pin), "chmod 600");
    let missing_pin = hsm.config(
        work.path(),
        "missing-pin.toml",
        TOKEN,
        KEY_LABEL,
        &format!("pin_file = \"{}\"\n", work.path().join("nope").display()),
    );
    refused(hsm.serve(&data, &missing_pin), "cannot open it");

    // No token with that label.
    let other_token = hsm.config(work.path(), "token.toml", "no-such-token", KEY_LABEL, "");
    refused(
        hsm.serve(&data, &other_token).env("TRENT_PKCS11_PIN", PIN),
        "no initialized token is labelled \"no-such-token\"",
    );

    // A module that does not exist.
    let path = work.path().join("module.toml");
    std::fs::write(
        &path,
        format!("[root_key]\nprovider = \"pkcs11\"\nmodule = \"/nonexistent/libpkcs11.so\"\ntoken_label = \"{TOKEN}\"\nkey_label = \"{KEY_LABEL}\"\n"),
    )
    .unwrap();
    refused(
        hsm.serve(&data, &path).env("TRENT_PKCS11_PIN", PIN),
        "cannot load the PKCS#11 module /nonexistent/libpkcs11.so",
    );

    // An unknown key in the table.
    let typo = hsm.config(
        work.path(),
        "typo.toml",
        TOKEN,
        KEY_LABEL,
        "pin = \"1234\"\n",
    );
    refused(
        hsm.serve(&data, &typo).env("TRENT_PKCS11_PIN", PIN),
        "unknown field `pin`",
    );
}

#[test]
fn pkcs11_missing_key_for_an_existing_store_is_refused() {
    let work = tempfile::tempdir().unwrap();
    let hsm = Hsm::new(work.path());
    let data = work.path().join("data");
    let config = hsm.config(work.path(), "trent.toml", TOKEN, KEY_LABEL, "");
    drop(
        hsm.serve(&data, &config)
            .env("TRENT_PKCS11_PIN", PIN)
            .start(),
    );
    // The store exists; a key label the token does not hold is refused, never generated.
    let other = hsm.config(work.path(), "other.toml", TOKEN, "another-key", "");
    let run = hsm
        .serve(&data, &other)
        .env("TRENT_PKCS11_PIN", PIN)
        .start_fails();
    let output = run.output();
    assert!(
        output.contains("holds no AES key labelled \"another-key\""),
        "{output}"
    );
    assert_clean(&output);
    // Started again with a fresh store, that label is generated: another root key, which
    // the first store refuses (the root key check).
    let fresh = work.path().join("fresh");
    drop(
        hsm.serve(&fresh, &other)
            .env("TRENT_PKCS11_PIN", PIN)
            .start(),
    );
    let run = hsm
        .serve(&data, &other)
        .env("TRENT_PKCS11_PIN", PIN)
        .start_fails();
    assert!(
        run.output().contains("root key does not match"),
        "{}",
        run.output()
    );
}

#[test]
fn a_store_of_the_file_provider_refuses_a_pkcs11_root_key() {
    let work = tempfile::tempdir().unwrap();
    let hsm = Hsm::new(work.path());
    let config = hsm.config(work.path(), "trent.toml", TOKEN, KEY_LABEL, "");
    // The key exists in the token (made for another, new store).
    drop(
        hsm.serve(&work.path().join("other"), &config)
            .env("TRENT_PKCS11_PIN", PIN)
            .start(),
    );
    let data = work.path().join("data");
    drop(Launch::serve().data_dir(&data).start());
    assert!(data.join("root.key").exists());
    let run = hsm
        .serve(&data, &config)
        .env("TRENT_PKCS11_PIN", PIN)
        .start_fails();
    assert!(
        run.output().contains("root key does not match"),
        "{}",
        run.output()
    );
}

fn passphrase_config(work: &Path) -> PathBuf {
    let path = work.join("passphrase.toml");
    std::fs::write(&path, "[root_key]\nprovider = \"passphrase\"\n").unwrap();
    path
}

#[tokio::test]
async fn passphrase_serves_restarts_and_refuses_a_wrong_passphrase() {
    let work = tempfile::tempdir().unwrap();
    let data = work.path().join("data");
    let config = passphrase_config(work.path());
    let serve = |passphrase: Option<&str>| {
        let launch = Launch::serve()
            .data_dir(&data)
            .args(["--config", config.to_str().unwrap()]);
        match passphrase {
            Some(p) => launch.env("TRENT_ROOT_KEY_PASSPHRASE", p),
            None => launch,
        }
    };
    let mut server = serve(Some(PASSPHRASE)).start();
    let (_key, ct) = create_and_encrypt(&server, &data).await;
    assert!(server.terminate().success());
    assert_clean(&server.logs());
    assert!(!data.join("root.key").exists());
    let sealed = data.join("root.key.sealed");
    let before = std::fs::read(&sealed).unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&sealed).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    let mut server = serve(Some(PASSPHRASE)).start();
    assert_eq!(decrypt(&server, &data, &ct).await, b"hello, root key");
    assert!(server.terminate().success());

    let run = serve(Some("not-the-passphrase-31")).start_fails();
    let output = run.output();
    assert!(output.contains("wrong passphrase"), "{output}");
    assert!(!output.contains("not-the-passphrase-31"), "{output}");
    assert_clean(&output);
    // No passphrase, no terminal (the harness closes stdin): refused, not prompted.
    let output = serve(None).start_fails().output();
    assert!(output.contains("no passphrase given"), "{output}");
    let fresh = work.path().join("fresh");
    let output = Launch::serve()
        .data_dir(&fresh)
        .args(["--config", config.to_str().unwrap()])
        .start_fails()
        .output();
    assert!(output.contains("no passphrase given"), "{output}");
    assert!(!fresh.join("trent.db").exists() && !fresh.join("root.key").exists());
    // The sealed key is untouched by the refusals: the right passphrase still works.
    assert_eq!(std::fs::read(&sealed).unwrap(), before);
    let server = serve(Some(PASSPHRASE)).start();
    assert_eq!(decrypt(&server, &data, &ct).await, b"hello, root key");

    // A passphrase file works the same (and the environment is not needed).
    drop(server);
    let pass_file = work.path().join("passphrase");
    write_private(&pass_file, PASSPHRASE, 0o600);
    let file_config = work.path().join("file.toml");
    std::fs::write(
        &file_config,
        format!(
            "[root_key]\nprovider = \"passphrase\"\npassphrase_file = \"{}\"\n",
            pass_file.display()
        ),
    )
    .unwrap();
    let server = Launch::serve()
        .data_dir(&data)
        .args(["--config", file_config.to_str().unwrap()])
        .start();
    assert_eq!(decrypt(&server, &data, &ct).await, b"hello, root key");
}

#[test]
fn passphrase_without_its_sealed_key_for_an_existing_store_is_refused() {
    let work = tempfile::tempdir().unwrap();
    let data = work.path().join("data");
    let config = passphrase_config(work.path());
    let serve = || {
        Launch::serve()
            .data_dir(&data)
            .args(["--config", config.to_str().unwrap()])
            .env("TRENT_ROOT_KEY_PASSPHRASE", PASSPHRASE)
    };
    drop(serve().start());
    std::fs::remove_file(data.join("root.key.sealed")).unwrap();
    let output = serve().start_fails().output();
    assert!(output.contains("no sealed root key"), "{output}");
    assert!(!data.join("root.key.sealed").exists());
}

/// Two nodes on one PostgreSQL database and one token: the first start on the empty
/// database generates the key, the second node uses it (no root key file anywhere); once
/// the database exists, a node given a key label the token lacks is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pkcs11_nodes_of_a_cluster_share_the_token_key() {
    let Some(url) = postgres::url("pkcs11_nodes_of_a_cluster_share_the_token_key") else {
        return;
    };
    let db = Database::create(&url, "trent_rootkey_").await;
    let work = tempfile::tempdir().unwrap();
    let hsm = Hsm::new(work.path());
    let config = hsm.config(work.path(), "trent.toml", TOKEN, KEY_LABEL, "");
    let node = |name: &str, config: &Path| {
        Node::launch(&work.path().join(name), Some(&db.url), &[])
            .args(["--config", config.to_str().unwrap()])
            .env("SOFTHSM2_CONF", hsm.conf.to_str().unwrap())
            .env("TRENT_PKCS11_PIN", PIN)
    };
    let a = node("a", &config).start();
    let b = node("b", &config).start();
    let key = ok(cluster::client(a.endpoint()).create_key().send().await)
        .key_metadata
        .unwrap()
        .key_id;
    let ct = ok(cluster::client(a.endpoint())
        .encrypt()
        .key_id(&key)
        .plaintext(Blob::new(b"shared".to_vec()))
        .send()
        .await)
    .ciphertext_blob
    .unwrap();
    let pt = ok(cluster::client(b.endpoint())
        .decrypt()
        .ciphertext_blob(ct)
        .send()
        .await)
    .plaintext
    .unwrap();
    assert_eq!(pt.as_ref(), b"shared");
    for name in ["a", "b"] {
        assert!(!work.path().join(name).join("root.key").exists());
    }
    assert_clean(&format!("{}{}", a.logs(), b.logs()));
    let other = hsm.config(work.path(), "other.toml", TOKEN, "another-key", "");
    let output = node("c", &other).start_fails().output();
    assert!(
        output.contains("holds no AES key labelled \"another-key\""),
        "{output}"
    );
}

/// Three nodes started at the same moment on an empty PostgreSQL database and one token:
/// one of them makes the root key, under the store's root key lease; all three start on
/// it, and the token holds one key of the label (two would refuse every later start).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pkcs11_nodes_starting_at_once_make_one_token_key() {
    let Some(url) = postgres::url("pkcs11_nodes_starting_at_once_make_one_token_key") else {
        return;
    };
    let db = Database::create(&url, "trent_rootkey_").await;
    let work = tempfile::tempdir().unwrap();
    let hsm = Hsm::new(work.path());
    let config = hsm.config(work.path(), "trent.toml", TOKEN, KEY_LABEL, "");
    let launches: Vec<Launch> = ["a", "b", "c"]
        .iter()
        .map(|name| {
            Node::launch(&work.path().join(name), Some(&db.url), &[])
                .args(["--config", config.to_str().unwrap()])
                .env("SOFTHSM2_CONF", hsm.conf.to_str().unwrap())
                .env("TRENT_PKCS11_PIN", PIN)
        })
        .collect();
    let nodes: Vec<Trent> = std::thread::scope(|s| {
        let started: Vec<_> = launches.iter().map(|l| s.spawn(|| l.start())).collect();
        started.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let listed = Command::new("pkcs11-tool")
        .env("SOFTHSM2_CONF", &hsm.conf)
        .arg("--module")
        .arg(softhsm::module())
        .args([
            "--token-label",
            TOKEN,
            "--login",
            "--pin",
            PIN,
            "--list-objects",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&listed.stdout);
    assert_eq!(
        text.matches(&format!("label:      {KEY_LABEL}")).count(),
        1,
        "{text}"
    );
    for node in &nodes {
        ok(cluster::client(node.endpoint()).create_key().send().await);
    }
}
