//! The four top-level Notary roles and delegations, verified in TUF order: a root the user
//! already trusts (optionally rotated), then timestamp → snapshot → targets → delegation
//! (notary `tuf/client/client.go`, The Update Framework specification §5).
//!
//! Guarantees: every returned value was read from a file whose signatures meet its role's
//! threshold under the trusted root (or, for a delegation, under its parent's delegation
//! keys), that has not expired at `now`, whose version is not below the caller's floor, and
//! whose length and hashes are the ones its parent (timestamp or snapshot) signed. A new root
//! is accepted only with a higher version, signed by the threshold of both the old and the new
//! root keys. Out of scope: fetching files, consistent-snapshot file names, nested
//! delegations below `targets/<name>`.

use std::collections::BTreeMap;

use super::keys::KeyTable;
use super::signed::{file_meta, header, meta_map, role_keys, Envelope, FileMeta, RoleKeys};
use super::NotaryError;

/// Most targets one targets file may list.
pub const MAX_TARGETS: usize = 100_000;
/// Most delegated roles one targets file may list.
pub const MAX_DELEGATIONS: usize = 256;

fn malformed(role: &str, reason: impl Into<String>) -> NotaryError {
    NotaryError::Malformed {
        role: role.to_string(),
        reason: reason.into(),
    }
}

fn floor(role: &str, version: u64, min_version: u64) -> Result<(), NotaryError> {
    if version < min_version {
        return Err(NotaryError::Rollback {
            role: role.to_string(),
            trusted: min_version,
            found: version,
        });
    }
    Ok(())
}

/// A root whose signatures were verified and whose keys are trusted.
#[derive(Debug, Clone)]
pub struct TrustedRoot {
    version: u64,
    keys: KeyTable,
    roles: BTreeMap<String, RoleKeys>,
}

impl TrustedRoot {
    /// Reads the root the user already trusts (from their trust directory or a file they
    /// name). Its own root keys must meet its root threshold; it may have expired (a newer
    /// root, or [`TrustedRoot::check_fresh`], decides).
    ///
    /// # Errors
    /// [`NotaryError::Malformed`] or [`NotaryError::Threshold`].
    pub fn pin(bytes: &[u8], now: u64) -> Result<TrustedRoot, NotaryError> {
        let env = Envelope::open("root", bytes)?;
        let root = TrustedRoot::read(&env, now)?;
        env.check_threshold(&root.keys, root.role("root")?)?;
        Ok(root)
    }

    fn read(env: &Envelope, now: u64) -> Result<TrustedRoot, NotaryError> {
        // Expiry is checked separately (an expired trusted root may still sign its successor).
        let version = match header(env, "Root", now) {
            Ok(v) => v,
            Err(NotaryError::Expired { .. }) => header(env, "Root", 0)?,
            Err(e) => return Err(e),
        };
        let s = env.signed();
        let keys = s
            .get("keys")
            .and_then(serde_json::Value::as_object)
            .ok_or_else(|| malformed("root", "no `keys` object"))?;
        let roles_json = s
            .get("roles")
            .and_then(serde_json::Value::as_object)
            .ok_or_else(|| malformed("root", "no `roles` object"))?;
        let mut roles = BTreeMap::new();
        for name in ["root", "targets", "snapshot", "timestamp"] {
            let r = roles_json
                .get(name)
                .ok_or_else(|| malformed("root", format!("no `{name}` role")))?;
            roles.insert(name.to_string(), role_keys(name, r)?);
        }
        Ok(TrustedRoot {
            version,
            keys: KeyTable::from_json(keys, now),
            roles,
        })
    }

    fn role(&self, name: &str) -> Result<&RoleKeys, NotaryError> {
        self.roles
            .get(name)
            .ok_or_else(|| malformed("root", format!("no `{name}` role")))
    }

    /// The root's version.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// Accepts a newer root: higher version, signed by this root's root keys (threshold)
    /// and by its own root keys (threshold).
    ///
    /// # Errors
    /// [`NotaryError::Rollback`] for a version not above this one, [`NotaryError::Threshold`]
    /// when either set of keys did not sign it, [`NotaryError::Malformed`].
    pub fn rotate(&self, bytes: &[u8], now: u64) -> Result<TrustedRoot, NotaryError> {
        let env = Envelope::open("root", bytes)?;
        let next = TrustedRoot::read(&env, now)?;
        if next.version <= self.version {
            return Err(NotaryError::Rollback {
                role: "root".into(),
                trusted: self.version.saturating_add(1),
                found: next.version,
            });
        }
        env.check_threshold(&self.keys, self.role("root")?)?;
        env.check_threshold(&next.keys, next.role("root")?)?;
        Ok(next)
    }

    /// The version of a cached top-level file (`timestamp`, `snapshot` or `targets`) whose
    /// signatures meet its role's threshold under this root, expired or not: the floor for
    /// the versions fetched next (Notary's rollback protection).
    ///
    /// # Errors
    /// As [`TrustedRoot::timestamp`], without expiry.
    pub fn signed_version(&self, role: &str, bytes: &[u8]) -> Result<u64, NotaryError> {
        let env = Envelope::open(role, bytes)?;
        env.check_threshold(&self.keys, self.role(role)?)?;
        let mut ty = role.to_string();
        if let Some(first) = ty.get_mut(0..1) {
            first.make_ascii_uppercase();
        }
        header(&env, &ty, 0)
    }

    /// Checks that this (final) root has not expired at `now`.
    ///
    /// # Errors
    /// [`NotaryError::Expired`].
    pub fn check_fresh(&self, bytes: &[u8], now: u64) -> Result<(), NotaryError> {
        header(&Envelope::open("root", bytes)?, "Root", now).map(|_| ())
    }

    /// Verifies `timestamp.json`.
    ///
    /// # Errors
    /// Any [`NotaryError`] of the envelope, threshold, header or floor checks.
    pub fn timestamp(
        &self,
        bytes: &[u8],
        now: u64,
        min_version: u64,
    ) -> Result<Timestamp, NotaryError> {
        let env = Envelope::open("timestamp", bytes)?;
        env.check_threshold(&self.keys, self.role("timestamp")?)?;
        let version = header(&env, "Timestamp", now)?;
        floor("timestamp", version, min_version)?;
        let snapshot = meta_map(&env)?
            .remove("snapshot")
            .ok_or_else(|| malformed("timestamp", "`meta` has no `snapshot`"))?;
        Ok(Timestamp { version, snapshot })
    }
}

/// A verified `timestamp.json`.
#[derive(Debug, Clone)]
pub struct Timestamp {
    version: u64,
    snapshot: FileMeta,
}

impl Timestamp {
    /// Its version.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// Verifies `snapshot.json` against this timestamp and `root`.
    ///
    /// # Errors
    /// [`NotaryError::LengthMismatch`]/[`NotaryError::HashMismatch`] when it is not the file
    /// the timestamp signed; otherwise as [`TrustedRoot::timestamp`].
    pub fn snapshot(
        &self,
        root: &TrustedRoot,
        bytes: &[u8],
        now: u64,
        min_version: u64,
    ) -> Result<Snapshot, NotaryError> {
        self.snapshot.check("snapshot", bytes)?;
        let env = Envelope::open("snapshot", bytes)?;
        env.check_threshold(&root.keys, root.role("snapshot")?)?;
        let version = header(&env, "Snapshot", now)?;
        floor("snapshot", version, min_version)?;
        Ok(Snapshot {
            version,
            meta: meta_map(&env)?,
        })
    }
}

/// A verified `snapshot.json`.
#[derive(Debug, Clone)]
pub struct Snapshot {
    version: u64,
    meta: BTreeMap<String, FileMeta>,
}

impl Snapshot {
    /// Its version.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// Whether the snapshot lists the role's file.
    pub fn lists(&self, role: &str) -> bool {
        self.meta.contains_key(role)
    }

    fn meta(&self, role: &str) -> Result<&FileMeta, NotaryError> {
        self.meta.get(role).ok_or_else(|| NotaryError::NotListed {
            role: role.to_string(),
        })
    }

    /// Verifies `targets.json`.
    ///
    /// # Errors
    /// As [`Timestamp::snapshot`], and [`NotaryError::NotListed`] when the snapshot does not
    /// list `targets`.
    pub fn targets(
        &self,
        root: &TrustedRoot,
        bytes: &[u8],
        now: u64,
        min_version: u64,
    ) -> Result<Targets, NotaryError> {
        self.meta("targets")?.check("targets", bytes)?;
        let env = Envelope::open("targets", bytes)?;
        env.check_threshold(&root.keys, root.role("targets")?)?;
        let version = header(&env, "Targets", now)?;
        floor("targets", version, min_version)?;
        Targets::read(&env, version, now)
    }

    /// Verifies the file of the delegated role `name`, delegated by `parent`.
    ///
    /// # Errors
    /// [`NotaryError::NotDelegated`] when `parent` does not delegate `name`; as
    /// [`Snapshot::targets`] otherwise.
    pub fn delegation(
        &self,
        parent: &Targets,
        name: &str,
        bytes: &[u8],
        now: u64,
    ) -> Result<Targets, NotaryError> {
        let role = parent
            .delegations
            .iter()
            .find(|d| d.name == name)
            .ok_or_else(|| NotaryError::NotDelegated {
                role: name.to_string(),
            })?;
        self.meta(name)?.check(name, bytes)?;
        let env = Envelope::open(name, bytes)?;
        env.check_threshold(&parent.delegation_keys, &role.keys)?;
        let version = header(&env, "Targets", now)?;
        let mut t = Targets::read(&env, version, now)?;
        t.targets.retain(|target, _| role.covers(target));
        Ok(t)
    }
}

/// A role delegated by a targets file.
#[derive(Debug, Clone)]
pub struct Delegation {
    /// Role name (`targets/<name>`).
    pub name: String,
    keys: RoleKeys,
    paths: Vec<String>,
    path_hash_prefixes: Vec<String>,
}

impl Delegation {
    /// Whether the delegation covers target `name` (a path prefix, or a prefix of the hex
    /// SHA-256 of the name).
    pub fn covers(&self, name: &str) -> bool {
        use sha2::{Digest as _, Sha256};
        self.paths.iter().any(|p| name.starts_with(p.as_str()))
            || (!self.path_hash_prefixes.is_empty() && {
                let h = hex::encode(Sha256::digest(name.as_bytes()));
                self.path_hash_prefixes
                    .iter()
                    .any(|p| h.starts_with(p.as_str()))
            })
    }
}

/// A verified targets file (top-level or delegated): its targets and delegations.
#[derive(Debug, Clone)]
pub struct Targets {
    /// Role name.
    pub role: String,
    /// Version.
    pub version: u64,
    /// Targets by name.
    pub targets: BTreeMap<String, FileMeta>,
    /// Delegated roles.
    pub delegations: Vec<Delegation>,
    delegation_keys: KeyTable,
}

impl Targets {
    fn read(env: &Envelope, version: u64, now: u64) -> Result<Targets, NotaryError> {
        let role = env.role();
        let s = env.signed();
        let list = s
            .get("targets")
            .and_then(serde_json::Value::as_object)
            .ok_or_else(|| malformed(role, "no `targets` object"))?;
        if list.len() > MAX_TARGETS {
            return Err(malformed(role, format!("{} targets", list.len())));
        }
        let targets = list
            .iter()
            .map(|(name, v)| Ok((name.clone(), file_meta(role, name, v)?)))
            .collect::<Result<BTreeMap<_, _>, NotaryError>>()?;
        let (delegations, delegation_keys) = match s.get("delegations") {
            None | Some(serde_json::Value::Null) => (Vec::new(), KeyTable::default()),
            Some(d) => read_delegations(role, d, now)?,
        };
        Ok(Targets {
            role: role.to_string(),
            version,
            targets,
            delegations,
            delegation_keys,
        })
    }

    /// Whether this file delegates `name`.
    pub fn delegates(&self, name: &str) -> bool {
        self.delegations.iter().any(|d| d.name == name)
    }
}

fn strings(role: &str, v: Option<&serde_json::Value>) -> Result<Vec<String>, NotaryError> {
    match v {
        None | Some(serde_json::Value::Null) => Ok(Vec::new()),
        Some(serde_json::Value::Array(a)) => a
            .iter()
            .map(|p| {
                p.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| malformed(role, "a delegation path is not a string"))
            })
            .collect(),
        Some(_) => Err(malformed(role, "delegation paths are not an array")),
    }
}

fn read_delegations(
    role: &str,
    d: &serde_json::Value,
    now: u64,
) -> Result<(Vec<Delegation>, KeyTable), NotaryError> {
    let keys = d
        .get("keys")
        .and_then(serde_json::Value::as_object)
        .ok_or_else(|| malformed(role, "`delegations` has no `keys` object"))?;
    let roles = d
        .get("roles")
        .and_then(serde_json::Value::as_array)
        .ok_or_else(|| malformed(role, "`delegations` has no `roles` array"))?;
    if roles.len() > MAX_DELEGATIONS {
        return Err(malformed(role, format!("{} delegated roles", roles.len())));
    }
    let mut out = Vec::new();
    for r in roles {
        let name = r
            .get("name")
            .and_then(serde_json::Value::as_str)
            .ok_or_else(|| malformed(role, "a delegated role has no name"))?;
        let direct_child = name
            .strip_prefix(role)
            .and_then(|rest| rest.strip_prefix('/'))
            .is_some_and(|rest| !rest.is_empty() && !rest.contains('/'));
        if !direct_child {
            return Err(malformed(
                role,
                format!("delegated role {name:?} is not a child of {role}"),
            ));
        }
        out.push(Delegation {
            name: name.to_string(),
            keys: role_keys(name, r)?,
            paths: strings(name, r.get("paths"))?,
            path_hash_prefixes: strings(name, r.get("path_hash_prefixes"))?,
        });
    }
    Ok((out, KeyTable::from_json(keys, now)))
}

/// The version a root file *claims*, read without any verification: how many root versions
/// to walk ([`TrustedRoot::rotate`] verifies each).
pub fn claimed_version(bytes: &[u8]) -> Option<u64> {
    let env = Envelope::open("unverified", bytes).ok()?;
    env.signed().get("version")?.as_u64()
}

/// The target names a targets file *claims*, read without any verification (at most
/// [`MAX_TARGETS`]); used only to name the tags of a role that failed verification.
pub fn claimed_targets(bytes: &[u8]) -> Vec<String> {
    let Ok(env) = Envelope::open("unverified", bytes) else {
        return Vec::new();
    };
    env.signed()
        .get("targets")
        .and_then(serde_json::Value::as_object)
        .map(|t| t.keys().take(MAX_TARGETS).cloned().collect())
        .unwrap_or_default()
}
