//! `bench --db-latency`: a TCP proxy in front of the database that delays each direction, so
//! the gateway's database round trips show up as time, as they would with the database on
//! another host.
//!
//! Each direction is a delay line, not a sleep per read: bytes read at `t` are written at
//! `t + delay`, so a burst costs one delay, not one per chunk, and the line's throughput is the
//! link's. The lines run on threads of their own with blocking sockets: tokio's timer rounds a
//! sleep up to the next millisecond, which made "1 ms" about 2 ms a direction, while a thread's
//! sleep overshoots by tens of microseconds.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Listens on a free loopback port and forwards every connection to `upstream`
/// (`host:port`) with `delay` each way. Runs until the process ends.
pub fn start(upstream: String, delay: Duration) -> std::io::Result<std::net::SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let address = listener.local_addr()?;
    std::thread::Builder::new()
        .name("db-latency-proxy".into())
        .spawn(move || {
            for client in listener.incoming().flatten() {
                let Ok(server) = TcpStream::connect(&upstream) else {
                    continue;
                };
                let _ = client.set_nodelay(true);
                let _ = server.set_nodelay(true);
                if let (Ok(c), Ok(s)) = (client.try_clone(), server.try_clone()) {
                    delay_line(client, s, delay);
                    delay_line(server, c, delay);
                }
            }
        })?;
    Ok(address)
}

/// Two threads: one reads `from` and stamps each chunk with when it is due, the other writes
/// each chunk to `to` when it is due. Either side closing closes the line.
fn delay_line(mut from: TcpStream, mut to: TcpStream, delay: Duration) {
    let (chunks, due) = mpsc::channel::<(Instant, Vec<u8>)>();
    let _ = std::thread::Builder::new()
        .name("db-latency-read".into())
        .spawn(move || {
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                match from.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        if chunks
                            .send((Instant::now() + delay, buf[..n].to_vec()))
                            .is_err()
                        {
                            break;
                        }
                    }
                }
            }
        });
    let _ = std::thread::Builder::new()
        .name("db-latency-write".into())
        .spawn(move || {
            while let Ok((at, bytes)) = due.recv() {
                let now = Instant::now();
                if at > now {
                    std::thread::sleep(at - now);
                }
                if to.write_all(&bytes).is_err() {
                    break;
                }
            }
            let _ = to.shutdown(Shutdown::Write);
        });
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An echo server behind the proxy: a round trip takes at least two delays, and the bytes
    /// arrive intact and in order.
    #[test]
    fn a_round_trip_costs_two_delays_and_keeps_the_bytes() {
        let echo = TcpListener::bind("127.0.0.1:0").unwrap();
        let echo_address = echo.local_addr().unwrap();
        std::thread::spawn(move || {
            let (socket, _) = echo.accept().unwrap();
            let mut reader = socket.try_clone().unwrap();
            let mut writer = socket;
            std::io::copy(&mut reader, &mut writer).unwrap();
        });
        let delay = Duration::from_millis(20);
        let proxy = start(echo_address.to_string(), delay).unwrap();
        let mut client = TcpStream::connect(proxy).unwrap();
        let message: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        let started = Instant::now();
        let mut writer = client.try_clone().unwrap();
        let sent = message.clone();
        // Written from another thread: the echo comes back while the rest is still going out.
        let sender = std::thread::spawn(move || writer.write_all(&sent).unwrap());
        let mut back = vec![0u8; message.len()];
        client.read_exact(&mut back).unwrap();
        sender.join().unwrap();
        // A lower bound only: a slow machine may take longer, never shorter.
        assert!(started.elapsed() >= 2 * delay);
        assert!(back == message);
    }
}
