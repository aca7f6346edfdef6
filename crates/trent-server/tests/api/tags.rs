//! Tags: TagResource, UntagResource, ListResourceTags.

use std::collections::BTreeMap;

use aws_sdk_kms::types::Tag;
use aws_sdk_kms::Client;

use crate::harness::{
    alias_arn, create_alias, create_key, expect_code, expect_err, key_arn, ok, random_key_id,
    TestServer, DEFAULT_ACCOUNT, REGION,
};

fn tag(k: &str, v: &str) -> Tag {
    Tag::builder().tag_key(k).tag_value(v).build().unwrap()
}

async fn tags_of(client: &Client, key: &str) -> BTreeMap<String, String> {
    let out = ok(client.list_resource_tags().key_id(key).send().await);
    assert!(!out.truncated());
    let mut map = BTreeMap::new();
    for t in out.tags() {
        let prev = map.insert(t.tag_key().to_owned(), t.tag_value().to_owned());
        assert!(prev.is_none(), "tag key {} listed twice", t.tag_key());
    }
    map
}

fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

#[tokio::test]
async fn tag_untag_list() {
    let server = TestServer::start();
    let client = server.client(REGION);
    let (key_id, arn) = create_key(&client).await;
    assert!(tags_of(&client, &key_id).await.is_empty());

    ok(client
        .tag_resource()
        .key_id(&key_id)
        .tags(tag("env", "prod"))
        .tags(tag("owner", "alice"))
        .tags(tag("empty", ""))
        .send()
        .await);
    assert_eq!(
        tags_of(&client, &key_id).await,
        map(&[("empty", ""), ("env", "prod"), ("owner", "alice")])
    );

    // "If you specify an existing tag key with a different tag value, KMS replaces the
    // current tag value with the specified one." Tag keys are case-sensitive.
    ok(client
        .tag_resource()
        .key_id(&arn)
        .tags(tag("env", "staging"))
        .tags(tag("Env", "other"))
        .send()
        .await);
    assert_eq!(
        tags_of(&client, &arn).await,
        map(&[
            ("Env", "other"),
            ("empty", ""),
            ("env", "staging"),
            ("owner", "alice")
        ])
    );

    // "if the specified tag key isn't found on the KMS key, it doesn't throw an exception".
    ok(client
        .untag_resource()
        .key_id(&key_id)
        .tag_keys("owner")
        .tag_keys("not-there")
        .send()
        .await);
    assert_eq!(
        tags_of(&client, &key_id).await,
        map(&[("Env", "other"), ("empty", ""), ("env", "staging")])
    );
    ok(client
        .untag_resource()
        .key_id(&arn)
        .tag_keys("Env")
        .tag_keys("env")
        .tag_keys("empty")
        .send()
        .await);
    assert!(tags_of(&client, &key_id).await.is_empty());
}

/// TagResource, UntagResource and ListResourceTags take the key ID or key ARN, not an
/// alias.
#[tokio::test]
async fn tags_need_a_key_not_an_alias() {
    let server = TestServer::start();
    let client = server.client(REGION);
    let (key_id, _) = create_key(&client).await;
    create_alias(&client, "alias/tagged", &key_id).await;
    let alias_arn = alias_arn(REGION, DEFAULT_ACCOUNT, "alias/tagged");

    for id in ["alias/tagged", alias_arn.as_str()] {
        expect_err(
            client
                .tag_resource()
                .key_id(id)
                .tags(tag("a", "b"))
                .send()
                .await,
            "NotFoundException",
            None,
        );
        expect_err(
            client
                .untag_resource()
                .key_id(id)
                .tag_keys("a")
                .send()
                .await,
            "NotFoundException",
            None,
        );
    }
    let missing = random_key_id();
    let missing_arn = key_arn(REGION, DEFAULT_ACCOUNT, &missing);
    expect_err(
        client
            .tag_resource()
            .key_id(&missing)
            .tags(tag("a", "b"))
            .send()
            .await,
        "NotFoundException",
        Some(&format!("Key '{missing_arn}' does not exist")),
    );
    expect_err(
        client.list_resource_tags().key_id(&missing).send().await,
        "NotFoundException",
        Some(&format!("Key '{missing_arn}' does not exist")),
    );
    assert!(tags_of(&client, &key_id).await.is_empty());
}

/// At most 50 tags on a key; tag keys beginning with `aws:` are reserved; one key twice in
/// a request is invalid. All are TagException (LocalStack, which records its KMS behaviour
/// against AWS: "Too many tags", "Tags beginning with aws: are reserved", "Duplicate tag
/// keys"). A rejected request changes nothing.
#[tokio::test]
async fn invalid_tags_are_tag_exceptions() {
    let server = TestServer::start();
    let client = server.client(REGION);
    let (key_id, _) = create_key(&client).await;
    ok(client
        .tag_resource()
        .key_id(&key_id)
        .tags(tag("keep", "me"))
        .send()
        .await);
    let before = tags_of(&client, &key_id).await;

    let too_many: Vec<Tag> = (0..51).map(|i| tag(&format!("k{i}"), "v")).collect();
    expect_err(
        client
            .tag_resource()
            .key_id(&key_id)
            .set_tags(Some(too_many.clone()))
            .send()
            .await,
        "TagException",
        Some("Too many tags"),
    );
    expect_err(
        client.create_key().set_tags(Some(too_many)).send().await,
        "TagException",
        Some("Too many tags"),
    );
    for reserved in ["aws:created-by", "AWS:x", "Aws:y"] {
        expect_err(
            client
                .tag_resource()
                .key_id(&key_id)
                .tags(tag("fine", "1"))
                .tags(tag(reserved, "v"))
                .send()
                .await,
            "TagException",
            None,
        );
    }
    expect_err(
        client.create_key().tags(tag("aws:x", "v")).send().await,
        "TagException",
        None,
    );
    expect_err(
        client
            .tag_resource()
            .key_id(&key_id)
            .tags(tag("same", "1"))
            .tags(tag("same", "2"))
            .send()
            .await,
        "TagException",
        Some("Duplicate tag keys"),
    );
    expect_err(
        client
            .create_key()
            .tags(tag("same", "1"))
            .tags(tag("same", "2"))
            .send()
            .await,
        "TagException",
        Some("Duplicate tag keys"),
    );
    assert_eq!(tags_of(&client, &key_id).await, before);
    // No key was created by the rejected CreateKey calls.
    assert_eq!(ok(client.list_keys().send().await).keys().len(), 1);
}

/// The limit is per key: 50 tags in total, whichever requests added them.
#[tokio::test]
async fn tag_limit_counts_existing_tags() {
    let server = TestServer::start();
    let client = server.client(REGION);
    let (key_id, _) = create_key(&client).await;
    let fifty: Vec<Tag> = (0..50).map(|i| tag(&format!("k{i:02}"), "v")).collect();
    ok(client
        .tag_resource()
        .key_id(&key_id)
        .set_tags(Some(fifty))
        .send()
        .await);
    assert_eq!(tags_of(&client, &key_id).await.len(), 50);

    // Replacing a value of an existing tag is fine at the limit.
    ok(client
        .tag_resource()
        .key_id(&key_id)
        .tags(tag("k00", "new"))
        .send()
        .await);
    expect_err(
        client
            .tag_resource()
            .key_id(&key_id)
            .tags(tag("one-too-many", "v"))
            .send()
            .await,
        "TagException",
        Some("Too many tags"),
    );
    let tags = tags_of(&client, &key_id).await;
    assert_eq!(tags.len(), 50);
    assert_eq!(tags.get("k00").map(String::as_str), Some("new"));
    assert!(!tags.contains_key("one-too-many"));
}

/// Tag keys are 1-128 characters, values 0-256 (TagKeyType, TagValueType).
#[tokio::test]
async fn tag_length_limits() {
    let server = TestServer::start();
    let client = server.client(REGION);
    let (key_id, _) = create_key(&client).await;
    let key_128 = "k".repeat(128);
    let value_256 = "v".repeat(256);
    ok(client
        .tag_resource()
        .key_id(&key_id)
        .tags(tag(&key_128, &value_256))
        .send()
        .await);

    let key_129 = "k".repeat(129);
    expect_err(
        client
            .tag_resource()
            .key_id(&key_id)
            .tags(tag(&key_129, "v"))
            .send()
            .await,
        "ValidationException",
        Some(&format!(
            "1 validation error detected: Value '{key_129}' at 'tags.1.member.tagKey' failed to \
             satisfy constraint: Member must have length less than or equal to 128"
        )),
    );
    let value_257 = "v".repeat(257);
    expect_err(
        client
            .tag_resource()
            .key_id(&key_id)
            .tags(tag("ok", "v"))
            .tags(tag("long", &value_257))
            .send()
            .await,
        "ValidationException",
        Some(&format!(
            "1 validation error detected: Value '{value_257}' at 'tags.2.member.tagValue' \
             failed to satisfy constraint: Member must have length less than or equal to 256"
        )),
    );
    assert_eq!(
        tags_of(&client, &key_id).await,
        map(&[(&key_128, &value_256)])
    );
}

#[tokio::test]
async fn list_resource_tags_paging() {
    let server = TestServer::start();
    let client = server.client(REGION);
    let (key_id, _) = create_key(&client).await;
    let want: BTreeMap<String, String> = (0..10)
        .map(|i| (format!("key-{i}"), format!("value-{i}")))
        .collect();
    ok(client
        .tag_resource()
        .key_id(&key_id)
        .set_tags(Some(want.iter().map(|(k, v)| tag(k, v)).collect()))
        .send()
        .await);

    let mut seen = Vec::new();
    let mut marker: Option<String> = None;
    let mut pages = 0;
    loop {
        pages += 1;
        assert!(pages <= 10, "ListResourceTags paging does not terminate");
        let out = ok(client
            .list_resource_tags()
            .key_id(&key_id)
            .limit(3)
            .set_marker(marker.clone())
            .send()
            .await);
        assert!(out.tags().len() <= 3);
        seen.extend(
            out.tags()
                .iter()
                .map(|t| (t.tag_key().to_owned(), t.tag_value().to_owned())),
        );
        if out.truncated() {
            marker = Some(
                out.next_marker()
                    .expect("Truncated without NextMarker")
                    .to_owned(),
            );
        } else {
            assert!(out.next_marker().is_none());
            break;
        }
    }
    assert!(
        pages >= 4,
        "10 tags with Limit 3 is at least 4 pages, got {pages}"
    );
    let got: BTreeMap<String, String> = seen.iter().cloned().collect();
    assert_eq!(got.len(), seen.len(), "duplicates: {seen:?}");
    assert_eq!(got, want);

    expect_code(
        client
            .list_resource_tags()
            .key_id(&key_id)
            .marker("garbage")
            .send()
            .await,
        "InvalidMarkerException",
    );
}

/// Key states: tags can be listed, but not changed, while a key is pending deletion.
#[tokio::test]
async fn tags_of_a_key_pending_deletion() {
    let server = TestServer::start();
    let client = server.client(REGION);
    let (key_id, arn) = create_key(&client).await;
    ok(client
        .tag_resource()
        .key_id(&key_id)
        .tags(tag("a", "1"))
        .send()
        .await);
    ok(client.schedule_key_deletion().key_id(&key_id).send().await);
    let msg = format!("{arn} is pending deletion.");
    expect_err(
        client
            .tag_resource()
            .key_id(&key_id)
            .tags(tag("b", "2"))
            .send()
            .await,
        "KMSInvalidStateException",
        Some(&msg),
    );
    expect_err(
        client
            .untag_resource()
            .key_id(&key_id)
            .tag_keys("a")
            .send()
            .await,
        "KMSInvalidStateException",
        Some(&msg),
    );
    assert_eq!(tags_of(&client, &key_id).await, map(&[("a", "1")]));

    // Tags of a disabled key can be changed.
    ok(client.cancel_key_deletion().key_id(&key_id).send().await);
    ok(client
        .tag_resource()
        .key_id(&key_id)
        .tags(tag("b", "2"))
        .send()
        .await);
    assert_eq!(
        tags_of(&client, &key_id).await,
        map(&[("a", "1"), ("b", "2")])
    );
}

/// Concurrent writers to one key never lose each other's changes (optimistic concurrency
/// in the store, re-applied on conflict by the key service).
#[tokio::test]
async fn concurrent_tagging_loses_no_update() {
    let server = TestServer::start();
    let client = server.client(REGION);
    let (key_id, _) = create_key(&client).await;
    let writers: Vec<_> = (0..24)
        .map(|i| {
            let client = client.clone();
            let key_id = key_id.clone();
            tokio::spawn(async move {
                let t = tag(&format!("writer-{i:02}"), &i.to_string());
                ok(client.tag_resource().key_id(&key_id).tags(t).send().await);
            })
        })
        .collect();
    for w in writers {
        w.await.unwrap();
    }
    let out = ok(client
        .list_resource_tags()
        .key_id(&key_id)
        .limit(50)
        .send()
        .await);
    let mut keys: Vec<String> = out.tags().iter().map(|t| t.tag_key().to_owned()).collect();
    keys.sort();
    let expected: Vec<String> = (0..24).map(|i| format!("writer-{i:02}")).collect();
    assert_eq!(keys, expected);
}
