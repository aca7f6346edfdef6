//! Issue 13, item 7 (the slowloris and file-mode bullets): a client that drips its request
//! headers or body is disconnected; a root key others can read is refused at start with a
//! message naming the file and the fix; the data directory is tightened to 0700 and the
//! credentials file to 0600 at every start.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use trent_testkit::process::Launch;

use crate::harness::{credentials_path, TestServer};

/// Generous: the server closes after 300 ms; a debug build on a busy machine may be slow.
const BOUND: Duration = Duration::from_secs(30);

fn connect(server: &TestServer) -> TcpStream {
    let addr = server.endpoint().strip_prefix("http://").unwrap();
    let stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(BOUND)).unwrap();
    stream
}

/// Reads until the server closes the connection; what it sent before. Panics if the
/// connection is still open after [`BOUND`].
fn read_until_closed(stream: &mut TcpStream) -> String {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(e) => panic!(
                "the connection is still open ({e}); received {:?}",
                String::from_utf8_lossy(&out)
            ),
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test]
async fn a_client_dripping_its_headers_or_body_is_disconnected() {
    let server = TestServer::start_with(
        &[
            "--header-read-timeout-ms",
            "300",
            "--body-read-timeout-ms",
            "300",
        ],
        &[],
    );
    // Half a request line's headers, then nothing: closed without an answer.
    let mut stream = connect(&server);
    stream
        .write_all(b"POST / HTTP/1.1\r\nHost: localhost\r\nX-Amz-Target: TrentService.ListKeys\r\n")
        .unwrap();
    let got = read_until_closed(&mut stream);
    assert!(!got.contains("200 OK"), "{got}");

    // Headers complete, a body announced but only partly sent: the request fails and the
    // connection closes.
    let mut stream = connect(&server);
    stream
        .write_all(
            b"POST / HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/x-amz-json-1.1\r\nContent-Length: 100\r\n\r\n{\"Limit\":",
        )
        .unwrap();
    let got = read_until_closed(&mut stream);
    assert!(got.starts_with("HTTP/1.1 408"), "{got}");
    assert!(got.contains("RequestTimeoutException"), "{got}");

    // The server still serves.
    let resp = server.call("ListKeys", serde_json::json!({})).await;
    assert_eq!(resp.status, 200, "{}", resp.body_text());
}

/// `trent serve` on `dir`: whether it started listening (it is stopped at once), and its
/// stderr.
fn start_on(dir: &Path) -> (bool, String) {
    let run = Launch::serve().data_dir(dir).run();
    (run.listening, run.stderr)
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn set_mode(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

#[test]
fn file_modes_are_checked_and_tightened_at_every_start() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let (listening, stderr) = start_on(&dir);
    assert!(listening, "{stderr}");

    // Loosened since: the directory and the credentials file are tightened again.
    set_mode(&dir, 0o755);
    let credentials = credentials_path(&dir);
    set_mode(&credentials, 0o644);
    let (listening, stderr) = start_on(&dir);
    assert!(listening, "{stderr}");
    assert_eq!(mode(&dir), 0o700);
    assert_eq!(mode(&credentials), 0o600);

    // A root key group or others can read: refused, naming the file and the fix.
    let root = dir.join("root.key");
    set_mode(&root, 0o644);
    let (listening, stderr) = start_on(&dir);
    assert!(!listening, "trent started with a world-readable root key");
    let fix = format!("chmod 600 {}", root.display());
    assert!(stderr.contains(&fix), "{stderr}");
    set_mode(&root, 0o600);
    let (listening, stderr) = start_on(&dir);
    assert!(listening, "{stderr}");
}
