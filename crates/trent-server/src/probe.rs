//! `trent probe [healthz|readyz]`: one `GET` to a running server's admin listener, for a
//! container's `HEALTHCHECK` or a script (no curl in a minimal image). Exit 0 on 200.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use crate::config::{ProbeArgs, DEFAULT_ADMIN_LISTEN};

/// Whether the server answered 200; `Err` when it could not be asked.
pub fn run(args: &ProbeArgs) -> Result<bool, String> {
    let text = args
        .admin_listen
        .clone()
        .unwrap_or_else(|| DEFAULT_ADMIN_LISTEN.to_owned());
    if text == "off" {
        return Err("the admin listener is off (TRENT_ADMIN_LISTEN=off): nothing to ask".into());
    }
    let mut addr: SocketAddr = text
        .parse()
        .map_err(|_| format!("invalid admin address {text:?}: expected IP:PORT"))?;
    // A server listening on every address is asked on loopback.
    if addr.ip().is_unspecified() {
        addr.set_ip(match addr {
            SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        });
    }
    let timeout = Duration::from_millis(args.timeout_ms.max(1));
    let mut stream = TcpStream::connect_timeout(&addr, timeout)
        .map_err(|e| format!("cannot reach {addr}: {e}"))?;
    stream
        .set_read_timeout(Some(timeout))
        .and_then(|()| stream.set_write_timeout(Some(timeout)))
        .map_err(|e| format!("{addr}: {e}"))?;
    write!(
        stream,
        "GET /{} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n",
        args.check
    )
    .map_err(|e| format!("{addr}: {e}"))?;
    let mut answer = Vec::new();
    stream
        .take(64 * 1024)
        .read_to_end(&mut answer)
        .map_err(|e| format!("{addr}: {e}"))?;
    let answer = String::from_utf8_lossy(&answer);
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
    let status = head.split(' ').nth(1).unwrap_or("");
    if status == "200" {
        println!("{}: {}", args.check, body.trim());
        Ok(true)
    } else {
        eprintln!("{}: {status} {}", args.check, body.trim());
        Ok(false)
    }
}
