"""The agent loop: observe → perceive → decide → guard → act → record, each stage timed.

`run_episode` is the one place that knows this order; the CLI, the app's worker thread, the sandbox
data generators and the tests all call it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from agent.envs.base import Environment
from agent.trace import TraceWriter
from agent.types import ActionResult, CallUser, Element, Finished, Observation, Step, Task


class Perceiver(Protocol):
    def __call__(self, observation: Observation) -> list[Element]: ...


class Guard(Protocol):
    """Safety checks (agent.safety.SafetyGuard implements this)."""

    def should_stop(self) -> str | None: ...
    def check(self, action: Any, observation: Observation) -> str | None: ...
    def confirm(self, action: Any, observation: Observation) -> bool: ...


@dataclass
class EpisodeResult:
    steps: list[Step] = field(default_factory=list)
    success: bool | None = None
    reason: str = ""
    duration: float = 0.0


def _ms(t0: float) -> float:
    return (time.perf_counter() - t0) * 1000


def run_episode(
    env: Environment,
    policy: Any,
    task: Task | str | None,
    *,
    trace: TraceWriter | None = None,
    max_steps: int = 50,
    perception: Perceiver | None = None,
    guard: Guard | None = None,
    stop: threading.Event | None = None,
    pause: threading.Event | None = None,
    on_decision: Callable[[Observation, list[Element], Any], None] | None = None,
    on_step: Callable[[Step], None] | None = None,
    keep_images: bool = False,
) -> EpisodeResult:
    """Run ``policy`` on ``env`` until it finishes, the environment ends, or a limit/stop is hit.

    Args:
        guard: safety checks; defaults to ``env.guard`` when the environment has one.
        perception: turns an observation into elements; None uses the environment's own
            (``observation.elements``: sandbox ground truth, or the elements recorded in a trace).
        stop: set from another thread to end the episode before the next step.
        pause: while set, the loop waits before the next step (``stop`` still ends it).
        on_decision: called with the decision before it is executed (the app draws it).
        on_step: called with each finished step (the app lists it).
        keep_images: keep each step's screenshot in memory in the result (traces store them anyway).
    """
    task = Task(task) if isinstance(task, str) else (task or Task(""))
    if guard is None:  # an environment that carries its own guard (the live desktop) is always guarded
        guard = getattr(env, "guard", None)
    result = EpisodeResult()
    start = time.perf_counter()
    policy.reset(task)
    t0 = time.perf_counter()
    obs = env.reset(task)
    observe_ms = _ms(t0)
    for index in range(max_steps):
        while pause is not None and pause.is_set() and not (stop is not None and stop.is_set()):
            time.sleep(0.02)
        if stop is not None and stop.is_set():
            result.reason = "stopped"
            break
        if guard is not None and (why := guard.should_stop()):
            result.reason = why
            break
        if index > 0:
            t0 = time.perf_counter()
            obs = env.observe()
            observe_ms = _ms(t0)
        timings = {"observe": observe_ms}
        step_time = time.perf_counter() - start

        t0 = time.perf_counter()
        elements = perception(obs) if perception is not None else list(obs.elements or [])
        timings["perceive"] = _ms(t0)

        t0 = time.perf_counter()
        decision = policy.act(obs, elements)
        timings["decide"] = _ms(t0)
        action = decision.action
        if on_decision is not None:
            on_decision(obs, elements, decision)

        t0 = time.perf_counter()
        refusal = guard.check(action, obs) if guard is not None else None
        if refusal is None and guard is not None and not guard.confirm(action, obs):
            refusal = "not confirmed by the user"
        timings["guard"] = _ms(t0)

        t0 = time.perf_counter()
        # every environment accepts every action, Finished and CallUser included (a no-op for most)
        outcome = ActionResult.failed(refusal, refused=True) if refusal is not None else env.act(action)
        timings["act"] = _ms(t0)

        step = Step(
            index=index, action=action, time=step_time, elements=elements, target=decision.target,
            result=outcome, timings=timings, policy={"name": getattr(policy, "name", ""), **decision.info},
            image=obs.image,
        )  # fmt: skip
        if trace is not None:
            t0 = time.perf_counter()
            trace.write_step(step)
            step.timings["record"] = _ms(t0)
        if not keep_images:
            step.image = None
        result.steps.append(step)
        if on_step is not None:
            on_step(step)

        if isinstance(action, Finished):
            result.reason = "finished"
            break
        if isinstance(action, CallUser):
            result.reason = "call_user"
            break
        if env.done():
            result.reason = "environment ended"
            break
    else:
        result.reason = "max_steps"

    env_success = env.success()
    if env_success is not None:
        result.success = env_success
    elif result.steps and isinstance(result.steps[-1].action, Finished):
        result.success = result.steps[-1].action.success
    result.duration = time.perf_counter() - start
    if trace is not None:
        trace.close({"success": result.success, "reason": result.reason, "steps": len(result.steps),
                     "seconds": round(result.duration, 3)})  # fmt: skip
    return result
