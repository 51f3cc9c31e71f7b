//! The configured witnesses (`--witness <vkey> <url>`, `--witness-quorum`), checked at load
//! before anything is opened.
//!
//! Guarantees: every witness key is a cosignature/v1 key (0x04); no witness is listed twice
//! (by key name and ID: one witness never counts twice toward the quorum, and its
//! cosignature lines could not be told apart); at most [`MAX_WITNESSES`], so a note with
//! every cosignature and the log's signature stays within signed-note's 32 lines; the
//! quorum is at most the number of witnesses. Out of scope: reaching the witnesses.

use taglog_proofs::note::{KeyError, KeyType, VerifierKey};

/// Most signature lines in a note (DESIGN §3.2, C2SP signed-note).
pub const MAX_NOTE_SIGNATURES: usize = 32;
/// Most witnesses: every one may cosign, and the log signs too.
pub const MAX_WITNESSES: usize = MAX_NOTE_SIGNATURES - 1;

/// A configured witness.
#[derive(Clone, Debug)]
pub struct WitnessConfig {
    /// The witness's cosigner key (type 0x04).
    pub key: VerifierKey,
    /// Its submission prefix; `add-checkpoint` is appended (and, for evidence, its
    /// monitoring prefix: `<origin hash>/checkpoint` is appended).
    pub url: String,
}

/// Why the witness configuration is refused.
#[derive(Debug, thiserror::Error)]
pub enum WitnessConfigError {
    /// `--witness` did not get a key and a URL.
    #[error("expected --witness <vkey> <url>")]
    Syntax,
    /// The key does not parse.
    #[error("witness key {vkey:?}: {source}")]
    BadKey {
        /// The text.
        vkey: String,
        /// Why.
        #[source]
        source: KeyError,
    },
    /// The key is not a cosignature key.
    #[error("witness key {vkey} is not a cosignature key (type 0x04); a witness signs cosignature/v1 lines")]
    NotCosignatureKey {
        /// The key.
        vkey: String,
    },
    /// Two entries share a key name and ID.
    #[error("witness {name}+{id} is listed twice; list each witness once (it would count twice toward the quorum)")]
    Duplicate {
        /// Key name.
        name: String,
        /// Key ID (hex).
        id: String,
    },
    /// More witnesses than fit in a note.
    #[error("{count} witnesses configured; at most {MAX_WITNESSES} witnesses fit in a note beside the log's signature ({MAX_NOTE_SIGNATURES} signature lines)")]
    TooMany {
        /// How many were listed.
        count: usize,
    },
    /// `--start-without-witness` names no configured witness.
    #[error("--start-without-witness {0}: no configured witness has that key name")]
    UnknownWitness(String),
    /// The quorum cannot be met.
    #[error("quorum {quorum} > {witnesses} configured witnesses")]
    Quorum {
        /// The quorum asked for.
        quorum: usize,
        /// The witnesses configured.
        witnesses: usize,
    },
}

/// Parses `--witness` pairs and checks them with the quorum (default: all witnesses);
/// returns the witnesses and the quorum.
///
/// # Errors
/// [`WitnessConfigError`] for the first problem found.
pub fn parse_witnesses(
    flat: &[String],
    quorum: Option<usize>,
) -> Result<(Vec<WitnessConfig>, usize), WitnessConfigError> {
    let mut out: Vec<WitnessConfig> = Vec::new();
    for pair in flat.chunks(2) {
        let [vkey, url] = pair else {
            return Err(WitnessConfigError::Syntax);
        };
        let key: VerifierKey = vkey.parse().map_err(|source| WitnessConfigError::BadKey {
            vkey: vkey.clone(),
            source,
        })?;
        if key.key_type() != KeyType::Cosignature {
            return Err(WitnessConfigError::NotCosignatureKey { vkey: vkey.clone() });
        }
        if out
            .iter()
            .any(|w| w.key.name() == key.name() && w.key.id() == key.id())
        {
            return Err(WitnessConfigError::Duplicate {
                name: key.name().to_string(),
                id: key.id().to_string(),
            });
        }
        out.push(WitnessConfig {
            key,
            url: url.trim_end_matches('/').to_owned(),
        });
    }
    if out.len() > MAX_WITNESSES {
        return Err(WitnessConfigError::TooMany { count: out.len() });
    }
    let quorum = quorum.unwrap_or(out.len());
    if quorum > out.len() {
        return Err(WitnessConfigError::Quorum {
            quorum,
            witnesses: out.len(),
        });
    }
    Ok((out, quorum))
}

/// Checks the `--start-without-witness` names against the configured witnesses.
///
/// # Errors
/// [`WitnessConfigError::UnknownWitness`] for a name no configured witness has.
pub fn start_without(
    witnesses: &[WitnessConfig],
    names: &[String],
) -> Result<Vec<String>, WitnessConfigError> {
    names
        .iter()
        .map(|n| {
            if witnesses.iter().any(|w| w.key.name().as_str() == n) {
                Ok(n.clone())
            } else {
                Err(WitnessConfigError::UnknownWitness(n.clone()))
            }
        })
        .collect()
}
