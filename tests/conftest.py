"""Shared fixtures. Factories, not canned objects: each test builds what it needs."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pytest

# Qt renders offscreen in tests unless a test starts its own X server.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from agent.trace import TraceWriter
from agent.types import Action, ActionResult, Element, Step, Task


def frame(width: int = 320, height: int = 200, seed: int = 0) -> np.ndarray:
    """A small deterministic RGB frame (H×W×3 uint8)."""
    rng = np.random.default_rng(seed)
    img = np.full((height, width, 3), 235, np.uint8)
    img[rng.integers(0, height, 50), rng.integers(0, width, 50)] = 20
    return img


@pytest.fixture
def make_trace(tmp_path: Path) -> Callable[..., Path]:
    """make_trace(actions, targets=None, name="t", secret_policy_info=None) -> trace folder."""

    def _make(
        actions: Sequence[Action],
        targets: Sequence[Element | None] | None = None,
        name: str = "t",
        size: tuple[int, int] = (320, 200),
        policy_info: dict | None = None,
    ) -> Path:
        path = tmp_path / name
        with TraceWriter(path, task=Task("test task", id="t1"), target="test", env_info={"screen": list(size)},
                         policy="scripted") as w:  # fmt: skip
            for i, a in enumerate(actions):
                tgt = targets[i] if targets else None
                w.write_step(Step(index=i, action=a, time=0.1 * i, elements=[tgt] if tgt else [], target=tgt,
                                  result=ActionResult(), timings={"decide": 1.0}, policy=dict(policy_info or {}),
                                  image=frame(*size, seed=i)))  # fmt: skip
        return path

    return _make


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """In CI a skipped test is a failed test: a missing dependency must not pass silently."""
    outcome = yield
    report = outcome.get_result()
    if os.environ.get("CI") and report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = f"skipped in CI (counts as a failure): {report.longrepr}"
