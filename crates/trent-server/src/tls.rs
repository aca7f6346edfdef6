//! TLS for the XKS proxy listener: rustls with the aws-lc-rs provider (TLS 1.2 and 1.3,
//! rustls's safe defaults, which include the cipher suites the XKS proxy API
//! specification asks for), the certificate chain and key from PEM files, and, when a
//! client CA is configured, client certificates required and checked against it
//! (mutual TLS). Every unreadable or unparseable file is a refusal to start.

use std::path::Path;
use std::sync::Arc;

use rustls::client::danger::HandshakeSignatureValid;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::UnixTime;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::WebPkiClientVerifier;
use rustls::{DigitallySignedStruct, DistinguishedName, SignatureScheme};
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

    /// A certificate made with `openssl req -x509 -subj "/O=Trent/CN=xks client"` whose
    /// issuer CN differs: only the subject's CN is read.
    #[test]
    fn the_subject_common_name_is_read_and_never_the_issuers() {
        let dir = tempfile::tempdir().unwrap();
        let run = |args: &[&str]| {
            let out = std::process::Command::new("openssl")
                .args(args)
                .current_dir(dir.path())
                .output()
                .unwrap();
            assert!(out.status.success(), "{out:?}");
        };
        run(&[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-subj",
            "/CN=the issuer",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "1",
        ]);
        run(&[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-subj",
            "/O=Trent/CN=xks client",
            "-keyout",
            "c.key",
            "-out",
            "c.csr",
        ]);
        run(&[
            "x509",
            "-req",
            "-in",
            "c.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "1",
            "-out",
            "c.pem",
        ]);
        let pem = std::fs::read(dir.path().join("c.pem")).unwrap();
        let cert = CertificateDer::from_pem_slice(&pem).unwrap();
        assert_eq!(
            trent_crypto::certificate_subject_common_names(&cert),
            Some(vec!["xks client".to_owned()])
        );
        let pem = std::fs::read(dir.path().join("ca.pem")).unwrap();
        let ca = CertificateDer::from_pem_slice(&pem).unwrap();
        assert_eq!(
            trent_crypto::certificate_subject_common_names(&ca),
            Some(vec!["the issuer".to_owned()])
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
