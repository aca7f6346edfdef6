//! TLS material for tests, made with the `openssl` command line: a private CA, server
//! certificates it signed for `127.0.0.1` and `localhost`, a client certificate
//! (clientAuth).

use std::path::{Path, PathBuf};
use std::process::Command;

/// A CA, a server certificate it signed for `127.0.0.1` and `localhost`, and a client
/// certificate it signed (clientAuth), made with `openssl` in `dir`.
pub struct TlsFiles {
    pub ca_cert: PathBuf,
    pub ca_key: PathBuf,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
}

#[track_caller]
fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run openssl");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

impl TlsFiles {
    /// A fresh CA named `name` and the certificates it signed, in `dir`.
    pub fn make(dir: &Path, name: &str) -> TlsFiles {
        std::fs::create_dir_all(dir).unwrap();
        let p = |f: &str| dir.join(format!("{name}-{f}"));
        let s = |f: &str| format!("{name}-{f}");
        openssl(
            dir,
            &[
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
                "-days",
                "2",
                "-subj",
                &format!("/CN={name} test CA"),
                "-addext",
                "basicConstraints=critical,CA:TRUE",
                "-addext",
                "keyUsage=critical,keyCertSign,cRLSign",
                "-keyout",
                &s("ca.key"),
                "-out",
                &s("ca.pem"),
            ],
        );
        issue(dir, name, &[
            (
                "server",
                "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n",
            ),
            (
                "client",
                "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=clientAuth\n",
            ),
        ]);
        TlsFiles {
            ca_cert: p("ca.pem"),
            ca_key: p("ca.key"),
            server_cert: p("server.pem"),
            server_key: p("server.key"),
            client_cert: p("client.pem"),
            client_key: p("client.key"),
        }
    }

    /// Another server certificate and key of the same CA (same names), its subject
    /// `CN=<name> <tag>`: files `<name>-<tag>.pem` and `<name>-<tag>.key` beside the
    /// others.
    pub fn another_server(&self, tag: &str) -> (PathBuf, PathBuf) {
        let dir = self.ca_cert.parent().expect("the files' directory");
        let file = self.ca_cert.file_name().unwrap().to_string_lossy();
        let name = file.strip_suffix("-ca.pem").expect("<name>-ca.pem");
        issue(dir, name, &[(
            tag,
            "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n",
        )]);
        (
            dir.join(format!("{name}-{tag}.pem")),
            dir.join(format!("{name}-{tag}.key")),
        )
    }
}

/// Certificates signed by the CA `<name>-ca.pem` in `dir`, one per `(who, extensions)`:
/// `<name>-<who>.pem` and `<name>-<who>.key`, subject `O=Trent, CN=<name> <who>`.
fn issue(dir: &Path, name: &str, whom: &[(&str, &str)]) {
    let p = |f: &str| dir.join(format!("{name}-{f}"));
    let s = |f: &str| format!("{name}-{f}");
    for (who, ext) in whom.iter().copied() {
        std::fs::write(p(&format!("{who}.ext")), ext).unwrap();
        openssl(
            dir,
            &[
                "req",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
                "-subj",
                &format!("/O=Trent/CN={name} {who}"),
                "-keyout",
                &s(&format!("{who}.key")),
                "-out",
                &s(&format!("{who}.csr")),
            ],
        );
        openssl(
            dir,
            &[
                "x509",
                "-req",
                "-in",
                &s(&format!("{who}.csr")),
                "-CA",
                &s("ca.pem"),
                "-CAkey",
                &s("ca.key"),
                "-CAcreateserial",
                "-days",
                "2",
                "-extfile",
                &s(&format!("{who}.ext")),
                "-out",
                &s(&format!("{who}.pem")),
            ],
        );
    }
}
