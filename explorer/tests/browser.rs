//! The explorer in a real browser: headless Debian Chromium, driven over WebDriver by
//! chromedriver (started by `taglog_testkit::browser`), against a real `taglog-server` whose
//! checkpoints two real `taglog-witness` processes cosign.
//!
//! The browser reaches the server through a testkit proxy that passes pages unchanged, or
//! rewrites a tag page's proofs to make the server lie: a checkpoint changed after signing, a
//! checkpoint without its cosignatures, a map proof claiming an older version is current, and
//! a timeline row showing another digest than the proven one. The in-browser verifier (the
//! `taglog-proofs` WebAssembly build) must pass the honest page and fail each lie in plain
//! words. Search, malformed and oversized queries are driven through the page too; afterwards
//! the log is unchanged.
//!
//! A second test reads the pages as two other readers do: with JavaScript turned off (the
//! timeline, the current binding, the checkpoint and search still work; the verify form says it
//! needs JavaScript and hides its controls), and on a phone's 390x844 screen (no page is wider
//! than the screen, for a reference of the longest kind, before and after verifying).
//! A third test pages a timeline longer than a page: the newest page and an older one, reached
//! by its link, each verify for the rows they show.
//! A missing `chromium` or `chromedriver` fails the tests.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use serde_json::Value;
use taglog_proofs::binding::DigestValue;
use taglog_proofs::bundle::{Bundle, History};
use taglog_proofs::map::{MapValue, Terminal};
use taglog_testkit::bindings::{filled, sign, T0};
use taglog_testkit::browser::fantoccini::key::Key;
use taglog_testkit::browser::fantoccini::{Client, Locator};
use taglog_testkit::browser::{wait_for, Browsing, Chromedriver};
use taglog_testkit::keys::{self, publisher};
use taglog_testkit::log_server::{add_binding_blocking, LogServer, PREFIX};
use taglog_testkit::recording_proxy::RecordingProxy;
use taglog_testkit::witness::Witness;

const SEED: u8 = 61;
const REF: &str = "registry.example/acme/app:1.5";
const OTHER: &str = "registry.example/acme/app:latest";
const ELSEWHERE: &str = "registry.example/acme/tools:2";
const BUNDLE_OPEN: &str = "<script type=\"application/json\" id=\"taglog-bundle\">";
const HISTORY_OPEN: &str = "<script type=\"application/json\" id=\"taglog-history\">";

fn publish(url: &str, origin: &str, reference: &str, version: u64, digest: DigestValue) {
    let body = sign(
        &publisher(),
        origin,
        reference,
        digest,
        version,
        T0 + version,
    );
    let r = add_binding_blocking(url, body);
    assert_eq!(r.status, 200, "{}", r.text());
}

/// The JSON inside the page's `<script>` opened by `open`, and where it is.
fn embedded(page: &str, open: &str) -> (usize, usize) {
    let start = page.find(open).expect("the page embeds its proofs") + open.len();
    let end = start + page[start..].find("</script>").unwrap();
    (start, end)
}

/// `page` with its embedded bundle and history changed by `f`.
fn with_proofs(page: &[u8], f: &dyn Fn(&mut Bundle, &mut History)) -> Vec<u8> {
    let page = String::from_utf8(page.to_vec()).unwrap();
    let (bs, be) = embedded(&page, BUNDLE_OPEN);
    let (hs, he) = embedded(&page, HISTORY_OPEN);
    let mut bundle = Bundle::parse(&page.as_bytes()[bs..be]).unwrap();
    let mut history = History::parse(&page.as_bytes()[hs..he]).unwrap();
    f(&mut bundle, &mut history);
    let b = bundle.to_json().replace('<', "\\u003c");
    let h = history.to_json().replace('<', "\\u003c");
    format!("{}{b}{}{h}{}", &page[..bs], &page[be..hs], &page[he..]).into_bytes()
}

/// A rewrite for the proxy that applies `f` to tag pages only.
fn on_tag_pages(
    f: impl Fn(&[u8]) -> Vec<u8> + Send + Sync + 'static,
) -> impl Fn(&str, Vec<u8>) -> Vec<u8> + Send + Sync + 'static {
    move |path, body| {
        if path.starts_with("/explore/tag?") {
            f(&body)
        } else {
            body
        }
    }
}

/// The note's text with its signature lines by `names` removed.
fn strip_signatures(note: &[u8], names: &[&str]) -> Vec<u8> {
    let text = String::from_utf8(note.to_vec()).unwrap();
    text.split_inclusive('\n')
        .filter(|l| {
            !names
                .iter()
                .any(|n| l.starts_with(&format!("\u{2014} {n} ")))
        })
        .collect::<String>()
        .into_bytes()
}

/// Opens the tag page, types `keys` into the form, presses Verify and returns the outcome:
/// the verdict (`ok` or `fail`), its text, the checks and the rows' marks.
async fn verify(c: &Client, url: &str, keys: &str) -> Value {
    c.goto(&format!("{url}/explore/tag?ref={REF}"))
        .await
        .unwrap();
    verify_shown(c, keys).await
}

/// As [`verify`], on the tag page the browser shows.
async fn verify_shown(c: &Client, keys: &str) -> Value {
    wait_for(
        c,
        "the verifier script ready",
        "var b = document.getElementById('verify'); \
         return b && b.getAttribute('data-state') === 'ready' ? true : null;",
    )
    .await;
    let field = c.find(Locator::Id("keys")).await.unwrap();
    field.clear().await.unwrap();
    field.send_keys(keys).await.unwrap();
    c.find(Locator::Id("verify-button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for(
        c,
        "a verification verdict",
        "var v = document.getElementById('verify-verdict'); \
         if (!v.getAttribute('data-result')) { return null; } \
         return { result: v.getAttribute('data-result'), text: v.innerText, \
           checks: Array.prototype.map.call(document.querySelectorAll('#verify-results li'), \
             function (li) { return { ok: li.className === 'ok', what: li.getAttribute('data-what'), text: li.innerText }; }), \
           rows: Array.prototype.map.call(document.querySelectorAll('#timeline tbody tr'), \
             function (r) { return { version: r.getAttribute('data-version'), verified: r.getAttribute('data-verified'), text: r.cells[0].innerText }; }) };",
    )
    .await
}

/// The failed check named `what` in a verification outcome; its text.
fn failed(outcome: &Value, what: &str) -> String {
    let checks = outcome["checks"].as_array().unwrap();
    let c = checks
        .iter()
        .find(|c| c["what"] == what && c["ok"] == false)
        .unwrap_or_else(|| panic!("no failed {what:?} check in {outcome:#}"));
    c["text"].as_str().unwrap().to_owned()
}

fn assert_fails(outcome: &Value) {
    assert_eq!(outcome["result"], "fail", "{outcome:#}");
    let text = outcome["text"].as_str().unwrap();
    assert!(
        text.contains("Verification FAILED") && text.contains("do not trust this page"),
        "{text}"
    );
}

#[test]
fn explorer_in_headless_chromium() {
    let log_key = keys::log(SEED);
    let origin = log_key.name().to_string();
    let log_vkey = log_key.verifier().to_string();
    let w1 = Witness::start(62, "w1.test", &log_vkey);
    let w2 = Witness::start(63, "w2.test", &log_vkey);
    let allow = [(PREFIX.to_owned(), publisher().verifier().to_string())];
    // No refresh of an idle checkpoint while the test runs: the log must stay as published.
    let server = LogServer::seeded(SEED, &allow)
        .args(&["--witness-refresh", "1h"])
        .witness(&w1.vkey(), &w1.url)
        .witness(&w2.vkey(), &w2.url)
        .start();
    let url = server.url.clone();
    publish(&url, &origin, REF, 1, filled(0x11));
    publish(&url, &origin, REF, 2, filled(0x22));
    publish(&url, &origin, REF, 3, DigestValue::Withdrawn);
    publish(&url, &origin, REF, 4, filled(0x44));
    publish(&url, &origin, OTHER, 1, filled(0x55));
    publish(&url, &origin, ELSEWHERE, 1, filled(0x66));
    let checkpoint_before = taglog_testkit::http::get_ok(&format!("{url}/checkpoint"));
    let proxy = RecordingProxy::start(&url);
    let keys = format!("{log_vkey}\n{}\n{}\n", w1.vkey(), w2.vkey());
    let current = filled(0x44).to_string();

    let mut driver = Chromedriver::start();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let c = driver.session().await;
        let p = proxy.url.clone();

        // The timeline: four versions in order, the withdrawal shown, version 4 current.
        c.goto(&format!("{p}/explore/tag?ref={REF}")).await.unwrap();
        let rows = wait_for(
            &c,
            "the timeline",
            "var rows = document.querySelectorAll('#timeline tbody tr'); \
             if (!rows.length) { return null; } \
             return Array.prototype.map.call(rows, function (r) { return { \
               version: r.getAttribute('data-version'), \
               current: r.classList.contains('current'), \
               withdrawn: r.classList.contains('withdrawn'), \
               text: r.innerText }; });",
        )
        .await;
        let rows = rows.as_array().unwrap();
        let versions: Vec<&str> = rows.iter().map(|r| r["version"].as_str().unwrap()).collect();
        assert_eq!(versions, ["1", "2", "3", "4"], "{rows:#?}");
        let marked: Vec<&str> = rows
            .iter()
            .filter(|r| r["current"] == true)
            .map(|r| r["version"].as_str().unwrap())
            .collect();
        assert_eq!(marked, ["4"], "exactly the newest version is current");
        assert!(rows[3]["text"].as_str().unwrap().contains("current"));
        assert!(rows[3]["text"].as_str().unwrap().contains(&current));
        assert!(rows[2]["withdrawn"] == true && rows[2]["text"].as_str().unwrap().contains("withdrawn"));
        for r in [&rows[0], &rows[1], &rows[3]] {
            assert!(r["withdrawn"] == false, "{r}");
        }
        let status = c.find(Locator::Id("status")).await.unwrap().text().await.unwrap();
        assert!(status.contains(&current) && status.contains("version 4"), "{status}");

        // The honest page verifies against the log's and the witnesses' keys.
        let ok = verify(&c, &p, &keys).await;
        assert_eq!(ok["result"], "ok", "{ok:#}");
        assert!(ok["text"].as_str().unwrap().contains("everything on this page checks out"));
        for r in ok["rows"].as_array().unwrap() {
            assert_eq!(r["verified"], "ok", "{ok:#}");
        }
        let cp = ok["checks"].as_array().unwrap().iter().find(|c| c["what"] == "Checkpoint").unwrap();
        assert!(
            cp["text"].as_str().unwrap().contains("w1.test")
                && cp["text"].as_str().unwrap().contains("w2.test"),
            "{cp}"
        );

        // The same honest page with a witness key that never cosigned: not verified.
        let stranger = keys::cosigner("w3.test", 64).verifier().to_string();
        let out = verify(&c, &p, &format!("{log_vkey}\n{}\n{stranger}\n", w1.vkey())).await;
        assert_fails(&out);
        let why = failed(&out, "Checkpoint");
        assert!(why.contains("does not verify with your keys"), "{why}");

        // A checkpoint changed after the log signed it (the tree size).
        proxy.set_rewrite(on_tag_pages(|page| {
            with_proofs(page, &|b, h| {
                let text = String::from_utf8(b.checkpoint.clone()).unwrap();
                let mut lines: Vec<String> = text.split('\n').map(str::to_owned).collect();
                let size: u64 = lines[1].parse().unwrap();
                lines[1] = (size + 1).to_string();
                b.checkpoint = lines.join("\n").into_bytes();
                h.checkpoint = b.checkpoint.clone();
            })
        }));
        let out = verify(&c, &p, &keys).await;
        assert_fails(&out);
        let why = failed(&out, "Checkpoint");
        assert!(why.contains("does not verify with your keys"), "{why}");

        // A checkpoint the witnesses never cosigned (what a log showing a split view serves).
        proxy.set_rewrite(on_tag_pages(|page| {
            with_proofs(page, &|b, h| {
                b.checkpoint = strip_signatures(&b.checkpoint, &["w1.test", "w2.test"]);
                h.checkpoint = b.checkpoint.clone();
            })
        }));
        let out = verify(&c, &p, &keys).await;
        assert_fails(&out);
        let why = failed(&out, "Checkpoint");
        assert!(why.contains("does not verify with your keys"), "{why}");

        // A wrong map proof: it claims version 2 is still current (a hidden update).
        proxy.set_rewrite(on_tag_pages(|page| {
            with_proofs(page, &|b, h| {
                let v2 = h.entries[1].clone();
                let Terminal::Value { value, .. } = &mut b.map.proof.terminal else {
                    panic!("the map proof of a bound tag ends in its value");
                };
                *value = MapValue {
                    index: v2.index,
                    version: 2,
                    leaf_hash: taglog_proofs::hash::leaf_hash(&v2.entry),
                }
                .to_bytes()
                .to_vec();
                b.binding = Some(v2);
            })
        }));
        let out = verify(&c, &p, &keys).await;
        assert_fails(&out);
        let why = failed(&out, "Current binding");
        assert!(why.contains("map proof does not match"), "{why}");

        // The proofs are honest but the table shows another digest for version 4.
        let forged = filled(0x99).to_string();
        let (cur, fake) = (current.clone(), forged.clone());
        proxy.set_rewrite(on_tag_pages(move |page| {
            let page = String::from_utf8(page.to_vec()).unwrap();
            let at = page.find(BUNDLE_OPEN).unwrap();
            format!("{}{}", page[..at].replace(&cur, &fake), &page[at..]).into_bytes()
        }));
        let out = verify(&c, &p, &keys).await;
        assert_fails(&out);
        let row4 = out["rows"].as_array().unwrap().iter().find(|r| r["version"] == "4").unwrap();
        assert_eq!(row4["verified"], "fail", "{out:#}");
        assert!(row4["text"].as_str().unwrap().contains("another digest"), "{row4}");
        proxy.clear_rewrite();

        // Search by prefix, typed into the page's search box.
        c.goto(&format!("{p}/explore")).await.unwrap();
        let q = c.find(Locator::Css("header input[name=q]")).await.unwrap();
        q.send_keys(&format!("registry.example/acme/ap{}", char::from(Key::Enter)))
            .await
            .unwrap();
        let found = wait_for(
            &c,
            "search results",
            "if (location.pathname !== '/explore/search') { return null; } \
             return Array.prototype.map.call(document.querySelectorAll('main a[href*=\"/explore/tag?ref=\"]'), \
               function (a) { return a.innerText; });",
        )
        .await;
        let found: Vec<&str> = found.as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
        assert!(found.contains(&REF) && found.contains(&OTHER), "{found:?}");
        assert!(!found.contains(&ELSEWHERE), "{found:?}");
        let none = c.find(Locator::Css("main")).await.unwrap().text().await.unwrap();
        assert!(!none.contains("tools"), "{none}");

        // Malformed and oversized queries: a page that says what is wrong.
        let long = "a".repeat(3000);
        let bad = [
            ("/explore/tag?ref=%zz".to_owned(), "(400)", "two hex digits"),
            ("/explore/tag?ref=a&ref=b".to_owned(), "(400)", "given twice"),
            (
                "/explore/tag?ref=not%20a%20ref".to_owned(),
                "(400)",
                "not a canonical tag reference",
            ),
            (format!("/explore/tag?ref={REF}&cursor=-1"), "(400)", "decimal"),
            ("/explore/search?q=a%00b".to_owned(), "(400)", "printable ASCII"),
            (format!("/explore/search?q={long}"), "(414)", "at most"),
            (
                format!("/explore/tag?ref=registry.example/{long}:1"),
                "(414)",
                "at most",
            ),
            (
                "/explore/nothing-here".to_owned(),
                "(404)",
                "no such explorer page",
            ),
        ];
        for (path, status, words) in bad {
            c.goto(&format!("{p}{path}")).await.unwrap();
            let shown = wait_for(
                &c,
                "an error page",
                "var e = document.getElementById('error'); \
                 return e ? [e.innerText, document.querySelector('main').innerText] : null;",
            )
            .await;
            let (title, text) = (shown[0].as_str().unwrap(), shown[1].as_str().unwrap());
            assert!(title.contains(status), "{path}: {title}");
            assert!(text.contains(words), "{path}: {text}");
        }
        c.close().await.unwrap();
    });

    // Nothing changed: the same checkpoint, the same timeline.
    let after = taglog_testkit::http::get_ok(&format!("{url}/checkpoint"));
    assert_eq!(after, checkpoint_before);
    let page = taglog_testkit::http::get(&format!("{url}/explore/tag?ref={REF}"));
    assert_eq!(page.status, 200);
    assert_eq!(page.text().matches("data-version=").count(), 4);
}

/// A reference near the longest allowed (255 bytes of name, a long tag), with long path
/// components and no place a browser would break a line on its own.
fn long_ref() -> String {
    let mut name = format!("{PREFIX}/");
    for i in 0.. {
        if name.len() + 61 + 3 > taglog_proofs::refs::MAX_NAME_BYTES {
            break;
        }
        name.push_str(&format!("supercalifragilisticexpialidocious{i:0>26}/"));
    }
    name.push_str("app");
    let reference = format!(
        "{name}:{}",
        "release-candidate-".repeat(7).trim_end_matches('-')
    );
    reference
        .parse::<taglog_proofs::refs::TagRef>()
        .expect("a canonical long ref");
    reference
}

/// The document's width and the viewport's, on the page `c` shows. A phone zooms out to show a
/// page wider than its screen: the viewport then grows with the page, so both are checked
/// against the screen's width.
async fn overflow(c: &Client, what: &str) -> (u64, u64) {
    let v = wait_for(
        c,
        what,
        "return document.readyState === 'complete' \
           ? [document.documentElement.scrollWidth, window.innerWidth] : null;",
    )
    .await;
    (v[0].as_u64().unwrap(), v[1].as_u64().unwrap())
}

#[test]
fn explorer_without_javascript_and_on_a_phone() {
    let allow = [(PREFIX.to_owned(), publisher().verifier().to_string())];
    let server = LogServer::seeded(SEED, &allow).start();
    let url = server.url.clone();
    let origin = keys::log(SEED).name().to_string();
    let long = long_ref();
    publish(&url, &origin, &long, 1, filled(0x11));
    publish(&url, &origin, &long, 2, filled(0x22));
    publish(&url, &origin, &long, 3, DigestValue::Withdrawn);
    publish(&url, &origin, &long, 4, filled(0x44));
    let current = filled(0x44).to_string();
    let encoded = long.replace('/', "%2F").replace(':', "%3A");
    let tag_page = format!("{url}/explore/tag?ref={encoded}");
    let repo = long.rsplit_once(':').unwrap().0.to_owned();
    let publisher_key = {
        let v = publisher().verifier();
        format!("{}+{}", v.name(), v.id())
    };

    let mut driver = Chromedriver::start();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        // JavaScript off: everything but the verification reads as with it.
        let c = driver.session_with(Browsing::DESKTOP.no_javascript()).await;
        c.goto(&tag_page).await.unwrap();
        let rows = c
            .find_all(Locator::Css("#timeline tbody tr"))
            .await
            .unwrap();
        let mut shown = Vec::new();
        for r in &rows {
            shown.push((
                r.attr("data-version").await.unwrap().unwrap_or_default(),
                r.attr("class").await.unwrap().unwrap_or_default(),
                r.text().await.unwrap(),
            ));
        }
        let versions: Vec<&str> = shown.iter().map(|r| r.0.as_str()).collect();
        assert_eq!(versions, ["1", "2", "3", "4"], "{shown:#?}");
        assert!(
            shown[3].1.contains("current") && shown[3].2.contains("current"),
            "{shown:#?}"
        );
        assert!(shown[3].2.contains(&current), "{shown:#?}");
        assert!(
            shown[2].1.contains("withdrawn") && shown[2].2.contains("withdrawn"),
            "{shown:#?}"
        );
        let status = c
            .find(Locator::Id("status"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            status.contains(&current) && status.contains("version 4"),
            "{status}"
        );
        let checkpoint = c
            .find(Locator::Id("checkpoint"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            checkpoint.contains("size") && checkpoint.contains("old"),
            "{checkpoint}"
        );
        let link = c.find(Locator::Id("bundle-link")).await.unwrap();
        assert!(link.is_displayed().await.unwrap());
        assert!(link
            .attr("href")
            .await
            .unwrap()
            .unwrap()
            .starts_with("/lookup?ref="));
        // The script did not run (so scripts are really off), and the verify box says why
        // there is nothing to press.
        let verify = c.find(Locator::Id("verify")).await.unwrap();
        assert_eq!(
            verify.attr("data-state").await.unwrap(),
            None,
            "verify.js ran"
        );
        let text = verify.text().await.unwrap();
        assert!(
            text.contains("needs JavaScript") && text.contains("taglog verify --bundle"),
            "{text}"
        );
        for control in ["verify-button", "keys", "policy-file"] {
            let e = c.find(Locator::Id(control)).await.unwrap();
            assert!(
                !e.is_displayed().await.unwrap(),
                "#{control} shows without JavaScript"
            );
        }
        // Search is a plain form: it works without scripts.
        c.goto(&format!("{url}/explore")).await.unwrap();
        let q = c.find(Locator::Css("header input[name=q]")).await.unwrap();
        q.send_keys(&format!("{PREFIX}/supercal{}", char::from(Key::Enter)))
            .await
            .unwrap();
        let mut found = Vec::new();
        for _ in 0..100 {
            found.clear();
            for a in c.find_all(Locator::Css("#refs a")).await.unwrap() {
                found.push(a.text().await.unwrap());
            }
            if !found.is_empty() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        assert_eq!(found, std::slice::from_ref(&long));
        c.close().await.unwrap();

        // A phone: no page is wider than the screen.
        let c = driver.session_with(Browsing::PHONE).await;
        let pages = [
            format!("{url}/explore/"),
            format!("{url}/explore/search?q={PREFIX}/"),
            format!("{url}/explore/repo?name={}", repo.replace('/', "%2F")),
            format!(
                "{url}/explore/publisher?key={}",
                publisher_key.replace('+', "%2B")
            ),
            format!("{url}/explore/tag?ref={}", "x".repeat(600)),
            tag_page.clone(),
        ];
        for page in &pages {
            c.goto(page).await.unwrap();
            let (doc, screen) = overflow(&c, page).await;
            assert!(
                doc <= 390 && screen == 390,
                "{page}: the page is {doc} px wide, the browser zoomed out to {screen} px"
            );
        }
        // The tag page with its signed note opened and a verification shown.
        wait_for(
            &c,
            "the verifier script ready",
            "var b = document.getElementById('verify'); \
             return b && b.getAttribute('data-state') === 'ready' ? true : null;",
        )
        .await;
        c.execute(
            "document.querySelector('#checkpoint details').open = true; \
             document.getElementById('keys').value = arguments[0]; \
             document.getElementById('verify-button').click();",
            vec![Value::String(keys::log(SEED).verifier().to_string())],
        )
        .await
        .unwrap();
        let verdict = wait_for(
            &c,
            "a verification verdict",
            "return document.getElementById('verify-verdict').getAttribute('data-result');",
        )
        .await;
        assert_eq!(verdict, "ok");
        let (doc, screen) = overflow(&c, "the verified tag page").await;
        assert!(
            doc <= 390 && screen == 390,
            "verified tag page: {doc} px wide, the browser zoomed out to {screen} px"
        );
        // The timeline's essential columns are on screen: version, digest, publisher, index.
        let cells = wait_for(
            &c,
            "the timeline's cells",
            "var r = document.querySelector('#timeline tbody tr.current'); \
             return Array.prototype.filter.call(r.cells, function (td) { \
               var b = td.getBoundingClientRect(); \
               return b.width > 0 && b.left >= 0 && b.right <= window.innerWidth; \
             }).length;",
        )
        .await;
        assert!(cells.as_u64().unwrap() >= 4, "{cells}");
        c.close().await.unwrap();
    });
}

/// A tag with more versions than a page: the newest page and, by its "Older versions" link, an
/// older one both verify in the browser, each for the rows it shows; the newest page's newest
/// row is the current binding, no row of the older page is marked current.
#[test]
fn paged_timeline_verifies_page_by_page_in_chromium() {
    let page_len = taglog_explorer::limits::TIMELINE_PAGE as u64;
    let versions = page_len + 5;
    let allow = [(PREFIX.to_owned(), publisher().verifier().to_string())];
    let server = LogServer::seeded(SEED, &allow).start();
    let url = server.url.clone();
    let log_key = keys::log(SEED);
    let origin = log_key.name().to_string();
    for v in 1..=versions {
        publish(&url, &origin, REF, v, filled(u8::try_from(v).unwrap()));
    }
    let keys = format!("{}\n", log_key.verifier());

    let mut driver = Chromedriver::start();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let c = driver.session().await;
        let version_of = |r: &Value| r["version"].as_str().unwrap().parse::<u64>().unwrap();

        // The newest page: versions 6..=105, all verified, the newest the current binding.
        let newest = verify(&c, &url, &keys).await;
        assert_eq!(newest["result"], "ok", "{newest:#}");
        let rows = newest["rows"].as_array().unwrap();
        let shown: Vec<u64> = rows.iter().map(version_of).collect();
        assert_eq!(shown, (versions - page_len + 1..=versions).collect::<Vec<_>>());
        assert!(rows.iter().all(|r| r["verified"] == "ok"), "{newest:#}");
        assert!(rows.last().unwrap()["text"].as_str().unwrap().contains("current"));
        let timeline = newest["checks"].as_array().unwrap().iter().find(|c| c["what"] == "Timeline").unwrap();
        assert!(timeline["text"].as_str().unwrap().contains("the newest is the current binding"), "{timeline}");

        // The older page, reached by its link: versions 1..=100, all verified, none current.
        c.find(Locator::Id("older")).await.unwrap().click().await.unwrap();
        wait_for(
            &c,
            "the older page",
            "return location.search.indexOf('cursor=') >= 0 && document.readyState === 'complete' ? true : null;",
        )
        .await;
        let older = verify_shown(&c, &keys).await;
        assert_eq!(older["result"], "ok", "{older:#}");
        let rows = older["rows"].as_array().unwrap();
        let shown: Vec<u64> = rows.iter().map(version_of).collect();
        assert_eq!(shown, (1..=page_len).collect::<Vec<_>>());
        assert!(rows.iter().all(|r| r["verified"] == "ok"), "{older:#}");
        assert!(rows.iter().all(|r| !r["text"].as_str().unwrap().contains("current")), "{older:#}");
        let timeline = older["checks"].as_array().unwrap().iter().find(|c| c["what"] == "Timeline").unwrap();
        assert!(timeline["text"].as_str().unwrap().contains("on this page"), "{timeline}");
        c.close().await.unwrap();
    });
}
