"""Jupyter rendering of a run: a link and a small chart of its first metrics."""

from __future__ import annotations

import html
import json
import math
from typing import TYPE_CHECKING, Any

from .http import Http, segment

if TYPE_CHECKING:
    from .runs import Run

WIDTH, HEIGHT = 240, 48


def _series(run: Run, key: str) -> list[float]:
    http = Http(run.settings.url, token=run.settings.token, timeout=2.0)
    try:
        answer = http.call("GET", f"/api/v1/runs/{segment(run.id)}/metrics/{segment(key)}/series?buckets=64")
    finally:
        http.close()
    # Buckets travel as columns; the last value of each bucket draws the line.
    last = (answer.get("buckets") or {}).get("last", [])
    return [float(v) for v in last if isinstance(v, (int, float)) and math.isfinite(v)]


def sparkline(values: list[float]) -> str:
    """An inline SVG polyline of ``values`` scaled to a small box."""
    if len(values) < 2:
        return ""
    lo, hi = min(values), max(values)
    span = (hi - lo) or 1.0
    step = WIDTH / (len(values) - 1)
    points = " ".join(f"{i * step:.1f},{HEIGHT - 2 - (v - lo) / span * (HEIGHT - 4):.1f}" for i, v in enumerate(values))
    return (
        f'<svg width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}">'
        f'<polyline fill="none" stroke="#2f6fdf" stroke-width="1.5" points="{points}"/></svg>'
    )


def run_html(run: Run) -> str:
    title = html.escape(run.name or run.id)
    parts = [
        f'<div><b>cairn run</b> <a href="{html.escape(run.url)}" target="_blank">{title}</a> '
        f"<small>({html.escape(run.mode)})</small></div>"
    ]
    keys = [k for k in run._last if not k.startswith("system/")][:3]
    rows = []
    for key in keys:
        chart = ""
        if run.mode == "online":
            try:
                chart = sparkline(_series(run, key))
            except Exception:  # noqa: BLE001 — rendering must not fail a notebook cell
                chart = ""
        last: Any = run._last.get(key)
        rows.append(f"<tr><td>{html.escape(key)}</td><td>{html.escape(json.dumps(last))}</td><td>{chart}</td></tr>")
    if rows:
        parts.append("<table>" + "".join(rows) + "</table>")
    return "".join(parts)
