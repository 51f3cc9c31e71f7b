//! The OCI content descriptor containerd writes on the verifier's stdin
//! (`application/vnd.oci.descriptor.v1+json`, OCI image-spec `descriptor.md`), read only for
//! what the verifier checks: its digest (which must be the `-digest` argument) and its media
//! type and size (which must be well formed).
//!
//! Guarantees: at most [`MAX_DESCRIPTOR_BYTES`] are parsed; members other than `mediaType`,
//! `digest` and `size` are ignored (the OCI spec allows extensions); a repeated known member
//! is rejected. Out of scope: `urls`, `annotations`, `platform`, `data` (nothing here depends on
//! them).

use serde::Deserialize;
use taglog_proofs::binding::DigestValue;

/// The media type containerd 2.x passes in `-stdin-media-type`.
pub const DESCRIPTOR_MEDIA_TYPE: &str = "application/vnd.oci.descriptor.v1+json";
/// Most stdin bytes read: a pipe buffer on Linux, which containerd expects a descriptor to fit
/// in (its `bindir` verifier writes stdin asynchronously for that reason).
pub const MAX_DESCRIPTOR_BYTES: usize = 64 * 1024;
/// Longest media type accepted (RFC 6838 allows 127 + 1 + 127 characters).
pub const MAX_MEDIA_TYPE_BYTES: usize = 255;

/// Why the descriptor on stdin was refused.
#[derive(Debug, thiserror::Error)]
pub enum DescriptorError {
    /// More than [`MAX_DESCRIPTOR_BYTES`].
    #[error("the descriptor on stdin is larger than {MAX_DESCRIPTOR_BYTES} bytes")]
    TooLarge,
    /// Not a JSON descriptor.
    #[error("the descriptor on stdin is not an OCI descriptor: {0}")]
    Json(#[source] serde_json::Error),
    /// The digest member is not a sha256 or sha512 digest.
    #[error("the descriptor's digest {0:?} is not sha256:<64 hex> or sha512:<128 hex>")]
    Digest(String),
    /// The media type member is empty, too long or not `type/subtype`.
    #[error("the descriptor's mediaType {0:?} is not a media type")]
    MediaType(String),
    /// A negative size.
    #[error("the descriptor's size {0} is negative")]
    Size(i64),
}

/// The checked part of a descriptor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Descriptor {
    /// `mediaType`.
    pub media_type: String,
    /// `digest`.
    pub digest: DigestValue,
    /// `size`.
    pub size: u64,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Wire {
    media_type: String,
    digest: String,
    size: i64,
}

impl Descriptor {
    /// Parses a descriptor (JSON, surrounding whitespace allowed).
    ///
    /// # Errors
    /// [`DescriptorError`]: too large, not JSON or not an object with `mediaType`, `digest`
    /// and `size`, a repeated member, a digest that is not sha256/sha512 lowercase hex, a
    /// media type that is not `type/subtype`, or a negative size.
    pub fn parse(bytes: &[u8]) -> Result<Descriptor, DescriptorError> {
        if bytes.len() > MAX_DESCRIPTOR_BYTES {
            return Err(DescriptorError::TooLarge);
        }
        let w: Wire = serde_json::from_slice(bytes).map_err(DescriptorError::Json)?;
        let digest = match w.digest.parse::<DigestValue>() {
            Ok(DigestValue::Withdrawn) | Err(_) => return Err(DescriptorError::Digest(w.digest)),
            Ok(d) => d,
        };
        if !is_media_type(&w.media_type) {
            return Err(DescriptorError::MediaType(w.media_type));
        }
        let size = u64::try_from(w.size).map_err(|_| DescriptorError::Size(w.size))?;
        Ok(Descriptor {
            media_type: w.media_type,
            digest,
            size,
        })
    }
}

/// `type/subtype` of printable ASCII without spaces, at most [`MAX_MEDIA_TYPE_BYTES`].
fn is_media_type(s: &str) -> bool {
    let printable = s.bytes().all(|b| b.is_ascii_graphic());
    let parts = s
        .split_once('/')
        .is_some_and(|(t, st)| !t.is_empty() && !st.is_empty() && !st.contains('/'));
    s.len() <= MAX_MEDIA_TYPE_BYTES && printable && parts
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const D: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";

    #[test]
    fn reads_what_containerd_writes() {
        // json.NewEncoder(..).Encode(desc) appends a newline; unknown members are ignored.
        let text = format!(
            "{{\"mediaType\":\"application/vnd.oci.image.index.v1+json\",\"digest\":\"{D}\",\"size\":1234,\"annotations\":{{\"a\":\"b\"}}}}\n"
        );
        let d = Descriptor::parse(text.as_bytes()).unwrap();
        assert_eq!(d.digest.to_string(), D);
        assert_eq!(d.size, 1234);
        assert_eq!(d.media_type, "application/vnd.oci.image.index.v1+json");
    }

    #[test]
    fn refuses_malformed() {
        let m = "application/vnd.oci.image.manifest.v1+json";
        let cases = [
            String::new(),
            "[]".to_string(),
            "{".to_string(),
            format!("{{\"mediaType\":\"{m}\",\"size\":1}}"),
            format!("{{\"mediaType\":\"{m}\",\"digest\":\"{D}\",\"digest\":\"{D}\",\"size\":1}}"),
            format!("{{\"mediaType\":\"{m}\",\"digest\":\"withdrawn\",\"size\":1}}"),
            format!(
                "{{\"mediaType\":\"{m}\",\"digest\":\"{}\",\"size\":1}}",
                &D[..30]
            ),
            format!("{{\"mediaType\":\"no slash\",\"digest\":\"{D}\",\"size\":1}}"),
            format!("{{\"mediaType\":\"{m}\",\"digest\":\"{D}\",\"size\":-1}}"),
            format!("{{\"mediaType\":\"{m}\",\"digest\":\"{D}\",\"size\":1}} trailing"),
            format!("{{\"mediaType\":\"{m}\",\"digest\":\"{D}\",\"size\":1.5}}"),
        ];
        for c in &cases {
            assert!(Descriptor::parse(c.as_bytes()).is_err(), "accepted {c:?}");
        }
        let big = vec![b' '; MAX_DESCRIPTOR_BYTES + 1];
        assert!(matches!(
            Descriptor::parse(&big),
            Err(DescriptorError::TooLarge)
        ));
    }
}
