//! Multi-Region keys through the real server, with one SDK client per region: one key id
//! in several regions, the shared properties (key id, spec, usage, origin, material and
//! its rotation) and the independent ones (policy, description, tags, aliases, grants,
//! state, deletion), ReplicateKey, UpdatePrimaryRegion, rotation controlled by the
//! primary, and a primary's deletion waiting for its replicas.
//! <https://docs.aws.amazon.com/kms/latest/developerguide/multi-region-keys-overview.html>

use std::collections::BTreeSet;

use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{
    EncryptionAlgorithmSpec, KeyMetadata, KeySpec, KeyState, KeyUsageType, MacAlgorithmSpec,
    MultiRegionKeyType, SigningAlgorithmSpec, Tag,
};
use aws_sdk_kms::Client;
use serde_json::json;

use crate::harness::{
    create_key, decrypt, encrypt, expect_code, expect_err, key_arn, ok, TestServer, DEFAULT_ACCOUNT,
};
use crate::test_clock::{advance_millis, clock_now, freeze_at, now_ms, server, DAY_MS};

const US: &str = "us-east-1";
const EU: &str = "eu-west-1";
const AP: &str = "ap-southeast-2";

fn tag(k: &str, v: &str) -> Tag {
    Tag::builder().tag_key(k).tag_value(v).build().unwrap()
}

/// AWS's default key policy, as Trent formats it.
fn default_policy() -> String {
    format!(
        "{{\n  \"Version\" : \"2012-10-17\",\n  \"Id\" : \"key-default-1\",\n  \"Statement\" : [ {{\n    \"Sid\" : \"Enable IAM User Permissions\",\n    \"Effect\" : \"Allow\",\n    \"Principal\" : {{\n      \"AWS\" : \"arn:aws:iam::{DEFAULT_ACCOUNT}:root\"\n    }},\n    \"Action\" : \"kms:*\",\n    \"Resource\" : \"*\"\n  }} ]\n}}"
    )
}

/// The account may do everything, but nobody may Encrypt.
fn deny_encrypt_policy() -> String {
    format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Sid":"Enable IAM User Permissions","Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{DEFAULT_ACCOUNT}:root"}},"Action":"kms:*","Resource":"*"}},{{"Sid":"no-encrypt","Effect":"Deny","Principal":"*","Action":"kms:Encrypt","Resource":"*"}}]}}"#
    )
}

async fn create_mrk(client: &Client) -> (String, String) {
    let out = ok(client.create_key().multi_region(true).send().await);
    let md = out.key_metadata().unwrap();
    (md.key_id().to_owned(), md.arn().unwrap().to_owned())
}

async fn replicate(client: &Client, key_id: &str, region: &str) -> KeyMetadata {
    ok(client
        .replicate_key()
        .key_id(key_id)
        .replica_region(region)
        .send()
        .await)
    .replica_key_metadata()
    .unwrap()
    .clone()
}

async fn metadata(client: &Client, key: &str) -> KeyMetadata {
    ok(client.describe_key().key_id(key).send().await)
        .key_metadata()
        .unwrap()
        .clone()
}

/// (key type, primary region, replica regions) of a key's MultiRegionConfiguration.
fn configuration(md: &KeyMetadata) -> (MultiRegionKeyType, String, BTreeSet<String>) {
    let c = md
        .multi_region_configuration()
        .expect("MultiRegionConfiguration");
    let key_id = md.key_id();
    let primary = c.primary_key().unwrap();
    let primary_region = primary.region().unwrap().to_owned();
    assert_eq!(
        primary.arn(),
        Some(key_arn(&primary_region, DEFAULT_ACCOUNT, key_id).as_str())
    );
    let replicas = c
        .replica_keys()
        .iter()
        .map(|r| {
            let region = r.region().unwrap().to_owned();
            assert_eq!(
                r.arn(),
                Some(key_arn(&region, DEFAULT_ACCOUNT, key_id).as_str())
            );
            region
        })
        .collect();
    (
        c.multi_region_key_type().unwrap().clone(),
        primary_region,
        replicas,
    )
}

fn regions(list: &[&str]) -> BTreeSet<String> {
    list.iter().map(|r| (*r).to_owned()).collect()
}

async fn key_ids(client: &Client) -> Vec<(String, String)> {
    let out = ok(client.list_keys().send().await);
    out.keys()
        .iter()
        .map(|k| {
            (
                k.key_id().unwrap().to_owned(),
                k.key_arn().unwrap().to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn one_key_id_and_one_material_in_every_region() {
    let server = TestServer::start();
    let (us, eu, ap) = (server.client(US), server.client(EU), server.client(AP));
    let (key_id, us_arn) = create_mrk(&us).await;
    assert!(key_id.starts_with("mrk-"), "{key_id}");
    assert_eq!(key_id.len(), 36);
    assert!(key_id[4..]
        .bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
    assert_eq!(us_arn, key_arn(US, DEFAULT_ACCOUNT, &key_id));
    let created = metadata(&us, &key_id).await;
    assert_eq!(created.multi_region(), Some(true));
    assert_eq!(
        configuration(&created),
        (MultiRegionKeyType::Primary, US.to_owned(), BTreeSet::new())
    );

    // A replica with its own description and tags; another with the defaults.
    let out = ok(eu_replicate_with(&us, &key_id).await);
    let replica = out.replica_key_metadata().unwrap();
    let eu_arn = key_arn(EU, DEFAULT_ACCOUNT, &key_id);
    assert_eq!(replica.key_id(), key_id);
    assert_eq!(replica.arn(), Some(eu_arn.as_str()));
    assert_eq!(replica.key_state(), Some(&KeyState::Enabled));
    assert!(replica.enabled());
    assert_eq!(replica.description(), Some("the Irish copy"));
    assert_eq!(replica.multi_region(), Some(true));
    assert_eq!(replica.key_spec(), Some(&KeySpec::SymmetricDefault));
    // AWS's ReplicaKeyMetadata has no CurrentKeyMaterialId; DescribeKey of the replica
    // has the primary's.
    assert_eq!(replica.current_key_material_id(), None);
    assert!(created.current_key_material_id().is_some());
    assert_eq!(
        metadata(&eu, &key_id).await.current_key_material_id(),
        created.current_key_material_id()
    );
    assert_eq!(
        configuration(replica),
        (MultiRegionKeyType::Replica, US.to_owned(), regions(&[EU]))
    );
    assert_eq!(out.replica_policy(), Some(default_policy().as_str()));
    assert_eq!(out.replica_tags, Some(vec![tag("team", "eu")]));
    // Without tags, the response has no ReplicaTags at all.
    let ap_out = ok(us
        .replicate_key()
        .key_id(&key_id)
        .replica_region(AP)
        .send()
        .await);
    assert_eq!(ap_out.replica_tags, None);
    let ap_md = ap_out.replica_key_metadata().unwrap().clone();
    assert_eq!(ap_md.current_key_material_id(), None);
    assert_eq!(ap_md.description(), Some(""));

    // Every region describes the same set.
    for (client, kind) in [
        (&us, MultiRegionKeyType::Primary),
        (&eu, MultiRegionKeyType::Replica),
        (&ap, MultiRegionKeyType::Replica),
    ] {
        let md = metadata(client, &key_id).await;
        assert_eq!(
            configuration(&md),
            (kind, US.to_owned(), regions(&[AP, EU]))
        );
    }
    // Each region lists its own region-key under the shared id.
    assert_eq!(key_ids(&eu).await, vec![(key_id.clone(), eu_arn.clone())]);
    assert!(key_ids(&us)
        .await
        .contains(&(key_id.clone(), us_arn.clone())));

    // Encrypted in one region, decrypted in every other: without KeyId, by key id, by the
    // region's ARN.
    let blob = encrypt(&us, &key_id, b"crosses regions").await;
    for (client, arn) in [(&eu, &eu_arn), (&ap, &ap_md.arn().unwrap().to_owned())] {
        let out = ok(client.decrypt().ciphertext_blob(blob.clone()).send().await);
        assert_eq!(out.plaintext().unwrap().as_ref(), b"crosses regions");
        assert_eq!(out.key_id(), Some(arn.as_str()));
        assert_eq!(out.key_material_id(), created.current_key_material_id());
        for named in [key_id.as_str(), arn.as_str()] {
            let out = ok(client
                .decrypt()
                .key_id(named)
                .ciphertext_blob(blob.clone())
                .send()
                .await);
            assert_eq!(out.plaintext().unwrap().as_ref(), b"crosses regions");
        }
    }
    let back = encrypt(&eu, &key_id, b"and back").await;
    assert_eq!(decrypt(&us, &back).await, b"and back");
    let data_key = ok(ap
        .generate_data_key()
        .key_id(&key_id)
        .number_of_bytes(32)
        .send()
        .await);
    let out = ok(us
        .decrypt()
        .ciphertext_blob(data_key.ciphertext_blob().unwrap().clone())
        .send()
        .await);
    assert_eq!(out.plaintext(), data_key.plaintext());
    let re = ok(eu
        .re_encrypt()
        .ciphertext_blob(blob.clone())
        .destination_key_id(&key_id)
        .send()
        .await);
    assert_eq!(re.source_key_id(), Some(eu_arn.as_str()));
    assert_eq!(
        decrypt(&ap, re.ciphertext_blob().unwrap()).await,
        b"crosses regions"
    );

    // Each region-key has its own last use.
    let usage = ok(ap.get_key_last_usage().key_id(&key_id).send().await);
    assert_eq!(usage.key_id(), Some(key_id.as_str()));
    assert_eq!(
        usage.key_last_usage().unwrap().operation(),
        Some(&aws_sdk_kms::types::KeyLastUsageTrackingOperation::Decrypt)
    );

    // ListKeys pages by the public id, multi-Region keys among the others.
    let (uuid_key, _) = create_key(&us).await;
    let mut paged = Vec::new();
    let mut marker: Option<String> = None;
    loop {
        let page = ok(us
            .list_keys()
            .limit(1)
            .set_marker(marker.clone())
            .send()
            .await);
        paged.extend(page.keys().iter().map(|k| k.key_id().unwrap().to_owned()));
        marker = page.next_marker().map(str::to_owned);
        if !page.truncated() {
            break;
        }
        assert_eq!(marker.as_deref(), paged.last().map(String::as_str));
    }
    let mut expected = vec![key_id.clone(), uuid_key];
    expected.sort();
    assert_eq!(paged, expected);

    // Another key named in the request: IncorrectKeyException, as for any other key.
    let (other, _) = create_key(&eu).await;
    expect_code(
        eu.decrypt()
            .key_id(&other)
            .ciphertext_blob(blob.clone())
            .send()
            .await,
        "IncorrectKeyException",
    );
    // A region without a replica does not know the key.
    let ca = server.client("ca-central-1");
    expect_code(
        ca.decrypt().ciphertext_blob(blob.clone()).send().await,
        "InvalidCiphertextException",
    );
    expect_err(
        ca.describe_key().key_id(&key_id).send().await,
        "NotFoundException",
        Some(&format!(
            "Key '{}' does not exist",
            key_arn("ca-central-1", DEFAULT_ACCOUNT, &key_id)
        )),
    );

    // Single-Region keys are unchanged: MultiRegion false, no configuration.
    let single = metadata(&eu, &other).await;
    assert_eq!(single.multi_region(), Some(false));
    assert!(single.multi_region_configuration().is_none());
}

async fn eu_replicate_with(
    us: &Client,
    key_id: &str,
) -> Result<
    aws_sdk_kms::operation::replicate_key::ReplicateKeyOutput,
    aws_sdk_kms::error::SdkError<aws_sdk_kms::operation::replicate_key::ReplicateKeyError>,
> {
    us.replicate_key()
        .key_id(key_id)
        .replica_region(EU)
        .description("the Irish copy")
        .tags(tag("team", "eu"))
        .send()
        .await
}

#[tokio::test]
async fn signatures_macs_and_public_keys_cross_regions() {
    let server = TestServer::start();
    let (us, eu) = (server.client(US), server.client(EU));

    let signing = ok(us
        .create_key()
        .multi_region(true)
        .key_spec(KeySpec::EccNistP256)
        .key_usage(KeyUsageType::SignVerify)
        .send()
        .await);
    let signing = signing.key_metadata().unwrap().key_id().to_owned();
    let replica = replicate(&us, &signing, EU).await;
    assert_eq!(replica.key_spec(), Some(&KeySpec::EccNistP256));
    assert_eq!(replica.key_usage(), Some(&KeyUsageType::SignVerify));
    let signature = ok(us
        .sign()
        .key_id(&signing)
        .message(Blob::new(b"signed in us"))
        .signing_algorithm(SigningAlgorithmSpec::EcdsaSha256)
        .send()
        .await);
    let verified = ok(eu
        .verify()
        .key_id(&signing)
        .message(Blob::new(b"signed in us"))
        .signature(signature.signature().unwrap().clone())
        .signing_algorithm(SigningAlgorithmSpec::EcdsaSha256)
        .send()
        .await);
    assert!(verified.signature_valid());
    let us_public = ok(us.get_public_key().key_id(&signing).send().await);
    let eu_public = ok(eu.get_public_key().key_id(&signing).send().await);
    assert_eq!(us_public.public_key(), eu_public.public_key());
    assert_eq!(
        eu_public.key_id(),
        Some(key_arn(EU, DEFAULT_ACCOUNT, &signing).as_str())
    );

    let rsa = ok(us
        .create_key()
        .multi_region(true)
        .key_spec(KeySpec::Rsa2048)
        .key_usage(KeyUsageType::EncryptDecrypt)
        .send()
        .await);
    let rsa = rsa.key_metadata().unwrap().key_id().to_owned();
    replicate(&us, &rsa, EU).await;
    let sealed = ok(eu
        .encrypt()
        .key_id(&rsa)
        .plaintext(Blob::new(b"rsa across"))
        .encryption_algorithm(EncryptionAlgorithmSpec::RsaesOaepSha256)
        .send()
        .await);
    let opened = ok(us
        .decrypt()
        .key_id(&rsa)
        .ciphertext_blob(sealed.ciphertext_blob().unwrap().clone())
        .encryption_algorithm(EncryptionAlgorithmSpec::RsaesOaepSha256)
        .send()
        .await);
    assert_eq!(opened.plaintext().unwrap().as_ref(), b"rsa across");

    let hmac = ok(us
        .create_key()
        .multi_region(true)
        .key_spec(KeySpec::Hmac256)
        .key_usage(KeyUsageType::GenerateVerifyMac)
        .send()
        .await);
    let hmac = hmac.key_metadata().unwrap().key_id().to_owned();
    replicate(&us, &hmac, EU).await;
    let mac = ok(eu
        .generate_mac()
        .key_id(&hmac)
        .message(Blob::new(b"mac in eu"))
        .mac_algorithm(MacAlgorithmSpec::HmacSha256)
        .send()
        .await);
    let checked = ok(us
        .verify_mac()
        .key_id(&hmac)
        .message(Blob::new(b"mac in eu"))
        .mac(mac.mac().unwrap().clone())
        .mac_algorithm(MacAlgorithmSpec::HmacSha256)
        .send()
        .await);
    assert!(checked.mac_valid());
}

#[tokio::test]
async fn policies_tags_aliases_descriptions_grants_and_states_are_per_region() {
    let server = TestServer::start();
    let (us, eu) = (server.client(US), server.client(EU));
    let (key_id, us_arn) = create_mrk(&us).await;
    let out = ok(us
        .replicate_key()
        .key_id(&key_id)
        .replica_region(EU)
        .policy(deny_encrypt_policy())
        .send()
        .await);
    assert_eq!(out.replica_policy(), Some(deny_encrypt_policy().as_str()));
    let eu_arn = key_arn(EU, DEFAULT_ACCOUNT, &key_id);

    // The replica's policy denies Encrypt there only.
    expect_code(
        eu.encrypt()
            .key_id(&key_id)
            .plaintext(Blob::new(b"x"))
            .send()
            .await,
        "AccessDeniedException",
    );
    let blob = encrypt(&us, &key_id, b"policy is per region").await;
    assert_eq!(decrypt(&eu, &blob).await, b"policy is per region");
    let us_policy = ok(us.get_key_policy().key_id(&key_id).send().await);
    assert_eq!(us_policy.policy(), Some(default_policy().as_str()));

    // Tags and descriptions.
    ok(eu
        .tag_resource()
        .key_id(&key_id)
        .tags(tag("only", "eu"))
        .send()
        .await);
    ok(eu
        .update_key_description()
        .key_id(&key_id)
        .description("eu text")
        .send()
        .await);
    let eu_tags = ok(eu.list_resource_tags().key_id(&key_id).send().await);
    assert_eq!(eu_tags.tags(), &[tag("only", "eu")]);
    let us_tags = ok(us.list_resource_tags().key_id(&key_id).send().await);
    assert!(us_tags.tags().is_empty());
    assert_eq!(metadata(&us, &key_id).await.description(), Some(""));
    assert_eq!(metadata(&eu, &key_id).await.description(), Some("eu text"));

    // The same alias name in both regions, each naming its region-key.
    for client in [&us, &eu] {
        ok(client
            .create_alias()
            .alias_name("alias/shared-name")
            .target_key_id(&key_id)
            .send()
            .await);
    }
    let listed = ok(eu.list_aliases().key_id(&key_id).send().await);
    assert_eq!(listed.aliases().len(), 1);
    assert_eq!(listed.aliases()[0].target_key_id(), Some(key_id.as_str()));
    assert_eq!(
        metadata(&eu, "alias/shared-name").await.arn(),
        Some(eu_arn.as_str())
    );
    ok(eu
        .delete_alias()
        .alias_name("alias/shared-name")
        .send()
        .await);
    assert_eq!(
        metadata(&us, "alias/shared-name").await.arn(),
        Some(us_arn.as_str())
    );

    // Grants belong to one region-key; a token names the key in its own region.
    let grant = ok(eu
        .create_grant()
        .key_id(&key_id)
        .grantee_principal(format!("arn:aws:iam::{DEFAULT_ACCOUNT}:user/admin"))
        .operations(aws_sdk_kms::types::GrantOperation::Decrypt)
        .send()
        .await);
    let eu_grants = ok(eu.list_grants().key_id(&key_id).send().await);
    assert_eq!(eu_grants.grants().len(), 1);
    assert_eq!(eu_grants.grants()[0].key_id(), Some(eu_arn.as_str()));
    assert!(ok(us.list_grants().key_id(&key_id).send().await)
        .grants()
        .is_empty());
    ok(eu
        .retire_grant()
        .grant_token(grant.grant_token().unwrap())
        .send()
        .await);
    assert!(ok(eu.list_grants().key_id(&key_id).send().await)
        .grants()
        .is_empty());

    // Disabling the replica leaves the primary enabled.
    ok(eu.disable_key().key_id(&key_id).send().await);
    expect_err(
        eu.decrypt().ciphertext_blob(blob.clone()).send().await,
        "DisabledException",
        Some(&format!("{eu_arn} is disabled.")),
    );
    assert_eq!(
        metadata(&us, &key_id).await.key_state(),
        Some(&KeyState::Enabled)
    );
    assert_eq!(decrypt(&us, &blob).await, b"policy is per region");
}

#[tokio::test]
async fn replicate_key_errors_change_nothing() {
    let server = TestServer::start();
    let (us, eu) = (server.client(US), server.client(EU));
    let (key_id, us_arn) = create_mrk(&us).await;
    replicate(&us, &key_id, EU).await;
    let eu_arn = key_arn(EU, DEFAULT_ACCOUNT, &key_id);

    let (single, single_arn) = create_key(&us).await;
    expect_err(
        us.replicate_key()
            .key_id(&single)
            .replica_region(AP)
            .send()
            .await,
        "UnsupportedOperationException",
        Some(&format!(
            "{single_arn} is not a multi-Region key. You can replicate only multi-Region primary keys."
        )),
    );
    expect_err(
        eu.replicate_key()
            .key_id(&key_id)
            .replica_region(AP)
            .send()
            .await,
        "UnsupportedOperationException",
        Some(&format!("{eu_arn} is not a multi-region primary key.")),
    );
    expect_err(
        us.replicate_key()
            .key_id(&key_id)
            .replica_region(EU)
            .send()
            .await,
        "AlreadyExistsException",
        Some(&format!(
            "A replica of the multi-Region key {us_arn} already exists in {EU}: {eu_arn} (Enabled)."
        )),
    );
    expect_err(
        us.replicate_key()
            .key_id(&key_id)
            .replica_region(US)
            .send()
            .await,
        "ValidationException",
        Some(&format!(
            "The replica region {US} must be different from the region of the primary key {us_arn}."
        )),
    );
    expect_code(
        us.replicate_key()
            .key_id(&key_id)
            .replica_region("cn-north-1")
            .send()
            .await,
        "ValidationException",
    );
    let bad = server
        .call(
            "ReplicateKey",
            json!({"KeyId": key_id, "ReplicaRegion": "Mars"}),
        )
        .await;
    bad.assert_error(400, "ValidationException");
    expect_code(
        us.replicate_key()
            .key_id(&key_id)
            .replica_region(AP)
            .policy("{not json")
            .send()
            .await,
        "MalformedPolicyDocumentException",
    );
    // The replica's policy passes the lockout check of CreateKey, unless bypassed.
    let locked_out = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::444455556666:root"},"Action":"kms:*","Resource":"*"}]}"#;
    expect_err(
        us.replicate_key()
            .key_id(&key_id)
            .replica_region(AP)
            .policy(locked_out)
            .send()
            .await,
        "MalformedPolicyDocumentException",
        Some("The new key policy will not allow you to update the key policy in the future."),
    );
    expect_code(
        us.replicate_key()
            .key_id(&key_id)
            .replica_region(AP)
            .tags(tag("aws:reserved", "x"))
            .send()
            .await,
        "TagException",
    );
    expect_code(
        us.replicate_key()
            .key_id("mrk-0123456789abcdef0123456789abcdef")
            .replica_region(AP)
            .send()
            .await,
        "NotFoundException",
    );
    // Nothing was created anywhere.
    let ap = server.client(AP);
    assert!(key_ids(&ap).await.is_empty());
    // Bypassed, the same policy is the replica's (and locks the administrator out there).
    let bypassed = ok(us
        .replicate_key()
        .key_id(&key_id)
        .replica_region("sa-east-1")
        .policy(locked_out)
        .bypass_policy_lockout_safety_check(true)
        .send()
        .await);
    assert_eq!(bypassed.replica_policy(), Some(locked_out));
    expect_code(
        server
            .client("sa-east-1")
            .describe_key()
            .key_id(&key_id)
            .send()
            .await,
        "AccessDeniedException",
    );
    assert!(key_ids(&server.client("cn-north-1")).await.is_empty());
    assert_eq!(
        configuration(&metadata(&us, &key_id).await),
        (
            MultiRegionKeyType::Primary,
            US.to_owned(),
            regions(&[EU, "sa-east-1"])
        )
    );

    // UpdatePrimaryRegion's errors.
    expect_err(
        us.update_primary_region()
            .key_id(&single)
            .primary_region(EU)
            .send()
            .await,
        "UnsupportedOperationException",
        Some(&format!(
            "{single_arn} is not a multi-Region key. You can update the primary Region of only multi-Region primary keys."
        )),
    );
    expect_code(
        eu.update_primary_region()
            .key_id(&key_id)
            .primary_region(US)
            .send()
            .await,
        "UnsupportedOperationException",
    );
    expect_err(
        us.update_primary_region()
            .key_id(&key_id)
            .primary_region(AP)
            .send()
            .await,
        "NotFoundException",
        Some(&format!(
            "Key '{}' does not exist",
            key_arn(AP, DEFAULT_ACCOUNT, &key_id)
        )),
    );
    ok(eu.disable_key().key_id(&key_id).send().await);
    expect_err(
        us.update_primary_region()
            .key_id(&key_id)
            .primary_region(EU)
            .send()
            .await,
        "DisabledException",
        Some(&format!("{eu_arn} is disabled.")),
    );
    assert_eq!(
        configuration(&metadata(&eu, &key_id).await),
        (
            MultiRegionKeyType::Replica,
            US.to_owned(),
            regions(&[EU, "sa-east-1"])
        )
    );
}

#[tokio::test]
async fn rotation_is_shared_and_controlled_by_the_primary() {
    let server = server();
    freeze_at(&server, now_ms()).await;
    let (us, eu, ap) = (server.client(US), server.client(EU), server.client(AP));
    let (key_id, _) = create_mrk(&us).await;
    let eu_arn = key_arn(EU, DEFAULT_ACCOUNT, &key_id);
    let first = metadata(&us, &key_id).await;
    replicate(&us, &key_id, EU).await;
    let old = encrypt(&us, &key_id, b"before rotation").await;

    let replica_refused = format!(
        "{eu_arn} is a multi-Region replica key. Rotation of multi-Region keys is managed on the primary key {}.",
        key_arn(US, DEFAULT_ACCOUNT, &key_id)
    );
    expect_err(
        eu.enable_key_rotation().key_id(&key_id).send().await,
        "UnsupportedOperationException",
        Some(&replica_refused),
    );
    expect_err(
        eu.disable_key_rotation().key_id(&key_id).send().await,
        "UnsupportedOperationException",
        Some(&replica_refused),
    );
    expect_err(
        eu.rotate_key_on_demand().key_id(&key_id).send().await,
        "UnsupportedOperationException",
        Some(&replica_refused),
    );
    assert!(ok(eu.list_key_rotations().key_id(&key_id).send().await)
        .rotations()
        .is_empty());

    // On demand on the primary: the replica has the new material at once.
    ok(us.rotate_key_on_demand().key_id(&key_id).send().await);
    let rotated = metadata(&us, &key_id)
        .await
        .current_key_material_id()
        .unwrap()
        .to_owned();
    assert_ne!(Some(rotated.as_str()), first.current_key_material_id());
    assert_eq!(
        metadata(&eu, &key_id).await.current_key_material_id(),
        Some(rotated.as_str())
    );
    let new = encrypt(&us, &key_id, b"after rotation").await;
    let out = ok(eu.decrypt().ciphertext_blob(new.clone()).send().await);
    assert_eq!(out.key_material_id(), Some(rotated.as_str()));
    assert_eq!(decrypt(&eu, &old).await, b"before rotation");
    let eu_rotations = ok(eu.list_key_rotations().key_id(&key_id).send().await);
    assert_eq!(eu_rotations.rotations().len(), 1);
    assert_eq!(eu_rotations.rotations()[0].key_id(), Some(key_id.as_str()));

    // Automatic rotation, enabled on the primary, shows on the replica and rotates both.
    ok(us
        .enable_key_rotation()
        .key_id(&key_id)
        .rotation_period_in_days(90)
        .send()
        .await);
    let status = ok(eu.get_key_rotation_status().key_id(&key_id).send().await);
    assert!(status.key_rotation_enabled());
    assert_eq!(status.rotation_period_in_days(), Some(90));
    advance_millis(&server, 90 * DAY_MS).await;
    let automatic = metadata(&us, &key_id)
        .await
        .current_key_material_id()
        .unwrap()
        .to_owned();
    assert_ne!(automatic, rotated);
    assert_eq!(
        metadata(&eu, &key_id).await.current_key_material_id(),
        Some(automatic.as_str())
    );

    // A replica made after rotations has every material version and the history.
    replicate(&us, &key_id, AP).await;
    assert_eq!(decrypt(&ap, &old).await, b"before rotation");
    assert_eq!(decrypt(&ap, &new).await, b"after rotation");
    let us_history = ok(us.list_key_rotations().key_id(&key_id).send().await);
    let ap_history = ok(ap.list_key_rotations().key_id(&key_id).send().await);
    assert_eq!(us_history.rotations(), ap_history.rotations());
    assert_eq!(ap_history.rotations().len(), 2);

    // The primary moves to eu-west-1: configuration everywhere, rotation control and the
    // schedule move with it.
    ok(us
        .update_primary_region()
        .key_id(&key_id)
        .primary_region(EU)
        .send()
        .await);
    for (client, kind) in [
        (&us, MultiRegionKeyType::Replica),
        (&eu, MultiRegionKeyType::Primary),
        (&ap, MultiRegionKeyType::Replica),
    ] {
        let md = metadata(client, &key_id).await;
        assert_eq!(
            configuration(&md),
            (kind, EU.to_owned(), regions(&[AP, US]))
        );
        assert_eq!(md.key_state(), Some(&KeyState::Enabled));
    }
    expect_code(
        us.rotate_key_on_demand().key_id(&key_id).send().await,
        "UnsupportedOperationException",
    );
    let status = ok(eu.get_key_rotation_status().key_id(&key_id).send().await);
    assert!(status.key_rotation_enabled());
    assert_eq!(status.rotation_period_in_days(), Some(90));
    ok(eu.rotate_key_on_demand().key_id(&key_id).send().await);
    let from_eu = metadata(&eu, &key_id)
        .await
        .current_key_material_id()
        .unwrap()
        .to_owned();
    assert_ne!(from_eu, automatic);
    for client in [&us, &ap] {
        assert_eq!(
            metadata(client, &key_id).await.current_key_material_id(),
            Some(from_eu.as_str())
        );
    }
    advance_millis(&server, 90 * DAY_MS).await;
    let again = metadata(&ap, &key_id)
        .await
        .current_key_material_id()
        .unwrap()
        .to_owned();
    assert_ne!(again, from_eu);
    assert_eq!(
        metadata(&us, &key_id).await.current_key_material_id(),
        Some(again.as_str())
    );
    assert_eq!(
        ok(us.list_key_rotations().key_id(&key_id).send().await)
            .rotations()
            .len(),
        4
    );
}

#[tokio::test]
async fn a_primary_is_deleted_only_after_its_replicas() {
    let mut server = server();
    let t0 = freeze_at(&server, now_ms()).await;
    let (us, eu) = (server.client(US), server.client(EU));
    let (key_id, us_arn) = create_mrk(&us).await;
    replicate(&us, &key_id, EU).await;
    let eu_arn = key_arn(EU, DEFAULT_ACCOUNT, &key_id);
    let blob = encrypt(&us, &key_id, b"outlives the primary's schedule").await;
    for client in [&us, &eu] {
        ok(client
            .create_alias()
            .alias_name("alias/both-regions")
            .target_key_id(&key_id)
            .send()
            .await);
    }

    let out = ok(us
        .schedule_key_deletion()
        .key_id(&key_id)
        .pending_window_in_days(7)
        .send()
        .await);
    assert_eq!(out.key_state(), Some(&KeyState::PendingReplicaDeletion));
    assert!(out.deletion_date().is_none());
    assert_eq!(out.pending_window_in_days(), Some(7));
    let md = metadata(&us, &key_id).await;
    assert_eq!(md.key_state(), Some(&KeyState::PendingReplicaDeletion));
    assert!(!md.enabled());
    assert!(md.deletion_date().is_none());
    assert_eq!(md.pending_deletion_window_in_days(), Some(7));
    let pending = format!("{us_arn} is pending replica deletion.");
    expect_err(
        us.encrypt()
            .key_id(&key_id)
            .plaintext(Blob::new(b"x"))
            .send()
            .await,
        "KMSInvalidStateException",
        Some(&pending),
    );
    expect_err(
        us.replicate_key()
            .key_id(&key_id)
            .replica_region(AP)
            .send()
            .await,
        "KMSInvalidStateException",
        Some(&pending),
    );
    expect_err(
        us.schedule_key_deletion().key_id(&key_id).send().await,
        "KMSInvalidStateException",
        Some(&pending),
    );
    // The replica is untouched and still works.
    assert_eq!(
        decrypt(&eu, &blob).await,
        b"outlives the primary's schedule"
    );

    // Long past the primary's window: nothing happens while a replica exists.
    advance_millis(&server, 8 * DAY_MS).await;
    assert_eq!(
        metadata(&us, &key_id).await.key_state(),
        Some(&KeyState::PendingReplicaDeletion)
    );

    // The replica's own deletion is ordinary.
    let out = ok(eu
        .schedule_key_deletion()
        .key_id(&key_id)
        .pending_window_in_days(10)
        .send()
        .await);
    let replica_date = t0 + 18 * DAY_MS;
    assert_eq!(out.key_state(), Some(&KeyState::PendingDeletion));
    assert_eq!(out.deletion_date().unwrap().secs() * 1000, replica_date);

    // A restart within the window changes nothing.
    advance_millis(&server, 5 * DAY_MS).await;
    server.restart();
    assert_eq!(
        clock_now(&server).await["now_unix_millis"],
        t0 + 13 * DAY_MS
    );
    let (us, eu) = (server.client(US), server.client(EU));
    assert_eq!(
        metadata(&us, &key_id).await.key_state(),
        Some(&KeyState::PendingReplicaDeletion)
    );

    // One millisecond before the replica's date: both still there.
    advance_millis(&server, 5 * DAY_MS - 1).await;
    assert_eq!(
        metadata(&eu, &key_id).await.key_state(),
        Some(&KeyState::PendingDeletion)
    );
    // At the replica's date it goes, and the primary's own waiting period begins.
    assert_eq!(advance_millis(&server, 1).await, replica_date);
    expect_err(
        eu.describe_key().key_id(&key_id).send().await,
        "NotFoundException",
        Some(&format!("Key '{eu_arn}' does not exist")),
    );
    // Only the replica went, with its own alias; the primary keeps its alias.
    expect_code(
        eu.describe_key().key_id("alias/both-regions").send().await,
        "NotFoundException",
    );
    assert_eq!(
        metadata(&us, "alias/both-regions").await.arn(),
        Some(us_arn.as_str())
    );
    let md = metadata(&us, &key_id).await;
    let primary_date = replica_date + 7 * DAY_MS;
    assert_eq!(md.key_state(), Some(&KeyState::PendingDeletion));
    assert_eq!(md.deletion_date().unwrap().secs() * 1000, primary_date);
    assert_eq!(
        configuration(&md),
        (MultiRegionKeyType::Primary, US.to_owned(), BTreeSet::new())
    );
    expect_err(
        us.decrypt().ciphertext_blob(blob.clone()).send().await,
        "KMSInvalidStateException",
        Some(&format!("{us_arn} is pending deletion.")),
    );

    advance_millis(&server, 7 * DAY_MS - 1).await;
    ok(us.describe_key().key_id(&key_id).send().await);
    advance_millis(&server, 1).await;
    expect_err(
        us.describe_key().key_id(&key_id).send().await,
        "NotFoundException",
        Some(&format!("Key '{us_arn}' does not exist")),
    );
}

#[tokio::test]
async fn cancelling_a_primary_waiting_for_its_replicas_disables_it() {
    let server = server();
    freeze_at(&server, now_ms()).await;
    let (us, eu) = (server.client(US), server.client(EU));
    let (key_id, _) = create_mrk(&us).await;
    replicate(&us, &key_id, EU).await;
    ok(us.schedule_key_deletion().key_id(&key_id).send().await);
    ok(us.cancel_key_deletion().key_id(&key_id).send().await);
    let md = metadata(&us, &key_id).await;
    assert_eq!(md.key_state(), Some(&KeyState::Disabled));
    assert!(md.pending_deletion_window_in_days().is_none());
    // The replica's deletion no longer moves the primary.
    ok(eu
        .schedule_key_deletion()
        .key_id(&key_id)
        .pending_window_in_days(7)
        .send()
        .await);
    advance_millis(&server, 7 * DAY_MS).await;
    expect_code(
        eu.describe_key().key_id(&key_id).send().await,
        "NotFoundException",
    );
    let md = metadata(&us, &key_id).await;
    assert_eq!(md.key_state(), Some(&KeyState::Disabled));
    assert!(md
        .multi_region_configuration()
        .unwrap()
        .replica_keys()
        .is_empty());
    // A deleted replica can be made again.
    ok(us.enable_key().key_id(&key_id).send().await);
    let blob = encrypt(&us, &key_id, b"again").await;
    replicate(&us, &key_id, EU).await;
    assert_eq!(decrypt(&eu, &blob).await, b"again");
}

#[tokio::test]
async fn each_key_policy_authorizes_its_own_region_key() {
    let server = TestServer::start();
    let (us, eu) = (server.client(US), server.client(EU));
    // The primary's policy refuses replication to ap-southeast-2 (kms:ReplicaRegion).
    let primary_policy = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{DEFAULT_ACCOUNT}:root"}},"Action":"kms:*","Resource":"*"}},{{"Effect":"Deny","Principal":"*","Action":"kms:ReplicateKey","Resource":"*","Condition":{{"StringEquals":{{"kms:ReplicaRegion":"{AP}"}}}}}}]}}"#
    );
    let out = ok(us
        .create_key()
        .multi_region(true)
        .policy(primary_policy)
        .send()
        .await);
    let key_id = out.key_metadata().unwrap().key_id().to_owned();
    expect_code(
        us.replicate_key()
            .key_id(&key_id)
            .replica_region(AP)
            .send()
            .await,
        "AccessDeniedException",
    );
    assert!(key_ids(&server.client(AP)).await.is_empty());
    // The replica's policy refuses UpdatePrimaryRegion: the primary stays where it is.
    let replica_policy = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{DEFAULT_ACCOUNT}:root"}},"Action":"kms:*","Resource":"*"}},{{"Effect":"Deny","Principal":"*","Action":"kms:UpdatePrimaryRegion","Resource":"*"}},{{"Effect":"Deny","Principal":"*","Action":"kms:Encrypt","Resource":"*","Condition":{{"Bool":{{"kms:MultiRegion":"false"}}}}}},{{"Effect":"Deny","Principal":"*","Action":"kms:Decrypt","Resource":"*","Condition":{{"Bool":{{"kms:MultiRegion":"true"}}}}}}]}}"#
    );
    ok(us
        .replicate_key()
        .key_id(&key_id)
        .replica_region(EU)
        .policy(replica_policy)
        .send()
        .await);
    expect_code(
        us.update_primary_region()
            .key_id(&key_id)
            .primary_region(EU)
            .send()
            .await,
        "AccessDeniedException",
    );
    for client in [&us, &eu] {
        assert_eq!(
            configuration(&metadata(client, &key_id).await).1,
            US.to_owned()
        );
    }
    // kms:MultiRegion is true for every region-key of a multi-Region key.
    let blob = encrypt(&eu, &key_id, b"x").await;
    expect_code(
        eu.decrypt().ciphertext_blob(blob.clone()).send().await,
        "AccessDeniedException",
    );
    assert_eq!(decrypt(&us, &blob).await, b"x");
}
