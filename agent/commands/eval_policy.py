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
    out: Path | None = typer.Option(None, "--out", help="Also write the JSON report here."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Run the policy on sandbox tasks; report success per family and per held-out kind, steps vs expert."""
    import json

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from agent.errors import DeskpilotError
    from policies.evaluate import evaluate

    if memory not in ("on", "off"):
        raise DeskpilotError(f"--memory must be on or off, got {memory!r}")
    fams = [f.strip() for f in families.split(",")] if families else None
    label = f"eval policy ({split}, {elements}, memory {memory})"
    with Progress(TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=err_console,
                  disable=as_json or not err_console.is_terminal) as bar:  # fmt: skip
        task = bar.add_task(label, total=n)
        report = evaluate(weights, split=split, n=n, seed=seed, elements=elements, memory=memory == "on",
                          expert=expert, detector_weights=detector, families=fams,
                          progress=lambda done, total: bar.update(task, completed=done))  # fmt: skip
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(report, indent=2))
    if as_json:
        print_json(report)
        return
    out_console.print(f"{report['episodes']} episodes: success {report['success_rate']:.1%}; mean steps {report['mean_steps']} "
                      f"(expert {report['expert_mean_steps']})")  # fmt: skip
    for fam, s in report["by_family"].items():
        out_console.print(f"  {fam:18s} {s['successes']:4d}/{s['episodes']:<4d} {s['success_rate']:.1%}")
    for kind, s in report["by_heldout_kind"].items():
        out_console.print(f"  [{kind}] {s['successes']}/{s['episodes']} {s['success_rate']:.1%}")
    for group, s in report["by_group"].items():
        out_console.print(f"  [{group} families] {s['successes']}/{s['episodes']} {s['success_rate']:.1%}")
