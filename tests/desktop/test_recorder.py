"""The recorder: event merging as a pure state machine, then for real with xdotool playing the person,
and the recording replayed on a fresh target app."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from agent.envs.desktop import DesktopEnv
from agent.loop import run_episode
from agent.recorder import ActionMerger, InputEvent
from agent.trace import read_trace
from agent.types import REDACTED, Click, Drag, Hotkey, Scroll, TypeText
from policies import make_policy

ROOT = Path(__file__).resolve().parents[2]


# ------------------------------------------------------------------------------------------ merging
class Feed:
    """Feeds events at increasing times; each event's frame is a label, to check which frame an action keeps."""

    def __init__(self, **kw):
        self.m = ActionMerger((640, 800), **kw)
        self.t = 100.0
        self.out = []

    def __call__(self, kind, dt=0.05, **kw):
        self.t += dt
        frame = f"f{self.t:.2f}" if kind in ("down", "scroll", "key_down") else None
        self.out += self.m.feed(InputEvent(kind, self.t, frame=frame, **kw))  # type: ignore[arg-type]
        self.out += self.m.poll(self.t)

    def keys(self, text):
        for ch in text:
            self("key_down", key=ch.lower() if ch.isalnum() else None, char=ch)
            self("key_up", key=ch.lower() if ch.isalnum() else None, char=ch)

    def idle(self, seconds=3.0):
        self.t += seconds
        self.out += self.m.poll(self.t)

    def actions(self):
        return [r.action for r in self.out]


def click(f, x, y, button="left", dt=0.05):
    f("down", dt=dt, x=x, y=y, button=button)
    f("up", x=x, y=y, button=button)


def test_clicks_single_double_triple_right():
    f = Feed()
    click(f, 10, 10)
    f.idle()
    click(f, 50, 50)
    click(f, 51, 50, dt=0.1)  # within slop and the double-click time: one double click
    f.idle()
    for _ in range(3):
        click(f, 80, 80)
    click(f, 80, 80, button="right")
    f.idle()
    assert f.actions() == [
        Click(10, 10),
        Click(50, 50, count=2),
        Click(80, 80, count=3),
        Click(80, 80, "right"),
    ]


def test_slow_second_click_is_a_new_click():
    f = Feed()
    click(f, 10, 10)
    click(f, 10, 10, dt=0.6)
    f.idle()
    assert f.actions() == [Click(10, 10), Click(10, 10)]


def test_drag_keeps_the_press_frame():
    f = Feed()
    f("down", x=100, y=100, button="left")
    press_frame = f"f{f.t:.2f}"
    for i in range(1, 6):
        f("move", x=100 + 20 * i, y=100)
    f("up", x=200, y=110, button="left")
    assert f.actions() == [Drag(100, 100, 200, 110)]
    assert f.out[0].frame == press_frame


def test_wheel_notches_merge_per_direction():
    f = Feed()
    for _ in range(3):
        f("scroll", x=300, y=300, dy=-1)
    f("scroll", x=300, y=300, dy=1)
    f("scroll", x=300, y=300, dx=1)
    f.idle()
    assert f.actions() == [
        Scroll(300, 300, "down", 3),
        Scroll(300, 300, "up", 1),
        Scroll(300, 300, "right", 1),
    ]


def test_typing_runs_backspace_enter_and_hotkeys():
    f = Feed()
    f("key_down", key="shift")
    f.keys("H")
    f("key_up", key="shift")
    f.keys("ello wo")
    f("key_down", key="backspace")
    f("key_up", key="backspace")
    f.keys("orld é")
    f("key_down", key="enter")
    f("key_up", key="enter")
    f("key_down", key="ctrl")
    f("key_down", key="s", char="s")
    f("key_up", key="s", char="s")
    f("key_up", key="ctrl")
    f("key_down", key="tab")
    f.keys("x")
    f.idle()
    assert f.actions() == [
        TypeText("Hello world é\n"),
        Hotkey(("ctrl", "s")),
        Hotkey(("tab",)),
        TypeText("x"),
    ]


def test_alone_modifiers_stop_and_secret_hotkeys():
    f = Feed()
    f("key_down", key="alt")
    f("key_up", key="alt")
    f("key_down", key="ctrl")
    f("key_up", key="ctrl")  # ctrl alone does nothing
    f("key_down", key="ctrl")
    f("key_down", key="alt")
    f("key_down", key="p", char="p")  # secret hotkey: the next run is secret, and it is not recorded
    f("key_up", key="alt")
    f("key_up", key="ctrl")
    f.keys("hunter2")
    f("key_down", key="ctrl")
    f("key_down", key="alt")
    f("key_down", key="q", char="q")  # stop hotkey: finishes the run, not recorded itself
    f.keys("ignored")
    assert f.actions() == [Hotkey(("alt",)), TypeText("hunter2", secret=True)]
    assert f.m.stopped


def test_pointer_actions_off_the_image_are_dropped():
    f = Feed()
    click(f, 700, 10)  # the recorded monitor is 640 wide
    f.idle()
    assert f.actions() == [] and f.m.dropped == 1


# ------------------------------------------------------------------------------------------ live
def start_recorder(out: Path, *extra: str) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-m", "agent.commands.live", "record", "--out", str(out), "--task", "demo", *extra],
        cwd=ROOT, stderr=subprocess.PIPE, text=True, env={**os.environ},
    )  # fmt: skip
    line = proc.stderr.readline()
    assert line.startswith("recording to"), line + proc.stderr.read()
    return proc


def xdo(*args: str, pause: float = 0.3) -> None:
    subprocess.run(["xdotool", *args], check=True, timeout=10)
    time.sleep(pause)  # a person is slower than xdotool; also lets the click/scroll windows close


def _end_state(s: dict) -> dict:
    return {k: s[k] for k in ("clicks", "checked", "text", "submitted", "slider", "scroll", "shortcuts")} | {
        "pad": [e[:2] for e in s["pad"]]
    }


def test_record_a_demonstration_then_replay_it(xdisplay, start_target, tmp_path):
    app = start_target()
    out = tmp_path / "demo"
    proc = start_recorder(out)
    cx, cy = app.center("check")
    xdo("mousemove", str(cx), str(cy), "click", "1", pause=0.6)
    px, py = app.center("pad")
    xdo("mousemove", str(px), str(py), "click", "--repeat", "2", "--delay", "60", "1", pause=0.6)
    xdo("click", "3", pause=0.6)
    ex, ey = app.center("edit")
    xdo("mousemove", str(ex), str(ey), "click", "1")
    xdo("type", "--delay", "20", "hello wo")
    xdo("key", "BackSpace")
    xdo("type", "--delay", "20", "orld")
    xdo("key", "Return")
    sx, sy, _sw, sh = app.rects["slider"]
    xdo("mousemove", str(sx + 5), str(sy + sh // 2), "mousedown", "1", pause=0.05)
    for i in range(1, 9):
        xdo("mousemove", str(sx + 5 + 20 * i), str(sy + sh // 2), pause=0.02)
    xdo("mouseup", "1")
    lx, ly = app.center("list")
    xdo("mousemove", str(lx), str(ly), "click", "--repeat", "3", "--delay", "30", "5", pause=0.8)
    xdo("key", "ctrl+k")
    xdo("key", "ctrl+alt+q", pause=0)
    proc.wait(30)
    assert proc.returncode == 0, proc.stderr.read()

    trace = read_trace(out)
    assert trace.meta["summary"]["reason"] == "stop hotkey"
    assert [s.action for s in trace.steps] == [
        Click(cx, cy),
        Click(px, py, count=2),
        Click(px, py, "right"),
        Click(ex, ey),
        TypeText("hello world\n"),
        Drag(sx + 5, sy + sh // 2, sx + 5 + 160, sy + sh // 2),
        Scroll(lx, ly, "down", 3),
        Hotkey(("ctrl", "k")),
    ]
    recorded_end = _end_state(app.settle())
    assert recorded_end["checked"] and recorded_end["text"] == "hello world" and recorded_end["slider"] > 0

    # each frame shows the screen before its action: unchecked box on the first, checked on the second
    x, y, _w, h = app.rects["check"]
    box = [trace.load_frame(s)[y : y + h, x : x + 24] for s in trace.steps[:2]]
    assert not np.array_equal(box[0], box[1])
    ex0, ey0, ew, eh = app.rects["edit"]
    edit_before_typing = trace.load_frame(trace.steps[4])[ey0 : ey0 + eh, ex0 : ex0 + ew]
    edit_after = trace.load_frame(trace.steps[7])[ey0 : ey0 + eh, ex0 : ex0 + ew]
    assert not np.array_equal(edit_before_typing, edit_after)

    # replay on a fresh app at the same place: the same end state
    app.close()
    fresh = start_target()
    with DesktopEnv(monitor=1, settle=0.05) as env:
        result = run_episode(
            env, make_policy("recorded", steps=trace.steps), "demo", max_steps=len(trace.steps) + 1
        )
    assert all(s.result.ok for s in result.steps)
    assert _end_state(fresh.settle()) == recorded_end


def test_ctrl_c_keeps_every_step_and_secret_text_is_redacted(xdisplay, start_target, tmp_path):
    app = start_target()
    out = tmp_path / "secret"
    proc = start_recorder(out)
    xdo("mousemove", *map(str, app.center("password")), "click", "1")
    xdo("key", "ctrl+alt+p")  # "the next thing I type is a password"
    xdo("type", "--delay", "20", "s3cret!")
    # Ctrl+C while the typed run is still open: it must be written, not lost
    proc.send_signal(signal.SIGINT)
    proc.wait(30)
    assert proc.returncode == 0, proc.stderr.read()
    trace = read_trace(out)
    assert trace.meta["summary"]["reason"] == "interrupted (Ctrl+C)"
    assert [type(s.action) for s in trace.steps] == [Click, TypeText]
    typed = trace.steps[1].action
    assert typed.secret and typed.text == REDACTED
    assert "s3cret" not in (out / "steps.jsonl").read_text()
    assert app.state()["password"] == "s3cret!"  # it really was typed


def test_pynput_keys_get_canonical_names(xdisplay):
    from pynput.keyboard import Key, KeyCode

    from agent.hotkeys import key_name

    assert key_name(Key.ctrl_r) == ("ctrl", None)
    assert key_name(Key.cmd) == ("super", None)
    assert key_name(Key.page_down) == ("pagedown", None)
    assert key_name(Key.space) == ("space", " ")
    assert key_name(Key.alt_gr) == (None, None)
    assert key_name(KeyCode.from_char("B")) == ("b", "B")
    assert key_name(KeyCode.from_char("\x11")) == ("q", "q")  # ctrl+q as Windows reports it
    assert key_name(KeyCode.from_char("é")) == (None, "é")
