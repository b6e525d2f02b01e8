"""``deskpilot sandbox ...``: detection data, expert demonstrations, screenshots, and policy runs.

Heavy imports (Qt, the sandbox) happen inside the commands, so ``deskpilot --help`` stays fast.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer

app = typer.Typer(help="The sandbox desktop: generated Qt apps, tasks, the expert, and training data.",
                  no_args_is_help=True)  # fmt: skip


@app.command("gen-detection")
def gen_detection(
    n: int = typer.Option(200, "--n", help="Number of labelled frames."),
    split: str = typer.Option("train", "--split", help="train, val or heldout."),
    out: Path = typer.Option(..., "--out", help="Output folder (images/ and annotations.json)."),
    workers: int = typer.Option(2, "--workers", help="Worker processes (each its own QApplication)."),
    seed: int = typer.Option(0, "--seed", help="Base seed: same seed, same frames."),
    image_format: str = typer.Option("png", "--format", help="png (default) or jpg (faster to write)."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bar."),
) -> None:
    """Write COCO-format detection data (classes = agent.types.ELEMENT_KINDS, ids from 1)."""
    from agent.envs.sandbox.detection import gen_detection as run

    stats = run(n, split, out, workers=workers, seed=seed, fmt=image_format, progress=not quiet)
    typer.echo(json.dumps(stats))


@app.command("detection-from-demos")
def detection_from_demos(
    demos: list[Path] = typer.Argument(
        None, help="Recorded sandbox episodes: trace folders or folders of them (none: only merge --include)."
    ),
    out: Path = typer.Option(..., "--out", help="Output folder (images/ and annotations.json)."),
    per_episode: int = typer.Option(2, "--per-episode", help="Frames taken from each episode."),
    include: list[Path] = typer.Option(
        None, "--include", help="Another COCO folder to merge in (e.g. gen-detection's); repeatable."
    ),
    seed: int = typer.Option(0, "--seed", help="Which frames each episode gives."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bar."),
) -> None:
    """COCO detection data from expert demonstrations: the screens tasks walk through (wizard pages,
    filled forms, open menus), which random clicks rarely reach."""
    from agent.envs.sandbox.detection import detection_from_traces

    stats = detection_from_traces([str(d) for d in demos or []], out, per_episode=per_episode, seed=seed,
                                  include=list(include or []), progress=not quiet)  # fmt: skip
    typer.echo(json.dumps(stats))


@app.command("show")
def show(
    seed: int = typer.Option(0, "--seed", help="Scene seed."),
    out: Path = typer.Option(..., "--out", help="PNG file to write."),
    split: str = typer.Option("train", "--split", help="train, val or heldout (which app templates appear)."),
    frame: int = typer.Option(0, "--frame", help="0: as built; 1: after a random click (popups open)."),
) -> None:
    """Save a sandbox screenshot with its ground-truth boxes drawn, for people."""
    from agent.envs.sandbox.detection import show as run

    typer.echo(json.dumps(run(seed, out, split=split, frame=frame)))


def _tasks(split: str | None, n: int, task_file: Path | None, seed: int, families: str | None):
    from agent.envs.sandbox.families import generate_split
    from agent.envs.sandbox.tasks import load_task_file

    if task_file is not None:
        return load_task_file(task_file)
    names = [f.strip() for f in families.split(",") if f.strip()] if families else None
    return generate_split(split or "heldout", n, seed=seed, families=names)


@app.command("gen-demos")
def gen_demos(
    n: int = typer.Option(100, "--n", help="Number of expert episodes."),
    split: str = typer.Option("train", "--split", help="train, val or heldout."),
    out: Path = typer.Option(..., "--out", help="Folder for the traces (one sub-folder per episode)."),
    workers: int = typer.Option(2, "--workers", help="Worker processes."),
    seed: int = typer.Option(0, "--seed", help="Base seed of the task list."),
    families: str | None = typer.Option(None, "--families", help="Comma-separated families (default: all)."),
    frame_format: str = typer.Option("png", "--frame-format", help="png, jpg or webp."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bar."),
) -> None:
    """Record expert episodes as traces (for behaviour cloning); prints the run summary as JSON."""
    from agent.envs.sandbox.runner import run_tasks

    tasks = _tasks(split, n, None, seed, families)
    summary = run_tasks(tasks, "expert", out=out, workers=workers, progress=not quiet, frame_format=frame_format,
                        label=f"gen-demos {split}")  # fmt: skip
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    typer.echo(
        json.dumps({k: summary[k] for k in ("episodes", "success_rate", "seconds", "episodes_per_min")})
    )


@app.command("run")
def run(
    split: str | None = typer.Option(None, "--split", help="train, val or heldout (default heldout)."),
    n: int = typer.Option(50, "--n", help="Number of tasks from the split."),
    task_file: Path | None = typer.Option(
        None, "--task-file", help="A JSON or TOML task file instead of a split."
    ),
    policy: str = typer.Option("expert", "--policy", help="Policy name (see the policy registry)."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
    out: Path | None = typer.Option(None, "--out", help="Write one trace per episode here."),
    workers: int = typer.Option(1, "--workers", help="Worker processes."),
    seed: int = typer.Option(0, "--seed", help="Base seed of the task list."),
    families: str | None = typer.Option(None, "--families", help="Comma-separated families (default: all)."),
    weights: Path | None = typer.Option(None, "--weights", help="Weights for policies that need them."),
) -> None:
    """Run a policy on sandbox tasks and report success (overall and by family)."""
    from agent.envs.sandbox.runner import run_tasks

    if task_file is not None and split is not None:
        from agent.errors import DeskpilotError

        raise DeskpilotError("give either --split/--n or --task-file, not both")
    tasks = _tasks(split, n, task_file, seed, families)
    context = {"weights": str(weights)} if weights is not None else {}
    summary = run_tasks(tasks, policy, out=out, workers=workers, progress=not as_json, label=f"run {policy}",
                        context=context)  # fmt: skip
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        (out / "summary.json").write_text(json.dumps(summary, indent=2))
    if as_json:
        typer.echo(json.dumps(summary))
        return
    typer.echo(f"{summary['episodes']} episodes, success {summary['success_rate']:.1%} "
               f"({summary['episodes_per_min']} episodes/min)")  # fmt: skip
    for fam, s in summary["by_family"].items():
        typer.echo(f"  {fam:18s} {s['successes']:4d}/{s['episodes']:<4d} {s['success_rate']:.1%}")
