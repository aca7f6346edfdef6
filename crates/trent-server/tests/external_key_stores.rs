//! External key stores (EXTERNAL_KEY_STORE) of one Trent whose XKS proxy is a second
//! Trent's XKS endpoint over TLS: created only when the proxy answers with the credential,
//! connected in the background, and failing with AWS's errors and connection error codes
//! for a wrong credential, a wrong path, an untrusted certificate, a proxy that is down and
//! one that never answers (the 250 ms budget). Both servers are the real `trent` binary;
//! the first is driven with the AWS SDK.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::time::{Duration, Instant};

use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{
    ConnectionErrorCodeType, ConnectionStateType, CustomKeyStoreType, OriginType,
    XksProxyAuthenticationCredentialType, XksProxyConnectivityType,
};
use aws_sdk_kms::Client;
use trent_testkit::process::{Launch, Trent};
use trent_testkit::sdk::{client, expect_code, ok, REGION};
use trent_testkit::server::read_credentials_file;
use trent_testkit::xks::{endpoint, TlsFiles};

const PREFIX: &str = "/ext";
const PATH: &str = "/ext/kms/xks/v1";
const AK: &str = "XKSTESTACCESSKEY2345";
const SK: &str = "c2VjcmV0LWFjY2Vzcy1rZXktb2YtdGhlLXByb3h5LTAx";
const OTHER_SK: &str = "YW5vdGhlci1zZWNyZXQtYWNjZXNzLWtleS0wMTIzNDU2";

/// The proxy: a Trent serving the XKS API over TLS for `localhost`.
fn proxy(work: &Path, tls: &TlsFiles, listen: &str) -> Trent {
    let config = work.join("proxy.toml");
    std::fs::write(
        &config,
        format!(
            "[xks]\nlisten = \"{listen}\"\ntls_cert = \"{}\"\ntls_key = \"{}\"\n\n[[xks.key_stores]]\nuri_path_prefix = \"{PREFIX}\"\ncredentials = [{{ access_key_id = \"{AK}\", secret_access_key = \"{SK}\" }}]\nkeys = [{{ id = \"foo\", usage = [\"ENCRYPT\", \"DECRYPT\"] }}, {{ id = \"bar\", usage = [\"ENCRYPT\", \"DECRYPT\"] }}, {{ id = \"encrypt_only\", usage = [\"ENCRYPT\"] }}]\n",
            tls.server_cert.display(),
            tls.server_key.display()
        ),
    )
    .unwrap();
    Launch::serve()
        .data_dir(work.join("proxy-data"))
        .args(["--config", config.to_str().unwrap()])
        .start()
}

/// The KMS: `https://localhost` is reached at `proxy_addr`, `https://silent.test` at
/// `silent_addr`; the test CA is trusted if `trust`.
fn kms(
    work: &Path,
    name: &str,
    tls: &TlsFiles,
    proxy_addr: &str,
    silent_addr: &str,
    trust: bool,
) -> (Trent, Client) {
    let config = work.join(format!("{name}.toml"));
    let ca = if trust {
        format!("ca_file = \"{}\"\n", tls.ca_cert.display())
    } else {
        String::new()
    };
    std::fs::write(
        &config,
        format!(
            "[xks_client]\n{ca}connect_to = [\n  {{ endpoint = \"https://localhost\", address = \"{proxy_addr}\" }},\n  {{ endpoint = \"https://silent.test\", address = \"{silent_addr}\" }},\n]\n"
        ),
    )
    .unwrap();
    let data = work.join(format!("{name}-data"));
    let server = Launch::serve()
        .data_dir(&data)
        .args(["--config", config.to_str().unwrap()])
        .start();
    let (id, secret) = read_credentials_file(&data);
    let client = client(server.endpoint(), REGION, &id, &secret);
    (server, client)
}

fn credential(secret: &str) -> XksProxyAuthenticationCredentialType {
    XksProxyAuthenticationCredentialType::builder()
        .access_key_id(AK)
        .raw_secret_access_key(secret)
        .build()
        .unwrap()
}

fn create(
    client: &Client,
    name: &str,
    endpoint: &str,
    path: &str,
    secret: &str,
) -> aws_sdk_kms::operation::create_custom_key_store::builders::CreateCustomKeyStoreFluentBuilder {
    client
        .create_custom_key_store()
        .custom_key_store_name(name)
        .custom_key_store_type(CustomKeyStoreType::ExternalKeyStore)
        .xks_proxy_uri_endpoint(endpoint)
        .xks_proxy_uri_path(path)
        .xks_proxy_authentication_credential(credential(secret))
        .xks_proxy_connectivity(XksProxyConnectivityType::PublicEndpoint)
}

use trent_testkit::sdk::{
    connect_custom_key_store as connect, describe_custom_key_store as describe,
};

async fn disconnect(client: &Client, id: &str) {
    ok(client
        .disconnect_custom_key_store()
        .custom_key_store_id(id)
        .send()
        .await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_external_key_store_on_another_trents_xks_proxy() {
    let work = tempfile::tempdir().unwrap();
    let tls = TlsFiles::make(&work.path().join("tls"), "xks");
    let mut xks = proxy(work.path(), &tls, "127.0.0.1:0");
    let proxy_addr = endpoint(&xks).trim_start_matches("https://").to_owned();
    // A proxy that accepts connections and never answers.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_addr = silent.local_addr().unwrap().to_string();
    let (_server, kms) = kms(work.path(), "kms", &tls, &proxy_addr, &silent_addr, true);

    // What CreateCustomKeyStore checks of the proxy, before anything is stored.
    expect_code(
        create(&kms, "s", "https://localhost", PATH, OTHER_SK)
            .send()
            .await,
        "XksProxyIncorrectAuthenticationCredentialException",
    );
    expect_code(
        create(&kms, "s", "https://localhost", "/nope/kms/xks/v1", SK)
            .send()
            .await,
        "XksProxyInvalidConfigurationException",
    );
    let started = Instant::now();
    expect_code(
        create(&kms, "s", "https://silent.test", PATH, SK)
            .send()
            .await,
        "XksProxyUriUnreachableException",
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    expect_code(
        create(&kms, "s", "https://unknown-host.invalid", PATH, SK)
            .send()
            .await,
        "XksProxyUriUnreachableException",
    );
    expect_code(
        create(&kms, "s", "https://localhost", PATH, SK)
            .xks_proxy_connectivity(XksProxyConnectivityType::VpcEndpointService)
            .xks_proxy_vpc_endpoint_service_name(
                "com.amazonaws.vpce.us-east-1.vpce-svc-0123456789abcdef0",
            )
            .send()
            .await,
        "XksProxyVpcEndpointServiceNotFoundException",
    );
    assert!(ok(kms.describe_custom_key_stores().send().await)
        .custom_key_stores()
        .is_empty());

    let created = ok(create(&kms, "ext", "https://localhost", PATH, SK)
        .send()
        .await);
    // The proxy was told of this very request: its id is in the proxy's audit trail.
    let request_id = aws_sdk_kms::operation::RequestId::request_id(&created)
        .unwrap()
        .to_owned();
    assert!(
        audit_text(work.path()).contains(&request_id),
        "{request_id}"
    );
    let id = created.custom_key_store_id.unwrap();
    expect_code(
        create(&kms, "ext-again", "https://localhost", PATH, SK)
            .send()
            .await,
        "XksProxyUriInUseException",
    );
    let entry = describe(&kms, &id).await;
    assert_eq!(
        entry.custom_key_store_type(),
        Some(&CustomKeyStoreType::ExternalKeyStore)
    );
    assert_eq!(
        entry.connection_state(),
        Some(&ConnectionStateType::Disconnected)
    );
    let proxy_config = entry.xks_proxy_configuration().unwrap();
    assert_eq!(proxy_config.uri_endpoint(), Some("https://localhost"));
    assert_eq!(proxy_config.uri_path(), Some(PATH));
    assert_eq!(proxy_config.access_key_id(), Some(AK));
    assert_eq!(
        proxy_config.connectivity(),
        Some(&XksProxyConnectivityType::PublicEndpoint)
    );
    assert_eq!(entry.cloud_hsm_cluster_id(), None);

    let connected = connect(&kms, &id).await;
    assert_eq!(
        connected.connection_state(),
        Some(&ConnectionStateType::Connected)
    );
    // Keys: the proxy describes the external key first.
    let xks_key = |key: &str| {
        kms.create_key()
            .custom_key_store_id(&id)
            .origin(OriginType::ExternalKeyStore)
            .xks_key_id(key)
            .send()
    };
    expect_code(xks_key("missing").await, "XksKeyNotFoundException");
    expect_code(
        xks_key("encrypt_only").await,
        "XksKeyInvalidConfigurationException",
    );
    let md = ok(xks_key("foo").await).key_metadata.unwrap();
    assert_eq!(md.origin(), Some(&OriginType::ExternalKeyStore));
    assert_eq!(md.custom_key_store_id(), Some(id.as_str()));
    assert_eq!(md.xks_key_configuration().unwrap().id(), Some("foo"));
    let key = md.key_id;
    expect_code(xks_key("foo").await, "XksKeyAlreadyInUseException");
    trent_testkit::sdk::expect_err(
        kms.create_key().xks_key_id("foo").send().await,
        "ValidationException",
        Some("XksKeyId is valid only with Origin EXTERNAL_KEY_STORE."),
    );
    trent_testkit::sdk::expect_err(
        kms.create_key()
            .custom_key_store_id(&id)
            .origin(OriginType::ExternalKeyStore)
            .send()
            .await,
        "ValidationException",
        Some("An XksKeyId is required to create a KMS key with Origin EXTERNAL_KEY_STORE."),
    );
    trent_testkit::sdk::expect_err(
        kms.update_custom_key_store()
            .custom_key_store_id(&id)
            .key_store_password("not-for-an-external-store")
            .send()
            .await,
        "ValidationException",
        Some("KeyStorePassword and CloudHsmClusterId are not valid for a custom key store of type EXTERNAL_KEY_STORE."),
    );
    let other = ok(xks_key("bar").await).key_metadata.unwrap().key_id;

    // Double encryption: Trent's material, then the external key through the proxy.
    let blob = encrypt(&kms, &key, b"outside and inside").await.unwrap();
    assert_eq!(decrypt(&kms, &blob).await.unwrap(), b"outside and inside");
    let data_key = ok(kms
        .generate_data_key()
        .key_id(&key)
        .number_of_bytes(32)
        .send()
        .await);
    assert_eq!(
        decrypt(&kms, data_key.ciphertext_blob().unwrap())
            .await
            .unwrap(),
        data_key.plaintext().unwrap().as_ref()
    );
    // Tampered, another context, another key of the store: refused.
    let mut tampered = blob.clone().into_inner();
    let at = tampered.len() - 20;
    tampered[at] ^= 1;
    assert_eq!(
        decrypt(&kms, &Blob::new(tampered)).await.unwrap_err(),
        "InvalidCiphertextException"
    );
    let other_context = ok_or_code(
        kms.decrypt()
            .ciphertext_blob(blob.clone())
            .encryption_context("k", "v")
            .send()
            .await,
    );
    assert_eq!(other_context.unwrap_err(), "InvalidCiphertextException");
    let wrong_key = ok_or_code(
        kms.decrypt()
            .ciphertext_blob(blob.clone())
            .key_id(&other)
            .send()
            .await,
    );
    assert_eq!(wrong_key.unwrap_err(), "IncorrectKeyException");
    // The proxy's audit trail names the KMS request, its principal and the key.
    let arn = md.arn.unwrap();
    assert!(
        audit_text(work.path()).contains(&arn),
        "the proxy's audit trail names the key"
    );

    // Disconnected: the key is Unavailable.
    disconnect(&kms, &id).await;
    let state = ok(kms.describe_key().key_id(&key).send().await)
        .key_metadata
        .unwrap()
        .key_state
        .unwrap();
    assert_eq!(state, aws_sdk_kms::types::KeyState::Unavailable);
    assert_eq!(
        encrypt(&kms, &key, b"x").await.unwrap_err(),
        "KMSInvalidStateException"
    );
    assert_eq!(
        connect(&kms, &id).await.connection_state(),
        Some(&ConnectionStateType::Connected)
    );
    assert_eq!(decrypt(&kms, &blob).await.unwrap(), b"outside and inside");
    // The proxy fails under a connected store: KMSInvalidStateException, never a plaintext.
    let port_now = proxy_addr.rsplit(':').next().unwrap().to_owned();
    xks.kill();
    assert_eq!(
        decrypt(&kms, &blob).await.unwrap_err(),
        "KMSInvalidStateException"
    );
    let hung_now = std::net::TcpListener::bind(format!("127.0.0.1:{port_now}")).unwrap();
    let started = Instant::now();
    assert_eq!(
        encrypt(&kms, &key, b"x").await.unwrap_err(),
        "KMSInvalidStateException"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    drop(hung_now);
    xks = proxy(work.path(), &tls, &format!("127.0.0.1:{port_now}"));
    assert_eq!(decrypt(&kms, &blob).await.unwrap(), b"outside and inside");
    disconnect(&kms, &id).await;

    // A wrong credential, set while disconnected, is refused by the proxy first.
    expect_code(
        kms.update_custom_key_store()
            .custom_key_store_id(&id)
            .xks_proxy_authentication_credential(credential(OTHER_SK))
            .send()
            .await,
        "XksProxyIncorrectAuthenticationCredentialException",
    );

    // The proxy never answers: the connection times out.
    let port = proxy_addr.rsplit(':').next().unwrap().to_owned();
    xks.kill();
    let hung = std::net::TcpListener::bind(format!("127.0.0.1:{port}")).unwrap();
    let failed = connect(&kms, &id).await;
    assert_eq!(
        failed.connection_state(),
        Some(&ConnectionStateType::Failed)
    );
    assert_eq!(
        failed.connection_error_code(),
        Some(&ConnectionErrorCodeType::XksProxyTimedOut)
    );
    disconnect(&kms, &id).await;
    // The proxy is down: not reachable.
    drop(hung);
    let failed = connect(&kms, &id).await;
    assert_eq!(
        failed.connection_error_code(),
        Some(&ConnectionErrorCodeType::XksProxyNotReachable)
    );
    disconnect(&kms, &id).await;
    // Back: connected again.
    let _back = proxy(work.path(), &tls, &format!("127.0.0.1:{port}"));
    assert_eq!(
        connect(&kms, &id).await.connection_state(),
        Some(&ConnectionStateType::Connected)
    );
    drop(silent);
}

/// A proxy whose certificate the KMS does not trust: no store, and the error says the
/// proxy cannot be reached.
#[tokio::test]
async fn an_untrusted_proxy_certificate_is_refused() {
    let work = tempfile::tempdir().unwrap();
    let tls = TlsFiles::make(&work.path().join("tls"), "xks");
    let xks = proxy(work.path(), &tls, "127.0.0.1:0");
    let proxy_addr = endpoint(&xks).trim_start_matches("https://").to_owned();
    let (_server, kms) = kms(work.path(), "kms", &tls, &proxy_addr, "127.0.0.1:9", false);
    let err = expect_code(
        create(&kms, "s", "https://localhost", PATH, SK)
            .send()
            .await,
        "XksProxyUriUnreachableException",
    );
    let message = aws_sdk_kms::error::ProvideErrorMetadata::message(&err)
        .unwrap_or_default()
        .to_owned();
    assert!(message.contains("TLS"), "{message}");
    assert!(!message.contains(SK));
}

fn ok_or_code<T, E: aws_sdk_kms::error::ProvideErrorMetadata, R>(
    result: Result<T, aws_sdk_kms::error::SdkError<E, R>>,
) -> Result<T, String> {
    result.map_err(|e| trent_testkit::sdk::error_code(&e))
}

async fn encrypt(kms: &Client, key: &str, plaintext: &[u8]) -> Result<Blob, String> {
    ok_or_code(
        kms.encrypt()
            .key_id(key)
            .plaintext(Blob::new(plaintext))
            .send()
            .await,
    )
    .map(|o| o.ciphertext_blob.unwrap())
}

async fn decrypt(kms: &Client, blob: &Blob) -> Result<Vec<u8>, String> {
    ok_or_code(kms.decrypt().ciphertext_blob(blob.clone()).send().await)
        .map(|o| o.plaintext.unwrap().into_inner())
}

/// Everything in the proxy's audit trail files.
fn audit_text(work: &Path) -> String {
    let mut out = String::new();
    let mut dirs = vec![work.join("proxy-data")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.to_string_lossy().contains("audit") {
                out.push_str(&String::from_utf8_lossy(&std::fs::read(&path).unwrap()));
            }
        }
    }
    out
}
