//! TLS server configuration from PEM files (rustls, ring provider only).
//!
//! Guarantees: TLS 1.2 and 1.3 with rustls's safe defaults, ALPN `http/1.1` only, and a key
//! that belongs to the first certificate of the chain (checked at load, so a mistake stops a
//! server before it opens anything else). Out of scope: client certificates, certificate
//! reloading, OCSP stapling.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls_pki_types::pem::{self, PemObject as _};
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::{self, ServerConfig};

/// The only application protocol offered in the TLS handshake.
const ALPN_HTTP1: &[u8] = b"http/1.1";

/// Why a certificate or key file is unusable; each says which file and what to do.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file could not be read.
    #[error("TLS {what} file {}: cannot read it: {source}", path.display())]
    Unreadable {
        /// `certificate` or `key`.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A file is not valid PEM.
    #[error("TLS {what} file {}: not a valid PEM file: {source}", path.display())]
    NotPem {
        /// `certificate` or `key`.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// What the PEM reader rejected.
        #[source]
        source: pem::Error,
    },
    /// The certificate file holds no certificate.
    #[error("TLS certificate file {}: no certificate in it; expected PEM blocks `-----BEGIN CERTIFICATE-----`, leaf first", .0.display())]
    NoCertificate(PathBuf),
    /// The key file holds no private key.
    #[error("TLS key file {}: no private key in it; expected a PEM block `-----BEGIN PRIVATE KEY-----` (or RSA PRIVATE KEY, EC PRIVATE KEY)", .0.display())]
    NoKey(PathBuf),
    /// The key does not fit the certificate, or is of an unsupported type.
    #[error("TLS key file {}: unusable with the certificate in {}: {source}; it must be the private key of the first certificate there (RSA, ECDSA P-256/P-384 or Ed25519)", key.display(), cert.display())]
    KeyMismatch {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
        /// What rustls rejected.
        #[source]
        source: rustls::Error,
    },
    /// The ring provider offers no safe protocol version (a build problem, not a file one).
    #[error("TLS: no protocol version available: {0}")]
    Provider(#[source] rustls::Error),
}

/// Loads a PEM certificate chain (leaf first) and its private key into a TLS server
/// configuration for [`crate::serve`] (ring provider, TLS 1.2 and 1.3, ALPN `http/1.1`).
///
/// # Errors
/// [`TlsError`] naming the file and what is wrong with it: unreadable, not PEM, no
/// certificate, no private key, or a key that does not belong to the certificate.
pub fn load_tls(cert: &Path, key: &Path) -> Result<Arc<ServerConfig>, TlsError> {
    let chain = load_chain(cert)?;
    let private = load_key(key)?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(TlsError::Provider)?
        .with_no_client_auth()
        .with_single_cert(chain, private)
        .map_err(|source| TlsError::KeyMismatch {
            cert: cert.to_path_buf(),
            key: key.to_path_buf(),
            source,
        })?;
    config.alpn_protocols = vec![ALPN_HTTP1.to_vec()];
    Ok(Arc::new(config))
}

fn load_chain(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let chain = CertificateDer::pem_file_iter(path)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| pem_error("certificate", path, e))?;
    if chain.is_empty() {
        return Err(TlsError::NoCertificate(path.to_path_buf()));
    }
    Ok(chain)
}

fn load_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_file(path).map_err(|e| match e {
        pem::Error::NoItemsFound => TlsError::NoKey(path.to_path_buf()),
        e => pem_error("key", path, e),
    })
}

fn pem_error(what: &'static str, path: &Path, e: pem::Error) -> TlsError {
    match e {
        pem::Error::Io(source) => TlsError::Unreadable {
            what,
            path: path.to_path_buf(),
            source,
        },
        source => TlsError::NotPem {
            what,
            path: path.to_path_buf(),
            source,
        },
    }
}
