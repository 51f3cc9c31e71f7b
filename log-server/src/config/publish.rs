//! `--publish`: where the static objects go (issue 15): a local directory (`file:///dir`) or
//! an S3-compatible bucket (`s3://bucket[/prefix]`).
//!
//! For S3 the endpoint, region and credentials come from the standard AWS environment
//! variables (`AWS_ENDPOINT_URL`/`AWS_ENDPOINT`, `AWS_REGION`/`AWS_DEFAULT_REGION`,
//! `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, `AWS_ALLOW_HTTP`);
//! `--publish-endpoint` and `--publish-region` override them. An endpoint named with
//! `http://` is allowed as plain HTTP (the operator named it so). Out of scope: opening the
//! bucket (the `publish` module).

use std::path::PathBuf;

/// Longest `--publish` URL accepted.
pub const MAX_PUBLISH_URL_BYTES: usize = 1024;
/// Default `--publish-interval`: the shortest time between two uploads of a bucket
/// checkpoint. Commits within it are coalesced into one set of objects (the partial tiles and
/// the top of the map are uploaded once instead of once per commit). Chosen by measurement
/// (BENCHMARKS.md section 8): each upload rewrites the top two levels of map objects (~2.5 MB
/// once the map has ~10⁵ keys), so 500 ms halves what 250 ms costs the server, and the
/// publisher's lag stays within a second (p99).
pub const DEFAULT_PUBLISH_INTERVAL: std::time::Duration = std::time::Duration::from_millis(500);
/// Longest `--publish-interval` accepted (longer would leave readers a stale checkpoint).
pub const MAX_PUBLISH_INTERVAL: std::time::Duration = std::time::Duration::from_secs(3600);
/// Default `--publish-grace`: how long a superseded partial tile or edge object stays in the
/// bucket. Well above the checkpoint's `max-age` (5 s), so a reader that fetched an older
/// checkpoint from a cache finds the objects it names; a reader slower than that still
/// verifies, through the fallbacks (a partial tile cut from its full tile, the tiles instead
/// of the edge object).
pub const DEFAULT_PUBLISH_GRACE: std::time::Duration = std::time::Duration::from_secs(60);
/// Longest `--publish-grace` accepted (the bookkeeping is in memory until then).
pub const MAX_PUBLISH_GRACE: std::time::Duration = std::time::Duration::from_secs(7 * 24 * 3600);

/// Where static objects are published.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublishTarget {
    /// A local directory (created if missing).
    File(PathBuf),
    /// An S3-compatible bucket.
    S3 {
        /// Bucket name.
        bucket: String,
        /// Key prefix inside the bucket (no leading or trailing `/`; may be empty).
        prefix: String,
        /// Endpoint URL overriding the environment.
        endpoint: Option<String>,
        /// Region overriding the environment.
        region: Option<String>,
    },
}

impl PublishTarget {
    /// Parses `file:///dir` or `s3://bucket[/prefix]`.
    ///
    /// # Errors
    /// A message naming the accepted forms.
    pub fn parse(
        url: &str,
        endpoint: Option<String>,
        region: Option<String>,
    ) -> Result<PublishTarget, String> {
        let forms = "use file:///absolute/dir or s3://bucket/prefix";
        if url.len() > MAX_PUBLISH_URL_BYTES {
            return Err(format!(
                "the URL is {} bytes, longer than {MAX_PUBLISH_URL_BYTES}",
                url.len()
            ));
        }
        if let Some(path) = url.strip_prefix("file://") {
            if !path.starts_with('/') || path.split('/').any(|s| s == "..") {
                return Err(format!("{url:?} is not an absolute directory; {forms}"));
            }
            if endpoint.is_some() || region.is_some() {
                return Err("--publish-endpoint and --publish-region apply to s3:// only".into());
            }
            return Ok(PublishTarget::File(PathBuf::from(path)));
        }
        if let Some(rest) = url.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            let bucket_ok = (3..=63).contains(&bucket.len())
                && bucket.bytes().all(|c| {
                    c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-' || c == b'.'
                });
            if !bucket_ok {
                return Err(format!(
                    "{bucket:?} is not an S3 bucket name (3-63 of a-z 0-9 . -); {forms}"
                ));
            }
            let prefix = prefix.trim_matches('/');
            if prefix.split('/').any(|s| s == ".." || s == ".")
                || prefix.contains("//")
                || prefix.chars().any(char::is_control)
            {
                return Err(format!("{prefix:?} is not a usable key prefix"));
            }
            return Ok(PublishTarget::S3 {
                bucket: bucket.to_owned(),
                prefix: prefix.to_owned(),
                endpoint,
                region,
            });
        }
        Err(format!("{url:?} is not a publish URL; {forms}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_two_forms_and_refuses_the_rest() {
        assert_eq!(
            PublishTarget::parse("file:///srv/log", None, None),
            Ok(PublishTarget::File("/srv/log".into()))
        );
        assert_eq!(
            PublishTarget::parse("s3://my-bucket/logs/one/", Some("http://x".into()), None),
            Ok(PublishTarget::S3 {
                bucket: "my-bucket".into(),
                prefix: "logs/one".into(),
                endpoint: Some("http://x".into()),
                region: None
            })
        );
        for bad in [
            "file://relative",
            "file:///a/../b",
            "s3://",
            "s3://Caps",
            "s3://ok-bucket/a/../b",
            "s3://ok-bucket/a//b",
            "http://bucket",
            "/dir",
        ] {
            assert!(PublishTarget::parse(bad, None, None).is_err(), "{bad}");
        }
        assert!(PublishTarget::parse("file:///d", None, Some("r".into())).is_err());
        assert!(PublishTarget::parse(&format!("s3://b{}", "x".repeat(1100)), None, None).is_err());
    }
}
