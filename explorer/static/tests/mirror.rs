//! `taglog-explorer` against a static mirror: a real `taglog-server` publishes its objects to a
//! directory (`--publish file:///dir`), a plain HTTP file server serves that directory, and
//! the explorer reads only that. Then:
//! - every page (tag timeline with its embedded proofs, search, repository, publisher, home)
//!   is the page the server itself renders for the same checkpoint, byte for byte but the
//!   checkpoint's age; `/lookup` gives the server's bundle;
//! - the tag page verifies in headless Chromium (the in-browser verifier) against the log key;
//! - new bindings appear once the mirror has them; with the server stopped the pages still
//!   come from the mirror;
//! - malformed queries get the same 4xx pages as on the server;
//! - a mirror whose entries were altered, a wrong log key and an empty mirror each get a 502
//!   page that says so, never a page of what the mirror claims.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::time::Duration;

use taglog_proofs::binding::DigestValue;
use taglog_proofs::bundle::Bundle;
use taglog_testkit::bindings::{filled, sign, T0};
use taglog_testkit::browser::fantoccini::Locator;
use taglog_testkit::browser::{wait_for, Chromedriver};
use taglog_testkit::explorer::StaticExplorer;
use taglog_testkit::http::{get, get_ok};
use taglog_testkit::keys::publisher;
use taglog_testkit::log_server::{add_binding_blocking, LogServer, ORIGIN};
use taglog_testkit::static_objects::wait_for_dir;
use taglog_testkit::static_server::{read_dir_files, StaticServer};
use taglog_testkit::tempdir;

const WAIT: Duration = Duration::from_secs(60);
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

fn size_of(note: &[u8]) -> u64 {
    String::from_utf8_lossy(note)
        .lines()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap()
}

/// The page without its checkpoint card (whose age text depends on the second it was
/// rendered in).
fn without_age(page: &str) -> String {
    let open = "<section class=\"card\" id=\"checkpoint\">";
    let Some(start) = page.find(open) else {
        return page.to_owned();
    };
    let end = start + page[start..].find("</section>").unwrap() + "</section>".len();
    format!("{}{}", &page[..start], &page[end..])
}

/// The page at `path` from both, which must be equal but the checkpoint's age.
fn same_page(server: &str, explorer: &str, path: &str) -> String {
    let a = get(&format!("{server}{path}"));
    let b = get(&format!("{explorer}{path}"));
    assert_eq!(a.status, 200, "server {path}: {}", a.text());
    assert_eq!(b.status, 200, "explorer {path}: {}", b.text());
    assert!(
        b.content_type.starts_with("text/html"),
        "{}",
        b.content_type
    );
    let (a, b) = (without_age(&a.text()), without_age(&b.text()));
    assert_eq!(
        a, b,
        "{path}: the explorer's page differs from the server's"
    );
    b
}

/// The status and text of a page.
fn page(url: &str) -> (u16, String) {
    let r = get(url);
    (r.status, r.text())
}

#[test]
fn explorer_over_a_static_mirror() {
    let (dir, out) = (tempdir(), tempdir());
    let bucket = out.path().join("bucket");
    let flag = format!("file://{}", bucket.display());
    let server = LogServer::start(dir.path(), &["--publish", &flag]);
    let url = server.url.clone();
    let log_key = server.log_key();
    let vkey = server.vkey();
    publish(&url, REF, 1, filled(0x11));
    publish(&url, REF, 2, filled(0x22));
    publish(&url, REF, 3, DigestValue::Withdrawn);
    publish(&url, REF, 4, filled(0x44));
    publish(&url, OTHER, 1, filled(0x55));
    publish(&url, ELSEWHERE, 7, filled(0x66));
    let size = size_of(&get_ok(&format!("{url}/checkpoint")));
    assert_eq!(wait_for_dir(&bucket, &log_key, size, WAIT), size);

    let files = StaticServer::start();
    files.put_dir(&bucket);
    let x = StaticExplorer::start(&files.url, &vkey);

    // Every page is the server's page for the same checkpoint.
    let tag = same_page(&url, &x.url, &format!("/explore/tag?ref={REF}"));
    assert_eq!(tag.matches("data-version=").count(), 4, "{tag}");
    assert!(
        tag.contains("<span class=\"badge\">current</span>"),
        "{tag}"
    );
    same_page(&url, &x.url, &format!("/explore/tag?ref={REF}&cursor=3"));
    same_page(
        &url,
        &x.url,
        "/explore/tag?ref=registry.example/acme/app:none",
    );
    let found = same_page(&url, &x.url, "/explore/search?q=registry.example/acme/ap");
    assert!(
        found.contains(OTHER) && !found.contains(ELSEWHERE),
        "{found}"
    );
    same_page(&url, &x.url, "/explore/repo?name=registry.example/acme/app");
    let v = publisher().verifier();
    let key = format!("{}%2B{}", v.name(), v.id());
    same_page(&url, &x.url, &format!("/explore/publisher?key={key}"));
    let home = same_page(&url, &x.url, "/explore/");
    assert!(home.contains(&format!("{size} leaves indexed")), "{home}");
    let (status, full) = page(&format!("{}/explore/", x.url));
    assert_eq!(status, 200);
    assert!(full.contains(&format!("size <b>{size}</b>")), "{full}");
    let mine = Bundle::parse(&get_ok(&format!("{}/lookup?ref={REF}", x.url))).unwrap();
    let theirs = Bundle::parse(&get_ok(&format!("{url}/lookup?ref={REF}"))).unwrap();
    assert_eq!(mine, theirs);
    assert_eq!(
        get_ok(&format!("{}/explore/verify.wasm", x.url)),
        get_ok(&format!("{url}/explore/verify.wasm"))
    );

    // The mirror's tag page verifies in a real browser against the log key alone.
    let mut driver = Chromedriver::start();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let verdict = rt.block_on(async {
        let c = driver.session().await;
        c.goto(&format!("{}/explore/tag?ref={REF}", x.url))
            .await
            .unwrap();
        wait_for(
            &c,
            "the verifier script ready",
            "var b = document.getElementById('verify'); \
             return b && b.getAttribute('data-state') === 'ready' ? true : null;",
        )
        .await;
        c.find(Locator::Id("keys"))
            .await
            .unwrap()
            .send_keys(&vkey)
            .await
            .unwrap();
        c.find(Locator::Id("verify-button"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        let v = wait_for(
            &c,
            "a verification verdict",
            "var v = document.getElementById('verify-verdict'); \
             if (!v.getAttribute('data-result')) { return null; } \
             return { result: v.getAttribute('data-result'), text: v.innerText, \
               rows: Array.prototype.map.call(document.querySelectorAll('#timeline tbody tr'), \
                 function (r) { return r.getAttribute('data-verified'); }) };",
        )
        .await;
        c.close().await.unwrap();
        v
    });
    drop(driver);
    assert_eq!(verdict["result"], "ok", "{verdict:#}");
    assert!(
        verdict["text"]
            .as_str()
            .unwrap()
            .contains("everything on this page checks out"),
        "{verdict:#}"
    );
    let rows: Vec<&str> = verdict["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap())
        .collect();
    assert_eq!(rows, ["ok", "ok", "ok", "ok"], "{verdict:#}");

    // Malformed queries: the server's error pages.
    for bad in [
        "/explore/tag?ref=%zz",
        "/explore/tag?ref=a&ref=b",
        "/explore/tag?ref=not%20a%20ref",
        "/explore/search?q=a%00b",
        "/explore/nothing-here",
    ] {
        let (a, b) = (
            page(&format!("{url}{bad}")),
            page(&format!("{}{bad}", x.url)),
        );
        assert!((400..500).contains(&b.0), "{bad}: {}", b.0);
        assert_eq!(a, b, "{bad}");
    }
    let (status, _) = page(&format!("{}/explore/search?q={}", x.url, "a".repeat(3000)));
    assert_eq!(status, 414);

    // A new version shows once the mirror has it; then the server stops and the pages stay.
    publish(&url, REF, 5, filled(0x77));
    let size = size_of(&get_ok(&format!("{url}/checkpoint")));
    assert_eq!(wait_for_dir(&bucket, &log_key, size, WAIT), size);
    files.put_dir(&bucket);
    let tag = same_page(&url, &x.url, &format!("/explore/tag?ref={REF}"));
    assert_eq!(tag.matches("data-version=").count(), 5, "{tag}");
    assert!(tag.contains(&filled(0x77).to_string()));
    drop(server);
    let (status, after) = page(&format!("{}/explore/tag?ref={REF}", x.url));
    assert_eq!(status, 200, "{after}");
    assert_eq!(without_age(&after), tag);

    // A mirror whose entries were altered: the rebuilt tree does not match the checkpoint.
    let mut files_now = read_dir_files(&bucket);
    let digest = filled(0x22).to_string();
    let hex = digest.split_once(':').unwrap().1.to_owned();
    let mut altered = 0;
    for (path, bytes) in &mut files_now {
        if !path.starts_with("tile/entries/") {
            continue;
        }
        // One byte of the digest, in place: the bundle still decodes, its leaf hash changes.
        if let Some(at) = bytes.windows(hex.len()).position(|w| w == hex.as_bytes()) {
            bytes[at] = b'3';
            altered += 1;
        }
    }
    assert!(altered > 0, "no entry bundle holds version 2");
    let damaged = StaticServer::with_files(files_now);
    let y = StaticExplorer::start(&damaged.url, &vkey);
    let (status, text) = page(&format!("{}/explore/", y.url));
    assert_eq!(status, 502, "{text}");
    assert!(text.contains("do not rebuild the root"), "{text}");
    // The tag page's bundle reads the altered bundle too, and refuses it first.
    let (status, text) = page(&format!("{}/explore/tag?ref={REF}", y.url));
    assert_eq!(status, 502, "{text}");
    assert!(text.contains("Mirror does not verify"), "{text}");
    assert!(!text.contains("data-version="), "{text}");

    // The right mirror with another log's key; an empty mirror.
    let other_key = taglog_testkit::keys::log(99).verifier().to_string();
    let z = StaticExplorer::start(&files.url, &other_key);
    let (status, text) = page(&format!("{}/explore/", z.url));
    assert_eq!(status, 502, "{text}");
    assert!(text.contains("does not verify with the log key"), "{text}");
    let empty = StaticServer::start();
    let e = StaticExplorer::start(&empty.url, &vkey);
    let (status, text) = page(&format!("{}/explore/tag?ref={REF}", e.url));
    assert_eq!(status, 502, "{text}");
    assert!(text.contains("Mirror incomplete"), "{text}");

    // The explorer's own mirror still serves after all that.
    let (status, again) = page(&format!("{}/explore/tag?ref={REF}", x.url));
    assert_eq!(status, 200);
    assert_eq!(without_age(&again), tag);
}
