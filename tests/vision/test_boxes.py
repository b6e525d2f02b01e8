"""Box conversions, IoU and NMS: numpy and torch agree, round trips are exact, known values hold."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from vision import boxes as B

coord = st.floats(0, 2000, allow_nan=False, allow_infinity=False)


@st.composite
def xyxy(draw):
    x1, y1 = draw(coord), draw(coord)
    return [x1, y1, x1 + draw(st.floats(0, 500)), y1 + draw(st.floats(0, 500))]


@settings(max_examples=60, deadline=None)
@given(st.lists(xyxy(), min_size=1, max_size=6))
def test_round_trips_in_both_libraries(rows):
    a = np.array(rows)
    for arr in (a, torch.tensor(a)):
        for fwd, back in ((B.xyxy_to_xywh, B.xywh_to_xyxy), (B.xyxy_to_cxcywh, B.cxcywh_to_xyxy)):
            out = back(fwd(arr))
            assert type(out) is type(arr)
            np.testing.assert_allclose(np.asarray(out), a, atol=1e-6)
        np.testing.assert_allclose(
            np.asarray(B.cxcywh_to_xywh(B.xywh_to_cxcywh(B.xyxy_to_xywh(arr)))),
            np.asarray(B.xyxy_to_xywh(arr)),
            atol=1e-6,
        )
        np.testing.assert_allclose(
            np.asarray(B.denormalize(B.normalize(arr, 1280, 800), 1280, 800)), a, atol=1e-6
        )


def test_known_values():
    box = np.array([10.0, 20.0, 30.0, 60.0])
    assert B.xyxy_to_xywh(box).tolist() == [10, 20, 20, 40]
    assert B.xyxy_to_cxcywh(box).tolist() == [20, 40, 20, 40]
    assert B.normalize(box, 100, 200).tolist() == pytest.approx([0.1, 0.1, 0.3, 0.3])
    # 1280×800 screen shown at 640×400: every coordinate halves
    assert B.scale_boxes(box, (1280, 800), (640, 400)).tolist() == [5, 10, 15, 30]
    assert B.clip_xyxy(np.array([-5.0, -5, 50, 50]), 40, 30).tolist() == [0, 0, 40, 30]
    assert B.letterbox_params((1280, 800), (640, 416)) == (0.5, (640, 400))
    assert B.letterbox_params((800, 1280), (640, 416)) == (0.325, (260, 416))


def test_iou_known_values_and_library_agreement():
    a = np.array([[0.0, 0, 10, 10], [0, 0, 0, 0]])
    b = np.array([[5.0, 0, 15, 10], [20, 20, 30, 30], [0, 0, 10, 10]])
    iou = B.box_iou(a, b)
    assert iou.shape == (2, 3)
    np.testing.assert_allclose(iou[0], [50 / 150, 0, 1])
    np.testing.assert_allclose(iou[1], [0, 0, 0])  # degenerate box: no division by zero
    np.testing.assert_allclose(B.box_iou(torch.tensor(a), torch.tensor(b)).numpy(), iou)


def test_nms_keeps_best_and_respects_classes():
    boxes = np.array([[0.0, 0, 10, 10], [1, 1, 11, 11], [50, 50, 60, 60], [0, 0, 10, 10]])
    scores = np.array([0.9, 0.95, 0.5, 0.3])
    keep = B.nms(boxes, scores, 0.5)
    assert keep.tolist() == [1, 2]
    # With classes, the fourth box (another class) survives next to its overlapping neighbours.
    keep_c = B.nms(boxes, scores, 0.5, classes=np.array([0, 0, 0, 1]))
    assert keep_c.tolist() == [1, 2, 3]
    t = B.nms(torch.tensor(boxes), torch.tensor(scores), 0.5)
    assert isinstance(t, torch.Tensor) and t.tolist() == [1, 2]
    assert B.nms(np.zeros((0, 4)), np.zeros(0), 0.5).tolist() == []


def test_box_cover_is_the_share_of_each_box_inside_the_other():
    a = np.array([[0, 0, 10, 10], [5, 0, 15, 10], [3, 3, 3, 3]])
    b = np.array([[0, 0, 20, 10]])
    assert B.box_cover(a, b)[:, 0].tolist() == [1.0, 1.0, 0.0]  # the last box is empty
    assert B.box_cover(b, a)[0, :2].tolist() == [0.5, 0.5]
