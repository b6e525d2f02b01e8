"""A dense one-to-many auxiliary loss on RT-DETR's encoder proposals, to speed up training from scratch.

RT-DETR picks its decoder queries from the encoder: every position of the three feature maps (strides 8,
16 and 32; ~5,500 anchors on a 640×416 canvas) gets class scores and a box, and the top-scoring ones seed
the decoder. Out of the box only the selected few are supervised, one-to-one through Hungarian matching,
so a randomly initialised encoder gets a sparse signal and learns *where* elements are slowly: a UI
screen has 30–80 small elements, most of them 8–15 canvas pixels tall.

This module supervises *every* encoder anchor, FCOS-style (Tian et al. 2019; the one-to-many auxiliary
heads of Co-DETR, Zong et al. 2023, use the same idea to speed up DETR training):

- an anchor is positive for an element when its centre lies inside the element's box, within 1.5
  strides of the element's centre, on a level whose scale fits the element; every element also takes the
  anchor nearest its centre on its best level, so the smallest ones are never left without a positive;
- where elements overlap, the anchor goes to the smallest one;
- positives are trained to that element's class (sigmoid focal loss, all anchors) and box (L1 + GIoU on
  the encoder box); nothing changes at inference.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from vision.boxes import cxcywh_to_xyxy

#: Feature strides of the encoder levels (Swin stages 2-4).
STRIDES = (8, 16, 32)
#: Element sizes (longer side, canvas pixels) each level is responsible for; the ranges overlap.
LEVEL_RANGES = ((0.0, 64.0), (32.0, 160.0), (96.0, math.inf))
CENTRE_RADIUS = 1.5
DENSE_KEYS = ("loss_dense_cls", "loss_dense_bbox", "loss_dense_giou")


def anchor_count(width: int, height: int) -> int:
    """Encoder positions (RT-DETR anchors) of a ``width``×``height`` canvas."""
    return sum(math.ceil(height / s) * math.ceil(width / s) for s in STRIDES)


def anchor_grid(height: int, width: int, device=None) -> tuple[torch.Tensor, torch.Tensor, list]:
    """Anchor centres of a ``height``×``width`` canvas in RT-DETR's order (level by level, row-major).

    Returns:
        (centres [A, 2] in canvas pixels (x, y), level [A] long, spatial shapes [(h, w)] per level).
    """
    centres, levels, shapes = [], [], []
    for level, stride in enumerate(STRIDES):
        h, w = math.ceil(height / stride), math.ceil(width / stride)
        ys, xs = torch.meshgrid(torch.arange(h, device=device), torch.arange(w, device=device), indexing="ij")
        xy = torch.stack([(xs.flatten() + 0.5) * width / w, (ys.flatten() + 0.5) * height / h], -1)
        centres.append(xy.float())
        levels.append(torch.full((h * w,), level, dtype=torch.long, device=device))
        shapes.append((h, w))
    return torch.cat(centres), torch.cat(levels), shapes


def assign(centres: torch.Tensor, levels: torch.Tensor, boxes_xyxy: torch.Tensor) -> torch.Tensor:
    """For each anchor, the index of the element it learns (or -1).

    Args:
        centres: [A, 2] anchor centres, canvas pixels. levels: [A] level per anchor.
        boxes_xyxy: [N, 4] element boxes, canvas pixels.

    Returns:
        [A] long: element index per anchor, -1 for background.
    """
    a, n = centres.shape[0], boxes_xyxy.shape[0]
    if n == 0:
        return torch.full((a,), -1, dtype=torch.long, device=centres.device)
    x, y = centres[:, 0:1], centres[:, 1:2]  # [A, 1]
    x0, y0, x1, y1 = (boxes_xyxy[:, i][None] for i in range(4))  # [1, N]
    inside = (x > x0) & (x < x1) & (y > y0) & (y < y1)
    stride = torch.tensor(STRIDES, dtype=centres.dtype, device=centres.device)[levels][:, None]  # [A, 1]
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    near = ((x - cx).abs() <= CENTRE_RADIUS * stride) & ((y - cy).abs() <= CENTRE_RADIUS * stride)
    side = torch.maximum(x1 - x0, y1 - y0)  # [1, N]
    lo = torch.tensor([r[0] for r in LEVEL_RANGES], dtype=centres.dtype, device=centres.device)[levels][
        :, None
    ]
    hi = torch.tensor([r[1] for r in LEVEL_RANGES], dtype=centres.dtype, device=centres.device)[levels][
        :, None
    ]
    fits = (side >= lo) & (side <= hi)
    candidate = inside & near & fits  # [A, N]
    # Each element also claims the anchor nearest its centre on its best-fitting (finest) level.
    best_level = torch.zeros(n, dtype=torch.long, device=centres.device)
    for level in range(len(LEVEL_RANGES) - 1, -1, -1):
        lo_l, hi_l = LEVEL_RANGES[level]
        ok = (side[0] >= lo_l) & (side[0] <= hi_l)
        best_level = torch.where(ok, torch.full_like(best_level, level), best_level)
    dist = (x - cx) ** 2 + (y - cy) ** 2  # [A, N]
    dist = dist.masked_fill(levels[:, None] != best_level[None], math.inf)
    nearest = dist.argmin(0)  # [N]
    candidate[nearest, torch.arange(n, device=centres.device)] = True
    area = ((x1 - x0) * (y1 - y0)).expand(a, n)
    area = area.masked_fill(~candidate, math.inf)
    best_area, owner = area.min(1)
    return torch.where(torch.isfinite(best_area), owner, torch.full_like(owner, -1))


def _giou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Element-wise generalised IoU of two [M, 4] xyxy box sets."""
    area_a = (a[:, 2] - a[:, 0]).clamp(min=0) * (a[:, 3] - a[:, 1]).clamp(min=0)
    area_b = (b[:, 2] - b[:, 0]).clamp(min=0) * (b[:, 3] - b[:, 1]).clamp(min=0)
    lt, rb = torch.maximum(a[:, :2], b[:, :2]), torch.minimum(a[:, 2:], b[:, 2:])
    inter = (rb - lt).clamp(min=0).prod(-1)
    union = area_a + area_b - inter
    iou = inter / union.clamp(min=1e-9)
    lt_c, rb_c = torch.minimum(a[:, :2], b[:, :2]), torch.maximum(a[:, 2:], b[:, 2:])
    hull = (rb_c - lt_c).clamp(min=0).prod(-1)
    return iou - (hull - union) / hull.clamp(min=1e-9)


def dense_loss(
    class_logits: torch.Tensor,
    coord_logits: torch.Tensor,
    labels: list[dict],
    canvas: tuple[int, int],
    *,
    focal_alpha: float = 0.25,
    focal_gamma: float = 2.0,
    weights: tuple[float, float, float] = (1.0, 5.0, 2.0),
) -> dict[str, torch.Tensor]:
    """The one-to-many loss on all encoder anchors.

    Args:
        class_logits: [B, A, C] encoder class logits (``enc_outputs_class``).
        coord_logits: [B, A, 4] encoder box logits (``enc_outputs_coord_logits``; sigmoid gives cxcywh
            normalised to the canvas).
        labels: per image {"class_labels": [n], "boxes": [n, 4] cxcywh normalised}, as for the model.
        canvas: (width, height) of the model input in pixels.
        weights: (class, L1, GIoU) weights.

    Returns:
        {"loss_dense_cls", "loss_dense_bbox", "loss_dense_giou"}, already weighted.
    """
    width, height = canvas
    a = class_logits.shape[1]
    centres, levels, _ = anchor_grid(height, width, device=class_logits.device)
    if centres.shape[0] != a:
        raise ValueError(f"encoder gave {a} anchors but a {width}x{height} canvas has {centres.shape[0]}")
    scale = torch.tensor([width, height, width, height], dtype=torch.float32, device=class_logits.device)
    # Invalid anchors (near the border) carry huge logits in RT-DETR; keep them out of every term.
    finite = torch.isfinite(coord_logits).all(-1) & (coord_logits.abs() < 1e4).all(-1)  # [B, A]
    target_cls = torch.zeros_like(class_logits, dtype=torch.float32)
    pos_pred, pos_gt = [], []
    for i, target in enumerate(labels):
        gt = target["boxes"].float()
        if gt.numel() == 0:
            continue
        gt_xyxy = cxcywh_to_xyxy(gt) * scale
        owner = assign(centres, levels, gt_xyxy)
        pos = ((owner >= 0) & finite[i]).nonzero().flatten()
        if pos.numel() == 0:
            continue
        target_cls[i, pos, target["class_labels"][owner[pos]]] = 1.0
        pos_pred.append(coord_logits[i, pos])
        pos_gt.append(gt[owner[pos]])
    num_pos = max(1.0, float(sum(p.shape[0] for p in pos_pred)))
    logits = class_logits.float()
    prob = logits.sigmoid()
    ce = F.binary_cross_entropy_with_logits(logits, target_cls, reduction="none")
    p_t = prob * target_cls + (1 - prob) * (1 - target_cls)
    alpha_t = focal_alpha * target_cls + (1 - focal_alpha) * (1 - target_cls)
    focal = (alpha_t * ce * (1 - p_t) ** focal_gamma).sum(-1)  # [B, A]
    loss_cls = focal.sum() / num_pos  # invalid anchors too: they must never be selected
    if pos_pred:
        pred = torch.cat(pos_pred).float().sigmoid()
        gt = torch.cat(pos_gt)
        loss_l1 = (pred - gt).abs().sum() / num_pos
        loss_giou = (1 - _giou(cxcywh_to_xyxy(pred), cxcywh_to_xyxy(gt))).sum() / num_pos
    else:
        loss_l1 = loss_giou = coord_logits.sum() * 0.0
    w_cls, w_l1, w_giou = weights
    return {
        "loss_dense_cls": w_cls * loss_cls,
        "loss_dense_bbox": w_l1 * loss_l1,
        "loss_dense_giou": w_giou * loss_giou,
    }
