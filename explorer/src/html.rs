//! HTML helpers: escaping, the page frame with its inline CSS, and time formatting.

use std::fmt::Write as _;

/// Escapes text for HTML content and double-quoted attributes.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    push_esc(&mut out, s);
    out
}

/// Appends `s` to `out` escaped as [`esc`] does, copying the runs between special characters
/// whole.
pub fn push_esc(out: &mut String, s: &str) {
    let mut rest = s;
    while let Some(at) = rest.find(['&', '<', '>', '"', '\'']) {
        let (plain, tail) = rest.split_at(at);
        out.push_str(plain);
        let mut chars = tail.chars();
        out.push_str(match chars.next() {
            Some('&') => "&amp;",
            Some('<') => "&lt;",
            Some('>') => "&gt;",
            Some('"') => "&quot;",
            _ => "&#39;",
        });
        rest = chars.as_str();
    }
    out.push_str(rest);
}

/// Appends JSON for a `<script type="application/json">` block: `<` is escaped so that no
/// `</script>` can end it early.
pub fn push_script_json(out: &mut String, json: &str) {
    let mut parts = json.split('<');
    if let Some(first) = parts.next() {
        out.push_str(first);
    }
    for part in parts {
        out.push_str("\\u003c");
        out.push_str(part);
    }
}

/// [`push_script_json`] into a new string.
#[cfg(test)]
pub fn script_json(json: &str) -> String {
    let mut out = String::with_capacity(json.len());
    push_script_json(&mut out, json);
    out
}

const CSS: &str = "\
*{box-sizing:border-box}\
body{margin:0;font:16px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;color:#1b1f24;background:#f6f7f9}\
header{background:#1f2933;color:#fff;padding:.6rem 1rem;display:flex;flex-wrap:wrap;gap:.5rem 1rem;align-items:center}\
header a{color:#fff;font-weight:600;text-decoration:none}\
header form{flex:1 1 16rem;display:flex;gap:.4rem}\
input[type=search],textarea{flex:1;min-width:0;padding:.45rem .6rem;border:1px solid #9aa5b1;border-radius:4px;font:inherit}\
textarea{width:100%;font-family:ui-monospace,Menlo,Consolas,monospace;font-size:.85rem}\
button{padding:.45rem .8rem;border:0;border-radius:4px;background:#3e7bfa;color:#fff;font:inherit;cursor:pointer}\
main{max-width:72rem;margin:0 auto;padding:1rem}\
h1{font-size:1.35rem;word-break:break-all;margin:.4rem 0 .8rem}\
h2{font-size:1.1rem;margin:1.4rem 0 .5rem}\
.card{background:#fff;border:1px solid #d9dee3;border-radius:6px;padding:.8rem 1rem;margin:.8rem 0}\
pre.mono{white-space:pre-wrap}\
.mono,code{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:.85rem;word-break:break-all}\
.scroll{overflow-x:auto}\
table{border-collapse:collapse;width:100%;background:#fff}\
th,td{text-align:left;padding:.4rem .5rem;border-bottom:1px solid #e4e7eb;vertical-align:top}\
th{font-size:.8rem;text-transform:uppercase;color:#52606d}\
tr.current{background:#e3f8e9}\
tr.withdrawn td{color:#8a1c1c}\
.badge{display:inline-block;padding:0 .4rem;border-radius:3px;font-size:.75rem;font-weight:700;background:#2f8132;color:#fff}\
.badge.w{background:#b3261e}\
.muted{color:#616e7c;font-size:.9rem}\
.ok{color:#1e6b2a;font-weight:600}.fail{color:#b3261e;font-weight:600}\
ul.list{padding-left:1.2rem}ul.list li{margin:.2rem 0;word-break:break-all}\
@media (max-width:40rem){th.opt,td.opt{display:none}main{padding:.6rem}}";

/// The whole page: `title`, the search box (prefilled with `q`), `body`.
pub fn frame(base: &str, title: &str, q: &str, body: &str) -> String {
    let mut out = String::with_capacity(body.len() + CSS.len() + 1024);
    frame_open(&mut out, base, title, q);
    out.push_str(body);
    frame_close(&mut out);
    out
}

/// Appends what [`frame`] puts before the body.
pub fn frame_open(out: &mut String, base: &str, title: &str, q: &str) {
    out.push_str(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\"><title>",
    );
    push_esc(out, title);
    out.push_str(" · taglog explorer</title><style>");
    out.push_str(CSS);
    let _ = write!(
        out,
        "</style><noscript><style>.needs-js{{display:none}}</style></noscript></head><body>\
<header><a href=\"{base}/\">taglog explorer</a>\
<form method=\"get\" action=\"{base}/search\" role=\"search\">\
<input type=\"search\" name=\"q\" value=\""
    );
    push_esc(out, q);
    out.push_str(
        "\" placeholder=\"ref, repository or prefix\" aria-label=\"search\">\
<button type=\"submit\">Search</button></form></header><main>",
    );
}

/// Appends what [`frame`] puts after the body.
pub fn frame_close(out: &mut String) {
    out.push_str("</main></body></html>\n");
}

/// `YYYY-MM-DD HH:MM:SS UTC` for Unix seconds.
pub fn utc(t: u64) -> String {
    let mut out = String::with_capacity(23);
    push_utc(&mut out, t);
    out
}

/// Appends [`utc`]`(t)` to `out`.
pub fn push_utc(out: &mut String, t: u64) {
    let days = t / 86_400;
    let secs = t % 86_400;
    // Howard Hinnant's civil_from_days, for days since 1970-01-01 (non-negative here).
    let z = days.saturating_add(719_468);
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + u64::from(m <= 2);
    let _ = write!(
        out,
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    );
}

/// A duration in words: `42 s`, `5 min`, `3 h 2 min`, `4 d 1 h`.
pub fn age(secs: u64) -> String {
    match secs {
        0..=119 => format!("{secs} s"),
        120..=3599 => format!("{} min", secs / 60),
        3600..=86_399 => format!("{} h {} min", secs / 3600, secs % 3600 / 60),
        _ => format!("{} d {} h", secs / 86_400, secs % 86_400 / 3600),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc(1_764_000_000), "2025-11-24 16:00:00 UTC");
        assert_eq!(utc(951_782_400), "2000-02-29 00:00:00 UTC");
        assert_eq!(
            esc("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
        assert_eq!(script_json("\"</script>\""), "\"\\u003c/script>\"");
        assert_eq!(script_json("<<a<"), "\\u003c\\u003ca\\u003c");
        assert_eq!(esc("plain"), "plain");
        assert_eq!(esc("é<'"), "é&lt;&#39;");
        assert_eq!(age(61), "61 s");
        assert_eq!(age(7322), "2 h 2 min");
    }
}
