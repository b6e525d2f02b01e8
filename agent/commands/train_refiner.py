"""`deskpilot train refiner`: the spin/combo kind refiner that runs after the detector."""

from __future__ import annotations

from pathlib import Path

import typer

from agent.commands.common import err_console, print_json


def refiner(
    data: Path = typer.Option(
        Path("data/detection/train"), "--data", help="COCO folder from `deskpilot sandbox gen-detection`."
    ),
    out: Path = typer.Option(
        Path("runs/refiner"), "--out", help="Folder for refiner.safetensors (weights/detector to ship it)."
    ),
    epochs: int = typer.Option(30, "--epochs", help="Passes over the crops."),
    max_images: int | None = typer.Option(None, "--max-images", help="Read at most this many images."),
    seed: int = typer.Option(0, "--seed", help="Random seed (also the train/validation split)."),
    threads: int = typer.Option(1, "--threads", help="torch threads."),
) -> None:
    """Fit the MLP that re-decides spin box vs combo box from full-resolution pixels
    (`vision/detector/refine.py`); prints its validation accuracy."""
    import torch
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from agent.errors import DeskpilotError
    from vision.detector.refine import train_refiner

    if not (data / "annotations.json").is_file():
        raise DeskpilotError(
            f"{data} is not a COCO folder (no annotations.json); run `deskpilot sandbox gen-detection`"
        )
    torch.set_num_threads(threads)
    with Progress(TextColumn("train refiner"), BarColumn(), MofNCompleteColumn(), console=err_console,
                  disable=not err_console.is_terminal) as bar:  # fmt: skip
        task = bar.add_task("epochs", total=epochs)
        model, metrics = train_refiner(data, epochs=epochs, seed=seed, max_images=max_images,
                                       progress=lambda done, total: bar.update(task, completed=done))  # fmt: skip
    path = model.save(out)
    print_json({**metrics, "saved": str(path)})
