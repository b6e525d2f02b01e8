"""Safety on the live desktop: dry-run, refusals, confirmation, limits, the stop hotkey and the fail-safe.

The loop is the real `agent.loop.run_episode`, the screen is a real Xvfb, the target a real Qt app.
"""

from __future__ import annotations

import subprocess
import threading

import numpy as np
import pytest

from agent.envs.desktop import FAILSAFE_MESSAGE, DesktopEnv
from agent.errors import DeskpilotError
from agent.loop import run_episode
from agent.safety import SafetyConfig, SafetyGuard, parse_region
from agent.trace import TraceWriter, read_trace
from agent.types import Click, Drag, Element, Finished, Hotkey, Move, Observation, Scroll, TypeText, Wait
from policies.base import Decision, Policy


class Script(Policy):
    """Plays a fixed list of actions, then repeats ``then`` forever (or finishes)."""

    name = "script"

    def __init__(self, actions, then=None):
        self.actions, self.then, self.i = list(actions), then, 0

    def act(self, observation: Observation, elements: list[Element]) -> Decision:
        self.i += 1
        if self.i <= len(self.actions):
            return Decision(self.actions[self.i - 1])
        return Decision(self.then(self.i) if self.then else Finished())


def pointer() -> tuple[int, int]:
    out = subprocess.run(
        ["xdotool", "getmouselocation", "--shell"], capture_output=True, text=True, check=True
    )
    vals = dict(line.split("=") for line in out.stdout.split())
    return int(vals["X"]), int(vals["Y"])


def blank(origin=(0, 0)) -> Observation:
    return Observation(np.zeros((800, 640, 3), np.uint8), origin=origin)


# ------------------------------------------------------------------------------------------ pure rules
def test_blocked_hotkeys_and_allowlist():
    guard = SafetyGuard(SafetyConfig(stop_hotkey=None, min_interval=0))
    obs = blank()
    for keys in (("ctrl", "alt", "delete"), ("super", "l"), ("alt", "f4"), ("alt", "ctrl", "f2")):
        why = guard.check(Hotkey(keys), obs)
        assert why is not None and "is blocked" in why
    assert guard.check(Hotkey(("ctrl", "c")), obs) is None
    allowed = SafetyGuard(SafetyConfig(stop_hotkey=None, min_interval=0, allowed_hotkeys=("Alt+F4",)))
    assert allowed.check(Hotkey(("alt", "f4")), obs) is None
    assert allowed.check(Hotkey(("super", "l")), obs) is not None


def test_region_uses_the_observation_origin():
    guard = SafetyGuard(SafetyConfig(stop_hotkey=None, min_interval=0, region=(700, 100, 200, 200)))
    on_monitor_2 = blank(origin=(640, 0))
    assert guard.check(Click(100, 150), on_monitor_2) is None  # screen (740, 150)
    why = guard.check(Click(10, 150), on_monitor_2)  # screen (650, 150)
    assert "(650, 150), outside the allowed region 700,100,200,200" in why
    # a drag must stay inside at both ends; typing has no point and passes
    assert guard.check(Drag(100, 150, 400, 150), on_monitor_2) is not None
    assert guard.check(TypeText("hi"), on_monitor_2) is None


def test_limits_end_the_run():
    guard = SafetyGuard(SafetyConfig(stop_hotkey=None, min_interval=0, max_steps=2))
    obs = blank()
    assert guard.should_stop() is None
    guard.check(Wait(0), obs)
    guard.check(Wait(0), obs)
    assert guard.should_stop() == "max steps (2) reached"
    assert guard.check(Wait(0), obs) == "max steps (2) reached"


def test_rate_limit_wait_wakes_on_stop():
    guard = SafetyGuard(SafetyConfig(stop_hotkey=None, min_interval=60))
    obs = blank()
    assert guard.check(Wait(0), obs) is None
    threading.Timer(0.2, guard.trip, args=("stopped by test",)).start()
    assert guard.check(Wait(0), obs) == "stopped by test"  # instead of waiting a minute


def test_bad_settings_are_readable_errors():
    with pytest.raises(DeskpilotError, match="four integers"):
        parse_region("1,2,three,4")
    with pytest.raises(DeskpilotError, match="w,h > 0"):
        parse_region("0,0,0,10")
    assert parse_region("-1920, 0, 800, 600") == (-1920, 0, 800, 600)  # a monitor left of the primary
    with pytest.raises(DeskpilotError, match="unknown key name"):
        SafetyConfig(stop_hotkey="ctrl+hyper+q")


# ------------------------------------------------------------------------------------------ live
def test_dry_run_moves_nothing(xdisplay, target, tmp_path):
    subprocess.run(["xdotool", "mousemove", "330", "520"], check=True)
    guard = SafetyGuard(SafetyConfig(dry_run=True, stop_hotkey=None, min_interval=0))
    actions = [
        Click(*target.center("button")), Click(*target.center("check"), count=2),
        Drag(*target.center("slider"), 300, 330), Scroll(*target.center("list"), "down", 10),
        Click(*target.center("edit")), TypeText("should not appear"), Hotkey(("ctrl", "k")), Finished(),
    ]  # fmt: skip
    with DesktopEnv(guard=guard, settle=0, annotate_dir=tmp_path / "drawn") as env:
        result = run_episode(env, Script(actions), "dry", guard=guard)
    assert [s.result.ok for s in result.steps] == [True] * len(actions)
    assert all(s.result.info.get("dry_run") for s in result.steps[:-1])
    assert pointer() == (330, 520)
    state = target.settle()
    assert (state["clicks"], state["checked"], state["slider"], state["scroll"], state["text"]) == (
        0,
        False,
        0,
        0,
        "",
    )
    assert state["shortcuts"] == {"ctrl+k": 0, "ctrl+shift+l": 0} and state["pad"] == []
    # each action was drawn instead: a red ring around the button's centre in the first picture
    from PIL import Image

    drawn = sorted((tmp_path / "drawn").glob("*.png"))
    assert len(drawn) == len(actions) - 1
    img = np.asarray(Image.open(drawn[0]))
    bx, by = target.center("button")
    ring = img[by - 13 : by + 14, bx - 13 : bx + 14].reshape(-1, 3)
    assert ((ring[:, 0] > 200) & (ring[:, 1] < 60)).sum() > 20


def test_refusals_are_data_in_the_trace(xdisplay, target, tmp_path):
    x, y, w, h = target.ready["window"]
    guard = SafetyGuard(SafetyConfig(region=(x, y, w, h), stop_hotkey=None, min_interval=0))
    actions = [
        Click(*target.center("button")),  # inside: done
        Click(x + w + 20, y + 10),  # outside the region: refused
        Hotkey(("alt", "f4")),  # blocked: refused (it would close the target)
        Click(*target.center("check")),  # inside: done
        Finished(),
    ]
    with DesktopEnv(guard=guard, settle=0) as env, guard:
        writer = TraceWriter(
            tmp_path / "t", task="refusals", target="desktop", env_info=env.info(), policy="script"
        )
        result = run_episode(env, Script(actions), "refusals", guard=guard, trace=writer)
    assert result.reason == "finished"
    trace = read_trace(tmp_path / "t")
    oks = [s.result.ok for s in trace.steps]
    assert oks == [True, False, False, True, True]
    assert "outside the allowed region" in trace.steps[1].result.error
    assert trace.steps[2].result.error.startswith("hotkey alt+f4 is blocked")
    assert trace.steps[1].result.info.get("refused") is True
    state = target.wait_for(lambda s: s["checked"])
    assert state["clicks"] == 1 and state["checked"] is True


def test_confirm_callback_decides(xdisplay, target):
    asked = []

    def confirm(action, obs):
        asked.append(action)
        return action.x != target.center("button")[0]  # say no to the button

    guard = SafetyGuard(SafetyConfig(confirm=confirm, stop_hotkey=None, min_interval=0))
    actions = [Click(*target.center("button")), Click(*target.center("check"))]
    with DesktopEnv(guard=guard, settle=0) as env:
        result = run_episode(env, Script(actions), "confirm", guard=guard)
    assert asked == actions  # both clicks; Finished sends no input and is not asked about
    assert result.steps[0].result.error == "not confirmed by the user"
    state = target.wait_for(lambda s: s["checked"])
    assert state["clicks"] == 0 and state["checked"] is True


def test_window_restriction(xdisplay, target):
    guard = SafetyGuard(SafetyConfig(window="^deskpilot target$", stop_hotkey=None, min_interval=0))
    x, y, w, _h = target.ready["window"]
    obs = blank()
    assert guard.check(Click(*target.center("button")), obs) is None
    assert "outside the allowed window" in guard.check(Click(x + w + 5, y + 5), obs)
    subprocess.run(["xdotool", "mousemove", *map(str, target.center("edit")), "click", "1"], check=True)
    target.wait_for(lambda s: s["focus"] == "edit")
    assert guard.check(TypeText("ok"), obs) is None
    missing = SafetyGuard(SafetyConfig(window="^no such window$", stop_hotkey=None, min_interval=0))
    assert "is not on screen" in missing.check(Click(10, 10), obs)


def test_stop_hotkey_halts_a_running_loop_within_one_step(xdisplay, target):
    guard = SafetyGuard(SafetyConfig(stop_hotkey="ctrl+alt+q", min_interval=0, max_steps=None))
    seen: list[int] = []
    at_stop: list[int] = []

    def on_step(step):
        seen.append(step.index)
        if step.index == 2:
            # a person presses the stop hotkey while the agent keeps moving the pointer around
            threading.Thread(target=subprocess.run, args=(["xdotool", "key", "ctrl+alt+q"],)).start()

    def watch():
        if guard.stop_event.wait(20):
            at_stop.append(len(seen))

    def wander(i):
        return Move(100 + 10 * (i % 20), 500)

    with DesktopEnv(guard=guard, settle=0.02) as env, guard:
        watcher = threading.Thread(target=watch)
        watcher.start()
        result = run_episode(
            env, Script([], then=wander), "stop", guard=guard, max_steps=10_000, on_step=on_step
        )
        watcher.join()
    assert result.reason == "stop hotkey ctrl+alt+q pressed"
    assert at_stop, "the hotkey never reached the listener"
    assert len(result.steps) <= at_stop[0] + 1


def test_fail_safe_stops_the_loop(xdisplay, target):
    guard = SafetyGuard(SafetyConfig(stop_hotkey=None, min_interval=0, max_steps=None))

    def on_step(step):
        if step.index == 1:
            subprocess.run(["xdotool", "mousemove", "0", "0"], check=True)  # the person slams into a corner

    policy = Script([], then=lambda i: Click(*target.center("pad")))
    try:
        with DesktopEnv(guard=guard, settle=0) as env:
            result = run_episode(env, policy, "failsafe", guard=guard, max_steps=50, on_step=on_step)
    finally:
        subprocess.run(["xdotool", "mousemove", "320", "500"], check=True)
    assert result.reason == FAILSAFE_MESSAGE
    assert len(result.steps) == 3 and result.steps[2].result.error == FAILSAFE_MESSAGE
    state = target.settle()
    assert [e[0] for e in state["pad"]].count("press") == 2  # steps 0 and 1 clicked; step 2 did not
