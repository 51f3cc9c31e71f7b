//! A throwaway OCI distribution registry: Debian's `docker-registry` (`apt-get install
//! docker-registry`) on a loopback port, optionally behind htpasswd basic auth, with helpers
//! that push blobs, manifests and tiny images through the distribution API.
//!
//! Guarantees: `start` returns once `/v2/` answers (200, or 401 with auth); a missing
//! `docker-registry` fails the test; the process is killed when the handle drops.

use std::path::Path;
use std::process::Command;

use sha2::{Digest as _, Sha256};

use crate::process::{self, Proc, START_TIMEOUT};
use crate::TempDir;

/// The OCI image manifest media type.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// The media type of an OCI image index.
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// Where Debian installs the registry.
pub const REGISTRY_BIN: &str = "/usr/bin/docker-registry";

/// `sha256:<hex>` of `bytes`.
#[must_use]
pub fn sha256_digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// A running registry, killed on drop.
pub struct Registry {
    /// Its storage, configuration and log.
    pub dir: TempDir,
    /// Its port.
    pub port: u16,
    /// Basic-auth credentials the helpers send, if it has auth.
    pub auth: Option<(String, String)>,
    /// The process.
    pub proc: Proc,
}

fn config(dir: &Path, port: u16, auth: Option<(&str, &str)>) -> String {
    let mut config = format!(
        "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\n  \
         delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n  secret: taglog-test\n",
        dir.join("data").display()
    );
    if let Some((user, pass)) = auth {
        let hash = bcrypt::hash_with_result(pass, 5)
            .expect("bcrypt the password")
            .format_for_version(bcrypt::Version::TwoY);
        std::fs::write(dir.join("htpasswd"), format!("{user}:{hash}\n")).expect("write htpasswd");
        config.push_str(&format!(
            "auth:\n  htpasswd:\n    realm: taglog-test\n    path: {}\n",
            dir.join("htpasswd").display()
        ));
    }
    config
}

impl Registry {
    /// Starts a registry; with `auth` (user, password) it requires basic auth.
    ///
    /// # Panics
    /// When `docker-registry` is not installed or does not start (with its log).
    #[must_use]
    pub fn start(auth: Option<(&str, &str)>) -> Registry {
        assert!(
            Path::new(REGISTRY_BIN).is_file(),
            "{REGISTRY_BIN} not found: apt-get install docker-registry"
        );
        let dir = crate::tempdir();
        let port = crate::free_port();
        let cfg = dir.path().join("config.yml");
        std::fs::write(&cfg, config(dir.path(), port, auth)).expect("write the registry config");
        let mut cmd = Command::new(REGISTRY_BIN);
        cmd.arg("serve").arg(&cfg);
        let mut proc = Proc::spawn("docker-registry", cmd, &dir.path().join("registry.log"));
        proc.wait_until("answering /v2/", START_TIMEOUT, || {
            matches!(process::http_status(port, "/v2/"), Some(200 | 401))
        })
        .unwrap_or_else(|e| panic!("{e}"));
        Registry {
            dir,
            port,
            auth: auth.map(|(u, p)| (u.to_owned(), p.to_owned())),
            proc,
        }
    }

    /// `127.0.0.1:<port>`, the registry host of image references.
    #[must_use]
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn req(&self, m: reqwest::Method, url: &str) -> reqwest::blocking::RequestBuilder {
        let r = crate::http::blocking().request(m, url);
        match &self.auth {
            Some((u, p)) => r.basic_auth(u, Some(p)),
            None => r,
        }
    }

    /// Uploads `blob` to `repo` (monolithic upload); its digest.
    ///
    /// # Panics
    /// When the registry refuses it.
    #[must_use]
    pub fn push_blob(&self, repo: &str, blob: &[u8]) -> String {
        let digest = sha256_digest(blob);
        let base = format!("http://{}", self.host());
        let r = self
            .req(
                reqwest::Method::POST,
                &format!("{base}/v2/{repo}/blobs/uploads/"),
            )
            .send()
            .expect("start a blob upload");
        assert_eq!(r.status().as_u16(), 202, "{}", r.text().unwrap_or_default());
        let loc = r.headers()["location"]
            .to_str()
            .expect("a text Location")
            .to_owned();
        let url = if loc.starts_with("http") {
            loc
        } else {
            format!("{base}{loc}")
        };
        let sep = if url.contains('?') { '&' } else { '?' };
        let r = self
            .req(reqwest::Method::PUT, &format!("{url}{sep}digest={digest}"))
            .header("content-type", "application/octet-stream")
            .body(blob.to_vec())
            .send()
            .expect("finish a blob upload");
        assert_eq!(r.status().as_u16(), 201, "{}", r.text().unwrap_or_default());
        digest
    }

    /// Puts an OCI manifest under `repo:tag`; its digest.
    ///
    /// # Panics
    /// When the registry refuses it.
    pub fn put_manifest(&self, repo: &str, tag: &str, manifest: &[u8]) -> String {
        self.put_manifest_as(repo, tag, OCI_MANIFEST, manifest)
    }

    /// Puts a manifest of `media_type` (an image index, say) under `repo:tag`; its digest.
    ///
    /// # Panics
    /// When the registry refuses it.
    pub fn put_manifest_as(
        &self,
        repo: &str,
        tag: &str,
        media_type: &str,
        manifest: &[u8],
    ) -> String {
        let r = self
            .req(
                reqwest::Method::PUT,
                &format!("http://{}/v2/{repo}/manifests/{tag}", self.host()),
            )
            .header("content-type", media_type)
            .body(manifest.to_vec())
            .send()
            .expect("put a manifest");
        assert_eq!(r.status().as_u16(), 201, "{}", r.text().unwrap_or_default());
        sha256_digest(manifest)
    }

    /// Pushes a tiny image whose content depends on `seed`; (digest, manifest bytes).
    ///
    /// # Panics
    /// When the registry refuses a part.
    pub fn push_image(&self, repo: &str, tag: &str, seed: &str) -> (String, Vec<u8>) {
        let (layer, config) = image_blobs(seed);
        let manifest = self.push_blobs_for(repo, &layer, &config);
        let d = self.put_manifest(repo, tag, &manifest);
        (d, manifest)
    }

    /// Pushes `layer` and `config` into `repo`; the manifest bytes naming them (not pushed).
    ///
    /// # Panics
    /// When the registry refuses a blob.
    #[must_use]
    pub fn push_blobs_for(&self, repo: &str, layer: &[u8], config: &[u8]) -> Vec<u8> {
        let ld = self.push_blob(repo, layer);
        let cd = self.push_blob(repo, config);
        format!(
            r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{cd}","size":{}}},"layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"{ld}","size":{}}}]}}"#,
            config.len(),
            layer.len()
        )
        .into_bytes()
    }
}

/// The layer and config blobs of the test image `seed`.
#[must_use]
pub fn image_blobs(seed: &str) -> (Vec<u8>, Vec<u8>) {
    let layer = format!("taglog test layer {seed}\n").repeat(8).into_bytes();
    let config = format!(
        r#"{{"architecture":"amd64","os":"linux","config":{{"Labels":{{"seed":"{seed}"}}}},"rootfs":{{"type":"layers","diff_ids":["{}"]}}}}"#,
        sha256_digest(&layer)
    )
    .into_bytes();
    (layer, config)
}
