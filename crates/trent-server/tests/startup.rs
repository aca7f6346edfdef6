//! The `trent` binary as an operator meets it: the README's quick start through the real
//! AWS CLI, pinned administrator credentials, and clear failures at start.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

use trent_testkit::aws_cli::{aws_cli_command, AwsCliEnv};
use trent_testkit::process::{Launch, Trent};

/// `trent serve` on `dir` (through the test kit's harness: `127.0.0.1:0`, no `TRENT_*`
/// variable but those given).
fn serve(dir: &Path, env: &[(&str, &str)]) -> Launch {
    Launch::serve().data_dir(dir).envs(env)
}

/// Starts the server and waits for its "listening" line.
fn start(dir: &Path, env: &[(&str, &str)]) -> Trent {
    serve(dir, env).start()
}

/// Runs the server expecting it to fail at start (without a panic); returns its stderr.
fn start_fails(dir: &Path, extra: &[&str]) -> String {
    serve(dir, &[])
        .args(extra.iter().copied())
        .start_fails()
        .stderr
}

fn readme_smoke_block() -> String {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../README.md"))
            .unwrap();
    let start = readme
        .find("<!-- smoke-test:begin -->")
        .expect("README smoke-test marker");
    let end = readme
        .find("<!-- smoke-test:end -->")
        .expect("README smoke-test end marker");
    let block = &readme[start..end];
    let code_start = block.find("```sh\n").unwrap() + "```sh\n".len();
    let code_end = block[code_start..].find("```").unwrap() + code_start;
    block[code_start..code_end].to_owned()
}

#[test]
fn readme_quick_start_works_with_the_aws_cli() {
    let work = tempfile::tempdir().unwrap();
    let data = work.path().join("trent-data");
    let server = start(&data, &[]);
    let script = readme_smoke_block().replace("http://127.0.0.1:4599", server.endpoint());
    assert!(
        script.contains("aws kms create-key"),
        "the README block is the quick start"
    );
    // No credentials and no region from the environment: the README's block must name
    // them itself (its credentials file, `--region`), as a new user's shell would.
    let mut cmd = aws_cli_command("bash", &AwsCliEnv::default());
    cmd.arg("-euo")
        .arg("pipefail")
        .arg("-c")
        .arg(&script)
        .current_dir(work.path());
    let out = cmd.output().expect("bash runs");
    assert!(
        out.status.success(),
        "README quick start failed:\nstdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).ends_with("hello, Trent"));
}

#[test]
fn first_start_writes_the_credentials_file_with_pinned_credentials() {
    let work = tempfile::tempdir().unwrap();
    let data = work.path().join("d");
    let _server = start(
        &data,
        &[
            ("TRENT_ADMIN_ACCESS_KEY_ID", "AKIAPINNEDEXAMPLE01"),
            ("TRENT_ADMIN_SECRET_ACCESS_KEY", "pinned/secret+KEY"),
        ],
    );
    let path = data.join("credentials");
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(
        text,
        "[default]\naws_access_key_id = AKIAPINNEDEXAMPLE01\naws_secret_access_key = pinned/secret+KEY\n"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(
            std::fs::metadata(data.join("root.key"))
                .unwrap()
                .permissions()
                .mode()
                & 0o777,
            0o600
        );
    }
    // The root key and the secret never appear in the store in plaintext.
    let db = std::fs::read(data.join("trent.db")).unwrap();
    let needle = b"pinned/secret+KEY";
    assert!(
        !db.windows(needle.len()).any(|w| w == needle),
        "secret stored in plaintext"
    );
}

#[test]
fn the_aws_cli_is_refused_with_wrong_credentials() {
    let work = tempfile::tempdir().unwrap();
    let server = start(&work.path().join("d"), &[]);
    let mut cmd = aws_cli_command(
        "aws",
        &AwsCliEnv {
            credentials: Some(("AKIAUNKNOWNUNKNOWN00", "nope")),
            ..Default::default()
        },
    );
    cmd.args([
        "kms",
        "list-keys",
        "--endpoint-url",
        server.endpoint(),
        "--region",
        "us-east-1",
    ]);
    let out = cmd.output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("UnrecognizedClientException"), "{err}");
}

/// One process per data directory: a second server on it is refused while the first
/// runs (two would interleave one audit chain and one SQLite store), and starts once the
/// first is gone, however it ended.
#[test]
fn a_data_directory_in_use_is_refused() {
    let work = tempfile::tempdir().unwrap();
    let dir = work.path().join("d");
    let mut first = start(&dir, &[]);
    let err = start_fails(&dir, &[]);
    assert!(err.contains("is in use by another trent process"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    first.kill();
    drop(start(&dir, &[]));
}

#[test]
fn a_port_in_use_is_a_clear_error() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let work = tempfile::tempdir().unwrap();
    let err = Launch::serve()
        .listen(&addr)
        .data_dir(work.path().join("d"))
        .start_fails()
        .stderr;
    assert!(err.contains(&format!("cannot listen on {addr}")), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn a_damaged_root_key_is_a_clear_error() {
    let work = tempfile::tempdir().unwrap();
    let data = work.path().join("d");
    drop(start(&data, &[]));
    let root: PathBuf = data.join("root.key");
    let mut bytes = std::fs::read(&root).unwrap();
    bytes[30] ^= 0x01;
    std::fs::write(&root, bytes).unwrap();
    let err = start_fails(&data, &[]);
    assert!(err.contains("damaged"), "{err}");
}

#[test]
fn another_root_key_is_refused() {
    let work = tempfile::tempdir().unwrap();
    let a = work.path().join("a");
    let b = work.path().join("b");
    drop(start(&a, &[]));
    drop(start(&b, &[]));
    std::fs::copy(b.join("root.key"), a.join("root.key")).unwrap();
    let err = start_fails(&a, &[]);
    assert!(err.contains("root key does not match"), "{err}");
}

#[test]
fn a_missing_root_key_with_an_existing_store_is_refused() {
    let work = tempfile::tempdir().unwrap();
    let data = work.path().join("d");
    drop(start(&data, &[]));
    std::fs::remove_file(data.join("root.key")).unwrap();
    let err = start_fails(&data, &[]);
    assert!(err.contains("no root key"), "{err}");
}

#[test]
fn a_data_dir_that_is_a_file_is_a_clear_error() {
    let work = tempfile::tempdir().unwrap();
    let file = work.path().join("not-a-dir");
    std::fs::write(&file, b"x").unwrap();
    let err = start_fails(&file, &[]);
    assert!(err.contains("is not a directory"), "{err}");
}

#[test]
fn a_bad_config_is_a_clear_error() {
    let work = tempfile::tempdir().unwrap();
    let config = work.path().join("trent.toml");
    std::fs::write(&config, "listen = 5\n").unwrap();
    let err = start_fails(
        &work.path().join("d"),
        &["--config", config.to_str().unwrap()],
    );
    assert!(err.contains("invalid config file"), "{err}");
    let err = start_fails(&work.path().join("d"), &["--account-id", "12"]);
    assert!(err.contains("invalid account id"), "{err}");
}

#[test]
fn a_data_dir_that_cannot_be_created_is_a_clear_error() {
    let work = tempfile::tempdir().unwrap();
    let file = work.path().join("plain-file");
    std::fs::write(&file, b"x").unwrap();
    let err = start_fails(&file.join("data"), &[]);
    assert!(err.contains("cannot create the data directory"), "{err}");
}

#[test]
fn settings_come_from_the_config_file_when_no_flag_gives_them() {
    let work = tempfile::tempdir().unwrap();
    let data = work.path().join("from-config");
    let config = work.path().join("trent.toml");
    std::fs::write(
        &config,
        format!(
            "data_dir = {:?}\naccount_id = \"444455556666\"\n",
            data.to_str().unwrap()
        ),
    )
    .unwrap();
    let server = Launch::serve()
        .args(["--config", config.to_str().unwrap()])
        .start();
    let banner = server.banner().first().cloned().unwrap_or_default();
    drop(server);
    assert!(banner.contains("created account 444455556666"), "{banner}");
    assert!(data.join("credentials").exists() && data.join("root.key").exists());
}

/// `trent --version` names the cryptographic provider and whether it runs in FIPS mode.
#[test]
fn the_version_names_the_crypto_provider_and_fips_mode() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_trent"))
        .arg("--version")
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let expected = format!(
        "trent {} (AWS-LC {} (aws-lc-rs), FIPS mode off)\n",
        env!("CARGO_PKG_VERSION"),
        trent_crypto::Provider::current().version
    );
    assert_eq!(text, expected);
}

/// A key cache of no keys, or of more than the server can mean, is refused at start with
/// the setting named; a good one serves.
#[test]
fn the_cache_capacity_is_checked_at_start() {
    let work = tempfile::tempdir().unwrap();
    let dir = work.path().join("d");
    for bad in ["0", "100000001"] {
        let err = start_fails(&dir, &["--cache-capacity", bad]);
        assert!(
            err.contains(&format!(
                "cache_capacity {bad} out of range (1 to 100000000)"
            )),
            "{err}"
        );
        assert!(!err.contains("panicked"), "{err}");
    }
    drop(serve(&dir, &[("TRENT_CACHE_CAPACITY", "10")]).start());
}

/// The repository's root (two levels above this crate).
fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[test]
fn the_systemd_unit_verifies_and_its_sample_config_is_read() {
    let work = tempfile::tempdir().unwrap();
    let unit =
        std::fs::read_to_string(repository().join("packaging/systemd/trent.service")).unwrap();
    assert!(unit.contains("ExecStart=/usr/local/bin/trent serve --config /etc/trent/trent.toml"));
    // systemd-analyze checks every directive (and that ExecStart's binary exists: this
    // build's).
    let bin = trent_testkit::process::trent_bin();
    let copy = work.path().join("trent.service");
    std::fs::write(
        &copy,
        unit.replace("/usr/local/bin/trent", bin.to_str().unwrap()),
    )
    .unwrap();
    let out = std::process::Command::new("systemd-analyze")
        .arg("verify")
        .arg(&copy)
        .output()
        .expect("systemd-analyze (systemd) is installed");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success() && said.trim().is_empty(), "{said}");

    // The sample config is valid: its start gets as far as the TLS files it names.
    let err = Launch::serve()
        .data_dir(work.path().join("d"))
        .args([
            "--config",
            repository()
                .join("packaging/systemd/trent.toml")
                .to_str()
                .unwrap(),
        ])
        .start_fails()
        .stderr;
    assert!(
        err.contains("cannot read tls_cert /etc/trent/tls/cert.pem"),
        "{err}"
    );
}

#[test]
fn the_dockerfile_runs_the_server_as_nonroot_with_a_health_check_by_trent_probe() {
    let dockerfile = std::fs::read_to_string(repository().join("Dockerfile")).unwrap();
    for line in [
        "USER 65532:65532",
        "VOLUME [\"/var/lib/trent\"]",
        "CMD [\"/usr/local/bin/trent\", \"probe\", \"healthz\"]",
        "ENTRYPOINT [\"/usr/local/bin/trent\"]",
    ] {
        assert!(dockerfile.contains(line), "no {line:?} in the Dockerfile");
    }
    // What the image's HEALTHCHECK runs, with its environment: the admin listener on
    // loopback, asked by `trent probe`, also when it listens on every address.
    let work = tempfile::tempdir().unwrap();
    let server = Launch::serve().data_dir(work.path().join("d")).start();
    let admin = server.admin_endpoint().unwrap();
    let port = admin.rsplit(':').next().unwrap();
    let bin = trent_testkit::process::trent_bin();
    for addr in [format!("127.0.0.1:{port}"), format!("0.0.0.0:{port}")] {
        let (ok, out) = trent_testkit::process::run(
            &bin,
            &["probe", "healthz"],
            &[("TRENT_ADMIN_LISTEN", addr.as_str())],
        );
        assert!(ok, "{addr}: {out}");
    }
}
