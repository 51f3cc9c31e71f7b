//! The explorer's pages served by a real `taglog-server` process: a tag's timeline in order
//! with its withdrawal and the current binding marked, search by prefix, repository and
//! publisher pages, the bundle download, and clear 4xx pages for malformed and oversized
//! queries (after which the server still serves and the log is unchanged).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use taglog_proofs::binding::DigestValue;
use taglog_proofs::bundle::{Bundle, History};
use taglog_testkit::bindings::{filled, sign, T0};
use taglog_testkit::http::get;
use taglog_testkit::keys::publisher;
use taglog_testkit::log_server::{add_binding_blocking, LogServer, ORIGIN};
use taglog_testkit::tempdir;

const REF: &str = "registry.example/acme/app:1.5";
const OTHER: &str = "registry.example/acme/app:latest";
const ELSEWHERE: &str = "registry.example/acme/tools:2";

fn publish(url: &str, reference: &str, version: u64, digest: DigestValue) {
    let body = sign(
        &publisher(),
        ORIGIN,
        reference,
        digest,
        version,
        T0 + version,
    );
    let r = add_binding_blocking(url, body);
    assert_eq!(r.status, 200, "{}", r.text());
}

/// The positions of `needle`s in `hay`, which must all be present.
fn positions(hay: &str, needles: &[&str]) -> Vec<usize> {
    needles
        .iter()
        .map(|n| {
            hay.find(n)
                .unwrap_or_else(|| panic!("{n:?} not in page:\n{hay}"))
        })
        .collect()
}

fn row(page: &str, version: u64) -> &str {
    let start = page
        .find(&format!("data-version=\"{version}\""))
        .unwrap_or_else(|| panic!("no row for version {version}:\n{page}"));
    let head = &page[..start];
    let open = head.rfind("<tr").unwrap();
    let end = page[start..].find("</tr>").unwrap() + start;
    &page[open..end]
}

#[test]
fn explorer_pages_against_a_real_server() {
    let dir = tempdir();
    let server = LogServer::start(dir.path(), &[]);
    let url = &server.url;
    publish(url, REF, 1, filled(0x11));
    publish(url, REF, 2, filled(0x22));
    publish(url, REF, 3, DigestValue::Withdrawn);
    publish(url, REF, 4, filled(0x44));
    publish(url, OTHER, 1, filled(0x55));
    publish(url, ELSEWHERE, 7, filled(0x66));

    // The tag page: four versions in order, the withdrawal shown, version 4 current.
    let r = get(&format!("{url}/explore/tag?ref={REF}"));
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(
        r.content_type.starts_with("text/html"),
        "{}",
        r.content_type
    );
    let page = r.text();
    let order = positions(
        &page,
        &[
            "data-version=\"1\"",
            "data-version=\"2\"",
            "data-version=\"3\"",
            "data-version=\"4\"",
        ],
    );
    assert!(
        order.windows(2).all(|w| w[0] < w[1]),
        "versions out of order"
    );
    assert!(
        row(&page, 4).contains("class=\"current\""),
        "{}",
        row(&page, 4)
    );
    assert!(row(&page, 4).contains(&format!("sha256:{}", "44".repeat(32))));
    for v in 1..=3 {
        assert!(!row(&page, v).contains("current"), "{}", row(&page, v));
    }
    assert!(row(&page, 3).contains("withdrawn"), "{}", row(&page, 3));
    assert!(!row(&page, 2).contains("withdrawn"));
    let key = format!("{}+{}", publisher().name(), publisher().id());
    assert!(
        row(&page, 1).contains(&key),
        "publisher key missing: {}",
        row(&page, 1)
    );
    assert!(
        row(&page, 1).contains("2025-11-24 16:00:01 UTC"),
        "publisher time"
    );
    assert!(page.contains("id=\"checkpoint\""));
    assert!(page.contains(&format!("bound to <code>sha256:{}</code>", "44".repeat(32))));
    assert!(
        !page.contains("http://") && !page.contains("https://"),
        "external reference"
    );

    // The download link gives the /lookup bundle of the ref.
    let link_at = page.find("id=\"bundle-link\"").unwrap();
    let href_at = page[..link_at].rfind("href=\"").unwrap() + 6;
    let href = &page[href_at..href_at + page[href_at..].find('"').unwrap()];
    let href = href.replace("&amp;", "&");
    let b = get(&format!("{url}{href}"));
    assert_eq!(b.status, 200, "{href}: {}", b.text());
    let bundle = Bundle::parse(&b.body).unwrap();
    assert_eq!(bundle.reference.as_str(), REF);

    // Search by prefix finds both tags of the repository and its repository, not the other.
    let s = get(&format!("{url}/explore/search?q=registry.example/acme/ap"));
    assert_eq!(s.status, 200, "{}", s.text());
    let text = s.text();
    assert!(text.contains(&format!("<code>{REF}</code>")), "{text}");
    assert!(text.contains(&format!("<code>{OTHER}</code>")), "{text}");
    assert!(!text.contains(ELSEWHERE), "{text}");
    let none = get(&format!("{url}/explore/search?q=registry.example/nothing"));
    assert_eq!(none.status, 200);
    assert!(none.text().contains("id=\"no-results\""));

    // The repository page lists its tags with their newest version.
    let repo = get(&format!(
        "{url}/explore/repo?name=registry.example/acme/app"
    ));
    assert_eq!(repo.status, 200, "{}", repo.text());
    let text = repo.text();
    assert!(
        text.contains("<code>1.5</code>") && text.contains("<code>latest</code>"),
        "{text}"
    );
    assert!(!text.contains("tools"), "{text}");

    // The publisher page lists all six bindings of its key.
    let p = get(&format!(
        "{url}/explore/publisher?key={}",
        key.replace('+', "%2B")
    ));
    assert_eq!(p.status, 200, "{}", p.text());
    let text = p.text();
    assert_eq!(text.matches("/explore/tag?ref=").count(), 6, "{text}");
    assert!(text.contains(ELSEWHERE));

    // The start page shows the checkpoint.
    let home = get(&format!("{url}/explore"));
    assert_eq!(home.status, 200);
    assert!(home.text().contains("id=\"checkpoint\""));

    // Malformed and oversized queries: a clear HTML page with a 4xx status.
    let size_before = get(&format!("{url}/checkpoint")).text();
    let long = "a".repeat(3000);
    let bad: &[(&str, u16, &str)] = &[
        ("/explore/tag", 400, "needs the parameter `ref`"),
        (
            "/explore/tag?ref=not%20a%20ref",
            400,
            "not a canonical tag reference",
        ),
        (
            "/explore/tag?ref=nginx",
            400,
            "docker.io/library/nginx:latest",
        ),
        ("/explore/tag?ref=%zz", 400, "two hex digits"),
        ("/explore/tag?ref=%ff%fe", 400, "UTF-8"),
        ("/explore/tag?ref=a&ref=b", 400, "given twice"),
        (
            "/explore/tag?ref=registry.example/acme/app:1.5&cursor=01",
            400,
            "leading zeros",
        ),
        (
            "/explore/tag?ref=registry.example/acme/app:1.5&cursor=-1",
            400,
            "decimal",
        ),
        ("/explore/tag?bogus=1", 400, "unknown parameter"),
        ("/explore/search?q=a%00b", 400, "printable ASCII"),
        ("/explore/search?q=a&b=1", 400, "this page takes: q"),
        (
            "/explore/repo?name=no-slash",
            400,
            "not a canonical repository",
        ),
        (
            "/explore/publisher?key=nobody%2B00000000",
            404,
            "signed no logged binding",
        ),
        ("/explore/nothing-here", 404, "no such explorer page"),
    ];
    for (path, status, words) in bad {
        let r = get(&format!("{url}{path}"));
        assert_eq!(r.status, *status, "{path}: {}", r.text());
        assert!(
            r.content_type.starts_with("text/html"),
            "{path}: {}",
            r.content_type
        );
        assert!(r.text().contains("id=\"error\""), "{path}: {}", r.text());
        assert!(r.text().contains(words), "{path}: {}", r.text());
    }
    let r = get(&format!("{url}/explore/search?q={long}"));
    assert_eq!(r.status, 414, "{}", r.text());
    assert!(r.text().contains("at most"), "{}", r.text());
    let r = get(&format!("{url}/explore/search?q={}", "b".repeat(400)));
    assert_eq!(r.status, 414, "{}", r.text());
    // Still serving, nothing changed.
    assert_eq!(get(&format!("{url}/checkpoint")).text(), size_before);
    assert_eq!(get(&format!("{url}/explore/tag?ref={REF}")).status, 200);
}

/// The `href` of the link with `id` on `page`, unescaped, if there is one.
fn link(page: &str, id: &str) -> Option<String> {
    let open = format!("<a id=\"{id}\" href=\"");
    let start = page.find(&open)? + open.len();
    let end = start + page[start..].find('"')?;
    Some(page[start..end].replace("&amp;", "&"))
}

/// The versions of the timeline rows on `page`, in page order.
fn versions_shown(page: &str) -> Vec<u64> {
    page.split("data-version=\"")
        .skip(1)
        .map(|s| s[..s.find('"').unwrap()].parse().unwrap())
        .collect()
}

/// The `/history` JSON the page embeds for its verifier.
fn embedded_history(page: &str) -> History {
    let open = "<script type=\"application/json\" id=\"taglog-history\">";
    let start = page.find(open).unwrap() + open.len();
    let end = start + page[start..].find("</script>").unwrap();
    History::parse(&page.as_bytes()[start..end]).unwrap()
}

#[test]
fn a_long_timeline_is_paged_newest_first_and_every_version_is_reachable() {
    const VERSIONS: u64 = 230;
    let page_len = taglog_explorer::limits::TIMELINE_PAGE as u64;
    assert!(VERSIONS > 2 * page_len, "the test wants three pages");
    let dir = tempdir();
    let server = LogServer::start(dir.path(), &[]);
    let url = &server.url;
    for v in 1..=VERSIONS {
        publish(url, REF, v, filled(u8::try_from(v % 250).unwrap()));
    }
    publish(url, OTHER, 1, filled(0x55));

    // The tag page: the newest page of versions, oldest first, the newest one current.
    let r = get(&format!("{url}/explore/tag?ref={REF}"));
    assert_eq!(r.status, 200, "{}", r.text());
    let page = r.text();
    let newest: Vec<u64> = (VERSIONS - page_len + 1..=VERSIONS).collect();
    assert_eq!(versions_shown(&page), newest);
    assert!(row(&page, VERSIONS).contains("class=\"current\""));
    assert_eq!(
        page.matches("class=\"current").count(),
        1,
        "one current row"
    );
    assert!(page.contains(&format!(
        "Versions {} to {VERSIONS} of the {VERSIONS} logged",
        VERSIONS - page_len + 1
    )));
    assert!(link(&page, "newer").is_none() && link(&page, "newest").is_none());
    // What the verifier is given is what is shown: the same leaves, the newest page.
    let h = embedded_history(&page);
    let indexes: Vec<u64> = h.entries.iter().map(|e| e.index).collect();
    let rows: Vec<u64> = page
        .split("data-index=\"")
        .skip(1)
        .map(|s| s[..s.find('"').unwrap()].parse().unwrap())
        .collect();
    assert_eq!(indexes, rows);
    assert_eq!(h.next_cursor, None);

    // Older pages, by their links only (as a reader without JavaScript follows them), reach
    // version 1; on them the current binding is named and linked, no row is marked current,
    // and the embedded history says where the newer versions go on.
    let mut seen: std::collections::BTreeSet<u64> = newest.iter().copied().collect();
    let mut at = page;
    let mut pages = 1;
    while let Some(href) = link(&at, "older") {
        let r = get(&format!("{url}{href}"));
        assert_eq!(r.status, 200, "{href}: {}", r.text());
        at = r.text();
        pages += 1;
        let shown = versions_shown(&at);
        assert!(
            !shown.is_empty() && shown.len() as u64 <= page_len,
            "{href}"
        );
        assert!(
            shown.windows(2).all(|w| w[1] == w[0] + 1),
            "{href}: {shown:?}"
        );
        seen.extend(&shown);
        assert!(!at.contains("class=\"current"), "{href}");
        assert!(at.contains("not on this page"), "{href}");
        assert_eq!(
            link(&at, "current-link").as_deref(),
            Some(format!("/explore/tag?ref={REF}").as_str())
        );
        assert_eq!(
            link(&at, "newest").as_deref(),
            Some(format!("/explore/tag?ref={REF}").as_str())
        );
        let newer: u64 = link(&at, "newer")
            .and_then(|l| l.rsplit_once("cursor=").map(|(_, c)| c.parse().unwrap()))
            .expect("an older page links to the newer versions");
        assert_eq!(newer, shown.last().unwrap() + 1, "{href}");
        assert_eq!(
            embedded_history(&at).next_cursor,
            Some(newer.to_string()),
            "{href}"
        );
        assert!(pages <= 4, "the older links do not end");
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, (1..=VERSIONS).collect());
    assert!(versions_shown(&at).starts_with(&[1]));
    assert!(link(&at, "oldest").is_none());

    // A page from a version on, and past the newest version: rows from there, or none with
    // the way back.
    let r = get(&format!("{url}/explore/tag?ref={REF}&cursor=7"));
    assert_eq!(r.status, 200);
    assert_eq!(
        versions_shown(&r.text()),
        (7..7 + page_len).collect::<Vec<_>>()
    );
    let r = get(&format!(
        "{url}/explore/tag?ref={REF}&cursor={}",
        VERSIONS + 1
    ));
    assert_eq!(r.status, 200, "{}", r.text());
    let text = r.text();
    assert!(versions_shown(&text).is_empty());
    assert!(text.contains("No versions."));
    assert!(link(&text, "older").is_some(), "{text}");
    // A tag of one version: no paging links.
    let r = get(&format!("{url}/explore/tag?ref={OTHER}"));
    let text = r.text();
    assert_eq!(versions_shown(&text), vec![1]);
    assert!(link(&text, "older").is_none() && link(&text, "newer").is_none());
}
