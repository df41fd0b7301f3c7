"""The HTML of the run viewer: plain, server-rendered, inline CSS, one small script file.

Everything that comes from a record (workflow and block names, inputs, outputs, errors,
approval subjects) is user data and goes through ``html.escape`` (text and attribute
values alike); element ids are made from positions, never from block ids, and links carry
ids URL-quoted. The graph is inline SVG laid out here (blocks in columns by their longest
path from a root); the timeline is positioned boxes. No value is ever put in a script.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from html import escape
from typing import Any
from urllib.parse import quote, urlencode

from stepweave.api.run_view import BlockState, Graph, RunView, parse_time, stubs_in
from stepweave.runtime.records import FINAL_STATUSES, ExecutionRecord

__all__ = ["page", "run_href", "login_page", "list_page", "run_page", "message_page", "value_html", "VIEWER_JS",
           "COLLAPSE_CHARS"]

#: Values longer than this (as JSON text) are shown collapsed.
COLLAPSE_CHARS = 600
#: Values longer than this are cut for display (the rest: the API, or the offloaded object).
SHOWN_CHARS = 200_000
#: A run with more block runs (a long loop) shows the first ones: the page stays quick to make and to read.
TIMELINE_ROWS = 300
RUNS_PER_BLOCK = 20

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;background:#f5f5f4;color:#1c1917}
header{background:#1c1917;color:#fafaf9;padding:.5rem 1rem;display:flex;gap:1rem;align-items:center}
header a{color:#fafaf9}header form{margin-left:auto}
main{max-width:72rem;margin:0 auto;padding:1rem}
h1{font-size:1.3rem;margin:.25rem 0 1rem;overflow-wrap:anywhere}h2{font-size:1.05rem;margin:1.25rem 0 .5rem}
.card{background:#fff;border:1px solid #e7e5e4;border-radius:.5rem;padding:.75rem 1rem;margin-bottom:1rem}
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:.35rem .5rem;border-bottom:1px solid #e7e5e4;
vertical-align:top;overflow-wrap:anywhere}
pre{margin:.25rem 0;white-space:pre-wrap;overflow-wrap:anywhere;background:#fafaf9;border:1px solid #e7e5e4;
padding:.5rem;border-radius:.25rem;max-height:30rem;overflow:auto}
.badge{display:inline-block;padding:0 .45rem;border-radius:.75rem;font-size:.8rem;font-weight:600;border:1px solid}
.ran,.succeeded{background:#dcfce7;border-color:#16a34a;color:#14532d}
.failed,.timed_out,.aborted{background:#fee2e2;border-color:#dc2626;color:#7f1d1d}
.waiting,.paused{background:#fef3c7;border-color:#d97706;color:#78350f}
.skipped{background:#f5f5f4;border-color:#a8a29e;color:#57534e}
.pending,.running,.queued{background:#e0f2fe;border-color:#0284c7;color:#0c4a6e}
svg .node rect{stroke-width:2}svg .ran rect{fill:#dcfce7;stroke:#16a34a}svg .failed rect{fill:#fee2e2;stroke:#dc2626}
svg .waiting rect{fill:#fef3c7;stroke:#d97706}svg .skipped rect{fill:#f5f5f4;stroke:#a8a29e;stroke-dasharray:4 3}
svg .pending rect{fill:#f0f9ff;stroke:#7dd3fc}svg .inner rect{stroke-dasharray:2 2}
svg text{font:12px system-ui,sans-serif;fill:#1c1917}svg .kind{fill:#57534e;font-size:10px}
svg .edge{stroke:#78716c;fill:none;stroke-width:1.3}svg .edge.error{stroke:#dc2626;stroke-dasharray:5 3}
svg .label{font-size:10px;fill:#57534e}svg a:focus rect,.selected rect{stroke-width:4}
.graph{overflow:auto}
.gantt{position:relative}.row{display:flex;align-items:center;gap:.5rem;height:1.6rem}
.row .who{width:16rem;flex:none;overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
.track{position:relative;flex:1;height:1rem;background:#fafaf9;border-left:1px solid #d6d3d1}
.bar{position:absolute;top:0;height:1rem;border-radius:.2rem;min-width:2px;border:1px solid}
.axis{display:flex;justify-content:space-between;margin-left:16.5rem;color:#57534e;font-size:.8rem}
details.block{border-top:1px solid #e7e5e4;padding:.4rem 0}details.block>summary{cursor:pointer}
details.block.selected{background:#fffbeb}
.muted{color:#57534e}.filters{display:flex;flex-wrap:wrap;gap:.5rem;align-items:end}
.filters label{display:flex;flex-direction:column;font-size:.8rem}
input,select,button{font:inherit;padding:.3rem .4rem;border:1px solid #a8a29e;border-radius:.3rem}
button{background:#2563eb;color:#fff;border:0;padding:.35rem .8rem;cursor:pointer}
.error-box{background:#fef2f2;border-color:#fecaca;color:#991b1b}
dl.figures{display:grid;grid-template-columns:max-content 1fr;gap:.2rem 1rem;margin:0}dt{font-weight:600}dd{margin:0}
""".strip()

#: The viewer's one script (served as ``/runs/viewer.js``; the CSP allows scripts from the
#: viewer's own origin only): clicking a block in the graph or the timeline opens its details.
VIEWER_JS = """
"use strict";
document.addEventListener("click", function (event) {
  var link = event.target.closest ? event.target.closest("a[data-open]") : null;
  if (!link) { return; }
  var target = document.getElementById(link.getAttribute("data-open"));
  if (!target) { return; }
  event.preventDefault();
  document.querySelectorAll(".selected").forEach(function (el) { el.classList.remove("selected"); });
  target.open = true;
  target.classList.add("selected");
  target.scrollIntoView({block: "center"});
});
""".lstrip()


def page(title: str, body: str, *, base: str = "", signed_in: bool = True,
         refresh_s: int | None = None) -> str:
    """A whole viewer page around ``body`` (already HTML); ``base`` prefixes the viewer's links;
    ``refresh_s``: the browser reloads it that often (a run still going)."""
    out = (f"<form method=\"post\" action=\"{escape(base)}/runs/logout\"><button type=\"submit\">"
           "Forget the key</button></form>") if signed_in else ""
    reload = f"<meta http-equiv=\"refresh\" content=\"{int(refresh_s)}\">" if refresh_s else ""
    return ("<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">" + reload +
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            "<meta name=\"robots\" content=\"noindex, nofollow\">"
            f"<title>{escape(title)}</title><style>{_CSS}</style>"
            f"<script src=\"{escape(base)}/runs/viewer.js\" defer></script></head>"
            f"<body><header><strong>Stepweave</strong><a href=\"{escape(base)}/runs\">Runs</a>{out}</header>"
            f"<main><h1>{escape(title)}</h1>{body}</main></body></html>\n")


def message_page(title: str, text: str, *, base: str = "", signed_in: bool = True) -> str:
    return page(title, f"<section class=\"card error-box\"><p>{escape(text)}</p></section>",
                base=base, signed_in=signed_in)


def login_page(*, base: str = "", error: str | None = None, next_path: str = "") -> str:
    """The key form: the key is posted once and kept in an HttpOnly cookie."""
    notice = f"<section class=\"card error-box\" role=\"alert\">{escape(error)}</section>" if error else ""
    body = (f"{notice}<section class=\"card\"><form method=\"post\" action=\"{escape(base)}/runs/login\">"
            "<p>Enter an API key of the run API (<code>stepweave serve</code> prints one; "
            "<code>stepweave keys create</code> makes more). The viewer shows the runs of its tenant.</p>"
            "<p><label for=\"key\">API key</label><br><input type=\"password\" id=\"key\" name=\"key\" "
            "autocomplete=\"off\" required size=\"50\"></p>"
            f"<input type=\"hidden\" name=\"next\" value=\"{escape(next_path)}\">"
            "<button type=\"submit\">Open the viewer</button></form>"
            "<p class=\"muted\">The key is kept in a cookie only this site's pages send "
            "(HttpOnly, SameSite=Strict) until the browser closes or you press "
            "<em>Forget the key</em>.</p></section>")
    return page("Run viewer: sign in", body, base=base, signed_in=False)


def _when(moment: datetime | None) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if moment else ""


def _short_time(text: str | None) -> str:
    if not text:
        return ""
    return text.replace("T", " ").removesuffix("Z")[:19]


def _duration(ms: int | float | None) -> str:
    if ms is None:
        return ""
    if ms < 1000:
        return f"{ms:.0f} ms"
    return f"{ms / 1000:.1f} s" if ms < 120_000 else f"{ms / 60_000:.1f} min"


def run_href(base: str, execution_arn: str) -> str:
    return f"{base}/runs/{quote(execution_arn, safe='')}"


def badge(status: str) -> str:
    css = status if status.replace("_", "").isalpha() else "pending"
    return f"<span class=\"badge {escape(css)}\" data-status=\"{escape(status)}\">{escape(status)}</span>"


def list_page(records: Sequence[ExecutionRecord], *, base: str = "", filters: Mapping[str, str],
              statuses: Sequence[str], workflows: Sequence[str], next_cursor: str | None) -> str:
    """The executions list with the run API's filters (workflow, status, since, until, limit)."""
    options = "".join(f"<option{' selected' if filters.get('status') == s else ''}>{escape(s)}</option>"
                      for s in statuses)
    known = "".join(f"<option value=\"{escape(w)}\"></option>" for w in workflows)
    form = (f"<form class=\"card filters\" method=\"get\" action=\"{escape(base)}/runs\">"
            "<label>workflow<input name=\"workflow\" list=\"workflows\" "
            f"value=\"{escape(filters.get('workflow', ''))}\">"
            f"</label><datalist id=\"workflows\">{known}</datalist>"
            f"<label>status<select name=\"status\"><option value=\"\">any</option>{options}</select></label>"
            f"<label>since (ISO-8601)<input name=\"since\" value=\"{escape(filters.get('since', ''))}\"></label>"
            f"<label>until<input name=\"until\" value=\"{escape(filters.get('until', ''))}\"></label>"
            f"<label>limit<input name=\"limit\" type=\"number\" min=\"1\" max=\"100\" "
            f"value=\"{escape(filters.get('limit', '20'))}\"></label><button type=\"submit\">Filter</button></form>")
    rows = "".join(
        f"<tr data-run=\"{escape(r.execution_arn)}\"><td><a href=\"{escape(run_href(base, r.execution_arn))}\">"
        f"{escape(r.name)}</a></td><td>{escape(r.workflow)}</td><td>{badge(r.status)}</td>"
        f"<td>{escape(_short_time(r.started_at))}</td><td>{escape(_duration(r.duration_ms))}</td>"
        f"<td>{escape(str(r.trigger.get('type', '')))}</td></tr>" for r in records)
    table = (f"<table><thead><tr><th>run</th><th>workflow</th><th>status</th><th>started (UTC)</th>"
             f"<th>duration</th><th>trigger</th></tr></thead><tbody>{rows}</tbody></table>"
             if records else "<p class=\"muted\">No runs match.</p>")
    more = ""
    if next_cursor:
        query = urlencode({**{k: v for k, v in filters.items() if v}, "cursor": next_cursor})
        more = f"<p><a rel=\"next\" href=\"{escape(base)}/runs?{escape(query)}\">Older runs</a></p>"
    return page("Runs", f"{form}<section class=\"card\">{table}{more}</section>", base=base)


# -- values -------------------------------------------------------------------------------------

def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, indent=2, default=str)


def value_html(value: Any, *, base: str = "", execution_arn: str = "", truncated: bool = False) -> str:
    """A value in a ``<pre>``; collapsed when long; offloaded parts linked to be fetched."""
    text = _text(value)
    shown = text if len(text) <= SHOWN_CHARS else text[:SHOWN_CHARS] + "\n…"
    note = " <span class=\"muted\">(only the first bytes were recorded)</span>" if truncated else ""
    body = f"<pre>{escape(shown)}</pre>"
    if len(text) > COLLAPSE_CHARS or text.count("\n") > 15:
        body = (f"<details class=\"value\"><summary>{len(text.encode('utf-8')):,} bytes{note}</summary>"
                f"{body}</details>")
    elif note:
        body = f"<p>{note}</p>{body}"
    links = []
    for ref in stubs_in(value):
        query = urlencode({"bucket": ref["bucket"], "key": ref["key"], "path": ref["path"],
                           **({"from": str(ref["from"])} if ref.get("from") is not None else {})})
        href = f"{run_href(base, execution_arn)}/payload?{query}"
        size = f", {int(ref['bytes']):,} bytes" if isinstance(ref.get("bytes"), int) else ""
        links.append(f"<li><a class=\"offloaded\" href=\"{escape(href)}\">{escape(ref['path'])}</a> "
                     f"<span class=\"muted\">(stored in s3://{escape(ref['bucket'])}/{escape(ref['key'])}"
                     f"{escape(size)})</span></li>")
    if links:
        body += f"<p class=\"muted\">Stored outside the run (fetched when opened):</p><ul>{''.join(links)}</ul>"
    return body


# -- the graph ----------------------------------------------------------------------------------

_W, _H, _COL, _ROW, _PAD = 168, 46, 210, 64, 16


def _layers(graph: Graph) -> dict[str, int]:
    """Each block's column: its longest path from a block nothing points to."""
    ids = [n.id for n in graph.nodes]
    incoming: dict[str, int] = {i: 0 for i in ids}
    outgoing: dict[str, list[str]] = {i: [] for i in ids}
    for e in graph.edges:
        if e.source in outgoing and e.target in incoming:
            outgoing[e.source].append(e.target)
            incoming[e.target] += 1
    layer = {i: 0 for i in ids}
    ready = [i for i in ids if incoming[i] == 0]
    done: set[str] = set()
    while ready:
        node = ready.pop(0)
        done.add(node)
        for nxt in outgoing[node]:
            layer[nxt] = max(layer[nxt], layer[node] + 1)
            incoming[nxt] -= 1
            if incoming[nxt] == 0:
                ready.append(nxt)
    last = max(layer.values(), default=0)
    for i in ids:  # a cycle (not a valid workflow): after everything else
        if i not in done:
            layer[i] = last + 1
    return layer


def graph_svg(graph: Graph, outcomes: Mapping[str, str], anchors: Mapping[str, str]) -> str:
    """The workflow graph as SVG, each block coloured by its outcome (``data-state``)."""
    layer = _layers(graph)
    rows: dict[int, int] = {}
    place: dict[str, tuple[int, int]] = {}
    names = {n.id: n.name for n in graph.nodes}
    for node in graph.nodes:
        column = layer[node.id]
        row = rows.get(column, 0)
        rows[column] = row + 1
        place[node.id] = (_PAD + column * _COL, _PAD + row * _ROW)
    width = _PAD * 2 + (max(layer.values(), default=0) + 1) * _COL
    height = _PAD * 2 + max(rows.values(), default=1) * _ROW
    parts = [f"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" "
             f"viewBox=\"0 0 {width} {height}\" role=\"img\" aria-label=\"workflow graph\">"
             "<defs><marker id=\"arrow\" viewBox=\"0 0 8 8\" refX=\"8\" refY=\"4\" markerWidth=\"7\" "
             "markerHeight=\"7\" orient=\"auto\"><path d=\"M0,0 L8,4 L0,8 z\" fill=\"#78716c\"/></marker></defs>"]
    for edge in graph.edges:
        if edge.source not in place or edge.target not in place:
            continue
        (x1, y1), (x2, y2) = place[edge.source], place[edge.target]
        sx, sy, tx, ty = x1 + _W, y1 + _H // 2, x2, y2 + _H // 2
        if tx <= sx:  # drawn backwards (same or earlier column): around below
            path = f"M{sx},{sy} C{sx + 40},{sy + 60} {tx - 40},{ty + 60} {tx},{ty}"
        else:
            mid = (sx + tx) // 2
            path = f"M{sx},{sy} C{mid},{sy} {mid},{ty} {tx},{ty}"
        css = "edge error" if edge.error else "edge"
        parts.append(f"<path class=\"{css}\" d=\"{path}\" marker-end=\"url(#arrow)\"/>")
        if edge.label:
            # near the target, where fanned-out edges are apart
            parts.append(f"<text class=\"label\" x=\"{tx - 6}\" y=\"{ty - 5}\" "
                         f"text-anchor=\"end\">{escape(edge.label[:24])}</text>")
    for node in graph.nodes:
        x, y = place[node.id]
        state = outcomes.get(node.id, "pending")
        inner = " inner" if node.parent else ""
        label = node.name if len(node.name) <= 22 else node.name[:21] + "…"
        kind = node.type + (f" in {names.get(node.parent, node.parent)}" if node.parent else "")
        kind = kind if len(kind) <= 30 else kind[:29] + "…"
        anchor = anchors.get(node.id)
        open_ = (f"<a href=\"#{anchor}\" data-open=\"{anchor}\">" if anchor else "<a>")
        parts.append(f"<g class=\"node {escape(state)}{inner}\" data-block=\"{escape(node.id)}\" "
                     f"data-state=\"{escape(state)}\">{open_}<title>{escape(node.name)} ({escape(node.type)}): "
                     f"{escape(state)}</title><rect x=\"{x}\" y=\"{y}\" width=\"{_W}\" height=\"{_H}\" rx=\"8\"/>"
                     f"<text x=\"{x + 10}\" y=\"{y + 19}\">{escape(label)}</text>"
                     f"<text class=\"kind\" x=\"{x + 10}\" y=\"{y + 35}\">{escape(kind)} · {escape(state)}</text>"
                     "</a></g>")
    parts.append("</svg>")
    return "".join(parts)


# -- one run ------------------------------------------------------------------------------------

def _where(run: BlockState, names: Mapping[str, str]) -> str:
    return ", ".join(f"{names.get(c, c)} #{i + 1}" for c, i in run.where.items())


def timeline(view: RunView, anchors: Mapping[str, str], names: Mapping[str, str], now: datetime) -> str:
    """A Gantt chart of the block runs: one row per run (a loop iteration, a parallel branch)."""
    timed = [r for r in view.runs if r.started or r.ended]
    if not timed:
        return "<p class=\"muted\">No block has run yet.</p>"
    record = view.record
    start = min([m for r in timed for m in (r.started, r.ended) if m] +
                ([s] if (s := parse_time(record.started_at)) else []))
    stop_at = parse_time(record.stopped_at)
    end = max([m for r in timed for m in (r.started, r.ended) if m] + ([stop_at] if stop_at else [now]))
    span = max((end - start).total_seconds(), 0.001)
    rows = []
    for run in timed[:TIMELINE_ROWS]:
        begin = run.started or run.ended
        assert begin is not None
        finish = run.ended or (stop_at or now)
        left = (begin - start).total_seconds() / span * 100
        width = max((finish - begin).total_seconds() / span * 100, 0.3)
        where = _where(run, names)
        label = run.name + (f" ({where})" if where else "")
        took = _duration((finish - begin).total_seconds() * 1000) if run.ended else "waiting"
        anchor = anchors.get(run.block_id, "")
        rows.append(f"<div class=\"row\" data-block=\"{escape(run.block_id)}\" data-state=\"{run.outcome}\">"
                    f"<a class=\"who\" href=\"#{anchor}\" data-open=\"{anchor}\" title=\"{escape(label)}\">"
                    f"{escape(label)}</a><div class=\"track\"><div class=\"bar {run.outcome}\" "
                    f"style=\"left:{left:.2f}%;width:{min(width, 100 - left):.2f}%\" "
                    f"title=\"{escape(label)}: {escape(took)}\"></div></div>"
                    f"<span class=\"muted\">{escape(took)}</span></div>")
    axis = (f"<div class=\"axis\"><span>{escape(_when(start))}</span>"
            f"<span>+{escape(_duration(span * 1000))}</span></div>")
    more = (f"<p class=\"muted\">The first {TIMELINE_ROWS} of {len(timed)} block runs "
            "(all of them: <code>GET /v1/executions/{id}</code>).</p>" if len(timed) > TIMELINE_ROWS else "")
    return f"<div class=\"gantt\">{''.join(rows)}{axis}</div>{more}"


def _figures(view: RunView) -> str:
    r = view.record
    items = [("status", badge(r.status)), ("workflow", escape(r.workflow)),
             ("started", escape(_short_time(r.started_at)) + " UTC"),
             ("trigger", escape(", ".join(f"{k}: {v}" for k, v in r.trigger.items() if k != "key")
                                or "unknown"))]
    if r.stopped_at:
        items.append(("stopped", escape(_short_time(r.stopped_at)) + " UTC"))
    if r.duration_ms is not None:
        items.append(("duration", escape(_duration(r.duration_ms))))
    if view.bill is not None:  # recorded: the whole bill, in the words of `stepweave run`
        items.append(("AWS would bill", f"<span id=\"billed\">{escape(view.bill.text())}</span>"))
    elif view.transitions is not None:
        express = view.workflow_type == "EXPRESS"
        billed = (f"1 Express request of {_duration(r.duration_ms or 0)}" if express
                  else f"{view.transitions} state transitions")
        if view.cost is not None:
            billed += f" (${view.cost * 1000:.4f} per 1,000 runs on {'Express' if express else 'Standard'})"
        if express:
            billed += f"; {view.transitions} state transitions (not billed on Express)"
        items.append(("AWS would bill", f"<span id=\"billed\">{billed}</span>"))
    if view.lambda_invocations is not None:
        items.append(("Lambda invocations", str(view.lambda_invocations)))
    items.append(("execution", f"<code>{escape(r.execution_arn)}</code>"))
    return "<dl class=\"figures\">" + "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in items) + "</dl>"


def _approvals(view: RunView, base: str) -> str:
    if not view.approvals:
        return ""
    items = "".join(
        f"<li data-approval=\"{escape(a.id)}\"><a class=\"approval\" href=\"{escape(base)}/approvals/"
        f"{quote(a.id, safe='')}\">{escape(a.subject or a.block_name)}</a> "
        f"<span class=\"muted\">(block {escape(a.block_name)}; approvers: "
        f"{escape(', '.join(a.approvers) or 'anyone with the link')}"
        f"{'; answer before ' + escape(_when(datetime.fromtimestamp(a.deadline, UTC))) if a.deadline else ''})"
        "</span></li>" for a in view.approvals)
    return f"<h2>Waiting for approval</h2><section class=\"card\"><ul>{items}</ul></section>"


def _block_details(view: RunView, base: str, anchors: Mapping[str, str], names: Mapping[str, str]) -> str:
    by_block: dict[str, list[BlockState]] = {}
    for run in view.runs:
        by_block.setdefault(run.block_id, []).append(run)
    out = []
    for block_id, outcome in view.outcomes.items():
        runs = by_block.get(block_id, [])
        name = names.get(block_id) or (runs[0].name if runs else block_id)
        kind = runs[0].type if runs else next((n.type for n in (view.graph.nodes if view.graph else [])
                                              if n.id == block_id), "")
        parts = []
        for run in runs[:RUNS_PER_BLOCK]:
            where = _where(run, names)
            head = (f"<p><strong>{escape(where) if where else 'run'}</strong> {badge(run.outcome)} "
                    f"<span class=\"muted\">{escape(_when(run.started))}"
                    f"{' → ' + escape(_when(run.ended)) if run.ended else ''}</span></p>")
            parts.append(head)
            for approval in (a for a in view.approvals if run.outcome == "waiting" and a.block_id == block_id):
                parts.append(f"<p>Waiting for <a href=\"{escape(base)}/approvals/{quote(approval.id, safe='')}\">"
                             "its approval page</a>.</p>")
            if run.has_input:
                parts.append("<p>input <span class=\"muted\">(its params, as its handler received "
                             "them)</span>:</p>" + value_html(run.input, base=base, execution_arn=view.record.execution_arn))
            if run.error:
                parts.append(f"<p>error:</p><pre class=\"error-box\">{escape(run.error)}</pre>")
            if run.has_output:
                parts.append("<p>output:</p>" + value_html(run.output, base=base,
                                                           execution_arn=view.record.execution_arn,
                                                           truncated=run.output_truncated))
        if len(runs) > RUNS_PER_BLOCK:
            parts.append(f"<p class=\"muted\">The first {RUNS_PER_BLOCK} of {len(runs)} runs of this block.</p>")
        if not runs:
            parts.append(f"<p class=\"muted\">{'Not run.' if outcome == 'skipped' else 'Not reached yet.'}</p>")
        out.append(f"<details class=\"block\" id=\"{anchors[block_id]}\" data-block=\"{escape(block_id)}\" "
                   f"data-state=\"{outcome}\"{' open' if outcome in ('failed', 'waiting') else ''}>"
                   f"<summary>{escape(name)} <span class=\"muted\">({escape(kind)})</span> {badge(outcome)}"
                   f"{' ×' + str(len(runs)) if len(runs) > 1 else ''}</summary>{''.join(parts)}</details>")
    return "".join(out)


def run_page(view: RunView, *, base: str = "", now: datetime | None = None) -> str:
    """One run: figures, pending approvals, graph, timeline, input/output and each block."""
    now = now or datetime.now(UTC)
    record = view.record
    anchors = {block: f"block-{i}" for i, block in enumerate(view.outcomes)}
    names = {n.id: n.name for n in view.graph.nodes} if view.graph else {}
    names.update({r.block_id: r.name for r in view.runs if r.block_id not in names})
    graph = (f"<div class=\"graph\">{graph_svg(view.graph, view.outcomes, anchors)}</div>"
             if view.graph else "<p class=\"muted\">The workflow file of this run is not in the folder the "
                                "viewer serves, so its graph is not drawn.</p>")
    legend = " ".join(badge(s) for s in ("ran", "failed", "waiting", "skipped", "pending"))
    io = ""
    if record.input is not None:
        io += "<h2>Input</h2><section class=\"card\">" + value_html(
            _loads(record.input), base=base, execution_arn=record.execution_arn,
            truncated=bool(record.input_truncated)) + "</section>"
    if record.output is not None:
        io += "<h2>Output</h2><section class=\"card\">" + value_html(
            _loads(record.output), base=base, execution_arn=record.execution_arn,
            truncated=bool(record.output_truncated)) + "</section>"
    if record.error or record.cause:
        io += (f"<h2>Error</h2><section class=\"card error-box\"><p>{escape(record.error or '')}</p>"
               f"<pre>{escape(record.cause or '')}</pre></section>")
    source = ("block runs read from the execution history" if view.source == "history"
              else "block runs read from the records")
    body = (f"<section class=\"card\" id=\"figures\">{_figures(view)}</section>{_approvals(view, base)}"
            f"<h2>Graph</h2><section class=\"card\"><p class=\"muted\">{legend}</p>{graph}</section>"
            f"<h2>Timeline</h2><section class=\"card\">{timeline(view, anchors, names, now)}</section>"
            f"{io}<h2>Blocks</h2><section class=\"card\" id=\"blocks\"><p class=\"muted\">{source}</p>"
            f"{_block_details(view, base, anchors, names)}</section>")
    # a run still going reloads itself: often while it runs, now and then while it waits
    refresh = None if record.status in FINAL_STATUSES else 30 if record.status == "paused" else 5
    if refresh:
        body = (f"<p class=\"muted\" id=\"refreshing\">This page reloads every {refresh} s until the run "
                "ends.</p>") + body
    return page(f"{record.workflow}: {record.name}", body, base=base, refresh_s=refresh)


def _loads(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text
