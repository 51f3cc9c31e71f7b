//! Docker credential helpers (<https://github.com/docker/docker-credential-helpers>):
//! `docker-credential-<name> get` with the server URL on stdin answers
//! `{"ServerURL": ..., "Username": ..., "Secret": ...}` on stdout, or fails with
//! "credentials not found in native keychain".

use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use super::{CredentialError, Credentials, DOCKER_HUB, DOCKER_HUB_HELPER_URL};

/// Longest a helper may run.
pub const HELPER_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest helper output read (stdout and stderr each).
pub const MAX_HELPER_OUTPUT_BYTES: u64 = 64 * 1024;
/// Longest helper name accepted.
pub const MAX_HELPER_NAME_BYTES: usize = 64;

#[derive(serde::Deserialize)]
struct Answer {
    #[serde(rename = "Username", default)]
    username: String,
    #[serde(rename = "Secret", default)]
    secret: String,
}

/// Runs `docker-credential-<name> get` for `host` (Docker Hub is asked for
/// `https://index.docker.io/v1/`, as Docker does). `Ok(None)` when the helper has no
/// credential for the host.
///
/// # Errors
/// [`CredentialError::Helper`] for a name that is not a plain word, a helper that cannot
/// be started, times out, writes more than [`MAX_HELPER_OUTPUT_BYTES`], fails otherwise, or
/// answers with something other than a user and secret (identity tokens included).
pub async fn run_helper(name: &str, host: &str) -> Result<Option<Credentials>, CredentialError> {
    let fail = |reason: String| CredentialError::Helper {
        name: name.chars().take(MAX_HELPER_NAME_BYTES).collect(),
        host: host.to_string(),
        reason,
    };
    let plain = !name.is_empty()
        && name.len() <= MAX_HELPER_NAME_BYTES
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.');
    if !plain {
        return Err(fail("the helper name is not a plain word".into()));
    }
    let server = if host == DOCKER_HUB {
        DOCKER_HUB_HELPER_URL
    } else {
        host
    };
    let run = async {
        let mut child = tokio::process::Command::new(format!("docker-credential-{name}"))
            .arg("get")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| fail(format!("cannot start it: {e}")))?;
        let mut stdin = child.stdin.take().ok_or_else(|| fail("no stdin".into()))?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| fail("no stdout".into()))?;
        let stderr = child
            .stderr
            .take()
            .ok_or_else(|| fail("no stderr".into()))?;
        let write = async {
            let r = stdin.write_all(server.as_bytes()).await;
            drop(stdin);
            r
        };
        let (w, out, err) = tokio::join!(write, read_limited(stdout), read_limited(stderr));
        w.map_err(|e| fail(format!("writing its stdin: {e}")))?;
        let status = child
            .wait()
            .await
            .map_err(|e| fail(format!("waiting for it: {e}")))?;
        Ok::<_, CredentialError>((status, out.map_err(&fail)?, err.map_err(&fail)?))
    };
    let (status, out, err) = tokio::time::timeout(HELPER_TIMEOUT, run)
        .await
        .map_err(|_| fail(format!("no answer within {}s", HELPER_TIMEOUT.as_secs())))??;
    if !status.success() {
        let text = format!(
            "{} {}",
            String::from_utf8_lossy(&out),
            String::from_utf8_lossy(&err)
        );
        if text.to_ascii_lowercase().contains("credentials not found") {
            return Ok(None);
        }
        return Err(fail(format!(
            "{status}: {}",
            text.trim().chars().take(200).collect::<String>()
        )));
    }
    let a: Answer = serde_json::from_slice(&out)
        .map_err(|e| fail(format!("its answer is not the helper protocol's JSON: {e}")))?;
    if a.username == "<token>" {
        return Err(fail(
            "it holds an identity token (OAuth refresh token), which taglog does not use".into(),
        ));
    }
    if a.username.is_empty() && a.secret.is_empty() {
        return Ok(None);
    }
    Ok(Some(Credentials {
        username: a.username,
        password: a.secret,
    }))
}

async fn read_limited(r: impl tokio::io::AsyncRead + Unpin) -> Result<Vec<u8>, String> {
    let mut buf = Vec::new();
    r.take(MAX_HELPER_OUTPUT_BYTES.saturating_add(1))
        .read_to_end(&mut buf)
        .await
        .map_err(|e| format!("reading its output: {e}"))?;
    if buf.len() as u64 > MAX_HELPER_OUTPUT_BYTES {
        return Err(format!(
            "it wrote more than {MAX_HELPER_OUTPUT_BYTES} bytes"
        ));
    }
    Ok(buf)
}
