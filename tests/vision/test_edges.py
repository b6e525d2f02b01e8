"""The edge refiner: strip geometry, training on synthetic screens, save/load, use by the detector, and the
shipped weights on held-out sandbox screens."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

from agent.errors import WeightsError
from agent.types import Element
from tests.vision.conftest import write_coco
from vision.boxes import box_iou
from vision.detector.edges import EDGE_NAMES, EdgeRefiner, displace, train_edges

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def _iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.diag(box_iou(a, b))


def test_every_strip_reads_from_outside_to_inside():
    # a dark box on white: each edge's strip must go bright (outside) -> dark (inside), whichever edge
    image = torch.ones(3, 100, 160)
    image[:, 30:60, 40:100] = 0.0
    model = EdgeRefiner(across=16, along=4)
    strips, reach = model.strips(image, torch.tensor([[40.0, 30.0, 100.0, 60.0]]))
    assert strips.shape == (4, 3, 16, 4)
    assert reach.tolist() == [[8.0, 8.0, 8.0, 8.0]]  # 0.12 of 60 and of 30 is under 8 px
    for k, name in enumerate(EDGE_NAMES):
        profile = strips[k].mean(dim=(0, 2))  # over channels and along the edge
        outside, inside = profile[:6].mean(), profile[-6:].mean()
        assert outside > inside + 0.5, f"{name} edge reads {profile.tolist()}"


def test_reach_grows_with_the_side_and_the_device_pixel_ratio():
    model = EdgeRefiner(reach_px=8.0, reach_share=0.12)
    reach = model.reaches(torch.tensor([[0.0, 0.0, 400.0, 20.0]]), scale=2.0)
    assert reach.tolist() == [[48.0, 16.0, 48.0, 16.0]]  # 0.12 of 400 px; 8 px at 2x


def test_displace_moves_edges_about_as_far_as_the_detector_does():
    rng = np.random.default_rng(0)
    boxes = np.array([[100, 100, 180, 124]] * 4000, np.float32)  # a button
    moved = displace(boxes, rng)
    err = np.abs(moved - boxes)
    assert 0.6 <= np.median(err) <= 1.6  # the detector: ~1 px median on buttons
    assert (np.abs(moved - boxes).sum(1) == 0).mean() > 0.05  # some boxes are left exact
    assert (moved[:, 2] > moved[:, 0]).all() and (moved[:, 3] > moved[:, 1]).all()


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> tuple[EdgeRefiner, dict, Path]:
    root = write_coco(tmp_path_factory.mktemp("edges") / "coco", n=40, size=(320, 200))
    torch.manual_seed(0)
    model, metrics = train_edges(root, max_images=None, copies=3, epochs=12, batch=256, lr=5e-3)
    return model, metrics, root


def test_training_on_synthetic_screens_puts_displaced_edges_back(trained):
    _, metrics, _ = trained
    assert metrics["train"] > 0 and metrics["val"] > 0
    # the boxes' displaced edges are ~1.5 px off; the drawn frames are sharp, so it must do clearly better
    assert metrics["val_px_after"] < 0.6 * metrics["val_px_before"], metrics


def test_refine_keeps_everything_but_the_box_and_skips_kinds_it_is_told_to(trained):
    model, _, _ = trained
    from tests.vision.conftest import draw_screen

    image, anns = draw_screen(np.random.default_rng(5), (320, 200))
    truth = np.array([[x, y, x + w, y + h] for _, (x, y, w, h) in anns], np.float32)
    moved = displace(truth, np.random.default_rng(1), exact=0.0) + np.float32(3.0)  # and shifted by 3 px
    origin = (500.0, 40.0)  # the image is a region of a bigger screen
    elements = [
        Element(tuple((b + np.array([*origin, *origin])).tolist()), kind, score=0.7, text="t", state={"a": 1})
        for (kind, _), b in zip(anns, moved, strict=True)
    ]
    out = model.refine(image, elements, origin)
    assert [(e.kind, e.score, e.text, e.state) for e in out] == [
        (e.kind, 0.7, "t", {"a": 1}) for e in elements
    ]
    got = np.array([e.box for e in out]) - np.array([*origin, *origin])
    before, after = np.abs(moved - truth).mean(), np.abs(got - truth).mean()
    assert after < 0.5 * before, (before, after)
    kinds = {kind for kind, _ in anns}
    kept = model.refine(image, elements, origin, skip=frozenset(kinds))
    assert [e.box for e in kept] == [e.box for e in elements]


def test_save_load_round_trip_and_a_broken_file(trained, tmp_path: Path):
    model, _, root = trained
    model.save(tmp_path)
    loaded = EdgeRefiner.load(tmp_path)
    assert loaded is not None and loaded.kinds == model.kinds and loaded.across == model.across
    from PIL import Image

    image = np.asarray(Image.open(next((root / "images").glob("*.png"))).convert("RGB"))
    boxes = np.array([[10, 10, 60, 40], [100, 50, 180, 90]], np.float32)
    a = model.refine_boxes(image, boxes, ["button", "label"])
    b = loaded.refine_boxes(image, boxes, ["button", "label"])
    assert np.abs(a - b).max() < 0.05  # fp16 weights
    assert EdgeRefiner.load(tmp_path / "nothing") is None
    (tmp_path / "edges.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(WeightsError, match="not an edge refiner"):
        EdgeRefiner.load(tmp_path)


def test_detector_load_picks_up_the_edge_refiner(tmp_path: Path, tiny, trained):
    from vision.detector.modeling import Detector

    det = Detector(tiny)
    det.save(tmp_path)
    assert Detector.load(tmp_path).edges is None
    trained[0].save(tmp_path)
    loaded = Detector.load(tmp_path)
    assert isinstance(loaded.edges, EdgeRefiner)
    assert not any(k.startswith("edges") for k in loaded.state_dict())  # its own file


def test_shipped_edge_refiner_moves_displaced_sandbox_boxes_onto_their_widgets():
    from agent.envs.sandbox.env import SandboxEnv
    from agent.envs.sandbox.families import generate_split

    model = EdgeRefiner.load("weights/detector")
    assert model is not None, "weights/detector/edges.safetensors is not shipped"
    rng = np.random.default_rng(0)
    truth_all, moved_all, got_all = [], [], []
    with SandboxEnv() as env:
        for st in generate_split("heldout", 12, seed=0):
            obs = env.reset(st)
            elements = [e for e in obs.elements if e.kind in model.kinds]
            ox, oy = obs.origin
            truth = np.array([e.box for e in elements], np.float32) - np.array([ox, oy, ox, oy], np.float32)
            moved = displace(truth, rng, exact=0.0)
            got = model.refine_boxes(obs.image, moved, [e.kind for e in elements])
            truth_all.append(truth)
            moved_all.append(moved)
            got_all.append(got)
    truth, moved, got = (np.concatenate(x) for x in (truth_all, moved_all, got_all))
    assert len(truth) >= 200
    before, after = np.median(np.abs(moved - truth)), np.median(np.abs(got - truth))
    tight_before, tight_after = (_iou(moved, truth) >= 0.9).mean(), (_iou(got, truth) >= 0.9).mean()
    assert after < 0.6 * before, (before, after)
    assert tight_after > tight_before + 0.15, (tight_before, tight_after)


def test_a_box_that_collapses_is_dropped_and_a_moderate_shrink_is_kept(monkeypatch):
    model = EdgeRefiner()
    image = np.zeros((100, 200, 3), np.uint8)
    elements = [Element((10, 10, 110, 40), "text_field"), Element((10, 50, 110, 80), "text_field")]

    def moved(image, boxes, kinds, scale=1.0):  # the first shrinks to 4 of 30 px, the second to 20 of 30
        return np.array([[10, 20, 110, 24], [10, 55, 110, 75]], np.float32)

    monkeypatch.setattr(model, "refine_boxes", moved)
    out = model.refine(image, elements)
    assert [e.box for e in out] == [(10.0, 55.0, 110.0, 75.0)]
    assert len(model.refine(image, elements, collapsed=0.1)) == 2
