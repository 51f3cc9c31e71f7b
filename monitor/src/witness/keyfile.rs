//! The witness's own cosigning key: a C2SP signed-note private key file
//! (`PRIVATE+KEY+<name>+<hex8>+<base64(0x04 ‖ seed)>`, DESIGN §3.2).
//!
//! Guarantees: a key file that group or others can read or write is refused (as ssh does),
//! only a cosignature (0x04) key is accepted, and [`generate`] never overwrites an existing
//! file and creates the new one with mode 0600. Out of scope: key rotation and HSMs.

use std::fs::{self, OpenOptions};
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};

use rand_core::{OsRng, RngCore as _};
use taglog_proofs::note::{KeyError, KeyName, KeyType, SignerKey};

/// The largest key file read, in bytes (a key line is about 100 bytes).
pub const MAX_KEY_FILE_BYTES: u64 = 4096;

/// Why the key file could not be loaded or created.
#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    /// A file operation failed.
    #[error("{action} key file {path}: {source}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The key file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// The file is readable or writable by group or others.
    #[error("key file {path} has mode {mode:o}; it must not be accessible by group or others (chmod 600 it)")]
    Permissions {
        /// The key file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The file is not a single private key line.
    #[error("key file {path} is not one PRIVATE+KEY+... line: {source}")]
    Parse {
        /// The key file.
        path: PathBuf,
        /// Why the key did not parse.
        #[source]
        source: KeyError,
    },
    /// The file is too large to be a key.
    #[error("key file {path} is larger than {MAX_KEY_FILE_BYTES} bytes")]
    TooLarge {
        /// The key file.
        path: PathBuf,
    },
    /// The key is a log (0x01) key, not a cosigner (0x04) key.
    #[error("key file {path} holds a {got:?} key; a witness needs a cosignature (0x04) key (create one with --init)")]
    WrongType {
        /// The key file.
        path: PathBuf,
        /// The key's type.
        got: KeyType,
    },
}

/// Loads the witness key from `path`.
///
/// # Errors
/// [`KeyFileError::Permissions`] if group or others have any access, [`KeyFileError::Parse`]
/// for anything but one private key line (an optional final newline is allowed),
/// [`KeyFileError::WrongType`] for a non-cosignature key, [`KeyFileError::Io`].
pub fn load(path: &Path) -> Result<SignerKey, KeyFileError> {
    let io_err = |action| {
        move |source| KeyFileError::Io {
            action,
            path: path.to_owned(),
            source,
        }
    };
    let meta = fs::metadata(path).map_err(io_err("stat"))?;
    check_mode(path, &meta)?;
    if meta.len() > MAX_KEY_FILE_BYTES {
        return Err(KeyFileError::TooLarge {
            path: path.to_owned(),
        });
    }
    let text = fs::read_to_string(path).map_err(io_err("read"))?;
    let line = text.strip_suffix('\n').unwrap_or(&text);
    let key: SignerKey = line.parse().map_err(|source| KeyFileError::Parse {
        path: path.to_owned(),
        source,
    })?;
    if key.key_type() != KeyType::Cosignature {
        return Err(KeyFileError::WrongType {
            path: path.to_owned(),
            got: key.key_type(),
        });
    }
    Ok(key)
}

#[cfg(unix)]
fn check_mode(path: &Path, meta: &fs::Metadata) -> Result<(), KeyFileError> {
    use std::os::unix::fs::PermissionsExt as _;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(KeyFileError::Permissions {
            path: path.to_owned(),
            mode,
        });
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_mode(_path: &Path, _meta: &fs::Metadata) -> Result<(), KeyFileError> {
    Ok(())
}

/// Generates a new cosignature key named `name`, writes it to `path` with mode 0600 (failing
/// if the file exists) and returns it.
///
/// # Errors
/// [`KeyFileError::Io`] if the file exists or cannot be written.
pub fn generate(path: &Path, name: KeyName) -> Result<SignerKey, KeyFileError> {
    let mut seed = [0u8; 32];
    OsRng.fill_bytes(&mut seed);
    let key = SignerKey::from_seed(name, KeyType::Cosignature, seed);
    let io_err = |action| {
        move |source| KeyFileError::Io {
            action,
            path: path.to_owned(),
            source,
        }
    };
    let mut opts = OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        opts.mode(0o600);
    }
    let mut f = opts.open(path).map_err(io_err("create"))?;
    f.write_all(format!("{key}\n").as_bytes())
        .and_then(|()| f.sync_all())
        .map_err(io_err("write"))?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(io_err("fsync the directory of"))?;
    }
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_key_loads_and_others_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.key");
        let key = generate(&path, "witness.example/w1".parse().unwrap()).unwrap();
        assert_eq!(load(&path).unwrap().verifier(), key.verifier());
        assert!(matches!(
            generate(&path, "x".parse().unwrap()),
            Err(KeyFileError::Io { .. })
        ));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            fs::set_permissions(&path, fs::Permissions::from_mode(0o640)).unwrap();
            assert!(matches!(
                load(&path),
                Err(KeyFileError::Permissions { mode: 0o640, .. })
            ));
        }
    }

    #[test]
    fn log_keys_and_garbage_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.key");
        let log_key = SignerKey::from_seed("log".parse().unwrap(), KeyType::Ed25519, [7; 32]);
        let mut opts = OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt as _;
            opts.mode(0o600);
        }
        opts.open(&path)
            .unwrap()
            .write_all(format!("{log_key}\n").as_bytes())
            .unwrap();
        assert!(matches!(load(&path), Err(KeyFileError::WrongType { .. })));
        fs::write(&path, "PRIVATE+KEY+nonsense\n").unwrap();
        assert!(matches!(load(&path), Err(KeyFileError::Parse { .. })));
    }
}
