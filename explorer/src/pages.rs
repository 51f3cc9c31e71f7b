//! The pages. Each takes what the server read (the published checkpoint, the index, proof
//! bundles) and returns the HTML, or a [`PageError`] for a bad request.

use std::fmt::Write as _;

use taglog_proofs::binding::SignedBinding;
use taglog_proofs::bundle::{Bundle, History};
use taglog_proofs::note::Note;
use taglog_proofs::refs::TagRef;

use crate::html::{
    age, esc, frame, frame_close, frame_open, push_esc, push_script_json, push_utc, utc,
};
use crate::index::{Index, Timeline};
use crate::limits::{PUBLISHER_PAGE, REPO_TAGS, SEARCH_RESULTS, TIMELINE_PAGE};
use crate::query::encode;
use crate::PageError;

/// Where the pages live and when they are rendered.
#[derive(Clone, Copy, Debug)]
pub struct Site<'a> {
    /// The explorer's path prefix, without a trailing `/` (e.g. `/explore`).
    pub base: &'a str,
    /// The path prefix of the log's API (`/lookup`), without a trailing `/` (`""` at the root).
    pub api: &'a str,
    /// The current time (Unix seconds), for the checkpoint's age.
    pub now: u64,
}

/// The published checkpoint a page is rendered against.
#[derive(Clone, Copy, Debug)]
pub struct Head<'a> {
    /// The signed note with its cosignatures.
    pub note: &'a [u8],
    /// Its tree size.
    pub size: u64,
    /// The log time of its state leaf.
    pub time: u64,
}

/// The longest search text (a canonical reference is at most 384 bytes).
pub const MAX_SEARCH_BYTES: usize = 384;

fn checkpoint_card(site: &Site<'_>, head: &Head<'_>) -> String {
    let mut out = String::from("<section class=\"card\" id=\"checkpoint\"><h2>Checkpoint</h2>");
    let note = match Note::parse(head.note) {
        Ok(n) => n,
        Err(e) => {
            let _ = write!(
                out,
                "<p class=\"fail\">The checkpoint note does not parse: {}</p></section>",
                esc(&e.to_string())
            );
            return out;
        }
    };
    let mut lines = note.text().lines();
    let origin = lines.next().unwrap_or_default();
    let _ = lines.next();
    let root = lines.next().unwrap_or_default();
    let _ = write!(
        out,
        "<p>Log <code>{}</code>, size <b>{}</b>, root <code>{}</code></p>\
<p>Log time {} (<b>{}</b> old)</p>",
        esc(origin),
        head.size,
        esc(root),
        utc(head.time),
        age(site.now.saturating_sub(head.time)),
    );
    let cosigners: Vec<_> = note
        .signatures()
        .iter()
        .filter(|s| s.name().as_str() != origin)
        .collect();
    if cosigners.is_empty() {
        out.push_str("<p>No cosignatures.</p>");
    } else {
        out.push_str(
            "<p>Cosigned by (as the note claims; check them below):</p><ul class=\"list\">",
        );
        for s in cosigners {
            let when = s
                .sig()
                .get(..8)
                .filter(|_| s.sig().len() == 72)
                .and_then(|t| <[u8; 8]>::try_from(t).ok())
                .map(u64::from_be_bytes)
                .map_or_else(
                    || "no timestamp".to_owned(),
                    |t| format!("at {} ({} old)", utc(t), age(site.now.saturating_sub(t))),
                );
            let _ = write!(
                out,
                "<li><code>{}</code> <span class=\"muted\">key {} {}</span></li>",
                esc(s.name().as_str()),
                s.id(),
                when
            );
        }
        out.push_str("</ul>");
    }
    let _ = write!(
        out,
        "<details><summary>Signed note</summary><pre class=\"mono\">{}</pre></details></section>",
        esc(&String::from_utf8_lossy(head.note))
    );
    out
}

fn tag_link(site: &Site<'_>, reference: &str) -> String {
    format!(
        "<a href=\"{}/tag?ref={}\"><code>{}</code></a>",
        site.base,
        esc(&encode(reference)),
        esc(reference)
    )
}

fn repo_link(site: &Site<'_>, repo: &str) -> String {
    format!(
        "<a href=\"{}/repo?name={}\"><code>{}</code></a>",
        site.base,
        esc(&encode(repo)),
        esc(repo)
    )
}

fn publisher_link(site: &Site<'_>, key: &str) -> String {
    format!(
        "<a href=\"{}/publisher?key={}\"><code>{}</code></a>",
        site.base,
        esc(&encode(key)),
        esc(key)
    )
}

/// The repository part of a canonical reference (everything before the last `:`).
fn repository_of(reference: &str) -> &str {
    reference.rsplit_once(':').map_or(reference, |(r, _)| r)
}

/// The start page: the checkpoint and how to search.
#[must_use]
pub fn home_page(site: &Site<'_>, head: &Head<'_>, index: &Index) -> String {
    let body = format!(
        "<h1>taglog explorer</h1>\
<p>Search a tag reference (<code>registry.example/acme/app:1.5</code>), a repository or any \
prefix of them, or a publisher key name. Every page shows what the log holds as of the \
checkpoint below, with the proofs to check it.</p>{}\
<p class=\"muted\">{} leaves indexed.</p>",
        checkpoint_card(site, head),
        index.size().min(head.size)
    );
    frame(site.base, "Log", "", &body)
}

fn check_search(q: &str) -> Result<(), PageError> {
    if q.len() > MAX_SEARCH_BYTES {
        return Err(PageError::too_long(format!(
            "the search has {} bytes; references are at most {MAX_SEARCH_BYTES}",
            q.len()
        )));
    }
    if let Some(c) = q.chars().find(|c| !c.is_ascii_graphic()) {
        return Err(PageError::bad_request(format!(
            "the search contains {c:?}; references, repositories and key names are printable \
             ASCII without spaces"
        )));
    }
    Ok(())
}

/// Search results: refs and repositories starting with `q`, publisher keys starting with it.
///
/// # Errors
/// [`PageError`] 400/414 when `q` is not printable ASCII or too long.
pub fn search_page(
    site: &Site<'_>,
    head: &Head<'_>,
    index: &Index,
    q: &str,
) -> Result<String, PageError> {
    check_search(q)?;
    let mut body = format!("<h1>Search: <code>{}</code></h1>", esc(q));
    if q.is_empty() {
        body.push_str("<p>Type a reference or a prefix of one.</p>");
        return Ok(frame(site.base, "Search", q, &body));
    }
    let mut exact = None;
    if let Ok(r) = TagRef::canonicalize(q) {
        if r.as_str() != q && index.latest(r.as_str(), head.size).is_some() {
            exact = Some(r);
        }
    }
    let (refs, more) = index.refs_with_prefix(q, head.size, SEARCH_RESULTS);
    let publishers = index.publishers_with_prefix(q, SEARCH_RESULTS);
    if let Some(r) = &exact {
        let _ = write!(body, "<p>Did you mean {}?</p>", tag_link(site, r.as_str()));
    }
    let mut repos: Vec<&str> = refs.iter().map(|r| repository_of(r)).collect();
    repos.dedup();
    if refs.is_empty() && publishers.is_empty() {
        let _ = write!(
            body,
            "<p id=\"no-results\">No logged reference, repository or publisher key starts with \
             <code>{}</code> (as of size {}).</p>",
            esc(q),
            head.size
        );
    }
    if !repos.is_empty() {
        body.push_str("<h2>Repositories</h2><ul class=\"list\" id=\"repos\">");
        for r in &repos {
            let _ = write!(body, "<li>{}</li>", repo_link(site, r));
        }
        body.push_str("</ul>");
    }
    if !refs.is_empty() {
        body.push_str("<h2>Tags</h2><ul class=\"list\" id=\"refs\">");
        for r in &refs {
            let _ = write!(body, "<li>{}</li>", tag_link(site, r));
        }
        body.push_str("</ul>");
        if more {
            let _ = write!(
                body,
                "<p class=\"muted\">Only the first {SEARCH_RESULTS} are shown; type a longer prefix.</p>"
            );
        }
    }
    if !publishers.is_empty() {
        body.push_str("<h2>Publisher keys</h2><ul class=\"list\" id=\"publishers\">");
        for p in &publishers {
            let _ = write!(body, "<li>{}</li>", publisher_link(site, p));
        }
        body.push_str("</ul>");
    }
    Ok(frame(site.base, "Search", q, &body))
}

/// Parses a `ref` parameter, which must be canonical.
///
/// # Errors
/// [`PageError`] 400 naming the defect.
pub fn parse_ref(raw: &str) -> Result<TagRef, PageError> {
    raw.parse::<TagRef>().map_err(|e| {
        let hint = TagRef::canonicalize(raw)
            .ok()
            .filter(|r| r.as_str() != raw)
            .map(|r| format!(" (the canonical form is {})", r.as_str()))
            .unwrap_or_default();
        PageError::bad_request(format!(
            "{raw:?} is not a canonical tag reference: {e}{hint}"
        ))
    })
}

/// Appends a link to a tag page of `reference` (the newest versions, or from version
/// `cursor` on), with `text` and the `id` given.
fn push_tag_page_link(
    out: &mut String,
    site: &Site<'_>,
    reference: &str,
    cursor: Option<u64>,
    id: &str,
    text: &str,
) {
    let _ = write!(out, "<a id=\"{id}\" href=\"{}/tag?ref=", site.base);
    push_esc(out, &encode(reference));
    if let Some(c) = cursor {
        let _ = write!(out, "&amp;cursor={c}");
    }
    let _ = write!(out, "\">{text}</a>");
}

/// The links between the pages of a timeline: every version is reachable from any page. The
/// links' ids start with `prefix` (the nav is shown above and below the table).
fn push_timeline_nav(
    out: &mut String,
    site: &Site<'_>,
    reference: &str,
    t: &Timeline,
    prefix: &str,
) {
    if t.older.is_none() && t.newer.is_none() {
        return;
    }
    out.push_str("<nav class=\"pages\" aria-label=\"timeline pages\"><p>");
    if let Some(older) = t.older {
        let (oldest, older_id) = (format!("{prefix}oldest"), format!("{prefix}older"));
        push_tag_page_link(out, site, reference, Some(0), &oldest, "« Oldest");
        out.push_str(" · ");
        push_tag_page_link(
            out,
            site,
            reference,
            Some(older),
            &older_id,
            "‹ Older versions",
        );
    }
    if t.older.is_some() && t.newer.is_some() {
        out.push_str(" · ");
    }
    if let Some(newer) = t.newer {
        let (newer_id, newest) = (format!("{prefix}newer"), format!("{prefix}newest"));
        push_tag_page_link(
            out,
            site,
            reference,
            Some(newer),
            &newer_id,
            "Newer versions ›",
        );
        out.push_str(" · ");
        push_tag_page_link(out, site, reference, None, &newest, "Newest »");
    }
    out.push_str("</p></nav>");
}

/// A tag's page: one page of its timeline from `history` (the bindings of `timeline`, in
/// version order, with inclusion proofs; the newest [`TIMELINE_PAGE`] unless the reader asked
/// for older ones), links to the older and newer pages, the binding current as of the
/// checkpoint from `bundle` (the `/lookup` answer), and both embedded as JSON for the
/// in-browser verifier, which checks what this page shows.
#[must_use]
pub fn tag_page(
    site: &Site<'_>,
    head: &Head<'_>,
    index: &Index,
    bundle: &Bundle,
    history: &History,
    timeline: &Timeline,
) -> String {
    let reference = bundle.reference.as_str();
    let current = bundle.binding.as_ref().map(|b| b.index);
    let bundle_json = bundle.to_json();
    let history_json = history.to_json();
    let mut out = String::with_capacity(
        16 * 1024 + bundle_json.len() + history_json.len() * 3 / 2 + history.entries.len() * 700,
    );
    frame_open(&mut out, site.base, reference, reference);
    out.push_str("<h1>");
    push_esc(&mut out, reference);
    let _ = write!(
        out,
        "</h1><p>Repository {} · <a href=\"{}/lookup?ref=",
        repo_link(site, bundle.reference.repository()),
        site.api,
    );
    push_esc(&mut out, &encode(reference));
    out.push_str("\" download=\"");
    push_esc(&mut out, &reference.replace(['/', ':'], "_"));
    out.push_str(
        ".bundle.json\" id=\"bundle-link\">download the proof bundle</a> \
for <code>taglog verify --bundle</code></p>",
    );
    let current_row = current.and_then(|i| history.entries.iter().find(|e| e.index == i));
    match (
        current,
        current_row.and_then(|e| SignedBinding::parse(&e.entry).ok()),
    ) {
        (None, _) => out.push_str(
            "<p id=\"status\">No binding of this tag is logged as of this checkpoint.</p>",
        ),
        (Some(i), Some(b)) if b.binding().digest.is_withdrawn() => {
            let _ = write!(
                out,
                "<p id=\"status\">As of this checkpoint the tag is <b class=\"fail\">withdrawn</b> \
                 (version {}, log index {i}).</p>",
                b.binding().version
            );
        }
        (Some(i), Some(b)) => {
            let _ = write!(
                out,
                "<p id=\"status\">As of this checkpoint the tag is bound to <code>{}</code> \
                 (version {}, log index {i}).</p>",
                b.binding().digest,
                b.binding().version
            );
        }
        (Some(i), None) => {
            let _ = write!(
                out,
                "<p id=\"status\">As of this checkpoint the current binding is log index {i} \
                 (not on this page: see the "
            );
            push_tag_page_link(
                &mut out,
                site,
                reference,
                None,
                "current-link",
                "newest versions",
            );
            out.push_str(").</p>");
        }
    }
    out.push_str("<h2>Timeline</h2>");
    if timeline.total > 0 {
        let _ = write!(
            out,
            "<p class=\"muted\" id=\"shown\">Versions {} to {} of the {} logged, oldest first \
             (at most {TIMELINE_PAGE} a page).</p>",
            if history.entries.is_empty() {
                timeline.first
            } else {
                timeline.first.saturating_add(1)
            },
            timeline.first.saturating_add(history.entries.len()),
            timeline.total,
        );
    }
    push_timeline_nav(&mut out, site, reference, timeline, "top-");
    out.push_str(
        "<div class=\"scroll\"><table id=\"timeline\"><thead><tr>\
<th>Version</th><th>Digest</th><th>Publisher key</th><th class=\"opt\">Publisher time</th>\
<th>Log index</th><th class=\"opt\">Log time</th></tr></thead><tbody>",
    );
    for e in &history.entries {
        push_row(&mut out, site, index, e.index, &e.entry, current);
    }
    out.push_str("</tbody></table></div>");
    if history.entries.is_empty() {
        out.push_str("<p>No versions.</p>");
    }
    push_timeline_nav(&mut out, site, reference, timeline, "");
    out.push_str(&checkpoint_card(site, head));
    let _ = write!(
        out,
        "<section class=\"card\" id=\"verify\" data-wasm=\"{base}/verify.wasm\"><h2>Verify in your browser</h2>\
<noscript><p>Checking the proofs runs in your browser and needs JavaScript; everything above \
reads without it. Or download the proof bundle and run <code>taglog verify --bundle</code>.</p></noscript>\
<div class=\"needs-js\"><p>Paste the log's verifier key and the witnesses' keys (one a line), or load your taglog \
policy file. The page then checks the checkpoint's signature and cosignatures, the map proof \
of the current binding and the inclusion proof of every version on this page, with taglog's own proof code \
compiled to WebAssembly. It trusts nothing the server says.</p>\
<textarea id=\"keys\" rows=\"4\" spellcheck=\"false\" autocomplete=\"off\" aria-label=\"keys or policy\" \
placeholder=\"log.example.org/taglog+1a2b3c4d+AQ…\"></textarea>\
<p><label>Policy file <input type=\"file\" id=\"policy-file\" accept=\".txt,.policy,text/plain\"></label> \
<button type=\"button\" id=\"verify-button\">Verify</button></p>\
<p id=\"verify-verdict\" aria-live=\"polite\"></p><ul class=\"list\" id=\"verify-results\"></ul></div></section>\
<script type=\"application/json\" id=\"taglog-bundle\">",
        base = site.base,
    );
    push_script_json(&mut out, &bundle_json);
    out.push_str("</script><script type=\"application/json\" id=\"taglog-history\">");
    push_script_json(&mut out, &history_json);
    let _ = write!(
        out,
        "</script><script src=\"{}/verify.js\" defer></script>",
        site.base
    );
    frame_close(&mut out);
    out
}

/// Appends the timeline row of leaf `index`.
fn push_row(
    out: &mut String,
    site: &Site<'_>,
    index: &Index,
    at: u64,
    entry: &[u8],
    current: Option<u64>,
) {
    let Ok(b) = SignedBinding::parse(entry) else {
        let _ = write!(
            out,
            "<tr><td colspan=\"6\" class=\"fail\">Log index {at}: the entry is not a binding \
             statement.</td></tr>"
        );
        return;
    };
    let binding = b.binding();
    let (name, id) = b.signer();
    let withdrawn = binding.digest.is_withdrawn();
    let is_current = Some(at) == current;
    let class = match (is_current, withdrawn) {
        (true, true) => "current withdrawn",
        (true, false) => "current",
        (false, true) => "withdrawn",
        (false, false) => "",
    };
    let _ = write!(
        out,
        "<tr class=\"{class}\" data-index=\"{at}\" data-version=\"{v}\"><td>{v}",
        v = binding.version
    );
    if is_current {
        out.push_str(" <span class=\"badge\">current</span>");
    }
    if withdrawn {
        out.push_str("</td><td><span class=\"badge w\">withdrawn</span>");
    } else {
        let _ = write!(out, "</td><td><code>{}</code>", binding.digest);
    }
    let key = format!("{name}+{id}");
    let _ = write!(out, "</td><td><a href=\"{}/publisher?key=", site.base);
    push_esc(out, &encode(&key));
    out.push_str("\"><code>");
    push_esc(out, &key);
    out.push_str("</code></a></td><td class=\"opt\">");
    push_utc(out, binding.time);
    let _ = write!(out, "</td><td>{at}</td><td class=\"opt\">");
    match index.log_time(at) {
        Some(t) => push_utc(out, t),
        None => out.push('–'),
    }
    out.push_str("</td></tr>");
}

/// Checks a `name` parameter of a repository page: `host[:port]/path`, printable ASCII.
///
/// # Errors
/// [`PageError`] 400.
pub fn check_repository(name: &str) -> Result<(), PageError> {
    check_search(name)?;
    let probe = format!("{name}:latest");
    probe.parse::<TagRef>().map(|_| ()).map_err(|e| {
        PageError::bad_request(format!(
            "{name:?} is not a canonical repository (host[:port]/path): {e}"
        ))
    })
}

/// A repository's page: its tags with their newest binding.
///
/// # Errors
/// [`PageError`] 400 for a name that is not a canonical repository.
pub fn repo_page(
    site: &Site<'_>,
    head: &Head<'_>,
    index: &Index,
    name: &str,
) -> Result<String, PageError> {
    check_repository(name)?;
    let prefix = format!("{name}:");
    let (refs, more) = index.refs_with_prefix(&prefix, head.size, usize::MAX);
    let tags: Vec<&str> = refs
        .into_iter()
        .filter(|r| {
            r.get(prefix.len()..)
                .is_some_and(|t| !t.contains(['/', ':']))
        })
        .collect();
    let mut body = format!("<h1>{}</h1>", esc(name));
    if tags.is_empty() {
        let _ = write!(
            body,
            "<p id=\"no-results\">No tag of this repository is logged (as of size {}).</p>",
            head.size
        );
    } else {
        body.push_str(
            "<div class=\"scroll\"><table id=\"tags\"><thead><tr><th>Tag</th><th>Version</th>\
<th>Digest</th><th class=\"opt\">Publisher key</th><th class=\"opt\">Log time</th></tr></thead><tbody>",
        );
        for r in tags.iter().take(REPO_TAGS) {
            let Some(row) = index.latest(r, head.size) else {
                continue;
            };
            let tag = r.get(prefix.len()..).unwrap_or_default();
            let digest = if row.digest == "withdrawn" {
                "<span class=\"badge w\">withdrawn</span>".to_owned()
            } else {
                format!("<code>{}</code>", esc(&row.digest))
            };
            let _ =
                write!(
                body,
                "<tr><td><a href=\"{}/tag?ref={}\"><code>{}</code></a></td><td>{}</td><td>{}</td>\
<td class=\"opt\">{}</td><td class=\"opt\">{}</td></tr>",
                site.base,
                esc(&encode(r)),
                esc(tag),
                row.version,
                digest,
                publisher_link(site, &row.publisher),
                index.log_time(row.index).map_or_else(|| "–".to_owned(), utc)
            );
        }
        body.push_str("</tbody></table></div>");
        if more || tags.len() > REPO_TAGS {
            let _ = write!(
                body,
                "<p class=\"muted\">Only the first {REPO_TAGS} tags are shown.</p>"
            );
        }
    }
    Ok(frame(site.base, name, name, &body))
}

/// A publisher key's page: every binding it signed, oldest first, from `skip` on.
///
/// # Errors
/// [`PageError`] 400 for a key that is not printable ASCII, 404 when it bound nothing.
pub fn publisher_page(
    site: &Site<'_>,
    head: &Head<'_>,
    index: &Index,
    key: &str,
    skip: u64,
) -> Result<String, PageError> {
    check_search(key)?;
    let skip = usize::try_from(skip).unwrap_or(usize::MAX);
    let (rows, more) = index.by_publisher(key, head.size, skip, PUBLISHER_PAGE);
    if rows.is_empty() && skip == 0 {
        return Err(PageError::not_found(format!(
            "the key {key:?} signed no logged binding (as of size {}); keys are written \
             name+keyid as on the tag pages",
            head.size
        )));
    }
    let mut body = format!(
        "<h1>Publisher key <code>{}</code></h1><p>What this key bound, oldest first.</p>\
<div class=\"scroll\"><table id=\"bound\"><thead><tr><th>Reference</th><th>Version</th><th>Digest</th>\
<th>Log index</th><th class=\"opt\">Log time</th></tr></thead><tbody>",
        esc(key)
    );
    for row in &rows {
        let digest = if row.digest == "withdrawn" {
            "<span class=\"badge w\">withdrawn</span>".to_owned()
        } else {
            format!("<code>{}</code>", esc(&row.digest))
        };
        let _ = write!(
            body,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"opt\">{}</td></tr>",
            tag_link(site, &row.reference),
            row.version,
            digest,
            row.index,
            index
                .log_time(row.index)
                .map_or_else(|| "–".to_owned(), utc)
        );
    }
    body.push_str("</tbody></table></div>");
    if more {
        let _ = write!(
            body,
            "<p><a id=\"next\" href=\"{}/publisher?key={}&amp;cursor={}\">More</a></p>",
            site.base,
            esc(&encode(key)),
            skip.saturating_add(rows.len())
        );
    }
    Ok(frame(site.base, key, "", &body))
}

/// The page for an error.
#[must_use]
pub fn error_page(site: &Site<'_>, e: &PageError) -> String {
    let body = format!(
        "<h1 id=\"error\">{} ({})</h1><p id=\"detail\">{}</p><p><a href=\"{}/\">Back to the explorer</a></p>",
        esc(e.title),
        e.status,
        esc(&e.detail),
        site.base
    );
    frame(site.base, e.title, "", &body)
}
