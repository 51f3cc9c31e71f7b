//! The pull path's processes: `taglog mirror`, `skopeo` with a registries.conf mirror entry,
//! and containerd 1.6 run as a plain process (own root, state and socket) driven by `ctr`.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::{free_port, Client, Proc, Run};

/// A running `taglog mirror`.
pub struct Mirror {
    pub port: u16,
    pub proc: Proc,
}

impl Mirror {
    /// Starts `taglog [globals] mirror --listen 127.0.0.1:<port> --upstream <u>...` with the
    /// client's policy and state directory.
    pub fn start(
        client: &Client,
        globals: &[&str],
        upstreams: &[String],
        env: &[(&str, &str)],
    ) -> Mirror {
        let port = free_port();
        let log = client.path(&format!("mirror-{port}.log"));
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_taglog"));
        cmd.arg("--policy")
            .arg(&client.policy)
            .arg("--state-dir")
            .arg(&client.state)
            .args(globals)
            .arg("mirror")
            .arg("--listen")
            .arg(format!("127.0.0.1:{port}"));
        for u in upstreams {
            cmd.arg("--upstream").arg(u);
        }
        cmd.env("HOME", client.dir.path())
            .env("RUST_LOG", "info")
            .env_remove("TAGLOG_TEST_NOW")
            .env_remove("DOCKER_CONFIG")
            .env_remove("REGISTRY_AUTH_FILE")
            .env_remove("XDG_RUNTIME_DIR")
            .env_remove("XDG_CONFIG_HOME");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let mut proc = Proc {
            child,
            name: "taglog mirror",
            log,
        };
        super::wait_http(
            &format!("http://127.0.0.1:{port}/v2/"),
            |s| s == 200,
            &mut proc,
        );
        Mirror { port, proc }
    }

    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The value of a metric line (`name{labels}` exactly), 0 if absent.
    pub fn metric(&self, name: &str) -> u64 {
        let text = reqwest::blocking::get(format!("{}/metrics", self.url()))
            .unwrap()
            .text()
            .unwrap();
        text.lines()
            .find(|l| l.starts_with(name) && l[name.len()..].starts_with(' '))
            .and_then(|l| l.rsplit(' ').next())
            .map_or(0, |v| v.parse::<f64>().unwrap() as u64)
    }
}

/// Finds a program of a Debian package; fails (never skips) when it is missing.
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
pub fn registries_conf(dir: &Path, upstream: &str, mirror: &str, fallback: &str) -> PathBuf {
    let p = dir.join(format!("registries-{}.conf", mirror.replace(':', "_")));
    std::fs::write(
        &p,
        format!(
            "unqualified-search-registries = []\n\n[[registry]]\nprefix = \"{upstream}\"\nlocation = \"{fallback}\"\ninsecure = true\n\n[[registry.mirror]]\nlocation = \"{mirror}\"\ninsecure = true\n"
        ),
    )
    .unwrap();
    p
}

/// Runs skopeo with a registries.conf (and no signature policy of its own: taglog decides).
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
        .unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// containerd 1.6 as a plain process: its own root, state, socket and no CRI.
pub struct Containerd {
    pub dir: tempfile::TempDir,
    pub proc: Proc,
}

impl Containerd {
    pub fn start() -> Containerd {
        let dir = tempfile::tempdir().unwrap();
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
        .unwrap();
        let log = d.join("containerd.log");
        let child = Command::new(program("containerd", "containerd"))
            .arg("--config")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let mut proc = Proc {
            child,
            name: "containerd",
            log,
        };
        let start = Instant::now();
        loop {
            if let Ok(Some(status)) = proc.child.try_wait() {
                panic!("containerd exited with {status}:\n{}", proc.log_text());
            }
            let c = Containerd::ctr_at(&sock, &["version"]);
            if c.code == 0 {
                break;
            }
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "containerd did not answer in 60 s:\n{}",
                proc.log_text()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        Containerd { dir, proc }
    }

    fn ctr_at(sock: &Path, args: &[&str]) -> Run {
        let out = Command::new(program("ctr", "containerd"))
            .arg("--address")
            .arg(sock)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Runs `ctr --address <socket> <args>`.
    pub fn ctr(&self, args: &[&str]) -> Run {
        Containerd::ctr_at(&self.dir.path().join("containerd.sock"), args)
    }

    /// A `--hosts-dir` whose `hosts.toml` for `upstream` resolves and pulls from `mirror`
    /// (containerd adds `?ns=<upstream>`), with `server` set to `fallback`.
    pub fn hosts_dir(&self, upstream: &str, mirror: &str, fallback: &str) -> PathBuf {
        let dir = self
            .dir
            .path()
            .join(format!("hosts-{}", mirror.replace(':', "_")));
        let d = dir.join(upstream);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(
            d.join("hosts.toml"),
            format!(
                "server = \"http://{fallback}\"\n\n[host.\"http://{mirror}\"]\n  capabilities = [\"pull\", \"resolve\"]\n"
            ),
        )
        .unwrap();
        dir
    }
}

/// A one-file tar archive (ustar), so that containerd can unpack the layer.
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
pub fn push_tar_image(
    reg: &super::Registry,
    repo: &str,
    tag: &str,
    seed: &str,
) -> (String, Vec<u8>, String) {
    let layer = tar_layer(seed);
    let config = format!(
        r#"{{"architecture":"amd64","os":"linux","config":{{"Labels":{{"seed":"{seed}"}}}},"rootfs":{{"type":"layers","diff_ids":["{}"]}}}}"#,
        super::sha256_digest(&layer)
    )
    .into_bytes();
    let manifest = reg.push_blobs_for(repo, &layer, &config);
    let d = reg.put_manifest(repo, tag, &manifest);
    (d, manifest, super::sha256_digest(&layer))
}
