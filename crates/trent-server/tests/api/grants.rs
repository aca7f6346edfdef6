//! Grants (CreateGrant, ListGrants, ListRetirableGrants, RetireGrant, RevokeGrant) and
//! their use, through the real server and the official SDK.
//!
//! The grantee is another account: under `--dev-any-credentials` a 12-digit access key
//! id signs as that account's root, which may use the key (by its ARN) only through a
//! grant. Expectations follow AWS's grants documentation
//! (<https://docs.aws.amazon.com/kms/latest/developerguide/grants.html>) and the service
//! model's text.

use std::collections::HashMap;

use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{GrantConstraints, GrantOperation, KeySpec, KeyUsageType};
use aws_sdk_kms::Client;

use crate::harness::{
    create_key, expect_code, expect_err, ok, TestServer, DEFAULT_ACCOUNT, REGION,
};

const GRANTEE_ACCOUNT: &str = "444455556666";
const GRANTEE: &str = "arn:aws:iam::444455556666:root";
const STRANGER_ACCOUNT: &str = "777788889999";
const OWNER_ROOT: &str = "arn:aws:iam::111122223333:root";

struct Setup {
    server: TestServer,
    owner: Client,
    grantee: Client,
    stranger: Client,
}

fn setup() -> Setup {
    let server = TestServer::start_with(&["--dev-any-credentials"], &[]);
    // The key owner: the default account's root (the administrator gets its IAM policy
    // only with the identity configuration).
    let owner = server.client_as(REGION, DEFAULT_ACCOUNT, "any-secret");
    let grantee = server.client_as(REGION, GRANTEE_ACCOUNT, "any-secret");
    let stranger = server.client_as(REGION, STRANGER_ACCOUNT, "any-secret");
    Setup {
        server,
        owner,
        grantee,
        stranger,
    }
}

fn ec(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// CreateGrant; returns (grant id, grant token).
async fn grant(
    owner: &Client,
    key: &str,
    grantee: &str,
    ops: &[GrantOperation],
    constraints: Option<GrantConstraints>,
) -> (String, String) {
    let out = ok(owner
        .create_grant()
        .key_id(key)
        .grantee_principal(grantee)
        .set_operations(Some(ops.to_vec()))
        .set_constraints(constraints)
        .send()
        .await);
    (
        out.grant_id().expect("GrantId").to_owned(),
        out.grant_token().expect("GrantToken").to_owned(),
    )
}

async fn encrypt_with(
    client: &Client,
    key: &str,
    context: &[(&str, &str)],
) -> Result<Blob, String> {
    let mut req = client
        .encrypt()
        .key_id(key)
        .plaintext(Blob::new(b"grant me".to_vec()));
    if !context.is_empty() {
        req = req.set_encryption_context(Some(ec(context)));
    }
    match req.send().await {
        Ok(out) => Ok(out.ciphertext_blob().expect("CiphertextBlob").clone()),
        Err(e) => Err(e
            .as_service_error()
            .and_then(|s| aws_sdk_kms::error::ProvideErrorMetadata::code(s))
            .unwrap_or("?")
            .to_owned()),
    }
}

#[tokio::test]
async fn another_account_uses_the_key_only_through_its_grant() {
    let s = setup();
    let (_, arn) = create_key(&s.owner).await;

    // No grant: the key policy (the default one) allows only the owner's account.
    expect_code(
        s.grantee
            .encrypt()
            .key_id(&arn)
            .plaintext(Blob::new(b"x".to_vec()))
            .send()
            .await,
        "AccessDeniedException",
    );

    let (grant_id, token) = grant(
        &s.owner,
        &arn,
        GRANTEE,
        &[GrantOperation::Encrypt, GrantOperation::Decrypt],
        None,
    )
    .await;
    assert_eq!(
        grant_id.len(),
        64,
        "grant ids are 64 hex digits: {grant_id}"
    );
    assert!(grant_id.bytes().all(|b| b.is_ascii_hexdigit()));
    assert!(!token.is_empty());

    // The granted operations work, by key ARN.
    let blob = encrypt_with(&s.grantee, &arn, &[]).await.unwrap();
    let out = ok(s
        .grantee
        .decrypt()
        .ciphertext_blob(blob.clone())
        .send()
        .await);
    assert_eq!(out.plaintext().unwrap().as_ref(), b"grant me");
    assert_eq!(out.key_id(), Some(arn.as_str()));

    // Only those: not GenerateDataKey, not DescribeKey, not for another account.
    expect_code(
        s.grantee
            .generate_data_key()
            .key_id(&arn)
            .number_of_bytes(32)
            .send()
            .await,
        "AccessDeniedException",
    );
    expect_code(
        s.grantee.describe_key().key_id(&arn).send().await,
        "AccessDeniedException",
    );
    assert_eq!(
        encrypt_with(&s.stranger, &arn, &[]).await.unwrap_err(),
        "AccessDeniedException"
    );

    // Revoked: the permission is gone at once.
    ok(s.owner
        .revoke_grant()
        .key_id(&arn)
        .grant_id(&grant_id)
        .send()
        .await);
    assert_eq!(
        encrypt_with(&s.grantee, &arn, &[]).await.unwrap_err(),
        "AccessDeniedException"
    );
    expect_code(
        s.grantee.decrypt().ciphertext_blob(blob).send().await,
        "AccessDeniedException",
    );
    // Revoking it again, or a grant id that never existed: the grant id is not valid.
    // The message is the model's description of InvalidGrantIdException; no recording of
    // AWS's own wording was found.
    for id in [grant_id.clone(), "0".repeat(64)] {
        expect_err(
            s.owner
                .revoke_grant()
                .key_id(&arn)
                .grant_id(&id)
                .send()
                .await,
            "InvalidGrantIdException",
            Some("The request was rejected because the specified GrantId is not valid."),
        );
    }
}

#[tokio::test]
async fn constraints_hold_on_every_use() {
    let s = setup();
    let (_, arn) = create_key(&s.owner).await;
    grant(
        &s.owner,
        &arn,
        GRANTEE,
        &[GrantOperation::Encrypt],
        Some(
            GrantConstraints::builder()
                .encryption_context_subset("Dept", "IT")
                .build(),
        ),
    )
    .await;
    // Subset: the pairs must be there, others may be; keys compare case-insensitively,
    // values exactly.
    encrypt_with(&s.grantee, &arn, &[("Dept", "IT")])
        .await
        .unwrap();
    encrypt_with(&s.grantee, &arn, &[("Dept", "IT"), ("app", "x")])
        .await
        .unwrap();
    encrypt_with(&s.grantee, &arn, &[("dept", "IT")])
        .await
        .unwrap();
    for denied in [&[("Dept", "it")][..], &[("app", "x")][..], &[][..]] {
        assert_eq!(
            encrypt_with(&s.grantee, &arn, denied).await.unwrap_err(),
            "AccessDeniedException",
            "{denied:?}"
        );
    }

    // Equals: exactly these pairs.
    let (_, arn2) = create_key(&s.owner).await;
    grant(
        &s.owner,
        &arn2,
        GRANTEE,
        &[GrantOperation::Encrypt, GrantOperation::Decrypt],
        Some(
            GrantConstraints::builder()
                .encryption_context_equals("Project", "alpha")
                .build(),
        ),
    )
    .await;
    let blob = encrypt_with(&s.grantee, &arn2, &[("Project", "alpha")])
        .await
        .unwrap();
    let out = ok(s
        .grantee
        .decrypt()
        .ciphertext_blob(blob.clone())
        .set_encryption_context(Some(ec(&[("Project", "alpha")])))
        .send()
        .await);
    assert_eq!(out.plaintext().unwrap().as_ref(), b"grant me");
    assert_eq!(
        encrypt_with(&s.grantee, &arn2, &[("Project", "alpha"), ("x", "y")])
            .await
            .unwrap_err(),
        "AccessDeniedException"
    );
    assert_eq!(
        encrypt_with(&s.grantee, &arn2, &[]).await.unwrap_err(),
        "AccessDeniedException"
    );
    // Decrypt without the context: the grant does not allow it.
    expect_code(
        s.grantee.decrypt().ciphertext_blob(blob).send().await,
        "AccessDeniedException",
    );
}

#[tokio::test]
async fn create_grant_validates_like_aws() {
    let s = setup();
    let (key_id, arn) = create_key(&s.owner).await;
    let create = |ops: Vec<GrantOperation>| {
        s.owner
            .create_grant()
            .key_id(&key_id)
            .grantee_principal(GRANTEE)
            .set_operations(Some(ops))
    };

    // Operations the key does not support.
    expect_code(
        create(vec![GrantOperation::Sign]).send().await,
        "ValidationException",
    );
    expect_code(
        create(vec![GrantOperation::Decrypt, GrantOperation::GetPublicKey])
            .send()
            .await,
        "ValidationException",
    );
    // No operations at all.
    expect_code(create(vec![]).send().await, "ValidationException");
    // A grantee that is not a principal ARN.
    expect_code(
        s.owner
            .create_grant()
            .key_id(&key_id)
            .grantee_principal("not-a-principal")
            .operations(GrantOperation::Decrypt)
            .send()
            .await,
        "InvalidArnException",
    );
    expect_code(
        s.owner
            .create_grant()
            .key_id(&key_id)
            .grantee_principal(GRANTEE)
            .retiring_principal("arn:aws:s3:::bucket")
            .operations(GrantOperation::Decrypt)
            .send()
            .await,
        "InvalidArnException",
    );
    // Every principal form AWS documents is accepted.
    for principal in [
        "arn:aws:iam::444455556666:user/path/alice",
        "arn:aws:iam::444455556666:role/app",
        "arn:aws:sts::444455556666:assumed-role/app/session",
        "arn:aws:sts::444455556666:federated-user/bob",
    ] {
        grant(&s.owner, &arn, principal, &[GrantOperation::Decrypt], None).await;
    }

    // Constraints only with operations that take an encryption context...
    let (hmac_key, _) = {
        let out = ok(s
            .owner
            .create_key()
            .key_spec(KeySpec::Hmac256)
            .key_usage(KeyUsageType::GenerateVerifyMac)
            .send()
            .await);
        let md = out.key_metadata().unwrap();
        (md.key_id().to_owned(), md.arn().unwrap().to_owned())
    };
    grant(
        &s.owner,
        &hmac_key,
        GRANTEE,
        &[GrantOperation::GenerateMac],
        None,
    )
    .await;
    expect_code(
        s.owner
            .create_grant()
            .key_id(&hmac_key)
            .grantee_principal(GRANTEE)
            .operations(GrantOperation::GenerateMac)
            .constraints(
                GrantConstraints::builder()
                    .encryption_context_subset("a", "b")
                    .build(),
            )
            .send()
            .await,
        "ValidationException",
    );
    // ...while DescribeKey and RetireGrant may come along (constraints do not apply).
    grant(
        &s.owner,
        &arn,
        GRANTEE,
        &[
            GrantOperation::Decrypt,
            GrantOperation::DescribeKey,
            GrantOperation::RetireGrant,
        ],
        Some(
            GrantConstraints::builder()
                .encryption_context_equals("a", "b")
                .build(),
        ),
    )
    .await;
    // Granted DescribeKey works whatever the constraint says.
    ok(s.grantee.describe_key().key_id(&arn).send().await);

    // DryRun: the answer, and nothing created.
    let before = ok(s.owner.list_grants().key_id(&key_id).send().await)
        .grants()
        .len();
    expect_err(
        create(vec![GrantOperation::Encrypt])
            .dry_run(true)
            .send()
            .await,
        "DryRunOperationException",
        Some("The request would have succeeded, but the DryRun option is set."),
    );
    let after = ok(s.owner.list_grants().key_id(&key_id).send().await)
        .grants()
        .len();
    assert_eq!(before, after);

    // Key states: not on a key pending deletion; a missing key is NotFound.
    ok(s.owner
        .schedule_key_deletion()
        .key_id(&key_id)
        .pending_window_in_days(7)
        .send()
        .await);
    expect_code(
        create(vec![GrantOperation::Encrypt]).send().await,
        "KMSInvalidStateException",
    );
    expect_code(
        s.owner
            .create_grant()
            .key_id("0d9ef8a0-1b2c-4d3e-8f90-123456789abc")
            .grantee_principal(GRANTEE)
            .operations(GrantOperation::Decrypt)
            .send()
            .await,
        "NotFoundException",
    );
    // Grants of a key pending deletion can still be listed.
    ok(s.owner.list_grants().key_id(&key_id).send().await);
}

#[tokio::test]
async fn a_name_makes_create_grant_idempotent() {
    let s = setup();
    let (key_id, arn) = create_key(&s.owner).await;
    let create = |name: &str, ops: Vec<GrantOperation>| {
        s.owner
            .create_grant()
            .key_id(&key_id)
            .grantee_principal(GRANTEE)
            .name(name)
            .set_operations(Some(ops))
    };
    let first = ok(create(
        "nightly-job",
        vec![GrantOperation::Encrypt, GrantOperation::Decrypt],
    )
    .send()
    .await);
    let retry = ok(create(
        "nightly-job",
        vec![GrantOperation::Decrypt, GrantOperation::Encrypt],
    )
    .send()
    .await);
    assert_eq!(
        first.grant_id(),
        retry.grant_id(),
        "a retry returns the grant"
    );
    assert_ne!(
        first.grant_token(),
        retry.grant_token(),
        "every response has a new token"
    );
    // Both tokens name the same grant.
    for token in [first.grant_token().unwrap(), retry.grant_token().unwrap()] {
        ok(s.grantee
            .encrypt()
            .key_id(&arn)
            .plaintext(Blob::new(b"x".to_vec()))
            .grant_tokens(token)
            .send()
            .await);
    }
    // Other parameters under the same name: another grant.
    let other = ok(create("nightly-job", vec![GrantOperation::Encrypt])
        .send()
        .await);
    assert_ne!(other.grant_id(), first.grant_id());
    let listed = ok(s.owner.list_grants().key_id(&key_id).send().await);
    assert_eq!(listed.grants().len(), 2);
    assert!(listed
        .grants()
        .iter()
        .all(|g| g.name() == Some("nightly-job")));
}

#[tokio::test]
async fn list_grants_pages_and_filters() {
    let s = setup();
    let (key_id, arn) = create_key(&s.owner).await;
    let other_grantee = "arn:aws:iam::444455556666:role/reader";
    let mut ids = Vec::new();
    for i in 0..5 {
        let grantee = if i < 2 { other_grantee } else { GRANTEE };
        ids.push(
            grant(&s.owner, &arn, grantee, &[GrantOperation::Decrypt], None)
                .await
                .0,
        );
    }
    let (named_id, _) = {
        let out = ok(s
            .owner
            .create_grant()
            .key_id(&key_id)
            .grantee_principal(GRANTEE)
            .retiring_principal(OWNER_ROOT)
            .name("described")
            .operations(GrantOperation::Encrypt)
            .operations(GrantOperation::GenerateDataKey)
            .constraints(
                GrantConstraints::builder()
                    .encryption_context_subset("Dept", "IT")
                    .build(),
            )
            .send()
            .await);
        (out.grant_id().unwrap().to_owned(), ())
    };
    ids.push(named_id.clone());
    ids.sort();

    // Pages of two, in a stable order, every grant once.
    let mut seen = Vec::new();
    let mut marker: Option<String> = None;
    loop {
        let page = ok(s
            .owner
            .list_grants()
            .key_id(&key_id)
            .limit(2)
            .set_marker(marker.clone())
            .send()
            .await);
        assert!(page.grants().len() <= 2);
        seen.extend(
            page.grants()
                .iter()
                .map(|g| g.grant_id().unwrap().to_owned()),
        );
        if page.truncated() {
            marker = Some(
                page.next_marker()
                    .expect("NextMarker when truncated")
                    .to_owned(),
            );
        } else {
            assert!(page.next_marker().is_none());
            break;
        }
    }
    seen.sort();
    assert_eq!(seen, ids);

    // The entry as AWS shows it.
    let one = ok(s
        .owner
        .list_grants()
        .key_id(&arn)
        .grant_id(&named_id)
        .send()
        .await);
    assert_eq!(one.grants().len(), 1);
    let g = &one.grants()[0];
    assert_eq!(g.key_id(), Some(arn.as_str()));
    assert_eq!(g.grant_id(), Some(named_id.as_str()));
    assert_eq!(g.name(), Some("described"));
    assert_eq!(g.grantee_principal(), Some(GRANTEE));
    assert_eq!(g.retiring_principal(), Some(OWNER_ROOT));
    assert_eq!(g.issuing_account(), Some(OWNER_ROOT));
    assert_eq!(
        g.operations(),
        &[GrantOperation::Encrypt, GrantOperation::GenerateDataKey]
    );
    assert_eq!(
        g.constraints()
            .and_then(|c| c.encryption_context_subset())
            .and_then(|m| m.get("Dept"))
            .map(String::as_str),
        Some("IT")
    );
    assert!(g.creation_date().is_some());

    // By grantee.
    let by_grantee = ok(s
        .owner
        .list_grants()
        .key_id(&key_id)
        .grantee_principal(other_grantee)
        .send()
        .await);
    assert_eq!(by_grantee.grants().len(), 2);
    assert!(by_grantee
        .grants()
        .iter()
        .all(|g| g.grantee_principal() == Some(other_grantee)));

    // A grant id of no grant of this key; a marker we never gave out.
    expect_code(
        s.owner
            .list_grants()
            .key_id(&key_id)
            .grant_id("0".repeat(64))
            .send()
            .await,
        "InvalidGrantIdException",
    );
    expect_code(
        s.owner
            .list_grants()
            .key_id(&key_id)
            .marker("not-a-marker")
            .send()
            .await,
        "InvalidMarkerException",
    );
    // Another account cannot list the key's grants without permission.
    expect_code(
        s.grantee.list_grants().key_id(&arn).send().await,
        "AccessDeniedException",
    );
}

#[tokio::test]
async fn list_retirable_grants_spans_keys_and_accounts() {
    let s = setup();
    let mut expected = Vec::new();
    for _ in 0..2 {
        let (key_id, _) = create_key(&s.owner).await;
        for _ in 0..2 {
            let out = ok(s
                .owner
                .create_grant()
                .key_id(&key_id)
                .grantee_principal(GRANTEE)
                .retiring_principal(GRANTEE)
                .operations(GrantOperation::Decrypt)
                .send()
                .await);
            expected.push(out.grant_id().unwrap().to_owned());
        }
        // Not retirable by that principal.
        grant(&s.owner, &key_id, GRANTEE, &[GrantOperation::Decrypt], None).await;
    }
    expected.sort();
    let mut seen = Vec::new();
    let mut marker: Option<String> = None;
    loop {
        let page = ok(s
            .grantee
            .list_retirable_grants()
            .retiring_principal(GRANTEE)
            .limit(3)
            .set_marker(marker.clone())
            .send()
            .await);
        seen.extend(
            page.grants()
                .iter()
                .map(|g| g.grant_id().unwrap().to_owned()),
        );
        match page.next_marker() {
            Some(m) if page.truncated() => marker = Some(m.to_owned()),
            _ => break,
        }
    }
    seen.sort();
    assert_eq!(seen, expected);
    // A principal of another account: not the caller's to ask about.
    expect_code(
        s.owner
            .list_retirable_grants()
            .retiring_principal(GRANTEE)
            .send()
            .await,
        "AccessDeniedException",
    );
    expect_code(
        s.owner
            .list_retirable_grants()
            .retiring_principal("nonsense")
            .send()
            .await,
        "InvalidArnException",
    );
}

#[tokio::test]
async fn who_may_retire_a_grant() {
    let s = setup();
    let (key_id, arn) = create_key(&s.owner).await;

    // The retiring principal, by token.
    let retirable = ok(s
        .owner
        .create_grant()
        .key_id(&key_id)
        .grantee_principal("arn:aws:iam::444455556666:role/app")
        .retiring_principal(GRANTEE)
        .operations(GrantOperation::Decrypt)
        .send()
        .await);
    let token = retirable.grant_token().unwrap();
    expect_code(
        s.stranger.retire_grant().grant_token(token).send().await,
        "AccessDeniedException",
    );
    expect_err(
        s.grantee
            .retire_grant()
            .grant_token(token)
            .dry_run(true)
            .send()
            .await,
        "DryRunOperationException",
        Some("The request would have succeeded, but the DryRun option is set."),
    );
    ok(s.grantee.retire_grant().grant_token(token).send().await);
    expect_code(
        s.grantee.retire_grant().grant_token(token).send().await,
        "InvalidGrantIdException",
    );

    // The grantee, by key ARN and grant id, if the grant includes RetireGrant.
    let (with_retire, _) = grant(
        &s.owner,
        &arn,
        GRANTEE,
        &[GrantOperation::Decrypt, GrantOperation::RetireGrant],
        None,
    )
    .await;
    let (without_retire, _) =
        grant(&s.owner, &arn, GRANTEE, &[GrantOperation::Decrypt], None).await;
    expect_code(
        s.grantee
            .retire_grant()
            .key_id(&arn)
            .grant_id(&without_retire)
            .send()
            .await,
        "AccessDeniedException",
    );
    ok(s.grantee
        .retire_grant()
        .key_id(&arn)
        .grant_id(&with_retire)
        .send()
        .await);

    // The account that created the grant (its root here).
    ok(s.owner
        .retire_grant()
        .key_id(&key_id)
        .grant_id(&without_retire)
        .send()
        .await);
    assert!(ok(s.owner.list_grants().key_id(&key_id).send().await)
        .grants()
        .is_empty());

    // Naming nothing retires nothing.
    expect_err(
        s.owner.retire_grant().grant_id(&with_retire).send().await,
        "ValidationException",
        Some("Grant token OR (grant ID, key ID) must be specified"),
    );
    expect_code(
        s.owner
            .retire_grant()
            .key_id(&key_id)
            .grant_id("not-a-grant-id")
            .send()
            .await,
        "InvalidGrantIdException",
    );
}

#[tokio::test]
async fn grant_tokens_are_verified_and_honoured() {
    let s = setup();
    let (_, arn) = create_key(&s.owner).await;
    let (_, token) = grant(&s.owner, &arn, GRANTEE, &[GrantOperation::Encrypt], None).await;
    // The token is accepted with the request at once.
    ok(s.grantee
        .encrypt()
        .key_id(&arn)
        .plaintext(Blob::new(b"x".to_vec()))
        .grant_tokens(&token)
        .send()
        .await);
    // Tokens Trent did not issue, or altered ones, are refused, on any operation.
    let mut altered = token.clone().into_bytes();
    let last = altered.len() - 2;
    altered[last] = if altered[last] == b'A' { b'B' } else { b'A' };
    let altered = String::from_utf8(altered).unwrap();
    // The message is the model's description of InvalidGrantTokenException; no recording
    // of AWS's own wording was found.
    let signing = crate::signing::create(&s.owner, "ECC_NIST_P256", "SIGN_VERIFY").await;
    let invalid = "The request was rejected because the specified grant token is not valid.";
    for bad in ["not-a-token", altered.as_str()] {
        expect_err(
            s.owner
                .encrypt()
                .key_id(&arn)
                .plaintext(Blob::new(b"x".to_vec()))
                .grant_tokens(bad)
                .send()
                .await,
            "InvalidGrantTokenException",
            Some(invalid),
        );
        expect_err(
            s.owner
                .sign()
                .key_id(&signing)
                .message(Blob::new(b"x".to_vec()))
                .signing_algorithm(aws_sdk_kms::types::SigningAlgorithmSpec::EcdsaSha256)
                .grant_tokens(bad)
                .send()
                .await,
            "InvalidGrantTokenException",
            Some(invalid),
        );
        expect_code(
            s.owner
                .describe_key()
                .key_id(&arn)
                .grant_tokens(bad)
                .send()
                .await,
            "InvalidGrantTokenException",
        );
        expect_code(
            s.owner.retire_grant().grant_token(bad).send().await,
            "InvalidGrantTokenException",
        );
    }
    // The token never reaches the audit trail.
    assert!(!s.server.logs().contains(&token));
}

#[tokio::test]
async fn a_grant_with_create_grant_only_passes_on_what_it_has() {
    let s = setup();
    let (_, arn) = create_key(&s.owner).await;
    grant(
        &s.owner,
        &arn,
        GRANTEE,
        &[GrantOperation::CreateGrant, GrantOperation::Decrypt],
        Some(
            GrantConstraints::builder()
                .encryption_context_subset("Dept", "IT")
                .build(),
        ),
    )
    .await;
    let third = "arn:aws:iam::444455556666:role/worker";
    let derive = |ops: Vec<GrantOperation>, constraints: Option<GrantConstraints>| {
        s.grantee
            .create_grant()
            .key_id(&arn)
            .grantee_principal(third)
            .set_operations(Some(ops))
            .set_constraints(constraints)
    };
    // Within its operations, at least as strict: allowed.
    let out = ok(derive(
        vec![GrantOperation::Decrypt],
        Some(
            GrantConstraints::builder()
                .encryption_context_subset("Dept", "IT")
                .encryption_context_subset("team", "blue")
                .build(),
        ),
    )
    .send()
    .await);
    assert!(out.grant_id().is_some());
    // More operations, or looser constraints: not allowed.
    expect_code(
        derive(
            vec![GrantOperation::Encrypt],
            Some(
                GrantConstraints::builder()
                    .encryption_context_subset("Dept", "IT")
                    .build(),
            ),
        )
        .send()
        .await,
        "AccessDeniedException",
    );
    expect_code(
        derive(vec![GrantOperation::Decrypt], None).send().await,
        "AccessDeniedException",
    );
}

#[tokio::test]
async fn five_hundred_grants_per_grantee_per_key() {
    let s = setup();
    let (key_id, _) = create_key(&s.owner).await;
    let mut tasks = Vec::new();
    for worker in 0..10 {
        let client = s.owner.clone();
        let key_id = key_id.clone();
        tasks.push(tokio::spawn(async move {
            for _ in 0..50 {
                let r = client
                    .create_grant()
                    .key_id(&key_id)
                    .grantee_principal(GRANTEE)
                    .operations(GrantOperation::Decrypt)
                    .send()
                    .await;
                assert!(r.is_ok(), "worker {worker}: {r:?}");
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    expect_code(
        s.owner
            .create_grant()
            .key_id(&key_id)
            .grantee_principal(GRANTEE)
            .operations(GrantOperation::Decrypt)
            .send()
            .await,
        "LimitExceededException",
    );
    // Another grantee still may get grants on the key.
    grant(
        &s.owner,
        &key_id,
        "arn:aws:iam::444455556666:role/other",
        &[GrantOperation::Decrypt],
        None,
    )
    .await;
}

/// The key policy decides CreateGrant on its condition keys (`kms:GrantOperations`,
/// `kms:GrantConstraintType`, `kms:GranteePrincipal`), and an explicit deny in it wins
/// over a grant (AWS: grants only ever allow).
#[tokio::test]
async fn key_policy_conditions_on_create_grant_and_deny_over_grants() {
    let s = setup();
    // The owner may create grants only for Encrypt/Decrypt, only with an encryption
    // context constraint, only to the grantee account; and the grantee may never Decrypt.
    let policy = format!(
        r#"{{"Version":"2012-10-17","Statement":[
        {{"Sid":"Admin","Effect":"Allow","Principal":{{"AWS":"{OWNER_ROOT}"}},"NotAction":"kms:CreateGrant","Resource":"*"}},
        {{"Sid":"Grants","Effect":"Allow","Principal":{{"AWS":"{OWNER_ROOT}"}},"Action":"kms:CreateGrant","Resource":"*",
          "Condition":{{
            "ForAllValues:StringEquals":{{"kms:GrantOperations":["Encrypt","Decrypt"]}},
            "ForAnyValue:StringEquals":{{"kms:GrantConstraintType":"EncryptionContextSubset"}},
            "StringEquals":{{"kms:GranteePrincipal":"{GRANTEE}"}},
            "Bool":{{"kms:GrantIsForAWSResource":"false"}}}}}},
        {{"Sid":"NoDecrypt","Effect":"Deny","Principal":{{"AWS":"{GRANTEE}"}},"Action":"kms:Decrypt","Resource":"*"}}
        ]}}"#
    );
    let key = ok(s.owner.create_key().policy(policy).send().await);
    let arn = key.key_metadata().unwrap().arn().unwrap().to_owned();
    let subset = || {
        Some(
            GrantConstraints::builder()
                .encryption_context_subset("app", "x")
                .build(),
        )
    };
    let create = |ops: Vec<GrantOperation>, grantee: &str, c: Option<GrantConstraints>| {
        s.owner
            .create_grant()
            .key_id(&arn)
            .grantee_principal(grantee)
            .set_operations(Some(ops))
            .set_constraints(c)
            .send()
    };
    // Allowed: operations within the set, a subset constraint, the named grantee.
    ok(create(
        vec![GrantOperation::Encrypt, GrantOperation::Decrypt],
        GRANTEE,
        subset(),
    )
    .await);
    // Refused: an operation outside the set; no constraint; another grantee.
    for (ops, grantee, c) in [
        (
            vec![GrantOperation::Encrypt, GrantOperation::ReEncryptFrom],
            GRANTEE,
            subset(),
        ),
        (vec![GrantOperation::Encrypt], GRANTEE, None),
        (
            vec![GrantOperation::Encrypt],
            "arn:aws:iam::777788889999:root",
            subset(),
        ),
    ] {
        expect_code(create(ops, grantee, c).await, "AccessDeniedException");
    }
    // The grant lets the grantee encrypt under its constraint, but the explicit deny in
    // the key policy wins over the grant for Decrypt.
    let blob = encrypt_with(&s.grantee, &arn, &[("app", "x")])
        .await
        .unwrap();
    let e = expect_code(
        s.grantee
            .decrypt()
            .key_id(&arn)
            .ciphertext_blob(blob)
            .set_encryption_context(Some(ec(&[("app", "x")])))
            .send()
            .await,
        "AccessDeniedException",
    );
    let message = aws_sdk_kms::error::ProvideErrorMetadata::message(&e)
        .unwrap_or_default()
        .to_owned();
    assert!(
        message.contains("with an explicit deny in a resource-based policy"),
        "{message}"
    );
}
