"""Tiled inference: the detector only ever sees canvases of one size, the size it was trained on.

Why: RT-DETR predicts boxes as fractions of its input canvas (its anchors are fixed fractions,
0.05·2^level, and the decoder refines in that unit), and nothing in a convolutional/windowed backbone tells
the model how large the canvas is. A model trained on one canvas size therefore scales its boxes by the
size ratio on another. Measured on 12 validation screens with the step-2660 checkpoint, trained on 320×224
crops: run on the whole 640×416 canvas its boxes were 1.8× too large in each side (median best IoU with
the ground truth 0.32, 14% of elements found at IoU ≥ 0.5); run on 320×224 tiles of the same screens, 0.63
and 66%. Training on tiles is also ~3× cheaper per element than training on whole screens.
`DetectorConfig.anchor_width` / ``anchor_height`` lift the first constraint: anchors that keep the pixel
size they had on the training tile let a tile-trained model run on a larger canvas (held-out mAP@0.5
0.80 on whole 800×512 screens untrained, 0.91 after a 1,000-step fine-tune there), so the shipped
detector's one tile is the whole fitted screen (800×512, no overlap).

So a screen is resized by the letterbox scale (``input_size`` fits the screen; element sizes are then what
training sees) and covered by ``tile_size`` windows that overlap by at least ``tile_overlap`` pixels; a
window at the screen's edge, or a screen smaller than a tile, is padded to the full tile size.

Merging: an element cut by a tile's *inner* edge (one with a neighbouring tile) appears cut in that tile and,
if it fits in the overlap, whole in the neighbour. Detections away from inner edges are kept with
class-agnostic NMS; a cut one is dropped when a kept box covers most of it, and otherwise joined with the
other cut pieces it lines up with (a text field wider than the overlap is cut in every tile), so the
union of the pieces is the element.

Blank tiles: a window with no edge anywhere (no two neighbouring pixels differ by more than ``step`` in any
channel: a flat or smoothly shaded stretch of desktop or pane) holds no element, and is not run at all
(`blank_tiles`). Every element has an edge: a frame, a glyph, an indicator.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from vision.boxes import area_xyxy, nms


def tile_starts(length: int, tile: int, min_overlap: int) -> list[int]:
    """Start offsets of windows of ``tile`` pixels covering ``length`` pixels, evenly spread, neighbours
    overlapping by at least ``min_overlap``; ``[0]`` when one window covers it all."""
    if length <= tile:
        return [0]
    n = math.ceil((length - tile) / (tile - min_overlap)) + 1
    return [round(i * (length - tile) / (n - 1)) for i in range(n)]


@dataclass(frozen=True)
class Tile:
    """One window of a scaled screen.

    Attributes:
        x, y: top-left corner in the scaled screen's pixels.
        inner: (left, top, right, bottom): whether that edge has a neighbouring tile, i.e. lies inside
            the screen rather than on its border.
    """

    x: int
    y: int
    inner: tuple[bool, bool, bool, bool]


def plan_tiles(size: tuple[int, int], tile: tuple[int, int], min_overlap: int) -> list[Tile]:
    """Tiles covering a scaled screen of ``size`` (w, h) with windows of ``tile`` (w, h), row by row."""
    w, h = size
    tw, th = tile
    xs, ys = tile_starts(w, tw, min_overlap), tile_starts(h, th, min_overlap)
    return [
        Tile(x, y, (i > 0, j > 0, i < len(xs) - 1, j < len(ys) - 1))
        for j, y in enumerate(ys)
        for i, x in enumerate(xs)
    ]


def cut_by_inner_edge(
    boxes: np.ndarray, tile: Tile, tile_size: tuple[int, int], edge: float = 2.0
) -> np.ndarray:
    """[N] bool: boxes (xyxy, tile pixels) that reach within ``edge`` pixels of one of the tile's inner edges."""
    tw, th = tile_size
    left, top, right, bottom = tile.inner
    return (
        (left & (boxes[:, 0] <= edge))
        | (top & (boxes[:, 1] <= edge))
        | (right & (boxes[:, 2] >= tw - edge))
        | (bottom & (boxes[:, 3] >= th - edge))
    )


def merge_tiles(
    boxes: np.ndarray,
    scores: np.ndarray,
    cut: np.ndarray,
    kinds: np.ndarray | None = None,
    *,
    nms_iou: float = 0.7,
    covered: float = 0.5,
    peer_ratio: float = 0.3,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Merge the detections of overlapping tiles of one screen.

    Args:
        boxes: [N, 4] xyxy in the scaled screen's pixels. scores: [N]. cut: [N] bool (`cut_by_inner_edge`).
        kinds: [N] class indices; pieces of different kinds are never joined. On a held-out wizard
            page a text-area piece (the empty page under two fields, found at 0.41) lined up with the
            fields' pieces from the next tile, and the page became one 'text field' (None: any kinds join).
        nms_iou: class-agnostic NMS threshold among whole detections (>= 1: off).
        covered: a cut detection is dropped when this fraction of its area lies inside a kept box whose
            score is at least ``peer_ratio`` times its own.

    Returns:
        Highest score first, ``(box [4], members)``: the output box and the indices it was made from, the
        first member being the highest-scoring one (its class, score and embedding stand for the element).
    """
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    scores = np.asarray(scores, dtype=np.float64)
    whole = np.nonzero(~cut)[0]
    order = nms(boxes[whole], scores[whole], nms_iou) if nms_iou < 1 else np.argsort(-scores[whole])
    out = [(boxes[i], np.array([i])) for i in whole[order]]
    pieces = [int(i) for i in np.nonzero(cut)[0][np.argsort(-scores[cut], kind="stable")]]
    used: set[int] = set()
    for i in pieces:
        if i in used:
            continue
        # Covered by a kept box that is not much less sure (a faint box must not hide a confident piece).
        peers = [b for b, m in out if scores[m[0]] >= peer_ratio * scores[i]]
        if peers and _covered_fraction(boxes[i], np.stack(peers)).max() >= covered:
            continue
        box, members = boxes[i].copy(), [i]
        used.add(i)
        grew = True
        while grew:  # join the pieces that line up with the union so far (a wide element over 3+ tiles)
            grew = False
            for j in pieces:
                if j not in used and (kinds is None or kinds[j] == kinds[i]) and _lines_up(box, boxes[j]):
                    box = _union(box, boxes[j])
                    members.append(j)
                    used.add(j)
                    grew = True
        out.append((box, np.array(members)))
    out.sort(key=lambda item: -scores[item[1][0]])
    return out


def _union(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The smallest xyxy box holding both ``a`` and ``b``."""
    return np.concatenate([np.minimum(a[:2], b[:2]), np.maximum(a[2:], b[2:])])


def _intersection(box: np.ndarray, others: np.ndarray) -> np.ndarray:
    """[M]: area of ``box`` ∩ each of ``others`` [M, 4]."""
    lt = np.maximum(box[:2], others[:, :2])
    rb = np.minimum(box[2:], others[:, 2:])
    return np.prod(np.clip(rb - lt, 0, None), axis=1)


def _covered_fraction(box: np.ndarray, others: np.ndarray) -> np.ndarray:
    """[M]: fraction of ``box``'s area inside each of ``others`` [M, 4]."""
    return _intersection(box, others) / max(float(area_xyxy(box[None])[0]), 1e-9)


def _lines_up(a: np.ndarray, b: np.ndarray, slack: float = 0.15) -> bool:
    """Two overlapping pieces of one element: their union box is (almost) exactly their union area."""
    inter = float(_intersection(a, b[None])[0])
    if inter <= 0:
        return False
    union_area = float(area_xyxy(a[None])[0] + area_xyxy(b[None])[0]) - inter
    return float(area_xyxy(_union(a, b)[None])[0]) <= (1 + slack) * union_area


def blank_tiles(
    canvas: np.ndarray, tiles: list[Tile], tile_size: tuple[int, int], step: int = 24
) -> list[bool]:
    """For each tile of ``canvas`` (the scaled screen, H×W×3 uint8): whether it shows no edge at all, i.e.
    no two horizontally or vertically neighbouring pixels inside it differ by more than ``step`` in any
    channel. A tile reaching past the canvas counts its padding as an edge (it is not blank)."""
    import cv2

    h, w, channels = canvas.shape
    # per channel, as [rows, columns × channels]: a pixel's channels are neighbouring columns there, so a
    # tile's pixels x1..x2 are columns x1·c..x2·c (a max over the channel axis took 26 ms a screen, this 3)
    horizontal = cv2.absdiff(canvas[:, 1:], canvas[:, :-1]).reshape(h, -1) > step  # pixel x vs x+1
    vertical = cv2.absdiff(canvas[1:], canvas[:-1]).reshape(h - 1, -1) > step  # pixel y vs y+1
    tw, th = tile_size
    out = []
    for t in tiles:
        if t.x + tw > w or t.y + th > h:
            out.append(False)
            continue
        x1, x2, y2 = t.x * channels, (t.x + tw) * channels, t.y + th
        out.append(
            not (horizontal[t.y : y2, x1 : x2 - channels].any() or vertical[t.y : y2 - 1, x1:x2].any())
        )
    return out
