//! The keys' pages: the lists of customer managed and AWS managed keys, the create-key
//! form, a key's page with its tabs, and the forms that change a key. Each reads and
//! writes through the KMS API as the signed-in principal.

use axum::response::Response;
use maud::{html, Markup};
use serde_json::{json, Value};

use super::call::ApiError;
use super::views::{api_error, cell, csrf, pretty_json, time};
use super::{encode, Page};

/// Keys listed at most (ListKeys' largest page): beyond that the list says it is partial.
const MAX_LISTED: usize = 1000;
/// Aliases read at most for the list.
const MAX_ALIASES: usize = 5000;
/// Keys described at once for the list.
const DESCRIBE_AT_ONCE: usize = 32;
/// Rows on a page of the list.
const PAGE_ROWS: usize = 25;

/// A key's row in the list.
struct Row {
    id: String,
    aliases: Vec<String>,
    metadata: Option<Value>,
}

impl Row {
    fn meta(&self, name: &str) -> &str {
        self.metadata
            .as_ref()
            .and_then(|m| m[name].as_str())
            .unwrap_or("")
    }

    fn created(&self) -> f64 {
        self.metadata
            .as_ref()
            .and_then(|m| m["CreationDate"].as_f64())
            .unwrap_or(0.0)
    }

    fn column(&self, name: &str) -> String {
        match name {
            "alias" => self.aliases.first().cloned().unwrap_or_default(),
            "id" => self.id.clone(),
            "status" => self.meta("KeyState").to_owned(),
            "type" => key_type(self.meta("KeySpec")).to_owned(),
            "spec" => self.meta("KeySpec").to_owned(),
            "usage" => self.meta("KeyUsage").to_owned(),
            "origin" => self.meta("Origin").to_owned(),
            "regionality" => self.metadata.as_ref().map(regionality).unwrap_or_default(),
            _ => format!("{:020.3}", self.created()),
        }
    }

    fn matches(&self, q: &str) -> bool {
        let q = q.to_lowercase();
        let hit = |s: &str| s.to_lowercase().contains(&q);
        hit(&self.id)
            || self.aliases.iter().any(|a| hit(a))
            || hit(self.meta("Description"))
            || hit(self.meta("KeyState"))
            || hit(self.meta("KeySpec"))
    }
}

fn key_type(spec: &str) -> &'static str {
    match spec {
        "" => "",
        "SYMMETRIC_DEFAULT" => "Symmetric",
        s if s.starts_with("HMAC_") => "Symmetric",
        _ => "Asymmetric",
    }
}

fn usage_text(usage: &str) -> &str {
    match usage {
        "ENCRYPT_DECRYPT" => "Encrypt and decrypt",
        "SIGN_VERIFY" => "Sign and verify",
        "GENERATE_VERIFY_MAC" => "Generate and verify MAC",
        "KEY_AGREEMENT" => "Key agreement",
        other => other,
    }
}

fn regionality(meta: &Value) -> String {
    if meta["MultiRegion"].as_bool() != Some(true) {
        return "Single-Region".to_owned();
    }
    match meta["MultiRegionConfiguration"]["MultiRegionKeyType"].as_str() {
        Some("PRIMARY") => "Multi-Region primary".to_owned(),
        Some("REPLICA") => "Multi-Region replica".to_owned(),
        _ => "Multi-Region".to_owned(),
    }
}

/// Whether a path segment can be a key id (`1234abcd-…`, `mrk-…`): anything else is no
/// key's page.
fn is_key_id(s: &str) -> bool {
    !s.is_empty() && s.len() <= 64 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// A key's page. A key id's characters need no escaping in a path (the page refuses any
/// other), and anything else is escaped.
fn key_path(id: &str) -> String {
    if is_key_id(id) {
        format!("/console/keys/{id}")
    } else {
        format!("/console/keys/{}", encode(id))
    }
}

/// Every key (up to [`MAX_LISTED`]), its aliases, and its metadata where DescribeKey
/// answers; `partial` when there were more.
async fn load_keys(page: &Page) -> Result<(Vec<Row>, bool, Option<ApiError>), ApiError> {
    let mut ids = Vec::new();
    let mut marker: Option<String> = None;
    let mut partial = false;
    loop {
        let mut body = json!({ "Limit": 1000 });
        if let Some(m) = &marker {
            body["Marker"] = json!(m);
        }
        let answer = page.kms("ListKeys", body).await?;
        for key in answer["Keys"].as_array().into_iter().flatten() {
            if let Some(id) = key["KeyId"].as_str() {
                ids.push(id.to_owned());
            }
        }
        marker = answer["NextMarker"].as_str().map(str::to_owned);
        if answer["Truncated"].as_bool() != Some(true) || marker.is_none() {
            break;
        }
        if ids.len() >= MAX_LISTED {
            partial = true;
            break;
        }
    }
    ids.truncate(MAX_LISTED);
    // Aliases: a principal who may list keys but not aliases still sees its keys.
    let mut aliases: std::collections::HashMap<String, Vec<String>> = Default::default();
    let mut alias_error = None;
    let mut marker: Option<String> = None;
    let mut read = 0;
    loop {
        let mut body = json!({ "Limit": 100 });
        if let Some(m) = &marker {
            body["Marker"] = json!(m);
        }
        match page.kms("ListAliases", body).await {
            Ok(answer) => {
                for alias in answer["Aliases"].as_array().into_iter().flatten() {
                    read += 1;
                    if let (Some(name), Some(target)) =
                        (alias["AliasName"].as_str(), alias["TargetKeyId"].as_str())
                    {
                        aliases
                            .entry(target.to_owned())
                            .or_default()
                            .push(name.to_owned());
                    }
                }
                marker = answer["NextMarker"].as_str().map(str::to_owned);
                if answer["Truncated"].as_bool() != Some(true)
                    || marker.is_none()
                    || read >= MAX_ALIASES
                {
                    break;
                }
            }
            Err(e) => {
                alias_error = Some(e);
                break;
            }
        }
    }
    // DescribeKey of each, some at a time (their audit events share commits).
    let mut rows = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(DESCRIBE_AT_ONCE) {
        let mut tasks = tokio::task::JoinSet::new();
        for (i, id) in chunk.iter().enumerate() {
            let api = page.api.clone();
            let who = page.who.clone();
            let id = id.clone();
            tasks.spawn(async move {
                let answer = api.kms(&who, "DescribeKey", &json!({ "KeyId": id })).await;
                (i, answer)
            });
        }
        let mut described = vec![None; chunk.len()];
        while let Some(done) = tasks.join_next().await {
            if let Ok((i, Ok(answer))) = done {
                described[i] = Some(answer["KeyMetadata"].clone());
            }
        }
        for (id, metadata) in chunk.iter().zip(described) {
            let mut names = aliases.remove(id).unwrap_or_default();
            names.sort();
            rows.push(Row {
                id: id.clone(),
                aliases: names,
                metadata,
            });
        }
    }
    Ok((rows, partial, alias_error))
}

const COLUMNS: [(&str, &str); 9] = [
    ("alias", "Aliases"),
    ("id", "Key ID"),
    ("status", "Status"),
    ("type", "Key type"),
    ("spec", "Key spec"),
    ("usage", "Key usage"),
    ("origin", "Origin"),
    ("regionality", "Regionality"),
    ("created", "Creation date"),
];

/// The list of customer managed keys (or, with `view=aws`, of AWS managed keys).
pub async fn list(page: &Page) -> Response {
    let aws = page.query("view") == "aws";
    let title = if aws {
        "AWS managed keys"
    } else {
        "Customer managed keys"
    };
    let (rows, partial, alias_error) = match load_keys(page).await {
        Ok(loaded) => loaded,
        Err(e) => return page.html(title, api_error(&e)),
    };
    let manager = if aws { "AWS" } else { "CUSTOMER" };
    let q = page.query("q").trim().to_owned();
    let mut rows: Vec<Row> = rows
        .into_iter()
        // A key DescribeKey would not describe is listed with the customer's keys.
        .filter(|r| r.meta("KeyManager") == manager || (!aws && r.metadata.is_none()))
        .filter(|r| q.is_empty() || r.matches(&q))
        .collect();
    let sort = match page.query("sort") {
        s if COLUMNS.iter().any(|(c, _)| *c == s) => s.to_owned(),
        _ => "created".to_owned(),
    };
    let descending = page.query("dir") == "desc";
    rows.sort_by_key(|r| r.column(&sort));
    if descending {
        rows.reverse();
    }
    let pages = rows.len().div_ceil(PAGE_ROWS).max(1);
    let number: usize = page.query("page").parse().unwrap_or(1).clamp(1, pages);
    let shown = rows.iter().skip((number - 1) * PAGE_ROWS).take(PAGE_ROWS);
    let view = if aws { "aws" } else { "customer" };
    let link = |sort: &str, dir: &str, number: usize| {
        format!(
            "/console/keys?view={view}&q={}&sort={sort}&dir={dir}&page={number}",
            encode(&q)
        )
    };
    let body = html! {
        div.toolbar {
            form.filter method="get" action="/console/keys" role="search" {
                input type="hidden" name="view" value=(view);
                label for="filter" { "Filter keys" }
                input #filter type="search" name="q" value=(q) placeholder="Alias, key ID, description, status or spec";
                button type="submit" { "Filter" }
            }
            @if !aws {
                a.button.primary #create-key href="/console/keys/new" { "Create key" }
            }
        }
        @if let Some(e) = &alias_error {
            p.muted { "Aliases are not shown: " (e) }
        }
        @if partial {
            p.muted { "Showing the first " (MAX_LISTED) " keys." }
        }
        table #keys {
            caption.visually-hidden { (title) }
            thead { tr {
                @for (column, label) in COLUMNS {
                    @let next = if sort == column && !descending { "desc" } else { "asc" };
                    th scope="col" aria-sort=(if sort == column { if descending { "descending" } else { "ascending" } } else { "none" }) {
                        a href=(link(column, next, 1)) { (label) }
                    }
                }
            } }
            tbody {
                @for row in shown {
                    tr {
                        td { @for (i, a) in row.aliases.iter().enumerate() { @if i > 0 { br; } (a) } }
                        td { a.key-link href=(key_path(&row.id)) { (row.id) } }
                        td { (row.meta("KeyState")) }
                        td { (key_type(row.meta("KeySpec"))) }
                        td { (row.meta("KeySpec")) }
                        td { (usage_text(row.meta("KeyUsage"))) }
                        td { (row.meta("Origin")) }
                        td { (row.metadata.as_ref().map(regionality).unwrap_or_default()) }
                        td { (time(row.metadata.as_ref().and_then(|m| m["CreationDate"].as_f64()))) }
                    }
                }
            }
        }
        @if rows.is_empty() {
            p #no-keys { "No keys." }
        }
        nav.pages aria-label="Pages" {
            @if number > 1 { a rel="prev" href=(link(&sort, if descending { "desc" } else { "asc" }, number - 1)) { "Previous" } }
            span { "Page " (number) " of " (pages) " (" (rows.len()) @if rows.len() == 1 { " key)" } @else { " keys)" } }
            @if number < pages { a rel="next" href=(link(&sort, if descending { "desc" } else { "asc" }, number + 1)) { "Next" } }
        }
    };
    page.html(title, body)
}

/// The create-key form (again with what was posted, and the API's error, after a refusal).
pub fn new_key_page(page: &Page, error: Option<&ApiError>) -> Response {
    let value = |name: &str, default: &str| -> String {
        match page.form.get(name) {
            Some(v) => v.clone(),
            None => default.to_owned(),
        }
    };
    let spec = value("key_spec", "SYMMETRIC_DEFAULT");
    let usage = value("key_usage", "ENCRYPT_DECRYPT");
    let origin = value("origin", "AWS_KMS");
    let body = html! {
        @if let Some(e) = error { (api_error(e)) }
        form.card method="post" action="/console/keys/new" #create-key-form {
            (csrf(page))
            fieldset {
                legend { "Step 1: Configure key" }
                label for="key_usage" { "Key usage" }
                select #key_usage name="key_usage" {
                    @for u in trent_wire::KeyUsageType::VALUES { option value=(u) selected[*u == usage] { (usage_text(u)) } }
                }
                label for="key_spec" { "Key spec" }
                select #key_spec name="key_spec" {
                    @for s in trent_wire::KeySpec::VALUES { option value=(s) selected[*s == spec] { (s) } }
                }
                p.hint { "Symmetric keys encrypt and decrypt; RSA keys encrypt or sign; elliptic curve keys sign or agree on keys; HMAC keys generate and verify MACs." }
                label for="origin" { "Key material origin" }
                select #origin name="origin" {
                    option value="AWS_KMS" selected[origin == "AWS_KMS"] { "KMS (generated by Trent)" }
                    option value="EXTERNAL" selected[origin == "EXTERNAL"] { "External (import key material)" }
                    option value="AWS_CLOUDHSM" selected[origin == "AWS_CLOUDHSM"] { "Custom key store: PKCS#11 token (AWS_CLOUDHSM)" }
                    option value="EXTERNAL_KEY_STORE" selected[origin == "EXTERNAL_KEY_STORE"] { "Custom key store: external key manager (EXTERNAL_KEY_STORE)" }
                }
                label for="custom_key_store_id" { "Custom key store ID " span.muted { "(for a key in a custom key store)" } }
                input #custom_key_store_id name="custom_key_store_id" value=(value("custom_key_store_id", "")) spellcheck="false";
                label for="xks_key_id" { "External key ID " span.muted { "(EXTERNAL_KEY_STORE only)" } }
                input #xks_key_id name="xks_key_id" value=(value("xks_key_id", "")) spellcheck="false";
                label.check {
                    input #multi_region type="checkbox" name="multi_region" checked[page.field("multi_region") == "on"];
                    " Multi-Region key"
                }
            }
            fieldset {
                legend { "Step 2: Add labels" }
                label for="alias" { "Alias" }
                div.prefixed { span { "alias/" } input #alias name="alias" value=(value("alias", "")) spellcheck="false"; }
                label for="description" { "Description" }
                textarea #description name="description" rows="2" { (value("description", "")) }
                label for="tags" { "Tags " span.muted { "(one key=value a line)" } }
                textarea #tags name="tags" rows="3" spellcheck="false" { (value("tags", "")) }
            }
            fieldset {
                legend { "Step 3: Define key administrative permissions" }
                label for="administrators" { "Key administrators " span.muted { "(IAM user or role ARNs, one a line)" } }
                textarea #administrators name="administrators" rows="3" spellcheck="false" { (value("administrators", "")) }
            }
            fieldset {
                legend { "Step 4: Define key usage permissions" }
                label for="users" { "Key users " span.muted { "(IAM user or role ARNs, one a line)" } }
                textarea #users name="users" rows="3" spellcheck="false" { (value("users", "")) }
            }
            p.hint { "The key policy is the one AWS's console writes: the account (and so IAM policies) may use and manage the key, the administrators may manage it, the users may use it." }
            div.actions {
                button #review type="submit" name="step" value="review" { "Review" }
                button #create.primary type="submit" name="step" value="create" { "Create key" }
            }
        }
    };
    page.html("Create key", body)
}

/// The create-key form's fields, carried from step to step.
const NEW_KEY_FIELDS: [&str; 11] = [
    "key_usage",
    "key_spec",
    "origin",
    "multi_region",
    "alias",
    "description",
    "tags",
    "administrators",
    "users",
    "custom_key_store_id",
    "xks_key_id",
];

/// The wizard's last step: what the key will be, and the key policy it will have.
pub fn review_page(page: &Page) -> Response {
    let usage = page.field("key_usage");
    let spec = page.field("key_spec");
    let admins = lines(page.field("administrators"));
    let users = lines(page.field("users"));
    let policy = console_policy(
        &page.current.principal.account,
        &admins,
        &users,
        usage,
        key_type(spec) == "Asymmetric",
    );
    let pretty = serde_json::to_string_pretty(&policy).unwrap_or_default();
    let body = html! {
        form.card method="post" action="/console/keys/new" {
            (csrf(page))
            @for name in NEW_KEY_FIELDS {
                input type="hidden" name=(name) value=(page.field(name));
            }
            h2 { "Review" }
            dl.grid #review-summary {
                dt { "Key type" } dd { (key_type(spec)) }
                dt { "Key spec" } dd { (spec) }
                dt { "Key usage" } dd { (usage_text(usage)) }
                dt { "Origin" } dd { (page.field("origin")) }
                dt { "Regionality" } dd { @if page.field("multi_region") == "on" { "Multi-Region" } @else { "Single-Region" } }
                dt { "Alias" } dd { @if page.field("alias").trim().is_empty() { "—" } @else { "alias/" (page.field("alias").trim().trim_start_matches("alias/")) } }
                dt { "Description" } dd { (page.field("description")) }
                dt { "Tags" } dd { @for t in lines(page.field("tags")) { (t) br; } }
            }
            h3 { "Key policy" }
            pre.code #policy-preview tabindex="0" { (pretty) }
            div.actions {
                button #back type="submit" name="step" value="edit" { "Back" }
                button #create.primary type="submit" name="step" value="create" { "Create key" }
            }
        }
    };
    page.html("Create key: review", body)
}

/// The actions of a key's users, by usage (as AWS's console writes them).
fn user_actions(usage: &str) -> Vec<&'static str> {
    match usage {
        "SIGN_VERIFY" => vec![
            "kms:DescribeKey",
            "kms:GetPublicKey",
            "kms:Sign",
            "kms:Verify",
        ],
        "GENERATE_VERIFY_MAC" => vec!["kms:DescribeKey", "kms:GenerateMac", "kms:VerifyMac"],
        "KEY_AGREEMENT" => vec![
            "kms:DescribeKey",
            "kms:GetPublicKey",
            "kms:DeriveSharedSecret",
        ],
        _ => vec![
            "kms:Encrypt",
            "kms:Decrypt",
            "kms:ReEncrypt*",
            "kms:GenerateDataKey*",
            "kms:DescribeKey",
        ],
    }
}

/// The key policy AWS's console writes for these administrators and users.
/// <https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-default.html>
pub fn console_policy(
    account: &str,
    admins: &[&str],
    users: &[&str],
    usage: &str,
    asymmetric: bool,
) -> Value {
    let mut statements = vec![json!({
        "Sid": "Enable IAM User Permissions",
        "Effect": "Allow",
        "Principal": { "AWS": format!("arn:aws:iam::{account}:root") },
        "Action": "kms:*",
        "Resource": "*"
    })];
    if !admins.is_empty() {
        statements.push(json!({
            "Sid": "Allow access for Key Administrators",
            "Effect": "Allow",
            "Principal": { "AWS": admins },
            "Action": [
                "kms:Create*", "kms:Describe*", "kms:Enable*", "kms:List*", "kms:Put*",
                "kms:Update*", "kms:Revoke*", "kms:Disable*", "kms:Get*", "kms:Delete*",
                "kms:TagResource", "kms:UntagResource", "kms:ScheduleKeyDeletion",
                "kms:CancelKeyDeletion", "kms:RotateKeyOnDemand"
            ],
            "Resource": "*"
        }));
    }
    if !users.is_empty() {
        let mut actions = user_actions(usage);
        if asymmetric && usage == "ENCRYPT_DECRYPT" {
            actions = vec![
                "kms:Encrypt",
                "kms:Decrypt",
                "kms:ReEncrypt*",
                "kms:DescribeKey",
                "kms:GetPublicKey",
            ];
        }
        statements.push(json!({
            "Sid": "Allow use of the key",
            "Effect": "Allow",
            "Principal": { "AWS": users },
            "Action": actions,
            "Resource": "*"
        }));
        statements.push(json!({
            "Sid": "Allow attachment of persistent resources",
            "Effect": "Allow",
            "Principal": { "AWS": users },
            "Action": ["kms:CreateGrant", "kms:ListGrants", "kms:RevokeGrant"],
            "Resource": "*",
            "Condition": { "Bool": { "kms:GrantIsForAWSResource": "true" } }
        }));
    }
    json!({ "Id": "key-consolepolicy-3", "Version": "2012-10-17", "Statement": statements })
}

fn lines(text: &str) -> Vec<&str> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect()
}

/// Creates a key from the form: CreateKey (with the console's policy and the tags), then
/// CreateAlias if one was asked for.
pub async fn create(page: &Page) -> Response {
    let usage = page.field("key_usage");
    let spec = page.field("key_spec");
    let admins = lines(page.field("administrators"));
    let users = lines(page.field("users"));
    let mut tags = Vec::new();
    for line in lines(page.field("tags")) {
        let (k, v) = line.split_once('=').unwrap_or((line, ""));
        tags.push(json!({ "TagKey": k.trim(), "TagValue": v.trim() }));
    }
    let policy = console_policy(
        &page.current.principal.account,
        &admins,
        &users,
        usage,
        key_type(spec) == "Asymmetric",
    );
    let mut body = json!({
        "KeyUsage": usage,
        "KeySpec": spec,
        "Origin": page.field("origin"),
        "Description": page.field("description"),
        "MultiRegion": page.field("multi_region") == "on",
        "Policy": policy.to_string(),
    });
    if !tags.is_empty() {
        body["Tags"] = json!(tags);
    }
    for (field, member) in [
        ("custom_key_store_id", "CustomKeyStoreId"),
        ("xks_key_id", "XksKeyId"),
    ] {
        let value = page.field(field).trim();
        if !value.is_empty() {
            body[member] = json!(value);
        }
    }
    let created = match page.kms("CreateKey", body).await {
        Ok(answer) => answer,
        Err(e) => return new_key_page(page, Some(&e)),
    };
    let Some(key_id) = created["KeyMetadata"]["KeyId"].as_str() else {
        return new_key_page(
            page,
            Some(&ApiError {
                code: "KMSInternalException".into(),
                message: String::new(),
            }),
        );
    };
    let to = key_path(key_id);
    let alias = page.field("alias").trim();
    if !alias.is_empty() {
        let name = format!("alias/{}", alias.trim_start_matches("alias/"));
        if let Err(e) = page
            .kms(
                "CreateAlias",
                json!({ "AliasName": name, "TargetKeyId": key_id }),
            )
            .await
        {
            return page.done(
                &to,
                false,
                format!("Key {key_id} was created, but its alias was not: {e}"),
            );
        }
    }
    page.done(&to, true, format!("Key {key_id} was created."))
}

/// A policy being edited whose save was refused: its text, and why.
pub struct Refused {
    pub text: String,
    pub error: ApiError,
}

const TABS: [(&str, &str); 11] = [
    ("policy", "Key policy"),
    ("usage", "Usage"),
    ("crypto", "Cryptographic configuration"),
    ("public-key", "Public key"),
    ("grants", "Grants"),
    ("regionality", "Regionality"),
    ("key-material", "Key material"),
    ("tags", "Tags"),
    ("rotation", "Key rotation"),
    ("aliases", "Aliases"),
    ("deletion", "Key deletion"),
];

/// A key's page: its general configuration, then the tab asked for.
pub async fn detail(page: &Page, key: &str, refused: Option<Refused>) -> Response {
    if !is_key_id(key) {
        return page.html("Not found", html! { p { "There is no such key." } });
    }
    let meta = match page.kms("DescribeKey", json!({ "KeyId": key })).await {
        Ok(answer) => answer["KeyMetadata"].clone(),
        Err(e) => return page.html(key, api_error(&e)),
    };
    let tab = match (&refused, page.query("tab")) {
        (Some(_), _) => "policy",
        (None, t) if TABS.iter().any(|(n, _)| *n == t) => t,
        _ => "policy",
    };
    let aliases = page
        .kms("ListAliases", json!({ "KeyId": key }))
        .await
        .map(|a| {
            a["Aliases"]
                .as_array()
                .map(|list| {
                    list.iter()
                        .filter_map(|a| a["AliasName"].as_str().map(str::to_owned))
                        .collect::<Vec<_>>()
                })
                .unwrap_or_default()
        });
    let state = meta["KeyState"].as_str().unwrap_or("");
    let customer = meta["KeyManager"].as_str() == Some("CUSTOMER");
    let title = match &aliases {
        Ok(a) if !a.is_empty() => a[0].clone(),
        _ => key.to_owned(),
    };
    let base = key_path(key);
    let tab_body = match tab {
        "crypto" => crypto_tab(&meta),
        "tags" => tags_tab(page, key, &base).await,
        "rotation" => rotation_tab(page, key, &base, &meta).await,
        "aliases" => aliases_tab(page, &base, &aliases),
        "deletion" => deletion_tab(page, &base, &meta),
        "usage" => usage_tab(page, key, &meta).await,
        "public-key" => public_key_tab(page, key, &base, &meta).await,
        "grants" => grants_tab(page, key, &base).await,
        "regionality" => regionality_tab(page, &base, &meta),
        "key-material" => key_material_tab(page, &base, &meta),
        _ => policy_tab(page, key, &base, refused).await,
    };
    let body = html! {
        section.card aria-labelledby="general" {
            h2 #general { "General configuration" }
            dl.grid {
                dt { "Alias" } dd { @match &aliases { Ok(a) if !a.is_empty() => { @for (i, n) in a.iter().enumerate() { @if i > 0 { ", " } (n) } } Ok(_) => { "—" } Err(e) => { span.muted { (e) } } } }
                dt { "Key ID" } dd #key-id { (meta["KeyId"].as_str().unwrap_or(key)) }
                dt { "ARN" } dd { code { (meta["Arn"].as_str().unwrap_or("")) } }
                dt { "Status" } dd #key-state { (state) }
                dt { "Description" } dd { (meta["Description"].as_str().filter(|d| !d.is_empty()).unwrap_or("—")) }
                dt { "Creation date" } dd { (time(meta["CreationDate"].as_f64())) }
                @if state == "PendingDeletion" {
                    dt { "Scheduled deletion date" } dd #deletion-date { (time(meta["DeletionDate"].as_f64())) }
                }
                dt { "Regionality" } dd { (regionality(&meta)) }
                dt { "Key manager" } dd { (meta["KeyManager"].as_str().unwrap_or("")) }
                dt { "Origin" } dd #key-origin { (meta["Origin"].as_str().unwrap_or("")) }
                @if let Some(store) = meta["CustomKeyStoreId"].as_str() {
                    dt { "Custom key store" } dd #key-store { a href="/console/custom-key-stores" { (store) } }
                }
            }
            @if customer {
                div.actions {
                    @if state == "Enabled" {
                        form.inline method="post" action=(format!("{base}/disable")) { (csrf(page)) button #disable-key type="submit" { "Disable" } }
                    }
                    @if state == "Disabled" {
                        form.inline method="post" action=(format!("{base}/enable")) { (csrf(page)) button #enable-key type="submit" { "Enable" } }
                    }
                    @if state == "PendingDeletion" {
                        form.inline method="post" action=(format!("{base}/cancel-deletion")) { (csrf(page)) button #cancel-deletion type="submit" { "Cancel key deletion" } }
                    } @else {
                        a.button.danger href=(format!("{base}?tab=deletion")) { "Schedule key deletion" }
                    }
                }
            }
        }
        nav.tabs aria-label="Key details" {
            @for (name, label) in TABS {
                a id=(format!("tab-{name}")) href=(format!("{base}?tab={name}")) aria-current=[(name == tab).then_some("page")] { (label) }
            }
        }
        section.card.tab-body { (tab_body) }
    };
    page.html(&title, body)
}

async fn policy_tab(page: &Page, key: &str, base: &str, refused: Option<Refused>) -> Markup {
    let (text, error) = match refused {
        Some(r) => (r.text, Some(r.error)),
        None => match page
            .kms(
                "GetKeyPolicy",
                json!({ "KeyId": key, "PolicyName": "default" }),
            )
            .await
        {
            Ok(answer) => (pretty_json(answer["Policy"].as_str().unwrap_or("")), None),
            Err(e) => return api_error(&e),
        },
    };
    let parsed: Option<Value> = serde_json::from_str(&text).ok();
    let principals = |sid: &str| -> Vec<String> {
        let mut out = Vec::new();
        for s in parsed
            .as_ref()
            .and_then(|p| p["Statement"].as_array())
            .into_iter()
            .flatten()
        {
            if s["Sid"].as_str() == Some(sid) {
                match &s["Principal"]["AWS"] {
                    Value::String(p) => out.push(p.clone()),
                    Value::Array(list) => {
                        out.extend(list.iter().filter_map(|p| p.as_str().map(str::to_owned)))
                    }
                    _ => {}
                }
            }
        }
        out
    };
    let admins = principals("Allow access for Key Administrators");
    let users = principals("Allow use of the key");
    html! {
        h2 { "Key policy" }
        div.two {
            div {
                h3 { "Key administrators" }
                (principal_list(page, base, "admins", "key-admins", &admins))
            }
            div {
                h3 { "Key users" }
                (principal_list(page, base, "users", "key-users", &users))
            }
        }
        @if let Some(e) = &error { div #policy-error { (api_error(e)) } }
        form method="post" action=(format!("{base}/policy")) {
            (csrf(page))
            label for="policy" { "Policy document (JSON)" }
            textarea #policy.code name="policy" rows="24" spellcheck="false" { (text) }
            button #save-policy.primary type="submit" { "Save changes" }
        }
    }
}

/// The key's use over the last 30 days (its events in the trail), and its last
/// successful cryptographic use (GetKeyLastUsage): so that unused keys can be found.
async fn usage_tab(page: &Page, key: &str, meta: &Value) -> Markup {
    let arn = meta["Arn"].as_str().unwrap_or("");
    let last = page.kms("GetKeyLastUsage", json!({ "KeyId": key })).await;
    let now = super::trail::now_secs();
    let from = now - 30 * 86_400;
    let request = json!({
        "LookupAttributes": [{ "AttributeKey": "ResourceName", "AttributeValue": arn }],
        "StartTime": from,
    });
    let charts = super::trail::collect(page, &request, 20)
        .await
        .map(|super::trail::Collected { events, complete, .. }| {
            let days = super::trail::buckets(&events, from, now);
            html! {
                @if !complete { p.muted { "Drawn from the newest " (events.len()) " events." } }
                (super::charts::timeline("chart-key-usage", "Requests on this key, last 30 days", &days))
                (super::charts::ranking("chart-key-operations", "By operation", &super::trail::by_operation(&events), "#0a5ca8"))
            }
        });
    html! {
        h2 { "Usage" }
        h3 { "Last cryptographic use" }
        @match &last {
            Ok(l) => {
                @let usage = &l["KeyLastUsage"];
                @if usage["Timestamp"].is_number() {
                    dl.grid #last-usage {
                        dt { "Operation" } dd { (cell(&usage["Operation"])) }
                        dt { "When" } dd { (time(usage["Timestamp"].as_f64())) }
                        @if let Some(id) = usage["CloudTrailEventId"].as_str() {
                            dt { "Event" } dd { a href=(format!("/console/audit/event?id={}", encode(id))) { (id) } }
                        }
                    }
                } @else {
                    p #last-usage { "Not used for a cryptographic operation since " (time(l["TrackingStartDate"].as_f64())) "." }
                }
            }
            Err(e) => { (api_error(e)) }
        }
        @match &charts {
            Ok(charts) => { (charts) }
            Err(e) => { (api_error(e)) }
        }
    }
}

/// An asymmetric key's public key, as PEM (GetPublicKey), with a download link.
async fn public_key_tab(page: &Page, key: &str, base: &str, meta: &Value) -> Markup {
    if key_type(meta["KeySpec"].as_str().unwrap_or("")) != "Asymmetric" {
        return html! { h2 { "Public key" } p { "Only asymmetric keys have a public key." } };
    }
    match public_key_pem(page, key).await {
        Ok(pem) => html! {
            h2 { "Public key" }
            pre.code #public-key tabindex="0" { (pem) }
            a.button #download-public-key href=(format!("{base}/public-key.pem")) download { "Download" }
        },
        Err(e) => html! { h2 { "Public key" } (api_error(&e)) },
    }
}

/// GetPublicKey's key as a PEM `PUBLIC KEY` (SubjectPublicKeyInfo) block.
pub async fn public_key_pem(page: &Page, key: &str) -> Result<String, ApiError> {
    let answer = page.kms("GetPublicKey", json!({ "KeyId": key })).await?;
    pem(answer["PublicKey"].as_str().unwrap_or("")).ok_or(ApiError {
        code: "KMSInternalException".into(),
        message: String::new(),
    })
}

/// A DER public key (base64, as the API answers it) as a PEM `PUBLIC KEY`
/// (SubjectPublicKeyInfo) block, wrapped at 64 columns.
fn pem(der_base64: &str) -> Option<String> {
    use base64::Engine as _;
    let der = base64::engine::general_purpose::STANDARD
        .decode(der_base64)
        .ok()?;
    let text = base64::engine::general_purpose::STANDARD.encode(der);
    let mut pem = String::from("-----BEGIN PUBLIC KEY-----\n");
    for chunk in text.as_bytes().chunks(64) {
        pem.push_str(std::str::from_utf8(chunk).ok()?);
        pem.push('\n');
    }
    pem.push_str("-----END PUBLIC KEY-----\n");
    Some(pem)
}

/// The download of a key's public key.
pub async fn public_key_download(page: &Page, key: &str) -> Response {
    if !is_key_id(key) {
        return page.html("Not found", html! { p { "There is no such key." } });
    }
    match public_key_pem(page, key).await {
        Ok(pem) => super::download(pem, "application/x-pem-file", &format!("{key}.pem")),
        Err(e) => page.html(key, api_error(&e)),
    }
}

async fn grants_tab(page: &Page, key: &str, base: &str) -> Markup {
    let grants = page
        .kms("ListGrants", json!({ "KeyId": key, "Limit": 100 }))
        .await;
    html! {
        h2 { "Grants" }
        @match &grants {
            Ok(answer) => {
                @let list = answer["Grants"].as_array().cloned().unwrap_or_default();
                @if list.is_empty() { p.muted #grants { "No grants." } }
                @else {
                    table #grants {
                        thead { tr {
                            th scope="col" { "Name" } th scope="col" { "Grant ID" } th scope="col" { "Grantee principal" }
                            th scope="col" { "Operations" } th scope="col" { "Retiring principal" } th scope="col" { "Creation date" }
                            th { span.visually-hidden { "Actions" } }
                        } }
                        tbody { @for g in &list { tr {
                            td { (cell(&g["Name"])) }
                            td { code { (cell(&g["GrantId"])) } }
                            td { (cell(&g["GranteePrincipal"])) }
                            td { (cell(&g["Operations"])) }
                            td { (cell(&g["RetiringPrincipal"])) }
                            td { (time(g["CreationDate"].as_f64())) }
                            td { form.inline method="post" action=(format!("{base}/revoke-grant")) {
                                (csrf(page))
                                input type="hidden" name="grant_id" value=(g["GrantId"].as_str().unwrap_or(""));
                                button type="submit" { "Revoke" }
                            } }
                        } } }
                    }
                }
            }
            Err(e) => { (api_error(e)) }
        }
        h3 { "Create a grant" }
        form method="post" action=(format!("{base}/create-grant")) {
            (csrf(page))
            label for="grantee" { "Grantee principal (ARN)" }
            input #grantee name="grantee" required spellcheck="false";
            fieldset {
                legend { "Operations" }
                @for op in trent_wire::GrantOperation::VALUES {
                    label.check { input type="checkbox" name=(format!("op-{op}")); " " (op) }
                }
            }
            label for="retiring" { "Retiring principal " span.muted { "(optional)" } }
            input #retiring name="retiring" spellcheck="false";
            label for="grant-name" { "Name " span.muted { "(optional)" } }
            input #grant-name name="name";
            button #create-grant type="submit" { "Create grant" }
        }
    }
}

fn regionality_tab(page: &Page, base: &str, meta: &Value) -> Markup {
    if meta["MultiRegion"].as_bool() != Some(true) {
        return html! { h2 { "Regionality" } p { "A single-Region key: it cannot be replicated." } };
    }
    let config = &meta["MultiRegionConfiguration"];
    let primary = config["PrimaryKey"]["Region"].as_str().unwrap_or("");
    html! {
        h2 { "Regionality" }
        dl.grid {
            dt { "Type" } dd { (regionality(meta)) }
            dt { "Primary key" } dd { (cell(&config["PrimaryKey"]["Arn"])) }
        }
        h3 { "Replica keys" }
        @let replicas = config["ReplicaKeys"].as_array().cloned().unwrap_or_default();
        @if replicas.is_empty() { p.muted #replicas { "No replicas." } }
        @else { ul #replicas { @for r in &replicas { li { (cell(&r["Arn"])) } } } }
        @if config["MultiRegionKeyType"] == "PRIMARY" {
            form.row method="post" action=(format!("{base}/replicate")) {
                (csrf(page))
                label for="replica-region" { "Replicate to region" }
                input #replica-region name="region" required spellcheck="false" placeholder="us-west-2";
                button #replicate type="submit" { "Create replica key" }
            }
            form.row method="post" action=(format!("{base}/update-primary")) {
                (csrf(page))
                label for="primary-region" { "Make the replica in this region primary" }
                input #primary-region name="region" required spellcheck="false" placeholder=(primary);
                button #update-primary type="submit" { "Change primary Region" }
            }
        }
    }
}

/// Imported key material: its expiry, the wrapping key and import token to download, the
/// upload, and deletion of the material.
fn key_material_tab(page: &Page, base: &str, meta: &Value) -> Markup {
    if meta["Origin"].as_str() != Some("EXTERNAL") {
        return html! {
            h2 { "Key material" }
            p { "The key material was generated by Trent (origin " (meta["Origin"].as_str().unwrap_or("")) "): it cannot be imported or deleted." }
        };
    }
    html! {
        h2 { "Key material" }
        dl.grid {
            dt { "Status" } dd { (cell(&meta["KeyState"])) }
            dt { "Expiration" } dd #material-expiry {
                @match meta["ExpirationModel"].as_str() {
                    Some("KEY_MATERIAL_EXPIRES") => { "Expires " (time(meta["ValidTo"].as_f64())) }
                    Some("KEY_MATERIAL_DOES_NOT_EXPIRE") => { "Does not expire" }
                    _ => { "—" }
                }
            }
        }
        h3 { "1. Download the wrapping public key and import token" }
        form.row method="post" action=(format!("{base}/import-parameters")) {
            (csrf(page))
            label for="wrapping-algorithm" { "Wrapping algorithm" }
            select #wrapping-algorithm name="algorithm" { @for a in trent_wire::AlgorithmSpec::VALUES { option value=(a) selected[*a == "RSAES_OAEP_SHA_256"] { (a) } } }
            label for="wrapping-key-spec" { "Wrapping key spec" }
            select #wrapping-key-spec name="spec" { @for s in trent_wire::WrappingKeySpec::VALUES { option value=(s) { (s) } } }
            button #get-import-parameters type="submit" { "Get wrapping key and import token" }
        }
        (import_form(page, base, ""))
        @if matches!(meta["KeyState"].as_str(), Some("Enabled" | "Disabled")) {
            h3 { "Delete the key material" }
            form.inline method="post" action=(format!("{base}/delete-material")) {
                (csrf(page))
                button #delete-material.danger type="submit" { "Delete key material" }
            }
        }
    }
}

fn import_form(page: &Page, base: &str, token: &str) -> Markup {
    html! {
        h3 { "2. Upload the wrapped key material" }
        form method="post" action=(format!("{base}/import")) {
            (csrf(page))
            label for="encrypted-material" { "Encrypted key material (base64)" }
            textarea #encrypted-material.code name="material" rows="4" required spellcheck="false" {}
            label for="import-token" { "Import token (base64)" }
            textarea #import-token.code name="token" rows="4" required spellcheck="false" { (token) }
            label for="expiration" { "Expiration" }
            select #expiration name="expiration" {
                option value="KEY_MATERIAL_DOES_NOT_EXPIRE" { "Does not expire" }
                option value="KEY_MATERIAL_EXPIRES" { "Expires at the time below" }
            }
            label for="valid-to" { "Expires at (UTC)" }
            input #valid-to type="datetime-local" name="valid_to";
            button #import-material.primary type="submit" { "Import key material" }
        }
    }
}

/// GetParametersForImport's answer, shown once (nothing of it is kept).
async fn import_parameters(page: &Page, key: &str, base: &str) -> Response {
    let body = json!({
        "KeyId": key,
        "WrappingAlgorithm": page.field("algorithm"),
        "WrappingKeySpec": page.field("spec"),
    });
    let answer = match page.kms("GetParametersForImport", body).await {
        Ok(a) => a,
        Err(e) => return page.done(&format!("{base}?tab=key-material"), false, e.to_string()),
    };
    let der = answer["PublicKey"].as_str().unwrap_or("");
    let Some(pem) = pem(der) else {
        return page.done(
            &format!("{base}?tab=key-material"),
            false,
            "KMSInternalException",
        );
    };
    let token = answer["ImportToken"].as_str().unwrap_or("");
    let markup = html! {
        p { "Wrap the key material with this public key (" (page.field("algorithm")) "), then upload it with the import token before " (time(answer["ParametersValidTo"].as_f64())) "." }
        h3 { "Wrapping public key (PEM)" }
        pre.code #wrapping-key tabindex="0" { (pem) }
        h3 { "Wrapping public key (DER, base64)" }
        pre.code #wrapping-key-der tabindex="0" { (der) }
        p.actions {
            // The downloads AWS's console offers (DER files), from this page's own answer:
            // a second call would make another wrapping key and token.
            a.button #download-wrapping-key href=(format!("data:application/octet-stream;base64,{der}")) download="WrappingPublicKey.bin" { "Download wrapping public key" }
            a.button #download-import-token href=(format!("data:application/octet-stream;base64,{token}")) download="ImportToken.bin" { "Download import token" }
        }
        (import_form(page, base, token))
    };
    page.html("Import key material", markup)
}

/// The administrators or users a console policy names, each removable, and a form to add
/// one (each change rewrites the key policy with PutKeyPolicy).
fn principal_list(page: &Page, base: &str, role: &str, id: &str, arns: &[String]) -> Markup {
    html! {
        @if arns.is_empty() { p.muted id=(id) { "None named in the policy." } }
        @else {
            ul id=(id) {
                @for arn in arns {
                    li { (arn) " "
                        form.inline method="post" action=(format!("{base}/remove-principal")) {
                            (csrf(page))
                            input type="hidden" name="role" value=(role);
                            input type="hidden" name="arn" value=(arn);
                            button type="submit" aria-label=(format!("Remove {arn}")) { "Remove" }
                        }
                    }
                }
            }
        }
        form.row method="post" action=(format!("{base}/add-principal")) {
            (csrf(page))
            input type="hidden" name="role" value=(role);
            label for=(format!("add-{role}")) { "Add (ARN)" }
            input id=(format!("add-{role}")) name="arn" required spellcheck="false";
            button id=(format!("add-{role}-button")) type="submit" { "Add" }
        }
    }
}

const ADMINS_SID: &str = "Allow access for Key Administrators";
const USERS_SIDS: [&str; 2] = [
    "Allow use of the key",
    "Allow attachment of persistent resources",
];

/// The key policy with `arn` added to (or removed from) the statements AWS's console
/// writes for key administrators or key users; a statement left with nobody is removed, a
/// missing one is added as the console would write it.
fn edit_principals(policy: &mut Value, template: &Value, role: &str, arn: &str, add: bool) {
    let sids: &[&str] = if role == "admins" {
        &[ADMINS_SID]
    } else {
        &USERS_SIDS
    };
    let Some(statements) = policy["Statement"].as_array_mut() else {
        return;
    };
    for sid in sids {
        let at = statements
            .iter()
            .position(|s| s["Sid"].as_str() == Some(sid));
        match (at, add) {
            (Some(i), _) => {
                let mut principals: Vec<String> = match &statements[i]["Principal"]["AWS"] {
                    Value::String(p) => vec![p.clone()],
                    Value::Array(list) => list
                        .iter()
                        .filter_map(|p| p.as_str().map(str::to_owned))
                        .collect(),
                    _ => Vec::new(),
                };
                principals.retain(|p| p != arn);
                if add {
                    principals.push(arn.to_owned());
                }
                if principals.is_empty() {
                    statements.remove(i);
                } else {
                    statements[i]["Principal"]["AWS"] = json!(principals);
                }
            }
            (None, true) => {
                let from_template = template["Statement"]
                    .as_array()
                    .and_then(|t| t.iter().find(|s| s["Sid"].as_str() == Some(sid)))
                    .cloned();
                if let Some(mut statement) = from_template {
                    statement["Principal"]["AWS"] = json!([arn]);
                    statements.push(statement);
                }
            }
            (None, false) => {}
        }
    }
}

/// Adds or removes a key administrator or user: GetKeyPolicy, the edit, PutKeyPolicy.
async fn change_principals(page: &Page, key: &str, base: &str, add: bool) -> Response {
    let to = format!("{base}?tab=policy");
    let role = if page.field("role") == "admins" {
        "admins"
    } else {
        "users"
    };
    let arn = page.field("arn").trim().to_owned();
    let current = match page
        .kms(
            "GetKeyPolicy",
            json!({ "KeyId": key, "PolicyName": "default" }),
        )
        .await
    {
        Ok(a) => a["Policy"].as_str().unwrap_or("").to_owned(),
        Err(e) => return page.done(&to, false, e.to_string()),
    };
    let Ok(mut policy) = serde_json::from_str::<Value>(&current) else {
        return page.done(
            &to,
            false,
            "The key policy is not JSON the console can edit.",
        );
    };
    let meta = match page.kms("DescribeKey", json!({ "KeyId": key })).await {
        Ok(a) => a["KeyMetadata"].clone(),
        Err(e) => return page.done(&to, false, e.to_string()),
    };
    let usage = meta["KeyUsage"].as_str().unwrap_or("");
    let asymmetric = key_type(meta["KeySpec"].as_str().unwrap_or("")) == "Asymmetric";
    let template = console_policy(
        &page.current.principal.account,
        &[&arn],
        &[&arn],
        usage,
        asymmetric,
    );
    edit_principals(&mut policy, &template, role, &arn, add);
    let body = json!({ "KeyId": key, "PolicyName": "default", "Policy": policy.to_string() });
    match page.kms("PutKeyPolicy", body).await {
        Ok(_) if add => page.done(&to, true, format!("{arn} was added.")),
        Ok(_) => page.done(&to, true, format!("{arn} was removed.")),
        Err(e) => page.done(&to, false, e.to_string()),
    }
}

fn crypto_tab(meta: &Value) -> Markup {
    html! {
        h2 { "Cryptographic configuration" }
        dl.grid #crypto {
            dt { "Key type" } dd { (key_type(meta["KeySpec"].as_str().unwrap_or(""))) }
            dt { "Key spec" } dd { (cell(&meta["KeySpec"])) }
            dt { "Key usage" } dd { (usage_text(meta["KeyUsage"].as_str().unwrap_or(""))) }
            dt { "Origin" } dd { (cell(&meta["Origin"])) }
            @for (field, label) in [("EncryptionAlgorithms", "Encryption algorithms"), ("SigningAlgorithms", "Signing algorithms"), ("MacAlgorithms", "MAC algorithms"), ("KeyAgreementAlgorithms", "Key agreement algorithms")] {
                @if meta[field].is_array() { dt { (label) } dd { (cell(&meta[field])) } }
            }
            @if let Some(expiry) = meta["ValidTo"].as_f64() { dt { "Key material expires" } dd { (time(Some(expiry))) } }
        }
    }
}

async fn tags_tab(page: &Page, key: &str, base: &str) -> Markup {
    let tags = match page
        .kms("ListResourceTags", json!({ "KeyId": key, "Limit": 50 }))
        .await
    {
        Ok(answer) => answer["Tags"].as_array().cloned().unwrap_or_default(),
        Err(e) => return api_error(&e),
    };
    html! {
        h2 { "Tags" }
        table #tags {
            thead { tr { th scope="col" { "Tag key" } th scope="col" { "Tag value" } th { span.visually-hidden { "Actions" } } } }
            tbody {
                @for tag in &tags {
                    tr {
                        td { (cell(&tag["TagKey"])) } td { (cell(&tag["TagValue"])) }
                        td { form.inline method="post" action=(format!("{base}/untag")) {
                            (csrf(page))
                            input type="hidden" name="tag_key" value=(tag["TagKey"].as_str().unwrap_or(""));
                            button type="submit" aria-label=(format!("Remove tag {}", tag["TagKey"].as_str().unwrap_or(""))) { "Remove" }
                        } }
                    }
                }
            }
        }
        form.row method="post" action=(format!("{base}/tag")) {
            (csrf(page))
            label for="tag_key" { "Tag key" } input #tag_key name="tag_key" required;
            label for="tag_value" { "Tag value" } input #tag_value name="tag_value";
            button #add-tag type="submit" { "Add tag" }
        }
    }
}

async fn rotation_tab(page: &Page, key: &str, base: &str, meta: &Value) -> Markup {
    if meta["KeySpec"].as_str() != Some("SYMMETRIC_DEFAULT") {
        return html! { h2 { "Key rotation" } p { "Only symmetric encryption keys rotate automatically." } };
    }
    let status = match page
        .kms("GetKeyRotationStatus", json!({ "KeyId": key }))
        .await
    {
        Ok(s) => s,
        Err(e) => return html! { h2 { "Key rotation" } (api_error(&e)) },
    };
    let enabled = status["KeyRotationEnabled"].as_bool() == Some(true);
    let period = status["RotationPeriodInDays"].as_u64().unwrap_or(365);
    let history = page
        .kms("ListKeyRotations", json!({ "KeyId": key, "Limit": 1000 }))
        .await;
    html! {
        h2 { "Key rotation" }
        dl.grid {
            dt { "Automatic rotation" } dd #rotation-status { @if enabled { "Enabled" } @else { "Disabled" } }
            @if enabled {
                dt { "Rotation period" } dd { (period) " days" }
                dt { "Next rotation date" } dd { (time(status["NextRotationDate"].as_f64())) }
            }
            @if let Some(t) = status["OnDemandRotationStartDate"].as_f64() {
                dt { "On-demand rotation in progress since" } dd { (time(Some(t))) }
            }
        }
        form.row method="post" action=(format!("{base}/rotation")) {
            (csrf(page))
            label.check { input #rotation-enabled type="checkbox" name="enabled" checked[enabled]; " Rotate automatically" }
            label for="rotation-period" { "Rotation period (days, 90–2560)" }
            input #rotation-period type="number" name="period" min="90" max="2560" value=(period);
            button #save-rotation type="submit" { "Save" }
        }
        form.row method="post" action=(format!("{base}/rotate-now")) {
            (csrf(page))
            button #rotate-now type="submit" { "Rotate now" }
        }
        h3 { "Rotation history" }
        @match history {
            Ok(h) => {
                @let rotations = h["Rotations"].as_array().cloned().unwrap_or_default();
                @if rotations.is_empty() { p #rotations.muted { "The key has not rotated." } }
                @else {
                    table #rotations {
                        thead { tr { th scope="col" { "Date" } th scope="col" { "Type" } } }
                        tbody { @for r in &rotations { tr { td { (time(r["RotationDate"].as_f64())) } td { (cell(&r["RotationType"])) } } } }
                    }
                }
            }
            Err(e) => { (api_error(&e)) }
        }
    }
}

fn aliases_tab(page: &Page, base: &str, aliases: &Result<Vec<String>, ApiError>) -> Markup {
    html! {
        h2 { "Aliases" }
        @match aliases {
            Ok(list) => {
                @if list.is_empty() { p.muted { "No aliases." } }
                ul #aliases {
                    @for name in list {
                        li { (name) " "
                            form.inline method="post" action=(format!("{base}/delete-alias")) {
                                (csrf(page))
                                input type="hidden" name="alias" value=(name);
                                button type="submit" aria-label=(format!("Delete {name}")) { "Delete" }
                            }
                        }
                    }
                }
            }
            Err(e) => { (api_error(e)) }
        }
        form.row method="post" action=(format!("{base}/alias")) {
            (csrf(page))
            label for="new-alias" { "New alias" }
            div.prefixed { span { "alias/" } input #new-alias name="alias" required spellcheck="false"; }
            button #add-alias type="submit" { "Create alias" }
        }
    }
}

fn deletion_tab(page: &Page, base: &str, meta: &Value) -> Markup {
    if meta["KeyManager"].as_str() != Some("CUSTOMER") {
        return html! { h2 { "Key deletion" } p { "AWS managed keys cannot be deleted." } };
    }
    if meta["KeyState"].as_str() == Some("PendingDeletion") {
        return html! {
            h2 { "Key deletion" }
            p { "The key is scheduled for deletion on " (time(meta["DeletionDate"].as_f64())) ". Cancelling leaves it disabled." }
            form.inline method="post" action=(format!("{base}/cancel-deletion")) { (csrf(page)) button type="submit" { "Cancel key deletion" } }
        };
    }
    html! {
        h2 { "Key deletion" }
        p { "Deleting a key destroys its key material after the waiting period: whatever was encrypted under it can never be decrypted again. Until then the key cannot be used, and the deletion can be cancelled." }
        form method="post" action=(format!("{base}/schedule-deletion")) {
            (csrf(page))
            label for="waiting-period" { "Waiting period (days, 7–30)" }
            input #waiting-period type="number" name="days" min="7" max="30" value="30" required;
            label.check { input #confirm-deletion type="checkbox" name="confirm" required; " Confirm that you want to delete this key after the waiting period" }
            button #schedule-deletion.danger type="submit" { "Schedule deletion" }
        }
    }
}

/// A form that changes a key: its API call, then back to the key's page with the result.
pub async fn act(page: &Page, key: &str, action: &str) -> Response {
    if !is_key_id(key) {
        return page.html("Not found", html! { p { "There is no such key." } });
    }
    let base = key_path(key);
    let field = |n: &str| page.field(n).trim().to_owned();
    let (op, body, tab, done): (&str, Value, &str, String) = match action {
        "enable" => (
            "EnableKey",
            json!({ "KeyId": key }),
            "",
            "The key was enabled.".into(),
        ),
        "disable" => (
            "DisableKey",
            json!({ "KeyId": key }),
            "",
            "The key was disabled.".into(),
        ),
        "policy" => {
            let text = page.field("policy").to_owned();
            // A text that is not JSON is refused here, with where it breaks; the API
            // judges the rest (MalformedPolicyDocumentException, the lockout check).
            if let Err(e) = serde_json::from_str::<Value>(&text) {
                let error = ApiError {
                    code: "MalformedPolicyDocumentException".into(),
                    message: format!("The policy is not valid JSON: {e}"),
                };
                return detail(page, key, Some(Refused { text, error })).await;
            }
            let body = json!({ "KeyId": key, "PolicyName": "default", "Policy": text });
            return match page.kms("PutKeyPolicy", body).await {
                Ok(_) => page.done(
                    &format!("{base}?tab=policy"),
                    true,
                    "The key policy was saved.",
                ),
                Err(error) => detail(page, key, Some(Refused { text, error })).await,
            };
        }
        "rotation" => {
            if page.field("enabled") == "on" {
                let Ok(period) = field("period").parse::<u64>() else {
                    return page.done(
                        &format!("{base}?tab=rotation"),
                        false,
                        "The rotation period must be a number of days.",
                    );
                };
                (
                    "EnableKeyRotation",
                    json!({ "KeyId": key, "RotationPeriodInDays": period }),
                    "rotation",
                    format!("Automatic rotation is on, every {period} days."),
                )
            } else {
                (
                    "DisableKeyRotation",
                    json!({ "KeyId": key }),
                    "rotation",
                    "Automatic rotation is off.".into(),
                )
            }
        }
        "rotate-now" => (
            "RotateKeyOnDemand",
            json!({ "KeyId": key }),
            "rotation",
            "The key material is being rotated.".into(),
        ),
        "schedule-deletion" => {
            if page.field("confirm") != "on" {
                return page.done(
                    &format!("{base}?tab=deletion"),
                    false,
                    "Confirm the deletion first.",
                );
            }
            let Ok(days) = field("days").parse::<u64>() else {
                return page.done(
                    &format!("{base}?tab=deletion"),
                    false,
                    "The waiting period must be a number of days.",
                );
            };
            (
                "ScheduleKeyDeletion",
                json!({ "KeyId": key, "PendingWindowInDays": days }),
                "deletion",
                format!("The key is scheduled for deletion in {days} days."),
            )
        }
        "cancel-deletion" => (
            "CancelKeyDeletion",
            json!({ "KeyId": key }),
            "deletion",
            "The deletion was cancelled; the key is disabled.".into(),
        ),
        "tag" => (
            "TagResource",
            json!({ "KeyId": key, "Tags": [{ "TagKey": field("tag_key"), "TagValue": field("tag_value") }] }),
            "tags",
            "The tag was added.".into(),
        ),
        "untag" => (
            "UntagResource",
            json!({ "KeyId": key, "TagKeys": [field("tag_key")] }),
            "tags",
            "The tag was removed.".into(),
        ),
        "alias" => {
            let name = format!("alias/{}", field("alias").trim_start_matches("alias/"));
            (
                "CreateAlias",
                json!({ "AliasName": name, "TargetKeyId": key }),
                "aliases",
                format!("{name} was created."),
            )
        }
        "create-grant" => {
            let operations: Vec<&str> = trent_wire::GrantOperation::VALUES
                .iter()
                .copied()
                .filter(|op| page.field(&format!("op-{op}")) == "on")
                .collect();
            let mut body = json!({ "KeyId": key, "GranteePrincipal": field("grantee"), "Operations": operations });
            if !field("retiring").is_empty() {
                body["RetiringPrincipal"] = json!(field("retiring"));
            }
            if !field("name").is_empty() {
                body["Name"] = json!(field("name"));
            }
            (
                "CreateGrant",
                body,
                "grants",
                "The grant was created.".into(),
            )
        }
        "revoke-grant" => (
            "RevokeGrant",
            json!({ "KeyId": key, "GrantId": field("grant_id") }),
            "grants",
            "The grant was revoked.".into(),
        ),
        "replicate" => (
            "ReplicateKey",
            json!({ "KeyId": key, "ReplicaRegion": field("region") }),
            "regionality",
            format!("A replica is being created in {}.", field("region")),
        ),
        "update-primary" => (
            "UpdatePrimaryRegion",
            json!({ "KeyId": key, "PrimaryRegion": field("region") }),
            "regionality",
            format!("The primary key is moving to {}.", field("region")),
        ),
        "import-parameters" => return import_parameters(page, key, &base).await,
        "add-principal" => return change_principals(page, key, &base, true).await,
        "remove-principal" => return change_principals(page, key, &base, false).await,
        "import" => {
            let compact = |s: &str| s.split_whitespace().collect::<String>();
            let mut body = json!({
                "KeyId": key,
                "ImportToken": compact(page.field("token")),
                "EncryptedKeyMaterial": compact(page.field("material")),
                "ExpirationModel": field("expiration"),
            });
            if field("expiration") == "KEY_MATERIAL_EXPIRES" {
                let Some(valid_to) = super::trail::parse_local(&field("valid_to")) else {
                    return page.done(
                        &format!("{base}?tab=key-material"),
                        false,
                        "Give the time the key material expires.",
                    );
                };
                body["ValidTo"] = json!(valid_to);
            }
            (
                "ImportKeyMaterial",
                body,
                "key-material",
                "The key material was imported.".into(),
            )
        }
        "delete-material" => (
            "DeleteImportedKeyMaterial",
            json!({ "KeyId": key }),
            "key-material",
            "The key material was deleted; the key awaits new material.".into(),
        ),
        "delete-alias" => (
            "DeleteAlias",
            json!({ "AliasName": field("alias") }),
            "aliases",
            format!("{} was deleted.", field("alias")),
        ),
        _ => return page.html("Not found", html! { p { "There is no such action." } }),
    };
    let to = if tab.is_empty() {
        base.clone()
    } else {
        format!("{base}?tab={tab}")
    };
    match page.kms(op, body).await {
        Ok(_) => page.done(&to, true, done),
        Err(e) => page.done(&to, false, e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_console_policy_names_administrators_and_users_as_aws_console_does() {
        let p = console_policy(
            "111122223333",
            &["arn:aws:iam::111122223333:user/admin"],
            &["arn:aws:iam::111122223333:role/app"],
            "ENCRYPT_DECRYPT",
            false,
        );
        let statements = p["Statement"].as_array().cloned().unwrap_or_default();
        let sids: Vec<&str> = statements
            .iter()
            .filter_map(|s| s["Sid"].as_str())
            .collect();
        assert_eq!(
            sids,
            [
                "Enable IAM User Permissions",
                "Allow access for Key Administrators",
                "Allow use of the key",
                "Allow attachment of persistent resources"
            ]
        );
        assert_eq!(
            statements[0]["Principal"]["AWS"],
            "arn:aws:iam::111122223333:root"
        );
        assert_eq!(statements[2]["Action"][0], "kms:Encrypt");
        // Nobody named: the account's statement alone.
        let p = console_policy("111122223333", &[], &[], "SIGN_VERIFY", true);
        assert_eq!(p["Statement"].as_array().map(Vec::len), Some(1));
        let p = console_policy(
            "111122223333",
            &[],
            &["arn:aws:iam::111122223333:user/u"],
            "SIGN_VERIFY",
            true,
        );
        assert_eq!(
            p["Statement"][1]["Action"],
            json!([
                "kms:DescribeKey",
                "kms:GetPublicKey",
                "kms:Sign",
                "kms:Verify"
            ])
        );
    }

    #[test]
    fn administrators_and_users_are_added_and_removed_as_the_console_writes_them() {
        let admin = "arn:aws:iam::111122223333:user/admin";
        let bob = "arn:aws:iam::111122223333:user/bob";
        let template = console_policy("111122223333", &[bob], &[bob], "ENCRYPT_DECRYPT", false);
        let mut p = console_policy("111122223333", &[admin], &[], "ENCRYPT_DECRYPT", false);
        edit_principals(&mut p, &template, "users", bob, true);
        let sids: Vec<&str> = p["Statement"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|s| s["Sid"].as_str())
            .collect();
        assert_eq!(sids.len(), 4, "{p}");
        assert_eq!(p["Statement"][2]["Principal"]["AWS"], json!([bob]));
        edit_principals(&mut p, &template, "admins", bob, true);
        assert_eq!(p["Statement"][1]["Principal"]["AWS"], json!([admin, bob]));
        edit_principals(&mut p, &template, "users", bob, false);
        assert_eq!(p["Statement"].as_array().unwrap().len(), 2, "{p}");
        edit_principals(&mut p, &template, "admins", admin, false);
        edit_principals(&mut p, &template, "admins", bob, false);
        assert_eq!(
            p["Statement"].as_array().unwrap().len(),
            1,
            "the account's statement stays: {p}"
        );
    }

    #[test]
    fn only_key_ids_make_key_pages() {
        assert!(is_key_id("1234abcd-12ab-34cd-56ef-1234567890ab"));
        assert!(is_key_id("mrk-1234abcd12ab34cd56ef1234567890ab"));
        assert!(!is_key_id(""));
        assert!(!is_key_id("../admin"));
        assert!(!is_key_id("alias/x"));
    }
}
