"""`deskpilot eval detector`: COCO mAP of the detector on the held-out sandbox split.

Mounted by agent.commands.evaluate as the ``detector`` command. Heavy imports happen inside the function.
"""

from __future__ import annotations

from pathlib import Path

import typer


def detector(
    split: str = typer.Option("heldout", help="Sandbox split to regenerate: heldout, val or train."),
    n: int = typer.Option(200, "--n", help="Number of screens (the first n of the split, fixed by seed)."),
    weights: Path = typer.Option(
        Path("weights/detector"), help="Folder with model.safetensors + config.json."
    ),
    data: Path | None = typer.Option(
        None, help="Evaluate this COCO folder instead of regenerating the split."
    ),
    cache_dir: Path | None = typer.Option(
        None, help="Where regenerated sets are cached (default ~/.cache/deskpilot)."
    ),
    runtime: str = typer.Option(
        "auto", help="torch, openvino, or auto (OpenVINO when installed); see vision/accel.py."
    ),
    precision: str = typer.Option(
        "fp32", help="fp32, bf16 (the detector's front) or auto (bf16 where the CPU has it natively)."
    ),
    score_threshold: float = typer.Option(0.01, help="Lowest score kept (COCO mAP wants low thresholds)."),
    threads: int = typer.Option(2, help="torch CPU threads."),
    ocr: bool = typer.Option(
        False, "--ocr", help="Also report OCR exact match and CER on ground-truth boxes."
    ),
    snap_rows: bool = typer.Option(
        True, "--snap-rows/--no-snap-rows", help="Snap list and menu rows to their lines of text."
    ),
    edges: bool = typer.Option(
        True, "--edges/--no-edges", help="Move boxes' edges onto the pixels (the shipped edge refiner)."
    ),
    panes: bool = typer.Option(
        True, "--panes/--no-panes", help="Take text areas from the flat panes under the detector's hints."
    ),
    json_out: bool = typer.Option(False, "--json", help="Print the results as JSON."),
) -> None:
    """mAP@[.5:.95], mAP@0.5, per-class AP@0.5 and recall@100 on held-out sandbox screens."""
    import torch

    from agent.commands.common import err_console, out_console, print_json
    from agent.errors import WeightsError
    from vision.detector import Detector
    from vision.evaluate import evaluate_folder, heldout_folder

    torch.set_num_threads(max(1, threads))
    if not (weights / "model.safetensors").is_file():
        raise WeightsError(
            f"no detector weights in {weights}; train them with `deskpilot train detector` "
            f"(then copy runs/detector/best to {weights}) or pass --weights DIR"
        )
    model = Detector.load(weights)
    try:
        setup = model.accelerate(runtime, precision)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    if not snap_rows:
        model.rows = None
    if not edges:
        model.set_edges(None)
    if not panes:
        model.panes = None
    folder = data if data is not None else heldout_folder(n, split, cache_dir)
    if data is None and not json_out:
        err_console.print(f"{split} set: {folder}")
    result = evaluate_folder(model, folder, max_images=n, score_threshold=score_threshold)
    result.update(
        {"split": split if data is None else str(data), "weights": str(weights), "inference": setup}
    )
    if ocr:
        from vision.ocr import OCR, evaluate_ocr

        reader = OCR(threads=threads, runtime=runtime, precision=precision)
        result["ocr"] = evaluate_ocr(folder, reader, max_images=n)
    if json_out:
        print_json(result)
        return
    from rich.table import Table

    table = Table("metric", "value")
    for key in ("images", "map", "map50", "recall100", "seconds_per_image", "inference"):
        table.add_row(key, str(result[key]))
    for kind, ap in result["per_class_ap50"].items():
        table.add_row(f"AP@0.5 {kind}", f"{ap:.3f}")
    for kind, row in result["confusion"]["by_kind"].items():
        others = ", ".join(f"{said} {n}" for said, n in row.items() if said != kind)
        table.add_row(f"{kind} reported as", f"{kind} {row.get(kind, 0)}" + (f"; {others}" if others else ""))
    if ocr:
        table.add_row("OCR exact match", str(result["ocr"]["exact_match"]))
        table.add_row("OCR CER", str(result["ocr"]["cer"]))
    out_console.print(table)
