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
use taglog_proofs::bundle::Bundle;
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
