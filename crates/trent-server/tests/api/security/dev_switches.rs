//! Issue 13, item 5: development switches reachable in production. The test clock answers
//! SigV4-signed administrators only (the peer being 127.0.0.1 grants nothing) and records
//! every move and every refusal in the audit trail; `--dev-any-credentials` is refused on a
//! non-loopback address unless `--dev-allow-non-loopback` says so, and a store once served
//! with it warns at every later start without it.

use std::path::Path;

use aws_sdk_kms::types::KeyState;
use serde_json::{json, Value};
use trent_testkit::process::{Launch, Run};

use crate::harness::{create_key, expect_code, ok, Auth, RawResponse, TestServer, REGION};
use crate::test_clock::{clock_now, DAY_MS, SWITCH};

const CLOCK: &str = "/_trent/test/clock";
const OPS: (&str, &str) = ("AKIAOPS0000000000001", "ops-secret-1");
const CLOCK_ADMIN: (&str, &str) = ("AKIACLOCKADMIN000001", "clock-admin-secret-1");
const EVERYTHING_BUT: (&str, &str) = ("AKIANOCLOCK000000001", "no-clock-secret-1");
const PARTNER: (&str, &str) = ("AKIAPARTNER000000001", "partner-secret-1");

/// `ops` may do anything in KMS; `clock-admin` is allowed the test clock's actions only;
/// `no-clock` may do everything but the clock is denied to it; `partner` may do
/// everything in another account.
fn config() -> String {
    let policy = |statements: &str| {
        format!(r#"'''{{"Version":"2012-10-17","Statement":[{statements}]}}'''"#)
    };
    let allow =
        |action: &str| format!(r#"{{"Effect":"Allow","Action":"{action}","Resource":"*"}}"#);
    format!(
        r#"[[accounts]]
id = "444455556666"

[[users]]
arn = "arn:aws:iam::111122223333:user/ops"
access_keys = [{{ id = "{}", secret = "{}" }}]
[users.policies]
kms = {}

[[users]]
arn = "arn:aws:iam::111122223333:user/clock-admin"
access_keys = [{{ id = "{}", secret = "{}" }}]
[users.policies]
clock = {}

[[users]]
arn = "arn:aws:iam::111122223333:user/no-clock"
access_keys = [{{ id = "{}", secret = "{}" }}]
[users.policies]
all = {}

[[users]]
arn = "arn:aws:iam::444455556666:user/partner"
access_keys = [{{ id = "{}", secret = "{}" }}]
[users.policies]
all = {}
"#,
        OPS.0,
        OPS.1,
        policy(&allow("kms:*")),
        CLOCK_ADMIN.0,
        CLOCK_ADMIN.1,
        policy(&allow("trent:*TestClock")),
        EVERYTHING_BUT.0,
        EVERYTHING_BUT.1,
        policy(&format!(
            r#"{},{{"Effect":"Deny","Action":"trent:SetTestClock","Resource":"*"}}"#,
            allow("*")
        )),
        PARTNER.0,
        PARTNER.1,
        policy(&allow("*")),
    )
}

fn keys((id, secret): (&str, &str)) -> Auth {
    Auth::Keys {
        access_key_id: id.to_owned(),
        secret_access_key: secret.to_owned(),
    }
}

fn request_id(resp: &RawResponse) -> String {
    resp.header("x-amzn-requestid")
        .expect("a request id")
        .to_owned()
}

/// The audit record of one request (exactly one).
fn event(server: &TestServer, resp: &RawResponse) -> Value {
    let id = request_id(resp);
    let mut found: Vec<Value> = crate::audit::records(&server.data_dir().join("audit"))
        .into_iter()
        .filter(|r| r["requestID"] == id.as_str())
        .collect();
    assert_eq!(found.len(), 1, "events of {id}: {found:?}");
    found.remove(0)
}

#[tokio::test]
async fn the_test_clock_moves_for_signed_administrators_only_and_every_move_is_audited() {
    let dir = tempfile::Builder::new()
        .prefix("trent-config-")
        .tempdir()
        .unwrap();
    let config_path = dir.path().join("trent.toml");
    std::fs::write(&config_path, config()).unwrap();
    let server = TestServer::start_with(&[SWITCH, "--config", config_path.to_str().unwrap()], &[]);
    let client = server.client(REGION);
    let (key_id, _) = create_key(&client).await;
    ok(client
        .schedule_key_deletion()
        .key_id(&key_id)
        .pending_window_in_days(7)
        .send()
        .await);
    let month = json!({ "advance_seconds": 30 * 86_400 });

    // Unsigned, from 127.0.0.1: refused, recorded, and nothing moved or was deleted.
    let resp = server.http("POST", CLOCK, Some(month.clone())).await;
    resp.assert_error(400, "MissingAuthenticationTokenException");
    let e = event(&server, &resp);
    assert_eq!(e["eventName"], "TrentSetTestClock");
    assert_eq!(e["errorCode"], "MissingAuthenticationTokenException");
    assert!(e["userIdentity"]["arn"].is_null(), "{e}");
    // A read needs a signature too.
    server
        .http("GET", CLOCK, None)
        .await
        .assert_error(400, "MissingAuthenticationTokenException");
    // A forged signature: the administrator's key id with another secret.
    let forged = server
        .signed_http(
            "POST",
            CLOCK,
            Some(month.clone()),
            keys((server.access_key_id(), "not-the-secret")),
        )
        .await;
    assert_eq!(forged.status, 400, "{}", forged.body_text());
    assert_eq!(
        forged.error_type().as_deref(),
        Some("InvalidSignatureException")
    );

    // Signed, but not by an administrator: KMS permissions are not enough, an explicit
    // deny wins over AdministratorAccess-like policies, and another account's user with
    // every permission has no say over this deployment's clock.
    for (who, arn, why) in [
        (
            OPS,
            "arn:aws:iam::111122223333:user/ops",
            "because no identity-based policy allows the trent:SetTestClock action",
        ),
        (
            EVERYTHING_BUT,
            "arn:aws:iam::111122223333:user/no-clock",
            "with an explicit deny in an identity-based policy",
        ),
        (
            PARTNER,
            "arn:aws:iam::444455556666:user/partner",
            "because the test clock belongs to the deployment's account 111122223333",
        ),
    ] {
        let resp = server
            .signed_http("POST", CLOCK, Some(month.clone()), keys(who))
            .await;
        resp.assert_error(400, "AccessDeniedException");
        assert_eq!(
            resp.message().as_deref(),
            Some(
                format!("User: {arn} is not authorized to perform: trent:SetTestClock {why}")
                    .as_str()
            )
        );
        let e = event(&server, &resp);
        assert_eq!(e["eventName"], "TrentSetTestClock");
        assert_eq!(e["errorCode"], "AccessDeniedException");
        assert_eq!(e["userIdentity"]["arn"], arn);
    }
    let now = clock_now(&server).await;
    assert!(
        now["offset_millis"].as_i64().unwrap().abs() < 60_000,
        "the clock moved: {now}"
    );
    let md = ok(client.describe_key().key_id(&key_id).send().await);
    assert_eq!(
        md.key_metadata().unwrap().key_state(),
        Some(&KeyState::PendingDeletion)
    );

    // An administrator (allowed trent:SetTestClock) moves it: the deletion runs, and the
    // event names the caller, the move and the time it set.
    let resp = server
        .signed_http("POST", CLOCK, Some(month.clone()), keys(CLOCK_ADMIN))
        .await;
    assert_eq!(resp.status, 200, "{}", resp.body_text());
    let moved = resp.json();
    let offset = moved["offset_millis"].as_i64().unwrap();
    assert!((offset - 30 * DAY_MS).abs() < 60_000, "offset {offset}");
    let e = event(&server, &resp);
    assert_eq!(e["eventName"], "TrentSetTestClock");
    assert_eq!(e["errorCode"], Value::Null);
    assert_eq!(e["readOnly"], false);
    assert_eq!(
        e["userIdentity"]["arn"],
        "arn:aws:iam::111122223333:user/clock-admin"
    );
    assert_eq!(e["requestParameters"], month);
    assert_eq!(
        e["responseElements"]["now_unix_millis"],
        moved["now_unix_millis"]
    );
    expect_code(
        client.describe_key().key_id(&key_id).send().await,
        "NotFoundException",
    );

    // The bootstrap administrator (AdministratorAccess) may as well; a read is audited
    // under its own name.
    let resp = server.signed_http("GET", CLOCK, None, Auth::Admin).await;
    assert_eq!(resp.status, 200, "{}", resp.body_text());
    assert_eq!(event(&server, &resp)["eventName"], "TrentGetTestClock");
}

/// Starts `trent serve --listen LISTEN --data-dir DATA ARGS` and stops it as soon as it
/// listens (or waits for its exit).
fn run_trent(listen: &str, data: &Path, args: &[&str]) -> Run {
    Launch::serve()
        .listen(listen)
        .data_dir(data)
        .args(args.iter().copied())
        .run()
}

#[test]
fn dev_any_credentials_on_a_non_loopback_address_is_refused_before_binding() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let run = run_trent("0.0.0.0:0", &data, &["--dev-any-credentials"]);
    assert!(
        !run.listening,
        "trent served 0.0.0.0 with --dev-any-credentials"
    );
    assert_eq!(run.exit.map(|s| s.success()), Some(false));
    assert!(run.stderr.contains("0.0.0.0:0"), "{}", run.stderr);
    assert!(
        run.stderr.contains("--dev-allow-non-loopback"),
        "{}",
        run.stderr
    );
    // Refused before anything was created.
    assert!(!data.exists());

    // On loopback the switch alone is fine; with the second switch too (the decision for
    // a non-loopback address with both switches is unit-tested in config.rs, so that no
    // test binds a public address).
    for extra in [&[][..], &["--dev-allow-non-loopback"][..]] {
        let mut args = vec!["--dev-any-credentials"];
        args.extend_from_slice(extra);
        let run = run_trent("127.0.0.1:0", &data, &args);
        assert!(run.listening, "{}", run.stderr);
    }
}

#[test]
fn a_store_once_served_with_dev_credentials_warns_at_every_later_start() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let base: &[&str] = &[];
    let warning = "this store was served with --dev-any-credentials";

    let run = run_trent("127.0.0.1:0", &data, base);
    assert!(run.listening, "{}", run.stderr);
    assert!(!run.stderr.contains(warning), "{}", run.stderr);

    let mut dev = base.to_vec();
    dev.push("--dev-any-credentials");
    let run = run_trent("127.0.0.1:0", &data, &dev);
    assert!(run.listening, "{}", run.stderr);

    for _ in 0..2 {
        let run = run_trent("127.0.0.1:0", &data, base);
        assert!(run.listening, "{}", run.stderr);
        assert!(run.stderr.contains(warning), "{}", run.stderr);
    }
}
