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
