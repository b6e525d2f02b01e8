"""The Policy interface.

A policy is reset with a task and then asked, once per step, for a `Decision` given the observation and
the elements perception found. ``act`` runs without gradients; trainable policies also implement
``forward(batch) -> (loss, logs)`` for training.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

from agent.types import Action, Element, Observation, Task


@dataclass
class Decision:
    """A policy's answer for one step.

    Attributes:
        action: what to do.
        target: the element the action is aimed at, when the policy chose one (drawn by the app,
            recorded in traces, used by replay scoring).
        info: anything worth recording: the UI-TARS text, a thought, scores, memory size, ...
    """

    action: Action
    target: Element | None = None
    info: dict[str, Any] = field(default_factory=dict)


class Policy(ABC):
    name: str = "policy"

    def reset(self, task: Task) -> None:  # noqa: B027 - stateless policies need nothing
        """Forget the previous episode and start ``task``."""

    @abstractmethod
    def act(self, observation: Observation, elements: list[Element]) -> Decision:
        """Choose the next action."""

    def close(self) -> None:  # noqa: B027
        """Release resources (models, threads)."""
