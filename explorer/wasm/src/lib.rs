//! The explorer's in-browser verifier: what a tag page shows, checked with `taglog-proofs`
//! against keys the reader supplies, never against anything the server says.
//!
//! [`report`] takes the reader's keys (verifier keys, one a line, or a client policy file),
//! the page's `/lookup` bundle and `/history` entries, and the time, and returns a JSON report:
//! the checkpoint's log signature, its cosignatures under the quorum, its state leaf, the map
//! proof of the current binding, and each timeline entry's inclusion proof, version sequence
//! and (when the policy names publishers for the ref) publisher signature; each with `ok` and
//! a reason in plain words.
//!
//! Built for `wasm32-unknown-unknown` it exports plain C-ABI functions, used by the page's
//! hand-written JavaScript: `taglog_alloc(len) -> ptr` (an input buffer the caller fills),
//! `taglog_verify(keys_ptr, keys_len, bundle_ptr, bundle_len, history_ptr, history_len, now)
//! -> report_len`, `taglog_output() -> ptr` (the report's UTF-8 bytes) and `taglog_reset()`
//! (frees the buffers). No `unsafe` block: inputs are found by the pointer handed out.

use std::cell::RefCell;
use std::str::FromStr;

use serde_json::{json, Value};
use taglog_proofs::binding::SignedBinding;
use taglog_proofs::bundle::{Bundle, History};
use taglog_proofs::hash::leaf_hash;
use taglog_proofs::inclusion::verify_inclusion;
use taglog_proofs::map::MapLookup;
use taglog_proofs::note::{KeyType, Note, VerifierKey};
use taglog_proofs::policy::Policy;
use taglog_proofs::verify::{verify_head, VerifiedHead};

/// The largest input buffer [`taglog_alloc`] hands out.
pub const MAX_INPUT_BYTES: usize = 16 * 1024 * 1024;
/// How old a checkpoint may be when the reader pastes keys rather than a policy (a policy's
/// own `max-age` applies otherwise): the page shows history, and shows the age itself.
pub const PASTED_MAX_AGE: &str = "366d";

struct Report {
    checks: Vec<Value>,
    entries: Vec<Value>,
    current: Option<u64>,
    checkpoint: Option<Value>,
}

impl Report {
    fn check(&mut self, what: &str, ok: bool, detail: String) -> bool {
        self.checks
            .push(json!({"what": what, "ok": ok, "detail": detail}));
        ok
    }

    fn finish(self) -> String {
        let ok = !self.checks.is_empty()
            && self.checks.iter().all(|c| c["ok"] == true)
            && self.entries.iter().all(|e| e["ok"] == true);
        json!({
            "ok": ok,
            "checks": self.checks,
            "entries": self.entries,
            "current": self.current,
            "checkpoint": self.checkpoint,
        })
        .to_string()
    }
}

/// The group of all pasted witness keys (every one must cosign).
const GROUP: &str = "pasted-keys";

/// The policy and log key the reader's text gives for `origin`.
fn trust(keys: &str, origin: &str) -> Result<(Policy, VerifierKey), String> {
    let lines: Vec<(usize, &str)> = keys
        .lines()
        .map(str::trim)
        .enumerate()
        .filter(|(_, l)| !l.is_empty() && !l.starts_with('#'))
        .collect();
    if lines.is_empty() {
        return Err("no keys given: paste the log's verifier key (and the witnesses' keys), or load your taglog policy file".to_owned());
    }
    if lines.iter().any(|(_, l)| l.starts_with("log ")) {
        let policy = Policy::parse(keys.as_bytes())
            .map_err(|e| format!("the policy file does not parse: {e}"))?;
        let key = policy
            .log(origin)
            .map(|l| l.key.clone())
            .ok_or_else(|| format!("the policy has no `log` line for this log ({origin})"))?;
        return Ok((policy, key));
    }
    let mut log_key = None;
    let mut witnesses = Vec::new();
    for (n, line) in lines {
        let key = VerifierKey::from_str(line)
            .map_err(|e| format!("line {} is not a verifier key: {e}", n + 1))?;
        match key.key_type() {
            KeyType::Ed25519 if key.name().as_str() == origin => log_key = Some(key),
            KeyType::Ed25519 => {
                return Err(format!(
                    "line {}: the key {} is neither this log's key (named {origin}) nor a witness (cosignature) key",
                    n + 1,
                    key.name()
                ))
            }
            KeyType::Cosignature => witnesses.push(key),
        }
    }
    let log_key = log_key.ok_or_else(|| {
        format!("none of the keys is this log's key: a key named {origin} is needed")
    })?;
    let mut text = format!("log {log_key}\nmax-age {PASTED_MAX_AGE}\n");
    // Each witness is called by its key's name (what the report then shows), unless that name
    // is taken or reserved.
    let mut names: Vec<String> = Vec::new();
    for (i, w) in witnesses.iter().enumerate() {
        let own = w.name().as_str();
        let mut name = own.to_owned();
        let mut n = i;
        while name == "none" || name == GROUP || names.contains(&name) {
            name = format!("witness-{n}");
            n += witnesses.len();
        }
        text.push_str(&format!("witness {name} {w}\n"));
        names.push(name);
    }
    if witnesses.is_empty() {
        text.push_str("quorum none\n");
    } else {
        text.push_str(&format!(
            "group {GROUP} all {}\nquorum {GROUP}\n",
            names.join(" ")
        ));
    }
    let policy = Policy::parse(text.as_bytes()).map_err(|e| format!("the keys: {e}"))?;
    Ok((policy, log_key))
}

fn head_check(
    r: &mut Report,
    policy: &Policy,
    key: &VerifierKey,
    bundle: &Bundle,
    now: u64,
) -> Option<VerifiedHead> {
    match verify_head(policy, key, &bundle.checkpoint, &bundle.state, now) {
        Ok(head) => {
            let cosigners: Vec<String> = head
                .info
                .cosigners
                .iter()
                .map(|(name, _)| name.clone())
                .collect();
            let detail = if cosigners.is_empty() {
                format!(
                    "signed by the log key {}; no cosignature was required; tree size {}",
                    key.name(),
                    head.info.size
                )
            } else {
                format!(
                    "signed by the log key {} and cosigned by {} (the quorum is met); tree size {}",
                    key.name(),
                    cosigners.join(", "),
                    head.info.size
                )
            };
            r.check("Checkpoint", true, detail);
            r.checkpoint = Some(json!({
                "origin": head.info.origin,
                "size": head.info.size,
                "log_time": head.info.log_time,
                "cosigners": head.info.cosigners,
            }));
            Some(head)
        }
        Err(e) => {
            r.check(
                "Checkpoint",
                false,
                format!("the checkpoint on this page does not verify with your keys: {e}"),
            );
            None
        }
    }
}

/// Checks the page's data; see the crate documentation. Returns the report as JSON text.
#[must_use]
pub fn report(keys: &str, bundle: &[u8], history: &[u8], now: u64) -> String {
    let mut r = Report {
        checks: Vec::new(),
        entries: Vec::new(),
        current: None,
        checkpoint: None,
    };
    let bundle = match Bundle::parse(bundle) {
        Ok(b) => b,
        Err(e) => {
            r.check(
                "Proof bundle",
                false,
                format!("the page's proof bundle does not parse: {e}"),
            );
            return r.finish();
        }
    };
    let history = match History::parse(history) {
        Ok(h) => h,
        Err(e) => {
            r.check(
                "Timeline",
                false,
                format!("the page's timeline data does not parse: {e}"),
            );
            return r.finish();
        }
    };
    let origin = match Note::parse(&bundle.checkpoint) {
        Ok(n) => n.text().lines().next().unwrap_or_default().to_owned(),
        Err(e) => {
            r.check(
                "Checkpoint",
                false,
                format!("the checkpoint does not parse: {e}"),
            );
            return r.finish();
        }
    };
    let (policy, log_key) = match trust(keys, &origin) {
        Ok(t) => t,
        Err(e) => {
            r.check("Keys", false, e);
            return r.finish();
        }
    };
    let Some(head) = head_check(&mut r, &policy, &log_key, &bundle, now) else {
        return r.finish();
    };
    let (size, root) = (head.info.size, head.info.root);
    if history.checkpoint != bundle.checkpoint || history.reference != bundle.reference {
        r.check(
            "Timeline",
            false,
            "the timeline is proven against another checkpoint or is about another tag than the bundle".to_owned(),
        );
        return r.finish();
    }
    let reference = &bundle.reference;
    // The map proof: which binding is current as of the checkpoint.
    let current = match bundle.map.proof.verify(&reference.key(), &head.map_root) {
        Err(e) => {
            r.check(
                "Current binding",
                false,
                format!("the map proof does not match the checkpoint's map root: {e}"),
            );
            return r.finish();
        }
        Ok(MapLookup::Absent) => {
            let ok = bundle.binding.is_none();
            r.check(
                "Current binding",
                ok,
                if ok {
                    "the map proof shows no binding of this tag as of the checkpoint".to_owned()
                } else {
                    "the map proof shows no binding, but the page gives one".to_owned()
                },
            );
            None
        }
        Ok(MapLookup::Present(v)) => {
            let proven = bundle.binding.as_ref().filter(|b| {
                b.index == v.index
                    && leaf_hash(&b.entry) == v.leaf_hash
                    && verify_inclusion(b.index, size, &v.leaf_hash, &b.inclusion, &root).is_ok()
            });
            let ok = r.check(
                "Current binding",
                proven.is_some(),
                if proven.is_some() {
                    format!(
                        "the map proof shows version {} at log index {} is current as of the checkpoint",
                        v.version, v.index
                    )
                } else {
                    format!(
                        "the map proof names version {} at log index {}, but the page's current binding is not that leaf",
                        v.version, v.index
                    )
                },
            );
            ok.then_some(v)
        }
    };
    r.current = current.map(|v| v.index);
    // Every timeline entry: in the tree, of this tag and this log, versions consecutive.
    let publishers: Vec<VerifierKey> = policy
        .publishers()
        .iter()
        .filter(|p| p.prefix.matches(reference))
        .map(|p| p.key.clone())
        .collect();
    let mut previous: Option<u64> = None;
    for e in &history.entries {
        let hash = leaf_hash(&e.entry);
        let mut problems = Vec::new();
        if let Err(err) = verify_inclusion(e.index, size, &hash, &e.inclusion, &root) {
            problems.push(format!("not in the checkpoint's tree: {err}"));
        }
        let mut row = serde_json::Map::new();
        row.insert("index".to_owned(), json!(e.index));
        match SignedBinding::parse(&e.entry) {
            Err(err) => problems.push(format!("not a binding statement: {err}")),
            Ok(b) => {
                let binding = b.binding();
                let (name, id) = b.signer();
                row.insert("version".to_owned(), json!(binding.version));
                row.insert("digest".to_owned(), json!(binding.digest.to_string()));
                row.insert("publisher".to_owned(), json!(format!("{name}+{id}")));
                row.insert("time".to_owned(), json!(binding.time));
                if &binding.reference != reference {
                    problems.push(format!("binds another tag ({})", binding.reference));
                }
                if binding.log != origin {
                    problems.push(format!("is for another log ({})", binding.log));
                }
                if let Some(p) = previous {
                    if binding.version != p.saturating_add(1) {
                        problems.push(format!(
                            "version {} does not follow version {p}",
                            binding.version
                        ));
                    }
                }
                previous = Some(binding.version);
                if !publishers.is_empty() && b.verify_any(&publishers).is_err() {
                    problems.push(
                        "not signed by a publisher key your policy allows for this tag".to_owned(),
                    );
                }
            }
        }
        row.insert("ok".to_owned(), json!(problems.is_empty()));
        row.insert("detail".to_owned(), json!(problems.join("; ")));
        r.entries.push(Value::Object(row));
    }
    if history.next_cursor.is_none() {
        let newest = history.entries.last().map(|e| e.index);
        let ok = newest == current.map(|v| v.index);
        r.check(
            "Timeline",
            ok,
            if ok {
                format!(
                    "{} version(s), each proven in the checkpoint's tree; the newest is the current binding",
                    history.entries.len()
                )
            } else {
                "the timeline's newest version is not the binding the map proof shows as current (a version is hidden or added)".to_owned()
            },
        );
    } else {
        r.check(
            "Timeline",
            true,
            format!(
                "{} version(s) on this page, each proven in the checkpoint's tree",
                history.entries.len()
            ),
        );
    }
    if publishers.is_empty() {
        r.check(
            "Publisher signatures",
            true,
            "not checked: no publisher key for this tag in what you gave (load a policy with `publisher` lines to check them)".to_owned(),
        );
    } else {
        r.check(
            "Publisher signatures",
            true,
            format!(
                "checked against the {} key(s) your policy allows for this tag",
                publishers.len()
            ),
        );
    }
    r.finish()
}

thread_local! {
    static INPUTS: RefCell<Vec<Vec<u8>>> = const { RefCell::new(Vec::new()) };
    static OUTPUT: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

fn take(ptr: *const u8, len: usize) -> Vec<u8> {
    INPUTS.with(|inputs| {
        let mut inputs = inputs.borrow_mut();
        match inputs
            .iter()
            .position(|b| b.as_ptr() == ptr && b.len() == len)
        {
            Some(at) => inputs.swap_remove(at),
            None => Vec::new(),
        }
    })
}

/// A zeroed input buffer of `len` bytes for the caller to fill; null over [`MAX_INPUT_BYTES`].
#[allow(unsafe_code)] // `no_mangle` only: the export's name.
#[no_mangle]
pub extern "C" fn taglog_alloc(len: usize) -> *mut u8 {
    if len > MAX_INPUT_BYTES {
        return std::ptr::null_mut();
    }
    INPUTS.with(|inputs| {
        let mut buf = vec![0u8; len.max(1)];
        buf.truncate(len);
        let ptr = buf.as_mut_ptr();
        inputs.borrow_mut().push(buf);
        ptr
    })
}

/// Runs [`report`] on three buffers from [`taglog_alloc`]; returns the report's length (read
/// it at [`taglog_output`]). An unknown buffer counts as empty.
#[allow(unsafe_code)] // `no_mangle` only: the export's name.
#[no_mangle]
pub extern "C" fn taglog_verify(
    keys: *const u8,
    keys_len: usize,
    bundle: *const u8,
    bundle_len: usize,
    history: *const u8,
    history_len: usize,
    now: f64,
) -> usize {
    let keys = take(keys, keys_len);
    let bundle = take(bundle, bundle_len);
    let history = take(history, history_len);
    // Seconds as a JavaScript number: whole, non-negative, below 2⁵³.
    let now = if (0.0..9_007_199_254_740_992.0).contains(&now) {
        now as u64
    } else {
        0
    };
    let out = report(&String::from_utf8_lossy(&keys), &bundle, &history, now).into_bytes();
    OUTPUT.with(|o| {
        *o.borrow_mut() = out;
        o.borrow().len()
    })
}

/// The last report's bytes.
#[allow(unsafe_code)] // `no_mangle` only: the export's name.
#[no_mangle]
pub extern "C" fn taglog_output() -> *const u8 {
    OUTPUT.with(|o| o.borrow().as_ptr())
}

/// Frees every input buffer and the report.
#[allow(unsafe_code)] // `no_mangle` only: the export's name.
#[no_mangle]
pub extern "C" fn taglog_reset() {
    INPUTS.with(|i| i.borrow_mut().clear());
    OUTPUT.with(|o| o.borrow_mut().clear());
}

#[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
#[allow(unsafe_code)] // the registration macro's own export
mod no_randomness {
    /// Verification needs no randomness; anything that asks for it fails.
    fn unavailable(_: &mut [u8]) -> Result<(), getrandom::Error> {
        Err(getrandom::Error::UNSUPPORTED)
    }
    getrandom::register_custom_getrandom!(unavailable);
}
