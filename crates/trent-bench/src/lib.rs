//! `trent-bench`: a load generator for Trent or any AWS KMS endpoint. It sends
//! SigV4-signed KMS JSON 1.1 requests (Encrypt, Decrypt, GenerateDataKey,
//! GenerateRandom, Sign, GenerateDataKeyPair) back-to-back over one keep-alive HTTP/1.1 connection per worker, and
//! reports successes, errors by exception name, throughput and a latency histogram. It
//! also ships `echo-server`, the do-nothing HTTP floor a KMS server is compared with.
//!
//! It must never run unbounded (every run ends by itself after warmup + duration, at
//! most 600 s each), never target anything but the endpoint it is given (the default is
//! loopback), and never print, log or write a secret access key or session token.

pub mod cli;
pub mod credentials;
pub mod duration;
pub mod endpoint;
pub mod kms;
pub mod report;
pub mod run;

use std::sync::Arc;

use trent_sigv4::Signer;

use crate::cli::Config;
use crate::endpoint::Connector;
use crate::kms::{operation_body, Client, Op, RequestTemplate};
use crate::report::Summary;
use crate::run::{Measurement, Plan};

/// Everything that stops a run.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error("invalid endpoint '{endpoint}': {reason}")]
    Endpoint {
        endpoint: String,
        reason: &'static str,
    },
    #[error("{option} is for {ops} only")]
    Option {
        option: &'static str,
        ops: &'static str,
    },
    #[error("cannot read the key ids in {path}: {source}")]
    KeyIdsFile {
        path: String,
        source: std::io::Error,
    },
    #[error("{path} holds no key id")]
    NoKeyIds { path: String },
    #[error("cannot write the created key ids to {path}: {source}")]
    KeyIdsOut {
        path: String,
        source: std::io::Error,
    },
    #[error("{option} {value} is not one of {}", allowed.join(", "))]
    Spec {
        option: &'static str,
        value: String,
        allowed: Vec<&'static str>,
    },
    #[error("--payload-size {size} is out of range for {op}: {min} to {max} bytes")]
    PayloadSize {
        op: &'static str,
        size: usize,
        min: usize,
        max: usize,
    },
    #[error(transparent)]
    Credentials(#[from] credentials::CredentialsError),
    #[error("cannot connect to {address}: {source}")]
    Connect {
        address: String,
        source: std::io::Error,
    },
    #[error("no usable root certificates found on this system for https endpoints")]
    NoRootCertificates,
    #[error("TLS configuration: {0}")]
    Tls(rustls::Error),
    #[error("HTTP: {0}")]
    Http(hyper::Error),
    #[error("cannot build the request: {0}")]
    Request(#[from] http::Error),
    #[error("cannot encode the request body: {0}")]
    Json(serde_json::Error),
    #[error("{operation} got no response within 30 s")]
    Timeout { operation: &'static str },
    #[error("{operation} failed: HTTP {status} {error_type}\n{body}")]
    Rejected {
        operation: &'static str,
        status: u16,
        error_type: String,
        body: String,
    },
    #[error("the first {operation} request failed: HTTP {status} {error_type}\n{body}")]
    FirstRequestFailed {
        operation: &'static str,
        status: u16,
        error_type: String,
        body: String,
    },
    #[error("unexpected {operation} response: {reason}")]
    UnexpectedResponse {
        operation: &'static str,
        reason: &'static str,
    },
    #[error("cannot set up the latency histogram")]
    Histogram,
    #[error("a load worker stopped unexpectedly")]
    WorkerFailed,
}

/// A finished run: the summary and the detail behind its error count.
#[derive(Debug)]
pub struct Report {
    pub summary: Summary,
    pub measurement: Measurement,
}

impl Report {
    /// Whether the run must be reported as failed: stopped early or more than 1% errors.
    pub fn failed(&self) -> bool {
        self.measurement.aborted.is_some() || self.measurement.error_rate_exceeded()
    }
}

/// Runs the benchmark `config` describes. Progress notes go to `note` (the binary sends
/// them to stderr, keeping stdout for the summary).
pub async fn execute(config: Config, note: &dyn Fn(&str)) -> Result<Report, BenchError> {
    let connector = Connector::new(config.endpoint)?;
    let signer = Signer::new(config.credentials, &config.region, "kms");
    let client = Arc::new(Client::new(connector, signer)?);
    let op = config.op;

    let key_ids = match &config.key_ids_file {
        None => None,
        Some(path) => Some(read_key_ids(path)?),
    };
    let (key_id, created) = match (op.needs_key(), config.key_id) {
        (false, _) => (None, false),
        (true, None) if key_ids.is_some() => (None, false),
        (true, Some(key_id)) => (Some(key_id), false),
        (true, None) => {
            let (key_spec, key_usage) = op.key_to_create(&config.spec);
            let key_id = client.create_key(key_spec, key_usage).await?;
            note(&format!("created key {key_id} for this run"));
            (Some(key_id), true)
        }
    };
    note(&format!(
        "{}{} on {}: {} workers, warmup {:.1} s, measuring {:.1} s",
        op.operation(),
        if config.spec.is_empty() {
            String::new()
        } else {
            format!(" ({})", config.spec)
        },
        client.endpoint().authority,
        config.plan.concurrency,
        config.plan.warmup.as_secs_f64(),
        config.plan.duration.as_secs_f64()
    ));
    let result = load(
        &client,
        op,
        key_id.as_deref(),
        key_ids,
        (config.payload_size, &config.spec),
        config.plan,
        config.key_ids_out.is_some(),
    )
    .await;
    if let (true, Some(key_id)) = (created, key_id.as_deref()) {
        match client.schedule_key_deletion(key_id).await {
            Ok(()) => note(&format!("scheduled key {key_id} for deletion in 7 days")),
            Err(e) => note(&format!(
                "warning: could not schedule key {key_id} for deletion: {e}"
            )),
        }
    }
    let mut measurement = result?;
    if let Some(path) = &config.key_ids_out {
        write_key_ids(path, &measurement.created_key_ids)?;
        note(&format!(
            "appended {} key ids to {}",
            measurement.created_key_ids.len(),
            path.display()
        ));
        measurement.created_key_ids = Vec::new();
    }
    Ok(Report {
        summary: Summary::new(op.cli_name(), config.plan.concurrency, &measurement),
        measurement,
    })
}

/// The key ids of a `--key-ids-file`: one per line, blank lines skipped.
fn read_key_ids(path: &std::path::Path) -> Result<Vec<String>, BenchError> {
    let text = std::fs::read_to_string(path).map_err(|source| BenchError::KeyIdsFile {
        path: path.display().to_string(),
        source,
    })?;
    let ids: Vec<String> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect();
    if ids.is_empty() {
        return Err(BenchError::NoKeyIds {
            path: path.display().to_string(),
        });
    }
    Ok(ids)
}

fn write_key_ids(path: &std::path::Path, ids: &[String]) -> Result<(), BenchError> {
    use std::io::Write as _;
    let failed = |source| BenchError::KeyIdsOut {
        path: path.display().to_string(),
        source,
    };
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(failed)?;
    let mut out = std::io::BufWriter::new(file);
    for id in ids {
        writeln!(out, "{id}").map_err(failed)?;
    }
    out.flush().map_err(failed)
}

#[allow(clippy::too_many_arguments)]
async fn load(
    client: &Arc<Client>,
    op: Op,
    key_id: Option<&str>,
    key_ids: Option<Vec<String>>,
    (payload_size, spec): (usize, &str),
    plan: Plan,
    collect_key_ids: bool,
) -> Result<Measurement, BenchError> {
    let ciphertext = match (op, key_id) {
        (Op::Decrypt, Some(key_id)) => Some(client.encrypt_once(key_id, payload_size).await?),
        _ => None,
    };
    let first_key = key_ids
        .as_ref()
        .and_then(|ids| ids.first().map(String::as_str))
        .or(key_id);
    let body = operation_body(op, first_key, payload_size, ciphertext.as_deref(), spec);
    let template = RequestTemplate::new(op.operation(), &body)?;
    let spec = spec.to_owned();
    let workload = run::Workload {
        keys: key_ids.map(|key_ids| run::RandomKeys {
            key_ids,
            body: Box::new(move |key| operation_body(op, Some(key), payload_size, None, &spec)),
        }),
        collect_key_ids,
        template,
    };
    let template = &workload.template;

    // One request first: a misconfiguration (credentials, key, endpoint) shows as its
    // own error body instead of a run full of identical errors.
    let first = client.send_once(template).await?;
    if !first.is_success() {
        return Err(BenchError::FirstRequestFailed {
            operation: template.operation,
            status: first.status.as_u16(),
            error_type: first.error_type(),
            body: first.body_excerpt(),
        });
    }
    // The first request made a key too.
    let first_key_id = collect_key_ids
        .then(|| kms::created_key_id(&first.body))
        .flatten();
    let mut measurement = run::run(Arc::clone(client), workload, plan).await?;
    if let Some(id) = first_key_id {
        measurement.created_key_ids.insert(0, id);
    }
    Ok(measurement)
}
