"""The dense one-to-many proposal loss: anchor layout, assignment rules, and that it trains the encoder."""

from __future__ import annotations

import pytest
import torch

from tests.vision.conftest import tiny_config
from vision.boxes import xyxy_to_cxcywh
from vision.detector import Detector
from vision.detector.dense import DENSE_KEYS, STRIDES, anchor_grid, assign, dense_loss


def test_anchor_grid_matches_rt_detr_levels():
    """The grid has RT-DETR's anchor count and order, and centres sit in the middle of their cells."""
    model = Detector(tiny_config())
    x = torch.zeros(1, 3, 224, 320)
    out = model.model(pixel_values=x)
    centres, levels, shapes = anchor_grid(224, 320)
    assert centres.shape[0] == out.enc_outputs_class.shape[1]
    assert shapes == [(224 // s, 320 // s) for s in STRIDES]
    assert torch.equal(torch.bincount(levels), torch.tensor([h * w for h, w in shapes]))
    assert centres[0].tolist() == [4.0, 4.0]  # first cell of the stride-8 level
    assert centres[levels == 2][0].tolist() == [16.0, 16.0]


def test_assign_rules():
    centres, levels, _ = anchor_grid(224, 320)
    boxes = torch.tensor([
        [40.0, 40.0, 100.0, 52.0],  # a small button: stride-8 anchors inside it
        [60.0, 42.0, 70.0, 50.0],  # a tiny icon inside the button: owns its anchors
        [0.0, 100.0, 300.0, 220.0],  # a large panel: coarse levels
        [201.0, 10.0, 204.0, 13.0],  # 3 px: no anchor centre inside, takes its nearest one
    ])  # fmt: skip
    owner = assign(centres, levels, boxes)
    counts = torch.bincount(owner[owner >= 0], minlength=4)
    assert (counts >= 1).all(), counts
    for k in range(3):
        xy = centres[owner == k]
        x0, y0, x1, y1 = boxes[k].tolist()
        assert ((xy[:, 0] > x0) & (xy[:, 0] < x1) & (xy[:, 1] > y0) & (xy[:, 1] < y1)).all()
    assert set(levels[owner == 0].tolist()) == {0}
    assert set(levels[owner == 2].tolist()) <= {1, 2} and 2 in levels[owner == 2].tolist()
    # an anchor inside both button and icon belongs to the icon (the smaller one)
    both = (centres[:, 0] > 60) & (centres[:, 0] < 70) & (centres[:, 1] > 42) & (centres[:, 1] < 50)
    assert (owner[both & (levels == 0)] == 1).all()
    assert owner.shape == levels.shape and (owner[levels == 0] != 2).all()
    empty = assign(centres, levels, torch.zeros(0, 4))
    assert (empty == -1).all()


def _labels(boxes_xyxy: torch.Tensor, classes: list[int], canvas=(320, 224)) -> list[dict]:
    w, h = canvas
    norm = boxes_xyxy / torch.tensor([w, h, w, h], dtype=torch.float32)
    return [{"class_labels": torch.tensor(classes), "boxes": xyxy_to_cxcywh(norm).float()}]


def test_dense_loss_prefers_right_answers():
    """Perfect encoder outputs score lower than random ones, and every term has a gradient."""
    centres, levels, _ = anchor_grid(224, 320)
    boxes = torch.tensor([[40.0, 40.0, 100.0, 52.0], [150.0, 120.0, 210.0, 140.0]])
    labels = _labels(boxes, [2, 5])
    a, c = centres.shape[0], 16
    owner = assign(centres, levels, boxes)
    good_cls = torch.full((1, a, c), -8.0)
    good_box = torch.zeros(1, a, 4)
    gt = labels[0]["boxes"]
    for i in range(a):
        if owner[i] >= 0:
            good_cls[0, i, labels[0]["class_labels"][owner[i]]] = 8.0
            good_box[0, i] = torch.logit(gt[owner[i]])
    good = dense_loss(good_cls, good_box, labels, (320, 224))
    torch.manual_seed(0)
    bad_cls = torch.randn(1, a, c, requires_grad=True)
    bad_box = torch.randn(1, a, 4, requires_grad=True)
    bad = dense_loss(bad_cls, bad_box, labels, (320, 224))
    assert set(good) == set(DENSE_KEYS)
    for k in DENSE_KEYS:
        assert good[k].item() < 0.05 * bad[k].item(), (k, good[k].item(), bad[k].item())
    sum(bad.values()).backward()
    assert bad_cls.grad.abs().sum() > 0 and bad_box.grad.abs().sum() > 0


def test_dense_loss_checks_the_canvas():
    with pytest.raises(ValueError, match="anchors"):
        dense_loss(torch.zeros(1, 10, 16), torch.zeros(1, 10, 4), _labels(torch.zeros(0, 4), []), (320, 224))


def test_dense_loss_trains_the_encoder_proposals():
    """Training the proposal heads on the dense loss alone lowers it, and the anchors on the element
    come to outscore the rest on average."""
    torch.manual_seed(0)
    model = Detector(tiny_config()).train()  # 160×96 canvas
    heads = [model.model.model.enc_output, model.model.model.enc_score_head, model.model.model.enc_bbox_head]
    for p in model.parameters():
        p.requires_grad_(False)
    params = [p for h in heads for p in h.parameters()]
    for p in params:
        p.requires_grad_(True)
    x = torch.zeros(1, 3, 96, 160)
    x[:, :, 40:56, 64:112] = 2.0  # one bright widget
    target = torch.tensor([[64.0, 40.0, 112.0, 56.0]])
    labels = _labels(target, [0], canvas=(160, 96))
    centres, levels, _ = anchor_grid(96, 160)
    positive = assign(centres, levels, target) >= 0
    opt = torch.optim.AdamW(params, lr=1e-3)
    losses = []
    for _ in range(60):
        out = model.model(pixel_values=x)
        loss = sum(
            dense_loss(out.enc_outputs_class, out.enc_outputs_coord_logits, labels, (160, 96)).values()
        )
        losses.append(loss.item())
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        score = model.model(pixel_values=x).enc_outputs_class[0, :, 0]
    assert losses[-1] < 0.7 * losses[0], [round(v, 2) for v in losses]
    assert score[positive].mean() > score[~positive].mean(), (score[positive].mean(), score[~positive].mean())
