//! Error paths of this release's operations that the other modules do not reach: inputs
//! the model allows but the operation refuses, features of later releases, and
//! cross-account use under the default key policy. Each is checked by AWS error type
//! and exact message, and none changes anything.

use aws_sdk_kms::primitives::Blob;
use serde_json::json;

use crate::harness::{create_key, encrypt, expect_err, ok, TestServer, REGION};

const NULL_CIPHERTEXT: &str = "1 validation error detected: Value null at 'ciphertextBlob' failed to satisfy constraint: Member must not be null";

#[tokio::test]
async fn create_key_inputs_that_are_refused() {
    let server = TestServer::start();

    let resp = server
        .call(
            "CreateKey",
            json!({"KeySpec": "SYMMETRIC_DEFAULT", "CustomerMasterKeySpec": "SYMMETRIC_DEFAULT"}),
        )
        .await;
    resp.assert_error(400, "ValidationException");
    assert_eq!(
        resp.message().as_deref(),
        Some("You cannot specify KeySpec and CustomerMasterKeySpec in the same request. CustomerMasterKeySpec is deprecated.")
    );

    let resp = server
        .call("CreateKey", json!({"KeyUsage": "SIGN_VERIFY"}))
        .await;
    resp.assert_error(400, "ValidationException");
    assert_eq!(
        resp.message().as_deref(),
        Some("KeyUsage SIGN_VERIFY is not compatible with KeySpec SYMMETRIC_DEFAULT")
    );

    // A key policy without statements is malformed (IAM's grammar).
    let policy = json!({"Version": "2012-10-17", "Statement": []}).to_string();
    let resp = server.call("CreateKey", json!({"Policy": policy})).await;
    resp.assert_error(400, "MalformedPolicyDocumentException");
    assert_eq!(resp.message().as_deref(), Some("Syntax errors in policy."));

    // Nothing was created by any of them.
    let keys = server.call("ListKeys", json!({})).await.json();
    assert_eq!(keys["Keys"].as_array().map(Vec::len), Some(0), "{keys}");
}

#[tokio::test]
async fn members_the_operation_needs_although_the_model_marks_them_optional() {
    let server = TestServer::start();
    let client = server.client(REGION);
    let (key_id, _) = create_key(&client).await;

    let resp = server.call("Decrypt", json!({})).await;
    resp.assert_error(400, "ValidationException");
    assert_eq!(resp.message().as_deref(), Some(NULL_CIPHERTEXT));

    let resp = server
        .call("ReEncrypt", json!({"DestinationKeyId": key_id}))
        .await;
    resp.assert_error(400, "ValidationException");
    assert_eq!(resp.message().as_deref(), Some(NULL_CIPHERTEXT));

    // AWS's own message here, not a model constraint's (LocalStack's GenerateRandom,
    // recorded against AWS).
    let resp = server.call("GenerateRandom", json!({})).await;
    resp.assert_error(400, "ValidationException");
    assert_eq!(
        resp.message().as_deref(),
        Some("NumberOfBytes is required.")
    );
}

#[tokio::test]
async fn recipient_attestation_is_refused_until_supported() {
    let server = TestServer::start();
    let client = server.client(REGION);
    let (key_id, _) = create_key(&client).await;
    let blob = encrypt(&client, &key_id, b"enclave").await;
    let recipient =
        json!({"KeyEncryptionAlgorithm": "RSAES_OAEP_SHA_256", "AttestationDocument": "AAAA"});
    let message = Some("Recipient (Nitro Enclaves attestation) is not supported.");

    let b64 = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, blob.as_ref());
    for (op, body) in [
        (
            "Decrypt",
            json!({"CiphertextBlob": b64, "Recipient": recipient}),
        ),
        (
            "GenerateDataKey",
            json!({"KeyId": key_id, "NumberOfBytes": 32, "Recipient": recipient}),
        ),
        (
            "GenerateRandom",
            json!({"NumberOfBytes": 32, "Recipient": recipient}),
        ),
    ] {
        let resp = server.call(op, body).await;
        resp.assert_error(400, "UnsupportedOperationException");
        assert_eq!(resp.message().as_deref(), message, "{op}");
    }
}

#[tokio::test]
async fn an_alias_cannot_target_an_alias() {
    let server = TestServer::start();
    let client = server.client(REGION);
    let (key_id, _) = create_key(&client).await;
    ok(client
        .create_alias()
        .alias_name("alias/first")
        .target_key_id(&key_id)
        .send()
        .await);
    let message = Some("Aliases must refer to keys. Not aliases");
    let e = client
        .create_alias()
        .alias_name("alias/second")
        .target_key_id("alias/first")
        .send()
        .await;
    expect_err(e, "ValidationException", message);
    let e = client
        .update_alias()
        .alias_name("alias/first")
        .target_key_id("alias/first")
        .send()
        .await;
    expect_err(e, "ValidationException", message);
    let aliases = ok(client.list_aliases().send().await);
    let with_keys: Vec<_> = aliases
        .aliases()
        .iter()
        .filter(|a| a.target_key_id().is_some())
        .map(|a| a.alias_name().unwrap())
        .collect();
    assert_eq!(with_keys, ["alias/first"]);
}

/// AWS's default key policy trusts only the key's own account: another account naming the
/// key by ARN is denied, with AWS's message.
#[tokio::test]
async fn another_account_is_denied_by_the_default_key_policy() {
    let server = TestServer::start_with(&["--dev-any-credentials"], &[]);
    let a = server.client_as(REGION, "111111111111", "any-secret-a");
    let b = server.client_as(REGION, "222222222222", "any-secret-b");
    let (_, arn) = create_key(&a).await;
    let blob = encrypt(&a, &arn, b"for a only").await;
    let denied = |action: &str| {
        format!(
            "User: arn:aws:iam::222222222222:root is not authorized to perform: {action} on resource: {arn} because no resource-based policy allows the {action} action"
        )
    };
    let e = b.describe_key().key_id(&arn).send().await;
    expect_err(e, "AccessDeniedException", Some(&denied("kms:DescribeKey")));
    let e = b
        .encrypt()
        .key_id(&arn)
        .plaintext(Blob::new(b"x".to_vec()))
        .send()
        .await;
    expect_err(e, "AccessDeniedException", Some(&denied("kms:Encrypt")));
    let e = b.decrypt().ciphertext_blob(blob).send().await;
    expect_err(e, "AccessDeniedException", Some(&denied("kms:Decrypt")));
}
