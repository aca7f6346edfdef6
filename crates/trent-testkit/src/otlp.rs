//! An OpenTelemetry collector's OTLP/HTTP traces endpoint (`POST /v1/traces`, protobuf),
//! keeping every span it is sent, for tests of span export.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::routing::post;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;

/// A span as received, with the resource attributes of its batch.
#[derive(Debug, Clone)]
pub struct ReceivedSpan {
    pub span: Span,
    pub resource: Vec<KeyValue>,
}

impl ReceivedSpan {
    /// The span's attribute `key`, as text (strings, integers and booleans).
    pub fn attribute(&self, key: &str) -> Option<String> {
        attribute(&self.span.attributes, key)
    }

    /// The resource's attribute `key`, as text.
    pub fn resource_attribute(&self, key: &str) -> Option<String> {
        attribute(&self.resource, key)
    }
}

fn attribute(attributes: &[KeyValue], key: &str) -> Option<String> {
    let value = attributes.iter().find(|a| a.key == key)?.value.as_ref()?;
    match value.value.as_ref()? {
        Value::StringValue(s) => Some(s.clone()),
        Value::IntValue(i) => Some(i.to_string()),
        Value::BoolValue(b) => Some(b.to_string()),
        Value::DoubleValue(d) => Some(d.to_string()),
        other => Some(format!("{other:?}")),
    }
}

#[derive(Default)]
struct Received {
    spans: parking_lot::Mutex<Vec<ReceivedSpan>>,
    arrived: tokio::sync::Notify,
    /// TLS handshakes that failed (a client that did not trust the certificate).
    failed_handshakes: std::sync::atomic::AtomicUsize,
}

/// The collector, listening on `127.0.0.1` (a free port) until dropped.
pub struct Collector {
    endpoint: String,
    received: Arc<Received>,
    task: tokio::task::JoinHandle<()>,
}

impl Collector {
    /// Starts listening (in the current runtime), plain HTTP.
    pub async fn start() -> Collector {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        Collector::serve(listener, endpoint, Arc::new(Received::default()))
    }

    /// Starts listening over TLS with the PEM certificate chain and key given; the
    /// endpoint is `https://localhost:PORT`.
    pub async fn start_tls(cert: &std::path::Path, key: &std::path::Path) -> Collector {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let certs = CertificateDer::pem_file_iter(cert)
            .unwrap()
            .collect::<Result<Vec<_>, _>>()
            .unwrap();
        let key = PrivateKeyDer::from_pem_file(key).unwrap();
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::aws_lc_rs::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
        let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("https://localhost:{}", tcp.local_addr().unwrap().port());
        let received = Arc::new(Received::default());
        let listener = TlsListener {
            tcp,
            acceptor: tokio_rustls::TlsAcceptor::from(Arc::new(config)),
            received: received.clone(),
        };
        Collector::serve(listener, endpoint, received)
    }

    /// Serves the traces endpoint on `listener` until dropped.
    fn serve<L>(listener: L, endpoint: String, received: Arc<Received>) -> Collector
    where
        L: axum::serve::Listener,
        L::Addr: std::fmt::Debug,
    {
        let app = axum::Router::new()
            .route("/v1/traces", post(traces))
            .with_state(received.clone());
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Collector {
            endpoint,
            received,
            task,
        }
    }

    /// TLS handshakes that failed so far.
    pub fn failed_handshakes(&self) -> usize {
        self.received
            .failed_handshakes
            .load(std::sync::atomic::Ordering::SeqCst)
    }

    /// The base URL to give as `--otlp-endpoint` (`http://127.0.0.1:PORT`).
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Every span received so far.
    pub fn spans(&self) -> Vec<ReceivedSpan> {
        self.received.spans.lock().clone()
    }

    /// Waits (up to `timeout`) until the spans received satisfy `done`; returns them.
    pub async fn wait_for(
        &self,
        timeout: Duration,
        done: impl Fn(&[ReceivedSpan]) -> bool,
    ) -> Vec<ReceivedSpan> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let arrived = self.received.arrived.notified();
            let spans = self.spans();
            if done(&spans) {
                return spans;
            }
            if tokio::time::timeout_at(deadline, arrived).await.is_err() {
                panic!(
                    "the spans expected did not arrive within {timeout:?}; received: {:#?}",
                    self.spans()
                        .iter()
                        .map(|s| (&s.span.name, s.attribute("aws.request_id")))
                        .collect::<Vec<_>>()
                );
            }
        }
    }
}

/// TCP connections through a TLS handshake (one at a time: enough for a test).
struct TlsListener {
    tcp: tokio::net::TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
    received: Arc<Received>,
}

impl axum::serve::Listener for TlsListener {
    type Io = tokio_rustls::server::TlsStream<tokio::net::TcpStream>;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let Ok((tcp, addr)) = self.tcp.accept().await else {
                continue;
            };
            match self.acceptor.accept(tcp).await {
                Ok(tls) => return (tls, addr),
                Err(_) => {
                    self.received
                        .failed_handshakes
                        .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    self.received.arrived.notify_waiters();
                }
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn traces(
    State(received): State<Arc<Received>>,
    body: Bytes,
) -> (http::StatusCode, [(&'static str, &'static str); 1], Vec<u8>) {
    let Ok(request) = ExportTraceServiceRequest::decode(body) else {
        return (
            http::StatusCode::BAD_REQUEST,
            [("content-type", "text/plain")],
            b"not an ExportTraceServiceRequest".to_vec(),
        );
    };
    {
        let mut spans = received.spans.lock();
        for resource_spans in request.resource_spans {
            let resource = resource_spans
                .resource
                .map(|r| r.attributes)
                .unwrap_or_default();
            for scope in resource_spans.scope_spans {
                for span in scope.spans {
                    spans.push(ReceivedSpan {
                        span,
                        resource: resource.clone(),
                    });
                }
            }
        }
    }
    received.arrived.notify_waiters();
    // An empty ExportTraceServiceResponse: everything accepted.
    (
        http::StatusCode::OK,
        [("content-type", "application/x-protobuf")],
        Vec::new(),
    )
}
