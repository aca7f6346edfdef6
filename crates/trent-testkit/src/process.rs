//! The one harness for the `trent` binary: a [`Launch`] says how to start `trent serve`,
//! [`Launch::start`] waits until it listens and hands back a running [`Trent`],
//! [`Launch::start_fails`] runs a start that must be refused, [`command`] runs any other
//! subcommand.
//!
//! Readiness is the server's own `trent listening on http://...` line on stdout, read as it
//! comes (no sleep, no port probing). Only what a test asks for reaches the child: every
//! `TRENT_*` variable of the test's environment is removed first.

use std::ffi::OsString;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStderr, Command, ExitStatus, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// How long a server may take to print its listening line (or to exit when it must refuse
/// to start). Generous: debug builds on a shared 2-core machine.
pub const START_DEADLINE: Duration = Duration::from_secs(60);
/// Keep at most this much of the child's stderr for failure diagnostics.
const STDERR_CAP: usize = 256 * 1024;
const LISTENING_PREFIX: &str = "trent listening on ";
const ADMIN_LISTENING_PREFIX: &str = "trent admin listening on ";

/// The `trent` binary cargo built for this test run.
///
/// Cargo puts a package's binaries next to the `deps/` directory that holds its test
/// executables (`target/<profile>/trent` beside `target/<profile>/deps/api-<hash>`): the
/// path `env!("CARGO_BIN_EXE_trent")` names in `trent-server`'s integration tests, which
/// cargo builds before running them.
pub fn trent_bin() -> PathBuf {
    let exe = std::env::current_exe().expect("the test executable's path");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("the test executable sits in <target>/<profile>/deps/");
    let bin = profile_dir.join(format!("trent{}", std::env::consts::EXE_SUFFIX));
    assert!(
        bin.is_file(),
        "{} does not exist: the trent binary is built by `cargo test -p trent-server`",
        bin.display()
    );
    bin
}

/// `trent ARGS...` with every `TRENT_*` variable of the test's environment removed (add
/// back what the test needs with `.env`), stdin closed.
pub fn command(bin: &Path) -> Command {
    let mut cmd = Command::new(bin);
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("TRENT_") {
            cmd.env_remove(name);
        }
    }
    cmd.stdin(Stdio::null());
    cmd
}

/// Runs `trent ARGS...` (see [`command`]) to its end: whether it succeeded, and its stdout
/// followed by its stderr.
pub fn run(bin: &Path, args: &[&str], envs: &[(&str, &str)]) -> (bool, String) {
    let out = command(bin)
        .args(args)
        .envs(envs.iter().copied())
        .output()
        .expect("run the trent binary");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// `trent ARGS...` of this test run's build (see [`run`]): whether it succeeded, and its
/// stdout followed by its stderr.
pub fn trent(args: &[&str]) -> (bool, String) {
    run(&trent_bin(), args, &[])
}

/// How to start one `trent serve`: `--listen 127.0.0.1:0` and `--admin-listen
/// 127.0.0.1:0` unless told otherwise, a data
/// directory if given, then the test's flags; the environment holds only what the test set,
/// and `TRENT_NO_RATE_QUOTAS=true`: tests call faster than AWS's request rates allow (AWS's
/// SDKs would retry a throttled call after a backoff; a suite should not wait for it). A
/// test of the rate quotas sets it back (`.env("TRENT_NO_RATE_QUOTAS", "false")`).
/// `TRENT_SHUTDOWN_DRAIN_MS=0` too: a SIGTERM stops at once unless a test of the drain
/// says otherwise.
#[derive(Clone, Debug)]
pub struct Launch {
    bin: PathBuf,
    listen: String,
    /// `--admin-listen`: a free port of 127.0.0.1 unless told otherwise (the default,
    /// 4598, would be shared by every server of a parallel suite).
    admin_listen: String,
    data_dir: Option<PathBuf>,
    args: Vec<OsString>,
    envs: Vec<(String, String)>,
}

impl Launch {
    /// `trent serve --listen 127.0.0.1:0` with the binary of [`trent_bin`].
    pub fn serve() -> Self {
        Self::serve_with(trent_bin())
    }

    /// `trent serve --listen 127.0.0.1:0` with this binary.
    pub fn serve_with(bin: impl Into<PathBuf>) -> Self {
        Self {
            bin: bin.into(),
            listen: "127.0.0.1:0".to_owned(),
            admin_listen: "127.0.0.1:0".to_owned(),
            data_dir: None,
            args: Vec::new(),
            envs: vec![
                ("TRENT_NO_RATE_QUOTAS".to_owned(), "true".to_owned()),
                ("TRENT_SHUTDOWN_DRAIN_MS".to_owned(), "0".to_owned()),
            ],
        }
    }

    /// Listen on this address instead of a free port of 127.0.0.1.
    pub fn listen(mut self, addr: &str) -> Self {
        addr.clone_into(&mut self.listen);
        self
    }

    /// `--admin-listen ADDR` instead of a free port of 127.0.0.1 (`off`: none).
    pub fn admin_listen(mut self, addr: &str) -> Self {
        addr.clone_into(&mut self.admin_listen);
        self
    }

    /// `--data-dir DIR`.
    pub fn data_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.data_dir = Some(dir.into());
        self
    }

    /// Further flags, after `--listen` and `--data-dir`.
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// One environment variable of the child.
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.envs.push((key.to_owned(), value.to_owned()));
        self
    }

    /// Several environment variables of the child.
    pub fn envs(mut self, envs: &[(&str, &str)]) -> Self {
        self.envs
            .extend(envs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
        self
    }

    fn spawn(&self) -> Spawned {
        let mut cmd = command(&self.bin);
        cmd.arg("serve")
            .arg("--listen")
            .arg(&self.listen)
            .arg("--admin-listen")
            .arg(&self.admin_listen);
        if let Some(dir) = &self.data_dir {
            cmd.arg("--data-dir").arg(dir);
        }
        cmd.args(&self.args)
            .envs(self.envs.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn the trent binary");
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let stderr_reader = child
            .stderr
            .take()
            .map(|pipe| collect_stderr(pipe, Arc::clone(&stderr)));
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, lines) = mpsc::channel::<String>();
        thread::spawn(move || {
            // Forward every stdout line until the test side stops listening, then keep
            // draining so that the child never blocks on a full pipe.
            let mut sender = Some(tx);
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(tx) = &sender {
                    if tx.send(line).is_err() {
                        sender = None;
                    }
                }
            }
        });
        // Until it listens, or its stdout ends (it exited), or the deadline.
        let deadline = Instant::now() + START_DEADLINE;
        let mut stdout = Vec::new();
        let ready = loop {
            match lines.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(line) => {
                    if let Some(rest) = line.trim().strip_prefix(LISTENING_PREFIX) {
                        break Ready::Listening(rest.trim().trim_end_matches('/').to_owned());
                    }
                    stdout.push(line);
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => break Ready::Exited,
                Err(mpsc::RecvTimeoutError::Timeout) => break Ready::TimedOut,
            }
        };
        Spawned {
            child,
            ready,
            stdout,
            stderr,
            stderr_reader,
        }
    }

    /// Starts the server and waits until it listens. Fails the test, with the server's
    /// output, if it exits or does not listen within [`START_DEADLINE`].
    pub fn start(&self) -> Trent {
        let Spawned {
            mut child,
            ready,
            stdout,
            stderr,
            stderr_reader,
        } = self.spawn();
        let endpoint = match ready {
            Ready::Listening(endpoint) => endpoint,
            Ready::Exited | Ready::TimedOut => {
                let _ = child.kill();
                let status = child.wait().ok();
                // The child is gone: its stderr ends, the reader finishes.
                if let Some(reader) = stderr_reader {
                    let _ = reader.join();
                }
                panic!(
                    "trent did not report `{LISTENING_PREFIX}http://...` within \
                     {START_DEADLINE:?}; exit status: {status:?}\nstdout:\n{}\nstderr:\n{}",
                    stdout.join("\n"),
                    text(&stderr)
                );
            }
        };
        let host = self.listen.rsplit_once(':').map_or("", |(host, _)| host);
        assert!(
            endpoint.starts_with(&format!("http://{host}:"))
                || endpoint.starts_with(&format!("https://{host}:")),
            "unexpected endpoint {endpoint:?} for --listen {}",
            self.listen
        );
        Trent {
            child,
            endpoint,
            stdout,
            stderr,
        }
    }

    /// Starts the server and stops it (SIGKILL) as soon as it listens, or waits for it to
    /// exit by itself: whether it listened, how it exited, and its output.
    pub fn run(&self) -> Run {
        let Spawned {
            mut child,
            ready,
            stdout,
            stderr,
            stderr_reader,
        } = self.spawn();
        let (listening, exit) = match ready {
            Ready::Listening(_) => {
                let _ = child.kill();
                let _ = child.wait();
                (true, None)
            }
            Ready::Exited => (false, Some(child.wait().expect("wait for trent"))),
            Ready::TimedOut => {
                let _ = child.kill();
                let _ = child.wait();
                if let Some(reader) = stderr_reader {
                    let _ = reader.join();
                }
                panic!(
                    "trent neither listened nor exited within {START_DEADLINE:?}\nstdout:\n{}\n\
                     stderr:\n{}",
                    stdout.join("\n"),
                    text(&stderr)
                );
            }
        };
        if let Some(reader) = stderr_reader {
            let _ = reader.join();
        }
        Run {
            listening,
            exit,
            stdout: stdout.join("\n"),
            stderr: text(&stderr),
        }
    }

    /// Runs a start that must be refused: the server exits unsuccessfully without ever
    /// listening, and says why without panicking. Returns its output.
    #[track_caller]
    pub fn start_fails(&self) -> Run {
        let run = self.run();
        assert!(
            !run.listening,
            "trent started but should have refused to; stderr: {}",
            run.stderr
        );
        assert!(
            run.exit.is_some_and(|s| !s.success()),
            "trent should have failed ({:?}); stderr: {}",
            run.exit,
            run.stderr
        );
        assert!(
            !run.stderr.contains("panicked"),
            "a panic instead of a clear message: {}",
            run.stderr
        );
        run
    }
}

enum Ready {
    Listening(String),
    Exited,
    TimedOut,
}

struct Spawned {
    child: Child,
    ready: Ready,
    stdout: Vec<String>,
    stderr: Arc<Mutex<Vec<u8>>>,
    stderr_reader: Option<JoinHandle<()>>,
}

fn collect_stderr(mut pipe: ChildStderr, buf: Arc<Mutex<Vec<u8>>>) -> JoinHandle<()> {
    thread::spawn(move || {
        let mut chunk = [0u8; 8192];
        loop {
            match pipe.read(&mut chunk) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if let Ok(mut b) = buf.lock() {
                        b.extend_from_slice(&chunk[..n]);
                        if b.len() > STDERR_CAP {
                            let excess = b.len() - STDERR_CAP;
                            b.drain(..excess);
                        }
                    }
                }
            }
        }
    })
}

fn text(buf: &Mutex<Vec<u8>>) -> String {
    buf.lock()
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default()
}

/// A `trent serve` that listens. Killed (SIGKILL) on drop.
pub struct Trent {
    child: Child,
    endpoint: String,
    stdout: Vec<String>,
    stderr: Arc<Mutex<Vec<u8>>>,
}

impl Trent {
    /// `http://127.0.0.1:PORT`, as printed by the server.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The admin listener's `http://127.0.0.1:PORT` (`/metrics`, `/healthz`, `/readyz`),
    /// from what the server printed before it listened; `None` if it has none.
    pub fn admin_endpoint(&self) -> Option<String> {
        self.stdout.iter().find_map(|l| {
            l.trim()
                .strip_prefix(ADMIN_LISTENING_PREFIX)
                .map(|e| e.trim().trim_end_matches('/').to_owned())
        })
    }

    /// What the server printed on stdout before its listening line.
    pub fn banner(&self) -> &[String] {
        &self.stdout
    }

    /// The server's stderr so far (its logs, the last 256 KiB), for failure messages.
    pub fn logs(&self) -> String {
        text(&self.stderr)
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Sends a signal by name (`"HUP"`, `"TERM"`, `"KILL"`, ...) without waiting.
    #[track_caller]
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.pid().to_string())
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{name} {} failed", self.pid());
    }

    /// SIGKILL (no graceful shutdown), then reaps the process.
    pub fn kill(&mut self) {
        // `Child::kill` is SIGKILL on Unix.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Waits for the process to exit by itself (after a signal the test sent).
    pub fn wait(&mut self) -> ExitStatus {
        self.child.wait().expect("wait for trent")
    }

    /// SIGTERM (a graceful shutdown: the server finishes its work and flushes what it keeps
    /// in memory), then waits for the exit.
    pub fn terminate(&mut self) -> ExitStatus {
        self.signal("TERM");
        self.child.wait().expect("wait for trent")
    }
}

impl Drop for Trent {
    fn drop(&mut self) {
        self.kill();
    }
}

/// How a [`Launch::run`] went.
#[derive(Debug)]
pub struct Run {
    /// It printed its listening line (and was then stopped).
    pub listening: bool,
    /// How it exited by itself; `None` when it listened and was stopped.
    pub exit: Option<ExitStatus>,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// stdout followed by stderr.
    pub fn output(&self) -> String {
        if self.stdout.is_empty() {
            self.stderr.clone()
        } else {
            format!("{}\n{}", self.stdout, self.stderr)
        }
    }
}

/// `GET base/path` over plain HTTP/1.1 (`base`: `http://HOST:PORT`, e.g. an admin
/// endpoint), the connection closed after the answer: its status and body.
#[track_caller]
pub fn http_get(base: &str, path: &str) -> (u16, String) {
    let authority = base
        .strip_prefix("http://")
        .unwrap_or_else(|| panic!("not an http:// URL: {base}"));
    let mut stream = std::net::TcpStream::connect(authority)
        .unwrap_or_else(|e| panic!("cannot connect to {authority}: {e}"));
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).unwrap();
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let (head, body) = answer
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("not an HTTP answer: {answer:?}"));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status in {head:?}"));
    // A chunked body (no Content-Length) is de-chunked.
    let chunked = head.lines().any(|l| {
        l.to_ascii_lowercase()
            .starts_with("transfer-encoding: chunked")
    });
    let body = if chunked {
        dechunk(body)
    } else {
        body.to_owned()
    };
    (status, body)
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        body = rest[n..].trim_start_matches("\r\n");
    }
    out
}
