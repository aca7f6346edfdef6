//! The api suite's helpers over the test kit (`trent-testkit`): the real `trent` binary on
//! `127.0.0.1:0` in a private data directory ([`TestServer`]), the official `aws-sdk-kms`
//! client pointed at it, raw SigV4-signed HTTP for requests the SDK would never send, and
//! what the tests of this suite share (ARNs, key shortcuts, the AWS CLI).
//!
//! Every test starts its own server, so tests are independent and run in parallel.

use std::time::SystemTime;

use aws_sdk_kms::primitives::{Blob, DateTime};
use aws_sdk_kms::Client;

pub use trent_testkit::sdk::{expect_code, expect_err, ok, REGION};
pub use trent_testkit::server::{
    credentials_path, read_credentials_file, Auth, RawRequest, RawResponse, TestServer,
};

/// The account of the administrator created at first start when `--account-id` is not given.
pub const DEFAULT_ACCOUNT: &str = "111122223333";
pub const OTHER_REGION: &str = "us-west-2";

/// `arn:aws:kms:<region>:<account>:key/<id>`
pub fn key_arn(region: &str, account: &str, key_id: &str) -> String {
    format!("arn:aws:kms:{region}:{account}:key/{key_id}")
}

/// `arn:aws:kms:<region>:<account>:<alias/name>`
pub fn alias_arn(region: &str, account: &str, alias_name: &str) -> String {
    format!("arn:aws:kms:{region}:{account}:{alias_name}")
}

/// AWS's message for an alias that does not exist. Unlike the unknown-key message, AWS
/// does not quote the ARN here: "Alias arn:aws:kms:us-west-2:271462348125:alias/parameter_store_key
/// is not found." (a real AWS answer quoted in cloudposse/docs#152).
pub fn alias_not_found(alias_arn: &str) -> String {
    format!("Alias {alias_arn} is not found.")
}

/// Create a default symmetric key; return (key id, key ARN).
pub async fn create_key(client: &Client) -> (String, String) {
    let out = ok(client.create_key().send().await);
    let md = out.key_metadata().expect("CreateKey returns KeyMetadata");
    let arn = md.arn().expect("KeyMetadata.Arn").to_owned();
    (md.key_id().to_owned(), arn)
}

pub async fn create_alias(client: &Client, name: &str, target: &str) {
    ok(client
        .create_alias()
        .alias_name(name)
        .target_key_id(target)
        .send()
        .await);
}

pub async fn encrypt(client: &Client, key: &str, plaintext: &[u8]) -> Blob {
    let out = ok(client
        .encrypt()
        .key_id(key)
        .plaintext(Blob::new(plaintext))
        .send()
        .await);
    out.ciphertext_blob().expect("CiphertextBlob").clone()
}

pub async fn decrypt(client: &Client, blob: &Blob) -> Vec<u8> {
    let out = ok(client.decrypt().ciphertext_blob(blob.clone()).send().await);
    out.plaintext().expect("Plaintext").as_ref().to_vec()
}

/// Seconds since the epoch, now.
pub fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Assert `actual` is within `tolerance_secs` of `expected_secs`.
#[track_caller]
pub fn assert_time_near(actual: &DateTime, expected_secs: i64, tolerance_secs: i64) {
    let diff = (actual.secs() - expected_secs).abs();
    assert!(
        diff <= tolerance_secs,
        "time {actual} is {diff}s away from expected epoch second {expected_secs} \
         (tolerance {tolerance_secs}s)"
    );
}

/// A fresh random UUID (v4) string: a well-formed key id that exists nowhere.
pub fn random_key_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// Runs the AWS CLI (`aws ARGS...`) as the server's administrator, isolated from the
/// machine's AWS configuration (no profile, config or credentials file; region REGION unless
/// `envs` or `--region` says otherwise). Returns (success, stdout, stderr).
pub fn aws_cli(
    server: &TestServer,
    args: &[&str],
    envs: &[(&str, &str)],
) -> (bool, String, String) {
    let mut cmd = trent_testkit::aws_cli::aws_cli_command(
        "aws",
        &trent_testkit::aws_cli::AwsCliEnv {
            credentials: Some((server.access_key_id(), server.secret_access_key())),
            region: Some(REGION),
            ..Default::default()
        },
    );
    cmd.args(args);
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
