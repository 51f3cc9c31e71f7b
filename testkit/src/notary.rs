//! Notary v1 from Debian (`apt-get install notary openssl`) for tests of `taglog import
//! notary`: `notary-server` on loopback (in-memory storage, local signer, TLS from its own CA
//! made with `openssl`) and the `notary` CLI signing tags as Docker Content Trust does.
//!
//! Guarantees: `start` returns once the health endpoint answers over TLS; a missing
//! `notary-server`, `notary` or `openssl` fails the test with what to install; the server is
//! killed when the handle drops.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::process::Proc;
use crate::TempDir;

/// `/usr/bin/<name>`, which must exist.
///
/// # Panics
/// When it is not installed (with the packages to install).
#[must_use]
pub fn tool(name: &str) -> PathBuf {
    let p = PathBuf::from("/usr/bin").join(name);
    assert!(
        p.is_file(),
        "{} not found: apt-get install -y notary openssl (the CI installs them)",
        p.display()
    );
    p
}

/// Runs `openssl` with `args` in `dir`.
///
/// # Panics
/// When it fails.
pub fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new(tool("openssl"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run openssl");
    assert!(out.status.success(), "openssl {args:?}: {out:?}");
}

/// A P-256 key and self-signed certificate (`<name>.key`, `<name>.crt`) in `dir`, valid 30
/// days, with `extra` arguments to `openssl req`.
///
/// # Panics
/// When `openssl` fails.
pub fn ec_cert(dir: &Path, name: &str, extra: &[&str]) {
    let (key, crt, subj) = (
        format!("{name}.key"),
        format!("{name}.crt"),
        format!("/CN={name}"),
    );
    let mut args = vec![
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-days",
        "30",
        "-subj",
        &subj,
        "-keyout",
        &key,
        "-out",
        &crt,
    ];
    args.extend_from_slice(extra);
    openssl(dir, &args);
}

/// A `notary-server` on loopback with its own CA, and a `notary` CLI configured for it.
pub struct Notary {
    /// Its configuration, CA, keys and the CLI's trust directory (`trust`).
    pub dir: TempDir,
    /// `https://127.0.0.1:<port>`.
    pub url: String,
    /// The process.
    pub proc: Proc,
}

impl Notary {
    /// Starts `notary-server` (in-memory storage, local signer, TLS from a new CA) and waits
    /// until its health endpoint answers.
    ///
    /// # Panics
    /// When `notary-server` or `openssl` is missing, or the server does not start (with its
    /// log).
    #[must_use]
    pub fn start() -> Notary {
        let dir = crate::tempdir();
        let d = dir.path();
        ec_cert(
            d,
            "ca",
            &[
                "-addext",
                "basicConstraints=critical,CA:TRUE",
                "-addext",
                "keyUsage=critical,keyCertSign",
            ],
        );
        openssl(
            d,
            &[
                "req",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
                "-subj",
                "/CN=127.0.0.1",
                "-keyout",
                "server.key",
                "-out",
                "server.csr",
            ],
        );
        std::fs::write(
            d.join("server.ext"),
            "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n",
        )
        .expect("write the certificate extensions");
        openssl(
            d,
            &[
                "x509",
                "-req",
                "-in",
                "server.csr",
                "-CA",
                "ca.crt",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-days",
                "30",
                "-extfile",
                "server.ext",
                "-out",
                "server.crt",
            ],
        );
        let port = crate::free_port();
        std::fs::write(
            d.join("server.json"),
            format!(
                r#"{{"server": {{"http_addr": "127.0.0.1:{port}", "tls_key_file": "server.key", "tls_cert_file": "server.crt"}},
                "trust_service": {{"type": "local"}}, "storage": {{"backend": "memory"}}, "logging": {{"level": "error"}}}}"#
            ),
        )
        .expect("write the server configuration");
        let url = format!("https://127.0.0.1:{port}");
        std::fs::write(
            d.join("client.json"),
            format!(r#"{{"trust_dir": "trust", "remote_server": {{"url": "{url}", "root_ca": "ca.crt"}}}}"#),
        )
        .expect("write the client configuration");
        let mut cmd = Command::new(tool("notary-server"));
        cmd.args(["-config", "server.json"]).current_dir(d);
        let mut proc = Proc::spawn("notary-server", cmd, &d.join("notary-server.log"));
        let ca = std::fs::read(d.join("ca.crt")).expect("read the CA certificate");
        let http = reqwest::blocking::Client::builder()
            .add_root_certificate(reqwest::Certificate::from_pem(&ca).expect("a PEM certificate"))
            .timeout(Duration::from_secs(5))
            .build()
            .expect("build an HTTPS client");
        let health = format!("{url}/_notary_server/health");
        proc.wait_until("healthy", Duration::from_secs(30), || {
            http.get(&health)
                .send()
                .is_ok_and(|r| r.status().is_success())
        })
        .unwrap_or_else(|e| panic!("{e}"));
        Notary { dir, url, proc }
    }

    /// A path in its directory.
    #[must_use]
    pub fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }

    /// Runs the `notary` CLI as a publisher using Docker Content Trust would; its output.
    ///
    /// # Panics
    /// When it fails (with its output).
    pub fn cli(&self, args: &[&str]) -> String {
        let out = Command::new(tool("notary"))
            .args(["-c", "client.json", "-d", "trust"])
            .args(args)
            .current_dir(self.dir.path())
            .env("NOTARY_ROOT_PASSPHRASE", "root-pass")
            .env("NOTARY_TARGETS_PASSPHRASE", "targets-pass")
            .env("NOTARY_SNAPSHOT_PASSPHRASE", "snapshot-pass")
            .env("NOTARY_DELEGATION_PASSPHRASE", "delegation-pass")
            .stdin(Stdio::null())
            .output()
            .expect("run notary");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "notary {args:?}: {text}");
        text
    }

    /// Signs `gun:tag` as the sha256 `hex` (size 1234), in the delegation `role` if given.
    ///
    /// # Panics
    /// When the CLI fails.
    pub fn sign(&self, gun: &str, tag: &str, hex: &str, role: Option<&str>) {
        let mut args = vec!["addhash", "-p", gun, tag, "1234", "--sha256", hex];
        if let Some(r) = role {
            args.extend(["-r", r]);
        }
        self.cli(&args);
    }

    /// Adds the `targets/releases` delegation of `gun` with a new key `name` (as `docker
    /// trust signer add` does) and imports its private key.
    ///
    /// # Panics
    /// When `openssl` or the CLI fails.
    pub fn add_releases_key(&self, gun: &str, name: &str) {
        ec_cert(self.dir.path(), name, &[]);
        let crt = format!("{name}.crt");
        let key = format!("{name}.key");
        self.cli(&[
            "delegation",
            "add",
            "-p",
            gun,
            "targets/releases",
            &crt,
            "--all-paths",
        ]);
        self.cli(&["key", "import", &key, "-r", "targets/releases"]);
    }

    /// The key IDs `notary delegation list` shows for `gun`.
    ///
    /// # Panics
    /// When the CLI fails.
    #[must_use]
    pub fn releases_key_ids(&self, gun: &str) -> Vec<String> {
        self.cli(&["delegation", "list", gun])
            .split(|c: char| !c.is_ascii_hexdigit())
            .filter(|w| w.len() == 64)
            .map(str::to_string)
            .collect()
    }

    /// `taglog import notary GUN` arguments reading this server, trusting the CLI's root.
    #[must_use]
    pub fn import_args(&self, gun: &str) -> Vec<String> {
        vec![
            "import".into(),
            "notary".into(),
            gun.into(),
            "--notary-server".into(),
            self.url.clone(),
            "--notary-ca".into(),
            self.path("ca.crt").display().to_string(),
            "--trust-dir".into(),
            self.path("trust").display().to_string(),
        ]
    }
}
