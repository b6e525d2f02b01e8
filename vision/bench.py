"""Perception latency at 1280×800: full re-detect, OCR of the crops, an unchanged frame; each runtime
and precision this machine offers (torch / OpenVINO, fp32 / bf16), against the torch fp32 baseline.

Figures, not pass/fail (`deskpilot bench perception --json`). Frames are held-out sandbox screens
resized to 1280×800. Without trained weights the detector is randomly initialised (latency is the same).
``ocr_crops`` reads the ground-truth element boxes with a cold cache (what a perfect detector would hand
over); ``perception_*`` run the whole pipeline, so their OCR share depends on what the detector finds.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np


def _summary(ms: list[float]) -> dict[str, float]:
    s = sorted(ms)
    return {
        "median_ms": round(statistics.median(s), 2),
        "p90_ms": round(s[min(len(s) - 1, int(0.9 * len(s)))], 2),
    }


def _frames(n: int, size: tuple[int, int]) -> tuple[list[np.ndarray], list[list[tuple[str, tuple]]]]:
    """n held-out screens at ``size`` and their ground-truth (kind, xyxy) boxes, scaled alike."""
    import json

    from PIL import Image

    from vision.evaluate import heldout_folder

    folder = heldout_folder(max(n, 12), "heldout")
    coco = json.loads((folder / "annotations.json").read_text())
    names = {c["id"]: c["name"] for c in coco["categories"]}
    frames, truths = [], []
    for im in coco["images"][:n]:
        with Image.open(folder / "images" / Path(im["file_name"]).name) as f:
            sx, sy = size[0] / f.width, size[1] / f.height
            frames.append(np.asarray(f.convert("RGB").resize(size, Image.BILINEAR)))
        boxes = [(names[a["category_id"]], (a["bbox"][0] * sx, a["bbox"][1] * sy, (a["bbox"][0] + a["bbox"][2]) * sx,
                                            (a["bbox"][1] + a["bbox"][3]) * sy))
                 for a in coco["annotations"] if a["image_id"] == im["id"]]  # fmt: skip
        truths.append(boxes)
    return frames, truths


def _loaded_ocr(threads: int, runtime: str = "onnxruntime", precision: str = "fp32", **kwargs):
    """An `OCR` whose model is loaded (outside any timing)."""
    from vision.ocr import OCR

    ocr = OCR(threads=threads, runtime=runtime, precision=precision, **kwargs)
    ocr.read([np.full((20, 60, 3), 255, np.uint8)])
    return ocr


def _full_ms(detector, ocr, frame: np.ndarray):
    """ms of a full re-detect + OCR of ``frame`` as a never-seen screen (fresh perception, cold OCR
    cache), and the perception, for timing what follows on it."""
    from agent.types import Observation
    from vision.perception import Perception

    ocr._cache.clear()
    p = Perception(detector, ocr)
    t = time.perf_counter()
    p(Observation(frame))
    return (time.perf_counter() - t) * 1000, p


def _alternate(this, other, frames, repeats: int, threads: int, setup: tuple[str, str]) -> dict[str, Any]:
    """Full re-detect + OCR of fresh screens with ``this`` and ``other`` detector in turn, frame by frame
    (each its own OCR), then their ratio."""
    pipes = []
    for detector in (this, other):
        detector.accelerate(*setup)
        detector.detect([frames[0]])  # warm-up
        pipes.append((detector, _loaded_ocr(threads, *setup)))
    times: list[list[float]] = [[], []]
    for i in range(repeats):
        for k in (0, 1) if i % 2 == 0 else (1, 0):  # neither always goes first
            times[k].append(_full_ms(*pipes[k], frames[i % len(frames)])[0])
    a, b = _summary(times[0]), _summary(times[1])
    return {"ab_this_full": a, "ab_against_full": b, "ab_speedup": round(b["median_ms"] / a["median_ms"], 3)}


def bench_perception(
    repeats: int = 20,
    weights: str | Path = "weights/detector",
    size: tuple[int, int] = (1280, 800),
    threads: int = 2,
    against: str | Path | None = None,
) -> dict[str, Any]:
    """Median and p90 latency (ms) of each perception path; see the module docstring.

    The detector runs under every runtime × precision this machine offers (`vision.accel`): torch and
    OpenVINO, fp32 and, where the CPU computes it natively, a bf16 front (emulated bf16 is ~15× slower and
    is skipped). OCR runs on onnxruntime and OpenVINO. The whole pipeline is timed twice: as `Perception.load`
    sets it up here (``perception_*``) and as the plain torch-fp32/onnxruntime baseline (``baseline_*``).
    With ``against`` (another weights folder, e.g. the previous detector) the whole pipeline of each
    detector, as `Perception.load` sets it up, alternates frame by frame (``ab_*``).
    """
    import torch

    from agent.types import Element, Observation
    from vision.accel import native_bf16, openvino_available, resolve_precision, resolve_runtime
    from vision.detector import Detector, DetectorConfig

    torch.set_num_threads(threads)
    weights = Path(weights)
    other = Detector.load(against) if against is not None else None  # a bad folder fails before timing
    trained = (weights / "model.safetensors").is_file()
    detector = Detector.load(weights) if trained else Detector(DetectorConfig()).eval()
    frames, truths = _frames(min(repeats, 12), size)
    out: dict[str, Any] = {"size": list(size), "repeats": repeats, "threads": threads,
                           "weights": str(weights) if trained else "random-init",
                           "native_bf16": native_bf16(), "openvino": openvino_available()}  # fmt: skip

    def time_detect(name: str, runtime: str, precision: str, decoder: bool = True) -> None:
        detector.accelerate(runtime, precision, decoder=decoder)
        detector.detect([frames[0]])  # warm-up (allocations, anchors, the compiled graph)
        ms = []
        for i in range(repeats):
            t = time.perf_counter()
            detector.detect([frames[i % len(frames)]])
            ms.append((time.perf_counter() - t) * 1000)
        out[f"detect_{name}"] = _summary(ms)

    runtimes = ["torch"] + (["openvino"] if openvino_available() else [])
    precisions = ["fp32"] + (["bf16"] if native_bf16() else [])
    for runtime in runtimes:
        for precision in precisions:
            time_detect(f"{runtime}_{precision}", runtime, precision)
    if openvino_available():  # the OpenVINO front with torch's decoder, as before `OpenVinoDecoder`
        time_detect(f"openvino_{precisions[-1]}_torch_decoder", "openvino", precisions[-1], decoder=False)
    # every tile run, blank ones too (`vision.detector.tiling.blank_tiles`), as before session 24
    detector.skip_blank_tiles = False
    time_detect("auto_all_tiles", "auto", "auto")
    detector.skip_blank_tiles = True
    time_detect("auto", "auto", "auto")
    base = out["detect_torch_fp32"]["median_ms"]
    out["detect_speedup_vs_torch_fp32"] = {
        k.removeprefix("detect_"): round(base / v["median_ms"], 3)
        for k, v in out.items()
        if k.startswith("detect_") and isinstance(v, dict) and "median_ms" in v
    }

    # OCR of one screen's crops, cold cache each time (a fresh screen).
    def time_ocr(ocr) -> dict[str, Any]:
        cold, counts = [], []
        for i in range(repeats):
            frame = frames[i % len(frames)]
            # Ground-truth boxes: the crops a perfect detector would hand over, independent of training.
            elements = [Element(box=b, kind=k) for k, b in truths[i % len(frames)]]
            ocr._cache.clear()
            t = time.perf_counter()
            ocr.read_elements(frame, elements)
            cold.append((time.perf_counter() - t) * 1000)
            counts.append(len(elements))
        return {
            **_summary(cold),
            "elements_median": int(statistics.median(counts)),
            "ocr_boxes": "ground truth",
        }

    out["ocr_crops_onnxruntime"] = time_ocr(_loaded_ocr(threads))
    # rapidocr's own minimum line width (320 px at its 48-px height), as before session 24
    out["ocr_crops_onnxruntime_320px"] = time_ocr(_loaded_ocr(threads, min_width=320 / 48))
    if openvino_available():
        ov_ocr = _loaded_ocr(threads, "openvino", "auto")
        out[f"ocr_crops_openvino_{ov_ocr.precision}"] = time_ocr(ov_ocr)

    # The whole pipeline: full re-detect + OCR (fresh screens), unchanged frames, a one-widget change.
    def time_pipeline(prefix: str, runtime: str, precision: str) -> None:
        detector.accelerate(runtime, precision)
        ocr = _loaded_ocr(threads, runtime, precision)
        full, same, region = [], [], []
        for i in range(repeats):
            frame = frames[i % len(frames)]
            ms, p = _full_ms(detector, ocr, frame)
            full.append(ms)
            t = time.perf_counter()
            p(Observation(frame))
            same.append((time.perf_counter() - t) * 1000)
            changed = frame.copy()
            y, x = 200 + 10 * (i % 20), 300
            changed[y : y + 24, x : x + 120] = 255 - changed[y : y + 24, x : x + 120]
            t = time.perf_counter()
            p(Observation(changed))
            region.append((time.perf_counter() - t) * 1000)
        out[f"{prefix}_full"] = _summary(full)
        out[f"{prefix}_unchanged"] = _summary(same)
        out[f"{prefix}_region"] = _summary(region)

    chosen = (resolve_runtime("auto"), resolve_precision("auto"))
    out["perception_setup"] = " ".join(chosen)
    time_pipeline("baseline", "torch", "fp32")
    time_pipeline("perception", *chosen)
    if detector.edges is not None:
        # The edge refiner's share: the same pipeline without it, and the refiner alone on the boxes
        # the detector reports at perception's threshold.
        edges = detector.edges
        detector.set_edges(None)
        time_pipeline("perception_no_edges", *chosen)
        detector.set_edges(edges)
        ms, counts = [], []
        for i in range(repeats):
            frame = frames[i % len(frames)]
            (found,) = detector.detect([frame])
            t = time.perf_counter()
            edges.refine(frame, found)
            ms.append((time.perf_counter() - t) * 1000)
            counts.append(len(found))
        out["edges_alone"] = {**_summary(ms), "elements_median": int(statistics.median(counts))}
    if detector.panes is not None:
        # the text-area rule's share (`vision.detector.panes`): weak hints decoded and merged, panes filled
        rule = detector.panes
        detector.panes = None
        time_pipeline("perception_no_panes", *chosen)
        detector.panes = rule
    if against is not None:
        out.update(_alternate(detector, other, frames, repeats, threads, chosen))
        out["ab_against"] = str(against)
    out["full_speedup_vs_baseline"] = round(
        out["baseline_full"]["median_ms"] / out["perception_full"]["median_ms"], 3
    )
    out["targets"] = {
        "full_redetect_plus_ocr_median_ms<=250": out["perception_full"]["median_ms"] <= 250,
        "unchanged_frame_ms<=20": out["perception_unchanged"]["median_ms"] <= 20,
    }
    return out
