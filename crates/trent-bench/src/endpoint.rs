//! The target endpoint and the connections to it: one keep-alive HTTP/1.1 connection per
//! worker, TCP_NODELAY set (small request/response exchanges must not wait on Nagle),
//! TLS when the endpoint is `https://` (AWS itself).

use std::sync::Arc;

use bytes::Bytes;
use http::uri::Scheme;
use http::Uri;
use http_body_util::Full;
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

use crate::BenchError;

/// The sending half of one HTTP/1.1 connection.
pub type Sender = SendRequest<Full<Bytes>>;

/// A parsed `--endpoint`: `http://host[:port]` or `https://host[:port]`, path `/` only
/// (KMS's JSON protocol posts every operation to `/`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub tls: bool,
    /// Host name or IP address to connect to (IPv6 without brackets).
    pub host: String,
    pub port: u16,
    /// The `Host` header: the endpoint's authority exactly as given (it is signed).
    pub authority: String,
}

impl Endpoint {
    pub fn parse(text: &str) -> Result<Self, BenchError> {
        let invalid = |reason| BenchError::Endpoint {
            endpoint: text.to_owned(),
            reason,
        };
        let uri: Uri = text
            .parse()
            .map_err(|_| invalid("not a URL such as http://127.0.0.1:4599"))?;
        let tls = match uri.scheme() {
            Some(s) if *s == Scheme::HTTP => false,
            Some(s) if *s == Scheme::HTTPS => true,
            _ => return Err(invalid("the scheme must be http:// or https://")),
        };
        let authority = uri.authority().ok_or_else(|| invalid("no host"))?.clone();
        if authority.as_str().contains('@') {
            return Err(invalid("user information is not allowed in the endpoint"));
        }
        if !matches!(uri.path(), "" | "/") || uri.query().is_some() {
            return Err(invalid(
                "the endpoint takes no path or query (KMS posts to /)",
            ));
        }
        let host = authority.host();
        let host = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        if host.is_empty() {
            return Err(invalid("no host"));
        }
        Ok(Self {
            tls,
            host: host.to_owned(),
            port: authority.port_u16().unwrap_or(if tls { 443 } else { 80 }),
            authority: authority.as_str().to_owned(),
        })
    }
}

/// Opens connections to one endpoint.
pub struct Connector {
    endpoint: Endpoint,
    tls: Option<(tokio_rustls::TlsConnector, ServerName<'static>)>,
}

impl Connector {
    pub fn new(endpoint: Endpoint) -> Result<Self, BenchError> {
        let tls = if endpoint.tls {
            let name =
                ServerName::try_from(endpoint.host.clone()).map_err(|_| BenchError::Endpoint {
                    endpoint: endpoint.authority.clone(),
                    reason: "the host is not a valid TLS server name",
                })?;
            Some((tokio_rustls::TlsConnector::from(tls_config()?), name))
        } else {
            None
        };
        Ok(Self { endpoint, tls })
    }

    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// Opens one keep-alive HTTP/1.1 connection; its driver runs as its own task.
    pub async fn connect(&self) -> Result<Sender, BenchError> {
        let address = || format!("{}:{}", self.endpoint.host, self.endpoint.port);
        let tcp = TcpStream::connect((self.endpoint.host.as_str(), self.endpoint.port))
            .await
            .map_err(|source| BenchError::Connect {
                address: address(),
                source,
            })?;
        tcp.set_nodelay(true)
            .map_err(|source| BenchError::Connect {
                address: address(),
                source,
            })?;
        match &self.tls {
            None => handshake(tcp).await,
            Some((connector, name)) => {
                let stream = connector
                    .connect(name.clone(), tcp)
                    .await
                    .map_err(|source| BenchError::Connect {
                        address: address(),
                        source,
                    })?;
                handshake(stream).await
            }
        }
    }
}

async fn handshake<T>(io: T) -> Result<Sender, BenchError>
where
    T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (sender, connection) = http1::handshake(TokioIo::new(io))
        .await
        .map_err(BenchError::Http)?;
    tokio::spawn(async move {
        // A connection error surfaces on the sender's next `ready()`/request, where the
        // worker counts it and reconnects; nothing more to do with it here.
        let _ = connection.await;
    });
    Ok(sender)
}

/// rustls with the aws-lc-rs provider (chosen explicitly, so that the result does not
/// depend on which provider features other crates of the build enable) and the
/// platform's root certificates.
fn tls_config() -> Result<Arc<rustls::ClientConfig>, BenchError> {
    let mut roots = rustls::RootCertStore::empty();
    let (added, _unparsable) =
        roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
    if added == 0 {
        return Err(BenchError::NoRootCertificates);
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(BenchError::Tls)?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(text: &str) -> Endpoint {
        Endpoint::parse(text).unwrap()
    }

    #[test]
    fn parses_http_and_https_endpoints() {
        assert_eq!(
            ok("http://127.0.0.1:4599"),
            Endpoint {
                tls: false,
                host: "127.0.0.1".into(),
                port: 4599,
                authority: "127.0.0.1:4599".into()
            }
        );
        assert_eq!(
            ok("https://kms.us-east-1.amazonaws.com/"),
            Endpoint {
                tls: true,
                host: "kms.us-east-1.amazonaws.com".into(),
                port: 443,
                authority: "kms.us-east-1.amazonaws.com".into()
            }
        );
        let v6 = ok("http://[::1]:8080");
        assert_eq!((v6.host.as_str(), v6.port), ("::1", 8080));
        assert_eq!(v6.authority, "[::1]:8080");
        assert_eq!(ok("http://localhost").port, 80);
    }

    #[test]
    fn refuses_what_is_not_a_kms_endpoint() {
        for bad in [
            "127.0.0.1:4599",
            "ftp://127.0.0.1",
            "http://127.0.0.1:4599/kms",
            "http://127.0.0.1:4599/?a=b",
            "http://user:pw@127.0.0.1:4599",
            "not a url",
            "/",
        ] {
            assert!(
                matches!(Endpoint::parse(bad), Err(BenchError::Endpoint { .. })),
                "{bad}"
            );
        }
    }
}
