//! Connections opened while the token is fetched: the first connector in
//! the chain, handing a warm connection to the first request to its host.

use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use rustls::pki_types::ServerName;
use rustls::ClientConnection;
use ureq::unversioned::transport::{
    Buffers, ConnectionDetails, LazyBuffers, NextTimeout, Transport, TransportAdapter,
};

use super::tls::{Connector, TlsTransport};

/// TLS connections opened ahead of their first request, so that their
/// handshakes overlap the token request instead of following it. First in
/// the connector chain: a request to a host with a warm connection takes it,
/// and one that finds a handshake to its host still under way waits for it
/// rather than open another: on a real network the token and the vault's
/// handshake end at about the same time, and a new connection then costs a
/// whole TCP and TLS handshake more.
#[derive(Debug, Clone)]
pub struct Warm {
    tls: Connector,
    /// `None` once closed: connections that finish later are dropped.
    pool: Arc<(Mutex<Option<Pool>>, Condvar)>,
    /// The threads opening them, joined on close, so that no thread is left
    /// when `--init` forks; and their sockets, shut down to hurry them.
    threads: Arc<Mutex<Vec<std::thread::JoinHandle<()>>>>,
    sockets: Arc<Mutex<Vec<TcpStream>>>,
}

#[derive(Debug, Default)]
struct Pool {
    ready: Vec<WarmConnection>,
    /// Handshakes under way: each waited for by at most one request.
    opening: Vec<Opening>,
    next: u64,
}

#[derive(Debug)]
struct Opening {
    id: u64,
    host: String,
    port: u16,
    claimed: bool,
}

#[derive(Debug)]
struct WarmConnection {
    host: String,
    port: u16,
    tcp: TcpStream,
    conn: ClientConnection,
}

impl Warm {
    pub fn new(tls: Connector) -> Warm {
        Warm {
            tls,
            pool: Arc::new((Mutex::new(Some(Pool::default())), Condvar::new())),
            threads: Arc::default(),
            sockets: Arc::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Pool>> {
        self.pool.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Closes the connections nobody took, cuts short any still being
    /// opened, and waits for every thread that opened them to end.
    pub fn close(&self) {
        *self.lock() = None;
        self.pool.1.notify_all();
        for socket in self.sockets.lock().unwrap_or_else(|e| e.into_inner()).drain(..) {
            let _ = socket.shutdown(std::net::Shutdown::Both);
        }
        let threads = std::mem::take(&mut *self.threads.lock().unwrap_or_else(|e| e.into_inner()));
        for thread in threads {
            let _ = thread.join();
        }
    }

    /// Opens `n` connections to `host:port` on background threads. Best
    /// effort: a connection that fails is dropped, and the request that
    /// would have used it connects, and reports failure, itself. One thread
    /// starts the others, so that the caller goes on to the token at once.
    pub fn open(&self, host: &str, port: u16, n: usize, timeout: Duration) {
        let ids: Vec<u64> = {
            let mut pool = self.lock();
            let Some(pool) = pool.as_mut() else { return };
            (0..n)
                .map(|_| {
                    pool.next += 1;
                    pool.opening.push(Opening {
                        id: pool.next,
                        host: host.to_string(),
                        port,
                        claimed: false,
                    });
                    pool.next
                })
                .collect()
        };
        let (warm, host, mine) = (self.clone(), host.to_string(), ids.clone());
        let spawned = std::thread::Builder::new().name("kvinit-preconnect".into()).spawn(move || {
            let Some((first, rest)) = mine.split_first() else { return };
            std::thread::scope(|scope| {
                let mut threads = Vec::new();
                for &id in rest {
                    let (warm, host) = (&warm, &host);
                    let connect = move || warm.connect(id, host, port, timeout);
                    match std::thread::Builder::new()
                        .name("kvinit-preconnect".into())
                        .spawn_scoped(scope, connect)
                    {
                        Ok(thread) => threads.push(thread),
                        Err(_) => warm.opened(id, None),
                    }
                }
                warm.connect(*first, &host, port, timeout);
                // Joined, not left to the scope, which waits only for the
                // closures: no thread may be alive when `--init` forks.
                for thread in threads {
                    let _ = thread.join();
                }
            });
        });
        match spawned {
            Ok(thread) => self.threads.lock().unwrap_or_else(|e| e.into_inner()).push(thread),
            Err(_) => ids.into_iter().for_each(|id| self.opened(id, None)),
        }
    }

    fn connect(&self, id: u64, host: &str, port: u16, timeout: Duration) {
        let opened = self.handshake(host, port, timeout);
        if let Err(e) = &opened {
            log::debug!("preconnecting to {host}:{port}: {e}");
        }
        self.opened(id, opened.ok());
    }

    /// A handshake ended: its connection, if it succeeded, is ready.
    fn opened(&self, id: u64, connection: Option<WarmConnection>) {
        if let Some(pool) = self.lock().as_mut() {
            pool.opening.retain(|o| o.id != id);
            pool.ready.extend(connection);
        }
        self.pool.1.notify_all();
    }

    fn handshake(&self, host: &str, port: u16, timeout: Duration) -> io::Result<WarmConnection> {
        let until = Instant::now() + timeout;
        let addr = (host, port).to_socket_addrs()?.next().ok_or(io::ErrorKind::NotFound)?;
        let mut tcp = TcpStream::connect_timeout(&addr, timeout)?;
        tcp.set_nodelay(true)?;
        match self.lock().is_some() {
            true => self.sockets.lock().unwrap_or_else(|e| e.into_inner()).push(tcp.try_clone()?),
            false => return Err(io::ErrorKind::Interrupted.into()),
        }
        let left = until.saturating_duration_since(Instant::now()).max(Duration::from_millis(1));
        tcp.set_read_timeout(Some(left))?;
        tcp.set_write_timeout(Some(left))?;
        let name = ServerName::try_from(host.to_string()).map_err(|_| io::ErrorKind::InvalidInput)?;
        let mut conn = self.tls.client(name).map_err(io::Error::other)?;
        while conn.is_handshaking() {
            conn.complete_io(&mut tcp)?;
        }
        Ok(WarmConnection { host: host.to_string(), port, tcp, conn })
    }

    /// A ready connection to `host:port`; else, while handshakes to it are
    /// under way that no other request waits for, one of them once it ends
    /// (each is bounded by its timeout); else `None`.
    fn take(&self, host: &str, port: u16) -> Option<WarmConnection> {
        let mut guard = self.lock();
        let mut waiting_for = None;
        loop {
            let pool = guard.as_mut()?;
            if let Some(i) = pool.ready.iter().position(|c| c.host == host && c.port == port) {
                // Another's connection was ready first: the one claimed is free.
                if let Some(o) = pool.opening.iter_mut().find(|o| Some(o.id) == waiting_for) {
                    o.claimed = false;
                }
                return Some(pool.ready.swap_remove(i));
            }
            match waiting_for {
                Some(id) if pool.opening.iter().any(|o| o.id == id) => {}
                // None yet, or the one waited for failed, or its connection
                // went to a request that came first: wait for another.
                _ => {
                    let o =
                        pool.opening.iter_mut().find(|o| !o.claimed && o.host == host && o.port == port)?;
                    o.claimed = true;
                    waiting_for = Some(o.id);
                }
            }
            guard = self.pool.1.wait(guard).unwrap_or_else(|e| e.into_inner());
        }
    }
}

impl ureq::unversioned::transport::Connector<()> for Warm {
    type Out = TlsTransport;

    fn connect(
        &self,
        details: &ConnectionDetails,
        _: Option<()>,
    ) -> Result<Option<TlsTransport>, ureq::Error> {
        if !details.needs_tls() || details.config.proxy().is_some() {
            return Ok(None);
        }
        let host = details.uri.host().unwrap_or_default().trim_start_matches('[').trim_end_matches(']');
        let port = details.uri.port_u16().unwrap_or(443);
        let Some(WarmConnection { tcp, conn, .. }) = self.take(host, port) else { return Ok(None) };
        let (input, output) = (details.config.input_buffer_size(), details.config.output_buffer_size());
        let tcp = WarmTcp { stream: tcp, buffers: LazyBuffers::new(input, output) };
        let mut sock = TransportAdapter::new(tcp.boxed(), details.current_time.clone());
        sock.set_timeout(details.timeout);
        Ok(Some(TlsTransport::new(LazyBuffers::new(input, output), conn, sock)))
    }
}

/// The TCP under a warm connection, as a ureq transport. (ureq's own
/// `TcpTransport` cannot be built from an open socket.)
#[derive(Debug)]
struct WarmTcp {
    stream: TcpStream,
    buffers: LazyBuffers,
}

impl WarmTcp {
    fn io(&self, timeout: NextTimeout, result: io::Result<()>) -> Result<(), ureq::Error> {
        match result {
            Err(e) if matches!(e.kind(), io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock) => {
                Err(ureq::Error::Timeout(timeout.reason))
            }
            other => Ok(other?),
        }
    }
}

impl Transport for WarmTcp {
    fn buffers(&mut self) -> &mut dyn Buffers {
        &mut self.buffers
    }

    fn transmit_output(&mut self, amount: usize, timeout: NextTimeout) -> Result<(), ureq::Error> {
        let timeout = timeout.for_write();
        self.stream.set_write_timeout(timeout.not_zero().map(|d| *d))?;
        let result = self.stream.write_all(&self.buffers.output()[..amount]);
        self.io(timeout, result)
    }

    fn await_input(&mut self, timeout: NextTimeout) -> Result<bool, ureq::Error> {
        let timeout = timeout.for_read();
        self.stream.set_read_timeout(timeout.not_zero().map(|d| *d))?;
        let result = self.stream.read(self.buffers.input_append_buf());
        let amount = match result {
            Ok(n) => n,
            Err(e) => return self.io(timeout, Err(e)).map(|_| false),
        };
        self.buffers.input_appended(amount);
        Ok(amount > 0)
    }

    fn is_open(&mut self) -> bool {
        // Open while a non-blocking read finds nothing to read rather than EOF.
        let mut probe = [0u8; 1];
        let open = self.stream.set_nonblocking(true).is_ok()
            && matches!(self.stream.peek(&mut probe), Err(e) if e.kind() == io::ErrorKind::WouldBlock);
        open && self.stream.set_nonblocking(false).is_ok()
    }
}
