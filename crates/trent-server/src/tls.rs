//! TLS for the XKS proxy listener: rustls with the aws-lc-rs provider (TLS 1.2 and 1.3,
//! rustls's safe defaults, which include the cipher suites the XKS proxy API
//! specification asks for), the certificate chain and key from PEM files, and, when a
//! client CA is configured, client certificates required and checked against it
//! (mutual TLS). Every unreadable or unparseable file is a refusal to start.

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use zeroize::Zeroizing;

use crate::xks_config::TlsFiles;

/// The server configuration of `files`.
pub fn server_config(files: &TlsFiles) -> Result<Arc<ServerConfig>, String> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let certs = read_certs(&files.cert, "tls_cert")?;
    let key = read_key(&files.key)?;
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("[xks] TLS: {e}"))?;
    let builder = match &files.client_ca {
        Some(ca) => {
            let mut roots = RootCertStore::empty();
            for cert in read_certs(ca, "client_ca")? {
                roots.add(cert).map_err(|e| {
                    format!(
                        "[xks] client_ca {}: not a usable CA certificate: {e}",
                        ca.display()
                    )
                })?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(|e| format!("[xks] client_ca {}: {e}", ca.display()))?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let mut config = builder.with_single_cert(certs, key).map_err(|e| {
        format!(
            "[xks] tls_cert {} and tls_key {} do not make a usable pair: {e}",
            files.cert.display(),
            files.key.display()
        )
    })?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

fn read_certs(path: &Path, setting: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let pem = std::fs::read(path)
        .map_err(|e| format!("[xks] cannot read {setting} {}: {e}", path.display()))?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("[xks] {setting} {}: invalid PEM: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!(
            "[xks] {setting} {}: no certificate in it",
            path.display()
        ));
    }
    Ok(certs)
}

fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, String> {
    let pem = Zeroizing::new(
        std::fs::read(path)
            .map_err(|e| format!("[xks] cannot read tls_key {}: {e}", path.display()))?,
    );
    // The message never quotes the file: it holds a private key.
    PrivateKeyDer::from_pem_slice(&pem).map_err(|_| {
        format!(
            "[xks] tls_key {}: no PEM private key (PKCS#8, PKCS#1 or SEC1) in it",
            path.display()
        )
    })
}
