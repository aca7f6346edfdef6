//! The AWS CLI as tests run it: isolated from the machine's AWS configuration, so that a
//! developer's profile, credentials, region or endpoint never decides a test's outcome.
//!
//! Every test that runs `aws` (or a shell script that runs it, such as the README's quick
//! start) builds its command with [`aws_cli_command`]; what a test deliberately leaves to
//! the CLI's own files or to the script (credentials, region) is a field of [`AwsCliEnv`].

use std::path::Path;
use std::process::Command;

/// The environment variables through which the AWS CLI finds a profile, credentials, a
/// region or an endpoint: all removed, then set only as [`AwsCliEnv`] says.
const AWS_VARIABLES: [&str; 14] = [
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_STS",
    "AWS_ENDPOINT_URL_KMS",
    "AWS_ENDPOINT_URL_CLOUDTRAIL",
    "AWS_ENDPOINT_URL_S3",
    "AWS_CONFIG_FILE",
    "AWS_SHARED_CREDENTIALS_FILE",
];

/// A file path that exists nowhere: the CLI then reads no config or credentials file.
const NO_CONFIG_FILE: &str = "/nonexistent/aws-config";
const NO_CREDENTIALS_FILE: &str = "/nonexistent/aws-credentials";

/// What a test gives the AWS CLI through its environment; everything else is unset.
#[derive(Debug, Clone, Copy, Default)]
pub struct AwsCliEnv<'a> {
    /// `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY`. `None`: the CLI must find
    /// credentials in its files (or the script run sets them).
    pub credentials: Option<(&'a str, &'a str)>,
    /// `AWS_DEFAULT_REGION`. `None`: each command must name its region (`--region`, a
    /// profile's `region`).
    pub region: Option<&'a str>,
    /// `AWS_CONFIG_FILE`; `None`: a path that does not exist.
    pub config_file: Option<&'a Path>,
    /// `AWS_SHARED_CREDENTIALS_FILE`; `None`: a path that does not exist.
    pub credentials_file: Option<&'a Path>,
    /// `HOME`, for a test whose CLI writes there (the assume-role provider caches its
    /// credentials under `~/.aws/cli/cache`). `None`: inherited.
    pub home: Option<&'a Path>,
}

/// `program` (`aws`, or a shell that runs it) with the AWS CLI's environment isolated as
/// `env` says. Arguments, the working directory and any further variable (an
/// `AWS_ENDPOINT_URL_STS` a test sets on purpose) are the caller's to add.
pub fn aws_cli_command(program: &str, env: &AwsCliEnv<'_>) -> Command {
    let mut cmd = Command::new(program);
    for var in AWS_VARIABLES {
        cmd.env_remove(var);
    }
    cmd.env(
        "AWS_CONFIG_FILE",
        env.config_file.unwrap_or(Path::new(NO_CONFIG_FILE)),
    )
    .env(
        "AWS_SHARED_CREDENTIALS_FILE",
        env.credentials_file
            .unwrap_or(Path::new(NO_CREDENTIALS_FILE)),
    );
    if let Some((key, secret)) = env.credentials {
        cmd.env("AWS_ACCESS_KEY_ID", key)
            .env("AWS_SECRET_ACCESS_KEY", secret);
    }
    if let Some(region) = env.region {
        cmd.env("AWS_DEFAULT_REGION", region);
    }
    if let Some(home) = env.home {
        cmd.env("HOME", home);
    }
    cmd
}
