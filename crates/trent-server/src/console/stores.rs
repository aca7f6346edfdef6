//! The custom key stores page: the stores of the account (DescribeCustomKeyStores), their
//! connection state, and connecting or disconnecting them. Keys are created in a store
//! from the create-key form (origin AWS_CLOUDHSM or EXTERNAL_KEY_STORE).

use axum::response::Response;
use maud::html;
use serde_json::json;

use super::views::{api_error, cell, csrf, time};
use super::Page;

/// Every custom key store of the account, with its connection controls.
pub async fn list(page: &Page) -> Response {
    let title = "Custom key stores";
    let answer = match page
        .kms("DescribeCustomKeyStores", json!({ "Limit": 1000 }))
        .await
    {
        Ok(a) => a,
        Err(e) => return page.html(title, api_error(&e)),
    };
    let stores = answer["CustomKeyStores"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let body = html! {
        h2 { "Stores" }
        @if stores.is_empty() {
            p #no-stores { "No custom key stores." }
        } @else {
            table #stores {
                thead { tr {
                    th scope="col" { "Name" } th scope="col" { "ID" } th scope="col" { "Type" }
                    th scope="col" { "Connection state" } th scope="col" { "Connection error" }
                    th scope="col" { "Cluster or proxy" } th scope="col" { "Creation date" }
                    th { span.visually-hidden { "Actions" } }
                } }
                tbody {
                    @for s in &stores {
                        @let id = s["CustomKeyStoreId"].as_str().unwrap_or("");
                        @let state = s["ConnectionState"].as_str().unwrap_or("");
                        tr {
                            td { (cell(&s["CustomKeyStoreName"])) }
                            td { code { (id) } }
                            td { (cell(&s["CustomKeyStoreType"])) }
                            td.state { (state) }
                            td { (cell(&s["ConnectionErrorCode"])) }
                            td {
                                @if s["CloudHsmClusterId"].is_string() { (cell(&s["CloudHsmClusterId"])) }
                                @else { (cell(&s["XksProxyConfiguration"]["UriEndpoint"])) }
                            }
                            td { (time(s["CreationDate"].as_f64())) }
                            td {
                                @let (action, label) = if state == "DISCONNECTED" { ("connect", "Connect") } else { ("disconnect", "Disconnect") };
                                form.inline method="post" action=(format!("/console/custom-key-stores/{action}")) {
                                    (csrf(page))
                                    input type="hidden" name="id" value=(id);
                                    button type="submit" aria-label=(format!("{label} {id}")) { (label) }
                                }
                            }
                        }
                    }
                }
            }
        }
        h2 { "Create a custom key store" }
        form.card method="post" action="/console/custom-key-stores/create" {
            (csrf(page))
            label for="store-type" { "Type" }
            select #store-type name="type" {
                option value="AWS_CLOUDHSM" { "PKCS#11 token (AWS_CLOUDHSM)" }
                option value="EXTERNAL_KEY_STORE" { "External key store proxy (EXTERNAL_KEY_STORE)" }
            }
            label for="store-name" { "Name" }
            input #store-name name="name" required;
            fieldset {
                legend { "AWS_CLOUDHSM" }
                label for="cluster-id" { "Cluster ID (a configured PKCS#11 token)" }
                input #cluster-id name="cluster_id" spellcheck="false";
                label for="trust-anchor" { "Trust anchor certificate (PEM)" }
                textarea #trust-anchor.code name="trust_anchor" rows="4" spellcheck="false" {}
                label for="store-password" { "kmsuser password" }
                input #store-password type="password" name="password" autocomplete="off";
            }
            fieldset {
                legend { "EXTERNAL_KEY_STORE" }
                label for="xks-endpoint" { "Proxy URI endpoint (https://…)" }
                input #xks-endpoint name="xks_endpoint" spellcheck="false";
                label for="xks-path" { "Proxy URI path" }
                input #xks-path name="xks_path" placeholder="/kms/xks/v1" spellcheck="false";
                label for="xks-access-key" { "Proxy authentication: access key ID" }
                input #xks-access-key name="xks_access_key_id" spellcheck="false";
                label for="xks-secret" { "Proxy authentication: secret access key" }
                input #xks-secret type="password" name="xks_secret" autocomplete="off";
            }
            button #create-store.primary type="submit" { "Create custom key store" }
        }
    };
    page.html(title, body)
}

/// CreateCustomKeyStore from the form (the API checks every field).
pub async fn create(page: &Page) -> Response {
    let field = |n: &str| page.field(n).trim().to_owned();
    let mut body =
        json!({ "CustomKeyStoreName": field("name"), "CustomKeyStoreType": field("type") });
    if field("type") == "EXTERNAL_KEY_STORE" {
        body["XksProxyConnectivity"] = json!("PUBLIC_ENDPOINT");
        body["XksProxyUriEndpoint"] = json!(field("xks_endpoint"));
        body["XksProxyUriPath"] = json!(field("xks_path"));
        body["XksProxyAuthenticationCredential"] = json!({
            "AccessKeyId": field("xks_access_key_id"),
            "RawSecretAccessKey": page.field("xks_secret"),
        });
    } else {
        body["CloudHsmClusterId"] = json!(field("cluster_id"));
        body["TrustAnchorCertificate"] = json!(page.field("trust_anchor"));
        body["KeyStorePassword"] = json!(page.field("password"));
    }
    match page.kms("CreateCustomKeyStore", body).await {
        Ok(a) => page.done(
            "/console/custom-key-stores",
            true,
            format!(
                "{} was created.",
                a["CustomKeyStoreId"].as_str().unwrap_or("The store")
            ),
        ),
        Err(e) => page.done("/console/custom-key-stores", false, e.to_string()),
    }
}

/// Connects or disconnects a store.
pub async fn act(page: &Page, action: &str) -> Response {
    let id = page.field("id").trim().to_owned();
    let (op, done) = match action {
        "connect" => ("ConnectCustomKeyStore", "Connecting"),
        "disconnect" => ("DisconnectCustomKeyStore", "Disconnecting"),
        _ => return page.html("Not found", html! { p { "There is no such action." } }),
    };
    match page.kms(op, json!({ "CustomKeyStoreId": id })).await {
        Ok(_) => page.done("/console/custom-key-stores", true, format!("{done} {id}.")),
        Err(e) => page.done("/console/custom-key-stores", false, e.to_string()),
    }
}
