"""The Environment interface every target implements (sandbox, desktop, replay).

The hardware boundary: the loop only talks to this, so tests can swap a real screen for a recorded or
generated one. ``act`` never raises for an action that failed or was refused; it returns an
`ActionResult` with ``ok=False`` and the reason.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

from agent.types import Action, ActionResult, Observation, Task


class Environment(ABC):
    """reset(task) -> Observation; observe() -> Observation; act(action) -> ActionResult; close()."""

    #: short name written into traces ("sandbox", "desktop", "replay", ...)
    name: str = "env"

    @abstractmethod
    def reset(self, task: Task | None = None) -> Observation:
        """Start an episode (for ``task`` when the environment sets tasks up) and return the first frame."""

    @abstractmethod
    def observe(self) -> Observation:
        """Capture the current screen."""

    @abstractmethod
    def act(self, action: Action) -> ActionResult:
        """Perform ``action``; failures and refusals are returned as data."""

    def done(self) -> bool:
        """True when the environment has nothing more to offer (a replay ran out of steps)."""
        return False

    def success(self) -> bool | None:
        """Whether the task was accomplished, when the environment can tell (sandbox); else None."""
        return None

    def info(self) -> dict[str, Any]:
        """Facts for the trace's meta.json (screen size, scale, app, ...)."""
        return {}

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release resources. Idempotent."""

    def __enter__(self) -> Environment:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
