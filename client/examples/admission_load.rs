//! Load generator for `scripts/bench-admission.sh`: posts AdmissionReviews to a running
//! `taglog admission` over HTTPS (keep-alive connections, `--clients` in parallel, each sending
//! its next request when the previous answer arrived) and prints the count, the rate and the
//! latency percentiles. Every answer must be HTTP 200 with `allowed: true` and a JSONPatch, or
//! the run fails: only correct answers are counted.
//!
//! ```text
//! admission_load --url https://127.0.0.1:8443/mutate --ca cert.pem --clients 32 \
//!     --requests 50000 review1.json [review2.json ...]
//! admission_load --url http://127.0.0.1:8080/lookup?ref=... --get --ca cert.pem ...
//! ```
//! Reviews are used round robin; with `--once` each review is sent exactly once (a cold run:
//! give one review per signed reference); `--no-patch` expects answers without a patch (a
//! review the webhook does not check); `--get` sends GET requests instead (a bound).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::sync::Arc;
use std::time::{Duration, Instant};

struct Args {
    url: String,
    ca: String,
    clients: usize,
    requests: usize,
    once: bool,
    get: bool,
    no_patch: bool,
    bodies: Vec<Vec<u8>>,
}

fn args() -> Args {
    let mut a = Args {
        url: String::new(),
        ca: String::new(),
        clients: 1,
        requests: 1000,
        once: false,
        get: false,
        no_patch: false,
        bodies: Vec::new(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(x) = it.next() {
        match x.as_str() {
            "--url" => a.url = it.next().expect("--url URL"),
            "--ca" => a.ca = it.next().expect("--ca FILE"),
            "--clients" => a.clients = it.next().expect("--clients N").parse().unwrap(),
            "--requests" => a.requests = it.next().expect("--requests N").parse().unwrap(),
            "--once" => a.once = true,
            "--get" => a.get = true,
            "--no-patch" => a.no_patch = true,
            file => a
                .bodies
                .push(std::fs::read(file).expect("read a review file")),
        }
    }
    assert!(!a.url.is_empty() && !a.ca.is_empty(), "need --url and --ca");
    assert!(
        a.get || !a.bodies.is_empty(),
        "need review files (or --get)"
    );
    if a.once {
        a.requests = a.bodies.len();
    }
    a
}

fn client(ca: &str, clients: usize) -> reqwest::Client {
    let pem = std::fs::read(ca).expect("read the CA");
    reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap())
        .tls_built_in_root_certs(false)
        .pool_max_idle_per_host(clients)
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

async fn one(http: &reqwest::Client, a: &Args, body: Option<&Vec<u8>>) -> Duration {
    let start = Instant::now();
    let r = match body {
        Some(b) => http
            .post(&a.url)
            .header("content-type", "application/json")
            .body(b.clone())
            .send()
            .await
            .unwrap(),
        None => http.get(&a.url).send().await.unwrap(),
    };
    let status = r.status();
    let bytes = r.bytes().await.unwrap();
    let took = start.elapsed();
    assert!(
        status.is_success(),
        "HTTP {status}: {}",
        String::from_utf8_lossy(&bytes)
    );
    if body.is_some() {
        let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        let resp = &v["response"];
        assert_eq!(resp["allowed"], true, "not allowed: {v}");
        assert_eq!(resp["patch"].is_string(), !a.no_patch, "patch: {v}");
    }
    took
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let a = Arc::new(args());
    let http = client(&a.ca, a.clients);
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..a.clients {
        let (a, http, next) = (Arc::clone(&a), http.clone(), Arc::clone(&next));
        tasks.push(tokio::spawn(async move {
            let mut times = Vec::new();
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= a.requests {
                    break;
                }
                let body = (!a.get).then(|| &a.bodies[i % a.bodies.len()]);
                times.push(one(&http, &a, body).await);
            }
            times
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    let wall = start.elapsed();
    all.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "requests={} clients={} seconds={:.2} rate={:.0}/s p50_ms={:.3} p99_ms={:.3} max_ms={:.3}",
        all.len(),
        a.clients,
        wall.as_secs_f64(),
        all.len() as f64 / wall.as_secs_f64(),
        ms(percentile(&all, 0.50)),
        ms(percentile(&all, 0.99)),
        ms(*all.last().unwrap())
    );
}
