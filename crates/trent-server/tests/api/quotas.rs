//! Resource quotas: AWS's defaults, set per deployment (`[quotas]`), or off
//! (`quotas = false`, `--no-quotas`); over a quota, LimitExceededException with AWS's
//! message, and nothing made.

use aws_sdk_kms::types::GrantOperation;

use crate::harness::{create_alias, create_key, expect_err, ok, TestServer, OTHER_REGION, REGION};

fn config(text: &str) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("trent.toml");
    std::fs::write(&path, text).unwrap();
    let path = path.to_str().unwrap().to_owned();
    (dir, path)
}

#[tokio::test]
async fn configured_quotas_refuse_the_one_too_many() {
    let (_dir, path) = config("[quotas]\nkeys = 3\naliases = 2\ngrants = 2\n");
    let server = TestServer::start_with(&["--config", &path], &[]);
    let client = server.client(REGION);

    // Keys: three per account and Region; AWS managed keys do not count, and another
    // Region has its own.
    ok(client.describe_key().key_id("alias/aws/s3").send().await);
    let mut keys = Vec::new();
    for _ in 0..3 {
        keys.push(create_key(&client).await.0);
    }
    expect_err(
        client.create_key().send().await,
        "LimitExceededException",
        Some("Key quota for this account in this region is 3 but the current usage is 3."),
    );
    assert_eq!(ok(client.list_keys().send().await).keys().len(), 4);
    create_key(&server.client(OTHER_REGION)).await;
    // A key scheduled for deletion still counts (AWS: "regardless of key state").
    ok(client.schedule_key_deletion().key_id(&keys[2]).send().await);
    expect_err(
        client.create_key().send().await,
        "LimitExceededException",
        Some("Key quota for this account in this region is 3 but the current usage is 3."),
    );

    // Aliases: two per key, on CreateAlias and on UpdateAlias to the full key.
    create_alias(&client, "alias/one", &keys[0]).await;
    create_alias(&client, "alias/two", &keys[0]).await;
    let too_many = "Alias quota for this KMS key is 2 but the current usage is 2.";
    expect_err(
        client
            .create_alias()
            .alias_name("alias/three")
            .target_key_id(&keys[0])
            .send()
            .await,
        "LimitExceededException",
        Some(too_many),
    );
    create_alias(&client, "alias/elsewhere", &keys[1]).await;
    expect_err(
        client
            .update_alias()
            .alias_name("alias/elsewhere")
            .target_key_id(&keys[0])
            .send()
            .await,
        "LimitExceededException",
        Some(too_many),
    );
    let of_key = ok(client.list_aliases().key_id(&keys[0]).send().await);
    assert_eq!(of_key.aliases().len(), 2);

    // Grants: two per key.
    let grant = || {
        client
            .create_grant()
            .key_id(&keys[1])
            .grantee_principal("arn:aws:iam::111122223333:role/worker")
            .operations(GrantOperation::Decrypt)
    };
    ok(grant().send().await);
    ok(grant().send().await);
    expect_err(
        grant().send().await,
        "LimitExceededException",
        Some("The number of grants on the KMS key exceeds the limit of 2"),
    );
}

#[tokio::test]
async fn quotas_can_be_turned_off() {
    for (args, file) in [
        (vec!["--no-quotas"], "[quotas]\nkeys = 1\n"),
        (vec![], "quotas = false\n"),
    ] {
        let (_dir, path) = config(file);
        let mut all = vec!["--config", path.as_str()];
        all.extend(args);
        let server = TestServer::start_with(&all, &[]);
        let client = server.client(REGION);
        for _ in 0..3 {
            create_key(&client).await;
        }
    }
}

#[tokio::test]
async fn a_bad_quotas_table_is_refused_at_start() {
    for (file, wanted) in [
        ("[quotas]\nkeyz = 3\n", "unknown field `keyz`"),
        (
            "quotas = \"off\"\n",
            "quotas: expected true, false or a [quotas] table",
        ),
    ] {
        let (dir, path) = config(file);
        let data = dir.path().join("data");
        let out = trent_testkit::process::Launch::serve()
            .data_dir(&data)
            .args(["--config", path.as_str()])
            .start_fails()
            .output();
        assert!(out.contains(wanted), "{file}: {out}");
    }
}

/// A replica is a key of its Region: ReplicateKey into a Region at its key quota is
/// refused, and no replica is made.
#[tokio::test]
async fn a_replica_counts_toward_its_regions_key_quota() {
    let (_dir, path) = config("[quotas]\nkeys = 1\n");
    let server = TestServer::start_with(&["--config", &path], &[]);
    let client = server.client(REGION);
    let primary = ok(client.create_key().multi_region(true).send().await)
        .key_metadata()
        .unwrap()
        .key_id()
        .to_owned();
    let other = server.client(OTHER_REGION);
    create_key(&other).await;
    expect_err(
        client
            .replicate_key()
            .key_id(&primary)
            .replica_region(OTHER_REGION)
            .send()
            .await,
        "LimitExceededException",
        Some("Key quota for this account in this region is 1 but the current usage is 1."),
    );
    assert_eq!(ok(other.list_keys().send().await).keys().len(), 1);
}

/// Request rates: over an operation's own quota, or its key type's shared cryptographic
/// quota, ThrottlingException with AWS's message; other operations and other accounts go
/// on. (Raw requests: an SDK would retry a throttled call after a backoff.)
#[tokio::test]
async fn request_rates_throttle_with_aws_message() {
    use crate::harness::RawRequest;
    let (_dir, path) = config(
        // Rates under one per second: a bucket of one request, refilled in ten seconds,
        // far longer than this test takes however slow the machine.
        "[quotas.rates]\nCreateKey = 0.1\ncryptographic_symmetric = 0.1\n",
    );
    let server = TestServer::start_with(
        &["--config", &path, "--dev-any-credentials"],
        &[("TRENT_NO_RATE_QUOTAS", "false")],
    );
    let throttled = |r: &crate::harness::RawResponse| {
        r.status == 400
            && r.json()["__type"] == "ThrottlingException"
            && r.json()["message"]
                == "You have exceeded the rate at which you may call KMS. Reduce the frequency of your calls."
    };
    // CreateKey: one, then throttled.
    let first = server
        .raw(RawRequest::new("CreateKey", "{}"))
        .await
        .unwrap();
    assert_eq!(first.status, 200, "{}", first.body_text());
    let second = server
        .raw(RawRequest::new("CreateKey", "{}"))
        .await
        .unwrap();
    assert!(throttled(&second), "{}", second.body_text());
    let answers = [first];
    let key = answers[0].json()["KeyMetadata"]["KeyId"]
        .as_str()
        .unwrap()
        .to_owned();
    // Another operation has its own quota; another account its own buckets.
    let listed = server.raw(RawRequest::new("ListKeys", "{}")).await.unwrap();
    assert_eq!(listed.status, 200);
    let mut other = RawRequest::new("CreateKey", "{}");
    other.auth = crate::harness::Auth::Keys {
        access_key_id: "444455556666".into(),
        secret_access_key: "any".into(),
    };
    assert_eq!(server.raw(other).await.unwrap().status, 200);

    // Encrypt and GenerateRandom share the symmetric quota.
    let encrypt = format!(r#"{{"KeyId": "{key}", "Plaintext": "aGVsbG8="}}"#);
    let first = server
        .raw(RawRequest::new("Encrypt", encrypt.as_str()))
        .await
        .unwrap();
    assert_eq!(first.status, 200, "{}", first.body_text());
    let random = server
        .raw(RawRequest::new("GenerateRandom", r#"{"NumberOfBytes": 8}"#))
        .await
        .unwrap();
    assert!(throttled(&random), "{}", random.body_text());
    let again = server
        .raw(RawRequest::new("Encrypt", encrypt.as_str()))
        .await
        .unwrap();
    assert!(throttled(&again), "{}", again.body_text());
}
