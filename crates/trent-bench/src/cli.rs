//! The command line, and the checked [`Config`] a run is made from.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use trent_sigv4::Credentials;

use crate::credentials::{self, CredentialSources};
use crate::duration::{parse_duration, parse_positive_duration};
use crate::endpoint::Endpoint;
use crate::kms::{self, Op};
use crate::run::Plan;
use crate::BenchError;

/// Load generator for AWS KMS endpoints (Trent, AWS, LocalStack...): SigV4-signed JSON 1.1
/// requests over keep-alive HTTP/1.1 connections, one per worker, back-to-back.
#[derive(Parser)]
#[command(name = "trent-bench", version)]
pub struct Args {
    /// KMS endpoint: http(s)://host[:port]. Defaults to a local Trent.
    #[arg(long, default_value = "http://127.0.0.1:4599")]
    pub endpoint: String,
    /// Region of the SigV4 credential scope.
    #[arg(long, env = "AWS_REGION", default_value = "us-east-1")]
    pub region: String,
    /// Operation to load.
    #[arg(long, value_enum)]
    pub op: Op,
    /// Concurrent workers, one connection each.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub concurrency: u32,
    /// Measured time after the warmup: 10s, 500ms, 2m, 1m30s (at most 600s).
    #[arg(long, default_value = "10s", value_parser = parse_positive_duration)]
    pub duration: Duration,
    /// Time spent loading before measuring (at most 600s; 0s for none).
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    pub warmup: Duration,
    /// Encrypt/Decrypt plaintext bytes (1-4096), GenerateRandom NumberOfBytes (1-1024);
    /// GenerateDataKey always asks for an AES_256 data key; CreateKey creates a new
    /// symmetric key per request (the keys are left in place).
    #[arg(long, default_value_t = 256)]
    pub payload_size: usize,
    /// Key id, key ARN, alias name or alias ARN; without it a key is created first
    /// (CreateKey) and scheduled for deletion after the run.
    #[arg(long)]
    pub key_id: Option<String>,
    /// Encrypt or GenerateDataKey on many keys: a file of key ids (or ARNs, or alias
    /// names), one per line; each request names one picked uniformly at random.
    #[arg(long, conflicts_with = "key_id")]
    pub key_ids_file: Option<PathBuf>,
    /// CreateKey: append the id of every key the run creates (warmup included) to this
    /// file, one per line.
    #[arg(long)]
    pub key_ids_out: Option<PathBuf>,
    /// Sign: the key spec of the signing key (created with it, or the spec of --key-id),
    /// which picks the signing algorithm: ECC_NIST_P256 (ECDSA_SHA_256), RSA_2048
    /// (RSASSA_PSS_SHA_256), ML_DSA_65 (ML_DSA_SHAKE_256), ...
    #[arg(long, default_value = "ECC_NIST_P256")]
    pub key_spec: String,
    /// GenerateDataKeyPair: the DataKeyPairSpec (RSA_2048, ECC_NIST_P256, ...).
    #[arg(long, default_value = "ECC_NIST_P256")]
    pub key_pair_spec: String,
    /// Print one JSON object instead of the human summary.
    #[arg(long)]
    pub json: bool,
    /// Access key id; with --secret-access-key, wins over any credentials file.
    #[arg(long, env = "AWS_ACCESS_KEY_ID", hide_env_values = true)]
    pub access_key_id: Option<String>,
    /// Secret access key (prefer the environment variable: flags show in `ps`).
    #[arg(long, env = "AWS_SECRET_ACCESS_KEY", hide_env_values = true)]
    pub secret_access_key: Option<String>,
    /// Session token of temporary credentials given with --access-key-id.
    #[arg(long, env = "AWS_SESSION_TOKEN", hide_env_values = true)]
    pub session_token: Option<String>,
    /// Profile of the shared credentials file, used when no access key is given.
    #[arg(long, env = "AWS_PROFILE", default_value = "default")]
    pub profile: String,
    /// Shared credentials file (INI); default ~/.aws/credentials.
    #[arg(long, env = "AWS_SHARED_CREDENTIALS_FILE")]
    pub credentials_file: Option<PathBuf>,
}

impl fmt::Debug for Args {
    /// By hand, so that the secret access key and session token never print.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let redacted = |v: &Option<String>| v.as_ref().map(|_| "[REDACTED]");
        f.debug_struct("Args")
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("op", &self.op)
            .field("concurrency", &self.concurrency)
            .field("duration", &self.duration)
            .field("warmup", &self.warmup)
            .field("payload_size", &self.payload_size)
            .field("key_id", &self.key_id)
            .field("key_ids_file", &self.key_ids_file)
            .field("key_ids_out", &self.key_ids_out)
            .field("key_spec", &self.key_spec)
            .field("key_pair_spec", &self.key_pair_spec)
            .field("json", &self.json)
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &redacted(&self.secret_access_key))
            .field("session_token", &redacted(&self.session_token))
            .field("profile", &self.profile)
            .field("credentials_file", &self.credentials_file)
            .finish()
    }
}

/// A checked run: endpoint parsed, payload size within the operation's limits,
/// credentials resolved.
pub struct Config {
    pub endpoint: Endpoint,
    pub region: String,
    pub op: Op,
    pub plan: Plan,
    pub payload_size: usize,
    pub key_id: Option<String>,
    /// Pick each request's key from this file's ids (Encrypt, GenerateDataKey).
    pub key_ids_file: Option<PathBuf>,
    /// Where a CreateKey run appends the ids of the keys it made.
    pub key_ids_out: Option<PathBuf>,
    /// The key spec of a Sign run's key, or the DataKeyPairSpec of a
    /// GenerateDataKeyPair run (empty for the other operations).
    pub spec: String,
    pub credentials: Credentials,
    pub json: bool,
}

impl Config {
    /// Checks `args`; `home` is where `~/.aws/credentials` is looked for.
    pub fn from_args(args: Args, home: Option<PathBuf>) -> Result<Self, BenchError> {
        let endpoint = Endpoint::parse(&args.endpoint)?;
        if let Some(range) = args.op.payload_range() {
            if !range.contains(&args.payload_size) {
                return Err(BenchError::PayloadSize {
                    op: args.op.cli_name(),
                    size: args.payload_size,
                    min: *range.start(),
                    max: *range.end(),
                });
            }
        }
        if args.key_ids_file.is_some() && !matches!(args.op, Op::Encrypt | Op::GenerateDataKey) {
            return Err(BenchError::Option {
                option: "--key-ids-file",
                ops: "encrypt and generate-data-key",
            });
        }
        if args.key_ids_out.is_some() && args.op != Op::CreateKey {
            return Err(BenchError::Option {
                option: "--key-ids-out",
                ops: "create-key",
            });
        }
        let spec = match args.op {
            Op::Sign => {
                if kms::signing_algorithm(&args.key_spec).is_none() {
                    return Err(BenchError::Spec {
                        option: "--key-spec",
                        value: args.key_spec,
                        allowed: kms::SIGNING_SPECS.iter().map(|(s, _)| *s).collect(),
                    });
                }
                args.key_spec
            }
            Op::GenerateDataKeyPair => {
                if !kms::DATA_KEY_PAIR_SPECS.contains(&args.key_pair_spec.as_str()) {
                    return Err(BenchError::Spec {
                        option: "--key-pair-spec",
                        value: args.key_pair_spec,
                        allowed: kms::DATA_KEY_PAIR_SPECS.to_vec(),
                    });
                }
                args.key_pair_spec
            }
            _ => String::new(),
        };
        let credentials = credentials::resolve(&CredentialSources {
            access_key_id: args.access_key_id.as_deref(),
            secret_access_key: args.secret_access_key.as_deref(),
            session_token: args.session_token.as_deref(),
            profile: &args.profile,
            credentials_file: args.credentials_file.as_deref(),
            home: home.as_deref(),
        })?;
        Ok(Self {
            endpoint,
            region: args.region,
            op: args.op,
            plan: Plan {
                concurrency: args.concurrency,
                warmup: args.warmup,
                duration: args.duration,
            },
            payload_size: args.payload_size,
            key_id: args.key_id.filter(|k| !k.is_empty()),
            key_ids_file: args.key_ids_file,
            key_ids_out: args.key_ids_out,
            spec,
            credentials,
            json: args.json,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEYS: [&str; 4] = ["--access-key-id", "AKID", "--secret-access-key", "s3cr3t"];

    fn args(extra: &[&str]) -> Result<Args, clap::Error> {
        let mut argv = vec!["trent-bench"];
        argv.extend(KEYS);
        argv.extend(extra);
        Args::try_parse_from(argv)
    }

    #[test]
    fn defaults_match_the_documented_command_line() {
        let a = args(&["--op", "encrypt"]).unwrap();
        assert_eq!(a.endpoint, "http://127.0.0.1:4599");
        assert_eq!(a.concurrency, 64);
        assert_eq!(a.duration, Duration::from_secs(10));
        assert_eq!(a.warmup, Duration::from_secs(2));
        assert_eq!(a.payload_size, 256);
        assert!(!a.json);
        let a = args(&[
            "--op",
            "generate-data-key",
            "--duration",
            "1m",
            "--warmup",
            "0s",
            "--json",
        ])
        .unwrap();
        assert_eq!(a.op, Op::GenerateDataKey);
        assert_eq!(a.duration, Duration::from_secs(60));
        assert_eq!(a.warmup, Duration::ZERO);
        assert!(a.json);
    }

    #[test]
    fn refuses_unbounded_or_empty_runs() {
        assert!(args(&["--op", "encrypt", "--duration", "601s"]).is_err());
        assert!(args(&["--op", "encrypt", "--duration", "0s"]).is_err());
        assert!(args(&["--op", "encrypt", "--warmup", "11m"]).is_err());
        assert!(args(&["--op", "encrypt", "--concurrency", "0"]).is_err());
        assert!(args(&["--op", "verify"]).is_err());
        assert!(args(&[]).is_err());
    }

    #[test]
    fn key_id_files_only_where_they_mean_something() {
        let config = |extra: &[&str]| Config::from_args(args(extra).unwrap(), None);
        assert!(config(&["--op", "encrypt", "--key-ids-file", "/k"]).is_ok());
        assert!(config(&["--op", "generate-data-key", "--key-ids-file", "/k"]).is_ok());
        assert!(config(&["--op", "create-key", "--key-ids-out", "/k"]).is_ok());
        for extra in [
            &["--op", "decrypt", "--key-ids-file", "/k"][..],
            &["--op", "sign", "--key-ids-file", "/k"],
            &["--op", "encrypt", "--key-ids-out", "/k"],
        ] {
            assert!(
                matches!(config(extra), Err(BenchError::Option { .. })),
                "{extra:?}"
            );
        }
        assert!(args(&["--op", "encrypt", "--key-id", "k", "--key-ids-file", "/k"]).is_err());
    }

    #[test]
    fn checks_payload_size_per_operation() {
        let config = |extra: &[&str]| Config::from_args(args(extra).unwrap(), None);
        assert!(config(&["--op", "encrypt", "--payload-size", "4096"]).is_ok());
        assert!(matches!(
            config(&["--op", "encrypt", "--payload-size", "4097"]),
            Err(BenchError::PayloadSize { max: 4096, .. })
        ));
        assert!(matches!(
            config(&["--op", "generate-random", "--payload-size", "1025"]),
            Err(BenchError::PayloadSize { max: 1024, .. })
        ));
        assert!(matches!(
            config(&["--op", "decrypt", "--payload-size", "0"]),
            Err(BenchError::PayloadSize { min: 1, .. })
        ));
        assert!(config(&["--op", "generate-data-key", "--payload-size", "0"]).is_ok());
        assert!(matches!(
            config(&["--op", "encrypt", "--endpoint", "127.0.0.1:1"]),
            Err(BenchError::Endpoint { .. })
        ));
    }

    #[test]
    fn checks_the_specs_of_sign_and_data_key_pair_runs() {
        let config = |extra: &[&str]| Config::from_args(args(extra).unwrap(), None);
        let c = config(&["--op", "sign"]).unwrap();
        assert_eq!(c.spec, "ECC_NIST_P256");
        let c = config(&["--op", "sign", "--key-spec", "ML_DSA_65"]).unwrap();
        assert_eq!(c.spec, "ML_DSA_65");
        assert!(matches!(
            config(&["--op", "sign", "--key-spec", "HMAC_256"]),
            Err(BenchError::Spec {
                option: "--key-spec",
                ..
            })
        ));
        assert!(matches!(
            config(&["--op", "sign", "--payload-size", "4097"]),
            Err(BenchError::PayloadSize { max: 4096, .. })
        ));
        let c = config(&[
            "--op",
            "generate-data-key-pair",
            "--key-pair-spec",
            "RSA_2048",
        ])
        .unwrap();
        assert_eq!(c.spec, "RSA_2048");
        assert!(matches!(
            config(&[
                "--op",
                "generate-data-key-pair",
                "--key-pair-spec",
                "ML_DSA_65"
            ]),
            Err(BenchError::Spec { .. })
        ));
        assert_eq!(config(&["--op", "encrypt"]).unwrap().spec, "");
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let a = args(&["--op", "encrypt", "--session-token", "t0k3n"]).unwrap();
        let debug = format!("{a:?}");
        assert!(debug.contains("AKID"));
        assert!(!debug.contains("s3cr3t"));
        assert!(!debug.contains("t0k3n"));
    }
}
