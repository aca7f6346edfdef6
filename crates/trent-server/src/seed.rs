//! `trent serve --seed FILE`: keys that test suites expect, made at start
//! ([`trent_core::SeedKey`]). The file is TOML, or JSON if its name ends in `.json`, with
//! the same fields:
//!
//! ```toml
//! [[keys]]
//! id = "0b5b2c5e-7d5a-4b1e-9c1a-5a0d3f1e2b4c"   # required: a key id
//! account = "111122223333"        # default: the default account
//! region = "us-east-1"            # default: us-east-1
//! key_spec = "SYMMETRIC_DEFAULT"  # default
//! key_usage = "ENCRYPT_DECRYPT"   # default for the spec (HMAC keys: GENERATE_VERIFY_MAC)
//! description = "orders"
//! material = "base64..."          # optional: raw bytes, or PKCS#8 DER / PEM for key pairs
//! policy = '{"Version": ...}'     # optional: AWS's default key policy
//! enabled = true                  # default
//! rotation_period_days = 365      # optional: automatic rotation (symmetric keys)
//! aliases = ["alias/orders"]
//! tags = { team = "payments" }
//! ```
//!
//! Applied before the server listens, under the write-ahead audit (intents and a
//! `TrentSeed` service event with what was made); an error names the entry and the
//! server does not start. The file's material is read, never logged or written back.

use std::collections::BTreeMap;
use std::path::Path;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use serde::Deserialize;
use trent_crypto::SecretBytes;
use trent_wire::{KeySpec, KeyUsageType};
use zeroize::Zeroizing;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SeedFile {
    #[serde(default)]
    keys: Vec<SeedKeyEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SeedKeyEntry {
    id: String,
    account: Option<String>,
    region: Option<String>,
    key_spec: Option<String>,
    key_usage: Option<String>,
    #[serde(default)]
    description: String,
    material: Option<MaterialText>,
    policy: Option<String>,
    enabled: Option<bool>,
    rotation_period_days: Option<i32>,
    #[serde(default)]
    aliases: Vec<String>,
    #[serde(default)]
    tags: BTreeMap<String, String>,
}

/// Material as written in the file, zeroized when dropped; `Debug` never shows it.
struct MaterialText(Zeroizing<String>);

impl<'de> Deserialize<'de> for MaterialText {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(|s| MaterialText(Zeroizing::new(s)))
    }
}

/// Reads the seed file; `default_account` fills entries without an account.
pub fn read(path: &Path, default_account: &str) -> Result<Vec<trent_core::SeedKey>, String> {
    let text = Zeroizing::new(
        std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?,
    );
    let file: SeedFile = if path.extension().is_some_and(|e| e == "json") {
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?
    } else {
        toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?
    };
    file.keys
        .into_iter()
        .enumerate()
        .map(|(n, e)| {
            let id = e.id.clone();
            entry(e, default_account)
                .map_err(|m| format!("{}: seed key {} ({id}): {m}", path.display(), n + 1))
        })
        .collect()
}

fn entry(e: SeedKeyEntry, default_account: &str) -> Result<trent_core::SeedKey, String> {
    let key_spec = match e.key_spec.as_deref() {
        None => KeySpec::SymmetricDefault,
        Some(s) => KeySpec::parse(s).ok_or_else(|| format!("unknown key_spec {s:?}"))?,
    };
    let key_usage = match e.key_usage.as_deref() {
        Some(u) => KeyUsageType::parse(u).ok_or_else(|| format!("unknown key_usage {u:?}"))?,
        None if key_spec.as_str().starts_with("HMAC_") => KeyUsageType::GenerateVerifyMac,
        None => KeyUsageType::EncryptDecrypt,
    };
    let material = match &e.material {
        None => None,
        Some(text) => Some(material(&text.0)?),
    };
    Ok(trent_core::SeedKey {
        id: e.id,
        account_id: e.account.unwrap_or_else(|| default_account.to_owned()),
        region: e.region.unwrap_or_else(|| "us-east-1".to_owned()),
        key_spec,
        key_usage,
        description: e.description,
        material,
        policy: e.policy,
        enabled: e.enabled.unwrap_or(true),
        rotation_period_days: e.rotation_period_days,
        tags: e.tags,
        aliases: e.aliases,
    })
}

/// Base64 of the bytes, or a PEM block (`-----BEGIN PRIVATE KEY-----`) of PKCS#8 DER.
fn material(text: &str) -> Result<SecretBytes, String> {
    let body: Zeroizing<String> = if text.trim_start().starts_with("-----BEGIN") {
        Zeroizing::new(
            text.lines()
                .filter(|l| !l.starts_with("-----"))
                .map(str::trim)
                .collect(),
        )
    } else {
        Zeroizing::new(text.split_whitespace().collect())
    };
    B64.decode(body.as_bytes())
        .map(SecretBytes::new)
        .map_err(|_| "material is neither base64 nor a PEM block".to_owned())
}

/// The write-ahead hook of a seed: each write's intent is a `TrentSeed` service event's.
struct SeedIntents {
    events: crate::service_events::AuditEvents,
    id: String,
}

impl trent_core::WriteAhead for SeedIntents {
    fn intend<'a>(
        &'a self,
        intent: &'a trent_core::Intent,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), String>> + Send + 'a>> {
        use trent_core::ServiceEventSink as _;
        self.events.intend("TrentSeed", &self.id, intent)
    }
}

/// Applies the seed under its write-ahead hook, then records a `TrentSeed` service event
/// with what it made (no material, no policy).
pub async fn apply(
    service: &trent_core::KeyService,
    log: &trent_audit::AuditLog,
    keys: &[trent_core::SeedKey],
) -> Result<trent_core::SeedReport, String> {
    let id = uuid::Uuid::new_v4().hyphenated().to_string();
    let hook = std::sync::Arc::new(SeedIntents {
        events: crate::service_events::AuditEvents { log: log.clone() },
        id: id.clone(),
    });
    let report = trent_core::write_ahead::scope(hook, service.apply_seed(keys)).await?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    let account = keys.first().map_or("", |k| k.account_id.as_str());
    let mut record = trent_audit::Record::service_event(
        "TrentSeed",
        account,
        "",
        "",
        Some(serde_json::json!({
            "keys": keys.iter().map(|k| k.id.as_str()).collect::<Vec<_>>(),
            "created": report.created,
            "existing": report.existing,
            "aliasesCreated": report.aliases,
        })),
        now,
    );
    record.shared_event_id = Some(id);
    log.record(&record).await.map_err(|e| e.to_string())?;
    Ok(report)
}
