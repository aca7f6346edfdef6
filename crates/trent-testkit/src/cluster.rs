//! Cluster nodes: `trent serve` processes on one PostgreSQL database (or SQLite in their
//! data directory), each with its own data directory holding a copy of one root key, all
//! knowing the same pinned administrator credentials.

use std::path::Path;

use aws_sdk_kms::Client;
use tempfile::TempDir;

use crate::process::{Launch, Trent};
use crate::sdk::{self, REGION};

/// Pinned administrator credentials: every node of a test knows them, whichever node
/// created the administrator.
pub const ADMIN_KEY_ID: &str = "AKIACLUSTERTESTADMIN";
pub const ADMIN_SECRET: &str = "cluster-test-secret-access-key-0123456789";

/// A `trent serve` node. Killed (SIGKILL) on drop.
pub struct Node {
    // First field: killed before the data directory goes.
    process: Trent,
    dir: TempDir,
}

impl Node {
    /// How a node on `dir` and `database_url` (`None`: SQLite in its data directory) starts:
    /// pinned administrator credentials, warnings only in its log, then `args`.
    pub fn launch(dir: &Path, database_url: Option<&str>, args: &[&str]) -> Launch {
        let mut launch = Launch::serve()
            .data_dir(dir)
            .args(args.iter().copied())
            .env("TRENT_ADMIN_ACCESS_KEY_ID", ADMIN_KEY_ID)
            .env("TRENT_ADMIN_SECRET_ACCESS_KEY", ADMIN_SECRET)
            .env("TRENT_LOG", "warn");
        if let Some(url) = database_url {
            launch = launch.args(["--database-url", url]);
        }
        launch
    }

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
        let process = Self::launch(dir.path(), database_url, args).start();
        Node { process, dir }
    }

    /// `http://127.0.0.1:PORT`, as printed by the node.
    pub fn endpoint(&self) -> &str {
        self.process.endpoint()
    }

    /// The admin listener's `http://127.0.0.1:PORT` (`/metrics`, `/healthz`, `/readyz`).
    #[track_caller]
    pub fn admin_endpoint(&self) -> String {
        self.process
            .admin_endpoint()
            .expect("the server has an admin listener")
    }

    pub fn data_dir(&self) -> &Path {
        self.dir.path()
    }

    /// A client signing for [`REGION`] with the pinned administrator credentials.
    pub fn client(&self) -> Client {
        client(self.endpoint())
    }

    /// A client of this node signing for another region.
    pub fn client_in(&self, region: &str) -> Client {
        sdk::client(self.endpoint(), region, ADMIN_KEY_ID, ADMIN_SECRET)
    }

    pub fn logs(&self) -> String {
        self.process.logs()
    }

    /// SIGKILL: no graceful shutdown.
    pub fn kill(&mut self) {
        self.process.kill();
    }

    /// SIGTERM (a graceful shutdown), waits for the exit: how it exited, and its data
    /// directory and log.
    pub fn terminate(self) -> (std::process::ExitStatus, TempDir, String) {
        let Node { mut process, dir } = self;
        let status = process.terminate();
        let logs = process.logs();
        (status, dir, logs)
    }

    /// Kills the node and hands its data directory back.
    pub fn into_dir(self) -> TempDir {
        let Node { mut process, dir } = self;
        process.kill();
        dir
    }
}

/// An SDK client of `endpoint` signing for [`REGION`] with the pinned administrator
/// credentials.
pub fn client(endpoint: &str) -> Client {
    sdk::client(endpoint, REGION, ADMIN_KEY_ID, ADMIN_SECRET)
}
