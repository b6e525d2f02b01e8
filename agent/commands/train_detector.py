"""`deskpilot train detector`: train (or resume) the Swin + RT-DETR element detector.

Mounted by agent.commands.train as the ``detector`` command. Heavy imports happen inside the function.
"""

from __future__ import annotations

from pathlib import Path

import typer


def detector(
    data: Path = typer.Option(
        Path("data/detection/train"), help="COCO folder from `deskpilot sandbox gen-detection`."
    ),
    val: Path | None = typer.Option(
        Path("data/detection/val"), help="COCO folder for periodic mAP (skipped if absent)."
    ),
    out: Path = typer.Option(
        Path("runs/detector"),
        help="Run folder: checkpoint.pt, log.jsonl, last/, best/. Resumes if it holds a checkpoint.",
    ),
    steps: int = typer.Option(20000, help="Total optimiser steps (the cosine schedule ends here)."),
    batch_size: int | None = typer.Option(
        None, help="Images per step and process; default 8, or the checkpoint's when resuming."
    ),
    lr: float | None = typer.Option(
        None, help="Peak learning rate (AdamW); default 2e-4, or the checkpoint's when resuming."
    ),
    warmup_steps: int = typer.Option(300, help="Linear warm-up steps."),
    ema_decay: float | None = typer.Option(
        None, help="EMA decay of the weights (0 turns EMA off); default 0.999, or the checkpoint's."
    ),
    tile: str = typer.Option(
        "",
        "--tile",
        "--crop",
        help="The detector's tile: it trains on WxH crops at inference scale and detects on WxH windows "
        "(multiples of 32; default 352x256, or the checkpoint's), or 'full' for whole screens.",
        metavar="WxH",
    ),
    dense_weight: float | None = typer.Option(
        None, help="Weight of the dense one-to-many loss on encoder proposals (0 turns it off); default 1."
    ),
    repeat_threshold: float | None = typer.Option(
        None,
        help="Repeat-factor sampling: screens with classes on fewer than this fraction of screens "
        "are drawn more often (0: uniform); default 0.3.",
    ),
    bf16: bool = typer.Option(
        False, "--bf16/--fp32", help="bf16 autocast (fp32 trains faster on CPUs without native bf16)."
    ),
    device: str = typer.Option("cpu", help="cpu or cuda."),
    threads: int = typer.Option(2, help="torch CPU threads per process."),
    workers: int = typer.Option(1, help="Data-loading worker processes."),
    checkpoint_minutes: float = typer.Option(5.0, help="Minutes between checkpoints."),
    eval_minutes: float = typer.Option(20.0, help="Minutes between validation mAP runs (0: never)."),
    eval_images: int = typer.Option(100, help="Validation images per mAP run."),
    max_minutes: float | None = typer.Option(None, help="Stop (with a checkpoint) after this many minutes."),
    config: Path | None = typer.Option(
        None, help="Detector config JSON for a fresh run (default: built-in sizes)."
    ),
    init_from: Path | None = typer.Option(
        None,
        "--init-from",
        help="Warm start a fresh run from a weights folder (e.g. weights/detector); fresh optimiser and "
        "schedule; its config is the architecture (not with --config). Ignored when --out holds a checkpoint.",
    ),
    seed: int = typer.Option(0, help="Seed of sampling and augmentation."),
    no_augment: bool = typer.Option(False, "--no-augment", help="Train on plain letterboxed screens."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bar."),
) -> None:
    """Train the element detector on sandbox screens; rerun the same command to resume.

    Multi-process: `torchrun --nproc-per-node N -m agent.cli train detector ...` (gloo on CPU, nccl on CUDA).
    """
    import os

    # Spinning OpenMP threads are ruinous on a shared CPU (measured here: 60 s vs 16 s per step under load);
    # this only takes effect when torch is not imported yet, so long runs should also export it.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

    from agent.errors import DeskpilotError
    from vision.detector.configuration import DetectorConfig
    from vision.train import TrainConfig, train

    if device not in ("cpu", "cuda"):
        raise DeskpilotError(f"--device must be cpu or cuda, got {device!r}")
    # Recipe options left out keep the checkpoint's values on resume (TrainConfig's defaults when fresh).
    recipe = {"lr": lr, "batch_size": batch_size, "ema_decay": ema_decay, "dense_weight": dense_weight,
              "repeat_threshold": repeat_threshold}  # fmt: skip
    given = {k: v for k, v in recipe.items() if v is not None}
    if tile:
        given["tile"] = _tile(tile)
    cfg = TrainConfig(
        data=str(data), val=str(val) if val else None, out=str(out), steps=steps, warmup_steps=warmup_steps,
        bf16=bf16, device=device, threads=threads, workers=workers, checkpoint_minutes=checkpoint_minutes,
        eval_minutes=eval_minutes, eval_images=eval_images, max_minutes=max_minutes, seed=seed,
        augment=not no_augment, init_from=str(init_from or ""), **given,
    )  # fmt: skip
    cfg.given = frozenset(given)
    summary = train(cfg, DetectorConfig.load(config) if config else None, quiet=quiet)
    typer.echo(f"step {summary['step']}, loss {summary['loss']:.4f}, best val mAP@0.5 "
               f"{summary['best_map50']:.3f}; weights in {summary['out']}/last and /best")  # fmt: skip


def _tile(text: str) -> tuple[int, int]:
    """'352x256' -> (352, 256); 'full' -> (0, 0) (whole screens); anything else is a usage error."""
    if text.lower() == "full":
        return (0, 0)
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise typer.BadParameter(f"--tile must look like 352x256, got {text!r}") from None
    if w < 64 or h < 64 or w % 32 or h % 32:
        raise typer.BadParameter(f"--tile sides must be multiples of 32 and >= 64, got {text!r}")
    return (w, h)
