"""DesktopEnv against a real Qt app on a real (virtual) X display: every action verified from the app's state."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from agent.capture import ScreenCapture, ScreenMap
from agent.envs.desktop import DesktopEnv
from agent.errors import EnvironmentUnavailable
from agent.types import Click, Drag, Hotkey, Move, Scroll, TypeText


def center(rect: list[int]) -> tuple[int, int]:
    return (rect[0] + rect[2] // 2, rect[1] + rect[3] // 2)


def pointer() -> tuple[int, int]:
    out = subprocess.run(
        ["xdotool", "getmouselocation", "--shell"], capture_output=True, text=True, check=True
    )
    vals = dict(line.split("=") for line in out.stdout.split())
    return int(vals["X"]), int(vals["Y"])


@pytest.fixture
def env(xdisplay):
    e = DesktopEnv(monitor=1, settle=0.0)
    yield e
    e.close()


def test_observation_is_the_left_monitor(env, target):
    obs = env.observe()
    assert obs.image.shape == (800, 640, 3) and obs.image.dtype == np.uint8
    assert obs.origin == (0, 0) and obs.scale == 1.0
    # the pad is painted #3a7bd5: the observation shows it where the app says it is, in RGB order
    cx, cy = center(target.rects["pad"])
    assert tuple(obs.image[cy, cx]) == (0x3A, 0x7B, 0xD5)


def test_click_double_click_and_right_click(env, target):
    cx, cy = center(target.rects["pad"])
    assert env.act(Click(cx, cy)).ok
    assert env.act(Click(cx, cy, count=2)).ok
    assert env.act(Click(cx, cy, button="right")).ok
    state = target.wait_for(lambda s: len(s["pad"]) >= 8)
    kinds = [(e[0], e[1]) for e in state["pad"]]
    assert kinds == [("press", "left"), ("release", "left"),  # single click
                     ("press", "left"), ("release", "left"), ("double", "left"), ("release", "left"),
                     ("press", "right"), ("release", "right")]  # fmt: skip
    px, py = state["rects"]["pad"][:2]
    assert all((e[2], e[3]) == (cx - px, cy - py) for e in state["pad"])


def test_click_button_and_checkbox(env, target):
    env.act(Click(*center(target.rects["button"])))
    env.act(Click(*center(target.rects["check"])))
    state = target.wait_for(lambda s: s["clicks"] == 1 and s["checked"])
    assert state["clicks"] == 1 and state["checked"] is True


def test_move_puts_the_pointer_there(env, target):
    assert env.act(Move(123, 456)).ok
    assert pointer() == (123, 456)


def test_drag_moves_the_slider(env, target):
    x, y, w, h = target.rects["slider"]
    # Qt's fusion/windows slider handle sits at the left end when the value is 0
    assert env.act(Drag(x + 5, y + h // 2, x + w // 2, y + h // 2)).ok
    state = target.wait_for(lambda s: s["slider"] > 0)
    assert 40 <= state["slider"] <= 60


def test_scroll_both_ways(env, target):
    cx, cy = center(target.rects["list"])
    env.act(Scroll(cx, cy, "down", 5))
    target.wait_for(lambda s: s["scroll"] > 0)
    down = target.settle()["scroll"]  # all five notches, not just the first to arrive
    assert down > 0
    env.act(Scroll(cx, cy, "up", 2))
    up = target.wait_for(lambda s: s["scroll"] < down)["scroll"]
    assert 0 < up < down


@pytest.mark.parametrize("text", ["Hello, World! 123", "é€ü", "mixed ASCII and ñ ß €"])
def test_typing(env, target, text):
    env.act(Click(*center(target.rects["edit"])))
    target.wait_for(lambda s: s["focus"] == "edit")
    assert env.act(TypeText(text)).ok
    state = target.wait_for(lambda s: s["text"] == text)
    assert state["text"] == text


def test_trailing_newline_submits(env, target):
    env.act(Click(*center(target.rects["edit"])))
    target.wait_for(lambda s: s["focus"] == "edit")
    env.act(TypeText("done\n"))
    assert target.wait_for(lambda s: s["submitted"])["submitted"] == ["done"]


def test_hotkeys(env, target):
    env.act(Click(*center(target.rects["edit"])))
    target.wait_for(lambda s: s["focus"] == "edit")
    env.act(TypeText("select me"))
    target.wait_for(lambda s: s["text"] == "select me")
    assert env.act(Hotkey(("ctrl", "k"))).ok
    assert env.act(Hotkey(("ctrl", "shift", "l"))).ok
    # ctrl+a then typing replaces the whole text: the hotkey reached the widget
    env.act(Hotkey(("ctrl", "a")))
    env.act(TypeText("x"))
    state = target.wait_for(lambda s: s["text"] == "x" and s["shortcuts"]["ctrl+shift+l"] == 1)
    assert state["shortcuts"] == {"ctrl+k": 1, "ctrl+shift+l": 1}
    assert state["text"] == "x"


def test_keys_missing_from_the_layout_are_borrowed(env, target):
    """Xvfb's keymap has no F13 or volume keys: they are mapped onto a spare keycode for the keystroke."""
    env.act(Click(*center(target.rects["edit"])))
    target.wait_for(lambda s: s["focus"] == "edit")
    assert env.act(Hotkey(("f13",))).ok
    assert env.act(Hotkey(("ctrl", "volumeup"))).ok
    keys = target.wait_for(lambda s: "ctrl+volume up" in s["keys"])["keys"]
    assert "f13" in keys and "ctrl+volume up" in keys


def test_second_monitor_offsets(xdisplay, start_target):
    """Monitor 2 starts at x=640: image pixel (0, 0) is screen pixel (640, 0), and clicks land there."""
    app = start_target(x=700, y=100)
    with DesktopEnv(monitor=2, settle=0.0) as env:
        obs = env.observe()
        assert obs.origin == (640, 0) and obs.size == (640, 800)
        sx, sy = center(app.rects["pad"])
        ix, iy = sx - 640, sy  # the pad in image pixels of monitor 2
        assert tuple(obs.image[iy, ix]) == (0x3A, 0x7B, 0xD5)
        env.act(Click(ix, iy, count=2))
    state = app.wait_for(lambda s: any(e[0] == "double" for e in s["pad"]))
    assert ["double", "left"] in [e[:2] for e in state["pad"]]


def test_region_capture_and_clicks(xdisplay, target):
    x, y, w, h = target.ready["window"]
    with DesktopEnv(region=(x, y, w, h), settle=0.0) as env:
        obs = env.observe()
        assert obs.origin == (x, y) and obs.size == (w, h)
        bx, by = center(target.rects["button"])
        env.act(Click(bx - x, by - y))
    assert target.wait_for(lambda s: s["clicks"] == 1)["clicks"] == 1


class UpscaledCapture:
    """A HiDPI screen made from a real one: every point becomes ``factor``×``factor`` pixels, as on a
    Retina display, where screenshots are physical pixels and input takes logical points."""

    def __init__(self, inner: ScreenCapture, factor: int):
        self.inner, self.factor = inner, factor
        m = inner.map
        self.map = ScreenMap(m.left, m.top, m.scale * factor)
        self.monitor = inner.monitor

    @property
    def size(self):
        w, h = self.inner.size
        return (w * self.factor, h * self.factor)

    def grab(self):
        frame = self.inner.grab()
        img = frame.rgb().repeat(self.factor, axis=0).repeat(self.factor, axis=1)
        bgra = np.concatenate([img[:, :, ::-1], np.full((*img.shape[:2], 1), 255, np.uint8)], axis=2)
        frame.raw, frame.width, frame.height, frame.map = (
            bytearray(bgra.tobytes()),
            img.shape[1],
            img.shape[0],
            self.map,
        )
        return frame

    def info(self):
        return {**self.inner.info(), "scale": self.map.scale}

    def close(self):
        self.inner.close()


def test_hidpi_scale_two_clicks_land_on_target(xdisplay, start_target):
    """On a 2× screen the pad is found in the (physical) screenshot and clicked there: the click must land
    on it, which only happens when pixels are divided by the scale before reaching pyautogui."""
    app = start_target(x=700, y=100)
    cap = UpscaledCapture(ScreenCapture(monitor=2), factor=2)
    with DesktopEnv(capture=cap, settle=0.0) as env:
        obs = env.observe()
        assert obs.scale == 2.0 and obs.size == (1280, 1600) and obs.origin == (1280, 0)
        blue = np.all(obs.image == (0x3A, 0x7B, 0xD5), axis=2)
        ys, xs = np.nonzero(blue)
        px, py = float(xs.mean()), float(ys.mean())  # the pad's centre in physical pixels
        assert env.to_input(px, py) == pytest.approx(center(app.rects["pad"]), abs=1)
        env.act(Click(px, py, button="right"))
    state = app.wait_for(lambda s: len(s["pad"]) >= 2)
    assert [e[:2] for e in state["pad"]] == [["press", "right"], ["release", "right"]]


def test_screen_map_round_trip():
    m = ScreenMap(left=1440.0, top=-200.0, scale=2.0)
    assert m.to_input(0, 0) == (1440.0, -200.0)
    assert m.to_input(200, 100) == (1540.0, -150.0)
    assert m.to_image(*m.to_input(317.0, 41.0)) == (317.0, 41.0)
    assert m.origin == (2880, -400)


def test_point_outside_the_image_is_an_error_not_an_exception(env, target):
    result = env.act(Click(5000, 10))
    assert not result.ok and "outside the screen image" in result.error


def test_missing_display_is_one_readable_error():
    code = (
        "from agent.envs.desktop import DesktopEnv\n"
        "from agent.errors import EnvironmentUnavailable\n"
        "try:\n    DesktopEnv()\nexcept EnvironmentUnavailable as e:\n    print('ERR', e)\n"
    )
    env = {"PATH": "/usr/bin:/bin", "HOME": "/tmp"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert out.stdout.startswith("ERR no display: DISPLAY is not set"), out.stdout + out.stderr
    assert out.stdout.count("\n") == 1


def test_bad_monitor_and_region_are_readable(xdisplay):
    with pytest.raises(EnvironmentUnavailable, match="no monitor 9"):
        DesktopEnv(monitor=9)
    with pytest.raises(EnvironmentUnavailable, match="not inside the screen"):
        DesktopEnv(region=(1200, 700, 200, 200))


def test_bgra_to_rgb_copy_and_view_agree():
    from agent.capture import bgra_to_rgb

    bgra = np.array([[[1, 2, 3, 255], [4, 5, 6, 255]]], np.uint8)  # 1×2 pixels, B G R A
    raw = bytearray(bgra.tobytes())
    copy, view = bgra_to_rgb(raw, 2, 1), bgra_to_rgb(raw, 2, 1, copy=False)
    assert copy.tolist() == [[[3, 2, 1], [6, 5, 4]]] and copy.flags.c_contiguous
    assert np.array_equal(copy, view) and np.shares_memory(view, np.frombuffer(raw, np.uint8))


def test_bench_capture_reports_its_figures(xdisplay):
    from agent.bench_capture import bench_capture

    r = bench_capture(seconds=0.05)
    assert r["screen"] == "1280x800" and r["display"].startswith("existing")
    assert r["grab"]["fps"] > 0 and r["observe"]["fps"] > 0 and r["bgra_to_rgb_ms"]["copy"] > 0
