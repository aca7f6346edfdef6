//! The cluster harness: fresh PostgreSQL databases, `trent serve` nodes on them (each with
//! its own data directory holding a copy of one root key), SDK clients, and a private
//! PostgreSQL server that a test may crash and restart.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use aws_sdk_kms::config::retry::RetryConfig;
use aws_sdk_kms::config::timeout::TimeoutConfig;
use aws_sdk_kms::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_kms::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_kms::Client;
use sqlx::{Connection, PgConnection};
use tempfile::TempDir;

pub const URL_VAR: &str = "TRENT_TEST_POSTGRES_URL";
pub const REGION: &str = "us-east-1";
/// Pinned administrator credentials: every node of a test knows them, whichever node
/// created the administrator.
pub const ADMIN_KEY_ID: &str = "AKIACLUSTERTESTADMIN";
pub const ADMIN_SECRET: &str = "cluster-test-secret-access-key-0123456789";
const START_DEADLINE: Duration = Duration::from_secs(60);
const LISTENING_PREFIX: &str = "trent listening on ";

/// The base URL, or `None` after printing that the test is skipped.
pub fn base_url(test: &str) -> Option<String> {
    match std::env::var(URL_VAR) {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            // Straight to the process's stderr, past libtest's capture: a skip must show.
            use std::io::Write as _;
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED {test}: {URL_VAR} is not set (multi-node tests need PostgreSQL)"
            );
            None
        }
    }
}

/// `url` with its database name replaced.
pub fn with_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let (scheme, rest) = base.split_once("://").expect("a URL");
    let host = rest.split('/').next().expect("a host");
    match query {
        Some(q) => format!("{scheme}://{host}/{database}?{q}"),
        None => format!("{scheme}://{host}/{database}"),
    }
}

/// A database of its own, dropped at the end of the test.
pub struct Db {
    pub url: String,
    admin_url: String,
    name: String,
}

impl Db {
    pub async fn create(admin_url: &str) -> Db {
        let name = format!("trent_cluster_{}", uuid::Uuid::new_v4().simple());
        let mut conn = PgConnection::connect(admin_url)
            .await
            .unwrap_or_else(|e| panic!("{URL_VAR}={admin_url} is set but unreachable: {e}"));
        sqlx::query(&format!("CREATE DATABASE \"{name}\""))
            .execute(&mut conn)
            .await
            .unwrap();
        conn.close().await.unwrap();
        Db {
            url: with_database(admin_url, &name),
            admin_url: admin_url.to_owned(),
            name,
        }
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        let (url, name) = (self.admin_url.clone(), self.name.clone());
        let _ = thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                if let Ok(mut conn) = PgConnection::connect(&url).await {
                    let _ =
                        sqlx::query(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                            .execute(&mut conn)
                            .await;
                }
            });
        })
        .join();
    }
}

/// A root key file for a cluster (every node gets a copy).
pub fn new_root_key(dir: &Path) -> PathBuf {
    let path = dir.join("root.key");
    trent_crypto::FileRootKey::create(&path).unwrap();
    path
}

/// A `trent serve` process. Killed (SIGKILL) on drop.
pub struct Node {
    child: Child,
    pub endpoint: String,
    stderr: Arc<Mutex<Vec<u8>>>,
    pub dir: TempDir,
}

impl Node {
    /// A node on `database_url` (`None`: SQLite in its data directory) with a copy of
    /// `root_key` (if given), pinned administrator credentials and `args`.
    pub fn start(database_url: Option<&str>, root_key: Option<&Path>, args: &[&str]) -> Node {
        let dir = tempfile::Builder::new()
            .prefix("trent-cluster-")
            .tempdir()
            .unwrap();
        if let Some(root_key) = root_key {
            std::fs::copy(root_key, dir.path().join("root.key")).unwrap();
        }
        Self::start_in(dir, database_url, args)
    }

    /// A node on an existing data directory.
    pub fn start_in(dir: TempDir, database_url: Option<&str>, args: &[&str]) -> Node {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_trent"));
        cmd.arg("serve")
            .arg("--listen")
            .arg("127.0.0.1:0")
            .arg("--data-dir")
            .arg(dir.path())
            .args(args)
            .env_remove("TRENT_DATABASE_URL")
            .env_remove("TRENT_CACHE_TTL_MS")
            .env("TRENT_ADMIN_ACCESS_KEY_ID", ADMIN_KEY_ID)
            .env("TRENT_ADMIN_SECRET_ACCESS_KEY", ADMIN_SECRET)
            .env("TRENT_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(url) = database_url {
            cmd.arg("--database-url").arg(url);
        }
        let mut child = cmd.spawn().expect("spawn trent");
        let stderr = Arc::new(Mutex::new(Vec::new()));
        if let Some(mut pipe) = child.stderr.take() {
            let buf = stderr.clone();
            thread::spawn(move || {
                let mut chunk = [0u8; 8192];
                while let Ok(n) = pipe.read(&mut chunk) {
                    if n == 0 {
                        break;
                    }
                    let mut b = buf.lock().unwrap();
                    b.extend_from_slice(&chunk[..n]);
                    if b.len() > 256 * 1024 {
                        let excess = b.len() - 256 * 1024;
                        b.drain(..excess);
                    }
                }
            });
        }
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel::<String>();
        thread::spawn(move || {
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
        let deadline = Instant::now() + START_DEADLINE;
        let endpoint = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) => {
                    if let Some(addr) = line.strip_prefix(LISTENING_PREFIX) {
                        break addr.trim().to_owned();
                    }
                }
                Err(_) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    let logs = String::from_utf8_lossy(&stderr.lock().unwrap()).into_owned();
                    panic!("trent did not start: {logs}");
                }
            }
        };
        Node {
            child,
            endpoint,
            stderr,
            dir,
        }
    }

    pub fn client(&self) -> Client {
        sdk_client(&self.endpoint)
    }

    /// A client of this node signing for another region.
    pub fn client_in(&self, region: &str) -> Client {
        sdk_client_in(&self.endpoint, region)
    }

    pub fn logs(&self) -> String {
        String::from_utf8_lossy(&self.stderr.lock().unwrap()).into_owned()
    }

    /// SIGKILL: no graceful shutdown.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Kills the node and hands its data directory back.
    pub fn into_dir(mut self) -> TempDir {
        self.kill();
        std::mem::replace(&mut self.dir, tempfile::tempdir().unwrap())
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill();
    }
}

/// An SDK client with the pinned administrator credentials, no retries (each test decides
/// how to retry) and bounded timeouts.
pub fn sdk_client(endpoint: &str) -> Client {
    sdk_client_in(endpoint, REGION)
}

/// [`sdk_client`] for another region.
pub fn sdk_client_in(endpoint: &str, region: &str) -> Client {
    let config = aws_sdk_kms::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(region.to_owned()))
        .endpoint_url(endpoint)
        .credentials_provider(Credentials::new(
            ADMIN_KEY_ID,
            ADMIN_SECRET,
            None,
            None,
            "trent-cluster-tests",
        ))
        .retry_config(RetryConfig::disabled())
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(5))
                .operation_timeout(Duration::from_secs(30))
                .build(),
        )
        .build();
    Client::from_conf(config)
}

/// The AWS error code of a failed call, or `"transport"` when no HTTP answer came.
pub fn error_code<E: ProvideErrorMetadata, R>(err: &SdkError<E, R>) -> String {
    match err {
        SdkError::ServiceError(e) => e.err().code().unwrap_or("(no code)").to_owned(),
        _ => "transport".to_owned(),
    }
}

/// Polls `probe` in a tight loop until it returns `true` or `deadline` passes; returns the
/// time it took. Fails the test at the deadline.
pub async fn converges<F, Fut>(what: &str, deadline: Duration, mut probe: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    loop {
        if probe().await {
            let took = start.elapsed();
            eprintln!("PROPAGATION {what}: {took:?}");
            return took;
        }
        assert!(
            start.elapsed() < deadline,
            "{what} did not reach the other node within {deadline:?}"
        );
        tokio::task::yield_now().await;
    }
}

/// A PostgreSQL server of this test's own (initdb in a temporary directory, a free port),
/// which the test may crash and restart without disturbing the shared one.
pub struct PrivatePostgres {
    dir: TempDir,
    pub port: u16,
    child: Option<Child>,
}

const PG_BIN: &str = "/usr/lib/postgresql/15/bin";

fn running_as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// `bin args...`, as the `postgres` OS user when running as root (PostgreSQL refuses to
/// run as root).
fn pg_command(bin: &str) -> Command {
    let path = format!("{PG_BIN}/{bin}");
    if running_as_root() {
        let mut cmd = Command::new("runuser");
        cmd.args(["-u", "postgres", "--", &path]);
        cmd
    } else {
        Command::new(path)
    }
}

impl PrivatePostgres {
    /// `None` (after printing why) if this machine has no PostgreSQL binaries.
    pub fn init() -> Option<PrivatePostgres> {
        if !Path::new(PG_BIN).join("initdb").exists() {
            eprintln!("SKIPPED: no PostgreSQL binaries in {PG_BIN}");
            return None;
        }
        let dir = tempfile::Builder::new()
            .prefix("trent-pg-")
            .tempdir()
            .unwrap();
        if running_as_root() {
            let status = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(dir.path())
                .status()
                .unwrap();
            assert!(status.success(), "chown the private PostgreSQL directory");
        }
        let data = dir.path().join("data");
        let out = pg_command("initdb")
            .args(["-A", "trust", "-U", "postgres", "--no-sync", "-D"])
            .arg(&data)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "initdb failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut pg = PrivatePostgres {
            dir,
            port,
            child: None,
        };
        pg.start();
        Some(pg)
    }

    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Starts the server and waits until it accepts connections.
    pub fn start(&mut self) {
        let data = self.dir.path().join("data");
        let child = pg_command("postgres")
            .arg("-D")
            .arg(&data)
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "-k"])
            .arg(self.dir.path())
            .args(["-c", "fsync=off", "-c", "max_connections=200"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let ready = Command::new(format!("{PG_BIN}/pg_isready"))
                .args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "-q"])
                .status()
                .map(|s| s.success())
                .unwrap_or(false);
            if ready {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "private PostgreSQL did not start"
            );
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stops the server the way a crash does: `pg_ctl stop -m immediate` makes every
    /// process quit at once without a checkpoint, so the next start runs crash recovery
    /// (<https://www.postgresql.org/docs/15/app-pg-ctl.html>).
    pub fn crash(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = pg_command("pg_ctl")
                .arg("-D")
                .arg(self.dir.path().join("data"))
                .args(["-m", "immediate", "-w", "stop"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
            let _ = child.kill();
            let _ = child.wait();
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
            assert!(Instant::now() < deadline, "private PostgreSQL did not stop");
            thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        self.crash();
        // Orphaned backends exit by themselves once the postmaster is gone; the data
        // directory goes with the TempDir.
    }
}
