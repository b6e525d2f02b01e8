"""`deskpilot train refiner`: a kind refiner (spin/combo, checkbox/radio, menu/tab) that runs after the detector."""

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
    kinds: str = typer.Option(
        "combo,spin",
        "--kinds",
        help="The two look-alike kinds to re-decide: combo,spin, checkbox,radio or menu,tab.",
    ),
    epochs: int = typer.Option(30, "--epochs", help="Passes over the crops."),
    max_images: int | None = typer.Option(None, "--max-images", help="Read at most this many images."),
    seed: int = typer.Option(0, "--seed", help="Random seed (also the train/validation split)."),
    threads: int = typer.Option(1, "--threads", help="torch threads."),
) -> None:
    """Fit the MLP that re-decides two look-alike kinds (spin box vs combo box, checkbox vs radio, menu title vs tab) from
    full-resolution pixels (`vision/detector/refine.py`); prints its validation accuracy."""
    import torch
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from agent.errors import DeskpilotError
    from agent.types import ELEMENT_KINDS
    from vision.detector.refine import train_refiner

    pair = tuple(sorted(k.strip() for k in kinds.split(",") if k.strip()))
    if len(pair) != 2 or len(set(pair)) != 2 or not set(pair) <= set(ELEMENT_KINDS):
        raise DeskpilotError(
            f"--kinds wants two different element kinds, e.g. checkbox,radio (got {kinds!r})"
        )

    if not (data / "annotations.json").is_file():
        raise DeskpilotError(
            f"{data} is not a COCO folder (no annotations.json); run `deskpilot sandbox gen-detection`"
        )
    torch.set_num_threads(threads)
    with Progress(TextColumn("train refiner"), BarColumn(), MofNCompleteColumn(), console=err_console,
                  disable=not err_console.is_terminal) as bar:  # fmt: skip
        task = bar.add_task("epochs", total=epochs)
        model, metrics = train_refiner(data, kinds=pair, epochs=epochs, seed=seed, max_images=max_images,
                                       progress=lambda done, total: bar.update(task, completed=done))  # fmt: skip
    path = model.save(out)
    print_json({**metrics, "saved": str(path)})
