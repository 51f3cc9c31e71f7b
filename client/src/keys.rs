//! Private key files (DESIGN §3.2): `PRIVATE+KEY+<name>+<hex8>+<base64(type ‖ seed)>`, mode
//! 0600. `keygen` creates one (never overwriting); every command refuses a key file that
//! group or others can read. Out of scope: key storage in agents or HSMs.

use std::io::Write as _;
use std::path::Path;

use rand_core::{OsRng, RngCore as _};
use taglog_proofs::note::{KeyName, KeyType, SignerKey, VerifierKey};

use crate::error::KeyError;

/// Largest key file read.
pub const MAX_KEY_FILE_BYTES: u64 = 4096;

/// Generates an Ed25519 publisher key named `name`, writes it to `path` (mode 0600, refusing
/// to overwrite) and returns the verifier key.
///
/// # Errors
/// [`KeyError::Name`] for a bad name, [`KeyError::Create`] for an existing file,
/// [`KeyError::Write`] for other I/O errors.
pub fn keygen(name: &str, path: &Path) -> Result<VerifierKey, KeyError> {
    let name: KeyName =
        name.parse()
            .map_err(|e: taglog_proofs::note::KeyError| KeyError::Name {
                name: name.to_string(),
                reason: e.to_string(),
            })?;
    let mut seed = [0u8; 32];
    OsRng.fill_bytes(&mut seed);
    let key = SignerKey::from_seed(name, KeyType::Ed25519, seed);
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        opts.mode(0o600);
    }
    let mut f = opts.open(path).map_err(|source| KeyError::Create {
        path: path.to_path_buf(),
        source,
    })?;
    writeln!(f, "{key}")
        .and_then(|()| f.sync_all())
        .map_err(|source| KeyError::Write {
            path: path.to_path_buf(),
            source,
        })?;
    Ok(key.verifier())
}

/// Reads a private key file, refusing one that group or others can read.
///
/// # Errors
/// [`KeyError::Read`], [`KeyError::Permissions`] or [`KeyError::Parse`].
pub fn load_signer(path: &Path) -> Result<SignerKey, KeyError> {
    let read = |source| KeyError::Read {
        path: path.to_path_buf(),
        source,
    };
    let meta = std::fs::metadata(path).map_err(read)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(KeyError::Permissions {
                path: path.to_path_buf(),
                mode,
            });
        }
    }
    let parse = |reason: String| KeyError::Parse {
        path: path.to_path_buf(),
        reason,
    };
    if meta.len() > MAX_KEY_FILE_BYTES {
        return Err(parse(format!("larger than {MAX_KEY_FILE_BYTES} bytes")));
    }
    let text = std::fs::read_to_string(path).map_err(read)?;
    text.trim_end_matches('\n')
        .parse()
        .map_err(|e: taglog_proofs::note::KeyError| parse(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keygen_writes_0600_and_loads_back() {
        let tmp = tempfile::tempdir().unwrap();
        let p = tmp.path().join("k");
        let v = keygen("publisher.example", &p).unwrap();
        let k = load_signer(&p).unwrap();
        assert_eq!(k.verifier(), v);
        assert!(keygen("publisher.example", &p).is_err(), "never overwrites");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
            assert!(matches!(
                load_signer(&p),
                Err(KeyError::Permissions { mode: 0o644, .. })
            ));
        }
        assert!(keygen("bad name", &tmp.path().join("x")).is_err());
    }
}
