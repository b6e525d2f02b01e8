"""The live desktop: mss screenshots in, pyautogui (and pynput for Unicode text) input out.

Coordinates in actions are pixels of the observation image; `agent.capture.ScreenMap.to_input` is the
only conversion to the points pyautogui takes (origin offset for a monitor or region, and HiDPI scale).

``import pyautogui`` opens the display at import time, so it is imported on first use, after
`require_display` has checked there is one. Every failure while acting (pyautogui's corner fail-safe,
an X error, an unmappable key) comes back as ``ActionResult(ok=False, error=...)``.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from agent.capture import Region, ScreenCapture, ScreenMap, require_display
from agent.envs.base import Environment
from agent.errors import EnvironmentUnavailable
from agent.types import (
    Action,
    ActionResult,
    CallUser,
    Click,
    Drag,
    Finished,
    Hotkey,
    Move,
    Observation,
    Scroll,
    Task,
    TypeText,
    Wait,
    action_point,
)

if TYPE_CHECKING:
    from agent.safety import SafetyGuard

log = logging.getLogger("deskpilot.desktop")

# canonical key name -> pyautogui's name, where they differ
_PYAUTOGUI_KEYS = {"super": "command" if sys.platform == "darwin" else "win", "menu": "apps"}
# canonical key name -> X keysym name, for keys a keyboard layout may lack (Xvfb's has no F13 or media keys)
_X11_KEYSYMS = {
    **{f"f{i}": f"F{i}" for i in range(1, 25)}, "menu": "Menu", "super": "Super_L",
    "volumeup": "XF86_AudioRaiseVolume", "volumedown": "XF86_AudioLowerVolume", "volumemute": "XF86_AudioMute",
    "playpause": "XF86_AudioPlay", "nexttrack": "XF86_AudioNext", "prevtrack": "XF86_AudioPrev",
    "printscreen": "Print", "pause": "Pause", "scrolllock": "Scroll_Lock", "numlock": "Num_Lock",
    "capslock": "Caps_Lock",
}  # fmt: skip

FAILSAFE_MESSAGE = "fail-safe: the pointer is in a screen corner, so the run was stopped"


def _pyautogui() -> Any:
    require_display()
    import pyautogui

    # pyautogui opens its X connection once, at import: refuse to send input to some other display
    xdisplay = getattr(pyautogui.platformModule, "_display", None)
    if xdisplay is not None and xdisplay.get_display_name() != os.environ.get("DISPLAY"):
        raise EnvironmentUnavailable(
            f"pyautogui is bound to display {xdisplay.get_display_name()} but DISPLAY is now "
            f"{os.environ.get('DISPLAY')}; start deskpilot with the display it should control"
        )
    return pyautogui


class DesktopEnv(Environment):
    """The screen you are looking at.

    Args:
        monitor: mss monitor index (0 = all monitors as one image, 1 = the first, ...).
        region: (x, y, w, h) screen pixels to capture instead of the whole monitor.
        guard: the run's SafetyGuard: its config supplies dry_run and failsafe, the fail-safe trips it,
            and waits wake on its stop event.
        dry_run / failsafe: override the guard's config (defaults: False / True without a guard).
        settle: seconds to wait after an action so the next screenshot shows its effect.
        drag_steps: intermediate pointer positions in a drag (toolkits start a drag only after motion).
        step_pause: seconds between the low-level events of a drag.
        double_click_interval: seconds; a Click on the spot of the previous one waits this long after
            it, so two single clicks never merge into a double click (Qt/GTK use 0.4 s, Windows 0.5 s).
        annotate_dir: in dry-run, where to save each frame with the action drawn on it.
        capture: a grabber with ``grab() -> Frame``, ``map``, ``info()`` (tests use a scaled one).
    """

    name = "desktop"

    def __init__(
        self,
        monitor: int = 1,
        region: Region | None = None,
        *,
        guard: SafetyGuard | None = None,
        dry_run: bool | None = None,
        failsafe: bool | None = None,
        settle: float = 0.05,
        drag_steps: int = 8,
        step_pause: float = 0.01,
        double_click_interval: float = 0.5,
        annotate_dir: str | Path | None = None,
        capture: Any | None = None,
    ):
        require_display()
        self.capture = capture if capture is not None else ScreenCapture(monitor, region)
        self.guard = guard
        cfg = guard.config if guard is not None else None
        self.dry_run = dry_run if dry_run is not None else (cfg.dry_run if cfg else False)
        self.failsafe = failsafe if failsafe is not None else (cfg.failsafe if cfg else True)
        self.settle = settle
        self.drag_steps = max(1, drag_steps)
        self.step_pause = step_pause
        self.annotate_dir = Path(annotate_dir) if annotate_dir is not None else None
        self._stop = guard.stop_event if guard is not None else threading.Event()
        self._last: Observation | None = None
        self._count = 0
        self._keyboard: Any = None  # pynput Controller, created on first Unicode text
        self._gui: Any = None
        self.double_click_interval = double_click_interval
        self._last_click: tuple[float, int, int, str] | None = None

    # ----------------------------------------------------------------------------------- observing
    @property
    def map(self) -> ScreenMap:
        return self.capture.map

    def reset(self, task: Task | None = None) -> Observation:
        return self.observe()

    def observe(self) -> Observation:
        frame = self.capture.grab()
        m = frame.map
        obs = Observation(frame.rgb(), scale=m.scale, origin=m.origin, timestamp=frame.t_start,
                          info={"monitor": getattr(self.capture, "monitor", None)})  # fmt: skip
        self._last = obs
        return obs

    def info(self) -> dict[str, Any]:
        return {**self.capture.info(), "dry_run": self.dry_run, "platform": sys.platform}

    # ----------------------------------------------------------------------------------- acting
    def _input(self) -> Any:
        if self._gui is None:
            gui = _pyautogui()
            gui.PAUSE = 0  # we pause where it matters (drag steps, settle), not after every call
            gui.MINIMUM_DURATION = 0
            self._gui = gui
        self._gui.FAILSAFE = self.failsafe
        return self._gui

    def to_input(self, x: float, y: float) -> tuple[int, int]:
        """Image pixel -> integer input point (the one conversion; see ScreenMap)."""
        px, py = self.map.to_input(x, y)
        return (round(px), round(py))

    def act(self, action: Action) -> ActionResult:
        t0 = time.perf_counter()
        try:
            result = self._act(action)
        except Exception as exc:
            gui = self._gui
            if gui is not None and isinstance(exc, gui.FailSafeException):
                if self.guard is not None:
                    self.guard.trip(FAILSAFE_MESSAGE)
                result = ActionResult.failed(FAILSAFE_MESSAGE, failsafe=True)
            else:
                result = ActionResult.failed(f"{action.kind} failed: {type(exc).__name__}: {exc}")
        result.duration = time.perf_counter() - t0
        self._count += 1
        return result

    def _check_bounds(self, action: Action) -> str | None:
        w, h = self._size()
        pts = [(action.x1, action.y1), (action.x2, action.y2)] if isinstance(action, Drag) else []
        if not pts and (p := action_point(action)) is not None:
            pts = [p]
        for x, y in pts:
            if not (0 <= x < w and 0 <= y < h):
                return f"{action.kind} at ({x:.0f}, {y:.0f}) is outside the screen image ({w}×{h})"
        return None

    def _size(self) -> tuple[int, int]:
        if self._last is not None:
            return self._last.size
        return self.capture.size

    def _act(self, action: Action) -> ActionResult:
        if isinstance(action, Finished | CallUser):
            return ActionResult()
        if isinstance(action, Wait):
            self._stop.wait(action.seconds)
            return ActionResult()
        if (why := self._check_bounds(action)) is not None:
            return ActionResult.failed(why)
        gui = self._input()
        if self.failsafe:
            gui.failSafeCheck()  # before anything, in dry-run too: a person in a corner means stop
        if self.dry_run:
            return self._pretend(action)
        if isinstance(action, Click):
            x, y = self.to_input(action.x, action.y)
            self._separate_click(x, y, action.button)
            self._click(gui, x, y, action.button, action.count)
            self._last_click = (time.monotonic(), x, y, action.button)
        elif isinstance(action, Move):
            gui.moveTo(*self.to_input(action.x, action.y))
        elif isinstance(action, Drag):
            self._drag(gui, action)
        elif isinstance(action, Scroll):
            x, y = self.to_input(action.x, action.y)
            gui.moveTo(x, y)
            if action.direction in ("up", "down"):
                gui.scroll(action.amount if action.direction == "up" else -action.amount, x, y)
            else:
                gui.hscroll(action.amount if action.direction == "right" else -action.amount, x, y)
        elif isinstance(action, TypeText):
            self._type(gui, action.text)
        elif isinstance(action, Hotkey) and (why := self._hotkey(gui, action.keys)) is not None:
            return ActionResult.failed(why)
        if self.settle > 0:
            time.sleep(self.settle)
        return ActionResult()

    def _click(self, gui: Any, x: int, y: int, button: str, count: int) -> None:
        """Click ``count`` times. On X11 all presses and releases go to the server in one flush, each
        after a server-side delay of 10 ms: the server's timestamps are then 10 ms apart however busy
        this process is (with pyautogui's round trip per event a loaded machine can stretch a double
        click past the toolkit's interval; with no delay at all Qt does not see a double click)."""
        xdisplay = getattr(gui.platformModule, "_display", None)
        if count == 1 or xdisplay is None:
            gui.click(x, y, clicks=count, interval=0.0, button=button)
            return
        from Xlib import X
        from Xlib.ext import xtest

        gui.moveTo(x, y)
        code = {"left": 1, "middle": 2, "right": 3}[button]
        for i in range(count):
            xtest.fake_input(xdisplay, X.ButtonPress, code, time=10 if i else 0)
            xtest.fake_input(xdisplay, X.ButtonRelease, code, time=10)
        xdisplay.sync()

    def _separate_click(self, x: int, y: int, button: str) -> None:
        """Two Click actions on the same spot are two single clicks: wait out the toolkit's
        double-click interval so the second press is not read as part of a double click."""
        if self._last_click is None:
            return
        t, lx, ly, lbutton = self._last_click
        wait = t + self.double_click_interval - time.monotonic()
        if wait > 0 and lbutton == button and abs(x - lx) <= 8 and abs(y - ly) <= 8:
            self._stop.wait(wait)

    def _drag(self, gui: Any, action: Drag) -> None:
        x1, y1 = self.to_input(action.x1, action.y1)
        x2, y2 = self.to_input(action.x2, action.y2)
        gui.moveTo(x1, y1)
        gui.mouseDown(x1, y1, button="left")
        try:
            for i in range(1, self.drag_steps + 1):
                time.sleep(self.step_pause)
                gui.moveTo(
                    round(x1 + (x2 - x1) * i / self.drag_steps), round(y1 + (y2 - y1) * i / self.drag_steps)
                )
            time.sleep(self.step_pause)
        finally:  # never leave the button held down, even when the fail-safe fires mid-drag
            gui.FAILSAFE = False
            gui.mouseUp(button="left")
            gui.FAILSAFE = self.failsafe

    def _type(self, gui: Any, text: str) -> None:
        if text.isascii():
            # pyautogui maps ASCII to keycodes of the current layout ('\n' -> enter, '\t' -> tab)
            gui.write(text, interval=0.0)
            return
        # pyautogui.write silently drops non-ASCII; pynput remaps a spare keycode to any keysym
        if self._keyboard is None:
            from pynput.keyboard import Controller

            self._keyboard = Controller()
        self._keyboard.type(text)

    def _hotkey(self, gui: Any, keys: tuple[str, ...]) -> str | None:
        names = [_PYAUTOGUI_KEYS.get(k, k) for k in keys]
        mapping = getattr(gui.platformModule, "keyboardMapping", {})
        if all(mapping.get(n) for n in names):
            gui.hotkey(*names, interval=0.0)
            return None
        xdisplay = getattr(gui.platformModule, "_display", None)
        if xdisplay is None:
            missing = [k for k, n in zip(keys, names, strict=True) if not mapping.get(n)]
            return f"key {missing[0]!r} cannot be sent on this keyboard"
        return _x11_borrowed_hotkey(xdisplay, [mapping.get(n) or 0 for n in names], keys)

    # ----------------------------------------------------------------------------------- dry run
    def _pretend(self, action: Action) -> ActionResult:
        """Log the action and draw it on the last frame instead of doing it."""
        info: dict[str, Any] = {"dry_run": True}
        if (p := action_point(action)) is not None:
            info["input_point"] = list(self.to_input(*p))
        log.info("dry-run: would %s", action)
        if self.annotate_dir is not None and self._last is not None:
            self.annotate_dir.mkdir(parents=True, exist_ok=True)
            path = self.annotate_dir / f"{self._count:06d}.png"
            draw_action(self._last.image, action).save(path)
            info["drawn"] = str(path)
        return ActionResult(info=info)

    def close(self) -> None:
        self.capture.close()


def _x11_borrowed_hotkey(xdisplay: Any, codes: list[int], keys: tuple[str, ...]) -> str | None:
    """Press ``keys`` with XTEST, mapping each key that has no keycode (``codes[i] == 0``) onto an
    unused keycode for the duration, as xdotool does. (pynput's own fallback sends keycode 0 and
    leaves its connection broken.) Returns an error message, or None."""
    from Xlib import XK, X
    from Xlib.ext import xtest

    XK.load_keysym_group("xf86")
    info = xdisplay.display.info
    table = xdisplay.get_keyboard_mapping(info.min_keycode, info.max_keycode - info.min_keycode + 1)
    free = [info.min_keycode + i for i, row in enumerate(table) if not any(row)]
    width = len(table[0])
    borrowed: list[int] = []
    try:
        for i, key in enumerate(keys):
            if codes[i]:
                continue
            sym = XK.string_to_keysym(_X11_KEYSYMS.get(key, key)) or (ord(key) if len(key) == 1 else 0)
            if not sym:
                return f"key {key!r} has no X keysym"
            if not free:
                return f"key {key!r} cannot be sent: no unused keycode to map it to"
            codes[i] = free.pop()
            xdisplay.change_keyboard_mapping(codes[i], [(sym,) * width])
            borrowed.append(codes[i])
        xdisplay.sync()
        for code in codes:
            xtest.fake_input(xdisplay, X.KeyPress, code)
        for code in reversed(codes):
            xtest.fake_input(xdisplay, X.KeyRelease, code)
        xdisplay.sync()
        time.sleep(0.03)  # clients read the key events before they see the mapping restored
    finally:
        for code in borrowed:
            xdisplay.change_keyboard_mapping(code, [(0,) * width])
        if borrowed:
            xdisplay.sync()
    return None


def draw_action(image: np.ndarray, action: Action) -> Any:
    """A PIL image of ``image`` (H×W×3 uint8) with ``action`` drawn: a ring at the point, an arrow for a
    drag, the action's text in a corner."""
    from PIL import Image, ImageDraw

    pil = Image.fromarray(np.ascontiguousarray(image), "RGB")
    d = ImageDraw.Draw(pil)
    red = (230, 30, 30)
    if isinstance(action, Drag):
        d.line([(action.x1, action.y1), (action.x2, action.y2)], fill=red, width=3)
        d.ellipse([action.x2 - 6, action.y2 - 6, action.x2 + 6, action.y2 + 6], fill=red)
    if (p := action_point(action)) is not None:
        x, y = p
        d.ellipse([x - 12, y - 12, x + 12, y + 12], outline=red, width=3)
    label = str(action)
    d.rectangle([0, 0, min(pil.width, 8 + 7 * len(label)), 18], fill=(0, 0, 0))
    d.text((4, 3), label, fill=(255, 255, 0))
    return pil


def make_desktop_env(**kwargs: Any) -> DesktopEnv:
    """DesktopEnv, or EnvironmentUnavailable with one readable line (for the CLI and the app)."""
    try:
        return DesktopEnv(**kwargs)
    except EnvironmentUnavailable:
        raise
    except Exception as exc:  # an X connection refused, a broken mss backend
        raise EnvironmentUnavailable(
            f"the live desktop is not available: {type(exc).__name__}: {exc}"
        ) from None
