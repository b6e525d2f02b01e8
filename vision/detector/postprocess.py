"""Raw detector outputs -> `Element`s in screen pixels.

Steps per image: sigmoid scores, best class per query, score threshold, cxcywh-in-canvas -> xyxy pixels,
undo the letterbox, clip to the screenshot, drop empty boxes, class-agnostic NMS (two queries that found
the same widget under different kinds keep only the surer one), add the capture origin.
"""

from __future__ import annotations

import numpy as np
import torch

from agent.types import Element
from vision.boxes import area_xyxy, cxcywh_to_xyxy, denormalize, nms
from vision.detector.processing import Letterbox


def postprocess(
    raw,
    letterboxes: list[Letterbox],
    classes: tuple[str, ...],
    *,
    score_threshold: float = 0.35,
    nms_iou: float = 0.7,
    max_detections: int | None = None,
    origin: tuple[float, float] = (0.0, 0.0),
    min_side: float = 1.0,
) -> list[list[Element]]:
    """Turn `RawDetections` (logits [B, Q, C], boxes [B, Q, 4], embeddings [B, Q, D]) into elements.

    Args:
        letterboxes: one per image, as returned by `Detector.prepare`.
        classes: class names, index = class id.
        score_threshold: keep queries whose best class probability is >= this.
        nms_iou: class-agnostic NMS threshold; >= 1 turns NMS off.
        max_detections: keep at most this many per image (highest scores).
        origin: added to every box (the screen pixel of the image's top-left corner).
        min_side: drop boxes narrower or lower than this many source pixels.

    Returns:
        Per image, elements sorted by descending score, ``embedding`` float32 [D], ``text`` empty.
    """
    scores_all = torch.sigmoid(raw.logits.float())  # [B, Q, C]
    best, labels = scores_all.max(dim=-1)  # [B, Q]
    out: list[list[Element]] = []
    for i, lb in enumerate(letterboxes):
        keep = (best[i] >= score_threshold).nonzero().flatten()
        scores = best[i, keep].numpy()
        kinds = labels[i, keep].numpy()
        boxes = cxcywh_to_xyxy(raw.boxes[i, keep].float()).numpy()  # [n, 4] normalised canvas
        boxes = lb.to_source(denormalize(boxes, *lb.canvas_size))
        emb = raw.embeddings[i, keep].float().numpy()
        sides_ok = (boxes[:, 2] - boxes[:, 0] >= min_side) & (boxes[:, 3] - boxes[:, 1] >= min_side)
        ok = np.nonzero(sides_ok & (area_xyxy(boxes) > 0))[0]
        if nms_iou < 1 and len(ok):
            order = nms(boxes[ok], scores[ok], nms_iou)
            ok = ok[order]
        else:
            ok = ok[np.argsort(-scores[ok], kind="stable")]
        if max_detections is not None:
            ok = ok[:max_detections]
        ox, oy = origin
        out.append([
            Element(
                box=(boxes[j, 0] + ox, boxes[j, 1] + oy, boxes[j, 2] + ox, boxes[j, 3] + oy),
                kind=classes[int(kinds[j])],
                score=float(scores[j]),
                embedding=emb[j].astype(np.float32),
            )
            for j in ok
        ])  # fmt: skip
    return out
