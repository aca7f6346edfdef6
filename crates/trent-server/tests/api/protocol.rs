//! The wire protocol, with raw HTTP: JSON 1.1 over `POST /` with
//! `X-Amz-Target: TrentService.<Operation>`, SigV4 authentication, the AWS error envelope.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use serde_json::{json, Value};

use crate::harness::{expect_err, Auth, RawRequest, TestServer, REGION};

/// The operations this server implements; every other operation of the model is
/// UnsupportedOperationException.
const JSON_1_1: &str = "application/x-amz-json-1.1";

fn model_operations() -> BTreeSet<String> {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../model/aws-kms-model/service-2.json");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("read the service model {}: {e}", path.display()));
    let model: Value = serde_json::from_str(&text).expect("the service model is JSON");
    assert_eq!(model["metadata"]["targetPrefix"], "TrentService");
    model["operations"]
        .as_object()
        .expect("operations")
        .keys()
        .cloned()
        .collect()
}

#[tokio::test]
async fn successful_response_envelope() {
    let server = TestServer::start();
    assert!(server.endpoint().starts_with("http://127.0.0.1:"));
    let resp = server.call("CreateKey", json!({})).await;
    assert_eq!(resp.status, 200, "{}", resp.body_text());
    assert_eq!(resp.header("content-type"), Some(JSON_1_1));
    let request_id = resp
        .header("x-amzn-requestid")
        .expect("x-amzn-RequestId header")
        .to_owned();
    assert!(!request_id.is_empty());
    let body = resp.json();
    let key_id = body["KeyMetadata"]["KeyId"]
        .as_str()
        .expect("KeyId")
        .to_owned();
    // Timestamps are epoch seconds (JSON numbers) in awsJson1_1.
    assert!(
        body["KeyMetadata"]["CreationDate"].is_number(),
        "CreationDate: {}",
        body["KeyMetadata"]["CreationDate"]
    );

    let resp = server.call("DescribeKey", json!({ "KeyId": key_id })).await;
    assert_eq!(resp.status, 200);
    assert_eq!(resp.json()["KeyMetadata"]["KeyId"], key_id.as_str());
    let second_id = resp.header("x-amzn-requestid").expect("x-amzn-RequestId");
    assert_ne!(second_id, request_id, "request ids are unique");

    // Operations without output members still answer a JSON object.
    let resp = server.call("EnableKey", json!({ "KeyId": key_id })).await;
    assert_eq!(resp.status, 200);
    assert_eq!(resp.header("content-type"), Some(JSON_1_1));
    assert!(resp.json().is_object());
}

#[tokio::test]
async fn error_response_envelope() {
    let server = TestServer::start();
    let resp = server.call("DescribeKey", json!({ "KeyId": "foo" })).await;
    resp.assert_error(400, "NotFoundException");
    assert_eq!(resp.message().as_deref(), Some("Invalid keyId 'foo'"));
    assert_eq!(resp.header("content-type"), Some(JSON_1_1));
    assert!(resp
        .header("x-amzn-requestid")
        .is_some_and(|id| !id.is_empty()));
}

#[tokio::test]
async fn unknown_operation() {
    let server = TestServer::start();
    let resp = server.call("Frobnicate", json!({})).await;
    resp.assert_error(400, "UnknownOperationException");
    assert!(resp.header("x-amzn-requestid").is_some());

    // Another service's prefix is not ours either.
    let mut req = RawRequest::new("DescribeKey", "{}");
    req.target = Some("DynamoDB_20120810.DescribeKey".to_owned());
    server
        .raw(req)
        .await
        .unwrap()
        .assert_error(400, "UnknownOperationException");
}

/// Every operation of the service model is served: none answers
/// UnsupportedOperationException for what it is (here, an empty request: the required
/// members it lacks, or its answer for no input).
#[tokio::test]
async fn every_model_operation_is_implemented() {
    let server = TestServer::start();
    let ops = model_operations();
    assert_eq!(ops.len(), 54, "the model has 54 operations");
    for op in &ops {
        let resp = server.call(op, json!({})).await;
        assert_ne!(
            resp.error_type().as_deref(),
            Some("UnsupportedOperationException"),
            "{op} answers UnsupportedOperationException: {}",
            resp.body_text()
        );
    }

    // The SDK sees the custom key store operations, e.g. ConnectCustomKeyStore of a key
    // store that does not exist.
    let client = server.client(REGION);
    expect_err(
        client
            .connect_custom_key_store()
            .custom_key_store_id("cks-1234567890abcdef0")
            .send()
            .await,
        "CustomKeyStoreNotFoundException",
        None,
    );
}

#[tokio::test]
async fn malformed_json_is_a_serialization_exception() {
    let server = TestServer::start();
    for body in [
        &b"{\"KeyId\":"[..],
        b"not json",
        b"{\"KeyId\": \"a\",}",
        b"\xff\xfe",
    ] {
        let resp = server
            .raw(RawRequest::new("DescribeKey", body))
            .await
            .unwrap();
        resp.assert_error(400, "SerializationException");
    }
    // The server is fine afterwards.
    let resp = server
        .call("GenerateRandom", json!({"NumberOfBytes": 8}))
        .await;
    assert_eq!(resp.status, 200);
}

#[tokio::test]
async fn wrong_json_types_are_serialization_exceptions() {
    let server = TestServer::start();
    for (op, body) in [
        ("DescribeKey", json!({ "KeyId": 5 })),
        ("DescribeKey", json!({ "KeyId": ["a"] })),
        ("GenerateRandom", json!({ "NumberOfBytes": "ten" })),
        ("GenerateRandom", json!({ "NumberOfBytes": 1.5 })),
        (
            "CreateKey",
            json!({ "Tags": { "TagKey": "a", "TagValue": "b" } }),
        ),
        ("Encrypt", json!({ "KeyId": "alias/x", "Plaintext": 12 })),
        (
            "Encrypt",
            json!({ "KeyId": "alias/x", "EncryptionContext": ["a", "b"], "Plaintext": "eA==" }),
        ),
        ("DescribeKey", json!(["KeyId"])),
        ("DescribeKey", json!("KeyId")),
    ] {
        let resp = server.call(op, body.clone()).await;
        assert_eq!(
            (resp.status, resp.error_type().as_deref()),
            (400, Some("SerializationException")),
            "{op} {body}: {}",
            resp.body_text()
        );
    }
}

/// A blob member that is not valid base64 cannot be deserialized.
#[tokio::test]
async fn invalid_base64_blob() {
    let server = TestServer::start();
    let resp = server
        .call(
            "Decrypt",
            json!({ "CiphertextBlob": "this is not base64!!" }),
        )
        .await;
    resp.assert_error(400, "SerializationException");
}

/// A missing required member is a validation error naming it.
#[tokio::test]
async fn missing_required_member() {
    let server = TestServer::start();
    let resp = server.call("DescribeKey", json!({})).await;
    resp.assert_error(400, "ValidationException");
    assert_eq!(
        resp.message().as_deref(),
        Some(
            "1 validation error detected: Value null at 'keyId' failed to satisfy constraint: \
             Member must not be null"
        )
    );
}

/// AWS's JSON services answer a request whose Content-Type is not the protocol's with
/// UnknownOperationException (Kinesis, same front end: disneystreaming/smithy4s#167).
#[tokio::test]
async fn wrong_content_type() {
    let server = TestServer::start();
    for ct in [Some("text/plain"), Some("application/octet-stream"), None] {
        let mut req = RawRequest::new("GenerateRandom", json!({"NumberOfBytes": 8}).to_string());
        req.content_type = ct.map(str::to_owned);
        let resp = server.raw(req).await.unwrap();
        assert_eq!(
            (resp.status, resp.error_type().as_deref()),
            (400, Some("UnknownOperationException")),
            "Content-Type {ct:?}: {}",
            resp.body_text()
        );
    }
}

/// A body far over any KMS request size is refused without harming the server.
#[tokio::test]
async fn huge_body_is_refused_and_the_server_survives() {
    let mut server = TestServer::start();
    let mut body = b"{\"KeyId\":\"".to_vec();
    body.extend(std::iter::repeat_n(b'a', 2 * 1024 * 1024));
    body.extend_from_slice(b"\"}");
    match server.raw(RawRequest::new("DescribeKey", body)).await {
        Ok(resp) => resp.assert_error(413, "RequestEntityTooLargeException"),
        // The server may close the connection before reading the whole body.
        Err(e) => eprintln!("2 MiB body: transport error (accepted): {e}"),
    }
    assert!(server.is_running(), "the server died: {}", server.logs());
    let resp = server
        .call("GenerateRandom", json!({"NumberOfBytes": 8}))
        .await;
    assert_eq!(resp.status, 200, "{}", resp.body_text());
}

#[tokio::test]
async fn missing_authentication_token() {
    let server = TestServer::start();
    let mut req = RawRequest::new("ListKeys", "{}");
    req.auth = Auth::None;
    let resp = server.raw(req).await.unwrap();
    resp.assert_error(400, "MissingAuthenticationTokenException");
    assert_eq!(
        resp.message().as_deref(),
        Some("Missing Authentication Token")
    );
    assert_eq!(resp.header("content-type"), Some(JSON_1_1));
    assert!(resp.header("x-amzn-requestid").is_some());
}

#[tokio::test]
async fn bad_signature() {
    let server = TestServer::start();
    let mut req = RawRequest::new("ListKeys", "{}");
    req.auth = Auth::Keys {
        access_key_id: server.access_key_id().to_owned(),
        secret_access_key: format!("{}x", server.secret_access_key()),
    };
    let resp = server.raw(req).await.unwrap();
    resp.assert_error(400, "InvalidSignatureException");
    assert_eq!(
        resp.message().as_deref(),
        Some(
            "The request signature we calculated does not match the signature you provided. \
             Check your AWS Secret Access Key and signing method. Consult the service \
             documentation for details."
        )
    );

    // A body changed after signing no longer matches the signature.
    let signed = RawRequest::new("GenerateRandom", json!({"NumberOfBytes": 8}).to_string());
    let mut tampered = signed.clone();
    tampered.body = json!({"NumberOfBytes": 9}).to_string().into_bytes();
    tampered.signed_body = Some(signed.body.clone());
    let resp = server.raw(tampered).await.unwrap();
    resp.assert_error(400, "InvalidSignatureException");
    // The correctly signed request works, also with a header the signature does not cover.
    let resp = server.raw(signed.clone()).await.unwrap();
    assert_eq!(resp.status, 200, "{}", resp.body_text());
    let mut with_unsigned_header = signed.clone();
    with_unsigned_header
        .extra_headers
        .push(("x-custom-test".to_owned(), "not signed".to_owned()));
    let resp = server.raw(with_unsigned_header).await.unwrap();
    assert_eq!(resp.status, 200, "{}", resp.body_text());
    // Not Trent's own headers (X-Trent-*: a service's forwarded request), which say what
    // the request is: unsigned, they are refused as an unsigned X-Amz-* header is.
    let mut with_unsigned_trent_header = signed;
    with_unsigned_trent_header
        .extra_headers
        .push(("x-trent-test".to_owned(), "not signed".to_owned()));
    let resp = server.raw(with_unsigned_trent_header).await.unwrap();
    resp.assert_error(400, "InvalidSignatureException");
    assert_eq!(
        resp.message().as_deref(),
        Some("'x-trent-test' must be a 'SignedHeader' in the AWS Authorization.")
    );
}

#[tokio::test]
async fn unknown_access_key() {
    let server = TestServer::start();
    let mut req = RawRequest::new("ListKeys", "{}");
    req.auth = Auth::Keys {
        access_key_id: "AKIAIOSFODNN7EXAMPLE".to_owned(),
        secret_access_key: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY".to_owned(),
    };
    let resp = server.raw(req).await.unwrap();
    resp.assert_error(400, "UnrecognizedClientException");
    assert_eq!(
        resp.message().as_deref(),
        Some("The security token included in the request is invalid.")
    );
}

/// SigV4 requests are valid for 5 minutes either side of the server's clock:
/// "Signature expired: 20140325T143453Z is now earlier than 20140325T143751Z
/// (20140325T145251Z - 5 min.)" and "Signature not yet current: ... is still later than
/// ... (... + 5 min.)".
#[tokio::test]
async fn request_time_outside_the_skew_window() {
    let server = TestServer::start();
    let mut req = RawRequest::new("ListKeys", "{}");
    req.time = SystemTime::now() - Duration::from_secs(10 * 60);
    let resp = server.raw(req).await.unwrap();
    resp.assert_error(400, "InvalidSignatureException");
    let message = resp.message().unwrap_or_default();
    assert!(
        message.starts_with("Signature expired: ")
            && message.contains(" is now earlier than ")
            && message.ends_with(" - 5 min.)"),
        "{message}"
    );

    let mut req = RawRequest::new("ListKeys", "{}");
    req.time = SystemTime::now() + Duration::from_secs(10 * 60);
    let resp = server.raw(req).await.unwrap();
    resp.assert_error(400, "InvalidSignatureException");
    let message = resp.message().unwrap_or_default();
    assert!(
        message.starts_with("Signature not yet current: ")
            && message.contains(" is still later than ")
            && message.ends_with(" + 5 min.)"),
        "{message}"
    );

    // Within the window is fine.
    let mut req = RawRequest::new("ListKeys", "{}");
    req.time = SystemTime::now() - Duration::from_secs(2 * 60);
    let resp = server.raw(req).await.unwrap();
    assert_eq!(resp.status, 200, "{}", resp.body_text());
}

/// The Region comes from the credential scope: a raw request signed for us-west-2 sees
/// us-west-2 keys.
#[tokio::test]
async fn region_comes_from_the_credential_scope() {
    let server = TestServer::start();
    let mut req = RawRequest::new("CreateKey", "{}");
    req.region = "eu-central-1".to_owned();
    let resp = server.raw(req).await.unwrap();
    assert_eq!(resp.status, 200, "{}", resp.body_text());
    let arn = resp.json()["KeyMetadata"]["Arn"]
        .as_str()
        .expect("Arn")
        .to_owned();
    assert!(
        arn.starts_with("arn:aws:kms:eu-central-1:111122223333:key/"),
        "{arn}"
    );

    let listed = server.call("ListKeys", json!({})).await.json();
    assert_eq!(listed["Keys"].as_array().map(Vec::len), Some(0), "{listed}");
}
