//! `taglog admission` as the Kubernetes API server uses it: real `AdmissionReview` payloads
//! (`tests/data/admission/`) posted over HTTPS to the running webhook process, against a real
//! `taglog-server`, `taglog-witness` and `docker-registry`. Allowed reviews carry a JSONPatch
//! that, applied with the `json-patch` crate, yields exactly the expected object; denials name
//! each refused image and the failed rule; malformed, oversized and wrong-kind reviews get a
//! clear HTTP error and change no state (state.json byte-identical, no log check counted).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod frontends;

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use frontends::Env;
use serde_json::Value;
use taglog_testkit::process::Proc;

/// The test TLS certificate (self-signed for `localhost` and `127.0.0.1`) and its key.
fn tls_fixture(name: &str) -> PathBuf {
    match name {
        "tls-key.pem" => taglog_testkit::tls::key(),
        _ => taglog_testkit::tls::cert(),
    }
}

/// A running `taglog admission`.
struct Webhook {
    proc: Proc,
    port: u16,
    host: String,
    http: reqwest::blocking::Client,
}

impl Webhook {
    fn start(env: &Env, extra: &[&str]) -> Webhook {
        Webhook::start_with(env, &env.client.state, &[], extra)
    }

    /// Started with its own state directory and extra environment variables.
    fn start_with(
        env: &Env,
        state: &std::path::Path,
        vars: &[(&str, &str)],
        extra: &[&str],
    ) -> Webhook {
        let port = taglog_testkit::free_port();
        let mut args: Vec<String> = [
            "--policy",
            env.client.policy.to_str().unwrap(),
            "--state-dir",
            state.to_str().unwrap(),
            "admission",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--tls-cert",
            tls_fixture("tls-cert.pem").to_str().unwrap(),
            "--tls-key",
            tls_fixture("tls-key.pem").to_str().unwrap(),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        args.extend(extra.iter().map(|s| s.to_string()));
        let ca = tls_fixture("tls-cert.pem");
        Webhook::spawn(env, &args, vars, port, &ca, "127.0.0.1")
    }

    /// Runs `taglog <args>` (listening on `port`) and waits until `https://<host>:<port>/healthz`
    /// answers with `ca` as the only trusted root (`host` resolves to 127.0.0.1).
    fn spawn(
        env: &Env,
        args: &[String],
        vars: &[(&str, &str)],
        port: u16,
        ca: &std::path::Path,
        host: &str,
    ) -> Webhook {
        let log = env.client.path(&format!("admission-{port}.log"));
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_taglog"));
        cmd.args(args)
            .env("HOME", env.client.dir.path())
            .env("RUST_LOG", "warn")
            .envs(vars.iter().copied());
        let mut proc = Proc::spawn("taglog admission", cmd, &log);
        let pem = std::fs::read(ca).unwrap();
        let http = reqwest::blocking::Client::builder()
            .add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap())
            .tls_built_in_root_certs(false)
            .resolve(host, ([127, 0, 0, 1], port).into())
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap();
        let start = Instant::now();
        loop {
            if let Some(s) = proc.exited() {
                panic!("taglog admission exited with {s}:\n{}", proc.log_text());
            }
            let health = http.get(format!("https://{host}:{port}/healthz")).send();
            if health.is_ok_and(|r| r.status().is_success()) {
                break;
            }
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "taglog admission did not become ready:\n{}",
                proc.log_text()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        Webhook {
            proc,
            port,
            host: host.to_string(),
            http,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("https://{}:{}{path}", self.host, self.port)
    }

    /// Posts raw bytes as JSON: (status, body).
    fn post(&self, body: Vec<u8>) -> (u16, Value) {
        let r = self
            .http
            .post(self.url("/mutate"))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .unwrap();
        let status = r.status().as_u16();
        let text = r.text().unwrap();
        let v = serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"));
        (status, v)
    }

    /// Posts a review that must be answered (200): its `response`.
    fn review(&self, review: &Value) -> Value {
        let (status, v) = self.post(serde_json::to_vec(review).unwrap());
        assert_eq!(status, 200, "{v}\n{}", self.proc.log_text());
        assert_eq!(v["apiVersion"], "admission.k8s.io/v1");
        assert_eq!(v["kind"], "AdmissionReview");
        assert_eq!(v["response"]["uid"], review["request"]["uid"], "uid echoed");
        v["response"].clone()
    }

    fn metric(&self, name: &str) -> f64 {
        let text = self
            .http
            .get(self.url("/metrics"))
            .send()
            .unwrap()
            .text()
            .unwrap();
        text.lines()
            .filter(|l| l.starts_with(name))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }
}

/// A fixture with `REGISTRY` (and the given digests) filled in.
fn fixture(env: &Env, name: &str, subst: &[(&str, &str)]) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/admission")
        .join(name);
    let mut text = std::fs::read_to_string(path).unwrap();
    text = text.replace("REGISTRY", &env.reg.host());
    for (k, v) in subst {
        text = text.replace(k, v);
    }
    serde_json::from_str(&text).unwrap()
}

/// The request's object with the response's JSONPatch applied (by the json-patch crate).
fn patched(review: &Value, response: &Value) -> Value {
    assert_eq!(response["allowed"], true, "{response}");
    assert_eq!(response["patchType"], "JSONPatch", "{response}");
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(response["patch"].as_str().unwrap())
        .unwrap();
    let p: json_patch::Patch = serde_json::from_slice(&bytes).unwrap();
    let mut object = review["request"]["object"].clone();
    json_patch::patch(&mut object, &p).unwrap();
    object
}

/// The request's object with the images at `pointers` set as given.
fn expected(review: &Value, images: &[(&str, String)]) -> Value {
    let mut object = review["request"]["object"].clone();
    for (pointer, image) in images {
        *object.pointer_mut(pointer).unwrap() = Value::String(image.clone());
    }
    object
}

/// Publishes the images the fixtures use; returns (app, side, init, debug) digests.
fn publish_fixture_images(env: &Env) -> [String; 4] {
    [
        env.push_and_publish("app", "1", "app1"),
        env.push_and_publish("side", "2", "side2"),
        env.push_and_publish("init", "1", "init1"),
        env.push_and_publish("debug", "1", "debug1"),
    ]
}

#[test]
fn pods_and_templates_are_rewritten_to_verified_digests() {
    let env = Env::new();
    let [app, side, init, debug] = publish_fixture_images(&env);
    let hook = Webhook::start(&env, &[]);
    let at = |repo: &str, d: &str| format!("{}@{d}", env.r(repo));

    let pod = fixture(&env, "pod.json", &[]);
    let resp = hook.review(&pod);
    assert_eq!(
        patched(&pod, &resp),
        expected(
            &pod,
            &[
                ("/spec/initContainers/0/image", at("init", &init)),
                ("/spec/containers/0/image", at("app", &app)),
                ("/spec/containers/1/image", at("side", &side)),
                ("/spec/ephemeralContainers/0/image", at("debug", &debug)),
            ]
        )
    );
    assert!(resp.get("warnings").is_none(), "{resp}");

    // A tag@digest that is current is checked and kept; a bare digest in a covered repository
    // is kept; the tag is rewritten.
    let dep = fixture(
        &env,
        "deployment.json",
        &[("SIDE_DIGEST", &side), ("INIT_DIGEST", &init)],
    );
    let resp = hook.review(&dep);
    assert_eq!(
        patched(&dep, &resp),
        expected(
            &dep,
            &[("/spec/template/spec/containers/0/image", at("app", &app))]
        )
    );

    let cron = fixture(&env, "cronjob.json", &[]);
    let resp = hook.review(&cron);
    let t = "/spec/jobTemplate/spec/template/spec";
    assert_eq!(
        patched(&cron, &resp),
        expected(
            &cron,
            &[
                (&format!("{t}/initContainers/0/image"), at("init", &init)),
                (&format!("{t}/initContainers/1/image"), at("side", &side)),
                (&format!("{t}/containers/0/image"), at("app", &app)),
                (
                    &format!("{t}/ephemeralContainers/0/image"),
                    at("debug", &debug)
                ),
            ]
        )
    );

    // The rewritten pod is admitted again unchanged (its images are now digests), as the pods a
    // rewritten template creates are.
    let mut again = pod.clone();
    again["request"]["object"] = patched(&pod, &hook.review(&pod));
    let resp = hook.review(&again);
    assert_eq!(resp["allowed"], true);
    assert!(resp.get("patch").is_none(), "{resp}");
}

#[test]
fn one_failing_image_denies_the_whole_pod_with_the_reason() {
    let env = Env::new();
    let [app, _side, _init, _debug] = publish_fixture_images(&env);
    env.push_and_publish("gone", "1", "gone1");
    env.publish("gone:1", &["--withdraw"]);
    // The tag moves before the webhook starts (its cache would keep version 1 for a while).
    let moved = env.push_and_publish("app", "1", "app1-moved");
    let hook = Webhook::start(&env, &[]);

    let multi = fixture(&env, "multi.json", &[]);
    let resp = hook.review(&multi);
    assert_eq!(resp["allowed"], false, "{resp}");
    assert!(
        resp.get("patch").is_none(),
        "a denial carries no patch: {resp}"
    );
    assert_eq!(resp["status"]["code"], 403);
    let msg = resp["status"]["message"].as_str().unwrap();
    for needle in [
        "taglog denied Pod shop/(generated name)",
        "container \"legacy\" (containers[1])",
        &format!("{}/acme/gone:1", env.reg.host()),
        "[withdrawn]",
        "use another tag",
    ] {
        assert!(msg.contains(needle), "message lacks {needle:?}: {msg}");
    }
    assert!(
        !msg.contains("\"app\""),
        "only refused images are named: {msg}"
    );

    // The digest a tag used to name, an unbound tag, an uncovered image, a bad image string.
    let cases = [
        (
            format!("{}@{app}", env.r("app:1")),
            403,
            "[digest-mismatch]",
        ),
        (env.r("app:never"), 403, "[unbound]"),
        (
            format!("{}/other/x:1", env.reg.host()),
            403,
            "[not-covered]",
        ),
        ("Bad/Image:1".to_string(), 400, "[bad-reference]"),
        (format!("{}@sha256:12", env.r("app")), 400, "[bad-digest]"),
    ];
    for (image, code, needle) in cases {
        let mut r = multi.clone();
        r["request"]["object"]["spec"]["containers"] =
            serde_json::json!([{"name": "only", "image": image}]);
        let resp = hook.review(&r);
        assert_eq!(resp["allowed"], false, "{image}: {resp}");
        assert_eq!(resp["status"]["code"], code, "{image}: {resp}");
        let msg = resp["status"]["message"].as_str().unwrap();
        assert!(msg.contains(needle), "{image}: {msg}");
    }
    // The tag is rewritten to the digest it names now.
    let pod = fixture(&env, "pod.json", &[]);
    let obj = patched(&pod, &hook.review(&pod));
    assert_eq!(
        obj.pointer("/spec/containers/0/image").unwrap(),
        &Value::String(format!("{}@{moved}", env.r("app")))
    );
}

#[test]
fn uncovered_namespaces_pins_and_other_operations() {
    let env = Env::new();
    let [app, ..] = publish_fixture_images(&env);
    let moved = env.push_and_publish("app", "1", "app1-v2");
    // A local pin of the first digest (S6): admitted as pinned, with a warning.
    env.client.run(&["pin", &env.r("app:1"), &app]).ok();
    let hook = Webhook::start(
        &env,
        &["--uncovered", "allow", "--skip-namespace", "kube-system"],
    );
    let mut pod = fixture(&env, "multi.json", &[]);
    let uncovered = format!("{}/other/x:1", env.reg.host());
    pod["request"]["object"]["spec"]["containers"] = serde_json::json!([
        {"name": "app", "image": env.r("app:1")},
        {"name": "other", "image": uncovered},
    ]);
    let resp = hook.review(&pod);
    let obj = patched(&pod, &resp);
    assert_eq!(
        obj.pointer("/spec/containers/0/image").unwrap(),
        &Value::String(format!("{}@{app}", env.r("app"))),
        "the pinned digest, not the current {moved}"
    );
    assert_eq!(
        obj.pointer("/spec/containers/1/image").unwrap(),
        &Value::String(uncovered.clone())
    );
    let warnings = resp["warnings"].to_string();
    assert!(warnings.contains("pinned version 1"), "{warnings}");
    assert!(warnings.contains("current is version 2"), "{warnings}");
    assert!(
        warnings.contains("not covered by the trust policy"),
        "{warnings}"
    );

    // An opted-out namespace is not checked at all.
    let mut skipped = pod.clone();
    skipped["request"]["namespace"] = "kube-system".into();
    skipped["request"]["object"]["spec"]["containers"][0]["image"] = "Bad/Image".into();
    let resp = hook.review(&skipped);
    assert_eq!(resp["allowed"], true);
    assert!(resp.get("patch").is_none());

    // DELETE and kinds without a pod spec are allowed unchanged.
    let mut delete = pod.clone();
    delete["request"]["operation"] = "DELETE".into();
    delete["request"]["object"] = Value::Null;
    assert_eq!(hook.review(&delete)["allowed"], true);
    let mut cm = pod.clone();
    cm["request"]["kind"] = serde_json::json!({"group": "", "version": "v1", "kind": "ConfigMap"});
    let resp = hook.review(&cm);
    assert_eq!(resp["allowed"], true);
    assert!(resp.get("patch").is_none());
}

#[test]
fn malformed_oversized_and_wrong_kind_reviews_change_nothing() {
    let env = Env::new();
    publish_fixture_images(&env);
    let hook = Webhook::start(&env, &[]);
    let pod = fixture(&env, "pod.json", &[]);
    hook.review(&pod);
    let state = env.state();
    let checks = hook.metric("taglog_log_checks_total");
    let decisions = hook.metric("taglog_verifications_total");

    let with = |f: &dyn Fn(&mut Value)| {
        let mut v = pod.clone();
        f(&mut v);
        serde_json::to_vec(&v).unwrap()
    };
    let mut oversized = serde_json::to_vec(&pod).unwrap();
    oversized.resize(3 * 1024 * 1024 + 1, b' ');
    let cases: Vec<(Vec<u8>, u16, &str)> = vec![
        (b"{\"apiVersion\":".to_vec(), 400, "review-malformed"),
        (b"not json".to_vec(), 400, "review-malformed"),
        (
            with(&|v| v["apiVersion"] = "admission.k8s.io/v1beta1".into()),
            400,
            "review-api-version",
        ),
        (with(&|v| v["kind"] = "Pod".into()), 400, "review-kind"),
        (with(&|v| v["request"] = Value::Null), 400, "review-request"),
        (
            with(&|v| v["request"]["uid"] = "".into()),
            400,
            "review-request",
        ),
        (
            with(&|v| v["request"]["operation"] = "PATCH".into()),
            400,
            "review-request",
        ),
    ];
    for (body, status, code) in cases {
        let (s, v) = hook.post(body);
        assert_eq!(s, status, "{v}");
        assert_eq!(v["error"]["code"], code, "{v}");
        assert!(!v["error"]["message"].as_str().unwrap().is_empty());
    }
    // Over the limit: refused from Content-Length before the body is read, and a chunked body
    // as soon as it passes the limit (the client sends no more than that and waits).
    let head = |framing: &str| {
        format!(
            "POST /mutate HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n{framing}\r\n\r\n"
        )
    };
    let sized = head(&format!("content-length: {}", oversized.len())).into_bytes();
    let mut chunked = head("transfer-encoding: chunked").into_bytes();
    chunked.extend_from_slice(format!("{:x}\r\n", oversized.len()).as_bytes());
    chunked.extend_from_slice(&oversized);
    for request in [sized, chunked] {
        let (status, body) = raw_tls(hook.port, &request);
        assert_eq!(status, 413, "{body}");
        assert!(body.contains("review-too-large"), "{body}");
    }
    // Another content type.
    let r = hook
        .http
        .post(hook.url("/mutate"))
        .header("content-type", "text/plain")
        .body(serde_json::to_vec(&pod).unwrap())
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 415);

    assert_eq!(env.state(), state, "a refused review changed state.json");
    assert_eq!(hook.metric("taglog_log_checks_total"), checks);
    assert_eq!(hook.metric("taglog_verifications_total"), decisions);
}

#[test]
fn an_unavailable_or_silent_log_denies() {
    let env = Env::new();
    publish_fixture_images(&env);
    let dead = taglog_testkit::closed_port();
    let hook = Webhook::start(&env, &["--log", &format!("http://127.0.0.1:{dead}")]);
    let pod = fixture(&env, "pod.json", &[]);
    let resp = hook.review(&pod);
    assert_eq!(resp["allowed"], false, "{resp}");
    assert_eq!(resp["status"]["code"], 503);
    assert!(resp["status"]["message"]
        .as_str()
        .unwrap()
        .contains("[log-unavailable]"));
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let slow = Webhook::start(
        &env,
        &[
            "--log",
            &format!("http://127.0.0.1:{port}"),
            "--decision-timeout",
            "1s",
        ],
    );
    let resp = slow.review(&pod);
    assert_eq!(resp["allowed"], false, "{resp}");
    assert_eq!(resp["status"]["code"], 504);
    assert!(resp["status"]["message"]
        .as_str()
        .unwrap()
        .contains("no verdict within 1s"));
    drop(silent);
}

/// Sends `request` over TLS (trusting the test certificate) without closing, and reads the
/// response head and body: (status, body text).
fn raw_tls(port: u16, request: &[u8]) -> (u16, String) {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    use tokio_rustls::rustls;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut roots = rustls::RootCertStore::empty();
        let pem = std::fs::read(tls_fixture("tls-cert.pem")).unwrap();
        use rustls_pki_types::pem::PemObject as _;
        for c in rustls_pki_types::CertificateDer::pem_slice_iter(&pem) {
            roots.add(c.unwrap()).unwrap();
        }
        let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .unwrap();
        let name = rustls_pki_types::ServerName::try_from("127.0.0.1").unwrap();
        let mut tls = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config))
            .connect(name, tcp)
            .await
            .unwrap();
        tls.write_all(request).await.unwrap();
        tls.flush().await.unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        let read = async {
            loop {
                match tls.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => got.extend_from_slice(&buf[..n]),
                }
                let text = String::from_utf8_lossy(&got);
                if let Some((head, body)) = text.split_once("\r\n\r\n") {
                    let len = head.lines().find_map(|l| {
                        l.to_ascii_lowercase()
                            .strip_prefix("content-length: ")
                            .map(|v| v.trim().parse::<usize>().unwrap())
                    });
                    if len.is_some_and(|n| body.len() >= n) {
                        break;
                    }
                }
            }
        };
        tokio::time::timeout(Duration::from_secs(20), read)
            .await
            .expect("a response within 20 s");
        let text = String::from_utf8_lossy(&got).into_owned();
        let status = text
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("no HTTP response: {text:?}"));
        let body = text
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_string())
            .unwrap_or_default();
        (status, body)
    })
}

/// The shipped set-up: `deploy/kubernetes/certs.sh` makes a CA and a certificate for the Service
/// name, the webhook runs with exactly the Deployment's arguments (paths and the listen address
/// moved to the test's), the API server's view (trusting only that CA, calling the Service name)
/// gets answers, and the rendered webhook configuration carries that CA.
#[test]
fn the_shipped_deployment_and_certificates_work() {
    let env = Env::new();
    let [app, ..] = publish_fixture_images(&env);
    let deploy = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../deploy/kubernetes");
    let out = tempfile::tempdir().unwrap();
    let status = Command::new("bash")
        .arg(deploy.join("certs.sh"))
        .arg(out.path())
        .arg("30")
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "certs.sh failed");
    let yaml = std::fs::read_to_string(deploy.join("taglog-admission.yaml")).unwrap();
    let port = taglog_testkit::free_port();
    let args: Vec<String> = yaml
        .lines()
        .map(str::trim)
        .skip_while(|l| *l != "args:")
        .skip(1)
        .map_while(|l| l.strip_prefix("- "))
        .map(|a| {
            a.replace("/etc/taglog/policy", env.client.policy.to_str().unwrap())
                .replace("/var/lib/taglog", env.client.state.to_str().unwrap())
                .replace("/etc/taglog/tls", out.path().to_str().unwrap())
                .replace("0.0.0.0:8443", &format!("127.0.0.1:{port}"))
        })
        .collect();
    assert!(args.iter().any(|a| a == "admission"), "{args:?}");
    let service = "taglog-admission.taglog-system.svc";
    let hook = Webhook::spawn(&env, &args, &[], port, &out.path().join("ca.crt"), service);
    let pod = fixture(&env, "pod.json", &[]);
    let obj = patched(&pod, &hook.review(&pod));
    assert_eq!(
        obj.pointer("/spec/containers/0/image").unwrap(),
        &Value::String(format!("{}@{app}", env.r("app")))
    );
    let rendered = std::fs::read_to_string(out.path().join("mutating-webhook.yaml")).unwrap();
    let ca = base64::engine::general_purpose::STANDARD
        .encode(std::fs::read(out.path().join("ca.crt")).unwrap());
    for needle in [
        format!("caBundle: {ca}"),
        "path: /mutate".to_string(),
        "failurePolicy: Fail".to_string(),
        "timeoutSeconds: 10".to_string(),
        format!("name: {}", service.split('.').next().unwrap()),
    ] {
        assert!(
            rendered.contains(&needle),
            "rendered webhook lacks {needle:?}"
        );
    }
}

/// A `dryRun` review gets the answer a real one gets, verifies against the log, and changes
/// nothing: no state file is written and the answer is not cached. The same review without
/// `dryRun` writes the state (so the first check can fail).
#[test]
fn dry_run_reviews_answer_alike_and_change_nothing() {
    let env = Env::new();
    publish_fixture_images(&env);
    let state = env.client.path("webhook-state");
    let hook = Webhook::start_with(&env, &state, &[], &[]);
    let pod = fixture(&env, "pod.json", &[]);
    let mut dry = pod.clone();
    dry["request"]["dryRun"] = true.into();
    let answer = patched(&dry, &hook.review(&dry));
    assert!(!state.join("state.json").exists(), "a dry run wrote state");
    let checks = hook.metric("taglog_log_checks_total");
    assert!(checks >= 1.0, "the dry run did not ask the log");
    // Not cached: a second dry run verifies again.
    assert_eq!(patched(&dry, &hook.review(&dry)), answer);
    assert!(hook.metric("taglog_log_checks_total") > checks);
    assert!(!state.join("state.json").exists(), "a dry run wrote state");
    // The real review gets the same patch and saves what it verified.
    assert_eq!(patched(&pod, &hook.review(&pod)), answer);
    let saved = std::fs::read(state.join("state.json")).expect("the real review saved state");
    // A dry run now uses the cached answer: no log check, no write.
    let checks = hook.metric("taglog_log_checks_total");
    assert_eq!(patched(&dry, &hook.review(&dry)), answer);
    assert_eq!(hook.metric("taglog_log_checks_total"), checks);
    assert_eq!(std::fs::read(state.join("state.json")).unwrap(), saved);
}

/// Once every cosignature is older than max-age (the webhook's clock moved 70 minutes on),
/// images are denied as stale; with `--accept-stale` they are admitted with a warning.
#[test]
fn stale_checkpoints_are_denied_or_accepted_with_a_warning() {
    let env = Env::new();
    let [app, ..] = publish_fixture_images(&env);
    let later = (taglog_testkit::now() + 3600 + 600).to_string();
    let clock = [("TAGLOG_TEST_NOW", later.as_str())];
    let pod = fixture(&env, "pod.json", &[]);
    let strict = Webhook::start_with(&env, &env.client.path("s1"), &clock, &[]);
    let resp = strict.review(&pod);
    assert_eq!(resp["allowed"], false, "{resp}");
    let msg = resp["status"]["message"].as_str().unwrap();
    assert!(
        msg.contains("[stale-checkpoint]") || msg.contains("[quorum-not-met]"),
        "{msg}"
    );
    let lenient = Webhook::start_with(
        &env,
        &env.client.path("s2"),
        &clock,
        &["--accept-stale", "1h"],
    );
    let resp = lenient.review(&pod);
    let obj = patched(&pod, &resp);
    assert_eq!(
        obj.pointer("/spec/containers/0/image").unwrap(),
        &Value::String(format!("{}@{app}", env.r("app")))
    );
    let warnings = resp["warnings"].to_string();
    assert!(warnings.contains("--accept-stale"), "{warnings}");
}

/// On UPDATE only images that changed are decided: a pod whose tag was withdrawn after it
/// started can still be relabelled (or lose its finalizers), an ephemeral container added to it
/// is checked alone, and a changed image is checked and rewritten.
#[test]
fn updates_decide_only_changed_images() {
    let env = Env::new();
    let [app, ..] = publish_fixture_images(&env);
    env.push_and_publish("gone", "1", "gone1");
    let hook = Webhook::start(&env, &[]);
    env.publish("gone:1", &["--withdraw"]);
    let mut update = fixture(&env, "multi.json", &[]);
    update["request"]["operation"] = "UPDATE".into();
    let mut old = update["request"]["object"].clone();
    old["metadata"]["labels"] = serde_json::json!({"before": "relabel"});
    update["request"]["oldObject"] = old.clone();
    // Same images as before (one withdrawn since): allowed, nothing rewritten.
    let resp = hook.review(&update);
    assert_eq!(resp["allowed"], true, "{resp}");
    assert!(resp.get("patch").is_none(), "{resp}");
    // `kubectl debug` (pods/ephemeralcontainers): only the new container is decided.
    let mut debug = update.clone();
    debug["request"]["subResource"] = "ephemeralcontainers".into();
    debug["request"]["object"]["spec"]["ephemeralContainers"] =
        serde_json::json!([{"name": "dbg", "image": env.r("app:1")}]);
    let obj = patched(&debug, &hook.review(&debug));
    assert_eq!(
        obj.pointer("/spec/ephemeralContainers/0/image").unwrap(),
        &Value::String(format!("{}@{app}", env.r("app")))
    );
    assert_eq!(obj["spec"]["containers"], old["spec"]["containers"]);
    // A changed image is decided: here it names the withdrawn tag and is denied.
    let mut changed = update.clone();
    changed["request"]["oldObject"]["spec"]["containers"][1]["image"] = env.r("side:2").into();
    let resp = hook.review(&changed);
    assert_eq!(resp["allowed"], false, "{resp}");
    assert!(resp["status"]["message"]
        .as_str()
        .unwrap()
        .contains("[withdrawn]"));
}
