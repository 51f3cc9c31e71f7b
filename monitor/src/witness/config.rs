//! Which logs the witness accepts: vkeys from `--log` flags or C2SP tlog-policy `log` lines
//! (<https://c2sp.org/tlog-policy>), with the URL the auditor fetches tiles from.
//!
//! Guarantees: only Ed25519 (0x01) log keys are accepted; keys are grouped by origin (the key
//! name), so a log may have several keys (rotation); each origin has at most one URL, an
//! `http://` or `https://` prefix without query or fragment. Out of scope: the other policy
//! lines (`witness`, `group`, `quorum`, taglog's lines), which concern clients and are
//! rejected here so that a client policy is not mistaken for a witness config.

use std::collections::BTreeMap;

use taglog_proofs::note::{KeyError, KeyType, VerifierKey};

/// The largest config file read, in bytes.
pub const MAX_CONFIG_BYTES: usize = 1 << 20;

/// A log the witness cosigns for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogConfig {
    /// The origin (= the name of every key).
    pub origin: String,
    /// Keys trusted for this origin (at least one).
    pub keys: Vec<VerifierKey>,
    /// Prefix of the log's tile URLs (no trailing `/`), needed with `--audit`.
    pub url: Option<String>,
}

/// Why the log configuration is unusable.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A vkey did not parse.
    #[error("{place}: bad log vkey: {source}")]
    BadKey {
        /// Where the key came from.
        place: String,
        /// Why.
        #[source]
        source: KeyError,
    },
    /// A log key that is not Ed25519 (0x01).
    #[error("{place}: log key {name} has type {got:?}; log keys are Ed25519 (0x01)")]
    WrongKeyType {
        /// Where the key came from.
        place: String,
        /// The key name.
        name: String,
        /// Its type.
        got: KeyType,
    },
    /// A URL that is not an http(s) prefix.
    #[error("{place}: log URL {url:?} must start with http:// or https:// and have no query, fragment or whitespace")]
    BadUrl {
        /// Where the URL came from.
        place: String,
        /// The URL.
        url: String,
    },
    /// A `--log-url` flag not of the form `<origin>=<http(s) url>`.
    #[error("--log-url {0:?} must be <origin>=<url>, the URL starting with http:// or https://")]
    BadLogUrlFlag(String),
    /// A URL for an origin with no key.
    #[error("a URL is given for origin {0:?} but no log key has that name")]
    UrlWithoutKey(String),
    /// Two different URLs for one origin.
    #[error("two URLs for origin {origin:?}: {first} and {second}")]
    TwoUrls {
        /// The origin.
        origin: String,
        /// One URL.
        first: String,
        /// The other.
        second: String,
    },
    /// A `log` line that is not `log <vkey> [url]`.
    #[error("config line {line}: expected `log <vkey> [url]`")]
    BadLine {
        /// 1-based line number.
        line: usize,
    },
    /// A line with another keyword (a policy's `witness`, `quorum`, ... lines).
    #[error("config line {line}: `{keyword}` lines are not witness configuration; only `log <vkey> [url]` lines are")]
    OtherKeyword {
        /// 1-based line number.
        line: usize,
        /// The first word.
        keyword: String,
    },
    /// The config file is too large.
    #[error("config file is larger than {MAX_CONFIG_BYTES} bytes")]
    TooLarge,
    /// No log configured at all.
    #[error(
        "no log configured: give --log <vkey> or a --config file with `log <vkey> [url]` lines"
    )]
    NoLogs,
}

/// Collects logs from flags and config text.
#[derive(Default, Debug)]
pub struct LogsBuilder {
    keys: BTreeMap<String, Vec<VerifierKey>>,
    urls: BTreeMap<String, String>,
}

impl LogsBuilder {
    /// Adds a trusted log key and returns its name (the log's origin).
    ///
    /// # Errors
    /// [`ConfigError::BadKey`] or [`ConfigError::WrongKeyType`].
    pub fn add_key(&mut self, vkey: &str, place: &str) -> Result<String, ConfigError> {
        let key: VerifierKey = vkey.parse().map_err(|source| ConfigError::BadKey {
            place: place.to_owned(),
            source,
        })?;
        if key.key_type() != KeyType::Ed25519 {
            return Err(ConfigError::WrongKeyType {
                place: place.to_owned(),
                name: key.name().to_string(),
                got: key.key_type(),
            });
        }
        let origin = key.name().to_string();
        let list = self.keys.entry(origin.clone()).or_default();
        if !list.contains(&key) {
            list.push(key);
        }
        Ok(origin)
    }

    /// Sets the tile URL prefix of `origin`.
    ///
    /// # Errors
    /// [`ConfigError::BadUrl`] or [`ConfigError::TwoUrls`].
    pub fn add_url(&mut self, origin: &str, url: &str, place: &str) -> Result<(), ConfigError> {
        let ok = (url.starts_with("http://") || url.starts_with("https://"))
            && !url.contains(['?', '#'])
            && !url.chars().any(char::is_whitespace);
        if !ok {
            return Err(ConfigError::BadUrl {
                place: place.to_owned(),
                url: url.to_owned(),
            });
        }
        let url = url.trim_end_matches('/').to_owned();
        match self.urls.get(origin) {
            Some(first) if *first != url => Err(ConfigError::TwoUrls {
                origin: origin.to_owned(),
                first: first.clone(),
                second: url,
            }),
            _ => {
                self.urls.insert(origin.to_owned(), url);
                Ok(())
            }
        }
    }

    /// Adds a `--log-url <origin>=<url>` flag.
    ///
    /// # Errors
    /// [`ConfigError::BadLogUrlFlag`] and the errors of [`LogsBuilder::add_url`].
    pub fn add_url_flag(&mut self, flag: &str) -> Result<(), ConfigError> {
        // Split before the scheme, so an origin may itself contain '='.
        let at = ["=http://", "=https://"]
            .iter()
            .filter_map(|p| flag.find(p))
            .min()
            .ok_or_else(|| ConfigError::BadLogUrlFlag(flag.to_owned()))?;
        let (origin, url) = (flag.get(..at), flag.get(at + 1..));
        let (origin, url) = origin
            .zip(url)
            .ok_or_else(|| ConfigError::BadLogUrlFlag(flag.to_owned()))?;
        self.add_url(origin, url, "--log-url")
    }

    /// Adds the `log <vkey> [url]` lines of a config file. Blank lines and lines starting
    /// with `#` are skipped.
    ///
    /// # Errors
    /// [`ConfigError::TooLarge`], [`ConfigError::BadLine`] or [`ConfigError::OtherKeyword`] for
    /// any other line, and the
    /// errors of [`LogsBuilder::add_key`] and [`LogsBuilder::add_url`].
    pub fn add_config(&mut self, text: &str) -> Result<(), ConfigError> {
        if text.len() > MAX_CONFIG_BYTES {
            return Err(ConfigError::TooLarge);
        }
        for (i, line) in text.lines().enumerate() {
            let n = i + 1;
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let mut words = line.split_whitespace();
            match (words.next(), words.next(), words.next(), words.next()) {
                (Some("log"), Some(vkey), url, None) => {
                    let place = format!("config line {n}");
                    let origin = self.add_key(vkey, &place)?;
                    if let Some(url) = url {
                        self.add_url(&origin, url, &place)?;
                    }
                }
                (Some("log"), ..) => return Err(ConfigError::BadLine { line: n }),
                (Some(word), ..) => {
                    return Err(ConfigError::OtherKeyword {
                        line: n,
                        keyword: word.to_owned(),
                    })
                }
                (None, ..) => {}
            }
        }
        Ok(())
    }

    /// The configured logs, sorted by origin.
    ///
    /// # Errors
    /// [`ConfigError::NoLogs`] or [`ConfigError::UrlWithoutKey`].
    pub fn build(mut self) -> Result<Vec<LogConfig>, ConfigError> {
        if let Some(origin) = self.urls.keys().find(|o| !self.keys.contains_key(*o)) {
            return Err(ConfigError::UrlWithoutKey(origin.clone()));
        }
        if self.keys.is_empty() {
            return Err(ConfigError::NoLogs);
        }
        Ok(self
            .keys
            .into_iter()
            .map(|(origin, keys)| {
                let url = self.urls.remove(&origin);
                LogConfig { origin, keys, url }
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use taglog_proofs::note::SignerKey;

    fn vkey(name: &str, seed: u8, t: KeyType) -> String {
        SignerKey::from_seed(name.parse().unwrap(), t, [seed; 32])
            .verifier()
            .to_string()
    }

    #[test]
    fn flags_and_config_lines_group_by_origin() {
        let mut b = LogsBuilder::default();
        b.add_key(&vkey("a.example/log", 1, KeyType::Ed25519), "--log")
            .unwrap();
        let text = format!(
            "# logs\n\nlog {} https://a.example/tiles/\nlog {}\n",
            vkey("a.example/log", 2, KeyType::Ed25519),
            vkey("b.example/log", 3, KeyType::Ed25519)
        );
        b.add_config(&text).unwrap();
        let logs = b.build().unwrap();
        assert_eq!(logs.len(), 2);
        assert_eq!(logs[0].origin, "a.example/log");
        assert_eq!(logs[0].keys.len(), 2);
        assert_eq!(logs[0].url.as_deref(), Some("https://a.example/tiles"));
        assert_eq!(logs[1].url, None);
    }

    #[test]
    fn bad_configs_are_refused() {
        let cosigner = vkey("w", 1, KeyType::Cosignature);
        let mut b = LogsBuilder::default();
        assert!(matches!(
            b.add_key(&cosigner, "--log"),
            Err(ConfigError::WrongKeyType { .. })
        ));
        assert!(matches!(
            b.add_config("quorum none\n"),
            Err(ConfigError::OtherKeyword { line: 1, .. })
        ));
        assert!(matches!(
            b.add_config("log\n"),
            Err(ConfigError::BadLine { .. })
        ));
        assert!(matches!(
            b.add_url_flag("o=ftp://x"),
            Err(ConfigError::BadLogUrlFlag(_))
        ));
        assert!(matches!(
            b.add_url_flag("o=http://x?q"),
            Err(ConfigError::BadUrl { .. })
        ));
        assert!(matches!(
            b.add_url_flag("nourl"),
            Err(ConfigError::BadLogUrlFlag(_))
        ));
        b.add_url_flag("o=http://x").unwrap();
        b.add_url_flag("a=b=https://y/").unwrap();
        assert_eq!(b.urls.get("a=b").map(String::as_str), Some("https://y"));
        assert!(matches!(
            LogsBuilder::default().build(),
            Err(ConfigError::NoLogs)
        ));
        assert!(matches!(b.build(), Err(ConfigError::UrlWithoutKey(_))));
    }
}
