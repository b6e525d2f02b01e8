"""Policies by name, so the CLI and the app can offer them (``--policy NAME``).

Factories import their modules lazily: asking for the recorded policy never imports torch.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from agent.errors import DeskpilotError
from policies.base import Policy


@dataclass(frozen=True)
class PolicySpec:
    name: str
    target: str  # "module:attribute" of a factory taking keyword context
    description: str
    needs_weights: bool = False


_REGISTRY: dict[str, PolicySpec] = {}


def register_policy(name: str, target: str, description: str, *, needs_weights: bool = False) -> None:
    """Register ``target`` ("package.module:factory") under ``name``; later registrations win."""
    _REGISTRY[name] = PolicySpec(name, target, description, needs_weights)


def available_policies() -> list[PolicySpec]:
    return sorted(_REGISTRY.values(), key=lambda s: s.name)


def make_policy(name: str, **context: Any) -> Policy:
    """Build the policy called ``name``. ``context`` holds what factories may need:
    ``steps`` (recorded steps, for replay), ``weights`` (a path), ``seed``, ``device``."""
    spec = _REGISTRY.get(name)
    if spec is None:
        known = ", ".join(s.name for s in available_policies())
        raise DeskpilotError(f"unknown policy {name!r}; available: {known}")
    module_name, _, attr = spec.target.partition(":")
    factory: Callable[..., Policy] = getattr(importlib.import_module(module_name), attr)
    return factory(**context)


register_policy("recorded", "policies.baselines:RecordedPolicy",
                "plays back the actions of a recorded trace (replay's upper bound)")  # fmt: skip
register_policy("fixed", "policies.baselines:FixedPointPolicy",
                "clicks the centre of the screen every step (a floor for scores)")  # fmt: skip
register_policy("random", "policies.baselines:RandomElementPolicy",
                "clicks a random visible element (a floor for scores)")  # fmt: skip
register_policy("expert", "policies.scripted:ExpertPolicy",
                "the sandbox's scripted expert: follows the task plan using ground-truth elements")  # fmt: skip
register_policy("transformer", "policies.transformer:make_transformer_policy", "the trained transformer policy with O(1) memory (weights/policy)", needs_weights=True)  # fmt: skip
