"""Key names: one canonical spelling per key, with the aliases people and models actually write.

Canonical names follow pyautogui's vocabulary (``ctrl``, ``enter``, ``pagedown``, ...), so an
environment can pass them straight through.
"""

from __future__ import annotations

import string

from agent.errors import ActionError

MODIFIERS = ("ctrl", "alt", "shift", "super")

_NAMED = (
    *MODIFIERS,
    "enter", "tab", "space", "backspace", "delete", "escape", "insert",
    "up", "down", "left", "right", "home", "end", "pageup", "pagedown",
    "capslock", "numlock", "scrolllock", "printscreen", "pause", "menu",
    "volumeup", "volumedown", "volumemute", "playpause", "nexttrack", "prevtrack",
)  # fmt: skip
_FUNCTION = tuple(f"f{i}" for i in range(1, 25))
_CHARS = tuple(string.ascii_lowercase + string.digits + "`-=[]\\;',./~!@#$%^&*()_+{}|:\"<>?")

#: Every canonical key name.
KEYS: frozenset[str] = frozenset(_NAMED + _FUNCTION + _CHARS)

ALIASES: dict[str, str] = {
    "control": "ctrl", "ctl": "ctrl", "lctrl": "ctrl", "rctrl": "ctrl", "ctrlleft": "ctrl", "ctrlright": "ctrl",
    "option": "alt", "lalt": "alt", "ralt": "alt", "altleft": "alt", "altright": "alt", "alt_l": "alt",
    "lshift": "shift", "rshift": "shift", "shiftleft": "shift", "shiftright": "shift",
    "win": "super", "windows": "super", "cmd": "super", "command": "super", "meta": "super",
    "winleft": "super", "winright": "super",
    "return": "enter", "ret": "enter", "esc": "escape", "del": "delete", "bksp": "backspace",
    "back": "backspace", "ins": "insert", "spacebar": "space", "pgup": "pageup", "pgdn": "pagedown",
    "page_up": "pageup", "page_down": "pagedown", "arrowup": "up", "arrowdown": "down",
    "arrowleft": "left", "arrowright": "right", "prtsc": "printscreen", "prtscr": "printscreen",
    "print": "printscreen", "apps": "menu", "plus": "+", "minus": "-",
}  # fmt: skip


def canonical_key(name: str) -> str:
    """Return the canonical spelling of a key name, or raise ActionError for an unknown one.

    >>> canonical_key("Control"), canonical_key("RETURN"), canonical_key("A")
    ('ctrl', 'enter', 'a')
    """
    if not isinstance(name, str) or not name:
        raise ActionError("key name must be a non-empty string")
    key = name if len(name) == 1 else name.strip().lower()
    key = key.lower() if len(key) == 1 and key.isalpha() else key
    key = ALIASES.get(key, key)
    if key not in KEYS:
        raise ActionError(f"unknown key name {name!r}")
    return key


def is_modifier(key: str) -> bool:
    return key in MODIFIERS
