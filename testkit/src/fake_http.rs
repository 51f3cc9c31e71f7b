//! A raw HTTP responder for answers no real server gives (a registry whose digest header lies,
//! a 401 without a challenge, a token endpoint): each connection's request head goes to a
//! function that returns the raw response bytes.
//!
//! Guarantees: it answers one request per connection, in order, until the test process ends;
//! the response bytes are sent exactly as given (they may be malformed on purpose).

use std::io::{Read as _, Write as _};
use std::net::TcpListener;
use std::time::Duration;

/// The largest request head read.
const MAX_HEAD: usize = 64 * 1024;

/// Starts a responder answering each request with `answer(request head)`; its port.
///
/// # Panics
/// When no loopback port can be bound.
#[must_use]
pub fn fake_http_with(answer: impl Fn(&str) -> Vec<u8> + Send + 'static) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    let port = listener.local_addr().expect("the bound address").port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { continue };
            let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
            let mut head = Vec::new();
            let mut buf = [0u8; 8192];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < MAX_HEAD {
                match s.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => head.extend_from_slice(&buf[..n]),
                }
            }
            let _ = s.write_all(&answer(&String::from_utf8_lossy(&head)));
            let _ = s.flush();
        }
    });
    port
}

/// Starts a responder answering every request with `response`; its port.
///
/// # Panics
/// When no loopback port can be bound.
#[must_use]
pub fn fake_http(response: Vec<u8>) -> u16 {
    fake_http_with(move |_| response.clone())
}
