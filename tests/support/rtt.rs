//! A network with a round-trip time, on loopback: a TCP proxy that delivers
//! every chunk RTT/2 after it was sent, in each direction, and holds a new
//! connection's first bytes one RTT more (the TCP handshake a real connect
//! costs, which loopback's does not). Bandwidth is unlimited. What it
//! makes visible that delaying HTTP replies cannot: the cost of each new
//! connection and TLS handshake.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

pub struct RttProxy {
    pub addr: SocketAddr,
    connections: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
}

impl RttProxy {
    /// Listens on 127.0.0.1 and forwards each connection to `target`.
    pub fn start(target: SocketAddr, rtt: Duration) -> RttProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("binding the RTT proxy");
        let addr = listener.local_addr().unwrap();
        let connections = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (count, stopped) = (connections.clone(), stop.clone());
        std::thread::spawn(move || {
            for client in listener.incoming() {
                if stopped.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(client) = client else { continue };
                let accepted = Instant::now();
                let Ok(server) = TcpStream::connect(target) else { continue };
                count.fetch_add(1, Ordering::SeqCst);
                let _ = (client.set_nodelay(true), server.set_nodelay(true));
                let (c2, s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
                // What the client sends first arrives after the handshake's
                // round trip and its own half of one.
                delay(client, server, rtt / 2, accepted + rtt);
                delay(s2, c2, rtt / 2, accepted);
            }
        });
        RttProxy { addr, connections, stop }
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

impl Drop for RttProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr);
    }
}

/// Copies `from` to `to`, each chunk `half` after it was read and none
/// before `not_before + half`; EOF is passed on the same way.
fn delay(mut from: TcpStream, mut to: TcpStream, half: Duration, not_before: Instant) {
    let (send, receive) = mpsc::channel::<(Instant, Vec<u8>)>();
    std::thread::spawn(move || {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = from.read(&mut buf).unwrap_or(0);
            let at = (Instant::now() + half).max(not_before + half);
            if send.send((at, buf[..n].to_vec())).is_err() || n == 0 {
                break;
            }
        }
    });
    std::thread::spawn(move || {
        for (at, chunk) in receive {
            std::thread::sleep(at.saturating_duration_since(Instant::now()));
            if chunk.is_empty() {
                let _ = to.shutdown(Shutdown::Write);
                break;
            }
            if to.write_all(&chunk).is_err() {
                break;
            }
        }
    });
}
