"""Policies that need no model: recorded playback and two floors to compare learned policies against."""

from __future__ import annotations

import random
from collections.abc import Iterable
from typing import Any

from agent.errors import DeskpilotError
from agent.types import Click, Element, Finished, Observation, Step, Task
from policies.base import Decision, Policy


class RecordedPolicy(Policy):
    """Plays back a recording's actions in order; ``steps`` come from a trace (or a ReplayEnv)."""

    name = "recorded"

    def __init__(self, steps: Iterable[Step] | None = None, **_: Any):
        if steps is None:
            raise DeskpilotError("the recorded policy needs a trace to play back (use it with replay)")
        self._steps = list(steps)
        self._i = 0

    def reset(self, task: Task | None = None) -> None:
        self._i = 0

    def act(self, observation: Observation, elements: list[Element]) -> Decision:
        if self._i >= len(self._steps):
            return Decision(Finished(True, "recording ended"))
        step = self._steps[self._i]
        self._i += 1
        return Decision(step.action, target=step.target, info={"recorded_index": step.index})


class FixedPointPolicy(Policy):
    """Clicks the centre of the screen, whatever it shows."""

    name = "fixed"

    def __init__(self, **_: Any):
        pass

    def act(self, observation: Observation, elements: list[Element]) -> Decision:
        w, h = observation.size
        return Decision(Click(w / 2, h / 2))


class RandomElementPolicy(Policy):
    """Clicks the centre of a random element (or a random point when there are none)."""

    name = "random"

    def __init__(self, seed: int = 0, **_: Any):
        self._rng = random.Random(seed)

    def act(self, observation: Observation, elements: list[Element]) -> Decision:
        if elements:
            el = self._rng.choice(elements)
            return Decision(Click(*el.center), target=el)
        w, h = observation.size
        return Decision(Click(self._rng.uniform(0, w - 1), self._rng.uniform(0, h - 1)))
