//! Blob requests (OCI distribution spec, "Pulling blobs"): the answer is returned unread, so
//! that the caller streams it; redirects (to object storage) are followed under the same
//! rule as every request (no plain HTTP to a host not marked insecure), and reqwest drops the
//! `Authorization` header when a redirect leaves the registry's origin.

use taglog_proofs::binding::DigestValue;

use super::{error_code, Registry, RegistryError, Repository, MAX_ERROR_BYTES};
use crate::body::{excerpt, read_limited};

impl Registry {
    /// `GET` (or `HEAD`) of blob `digest` in `repo`, authenticated as [`Registry::send`]
    /// does; the 200 answer is returned with its body unread. There is no overall timeout
    /// (a blob may be large); the connection has the client's connect timeout.
    ///
    /// # Errors
    /// [`RegistryError::NotFound`] for 404 (code `BLOB_UNKNOWN` or the registry's),
    /// [`RegistryError::Unavailable`] for 5xx and 429, [`RegistryError::Protocol`] for any
    /// other status, and the authentication errors of [`Registry::send`].
    pub async fn blob(
        &self,
        repo: &Repository,
        digest: &DigestValue,
        head: bool,
    ) -> Result<reqwest::Response, RegistryError> {
        let url = self.blob_url(repo, &digest.to_string());
        let shown = format!("{repo}@{digest}");
        let method = if head {
            reqwest::Method::HEAD
        } else {
            reqwest::Method::GET
        };
        let resp = self
            .send(repo, &shown, || self.http.request(method.clone(), &url))
            .await?;
        let status = resp.status().as_u16();
        match status {
            200 => Ok(resp),
            404 => {
                let body = read_limited(resp, MAX_ERROR_BYTES)
                    .await
                    .unwrap_or_default();
                let code = error_code(&body);
                Err(RegistryError::NotFound {
                    reference: shown,
                    code: if code.is_empty() {
                        "BLOB_UNKNOWN".into()
                    } else {
                        code
                    },
                })
            }
            429 | 500.. => Err(RegistryError::Unavailable {
                url,
                reason: format!("HTTP {status}"),
            }),
            _ => {
                let body = read_limited(resp, MAX_ERROR_BYTES)
                    .await
                    .unwrap_or_default();
                Err(RegistryError::Protocol {
                    url,
                    status,
                    detail: excerpt(&body),
                })
            }
        }
    }
}
