"""COCO evaluation of the detector on a COCO folder, and the held-out sandbox set.

`evaluate_folder` runs the full inference path (letterbox, model, postprocess, NMS) on each screenshot
and scores the elements against the folder's ground truth with pycocotools:
``map`` (AP@[.5:.95]), ``map50`` (AP@0.5), ``per_class_ap50`` (AP@0.5 per kind that occurs in the
ground truth), ``recall100`` (AR@100) and ``images``; and ``confusion`` (`kind_confusion`): what the
detections perception would keep say each ground-truth element is.

`heldout_folder` regenerates the held-out split deterministically (the sandbox generator seeds it by
split name and index) into a cache folder, so the set is never stored in git.
"""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from agent.errors import DeskpilotError
from vision.boxes import box_iou, xywh_to_xyxy, xyxy_to_xywh
from vision.data import load_coco


def _read_rgb(path: Path) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


def coco_metrics(gt: dict[str, Any], detections: list[dict[str, Any]]) -> dict[str, Any]:
    """Score COCO-format ``detections`` (image_id, category_id, bbox xywh pixels, score) against ``gt``.

    Returns ``map``, ``map50``, ``recall100`` and ``per_class_ap50`` {category name: AP@0.5}, the
    latter only for categories that have ground truth in ``gt``.
    """
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    gt = dict(gt)
    gt.setdefault("info", {})
    # pycocotools wants an area per annotation; the generator may omit it.
    gt["annotations"] = [
        {**a, "area": a.get("area", a["bbox"][2] * a["bbox"][3]), "iscrowd": a.get("iscrowd", 0),
         "id": a.get("id", i + 1)}
        for i, a in enumerate(gt["annotations"])
    ]  # fmt: skip
    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints; keep stdout clean for --json
        coco_gt = COCO()
        coco_gt.dataset = gt
        coco_gt.createIndex()
        if not detections:
            names = {c["id"]: c["name"] for c in gt["categories"]}
            present = {names[a["category_id"]] for a in gt["annotations"]}
            return {
                "map": 0.0,
                "map50": 0.0,
                "recall100": 0.0,
                "per_class_ap50": dict.fromkeys(sorted(present), 0.0),
            }
        coco_dt = coco_gt.loadRes(detections)
        ev = COCOeval(coco_gt, coco_dt, iouType="bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    precision = ev.eval["precision"]  # [T iou, R recall, K class, A area, M maxdets]
    per_class: dict[str, float] = {}
    gt_cats = {a["category_id"] for a in gt["annotations"]}
    for k, cat_id in enumerate(ev.params.catIds):
        if cat_id not in gt_cats:
            continue
        p = precision[0, :, k, 0, -1]
        p = p[p > -1]
        name = coco_gt.cats[cat_id]["name"]
        per_class[name] = round(float(p.mean()) if p.size else 0.0, 4)
    return {
        "map": round(max(0.0, float(ev.stats[0])), 4),
        "map50": round(max(0.0, float(ev.stats[1])), 4),
        "recall100": round(max(0.0, float(ev.stats[8])), 4),
        "per_class_ap50": per_class,
    }


def kind_confusion(gt: dict[str, Any], detections: list[dict[str, Any]], *, score_threshold: float = 0.35,
                   iou: float = 0.5) -> dict[str, Any]:  # fmt: skip
    """What the detector calls each ground-truth element: the kind of its best-overlapping detection
    at ``score`` ≥ ``score_threshold`` (perception's default), or "missed" when none overlaps it by IoU ≥
    ``iou``. Elements only partly visible ("clipped") are left out.

    Returns {"by_kind": {true kind: {reported kind or "missed": count}}, "false": {kind: detections
    overlapping no ground-truth element by ``iou``}}.
    """
    names = {c["id"]: c["name"] for c in gt["categories"]}
    by_image: dict[int, tuple[list, list]] = {im["id"]: ([], []) for im in gt["images"]}
    for a in gt["annotations"]:
        if a["image_id"] in by_image and not a.get("clipped"):
            by_image[a["image_id"]][0].append(a)
    for d in detections:
        if d["score"] >= score_threshold and d["image_id"] in by_image:
            by_image[d["image_id"]][1].append(d)

    def xyxy(items: list[dict]) -> np.ndarray:
        return xywh_to_xyxy(np.array([i["bbox"] for i in items], np.float32).reshape(-1, 4))

    table: dict[str, dict[str, int]] = {}
    false: dict[str, int] = {}
    for anns, dets in by_image.values():
        overlap = box_iou(xyxy(anns), xyxy(dets)) if anns and dets else np.zeros((len(anns), len(dets)))
        for i, a in enumerate(anns):
            j = int(overlap[i].argmax()) if dets else -1
            said = names[dets[j]["category_id"]] if j >= 0 and overlap[i, j] >= iou else "missed"
            row = table.setdefault(names[a["category_id"]], {})
            row[said] = row.get(said, 0) + 1
        for j, d in enumerate(dets):
            if not anns or overlap[:, j].max() < iou:
                false[names[d["category_id"]]] = false.get(names[d["category_id"]], 0) + 1
    ordered = {k: dict(sorted(row.items(), key=lambda t: -t[1])) for k, row in sorted(table.items())}
    return {"by_kind": ordered, "false": dict(sorted(false.items()))}


def evaluate_folder(
    detector,
    root: str | Path,
    *,
    max_images: int | None = None,
    score_threshold: float = 0.01,
    nms_iou: float = 0.7,
    bf16: bool | None = None,
    batch_size: int = 4,
    on_batch=None,
) -> dict[str, Any]:
    """Detect on the first ``max_images`` screenshots of a COCO folder and score them.

    Args:
        detector: a `vision.detector.Detector`.
        on_batch: optional callback(n_done) for progress.

    Returns:
        `coco_metrics` plus ``images`` (count) and ``seconds_per_image`` (inference wall time).
    """
    root = Path(root)
    gt = load_coco(root)
    images = gt["images"][:max_images] if max_images else gt["images"]
    ids = {im["id"] for im in images}
    gt = {**gt, "images": images, "annotations": [a for a in gt["annotations"] if a["image_id"] in ids]}
    name_to_cat = {c["name"]: c["id"] for c in gt["categories"]}
    dets: list[dict[str, Any]] = []
    spent = 0.0
    for start in range(0, len(images), batch_size):
        chunk = images[start : start + batch_size]
        frames = []
        for im in chunk:
            path = root / im["file_name"]
            frames.append(_read_rgb(path if path.is_file() else root / "images" / im["file_name"]))
        t0 = time.perf_counter()
        # Same-sized screens batch together; mixed sizes are letterboxed to the same canvas anyway.
        # HiDPI screens record their device pixel ratio.
        ratios = [float(im.get("scale", 1.0)) for im in chunk]
        results = detector.detect(frames, score_threshold=score_threshold, nms_iou=nms_iou, bf16=bf16,
                                  screen_scale=ratios)  # fmt: skip
        spent += time.perf_counter() - t0
        for im, elements in zip(chunk, results, strict=True):
            for e in elements:
                if e.kind not in name_to_cat:
                    continue
                x, y, w, h = xyxy_to_xywh(np.array(e.box)).tolist()
                dets.append({"image_id": im["id"], "category_id": name_to_cat[e.kind], "bbox": [x, y, w, h],
                             "score": e.score})  # fmt: skip
        if on_batch is not None:
            on_batch(len(chunk))
    out = coco_metrics(gt, dets)
    out["confusion"] = kind_confusion(gt, dets)
    out["images"] = len(images)
    out["seconds_per_image"] = round(spent / max(1, len(images)), 4)
    return out


def default_cache_dir() -> Path:
    base = os.environ.get("DESKPILOT_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "deskpilot")
    return Path(base)


def heldout_folder(
    n: int, split: str = "heldout", cache_dir: str | Path | None = None, quiet: bool = True
) -> Path:
    """Return a folder holding the first ``n`` images of ``split``, generating it when not cached.

    The sandbox generator is deterministic per (split, index), so a cached folder is as good as a fresh
    one; a folder with fewer images or an unfinished write is regenerated.
    """
    # The suffix is the set's version: v2 marks elements that are only partly visible ("clipped"); v3 draws
    # empty fields' hints faded (`agent.envs.sandbox.theme`).
    folder = Path(cache_dir or default_cache_dir()) / "detection" / f"{split}-{n}-v3"
    done = folder / ".complete"
    if done.is_file() and (folder / "annotations.json").is_file():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "agent.cli", "sandbox", "gen-detection", "--n", str(n), "--split", split,
           "--out", str(folder)]  # fmt: skip
    env = {**os.environ, "QT_QPA_PLATFORM": os.environ.get("QT_QPA_PLATFORM", "offscreen")}
    proc = subprocess.run(cmd, capture_output=quiet, text=True, env=env, check=False)
    if proc.returncode != 0:
        detail = (proc.stderr or "").strip().splitlines()[-1:] if quiet else []
        raise DeskpilotError(
            f"could not generate the {split} detection set ({' '.join(cmd[2:])} exited {proc.returncode}"
            + (f": {detail[0]}" if detail else "")
            + ")"
        )
    done.write_text("ok\n")
    return folder
