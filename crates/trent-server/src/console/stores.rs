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
        @if stores.is_empty() {
            p #no-stores { "No custom key stores. Create one with the API (CreateCustomKeyStore): a PKCS#11 token configured as a cluster, or an external key store proxy." }
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
    };
    page.html(title, body)
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
