//! Is the log healthy? Judged as clients judge a checkpoint (DESIGN §4 step 3, §5 "/healthz"):
//! by the cosignatures they check, not by the log's own clock.
//!
//! Guarantees: with a witness quorum K > 0, the published checkpoint is fresh only if at
//! least K of the configured witnesses' cosignatures on it verify and carry a time within
//! the window `[now − limit, now + 5 min]`; with K = 0 (clients then check the state leaf's
//! time), its state leaf time must be in that window. A time more than 5 minutes ahead is
//! not fresh (a client rejects it too). Out of scope: halts (checked before) and the HTTP
//! answer.

use taglog_proofs::checkpoint::SignedCheckpoint;
use taglog_proofs::verify::FUTURE_SKEW_SECS;

use crate::config::LogConfig;
use crate::log::heads::Head;

/// A fresh published checkpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fresh {
    /// Its size.
    pub size: u64,
    /// Age in seconds of the newest time that counts (a cosignature, or the state leaf).
    pub age: u64,
    /// Fresh cosignatures by configured witnesses (0 without a quorum).
    pub fresh_cosignatures: usize,
}

/// Why the published checkpoint is not fresh enough.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Stale {
    /// Fewer fresh cosignatures than the quorum.
    #[error("the published checkpoint {size} has {fresh} cosignatures newer than {limit}s (and at most {FUTURE_SKEW_SECS}s ahead) by configured witnesses; the quorum is {quorum}")]
    Cosignatures {
        /// Its size.
        size: u64,
        /// Fresh cosignatures found.
        fresh: usize,
        /// The quorum.
        quorum: usize,
        /// The age limit in seconds.
        limit: u64,
    },
    /// Without a quorum: the state leaf's time is out of the window.
    #[error("the published checkpoint {size} has log time {time}, outside [now − {limit}s, now + {FUTURE_SKEW_SECS}s] (now {now})")]
    LogTime {
        /// Its size.
        size: u64,
        /// Its state leaf time.
        time: u64,
        /// The age limit in seconds.
        limit: u64,
        /// The time judged at.
        now: u64,
    },
}

/// Judges `head` at `now` with an age limit of `limit` seconds.
///
/// # Errors
/// [`Stale`] when clients could not take the checkpoint as fresh.
pub fn judge(head: &Head, config: &LogConfig, now: u64, limit: u64) -> Result<Fresh, Stale> {
    let in_window =
        |t: u64| t >= now.saturating_sub(limit) && t <= now.saturating_add(FUTURE_SKEW_SECS);
    let quorum = config.witness_quorum;
    if quorum == 0 {
        if !in_window(head.time) {
            return Err(Stale::LogTime {
                size: head.size,
                time: head.time,
                limit,
                now,
            });
        }
        return Ok(Fresh {
            size: head.size,
            age: now.saturating_sub(head.time),
            fresh_cosignatures: 0,
        });
    }
    let keys: Vec<_> = config.witnesses.iter().map(|w| w.key.clone()).collect();
    let times: Vec<u64> = SignedCheckpoint::open(&head.note, &config.key.verifier())
        .and_then(|s| s.cosignatures(&keys))
        .map(|v| {
            v.into_iter()
                .map(|c| c.time)
                .filter(|t| in_window(*t))
                .collect()
        })
        .unwrap_or_default();
    if times.len() < quorum {
        return Err(Stale::Cosignatures {
            size: head.size,
            fresh: times.len(),
            quorum,
            limit,
        });
    }
    Ok(Fresh {
        size: head.size,
        age: times
            .iter()
            .map(|t| now.saturating_sub(*t))
            .min()
            .unwrap_or(0),
        fresh_cosignatures: times.len(),
    })
}
