//! The browser harness itself: headless Chromium against a tiny HTTP server of the test's
//! own (a form, the page it submits to, a cookie set and echoed back).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;

use axum::http::{header, HeaderMap, Uri};
use axum::response::{Html, IntoResponse};
use axum::routing::get;
use axum::Router;
use serde_json::json;
use trent_testkit::browser::{Browser, WINDOW_SIZE};

const FORM: &str = r#"<!doctype html>
<html><head><title>Form</title></head><body>
<form id="form" method="get" action="/submit">
  <input id="name" name="name" type="text" value="prefilled">
  <select id="color" name="color">
    <option value="red">Red</option>
    <option value="green">Green</option>
  </select>
  <button id="send" type="submit">Send</button>
</form>
</body></html>"#;

/// The `__Host-` cookie of the loopback test: every attribute a session cookie should have.
const HOST_COOKIE: &str = "__Host-x=1; Secure; HttpOnly; SameSite=Strict; Path=/";

/// Serves the pages on 127.0.0.1 (a free port) in the current runtime; its base URL.
async fn serve() -> String {
    let app = Router::new()
        .route("/", get(|| async { Html(FORM) }))
        .route("/submit", get(submit))
        .route(
            "/cookie/set",
            get(|| async {
                (
                    [(header::SET_COOKIE, HOST_COOKIE)],
                    Html(r#"<!doctype html><p id="set">set</p>"#),
                )
            }),
        )
        .route("/cookie/echo", get(echo_cookie));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    base
}

async fn submit(uri: Uri) -> impl IntoResponse {
    let name = query_param(&uri, "name").unwrap_or_default();
    let color = query_param(&uri, "color").unwrap_or_default();
    Html(format!(
        r#"<!doctype html><html><head><title>Submitted</title></head><body>
<p id="greeting">Hello, {}! ({})</p></body></html>"#,
        escape(&name),
        escape(&color)
    ))
}

async fn echo_cookie(headers: HeaderMap) -> impl IntoResponse {
    let cookie = headers
        .get(header::COOKIE)
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_else(|| "(none)".to_owned());
    Html(format!(
        r#"<!doctype html><p id="cookie">{}</p>"#,
        escape(&cookie)
    ))
}

/// A form-encoded query parameter (`+` is a space).
fn query_param(uri: &Uri, name: &str) -> Option<String> {
    uri.query()?.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=')?;
        (key == name).then(|| {
            percent_encoding::percent_decode_str(&value.replace('+', " "))
                .decode_utf8()
                .unwrap()
                .into_owned()
        })
    })
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The command lines of the running processes that mention `dir`.
fn processes_using(dir: &Path) -> Vec<String> {
    let dir = dir.to_string_lossy().into_owned();
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|entry| std::fs::read(entry.path().join("cmdline")).ok())
        .map(|cmdline| String::from_utf8_lossy(&cmdline).replace('\0', " "))
        .filter(|cmdline| cmdline.contains(&dir))
        .collect()
}

/// Drops the browser, then checks that none of its processes is left.
fn close(browser: Browser) {
    let profile = browser.profile_dir();
    assert!(
        !processes_using(&profile).is_empty(),
        "Chromium does not run on the profile {}",
        profile.display()
    );
    drop(browser);
    let left = processes_using(&profile);
    assert!(left.is_empty(), "processes left behind: {left:#?}");
    assert!(!profile.exists(), "the profile directory is left behind");
}

#[tokio::test]
async fn fills_and_submits_a_form_then_takes_a_screenshot() {
    let base = serve().await;
    let browser = Browser::start().await;

    browser.goto(&format!("{base}/")).await;
    assert_eq!(
        browser.execute("return document.title", Vec::new()).await,
        json!("Form")
    );
    browser.fill("#name", "Ada & <Grace>").await;
    browser.select("#color", "green").await;
    browser.click_and_wait("#send").await;

    assert_eq!(
        browser.text("#greeting").await,
        "Hello, Ada & <Grace>! (green)"
    );
    let url = browser.current_url().await;
    assert!(
        url.starts_with(&format!("{base}/submit?name=Ada")) && url.ends_with("&color=green"),
        "{url}"
    );
    assert!(browser.source().await.contains("id=\"greeting\""));
    assert_eq!(
        browser
            .execute(
                "return arguments[0] + arguments[1]",
                vec![json!(40), json!(2)]
            )
            .await,
        json!(42)
    );

    let dir = tempfile::tempdir().unwrap();
    let png = dir.path().join("page.png");
    browser.screenshot(&png).await;
    let bytes = std::fs::read(&png).unwrap();
    assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG file");
    // The IHDR chunk comes first: width then height, big-endian.
    assert_eq!(&bytes[12..16], b"IHDR");
    let width = u32::from_be_bytes(bytes[16..20].try_into().unwrap());
    let height = u32::from_be_bytes(bytes[20..24].try_into().unwrap());
    assert!(
        width == WINDOW_SIZE.0 && height > 0 && height <= WINDOW_SIZE.1,
        "a {width}x{height} screenshot"
    );

    close(browser);
}

/// Chromium counts http://127.0.0.1 as a secure context (a loopback address), so it keeps a
/// `Secure` cookie, even a `__Host-` one, that such a page sets, and sends it back: a
/// console served on loopback over plain HTTP can use the cookie attributes it would use
/// over HTTPS.
#[tokio::test]
async fn keeps_a_secure_host_cookie_from_loopback_http() {
    let base = serve().await;
    let browser = Browser::start().await;

    browser.goto(&format!("{base}/cookie/set")).await;
    assert_eq!(browser.text("#set").await, "set");
    let cookies = browser.cookies().await;
    let cookie = cookies
        .iter()
        .find(|c| c.name == "__Host-x")
        .unwrap_or_else(|| panic!("Chromium did not keep {HOST_COOKIE}: {cookies:?}"));
    assert_eq!(cookie.value, "1");
    assert!(cookie.http_only && cookie.secure, "{cookie:?}");
    assert_eq!(cookie.same_site.as_deref(), Some("Strict"));
    assert_eq!(cookie.path.as_deref(), Some("/"));
    // HttpOnly: invisible to the page's scripts.
    assert_eq!(
        browser.execute("return document.cookie", Vec::new()).await,
        json!("")
    );

    browser.goto(&format!("{base}/cookie/echo")).await;
    assert_eq!(browser.text("#cookie").await, "__Host-x=1");

    close(browser);
}

/// Browsers started at once run side by side, each with its own chromedriver and profile
/// (cookies included), and each leaves nothing behind.
#[tokio::test(flavor = "multi_thread", worker_threads = 3)]
async fn parallel_browsers_are_independent() {
    let base = serve().await;
    let (a, b, c) = tokio::join!(Browser::start(), Browser::start(), Browser::start());
    let browsers = [a, b, c];
    for (i, browser) in browsers.iter().enumerate() {
        browser.goto(&format!("{base}/")).await;
        browser
            .execute(
                "document.cookie = 'who=' + arguments[0] + '; Path=/'",
                vec![json!(i)],
            )
            .await;
    }
    for (i, browser) in browsers.iter().enumerate() {
        browser.goto(&format!("{base}/cookie/echo")).await;
        assert_eq!(browser.text("#cookie").await, format!("who={i}"));
    }
    for browser in browsers {
        close(browser);
    }
}
