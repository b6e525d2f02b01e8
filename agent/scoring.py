"""Scoring a predicted action against a recorded one (replay mode), and summarising many replays.

Rules, per recorded action type:
- click / move: same button and count; the point lies inside the recorded target element's box when
  the trace has one, else within ``tolerance`` × the screen diagonal of the recorded point;
- drag: both ends, by the same rule (the end point always by distance);
- scroll: the same direction;  type: the same text;  hotkey: the same set of keys;
- finished: the same success flag;  wait / call_user: the same type.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from agent.types import (
    REDACTED,
    Action,
    CallUser,
    Click,
    Drag,
    Element,
    Finished,
    Hotkey,
    Move,
    Scroll,
    TypeText,
    Wait,
)

#: default click tolerance as a fraction of the screen diagonal (≈ 30 px at 1280×800)
DEFAULT_TOLERANCE = 0.02


@dataclass(frozen=True)
class Match:
    ok: bool
    reason: str


def _near(
    x: float, y: float, rx: float, ry: float, target: Element | None, tol_px: float, what: str
) -> Match:
    if target is not None:
        if target.contains(x, y):
            return Match(True, f"{what} inside the target element")
        return Match(
            False, f"{what} ({x:.0f}, {y:.0f}) outside the target box {tuple(round(v) for v in target.box)}"
        )
    d = math.hypot(x - rx, y - ry)
    if d <= tol_px:
        return Match(True, f"{what} within {d:.0f} px")
    return Match(False, f"{what} {d:.0f} px from the recorded point (tolerance {tol_px:.0f} px)")


def score_action(
    predicted: Action,
    recorded: Action,
    *,
    target: Element | None = None,
    screen: tuple[int, int] = (1280, 800),
    tolerance: float = DEFAULT_TOLERANCE,
) -> Match:
    """Does ``predicted`` do what ``recorded`` did? ``screen`` is (width, height) in pixels."""
    if predicted.kind != recorded.kind:
        return Match(False, f"expected {recorded.kind}, got {predicted.kind}")
    tol_px = tolerance * math.hypot(*screen)
    match recorded:
        case Click():
            assert isinstance(predicted, Click)
            if (predicted.button, predicted.count) != (recorded.button, recorded.count):
                return Match(
                    False,
                    f"expected {recorded.button}×{recorded.count}, got {predicted.button}×{predicted.count}",
                )
            return _near(predicted.x, predicted.y, recorded.x, recorded.y, target, tol_px, "click")
        case Move():
            assert isinstance(predicted, Move)
            return _near(predicted.x, predicted.y, recorded.x, recorded.y, target, tol_px, "move")
        case Drag():
            assert isinstance(predicted, Drag)
            start = _near(predicted.x1, predicted.y1, recorded.x1, recorded.y1, target, tol_px, "drag start")
            if not start.ok:
                return start
            return _near(predicted.x2, predicted.y2, recorded.x2, recorded.y2, None, tol_px, "drag end")
        case Scroll():
            assert isinstance(predicted, Scroll)
            ok = predicted.direction == recorded.direction
            return Match(
                ok, f"scroll {predicted.direction}" + ("" if ok else f", expected {recorded.direction}")
            )
        case TypeText():
            assert isinstance(predicted, TypeText)
            if recorded.text == REDACTED:
                return Match(True, "recorded text is redacted; only the action type is compared")
            ok = predicted.text == recorded.text
            return Match(ok, "same text" if ok else f"typed {predicted.text!r}, expected {recorded.text!r}")
        case Hotkey():
            assert isinstance(predicted, Hotkey)
            ok = predicted.key_set == recorded.key_set
            want = "+".join(recorded.keys)
            return Match(ok, "same keys" if ok else f"pressed {'+'.join(predicted.keys)}, expected {want}")
        case Finished():
            assert isinstance(predicted, Finished)
            ok = predicted.success == recorded.success
            return Match(
                ok,
                "same outcome"
                if ok
                else f"finished(success={predicted.success}), expected {recorded.success}",
            )
        case Wait() | CallUser():
            return Match(True, f"same action ({recorded.kind})")
    raise AssertionError(f"unscored action type {recorded.kind}")  # pragma: no cover


@dataclass
class StepScore:
    index: int
    match: bool
    reason: str
    predicted: str
    recorded: str

    def to_dict(self) -> dict[str, Any]:
        return self.__dict__.copy()


@dataclass
class ReplayReport:
    """Per-step matches of one replayed trace."""

    trace: str
    total: int  # recorded steps
    steps: list[StepScore] = field(default_factory=list)

    @property
    def matched(self) -> int:
        return sum(s.match for s in self.steps)

    @property
    def step_accuracy(self) -> float:
        return self.matched / self.total if self.total else 1.0

    @property
    def first_divergence(self) -> int | None:
        """Index of the first recorded step the policy got wrong (or never reached), else None."""
        for s in self.steps:
            if not s.match:
                return s.index
        return len(self.steps) if len(self.steps) < self.total else None

    @property
    def episode_success(self) -> bool:
        return self.first_divergence is None

    def to_dict(self) -> dict[str, Any]:
        return {
            "trace": self.trace,
            "steps": self.total,
            "matched": self.matched,
            "step_accuracy": self.step_accuracy,
            "first_divergence": self.first_divergence,
            "episode_success": self.episode_success,
            "per_step": [s.to_dict() for s in self.steps],
        }


def summarize(reports: list[ReplayReport]) -> dict[str, Any]:
    """Aggregate over traces: step accuracy is micro-averaged over all recorded steps."""
    total = sum(r.total for r in reports)
    matched = sum(r.matched for r in reports)
    return {
        "traces": len(reports),
        "steps": total,
        "step_accuracy": matched / total if total else 1.0,
        "episode_success": sum(r.episode_success for r in reports) / len(reports) if reports else 0.0,
        "per_trace": [r.to_dict() for r in reports],
    }
