"""The HTML report of an ``imgpipe run``: one self-contained file (inline CSS, JS, thumbnails).

One card per image: thumbnail with the boxes of labels (instances) and text lines drawn over it,
verdict badge, categories, matched rules with their evidence, the rejection reason, and what the
detector saw. A header counts images per verdict; its buttons filter the cards (the filter is
kept in the URL fragment, e.g. ``report.html#failure``, so a filtered view can be shared).
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from imgpipe.local.runner import ImageResult, format_evidence
from imgpipe.report.thumbs import thumbnail_data_uri

VERDICT_ORDER = ("success", "review", "failure", "error")
MAX_BOXES = 40
MAX_SEEN_LABELS = 8
MAX_EVIDENCE_SHOWN = 3

_CSS = """
:root { --ok:#1b7f3b; --bad:#b42318; --rev:#b54708; --err:#5b21b6; --ink:#1f2328; --mute:#667085; }
* { box-sizing: border-box; }
body { margin:0; font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif; color:var(--ink); background:#f4f5f7; }
header { position:sticky; top:0; z-index:5; background:#fff; border-bottom:1px solid #e4e7ec; padding:14px 24px; }
h1 { font-size:20px; margin:0 0 4px; }
.meta { color:var(--mute); font-size:13px; }
.filters { margin-top:10px; display:flex; gap:8px; flex-wrap:wrap; }
.filters button { border:1px solid #d0d5dd; background:#fff; border-radius:999px; padding:5px 14px; cursor:pointer; font:inherit; }
.filters button[aria-pressed="true"] { background:var(--ink); color:#fff; border-color:var(--ink); }
.filters .n { font-weight:700; margin-left:4px; }
main { display:grid; grid-template-columns:repeat(auto-fill,minmax(340px,1fr)); gap:18px; padding:20px 24px; }
.card { background:#fff; border-radius:12px; box-shadow:0 1px 3px rgba(16,24,40,.12); overflow:hidden; display:flex; flex-direction:column; }
.card[hidden] { display:none; }
.thumb { position:relative; background:#101828; line-height:0; }
.thumb img { width:100%; height:auto; display:block; }
.placeholder { height:180px; display:flex; align-items:center; justify-content:center; color:#d0d5dd; font-size:13px; line-height:1.4; text-align:center; padding:12px; }
.box { position:absolute; border:2px solid #facc15; border-radius:2px; line-height:1.2; }
.box.text { border-color:#38bdf8; }
.box.inside span { top:0; left:0; }
.box.person { border-color:#f43f5e; } .box.person span { background:#f43f5e; color:#fff; }
.box.face { border-color:#fb923c; } .box.face span { background:#fb923c; }
.box.animal { border-color:#22c55e; } .box.animal span { background:#22c55e; }
.box.vehicle { border-color:#a855f7; } .box.vehicle span { background:#a855f7; color:#fff; }
.box span { position:absolute; left:-2px; top:-18px; background:#facc15; color:#111; font-size:11px; padding:1px 4px; white-space:nowrap; border-radius:2px; }
.box.text span { background:#38bdf8; top:auto; bottom:-17px; display:none; z-index:2; }
.box.text:hover span { display:block; }
.body { padding:12px 14px 14px; }
.title { display:flex; align-items:center; justify-content:space-between; gap:8px; }
.path { font-family:ui-monospace,SFMono-Regular,Menlo,monospace; font-size:13px; word-break:break-all; }
.badge { flex:none; color:#fff; font-weight:700; font-size:12px; text-transform:uppercase; letter-spacing:.04em; border-radius:6px; padding:3px 8px; }
.badge.success { background:var(--ok); } .badge.failure { background:var(--bad); }
.badge.review { background:var(--rev); } .badge.error { background:var(--err); }
.chips { margin:8px 0 0; display:flex; gap:6px; flex-wrap:wrap; }
.chip { background:#eef4ff; color:#3538cd; border-radius:999px; padding:1px 9px; font-size:12px; }
.reason { margin-top:8px; color:var(--bad); }
ul.matches { margin:8px 0 0; padding-left:18px; }
ul.matches li { margin:2px 0; }
.rule { font-weight:600; }
.outcome { color:var(--mute); font-size:12px; }
.ev { color:#344054; }
details { margin-top:8px; color:var(--mute); font-size:12px; }
details ul { margin:4px 0; padding-left:18px; }
footer { color:var(--mute); font-size:12px; padding:0 24px 24px; }
"""

_JS = """
(function () {
  var cards = Array.prototype.slice.call(document.querySelectorAll('.card'));
  var buttons = Array.prototype.slice.call(document.querySelectorAll('.filters button'));
  function current() {
    var v = decodeURIComponent((location.hash || '').replace(/^#/, ''));
    return buttons.some(function (b) { return b.dataset.filter === v; }) ? v : 'all';
  }
  function render() {
    var v = current(), shown = 0;
    cards.forEach(function (c) {
      var on = v === 'all' || c.dataset.verdict === v;
      c.hidden = !on;
      if (on) { shown += 1; }
    });
    buttons.forEach(function (b) { b.setAttribute('aria-pressed', String(b.dataset.filter === v)); });
    document.body.dataset.filter = v;
    document.body.dataset.shown = String(shown);
  }
  buttons.forEach(function (b) {
    b.addEventListener('click', function () {
      var v = b.dataset.filter;
      if (v === 'all') { history.replaceState(null, '', location.pathname + location.search); render(); }
      else { location.hash = v; }
    });
  });
  window.addEventListener('hashchange', render);
  render();
})();
"""


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _pct(value: Any) -> str:
    return f"{float(value):.0f}%" if isinstance(value, int | float) else ""


def _box_div(box: dict[str, Any], caption: str, kind: str) -> str:
    try:
        left, top = float(box["Left"]) * 100, float(box["Top"]) * 100
        width, height = float(box["Width"]) * 100, float(box["Height"]) * 100
    except (KeyError, TypeError, ValueError):
        return ""
    style = f"left:{left:.2f}%;top:{top:.2f}%;width:{width:.2f}%;height:{height:.2f}%"
    if kind.startswith("label") and top < 6:
        kind += " inside"  # a box at the image's top edge: its caption inside, not cut off
    return f'<div class="box {kind}" style="{style}" title="{_e(caption)}"><span>{_e(caption)}</span></div>'


def box_kind(label: dict[str, Any]) -> str:
    """The colour family of a label's boxes: person, face, animal, vehicle or object."""
    name = str(label.get("Name"))
    parents = {str(p.get("Name")) for p in label.get("Parents") or () if isinstance(p, dict)}
    if name == "Person":
        return "person"
    if name in ("Face", "Head"):
        return "face"
    if name == "Animal" or "Animal" in parents:
        return "animal"
    if name in ("Vehicle", "Transportation") or parents & {"Vehicle", "Transportation"}:
        return "vehicle"
    return "object"


def boxes(responses: dict[str, Any]) -> list[str]:
    """Overlay boxes: label instances (people red, faces orange, animals green, vehicles purple,
    other objects yellow) and text lines (blue). Larger boxes first, so smaller ones (a face in
    its person) are drawn on top."""
    out: list[str] = []
    # one box per place: "Person/Face 95%"
    by_box: dict[tuple[float, ...], tuple[str, str, list[str]]] = {}
    for label in (responses.get("labels") or {}).get("Labels") or ():
        for inst in label.get("Instances") or ():
            box = inst.get("BoundingBox")
            if box:
                try:
                    place = tuple(
                        round(float(box.get(k, 0)), 4) for k in ("Left", "Top", "Width", "Height")
                    )
                except (TypeError, ValueError):
                    continue
                if place not in by_box:
                    by_box[place] = (
                        _pct(inst.get("Confidence")),
                        box_kind(label),
                        [str(label.get("Name"))],
                    )
                else:
                    by_box[place][2].append(str(label.get("Name")))
    for place, (pct, kind, names) in sorted(by_box.items(), key=lambda kv: -kv[0][2] * kv[0][3]):
        left, top, width, height = place
        caption = f"{'/'.join(names)} {pct}"
        out.append(
            _box_div(
                {"Left": left, "Top": top, "Width": width, "Height": height},
                caption,
                f"label {kind}",
            )
        )
    for det in (responses.get("text") or {}).get("TextDetections") or ():
        if det.get("Type") == "LINE":
            box = (det.get("Geometry") or {}).get("BoundingBox")
            if box:
                out.append(_box_div(box, str(det.get("DetectedText", "")), "text"))
    return [b for b in out if b][:MAX_BOXES]


def _seen(responses: dict[str, Any]) -> str:
    items: list[str] = []
    labels = (responses.get("labels") or {}).get("Labels")
    if labels is not None:
        shown = ", ".join(
            f"{lab.get('Name')} {_pct(lab.get('Confidence'))}" for lab in labels[:MAX_SEEN_LABELS]
        )
        items.append(f"<li>labels: {_e(shown or 'none')}</li>")
    moderation = (responses.get("moderation") or {}).get("ModerationLabels")
    if moderation is not None:
        shown = ", ".join(f"{m.get('Name')} {_pct(m.get('Confidence'))}" for m in moderation)
        items.append(f"<li>moderation: {_e(shown or 'none')}</li>")
    text = (responses.get("text") or {}).get("TextDetections")
    if text is not None:
        lines = [str(t.get("DetectedText", "")) for t in text if t.get("Type") == "LINE"]
        items.append(f"<li>text: {_e(' / '.join(lines) or 'none')}</li>")
    if not items:
        return ""
    return f"<details><summary>What the detector saw</summary><ul>{''.join(items)}</ul></details>"


def _card(result: ImageResult) -> str:
    verdict = result.verdict
    outcome = result.outcome
    thumb = thumbnail_data_uri(result.image.path)
    if thumb:
        overlay = "".join(boxes(result.responses))
        visual = f'<img src="{thumb}" alt="{_e(result.image.rel)}">{overlay}'
    else:
        visual = '<div class="placeholder">no preview<br>(not a readable image)</div>'
    chips = "".join(
        f'<span class="chip">{_e(c)}</span>' for c in (outcome.categories if outcome else [])
    )
    parts = [
        f'<article class="card" data-verdict="{_e(verdict)}" data-path="{_e(result.image.rel)}">',
        f'<div class="thumb">{visual}</div><div class="body">',
        f'<div class="title"><span class="path">{_e(result.image.rel)}</span>'
        f'<span class="badge {_e(verdict)}">{_e(verdict)}</span></div>',
    ]
    if chips:
        parts.append(f'<div class="chips">{chips}</div>')
    if result.error:
        parts.append(f'<div class="reason">error: {_e(result.error)}</div>')
    elif outcome is not None and outcome.reason:
        parts.append(
            f'<div class="reason">rejected: <code>{_e(outcome.reason)}</code> — {_e(outcome.reason_text or "")}</div>'
        )
    if outcome is not None and outcome.matches:
        items = []
        for match in outcome.matches:
            found = list(match.get("evidence") or ())
            evidence = "; ".join(format_evidence(ev) for ev in found[:MAX_EVIDENCE_SHOWN])
            if len(found) > MAX_EVIDENCE_SHOWN:
                evidence += f" (+{len(found) - MAX_EVIDENCE_SHOWN} more)"
            items.append(
                f'<li><span class="rule">{_e(match.get("rule"))}</span> '
                f'<span class="outcome">{_e(match.get("type"))} → {_e(match.get("outcome"))}</span>'
                + (f'<br><span class="ev">{_e(evidence)}</span>' if evidence else "")
                + "</li>"
            )
        parts.append(f'<ul class="matches">{"".join(items)}</ul>')
    elif outcome is not None and not outcome.reason and not result.error:
        parts.append('<div class="outcome">no rule matched (default verdict)</div>')
    parts.append(_seen(result.responses))
    parts.append("</div></article>")
    return "".join(parts)


def render_report(
    results: Sequence[ImageResult],
    *,
    rules_name: str,
    rules_path: str,
    backend: str,
    elapsed: float | None = None,
    generated: datetime | None = None,
) -> str:
    """The whole report as one HTML string."""
    counts = {v: 0 for v in VERDICT_ORDER}
    for r in results:
        counts[r.verdict] = counts.get(r.verdict, 0) + 1
    buttons = [
        f'<button type="button" data-filter="all" aria-pressed="true">all<span class="n">{len(results)}</span></button>'
    ]
    for verdict in VERDICT_ORDER:
        if verdict == "error" and not counts["error"]:
            continue
        buttons.append(
            f'<button type="button" data-filter="{verdict}" aria-pressed="false">{verdict}'
            f'<span class="n" data-count="{verdict}">{counts[verdict]}</span></button>'
        )
    when = (generated or datetime.now(UTC)).strftime("%Y-%m-%d %H:%M UTC")
    took = f" in {elapsed:.1f} s" if elapsed is not None else ""
    cards = "\n".join(_card(r) for r in results)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>imgpipe report — {_e(rules_name)}</title>
<style>{_CSS}</style></head>
<body data-filter="all" data-shown="{len(results)}">
<header><h1>imgpipe report — rules “{_e(rules_name)}”</h1>
<div class="meta">{len(results)} images · rules <code>{_e(rules_path)}</code> · backend <b>{_e(backend)}</b>{_e(took)} · {_e(when)}</div>
<nav class="filters" aria-label="Filter by verdict">{"".join(buttons)}</nav></header>
<main>
{cards}
</main>
<footer>Boxes: label instances — <span style="color:#e11d48">people</span>, <span style="color:#ea580c">faces</span>, <span style="color:#16a34a">animals</span>, <span style="color:#9333ea">vehicles</span>, <span style="color:#ca8a04">other objects</span>; <span style="color:#0284c7">blue</span> = text lines (hover to read).
Same pipeline core, pre-checks and rules as the Lambda; generated by <code>imgpipe run</code>.</footer>
<script>{_JS}</script>
</body></html>
"""
