"""Slider values read from pixels, on real rendered sandbox sliders (every theme and scale the sandbox draws)."""

from __future__ import annotations

import os

import numpy as np
import pytest

from agent.types import Element
from vision.widget_state import read_states, slider_position

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


@pytest.fixture(scope="module")
def sliders() -> list[tuple[np.ndarray, tuple, int]]:
    """(screen, ground-truth box, value) of the sliders on 40 held-out set_slider screens."""
    from agent.envs.sandbox.env import SandboxEnv
    from agent.envs.sandbox.families import generate_split

    out = []
    with SandboxEnv() as env:
        for st in generate_split("heldout", 600, seed=0, families=["set_slider"])[:40]:
            obs = env.reset(st)
            out += [(obs.image, e.box, e.state["value"]) for e in obs.elements if e.kind == "slider"]
    assert len(out) >= 40
    return out


def test_slider_values_are_read_within_a_few_points(sliders):
    errors = np.array([abs(slider_position(img, box) - value) for img, box, value in sliders])
    assert np.median(errors) <= 1.5 and np.percentile(errors, 95) <= 5.0


def test_boxes_off_by_a_few_pixels_still_read_close(sliders):
    rng = np.random.default_rng(0)
    errors = []
    for img, (x1, y1, x2, y2), value in sliders:
        dx1, dy1, dx2, dy2 = rng.integers(-3, 4, 4)
        errors.append(abs(slider_position(img, (x1 + dx1, y1 + dy1, x2 + dx2, y2 + dy2)) - value))
    assert np.median(errors) <= 2.0 and np.percentile(errors, 90) <= 5.0


def test_shapes_that_are_no_horizontal_slider_give_none():
    flat = np.full((50, 200, 3), 200, np.uint8)
    assert slider_position(flat, (10, 10, 190, 26)) is None  # nothing stands out
    assert slider_position(flat, (10, 0, 26, 50)) is None  # vertical
    assert slider_position(flat, (10, 10, 20, 14)) is None  # too small


def test_read_states_fills_slider_state_in_screen_pixels(sliders):
    img, (x1, y1, x2, y2), value = sliders[0]
    origin = (100.0, 50.0)  # a screen whose image starts at (100, 50)
    slider = Element((x1 + 100, y1 + 50, x2 + 100, y2 + 50), "slider", 0.9)
    button = Element((x1 + 100, y1 + 50, x2 + 100, y2 + 50), "button", 0.9, "OK")
    read_states(img, [slider, button], origin)
    assert abs(slider.state["value"] - value) <= 5 and slider.state["max"] == 100
    assert slider.state["read"] == "pixels" and button.state == {}
