"""Ground truth: only what is visible — occluded, clipped and hidden widgets are left out."""

from __future__ import annotations

import random

from agent.envs.sandbox.qt import delete_later, desk_for, flush_events
from agent.envs.sandbox.render import App
from agent.envs.sandbox.theme import random_theme
from agent.envs.sandbox.truth import ground_truth
from agent.envs.sandbox.window import build_window


def _buttons(n: int, prefix: str) -> dict:
    return {
        "type": "vbox",
        "children": [{"type": "button", "text": f"{prefix} {i}", "name": f"{prefix}{i}"} for i in range(n)],
    }


def test_occluded_clipped_and_hidden_widgets_are_excluded() -> None:
    desk = desk_for((1024, 768))
    rng = random.Random(0)
    theme = random_theme(rng, ["DejaVu Sans"], dark=False)
    app = App({}, desk, theme, rng)
    below = build_window(
        {"title": "Below", "body": _buttons(6, "b"), "pos": [100, 100], "size": [300, 300]}, app, theme
    )
    tabs = {"type": "tabs", "name": "tabs", "tabs": [
        {"title": "One", "child": {"type": "checkbox", "text": "Shown", "name": "shown"}},
        {"title": "Two", "child": {"type": "checkbox", "text": "Hidden", "name": "hidden"}}]}  # fmt: skip
    clip = {"type": "scroll", "height": 60, "child": _buttons(12, "s")}
    above = build_window({"title": "Above", "body": {"type": "vbox", "children": [tabs, clip]}, "pos": [100, 250],
                          "size": [300, 260]}, app, theme)  # fmt: skip
    below.show()
    above.show()
    flush_events()
    try:
        els = ground_truth(desk)
        names = {e.state.get("name") for e in els}
        b_top = [e for e in els if str(e.state.get("name", "")).startswith("b")]
        assert b_top, "the uncovered buttons of the lower window are reported"
        covered = {f"b{i}" for i in range(6)} - names
        assert covered, "buttons under the upper window are left out"
        for e in b_top:  # whatever is reported is not under the upper window
            assert e.box[3] <= 250 + 1, e
        assert "shown" in names and "hidden" not in names
        assert {e.text for e in els if e.kind == "tab"} == {"One", "Two"}
        scrolled = {n for n in names if n and n.startswith("s")}
        assert scrolled and len(scrolled) < 12, "a scroll area shows only some of its buttons"
        for e in els:
            x1, y1, x2, y2 = e.box
            assert 0 <= x1 < x2 <= 1024 and 0 <= y1 < y2 <= 768
        assert all(e.state["window"] in (0, 1) for e in els)
    finally:
        delete_later(below, above)


def test_label_boxes_are_tight_around_their_text() -> None:
    desk = desk_for((1024, 768))
    rng = random.Random(1)
    theme = random_theme(rng, ["DejaVu Sans"], dark=False)
    app = App({}, desk, theme, rng)
    body = {
        "type": "vbox",
        "children": [{"type": "label", "text": "Hi", "name": "hi"}, {"type": "button", "text": "x"}],
    }
    win = build_window({"title": "T", "body": body, "pos": [10, 10], "size": [500, 200]}, app, theme)
    win.show()
    flush_events()
    try:
        label = next(e for e in ground_truth(desk) if e.state.get("name") == "hi")
        assert label.kind == "label" and label.text == "Hi"
        assert label.box[2] - label.box[0] < 60  # the text, not the 470-pixel-wide widget
    finally:
        delete_later(win)


def test_partly_covered_elements_are_marked_clipped() -> None:
    """An element reported by its visible part carries ``clipped``: its text is not all on screen (the OCR
    metric scores those apart)."""
    desk = desk_for((1024, 768))
    rng = random.Random(1)
    theme = random_theme(rng, ["DejaVu Sans"], dark=False)
    app = App({}, desk, theme, rng)
    below = build_window({"title": "Below", "body": _buttons(3, "b"), "pos": [100, 100], "size": [300, 200]},
                         app, theme)  # fmt: skip
    below.show()
    flush_events()
    cover = None
    try:
        before = {e.state.get("name"): e for e in ground_truth(desk)}
        assert before["b0"].state.get("clipped") is None
        x1, y1, x2, _ = before["b0"].box
        # a window over the right third of b0 (and whatever lies below it), from just above b0
        left = int(x2 - (x2 - x1) / 3)
        cover = build_window({"title": "Cover", "body": _buttons(1, "c"), "pos": [left, int(y1) - 40],
                              "size": [400, 400]}, app, theme)  # fmt: skip
        cover.show()
        flush_events()
        after = {e.state.get("name"): e for e in ground_truth(desk)}
        assert after["b0"].state.get("clipped") is True
        assert after["b0"].box[2] <= left + 1 < x2
        assert after["c0"].state.get("clipped") is None
    finally:
        delete_later(*(w for w in (below, cover) if w is not None))
