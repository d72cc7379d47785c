//! An HTTP CONNECT proxy on 127.0.0.1 that really tunnels, as a corporate
//! proxy or Azure Firewall's explicit proxy does, and records what it saw.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

/// The password `TunnelProxy::authenticating` wants, for user `kvinit`.
pub const PASSWORD: &str = "pr0xy-pa55";
/// Its `Proxy-Authorization`: "Basic " and base64 of "kvinit:pr0xy-pa55".
pub const AUTHORIZATION: &str = "Basic a3Zpbml0OnByMHh5LXBhNTU=";

/// One CONNECT the proxy was asked for.
#[derive(Debug, Clone)]
pub struct Tunnel {
    /// `host:port` from the request line.
    pub target: String,
    /// The `Proxy-Authorization` header, if any.
    pub authorization: Option<String>,
    /// The status the proxy answered.
    pub status: u16,
}

#[derive(Default)]
struct Seen {
    tunnels: Vec<Tunnel>,
    /// Every byte carried through a tunnel, both ways.
    carried: Vec<u8>,
}

pub struct TunnelProxy {
    port: u16,
    seen: Arc<Mutex<Seen>>,
}

impl TunnelProxy {
    /// A proxy that opens any tunnel; with `authorization` (a whole
    /// `Proxy-Authorization` value), only for a CONNECT carrying it,
    /// answering 407 otherwise.
    pub fn start(authorization: Option<&str>) -> TunnelProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("binding the proxy");
        let port = listener.local_addr().unwrap().port();
        let seen = Arc::new(Mutex::new(Seen::default()));
        let expected = authorization.map(str::to_string);
        let s = seen.clone();
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let (s, expected) = (s.clone(), expected.clone());
                std::thread::spawn(move || {
                    let _ = serve(client, expected.as_deref(), &s);
                });
            }
        });
        TunnelProxy { port, seen }
    }

    /// A proxy that wants user `kvinit` with `PASSWORD`.
    pub fn authenticating() -> TunnelProxy {
        TunnelProxy::start(Some(AUTHORIZATION))
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The URL with user `kvinit` and `password` in it.
    pub fn url_with_password(&self, password: &str) -> String {
        format!("http://kvinit:{password}@127.0.0.1:{}", self.port)
    }

    pub fn tunnels(&self) -> Vec<Tunnel> {
        self.seen.lock().unwrap().tunnels.clone()
    }

    /// Every byte carried through the tunnels so far, both ways.
    pub fn carried(&self) -> Vec<u8> {
        self.seen.lock().unwrap().carried.clone()
    }
}

fn serve(mut client: TcpStream, expected: Option<&str>, seen: &Arc<Mutex<Seen>>) -> io::Result<()> {
    let head = read_head(&mut client)?;
    let mut lines = head.split("\r\n");
    let request_line = lines.next().unwrap_or_default().to_string();
    let authorization = lines
        .filter_map(|l| l.split_once(':'))
        .find(|(name, _)| name.eq_ignore_ascii_case("proxy-authorization"))
        .map(|(_, v)| v.trim().to_string());
    let target = match request_line.split(' ').collect::<Vec<_>>()[..] {
        ["CONNECT", target, _] => target.to_string(),
        _ => return client.write_all(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n"),
    };
    let allowed = expected.is_none() || authorization.as_deref() == expected;
    let status = if allowed { 200 } else { 407 };
    seen.lock().unwrap().tunnels.push(Tunnel { target: target.clone(), authorization, status });
    if !allowed {
        return client.write_all(
            b"HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm=\"test\"\r\n\
              Content-Length: 0\r\nConnection: close\r\n\r\n",
        );
    }
    let upstream = TcpStream::connect(&target)?;
    client.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")?;
    let (c2, u2) = (client.try_clone()?, upstream.try_clone()?);
    let s = seen.clone();
    let up = std::thread::spawn(move || pump(c2, u2, &s));
    pump(upstream, client, seen);
    let _ = up.join();
    Ok(())
}

/// Copies `from` to `to` until `from` ends, recording the bytes.
fn pump(mut from: TcpStream, mut to: TcpStream, seen: &Arc<Mutex<Seen>>) {
    let mut buf = [0u8; 16 * 1024];
    while let Ok(n @ 1..) = from.read(&mut buf) {
        seen.lock().unwrap().carried.extend_from_slice(&buf[..n]);
        if to.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    let _ = to.shutdown(Shutdown::Write);
}

/// The request head, read byte by byte so nothing after it is consumed.
fn read_head(stream: &mut TcpStream) -> io::Result<String> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if stream.read(&mut byte)? == 0 || head.len() > 16 * 1024 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        head.push(byte[0]);
    }
    Ok(String::from_utf8_lossy(&head).into_owned())
}
