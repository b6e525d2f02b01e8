"""Plain-data payloads the worker thread sends to the GUI, and the small formatting the views share.

No Qt here: the worker builds these dicts from the loop's callbacks (numpy arrays, strings, numbers),
the GUI thread turns them into pixmaps and rows. Tests check them directly.
"""

from __future__ import annotations

import time
from collections import deque
from typing import Any

import numpy as np

from agent.grammar import format_action
from agent.types import REDACTED, Element, Observation, Step, TypeText, action_to_dict

#: the loop's stages in the order they run (``record`` is added when a trace is written)
STAGES = ("observe", "perceive", "decide", "guard", "act", "record")
THUMB_SIDE = 96  # pixels of a step-list thumbnail's longer side


def uitars(action: Any, screen: tuple[int, int]) -> str:
    """The action's UI-TARS string in screen pixels; secret text is shown redacted."""
    if isinstance(action, TypeText) and action.secret:
        action = TypeText(REDACTED)
    return format_action(action, screen=screen, coords="absolute", image_size=screen)


def target_text(target: Element | None) -> str:
    """'button “OK”'; an element without text is named by its label, tooltip or placeholder when known."""
    if target is None:
        return ""
    s = target.state
    text = target.text or s.get("label") or s.get("tip") or s.get("placeholder") or ""
    return f"{target.kind} “{text}”" if text else target.kind


SHORT_STAGES = {
    "observe": "obs",
    "perceive": "perc",
    "decide": "dec",
    "guard": "grd",
    "act": "act",
    "record": "rec",
}


def format_timings(timings: dict[str, float], short: bool = False) -> str:
    """'observe 1.2 · decide 0.3 · act 2.0 ms' in loop order (unknown stages last); ``short`` gives
    'obs 1.2 · dec 0.3 · act 12 ms' for narrow columns (whole milliseconds from 10 ms up)."""
    keys = [k for k in STAGES if k in timings] + sorted(k for k in timings if k not in STAGES)
    if not keys:
        return ""
    if short:  # stages under 0.05 ms (no perception, no guard) are left out; the tooltip has them all
        keys = [k for k in keys if timings[k] >= 0.05] or keys[:1]
        parts = [f"{SHORT_STAGES.get(k, k)} {timings[k]:.{0 if timings[k] >= 10 else 1}f}" for k in keys]
        return " · ".join(parts) + " ms"
    return " · ".join(f"{k} {timings[k]:.1f}" for k in keys) + " ms"


def thumbnail(image: np.ndarray, side: int = THUMB_SIDE) -> np.ndarray:
    """A small H'×W'×3 uint8 copy whose longer side is about ``side`` pixels (strided, no filtering:
    cheap enough for every step of a live run)."""
    h, w = image.shape[:2]
    k = max(1, int(np.ceil(max(h, w) / side)))
    return np.ascontiguousarray(image[::k, ::k])


def decision_payload(index: int, obs: Observation, elements: list[Element], decision: Any) -> dict[str, Any]:
    """What the live view needs to draw the coming action before it happens.

    Keys: index, image (H×W×3 uint8), screen (w, h), elements (list of Element dicts), action (action
    dict), target (Element dict or None), uitars, target_text, info.
    """
    screen = obs.size
    return {
        "index": index,
        "image": obs.image,
        "screen": screen,
        "elements": [e.to_dict() for e in elements],
        "action": action_to_dict(decision.action),
        "target": decision.target.to_dict() if decision.target is not None else None,
        "uitars": uitars(decision.action, screen),
        "target_text": target_text(decision.target),
        "info": {k: v for k, v in decision.info.items() if isinstance(v, str | int | float | bool)},
    }


def step_payload(step: Step, screen: tuple[int, int], thumb: np.ndarray | None = None) -> dict[str, Any]:
    """One row of the step list.

    Keys: index, time (s), uitars, action (dict), target_text, timings (ms per stage), timings_text,
    ok, error, match (True/False/None: replay verdict), reason, recorded (UI-TARS), thumb (array or None).
    """
    info = step.result.info
    return {
        "index": step.index,
        "time": step.time,
        "uitars": uitars(step.action, screen),
        "action": action_to_dict(step.action),
        "target_text": target_text(step.target),
        "timings": dict(step.timings),
        "timings_text": format_timings(step.timings),
        "timings_short": format_timings(step.timings, short=True),
        "ok": step.result.ok,
        "error": step.result.error or "",
        "match": info.get("match"),
        "reason": str(info.get("reason", "")),
        "recorded": str(info.get("recorded", "")),
        "thumb": thumb,
    }


def result_text(row: dict[str, Any]) -> str:
    """'ok', 'match', 'mismatch: why' or the error, for the step list's result column."""
    if not row["ok"]:
        return f"error: {row['error']}"
    if row["match"] is True:
        return "match"
    if row["match"] is False:
        return f"mismatch: {row['reason']}"
    return "ok"


class RateMeter:
    """Steps per second over a sliding window of the last ``window`` seconds.

    ``clock`` is injectable so tests need not sleep.
    """

    def __init__(self, window: float = 5.0, clock=time.monotonic):
        self.window = window
        self.clock = clock
        self._times: deque[float] = deque()

    def reset(self) -> None:
        self._times.clear()

    def tick(self) -> None:
        self._times.append(self.clock())

    def rate(self) -> float:
        now = self.clock()
        while self._times and now - self._times[0] > self.window:
            self._times.popleft()
        if len(self._times) < 2:
            return 0.0
        span = self._times[-1] - self._times[0]
        return (len(self._times) - 1) / span if span > 0 else 0.0
