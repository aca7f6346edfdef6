//! `trent`: a self-hosted key management service that speaks the AWS KMS API.
//!
//! This binary parses the command line, sets up logging and the async runtime, and calls
//! into the `trent_server` library, which owns everything else (configuration, data
//! directory, root key, store, key service, SigV4, HTTP).

use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches};
use trent_server::config::{Cli, Command, Config, RootKeyCommand};
use trent_server::{audit, backup, migrate, root_migrate, serve};

/// mimalloc: per-thread free lists without glibc's arena locks, which the request path
/// (worker threads) and the audit writer (a blocking-pool thread freeing what workers
/// allocated) contended on (BENCHMARKS.md, issue 17).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = parse_command_line();
    // A server sets up its logging once its configuration says where spans go.
    if !matches!(cli.command, Command::Serve(_)) {
        if let Err(e) = trent_server::logging::init(None) {
            eprintln!("trent: error: {e}");
            return ExitCode::FAILURE;
        }
    }
    let result = match cli.command {
        Command::Serve(args) => Config::resolve(*args).and_then(serve_with_logging),
        Command::MigrateStore(args) => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start the async runtime: {e}"))
            .and_then(|rt| rt.block_on(migrate::migrate_store(&args.data_dir, &args.to))),
        Command::RootKey(RootKeyCommand::Migrate(args)) => {
            tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .map_err(|e| format!("cannot start the async runtime: {e}"))
                .and_then(|rt| rt.block_on(root_migrate::migrate(args)))
        }
        Command::Audit(args) => match audit::run(args) {
            Ok(true) => Ok(()),
            Ok(false) => return ExitCode::FAILURE,
            Err(e) => Err(e),
        },
        Command::Backup(args) => runtime().and_then(|rt| rt.block_on(backup::backup(args))),
        Command::Restore(args) => runtime().and_then(|rt| rt.block_on(backup::restore(args))),
        Command::Probe(args) => match trent_server::probe::run(&args) {
            Ok(true) => Ok(()),
            Ok(false) => return ExitCode::FAILURE,
            Err(e) => Err(e),
        },
        Command::Completions(args) => {
            let mut command = Cli::command();
            clap_complete::generate(args.shell, &mut command, "trent", &mut std::io::stdout());
            Ok(())
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("trent: error: {message}");
            ExitCode::FAILURE
        }
    }
}

/// The command line, with `--version` naming the cryptographic provider and whether it
/// runs in FIPS mode: `trent 0.1.0 (AWS-LC 5.12.0 (aws-lc-rs), FIPS mode off)`.
fn parse_command_line() -> Cli {
    let version = format!(
        "{} ({})",
        env!("CARGO_PKG_VERSION"),
        trent_crypto::Provider::current()
    );
    // Once per process: clap keeps the text for the life of the command.
    let version: &'static str = Box::leak(version.into_boxed_str());
    let matches = Cli::command().version(version).get_matches();
    Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit())
}

/// Sets up logging (and span export) and serves `config` until the server stops; then
/// sends the spans still queued.
fn serve_with_logging(config: Config) -> Result<(), String> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))?;
    let otlp = config.otlp.as_ref().map(|o| (o, runtime.handle().clone()));
    let exporter = trent_server::logging::init(otlp)?;
    let result = runtime.block_on(serve::serve(config));
    if let Some(exporter) = exporter {
        // Blocking (it waits for the last export, which runs on the runtime).
        let _ = runtime.block_on(runtime.spawn_blocking(move || exporter.shutdown()));
    }
    result
}

/// A runtime for a one-shot command.
fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))
}
