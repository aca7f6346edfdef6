//! The disk watermark: below `min_free_disk_bytes` of free space where the data directory
//! lives (the SQLite store, the audit trail's files), state-changing requests are refused
//! with `KMSInternalException` before the disk is full, while read-only requests (Encrypt,
//! Decrypt, Describe..., whose audit events are small) go on being served as long as
//! events can be written. `/readyz` and the metrics say so. Free space is read every
//! second; if it cannot be read, the disk counts as low (fail closed).

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// How often the free space is read.
const EVERY: Duration = Duration::from_secs(1);

#[derive(Debug)]
pub struct DiskGuard {
    dir: PathBuf,
    /// 0: no watermark.
    min_free: u64,
    low: AtomicBool,
    free: AtomicU64,
}

impl DiskGuard {
    /// Watches the file system of `dir`; reads it once now.
    pub fn new(dir: PathBuf, min_free: u64) -> Arc<DiskGuard> {
        let guard = Arc::new(DiskGuard {
            dir,
            min_free,
            low: AtomicBool::new(false),
            free: AtomicU64::new(0),
        });
        guard.check();
        guard
    }

    /// Whether state-changing requests are refused.
    pub fn low(&self) -> bool {
        self.low.load(Ordering::Relaxed)
    }

    /// Why, for `/readyz`, when [`DiskGuard::low`].
    pub fn reason(&self) -> Option<String> {
        self.low().then(|| {
            format!(
                "{} bytes free on the file system of {}, below min_free_disk_bytes {}: state-changing requests are refused",
                self.free.load(Ordering::Relaxed),
                self.dir.display(),
                self.min_free
            )
        })
    }

    /// Reads the free space and updates the state (and the metrics).
    pub fn check(&self) {
        if self.min_free == 0 {
            return;
        }
        let free = match rustix::fs::statvfs(&self.dir) {
            Ok(s) => Some(s.f_bavail.saturating_mul(s.f_frsize)),
            Err(e) => {
                tracing::error!(dir = %self.dir.display(), error = %e, "cannot read the free disk space; refusing state-changing requests until it can be read");
                None
            }
        };
        let low = free.is_none_or(|f| f < self.min_free);
        self.free.store(free.unwrap_or(0), Ordering::Relaxed);
        let was = self.low.swap(low, Ordering::Relaxed);
        if low && !was {
            tracing::error!(free = free.unwrap_or(0), min_free = self.min_free, dir = %self.dir.display(), "disk space below min_free_disk_bytes: refusing state-changing requests");
        } else if was && !low {
            tracing::warn!(
                free = free.unwrap_or(0),
                "disk space back above min_free_disk_bytes: serving every request"
            );
        }
        metrics::gauge!("trent_disk_free_bytes").set(free.unwrap_or(0) as f64);
        metrics::gauge!("trent_disk_low").set(if low { 1.0 } else { 0.0 });
    }

    /// Reads the free space every second, for as long as the server runs.
    pub async fn watch(self: Arc<Self>) {
        if self.min_free == 0 {
            return;
        }
        let mut ticks = tokio::time::interval(EVERY);
        loop {
            ticks.tick().await;
            self.check();
        }
    }
}

/// The answer to a state-changing request while the disk is low.
pub fn refusal() -> crate::stage::WireFailure {
    crate::stage::WireFailure::new(
        trent_wire::ErrorCode::KMSInternalException,
        "The request was rejected because this node is low on disk space; read-only requests are still served.",
    )
}
