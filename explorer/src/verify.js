// The explorer's in-browser verifier: loads taglog-proofs (WebAssembly, plain C-ABI exports,
// no imports) and checks the page's proof data against the keys the reader gives. Nothing the
// server says is trusted: the page's own rows are compared with what verified.
(function () {
  'use strict';
  var box = document.getElementById('verify');
  if (!box) { return; }
  var $ = function (id) { return document.getElementById(id); };
  var exportsP = null;
  var STORE = 'taglog-explorer-keys';

  function load() {
    if (!exportsP) {
      exportsP = fetch(box.getAttribute('data-wasm'))
        .then(function (r) {
          if (!r.ok) { throw new Error('the verifier could not be loaded (HTTP ' + r.status + ')'); }
          return r.arrayBuffer();
        })
        .then(function (bytes) { return WebAssembly.instantiate(bytes, {}); })
        .then(function (m) { return m.instance.exports; });
      exportsP.catch(function () { exportsP = null; });
    }
    return exportsP;
  }

  function put(x, text) {
    var bytes = new TextEncoder().encode(text);
    var ptr = x.taglog_alloc(bytes.length);
    if (!ptr && bytes.length) { throw new Error('the input is too large to verify'); }
    new Uint8Array(x.memory.buffer, ptr, bytes.length).set(bytes);
    return [ptr, bytes.length];
  }

  function item(list, ok, what, detail) {
    var li = document.createElement('li');
    li.className = ok ? 'ok' : 'fail';
    li.setAttribute('data-what', what);
    li.textContent = (ok ? '\u2713 ' : '\u2717 ') + what + ': ' + detail;
    list.appendChild(li);
  }

  function mark(row, ok, why) {
    row.setAttribute('data-verified', ok ? 'ok' : 'fail');
    var cell = row.cells[0];
    var old = cell.querySelector('.vmark');
    if (old) { old.remove(); }
    var span = document.createElement('span');
    span.className = 'vmark ' + (ok ? 'ok' : 'fail');
    span.textContent = ok ? ' \u2713' : ' \u2717 ' + why;
    span.title = ok ? 'verified' : why;
    cell.appendChild(span);
  }

  // Compares the rows the server rendered with the entries that verified.
  function compareRows(report, failures) {
    var byIndex = {};
    report.entries.forEach(function (e) { byIndex[String(e.index)] = e; });
    var rows = document.querySelectorAll('#timeline tbody tr[data-index]');
    Array.prototype.forEach.call(rows, function (row) {
      var e = byIndex[row.getAttribute('data-index')];
      if (!e) {
        mark(row, false, 'not in the proven data');
        failures.push('log index ' + row.getAttribute('data-index') + ' is shown but not proven');
        return;
      }
      delete byIndex[row.getAttribute('data-index')];
      var shownDigest = row.cells[1].textContent.trim();
      var digest = e.digest === 'withdrawn' ? 'withdrawn' : e.digest;
      var why = [];
      if (!e.ok) { why.push(e.detail); }
      if (String(e.version) !== row.getAttribute('data-version')) { why.push('the page shows another version'); }
      if (shownDigest !== digest) { why.push('the page shows another digest'); }
      if (row.cells[2].textContent.trim() !== e.publisher) { why.push('the page shows another publisher key'); }
      var current = row.classList.contains('current');
      if (current !== (report.current !== null && String(report.current) === row.getAttribute('data-index'))) {
        why.push(current ? 'marked current, but the map proof shows another binding' : 'the map proof shows this binding is current, the page does not');
      }
      mark(row, why.length === 0, why.join('; '));
      if (why.length) { failures.push('log index ' + e.index + ': ' + why.join('; ')); }
    });
    Object.keys(byIndex).forEach(function (k) {
      failures.push('log index ' + k + ' is proven but the page does not show it');
    });
  }

  function show(report, ms) {
    var list = $('verify-results');
    list.textContent = '';
    report.checks.forEach(function (c) { item(list, c.ok, c.what, c.detail); });
    var failures = [];
    if (report.checkpoint) { compareRows(report, failures); }
    failures.forEach(function (f) { item(list, false, 'Page', f); });
    var ok = report.ok && failures.length === 0;
    var verdict = $('verify-verdict');
    verdict.className = ok ? 'ok' : 'fail';
    verdict.textContent = ok
      ? 'Verified: everything on this page checks out against your keys.'
      : 'Verification FAILED: do not trust this page (see below).';
    verdict.setAttribute('data-result', ok ? 'ok' : 'fail');
    verdict.setAttribute('data-ms', ms.toFixed(1));
    box.setAttribute('data-state', ok ? 'ok' : 'fail');
  }

  function fail(msg) {
    var verdict = $('verify-verdict');
    verdict.className = 'fail';
    verdict.setAttribute('data-result', 'fail');
    verdict.textContent = 'Verification FAILED: ' + msg;
    box.setAttribute('data-state', 'fail');
  }

  function run() {
    box.setAttribute('data-state', 'running');
    $('verify-verdict').textContent = 'Verifying\u2026';
    $('verify-verdict').removeAttribute('data-result');
    var keys = $('keys').value;
    try { localStorage.setItem(STORE, keys); } catch (e) { /* storage may be off */ }
    load().then(function (x) {
      var t0 = performance.now();
      x.taglog_reset();
      var k = put(x, keys);
      var b = put(x, $('taglog-bundle').textContent);
      var h = put(x, $('taglog-history').textContent);
      var n = x.taglog_verify(k[0], k[1], b[0], b[1], h[0], h[1], Math.floor(Date.now() / 1000));
      var text = new TextDecoder().decode(new Uint8Array(x.memory.buffer, x.taglog_output(), n));
      x.taglog_reset();
      show(JSON.parse(text), performance.now() - t0);
    }).catch(function (e) { fail(String(e && e.message ? e.message : e)); });
  }

  $('verify-button').addEventListener('click', run);
  $('policy-file').addEventListener('change', function (ev) {
    var f = ev.target.files && ev.target.files[0];
    if (!f) { return; }
    f.text().then(function (t) { $('keys').value = t; });
  });
  try {
    var saved = localStorage.getItem(STORE);
    if (saved && !$('keys').value) { $('keys').value = saved; }
  } catch (e) { /* storage may be off */ }
  box.setAttribute('data-state', 'ready');
}());
