"""The review page's HTML: one document with inline CSS and JS (no external resource).

Keyboard first, for a reviewer working through hundreds of images: ``a`` approve, ``r`` reject
(asks for a reason, Enter sends it), ``j``/``k`` (or arrows) next/previous, ``e`` edit the reason,
``u`` reload the queue (fresh image links), ``?`` show the keys. The header counts what this
page decided and what is left. Boxes use the HTML report's classes (yellow: label instances,
blue: text lines).
"""

from __future__ import annotations

import html
import json

_CSS = """
:root { --ok:#1b7f3b; --bad:#b42318; --rev:#b54708; --ink:#1f2328; --mute:#667085; --line:#e4e7ec; }
* { box-sizing:border-box; }
body { margin:0; font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif; color:var(--ink); background:#f4f5f7; }
header { position:sticky; top:0; z-index:5; background:#fff; border-bottom:1px solid var(--line); padding:12px 20px; display:flex; gap:18px; align-items:center; flex-wrap:wrap; }
h1 { font-size:18px; margin:0; }
.meta { color:var(--mute); font-size:12px; }
#progress { font-weight:600; }
.bar { width:220px; height:8px; background:#eaecf0; border-radius:99px; overflow:hidden; }
.bar i { display:block; height:100%; width:0; background:var(--ok); transition:width .2s; }
.keys { color:var(--mute); font-size:12px; margin-left:auto; }
kbd { border:1px solid #d0d5dd; border-bottom-width:2px; border-radius:4px; padding:0 4px; font:11px ui-monospace,monospace; background:#fff; }
.wrap { display:grid; grid-template-columns:300px 1fr; gap:0; height:calc(100vh - 58px); }
#queue { overflow:auto; border-right:1px solid var(--line); background:#fff; margin:0; padding:0; list-style:none; }
.item { display:flex; gap:10px; padding:8px 12px; border-bottom:1px solid #f2f4f7; cursor:pointer; align-items:center; }
.item img { width:64px; height:48px; object-fit:cover; border-radius:4px; background:#101828; flex:none; }
.item .p { font:12px ui-monospace,monospace; word-break:break-all; }
.item.current { background:#eef4ff; box-shadow:inset 3px 0 0 #3538cd; }
.item[data-state="approved"] .s, .badge.approved { color:var(--ok); }
.item[data-state="rejected"] .s, .badge.rejected { color:var(--bad); }
.item[data-state="conflict"] .s, .item[data-state="gone"] .s { color:var(--rev); }
.s { font-size:11px; font-weight:700; text-transform:uppercase; }
#current { overflow:auto; padding:18px 22px; }
.stage { display:grid; grid-template-columns:auto minmax(280px,1fr); gap:20px; align-items:start; }
/* the frame shrinks to the image (no percentage sizes), so the report's %-placed boxes line up */
.thumb { position:relative; display:inline-block; background:#101828; line-height:0; border-radius:10px; overflow:hidden; }
.thumb img { display:block; max-width:calc(100vw - 680px); max-height:72vh; width:auto; height:auto; }
.box { position:absolute; border:2px solid #facc15; border-radius:2px; line-height:1.2; }
.box.text { border-color:#38bdf8; }
.box span { position:absolute; left:-2px; top:-18px; background:#facc15; color:#111; font-size:11px; padding:1px 4px; white-space:nowrap; border-radius:2px; }
.box.text span { background:#38bdf8; top:auto; bottom:-17px; display:none; z-index:2; }
.box.text:hover span { display:block; }
.path { font:15px ui-monospace,monospace; word-break:break-all; margin:0 0 6px; }
.chips { display:flex; gap:6px; flex-wrap:wrap; margin:6px 0; }
.chip { background:#eef4ff; color:#3538cd; border-radius:999px; padding:1px 9px; font-size:12px; }
ul.reasons { padding-left:18px; margin:8px 0; }
form { margin-top:14px; display:flex; flex-direction:column; gap:8px; }
input#reason { font:inherit; padding:8px 10px; border:1px solid #d0d5dd; border-radius:8px; }
.buttons { display:flex; gap:8px; }
button { font:inherit; border-radius:8px; padding:7px 14px; cursor:pointer; border:1px solid transparent; color:#fff; }
button#approve { background:var(--ok); } button#reject { background:var(--bad); }
button kbd { background:rgba(255,255,255,.18); color:#fff; border-color:rgba(255,255,255,.55); }
button[disabled] { opacity:.45; cursor:default; }
#status { min-height:22px; margin-top:10px; font-weight:600; }
#status[data-kind="conflict"], #status[data-kind="error"] { color:var(--bad); }
#status[data-kind="ok"] { color:var(--ok); }
#status[data-kind="hint"] { color:var(--rev); }
.empty { color:var(--mute); padding:40px; font-size:16px; }
#help[hidden] { display:none; }
#help { position:fixed; right:20px; top:70px; background:#fff; border:1px solid var(--line); border-radius:10px; padding:12px 16px; box-shadow:0 8px 24px rgba(16,24,40,.16); z-index:9; }
"""

_JS = r"""
(function () {
  var TOKEN = document.querySelector('meta[name="review-token"]').content;
  var items = [], idx = -1, decidedHere = 0, pendingAction = null, busy = false;
  var $ = function (s) { return document.querySelector(s); };
  var esc = function (t) { var d = document.createElement('div'); d.textContent = t == null ? '' : String(t); return d.innerHTML; };
  var STATES = { pending: 'waiting', approved: 'approved', rejected: 'rejected', conflict: 'decided elsewhere', gone: 'gone' };

  function say(text, kind) { var s = $('#status'); if (!s) { return; } s.textContent = text || ''; s.dataset.kind = kind || ''; }
  function left() { return items.filter(function (i) { return i.state === 'pending'; }).length; }
  function progress() {
    var total = decidedHere + left(), p = $('#progress');
    p.dataset.decided = String(decidedHere); p.dataset.left = String(left());
    p.textContent = decidedHere + ' decided \u00b7 ' + left() + ' left';
    $('.bar i').style.width = (total ? (100 * decidedHere / total) : 100) + '%';
  }
  function renderQueue() {
    var q = $('#queue');
    q.innerHTML = items.map(function (it, i) {
      return '<li class="item' + (i === idx ? ' current' : '') + '" data-i="' + i + '" data-key="' + esc(it.rel) +
        '" data-state="' + it.state + '"><img loading="lazy" alt="" src="' + esc(it.url) + '"><div><div class="p">' +
        esc(it.rel) + '</div><div class="s">' + esc(STATES[it.state]) + '</div></div></li>';
    }).join('');
    progress();
  }
  function renderCurrent() {
    var c = $('#current'), it = items[idx];
    if (!it) {
      c.dataset.key = '';
      c.innerHTML = '<div class="empty">' + (items.length ? 'All done \u2014 nothing left to decide here. Press <kbd>u</kbd> to look for new images.' : 'Nothing is waiting for review.') + '</div><div id="status" role="status" aria-live="polite"></div>';
      return;
    }
    c.dataset.key = it.rel;
    var chips = (it.categories || []).map(function (x) { return '<span class="chip">' + esc(x) + '</span>'; }).join('');
    var reasons = (it.reasons || []).map(function (x) { return '<li>' + esc(x) + '</li>'; }).join('');
    var open = it.state === 'pending';
    c.innerHTML = '<div class="stage"><div class="thumb"><img alt="' + esc(it.rel) + '" src="' + esc(it.url) + '">' + (it.boxes_html || '') + '</div>' +
      '<div><p class="path">' + esc(it.rel) + '</p><div class="meta">waiting since ' + esc(it.last_modified) + (it.rules ? ' \u00b7 rules ' + esc(it.rules) : '') + '</div>' +
      '<div class="chips">' + chips + '</div><div>Why it waits:</div><ul class="reasons">' + reasons + '</ul>' +
      (open ? '' : '<div class="badge ' + it.state + '"><b>' + esc(STATES[it.state]) + '</b> ' + esc(it.note || '') + '</div>') +
      '<form id="decide" onsubmit="return false"><input id="reason" autocomplete="off" placeholder="Reason (required to reject) \u2014 e to type, Enter to send" aria-label="Reason">' +
      '<div class="buttons"><button type="button" id="approve"' + (open ? '' : ' disabled') + '>Approve <kbd>a</kbd></button>' +
      '<button type="button" id="reject"' + (open ? '' : ' disabled') + '>Reject <kbd>r</kbd></button></div></form>' +
      '<div id="status" role="status" aria-live="polite"></div></div></div>';
    $('#approve').onclick = function () { decide('approve'); };
    $('#reject').onclick = function () { decide('reject'); };
    $('#reason').addEventListener('keydown', function (e) {
      if (e.key === 'Enter') { e.preventDefault(); if (pendingAction) { decide(pendingAction); } else { say('Press a to approve or r to reject (Esc leaves the reason box).', 'hint'); } }
      if (e.key === 'Escape') { e.target.blur(); }
    });
  }
  function select(i) {
    if (!items.length) { idx = -1; } else { idx = Math.max(0, Math.min(items.length - 1, i)); }
    pendingAction = null; renderQueue(); renderCurrent();
    var cur = document.querySelector('.item.current'); if (cur && cur.scrollIntoView) { cur.scrollIntoView({ block: 'nearest' }); }
  }
  function nextPending(from) {
    for (var k = 1; k <= items.length; k++) { var j = (from + k) % items.length; if (items[j].state === 'pending') { return j; } }
    return -1;
  }
  function decide(decision) {
    var it = items[idx];
    if (!it || busy) { return; }
    if (it.state !== 'pending') { say('Already ' + STATES[it.state] + ': ' + (it.note || ''), 'hint'); return; }
    var reason = ($('#reason').value || '').trim();
    if (decision === 'reject' && !reason) {
      pendingAction = 'reject'; $('#reason').focus();
      say('A rejection needs a reason: type it and press Enter.', 'hint'); return;
    }
    busy = true; say((decision === 'approve' ? 'Approving' : 'Rejecting') + ' ' + it.rel + '\u2026', '');
    fetch('api/decide', { method: 'POST', headers: { 'Content-Type': 'application/json', 'X-Review-Token': TOKEN },
                          body: JSON.stringify({ key: it.rel, decision: decision, reason: reason }) })
      .then(function (r) { return r.json().then(function (b) { return { code: r.status, body: b }; }); })
      .then(function (res) {
        busy = false;
        var b = res.body || {};
        if (res.code === 200) {
          var d = b.decision || {};
          it.state = d.decision === 'reject' ? 'rejected' : 'approved';
          it.note = b.status === 'already_decided' ? '(by ' + (d.reviewer_name || d.reviewer) + ' first)' : (reason ? '\u2014 ' + reason : '');
          decidedHere += 1;
          var n = nextPending(idx);
          if (n < 0) { idx = items.length; renderQueue(); renderCurrent(); } else { select(n); }
          say(b.message, 'ok');
        } else if (res.code === 409) {
          it.state = 'conflict'; it.note = b.message; renderQueue(); renderCurrent();
          say('Not changed: ' + b.message, 'conflict');
        } else if (res.code === 404) {
          it.state = 'gone'; it.note = b.message; renderQueue(); renderCurrent();
          say(b.message, 'conflict');
        } else { say(b.message || ('error ' + res.code), 'error'); }
      })
      .catch(function (e) { busy = false; say('Request failed: ' + e, 'error'); });
  }
  function load() {
    say('Loading the queue\u2026', '');
    return fetch('api/queue').then(function (r) { return r.json(); }).then(function (data) {
      items = data.items.map(function (it) { it.state = 'pending'; return it; });
      document.body.dataset.ready = 'true';
      select(nextPending(-1) >= 0 ? nextPending(-1) : 0);
      say(data.pending + ' image(s) waiting.', '');
    }).catch(function (e) { say('Could not load the queue: ' + e, 'error'); });
  }
  document.addEventListener('keydown', function (e) {
    var typing = e.target && (e.target.tagName === 'INPUT' || e.target.tagName === 'TEXTAREA');
    if (typing || e.ctrlKey || e.metaKey || e.altKey) { return; }
    var k = e.key;
    if (k === 'a') { e.preventDefault(); decide('approve'); }
    else if (k === 'r') { e.preventDefault(); decide('reject'); }
    else if (k === 'j' || k === 'ArrowDown' || k === 'ArrowRight') { e.preventDefault(); select(idx + 1); }
    else if (k === 'k' || k === 'ArrowUp' || k === 'ArrowLeft') { e.preventDefault(); select(idx - 1); }
    else if (k === 'e' || k === '/') { e.preventDefault(); var r = $('#reason'); if (r) { r.focus(); } }
    else if (k === 'u') { e.preventDefault(); load(); }
    else if (k === '?') { var h = $('#help'); h.hidden = !h.hidden; }
  });
  document.getElementById('queue').addEventListener('click', function (e) {
    var li = e.target.closest('.item'); if (li) { select(Number(li.dataset.i)); }
  });
  setInterval(function () { if (!busy) { load(); } }, Math.max(30, Number(document.body.dataset.refresh) * 0.8) * 1000);
  load();
})();
"""


def render_page(*, stack: str, bucket: str, reviewer: str, token: str,
                url_seconds: int = 300) -> str:
    e = html.escape
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="review-token" content="{e(token)}">
<title>imgpipe review — {e(stack)}</title>
<style>{_CSS}</style></head>
<body data-ready="false" data-refresh="{int(url_seconds)}" data-stack={e(json.dumps(stack))}>
<header><h1>Review — {e(stack)}</h1>
<div class="meta">s3://{e(bucket)}/analyzed/review/ · deciding as <b>{e(reviewer)}</b></div>
<span id="progress" data-decided="0" data-left="0">…</span><span class="bar"><i></i></span>
<span class="keys"><kbd>a</kbd> approve · <kbd>r</kbd> reject · <kbd>j</kbd>/<kbd>k</kbd> next/prev · <kbd>?</kbd> keys</span></header>
<div id="help" hidden><b>Keys</b><br><kbd>a</kbd> approve · <kbd>r</kbd> reject (type a reason, <kbd>Enter</kbd>)<br>
<kbd>j</kbd>/<kbd>↓</kbd> next · <kbd>k</kbd>/<kbd>↑</kbd> previous<br><kbd>e</kbd> edit the reason · <kbd>Esc</kbd> leave it<br>
<kbd>u</kbd> reload the queue · <kbd>?</kbd> this help</div>
<div class="wrap"><ul id="queue" aria-label="Images waiting for review"></ul>
<section id="current" aria-live="polite"></section></div>
<script>{_JS}</script>
</body></html>
"""
