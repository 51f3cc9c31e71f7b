//! `WWW-Authenticate` parsing (RFC 9110 §11.6.1) for the registry's 401 answers: the Bearer
//! challenge of the Docker token flow and the Basic challenge of htpasswd registries.

use super::{RegistryError, MAX_CHALLENGE_BYTES};

/// One authentication challenge from `WWW-Authenticate`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Challenge {
    /// `Bearer realm="...",service="...",scope="..."`.
    Bearer {
        /// Token endpoint URL.
        realm: String,
        /// `service` parameter, if any.
        service: Option<String>,
        /// `scope` parameter, if any.
        scope: Option<String>,
    },
    /// `Basic realm="..."`.
    Basic,
}

/// Parses a `WWW-Authenticate` header (RFC 9110 §11.6.1) and returns its challenges in
/// order. Auth parameters are `name=token` or `name="quoted string"` (with `\` escapes);
/// schemes are case-insensitive; unknown schemes are skipped.
///
/// # Errors
/// [`RegistryError::BadChallenge`] for an oversized or malformed header, or a Bearer
/// challenge without a realm.
pub fn parse_www_authenticate(header: &str) -> Result<Vec<Challenge>, RegistryError> {
    let bad = |reason: &str| RegistryError::BadChallenge {
        header: header.chars().take(200).collect(),
        reason: reason.into(),
    };
    if header.len() > MAX_CHALLENGE_BYTES {
        return Err(bad("header too long"));
    }
    // (scheme, params)
    let mut raw: Vec<(String, Vec<(String, String)>)> = Vec::new();
    let mut rest = header.trim_start();
    while !rest.is_empty() {
        let (word, after) = take_token(rest);
        if word.is_empty() {
            return Err(bad("expected a scheme or parameter name"));
        }
        let after_ws = after.trim_start();
        if let Some(v) = after_ws.strip_prefix('=') {
            // A parameter of the current challenge.
            let (value, tail) =
                take_value(v.trim_start()).ok_or_else(|| bad("unterminated quoted string"))?;
            let (_, params) = raw
                .last_mut()
                .ok_or_else(|| bad("parameter before any scheme"))?;
            params.push((word.to_ascii_lowercase(), value));
            rest = tail.trim_start();
        } else {
            raw.push((word.to_ascii_lowercase(), Vec::new()));
            rest = after_ws;
        }
        rest = rest.strip_prefix(',').unwrap_or(rest).trim_start();
    }
    let mut out = Vec::new();
    for (scheme, params) in raw {
        let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        match scheme.as_str() {
            "bearer" => out.push(Challenge::Bearer {
                realm: get("realm").ok_or_else(|| bad("Bearer challenge without realm"))?,
                service: get("service"),
                scope: get("scope"),
            }),
            "basic" => out.push(Challenge::Basic),
            _ => {}
        }
    }
    if out.is_empty() {
        return Err(bad("no Bearer or Basic challenge"));
    }
    Ok(out)
}

fn take_token(s: &str) -> (&str, &str) {
    let end = s
        .find(|c: char| c.is_whitespace() || c == '=' || c == ',' || c == '"')
        .unwrap_or(s.len());
    s.split_at(end)
}

fn take_value(s: &str) -> Option<(String, &str)> {
    if let Some(q) = s.strip_prefix('"') {
        let mut out = String::new();
        let mut chars = q.char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                '"' => return Some((out, q.get(i.saturating_add(1)..).unwrap_or(""))),
                '\\' => out.push(chars.next()?.1),
                c => out.push(c),
            }
        }
        None
    } else {
        let (tok, rest) = take_token(s);
        Some((tok.to_string(), rest))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_docker_hub_challenge() {
        let h = r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/nginx:pull""#;
        assert_eq!(
            parse_www_authenticate(h).unwrap(),
            vec![Challenge::Bearer {
                realm: "https://auth.docker.io/token".into(),
                service: Some("registry.docker.io".into()),
                scope: Some("repository:library/nginx:pull".into()),
            }]
        );
    }

    #[test]
    fn parses_basic_tokens_escapes_and_several_challenges() {
        assert_eq!(
            parse_www_authenticate(r#"Basic realm="Registry Realm""#).unwrap(),
            vec![Challenge::Basic]
        );
        assert_eq!(
            parse_www_authenticate("basic").unwrap(),
            vec![Challenge::Basic]
        );
        let h = r#"Newauth realm="apps", type=1, title="Login to \"apps\"", BEARER realm=https://a.example/t , scope="repository:a/b:pull,push", Basic realm="x""#;
        assert_eq!(
            parse_www_authenticate(h).unwrap(),
            vec![
                Challenge::Bearer {
                    realm: "https://a.example/t".into(),
                    service: None,
                    scope: Some("repository:a/b:pull,push".into()),
                },
                Challenge::Basic
            ]
        );
    }

    #[test]
    fn rejects_bad_challenges() {
        for h in [
            "",
            "Bearer service=\"x\"",
            "Bearer realm=\"unterminated",
            "=x",
            "Negotiate abc",
            &"Bearer realm=\"x\" ".repeat(1000),
        ] {
            assert!(parse_www_authenticate(h).is_err(), "{h:?}");
        }
    }
}
