//! Trent as an AWS KMS External Key Store (XKS) proxy, through the real `trent` binary:
//! the XKS proxy API v1 driven with `curl --aws-sigv4 "aws:amz:us-east-1:kms-xks-proxy"`
//! as AWS's XKS test client drives it, over plain HTTP on loopback and over TLS with and
//! without client certificates, the starts it must refuse, and (when its checkout is
//! given) AWS's test client itself.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use serde_json::{json, Value};
use trent_testkit::process::{Launch, Trent};
use trent_testkit::xks::{endpoint, Answer, Call, TlsFiles};

const PREFIX: &str = "/example/uri/path/prefix";
const OTHER_PREFIX: &str = "/tenant-b";
// AWS's test client's defaults, and a second (rotated) credential.
const AK1: &str = "AKIA4GBY3I6JCE5M2HPM";
const SK1: &str = "1234567890123456789012345678901234567890123=";
const AK2: &str = "XKSROTATED234567ABCDEFGH";
const SK2: &str = "FYtE5EFA5FT0mCc3DrGUe2sti527BitkQ0Zr9MO9fvE";
const AK_OTHER: &str = "OTHERSTORE2345672345";
const SK_OTHER: &str = "b3RoZXItc3RvcmUtc2VjcmV0LWtleS0wMTIzNDU2Nzg5YWI=";

fn key_stores() -> String {
    format!(
        r#"
[[xks.key_stores]]
uri_path_prefix = "{PREFIX}"
credentials = [
  {{ access_key_id = "{AK1}", secret_access_key = "{SK1}" }},
  {{ access_key_id = "{AK2}", secret_access_key = "{SK2}" }},
]
keys = [
  {{ id = "foo", usage = ["ENCRYPT", "DECRYPT"] }},
  {{ id = "encrypt_only_key", usage = ["ENCRYPT"] }},
  {{ id = "decrypt_only_key", usage = ["DECRYPT"] }},
  {{ id = "impotent_key", usage = [] }},
]

[[xks.key_stores]]
uri_path_prefix = "{OTHER_PREFIX}"
credentials = [{{ access_key_id = "{AK_OTHER}", secret_access_key = "{SK_OTHER}" }}]
keys = [{{ id = "foo", usage = ["ENCRYPT", "DECRYPT"] }}]
"#
    )
}

/// A config file with `[xks]` = `head` and the key stores above.
fn config(dir: &Path, head: &str) -> PathBuf {
    let path = dir.join("trent.toml");
    std::fs::write(&path, format!("[xks]\n{head}\n{}", key_stores())).unwrap();
    path
}

fn serve(data: &Path, config: &Path) -> Launch {
    Launch::serve()
        .data_dir(data)
        .args(["--config", config.to_str().unwrap()])
}

fn metadata(operation: &str) -> Value {
    json!({
        "awsPrincipalArn": "arn:aws:iam::123456789012:user/Alice",
        "kmsKeyArn": "arn:aws:kms:us-east-2:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
        "kmsOperation": operation,
        "kmsRequestId": uuid::Uuid::new_v4().to_string(),
        "kmsViaService": "ebs",
    })
}

/// The XKS API of one running server, as the first key store's first credential.
struct Xks {
    base: String,
    curl_args: Vec<String>,
}

impl Xks {
    fn new(server: &Trent) -> Self {
        Xks {
            base: endpoint(server),
            curl_args: Vec::new(),
        }
    }

    fn call(&self, path: &str, access_key_id: &str, secret: &str) -> Call {
        let mut c = Call::new(format!("{}{path}", self.base), access_key_id, secret);
        c.curl_args.clone_from(&self.curl_args);
        c
    }

    fn post(&self, path: &str, body: &Value) -> Answer {
        self.call(path, AK1, SK1).post(&body.to_string())
    }

    fn key(&self, key: &str, op: &str, body: &Value) -> Answer {
        self.post(&format!("{PREFIX}/kms/xks/v1/keys/{key}/{op}"), body)
    }

    fn health(&self) -> Answer {
        self.post(
            &format!("{PREFIX}/kms/xks/v1/health"),
            &json!({ "requestMetadata": { "kmsRequestId": "h-1", "kmsOperation": "KmsHealthCheck" } }),
        )
    }

    fn encrypt(&self, key: &str, plaintext: &[u8], aad: Option<&[u8]>, cdiv: bool) -> Answer {
        let mut body = json!({
            "requestMetadata": metadata("Encrypt"),
            "plaintext": B64.encode(plaintext),
            "encryptionAlgorithm": "AES_GCM",
        });
        if let Some(aad) = aad {
            body["additionalAuthenticatedData"] = B64.encode(aad).into();
        }
        if cdiv {
            body["ciphertextDataIntegrityValueAlgorithm"] = "SHA_256".into();
        }
        self.key(key, "encrypt", &body)
    }

    fn decrypt(&self, key: &str, encrypted: &Value, aad: Option<&[u8]>) -> Answer {
        let mut body = json!({
            "requestMetadata": metadata("Decrypt"),
            "ciphertext": encrypted["ciphertext"],
            "initializationVector": encrypted["initializationVector"],
            "authenticationTag": encrypted["authenticationTag"],
            "encryptionAlgorithm": "AES_GCM",
        });
        if let Some(aad) = aad {
            body["additionalAuthenticatedData"] = B64.encode(aad).into();
        }
        self.key(key, "decrypt", &body)
    }
}

fn unb64(v: &Value) -> Vec<u8> {
    B64.decode(v.as_str().unwrap()).unwrap()
}

/// `field` of `v` with one bit flipped.
fn flipped(v: &Value, field: &str) -> Value {
    let mut bytes = unb64(&v[field]);
    bytes[0] ^= 1;
    let mut out = v.clone();
    out[field] = B64.encode(bytes).into();
    out
}

/// Whether a segment file of the data directory's audit trail holds `text`.
fn audit_holds(data: &Path, text: &str) -> bool {
    std::fs::read_dir(data.join("audit")).unwrap().any(|e| {
        let bytes = std::fs::read(e.unwrap().path()).unwrap();
        bytes.windows(text.len()).any(|w| w == text.as_bytes())
    })
}

#[test]
fn the_api_over_plain_http_on_loopback() {
    let work = tempfile::tempdir().unwrap();
    let data = work.path().join("data");
    let cfg = config(work.path(), "listen = \"127.0.0.1:0\"");
    let mut server = serve(&data, &cfg).start();
    let xks = Xks::new(&server);
    assert!(xks.base.starts_with("http://127.0.0.1:"), "{}", xks.base);

    // GetHealthStatus: a real probe of the root key.
    let health = xks.health().assert_ok();
    assert_eq!(health["xksProxyFleetSize"], 1);
    assert_eq!(health["xksProxyVendor"], "Trent");
    assert!(health["xksProxyModel"]
        .as_str()
        .unwrap()
        .starts_with("Trent XKS Proxy "));
    assert_eq!(health["ekmVendor"], "Trent");
    let fleet = health["ekmFleetDetails"].as_array().unwrap();
    assert_eq!(fleet.len(), 1);
    assert_eq!(fleet[0]["healthStatus"], "ACTIVE");
    assert!(fleet[0]["id"].is_string() && fleet[0]["model"].is_string());
    let health_path = format!("{PREFIX}/kms/xks/v1/health");
    xks.post(&health_path, &json!({}))
        .assert_error(400, "ValidationException");
    xks.post(&health_path, &json!({ "requestMetadata": {} }))
        .assert_error(400, "ValidationException");

    // GetKeyMetadata.
    for (key, usage) in [
        ("foo", json!(["ENCRYPT", "DECRYPT"])),
        ("encrypt_only_key", json!(["ENCRYPT"])),
        ("decrypt_only_key", json!(["DECRYPT"])),
        ("impotent_key", json!([])),
    ] {
        let m = xks
            .key(
                key,
                "metadata",
                &json!({ "requestMetadata": metadata("DescribeKey") }),
            )
            .assert_ok();
        assert_eq!(
            m,
            json!({ "keySpec": "AES_256", "keyUsage": usage, "keyStatus": "ENABLED" }),
            "{key}"
        );
    }
    // kmsKeyArn is optional for CreateKey; an unknown kmsOperation is accepted.
    let mut create = metadata("CreateKey");
    create.as_object_mut().unwrap().remove("kmsKeyArn");
    xks.key("foo", "metadata", &json!({ "requestMetadata": create }))
        .assert_ok();
    xks.key(
        "foo",
        "metadata",
        &json!({ "requestMetadata": metadata("BulkDescribeKey") }),
    )
    .assert_ok();
    xks.key(
        "nope",
        "metadata",
        &json!({ "requestMetadata": metadata("DescribeKey") }),
    )
    .assert_error(404, "KeyNotFoundException");
    xks.key("foo", "metadata", &json!({}))
        .assert_error(400, "ValidationException");

    // Encrypt and decrypt with AAD.
    let plaintext = b"a data key of thirty-two bytes!!";
    let aad = b"project=nile,department=marketing";
    let enc = xks.encrypt("foo", plaintext, Some(aad), false).assert_ok();
    assert_eq!(unb64(&enc["ciphertext"]).len(), plaintext.len());
    assert_eq!(unb64(&enc["initializationVector"]).len(), 12);
    assert_eq!(unb64(&enc["authenticationTag"]).len(), 16);
    assert!(enc.get("ciphertextDataIntegrityValue").is_none());
    assert!(enc.get("ciphertextMetadata").is_none());
    let dec = xks.decrypt("foo", &enc, Some(aad)).assert_ok();
    assert_eq!(unb64(&dec["plaintext"]), plaintext);
    // Another IV every time.
    let again = xks.encrypt("foo", plaintext, Some(aad), false).assert_ok();
    assert_ne!(again["initializationVector"], enc["initializationVector"]);

    // Wrong, missing or extra AAD, and every tampered field: InvalidCiphertextException.
    xks.decrypt("foo", &enc, Some(b"project=blue"))
        .assert_error(400, "InvalidCiphertextException");
    xks.decrypt("foo", &enc, None)
        .assert_error(400, "InvalidCiphertextException");
    for field in ["ciphertext", "authenticationTag", "initializationVector"] {
        xks.decrypt("foo", &flipped(&enc, field), Some(aad))
            .assert_error(400, "InvalidCiphertextException");
    }
    let mut with_metadata = json!({
        "requestMetadata": metadata("Decrypt"),
        "ciphertext": enc["ciphertext"],
        "initializationVector": enc["initializationVector"],
        "authenticationTag": enc["authenticationTag"],
        "additionalAuthenticatedData": B64.encode(aad),
        "ciphertextMetadata": B64.encode(b"v1"),
        "encryptionAlgorithm": "AES_GCM",
    });
    xks.key("foo", "decrypt", &with_metadata)
        .assert_error(400, "InvalidCiphertextException");
    with_metadata["ciphertextMetadata"] = B64.encode([0u8; 21]).into();
    xks.key("foo", "decrypt", &with_metadata)
        .assert_error(400, "ValidationException");
    // Under another key of the same store, or the same id in another store.
    xks.decrypt("decrypt_only_key", &enc, Some(aad))
        .assert_error(400, "InvalidCiphertextException");
    let other_dec = Call::new(
        format!("{}{OTHER_PREFIX}/kms/xks/v1/keys/foo/decrypt", xks.base),
        AK_OTHER,
        SK_OTHER,
    )
    .post(
        &json!({
            "requestMetadata": metadata("Decrypt"),
            "ciphertext": enc["ciphertext"],
            "initializationVector": enc["initializationVector"],
            "authenticationTag": enc["authenticationTag"],
            "additionalAuthenticatedData": B64.encode(aad),
            "encryptionAlgorithm": "AES_GCM",
        })
        .to_string(),
    );
    other_dec.assert_error(400, "InvalidCiphertextException");

    // The CDIV: SHA-256 over AAD ‖ IV ‖ ciphertext ‖ tag (no ciphertext metadata).
    let enc2 = xks.encrypt("foo", plaintext, Some(aad), true).assert_ok();
    let mut input = aad.to_vec();
    for f in ["initializationVector", "ciphertext", "authenticationTag"] {
        input.extend(unb64(&enc2[f]));
    }
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &input);
    assert_eq!(
        unb64(&enc2["ciphertextDataIntegrityValue"]),
        digest.as_ref()
    );
    let enc3 = xks.encrypt("foo", b"no aad", None, true).assert_ok();
    let mut input = Vec::new();
    for f in ["initializationVector", "ciphertext", "authenticationTag"] {
        input.extend(unb64(&enc3[f]));
    }
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &input);
    assert_eq!(
        unb64(&enc3["ciphertextDataIntegrityValue"]),
        digest.as_ref()
    );
    assert_eq!(
        unb64(&xks.decrypt("foo", &enc3, None).assert_ok()["plaintext"]),
        b"no aad"
    );

    // Key usage.
    let eo = xks
        .encrypt("encrypt_only_key", plaintext, None, false)
        .assert_ok();
    xks.decrypt("encrypt_only_key", &eo, None)
        .assert_error(400, "InvalidKeyUsageException");
    xks.encrypt("encrypt_only_key", plaintext, None, true)
        .assert_error(400, "InvalidKeyUsageException");
    xks.encrypt("decrypt_only_key", plaintext, None, false)
        .assert_error(400, "InvalidKeyUsageException");
    // A decrypt-only key decrypts (this ciphertext is not its own: the usage passed).
    xks.decrypt("decrypt_only_key", &eo, None)
        .assert_error(400, "InvalidCiphertextException");
    xks.encrypt("impotent_key", plaintext, Some(aad), false)
        .assert_error(400, "InvalidKeyUsageException");
    xks.decrypt("impotent_key", &enc, Some(aad))
        .assert_error(400, "InvalidKeyUsageException");
    xks.encrypt("non_existing_key", plaintext, None, false)
        .assert_error(404, "KeyNotFoundException");
    xks.decrypt("non_existing_key", &enc, Some(aad))
        .assert_error(404, "KeyNotFoundException");

    // Sizes: 4300 bytes of plaintext and 8192 of AAD are served, more is not.
    let big = vec![7u8; 4300];
    let big_aad = vec![9u8; 8192];
    let e = xks.encrypt("foo", &big, Some(&big_aad), true).assert_ok();
    assert_eq!(
        unb64(&xks.decrypt("foo", &e, Some(&big_aad)).assert_ok()["plaintext"]),
        big
    );
    xks.encrypt("foo", &vec![7u8; 4301], None, false)
        .assert_error(501, "UnsupportedOperationException");
    xks.encrypt("foo", b"x", Some(&vec![9u8; 8193]), false)
        .assert_error(501, "UnsupportedOperationException");

    // Malformed requests: ValidationException.
    let encrypt_path = format!("{PREFIX}/kms/xks/v1/keys/foo/encrypt");
    let raw = |body: &str| xks.call(&encrypt_path, AK1, SK1).post(body);
    raw("{not json").assert_error(400, "ValidationException");
    raw("[]").assert_error(400, "ValidationException");
    for body in [
        json!({ "requestMetadata": metadata("Encrypt"), "encryptionAlgorithm": "AES_GCM" }),
        json!({ "requestMetadata": metadata("Encrypt"), "plaintext": "AAAA", "encryptionAlgorithm": "AES_CBC" }),
        json!({ "requestMetadata": metadata("Encrypt"), "plaintext": "AAAA" }),
        json!({ "requestMetadata": metadata("Encrypt"), "plaintext": "not base64!", "encryptionAlgorithm": "AES_GCM" }),
        json!({ "requestMetadata": metadata("Encrypt"), "plaintext": 42, "encryptionAlgorithm": "AES_GCM" }),
        json!({ "requestMetadata": metadata("Encrypt"), "plaintext": "AAAA", "encryptionAlgorithm": "AES_GCM", "ciphertextDataIntegrityValueAlgorithm": "MD5" }),
        json!({ "requestMetadata": { "kmsOperation": "Encrypt", "kmsRequestId": "r" }, "plaintext": "AAAA", "encryptionAlgorithm": "AES_GCM" }),
        json!({ "requestMetadata": { "awsPrincipalArn": 1, "kmsKeyArn": "k", "kmsOperation": "Encrypt", "kmsRequestId": "r" }, "plaintext": "AAAA", "encryptionAlgorithm": "AES_GCM" }),
        json!({ "plaintext": "AAAA", "encryptionAlgorithm": "AES_GCM" }),
    ] {
        raw(&body.to_string()).assert_error(400, "ValidationException");
    }
    raw(r#"{"plaintext":"AAAA","plaintext":"AAAA","encryptionAlgorithm":"AES_GCM"}"#)
        .assert_error(400, "ValidationException");

    // Credentials: the second one of the store works, unknown ones, a wrong secret, an
    // unsigned request and the credential of another key store do not.
    let second = xks.call(&health_path, AK2, SK2).post(
        &json!({ "requestMetadata": { "kmsRequestId": "r", "kmsOperation": "KmsHealthCheck" } })
            .to_string(),
    );
    assert_eq!(second.status, 200, "{}", second.body);
    let body = json!({ "requestMetadata": metadata("DescribeKey") }).to_string();
    let metadata_path = format!("{PREFIX}/kms/xks/v1/keys/foo/metadata");
    for (ak, sk) in [
        ("INVALID234567ABCDEFGHIJ", SK1),
        (AK1, "Invalid1234567890123456789012345678901234567890123="),
        (AK_OTHER, SK_OTHER),
    ] {
        xks.call(&metadata_path, ak, sk)
            .post(&body)
            .assert_error(401, "AuthenticationFailedException");
    }
    let mut unsigned = xks.call(&metadata_path, AK1, SK1);
    unsigned.signed = false;
    unsigned
        .post(&body)
        .assert_error(401, "AuthenticationFailedException");
    // Any region in the credential scope.
    let mut eu = xks.call(&metadata_path, AK1, SK1);
    eu.region = "eu-west-1".into();
    assert_eq!(eu.post(&body).status, 200);
    // Signed as AWS KMS signs (SignedHeaders=host;x-amz-date, the Content-Type it sends
    // unsigned; curl signs it too).
    let host = xks.base.trim_start_matches("http://").to_owned();
    let signer = trent_sigv4::Signer::new(
        trent_sigv4::Credentials {
            access_key_id: AK1.into(),
            secret_access_key: trent_sigv4::SecretKey::new(SK1),
            session_token: None,
        },
        "us-west-2",
        "kms-xks-proxy",
    );
    let mut kms_like = xks.call(&metadata_path, AK1, SK1);
    kms_like.signed = false;
    for (name, value) in signer.sign(
        "POST",
        &metadata_path,
        "",
        &[("host", &host)],
        body.as_bytes(),
        std::time::SystemTime::now(),
    ) {
        if name == "authorization" {
            assert!(value.contains("SignedHeaders=host;x-amz-date,"), "{value}");
        }
        kms_like
            .curl_args
            .extend(["-H".to_owned(), format!("{name}: {value}")]);
    }
    assert_eq!(kms_like.post(&body).status, 200);
    // The other store's credential serves the other store.
    let other = Call::new(
        format!("{}{OTHER_PREFIX}/kms/xks/v1/keys/foo/metadata", xks.base),
        AK_OTHER,
        SK_OTHER,
    );
    assert_eq!(other.post(&body).status, 200);

    // Paths and methods.
    for path in [
        format!("{PREFIX}/invalid/kms/xks/v1/health"),
        "/kms/xks/v1/health".to_owned(),
        format!("{PREFIX}/kms/xks/v1/keys/foo/sign"),
        format!("{PREFIX}/kms/xks/v2/keys/foo/encrypt"),
        "/".to_owned(),
    ] {
        xks.call(&path, AK1, SK1)
            .post(&body)
            .assert_error(404, "InvalidUriPathException");
    }
    let mut get = xks.call(&metadata_path, AK1, SK1);
    get.method = "GET".into();
    let answer = get.post(&body);
    assert_eq!(answer.status, 405, "{}", answer.body);
    assert!(answer.error_name().is_some(), "{}", answer.body);

    // Audited: the request metadata (its kmsRequestId) under the event source
    // kms-xks-proxy, never the plaintext.
    let marked = json!({
        "requestMetadata": { "kmsRequestId": "audit-marker-7f3e", "kmsOperation": "KmsHealthCheck" }
    });
    xks.post(&health_path, &marked).assert_ok();
    assert!(audit_holds(&data, "audit-marker-7f3e"));
    assert!(audit_holds(&data, "kms-xks-proxy"));
    assert!(audit_holds(&data, "XksProxyCredential"));
    let secret_plaintext = b"never-in-the-audit-trail-0123456";
    let enc4 = xks
        .encrypt("foo", secret_plaintext, None, false)
        .assert_ok();
    xks.decrypt("foo", &enc4, None).assert_ok();
    let encoded = B64.encode(secret_plaintext);
    assert!(!audit_holds(&data, &encoded));
    assert!(!audit_holds(
        &data,
        std::str::from_utf8(secret_plaintext).unwrap()
    ));
    assert!(!audit_holds(&data, SK1) && !audit_holds(&data, SK2));
    assert!(!server.logs().contains(SK1) && !server.logs().contains(&encoded));

    // The same keys after a restart (derived from the stored master secret).
    server.kill();
    let server = serve(&data, &cfg).start();
    let xks = Xks::new(&server);
    let dec = xks.decrypt("foo", &enc, Some(aad)).assert_ok();
    assert_eq!(unb64(&dec["plaintext"]), plaintext);
}

/// Waits (without a fixed sleep) until `needle` appears `count` times in the log.
#[track_caller]
fn wait_for_log(server: &Trent, needle: &str, count: usize) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while server.logs().matches(needle).count() < count {
        assert!(
            std::time::Instant::now() < deadline,
            "{needle:?} did not appear {count} time(s) in the log:\n{}",
            server.logs()
        );
        std::thread::yield_now();
    }
}

/// Credential rotation without a restart (the specification's SHOULD): SIGHUP re-reads
/// the key stores; the keys stay the same; an invalid file is refused and the running
/// configuration stays.
#[test]
fn sighup_rotates_the_credentials() {
    const AK3: &str = "NEWKEYNEWKEY234567ABCDE";
    const SK3: &str = "bmV3LXNlY3JldC1rZXktYWZ0ZXItcm90YXRpb24tMDEyMw==";
    let work = tempfile::tempdir().unwrap();
    let data = work.path().join("data");
    let cfg = config(work.path(), "listen = \"127.0.0.1:0\"");
    let server = serve(&data, &cfg).start();
    let xks = Xks::new(&server);
    let aad = b"rotation";
    let enc = xks
        .encrypt("foo", b"kept across the reload", Some(aad), false)
        .assert_ok();
    let body = json!({ "requestMetadata": metadata("DescribeKey") }).to_string();
    let path = format!("{PREFIX}/kms/xks/v1/keys/foo/metadata");

    // AK1 retired, AK3 added.
    let rotated = std::fs::read_to_string(&cfg)
        .unwrap()
        .replace(AK1, AK3)
        .replace(SK1, SK3);
    std::fs::write(&cfg, rotated).unwrap();
    server.signal("HUP");
    wait_for_log(&server, "SIGHUP: XKS key stores reloaded", 1);
    assert_eq!(xks.call(&path, AK3, SK3).post(&body).status, 200);
    assert_eq!(xks.call(&path, AK2, SK2).post(&body).status, 200);
    xks.call(&path, AK1, SK1)
        .post(&body)
        .assert_error(401, "AuthenticationFailedException");
    let dec = xks.call(&format!("{PREFIX}/kms/xks/v1/keys/foo/decrypt"), AK3, SK3);
    let answer = dec.post(
        &json!({
            "requestMetadata": metadata("Decrypt"),
            "ciphertext": enc["ciphertext"],
            "initializationVector": enc["initializationVector"],
            "authenticationTag": enc["authenticationTag"],
            "additionalAuthenticatedData": B64.encode(aad),
            "encryptionAlgorithm": "AES_GCM",
        })
        .to_string(),
    );
    assert_eq!(
        unb64(&answer.assert_ok()["plaintext"]),
        b"kept across the reload"
    );

    // An invalid file (a malformed secret) is refused; AK3 keeps working.
    let broken = std::fs::read_to_string(&cfg).unwrap().replace(SK3, "short");
    std::fs::write(&cfg, broken).unwrap();
    server.signal("HUP");
    wait_for_log(&server, "SIGHUP: config file refused", 1);
    assert!(
        !server.logs().contains("short\""),
        "the secret is not quoted"
    );
    assert_eq!(xks.call(&path, AK3, SK3).post(&body).status, 200);
}

#[test]
fn tls_and_mutual_tls() {
    let work = tempfile::tempdir().unwrap();
    let tls = TlsFiles::make(&work.path().join("tls"), "xks");
    let other = TlsFiles::make(&work.path().join("tls"), "other");
    let health =
        json!({ "requestMetadata": { "kmsRequestId": "r", "kmsOperation": "KmsHealthCheck" } })
            .to_string();
    let path = format!("{PREFIX}/kms/xks/v1/health");

    // TLS on a non-loopback address, no client certificates.
    let data = work.path().join("data");
    let cfg = config(
        work.path(),
        &format!(
            "listen = \"0.0.0.0:0\"\ntls_cert = \"{}\"\ntls_key = \"{}\"",
            tls.server_cert.display(),
            tls.server_key.display()
        ),
    );
    let server = serve(&data, &cfg).start();
    let base = endpoint(&server);
    assert!(base.starts_with("https://0.0.0.0:"), "{base}");
    let base = base.replace("0.0.0.0", "127.0.0.1");
    let mut call = Call::new(format!("{base}{path}"), AK1, SK1);
    call.curl_args = vec!["--cacert".into(), tls.ca_cert.display().to_string()];
    assert_eq!(call.post(&health).status, 200);
    // A client that does not trust the CA, and plain HTTP, get nowhere.
    let mut untrusting = call.clone();
    untrusting.curl_args = vec!["--cacert".into(), other.ca_cert.display().to_string()];
    assert!(untrusting.send(&health).is_err());
    let plain = Call::new(
        format!("{}{path}", base.replace("https://", "http://")),
        AK1,
        SK1,
    );
    assert!(!matches!(plain.send(&health), Ok(a) if a.status == 200));
    drop(server);

    // Mutual TLS: a client certificate of the configured CA is required.
    let data = work.path().join("data-mtls");
    let cfg = config(
        work.path(),
        &format!(
            "listen = \"127.0.0.1:0\"\ntls_cert = \"{}\"\ntls_key = \"{}\"\nclient_ca = \"{}\"",
            tls.server_cert.display(),
            tls.server_key.display(),
            tls.ca_cert.display()
        ),
    );
    let server = serve(&data, &cfg).start();
    let base = endpoint(&server);
    assert!(base.starts_with("https://127.0.0.1:"), "{base}");
    let mut call = Call::new(format!("{base}{path}"), AK1, SK1);
    call.curl_args = vec!["--cacert".into(), tls.ca_cert.display().to_string()];
    assert!(
        call.send(&health).is_err(),
        "no client certificate must be refused"
    );
    let mut foreign = call.clone();
    foreign.curl_args.extend([
        "--cert".into(),
        other.client_cert.display().to_string(),
        "--key".into(),
        other.client_key.display().to_string(),
    ]);
    assert!(
        foreign.send(&health).is_err(),
        "another CA's client must be refused"
    );
    let mut with_cert = call.clone();
    with_cert.curl_args.extend([
        "--cert".into(),
        tls.client_cert.display().to_string(),
        "--key".into(),
        tls.client_key.display().to_string(),
    ]);
    let answer = with_cert.post(&health);
    assert_eq!(answer.status, 200, "{}", answer.body);
    // mTLS does not replace SigV4.
    let mut wrong_key = with_cert.clone();
    wrong_key.secret_access_key = SK2.into();
    wrong_key
        .post(&health)
        .assert_error(401, "AuthenticationFailedException");
    drop(server);

    // With client_subject, the client certificate's subject CN must be it too.
    for (subject, accepted) in [
        ("xks client", true),
        ("cks.kms.us-east-1.amazonaws.com", false),
    ] {
        let data = work.path().join(format!("data-subject-{accepted}"));
        let cfg = config(
            work.path(),
            &format!(
                "listen = \"127.0.0.1:0\"\ntls_cert = \"{}\"\ntls_key = \"{}\"\nclient_ca = \"{}\"\nclient_subject = \"{subject}\"",
                tls.server_cert.display(),
                tls.server_key.display(),
                tls.ca_cert.display()
            ),
        );
        let server = serve(&data, &cfg).start();
        let mut call = with_cert.clone();
        call.url = format!("{}{path}", endpoint(&server));
        match call.send(&health) {
            Ok(answer) if accepted => assert_eq!(answer.status, 200, "{}", answer.body),
            Err(_) if !accepted => {}
            other => panic!("client_subject {subject:?}: {other:?}"),
        }
    }
}

#[test]
fn starts_it_must_refuse() {
    let work = tempfile::tempdir().unwrap();
    let tls = TlsFiles::make(&work.path().join("tls"), "xks");
    let data = work.path().join("data");
    let good_tls = format!(
        "tls_cert = \"{}\"\ntls_key = \"{}\"",
        tls.server_cert.display(),
        tls.server_key.display()
    );
    let cases: Vec<(String, String, &str)> = vec![
        // Not loopback without TLS: fail closed.
        ("listen = \"0.0.0.0:0\"".into(), key_stores(), "without TLS"),
        (
            "listen = \"127.0.0.1:0\"\ntls_cert = \"/nonexistent/xks.pem\"\ntls_key = \"/nonexistent/xks.key\"".into(),
            key_stores(),
            "cannot read tls_cert",
        ),
        (
            format!(
                "listen = \"127.0.0.1:0\"\ntls_cert = \"{}\"\ntls_key = \"{}\"",
                tls.server_cert.display(),
                tls.server_cert.display()
            ),
            key_stores(),
            "no PEM private key",
        ),
        (
            format!("listen = \"127.0.0.1:0\"\n{good_tls}\nclient_subject = \"xks client\""),
            key_stores(),
            "client_subject needs client_ca",
        ),
        (
            format!("listen = \"127.0.0.1:0\"\n{good_tls}\nclient_ca = \"/nonexistent/ca.pem\""),
            key_stores(),
            "cannot read client_ca",
        ),
        (
            "listen = \"127.0.0.1:0\"".into(),
            key_stores().replace(AK1, "akia4gby3i6jce5m2hpm"),
            "invalid access_key_id",
        ),
        (
            "listen = \"127.0.0.1:0\"".into(),
            key_stores().replace(SK1, "too-short-secret"),
            "invalid secret_access_key",
        ),
        (
            "listen = \"127.0.0.1:0\"".into(),
            key_stores().replace(OTHER_PREFIX, PREFIX),
            "duplicate key store",
        ),
        (
            "listen = \"127.0.0.1:0\"".into(),
            key_stores().replace("\"decrypt_only_key\"", "\"foo\""),
            "duplicate key id",
        ),
        (
            "listen = \"127.0.0.1:0\"".into(),
            key_stores().replace("[\"DECRYPT\"]", "[\"UNWRAP\"]"),
            "unknown usage",
        ),
        (
            "listen = \"127.0.0.1:0\"".into(),
            key_stores().replace("uri_path_prefix = \"/tenant-b\"", "uri_path_prefix = \"/tenant-b\"\nkeystore = 1"),
            "unknown field",
        ),
    ];
    for (head, stores, expected) in cases {
        let path = work.path().join("refused.toml");
        std::fs::write(&path, format!("[xks]\n{head}\n{stores}")).unwrap();
        let run = serve(&data, &path).start_fails();
        let out = run.output();
        assert!(out.contains(expected), "{expected}: {out}");
        assert!(
            !out.contains(SK1) && !out.contains("too-short-secret"),
            "{out}"
        );
        // Refused before anything was created.
        assert!(!data.join("trent.db").exists(), "{expected}");
    }
}
