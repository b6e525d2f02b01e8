"""Tiled inference: window layout, merging the detections of overlapping windows, and the invariant that
the model only ever sees canvases of its tile size (RT-DETR's boxes are fractions of its canvas)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from tests.vision.conftest import tiny_config
from vision.detector import Detector
from vision.detector.tiling import Tile, cut_by_inner_edge, merge_tiles, plan_tiles, tile_starts


@pytest.mark.parametrize("length", [50, 96, 97, 154, 400, 640, 1000])
def test_tile_starts_cover_the_length_with_the_overlap(length):
    tile, overlap = 96, 16
    starts = tile_starts(length, tile, overlap)
    assert starts[0] == 0 and starts == sorted(starts)
    assert starts[-1] + tile >= length and max(starts) <= max(0, length - tile)
    for a, b in itertools.pairwise(starts):
        assert a + tile - b >= overlap  # neighbours overlap by at least the overlap
    # no more windows than needed: one fewer would not reach the end with that overlap
    n = len(starts)
    assert n == 1 or (n - 2) * (tile - overlap) + tile < length


def test_plan_tiles_marks_inner_edges():
    tiles = plan_tiles((154, 96), (96, 64), 16)
    assert [(t.x, t.y) for t in tiles] == [(0, 0), (58, 0), (0, 32), (58, 32)]
    assert tiles[0].inner == (False, False, True, True)
    assert tiles[3].inner == (True, True, False, False)
    assert plan_tiles((80, 60), (96, 64), 16) == [Tile(0, 0, (False, False, False, False))]


def test_cut_by_inner_edge_ignores_screen_borders():
    tile = Tile(0, 0, (False, False, True, False))  # only the right edge has a neighbour
    boxes = np.array([[0, 0, 20, 10], [80, 5, 96, 15], [10, 54, 30, 64]], float)
    assert cut_by_inner_edge(boxes, tile, (96, 64)).tolist() == [False, True, False]


def test_merge_keeps_whole_boxes_drops_covered_pieces_and_joins_aligned_ones():
    boxes = np.array([
        [10, 10, 60, 30],    # 0 whole element
        [10.5, 10, 60, 30],  # 1 the same element, whole in the neighbouring tile: NMS drops it
        [40, 10, 60, 30],    # 2 a cut piece of element 0: covered, dropped
        [100, 50, 160, 70],  # 3 a wide field cut by the right edge of one tile ...
        [140, 50, 230, 70],  # 4 ... and by the left edge of the next: joined into 100..230
        [150, 90, 170, 100],  # 5 a cut piece with no partner: kept as it is
    ], float)  # fmt: skip
    scores = np.array([0.9, 0.8, 0.7, 0.6, 0.65, 0.5])
    cut = np.array([False, False, True, True, True, True])
    merged = merge_tiles(boxes, scores, cut, nms_iou=0.7)
    got = [(b.tolist(), sorted(m.tolist())) for b, m in merged]
    assert got == [
        ([10, 10, 60, 30], [0]),
        ([100, 50, 230, 70], [3, 4]),
        ([150, 90, 170, 100], [5]),
    ]
    # the joined element takes the class/score/embedding of its surest piece (listed first)
    assert merged[1][1][0] == 4


def test_a_faint_box_does_not_hide_a_confident_piece():
    boxes = np.array([[0, 0, 200, 100], [10, 10, 60, 30]], float)  # a big faint box over a cut piece
    merged = merge_tiles(boxes, np.array([0.05, 0.9]), np.array([False, True]))
    assert [m.tolist() for _, m in merged] == [[1], [0]]


def test_pieces_that_do_not_line_up_stay_apart():
    boxes = np.array([[0, 0, 50, 20], [40, 10, 90, 40]], float)  # overlapping, but offset in y
    merged = merge_tiles(boxes, np.array([0.9, 0.8]), np.array([True, True]), covered=0.99)
    assert len(merged) == 2


def test_pieces_of_different_kinds_are_never_joined():
    # held-out wizard page: two fields cut by one tile edge, and in the neighbouring tile the empty page
    # under them found as a text-area piece that lines up with the first field's piece
    boxes = np.array([
        [373, 52, 576, 63],   # 0 field 1, cut at the tile's right edge
        [448, 52, 585, 63],   # 1 field 1, cut at the next tile's left edge
        [329, 52, 576, 181],  # 2 the page as a text area piece, over both fields
        [373, 66, 576, 77],   # 3 field 2, cut
        [448, 66, 585, 77],   # 4 field 2, cut
    ], float)  # fmt: skip
    scores = np.array([0.82, 0.8, 0.41, 0.79, 0.78])
    cut = np.ones(5, bool)
    text_field, text_area = 1, 14
    kinds = np.array([text_field, text_field, text_area, text_field, text_field])
    got = [(b.tolist(), sorted(m.tolist())) for b, m in merge_tiles(boxes, scores, cut, kinds)]
    assert got == [([373, 52, 585, 63], [0, 1]), ([373, 66, 585, 77], [3, 4]), ([329, 52, 576, 181], [2])]
    # without the kinds the fields and the page join into one box the size of the page
    assert merge_tiles(boxes, scores, cut)[0][0].tolist() == [329, 52, 585, 181]


def test_model_inputs_are_always_tile_sized(monkeypatch):
    """A whole screen, a small changed region and a screen smaller than a tile all reach the model as
    tile-sized canvases, and the elements come back inside each image (+ origin)."""
    torch.manual_seed(0)
    model = Detector(tiny_config()).eval()
    seen: list[tuple[int, ...]] = []
    raw = model.raw
    monkeypatch.setattr(model, "raw", lambda x, bf16=False: seen.append(tuple(x.shape)) or raw(x, bf16))
    screen = np.random.default_rng(0).integers(0, 255, (200, 320, 3), dtype=np.uint8)
    (els,) = model.detect([screen], score_threshold=0.0, nms_iou=0.7, batch_size=3)
    # 320×200 fitted into 160×96 (scale 0.48) -> 154×96 -> 2×2 windows of 96×64, in batches of 3 and 1
    assert seen == [(3, 3, 64, 96), (1, 3, 64, 96)]
    assert els and all(0 <= e.box[0] < e.box[2] <= 320 and 0 <= e.box[1] < e.box[3] <= 200 for e in els)
    seen.clear()
    region = screen[:100, :150]  # 72×48 at that scale: one padded window
    (found,) = model.detect([region], score_threshold=0.0, scale=0.48, origin=(100.0, 50.0))
    assert seen == [(1, 3, 64, 96)]
    assert found and all(
        100 <= e.box[0] <= e.box[2] <= 250 and 50 <= e.box[1] <= e.box[3] <= 150 for e in found
    )


def test_blank_tiles_are_those_without_a_single_edge():
    """A flat or smoothly shaded window is blank; one glyph-sized mark, a faint frame above the step, or
    the padding past the canvas makes it not blank."""
    from vision.detector.tiling import blank_tiles

    tiles = plan_tiles((200, 100), (100, 100), 0)  # two windows side by side
    assert [(t.x, t.y) for t in tiles] == [(0, 0), (100, 0)]
    flat = np.full((100, 200, 3), 240, np.uint8)
    assert blank_tiles(flat, tiles, (100, 100)) == [True, True]
    ramp = np.linspace(40, 220, 200).astype(np.uint8)
    shaded = np.broadcast_to(ramp[None, :, None], (100, 200, 3)).copy()
    assert blank_tiles(shaded, tiles, (100, 100)) == [True, True]  # ~1 grey level a pixel
    marked = flat.copy()
    marked[50:53, 150:152] = 20  # a speck of a glyph in the right window
    assert blank_tiles(marked, tiles, (100, 100)) == [True, False]
    faint = flat.copy()
    faint[:, 30, 0] = 240 - 30  # a frame line 30 levels off the background in one channel
    assert blank_tiles(faint, tiles, (100, 100)) == [False, True]
    faint[:, 30] = 240 - 20  # under the step in every channel: shading, not an edge
    assert blank_tiles(faint, tiles, (100, 100)) == [True, True]
    assert blank_tiles(flat[:, :180], tiles, (100, 100)) == [True, False]  # the right one reaches past
