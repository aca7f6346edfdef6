//! TLS for Trent's listeners: rustls with the aws-lc-rs provider (TLS 1.2 and 1.3,
//! rustls's safe defaults, which include the cipher suites the XKS proxy API
//! specification asks for), the certificate chain and key from PEM files, and, when a
//! client CA is configured, client certificates required and checked against it (mutual
//! TLS). The KMS listener offers HTTP/2 and HTTP/1.1 by ALPN, the XKS proxy's HTTP/1.1
//! (its specification's).
//!
//! [`ReloadingTls`] holds a listener's configuration and replaces it when SIGHUP arrives
//! or the files change: connections made before keep theirs, new ones get the new one. A
//! file that cannot be read or parsed refuses the start, and at a reload keeps the
//! configuration in force (with the reason in the log).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use parking_lot::{Mutex, RwLock};
use rustls::client::danger::HandshakeSignatureValid;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::UnixTime;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::WebPkiClientVerifier;
use rustls::{DigitallySignedStruct, DistinguishedName, SignatureScheme};
use rustls::{RootCertStore, ServerConfig};
use tokio_rustls::TlsAcceptor;
use zeroize::Zeroizing;

/// The files of a listener's TLS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
    /// Client certificates must chain to one of these (mutual TLS).
    pub client_ca: Option<PathBuf>,
    /// With `client_ca`: the common name (CN) the client certificate's subject must have
    /// (the XKS proxy API specification: a proxy that offers mutual TLS lets the client's
    /// subject name be configured).
    pub client_subject: Option<String>,
}

/// Which listener a TLS configuration is for: the names its messages use and the
/// protocols it offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsListener {
    /// The KMS API (`tls_cert`, `tls_key`, `tls_client_ca`): HTTP/2 and HTTP/1.1.
    Kms,
    /// The XKS proxy API (`[xks]`'s `tls_cert`, `tls_key`, `client_ca`): HTTP/1.1.
    Xks,
}

impl TlsListener {
    fn prefix(self) -> &'static str {
        match self {
            TlsListener::Kms => "",
            TlsListener::Xks => "[xks] ",
        }
    }

    fn client_ca_setting(self) -> &'static str {
        match self {
            TlsListener::Kms => "tls_client_ca",
            TlsListener::Xks => "client_ca",
        }
    }

    fn alpn(self) -> Vec<Vec<u8>> {
        match self {
            TlsListener::Kms => vec![b"h2".to_vec(), b"http/1.1".to_vec()],
            TlsListener::Xks => vec![b"http/1.1".to_vec()],
        }
    }
}

/// rustls's provider: aws-lc-rs, restricted to FIPS-approved algorithms in a `fips`
/// build.
pub fn crypto_provider() -> rustls::crypto::CryptoProvider {
    #[cfg(feature = "fips")]
    return rustls::crypto::default_fips_provider();
    #[cfg(not(feature = "fips"))]
    rustls::crypto::aws_lc_rs::default_provider()
}

/// The server configuration of `files` for `listener`.
pub fn server_config(files: &TlsFiles, listener: TlsListener) -> Result<Arc<ServerConfig>, String> {
    let prefix = listener.prefix();
    let provider = Arc::new(crypto_provider());
    let certs = read_certs(&files.cert, "tls_cert", prefix)?;
    let key = read_key(&files.key, prefix)?;
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("{prefix}TLS: {e}"))?;
    let builder = match &files.client_ca {
        Some(ca) => {
            let setting = listener.client_ca_setting();
            let mut roots = RootCertStore::empty();
            for cert in read_certs(ca, setting, prefix)? {
                roots.add(cert).map_err(|e| {
                    format!(
                        "{prefix}{setting} {}: not a usable CA certificate: {e}",
                        ca.display()
                    )
                })?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(|e| format!("{prefix}{setting} {}: {e}", ca.display()))?;
            match &files.client_subject {
                Some(subject) => builder.with_client_cert_verifier(Arc::new(SubjectVerifier {
                    inner: verifier,
                    common_name: subject.clone(),
                })),
                None => builder.with_client_cert_verifier(verifier),
            }
        }
        None => builder.with_no_client_auth(),
    };
    let mut config = builder.with_single_cert(certs, key).map_err(|e| {
        format!(
            "{prefix}tls_cert {} and tls_key {} do not make a usable pair: {e}",
            files.cert.display(),
            files.key.display()
        )
    })?;
    config.alpn_protocols = listener.alpn();
    Ok(Arc::new(config))
}

/// A TLS client configuration trusting the web PKI's roots and, with `ca_file` (the
/// setting `setting`; errors start with `prefix`), the CA certificates of that PEM file
/// (an outbound connection: the XKS proxy client, the OTLP exporter).
pub fn client_config(
    ca_file: Option<&Path>,
    setting: &str,
    prefix: &str,
) -> Result<rustls::ClientConfig, String> {
    let mut roots = RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(path) = ca_file {
        for cert in read_certs(path, setting, prefix)? {
            roots
                .add(cert)
                .map_err(|e| format!("{prefix}{setting} {}: {e}", path.display()))?;
        }
    }
    Ok(
        rustls::ClientConfig::builder_with_provider(Arc::new(crypto_provider()))
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("{prefix}TLS: {e}"))?
            .with_root_certificates(roots)
            .with_no_client_auth(),
    )
}

fn read_certs(
    path: &Path,
    setting: &str,
    prefix: &str,
) -> Result<Vec<CertificateDer<'static>>, String> {
    let pem = std::fs::read(path)
        .map_err(|e| format!("{prefix}cannot read {setting} {}: {e}", path.display()))?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{prefix}{setting} {}: invalid PEM: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!(
            "{prefix}{setting} {}: no certificate in it",
            path.display()
        ));
    }
    Ok(certs)
}

fn read_key(path: &Path, prefix: &str) -> Result<PrivateKeyDer<'static>, String> {
    let pem = Zeroizing::new(
        std::fs::read(path)
            .map_err(|e| format!("{prefix}cannot read tls_key {}: {e}", path.display()))?,
    );
    // The message never quotes the file: it holds a private key.
    PrivateKeyDer::from_pem_slice(&pem).map_err(|_| {
        format!(
            "{prefix}tls_key {}: no PEM private key (PKCS#8, PKCS#1 or SEC1) in it",
            path.display()
        )
    })
}

/// How often [`ReloadingTls::watch`] looks at the files.
pub const WATCH_INTERVAL: Duration = Duration::from_secs(1);

/// What identifies a version of a file: its size, modification time and inode (a file
/// replaced by a rename, as Kubernetes does with its secrets, has a new inode).
type FileStamp = Option<(u64, SystemTime, u64)>;

/// A listener's TLS configuration, replaced by [`ReloadingTls::reload`].
pub struct ReloadingTls {
    listener: TlsListener,
    files: TlsFiles,
    current: RwLock<Arc<ServerConfig>>,
    /// The files' stamps when they were last read (successfully or not).
    read_at: Mutex<Vec<FileStamp>>,
}

impl std::fmt::Debug for ReloadingTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReloadingTls")
            .field("listener", &self.listener)
            .field("files", &self.files)
            .finish_non_exhaustive()
    }
}

impl ReloadingTls {
    /// Reads the files: an error refuses the start.
    pub fn open(files: TlsFiles, listener: TlsListener) -> Result<Arc<ReloadingTls>, String> {
        let stamps = stamps(&files);
        let config = server_config(&files, listener)?;
        Ok(Arc::new(ReloadingTls {
            listener,
            files,
            current: RwLock::new(config),
            read_at: Mutex::new(stamps),
        }))
    }

    /// The acceptor of a new connection: the configuration in force.
    pub fn acceptor(&self) -> TlsAcceptor {
        TlsAcceptor::from(self.current.read().clone())
    }

    /// The listener's name in metrics (`kms`, `xks`).
    pub fn listener_name(&self) -> &'static str {
        match self.listener {
            TlsListener::Kms => "kms",
            TlsListener::Xks => "xks",
        }
    }

    /// Whether client certificates are required (mutual TLS).
    pub fn mutual(&self) -> bool {
        self.files.client_ca.is_some()
    }

    /// Reads the files again and puts their configuration in force; on an error the
    /// configuration in force stays.
    pub fn reload(&self) -> Result<(), String> {
        *self.read_at.lock() = stamps(&self.files);
        let config = server_config(&self.files, self.listener)?;
        *self.current.write() = config;
        Ok(())
    }

    /// Whether a file changed since it was last read.
    fn changed(&self) -> bool {
        *self.read_at.lock() != stamps(&self.files)
    }

    fn reload_and_log(&self, why: &str) {
        let prefix = self.listener.prefix();
        match self.reload() {
            Ok(()) => tracing::info!(
                cert = %self.files.cert.display(),
                "{prefix}TLS certificate and key reloaded ({why}); new connections use them"
            ),
            Err(e) => tracing::error!(
                error = %e,
                "{prefix}TLS files not reloaded ({why}); the configuration in force stays"
            ),
        }
    }

    /// Reloads on SIGHUP and when a file changes (looked at every [`WATCH_INTERVAL`]),
    /// for as long as the server runs.
    pub async fn watch(self: Arc<Self>) {
        #[cfg(unix)]
        let mut hangups = match tokio::signal::unix::signal(
            tokio::signal::unix::SignalKind::hangup(),
        ) {
            Ok(s) => Some(s),
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGHUP; TLS files are reloaded when they change only");
                None
            }
        };
        let mut ticks = tokio::time::interval(WATCH_INTERVAL);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            #[cfg(unix)]
            let hangup = async {
                match hangups.as_mut() {
                    Some(h) => h.recv().await,
                    None => std::future::pending().await,
                }
            };
            #[cfg(not(unix))]
            let hangup = std::future::pending::<Option<()>>();
            tokio::select! {
                Some(()) = hangup => self.reload_and_log("SIGHUP"),
                _ = ticks.tick() => {
                    if self.changed() {
                        self.reload_and_log("the files changed");
                    }
                }
            }
        }
    }
}

fn stamps(files: &TlsFiles) -> Vec<FileStamp> {
    let stamp = |path: &Path| -> FileStamp {
        let meta = std::fs::metadata(path).ok()?;
        #[cfg(unix)]
        let inode = std::os::unix::fs::MetadataExt::ino(&meta);
        #[cfg(not(unix))]
        let inode = 0;
        Some((meta.len(), meta.modified().ok()?, inode))
    };
    let mut out = vec![stamp(&files.cert), stamp(&files.key)];
    if let Some(ca) = &files.client_ca {
        out.push(stamp(ca));
    }
    out
}

/// A client certificate verifier that, after the CA's check, requires the end-entity
/// certificate's subject common name to be `common_name` (`client_subject`). A certificate
/// whose subject cannot be read is refused.
#[derive(Debug)]
struct SubjectVerifier {
    inner: Arc<dyn ClientCertVerifier>,
    common_name: String,
}

impl ClientCertVerifier for SubjectVerifier {
    fn offer_client_auth(&self) -> bool {
        self.inner.offer_client_auth()
    }

    fn client_auth_mandatory(&self) -> bool {
        self.inner.client_auth_mandatory()
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.inner.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        let verified = self
            .inner
            .verify_client_cert(end_entity, intermediates, now)?;
        match trent_crypto::certificate_subject_common_names(end_entity) {
            Some(names) if names.iter().any(|n| n == &self.common_name) => Ok(verified),
            _ => Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::ApplicationVerificationFailure,
            )),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The test kit's client certificate (`O=Trent, CN=xks client`), whose issuer's CN differs
    /// (`CN=xks test CA`): only the subject's CN is read.
    #[test]
    fn the_subject_common_name_is_read_and_never_the_issuers() {
        let dir = tempfile::tempdir().unwrap();
        let files = trent_testkit::tls::TlsFiles::make(dir.path(), "xks");
        let pem = std::fs::read(&files.client_cert).unwrap();
        let cert = CertificateDer::from_pem_slice(&pem).unwrap();
        assert_eq!(
            trent_crypto::certificate_subject_common_names(&cert),
            Some(vec!["xks client".to_owned()])
        );
        let pem = std::fs::read(&files.ca_cert).unwrap();
        let ca = CertificateDer::from_pem_slice(&pem).unwrap();
        assert_eq!(
            trent_crypto::certificate_subject_common_names(&ca),
            Some(vec!["xks test CA".to_owned()])
        );
        assert_eq!(
            trent_crypto::certificate_subject_common_names(&cert[..cert.len() / 2]),
            None
        );
        assert_eq!(
            trent_crypto::certificate_subject_common_names(b"not a certificate"),
            None
        );
    }
}
