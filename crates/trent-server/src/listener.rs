//! The HTTP server loop, bounded against slow and numerous clients (slowloris): a
//! connection whose request headers do not all arrive within the header read timeout is
//! closed (an HTTP/2 connection: one with no request in flight for that long, and its TLS
//! handshake must complete within it too); a request whose body does not all arrive within
//! the body read timeout (counted from its headers) fails and its connection closes; at
//! most `max_connections` connections are served at once, further ones wait in the
//! kernel's listen backlog.
//!
//! Plain connections speak HTTP/1.1; TLS connections HTTP/2 or HTTP/1.1, as ALPN chose.
//! Every request carries its connection's [`Peer`].

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use http_body::{Frame, SizeHint};
use hyper::body::{Bytes, Incoming};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};

use crate::tls::ReloadingTls;

/// The limits of [`serve`].
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub header_read_timeout: Duration,
    pub body_read_timeout: Duration,
    pub max_connections: usize,
}

/// The connection a request came on (a request extension).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Peer {
    /// The address the connection came from.
    pub addr: SocketAddr,
    /// Whether it is a TLS connection.
    pub tls: bool,
}

/// How long a graceful shutdown waits for requests in flight, by default.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);
/// Streams an HTTP/2 connection may have open at once.
const H2_MAX_STREAMS: u32 = 128;
/// The largest header block an HTTP/2 request may send (HTTP/1.1's is hyper's 100 headers
/// in a 400 KiB buffer).
const H2_MAX_HEADER_LIST: u32 = 64 * 1024;

/// The server's way down, shared by its listeners: first it *drains* (still accepting and
/// serving, but telling clients to go elsewhere: `/readyz` answers 503, every HTTP/1.1
/// response closes its connection, HTTP/2 connections get a GOAWAY), then it *stops*
/// (accepts no more, lets the requests in flight finish, closes idle connections).
#[derive(Debug)]
pub struct Lifecycle {
    draining: AtomicBool,
    drain: watch::Sender<bool>,
    stop: watch::Sender<bool>,
}

impl Lifecycle {
    pub fn new() -> Arc<Lifecycle> {
        Arc::new(Lifecycle {
            draining: AtomicBool::new(false),
            drain: watch::channel(false).0,
            stop: watch::channel(false).0,
        })
    }

    /// Whether the server is on its way down (draining or stopped).
    pub fn draining(&self) -> bool {
        self.draining.load(Ordering::Relaxed)
    }

    pub fn start_draining(&self) {
        self.draining.store(true, Ordering::Relaxed);
        self.drain.send_replace(true);
    }

    /// Drains (if not yet) and stops.
    pub fn stop(&self) {
        self.start_draining();
        self.stop.send_replace(true);
    }

    fn on_drain(&self) -> watch::Receiver<bool> {
        self.drain.subscribe()
    }

    fn on_stop(&self) -> watch::Receiver<bool> {
        self.stop.subscribe()
    }
}

/// Waits until `rx` holds `true` (or its sender is gone).
async fn until(mut rx: watch::Receiver<bool>) {
    while !*rx.borrow_and_update() {
        if rx.changed().await.is_err() {
            return;
        }
    }
}

/// Serves `app` on `listener` (over TLS when `tls` is given) until `lifecycle` stops,
/// then lets the requests in flight finish for up to `grace`: connections stop being
/// accepted, kept-alive ones close after their request in flight (HTTP/2: a GOAWAY, sent
/// when draining starts), and whatever is still open after the grace is dropped.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    tls: Option<Arc<ReloadingTls>>,
    lifecycle: Arc<Lifecycle>,
    grace: Duration,
) {
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let mut http1 = hyper::server::conn::http1::Builder::new();
    http1
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    let mut http2 = hyper::server::conn::http2::Builder::new(TokioExecutor::new());
    http2
        .timer(TokioTimer::new())
        .max_concurrent_streams(H2_MAX_STREAMS)
        .max_header_list_size(H2_MAX_HEADER_LIST);
    let stopped = until(lifecycle.on_stop());
    tokio::pin!(stopped);
    loop {
        // A free slot first: past the limit, connections wait in the backlog.
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => break,
            },
            () = &mut stopped => break,
        };
        let (tcp, remote) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // E.g. out of file descriptors: wait for connections to close rather
                    // than spin.
                    tracing::warn!(error = %e, "cannot accept a connection");
                    drop(slot);
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut stopped => break,
        };
        // Small request/response pairs: never let Nagle's algorithm hold a response back.
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "cannot set TCP_NODELAY");
        }
        let peer = Peer {
            addr: remote,
            tls: tls.is_some(),
        };
        let app = app.clone();
        let (http1, http2) = (http1.clone(), http2.clone());
        let acceptor = tls.as_ref().map(|t| (t.acceptor(), t.listener_name()));
        let lifecycle = lifecycle.clone();
        let body_timeout = limits.body_read_timeout;
        let idle_limit = limits.header_read_timeout;
        tokio::spawn(async move {
            let served = match acceptor {
                None => {
                    let service = service(app, peer, body_timeout, None, lifecycle.clone());
                    drive(
                        http1.serve_connection(TokioIo::new(tcp), service),
                        lifecycle.on_stop(),
                        None,
                    )
                    .await
                }
                Some((acceptor, name)) => {
                    let handshake = tokio::time::timeout(idle_limit, acceptor.accept(tcp)).await;
                    crate::telemetry::tls_handshake(name, matches!(handshake, Ok(Ok(_))));
                    match handshake {
                        Ok(Ok(stream)) => {
                            let h2 = stream.get_ref().1.alpn_protocol() == Some(b"h2");
                            let io = TokioIo::new(stream);
                            if h2 {
                                // HTTP/2 drains by GOAWAY; its idleness is tracked here.
                                let activity = Arc::new(Activity::default());
                                let service = service(
                                    app,
                                    peer,
                                    body_timeout,
                                    Some(activity.clone()),
                                    lifecycle.clone(),
                                );
                                drive(
                                    http2.serve_connection(io, service),
                                    lifecycle.on_drain(),
                                    Some((activity, idle_limit)),
                                )
                                .await
                            } else {
                                let service =
                                    service(app, peer, body_timeout, None, lifecycle.clone());
                                drive(
                                    http1.serve_connection(io, service),
                                    lifecycle.on_stop(),
                                    None,
                                )
                                .await
                            }
                        }
                        Ok(Err(e)) => {
                            tracing::debug!(error = %e, %remote, "TLS handshake failed");
                            Ok(())
                        }
                        Err(_) => {
                            tracing::debug!(%remote, "TLS handshake timed out");
                            Ok(())
                        }
                    }
                }
            };
            if let Err(e) = served {
                tracing::debug!(error = %e, %remote, "connection ended");
            }
            drop(slot);
        });
    }
    drop(listener);
    // Every connection holds a slot until it ends: all slots free means all are done.
    let all = u32::try_from(limits.max_connections).unwrap_or(u32::MAX);
    if tokio::time::timeout(grace, slots.acquire_many(all))
        .await
        .is_err()
    {
        tracing::warn!("requests still in flight after {grace:?}; stopping anyway");
    }
}

/// The service of one connection: each request gets its body deadline and its [`Peer`],
/// and counts in `activity` (HTTP/2), if given, while it runs. An HTTP/1.1 response
/// given while the server drains closes its connection (`Connection: close`): the
/// client's next request opens a new one, which a load balancer sends elsewhere.
fn service(
    app: Router,
    peer: Peer,
    body_timeout: Duration,
    activity: Option<Arc<Activity>>,
    lifecycle: Arc<Lifecycle>,
) -> impl hyper::service::Service<
    http::Request<Incoming>,
    Response = axum::response::Response,
    Error = std::convert::Infallible,
    Future = impl Future<Output = Result<axum::response::Response, std::convert::Infallible>>
                 + Send
                 + 'static,
> + Clone {
    let http1 = activity.is_none();
    hyper::service::service_fn(move |request: http::Request<Incoming>| {
        let mut app = app.clone();
        let mut request = request.map(|body| {
            axum::body::Body::new(DeadlineBody {
                inner: body,
                deadline: Box::pin(tokio::time::sleep(body_timeout)),
                timeout: body_timeout,
            })
        });
        request.extensions_mut().insert(peer);
        let in_flight = activity.as_ref().map(Activity::begin);
        let lifecycle = lifecycle.clone();
        async move {
            let mut response = tower_service::Service::call(&mut app, request).await;
            drop(in_flight);
            if http1 && lifecycle.draining() {
                if let Ok(response) = &mut response {
                    response.headers_mut().insert(
                        http::header::CONNECTION,
                        http::HeaderValue::from_static("close"),
                    );
                }
            }
            response
        }
    })
}

/// A connection whose graceful shutdown can be started: hyper's HTTP/1 and HTTP/2 ones.
trait Graceful: Future<Output = Result<(), hyper::Error>> {
    fn start_shutdown(self: Pin<&mut Self>);
}

impl<I, S, B> Graceful for hyper::server::conn::http1::Connection<I, S>
where
    S: hyper::service::HttpService<Incoming, ResBody = B>,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    I: hyper::rt::Read + hyper::rt::Write + Unpin + 'static,
    B: hyper::body::Body + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    fn start_shutdown(self: Pin<&mut Self>) {
        self.graceful_shutdown();
    }
}

impl<I, S, B, E> Graceful for hyper::server::conn::http2::Connection<I, S, E>
where
    S: hyper::service::HttpService<Incoming, ResBody = B>,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    I: hyper::rt::Read + hyper::rt::Write + Unpin + 'static,
    B: hyper::body::Body + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    E: hyper::rt::bounds::Http2ServerConnExec<S::Future, B>,
{
    fn start_shutdown(self: Pin<&mut Self>) {
        self.graceful_shutdown();
    }
}

/// Runs a connection to its end, shutting it down gracefully once `shut` holds `true`
/// (HTTP/1.1: the server stops; HTTP/2: it starts draining) or, given an idle limit
/// (HTTP/2, whose hyper has no header read timeout), once it has had no request in flight
/// for that long.
async fn drive<C: Graceful>(
    conn: C,
    mut shut: watch::Receiver<bool>,
    idle: Option<(Arc<Activity>, Duration)>,
) -> Result<(), hyper::Error> {
    tokio::pin!(conn);
    let mut closing = false;
    let check_every = idle.as_ref().map_or(Duration::MAX, |(_, limit)| *limit / 4);
    loop {
        if !closing && *shut.borrow_and_update() {
            conn.as_mut().start_shutdown();
            closing = true;
        }
        tokio::select! {
            result = conn.as_mut() => return result,
            changed = shut.changed(), if !closing => {
                if changed.is_err() {
                    conn.as_mut().start_shutdown();
                    closing = true;
                }
            }
            () = tokio::time::sleep(check_every), if !closing && idle.is_some() => {
                if let Some((activity, limit)) = &idle {
                    if activity.idle_for() >= *limit {
                        conn.as_mut().start_shutdown();
                        closing = true;
                    }
                }
            }
        }
    }
}

/// A connection's requests in flight and when the last one began or ended.
struct Activity {
    in_flight: AtomicUsize,
    /// Milliseconds from `origin`.
    last: AtomicU64,
    origin: Instant,
}

impl Default for Activity {
    fn default() -> Self {
        Activity {
            in_flight: AtomicUsize::new(0),
            last: AtomicU64::new(0),
            origin: Instant::now(),
        }
    }
}

impl Activity {
    fn now(&self) -> u64 {
        u64::try_from(self.origin.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn begin(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        self.last.store(self.now(), Ordering::Relaxed);
        InFlight(self.clone())
    }

    /// How long the connection has had no request in flight (zero while one is).
    fn idle_for(&self) -> Duration {
        if self.in_flight.load(Ordering::Relaxed) > 0 {
            return Duration::ZERO;
        }
        Duration::from_millis(self.now().saturating_sub(self.last.load(Ordering::Relaxed)))
    }
}

struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.last.store(self.0.now(), Ordering::Relaxed);
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A request body that fails once its deadline has passed.
struct DeadlineBody {
    inner: Incoming,
    deadline: Pin<Box<tokio::time::Sleep>>,
    timeout: Duration,
}

/// The error of a request body that did not arrive in time.
#[derive(Debug)]
pub struct BodyTimeout(pub Duration);

impl std::fmt::Display for BodyTimeout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the request body did not arrive within {} ms",
            self.0.as_millis()
        )
    }
}

impl std::error::Error for BodyTimeout {}

impl BodyTimeout {
    /// The timeout in the source chain of `e`, if that is why reading a body failed.
    pub fn find<'a>(e: &'a (dyn std::error::Error + 'static)) -> Option<&'a BodyTimeout> {
        let mut next = Some(e);
        while let Some(e) = next {
            if let Some(t) = e.downcast_ref::<BodyTimeout>() {
                return Some(t);
            }
            next = e.source();
        }
        None
    }
}

impl http_body::Body for DeadlineBody {
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(frame) => Poll::Ready(frame.map(|f| f.map_err(Into::into))),
            Poll::Pending => match this.deadline.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(Some(Err(Box::new(BodyTimeout(this.timeout))))),
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
