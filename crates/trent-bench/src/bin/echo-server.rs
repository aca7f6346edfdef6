//! `echo-server`: the floor trent-bench compares a KMS server with. It answers every
//! `POST /` with the request body as `application/x-amz-json-1.1`, status 200, checking
//! nothing (no signature, no target, no JSON), on the same HTTP stack (axum over hyper,
//! TCP_NODELAY) as the server. It prints `listening on http://ADDR` once it accepts
//! connections, so that `--listen 127.0.0.1:0` can be used by tests. Never expose it
//! beyond loopback: it is a benchmark fixture, not a service.

use std::io::Write as _;
use std::net::SocketAddr;
use std::process::ExitCode;

use axum::body::Bytes;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use axum::routing::post;
use axum::serve::ListenerExt as _;
use axum::Router;
use clap::Parser;

/// Echo server for trent-bench baselines.
#[derive(Parser, Debug)]
#[command(name = "echo-server", version)]
struct Args {
    /// Address to listen on (port 0: any free port).
    #[arg(long, default_value = "127.0.0.1:4597")]
    listen: SocketAddr,
}

async fn echo(body: Bytes) -> impl IntoResponse {
    ([(CONTENT_TYPE, "application/x-amz-json-1.1")], body)
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let listener = match tokio::net::TcpListener::bind(args.listen).await {
        Ok(listener) => listener,
        Err(e) => {
            eprintln!("echo-server: cannot listen on {}: {e}", args.listen);
            return ExitCode::FAILURE;
        }
    };
    let address = match listener.local_addr() {
        Ok(address) => address,
        Err(e) => {
            eprintln!("echo-server: {e}");
            return ExitCode::FAILURE;
        }
    };
    let listener = listener.tap_io(|tcp| {
        // Small request/response exchanges must not wait on Nagle's algorithm; a
        // failure only costs latency, so it is not fatal.
        let _ = tcp.set_nodelay(true);
    });
    println!("listening on http://{address}");
    let _ = std::io::stdout().flush();
    let app = Router::new().route("/", post(echo));
    match axum::serve(listener, app).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("echo-server: {e}");
            ExitCode::FAILURE
        }
    }
}
