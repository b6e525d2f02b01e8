"""ReplayEnv: serves a recorded trace's frames and scores each action against the recorded one.

The recording advances one step per ``act`` whether or not the action matched, so a policy is scored
on every recorded step (open-loop replay, like offline evaluation in UI-TARS and OS-Copilot papers).
"""

from __future__ import annotations

import os
import time
from typing import Any

import numpy as np

from agent.envs.base import Environment
from agent.errors import TraceError
from agent.scoring import DEFAULT_TOLERANCE, ReplayReport, StepScore, score_action
from agent.trace import Trace, read_trace
from agent.types import Action, ActionResult, Observation, Task


def _describe(action: Action, screen: tuple[int, int]) -> str:
    from agent.grammar import format_action

    return format_action(action, screen=screen, coords="absolute", image_size=screen)


class ReplayEnv(Environment):
    name = "replay"

    def __init__(self, trace: Trace | str | os.PathLike[str], *, tolerance: float = DEFAULT_TOLERANCE):
        self.trace = trace if isinstance(trace, Trace) else read_trace(trace)
        if not self.trace.steps:
            raise TraceError(f"{self.trace.path}: the trace has no complete step to replay")
        self.tolerance = tolerance
        self._i = 0
        self._report = ReplayReport(trace=str(self.trace.path), total=len(self.trace.steps))
        self._screen = self.trace.screen

    @property
    def steps(self):
        """The recorded steps (for the recorded policy)."""
        return self.trace.steps

    @property
    def index(self) -> int:
        return self._i

    def _frame(self, i: int) -> np.ndarray:
        img = self.trace.load_frame(self.trace.steps[i])
        if img is None:  # a trace without frames: a blank screen of the recorded size
            w, h = self._screen or (1280, 800)
            img = np.zeros((h, w, 3), np.uint8)
        if self._screen is None:
            self._screen = (img.shape[1], img.shape[0])
        return img

    def reset(self, task: Task | None = None) -> Observation:
        self._i = 0
        self._report = ReplayReport(trace=str(self.trace.path), total=len(self.trace.steps))
        return self.observe()

    def observe(self) -> Observation:
        i = min(self._i, len(self.trace.steps) - 1)
        step = self.trace.steps[i]
        scale = float((self.trace.meta.get("env") or {}).get("scale", 1.0))
        return Observation(
            self._frame(i), scale=scale, elements=list(step.elements), info={"replay_index": i}
        )

    def act(self, action: Action) -> ActionResult:
        if self.done():
            return ActionResult.failed("the recording has ended")
        t0 = time.perf_counter()
        rec = self.trace.steps[self._i]
        screen = self._screen or (1280, 800)
        m = score_action(action, rec.action, target=rec.target, screen=screen, tolerance=self.tolerance)
        score = StepScore(self._i, m.ok, m.reason, _describe(action, screen), _describe(rec.action, screen))
        self._report.steps.append(score)
        self._i += 1
        return ActionResult(
            ok=True,
            duration=time.perf_counter() - t0,
            info={"match": m.ok, "reason": m.reason, "recorded": score.recorded},
        )

    def done(self) -> bool:
        return self._i >= len(self.trace.steps)

    def success(self) -> bool | None:
        return self._report.episode_success if self.done() else None

    def report(self) -> ReplayReport:
        return self._report

    def info(self) -> dict[str, Any]:
        env = dict(self.trace.meta.get("env") or {})
        env.update({"replay_of": str(self.trace.path)})
        if self._screen:
            env["screen"] = list(self._screen)
        return env
