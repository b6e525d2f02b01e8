"""Core value types: the Action union, Element, Observation, ActionResult, Step, Task.

Units: every coordinate is in *screen pixels* of the observation the action was decided on (physical
pixels on HiDPI screens; the environment converts to its input units in one place). Boxes are
``(x1, y1, x2, y2)`` with ``x1 <= x2`` and ``y1 <= y2``.

Actions are frozen dataclasses that validate in ``__post_init__`` and raise `ActionError` with an
exact message. They serialise with `action_to_dict` / `action_from_dict`; the UI-TARS text form
lives in `agent.grammar`.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar, Literal

import numpy as np

from agent.errors import ActionError
from agent.keys import canonical_key

Box = tuple[float, float, float, float]
Button = Literal["left", "right", "middle"]
Direction = Literal["up", "down", "left", "right"]

BUTTONS: tuple[str, ...] = ("left", "right", "middle")
DIRECTIONS: tuple[str, ...] = ("up", "down", "left", "right")

#: Element kinds the sandbox, detector and policy share (the detector's classes, in this order).
ELEMENT_KINDS: tuple[str, ...] = (
    "button", "text_field", "checkbox", "radio", "combo", "slider", "spin", "tab", "menu",
    "menu_item", "list_item", "link", "label", "icon", "text_area", "progress",
)  # fmt: skip


def _check_coord(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise ActionError(f"{name} must be a number, got {type(value).__name__}")
    value = float(value)
    if not math.isfinite(value):
        raise ActionError(f"{name} must be finite, got {value}")
    if value < 0:
        raise ActionError(f"{name} must be >= 0, got {value:g}")
    return value


def _set(obj: object, name: str, value: object) -> None:
    object.__setattr__(obj, name, value)


# --------------------------------------------------------------------------------------------- actions
@dataclass(frozen=True)
class Click:
    """Press and release ``button`` ``count`` times at (x, y)."""

    x: float
    y: float
    button: Button = "left"
    count: int = 1
    kind: ClassVar[str] = "click"

    def __post_init__(self) -> None:
        _set(self, "x", _check_coord("x", self.x))
        _set(self, "y", _check_coord("y", self.y))
        if self.button not in BUTTONS:
            raise ActionError(f"button must be one of {', '.join(BUTTONS)}, got {self.button!r}")
        if isinstance(self.count, bool) or not isinstance(self.count, int) or not 1 <= self.count <= 3:
            raise ActionError(f"count must be 1, 2 or 3, got {self.count!r}")


@dataclass(frozen=True)
class Move:
    """Move the pointer to (x, y) without pressing (hover: tooltips, menus that open on hover)."""

    x: float
    y: float
    kind: ClassVar[str] = "move"

    def __post_init__(self) -> None:
        _set(self, "x", _check_coord("x", self.x))
        _set(self, "y", _check_coord("y", self.y))


@dataclass(frozen=True)
class Drag:
    """Press the left button at (x1, y1), move to (x2, y2), release."""

    x1: float
    y1: float
    x2: float
    y2: float
    kind: ClassVar[str] = "drag"

    def __post_init__(self) -> None:
        for name in ("x1", "y1", "x2", "y2"):
            _set(self, name, _check_coord(name, getattr(self, name)))


@dataclass(frozen=True)
class Scroll:
    """Scroll ``amount`` wheel notches in ``direction`` with the pointer at (x, y)."""

    x: float
    y: float
    direction: Direction = "down"
    amount: int = 5
    kind: ClassVar[str] = "scroll"

    def __post_init__(self) -> None:
        _set(self, "x", _check_coord("x", self.x))
        _set(self, "y", _check_coord("y", self.y))
        if self.direction not in DIRECTIONS:
            raise ActionError(f"direction must be one of {', '.join(DIRECTIONS)}, got {self.direction!r}")
        if isinstance(self.amount, bool) or not isinstance(self.amount, int) or not 1 <= self.amount <= 100:
            raise ActionError(f"amount must be an integer in 1..100, got {self.amount!r}")


@dataclass(frozen=True)
class TypeText:
    """Type ``text`` into the focused widget. A trailing newline presses Enter (submit).

    ``secret`` marks passwords and the like: traces store them redacted.
    """

    text: str
    secret: bool = False
    kind: ClassVar[str] = "type"

    def __post_init__(self) -> None:
        if not isinstance(self.text, str):
            raise ActionError(f"text must be a string, got {type(self.text).__name__}")
        if not self.text:
            raise ActionError("text must not be empty")
        if "\x00" in self.text:
            raise ActionError("text must not contain NUL characters")

    @property
    def submit(self) -> bool:
        return self.text.endswith("\n")


@dataclass(frozen=True)
class Hotkey:
    """Press ``keys`` together (modifiers first) and release them in reverse order."""

    keys: tuple[str, ...]
    kind: ClassVar[str] = "hotkey"

    def __post_init__(self) -> None:
        keys = (self.keys,) if isinstance(self.keys, str) else self.keys
        if not isinstance(keys, tuple | list) or len(keys) == 0:
            raise ActionError("hotkey needs at least one key")
        canon = tuple(canonical_key(k) for k in keys)
        if len(set(canon)) != len(canon):
            raise ActionError(f"hotkey repeats a key: {' '.join(canon)}")
        _set(self, "keys", canon)

    @property
    def key_set(self) -> frozenset[str]:
        return frozenset(self.keys)


@dataclass(frozen=True)
class Wait:
    """Do nothing for ``seconds`` (let the screen settle)."""

    seconds: float = 1.0
    kind: ClassVar[str] = "wait"

    def __post_init__(self) -> None:
        s = _check_coord("seconds", self.seconds)
        if s > 3600:
            raise ActionError(f"seconds must be <= 3600, got {s:g}")
        _set(self, "seconds", s)


@dataclass(frozen=True)
class Finished:
    """The task is over: ``success`` says whether the agent believes it is done."""

    success: bool = True
    message: str = ""
    kind: ClassVar[str] = "finished"

    def __post_init__(self) -> None:
        if not isinstance(self.success, bool):
            raise ActionError(f"success must be a bool, got {type(self.success).__name__}")
        if not isinstance(self.message, str):
            raise ActionError("message must be a string")


@dataclass(frozen=True)
class CallUser:
    """Hand control to the person with a question (the agent is stuck or needs consent)."""

    question: str = ""
    kind: ClassVar[str] = "call_user"

    def __post_init__(self) -> None:
        if not isinstance(self.question, str):
            raise ActionError("question must be a string")


Action = Click | Move | Drag | Scroll | TypeText | Hotkey | Wait | Finished | CallUser
ACTION_TYPES: dict[str, type] = {
    cls.kind: cls for cls in (Click, Move, Drag, Scroll, TypeText, Hotkey, Wait, Finished, CallUser)
}

REDACTED = "[REDACTED]"


def action_point(action: Action) -> tuple[float, float] | None:
    """The screen point an action acts on (the press point for a drag), or None."""
    if isinstance(action, Click | Move | Scroll):
        return (action.x, action.y)
    if isinstance(action, Drag):
        return (action.x1, action.y1)
    return None


def action_to_dict(action: Action, *, redact: bool = True) -> dict[str, Any]:
    """Plain-JSON form: ``{"type": "click", "x": ..., ...}``. Secret text is replaced when ``redact``."""
    out: dict[str, Any] = {"type": action.kind}
    for f in fields(action):
        value = getattr(action, f.name)
        out[f.name] = list(value) if isinstance(value, tuple) else value
    if isinstance(action, TypeText) and action.secret and redact:
        out["text"] = REDACTED
        out["redacted"] = True
    return out


def action_from_dict(data: dict[str, Any]) -> Action:
    """Inverse of `action_to_dict`; raises ActionError naming the bad field."""
    if not isinstance(data, dict):
        raise ActionError("action must be a JSON object")
    kind = data.get("type")
    cls = ACTION_TYPES.get(kind)  # type: ignore[arg-type]
    if cls is None:
        raise ActionError(f"unknown action type {kind!r}")
    names = {f.name for f in fields(cls)}
    kwargs = {k: v for k, v in data.items() if k in names}
    if cls is Hotkey and "keys" in kwargs:
        kwargs["keys"] = tuple(kwargs["keys"]) if isinstance(kwargs["keys"], list) else kwargs["keys"]
    try:
        return cls(**kwargs)
    except TypeError as exc:  # missing required field
        raise ActionError(f"{kind}: {exc}") from None


# --------------------------------------------------------------------------------------------- elements
@dataclass
class Element:
    """A UI element on screen.

    Attributes:
        box: (x1, y1, x2, y2) in screen pixels.
        kind: one of `ELEMENT_KINDS` (others are allowed for environments that know more).
        score: detector confidence in [0, 1]; 1.0 for ground truth.
        text: the element's visible text ('' when none).
        embedding: optional float32 vector from the detector (its decoder query state), shape [D].
        state: optional extra facts known from ground truth (checked, value, enabled, ...).
        id: a stable id within one observation, when the source has one.
    """

    box: Box
    kind: str
    score: float = 1.0
    text: str = ""
    embedding: np.ndarray | None = field(default=None, repr=False, compare=False)
    state: dict[str, Any] = field(default_factory=dict)
    id: int | None = None

    def __post_init__(self) -> None:
        if len(self.box) != 4:
            raise ActionError(f"box must have 4 numbers, got {len(self.box)}")
        x1, y1, x2, y2 = (float(v) for v in self.box)
        if not all(math.isfinite(v) for v in (x1, y1, x2, y2)):
            raise ActionError(f"box must be finite, got {self.box}")
        if x2 < x1 or y2 < y1:
            raise ActionError(f"box must have x1 <= x2 and y1 <= y2, got {self.box}")
        self.box = (x1, y1, x2, y2)

    @property
    def center(self) -> tuple[float, float]:
        x1, y1, x2, y2 = self.box
        return ((x1 + x2) / 2, (y1 + y2) / 2)

    def contains(self, x: float, y: float, margin: float = 0.0) -> bool:
        x1, y1, x2, y2 = self.box
        return x1 - margin <= x <= x2 + margin and y1 - margin <= y <= y2 + margin

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"box": [round(v, 2) for v in self.box], "kind": self.kind}
        if self.score != 1.0:
            out["score"] = round(float(self.score), 4)
        if self.text:
            out["text"] = self.text
        if self.state:
            out["state"] = self.state
        if self.id is not None:
            out["id"] = self.id
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Element:
        if not isinstance(data, dict):
            raise ActionError("element must be a JSON object")
        try:
            return cls(
                box=tuple(data["box"]),  # type: ignore[arg-type]
                kind=str(data["kind"]),
                score=float(data.get("score", 1.0)),
                text=str(data.get("text", "")),
                state=dict(data.get("state", {})),
                id=data.get("id"),
            )
        except KeyError as exc:
            raise ActionError(f"element is missing field {exc.args[0]!r}") from None
        except (TypeError, ValueError) as exc:
            raise ActionError(f"element has a bad field: {exc}") from None


# --------------------------------------------------------------------------------------------- observations
@dataclass
class Observation:
    """What an environment shows the agent at one moment.

    Attributes:
        image: H×W×3 uint8 RGB screenshot, physical pixels.
        scale: physical pixels per logical point (2.0 on a typical HiDPI screen).
        origin: the screen pixel of image[0, 0] in the virtual desktop (multi-monitor, region capture).
        timestamp: `time.time()` when the frame was captured.
        elements: elements the environment knows without perception (sandbox ground truth, or the
            elements recorded in a trace); None when only pixels are available.
        info: free-form extras (window title, focused element, ...).
    """

    image: np.ndarray
    scale: float = 1.0
    origin: tuple[int, int] = (0, 0)
    timestamp: float = field(default_factory=time.time)
    elements: list[Element] | None = None
    info: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        img = self.image
        if not isinstance(img, np.ndarray) or img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
            desc = getattr(img, "shape", type(img).__name__)
            raise ActionError(f"observation image must be an H×W×3 uint8 array, got {desc}")
        if not (math.isfinite(self.scale) and self.scale > 0):
            raise ActionError(f"scale must be > 0, got {self.scale}")

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) in pixels."""
        return (int(self.image.shape[1]), int(self.image.shape[0]))


# --------------------------------------------------------------------------------------------- results
@dataclass
class ActionResult:
    """The outcome of `Environment.act`: failures are data, never exceptions into the loop.

    ``info`` carries environment-specific facts, e.g. the replay score of the action.
    """

    ok: bool = True
    error: str | None = None
    duration: float = 0.0
    info: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def failed(cls, error: str, **info: Any) -> ActionResult:
        return cls(ok=False, error=error, info=info)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"ok": self.ok, "duration_ms": round(self.duration * 1000, 3)}
        if self.error:
            out["error"] = self.error
        if self.info:
            out["info"] = self.info
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ActionResult:
        return cls(
            ok=bool(data.get("ok", True)),
            error=data.get("error"),
            duration=float(data.get("duration_ms", 0.0)) / 1000,
            info=dict(data.get("info", {})),
        )


@dataclass
class Task:
    """What the agent is asked to do. Environments may attach structured facts in ``meta``."""

    instruction: str
    id: str = ""
    meta: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"instruction": self.instruction, "id": self.id, "meta": self.meta}

    @classmethod
    def from_dict(cls, data: dict[str, Any] | str) -> Task:
        if isinstance(data, str):
            return cls(instruction=data)
        return cls(instruction=str(data.get("instruction", "")), id=str(data.get("id", "")),
                   meta=dict(data.get("meta", {})))  # fmt: skip


@dataclass
class Step:
    """One turn of the loop as recorded in a trace.

    Attributes:
        index: 0-based step number.
        time: seconds since the run started, when the step began.
        action: what was done.
        frame: the screenshot's file name relative to the trace folder ('' when not stored).
        elements: the elements the policy saw.
        target: the element the action was aimed at, when known (used by replay scoring).
        result: what the environment reported.
        timings: per-stage durations in milliseconds (observe, perceive, decide, guard, act).
        policy: the policy's own facts (name, UI-TARS text, thought, scores).
        image: the screenshot itself, only in memory (not serialised).
    """

    index: int
    action: Action
    time: float = 0.0
    frame: str = ""
    elements: list[Element] = field(default_factory=list)
    target: Element | None = None
    result: ActionResult = field(default_factory=ActionResult)
    timings: dict[str, float] = field(default_factory=dict)
    policy: dict[str, Any] = field(default_factory=dict)
    image: np.ndarray | None = field(default=None, repr=False, compare=False)
