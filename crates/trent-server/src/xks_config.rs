//! The `[xks]` table of the config file: Trent as an AWS KMS External Key Store (XKS)
//! proxy — its listener, TLS, and its logical key stores (URI path prefix, SigV4
//! credentials, keys). Everything is checked at start; anything unparseable or outside
//! what the XKS proxy API specification allows is a refusal to start.
//!
//! ```toml
//! [xks]
//! listen = "0.0.0.0:4600"
//! tls_cert = "/etc/trent/xks.pem"   # required unless listen is a loopback address
//! tls_key = "/etc/trent/xks.key"
//! client_ca = "/etc/trent/kms-ca.pem"   # optional: require client certificates (mTLS)
//! client_subject = "cks.kms.us-east-1.amazonaws.com"   # optional, with client_ca: the
//!                                     # client certificate's subject common name (CN)
//!
//! [[xks.key_stores]]
//! uri_path_prefix = "/example/uri/path/prefix"
//! credentials = [{ access_key_id = "...", secret_access_key = "..." }]
//! keys = [
//!   { id = "foo", usage = ["ENCRYPT", "DECRYPT"] },
//!   { id = "encrypt_only_key", usage = ["ENCRYPT"] },
//! ]
//! ```

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use serde::Deserialize;
use trent_sigv4::SecretKey;

/// The API's fixed path after the prefix.
pub const API_PATH: &str = "/kms/xks/v1";
/// `XksProxyUriPath` (prefix and `/kms/xks/v1`) is at most this long.
const MAX_URI_PATH: usize = 128;
/// An `externalKeyId` is at most this long.
const MAX_KEY_ID: usize = 128;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct XksFileConfig {
    listen: String,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    client_ca: Option<PathBuf>,
    client_subject: Option<String>,
    #[serde(default)]
    key_stores: Vec<KeyStoreSpec>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyStoreSpec {
    uri_path_prefix: String,
    credentials: Vec<CredentialSpec>,
    keys: Vec<KeySpec>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CredentialSpec {
    access_key_id: String,
    #[serde(deserialize_with = "secret_string")]
    secret_access_key: SecretKey,
}

fn secret_string<'de, D: serde::Deserializer<'de>>(d: D) -> Result<SecretKey, D::Error> {
    String::deserialize(d).map(SecretKey::new)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeySpec {
    id: String,
    usage: Vec<String>,
}

pub use crate::tls::TlsFiles;

/// What a key may be used for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    pub encrypt: bool,
    pub decrypt: bool,
}

impl Usage {
    /// The API's `keyUsage` strings.
    pub fn names(self) -> Vec<&'static str> {
        let mut names = Vec::new();
        if self.encrypt {
            names.push("ENCRYPT");
        }
        if self.decrypt {
            names.push("DECRYPT");
        }
        names
    }
}

/// One logical key store.
#[derive(Debug, Clone)]
pub struct KeyStoreSettings {
    /// `""` or `/a/b`: the request paths are `{prefix}/kms/xks/v1/...`.
    pub uri_path_prefix: String,
    /// Access key id and secret (at least one; several for rotation).
    pub credentials: Vec<(String, Arc<SecretKey>)>,
    pub keys: Vec<(String, Usage)>,
}

/// The XKS proxy's settings in force.
#[derive(Debug, Clone)]
pub struct XksSettings {
    pub listen: SocketAddr,
    /// `None`: plain HTTP, on a loopback address only.
    pub tls: Option<TlsFiles>,
    pub key_stores: Vec<KeyStoreSettings>,
}

impl XksSettings {
    pub fn resolve(file: XksFileConfig) -> Result<XksSettings, String> {
        let listen: SocketAddr = file.listen.parse().map_err(|_| {
            format!(
                "[xks] invalid listen address {:?}: expected IP:PORT, e.g. 0.0.0.0:4600",
                file.listen
            )
        })?;
        let tls = match (file.tls_cert, file.tls_key) {
            (Some(cert), Some(key)) => {
                if file.client_subject.is_some() && file.client_ca.is_none() {
                    return Err("[xks] client_subject needs client_ca".into());
                }
                if file.client_subject.as_deref() == Some("") {
                    return Err("[xks] client_subject is empty".into());
                }
                Some(TlsFiles {
                    cert,
                    key,
                    client_ca: file.client_ca,
                    client_subject: file.client_subject,
                })
            }
            (None, None) => {
                if file.client_ca.is_some() || file.client_subject.is_some() {
                    return Err("[xks] client_ca needs tls_cert and tls_key".into());
                }
                if !listen.ip().is_loopback() {
                    return Err(format!(
                        "[xks] refusing to serve the XKS proxy API without TLS on the non-loopback address {listen}: set tls_cert and tls_key"
                    ));
                }
                None
            }
            _ => return Err("[xks] tls_cert and tls_key go together".into()),
        };
        if file.key_stores.is_empty() {
            return Err("[xks] has no [[xks.key_stores]]".into());
        }
        let mut prefixes = HashSet::new();
        let mut access_key_ids = HashSet::new();
        let mut key_stores = Vec::with_capacity(file.key_stores.len());
        for spec in file.key_stores {
            let prefix = spec.uri_path_prefix;
            check_prefix(&prefix)?;
            if !prefixes.insert(prefix.clone()) {
                return Err(format!(
                    "[xks] duplicate key store uri_path_prefix {prefix:?}"
                ));
            }
            if spec.credentials.is_empty() {
                return Err(format!("[xks] key store {prefix:?} has no credentials"));
            }
            let mut credentials = Vec::with_capacity(spec.credentials.len());
            for c in spec.credentials {
                check_access_key_id(&c.access_key_id)
                    .map_err(|e| format!("[xks] key store {prefix:?}: {e}"))?;
                check_secret(&c.secret_access_key).map_err(|e| {
                    format!(
                        "[xks] key store {prefix:?}, access key {}: {e}",
                        c.access_key_id
                    )
                })?;
                // An access key id names one secret across the whole proxy.
                if !access_key_ids.insert(c.access_key_id.clone()) {
                    return Err(format!(
                        "[xks] duplicate access_key_id {} (each names one secret across all key stores)",
                        c.access_key_id
                    ));
                }
                credentials.push((c.access_key_id, Arc::new(c.secret_access_key)));
            }
            let mut ids = HashSet::new();
            let mut keys = Vec::with_capacity(spec.keys.len());
            for k in spec.keys {
                check_key_id(&k.id).map_err(|e| format!("[xks] key store {prefix:?}: {e}"))?;
                if !ids.insert(k.id.clone()) {
                    return Err(format!(
                        "[xks] key store {prefix:?}: duplicate key id {:?}",
                        k.id
                    ));
                }
                let mut usage = Usage::default();
                for u in &k.usage {
                    let flag = match u.as_str() {
                        "ENCRYPT" => &mut usage.encrypt,
                        "DECRYPT" => &mut usage.decrypt,
                        other => {
                            return Err(format!(
                                "[xks] key store {prefix:?}, key {:?}: unknown usage {other:?} (expected \"ENCRYPT\" and/or \"DECRYPT\")",
                                k.id
                            ))
                        }
                    };
                    if *flag {
                        return Err(format!(
                            "[xks] key store {prefix:?}, key {:?}: usage {u:?} given twice",
                            k.id
                        ));
                    }
                    *flag = true;
                }
                keys.push((k.id, usage));
            }
            key_stores.push(KeyStoreSettings {
                uri_path_prefix: prefix,
                credentials,
                keys,
            });
        }
        Ok(XksSettings {
            listen,
            tls,
            key_stores,
        })
    }
}

/// `""` or `/seg/seg...`: segments of `a-z A-Z 0-9 - _`, no empty one, and the whole
/// `XksProxyUriPath` (with `/kms/xks/v1`) at most 128 characters, as AWS KMS allows.
fn check_prefix(prefix: &str) -> Result<(), String> {
    let bad = |why: &str| Err(format!("[xks] invalid uri_path_prefix {prefix:?}: {why}"));
    if prefix.len() + API_PATH.len() > MAX_URI_PATH {
        return bad("with /kms/xks/v1 it must be at most 128 characters");
    }
    if prefix.is_empty() {
        return Ok(());
    }
    let Some(rest) = prefix.strip_prefix('/') else {
        return bad("it must be empty or start with /");
    };
    for segment in rest.split('/') {
        if segment.is_empty() {
            return bad("empty path segment (// or a trailing /)");
        }
        if !segment
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return bad("only a-z, A-Z, 0-9, -, _ and / are allowed");
        }
    }
    if prefix.ends_with(API_PATH) || prefix.contains("/kms/xks/v1/") {
        return bad("the prefix comes before /kms/xks/v1, it does not contain it");
    }
    Ok(())
}

/// 20 to 30 characters of `A-Z` and `2-7` (the XKS proxy API's `AccessKeyId`).
fn check_access_key_id(id: &str) -> Result<(), String> {
    if (20..=30).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_uppercase() || (b'2'..=b'7').contains(&b))
    {
        Ok(())
    } else {
        Err(format!(
            "invalid access_key_id {:?}: 20 to 30 characters of A-Z and 2-7",
            // An id is not a secret, but a mistyped secret pasted here would be: cut it.
            id.chars().take(30).collect::<String>()
        ))
    }
}

/// 43 to 64 characters of `A-Z a-z 0-9 + / =` (the XKS proxy API's
/// `RawSecretAccessKey`). The message never quotes it.
fn check_secret(secret: &SecretKey) -> Result<(), String> {
    let s = secret.expose();
    if (43..=64).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/' || b == b'=')
    {
        Ok(())
    } else {
        Err("invalid secret_access_key: 43 to 64 characters of A-Z, a-z, 0-9, +, / and =".into())
    }
}

/// 1 to 128 characters of `A-Z a-z 0-9 - . _` (the API's `externalKeyId`).
fn check_key_id(id: &str) -> Result<(), String> {
    if (1..=MAX_KEY_ID).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_')
    {
        Ok(())
    } else {
        Err(format!(
            "invalid key id {id:?}: 1 to 128 characters of A-Z, a-z, 0-9, -, . and _"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
listen = "127.0.0.1:0"
[[key_stores]]
uri_path_prefix = "/example/uri/path/prefix"
credentials = [
  { access_key_id = "AKIA4GBY3I6JCE5M2HPM", secret_access_key = "1234567890123456789012345678901234567890123=" },
  { access_key_id = "BKIA4GBY3I6JCE5M2HPM", secret_access_key = "FYtE5EFA5FT0mCc3DrGUe2sti527BitkQ0Zr9MO9fvE" },
]
keys = [
  { id = "foo", usage = ["ENCRYPT", "DECRYPT"] },
  { id = "encrypt_only_key", usage = ["ENCRYPT"] },
  { id = "impotent_key", usage = [] },
]
"#;

    fn resolve(text: &str) -> Result<XksSettings, String> {
        let file: XksFileConfig = toml::from_str(text).map_err(|e| e.to_string())?;
        XksSettings::resolve(file)
    }

    #[test]
    fn a_good_table() {
        let s = resolve(GOOD).unwrap();
        assert!(s.tls.is_none());
        let ks = &s.key_stores[0];
        assert_eq!(ks.uri_path_prefix, "/example/uri/path/prefix");
        assert_eq!(ks.credentials.len(), 2);
        assert_eq!(ks.keys[0].1.names(), ["ENCRYPT", "DECRYPT"]);
        assert_eq!(ks.keys[2].1, Usage::default());
        // The secrets never print.
        let debug = format!("{s:?}");
        assert!(!debug.contains("1234567890123456789012345678901234567890123="));
        assert!(!debug.contains("FYtE5EFA5FT0mCc3DrGUe2sti527BitkQ0Zr9MO9fvE"));
    }

    #[test]
    fn refusals() {
        let cases: &[(&str, &str, &str)] = &[
            ("127.0.0.1:0", "0.0.0.0:4600", "without TLS"),
            (
                "[\"ENCRYPT\", \"DECRYPT\"]",
                "[\"ENCRYPT\", \"SIGN\"]",
                "unknown usage",
            ),
            (
                "usage = [\"ENCRYPT\"]",
                "usage = [\"ENCRYPT\", \"ENCRYPT\"]",
                "twice",
            ),
            ("\"encrypt_only_key\"", "\"foo\"", "duplicate key id"),
            ("\"impotent_key\"", "\"bad/id\"", "invalid key id"),
            (
                "AKIA4GBY3I6JCE5M2HPM",
                "akia4gby3i6jce5m2hpm",
                "invalid access_key_id",
            ),
            (
                "AKIA4GBY3I6JCE5M2HPM",
                "AKIA4GBY3I6JCE5M2HP",
                "invalid access_key_id",
            ),
            (
                "BKIA4GBY3I6JCE5M2HPM",
                "AKIA4GBY3I6JCE5M2HPM",
                "duplicate access_key_id",
            ),
            (
                "1234567890123456789012345678901234567890123=",
                "short",
                "invalid secret_access_key",
            ),
            (
                "1234567890123456789012345678901234567890123=",
                "123456789012345678901234567890123456789012_4",
                "invalid secret_access_key",
            ),
            ("/example/uri/path/prefix", "example", "start with /"),
            (
                "/example/uri/path/prefix",
                "/example/",
                "empty path segment",
            ),
            ("/example/uri/path/prefix", "/ex.ample", "only a-z"),
        ];
        for (from, to, expected) in cases {
            let text = GOOD.replacen(from, to, 1);
            let err = resolve(&text).unwrap_err();
            assert!(err.contains(expected), "{from} -> {to}: {err}");
            assert!(!err.contains("123456789012345678901234567890123456789012_4"));
        }
        let twice = format!(
            "{GOOD}{}",
            &GOOD[GOOD.find("[[key_stores]]").unwrap()..]
                .replace("AKIA", "CKIA")
                .replace("BKIA", "DKIA")
        );
        assert!(resolve(&twice).unwrap_err().contains("duplicate key store"));
        let long = format!("/{}", "a".repeat(117));
        assert!(resolve(&GOOD.replace("/example/uri/path/prefix", &long))
            .unwrap_err()
            .contains("128"));
        assert!(resolve(&GOOD.replace("/example/uri/path/prefix", &long[..117])).is_ok());
        assert!(resolve(&GOOD.replace("/example/uri/path/prefix", "")).is_ok());
        assert!(resolve("listen = \"127.0.0.1:0\"\n")
            .unwrap_err()
            .contains("no [[xks.key_stores]]"));
        let tls_half = GOOD.replacen(
            "listen = \"127.0.0.1:0\"",
            "listen = \"127.0.0.1:0\"\ntls_cert = \"/x\"",
            1,
        );
        assert!(resolve(&tls_half).unwrap_err().contains("go together"));
        let tls = GOOD.replacen(
            "listen = \"127.0.0.1:0\"",
            "listen = \"0.0.0.0:0\"\ntls_cert = \"/x\"\ntls_key = \"/y\"",
            1,
        );
        assert!(resolve(&tls).unwrap().tls.is_some());
        assert!(
            resolve(&GOOD.replace("usage = []", "")).is_err(),
            "usage is required"
        );
    }
}
