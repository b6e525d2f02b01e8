"""Global keyboard input through pynput: key names, hotkey strings, and a listener for one hotkey.

pynput reports keys as ``Key.ctrl_l`` or ``KeyCode(char='q')``; `key_name` turns them into the
canonical names of `agent.keys` so the recorder, the safety guard and the actions share one vocabulary.
pynput is imported lazily: it needs a display at import time.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from agent.errors import ActionError, EnvironmentUnavailable
from agent.keys import KEYS, MODIFIERS, canonical_key

# pynput Key member names whose canonical name is not just the name without _l/_r
_PYNPUT_NAMES = {
    "cmd": "super", "esc": "escape", "page_up": "pageup", "page_down": "pagedown",
    "caps_lock": "capslock", "num_lock": "numlock", "scroll_lock": "scrolllock",
    "print_screen": "printscreen", "media_play_pause": "playpause", "media_volume_mute": "volumemute",
    "media_volume_down": "volumedown", "media_volume_up": "volumeup", "media_previous": "prevtrack",
    "media_next": "nexttrack",
}  # fmt: skip


def key_name(key: Any) -> tuple[str | None, str | None]:
    """A pynput key -> (canonical key name or None, the character it types or None).

    ``Key.ctrl_r`` -> ("ctrl", None); ``KeyCode('B')`` -> ("b", "B"); ``KeyCode('é')`` -> (None, "é");
    ``Key.space`` -> ("space", " "). AltGr is not a hotkey modifier (it selects characters): (None, None).
    """
    name = getattr(key, "name", None)
    if name is not None:  # a pynput Key member
        if name == "alt_gr":
            return (None, None)
        base = name[:-2] if name.endswith(("_l", "_r")) else name
        base = _PYNPUT_NAMES.get(base, base)
        char = {"space": " "}.get(base)
        return (base if base in KEYS else None, char)
    char = getattr(key, "char", None)
    if not char:
        return (None, None)
    if len(char) == 1 and ord(char) < 32 and char not in "\t\r\n":
        char = chr(ord(char) + 96)  # Windows reports ctrl+q as '\x11'
    name = char.lower() if char.isalpha() else char
    return (name if name in KEYS else None, char if char.isprintable() else None)


def first_line(exc: BaseException) -> str:
    """pynput's ImportError spans several lines of advice; the first one says what failed."""
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def parse_hotkey(text: str) -> tuple[str, ...]:
    """'ctrl+alt+q' (or 'ctrl alt q') -> ('ctrl', 'alt', 'q') in canonical spelling, modifiers first."""
    parts = [p for p in text.replace(" ", "+").split("+") if p]
    if not parts:
        raise ActionError(f"empty hotkey {text!r}")
    keys = [canonical_key(p) for p in parts]
    return tuple(sorted(keys, key=lambda k: MODIFIERS.index(k) if k in MODIFIERS else len(MODIFIERS)))


def format_hotkey(keys: tuple[str, ...] | frozenset[str]) -> str:
    return "+".join(sorted(keys, key=lambda k: MODIFIERS.index(k) if k in MODIFIERS else len(MODIFIERS)))


class HotkeyListener:
    """Calls ``callback()`` (on pynput's thread) whenever ``keys`` are pressed together.

    The combination must end with a non-modifier key; extra modifiers held at that moment make it a
    different combination (ctrl+shift+q is not ctrl+q).
    """

    def __init__(self, keys: tuple[str, ...], callback: Callable[[], None]):
        mods = [k for k in keys if k in MODIFIERS]
        rest = [k for k in keys if k not in MODIFIERS]
        if len(rest) != 1:
            raise ActionError(f"a stop hotkey needs exactly one non-modifier key, got {format_hotkey(keys)}")
        self.keys = keys
        self._mods, self._key = frozenset(mods), rest[0]
        self._callback = callback
        self._held: set[str] = set()
        self._listener: Any = None
        self._lock = threading.Lock()

    def _press(self, key: Any) -> None:
        name, _ = key_name(key)
        if name is None:
            return
        if name in MODIFIERS:
            self._held.add(name)
        elif name == self._key and self._held == self._mods:
            self._callback()

    def _release(self, key: Any) -> None:
        name, _ = key_name(key)
        self._held.discard(name)  # type: ignore[arg-type]

    def start(self) -> None:
        """Start listening; returns once the listener receives events."""
        with self._lock:
            if self._listener is not None:
                return
            try:
                from pynput import keyboard
            except ImportError as exc:  # pynput raises ImportError when it cannot reach the display
                raise EnvironmentUnavailable(f"cannot listen to the keyboard: {first_line(exc)}") from None
            self._listener = keyboard.Listener(on_press=self._press, on_release=self._release)
            self._listener.start()
            self._listener.wait()

    def stop(self) -> None:
        with self._lock:
            if self._listener is not None:
                self._listener.stop()
                # pynput's X11 keyboard thread only notices the stop at the next key event; it is a
                # daemon thread and delivers nothing more, so do not wait for it
                self._listener.join(0.1)
                self._listener = None
