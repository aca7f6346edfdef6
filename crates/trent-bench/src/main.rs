//! The `trent-bench` command: see the library's documentation and `--help`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use trent_bench::cli::{Args, Config};
use trent_bench::{execute, Report};

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let home = std::env::var_os("HOME").map(PathBuf::from);
    let config = match Config::from_args(args, home) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("trent-bench: {e}");
            return ExitCode::from(2);
        }
    };
    let json = config.json;
    let note = |message: &str| eprintln!("trent-bench: {message}");
    match execute(config, &note).await {
        Ok(report) => {
            if json {
                println!("{}", report.summary.json());
            } else {
                print!("{}", report.summary.human());
            }
            explain_errors(&report);
            if report.failed() {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(e) => {
            eprintln!("trent-bench: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Error detail goes to stderr, so that `--json` output stays one object on stdout.
fn explain_errors(report: &Report) {
    let m = &report.measurement;
    for (kind, count) in &m.error_types {
        eprintln!("trent-bench: {count} x {kind} (warmup included)");
    }
    if let Some(first) = &m.first_error {
        eprintln!("trent-bench: first error: {first}");
    }
    if m.abandoned > 0 {
        eprintln!(
            "trent-bench: {} requests still in flight 5 s after the end were abandoned",
            m.abandoned
        );
    }
    if let Some(totals) = m.aborted {
        eprintln!(
            "trent-bench: stopped early: {} of {} requests failed (more than 1%, warmup included)",
            totals.errors,
            totals.ok + totals.errors
        );
    } else if m.error_rate_exceeded() {
        eprintln!("trent-bench: failed: more than 1% of requests failed");
    }
}
