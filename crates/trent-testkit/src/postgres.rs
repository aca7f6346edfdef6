//! The PostgreSQL fixture: a fresh schema or database per test on the server that
//! `TRENT_TEST_POSTGRES_URL` names (e.g. `postgres://postgres@127.0.0.1:5432/test`), dropped
//! when the test ends, and a private server a test may crash and restart.
//!
//! Without the variable a test prints that it was skipped and passes, so that a checkout
//! without PostgreSQL still tests; under CI (`CI` set, as `.ci/run` and CI services do) a
//! missing variable fails instead, and a URL that is set but unreachable always fails.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::str::FromStr;
use std::thread;
use std::time::{Duration, Instant};

use sqlx::postgres::PgConnectOptions;
use sqlx::{Connection, PgConnection};
use tempfile::TempDir;

pub const URL_VAR: &str = "TRENT_TEST_POSTGRES_URL";

/// The server's URL, or `None` after printing that `what` is skipped. Fails the test when
/// the variable is missing under CI.
#[track_caller]
pub fn url(what: &str) -> Option<String> {
    match std::env::var(URL_VAR) {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            let ci = std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0");
            assert!(
                !ci,
                "{what}: {URL_VAR} is not set, and CI requires the PostgreSQL tests to run"
            );
            // Straight to the process's stderr, past libtest's capture: a skip must show.
            use std::io::Write as _;
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED {what}: {URL_VAR} is not set (it needs PostgreSQL)"
            );
            None
        }
    }
}

async fn admin_connection(url: &str) -> PgConnection {
    PgConnection::connect(url)
        .await
        .unwrap_or_else(|e| panic!("{URL_VAR}={url} is set but unreachable: {e}"))
}

/// Runs `statement` on `url` from a thread of its own with a private runtime: `Drop` runs
/// outside any runtime the test may still be using. Best effort (a leftover schema or
/// database is harmless).
fn execute_detached(url: &str, statement: String) {
    let url = url.to_owned();
    let _ = thread::spawn(move || {
        let Ok(rt) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        else {
            return;
        };
        rt.block_on(async {
            if let Ok(mut conn) = PgConnection::connect(&url).await {
                let _ = sqlx::query(&statement).execute(&mut conn).await;
            }
        });
    })
    .join();
}

/// A schema of its own, dropped (with everything in it) when the test ends. Connections
/// made with [`Schema::options`] see only it (`search_path`).
pub struct Schema {
    url: String,
    name: String,
    options: PgConnectOptions,
}

impl Schema {
    /// A new schema named `<prefix><uuid>`.
    pub async fn create(url: &str, prefix: &str) -> Schema {
        let name = format!("{prefix}{}", uuid::Uuid::new_v4().simple());
        let mut conn = admin_connection(url).await;
        sqlx::query(&format!("CREATE SCHEMA \"{name}\""))
            .execute(&mut conn)
            .await
            .unwrap();
        conn.close().await.unwrap();
        let options = PgConnectOptions::from_str(url)
            .unwrap()
            .options([("search_path", name.as_str())]);
        Schema {
            url: url.to_owned(),
            name,
            options,
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Connection options whose `search_path` is this schema.
    pub fn options(&self) -> PgConnectOptions {
        self.options.clone()
    }

    /// One connection into this schema.
    pub async fn conn(&self) -> PgConnection {
        PgConnection::connect_with(&self.options).await.unwrap()
    }
}

impl Drop for Schema {
    fn drop(&mut self) {
        execute_detached(
            &self.url,
            format!("DROP SCHEMA IF EXISTS \"{}\" CASCADE", self.name),
        );
    }
}

/// A database of its own (for processes that take a URL, such as `trent serve
/// --database-url`), dropped at the end of the test.
pub struct Database {
    pub url: String,
    admin_url: String,
    name: String,
}

impl Database {
    /// A new database named `<prefix><uuid>` on the server of `admin_url`.
    pub async fn create(admin_url: &str, prefix: &str) -> Database {
        let name = format!("{prefix}{}", uuid::Uuid::new_v4().simple());
        let mut conn = admin_connection(admin_url).await;
        sqlx::query(&format!("CREATE DATABASE \"{name}\""))
            .execute(&mut conn)
            .await
            .unwrap();
        conn.close().await.unwrap();
        Database {
            url: with_database(admin_url, &name),
            admin_url: admin_url.to_owned(),
            name,
        }
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        execute_detached(
            &self.admin_url,
            format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.name),
        );
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

    /// Starts the server and waits until it accepts connections (polling `pg_isready`).
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
