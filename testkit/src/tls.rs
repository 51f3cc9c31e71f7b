//! The test TLS certificate and key (`testkit/data/`, see its README): a self-signed ECDSA
//! P-256 certificate for `localhost` and `127.0.0.1`, valid 2000 to 2100, and its PKCS#8 key.
//! Public test material: never use it for anything else.

use std::path::PathBuf;

fn data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("data")
        .join(name)
}

/// The certificate (PEM).
#[must_use]
pub fn cert() -> PathBuf {
    data("tls-cert.pem")
}

/// The private key (PEM, PKCS#8).
#[must_use]
pub fn key() -> PathBuf {
    data("tls-key.pem")
}

/// An HTTPS client that trusts only the test certificate, with `timeout`.
///
/// # Panics
/// When the certificate cannot be read or the client cannot be built.
#[must_use]
pub fn client(timeout: std::time::Duration) -> reqwest::Client {
    let pem = std::fs::read(cert()).expect("read the test certificate");
    let root = reqwest::Certificate::from_pem(&pem).expect("a PEM certificate");
    reqwest::Client::builder()
        .add_root_certificate(root)
        .tls_built_in_root_certs(false)
        .timeout(timeout)
        .build()
        .expect("build an HTTPS client")
}
