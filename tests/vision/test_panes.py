"""Text areas from the flat panes under the detector's hints, on real rendered sandbox screens
(`vision.detector.panes`)."""

from __future__ import annotations

import dataclasses
import os

import numpy as np
import pytest

from agent.types import Element
from vision.boxes import box_iou
from vision.detector.panes import PaneRule, fit_text_areas, ink_bands

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def _screens(families: list[str], n: int, want) -> list[tuple[np.ndarray, float, list[Element]]]:
    from agent.envs.sandbox.env import SandboxEnv
    from agent.envs.sandbox.families import generate_split

    out = []
    with SandboxEnv() as env:
        for st in generate_split("heldout", 600, seed=0, families=families)[:n]:
            obs = env.reset(st)
            found = [e for e in obs.elements if want(e)]
            if found:
                out.append((obs.image, obs.scale, obs.elements))
    return out


@pytest.fixture(scope="module")
def mail() -> list[tuple[np.ndarray, float, list[Element]]]:
    """Held-out screens with a fully visible text area (empty message bodies, some at 1.25× scale)."""
    out = _screens(["type_text", "fill_form"], 30,
                   lambda e: e.kind == "text_area" and not e.state.get("clipped"))  # fmt: skip
    assert len(out) >= 5
    return out


@pytest.fixture(scope="module")
def lists() -> list[tuple[np.ndarray, float, list[Element]]]:
    """Held-out screens with a list of at least four rows."""
    out = _screens(["scroll_find"], 10, lambda e: e.kind == "list_item")
    out = [s for s in out if sum(e.kind == "list_item" for e in s[2]) >= 4]
    assert len(out) >= 5
    return out


def _areas(elements: list[Element]) -> list[Element]:
    return [e for e in elements if e.kind == "text_area" and not e.state.get("clipped")]


def _piece(box, top: float, bottom: float) -> tuple[float, float, float, float]:
    """The band of ``box`` between fractions ``top`` and ``bottom`` of its height."""
    x1, y1, x2, y2 = box
    return (x1 + 3, y1 + top * (y2 - y1), x2 - 3, y1 + bottom * (y2 - y1))


def test_a_piece_of_a_text_area_becomes_the_whole_area(mail):
    for image, scale, elements in mail:
        for area in _areas(elements):
            hint = Element(_piece(area.box, 0.45, 1.0), "text_area", 0.12)  # what one tile saw of it
            out = fit_text_areas(image, [hint], screen_scale=scale)
            found = [e for e in out if e.kind == "text_area"]
            assert len(found) == 1
            assert box_iou(np.array([found[0].box]), np.array([area.box]))[0, 0] >= 0.9
            assert found[0].score > hint.score  # a pane this plain is surer than the piece


def test_a_blank_row_hint_finds_an_empty_area_and_the_hints_on_it_go(mail):
    for image, scale, elements in mail:
        for area in _areas(elements):
            row = Element(_piece(area.box, 0.3, 0.42), "list_item", 0.3)  # the detector's blank "row"
            label = Element(_piece(area.box, 0.6, 0.7), "label", 0.2)
            out = fit_text_areas(image, [row, label], screen_scale=scale)
            assert [e.kind for e in out] == ["text_area"]
            assert box_iou(np.array([out[0].box]), np.array([area.box]))[0, 0] >= 0.9


def test_boxes_follow_the_origin_and_the_hints_below_threshold_are_never_returned(mail):
    image, scale, elements = mail[0]
    area = _areas(elements)[0]
    ox, oy = 300.0, 120.0
    hint = Element(tuple(v + d for v, d in zip(_piece(area.box, 0.5, 0.9), (ox, oy, ox, oy), strict=True)),
                   "text_area", 0.08)  # fmt: skip
    sure = Element((ox + 1, oy + 1, ox + 40, oy + 20), "button", 0.9)
    out = fit_text_areas(image, [sure], origin=(ox, oy), screen_scale=scale, hints=[hint])
    kinds = sorted(e.kind for e in out)
    assert kinds == ["button", "text_area"]
    got = next(e for e in out if e.kind == "text_area")
    expected = (area.box[0] + ox, area.box[1] + oy, area.box[2] + ox, area.box[3] + oy)
    assert box_iou(np.array([got.box]), np.array([expected]))[0, 0] >= 0.9
    assert fit_text_areas(image, [sure], origin=(ox, oy), screen_scale=scale) == [sure]  # no hint, no area


def test_a_list_is_not_a_text_area(lists):
    for image, scale, elements in lists:
        rows = [e for e in elements if e.kind == "list_item"]
        x1, y1 = min(e.box[0] for e in rows), min(e.box[1] for e in rows)
        x2, y2 = max(e.box[2] for e in rows), max(e.box[3] for e in rows)
        # a weak text-area guess over the whole list, weak rows: the rows' short lines say "list"
        guess = Element((x1, y1, x2, y2), "text_area", 0.3)
        weak = [dataclasses.replace(e, score=0.3) for e in rows]
        out = fit_text_areas(image, [guess, *weak], screen_scale=scale)
        assert not any(e.kind == "text_area" and e.score >= guess.score for e in out)
        assert sum(e.kind == "list_item" for e in out) == len(rows)
        # a blank-looking hint on the list, with its rows detected surely: still a list
        sure = [dataclasses.replace(e, score=0.9) for e in rows]
        blank = Element(_piece((x1, y1, x2, y2), 0.0, 0.2), "text_area", 0.3)
        assert not any(e.kind == "text_area" for e in fit_text_areas(image, [blank, *sure], screen_scale=scale)
                       if e.score >= 0.3)  # fmt: skip


def test_a_guess_over_a_form_is_demoted_not_grown(mail):
    image, scale, elements = mail[0]
    widgets = [dataclasses.replace(e, score=0.9) for e in elements
               if e.kind in ("text_field", "button", "label") and not e.state.get("clipped")]  # fmt: skip
    x1 = min(e.box[0] for e in widgets)
    y1 = min(e.box[1] for e in widgets)
    x2 = max(e.box[2] for e in widgets)
    y2 = max(e.box[3] for e in widgets)
    guess = Element((x1, y1, x2, y2), "text_area", 0.4)  # the window's body, called a text area
    out = fit_text_areas(image, [guess, *widgets], screen_scale=scale)
    demoted = [e for e in out if e.kind == "text_area" and e.box == guess.box]
    assert demoted and demoted[0].score == pytest.approx(0.4 * PaneRule().demote)
    assert sum(e.kind != "text_area" for e in out) == len(widgets)


def test_ink_bands_are_lines_of_text_and_ignore_specks():
    mask = np.ones((60, 200), bool)
    mask[10:22, 20:150] = False  # a line of text
    mask[30:32, 40:60] = False  # a speck (under min_height)
    mask[40:52, 20:80] = False  # a short line
    assert ink_bands(mask) == [(10, 22, 130), (40, 52, 60)]
    assert ink_bands(np.ones((60, 200), bool)) == []


def test_a_flat_panel_holding_a_widget_is_not_a_text_area():
    image = np.full((300, 400, 3), 236, np.uint8)
    image[60:201, 50:301] = 120  # a frame
    image[61:200, 51:300] = 255  # the pane inside it
    image[100:112, 70:82] = 40  # a checkbox drawn on the pane
    hint = Element((52, 150, 298, 199), "text_area", 0.2)
    box = Element((70, 100, 82, 112), "checkbox", 0.9)
    assert not any(e.kind == "text_area" for e in fit_text_areas(image, [hint, box]) if e.score >= 0.2)
    weak = dataclasses.replace(box, score=0.3)  # not sure of the widget: the pane is a text area's
    (area,) = [e for e in fit_text_areas(image, [hint, weak]) if e.kind == "text_area"]
    assert area.box == (50, 60, 301, 201)


def test_a_band_of_a_gradient_is_no_pane_and_blank_bars_are_hints_but_drawn_ones_are_not():
    # a desktop whose colour falls by one grey level every 12 rows, between two windows that reach from the
    # top of the screen to its bottom, the right one holding an empty text area
    image = np.repeat((200 - np.arange(400) // 12).astype(np.uint8)[:, None, None], 500, axis=1)
    image = np.repeat(image, 3, axis=2).copy()
    image[:, :150] = 236  # the left window
    image[:, 250:] = 236  # the right one
    image[100:181, 270:431] = 120  # the text area's frame
    image[101:180, 271:430] = 255  # and its pane
    on_desktop = Element((160, 205, 240, 215), "text_area", 0.4)
    out = fit_text_areas(image, [on_desktop])
    assert [(e.box, e.score) for e in out] == [(on_desktop.box, pytest.approx(0.4 * PaneRule().demote))]
    bar = Element((275, 140, 425, 160), "progress", 0.3)  # a blank piece of the area called a progress bar
    (area,) = fit_text_areas(image, [bar])
    assert area.kind == "text_area" and area.box == (270, 100, 431, 181)
    sure = dataclasses.replace(bar, score=0.6)  # a bar the detector is sure of is one
    assert fit_text_areas(image, [sure]) == [sure]
    image[140:160, 275:330] = (40, 160, 40)  # a drawn bar: its chunk is ink, not the pane's colour
    assert fit_text_areas(image, [bar]) == [bar]
