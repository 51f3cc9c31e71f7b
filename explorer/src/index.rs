//! The explorer's in-memory index of a log: refs by text (for prefix search and repository
//! pages), bindings by publisher key, and the log time of every binding.
//!
//! The server's store indexes refs only by `SHA-256(ref)`, which cannot answer a prefix, and
//! has no index by publisher. The explorer builds this one from the log's leaves, in index
//! order, when it first serves a page, and extends it with the new leaves of each newer
//! published checkpoint ([`Index::feed`]). It holds one small row per binding (≈ 200 bytes):
//! a log of 10⁶ bindings costs about 200 MB of memory. A leaf that does not parse is counted
//! and skipped: the explorer shows what it can and never fails on a log's content.

use std::collections::BTreeMap;
use std::ops::Bound;

use taglog_proofs::leaves::Leaf;

/// One binding, as the explorer lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Row {
    /// Its leaf index.
    pub index: u64,
    /// The canonical reference.
    pub reference: String,
    /// The binding's version.
    pub version: u64,
    /// `sha256:…`, `sha512:…` or `withdrawn`.
    pub digest: String,
    /// The publisher key as `name+keyid` (the note's signature line).
    pub publisher: String,
    /// The publisher's time.
    pub time: u64,
}

/// The index; see the module documentation.
#[derive(Debug, Default)]
pub struct Index {
    size: u64,
    rows: Vec<Row>,
    by_ref: BTreeMap<String, Vec<usize>>,
    by_publisher: BTreeMap<String, Vec<usize>>,
    states: Vec<(u64, u64)>,
    skipped: u64,
}

/// One page of a tag's timeline ([`Index::timeline`]). Versions are named by their number, as
/// the `cursor` of a log's `/history` pages: a page starts at a version and holds the versions
/// from it on, oldest first.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Timeline {
    /// The version this page starts at (the `cursor` that shows it).
    pub from: u64,
    /// Leaf indexes of the versions on this page, oldest first.
    pub indexes: Vec<u64>,
    /// How many of the tag's versions come before this page.
    pub first: usize,
    /// How many versions the tag has below the checkpoint.
    pub total: usize,
    /// Where the page of the versions just before this one starts, if there are any.
    pub older: Option<u64>,
    /// Where the page of the versions just after this one starts, if there are any.
    pub newer: Option<u64>,
}

/// Why [`Index::feed`] refused a leaf.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("leaf {given} fed out of order: the index holds leaves 0..{expected}")]
pub struct OutOfOrder {
    /// The index given.
    pub given: u64,
    /// The next index expected.
    pub expected: u64,
}

impl Index {
    /// An empty index.
    #[must_use]
    pub fn new() -> Index {
        Index::default()
    }

    /// How many leaves it has read (leaves `0..size`).
    #[must_use]
    pub fn size(&self) -> u64 {
        self.size
    }

    /// How many leaves did not parse and were skipped.
    #[must_use]
    pub fn skipped(&self) -> u64 {
        self.skipped
    }

    /// Reads leaf `index`, which must be the next one ([`Index::size`]).
    ///
    /// # Errors
    /// [`OutOfOrder`] otherwise; nothing changes.
    pub fn feed(&mut self, index: u64, entry: &[u8]) -> Result<(), OutOfOrder> {
        if index != self.size {
            return Err(OutOfOrder {
                given: index,
                expected: self.size,
            });
        }
        self.size += 1;
        match Leaf::parse(entry) {
            Ok(Leaf::Binding(b)) => {
                let (name, id) = b.signer();
                let binding = b.binding();
                let row = Row {
                    index,
                    reference: binding.reference.to_string(),
                    version: binding.version,
                    digest: binding.digest.to_string(),
                    publisher: format!("{name}+{id}"),
                    time: binding.time,
                };
                let at = self.rows.len();
                self.by_ref
                    .entry(row.reference.clone())
                    .or_default()
                    .push(at);
                self.by_publisher
                    .entry(row.publisher.clone())
                    .or_default()
                    .push(at);
                self.rows.push(row);
            }
            Ok(Leaf::State(s)) => self.states.push((index, s.time)),
            Ok(Leaf::Publisher(_)) => {}
            Err(_) => self.skipped += 1,
        }
        Ok(())
    }

    /// The log time of leaf `index`: the time of the first state leaf after it (the one that
    /// closed its checkpoint), if the index has read it.
    #[must_use]
    pub fn log_time(&self, index: u64) -> Option<u64> {
        let at = self.states.partition_point(|(i, _)| *i < index);
        self.states.get(at).map(|(_, t)| *t)
    }

    /// Refs starting with `prefix` (byte-wise), sorted, at most `limit`, from leaves below
    /// `size`; the flag says whether more exist.
    #[must_use]
    pub fn refs_with_prefix(&self, prefix: &str, size: u64, limit: usize) -> (Vec<&str>, bool) {
        let mut out = Vec::new();
        let range = self
            .by_ref
            .range::<str, _>((Bound::Included(prefix), Bound::Unbounded));
        for (r, at) in range {
            if !r.starts_with(prefix) {
                break;
            }
            let visible = at
                .first()
                .and_then(|&i| self.rows.get(i))
                .is_some_and(|row| row.index < size);
            if !visible {
                continue;
            }
            if out.len() == limit {
                return (out, true);
            }
            out.push(r.as_str());
        }
        (out, false)
    }

    /// The newest binding of `reference` below `size`, if any.
    #[must_use]
    pub fn latest(&self, reference: &str, size: u64) -> Option<&Row> {
        self.by_ref.get(reference).and_then(|at| {
            at.iter()
                .rev()
                .filter_map(|&i| self.rows.get(i))
                .find(|r| r.index < size)
        })
    }

    /// Leaf indexes of the bindings of `reference` below `size` with version ≥ `from`, oldest
    /// first, at most `limit`, and the version the next page starts at, if more exist (the
    /// `cursor` of a log's `/history` pages, for a reader without one).
    #[must_use]
    pub fn versions(
        &self,
        reference: &str,
        from: u64,
        size: u64,
        limit: usize,
    ) -> (Vec<u64>, Option<u64>) {
        let mut out = Vec::new();
        let rows = self
            .by_ref
            .get(reference)
            .map(Vec::as_slice)
            .unwrap_or_default()
            .iter()
            .filter_map(|&i| self.rows.get(i))
            .filter(|r| r.version >= from && r.index < size);
        for row in rows {
            if out.len() == limit {
                return (out, Some(row.version));
            }
            out.push(row.index);
        }
        (out, None)
    }

    /// One page of `reference`'s timeline below `size`: at most `limit` versions from version
    /// `cursor` on, or the newest `limit` without one, oldest first, with where the pages
    /// before and after it start; see [`Timeline`].
    #[must_use]
    pub fn timeline(
        &self,
        reference: &str,
        cursor: Option<u64>,
        size: u64,
        limit: usize,
    ) -> Timeline {
        let rows: Vec<&Row> = self
            .by_ref
            .get(reference)
            .map(Vec::as_slice)
            .unwrap_or_default()
            .iter()
            .filter_map(|&i| self.rows.get(i))
            .filter(|r| r.index < size)
            .collect();
        let limit = limit.max(1);
        let first = match cursor {
            Some(v) => rows.partition_point(|r| r.version < v),
            None => rows.len().saturating_sub(limit),
        };
        let end = first.saturating_add(limit).min(rows.len());
        Timeline {
            from: cursor.unwrap_or_else(|| rows.get(first).map_or(0, |r| r.version)),
            indexes: rows
                .get(first..end)
                .unwrap_or_default()
                .iter()
                .map(|r| r.index)
                .collect(),
            first,
            total: rows.len(),
            older: (first > 0)
                .then(|| rows.get(first.saturating_sub(limit)).map(|r| r.version))
                .flatten(),
            newer: rows.get(end).map(|r| r.version),
        }
    }

    /// Bindings by `publisher` (`name+keyid`) below `size`, oldest first, skipping `skip`, at
    /// most `limit`; the flag says whether more exist.
    #[must_use]
    pub fn by_publisher(
        &self,
        publisher: &str,
        size: u64,
        skip: usize,
        limit: usize,
    ) -> (Vec<&Row>, bool) {
        let rows: Vec<&Row> = self
            .by_publisher
            .get(publisher)
            .map(|at| {
                at.iter()
                    .filter_map(|&i| self.rows.get(i))
                    .filter(|r| r.index < size)
                    .skip(skip)
                    .take(limit.saturating_add(1))
                    .collect()
            })
            .unwrap_or_default();
        let more = rows.len() > limit;
        (rows.into_iter().take(limit).collect(), more)
    }

    /// Publisher keys (`name+keyid`) starting with `prefix`, at most `limit`.
    #[must_use]
    pub fn publishers_with_prefix(&self, prefix: &str, limit: usize) -> Vec<&str> {
        self.by_publisher
            .range::<str, _>((Bound::Included(prefix), Bound::Unbounded))
            .take_while(|(p, _)| p.starts_with(prefix))
            .take(limit)
            .map(|(p, _)| p.as_str())
            .collect()
    }
}
