"""`deskpilot train edges`: the edge refiner that moves detected boxes onto the screen's pixels."""

from __future__ import annotations

from pathlib import Path

import typer

from agent.commands.common import err_console, print_json


def edges(
    data: Path = typer.Option(
        Path("data/detection/train"), "--data", help="COCO folder from `deskpilot sandbox gen-detection`."
    ),
    out: Path = typer.Option(
        Path("runs/edges"), "--out", help="Folder for edges.safetensors (weights/detector to ship it)."
    ),
    max_images: int = typer.Option(3000, "--max-images", help="Read at most this many screens."),
    copies: int = typer.Option(2, "--copies", help="Displaced copies of each ground-truth box."),
    epochs: int = typer.Option(8, "--epochs", help="Passes over the strips."),
    seed: int = typer.Option(
        0, "--seed", help="Seed of the displacement, the order and the validation split."
    ),
    threads: int = typer.Option(1, "--threads", help="torch threads."),
) -> None:
    """Fit the CNN that reads each edge of a detected box at full resolution and moves it onto the pixels
    (`vision/detector/edges.py`); prints the validation images' median edge error before and after."""
    import torch
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from agent.errors import DeskpilotError
    from vision.detector.edges import train_edges

    if not (data / "annotations.json").is_file():
        raise DeskpilotError(
            f"{data} is not a COCO folder (no annotations.json); run `deskpilot sandbox gen-detection`"
        )
    if min(max_images, copies, epochs) < 1:
        raise DeskpilotError("--max-images, --copies and --epochs must be at least 1")
    torch.set_num_threads(threads)
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), console=err_console,
                  disable=not err_console.is_terminal) as bar:  # fmt: skip
        tasks: dict[str, int] = {}

        def progress(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task("read screens" if stage == "read" else "train steps", total=total)
            bar.update(tasks[stage], completed=done)

        model, metrics = train_edges(data, max_images=max_images, copies=copies, epochs=epochs, seed=seed,
                                     progress=progress)  # fmt: skip
    path = model.save(out)
    print_json({**metrics, "saved": str(path)})
