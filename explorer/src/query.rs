//! Query strings of the explorer's pages, parsed strictly and with named limits.
//!
//! `application/x-www-form-urlencoded` (what an HTML form with `method=get` sends): `&`
//! separates pairs, `+` is a space, `%XX` an escaped byte; the decoded value must be UTF-8.
//! Every page names the parameters it takes: an unknown or repeated one, a bad escape, or a
//! value over [`MAX_VALUE_BYTES`] is a [`PageError`] (400 or 414), never a guess.

use crate::PageError;

/// The longest raw query string a page accepts.
pub const MAX_QUERY_BYTES: usize = 2048;
/// The longest decoded value of one parameter (a canonical reference is at most 384 bytes).
pub const MAX_VALUE_BYTES: usize = 512;
/// The most parameters in one query.
pub const MAX_PARAMS: usize = 4;

/// The decoded parameters of one query, in the order given.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Params(Vec<(String, String)>);

impl Params {
    /// The value of `name`, if given.
    #[must_use]
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The value of `name`, which the page needs.
    ///
    /// # Errors
    /// [`PageError`] 400 when it is missing or empty.
    pub fn required(&self, name: &str) -> Result<&str, PageError> {
        match self.get(name) {
            Some(v) if !v.is_empty() => Ok(v),
            _ => Err(PageError::bad_request(format!(
                "this page needs the parameter `{name}`"
            ))),
        }
    }

    /// The value of `name` as a canonical decimal (no sign, no leading zeros, at most 2⁶³−1).
    ///
    /// # Errors
    /// [`PageError`] 400 when it is not one.
    pub fn number(&self, name: &str) -> Result<Option<u64>, PageError> {
        match self.get(name) {
            None | Some("") => Ok(None),
            Some(v) => taglog_proofs::num::parse_decimal(v)
                .map(Some)
                .ok_or_else(|| {
                    PageError::bad_request(format!(
                    "`{name}` must be a decimal number without sign or leading zeros, not {v:?}"
                ))
                }),
        }
    }
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

fn decode(raw: &str) -> Result<String, PageError> {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b'%' => {
                let hi = bytes.get(i + 1).copied().and_then(hex_value);
                let lo = bytes.get(i + 2).copied().and_then(hex_value);
                match (hi, lo) {
                    (Some(hi), Some(lo)) => out.push(hi << 4 | lo),
                    _ => {
                        return Err(PageError::bad_request(
                            "the query has a `%` not followed by two hex digits".to_owned(),
                        ))
                    }
                }
                i += 3;
            }
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out)
        .map_err(|_| PageError::bad_request("the query does not decode to UTF-8 text".to_owned()))
}

/// Parses `raw` (the part after `?`, if any), accepting only the parameters in `allowed`.
///
/// # Errors
/// [`PageError`] 414 for a query over [`MAX_QUERY_BYTES`] or a value over
/// [`MAX_VALUE_BYTES`]; 400 for a bad escape, non-UTF-8 text, an unknown or repeated
/// parameter, or more than [`MAX_PARAMS`] of them.
pub fn parse(raw: Option<&str>, allowed: &[&str]) -> Result<Params, PageError> {
    let raw = raw.unwrap_or_default();
    if raw.len() > MAX_QUERY_BYTES {
        return Err(PageError::too_long(format!(
            "the query has {} bytes; the explorer takes at most {MAX_QUERY_BYTES}",
            raw.len()
        )));
    }
    let mut params = Vec::new();
    for pair in raw.split('&').filter(|p| !p.is_empty()) {
        if params.len() == MAX_PARAMS {
            return Err(PageError::bad_request(format!(
                "the query has more than {MAX_PARAMS} parameters"
            )));
        }
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let name = decode(name)?;
        let value = decode(value)?;
        if !allowed.contains(&name.as_str()) {
            let known = if allowed.is_empty() {
                "none".to_owned()
            } else {
                allowed.join(", ")
            };
            return Err(PageError::bad_request(format!(
                "unknown parameter {name:?}; this page takes: {known}"
            )));
        }
        if params.iter().any(|(n, _)| *n == name) {
            return Err(PageError::bad_request(format!(
                "the parameter `{name}` is given twice"
            )));
        }
        if value.len() > MAX_VALUE_BYTES {
            return Err(PageError::too_long(format!(
                "`{name}` has {} bytes; at most {MAX_VALUE_BYTES} are accepted",
                value.len()
            )));
        }
        params.push((name, value));
    }
    Ok(Params(params))
}

/// Percent-encodes `s` for a query value (unreserved characters and `/`, `:` stay).
#[must_use]
pub fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'/' | b':') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn parses_and_rejects() {
        let p = parse(Some("ref=a%2Fb%3Ac&cursor=3"), &["ref", "cursor"]).unwrap();
        assert_eq!(p.get("ref"), Some("a/b:c"));
        assert_eq!(p.number("cursor").unwrap(), Some(3));
        assert_eq!(parse(Some("x=1"), &["ref"]).unwrap_err().status, 400);
        assert_eq!(
            parse(Some("ref=1&ref=2"), &["ref"]).unwrap_err().status,
            400
        );
        assert_eq!(parse(Some("ref=%zz"), &["ref"]).unwrap_err().status, 400);
        assert_eq!(parse(Some("ref=%ff"), &["ref"]).unwrap_err().status, 400);
        let long = format!("ref={}", "a".repeat(600));
        assert_eq!(parse(Some(&long), &["ref"]).unwrap_err().status, 414);
        let p = parse(Some("cursor=01"), &["cursor"]).unwrap();
        assert_eq!(p.number("cursor").unwrap_err().status, 400);
        assert_eq!(parse(Some("q=a+b"), &["q"]).unwrap().get("q"), Some("a b"));
        assert_eq!(encode("a b&c"), "a%20b%26c");
    }
}
