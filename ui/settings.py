"""The app's settings: a validated dataclass, stored in QSettings one JSON value per key.

JSON values (not QSettings' own typing) because INI-backed QSettings returns every scalar as a string;
JSON keeps bools, numbers, lists and None intact across platforms. A corrupt or out-of-range stored value
falls back to its default and is reported in ``load_settings(...).problems``, never raised: the app must
start even with a broken settings file.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from agent.errors import DeskpilotError

TARGETS = ("sandbox", "desktop", "replay")
RECENT_LIMIT = 10
HISTORY_LIMIT = 30

# Defaults for the live-desktop safety options; agent.safety's own defaults win when it exists.
try:
    from agent.safety import DEFAULT_BLOCKED_HOTKEYS as _BLOCKED
    from agent.safety import DEFAULT_STOP_HOTKEY
except ImportError:  # the live desktop is not part of this build
    _BLOCKED = ("ctrl+alt+delete", "ctrl+alt+backspace", "ctrl+shift+escape", "super+l", "alt+f4")
    DEFAULT_STOP_HOTKEY = "ctrl+alt+q"
DEFAULT_BLOCKED_HOTKEYS = list(_BLOCKED)


class SettingsError(DeskpilotError):
    """A settings value a person typed that cannot be used (a negative delay, an empty region, ...)."""


@dataclass
class AppSettings:
    """Everything the app remembers between runs.

    Units: ``step_delay`` seconds between steps; ``region`` (x, y, width, height) in screen pixels, or
    None for the whole screen; ``max_seconds`` wall-clock limit for a live run.
    """

    target: str = "sandbox"
    policy: str = ""  # "" = the first available one
    detector_weights: str = ""
    policy_weights: str = ""
    dry_run: bool = False
    confirm: bool = True  # confirm-first is the default on the live desktop
    region: list[int] | None = None
    blocked_hotkeys: list[str] = field(default_factory=lambda: list(DEFAULT_BLOCKED_HOTKEYS))
    stop_hotkey: str = DEFAULT_STOP_HOTKEY
    hide_while_acting: bool = True
    step_delay: float = 0.3
    max_steps: int = 30
    max_seconds: float = 300.0
    runs_dir: str = ""  # "" = the platform's app-data folder
    replay_trace: str = ""
    sandbox_app: str = ""  # "" = a random app
    sandbox_family: str = ""  # "" = a random task family
    sandbox_seed: int = 0
    task_history: list[str] = field(default_factory=list)
    recent_traces: list[str] = field(default_factory=list)

    def validate(self) -> AppSettings:
        """Raise SettingsError naming the first bad field; returns self for chaining."""
        if self.target not in TARGETS:
            raise SettingsError(f"target must be one of {', '.join(TARGETS)}, got {self.target!r}")
        if (
            not isinstance(self.max_steps, int)
            or isinstance(self.max_steps, bool)
            or not 1 <= self.max_steps <= 10000
        ):
            raise SettingsError(
                f"maximum steps must be a whole number from 1 to 10000, got {self.max_steps!r}"
            )
        if not isinstance(self.step_delay, int | float) or not 0 <= self.step_delay <= 60:
            raise SettingsError(f"step delay must be between 0 and 60 seconds, got {self.step_delay!r}")
        if not isinstance(self.max_seconds, int | float) or not 1 <= self.max_seconds <= 86400:
            raise SettingsError(f"maximum time must be between 1 s and 24 h, got {self.max_seconds!r}")
        if self.region is not None:
            r = self.region
            if len(r) != 4 or not all(isinstance(v, int) and not isinstance(v, bool) for v in r):
                raise SettingsError(
                    f"allowed region must be four whole numbers x, y, width, height, got {r!r}"
                )
            if r[0] < 0 or r[1] < 0 or r[2] <= 0 or r[3] <= 0:
                raise SettingsError(f"allowed region must have x, y >= 0 and a positive size, got {r!r}")
        if not isinstance(self.stop_hotkey, str) or not self.stop_hotkey.strip():
            raise SettingsError("the stop hotkey must not be empty")
        for name in ("blocked_hotkeys", "task_history", "recent_traces"):
            value = getattr(self, name)
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise SettingsError(f"{name.replace('_', ' ')} must be a list of strings")
        return self


def push_front(items: list[str], item: str, limit: int) -> list[str]:
    """``item`` first, without duplicates, at most ``limit`` entries (task history, recent traces)."""
    item = item.strip()
    if not item:
        return list(items)
    return [item, *[i for i in items if i != item]][:limit]


@dataclass
class LoadedSettings:
    settings: AppSettings
    problems: list[str]


def settings_from_dict(data: dict[str, Any]) -> LoadedSettings:
    """Build settings from stored values, keeping the default for each value that is unusable."""
    base = AppSettings()
    problems: list[str] = []
    for f in fields(AppSettings):
        if f.name not in data:
            continue
        trial = AppSettings(**{**asdict(base), f.name: data[f.name]})
        try:
            trial.validate()
        except SettingsError as exc:
            problems.append(f"setting {f.name!r} ignored: {exc}")
            continue
        base = trial
    return LoadedSettings(base, problems)


def load_settings(qsettings: Any) -> LoadedSettings:
    """Read every field from a QSettings (group "app"); unreadable values keep their default."""
    data: dict[str, Any] = {}
    problems: list[str] = []
    qsettings.beginGroup("app")
    try:
        for f in fields(AppSettings):
            raw = qsettings.value(f.name)
            if raw is None:
                continue
            try:
                data[f.name] = json.loads(str(raw))
            except json.JSONDecodeError:
                problems.append(f"setting {f.name!r} ignored: not valid JSON ({str(raw)[:40]!r})")
    finally:
        qsettings.endGroup()
    loaded = settings_from_dict(data)
    loaded.problems[:0] = problems
    return loaded


def save_settings(qsettings: Any, settings: AppSettings) -> None:
    """Validate and write every field, then sync to disk."""
    settings.validate()
    qsettings.beginGroup("app")
    try:
        for name, value in asdict(settings).items():
            qsettings.setValue(name, json.dumps(value))
    finally:
        qsettings.endGroup()
    qsettings.sync()


def parse_region(text: str) -> list[int] | None:
    """'x, y, w, h' → [x, y, w, h]; '' → None (whole screen). Raises SettingsError."""
    text = text.strip()
    if not text:
        return None
    parts = [p for p in text.replace(",", " ").split() if p]
    try:
        values = [int(p) for p in parts]
    except ValueError:
        raise SettingsError(
            f"allowed region must be four whole numbers x, y, width, height, got {text!r}"
        ) from None
    AppSettings(region=values).validate()
    return values


def format_region(region: list[int] | None) -> str:
    return "" if region is None else ", ".join(str(v) for v in region)
