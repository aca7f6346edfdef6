//! The pages' common parts: the layout (header, navigation, the signed-in principal, the
//! one-time message), the sign-in page, errors, and small pieces the pages share.

use maud::{html, Markup, DOCTYPE};

use super::Page;

/// A page: the header with the navigation and who is signed in, then `body`.
pub fn layout(title: &str, page: Option<&Page>, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · Trent console" }
                link rel="stylesheet" href="/console/assets/console.css";
            }
            body {
                a.skip href="#main" { "Skip to content" }
                header.top {
                    a.brand href="/console/keys" { "Trent" span.sub { "Key Management Service" } }
                    @if let Some(page) = page {
                        nav aria-label="Main" {
                            a href="/console/keys" { "Customer managed keys" }
                            a href="/console/keys?view=aws" { "AWS managed keys" }
                            a href="/console/custom-key-stores" { "Custom key stores" }
                            a href="/console/audit" { "Event history" }
                        }
                        div.who {
                            span #principal title="Signed in as" { (page.current.principal.arn) }
                            @if let Some(user) = &page.current.principal.signed_in_as {
                                span.muted { " (assumed by " (user) ")" }
                            }
                            form.inline.region-switch method="post" action="/console/region" {
                                (csrf(page))
                                label.visually-hidden for="region-switch" { "Region" }
                                input #region-switch name="region" value=(page.current.principal.region) size="12" spellcheck="false";
                                button type="submit" { "Switch" }
                            }
                            form.inline method="post" action="/console/sign-out" {
                                (csrf(page))
                                button #sign-out type="submit" { "Sign out" }
                            }
                        }
                    }
                }
                main #main tabindex="-1" {
                    @if let Some(flash) = page.and_then(|p| p.current.flash.as_ref()) {
                        @if flash.ok {
                            div.flash.ok role="status" { (flash.text) }
                        } @else {
                            div.flash.error role="alert" { (flash.text) }
                        }
                    }
                    h1 { (title) }
                    (body)
                }
            }
        }
    }
}

/// The hidden CSRF field of a form that changes something.
pub fn csrf(page: &Page) -> Markup {
    html! { input type="hidden" name="csrf" value=(page.current.csrf); }
}

/// An error from the API, as the API said it.
pub fn api_error(e: &super::call::ApiError) -> Markup {
    html! {
        div.flash.error role="alert" {
            strong.code { (e.code) } @if !e.message.is_empty() { ": " (e.message) }
        }
    }
}

pub fn sign_in(token: &str, region: &str, error: Option<&str>) -> Markup {
    layout(
        "Sign in",
        None,
        html! {
            @if let Some(error) = error {
                div.flash.error role="alert" #sign-in-error { (error) }
            }
            form.card.narrow method="post" action="/console/sign-in" {
                input type="hidden" name="csrf" value=(token);
                p.muted { "Sign in with an access key of an IAM user. Every action the console takes is an API call made as that principal (or as the role it assumes), recorded in the audit trail." }
                p.muted { "On a new server, the administrator's access key is in the data directory's " code { "credentials" } " file, written at first start." }
                label for="access_key_id" { "Access key ID" }
                input #access_key_id name="access_key_id" required autocomplete="username" spellcheck="false";
                label for="secret_access_key" { "Secret access key" }
                input #secret_access_key type="password" name="secret_access_key" required autocomplete="current-password";
                label for="role_arn" { "Role to assume " span.muted { "(optional)" } }
                input #role_arn name="role_arn" placeholder="arn:aws:iam::111122223333:role/name" spellcheck="false";
                label for="region" { "Region" }
                input #region name="region" value=(region) spellcheck="false";
                button #sign-in.primary type="submit" { "Sign in" }
            }
        },
    )
}

pub fn error(message: &str) -> Markup {
    layout(
        "Error",
        None,
        html! { div.flash.error role="alert" { (message) } p { a href="/console/" { "Back to the console" } } },
    )
}

pub fn not_found() -> Markup {
    html! { p { "There is no such page." } }
}

/// A time in seconds since the epoch (as the API answers), in UTC.
pub fn time(seconds: Option<f64>) -> String {
    let Some(s) = seconds else {
        return "—".to_owned();
    };
    let Ok(t) = time::OffsetDateTime::from_unix_timestamp(s as i64) else {
        return "—".to_owned();
    };
    let format =
        time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second] UTC");
    t.format(&format).unwrap_or_else(|_| "—".to_owned())
}

/// Pretty JSON text (for a policy or an event), or the text as it is.
pub fn pretty_json(text: &str) -> String {
    serde_json::from_str::<serde_json::Value>(text)
        .ok()
        .and_then(|v| serde_json::to_string_pretty(&v).ok())
        .unwrap_or_else(|| text.to_owned())
}

/// A JSON value's text for a table cell.
pub fn cell(v: &serde_json::Value) -> Markup {
    match v {
        serde_json::Value::String(s) => html! { (s) },
        serde_json::Value::Null => html! { "—" },
        serde_json::Value::Array(items) => {
            html! { @for (i, item) in items.iter().enumerate() { @if i > 0 { ", " } (cell(item)) } }
        }
        other => html! { (other.to_string()) },
    }
}
