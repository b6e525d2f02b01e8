"""Fixtures for the live-desktop tests: a private Xvfb and a real Qt target app in its own process.

The Xvfb screen is 1280×800, split into two RandR monitors (640×800 each, side by side), so monitor
selection and multi-monitor offsets are exercised for real: mss monitor 1 is the left half, 2 the right.
The target app reports its own widget state over a pipe (see target_app.py); tests assert on that.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from agent.xvfb import Xvfb

HERE = Path(__file__).parent
SCREEN = (1280, 800)
MONITORS = [(0, 0, 640, 800), (640, 0, 640, 800)]


def _split_monitors(display: str) -> None:
    """Declare two RandR 1.5 monitors on the display (what `xrandr --setmonitor` does)."""
    from Xlib import display as xdisplay
    from Xlib.protocol import rq

    # python-xlib 0.33's own set_monitor request packs its struct wrongly; this is the same request inline
    class SetMonitor(rq.Request):
        _request = rq.Struct(
            rq.Card8("opcode"), rq.Opcode(43), rq.RequestLength(), rq.Window("window"),
            rq.Card32("name"), rq.Bool("primary"), rq.Bool("automatic"), rq.LengthOf("crtcs", 2),
            rq.Int16("x"), rq.Int16("y"), rq.Card16("width_in_pixels"), rq.Card16("height_in_pixels"),
            rq.Card32("width_in_millimeters"), rq.Card32("height_in_millimeters"),
            rq.List("crtcs", rq.Card32Obj),
        )  # fmt: skip

    d = xdisplay.Display(display)
    try:
        opcode = d.query_extension("RANDR").major_opcode
        for i, (x, y, w, h) in enumerate(MONITORS):
            SetMonitor(display=d.display, opcode=opcode, window=d.screen().root,
                       name=d.intern_atom(f"TEST-{i}"), primary=i == 0, automatic=False, x=x, y=y,
                       width_in_pixels=w, height_in_pixels=h, width_in_millimeters=w // 4,
                       height_in_millimeters=h // 4, crtcs=[])  # fmt: skip
        d.sync()
    finally:
        d.close()


@pytest.fixture(scope="session")
def xdisplay() -> Iterator[str]:
    """A private Xvfb; DISPLAY points at it for the session (pyautogui binds to it on first import)."""
    old = os.environ.get("DISPLAY")
    with Xvfb(*SCREEN) as server:
        _split_monitors(server.display)
        os.environ["DISPLAY"] = server.display
        try:
            yield server.display
        finally:
            # stopped pynput listeners exit at their next key event: send one before the server goes,
            # so their threads end cleanly instead of finding the display gone
            subprocess.run(["xdotool", "key", "shift"], check=False, timeout=10)
            time.sleep(0.2)
            if old is None:
                os.environ.pop("DISPLAY", None)
            else:
                os.environ["DISPLAY"] = old


def xdotool(*args: str) -> None:
    subprocess.run(["xdotool", *args], check=True, timeout=10)


def center(rect: list[int]) -> tuple[int, int]:
    x, y, w, h = rect
    return (x + w // 2, y + h // 2)


class TargetApp:
    """The Qt target in its own process. ``state()`` asks it for its widgets' state."""

    def __init__(self, display: str, x: int = 60, y: int = 60):
        env = {**os.environ, "DISPLAY": display, "QT_QPA_PLATFORM": "xcb"}
        self.proc = subprocess.Popen(
            [sys.executable, str(HERE / "target_app.py"), "--x", str(x), "--y", str(y)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env,
        )  # fmt: skip
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("the target app exited before it was ready")
        self.ready = json.loads(line)
        self.rects: dict[str, list[int]] = self.ready["rects"]

    def center(self, name: str) -> tuple[int, int]:
        """The centre of widget ``name`` in screen pixels."""
        return center(self.rects[name])

    def _ask(self, cmd: str) -> dict:
        self.proc.stdin.write(cmd + "\n")
        self.proc.stdin.flush()
        return json.loads(self.proc.stdout.readline())

    def state(self) -> dict:
        return self._ask("state")

    def reset(self) -> dict:
        return self._ask("reset")

    def wait_for(self, predicate: Callable[[dict], bool], timeout: float = 5.0) -> dict:
        """Poll the app's state until ``predicate`` holds; returns the last state either way, so the
        test's own assertion reports what the app ended up with."""
        deadline = time.monotonic() + timeout
        while True:
            state = self.state()
            if predicate(state) or time.monotonic() > deadline:
                return state
            time.sleep(0.02)

    def settle(self) -> dict:
        """Wait until two state reads 100 ms apart agree (the app has processed its input)."""
        prev = self.state()
        for _ in range(50):
            time.sleep(0.1)
            cur = self.state()
            if cur == prev:
                return cur
            prev = cur
        return prev

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self.proc.stdin.write("quit\n")
                self.proc.stdin.flush()
                self.proc.wait(5)
            except (BrokenPipeError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()


@pytest.fixture
def start_target(xdisplay: str) -> Iterator[Callable[..., TargetApp]]:
    """Factory: start a fresh target app (closed after the test)."""
    apps: list[TargetApp] = []

    def start(x: int = 60, y: int = 60) -> TargetApp:
        app = TargetApp(xdisplay, x, y)
        apps.append(app)
        return app

    yield start
    for app in apps:
        app.close()


@pytest.fixture(scope="module")
def _shared_target(xdisplay: str) -> Iterator[TargetApp]:
    app = TargetApp(xdisplay)
    yield app
    app.close()


@pytest.fixture
def target(_shared_target: TargetApp) -> TargetApp:
    """One target app per module, reset before each test (starting Qt per test costs ~1 s)."""
    xdotool("mousemove", "320", "500")  # a neutral spot: not a corner, not on a widget
    _shared_target.reset()
    return _shared_target
