"""The run's report as HTML (Jupyter's `_repr_html_`, `freezelint run --html report.html`).

One table per audit: the module tree, each row coloured trainable / frozen / mixed /
frozen-but-changed, with its mode (train/eval), parameter counts, how much of it the optimizers
hold, and the findings about it beside it. Formatting only: everything comes from the audits'
reports (`AuditReport._stats`, the findings' objects).
"""

from __future__ import annotations

from html import escape
from typing import Dict, List, Tuple

from freezelint.findings import Severity

MAX_ROWS = 400
MAX_DEPTH = 4
_CHANGED = ("FRZ502", "FRZ503")
_STYLE = """
<style>
.frz-run{font-family:system-ui,sans-serif;font-size:13px}
.frz-run table{border-collapse:collapse;margin:6px 0 14px}
.frz-run th,.frz-run td{border:1px solid #ccc;padding:2px 8px;text-align:left;vertical-align:top}
.frz-run tr.trainable td.name{background:#d9f2d9}
.frz-run tr.frozen td.name{background:#dde6f5}
.frz-run tr.mixed td.name{background:#fff3cc}
.frz-run tr.changed td.name{background:#f8c9c9;font-weight:bold}
.frz-run .error{color:#a00000}.frz-run .warning{color:#8a5a00}
.frz-run .legend span{display:inline-block;padding:1px 8px;margin-right:6px}
</style>
"""


def _count(n: int) -> str:
    for unit, div in (("B", 10**9), ("M", 10**6), ("K", 10**3)):
        if n >= div:
            return f"{n / div:.1f} {unit}"
    return str(n)


def _objects(f) -> List[str]:
    extra = dict(f.extra) if f.extra else {}
    objs = extra.get("objects")
    if isinstance(objs, (list, tuple)) and objs:
        return [str(o) for o in objs]
    return [f.obj or ""]


def _owner(name: str, rows: Dict[str, object]) -> str:
    """The nearest module row at or above `name` ("" is the model)."""
    parts = name.split(".") if name else []
    while parts:
        cand = ".".join(parts)
        if cand in rows:
            return cand
        parts.pop()
    return ""


def _table(record) -> str:
    stats = getattr(record.report, "_stats", None)
    if stats is None:
        return "<p>no module table</p>"
    agg: Dict[str, List[int]] = {"": [0, 0, 0]}  # trainable, frozen, in optimizer
    for p in stats.params:
        parts = p.name.split(".")
        for i in range(len(parts)):
            key = ".".join(parts[:i])
            a = agg.setdefault(key, [0, 0, 0])
            a[0 if p.trainable else 1] += p.numel
            a[2] += p.numel if p.in_opt else 0
    names = [""] + [n for n in stats.modules if n.count(".") < MAX_DEPTH][:MAX_ROWS]
    rows = {n: agg.get(n, [0, 0, 0]) for n in names}
    changed, notes = set(), {}  # type: Tuple[set, Dict[str, List]]
    for f in record.findings:
        for o in _objects(f):
            owner = _owner(o, rows)
            notes.setdefault(owner, []).append(f)
            if f.code in _CHANGED:
                changed.add(owner)
    out = ["<table><tr><th>Module</th><th>Type</th><th>Mode</th><th>Trainable</th><th>Frozen</th>"
           "<th>In optimizer</th><th>Findings</th></tr>"]
    for n in names:
        t, fz, io = rows[n]
        if n and n not in stats.modules:
            continue
        typ, mode, _ = stats.modules.get(n, (record.model, "train" if record.report.rows else "-", 0))
        cls = "changed" if n in changed else "trainable" if fz == 0 and t else "frozen" if t == 0 and fz else "mixed" if t and fz else ""
        depth = n.count(".") + 1 if n else 0
        label = escape(n.rsplit(".", 1)[-1] if n else f"{record.model} (model)")
        finds = "".join(
            f'<div class="{"error" if f.severity == Severity.ERROR else "warning"}">{escape(f.code)} {escape(f.message)}</div>'
            for f in dict.fromkeys(notes.get(n, []))
        )
        out.append(
            f'<tr class="{cls}" data-module="{escape(n)}"><td class="name" style="padding-left:{8 + 16 * depth}px" '
            f'title="{escape(n)}">{label}</td><td>{escape(typ)}</td><td>{escape(mode)}</td><td>{_count(t)}</td>'
            f"<td>{_count(fz)}</td><td>{_count(io)}</td><td>{finds}</td></tr>"
        )
    out.append("</table>")
    return "".join(out)


def render_html(report, page: bool = False) -> str:
    parts = [_STYLE, '<div class="frz-run">']
    verdict = "passed" if report.ok else f"{len(report.errors)} error(s)"
    parts.append(f"<h3>freezelint run: {escape(report.summary_line())}</h3>")
    parts.append(
        '<div class="legend"><span style="background:#d9f2d9">trainable</span><span style="background:#dde6f5">frozen</span>'
        '<span style="background:#fff3cc">mixed</span><span style="background:#f8c9c9">frozen but changed</span></div>'
    )
    if not report.records:
        parts.append("<p>no optimizer step ran: nothing audited</p>")
    for r in report.records:
        parts.append(f"<h4>{escape(r.trigger)}: {escape(r.model)} ({escape(', '.join(r.optimizers))}), {escape(verdict)}</h4>")
        if r.intent.applied:
            items = "".join(
                f"<li>{escape(d.kind)} <code>{escape(sel)}</code>: {escape(d.where)} <code>{escape(d.code)}</code> ({escape(d.how)})</li>"
                for sel, d in r.intent.applied
            )
            parts.append(f"<ul>{items}</ul>")
        parts.append(_table(r))
    parts.append("</div>")
    body = "".join(parts)
    if not page:
        return body
    return f'<!DOCTYPE html><html><head><meta charset="utf-8"><title>freezelint run</title></head><body>{body}</body></html>\n'


__all__ = ["render_html"]
