"""`deskpilot eval policy`: success of the transformer policy on held-out sandbox tasks."""

from __future__ import annotations

from pathlib import Path

import typer

from agent.commands.common import err_console, out_console, print_json


def policy(
    split: str = typer.Option("heldout", "--split", help="train, val or heldout."),
    n: int = typer.Option(500, "--n", help="Number of tasks (cycling through the families)."),
    elements: str = typer.Option(
        "gt", "--elements", help="gt (sandbox ground truth) or detected (detector + OCR)."
    ),
    memory: str = typer.Option(
        "on", "--memory", help="on, or off for the ablation (no read-out, no registers)."
    ),
    weights: Path | None = typer.Option(None, "--weights", help="Policy folder (default: weights/policy)."),
    detector: Path | None = typer.Option(None, "--detector", help="Detector folder for --elements detected."),
    expert: bool = typer.Option(True, "--expert/--no-expert", help="Also run the expert for step counts."),
    seed: int = typer.Option(0, "--seed", help="Base seed of the task list."),
    families: str | None = typer.Option(None, "--families", help="Comma-separated families (default: all)."),
    max_minutes: float | None = typer.Option(
        None, "--max-minutes", help="Start no new task after this many minutes; report the tasks that ran."
    ),
    out: Path | None = typer.Option(
        None, "--out", help="Also write the JSON report here, rewritten after every episode."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Run the policy on sandbox tasks; report success per family and per held-out kind, steps vs expert.

    Ctrl-C or --max-minutes ends the run early with the report of the finished tasks ("complete": false).
    """

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from agent.errors import DeskpilotError
    from policies.evaluate import evaluate

    if memory not in ("on", "off"):
        raise DeskpilotError(f"--memory must be on or off, got {memory!r}")
    if max_minutes is not None and max_minutes <= 0:
        raise DeskpilotError(f"--max-minutes must be positive, got {max_minutes:g}")
    fams = [f.strip() for f in families.split(",")] if families else None
    write = (lambda report: _write_atomic(out, report)) if out is not None else None
    label = f"eval policy ({split}, {elements}, memory {memory})"
    with Progress(TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=err_console,
                  disable=as_json or not err_console.is_terminal) as bar:  # fmt: skip
        task = bar.add_task(label, total=n)
        report = evaluate(weights, split=split, n=n, seed=seed, elements=elements, memory=memory == "on",
                          expert=expert, detector_weights=detector, families=fams, max_minutes=max_minutes,
                          on_report=write, progress=lambda done, total: bar.update(task, completed=done))  # fmt: skip
    if write is not None:
        write(report)
    if as_json:
        print_json(report)
        return
    if not report["complete"]:
        err_console.print(
            f"stopped early ({report['stopped']}): {report['episodes']} of {report['planned']} tasks ran"
        )
    if not report["episodes"]:
        raise DeskpilotError("no task finished, so there is nothing to report")
    out_console.print(f"{report['episodes']} episodes: success {report['success_rate']:.1%}; mean steps {report['mean_steps']} "
                      f"(expert {report['expert_mean_steps']})")  # fmt: skip
    for fam, s in report["by_family"].items():
        out_console.print(f"  {fam:18s} {s['successes']:4d}/{s['episodes']:<4d} {s['success_rate']:.1%}")
    for kind, s in report["by_heldout_kind"].items():
        out_console.print(f"  [{kind}] {s['successes']}/{s['episodes']} {s['success_rate']:.1%}")
    for group, s in report["by_group"].items():
        out_console.print(f"  [{group} families] {s['successes']}/{s['episodes']} {s['success_rate']:.1%}")


def _write_atomic(path: Path, report: dict) -> None:
    """Replace ``path`` with the report in one rename, so a crash never leaves half a file."""
    import json
    import os

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(report, indent=2))
    os.replace(tmp, path)
