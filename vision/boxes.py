"""Every box conversion the vision package needs, in one place.

Formats (the last axis holds the four numbers):

- ``xyxy``: (x1, y1, x2, y2), corners; what `agent.types.Element.box` uses.
- ``xywh``: (x, y, w, h), top-left corner and size; what COCO annotations use.
- ``cxcywh``: (cx, cy, w, h), centre and size; what DETR-family models predict.

Units are either *pixels* of some image or *normalised* to [0, 1] by that image's width and height.
Every function works on ``torch.Tensor`` and ``numpy.ndarray`` alike (shape ``[..., 4]``) and returns
the same type it was given; no function changes its input in place.
"""

from __future__ import annotations

from typing import TypeVar

import numpy as np
import torch

ArrayT = TypeVar("ArrayT", torch.Tensor, np.ndarray)


def _stack(parts: list, like: ArrayT) -> ArrayT:
    if isinstance(like, torch.Tensor):
        return torch.stack(parts, dim=-1)
    return np.stack(parts, axis=-1)


def _float(boxes: ArrayT) -> ArrayT:
    if isinstance(boxes, torch.Tensor):
        return boxes if boxes.is_floating_point() else boxes.float()
    return boxes.astype(np.float64) if boxes.dtype.kind != "f" else boxes


def xyxy_to_xywh(boxes: ArrayT) -> ArrayT:
    """[..., 4] (x1, y1, x2, y2) -> [..., 4] (x, y, w, h)."""
    b = _float(boxes)
    x1, y1, x2, y2 = b[..., 0], b[..., 1], b[..., 2], b[..., 3]
    return _stack([x1, y1, x2 - x1, y2 - y1], b)


def xywh_to_xyxy(boxes: ArrayT) -> ArrayT:
    """[..., 4] (x, y, w, h) -> [..., 4] (x1, y1, x2, y2)."""
    b = _float(boxes)
    x, y, w, h = b[..., 0], b[..., 1], b[..., 2], b[..., 3]
    return _stack([x, y, x + w, y + h], b)


def xyxy_to_cxcywh(boxes: ArrayT) -> ArrayT:
    """[..., 4] (x1, y1, x2, y2) -> [..., 4] (cx, cy, w, h)."""
    b = _float(boxes)
    x1, y1, x2, y2 = b[..., 0], b[..., 1], b[..., 2], b[..., 3]
    return _stack([(x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1], b)


def cxcywh_to_xyxy(boxes: ArrayT) -> ArrayT:
    """[..., 4] (cx, cy, w, h) -> [..., 4] (x1, y1, x2, y2)."""
    b = _float(boxes)
    cx, cy, w, h = b[..., 0], b[..., 1], b[..., 2], b[..., 3]
    return _stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], b)


def xywh_to_cxcywh(boxes: ArrayT) -> ArrayT:
    """[..., 4] (x, y, w, h) -> [..., 4] (cx, cy, w, h)."""
    return xyxy_to_cxcywh(xywh_to_xyxy(boxes))


def cxcywh_to_xywh(boxes: ArrayT) -> ArrayT:
    """[..., 4] (cx, cy, w, h) -> [..., 4] (x, y, w, h)."""
    return xyxy_to_xywh(cxcywh_to_xyxy(boxes))


def normalize(boxes: ArrayT, width: float, height: float) -> ArrayT:
    """Pixels -> [0, 1]: divides x-like entries (0, 2) by ``width`` and y-like (1, 3) by ``height``.

    Valid for all three formats, since each alternates x and y quantities. Shape [..., 4].
    """
    b = _float(boxes)
    scale = [1.0 / width, 1.0 / height, 1.0 / width, 1.0 / height]
    return b * (
        torch.tensor(scale, dtype=b.dtype, device=b.device)
        if isinstance(b, torch.Tensor)
        else np.array(scale)
    )


def denormalize(boxes: ArrayT, width: float, height: float) -> ArrayT:
    """[0, 1] -> pixels; the inverse of `normalize`. Shape [..., 4]."""
    b = _float(boxes)
    scale = [width, height, width, height]
    return b * (
        torch.tensor(scale, dtype=b.dtype, device=b.device)
        if isinstance(b, torch.Tensor)
        else np.array(scale)
    )


def scale_boxes(boxes: ArrayT, src_size: tuple[float, float], dst_size: tuple[float, float]) -> ArrayT:
    """Pixel boxes of an image of ``src_size`` (width, height) -> the same image resized to ``dst_size``.

    Any of the three formats, shape [..., 4].
    """
    return denormalize(normalize(boxes, *src_size), *dst_size)


def clip_xyxy(boxes: ArrayT, width: float, height: float) -> ArrayT:
    """Clip [..., 4] xyxy pixel boxes to the image rectangle [0, width] × [0, height]."""
    b = _float(boxes)
    if isinstance(b, torch.Tensor):
        x = b[..., 0::2].clamp(0, width)
        y = b[..., 1::2].clamp(0, height)
        return torch.stack([x[..., 0], y[..., 0], x[..., 1], y[..., 1]], dim=-1)
    x = np.clip(b[..., 0::2], 0, width)
    y = np.clip(b[..., 1::2], 0, height)
    return np.stack([x[..., 0], y[..., 0], x[..., 1], y[..., 1]], axis=-1)


def area_xyxy(boxes: ArrayT) -> ArrayT:
    """[..., 4] xyxy -> [...] areas (0 for degenerate boxes)."""
    b = _float(boxes)
    w = b[..., 2] - b[..., 0]
    h = b[..., 3] - b[..., 1]
    if isinstance(b, torch.Tensor):
        return w.clamp(min=0) * h.clamp(min=0)
    return np.clip(w, 0, None) * np.clip(h, 0, None)


def box_iou(a: ArrayT, b: ArrayT) -> ArrayT:
    """Pairwise IoU of xyxy boxes: a [N, 4], b [M, 4] -> [N, M]; 0 where the union is empty."""
    a, b = _float(a), _float(b)
    lib = torch if isinstance(a, torch.Tensor) else np
    area_a = area_xyxy(a)  # [N]
    area_b = area_xyxy(b)  # [M]
    lt = lib.maximum(a[:, None, :2], b[None, :, :2])  # [N, M, 2]
    rb = lib.minimum(a[:, None, 2:], b[None, :, 2:])  # [N, M, 2]
    wh = (rb - lt).clamp(min=0) if lib is torch else np.clip(rb - lt, 0, None)
    inter = wh[..., 0] * wh[..., 1]  # [N, M]
    union = area_a[:, None] + area_b[None, :] - inter
    if lib is torch:
        return torch.where(union > 0, inter / union.clamp(min=1e-12), torch.zeros_like(inter))
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


def box_cover(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise share of each ``a`` box inside each ``b`` box: a [N, 4], b [M, 4] xyxy -> [N, M] in [0, 1]
    (intersection over the area of the ``a`` box; 0 for an empty one)."""
    a, b = np.asarray(a, np.float64).reshape(-1, 4), np.asarray(b, np.float64).reshape(-1, 4)
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    wh = np.clip(rb - lt, 0, None)
    area = area_xyxy(a)[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(area > 0, wh[..., 0] * wh[..., 1] / np.maximum(area, 1e-12), 0.0)


def nms(boxes: ArrayT, scores: ArrayT, iou_threshold: float, classes: ArrayT | None = None) -> ArrayT:
    """Greedy non-maximum suppression.

    Args:
        boxes: [N, 4] xyxy.
        scores: [N].
        iou_threshold: a box is dropped when its IoU with a kept, higher-scoring box is above this.
        classes: optional [N] integer labels; when given, boxes only suppress boxes of their own class.

    Returns:
        [K] int64 indices of the kept boxes, highest score first (same array type as ``boxes``).
    """
    is_torch = isinstance(boxes, torch.Tensor)
    b = boxes.detach().cpu().double().numpy() if is_torch else np.asarray(boxes, dtype=np.float64)
    s = scores.detach().cpu().double().numpy() if is_torch else np.asarray(scores, dtype=np.float64)
    if classes is not None:
        c = classes.detach().cpu().numpy() if isinstance(classes, torch.Tensor) else np.asarray(classes)
        # Shift each class to its own region of the plane so boxes of different classes never overlap.
        offset = (c.astype(np.float64) * (b.max(initial=0.0) + 1.0))[:, None]
        b = b + offset
    order = np.argsort(-s, kind="stable")
    iou = box_iou(b, b) if len(b) else np.zeros((0, 0))
    suppressed = np.zeros(len(b), dtype=bool)
    keep: list[int] = []
    for i in order:
        if suppressed[i]:
            continue
        keep.append(int(i))
        suppressed |= iou[i] > iou_threshold
    out = np.asarray(keep, dtype=np.int64)
    return torch.from_numpy(out).to(boxes.device) if is_torch else out


def letterbox_params(src_size: tuple[int, int], dst_size: tuple[int, int]) -> tuple[float, tuple[int, int]]:
    """Aspect-preserving fit of an image of ``src_size`` (w, h) into ``dst_size`` (w, h), top-left aligned.

    Returns:
        (scale, (new_w, new_h)): the resize factor and the resized image's size in pixels; the rest of
        ``dst_size`` is padding on the right and bottom.
    """
    sw, sh = src_size
    dw, dh = dst_size
    scale = min(dw / sw, dh / sh)
    return scale, (max(1, min(dw, round(sw * scale))), max(1, min(dh, round(sh * scale))))
