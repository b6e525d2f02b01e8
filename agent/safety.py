"""Safety for the live desktop: limits, refusals, confirmation and an emergency stop.

`SafetyGuard` is what `agent.loop.run_episode` consults:

    should_stop() -> str | None             before each step: stop hotkey, fail-safe, step/time limits
    check(action, observation) -> str | None  before acting: a refusal reason, or None to go ahead
    confirm(action, observation) -> bool     the person's yes/no, when a confirm callback is set

A refusal is a reason string; the loop turns it into ``ActionResult(ok=False, error=reason)`` in the
trace. Nothing here raises for a refused action. Dry-run (drawing and logging instead of acting) is
done by `agent.envs.desktop.DesktopEnv`; the guard still checks every action so a dry run shows what
would have been refused.

Coordinates: actions are in observation image pixels; the allowed region is in screen pixels of the
virtual desktop, so a point is checked at ``observation.origin + (x, y)``.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from agent.errors import DeskpilotError
from agent.hotkeys import HotkeyListener, format_hotkey, parse_hotkey
from agent.types import Action, CallUser, Drag, Finished, Hotkey, Observation, TypeText, Wait, action_point

log = logging.getLogger("deskpilot.safety")

Region = tuple[int, int, int, int]  # x, y, width, height in screen pixels

#: Hotkeys that lock, log out, kill the session or close windows; refused unless allowed explicitly.
DEFAULT_BLOCKED_HOTKEYS: tuple[str, ...] = (
    "ctrl+alt+delete", "ctrl+alt+backspace", "ctrl+shift+escape", "super+l", "ctrl+alt+l", "alt+f4",
    "ctrl+alt+end", "super+r", "super+x", "ctrl+alt+shift+delete",
    *(f"ctrl+alt+f{i}" for i in range(1, 13)),
)  # fmt: skip

DEFAULT_STOP_HOTKEY = "ctrl+alt+q"


@dataclass
class SafetyConfig:
    """What the guard enforces. Defaults are on: a live run is limited unless told otherwise.

    Attributes:
        dry_run: draw and log actions instead of executing them (read by DesktopEnv).
        confirm: ``(action, observation) -> bool`` asked before every action; None = never ask.
        region: (x, y, w, h) screen pixels that pointer actions must stay inside; None = anywhere.
        window: title (an X11 regular expression, as ``xdotool search --name`` takes) of the only window
            actions may touch: pointer actions inside its rectangle, keyboard actions only while it
            has the focus. Needs xdotool.
        blocked_hotkeys: combinations refused (``"ctrl+alt+delete"``, ...).
        allowed_hotkeys: combinations allowed even though blocked.
        max_steps: actions checked before the run stops; None = no limit.
        max_seconds: wall time from ``start()`` before the run stops; None = no limit.
        min_interval: rate limit, seconds between two actions (the guard waits; 0 = none).
        stop_hotkey: the global hotkey that stops the run ("ctrl+alt+q"); None = no listener.
        failsafe: pyautogui's corner fail-safe (moving the pointer into a screen corner stops the run).
    """

    dry_run: bool = False
    confirm: Callable[[Action, Observation], bool] | None = None
    region: Region | None = None
    window: str | None = None
    blocked_hotkeys: tuple[str, ...] = DEFAULT_BLOCKED_HOTKEYS
    allowed_hotkeys: tuple[str, ...] = ()
    max_steps: int | None = 100
    max_seconds: float | None = 600.0
    min_interval: float = 0.1
    stop_hotkey: str | None = DEFAULT_STOP_HOTKEY
    failsafe: bool = True
    _blocked: frozenset[frozenset[str]] = field(init=False, repr=False, default=frozenset())

    def __post_init__(self) -> None:
        allowed = {frozenset(parse_hotkey(h)) for h in self.allowed_hotkeys}
        self._blocked = frozenset(frozenset(parse_hotkey(h)) for h in self.blocked_hotkeys) - allowed
        if self.stop_hotkey is not None:
            parse_hotkey(self.stop_hotkey)
        r = self.region
        if r is not None and (len(r) != 4 or r[2] <= 0 or r[3] <= 0):
            raise DeskpilotError(f"region must be x,y,w,h with positive width and height, got {self.region}")
        if self.max_steps is not None and self.max_steps < 1:
            raise DeskpilotError(f"max_steps must be >= 1, got {self.max_steps}")
        if self.min_interval < 0:
            raise DeskpilotError(f"min_interval must be >= 0, got {self.min_interval}")

    def is_blocked(self, keys: tuple[str, ...]) -> bool:
        return frozenset(keys) in self._blocked


def parse_region(text: str) -> Region:
    """'x,y,w,h' -> (x, y, w, h) in screen pixels; DeskpilotError naming the problem."""
    try:
        parts = tuple(int(p) for p in text.replace(" ", "").split(","))
    except ValueError:
        raise DeskpilotError(f"region must be four integers x,y,w,h, got {text!r}") from None
    # x and y may be negative: monitors left of or above the primary one have negative coordinates
    if len(parts) != 4 or parts[2] <= 0 or parts[3] <= 0:
        raise DeskpilotError(f"region must be x,y,w,h with w,h > 0, got {text!r}")
    return parts  # type: ignore[return-value]


def _inside(x: float, y: float, r: Region) -> bool:
    return r[0] <= x < r[0] + r[2] and r[1] <= y < r[1] + r[3]


def _describe(action: Action) -> str:
    if isinstance(action, Drag):
        return f"drag from ({action.x1:.0f}, {action.y1:.0f}) to ({action.x2:.0f}, {action.y2:.0f})"
    point = action_point(action)
    return f"{action.kind} at ({point[0]:.0f}, {point[1]:.0f})" if point else action.kind


class _Window:
    """Finds a window by title with xdotool and reports its rectangle and whether it has the focus."""

    def __init__(self, title: str):
        if shutil.which("xdotool") is None:
            raise DeskpilotError("restricting actions to a window needs xdotool (apt-get install xdotool)")
        self.title = title

    def _run(self, *args: str) -> str:
        out = subprocess.run(["xdotool", *args], capture_output=True, text=True, timeout=5)
        return out.stdout if out.returncode == 0 else ""

    def ids(self) -> list[str]:
        return self._run("search", "--onlyvisible", "--name", self.title).split()

    def rect(self) -> Region | None:
        ids = self.ids()
        if not ids:
            return None
        geo = dict(line.split("=", 1) for line in self._run("getwindowgeometry", "--shell", ids[0]).split())
        try:
            return (int(geo["X"]), int(geo["Y"]), int(geo["WIDTH"]), int(geo["HEIGHT"]))
        except (KeyError, ValueError):
            return None

    def focused(self) -> bool:
        return self._run("getwindowfocus").strip() in self.ids()


class SafetyGuard:
    """Enforces a `SafetyConfig` for one run. ``start()`` begins the clock and the stop-hotkey listener.

    ``trip(reason)`` stops the run from anywhere (the fail-safe, a confirm prompt's "quit", the app's
    stop button); ``stop_event`` is set whenever the run should end, so waits can wake on it.
    """

    def __init__(self, config: SafetyConfig | None = None):
        self.config = config or SafetyConfig()
        self.stop_event = threading.Event()
        self._reason: str | None = None
        self._started: float | None = None
        self._last_action: float | None = None
        self.steps = 0
        self._listener: HotkeyListener | None = None
        self._window = _Window(self.config.window) if self.config.window else None

    # ----------------------------------------------------------------------------------- lifecycle
    def start(self) -> SafetyGuard:
        """Start the clock and, when configured, the global stop-hotkey listener."""
        self._started = time.monotonic()
        if self.config.stop_hotkey and self._listener is None:
            keys = parse_hotkey(self.config.stop_hotkey)
            self._listener = HotkeyListener(
                keys, lambda: self.trip(f"stop hotkey {format_hotkey(keys)} pressed")
            )
            self._listener.start()
        return self

    def stop(self) -> None:
        """Stop the listener. Idempotent."""
        if self._listener is not None:
            self._listener.stop()
            self._listener = None

    def __enter__(self) -> SafetyGuard:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def trip(self, reason: str) -> None:
        """End the run with ``reason`` (the first reason wins). Thread-safe."""
        if self._reason is None:
            self._reason = reason
            log.warning("stopping: %s", reason)
        self.stop_event.set()

    @property
    def reason(self) -> str | None:
        return self._reason

    # ----------------------------------------------------------------------------------- the loop's API
    def should_stop(self) -> str | None:
        """A reason to end the run now, or None."""
        if self._reason is not None:
            return self._reason
        cfg = self.config
        if cfg.max_steps is not None and self.steps >= cfg.max_steps:
            return f"max steps ({cfg.max_steps}) reached"
        started = self._started
        if (
            cfg.max_seconds is not None
            and started is not None
            and time.monotonic() - started >= cfg.max_seconds
        ):
            return f"max time ({cfg.max_seconds:g} s) reached"
        return None

    def check(self, action: Action, observation: Observation) -> str | None:
        """A refusal reason for ``action``, or None. Waits to honour the rate limit."""
        if self._started is None:
            self._started = time.monotonic()
        if (why := self.should_stop()) is not None:
            return why
        self.steps += 1
        refusal = self._refusal(action, observation)
        if refusal is not None:
            log.info("refused %s: %s", action.kind, refusal)
            return refusal
        if self.config.min_interval > 0 and self._last_action is not None:
            wait = self._last_action + self.config.min_interval - time.monotonic()
            if wait > 0 and self.stop_event.wait(wait):
                return self._reason or "stopped"
        self._last_action = time.monotonic()
        return None

    def confirm(self, action: Action, observation: Observation) -> bool:
        """The person's answer; True when no confirm callback is configured, and for actions that send
        no input (wait, finished, call_user): only what touches the desktop is worth a question."""
        if self.config.confirm is None or isinstance(action, Wait | Finished | CallUser):
            return True
        return bool(self.config.confirm(action, observation))

    # ----------------------------------------------------------------------------------- rules
    def _refusal(self, action: Action, obs: Observation) -> str | None:
        cfg = self.config
        if isinstance(action, Hotkey) and cfg.is_blocked(action.keys):
            combo = format_hotkey(action.keys)
            return f"hotkey {combo} is blocked (allow it explicitly with --allow-hotkey {combo})"
        points = [(action.x1, action.y1), (action.x2, action.y2)] if isinstance(action, Drag) else []
        if not points and (p := action_point(action)) is not None:
            points = [p]
        screen = [(obs.origin[0] + x, obs.origin[1] + y) for x, y in points]
        if cfg.region is not None:
            for sx, sy in screen:
                if not _inside(sx, sy, cfg.region):
                    r = cfg.region
                    return (f"{_describe(action)} reaches screen pixel ({sx:.0f}, {sy:.0f}), outside the "
                            f"allowed region {r[0]},{r[1]},{r[2]},{r[3]}")  # fmt: skip
        if self._window is not None and (screen or isinstance(action, TypeText | Hotkey)):
            rect = self._window.rect()
            if rect is None:
                return f"the allowed window {cfg.window!r} is not on screen"
            for sx, sy in screen:
                if not _inside(sx, sy, rect):
                    return f"{_describe(action)} is outside the allowed window {cfg.window!r}"
            if not screen and not self._window.focused():
                return f"keyboard input refused: the allowed window {cfg.window!r} does not have the focus"
        return None
