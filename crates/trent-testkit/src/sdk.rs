//! The official AWS SDK for Rust pointed at a test server, and the helpers that read its
//! answers.

use std::fmt::Debug;
use std::time::Duration;

use aws_sdk_kms::config::retry::RetryConfig;
use aws_sdk_kms::config::timeout::TimeoutConfig;
use aws_sdk_kms::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_kms::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_kms::Client;

/// The region tests sign for unless they say otherwise.
pub const REGION: &str = "us-east-1";

/// An SDK client with static credentials, no retries (a retry would hide the first
/// answer; each test decides how to retry), bounded timeouts, and idle connections kept
/// for less time than the server keeps them.
pub fn client(
    endpoint: &str,
    region: &str,
    access_key_id: &str,
    secret_access_key: &str,
) -> Client {
    build(endpoint, region, access_key_id, secret_access_key, None)
}

/// [`client`] with temporary credentials (an STS session token).
pub fn session_client(
    endpoint: &str,
    region: &str,
    access_key_id: &str,
    secret_access_key: &str,
    session_token: &str,
) -> Client {
    build(
        endpoint,
        region,
        access_key_id,
        secret_access_key,
        Some(session_token.to_owned()),
    )
}

/// [`client`] for an `https://` endpoint whose certificate chains to the CA in the PEM
/// file `ca` (and to no other: the system's roots are not trusted). It offers HTTP/2 and
/// HTTP/1.1 by ALPN, as the SDK's default client does.
pub fn client_trusting(
    endpoint: &str,
    ca: &std::path::Path,
    region: &str,
    access_key_id: &str,
    secret_access_key: &str,
) -> Client {
    use aws_smithy_http_client::tls;
    let pem = std::fs::read(ca).expect("read the CA certificate");
    let context = tls::TlsContext::builder()
        .with_trust_store(tls::TrustStore::empty().with_pem_certificate(pem))
        .build()
        .expect("a TLS context");
    let http = aws_smithy_http_client::Builder::new()
        .pool_idle_timeout(Duration::from_secs(4))
        .tls_provider(tls::Provider::Rustls(
            tls::rustls_provider::CryptoMode::AwsLc,
        ))
        .tls_context(context)
        .build_https();
    configure(
        endpoint,
        region,
        access_key_id,
        secret_access_key,
        None,
        http,
    )
}

fn build(
    endpoint: &str,
    region: &str,
    access_key_id: &str,
    secret_access_key: &str,
    session_token: Option<String>,
) -> Client {
    // Idle connections are let go well before the server closes them (its header
    // read timeout, 10 s by default, also bounds a kept-alive connection's idle
    // time): reusing one the server is closing that very moment fails the request,
    // and these clients do not retry.
    let http = aws_smithy_http_client::Builder::new()
        .pool_idle_timeout(Duration::from_secs(4))
        .build_http();
    configure(
        endpoint,
        region,
        access_key_id,
        secret_access_key,
        session_token,
        http,
    )
}

fn configure(
    endpoint: &str,
    region: &str,
    access_key_id: &str,
    secret_access_key: &str,
    session_token: Option<String>,
    http: aws_sdk_kms::config::SharedHttpClient,
) -> Client {
    let config = aws_sdk_kms::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(region.to_owned()))
        .endpoint_url(endpoint)
        .credentials_provider(Credentials::new(
            access_key_id,
            secret_access_key,
            session_token,
            None,
            "trent-tests",
        ))
        .retry_config(RetryConfig::disabled())
        .http_client(http)
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(5))
                .operation_timeout(Duration::from_secs(30))
                .build(),
        )
        .build();
    Client::from_conf(config)
}

/// Unwrap an SDK result, printing the whole error chain on failure.
#[track_caller]
pub fn ok<T, E, R>(result: Result<T, SdkError<E, R>>) -> T
where
    E: std::error::Error + 'static,
    R: Debug,
{
    match result {
        Ok(v) => v,
        Err(e) => panic!("unexpected error: {}", DisplayErrorContext(&e)),
    }
}

/// Expect a service error with this code and, if given, exactly this message; return the
/// typed error for further checks.
#[track_caller]
pub fn expect_err<T, E, R>(
    result: Result<T, SdkError<E, R>>,
    code: &str,
    message: Option<&str>,
) -> E
where
    T: Debug,
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: Debug,
{
    let err = expect_code(result, code);
    match message {
        Some(expected) => assert_eq!(err.message(), Some(expected), "wrong message for {code}"),
        None => {
            // AWS sends a message with every KMS error the tests match by type only.
            assert!(
                err.message().is_some_and(|m| !m.is_empty()),
                "{code} without a message"
            );
        }
    }
    err
}

/// Expect a service error with this code, without requiring any message.
#[track_caller]
pub fn expect_code<T, E, R>(result: Result<T, SdkError<E, R>>, code: &str) -> E
where
    T: Debug,
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: Debug,
{
    let err = match result {
        Ok(v) => panic!("expected {code}, got success: {v:?}"),
        Err(SdkError::ServiceError(se)) => se.into_err(),
        Err(other) => panic!(
            "expected service error {code}, got: {}",
            DisplayErrorContext(&other)
        ),
    };
    assert_eq!(
        err.code(),
        Some(code),
        "wrong error code (message: {:?})",
        err.message()
    );
    err
}

/// The AWS error code of a failed call, or `"transport"` when no HTTP answer came.
pub fn error_code<E: ProvideErrorMetadata, R>(err: &SdkError<E, R>) -> String {
    match err {
        SdkError::ServiceError(e) => e.err().code().unwrap_or("(no code)").to_owned(),
        _ => "transport".to_owned(),
    }
}

/// The custom key store `id` as DescribeCustomKeyStores lists it (exactly one).
pub async fn describe_custom_key_store(
    client: &Client,
    id: &str,
) -> aws_sdk_kms::types::CustomKeyStoresListEntry {
    let out = ok(client
        .describe_custom_key_stores()
        .custom_key_store_id(id)
        .send()
        .await);
    let stores = out.custom_key_stores();
    assert_eq!(stores.len(), 1, "{stores:?}");
    stores[0].clone()
}

/// Waits (at most 20 s) for the custom key store to leave CONNECTING (ConnectCustomKeyStore
/// answers at once and connects in the background); its entry then.
pub async fn settled_custom_key_store(
    client: &Client,
    id: &str,
) -> aws_sdk_kms::types::CustomKeyStoresListEntry {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let entry = describe_custom_key_store(client, id).await;
        if entry.connection_state() != Some(&aws_sdk_kms::types::ConnectionStateType::Connecting) {
            return entry;
        }
        assert!(std::time::Instant::now() < deadline, "still CONNECTING");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// ConnectCustomKeyStore, then [`settled_custom_key_store`].
pub async fn connect_custom_key_store(
    client: &Client,
    id: &str,
) -> aws_sdk_kms::types::CustomKeyStoresListEntry {
    ok(client
        .connect_custom_key_store()
        .custom_key_store_id(id)
        .send()
        .await);
    settled_custom_key_store(client, id).await
}
