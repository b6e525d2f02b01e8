"""Record a person's demonstration as a trace: the screen just before each input, and semantic actions.

Three parts, each testable on its own:

* `FrameRing` grabs the screen in the background (``fps`` per second) and keeps the last few frames, so
  the frame an action is stored with is one captured *before* its first input event — by the time a
  listener hears a click, the app may already have repainted.
* `ActionMerger` is a pure state machine from raw events (press, release, move, wheel, key down/up) to
  actions: single/double/triple and right clicks, drags, scrolls (wheel notches merged), runs of typed
  text (with backspace applied, Enter ending the run as a trailing newline) and hotkeys.
* `Recorder` wires pynput's global listeners to the merger and appends each finished action to a
  `TraceWriter` at once, so a stop hotkey, Ctrl+C or a crash loses at most the action in progress.

Redaction: there is no portable way to ask X11 whether the focused field is a password field, so the
person marks it: the secret hotkey (default ctrl+alt+p) makes the current or next typed run secret, and
``redact_typing`` makes every run secret. Secret runs are stored as ``[REDACTED]``.
"""

from __future__ import annotations

import logging
import math
import queue
import signal
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent.capture import Frame, Region, ScreenCapture
from agent.errors import EnvironmentUnavailable
from agent.hotkeys import first_line, key_name, parse_hotkey
from agent.keys import MODIFIERS
from agent.types import Action, ActionResult, Click, Drag, Hotkey, Scroll, Step, TypeText

log = logging.getLogger("deskpilot.recorder")

_BUTTONS = {"left": "left", "right": "right", "middle": "middle"}


@dataclass
class InputEvent:
    """One raw input event. Positions are image pixels of the recorded screen.

    kind: "down" | "up" | "move" | "scroll" | "key_down" | "key_up".
    frame: the screen just before the event (set on down, scroll and key_down).
    """

    kind: str
    t: float
    x: float = 0.0
    y: float = 0.0
    button: str = ""
    dx: int = 0
    dy: int = 0
    key: str | None = None
    char: str | None = None
    frame: Frame | None = None


@dataclass
class Recorded:
    """A finished semantic action, the time of its first event and the frame before it."""

    action: Action
    t: float
    frame: Frame | None = None


@dataclass
class _Pending:
    kind: str  # "click" | "scroll" | "text"
    t: float  # first event
    last: float  # latest event
    frame: Frame | None
    x: float = 0.0
    y: float = 0.0
    button: str = "left"
    count: int = 1
    direction: str = "down"
    amount: int = 0
    text: list[str] = field(default_factory=list)
    secret: bool = False


class ActionMerger:
    """Raw input events -> semantic actions (see the module docstring).

    Args:
        size: (width, height) of the recorded image; pointer actions outside it are dropped (counted
            in ``dropped``), since actions cannot point off the screenshot.
        double_click_s: presses closer than this (and within ``click_slop`` pixels) make one multi-click.
        click_slop: pixels the pointer may travel between press and release of a click; more is a drag.
        scroll_gap_s: wheel notches closer than this in time, same direction and place, merge.
        text_idle_s: a typed run pauses this long -> it is written (a crash then loses less).
        stop_hotkey: ends the recording; never recorded itself.
        secret_hotkey: marks the current or next typed run secret; never recorded itself.
        redact_typing: every typed run is secret.
    """

    def __init__(
        self,
        size: tuple[int, int],
        *,
        double_click_s: float = 0.4,
        click_slop: float = 5.0,
        scroll_gap_s: float = 0.6,
        text_idle_s: float = 2.0,
        stop_hotkey: tuple[str, ...] | None = ("ctrl", "alt", "q"),
        secret_hotkey: tuple[str, ...] | None = ("ctrl", "alt", "p"),
        redact_typing: bool = False,
    ):
        self.size = size
        self.double_click_s, self.click_slop = double_click_s, click_slop
        self.scroll_gap_s, self.text_idle_s = scroll_gap_s, text_idle_s
        self.stop_hotkey = frozenset(stop_hotkey) if stop_hotkey else None
        self.secret_hotkey = frozenset(secret_hotkey) if secret_hotkey else None
        self.redact_typing = redact_typing
        self.stopped = False
        self.dropped = 0
        self.ignored_keys = 0
        self._pending: _Pending | None = None
        self._press: InputEvent | None = None
        self._press_continues = False  # this press adds to the pending multi-click
        self._travel = 0.0
        self._mods: set[str] = set()
        self._chord: set[str] = set()  # modifiers pressed since all were up
        self._chord_used = False  # a non-modifier key was pressed during the chord
        self._secret_next = False

    # ----------------------------------------------------------------------------------- helpers
    def _inside(self, *xy: float) -> bool:
        w, h = self.size
        return all(0 <= x < w and 0 <= y < h for x, y in zip(xy[::2], xy[1::2], strict=True))

    def _finish(self) -> list[Recorded]:
        """Turn the pending click / scroll / text run into an action."""
        p, self._pending = self._pending, None
        if p is None:
            return []
        if p.kind == "text":
            if not p.text:  # everything typed was erased again
                return []
            return [Recorded(TypeText("".join(p.text), secret=p.secret), p.t, p.frame)]
        if not self._inside(p.x, p.y):
            self.dropped += 1
            return []
        if p.kind == "click":
            return [Recorded(Click(p.x, p.y, p.button, p.count), p.t, p.frame)]  # type: ignore[arg-type]
        return [Recorded(Scroll(p.x, p.y, p.direction, min(p.amount, 100)), p.t, p.frame)]  # type: ignore[arg-type]

    def _finish_unless(self, kind: str) -> list[Recorded]:
        return self._finish() if self._pending is not None and self._pending.kind != kind else []

    def _hotkey(self, keys: tuple[str, ...], ev: InputEvent) -> list[Recorded]:
        combo = frozenset(keys)
        if combo == self.stop_hotkey:
            self.stopped = True
            return self._finish()
        if combo == self.secret_hotkey:
            if self._pending is not None and self._pending.kind == "text":
                self._pending.secret = True
            else:
                self._secret_next = True
            return []
        return [*self._finish(), Recorded(Hotkey(keys), ev.t, ev.frame)]

    # ----------------------------------------------------------------------------------- events
    def feed(self, ev: InputEvent) -> list[Recorded]:
        """Process one event; returns the actions it finished (in order)."""
        if self.stopped:
            return []
        handler = getattr(self, f"_on_{ev.kind}")
        return handler(ev)

    def _on_move(self, ev: InputEvent) -> list[Recorded]:
        if self._press is not None:
            self._travel = max(self._travel, math.dist((ev.x, ev.y), (self._press.x, self._press.y)))
        return []

    def _on_down(self, ev: InputEvent) -> list[Recorded]:
        out = self._finish_unless("click")
        p = self._pending
        self._press_continues = bool(
            p is not None
            and p.button == ev.button
            and p.count < 3
            and ev.t - p.last <= self.double_click_s
            and math.dist((ev.x, ev.y), (p.x, p.y)) <= self.click_slop
        )
        if p is not None and not self._press_continues:
            out += self._finish()
        self._press, self._travel = ev, 0.0
        return out

    def _on_up(self, ev: InputEvent) -> list[Recorded]:
        press = self._press
        if press is None or press.button != ev.button:
            return []
        self._press = None
        travel = max(self._travel, math.dist((ev.x, ev.y), (press.x, press.y)))
        if self._press_continues and travel <= self.click_slop:
            assert self._pending is not None
            self._pending.count += 1
            self._pending.last = ev.t
            return []
        out = self._finish() if self._press_continues else []
        if travel > self.click_slop:
            if press.button != "left":  # Drag is a left-button action; keep the press as a click
                log.info("a %s-button drag was recorded as a %s click", press.button, press.button)
                self._pending = _Pending("click", press.t, ev.t, press.frame, press.x, press.y, press.button)
                return [*out, *self._finish()]
            if not self._inside(press.x, press.y, ev.x, ev.y):
                self.dropped += 1
                return out
            return [*out, Recorded(Drag(press.x, press.y, ev.x, ev.y), press.t, press.frame)]
        self._pending = _Pending("click", press.t, ev.t, press.frame, press.x, press.y, press.button)
        return out

    def _on_scroll(self, ev: InputEvent) -> list[Recorded]:
        out = self._finish_unless("scroll")
        if ev.dy:
            direction, notches = ("up" if ev.dy > 0 else "down"), abs(ev.dy)
        elif ev.dx:
            direction, notches = ("right" if ev.dx > 0 else "left"), abs(ev.dx)
        else:
            return out
        p = self._pending
        if (p is not None and p.direction == direction and ev.t - p.last <= self.scroll_gap_s
                and math.dist((ev.x, ev.y), (p.x, p.y)) <= 4 * self.click_slop):  # fmt: skip
            p.amount += notches
            p.last = ev.t
            return out
        out += self._finish()
        self._pending = _Pending(
            "scroll", ev.t, ev.t, ev.frame, ev.x, ev.y, direction=direction, amount=notches
        )
        return out

    def _on_key_down(self, ev: InputEvent) -> list[Recorded]:
        name, char = ev.key, ev.char
        if name in MODIFIERS:
            self._mods.add(name)
            self._chord.add(name)
            return []
        if self._mods:
            self._chord_used = True
        held = [m for m in MODIFIERS if m in self._mods]
        if set(held) - {"shift"}:  # ctrl / alt / super: a hotkey, whatever character it would type
            if name is None:
                self.ignored_keys += 1
                return []
            return self._hotkey((*held, name), ev)
        p = self._pending
        typing = p is not None and p.kind == "text"
        if char is not None and name not in ("enter", "tab"):
            out = self._finish_unless("text")
            if self._pending is None:
                secret = self.redact_typing or self._secret_next
                self._secret_next = False
                self._pending = _Pending("text", ev.t, ev.t, ev.frame, secret=secret)
            self._pending.text.append(char)
            self._pending.last = ev.t
            return out
        if name == "enter" and typing and not held:
            assert p is not None
            p.text.append("\n")
            return self._finish()
        if name == "backspace" and typing and not held and p is not None and p.text:
            p.text.pop()
            p.last = ev.t
            return []
        if name is None:  # a key pynput could not name (e.g. a keysym remapped for one keystroke)
            self.ignored_keys += 1
            return []
        return self._hotkey((*held, name), ev)

    def _on_key_up(self, ev: InputEvent) -> list[Recorded]:
        if ev.key not in MODIFIERS:
            return []
        self._mods.discard(ev.key)
        if self._mods:
            return []
        chord, used = self._chord, self._chord_used
        self._chord, self._chord_used = set(), False
        # alt alone opens menu bars, super alone the launcher; ctrl or shift alone do nothing
        if not used and len(chord) == 1 and chord & {"alt", "super"}:
            return self._hotkey(tuple(chord), ev)
        return []

    def poll(self, now: float) -> list[Recorded]:
        """Finish what can no longer grow: a click past the double-click time, a scroll past its gap,
        a typed run idle for ``text_idle_s``."""
        p = self._pending
        if p is None or self._press is not None:
            return []
        limit = {"click": self.double_click_s, "scroll": self.scroll_gap_s, "text": self.text_idle_s}[p.kind]
        return self._finish() if now - p.last > limit else []

    def flush(self) -> list[Recorded]:
        """Finish everything (the recording ends). A button still held down is dropped."""
        self._press = None
        return self._finish()


class _ServerClock:
    """Maps X server timestamps (milliseconds since the server's own epoch) onto ``time.time()``.

    The offset is the smallest (wall time at callback - server time) seen so far, i.e. the least
    delayed delivery; events then keep the server's spacing even when our threads were late to run,
    so double-click timing matches what applications saw.
    """

    def __init__(self) -> None:
        self._offset: float | None = None
        self._lock = threading.Lock()

    def wall(self, server_ms: int | None, now: float) -> float:
        if server_ms is None:
            return now
        with self._lock:
            offset = now - server_ms / 1000
            if self._offset is None or offset < self._offset:
                self._offset = offset
            return server_ms / 1000 + self._offset


def _timed(listener_cls: Any) -> Any:
    """On X11, a pynput listener subclass that keeps each event's server timestamp (``server_ms``) for
    the callback it is about to call (same thread). Elsewhere the class itself."""
    if not listener_cls.__module__.endswith("_xorg") or not hasattr(listener_cls, "_handle_message"):
        return listener_cls

    class Timed(listener_cls):  # type: ignore[misc, valid-type]
        server_ms: int | None = None

        def _handle_message(self, display: Any, event: Any, injected: bool) -> None:
            self.server_ms = getattr(event, "time", None)
            super()._handle_message(display, event, injected)

    return Timed


class FrameRing:
    """Grabs ``capture`` ``fps`` times per second on a background thread, keeping the last ``keep``."""

    def __init__(self, capture: ScreenCapture, fps: float = 20.0, keep: int = 8):
        self.capture = capture
        self.interval = 1.0 / fps
        self._frames: deque[Frame] = deque(maxlen=keep)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="deskpilot-frames", daemon=True)

    def start(self) -> None:
        self._frames.append(self.capture.grab())
        self._thread.start()

    def _run(self) -> None:
        try:
            while not self._stop.wait(self.interval):
                frame = self.capture.grab()
                with self._lock:
                    self._frames.append(frame)
        finally:
            self.capture.close()  # this thread's mss connection

    def before(self, t: float, margin: float = 0.005) -> Frame:
        """The newest frame whose grab began at least ``margin`` seconds before ``t``."""
        with self._lock:
            for frame in reversed(self._frames):
                if frame.t_start <= t - margin:
                    return frame
            return self._frames[0]

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(2)


class Recorder:
    """Records global mouse and keyboard input into a trace folder (see the module docstring).

    Use ``start()``, then ``run()`` (blocks until the stop hotkey, ``stop()``, ``max_seconds`` or
    Ctrl+C), or as a context manager. ``steps`` counts the actions written.
    """

    def __init__(
        self,
        out: str | Path,
        *,
        task: str = "",
        monitor: int = 1,
        region: Region | None = None,
        fps: float = 20.0,
        stop_hotkey: str | None = "ctrl+alt+q",
        secret_hotkey: str | None = "ctrl+alt+p",
        redact_typing: bool = False,
        frame_format: str = "png",
    ):
        from agent.trace import TraceWriter

        self.capture = ScreenCapture(monitor, region)
        self.stop_hotkey = parse_hotkey(stop_hotkey) if stop_hotkey else None
        self.merger = ActionMerger(
            self.capture.size,
            stop_hotkey=self.stop_hotkey,
            secret_hotkey=parse_hotkey(secret_hotkey) if secret_hotkey else None,
            redact_typing=redact_typing,
        )
        info = {**self.capture.info(), "recorder": {"fps": fps, "redact_typing": redact_typing}}
        self.writer = TraceWriter(out, task=task, target="desktop", env_info=info, policy="human",
                                  frame_format=frame_format)  # fmt: skip
        self.ring = FrameRing(self.capture, fps)
        self.events: queue.Queue[InputEvent] = queue.Queue()
        self._stop = threading.Event()
        self._listeners: list[Any] = []
        self._keyboard: Any = None
        self._mouse: Any = None
        self._clock = _ServerClock()
        self._t0 = time.time()
        self._held: Recorded | None = None  # a ctrl+c waiting to see whether it was the Ctrl+C that stops us
        self.steps = 0
        self.reason = ""
        self._interrupted = False

    # ----------------------------------------------------------------------------------- listeners
    def _event(self, kind: str, listener: Any, *, with_frame: bool = False, **kw: Any) -> None:
        t = self._clock.wall(getattr(listener, "server_ms", None), time.time())
        if "x" in kw:
            kw["x"], kw["y"] = self.capture.map.to_image(kw["x"], kw["y"])
        frame = self.ring.before(t) if with_frame else None
        self.events.put(InputEvent(kind, t, frame=frame, **kw))

    def _on_click(self, x: float, y: float, button: Any, pressed: bool) -> None:
        name = _BUTTONS.get(getattr(button, "name", ""), "")
        if name:
            self._event("down" if pressed else "up", self._mouse, with_frame=pressed, x=x, y=y, button=name)

    def _on_move(self, x: float, y: float, *_: Any) -> None:
        self._event("move", self._mouse, x=x, y=y)

    def _on_scroll(self, x: float, y: float, dx: int, dy: int, *_: Any) -> None:
        self._event("scroll", self._mouse, with_frame=True, x=x, y=y, dx=dx, dy=dy)

    def _on_key(self, key: Any, pressed: bool) -> None:
        name, char = key_name(key)
        self._event(
            "key_down" if pressed else "key_up", self._keyboard, with_frame=pressed, key=name, char=char
        )

    def start(self) -> Recorder:
        """Start the frame grabber and the global listeners; returns once they receive events."""
        try:
            from pynput import keyboard, mouse
        except ImportError as exc:  # pynput cannot reach the display
            self.writer.close({"reason": "could not start", "steps": 0})
            raise EnvironmentUnavailable(f"cannot listen to mouse and keyboard: {first_line(exc)}") from None

        self._t0 = time.time()
        self.ring.start()
        kb = _timed(keyboard.Listener)(on_press=lambda k, *_: self._on_key(k, True),
                                       on_release=lambda k, *_: self._on_key(k, False))  # fmt: skip
        ms = _timed(mouse.Listener)(on_click=self._on_click, on_move=self._on_move, on_scroll=self._on_scroll)
        self._keyboard, self._mouse = kb, ms
        self._listeners = [kb, ms]
        for listener in self._listeners:
            listener.start()
        for listener in self._listeners:
            listener.wait()
        return self

    # ----------------------------------------------------------------------------------- writing
    def _write(self, recorded: list[Recorded], now: float) -> None:
        for rec in recorded:
            if self._held is not None:
                self._commit(self._held)
                self._held = None
            if isinstance(rec.action, Hotkey) and rec.action.key_set == {"ctrl", "c"}:
                self._held = rec  # written later, unless a Ctrl+C interrupt follows right away
            else:
                self._commit(rec)
        if self._held is not None and now - self._held.t > 0.5:
            self._commit(self._held)
            self._held = None

    def _commit(self, rec: Recorded) -> None:
        image = rec.frame.rgb() if rec.frame is not None else None
        step = Step(index=self.steps, action=rec.action, time=max(0.0, rec.t - self._t0), image=image,
                    result=ActionResult(), policy={"name": "human"})  # fmt: skip
        self.writer.write_step(step)
        self.steps += 1
        log.info("recorded step %d: %s", step.index, rec.action)

    def run(self, max_seconds: float | None = None) -> int:
        """Record until the stop hotkey, ``stop()``, ``max_seconds`` or Ctrl+C; returns the step count.

        Ctrl+C (SIGINT) only sets a flag while recording, so it can never interrupt a step half-written.
        """
        deadline = None if max_seconds is None else time.monotonic() + max_seconds
        previous = None
        if threading.current_thread() is threading.main_thread():
            previous = signal.signal(signal.SIGINT, self._on_sigint)
        try:
            while not self._stop.is_set() and not self.merger.stopped:
                if deadline is not None and time.monotonic() > deadline:
                    self.reason = "time limit"
                    break
                try:
                    ev = self.events.get(timeout=0.05)
                    self._write(self.merger.feed(ev), time.time())
                except queue.Empty:
                    pass
                self._write(self.merger.poll(time.time()), time.time())
        finally:
            if previous is not None:
                signal.signal(signal.SIGINT, previous)
            self._finish(self._interrupted)
        return self.steps

    def _on_sigint(self, signum: int, frame: Any) -> None:
        self._interrupted = True
        self.reason = "interrupted (Ctrl+C)"
        self._stop.set()

    def _finish(self, interrupted: bool) -> None:
        for listener in self._listeners:
            listener.stop()
        # events already queued happened before the stop: keep them
        while not self.merger.stopped:
            try:
                ev = self.events.get_nowait()
            except queue.Empty:
                break
            self._write(self.merger.feed(ev), time.time())
        if interrupted and self._held is not None:
            self._held = None  # that ctrl+c was the Ctrl+C that stopped the recording
        self._write(self.merger.flush(), time.time())
        if self._held is not None:
            self._commit(self._held)
            self._held = None
        self.ring.stop()
        if self.merger.stopped:
            self.reason = "stop hotkey"
        self.reason = self.reason or "stopped"
        self.writer.close({"reason": self.reason, "steps": self.steps, "dropped": self.merger.dropped,
                           "ignored_keys": self.merger.ignored_keys})  # fmt: skip
        self.capture.close()

    def stop(self) -> None:
        """Ask ``run()`` to finish (from another thread)."""
        self._stop.set()
