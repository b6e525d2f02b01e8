"""`deskpilot train checks`: the reader of checkbox and radio states that runs after the detector."""

from __future__ import annotations

from pathlib import Path

import typer

from agent.commands.common import err_console, print_json


def checks(
    episodes: int = typer.Option(
        300, "--episodes", help="Sandbox expert episodes (train split) to learn from."
    ),
    heldout: int = typer.Option(100, "--heldout", help="Held-out episodes to score it on (0: none)."),
    out: Path = typer.Option(
        Path("runs/checks"),
        "--out",
        help="Folder for check_reader.safetensors (weights/detector to ship it).",
    ),
    epochs: int = typer.Option(40, "--epochs", help="Passes over the crops."),
    seed: int = typer.Option(11, "--seed", help="Seed of the training episodes and box jitter."),
    threads: int = typer.Option(1, "--threads", help="torch threads."),
) -> None:
    """Fit the MLP that reads whether a checkbox or radio is checked from its pixels
    (`vision/widget_state.py`), on the screens of sandbox expert runs; prints held-out accuracy."""
    import os

    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    import torch
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from vision.widget_state import collect_checks, fit_check_reader, score_check_reader

    torch.set_num_threads(threads)
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), console=err_console,
                  disable=not err_console.is_terminal) as bar:  # fmt: skip
        task = bar.add_task("train episodes", total=episodes)
        train = collect_checks(
            "train", episodes, seed=seed, progress=lambda d, t: bar.update(task, completed=d)
        )
        held = None
        if heldout > 0:
            task = bar.add_task("held-out episodes", total=heldout)
            held = collect_checks(
                "heldout", heldout, seed=0, progress=lambda d, t: bar.update(task, completed=d)
            )
    reader = fit_check_reader(train, epochs=epochs, seed=seed)
    path = reader.save(out)
    report = {"train": score_check_reader(reader, train), "saved": str(path)}
    if held is not None:
        report["heldout"] = score_check_reader(reader, held)
    print_json(report)
