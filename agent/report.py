"""A self-contained HTML report of a trace: each step's frame with its elements and action drawn on it.

Frames are embedded as downscaled JPEG data URIs, so the file can be mailed or attached to an issue.
"""

from __future__ import annotations

import base64
import html
import io
from typing import Any

from agent.trace import Trace
from agent.types import Click, Drag, Move, Scroll, Step, action_point

#: element kind → overlay colour (the app uses the same palette)
KIND_COLOURS: dict[str, str] = {
    "button": "#e6194b", "text_field": "#3cb44b", "checkbox": "#4363d8", "radio": "#f58231",
    "combo": "#911eb4", "slider": "#46f0f0", "spin": "#f032e6", "tab": "#bcf60c", "menu": "#fabebe",
    "menu_item": "#008080", "list_item": "#9a6324", "link": "#0082c8", "label": "#808080",
    "icon": "#ffe119", "text_area": "#aaffc3", "progress": "#800000",
}  # fmt: skip

_CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:24px;background:#fafafa;color:#222}
h1{font-size:20px} .step{background:#fff;border:1px solid #ddd;border-radius:6px;margin:16px 0;padding:12px}
.step.ok{border-left:6px solid #2a2} .step.bad{border-left:6px solid #c22}
.frame{position:relative;display:inline-block} .frame img{display:block;max-width:100%}
.frame svg{position:absolute;left:0;top:0;width:100%;height:100%}
code{background:#f0f0f0;padding:1px 4px;border-radius:3px} table{border-collapse:collapse}
td{padding:2px 10px 2px 0;vertical-align:top}
"""


def _thumb(trace: Trace, step: Step, max_width: int) -> tuple[str, float] | None:
    img = trace.load_frame(step)
    if img is None:
        return None
    from PIL import Image

    pil = Image.fromarray(img)
    scale = min(1.0, max_width / pil.width)
    if scale < 1.0:
        pil = pil.resize((round(pil.width * scale), round(pil.height * scale)), Image.BILINEAR)
    buf = io.BytesIO()
    pil.save(buf, "JPEG", quality=80)
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode(), scale


def _overlay(step: Step, w: int, h: int) -> str:
    parts = [f'<svg viewBox="0 0 {w} {h}" preserveAspectRatio="none">']
    for e in step.elements:
        x1, y1, x2, y2 = e.box
        c = KIND_COLOURS.get(e.kind, "#888")
        tip = html.escape(f"{e.kind}: {e.text}" if e.text else e.kind)
        parts.append(
            f'<rect x="{x1:.0f}" y="{y1:.0f}" width="{x2 - x1:.0f}" height="{y2 - y1:.0f}" fill="none" '
            f'stroke="{c}" stroke-width="2"><title>{tip}</title></rect>'
        )
    a = step.action
    if isinstance(a, Drag):
        parts.append(
            f'<line x1="{a.x1:.0f}" y1="{a.y1:.0f}" x2="{a.x2:.0f}" y2="{a.y2:.0f}" stroke="#f00" stroke-width="4"/>'
        )
    if (p := action_point(a)) is not None and isinstance(a, Click | Move | Scroll | Drag):
        r = max(6, round(w / 120))
        parts.append(
            f'<circle cx="{p[0]:.0f}" cy="{p[1]:.0f}" r="{r}" fill="none" stroke="#f00" stroke-width="4"/>'
        )
    parts.append("</svg>")
    return "".join(parts)


def render_html(trace: Trace, *, max_width: int = 960) -> str:
    """The whole report as one HTML string."""
    meta = trace.meta
    task = (meta.get("task") or {}).get("instruction", "")
    summary: dict[str, Any] = meta.get("summary") or {}
    out = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>deskpilot trace {html.escape(trace.path.name)}</title><style>{_CSS}</style></head><body>",
        f"<h1>Trace {html.escape(trace.path.name)}</h1>",
        f"<p><b>Task:</b> {html.escape(task)}<br><b>Target:</b> {html.escape(str(meta.get('target', '')))}"
        f" · <b>Policy:</b> {html.escape(str(meta.get('policy', '')))} · <b>Steps:</b> {len(trace.steps)}"
        f" · <b>Outcome:</b> {html.escape(str(summary) if summary else 'unfinished')}</p>",
    ]
    for step in trace.steps:
        info = step.result.info
        verdict = info.get("match")
        cls = "ok" if verdict is True or (verdict is None and step.result.ok) else "bad"
        out.append(f"<div class='step {cls}'><h3>Step {step.index} · {step.time:.2f} s</h3>")
        thumb = _thumb(trace, step, max_width)
        if thumb is not None:
            src, _ = thumb
            w, h = trace.screen or (1280, 800)
            out.append(
                f"<div class='frame'><img src='{src}' alt='step {step.index}'>{_overlay(step, w, h)}</div>"
            )
        uitars = html.escape(str(step.policy.get("uitars") or ""))
        rows = [("action", f"<code>{html.escape(_action_text(step, trace.screen))}</code>")]
        if uitars:
            rows.append(("model output", f"<code>{uitars}</code>"))
        if "recorded" in info:
            rows.append(("recorded", f"<code>{html.escape(str(info['recorded']))}</code>"))
            rows.append(("match", f"{'✔' if verdict else '✘'} {html.escape(str(info.get('reason', '')))}"))
        if step.target is not None:
            rows.append(("target", html.escape(f"{step.target.kind} '{step.target.text}'")))
        if not step.result.ok:
            rows.append(("error", html.escape(step.result.error or "")))
        timing = " · ".join(f"{k} {v:.1f} ms" for k, v in step.timings.items())
        rows.append(("timings", html.escape(timing)))
        out.append(
            "<table>" + "".join(f"<tr><td><b>{k}</b></td><td>{v}</td></tr>" for k, v in rows) + "</table>"
        )
        out.append("</div>")
    out.append("</body></html>")
    return "\n".join(out)


def _action_text(step: Step, screen: tuple[int, int] | None) -> str:
    from agent.grammar import format_action

    screen = screen or (1280, 800)  # absolute coordinates with image = screen: plain pixels
    return format_action(step.action, screen=screen, coords="absolute", image_size=screen)
