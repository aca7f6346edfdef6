//! Headless Chromium driven over WebDriver: Debian's `chromium` through its `chromedriver`,
//! with [`fantoccini`] as the client (over plain HTTP: chromedriver listens on 127.0.0.1).
//!
//! [`Browser::start`] starts one chromedriver on a free port of 127.0.0.1 (ready once
//! `GET /status` says so, polled, never after a fixed sleep) and one session on a fresh
//! profile directory, with a `HOME` of its own: browsers of parallel tests share nothing,
//! and none writes to the machine's `HOME`. Dropping the [`Browser`] ends the session and
//! kills chromedriver's process group, Chromium included.
//!
//! The helpers wait for the elements they act on (up to [`WAIT_DEADLINE`]) and panic with the
//! current URL and the start of the page source when something is wrong.
//! [`Browser::click_and_wait`] submits a form (or follows a link) and returns once the next
//! page has loaded.

use std::fs::File;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use fantoccini::elements::Element;
use fantoccini::error::CmdError;
use fantoccini::{Client, ClientBuilder, Locator};
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::rt::TokioExecutor;
use serde_json::{json, Value};
use tempfile::TempDir;

/// Debian's Chromium (package `chromium`).
pub const CHROMIUM: &str = "/usr/bin/chromium";
/// Debian's chromedriver (package `chromium-driver`).
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// How long chromedriver may take to answer ready.
pub const DRIVER_DEADLINE: Duration = Duration::from_secs(20);
/// How long the helpers wait for an element, or for the next page.
pub const WAIT_DEADLINE: Duration = Duration::from_secs(10);
/// The window's size (`--window-size`), hence the screenshots'.
pub const WINDOW_SIZE: (u32, u32) = (1280, 1000);
/// At most this much of the page source goes into a failure message.
const SOURCE_SNIPPET: usize = 2000;
/// What chromedriver prints once it listens on its port.
const DRIVER_STARTED: &str = "was started successfully";
/// Starts whose port was taken meanwhile (bound, released, then taken by someone else)
/// are retried on another port this many times.
const PORT_ATTEMPTS: usize = 3;

/// A cookie as the browser keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrowserCookie {
    pub name: String,
    pub value: String,
    pub http_only: bool,
    pub secure: bool,
    /// `"Strict"`, `"Lax"` or `"None"`; `None` when the browser does not say.
    pub same_site: Option<String>,
    pub path: Option<String>,
    pub domain: Option<String>,
}

/// One headless Chromium session, with its own chromedriver and profile directory.
/// Ended (session closed, chromedriver and Chromium killed) on drop.
pub struct Browser {
    client: Client,
    session_id: String,
    port: u16,
    // Before `dir`: Chromium is gone before its profile directory goes.
    driver: Driver,
    /// `profile/` (Chromium's `--user-data-dir`), `home/` (chromedriver's and Chromium's
    /// `HOME` and XDG directories: Chromium keeps its crash reports there) and
    /// `chromedriver.log` (chromedriver's output, for failure messages).
    dir: TempDir,
}

impl Browser {
    /// Starts chromedriver on a free port of 127.0.0.1 and opens a session of headless
    /// Chromium on a fresh profile directory (in the current tokio runtime).
    pub async fn start() -> Browser {
        for program in [CHROMIUM, CHROMEDRIVER] {
            assert!(
                Path::new(program).exists(),
                "{program} is missing: install Debian's chromium and chromium-driver \
                 (apt-get install -y chromium chromium-driver)"
            );
        }
        let dir = tempfile::Builder::new()
            .prefix("trent-browser-")
            .tempdir()
            .expect("create the browser's directory");
        let profile = dir.path().join("profile");
        let home = dir.path().join("home");
        for path in [&profile, &home] {
            std::fs::create_dir(path)
                .unwrap_or_else(|e| panic!("cannot create {}: {e}", path.display()));
        }
        let log = dir.path().join("chromedriver.log");
        let log_file = File::options()
            .create(true)
            .append(true)
            .open(&log)
            .expect("create chromedriver's log file");

        let mut attempt = 0;
        let (driver, port) = loop {
            attempt += 1;
            let port = free_port();
            let mut driver = spawn_driver(port, &log_file, &home);
            match wait_ready(&mut driver.0, port, &log).await {
                Ok(()) => break (driver, port),
                Err(DriverFailure::PortTaken) if attempt < PORT_ATTEMPTS => continue,
                Err(failure) => {
                    let failure = match failure {
                        DriverFailure::PortTaken => "its port was taken, every time".to_owned(),
                        DriverFailure::Exited(exit) => format!("it exited with {exit}"),
                        DriverFailure::TimedOut => format!("not within {DRIVER_DEADLINE:?}"),
                    };
                    panic!(
                        "chromedriver on 127.0.0.1:{port} did not become ready: {failure}\n\
                         --- chromedriver log ---\n{}",
                        read_log(&log)
                    );
                }
            }
        };

        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "goog:chromeOptions".to_owned(),
            json!({
                "binary": CHROMIUM,
                "args": [
                    "--headless=new",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-dev-shm-usage",
                    format!("--window-size={},{}", WINDOW_SIZE.0, WINDOW_SIZE.1),
                    format!("--user-data-dir={}", profile.display()),
                    "--no-first-run",
                    "--disable-extensions",
                ],
            }),
        );
        let webdriver = format!("http://127.0.0.1:{port}");
        let session = ClientBuilder::new(HttpConnector::new())
            .capabilities(capabilities)
            .connect(&webdriver)
            .await;
        let client = match session {
            Ok(client) => client,
            Err(e) => {
                drop(driver);
                panic!(
                    "chromedriver on {webdriver} could not start Chromium: {e}\n\
                     --- chromedriver log ---\n{}",
                    read_log(&log)
                );
            }
        };
        let session_id = client.session_id().await.ok().flatten().unwrap_or_default();
        Browser {
            client,
            session_id,
            port,
            driver,
            dir,
        }
    }

    /// The WebDriver client, for anything the helpers do not cover.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The profile directory (`--user-data-dir`) of this browser's Chromium.
    pub fn profile_dir(&self) -> PathBuf {
        self.dir.path().join("profile")
    }

    /// chromedriver's output so far.
    pub fn driver_log(&self) -> String {
        read_log(&self.dir.path().join("chromedriver.log"))
    }

    /// Loads `url` and waits until it has loaded.
    pub async fn goto(&self, url: &str) {
        if let Err(e) = self.client.goto(url).await {
            self.fail(&format!("cannot load {url}: {e}")).await;
        }
    }

    /// The first element matching the CSS selector `css`, once there is one (waiting up to
    /// [`WAIT_DEADLINE`]).
    pub async fn wait_for(&self, css: &str) -> Element {
        match self
            .client
            .wait()
            .at_most(WAIT_DEADLINE)
            .every(Duration::from_millis(50))
            .for_element(Locator::Css(css))
            .await
        {
            Ok(element) => element,
            Err(e) => {
                self.fail(&format!(
                    "no element matches `{css}` within {WAIT_DEADLINE:?}: {e}"
                ))
                .await
            }
        }
    }

    /// Replaces the value of the input `css` with `text` (clears it, then types).
    pub async fn fill(&self, css: &str, text: &str) {
        let element = self.wait_for(css).await;
        if let Err(e) = element.clear().await {
            self.fail(&format!("cannot clear `{css}`: {e}")).await;
        }
        if let Err(e) = element.send_keys(text).await {
            self.fail(&format!("cannot type into `{css}`: {e}")).await;
        }
    }

    /// Selects the `<option value="VALUE">` of the `<select>` `css`.
    pub async fn select(&self, css: &str, value: &str) {
        let element = self.wait_for(css).await;
        if let Err(e) = element.select_by_value(value).await {
            self.fail(&format!(
                "cannot select the option `{value}` of `{css}`: {e}"
            ))
            .await;
        }
    }

    /// Clicks the element `css`. For a click that loads another page (a form's submit
    /// button, a link), [`Browser::click_and_wait`] returns only once it has loaded.
    pub async fn click(&self, css: &str) {
        let element = self.wait_for(css).await;
        if let Err(e) = element.click().await {
            self.fail(&format!("cannot click `{css}`: {e}")).await;
        }
    }

    /// Clicks the element `css`, then waits (up to [`WAIT_DEADLINE`]) until another document
    /// replaced the current one (the old `<html>` element went stale) or the URL changed,
    /// and `document.readyState` is `complete`.
    pub async fn click_and_wait(&self, css: &str) {
        let element = self.wait_for(css).await;
        let old_html = match self.client.find(Locator::Css("html")).await {
            Ok(html) => html,
            Err(e) => self.fail(&format!("no <html> element: {e}")).await,
        };
        let old_url = self.client.current_url().await.ok();
        if let Err(e) = element.click().await {
            // Stale already: the click itself navigated and chromedriver waited for it.
            if !e.is_stale_element_reference() {
                self.fail(&format!("cannot click `{css}`: {e}")).await;
            }
        }
        let deadline = Instant::now() + WAIT_DEADLINE;
        let mut last = String::new();
        loop {
            let replaced = match old_html.tag_name().await {
                Err(e) if e.is_stale_element_reference() => true,
                Err(e) => {
                    last = format!("checking the old page: {e}");
                    false
                }
                Ok(_) => match (self.client.current_url().await.ok(), &old_url) {
                    (Some(now), Some(old)) => &now != old,
                    _ => false,
                },
            };
            if replaced {
                match self.ready_state().await {
                    Ok(state) if state == "complete" => return,
                    Ok(state) => last = format!("document.readyState is {state:?}"),
                    Err(e) => last = format!("reading document.readyState: {e}"),
                }
            } else if last.is_empty() {
                last = "the page did not change".to_owned();
            }
            if Instant::now() >= deadline {
                self.fail(&format!(
                    "clicking `{css}` did not load another page within {WAIT_DEADLINE:?} \
                     ({last})"
                ))
                .await;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The visible text of the element `css`.
    pub async fn text(&self, css: &str) -> String {
        let element = self.wait_for(css).await;
        match element.text().await {
            Ok(text) => text,
            Err(e) => {
                self.fail(&format!("cannot read the text of `{css}`: {e}"))
                    .await
            }
        }
    }

    /// The page's source (as the browser serializes its DOM).
    pub async fn source(&self) -> String {
        match self.client.source().await {
            Ok(source) => source,
            Err(e) => panic!("cannot read the page source: {e}"),
        }
    }

    /// The current URL.
    pub async fn current_url(&self) -> String {
        match self.client.current_url().await {
            Ok(url) => url.to_string(),
            Err(e) => panic!("cannot read the current URL: {e}"),
        }
    }

    /// Saves a screenshot of the window as a PNG file at `path`.
    pub async fn screenshot(&self, path: &Path) {
        let png = match self.client.screenshot().await {
            Ok(png) => png,
            Err(e) => self.fail(&format!("cannot take a screenshot: {e}")).await,
        };
        assert!(
            png.starts_with(b"\x89PNG\r\n\x1a\n"),
            "the screenshot is not a PNG image"
        );
        std::fs::write(path, png)
            .unwrap_or_else(|e| panic!("cannot write the screenshot to {}: {e}", path.display()));
    }

    /// The cookies the browser would send to the current page.
    pub async fn cookies(&self) -> Vec<BrowserCookie> {
        let cookies = match self.client.get_all_cookies().await {
            Ok(cookies) => cookies,
            Err(e) => self.fail(&format!("cannot read the cookies: {e}")).await,
        };
        cookies
            .into_iter()
            .map(|c| BrowserCookie {
                name: c.name().to_owned(),
                value: c.value().to_owned(),
                http_only: c.http_only().unwrap_or(false),
                secure: c.secure().unwrap_or(false),
                same_site: c.same_site().map(|s| s.to_string()),
                path: c.path().map(str::to_owned),
                domain: c.domain().map(str::to_owned),
            })
            .collect()
    }

    /// Runs `js` as the body of a function called with `args` (`arguments[0]`, ...) in the
    /// page; what it returns.
    pub async fn execute(&self, js: &str, args: Vec<Value>) -> Value {
        match self.client.execute(js, args).await {
            Ok(value) => value,
            Err(e) => self.fail(&format!("the script failed: {e}\n{js}")).await,
        }
    }

    async fn ready_state(&self) -> Result<String, CmdError> {
        let state = self
            .client
            .execute("return document.readyState", Vec::new())
            .await?;
        Ok(state.as_str().unwrap_or_default().to_owned())
    }

    /// Panics with `what`, the current URL and the start of the page source.
    async fn fail(&self, what: &str) -> ! {
        let url = match self.client.current_url().await {
            Ok(url) => url.to_string(),
            Err(e) => format!("(unknown: {e})"),
        };
        let source = match self.client.source().await {
            Ok(source) => snippet(&source),
            Err(e) => format!("(unavailable: {e})"),
        };
        panic!("browser: {what}\n--- at {url} ---\n{source}");
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Best effort: ending the session makes chromedriver quit Chromium and reap it. The
        // driver's drop then kills whatever is left of the group.
        if !self.session_id.is_empty() && matches!(self.driver.0.try_wait(), Ok(None)) {
            delete_session(self.port, &self.session_id);
        }
    }
}

/// chromedriver's process, leader of a process group of its own that Chromium's processes
/// join. The group is killed on drop (also when a start fails or is abandoned).
struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        kill_group(&mut self.0);
    }
}

fn snippet(source: &str) -> String {
    match source.char_indices().nth(SOURCE_SNIPPET) {
        Some((end, _)) => format!("{}\n[... {} bytes in all]", &source[..end], source.len()),
        None => source.to_owned(),
    }
}

/// A port of 127.0.0.1 that was free a moment ago.
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("a bound address").port()
}

/// chromedriver in a process group of its own (Chromium's processes join it), output to
/// `log`, with `home` as its and Chromium's `HOME` and XDG directories.
fn spawn_driver(port: u16, log: &File, home: &Path) -> Driver {
    let output = || log.try_clone().expect("share the log file");
    let child = Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        .arg("--allowed-ips=127.0.0.1")
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join(".config"))
        .env("XDG_CACHE_HOME", home.join(".cache"))
        .env("XDG_DATA_HOME", home.join(".local/share"))
        .stdin(Stdio::null())
        .stdout(output())
        .stderr(output())
        .process_group(0)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {CHROMEDRIVER}: {e}"));
    Driver(child)
}

enum DriverFailure {
    /// Another process listens on the port: try another.
    PortTaken,
    Exited(std::process::ExitStatus),
    TimedOut,
}

/// Until this chromedriver listens (its log says so, so that another process on the same
/// port cannot pass for it) and `GET /status` answers ready.
async fn wait_ready(driver: &mut Child, port: u16, log: &Path) -> Result<(), DriverFailure> {
    let http = HyperClient::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    let status: http::Uri = format!("http://127.0.0.1:{port}/status")
        .parse()
        .expect("a valid URI");
    let deadline = Instant::now() + DRIVER_DEADLINE;
    let mut backoff = Duration::from_millis(10);
    loop {
        if let Ok(Some(exit)) = driver.try_wait() {
            let log = read_log(log);
            return Err(
                if log.contains("Address already in use") || log.contains("port not available") {
                    DriverFailure::PortTaken
                } else {
                    DriverFailure::Exited(exit)
                },
            );
        }
        if read_log(log).contains(DRIVER_STARTED) {
            let answer = tokio::time::timeout(Duration::from_secs(2), async {
                let response = http.get(status.clone()).await.ok()?;
                let body = response.into_body().collect().await.ok()?.to_bytes();
                serde_json::from_slice::<Value>(&body).ok()
            })
            .await;
            if let Ok(Some(answer)) = answer {
                if answer["value"]["ready"] == Value::Bool(true) {
                    return Ok(());
                }
            }
        }
        if Instant::now() >= deadline {
            return Err(DriverFailure::TimedOut);
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_millis(200));
    }
}

fn read_log(log: &Path) -> String {
    std::fs::read(log)
        .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
        .unwrap_or_else(|e| format!("(cannot read {}: {e})", log.display()))
}

/// `DELETE /session/ID` (chromedriver then quits Chromium), blocking: drop cannot await.
/// Errors are ignored: the process group is killed next anyway.
fn delete_session(port: u16, session_id: &str) {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return;
    };
    let _ = stream.set_read_timeout(Some(WAIT_DEADLINE));
    let _ = stream.set_write_timeout(Some(WAIT_DEADLINE));
    let request = format!(
        "DELETE /session/{session_id} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\
         Content-Length: 0\r\nConnection: close\r\n\r\n"
    );
    if stream.write_all(request.as_bytes()).is_err() {
        return;
    }
    // Answered once Chromium has quit. chromedriver keeps the connection open: read the
    // whole answer (headers, then Content-Length bytes), not to the end of the stream.
    let mut answer = Vec::new();
    let mut chunk = [0u8; 4096];
    while !http_answer_complete(&answer) {
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => answer.extend_from_slice(&chunk[..n]),
        }
    }
}

/// Whether `answer` holds an HTTP/1.1 answer's headers and all of its body.
fn http_answer_complete(answer: &[u8]) -> bool {
    let Some(end) = answer.windows(4).position(|w| w == b"\r\n\r\n") else {
        return false;
    };
    let headers = String::from_utf8_lossy(&answer[..end]).to_ascii_lowercase();
    let length = headers
        .lines()
        .find_map(|line| line.strip_prefix("content-length:"))
        .and_then(|value| value.trim().parse::<usize>().ok())
        .unwrap_or(0);
    answer.len() >= end + 4 + length
}

/// SIGKILL to the driver's process group (its pid), reaps the driver, then waits (briefly)
/// until no process of the group runs any more.
fn kill_group(driver: &mut Child) {
    let group = driver.id();
    let _ = Command::new("kill")
        .arg("-KILL")
        .arg("--")
        .arg(format!("-{group}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    let _ = driver.kill();
    let _ = driver.wait();
    let deadline = Instant::now() + Duration::from_secs(5);
    while group_running(group) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Whether some process of the group runs (zombies, dead but not reaped yet, do not).
fn group_running(group: u32) -> bool {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return false;
    };
    entries.flatten().any(|entry| {
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            return false;
        };
        // "PID (COMM) STATE PPID PGRP ...": COMM may hold anything, so split after its ')'.
        let Some((_, rest)) = stat.rsplit_once(')') else {
            return false;
        };
        let mut fields = rest.split_whitespace();
        let state = fields.next();
        let pgrp = fields.nth(1);
        pgrp == Some(group.to_string().as_str()) && !matches!(state, Some("Z" | "X"))
    })
}
