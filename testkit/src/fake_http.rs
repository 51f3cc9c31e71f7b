//! A raw HTTP responder for answers no real server gives (a registry whose digest header lies,
//! a 401 without a challenge, a hostile token endpoint), which also records what each client
//! sent it: each connection's request head is parsed into a [`Recorded`] request, kept, and
//! handed to a function that returns the raw response bytes.
//!
//! Guarantees: it answers one request per connection, in order, until the test process ends;
//! the response bytes are sent exactly as given (they may be malformed on purpose); a request
//! head is read up to a blank line or [`MAX_HEAD`] bytes.

use std::io::{Read as _, Write as _};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The largest request head read.
pub const MAX_HEAD: usize = 64 * 1024;

/// One request as the responder received it.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// The method.
    pub method: String,
    /// Path and query, as sent.
    pub target: String,
    /// Header names lowercased, values trimmed.
    pub headers: Vec<(String, String)>,
    /// The whole request head as text.
    pub head: String,
}

impl Recorded {
    /// The first value of header `name` (lowercase).
    #[must_use]
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn parse(head: String) -> Recorded {
        let mut lines = head.split("\r\n");
        let mut first = lines.next().unwrap_or("").split(' ');
        let method = first.next().unwrap_or("").to_owned();
        let target = first.next().unwrap_or("").to_owned();
        let headers = lines
            .take_while(|l| !l.is_empty())
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
            .collect();
        Recorded {
            method,
            target,
            headers,
            head,
        }
    }
}

/// A running responder (it runs until the test process ends).
pub struct Recorder {
    /// Its port.
    pub port: u16,
    /// Every request so far.
    pub seen: Arc<Mutex<Vec<Recorded>>>,
}

impl Recorder {
    /// Starts a responder answering each request with `answer(request)`.
    ///
    /// # Panics
    /// When no loopback port can be bound.
    #[must_use]
    pub fn start(answer: impl Fn(&Recorded) -> Vec<u8> + Send + 'static) -> Recorder {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        let port = listener.local_addr().expect("the bound address").port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&seen);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut s) = stream else { continue };
                let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
                let mut head = Vec::new();
                let mut buf = [0u8; 4096];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < MAX_HEAD {
                    match s.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let req = Recorded::parse(String::from_utf8_lossy(&head).into_owned());
                let resp = answer(&req);
                log.lock().expect("requests lock").push(req);
                let _ = s.write_all(&resp);
                let _ = s.flush();
            }
        });
        Recorder { port, seen }
    }

    /// `127.0.0.1:<port>`.
    #[must_use]
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The requests received so far.
    #[must_use]
    pub fn requests(&self) -> Vec<Recorded> {
        self.seen.lock().expect("requests lock").clone()
    }
}

/// Starts a responder answering each request with `answer(request head)`; its port.
///
/// # Panics
/// When no loopback port can be bound.
#[must_use]
pub fn fake_http_with(answer: impl Fn(&str) -> Vec<u8> + Send + 'static) -> u16 {
    Recorder::start(move |r| answer(&r.head)).port
}

/// Starts a responder answering every request with `response`; its port.
///
/// # Panics
/// When no loopback port can be bound.
#[must_use]
pub fn fake_http(response: Vec<u8>) -> u16 {
    fake_http_with(move |_| response.clone())
}

/// A raw HTTP/1.1 response with `Content-Length` and `Connection: close`.
#[must_use]
pub fn http_response(status: &str, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut out = format!("HTTP/1.1 {status}\r\n");
    for (n, v) in headers {
        out.push_str(&format!("{n}: {v}\r\n"));
    }
    out.push_str(&format!(
        "Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    ));
    let mut out = out.into_bytes();
    out.extend_from_slice(body);
    out
}
