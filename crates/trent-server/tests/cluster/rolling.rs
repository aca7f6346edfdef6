//! A rolling restart of a PostgreSQL cluster behind a load balancer loses no request: load
//! runs through the balancer while each node in turn gets SIGTERM (it drains: readiness
//! 503, its connections closed after their request; then stops, exit 0) and starts again.
//!
//! The balancer is the test's own: a TCP proxy that sends each new client connection to
//! the next node whose `/readyz` answered 200 at its last poll (every 20 ms), trying the
//! next one if a connection is refused, as load balancers do.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_kms::primitives::Blob;
use parking_lot::Mutex;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use trent_testkit::cluster::{client, Node};
use trent_testkit::postgres::{self, Database};

use crate::new_root_key;

/// The nodes' drain: longer than the balancer takes to notice a 503 (one poll).
const DRAIN_MS: &str = "1000";

struct Backend {
    addr: SocketAddr,
    admin: String,
    ready: Arc<AtomicBool>,
    gone: Arc<AtomicBool>,
}

#[derive(Default)]
struct Balancer {
    backends: Mutex<Vec<Arc<Backend>>>,
    next: AtomicUsize,
}

impl Balancer {
    /// Adds a node and polls its readiness until it is removed.
    fn add(&self, endpoint: &str, admin: String) -> Arc<Backend> {
        let backend = Arc::new(Backend {
            addr: endpoint.strip_prefix("http://").unwrap().parse().unwrap(),
            admin,
            ready: Arc::new(AtomicBool::new(false)),
            gone: Arc::new(AtomicBool::new(false)),
        });
        let polled = backend.clone();
        tokio::spawn(async move {
            while !polled.gone.load(Ordering::Relaxed) {
                let ready = readyz(&polled.admin).await == Some(200);
                polled.ready.store(ready, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        });
        self.backends.lock().push(backend.clone());
        backend
    }

    fn remove(&self, backend: &Arc<Backend>) {
        backend.gone.store(true, Ordering::Relaxed);
        backend.ready.store(false, Ordering::Relaxed);
        self.backends.lock().retain(|b| !Arc::ptr_eq(b, backend));
    }

    /// The ready nodes, starting with the next in turn.
    fn candidates(&self) -> Vec<SocketAddr> {
        let backends = self.backends.lock();
        let ready: Vec<SocketAddr> = backends
            .iter()
            .filter(|b| b.ready.load(Ordering::Relaxed))
            .map(|b| b.addr)
            .collect();
        if ready.is_empty() {
            return ready;
        }
        let start = self.next.fetch_add(1, Ordering::Relaxed) % ready.len();
        ready[start..]
            .iter()
            .chain(&ready[..start])
            .copied()
            .collect()
    }

    async fn serve(self: Arc<Self>, listener: TcpListener) {
        loop {
            let Ok((mut inbound, _)) = listener.accept().await else {
                continue;
            };
            let balancer = self.clone();
            tokio::spawn(async move {
                for addr in balancer.candidates() {
                    if let Ok(mut outbound) = TcpStream::connect(addr).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                        return;
                    }
                }
                // No node takes it: the client sees its connection closed.
            });
        }
    }
}

/// `GET /readyz` of an admin endpoint: its status, `None` if unreachable.
async fn readyz(admin: &str) -> Option<u16> {
    let authority = admin.strip_prefix("http://")?;
    let mut stream = tokio::time::timeout(Duration::from_secs(2), TcpStream::connect(authority))
        .await
        .ok()?
        .ok()?;
    stream
        .write_all(
            format!("GET /readyz HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        )
        .await
        .ok()?;
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut answer))
        .await
        .ok()?
        .ok()?;
    let text = String::from_utf8_lossy(&answer);
    text.split(' ').nth(1)?.parse().ok()
}

async fn wait_ready(backend: &Backend) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !backend.ready.load(Ordering::Relaxed) {
        assert!(Instant::now() < deadline, "a node never became ready");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_rolling_restart_behind_a_load_balancer_loses_no_request() {
    let Some(url) = postgres::url("a_rolling_restart_behind_a_load_balancer_loses_no_request")
    else {
        return;
    };
    let db = Database::create(&url, "rolling").await;
    let work = tempfile::tempdir().unwrap();
    let root = new_root_key(work.path());
    let args = ["--shutdown-drain-ms", DRAIN_MS];
    let mut nodes = vec![
        Node::start(Some(&db.url), Some(&root), &args),
        Node::start(Some(&db.url), Some(&root), &args),
    ];
    let balancer = Arc::new(Balancer::default());
    let mut backends: Vec<Arc<Backend>> = nodes
        .iter()
        .map(|n| balancer.add(n.endpoint(), n.admin_endpoint()))
        .collect();
    for b in &backends {
        wait_ready(b).await;
    }
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let front = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(balancer.clone().serve(listener));

    let key = client(&front)
        .create_key()
        .send()
        .await
        .unwrap()
        .key_metadata
        .unwrap()
        .key_id;
    let stop = Arc::new(AtomicBool::new(false));
    let answered = Arc::new(AtomicU64::new(0));
    let failures = Arc::new(Mutex::new(Vec::<String>::new()));
    let mut workers = Vec::new();
    for w in 0..6 {
        let (front, key) = (front.clone(), key.clone());
        let (stop, answered, failures) = (stop.clone(), answered.clone(), failures.clone());
        workers.push(tokio::spawn(async move {
            let client = client(&front);
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                i += 1;
                let plaintext = format!("worker {w} request {i}");
                let result = async {
                    if i.is_multiple_of(10) {
                        client.create_key().send().await.map_err(|e| {
                            format!("CreateKey: {}", aws_sdk_kms::error::DisplayErrorContext(e))
                        })?;
                    }
                    let sealed = client
                        .encrypt()
                        .key_id(&key)
                        .plaintext(Blob::new(plaintext.clone().into_bytes()))
                        .send()
                        .await
                        .map_err(|e| {
                            format!("Encrypt: {}", aws_sdk_kms::error::DisplayErrorContext(e))
                        })?;
                    let opened = client
                        .decrypt()
                        .ciphertext_blob(sealed.ciphertext_blob.unwrap())
                        .send()
                        .await
                        .map_err(|e| {
                            format!("Decrypt: {}", aws_sdk_kms::error::DisplayErrorContext(e))
                        })?;
                    assert_eq!(opened.plaintext.unwrap().as_ref(), plaintext.as_bytes());
                    Ok::<(), String>(())
                }
                .await;
                match result {
                    Ok(()) => {
                        answered.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(e) => failures.lock().push(e),
                }
            }
        }));
    }

    // Restart each node in turn under load.
    let at_least = |n: u64| {
        let answered = answered.clone();
        async move {
            let deadline = Instant::now() + Duration::from_secs(60);
            let from = answered.load(Ordering::Relaxed);
            while answered.load(Ordering::Relaxed) < from + n {
                assert!(Instant::now() < deadline, "the load stalled");
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    };
    at_least(50).await;
    let mut drained = Vec::new();
    for (i, backend) in backends.iter_mut().enumerate() {
        let node = nodes.remove(i);
        let (status, dir, logs) = tokio::task::spawn_blocking(move || node.terminate())
            .await
            .unwrap();
        assert!(status.success(), "SIGTERM exited with {status}:\n{logs}");
        drained.push(logs);
        balancer.remove(backend);
        let restarted = Node::start_in(dir, Some(&db.url), &args);
        let replacement = balancer.add(restarted.endpoint(), restarted.admin_endpoint());
        wait_ready(&replacement).await;
        *backend = replacement;
        nodes.insert(i, restarted);
        at_least(50).await;
    }
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.await.unwrap();
    }
    let failures = failures.lock().clone();
    let answered = answered.load(Ordering::Relaxed);
    eprintln!(
        "ROLLING RESTART: {answered} Encrypt+Decrypt pairs answered, {} failed",
        failures.len()
    );
    assert!(
        failures.is_empty(),
        "requests failed during the rolling restart: {failures:#?}\nlogs of the stopped nodes:\n{}",
        drained.join("\n---\n")
    );
}
