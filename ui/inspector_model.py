"""The trace inspector's model: an opened trace, the current step, its details and its comparison.

No Qt: the inspector window binds these to widgets, and tests drive the model directly.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from agent.errors import DeskpilotError, TraceError
from agent.trace import Trace, read_trace
from agent.types import Action, Step
from ui.payloads import format_timings, target_text, uitars

DEFAULT_SCREEN = (1280, 800)
FRAME_CACHE = 16  # decoded frames kept in memory (a 1280×800 frame is 3 MB)


@dataclass(frozen=True)
class Comparison:
    """A replay step: what the policy did against what the person recorded."""

    predicted: str  # UI-TARS string
    recorded: str  # UI-TARS string
    match: bool
    reason: str


class InspectorModel:
    """Holds one trace and a cursor. ``index`` is -1 while nothing is open."""

    def __init__(self) -> None:
        self.trace: Trace | None = None
        self.index = -1
        self._frames: OrderedDict[int, np.ndarray | None] = OrderedDict()

    # ------------------------------------------------------------------ opening
    def open(self, path: str | os.PathLike[str]) -> Trace:
        """Read and validate ``path``; on error the previous trace stays open and TraceError is raised."""
        trace = read_trace(Path(path))
        self.trace = trace
        self._frames.clear()
        self.index = 0 if trace.steps else -1
        return trace

    @property
    def path(self) -> Path | None:
        return self.trace.path if self.trace is not None else None

    @property
    def count(self) -> int:
        return len(self.trace.steps) if self.trace is not None else 0

    @property
    def screen(self) -> tuple[int, int]:
        if self.trace is not None and self.trace.screen:
            return self.trace.screen
        return DEFAULT_SCREEN

    @property
    def is_replay(self) -> bool:
        """True when the trace scored a policy against a recording (its steps carry a verdict)."""
        return self.trace is not None and any("recorded" in s.result.info for s in self.trace.steps)

    # ------------------------------------------------------------------ navigation
    def set_index(self, index: int) -> int:
        """Move to ``index`` (clamped to the trace); returns the new index."""
        if self.count == 0:
            self.index = -1
        else:
            self.index = max(0, min(int(index), self.count - 1))
        return self.index

    def next(self) -> int:
        return self.set_index(self.index + 1)

    def prev(self) -> int:
        return self.set_index(self.index - 1)

    def first(self) -> int:
        return self.set_index(0)

    def last(self) -> int:
        return self.set_index(self.count - 1)

    @property
    def step(self) -> Step | None:
        return self.trace.steps[self.index] if self.trace is not None and self.index >= 0 else None

    # ------------------------------------------------------------------ content
    def frame(self, index: int | None = None) -> np.ndarray | None:
        """The step's screenshot (H×W×3 uint8) or None; recently used frames are cached."""
        i = self.index if index is None else index
        if self.trace is None or not 0 <= i < self.count:
            return None
        if i in self._frames:
            self._frames.move_to_end(i)
            return self._frames[i]
        img = self.trace.load_frame(self.trace.steps[i])
        self._frames[i] = img
        while len(self._frames) > FRAME_CACHE:
            self._frames.popitem(last=False)
        return img

    def comparison(self, index: int | None = None) -> Comparison | None:
        """The recorded-vs-predicted verdict of a replay step, else None."""
        i = self.index if index is None else index
        if self.trace is None or not 0 <= i < self.count:
            return None
        step = self.trace.steps[i]
        info = step.result.info
        if "recorded" not in info:
            return None
        return Comparison(uitars(step.action, self.screen), str(info["recorded"]), bool(info.get("match")),
                          str(info.get("reason", "")))  # fmt: skip

    def recorded_action(self, index: int | None = None) -> Action | None:
        """The recorded action of a replay step parsed back from its UI-TARS string (to draw it), or None."""
        cmp = self.comparison(index)
        if cmp is None or not cmp.recorded:
            return None
        from agent.grammar import parse_action

        try:
            return parse_action(cmp.recorded, screen=self.screen, coords="absolute", image_size=self.screen)
        except DeskpilotError:
            return None  # an old or foreign trace: show the text, skip the drawing

    def details(self, index: int | None = None) -> list[tuple[str, str]]:
        """(label, text) rows describing a step, for the details pane."""
        i = self.index if index is None else index
        if self.trace is None or not 0 <= i < self.count:
            return []
        s = self.trace.steps[i]
        rows = [
            ("step", f"{s.index + 1} of {self.count}"),
            ("time", f"{s.time:.2f} s"),
            ("action", uitars(s.action, self.screen)),
            ("target", target_text(s.target) or "—"),
            ("result", "ok" if s.result.ok else f"error: {s.result.error}"),
            ("elements", str(len(s.elements))),
            ("timings", format_timings(s.timings) or "—"),
        ]
        for key, value in s.policy.items():
            if isinstance(value, str | int | float | bool) and value != "":
                rows.append((f"policy {key}", str(value)))
        return rows

    def summary(self) -> str:
        """One line about the whole trace: task, target, policy, steps, outcome."""
        if self.trace is None:
            return "No trace open. Open one with File ▸ Open, by dropping a folder here, or from Recent."
        meta: dict[str, Any] = self.trace.meta
        task = (meta.get("task") or {}).get("instruction", "")
        summary = meta.get("summary") or {}
        outcome = "unfinished"
        if summary:
            ok = summary.get("success")
            outcome = {True: "succeeded", False: "failed", None: "ended"}.get(ok, "ended")
            if summary.get("reason"):
                outcome += f" ({summary['reason']})"
        line = f"“{task}” · {meta.get('target') or '?'} · policy {meta.get('policy') or '?'} · "
        line += f"{self.count} steps · {outcome}"
        if self.is_replay:
            matched = sum(1 for s in self.trace.steps if s.result.info.get("match"))
            line += f" · {matched}/{self.count} match the recording"
        return line

    def export_html(self, out: str | os.PathLike[str]) -> Path:
        """Write the HTML report of the open trace to ``out``; returns the path."""
        if self.trace is None:
            raise TraceError("open a trace before exporting it")
        from agent.report import render_html

        out = Path(out)
        try:
            out.write_text(render_html(self.trace), encoding="utf-8")
        except OSError as exc:
            raise TraceError(f"cannot write {out}: {exc.strerror or exc}") from None
        return out
