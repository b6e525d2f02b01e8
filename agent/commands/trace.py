"""`deskpilot trace validate|show|export-html TRACE`."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from agent.commands.common import err_console, out_console, print_json

app = typer.Typer(help="Check, print and export recorded traces.", no_args_is_help=True)


@app.command()
def validate(trace: Path = typer.Argument(..., help="Trace folder.")) -> None:
    """Read every step and frame reference; exit 2 with the file, line and field of the first error."""
    from agent.trace import read_trace

    t = read_trace(trace)
    for w in t.warnings:
        err_console.print(f"[yellow]warning:[/] {w}")
    out_console.print(
        f"ok: {trace} holds {len(t.steps)} complete steps (schema {t.meta.get('schema_version')})"
    )


@app.command()
def show(
    trace: Path = typer.Argument(..., help="Trace folder."),
    json_out: bool = typer.Option(False, "--json", help="Print the steps as JSON."),
) -> None:
    """Print a trace's task, outcome and steps."""
    from agent.trace import read_trace, step_to_dict

    t = read_trace(trace)
    if json_out:
        print_json({"meta": t.meta, "steps": [step_to_dict(s, screen=t.screen) for s in t.steps],
                    "warnings": t.warnings})  # fmt: skip
        return
    task = (t.meta.get("task") or {}).get("instruction", "")
    out_console.print(f"[bold]{trace}[/]  task: {task!r}  target: {t.meta.get('target')}  "
                      f"policy: {t.meta.get('policy')}  outcome: {t.meta.get('summary', 'unfinished')}")  # fmt: skip
    table = Table("step", "t (s)", "action", "target", "result", "ms (observe/perceive/decide/act)")
    for s in t.steps:
        d = step_to_dict(s, screen=t.screen)
        res = "ok" if s.result.ok else f"[red]{s.result.error}[/]"
        if "match" in s.result.info:
            res += " ✔" if s.result.info["match"] else " ✘"
        tm = "/".join(f"{s.timings.get(k, 0):.1f}" for k in ("observe", "perceive", "decide", "act"))
        target = f"{s.target.kind} {s.target.text!r}" if s.target else ""
        table.add_row(str(s.index), f"{s.time:.2f}", d["action"].get("uitars", ""), target, res, tm)
    out_console.print(table)
    for w in t.warnings:
        err_console.print(f"[yellow]warning:[/] {w}")


@app.command("export-html")
def export_html(
    trace: Path = typer.Argument(..., help="Trace folder."),
    out: Path | None = typer.Option(None, "--out", "-o", help="Output file (default: TRACE/report.html)."),
) -> None:
    """Write a self-contained HTML report with each frame, its elements and the action drawn on it."""
    from agent.report import render_html
    from agent.trace import read_trace

    t = read_trace(trace)
    out = out or trace / "report.html"
    out.write_text(render_html(t), encoding="utf-8")
    out_console.print(f"wrote {out}")
