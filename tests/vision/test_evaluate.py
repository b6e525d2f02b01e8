"""COCO evaluation: a perfect detector scores 1, a sloppy one less, and the JSON keys are the ones promised."""

from __future__ import annotations

import json

import pytest

from agent.types import ELEMENT_KINDS, Element
from vision.evaluate import coco_metrics, evaluate_folder, kind_confusion


class OracleDetector:
    """Returns each screen's ground truth (looked up by image size and order), optionally shifted."""

    def __init__(self, root, shift: float = 0.0):
        coco = json.loads((root / "annotations.json").read_text())
        self.queue = [[a for a in coco["annotations"] if a["image_id"] == im["id"]] for im in coco["images"]]
        self.shift = shift

    def detect(self, frames, **kw):
        out = []
        for _ in frames:
            anns = self.queue.pop(0)
            out.append([Element(box=(x + self.shift, y, x + w + self.shift, y + h), kind=ELEMENT_KINDS[a["category_id"] - 1],
                                score=0.9) for a in anns for (x, y, w, h) in [a["bbox"]]])  # fmt: skip
        return out


def test_perfect_detections_score_one_and_keys_are_complete(coco_dir):
    result = evaluate_folder(OracleDetector(coco_dir), coco_dir, batch_size=3)
    assert {"map", "map50", "per_class_ap50", "recall100", "images"} <= set(result)
    assert result["images"] == 8
    assert result["map"] == pytest.approx(1.0) and result["map50"] == pytest.approx(1.0)
    # only kinds that occur in the ground truth are reported
    assert set(result["per_class_ap50"]) == {"button", "checkbox", "text_field", "label"}
    assert all(v == pytest.approx(1.0) for v in result["per_class_ap50"].values())
    # every element reported as its own kind, nothing false
    assert result["confusion"]["false"] == {}
    assert all(set(row) == {kind} for kind, row in result["confusion"]["by_kind"].items())


def test_shifted_boxes_lose_strict_ap_first(coco_dir):
    result = evaluate_folder(OracleDetector(coco_dir, shift=4.0), coco_dir)
    assert result["map"] < 0.9  # strict IoU thresholds fail...
    assert result["map50"] > result["map"]  # ...while the lenient one still matches most boxes


def test_no_detections_score_zero():
    gt = {"images": [{"id": 1, "width": 10, "height": 10}], "categories": [{"id": 1, "name": "button"}],
          "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 1, 5, 5]}]}  # fmt: skip
    assert coco_metrics(gt, []) == {
        "map": 0.0,
        "map50": 0.0,
        "recall100": 0.0,
        "per_class_ap50": {"button": 0.0},
    }


def test_kind_confusion_counts_wrong_kinds_misses_and_false_detections():
    cats = [{"id": 1, "name": "checkbox"}, {"id": 2, "name": "radio"}, {"id": 3, "name": "label"}]
    gt = {"images": [{"id": 1, "width": 200, "height": 100}], "categories": cats,
          "annotations": [{"image_id": 1, "category_id": 2, "bbox": [10, 10, 60, 20]},      # a radio
                          {"image_id": 1, "category_id": 1, "bbox": [10, 40, 60, 20]},      # a checkbox
                          {"image_id": 1, "category_id": 3, "bbox": [100, 70, 50, 20]},     # a label: missed
                          {"image_id": 1, "category_id": 3, "bbox": [0, 90, 9, 9], "clipped": True}]}  # fmt: skip
    dets = [{"image_id": 1, "category_id": 1, "bbox": [11, 10, 60, 20], "score": 0.9},   # radio called checkbox
            {"image_id": 1, "category_id": 2, "bbox": [10, 41, 60, 20], "score": 0.2},   # below the threshold
            {"image_id": 1, "category_id": 1, "bbox": [10, 40, 60, 20], "score": 0.8},
            {"image_id": 1, "category_id": 3, "bbox": [100, 10, 30, 20], "score": 0.5}]  # on nothing  # fmt: skip
    out = kind_confusion(gt, dets)
    assert out["by_kind"] == {"checkbox": {"checkbox": 1}, "label": {"missed": 1}, "radio": {"checkbox": 1}}
    assert out["false"] == {"label": 1}
    assert kind_confusion(gt, dets, score_threshold=0.1)["false"] == {"label": 1}
