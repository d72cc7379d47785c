//! A small HTTP/1.1 server for the fakes: keep-alive, optional TLS, every
//! request recorded, replies that can misbehave on purpose, and faults
//! (latency, failing the next N requests) that can be set while it runs.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    pub path: String,
    /// Percent-decoded query pairs, in order.
    pub query: Vec<(String, String)>,
    /// Lower-cased names.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Which TCP connection carried it (0, 1, ...).
    pub connection: usize,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    pub fn param(&self, name: &str) -> Option<&str> {
        self.query.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

#[derive(Debug, Clone)]
pub enum Reply {
    Respond {
        status: u16,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    },
    /// Accept the request and never answer (until the server is dropped).
    Hang,
    /// Close the connection without a response.
    Close,
    /// Promise `Content-Length` bytes, send fewer, close.
    Truncated {
        status: u16,
        body: Vec<u8>,
        promised: usize,
    },
}

impl Reply {
    pub fn json(status: u16, body: &str) -> Reply {
        Reply::Respond {
            status,
            headers: vec![("Content-Type".into(), "application/json; charset=utf-8".into())],
            body: body.as_bytes().to_vec(),
        }
    }

    pub fn text(status: u16, body: &str) -> Reply {
        Reply::Respond {
            status,
            headers: vec![("Content-Type".into(), "text/plain".into())],
            body: body.as_bytes().to_vec(),
        }
    }

    pub fn with_header(mut self, name: &str, value: &str) -> Reply {
        if let Reply::Respond { headers, .. } = &mut self {
            headers.push((name.into(), value.into()));
        }
        self
    }
}

pub type Handler = Arc<dyn Fn(&Request) -> Reply + Send + Sync>;

struct Shared {
    requests: Mutex<Vec<Request>>,
    connections: AtomicUsize,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
    stop: AtomicBool,
    latency: Mutex<Duration>,
    /// Replies that pre-empt the handler, with how many times each is left.
    failures: Mutex<Option<(usize, Reply)>>,
    /// The next N connections wait this long before their first byte (a
    /// far-away or overloaded server's handshake).
    slow_connections: Mutex<(usize, Duration)>,
}

pub struct Server {
    addr: SocketAddr,
    shared: Arc<Shared>,
}

/// A handle that sets a running server's faults and reads its record; it
/// does not keep the server alive.
#[derive(Clone)]
pub struct Control(Arc<Shared>);

impl Server {
    /// Serves on a free port of 127.0.0.1.
    pub fn start(tls: Option<Arc<rustls::ServerConfig>>, handler: Handler) -> Server {
        Server::bind(0, tls, handler).expect("bind 127.0.0.1:0")
    }

    /// Serves on 127.0.0.1:`port`; 0 picks a free port.
    pub fn bind(port: u16, tls: Option<Arc<rustls::ServerConfig>>, handler: Handler) -> io::Result<Server> {
        Server::bind_addr(SocketAddr::from(([127, 0, 0, 1], port)), tls, handler)
    }

    /// Serves on `addr`, e.g. 169.254.169.254:80 in a private network namespace.
    pub fn bind_addr(
        addr: SocketAddr,
        tls: Option<Arc<rustls::ServerConfig>>,
        handler: Handler,
    ) -> io::Result<Server> {
        let listener = TcpListener::bind(addr)?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            requests: Mutex::new(Vec::new()),
            connections: AtomicUsize::new(0),
            in_flight: AtomicUsize::new(0),
            max_in_flight: AtomicUsize::new(0),
            stop: AtomicBool::new(false),
            latency: Mutex::new(Duration::ZERO),
            failures: Mutex::new(None),
            slow_connections: Mutex::new((0, Duration::ZERO)),
        });
        let s = shared.clone();
        thread::spawn(move || {
            for stream in listener.incoming() {
                if s.stop.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let id = s.connections.fetch_add(1, Ordering::SeqCst);
                let (s, handler, tls) = (s.clone(), handler.clone(), tls.clone());
                thread::spawn(move || {
                    let _ = serve(stream, id, tls, &Control(s), &*handler);
                });
            }
        });
        Ok(Server { addr, shared })
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    pub fn control(&self) -> Control {
        Control(self.shared.clone())
    }

    pub fn requests(&self) -> Vec<Request> {
        self.control().requests()
    }

    pub fn connections(&self) -> usize {
        self.shared.connections.load(Ordering::SeqCst)
    }

    /// The most requests that were being handled at the same moment.
    pub fn max_in_flight(&self) -> usize {
        self.shared.max_in_flight.load(Ordering::SeqCst)
    }

    /// Delay before every reply, like a far-away server.
    pub fn set_latency(&self, latency: Duration) {
        self.control().set_latency(latency)
    }
}

impl Control {
    pub fn requests(&self) -> Vec<Request> {
        self.0.requests.lock().unwrap().clone()
    }

    pub fn set_latency(&self, latency: Duration) {
        *self.0.latency.lock().unwrap() = latency;
    }

    /// Holds each of the next `count` connections for `delay` before its
    /// handshake, or its first request without TLS.
    pub fn slow_connections(&self, count: usize, delay: Duration) {
        *self.0.slow_connections.lock().unwrap() = (count, delay);
    }

    /// Answers the next `count` requests with `reply` instead of the handler.
    pub fn fail_next(&self, count: usize, reply: Reply) {
        *self.0.failures.lock().unwrap() = (count > 0).then_some((count, reply));
    }

    fn take_failure(&self) -> Option<Reply> {
        let mut failures = self.0.failures.lock().unwrap();
        let (left, reply) = failures.as_mut()?;
        let reply = reply.clone();
        *left -= 1;
        if *left == 0 {
            *failures = None;
        }
        Some(reply)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr);
    }
}

trait Stream: Read + Write + Send {}
impl<T: Read + Write + Send> Stream for T {}

fn serve(
    tcp: TcpStream,
    id: usize,
    tls: Option<Arc<rustls::ServerConfig>>,
    control: &Control,
    handler: &(dyn Fn(&Request) -> Reply + Send + Sync),
) -> io::Result<()> {
    let delay = {
        let mut slow = control.0.slow_connections.lock().unwrap();
        (slow.0 > 0).then(|| {
            slow.0 -= 1;
            slow.1
        })
    };
    if let Some(delay) = delay {
        thread::sleep(delay);
    }
    tcp.set_read_timeout(Some(Duration::from_secs(30)))?;
    // Without it, Nagle and delayed ACKs add ~40 ms to small responses.
    tcp.set_nodelay(true)?;
    let stream: Box<dyn Stream> = match tls {
        Some(config) => {
            let conn = rustls::ServerConnection::new(config).map_err(io::Error::other)?;
            Box::new(rustls::StreamOwned::new(conn, tcp))
        }
        None => Box::new(tcp),
    };
    let shared = &*control.0;
    let mut reader = BufReader::new(stream);
    loop {
        let Some(request) = read_request(&mut reader, id)? else { return Ok(()) };
        let n = shared.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        shared.max_in_flight.fetch_max(n, Ordering::SeqCst);
        shared.requests.lock().unwrap().push(request.clone());
        let latency = *shared.latency.lock().unwrap();
        thread::sleep(latency);
        let reply = control.take_failure().unwrap_or_else(|| handler(&request));
        shared.in_flight.fetch_sub(1, Ordering::SeqCst);
        let out = reader.get_mut();
        match reply {
            Reply::Respond { status, headers, body } => {
                let mut message = head(status, &headers, body.len());
                message.extend_from_slice(&body);
                out.write_all(&message)?;
                out.flush()?;
            }
            Reply::Hang => {
                let until = Instant::now() + Duration::from_secs(60);
                while !shared.stop.load(Ordering::SeqCst) && Instant::now() < until {
                    thread::sleep(Duration::from_millis(20));
                }
                return Ok(());
            }
            Reply::Close => return Ok(()),
            Reply::Truncated { status, body, promised } => {
                let mut message =
                    head(status, &[("Content-Type".into(), "application/json".into())], promised);
                message.extend_from_slice(&body);
                out.write_all(&message)?;
                out.flush()?;
                return Ok(());
            }
        }
    }
}

fn head(status: u16, headers: &[(String, String)], len: usize) -> Vec<u8> {
    let mut head = format!("HTTP/1.1 {status} {}\r\n", reason(status));
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str(&format!("Content-Length: {len}\r\n\r\n"));
    head.into_bytes()
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        204 => "No Content",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        410 => "Gone",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Status",
    }
}

fn read_request(reader: &mut impl BufRead, connection: usize) -> io::Result<Option<Request>> {
    let mut line = String::new();
    if reader.read_line(&mut line)? == 0 {
        return Ok(None);
    }
    let mut parts = line.split_whitespace();
    let (method, target) = match (parts.next(), parts.next()) {
        (Some(m), Some(t)) => (m.to_string(), t.to_string()),
        _ => return Ok(None),
    };
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        reader.read_line(&mut h)?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
    let len = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .and_then(|(_, v)| v.parse::<usize>().ok())
        .unwrap_or(0);
    let mut body = vec![0; len];
    reader.read_exact(&mut body)?;
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p.to_string(), parse_query(q)),
        None => (target, Vec::new()),
    };
    Ok(Some(Request { method, path, query, headers, body, connection }))
}

pub fn parse_query(q: &str) -> Vec<(String, String)> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect()
}

fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("zz");
                match u8::from_str_radix(hex, 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 3;
                    }
                    Err(_) => {
                        out.push(b'%');
                        i += 1;
                    }
                }
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}
