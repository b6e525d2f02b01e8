"""Dataset loading/augmentation, a smoke training run that overfits a tiny batch, and resuming."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from agent.errors import DeskpilotError
from agent.types import ELEMENT_KINDS
from tests.vision.conftest import tiny_config, write_coco
from vision.boxes import cxcywh_to_xyxy, denormalize, xywh_to_xyxy
from vision.data import Augment, CocoDetection, DatasetError, StepSampler, collate
from vision.detector import Detector
from vision.train import CHECKPOINT, LOG, TrainConfig, lr_at, train


def _dataset(root, augment=None):
    cfg = tiny_config()
    return CocoDetection(root, cfg.classes, (320, 224), cfg.image_mean, cfg.image_std, augment=augment)


def test_dataset_targets_match_annotations(coco_dir):
    ds = _dataset(coco_dir)
    pixels, target = ds[0]
    assert pixels.shape == (3, 224, 320) and pixels.dtype == torch.float32
    coco = json.loads((coco_dir / "annotations.json").read_text())
    anns = [a for a in coco["annotations"] if a["image_id"] == coco["images"][0]["id"]]
    assert target["class_labels"].tolist() == [a["category_id"] - 1 for a in anns]
    # a 320×200 screen fits 320×224 at scale 1: boxes come back exactly in pixels
    got = denormalize(cxcywh_to_xyxy(target["boxes"].double()), 320, 224).numpy()
    want = np.array([[x, y, x + w, y + h] for x, y, w, h in (a["bbox"] for a in anns)])
    np.testing.assert_allclose(got, want, atol=1e-3)
    batch, targets = collate([ds[0], ds[1]])
    assert batch.shape == (2, 3, 224, 320) and len(targets) == 2


def test_augmentation_keeps_boxes_on_their_widgets(coco_dir):
    """After scale/crop, each kept box still frames its drawn widget: the blue buttons stay blue inside."""
    aug = Augment(channel_swap_prob=0, invert_prob=0, gray_prob=0, jitter=0, jpeg_prob=0)
    ds = _dataset(coco_dir, aug)
    seen = 0
    for key in [(i, d) for i in range(len(ds)) for d in range(3)]:
        pixels, target = ds[key]
        img = (pixels * 0.25 + 0.5).clamp(0, 1).permute(1, 2, 0).numpy()
        boxes = denormalize(cxcywh_to_xyxy(target["boxes"].double()), 320, 224).numpy()
        for c, (x1, y1, x2, y2) in zip(target["class_labels"].tolist(), boxes, strict=True):
            assert -1e-3 <= x1 < x2 <= 320 + 1e-3 and -1e-3 <= y1 < y2 <= 224 + 1e-3
            if ELEMENT_KINDS[c] == "button" and x2 - x1 > 12 and y2 - y1 > 8:
                inner = img[int(y1) + 3 : int(y2) - 3, int(x1) + 3 : int(x2) - 3]
                assert inner[..., 2].mean() > inner[..., 0].mean() + 0.2  # blue fill
                seen += 1
    assert seen > 0
    assert not torch.equal(ds[(0, 0)][0], ds[(0, 1)][0])  # different draws differ


def test_crops_keep_inference_scale_and_their_widgets(coco_dir):
    """Tiles: a 160×96 crop of a 320×200 screen at the scale a 320×224 input has (1.0 with a fixed
    scale range): boxes keep their pixel sizes, and crops centred on elements are never empty."""
    cfg = tiny_config()
    aug = Augment(scale_range=(1.0, 1.0), focus_prob=1.0, channel_swap_prob=0, invert_prob=0, gray_prob=0,
                  jitter=0, jpeg_prob=0)  # fmt: skip
    ds = CocoDetection(coco_dir, cfg.classes, (320, 224), cfg.image_mean, cfg.image_std, augment=aug,
                       crop_size=(160, 96))  # fmt: skip
    coco = json.loads((coco_dir / "annotations.json").read_text())
    sizes = {(round(a["bbox"][2]), round(a["bbox"][3])) for a in coco["annotations"]}
    whole = 0
    for key in [(i, d) for i in range(len(ds)) for d in range(3)]:
        pixels, target = ds[key]
        assert pixels.shape == (3, 96, 160)
        assert len(target["boxes"]) > 0
        boxes = denormalize(cxcywh_to_xyxy(target["boxes"].double()), 160, 96).numpy()
        assert (boxes[:, 0] >= -1e-3).all() and (boxes[:, 2] <= 160 + 1e-3).all()
        assert (boxes[:, 1] >= -1e-3).all() and (boxes[:, 3] <= 96 + 1e-3).all()
        whole += sum((round(x2 - x1), round(y2 - y1)) in sizes for x1, y1, x2, y2 in boxes)
    assert whole > len(ds)  # uncut boxes keep their exact source size: scale 1, not squeezed to fit


def test_without_augmentation_tiles_are_fixed_windows(coco_dir):
    """A tiled detector trained with --no-augment still sees tile-sized crops at the inference scale, the
    same window of an image on every draw."""
    cfg = tiny_config()
    ds = CocoDetection(coco_dir, cfg.classes, (320, 224), cfg.image_mean, cfg.image_std, crop_size=(160, 96))
    a, ta = ds[(0, 0)]
    b, tb = ds[(0, 7)]
    assert a.shape == (3, 96, 160) and torch.equal(a, b) and torch.equal(ta["boxes"], tb["boxes"])


def test_with_ui_scale_crops_are_taken_at_that_scale_over_each_screens_device_pixel_ratio(coco_dir):
    coco = json.loads((coco_dir / "annotations.json").read_text())
    coco["images"][0]["scale"] = 2.0  # a HiDPI screen: its widgets are twice as many pixels
    (coco_dir / "annotations.json").write_text(json.dumps(coco))
    cfg = tiny_config()
    ds = CocoDetection(coco_dir, cfg.classes, (320, 224), cfg.image_mean, cfg.image_std, crop_size=(160, 96),
                       ui_scale=0.5)  # fmt: skip
    for index, scale in ((0, 0.25), (1, 0.5)):  # the whole 320×200 screen fits the crop at either scale
        pixels, target = ds[index]
        widths = (target["boxes"][:, 2] * pixels.shape[2]).numpy()
        source = [b[2] for _, b in ds.targets[index]]
        assert np.allclose(sorted(widths), sorted(np.array(source) * scale), atol=1.0)


def test_step_sampler_is_resumable_and_rank_specific():
    full = list(StepSampler(10, 4, steps=6, seed=1))
    tail = list(StepSampler(10, 4, steps=6, start=3, seed=1))
    assert tail == full[3:]
    assert list(StepSampler(10, 4, steps=6, seed=1, rank=1)) != full


def test_weighted_step_sampler_follows_its_weights_and_stays_resumable():
    weights = np.array([0.0, 0.0, 1.0, 1.0, 8.0, 1.0, 1.0, 1.0])
    full = list(StepSampler(8, 2, steps=400, seed=3, weights=weights))
    drawn = np.bincount([i for batch in full for i, _ in batch], minlength=8)
    assert drawn[0] == drawn[1] == 0  # zero odds: never drawn
    assert drawn[4] > 3 * drawn[[2, 3, 5, 6, 7]].mean()  # 8x odds (no repeats inside a batch): far more often
    assert list(StepSampler(8, 2, steps=400, start=100, seed=3, weights=weights)) == full[100:]
    with pytest.raises(ValueError, match="non-negative"):
        StepSampler(8, 2, steps=4, weights=np.ones(7))


def test_repeat_factors_favour_images_with_rare_classes(coco_dir):
    cfg = tiny_config()
    ds = CocoDetection(coco_dir, cfg.classes, (320, 224), cfg.image_mean, cfg.image_std)
    assert np.all(ds.repeat_factors(0.0) == 1.0)
    present = [set(c for c, _ in t) for t in ds.targets]
    freq = {c: sum(c in p for p in present) / len(present) for c in set().union(*present)}
    r = ds.repeat_factors(1.0)
    for i, p in enumerate(present):
        expected = max([max(1.0, np.sqrt(1.0 / freq[c])) for c in p], default=1.0)
        assert r[i] == pytest.approx(expected)
    # An image holding a class that is on every image only is never boosted.
    assert np.all(ds.repeat_factors(1.0) >= 1.0)


def test_missing_dataset_names_the_generator(tmp_path):
    with pytest.raises(DatasetError, match="gen-detection"):
        CocoDetection(tmp_path, ("button",), (64, 64), (0.5,) * 3, (0.25,) * 3)


def test_lr_schedule_warms_up_then_decays():
    cfg = TrainConfig(steps=100, warmup_steps=10, lr=1e-3, min_lr_ratio=0.1)
    assert lr_at(0, cfg) == pytest.approx(1e-4)
    assert lr_at(9, cfg) == pytest.approx(1e-3)
    assert lr_at(55, cfg) < lr_at(20, cfg) < 1e-3
    assert lr_at(100, cfg) == pytest.approx(1e-4)


def _run(tmp_path, data, steps, **kw):
    cfg = TrainConfig(data=str(data), val=str(data), out=str(tmp_path / "run"), steps=steps, batch_size=2,
                      lr=1e-3, warmup_steps=3, workers=0, log_every=1, eval_minutes=0, augment=False,
                      ema_decay=0.9, threads=2, **kw)  # fmt: skip
    # Whole canvases: a tile-sized window holds too few elements to show overfitting in 30 steps.
    return train(cfg, tiny_config(tile_width=0, tile_height=0), quiet=True)


def _losses(run_dir):
    return [r["loss"] for r in map(json.loads, (run_dir / LOG).read_text().splitlines()) if "loss" in r]


def test_smoke_training_overfits_a_tiny_batch_and_resumes(tmp_path):
    data = write_coco(tmp_path / "coco", n=2)
    torch.manual_seed(0)
    summary = _run(tmp_path, data, steps=30)
    run = tmp_path / "run"
    losses = _losses(run)
    assert summary["step"] == 30 and len(losses) == 30
    assert np.mean(losses[-5:]) < 0.8 * np.mean(losses[:5]), losses
    assert (run / CHECKPOINT).is_file() and Detector.load(run / "last").config == tiny_config(
        tile_width=0, tile_height=0
    )
    before = torch.load(run / CHECKPOINT, weights_only=False)

    # Resume: the step counter, weights and optimiser state carry on, and only the new steps run.
    summary = _run(tmp_path, data, steps=34)
    after = torch.load(run / CHECKPOINT, weights_only=False)
    assert summary["step"] == 34 and after["step"] == 34
    assert len(_losses(run)) == 34
    assert after["optimizer"]["state"][0]["step"].item() == before["optimizer"]["state"][0]["step"].item() + 4
    assert after["ema_updates"] == 34

    # Warm start: a fresh run from the trained weights folder starts at step 0 with a fresh optimiser,
    # and its first loss is the trained model's, not a random one's.
    cfg = TrainConfig(data=str(data), val=None, out=str(tmp_path / "warm"), steps=2, batch_size=2, lr=1e-6,
                      warmup_steps=1, workers=0, log_every=1, eval_minutes=0, augment=False, threads=2,
                      init_from=str(run / "last"))  # fmt: skip
    summary = train(cfg, quiet=True)
    warm = torch.load(tmp_path / "warm" / CHECKPOINT, weights_only=False)
    assert summary["step"] == 2 and warm["optimizer"]["state"][0]["step"].item() == 2
    assert warm["detector_config"]["tile_width"] == 0  # the weights' own config, not the default tiles
    assert _losses(tmp_path / "warm")[0] < 0.8 * losses[0]
    cfg.out = str(tmp_path / "warm2")
    with pytest.raises(DeskpilotError, match="not both"):
        train(cfg, tiny_config(), quiet=True)  # a config beside --init-from is refused, not overruled


def test_resume_keeps_the_recipe_options_left_out():
    """On resume, machine options always come from the command; recipe options only when typed
    (``given``, as the CLI sets it); a TrainConfig built in code overrides them all."""
    from vision.train import RESUMABLE_RECIPE, _overrides

    cfg = TrainConfig(out="elsewhere", threads=1, lr=1e-3, batch_size=4, tile=(320, 224))
    cfg.given = frozenset({"tile"})
    out = _overrides(cfg)
    assert out["out"] == "elsewhere" and out["threads"] == 1 and out["tile"] == (320, 224)
    assert "lr" not in out and "batch_size" not in out and "ema_decay" not in out
    assert set(RESUMABLE_RECIPE) <= set(_overrides(TrainConfig()))


def test_checkpoints_from_before_tiles_keep_their_crop_as_the_tile():
    from vision.train import _upgrade

    train_cfg, det_cfg = _upgrade(
        {"lr": 1e-3, "crop": [320, 224]}, tiny_config().to_dict() | {"tile_width": 0}
    )
    assert "crop" not in train_cfg and det_cfg["tile_width"] == 0  # a config that names its tile keeps it
    legacy = {k: v for k, v in tiny_config().to_dict().items() if not k.startswith("tile_")}
    _, det_cfg = _upgrade({"crop": [320, 224]}, legacy)
    assert (det_cfg["tile_width"], det_cfg["tile_height"]) == (320, 224)
    _, det_cfg = _upgrade({"crop": None}, legacy)
    assert (det_cfg["tile_width"], det_cfg["tile_height"]) == (0, 0)


def test_crops_centre_on_rare_classes_more_often(coco_dir):
    """Class-balanced focus: rarer classes get larger odds, and a crop always holds the box it is centred on."""
    cfg = tiny_config()
    ds = CocoDetection(coco_dir, cfg.classes, (320, 224), cfg.image_mean, cfg.image_std, augment=Augment(),
                       crop_size=(96, 64))  # fmt: skip
    counts = np.bincount([c for t in ds.targets for c, _ in t], minlength=len(cfg.classes))
    present = np.nonzero(counts)[0]
    order = present[np.argsort(counts[present])]
    assert ds.class_weight[order[0]] >= ds.class_weight[order[-1]]
    assert ds.class_weight[order[0]] * np.sqrt(counts[order[0]]) == pytest.approx(1.0)
    image = ds.read_image(0)
    boxes = xywh_to_xyxy(np.array([b for _, b in ds.targets[0]], dtype=np.float64))
    aug = Augment(scale_range=(1.0, 1.0), focus_prob=1.0)
    for k in range(len(boxes)):
        onehot = np.eye(len(boxes))[k]
        for seed in range(5):
            _, _, kept = aug.geometry(image, boxes, (96, 64), np.random.default_rng(seed), fit_size=(320, 224),
                                      focus_weights=onehot)  # fmt: skip
            assert k in kept


def test_a_big_piece_of_an_element_larger_than_the_crop_stays_a_label():
    """A text area wider than a tile is only ever seen cut; a big visible piece of it is kept (the tile
    merger joins the pieces at inference), while an ordinary widget cut short is kept only when 60% of it
    shows."""
    image = np.full((400, 600, 3), 255, np.uint8)
    area = np.array([[20.0, 20.0, 580.0, 380.0]])  # 560×360: larger than the 200×150 crop in both sides
    fixed = {"scale_range": (1.0, 1.0), "focus_prob": 1.0, "corner_prob": 1.0}
    for seed in range(5):
        _, boxes, kept = Augment(**fixed).geometry(image, area, (200, 150), np.random.default_rng(seed),
                                                   fit_size=(600, 400))  # fmt: skip
        assert kept.tolist() == [0]  # under a sixth of it shows, but it fills the crop
        assert boxes[0, 2] - boxes[0, 0] > 100 and boxes[0, 3] - boxes[0, 1] > 75
        _, _, kept = Augment(**fixed, piece_keep=2.0).geometry(image, area, (200, 150),
                                                               np.random.default_rng(seed), fit_size=(600, 400))  # fmt: skip
        assert kept.size == 0  # with piece_keep off it is dropped
    field = np.array([[150.0, 100.0, 350.0, 124.0]])  # 200×24: a crop 200 wide may cut it anywhere
    cut = Augment(scale_range=(1.0, 1.0), focus_prob=0.0, corner_prob=1.0)
    kept_any = False
    for seed in range(40):
        _, b, kept = cut.geometry(image, field, (200, 150), np.random.default_rng(seed), fit_size=(600, 400))
        for box in b:
            kept_any = True
            assert (box[2] - box[0]) >= 0.6 * 200 - 1e-6  # kept only when at least 60% of it shows
    assert kept_any
