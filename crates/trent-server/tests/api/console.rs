//! The web console (`/console/`): first over plain HTTP (the security headers, the
//! cookies, CSRF, sign-in refusals, the idle timeout), then in Debian's Chromium, headless,
//! driven over WebDriver: a new user signs in, creates a key with the wizard, edits its
//! policy (a malformed one refused), rotates it, schedules and cancels its deletion and
//! finds all of it in the event history; a principal without permissions sees AWS's
//! AccessDenied text. Screenshots of each page go to `TRENT_CONSOLE_SCREENSHOTS` if set.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::time::Duration;

use aws_sdk_kms::types::KeyState;
use trent_testkit::browser::Browser;

use crate::harness::TestServer;
use crate::identities::{start_with_config, user, ConfigFile, BOB_ARN, BOB_KEY, BOB_SECRET};

/// What every console page's Content-Security-Policy must be: nothing from another origin,
/// no script, no inline style.
const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

const NOBODY_ARN: &str = "arn:aws:iam::111122223333:user/nobody";
const NOBODY_KEY: &str = "AKIANOBODY0000000001";
const NOBODY_SECRET: &str = "nobody-secret-0123456789";

/// One HTTP/1.1 exchange (connection closed after it).
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn set_cookies(&self) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case("set-cookie"))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The value a `Set-Cookie` gives `name`.
    fn cookie(&self, name: &str) -> Option<String> {
        self.set_cookies().into_iter().find_map(|c| {
            let (pair, _) = c.split_once(';').unwrap_or((c, ""));
            let (n, v) = pair.split_once('=')?;
            (n == name && !v.is_empty()).then(|| v.to_owned())
        })
    }
}

fn http(server: &TestServer, method: &str, path: &str, cookie: &str, form: Option<&str>) -> Answer {
    http_with(server, method, path, cookie, form, &[])
}

/// [`http`] with more headers.
fn http_with(
    server: &TestServer,
    method: &str,
    path: &str,
    cookie: &str,
    form: Option<&str>,
    headers: &[(&str, &str)],
) -> Answer {
    let authority = server
        .endpoint()
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned();
    let mut stream = std::net::TcpStream::connect(&authority).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let body = form.unwrap_or("");
    // A `Host` among `headers` replaces the endpoint's.
    let host = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("host"))
        .map_or(authority.as_str(), |(_, v)| v);
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    if form.is_some() {
        head.push_str("Content-Type: application/x-www-form-urlencoded\r\n");
    }
    if !cookie.is_empty() {
        head.push_str(&format!("Cookie: {cookie}\r\n"));
    }
    for (name, value) in headers
        .iter()
        .filter(|(n, _)| !n.eq_ignore_ascii_case("host"))
    {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(body.as_bytes()).unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    let raw = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap();
    let mut lines = head.lines();
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
        .collect::<Vec<_>>();
    let chunked = headers
        .iter()
        .any(|(n, v)| n.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"));
    let body = if chunked {
        dechunk(body)
    } else {
        body.to_owned()
    };
    Answer {
        status,
        headers,
        body,
    }
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap();
        if n == 0 {
            break;
        }
        out.push_str(&rest[..n]);
        body = &rest[n + 2..];
    }
    out
}

fn form_encode(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| {
            format!(
                "{}={}",
                percent_encoding::utf8_percent_encode(k, percent_encoding::NON_ALPHANUMERIC),
                percent_encoding::utf8_percent_encode(v, percent_encoding::NON_ALPHANUMERIC)
            )
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// The value of the hidden `csrf` field of a page's first form.
fn csrf_of(body: &str) -> String {
    let at =
        body.find("name=\"csrf\" value=\"").expect("a csrf field") + "name=\"csrf\" value=\"".len();
    body[at..].split('"').next().unwrap().to_owned()
}

/// Signs in over plain HTTP; the session cookie (`name=value`).
fn sign_in(server: &TestServer, key: &str, secret: &str) -> String {
    let page = http(server, "GET", "/console/sign-in", "", None);
    let token = page
        .cookie("__Host-trent-sign-in")
        .expect("the sign-in cookie");
    let form = form_encode(&[
        ("csrf", &token),
        ("access_key_id", key),
        ("secret_access_key", secret),
        ("region", "us-east-1"),
    ]);
    let answer = http(
        server,
        "POST",
        "/console/sign-in",
        &format!("__Host-trent-sign-in={token}"),
        Some(&form),
    );
    assert_eq!(answer.status, 303, "{}", answer.body);
    assert_eq!(answer.header("location"), Some("/console/keys"));
    format!(
        "__Host-trent-console={}",
        answer
            .cookie("__Host-trent-console")
            .expect("a session cookie")
    )
}

fn assert_secure_page(answer: &Answer) {
    assert_eq!(answer.header("content-security-policy"), Some(CSP));
    assert_eq!(answer.header("x-frame-options"), Some("DENY"));
    assert_eq!(answer.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(answer.header("cache-control"), Some("no-store"));
    let body = answer.body.to_lowercase();
    for other_origin in [
        "src=\"http",
        "href=\"http",
        "src=\"//",
        "href=\"//",
        "<script",
        "style=\"",
    ] {
        assert!(
            !body.contains(other_origin),
            "{other_origin} in {}",
            answer.body
        );
    }
}

#[tokio::test]
async fn console_pages_are_html_under_a_strict_csp_with_host_only_session_cookies() {
    let server = TestServer::start();
    let root = http(&server, "GET", "/console/", "", None);
    assert_eq!(root.status, 303);
    assert_eq!(root.header("location"), Some("/console/sign-in"));

    let page = http(&server, "GET", "/console/sign-in", "", None);
    assert_eq!(page.status, 200);
    assert_eq!(
        page.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    assert!(page.body.starts_with("<!DOCTYPE html>"), "{}", page.body);
    assert_secure_page(&page);
    let set = page.set_cookies().join("\n");
    for attribute in [
        "__Host-trent-sign-in=",
        "Path=/",
        "Secure",
        "HttpOnly",
        "SameSite=Strict",
    ] {
        assert!(set.contains(attribute), "{set}");
    }
    let css = http(&server, "GET", "/console/assets/console.css", "", None);
    assert_eq!(css.status, 200);
    assert_eq!(css.header("content-type"), Some("text/css; charset=utf-8"));

    // A sign-in form posted without its cookie (from another site) is refused.
    let token = page.cookie("__Host-trent-sign-in").unwrap();
    let form = form_encode(&[
        ("csrf", &token),
        ("access_key_id", server.access_key_id()),
        ("secret_access_key", server.secret_access_key()),
    ]);
    let forged = http(&server, "POST", "/console/sign-in", "", Some(&form));
    assert_eq!(forged.status, 401);
    assert!(forged.cookie("__Host-trent-console").is_none());

    // From this machine, but to a public name (a proxy not among the trusted ones, say):
    // no session cookie over plain HTTP.
    let form = form_encode(&[
        ("csrf", &token),
        ("access_key_id", server.access_key_id()),
        ("secret_access_key", server.secret_access_key()),
    ]);
    let proxied = http_with(
        &server,
        "POST",
        "/console/sign-in",
        &format!("__Host-trent-sign-in={token}"),
        Some(&form),
        &[("Host", "kms.example.com")],
    );
    assert_eq!(proxied.status, 401);
    assert!(proxied.body.contains("HTTPS"), "{}", proxied.body);
    assert!(proxied.cookie("__Host-trent-console").is_none());

    // A wrong secret: the API's own refusal, no session.
    let form = form_encode(&[
        ("csrf", &token),
        ("access_key_id", server.access_key_id()),
        ("secret_access_key", "wrong"),
    ]);
    let wrong = http(
        &server,
        "POST",
        "/console/sign-in",
        &format!("__Host-trent-sign-in={token}"),
        Some(&form),
    );
    assert_eq!(wrong.status, 401);
    assert!(
        wrong.body.contains("SignatureDoesNotMatch"),
        "{}",
        wrong.body
    );
    assert!(wrong.cookie("__Host-trent-console").is_none());

    let session = sign_in(&server, server.access_key_id(), server.secret_access_key());
    let keys = http(&server, "GET", "/console/keys", &session, None);
    assert_eq!(keys.status, 200);
    assert_secure_page(&keys);
    assert!(
        keys.body.contains("arn:aws:iam::111122223333:user/admin"),
        "{}",
        keys.body
    );
    assert!(
        !keys.body.contains(server.secret_access_key()),
        "the secret reached a page"
    );

    // A form without the session's CSRF token changes nothing.
    let client = server.client("us-east-1");
    let before = client
        .list_keys()
        .send()
        .await
        .unwrap()
        .keys
        .unwrap_or_default()
        .len();
    for csrf in ["", "forged"] {
        let form = form_encode(&[
            ("csrf", csrf),
            ("key_usage", "ENCRYPT_DECRYPT"),
            ("key_spec", "SYMMETRIC_DEFAULT"),
            ("origin", "AWS_KMS"),
        ]);
        let refused = http(&server, "POST", "/console/keys/new", &session, Some(&form));
        assert_eq!(refused.status, 403, "{}", refused.body);
    }
    let after = client
        .list_keys()
        .send()
        .await
        .unwrap()
        .keys
        .unwrap_or_default()
        .len();
    assert_eq!(before, after);

    // With it, the form is an API call: the key exists.
    let form = form_encode(&[
        ("csrf", &csrf_of(&keys.body)),
        ("key_usage", "ENCRYPT_DECRYPT"),
        ("key_spec", "SYMMETRIC_DEFAULT"),
        ("origin", "AWS_KMS"),
        ("alias", "made-over-http"),
    ]);
    let made = http(&server, "POST", "/console/keys/new", &session, Some(&form));
    assert_eq!(made.status, 303, "{}", made.body);
    let key = client
        .describe_key()
        .key_id("alias/made-over-http")
        .send()
        .await
        .unwrap();
    assert_eq!(key.key_metadata.unwrap().key_state, Some(KeyState::Enabled));

    // AWS managed keys are listed apart from the customer's.
    client
        .describe_key()
        .key_id("alias/aws/s3")
        .send()
        .await
        .unwrap();
    let aws = http(&server, "GET", "/console/keys?view=aws", &session, None);
    assert!(aws.body.contains("alias/aws/s3"), "{}", aws.body);
    assert!(!aws.body.contains("alias/made-over-http"));
    let customer = http(&server, "GET", "/console/keys", &session, None);
    assert!(customer.body.contains("alias/made-over-http"));
    assert!(!customer.body.contains("alias/aws/s3"));
    // 25 keys a page, sorted and filtered on the server.
    for _ in 0..25 {
        client
            .create_key()
            .description("bulk")
            .send()
            .await
            .unwrap();
    }
    let first = http(
        &server,
        "GET",
        "/console/keys?sort=created&dir=desc",
        &session,
        None,
    );
    assert!(
        first.body.contains("Page 1 of 2 (26 keys)"),
        "{}",
        first.body
    );
    let second = http(
        &server,
        "GET",
        "/console/keys?sort=created&dir=desc&page=2",
        &session,
        None,
    );
    assert!(second.body.contains("Page 2 of 2"));
    assert!(
        second.body.contains("alias/made-over-http"),
        "the oldest key is last"
    );
    let filtered = http(&server, "GET", "/console/keys?q=made-over", &session, None);
    assert!(
        filtered.body.contains("Page 1 of 1 (1 key)"),
        "{}",
        filtered.body
    );

    // The event history with a range: the overview and the table from the same lookup
    // (one LookupEvents call for the page); without one, the table's own call too.
    let lookups = || {
        crate::identities::audit_records(server.data_dir())
            .iter()
            .filter(|r| r["eventName"] == "LookupEvents")
            .count()
    };
    let before = lookups();
    let ranged = http(
        &server,
        "GET",
        "/console/audit?attribute=EventName&value=CreateKey&start=2000-01-01T00%3A00",
        &session,
        None,
    );
    assert_eq!(ranged.status, 200);
    assert!(
        ranged.body.contains("id=\"chart-time\"") && ranged.body.contains("CreateKey"),
        "{}",
        ranged.body
    );
    assert_eq!(lookups() - before, 1);
    let before = lookups();
    let unranged = http(
        &server,
        "GET",
        "/console/audit?attribute=EventName&value=CreateKey",
        &session,
        None,
    );
    assert!(unranged.body.contains("id=\"chart-time\"") && unranged.body.contains("CreateKey"));
    assert_eq!(lookups() - before, 2);

    // Another region: the session's calls are signed for it (no keys there yet).
    let csrf = csrf_of(&keys.body);
    let switch = |region: &str| {
        let form = form_encode(&[("csrf", &csrf), ("region", region)]);
        http(&server, "POST", "/console/region", &session, Some(&form)).status
    };
    assert_eq!(switch("eu-west-1"), 303);
    let there = http(&server, "GET", "/console/keys", &session, None);
    assert!(there.body.contains("No keys."), "{}", there.body);
    assert!(there.body.contains("value=\"eu-west-1\""));
    assert_eq!(switch("nowhere!"), 303);
    let still = http(&server, "GET", "/console/keys", &session, None);
    assert!(
        still.body.contains("nowhere! is not a region name."),
        "{}",
        still.body
    );
    assert!(still.body.contains("value=\"eu-west-1\""));

    // Signed out: the cookie is cleared and the session is gone.
    let signed_out = http(
        &server,
        "POST",
        "/console/sign-out",
        &session,
        Some(&form_encode(&[("csrf", &csrf_of(&keys.body))])),
    );
    assert_eq!(signed_out.status, 303);
    assert!(signed_out
        .set_cookies()
        .iter()
        .any(|c| c.starts_with("__Host-trent-console=;") && c.contains("Max-Age=0")));
    let after = http(&server, "GET", "/console/keys", &session, None);
    assert_eq!(after.status, 303);
    assert_eq!(after.header("location"), Some("/console/sign-in"));
}

#[tokio::test]
async fn a_console_session_ends_after_fifteen_idle_minutes() {
    let server = crate::test_clock::server();
    let session = sign_in(&server, server.access_key_id(), server.secret_access_key());
    let minute = 60_000;
    for _ in 0..3 {
        // Each use restarts the idle clock.
        crate::test_clock::advance_millis(&server, 14 * minute).await;
        assert_eq!(
            http(&server, "GET", "/console/keys", &session, None).status,
            200
        );
    }
    crate::test_clock::advance_millis(&server, 15 * minute).await;
    let expired = http(&server, "GET", "/console/keys", &session, None);
    assert_eq!(expired.status, 303);
    assert_eq!(expired.header("location"), Some("/console/sign-in"));
}

/// Where screenshots go: `TRENT_CONSOLE_SCREENSHOTS`, or a directory dropped after the test.
fn screenshots() -> (PathBuf, Option<tempfile::TempDir>) {
    match std::env::var_os("TRENT_CONSOLE_SCREENSHOTS") {
        Some(dir) => {
            std::fs::create_dir_all(&dir).unwrap();
            (PathBuf::from(dir), None)
        }
        None => {
            let dir = tempfile::tempdir().unwrap();
            (dir.path().to_owned(), Some(dir))
        }
    }
}

async fn shot(browser: &Browser, dir: &std::path::Path, name: &str) {
    let path = dir.join(format!("{name}.png"));
    browser.screenshot(&path).await;
    let bytes = std::fs::read(&path).unwrap();
    assert!(bytes.starts_with(b"\x89PNG"), "{name} is not a PNG");
}

/// Every form control of the page has a label (by `for`, by nesting, or `aria-label`).
async fn assert_labelled(browser: &Browser) {
    let unlabelled = browser
        .execute(
            "return Array.from(document.querySelectorAll('input:not([type=hidden]), select, textarea'))\
               .filter(e => (!e.labels || e.labels.length === 0) && !e.getAttribute('aria-label'))\
               .map(e => e.name || e.id)",
            vec![],
        )
        .await;
    assert_eq!(
        unlabelled,
        serde_json::json!([]),
        "unlabelled controls on {}",
        browser.current_url().await
    );
}

/// The console's `path` on the server.
fn console_url(server: &TestServer, path: &str) -> String {
    format!("{}{path}", server.endpoint().trim_end_matches('/'))
}

/// A browser signed in as the server's administrator.
async fn admin_browser(server: &TestServer) -> Browser {
    let browser = Browser::start().await;
    browser_sign_in(
        &browser,
        server,
        server.access_key_id(),
        server.secret_access_key(),
    )
    .await;
    browser
}

async fn browser_sign_in(browser: &Browser, server: &TestServer, key: &str, secret: &str) {
    browser.goto(&console_url(server, "/console/")).await;
    assert_labelled(browser).await;
    browser.fill("#access_key_id", key).await;
    browser.fill("#secret_access_key", secret).await;
    browser.click_and_wait("#sign-in").await;
}

#[tokio::test]
async fn a_new_user_walks_through_the_console_in_chromium() {
    let config = ConfigFile::new(&user(BOB_ARN, BOB_KEY, BOB_SECRET, &[("kms", "kms:*")]));
    let server = start_with_config(&config);
    let client = server.client("us-east-1");
    let (dir, _keep) = screenshots();
    let browser = Browser::start().await;

    browser_sign_in(
        &browser,
        &server,
        server.access_key_id(),
        server.secret_access_key(),
    )
    .await;
    assert!(browser.current_url().await.ends_with("/console/keys"));
    assert!(browser.text("#principal").await.contains("user/admin"));
    // The session cookie is out of script's reach.
    let visible = browser.execute("return document.cookie", vec![]).await;
    assert_eq!(visible, serde_json::json!(""));
    shot(&browser, &dir, "01-keys").await;
    assert_labelled(&browser).await;

    // The wizard: a symmetric key, an alias, a tag, Bob as its user.
    browser.click_and_wait("#create-key").await;
    shot(&browser, &dir, "02-create-key").await;
    assert_labelled(&browser).await;
    browser.fill("#alias", "console-demo").await;
    browser.fill("#description", "made in the console").await;
    browser.fill("#tags", "team=blue").await;
    browser
        .fill("#administrators", "arn:aws:iam::111122223333:user/admin")
        .await;
    browser.fill("#users", BOB_ARN).await;
    // The review step shows the key policy the console will write; back, then on.
    browser.click_and_wait("#review").await;
    let preview = browser.text("#policy-preview").await;
    assert!(
        preview.contains("key-consolepolicy-3") && preview.contains(BOB_ARN),
        "{preview}"
    );
    assert!(browser
        .text("#review-summary")
        .await
        .contains("alias/console-demo"));
    browser.click_and_wait("#back").await;
    let kept = browser
        .execute("return document.querySelector('#users').value", vec![])
        .await;
    assert_eq!(
        kept,
        serde_json::json!(BOB_ARN),
        "the form keeps what was typed"
    );
    browser.click_and_wait("#review").await;
    shot(&browser, &dir, "02b-review").await;
    browser.click_and_wait("#create").await;
    assert_eq!(browser.text("h1").await, "alias/console-demo");
    assert!(browser.text(".flash.ok").await.contains("was created"));
    assert!(browser.text("#key-users").await.contains(BOB_ARN));
    let key_id = browser.text("#key-id").await;
    let policy = client
        .get_key_policy()
        .key_id(&key_id)
        .send()
        .await
        .unwrap()
        .policy
        .unwrap();
    let policy: serde_json::Value = serde_json::from_str(&policy).unwrap();
    assert_eq!(policy["Id"], "key-consolepolicy-3");
    assert_eq!(
        policy["Statement"][2]["Principal"]["AWS"],
        serde_json::json!([BOB_ARN])
    );
    let tags = client
        .list_resource_tags()
        .key_id(&key_id)
        .send()
        .await
        .unwrap()
        .tags
        .unwrap();
    assert_eq!((tags[0].tag_key(), tags[0].tag_value()), ("team", "blue"));
    shot(&browser, &dir, "03-key-policy").await;
    assert_labelled(&browser).await;
    // Bob made an administrator from the policy view, then removed again.
    browser.fill("#add-admins", BOB_ARN).await;
    browser.click_and_wait("#add-admins-button").await;
    assert!(browser.text("#key-admins").await.contains(BOB_ARN));
    let policy = client
        .get_key_policy()
        .key_id(&key_id)
        .send()
        .await
        .unwrap()
        .policy
        .unwrap();
    let policy: serde_json::Value = serde_json::from_str(&policy).unwrap();
    assert_eq!(
        policy["Statement"][1]["Principal"]["AWS"],
        serde_json::json!(["arn:aws:iam::111122223333:user/admin", BOB_ARN])
    );
    browser
        .click_and_wait(&format!(
            "#key-admins button[aria-label='Remove {BOB_ARN}']"
        ))
        .await;
    assert!(!browser.text("#key-admins").await.contains(BOB_ARN));

    // A policy that is not JSON, then one IAM refuses: both shown, neither saved.
    browser.fill("#policy", "{ not json").await;
    browser.click_and_wait("#save-policy").await;
    assert!(browser
        .text("#policy-error")
        .await
        .contains("MalformedPolicyDocumentException"));
    let bad = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Perhaps","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"}]}"#;
    browser.fill("#policy", bad).await;
    browser.click_and_wait("#save-policy").await;
    assert!(browser
        .text("#policy-error")
        .await
        .contains("MalformedPolicyDocumentException"));
    shot(&browser, &dir, "04-policy-refused").await;
    let unchanged = client
        .get_key_policy()
        .key_id(&key_id)
        .send()
        .await
        .unwrap()
        .policy
        .unwrap();
    assert!(unchanged.contains("key-consolepolicy-3"));
    // A good one is saved.
    let good = r#"{"Version":"2012-10-17","Statement":[{"Sid":"Root","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"}]}"#;
    browser.fill("#policy", good).await;
    browser.click_and_wait("#save-policy").await;
    assert!(browser.text(".flash.ok").await.contains("saved"));
    let saved = client
        .get_key_policy()
        .key_id(&key_id)
        .send()
        .await
        .unwrap()
        .policy
        .unwrap();
    assert!(saved.contains("\"Root\""), "{saved}");

    // Rotation: on, every 180 days; then rotate now.
    browser.click_and_wait("#tab-rotation").await;
    browser.click("#rotation-enabled").await;
    browser.fill("#rotation-period", "180").await;
    browser.click_and_wait("#save-rotation").await;
    assert_eq!(browser.text("#rotation-status").await, "Enabled");
    let status = client
        .get_key_rotation_status()
        .key_id(&key_id)
        .send()
        .await
        .unwrap();
    assert!(status.key_rotation_enabled);
    assert_eq!(status.rotation_period_in_days, Some(180));
    browser.click_and_wait("#rotate-now").await;
    assert!(browser.text(".flash.ok").await.contains("rotated"));
    shot(&browser, &dir, "05-rotation").await;
    assert_labelled(&browser).await;
    let on_demand = client
        .get_key_rotation_status()
        .key_id(&key_id)
        .send()
        .await
        .unwrap();
    let rotations = client
        .list_key_rotations()
        .key_id(&key_id)
        .send()
        .await
        .unwrap()
        .rotations
        .unwrap_or_default();
    assert!(on_demand.on_demand_rotation_start_date.is_some() || !rotations.is_empty());

    // Usage: none yet for cryptography; then an Encrypt shows as its last use.
    browser.click_and_wait("#tab-usage").await;
    assert!(browser.text("#last-usage").await.starts_with("Not used"));
    browser.wait_for("#chart-key-usage").await;
    let blob = aws_sdk_kms::primitives::Blob::new(b"hello".to_vec());
    client
        .encrypt()
        .key_id(&key_id)
        .plaintext(blob)
        .send()
        .await
        .unwrap();
    browser.click_and_wait("#tab-usage").await;
    assert!(browser.text("#last-usage").await.contains("Encrypt"));
    assert!(
        browser.source().await.contains("Encrypt: 1"),
        "the usage chart counts the Encrypt"
    );
    shot(&browser, &dir, "05b-usage").await;

    // Deletion: scheduled with a 7-day wait, then cancelled (the key is left disabled).
    browser.click_and_wait("#tab-deletion").await;
    browser.fill("#waiting-period", "7").await;
    browser.click("#confirm-deletion").await;
    browser.click_and_wait("#schedule-deletion").await;
    assert_eq!(browser.text("#key-state").await, "PendingDeletion");
    shot(&browser, &dir, "06-pending-deletion").await;
    assert_labelled(&browser).await;
    let meta = client
        .describe_key()
        .key_id(&key_id)
        .send()
        .await
        .unwrap()
        .key_metadata
        .unwrap();
    assert_eq!(meta.key_state, Some(KeyState::PendingDeletion));
    browser.click_and_wait("#cancel-deletion").await;
    assert_eq!(browser.text("#key-state").await, "Disabled");
    let meta = client
        .describe_key()
        .key_id(&key_id)
        .send()
        .await
        .unwrap()
        .key_metadata
        .unwrap();
    assert_eq!(meta.key_state, Some(KeyState::Disabled));

    // The list finds it by its alias.
    browser.goto(&console_url(&server, "/console/keys")).await;
    browser.fill("#filter", "console-demo").await;
    browser.click_and_wait("form.filter button").await;
    let table = browser.text("#keys").await;
    assert!(
        table.contains(&key_id) && table.contains("Disabled"),
        "{table}"
    );

    // The event history: what the console did, as the administrator, from the console.
    browser.goto(&console_url(&server, "/console/audit")).await;
    browser.select("#attribute", "EventName").await;
    browser.fill("#value", "ScheduleKeyDeletion").await;
    browser.click_and_wait("#lookup").await;
    let events = browser.text("#events").await;
    assert!(
        events.contains("ScheduleKeyDeletion") && events.contains("admin"),
        "{events}"
    );
    assert!(!events.contains("CancelKeyDeletion"), "{events}");
    // The overview's charts, drawn from the same lookup.
    let source = browser.source().await;
    for chart in [
        "chart-time",
        "chart-operations",
        "chart-keys",
        "chart-callers",
        "chart-denied",
    ] {
        assert!(
            source.contains(&format!("id=\"{chart}\"")),
            "{chart} missing"
        );
    }
    assert!(source.contains("ScheduleKeyDeletion: 1"), "{source}");
    shot(&browser, &dir, "07-event-history").await;
    assert_labelled(&browser).await;
    browser.click_and_wait("a.event-link").await;
    let record = browser.text("#event-record").await;
    assert!(
        record.contains("\"eventName\": \"ScheduleKeyDeletion\""),
        "{record}"
    );
    assert!(record.contains("trent-console/"), "{record}");
    assert!(record.contains(&key_id), "{record}");
    shot(&browser, &dir, "08-event").await;

    browser.click_and_wait("#sign-out").await;
    assert!(browser.current_url().await.ends_with("/console/sign-in"));
}

#[tokio::test]
async fn a_principal_without_permissions_sees_access_denied_in_chromium() {
    let config = ConfigFile::new(&user(NOBODY_ARN, NOBODY_KEY, NOBODY_SECRET, &[]));
    let server = start_with_config(&config);
    let (dir, _keep) = screenshots();
    let browser = Browser::start().await;
    browser_sign_in(&browser, &server, NOBODY_KEY, NOBODY_SECRET).await;
    let denied = browser.text(".flash.error").await;
    assert!(denied.starts_with("AccessDeniedException: User: arn:aws:iam::111122223333:user/nobody is not authorized to perform: kms:ListKeys"), "{denied}");
    shot(&browser, &dir, "09-access-denied").await;
    browser.goto(&console_url(&server, "/console/audit")).await;
    let denied = browser.text(".flash.error").await;
    assert!(
        denied.contains("AccessDenied") && denied.contains("cloudtrail:LookupEvents"),
        "{denied}"
    );
    // The wizard too: CreateKey is refused, and no key was made.
    browser
        .goto(&console_url(&server, "/console/keys/new"))
        .await;
    browser.click_and_wait("#create").await;
    assert!(browser.text(".flash.error").await.contains("kms:CreateKey"));
    let keys = server
        .client("us-east-1")
        .list_keys()
        .send()
        .await
        .unwrap()
        .keys
        .unwrap_or_default();
    assert!(keys.is_empty(), "{keys:?}");
}

#[tokio::test]
async fn why_was_this_denied_shows_the_statements_evaluated_and_the_one_that_decided() {
    let config = ConfigFile::new(&format!(
        "{}{}",
        user(BOB_ARN, BOB_KEY, BOB_SECRET, &[("kms", "kms:*")]),
        user(NOBODY_ARN, NOBODY_KEY, NOBODY_SECRET, &[])
    ));
    let server = start_with_config(&config);
    let admin = server.client("us-east-1");
    let policy = format!(
        r#"{{"Version":"2012-10-17","Statement":[
            {{"Sid":"Enable IAM User Permissions","Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::111122223333:root"}},"Action":"kms:*","Resource":"*"}},
            {{"Sid":"NoEncryptForBob","Effect":"Deny","Principal":{{"AWS":"{BOB_ARN}"}},"Action":"kms:Encrypt","Resource":"*"}}]}}"#
    );
    let key = admin.create_key().policy(policy).send().await.unwrap();
    let key_id = key.key_metadata.unwrap().key_id;
    let plaintext = aws_sdk_kms::primitives::Blob::new(b"x".to_vec());
    // Bob: an explicit deny in the key policy. Nobody: no identity policy allows.
    let bob = server.client_as("us-east-1", BOB_KEY, BOB_SECRET);
    crate::harness::expect_code(
        bob.encrypt()
            .key_id(&key_id)
            .plaintext(plaintext.clone())
            .send()
            .await,
        "AccessDeniedException",
    );
    let nobody = server.client_as("us-east-1", NOBODY_KEY, NOBODY_SECRET);
    crate::harness::expect_code(
        nobody
            .encrypt()
            .key_id(&key_id)
            .plaintext(plaintext)
            .send()
            .await,
        "AccessDeniedException",
    );

    // Creating a key is decided by identity policies alone: the record says none allowed.
    crate::harness::expect_code(nobody.create_key().send().await, "AccessDeniedException");
    let records = crate::identities::audit_records(server.data_dir());
    let denied = |user: &str, event: &str| {
        records
            .iter()
            .rev()
            .find(|r| r["eventName"] == event && r["userIdentity"]["userName"] == user)
            .unwrap_or_else(|| panic!("no {event} by {user}"))["additionalEventData"]
            ["authorization"]
            .clone()
    };
    let bobs = denied("bob", "Encrypt");
    assert_eq!(bobs["decision"], "ExplicitDeny");
    assert_eq!(bobs["decidedBy"]["sid"], "NoEncryptForBob");
    assert_eq!(bobs["grants"], serde_json::json!([]));
    let nobodys = denied("nobody", "CreateKey");
    assert_eq!(nobodys["decision"], "ImplicitDeny");
    assert_eq!(nobodys["reason"], "NoIdentityBasedPolicyAllows");
    assert_eq!(nobodys["policies"], serde_json::json!([]));
    // An allowed request carries no explanation.
    let allowed = records
        .iter()
        .find(|r| r["eventName"] == "CreateKey" && r["errorCode"].is_null())
        .unwrap();
    assert!(allowed["additionalEventData"].is_null(), "{allowed}");

    let (dir, _keep) = screenshots();
    let browser = admin_browser(&server).await;
    let audit = console_url(&server, "/console/audit");
    browser.goto(&audit).await;
    browser.select("#attribute", "Username").await;
    browser.fill("#value", "bob").await;
    browser.click_and_wait("#lookup").await;
    browser.click_and_wait("a.why").await;
    assert!(browser
        .text("#why-decision")
        .await
        .starts_with("ExplicitDeny"));
    let decided = browser.text("#why-decided").await;
    assert!(
        decided.contains("KeyPolicy")
            && decided.contains("statement 1")
            && decided.contains("NoEncryptForBob"),
        "{decided}"
    );
    let row = browser.text("tr.decided").await;
    assert!(
        row.contains("NoEncryptForBob") && row.contains("Deny"),
        "{row}"
    );
    shot(&browser, &dir, "10-why-denied").await;

    browser.goto(&audit).await;
    browser.select("#attribute", "Username").await;
    browser.fill("#value", "nobody").await;
    browser.click_and_wait("#lookup").await;
    // Newest first: CreateKey, decided by identity policies alone; then the Encrypt.
    browser
        .click_and_wait("#events tbody tr:nth-child(1) a.why")
        .await;
    assert_eq!(browser.text("#event-name").await, "CreateKey");
    assert!(browser
        .text("#why-reason")
        .await
        .contains("identity-based (IAM) policies alone decide it"));
    browser.goto(&audit).await;
    browser.select("#attribute", "Username").await;
    browser.fill("#value", "nobody").await;
    browser.click_and_wait("#lookup").await;
    browser
        .click_and_wait("#events tbody tr:nth-child(2) a.why")
        .await;
    assert_eq!(browser.text("#event-name").await, "Encrypt");
    assert_eq!(
        browser.text("#why-decision").await,
        "ImplicitDeny (NoIdentityBasedPolicyAllows)"
    );
    assert!(browser
        .text("#why-reason")
        .await
        .contains("no identity-based policy of the principal allows"));
    let statements = browser.text("table.why-statements").await;
    assert!(
        statements.contains("Enable IAM User Permissions"),
        "{statements}"
    );
    assert!(browser.text("#why-grants").await.contains("None"));
}

#[tokio::test]
async fn grants_the_public_key_and_replicas_in_chromium() {
    use aws_sdk_kms::types::{KeySpec, KeyUsageType};
    let server = TestServer::start();
    let client = server.client("us-east-1");
    let signing = client
        .create_key()
        .key_spec(KeySpec::EccNistP256)
        .key_usage(KeyUsageType::SignVerify)
        .send()
        .await
        .unwrap()
        .key_metadata
        .unwrap()
        .key_id;
    let (dir, _keep) = screenshots();
    let browser = admin_browser(&server).await;

    // The public key, as PEM, is GetPublicKey's.
    browser
        .goto(&console_url(
            &server,
            &format!("/console/keys/{signing}?tab=public-key"),
        ))
        .await;
    let pem = browser.text("#public-key").await;
    let der = client
        .get_public_key()
        .key_id(&signing)
        .send()
        .await
        .unwrap()
        .public_key
        .unwrap();
    use base64::Engine as _;
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    assert!(pem.starts_with("-----BEGIN PUBLIC KEY-----"), "{pem}");
    assert_eq!(
        base64::engine::general_purpose::STANDARD
            .decode(body)
            .unwrap(),
        der.into_inner()
    );
    let session = sign_in(&server, server.access_key_id(), server.secret_access_key());
    let download = http(
        &server,
        "GET",
        &format!("/console/keys/{signing}/public-key.pem"),
        &session,
        None,
    );
    assert_eq!(download.status, 200);
    assert_eq!(
        download.header("content-type"),
        Some("application/x-pem-file")
    );
    assert_eq!(download.body.trim_end(), pem.trim_end());
    assert_eq!(
        download.header("content-disposition"),
        Some(format!("attachment; filename=\"{signing}.pem\"").as_str())
    );
    assert_eq!(download.header("content-security-policy"), Some(CSP));

    // A grant made for Bob to sign, then revoked.
    browser.click_and_wait("#tab-grants").await;
    browser.fill("#grantee", BOB_ARN).await;
    browser.click("input[name='op-Sign']").await;
    browser.fill("#grant-name", "console-grant").await;
    browser.click_and_wait("#create-grant").await;
    assert!(browser
        .text(".flash.ok")
        .await
        .contains("grant was created"));
    assert!(browser.text("#grants").await.contains(BOB_ARN));
    shot(&browser, &dir, "11-grants").await;
    let grants = client
        .list_grants()
        .key_id(&signing)
        .send()
        .await
        .unwrap()
        .grants
        .unwrap();
    assert_eq!(grants.len(), 1);
    assert_eq!(grants[0].operations().len(), 1);
    browser.click_and_wait("#grants button").await;
    assert!(browser.text(".flash.ok").await.contains("revoked"));
    let grants = client
        .list_grants()
        .key_id(&signing)
        .send()
        .await
        .unwrap()
        .grants
        .unwrap();
    assert!(grants.is_empty());

    // A multi-Region key replicated from its page.
    let primary = client
        .create_key()
        .multi_region(true)
        .send()
        .await
        .unwrap()
        .key_metadata
        .unwrap()
        .key_id;
    browser
        .goto(&console_url(
            &server,
            &format!("/console/keys/{primary}?tab=regionality"),
        ))
        .await;
    browser.fill("#replica-region", "us-west-2").await;
    browser.click_and_wait("#replicate").await;
    assert!(
        browser.text(".flash.ok").await.contains("us-west-2"),
        "{}",
        browser.source().await
    );
    let meta = client
        .describe_key()
        .key_id(&primary)
        .send()
        .await
        .unwrap()
        .key_metadata
        .unwrap();
    let replicas = meta
        .multi_region_configuration
        .unwrap()
        .replica_keys
        .unwrap_or_default();
    assert_eq!(replicas.len(), 1);
    assert_eq!(replicas[0].region(), Some("us-west-2"));
    browser.click_and_wait("#tab-regionality").await;
    assert!(browser.text("#replicas").await.contains("us-west-2"));
    shot(&browser, &dir, "12-regionality").await;
}

#[tokio::test]
async fn key_material_is_imported_through_the_console_in_chromium() {
    use base64::Engine as _;
    let server = TestServer::start();
    let client = server.client("us-east-1");
    let (dir, _keep) = screenshots();
    let browser = admin_browser(&server).await;
    // The wizard makes a key for imported material.
    browser.click_and_wait("#create-key").await;
    browser.select("#origin", "EXTERNAL").await;
    browser.fill("#alias", "imported").await;
    browser.click_and_wait("#create").await;
    assert_eq!(browser.text("#key-state").await, "PendingImport");
    let key_id = browser.text("#key-id").await;

    browser.click_and_wait("#tab-key-material").await;
    browser
        .select("#wrapping-algorithm", "RSAES_OAEP_SHA_256")
        .await;
    browser.click_and_wait("#get-import-parameters").await;
    assert!(browser
        .text("#wrapping-key")
        .await
        .starts_with("-----BEGIN PUBLIC KEY-----"));
    let der = browser.text("#wrapping-key-der").await;
    let download = browser
        .execute(
            "return document.querySelector('#download-wrapping-key').href",
            vec![],
        )
        .await;
    assert_eq!(
        download,
        serde_json::json!(format!(
            "data:application/octet-stream;base64,{}",
            der.trim()
        ))
    );
    let token = browser
        .execute(
            "return document.querySelector('#download-import-token').href",
            vec![],
        )
        .await;
    assert!(token
        .as_str()
        .unwrap()
        .starts_with("data:application/octet-stream;base64,"));
    shot(&browser, &dir, "13-import-parameters").await;
    // The material, wrapped by Python's `cryptography` with the page's public key.
    let material = crate::import::random(32);
    let wrapped: Vec<String> = serde_json::from_value(crate::interop::python(
        crate::import::PY_WRAP,
        &serde_json::json!([{
            "public_key": der.trim(),
            "alg": "RSAES_OAEP_SHA_256",
            "material": base64::engine::general_purpose::STANDARD.encode(&material),
        }]),
    ))
    .unwrap();
    browser.fill("#encrypted-material", &wrapped[0]).await;
    browser.click_and_wait("#import-material").await;
    assert!(
        browser.text(".flash.ok").await.contains("imported"),
        "{}",
        browser.source().await
    );
    assert_eq!(browser.text("#key-state").await, "Enabled");
    let blob = aws_sdk_kms::primitives::Blob::new(b"imported".to_vec());
    let sealed = client
        .encrypt()
        .key_id(&key_id)
        .plaintext(blob)
        .send()
        .await
        .unwrap();
    let opened = client
        .decrypt()
        .ciphertext_blob(sealed.ciphertext_blob.unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(opened.plaintext.unwrap().into_inner(), b"imported");

    browser.click_and_wait("#tab-key-material").await;
    assert_eq!(browser.text("#material-expiry").await, "Does not expire");
    browser.click_and_wait("#delete-material").await;
    assert_eq!(browser.text("#key-state").await, "PendingImport");
}

#[tokio::test]
async fn sign_in_may_assume_a_role_and_needs_https_from_another_machine() {
    use crate::identities::{allow, ALICE_ARN, ALICE_KEY, ALICE_SECRET};
    const ROLE: &str = "arn:aws:iam::111122223333:role/console-reader";
    let config = ConfigFile::new(&format!(
        r#"trusted_proxies = ["127.0.0.1"]
{alice}
[[roles]]
arn = "{ROLE}"
trust_policy = '''{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"AWS":"{ALICE_ARN}"}},"Action":"sts:AssumeRole"}}]}}'''
[roles.policies]
kms = {kms}
"#,
        alice = user(
            ALICE_ARN,
            ALICE_KEY,
            ALICE_SECRET,
            &[("sts", "sts:AssumeRole")]
        ),
        kms = allow("kms:List*"),
    ));
    let server = start_with_config(&config);
    let sign_in_with = |role: &str, forwarded: &[(&str, &str)]| {
        let page = http(&server, "GET", "/console/sign-in", "", None);
        let token = page.cookie("__Host-trent-sign-in").unwrap();
        let form = form_encode(&[
            ("csrf", &token),
            ("access_key_id", ALICE_KEY),
            ("secret_access_key", ALICE_SECRET),
            ("role_arn", role),
        ]);
        http_with(
            &server,
            "POST",
            "/console/sign-in",
            &format!("__Host-trent-sign-in={token}"),
            Some(&form),
            forwarded,
        )
    };
    // From another machine over plain HTTP (as the trusted proxy says): no session cookie
    // may cross the network in clear.
    let clear = [
        ("X-Forwarded-For", "203.0.113.5"),
        ("X-Forwarded-Proto", "http"),
    ];
    let refused = sign_in_with("", &clear);
    assert_eq!(refused.status, 401);
    assert!(refused.body.contains("HTTPS"), "{}", refused.body);
    assert!(refused.cookie("__Host-trent-console").is_none());

    // Over HTTPS (at the proxy), as the role: the session acts as the role's session.
    let tls = [
        ("X-Forwarded-For", "203.0.113.5"),
        ("X-Forwarded-Proto", "https"),
    ];
    let answer = sign_in_with(ROLE, &tls);
    assert_eq!(answer.status, 303, "{}", answer.body);
    let session = format!(
        "__Host-trent-console={}",
        answer.cookie("__Host-trent-console").unwrap()
    );
    let keys = http_with(&server, "GET", "/console/keys", &session, None, &tls);
    assert_eq!(keys.status, 200);
    assert!(
        keys.body
            .contains("arn:aws:sts::111122223333:assumed-role/console-reader/alice"),
        "{}",
        keys.body
    );
    assert!(
        keys.body.contains(ALICE_ARN),
        "the user who assumed the role is named"
    );
    // The role may list keys but not create them: the API's refusal, as the role session.
    let csrf = csrf_of(&keys.body);
    let form = form_encode(&[
        ("csrf", &csrf),
        ("key_usage", "ENCRYPT_DECRYPT"),
        ("key_spec", "SYMMETRIC_DEFAULT"),
        ("origin", "AWS_KMS"),
    ]);
    let denied = http_with(
        &server,
        "POST",
        "/console/keys/new",
        &session,
        Some(&form),
        &tls,
    );
    assert!(
        denied.body.contains("AccessDeniedException"),
        "{}",
        denied.body
    );
    assert!(
        denied.body.contains(
            "assumed-role/console-reader/alice is not authorized to perform: kms:CreateKey"
        ),
        "{}",
        denied.body
    );
    // A role it may not assume: STS's refusal, no session.
    let refused = sign_in_with("arn:aws:iam::111122223333:role/other", &tls);
    assert_eq!(refused.status, 401);
    assert!(refused.body.contains("AccessDenied"), "{}", refused.body);

    // The console's calls came from the browser's address, as the proxy named it.
    let records = crate::identities::audit_records(server.data_dir());
    let list_keys = records
        .iter()
        .rev()
        .find(|r| r["eventName"] == "ListKeys")
        .unwrap();
    assert_eq!(list_keys["sourceIPAddress"], "203.0.113.5");
    assert!(list_keys["userAgent"]
        .as_str()
        .unwrap()
        .starts_with("trent-console/"));
}
