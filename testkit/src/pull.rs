//! The pull path's processes: `taglog mirror`, `skopeo` with a registries.conf mirror entry,
//! and containerd run as a plain process (own root, state and socket) driven by `ctr`, with
//! images whose layer is a real tar archive.
//!
//! Guarantees: every starter returns once the process answers (the mirror's `/v2/`, `ctr
//! version`) or fails the test with its log; a missing Debian program fails the test with the
//! package to install, never a skip; processes are killed when their handles drop.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::cli::{Cli, Run};
use crate::process::{self, Proc, START_TIMEOUT};
use crate::registry::{sha256_digest, Registry};
use crate::{free_port, TempDir};

/// A running `taglog mirror`, killed on drop.
pub struct Mirror {
    /// Its port.
    pub port: u16,
    /// The process (its log is in the client's directory).
    pub proc: Proc,
}

impl Mirror {
    /// Starts `taglog [globals] mirror --listen 127.0.0.1:<port> --upstream <u>...` with the
    /// client's policy and state directory, and waits until `/v2/` answers 200.
    ///
    /// # Panics
    /// When it does not start (with its log).
    #[must_use]
    pub fn start(
        client: &Cli,
        globals: &[&str],
        upstreams: &[String],
        env: &[(&str, &str)],
    ) -> Mirror {
        let port = free_port();
        let log = client.path(&format!("mirror-{port}.log"));
        let mut cmd = client.command();
        cmd.args(globals)
            .arg("mirror")
            .arg("--listen")
            .arg(format!("127.0.0.1:{port}"));
        for u in upstreams {
            cmd.arg("--upstream").arg(u);
        }
        cmd.env("RUST_LOG", "info");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut proc = Proc::spawn("taglog mirror", cmd, &log);
        proc.wait_until("answering /v2/", START_TIMEOUT, || {
            process::http_status(port, "/v2/") == Some(200)
        })
        .unwrap_or_else(|e| panic!("{e}"));
        Mirror { port, proc }
    }

    /// `127.0.0.1:<port>`.
    #[must_use]
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// `http://127.0.0.1:<port>`.
    #[must_use]
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The value of a metric line (`name{labels}` exactly), 0 if absent.
    ///
    /// # Panics
    /// When `/metrics` cannot be read or the value is not a number.
    #[must_use]
    pub fn metric(&self, name: &str) -> u64 {
        let text = crate::http::get(&format!("{}/metrics", self.url())).text();
        let value = text
            .lines()
            .find(|l| {
                l.strip_prefix(name)
                    .is_some_and(|rest| rest.starts_with(' '))
            })
            .and_then(|l| l.rsplit(' ').next());
        value.map_or(0, |v| {
            let v: f64 = v
                .parse()
                .unwrap_or_else(|e| panic!("metric {name} {v}: {e}"));
            // Counters and gauges of whole things.
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            let n = v as u64;
            n
        })
    }
}

/// Finds a program of a Debian package; fails (never skips) when it is missing.
///
/// # Panics
/// When it is not installed (with the package to install).
#[must_use]
pub fn program(name: &str, package: &str) -> PathBuf {
    for dir in ["/usr/bin", "/usr/sbin", "/usr/local/bin"] {
        let p = Path::new(dir).join(name);
        if p.exists() {
            return p;
        }
    }
    panic!("{name} is not installed: apt-get install -y --no-install-recommends {package} (CI installs it in .ci/run)");
}

/// A registries.conf whose entry for `upstream` sends pulls to `mirror` first and whose
/// primary location is `fallback` (so a refusal by the mirror cannot be bypassed).
///
/// # Panics
/// When the file cannot be written.
#[must_use]
pub fn registries_conf(dir: &Path, upstream: &str, mirror: &str, fallback: &str) -> PathBuf {
    let p = dir.join(format!("registries-{}.conf", mirror.replace(':', "_")));
    std::fs::write(
        &p,
        format!(
            "unqualified-search-registries = []\n\n[[registry]]\nprefix = \"{upstream}\"\nlocation = \"{fallback}\"\ninsecure = true\n\n[[registry.mirror]]\nlocation = \"{mirror}\"\ninsecure = true\n"
        ),
    )
    .expect("write registries.conf");
    p
}

/// Runs skopeo with a registries.conf (and no signature policy of its own: taglog decides).
///
/// # Panics
/// When skopeo is missing or cannot be run.
#[must_use]
pub fn skopeo(conf: &Path, tmp: &Path, args: &[&str]) -> Run {
    let out = Command::new(program("skopeo", "skopeo"))
        .arg("--registries-conf")
        .arg(conf)
        .arg("--insecure-policy")
        .args(args)
        .env("TMPDIR", tmp)
        .env("HOME", tmp)
        .env_remove("REGISTRY_AUTH_FILE")
        .stdin(Stdio::null())
        .output()
        .expect("run skopeo");
    Run::from_output(&out)
}

/// containerd as a plain process: its own root, state, socket and no CRI; killed on drop.
pub struct Containerd {
    /// Its root, state, socket, configuration and log.
    pub dir: TempDir,
    /// The process.
    pub proc: Proc,
}

impl Containerd {
    /// Starts containerd and waits until `ctr version` answers.
    ///
    /// # Panics
    /// When containerd is missing or does not start (with its log).
    #[must_use]
    pub fn start() -> Containerd {
        let dir = crate::tempdir();
        let d = dir.path();
        let sock = d.join("containerd.sock");
        let config = d.join("config.toml");
        std::fs::write(
            &config,
            format!(
                "version = 2\nroot = \"{root}\"\nstate = \"{state}\"\ndisabled_plugins = [\"io.containerd.grpc.v1.cri\", \"io.containerd.snapshotter.v1.btrfs\", \"io.containerd.snapshotter.v1.zfs\", \"io.containerd.snapshotter.v1.devmapper\", \"io.containerd.snapshotter.v1.aufs\", \"io.containerd.internal.v1.opt\", \"io.containerd.tracing.processor.v1.otlp\"]\n\n[grpc]\n  address = \"{sock}\"\n\n[ttrpc]\n  address = \"{sock}.ttrpc\"\n\n[debug]\n  address = \"\"\n\n[metrics]\n  address = \"\"\n",
                root = d.join("root").display(),
                state = d.join("state").display(),
                sock = sock.display()
            ),
        )
        .expect("write the containerd configuration");
        let mut cmd = Command::new(program("containerd", "containerd"));
        cmd.arg("--config").arg(&config);
        let mut proc = Proc::spawn("containerd", cmd, &d.join("containerd.log"));
        proc.wait_until("answering ctr version", START_TIMEOUT, || {
            Containerd::ctr_at(&sock, &["version"]).code == 0
        })
        .unwrap_or_else(|e| panic!("{e}"));
        Containerd { dir, proc }
    }

    fn ctr_at(sock: &Path, args: &[&str]) -> Run {
        let out = Command::new(program("ctr", "containerd"))
            .arg("--address")
            .arg(sock)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run ctr");
        Run::from_output(&out)
    }

    /// Runs `ctr --address <socket> <args>`.
    #[must_use]
    pub fn ctr(&self, args: &[&str]) -> Run {
        Containerd::ctr_at(&self.dir.path().join("containerd.sock"), args)
    }

    /// A `--hosts-dir` whose `hosts.toml` for `upstream` resolves and pulls from `mirror`
    /// (containerd adds `?ns=<upstream>`), with `server` set to `fallback`.
    ///
    /// # Panics
    /// When the files cannot be written.
    #[must_use]
    pub fn hosts_dir(&self, upstream: &str, mirror: &str, fallback: &str) -> PathBuf {
        let dir = self
            .dir
            .path()
            .join(format!("hosts-{}", mirror.replace(':', "_")));
        let d = dir.join(upstream);
        std::fs::create_dir_all(&d).expect("create the hosts directory");
        std::fs::write(
            d.join("hosts.toml"),
            format!(
                "server = \"http://{fallback}\"\n\n[host.\"http://{mirror}\"]\n  capabilities = [\"pull\", \"resolve\"]\n"
            ),
        )
        .expect("write hosts.toml");
        dir
    }
}

/// A one-file tar archive (ustar), so that containerd can unpack the layer.
#[must_use]
pub fn tar_layer(seed: &str) -> Vec<u8> {
    let data = format!("taglog test image {seed}\n").into_bytes();
    let mut header = [0u8; 512];
    let name = b"taglog.txt";
    header[..name.len()].copy_from_slice(name);
    let fields: [(usize, String); 5] = [
        (100, format!("{:07o}\0", 0o644)),
        (108, format!("{:07o}\0", 0)),
        (116, format!("{:07o}\0", 0)),
        (124, format!("{:011o}\0", data.len())),
        (136, format!("{:011o}\0", 1_700_000_000u64)),
    ];
    for (at, v) in fields {
        header[at..at + v.len()].copy_from_slice(v.as_bytes());
    }
    header[156] = b'0';
    header[257..263].copy_from_slice(b"ustar\0");
    header[263..265].copy_from_slice(b"00");
    header[148..156].copy_from_slice(b"        ");
    let sum: u32 = header.iter().map(|b| u32::from(*b)).sum();
    let chk = format!("{sum:06o}\0 ");
    header[148..156].copy_from_slice(chk.as_bytes());
    let mut out = header.to_vec();
    out.extend_from_slice(&data);
    out.resize(out.len().div_ceil(512) * 512, 0);
    out.extend_from_slice(&[0u8; 1024]);
    out
}

/// Pushes an image whose layer is a real tar (see [`tar_layer`]); returns (digest, manifest,
/// layer digest).
///
/// # Panics
/// When the registry refuses a part.
pub fn push_tar_image(
    reg: &Registry,
    repo: &str,
    tag: &str,
    seed: &str,
) -> (String, Vec<u8>, String) {
    let layer = tar_layer(seed);
    let config = format!(
        r#"{{"architecture":"amd64","os":"linux","config":{{"Labels":{{"seed":"{seed}"}}}},"rootfs":{{"type":"layers","diff_ids":["{}"]}}}}"#,
        sha256_digest(&layer)
    )
    .into_bytes();
    let manifest = reg.push_blobs_for(repo, &layer, &config);
    let d = reg.put_manifest(repo, tag, &manifest);
    (d, manifest, sha256_digest(&layer))
}
