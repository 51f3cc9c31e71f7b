//! A hostile witness: a raw HTTP/1.1 server on loopback that answers `add-checkpoint` as a
//! test decides (a real cosignature, a 409 naming any size, a 422, an endless body), serves
//! whatever checkpoint the test sets at the monitoring path, and counts the body bytes it
//! manages to send. It models an attacker or a broken peer, never the witness we ship (see
//! [`crate::witness`] for that).
//!
//! Guarantees: one request per connection, answered in its own thread; an `Endless` body is
//! written in 64 KiB chunks until the client hangs up or the total is sent, and every chunk
//! written is counted in [`Hostile::sent`].

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use taglog_proofs::checkpoint::SignedCheckpoint;
use taglog_proofs::cosignature::cosign;
use taglog_proofs::note::{KeyType, SignerKey, VerifierKey};
use taglog_proofs::witness::{encode_cosignature_response, AddCheckpointRequest};

/// What to answer to one `add-checkpoint` request.
pub enum Answer {
    /// 200 with a valid cosignature by the witness key (time: `now`).
    Cosign,
    /// 409 naming this size.
    Conflict(u64),
    /// 422 with this body.
    Unprocessable(&'static str),
    /// 200 with a chunked body of this many bytes (or until the client hangs up).
    Endless(u64),
}

type Plan = dyn Fn(u64, &AddCheckpointRequest) -> Answer + Send + Sync;

/// A running hostile witness.
pub struct Hostile {
    /// Its URL (submission and monitoring prefix).
    pub url: String,
    /// Its cosigning key.
    pub key: SignerKey,
    /// Body bytes written so far by `Endless` answers.
    pub sent: Arc<AtomicU64>,
    /// `add-checkpoint` requests seen.
    pub requests: Arc<AtomicU64>,
    /// What `GET <origin hash>/checkpoint` serves (404 when `None`).
    pub checkpoint: Arc<Mutex<Option<Vec<u8>>>>,
}

impl Hostile {
    /// The witness's verifier key.
    pub fn vkey(&self) -> VerifierKey {
        self.key.verifier()
    }
}

/// Starts a hostile witness for the log `log_key`; `plan(n, request)` answers the n-th
/// (1-based) `add-checkpoint` request.
pub fn start(
    name: &str,
    log_key: VerifierKey,
    plan: impl Fn(u64, &AddCheckpointRequest) -> Answer + Send + Sync + 'static,
) -> Hostile {
    let key = SignerKey::from_seed(name.parse().unwrap(), KeyType::Cosignature, [0x42; 32]);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let h = Hostile {
        url,
        key: key.clone(),
        sent: Arc::new(AtomicU64::new(0)),
        requests: Arc::new(AtomicU64::new(0)),
        checkpoint: Arc::new(Mutex::new(None)),
    };
    let shared = (
        Arc::new(key),
        Arc::new(log_key),
        Arc::clone(&h.sent),
        Arc::clone(&h.requests),
        Arc::clone(&h.checkpoint),
        Arc::new(plan) as Arc<Plan>,
    );
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            let s = shared.clone();
            std::thread::spawn(move || {
                let _ = serve(stream, &s.0, &s.1, &s.2, &s.3, &s.4, s.5.as_ref());
            });
        }
    });
    h
}

fn serve(
    stream: TcpStream,
    key: &SignerKey,
    log_key: &VerifierKey,
    sent: &AtomicU64,
    requests: &AtomicU64,
    checkpoint: &Mutex<Option<Vec<u8>>>,
    plan: &Plan,
) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut out = stream;
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let path = line.split(' ').nth(1).unwrap_or("").to_owned();
    let mut length = 0usize;
    loop {
        let mut h = String::new();
        reader.read_line(&mut h)?;
        if h == "\r\n" || h.is_empty() {
            break;
        }
        if let Some(v) = h.to_ascii_lowercase().strip_prefix("content-length:") {
            length = v.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0u8; length];
    reader.read_exact(&mut body)?;
    if path.ends_with("/checkpoint") {
        let stored = checkpoint.lock().unwrap().clone();
        return match stored {
            Some(note) => respond(&mut out, 200, "text/plain", &note),
            None => respond(&mut out, 404, "text/plain", b"not found\n"),
        };
    }
    let n = requests.fetch_add(1, Ordering::SeqCst) + 1;
    let req = AddCheckpointRequest::parse(&body).unwrap();
    match plan(n, &req) {
        Answer::Cosign => {
            let signed = SignedCheckpoint::open(&req.checkpoint, log_key).unwrap();
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs();
            let sig = cosign(signed.checkpoint(), now, key).unwrap();
            respond(
                &mut out,
                200,
                "text/plain",
                &encode_cosignature_response(&[sig]),
            )
        }
        Answer::Conflict(size) => respond(
            &mut out,
            409,
            "text/x.tlog.size",
            format!("{size}\n").as_bytes(),
        ),
        Answer::Unprocessable(why) => respond(&mut out, 422, "text/plain", why.as_bytes()),
        Answer::Endless(total) => endless(&mut out, total, sent),
    }
}

fn respond(out: &mut TcpStream, status: u16, ctype: &str, body: &[u8]) -> std::io::Result<()> {
    write!(
        out,
        "HTTP/1.1 {status} X\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )?;
    out.write_all(body)?;
    out.flush()
}

fn endless(out: &mut TcpStream, total: u64, sent: &AtomicU64) -> std::io::Result<()> {
    write!(
        out,
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    )?;
    let chunk = vec![b'x'; 64 * 1024];
    let mut written = 0u64;
    while written < total {
        write!(out, "{:x}\r\n", chunk.len())?;
        out.write_all(&chunk)?;
        out.write_all(b"\r\n")?;
        written += chunk.len() as u64;
        sent.fetch_add(chunk.len() as u64, Ordering::SeqCst);
    }
    out.write_all(b"0\r\n\r\n")?;
    out.flush()
}
