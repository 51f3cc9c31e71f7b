//! `taglog checkpoint` (fetch, verify and describe the log's newest checkpoint) and
//! `taglog export --tlog-proof` (a verified binding's inclusion as C2SP tlog-proof@v1,
//! <https://c2sp.org/tlog-proof>). Out of scope: verifying tlog-proofs (other C2SP tools do).

use std::collections::BTreeSet;

use taglog_proofs::checkpoint::SignedCheckpoint;
use taglog_proofs::cosignature::verify_cosignature;
use taglog_proofs::policy::{Policy, Quorum};
use taglog_proofs::tlogproof::TlogProof;
use taglog_proofs::verify::FUTURE_SKEW_SECS;

use crate::config::log_client;
use crate::error::{ConfigError, Error, InspectError};
use crate::verify::Report;

/// Fetches `/checkpoint` of the policy's log `origin` (or its only log), verifies the log
/// signature and the cosignatures, and describes size, age and cosigners.
///
/// # Errors
/// [`ConfigError`] if the log is ambiguous or unknown, [`Error::Log`] if it is unavailable,
/// [`InspectError`] if the checkpoint is not validly signed or its fresh cosignatures do not
/// meet the quorum.
pub async fn checkpoint(
    policy: &Policy,
    origin: Option<&str>,
    log_url: Option<&str>,
    now: u64,
) -> Result<String, Error> {
    let log = match (origin, policy.logs()) {
        (Some(o), _) => policy.log(o).ok_or_else(|| ConfigError::UnknownLog {
            origin: o.to_string(),
        })?,
        (None, [only]) => only,
        (None, []) => return Err(ConfigError::NoLog.into()),
        (None, _) => return Err(ConfigError::AmbiguousLog.into()),
    };
    let client = log_client(log, log_url)?;
    let bytes = client.checkpoint().await?;
    let cp = SignedCheckpoint::open(&bytes, &log.key).map_err(|e| InspectError::BadCheckpoint {
        log: client.base().to_string(),
        reason: e.to_string(),
    })?;
    let mut lines = vec![
        format!("origin {}", cp.checkpoint().origin()),
        format!("size {}", cp.checkpoint().size()),
        format!("root {}", cp.checkpoint().root().to_base64()),
    ];
    let max_age = policy.max_age();
    let mut fresh = BTreeSet::new();
    for w in policy.witnesses() {
        let t = cp
            .note()
            .signatures()
            .iter()
            .filter(|s| w.key.matches(s))
            .find_map(|s| verify_cosignature(s, cp.note().text(), &w.key).ok());
        match t {
            Some(t) => {
                let ok =
                    t >= now.saturating_sub(max_age) && t <= now.saturating_add(FUTURE_SKEW_SECS);
                if ok {
                    fresh.insert(w.name.clone());
                }
                lines.push(format!(
                    "cosigned by {} at {t} ({}s ago, {})",
                    w.name,
                    now.saturating_sub(t),
                    if ok { "fresh" } else { "stale" }
                ));
            }
            None => lines.push(format!("no valid cosignature by {}", w.name)),
        }
    }
    let met = policy.quorum_met(&fresh);
    match policy.quorum() {
        Quorum::None => lines.push(
            "quorum none: no cosignature required; `taglog verify` checks the log's state leaf time instead".into(),
        ),
        Quorum::Name(q) => lines.push(format!(
            "quorum {q}: {}",
            if met { "met by fresh cosignatures" } else { "NOT met by fresh cosignatures" }
        )),
    }
    let text = lines.join("\n");
    if met {
        Ok(text)
    } else {
        Err(InspectError::QuorumNotMet { report: text }.into())
    }
}

/// The verified binding's inclusion proof as `c2sp.org/tlog-proof@v1`.
///
/// # Errors
/// [`InspectError::NoBinding`] if the bundle has no binding, [`InspectError::TlogProof`] if
/// it cannot be encoded.
pub fn tlog_proof(report: &Report) -> Result<Vec<u8>, InspectError> {
    let b = report
        .bundle
        .binding
        .as_ref()
        .ok_or(InspectError::NoBinding)?;
    let p = TlogProof::new(
        None,
        b.index,
        b.inclusion.clone(),
        report.bundle.checkpoint.clone(),
    )
    .map_err(|e| InspectError::TlogProof {
        reason: e.to_string(),
    })?;
    Ok(p.to_bytes())
}
