//! `--dev-reset` (testing only): `POST /_trent/test/reset` empties one account (signed by
//! its root) or every account (the default account's root), without a restart; audited;
//! refused to anyone else, and absent without the switch.

use serde_json::json;

use crate::harness::{create_alias, create_key, ok, Auth, TestServer, REGION};

/// The root of an account under --dev-any-credentials: a 12-digit access key id.
fn root(account: &str) -> Auth {
    Auth::Keys {
        access_key_id: account.to_owned(),
        secret_access_key: "any-secret".to_owned(),
    }
}

#[tokio::test]
async fn an_accounts_root_empties_it_and_nothing_else() {
    let server = TestServer::start_with(&["--dev-reset", "--dev-any-credentials"], &[]);
    let admin = server.client(REGION);
    let other = server.client_as(REGION, "444455556666", "any-secret");
    let (key, _) = create_key(&admin).await;
    create_alias(&admin, "alias/mine", &key).await;
    create_key(&server.client(crate::harness::OTHER_REGION)).await;
    let (theirs, _) = create_key(&other).await;

    // The administrator (not the root) may not; nor another account's root.
    for auth in [Auth::Admin, root("444455556666")] {
        let refused = server
            .signed_http(
                "POST",
                "/_trent/test/reset",
                Some(json!({ "account": "111122223333" })),
                auth,
            )
            .await;
        assert_eq!(refused.status, 400, "{}", refused.body_text());
        assert!(refused.body_text().contains("AccessDeniedException"));
    }
    assert_eq!(ok(admin.list_keys().send().await).keys().len(), 1);

    let reset = server
        .signed_http(
            "POST",
            "/_trent/test/reset",
            Some(json!({ "account": "111122223333" })),
            root("111122223333"),
        )
        .await;
    assert_eq!(reset.status, 200, "{}", reset.body_text());
    assert_eq!(reset.json()["keys_deleted"], 2);
    assert!(ok(admin.list_keys().send().await).keys().is_empty());
    let aliases = ok(admin.list_aliases().send().await);
    assert!(aliases
        .aliases()
        .iter()
        .all(|a| a.target_key_id().is_none()));
    // The administrator still works; the other account is untouched.
    create_key(&admin).await;
    let left = ok(other.list_keys().send().await);
    assert_eq!(left.keys()[0].key_id(), Some(theirs.as_str()));

    // Every account, by the default account's root.
    let all = server
        .signed_http(
            "POST",
            "/_trent/test/reset",
            Some(json!({ "all": true })),
            root("111122223333"),
        )
        .await;
    assert_eq!(all.status, 200, "{}", all.body_text());
    assert!(ok(other.list_keys().send().await).keys().is_empty());

    // Bad bodies change nothing.
    for body in [
        json!({}),
        json!({ "account": "nope" }),
        json!({ "account": "111122223333", "all": true }),
    ] {
        let bad = server
            .signed_http(
                "POST",
                "/_trent/test/reset",
                Some(body),
                root("111122223333"),
            )
            .await;
        assert_eq!(bad.status, 400, "{}", bad.body_text());
        assert!(bad.body_text().contains("ValidationException"));
    }
    // Every request is in the audit trail.
    let audit = std::fs::read_dir(server.data_dir().join("audit"))
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap_or_default())
        .collect::<String>();
    assert!(audit.matches("TrentResetAccount").count() >= 5);
}

#[tokio::test]
async fn without_the_switch_there_is_no_reset() {
    let server = TestServer::start_with(&["--dev-any-credentials"], &[]);
    let admin = server.client(REGION);
    create_key(&admin).await;
    let resp = server
        .signed_http(
            "POST",
            "/_trent/test/reset",
            Some(json!({ "account": "111122223333" })),
            root("111122223333"),
        )
        .await;
    assert_ne!(resp.status, 200);
    assert_eq!(ok(admin.list_keys().send().await).keys().len(), 1);
}
