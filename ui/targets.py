"""What the app can run here: targets, policies and weights, each with a reason when it is unavailable,
and the factories that build a run's environment, policy, perception and safety guard.

No Qt: pieces built by other parts of deskpilot (the sandbox, the live desktop, perception, trained
policies) are looked up without importing them, so the app starts while one is missing and says which.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent.envs.base import Environment
from agent.errors import DeskpilotError, WeightsError
from agent.types import Action, Observation, Task

TARGET_LABELS = {"sandbox": "Sandbox", "desktop": "This desktop", "replay": "Recorded session"}

# The sandbox's environment factory, run in a child process (see ui.sandbox_proxy).
SANDBOX_FACTORY = "agent.envs.sandbox.env:SandboxEnv"
SANDBOX_TASKS = "agent.envs.sandbox.tasks"
# Policies that only make sense with one kind of target.
POLICY_TARGETS: dict[str, tuple[str, ...]] = {
    "recorded": ("replay",),  # plays back the trace being replayed
    "expert": ("sandbox",),  # reads the sandbox's ground truth
}
TRAIN_HINTS = {
    "detector": "deskpilot train detector",
    "policy": "deskpilot train policy",
}


@dataclass(frozen=True)
class Availability:
    ok: bool
    why: str = ""  # a sentence for a tooltip when not ok


def _module_exists(name: str) -> bool:
    """True when ``name`` can be imported, found without importing it (nor running its package's code
    beyond parents that are already imported)."""
    try:
        return importlib.util.find_spec(name) is not None
    except (ModuleNotFoundError, ValueError):
        return False


def target_availability() -> dict[str, Availability]:
    """Each target's availability on this machine."""
    out = {}
    module = SANDBOX_FACTORY.partition(":")[0]
    out["sandbox"] = (
        Availability(True)
        if _module_exists(module)
        else Availability(False, f"the sandbox desktop is not part of this build yet ({module} is missing)")
    )
    if not (_module_exists("agent.envs.desktop") and _module_exists("agent.safety")):
        out["desktop"] = Availability(
            False,
            "the live desktop is not part of this build yet (agent.envs.desktop / agent.safety missing)",
        )
    elif os.name == "posix" and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        out["desktop"] = Availability(False, "no display to act on (DISPLAY is not set)")
    else:
        out["desktop"] = Availability(True)
    out["replay"] = Availability(True)
    return out


def weights_status(path: str) -> Availability:
    """Whether ``path`` holds weights (a folder with a config, or a file)."""
    if not path:
        return Availability(False, "no weights path set")
    p = Path(path).expanduser()
    if not p.exists():
        return Availability(False, f"{p} does not exist")
    if p.is_dir() and not any(p.iterdir()):
        return Availability(False, f"{p} is empty")
    return Availability(True)


def policy_availability(name: str, target: str, needs_weights: bool, weights: str) -> Availability:
    """Whether policy ``name`` can run on ``target`` with the configured ``weights``."""
    allowed = POLICY_TARGETS.get(name)
    if allowed is not None and target not in allowed:
        where = " or ".join(TARGET_LABELS[t] for t in allowed)
        return Availability(False, f"the {name} policy only works with the {where} target")
    if needs_weights:
        status = weights_status(weights)
        if not status.ok:
            return Availability(
                False,
                f"needs trained weights ({status.why}): run `{TRAIN_HINTS['policy']}` and set the path "
                "in Settings",
            )
    return Availability(True)


def weights_banner(detector_weights: str, policy_weights: str) -> str:
    """A message for the main window when trained weights are missing ('' when all are there)."""
    missing = []
    if not weights_status(detector_weights).ok:
        missing.append(f"detector (`{TRAIN_HINTS['detector']}`)")
    if not weights_status(policy_weights).ok:
        missing.append(f"policy (`{TRAIN_HINTS['policy']}`)")
    if not missing:
        return ""
    return (
        "No trained " + " or ".join(missing) + " weights: run the command(s) in brackets and set the paths "
        "in Settings. Until then the policies that need no weights are offered."
    )


#: where shipped or trained weights are looked for when the settings name none: weights/<kind>
WEIGHTS_ROOTS: list[Path] = [Path.cwd(), Path(__file__).resolve().parent.parent]


def effective_weights(path: str, kind: str) -> str:
    """``path`` when set, else ``<root>/weights/<kind>`` of the first root that has it, else ''."""
    if path:
        return path
    for root in WEIGHTS_ROOTS:
        p = root / "weights" / kind
        if weights_status(str(p)).ok:
            return str(p)
    return ""


# --------------------------------------------------------------------------------------------- runs
@dataclass
class RunConfig:
    """One run, as the main window asks for it. Plain data: the worker thread builds everything from it.

    Attributes:
        target: "sandbox", "desktop" or "replay".
        instruction: the task text typed by the person (the sandbox's own task when it generated one).
        policy: a registered policy name.
        max_steps: the loop's step limit.
        step_delay: seconds to wait after each step (so people can follow; 0 = none).
        trace_dir: where the run's trace is written (None: not recorded).
        replay_trace: the trace folder a Recorded-session run replays.
        sandbox_task: the sandbox task (as its dict) or None to let the sandbox pick.
        sandbox_options: keyword arguments for the sandbox environment (app, seed, ...).
        safety: keyword arguments for agent.safety.SafetyConfig (live desktop only).
        detector_weights / policy_weights: paths ('' = none).
    """

    target: str
    instruction: str
    policy: str
    max_steps: int = 30
    step_delay: float = 0.0
    trace_dir: str | None = None
    replay_trace: str = ""
    sandbox_task: dict[str, Any] | None = None
    sandbox_options: dict[str, Any] = field(default_factory=dict)
    safety: dict[str, Any] = field(default_factory=dict)
    detector_weights: str = ""
    policy_weights: str = ""
    seed: int = 0


ConfirmFn = Callable[[Action, Observation], bool]


def build_env(config: RunConfig, guard: Any | None = None) -> tuple[Environment, Task]:
    """The run's environment and task. Raises DeskpilotError with a readable message."""
    if config.target == "replay":
        from agent.envs.replay import ReplayEnv

        if not config.replay_trace:
            raise DeskpilotError("choose a recorded session (a trace folder) to replay")
        env = ReplayEnv(config.replay_trace)
        recorded = env.trace.task
        instruction = config.instruction or (recorded.instruction if recorded else "")
        return env, Task(instruction, id=recorded.id if recorded else "")
    if config.target == "sandbox":
        avail = target_availability()["sandbox"]
        if not avail.ok:
            raise DeskpilotError(avail.why)
        from ui.sandbox_proxy import ProcessEnv

        env = ProcessEnv(SANDBOX_FACTORY, dict(config.sandbox_options), env_vars={"QT_QPA_PLATFORM": "offscreen"},
                         name="sandbox")  # fmt: skip
        if config.sandbox_task is not None:
            task = Task.from_dict(config.sandbox_task)
        else:
            task = Task(config.instruction)
        if config.instruction and config.instruction != task.instruction:
            task = Task(config.instruction, id=task.id, meta=task.meta)
        return env, task
    if config.target == "desktop":
        avail = target_availability()["desktop"]
        if not avail.ok:
            raise DeskpilotError(avail.why)
        from agent.envs.desktop import make_desktop_env

        region = config.safety.get("region")
        return make_desktop_env(guard=guard, region=tuple(region) if region else None), Task(
            config.instruction
        )
    raise DeskpilotError(f"unknown target {config.target!r}")


def build_guard(config: RunConfig, confirm: ConfirmFn | None) -> Any | None:
    """A started SafetyGuard for the live desktop (None for other targets)."""
    if config.target != "desktop":
        return None
    from agent.safety import SafetyConfig, SafetyGuard

    opts = dict(config.safety)
    if opts.get("region") is not None:
        opts["region"] = tuple(int(v) for v in opts["region"])
    if "blocked_hotkeys" in opts:
        opts["blocked_hotkeys"] = tuple(opts["blocked_hotkeys"])
    ask = opts.pop("confirm", True)
    cfg = SafetyConfig(confirm=confirm if ask else None, **opts)
    return SafetyGuard(cfg).start()


def build_policy(config: RunConfig, env: Environment) -> Any:
    from policies import available_policies, make_policy

    specs = {s.name: s for s in available_policies()}
    spec = specs.get(config.policy)
    if spec is None:
        raise DeskpilotError(f"unknown policy {config.policy!r}; available: {', '.join(specs)}")
    avail = policy_availability(spec.name, config.target, spec.needs_weights, config.policy_weights)
    if not avail.ok:
        raise DeskpilotError(avail.why)
    context: dict[str, Any] = {"seed": config.seed}
    if config.policy_weights:
        context["weights"] = config.policy_weights
    steps = getattr(env, "steps", None)
    if steps is not None:
        context["steps"] = steps
    return make_policy(config.policy, **context)


def build_perception(config: RunConfig) -> Any | None:
    """Perception for targets without ground-truth elements (the live desktop); None elsewhere or when
    there are no detector weights (the loop then passes no elements, and policies that need none run).

    Uses ``vision.perception.load_perception(path)`` when vision offers one, else
    ``Perception.load(path)`` (detector and OCR accelerated as this machine allows, `vision.accel`).
    """
    if config.target != "desktop" or not weights_status(config.detector_weights).ok:
        return None
    if not _module_exists("vision.perception"):
        return None
    module = importlib.import_module("vision.perception")
    try:
        loader = getattr(module, "load_perception", None)
        if loader is not None:
            return loader(config.detector_weights)
        return module.Perception.load(str(config.detector_weights))
    except DeskpilotError:
        raise
    except Exception as exc:
        raise WeightsError(f"cannot load the detector from {config.detector_weights}: {exc}") from None


# --------------------------------------------------------------------------------------------- choices
#: which policy to select first on each target when the settings name none that fits
PREFERRED_POLICIES: dict[str, tuple[str, ...]] = {
    "sandbox": ("expert", "transformer", "random"),
    "desktop": ("transformer", "random", "fixed"),
    "replay": ("recorded", "transformer"),
}


def choose_policy(target: str, wanted: str, usable: list[str]) -> str:
    """``wanted`` if usable on ``target``, else the target's preferred usable policy, else the first."""
    if wanted in usable:
        return wanted
    for name in PREFERRED_POLICIES.get(target, ()):
        if name in usable:
            return name
    return usable[0] if usable else ""


def make_run_config(
    settings: Any,
    *,
    target: str,
    instruction: str,
    policy: str,
    trace_dir: str | None,
    replay_trace: str = "",
    sandbox_task: dict[str, Any] | None = None,
) -> RunConfig:
    """A RunConfig from the app's settings (ui.settings.AppSettings) and the main window's fields.

    Raises DeskpilotError when the request cannot run (no task typed, no trace chosen, no policy).
    """
    instruction = instruction.strip()
    if not policy:
        raise DeskpilotError("no policy can run on this target yet; see the policy list's tooltips")
    if target == "replay" and not replay_trace:
        raise DeskpilotError("choose a recorded session (a trace folder) to replay")
    if target == "desktop" and not instruction:
        raise DeskpilotError("type a task for the agent first")
    if target == "sandbox" and not instruction and sandbox_task is None:
        raise DeskpilotError("type a task, or press New task to let the sandbox pick one")
    safety = {
        "dry_run": settings.dry_run, "confirm": settings.confirm, "region": settings.region,
        "blocked_hotkeys": list(settings.blocked_hotkeys), "stop_hotkey": settings.stop_hotkey or None,
        "max_steps": settings.max_steps, "max_seconds": settings.max_seconds,
    }  # fmt: skip
    return RunConfig(
        target=target, instruction=instruction, policy=policy, max_steps=settings.max_steps,
        step_delay=settings.step_delay, trace_dir=trace_dir, replay_trace=replay_trace,
        sandbox_task=sandbox_task,
        sandbox_options={},  # the task fixes the app, screen and theme (from its seed)
        safety=safety, detector_weights=effective_weights(settings.detector_weights, "detector"),
        policy_weights=effective_weights(settings.policy_weights, "policy"),
        seed=settings.sandbox_seed,
    )  # fmt: skip


def recorded_instruction(path: str) -> str:
    """The task a trace recorded ('' when it has none or cannot be read: the run reports that later)."""
    import json

    try:
        meta = json.loads((Path(path).expanduser() / "meta.json").read_text(encoding="utf-8"))
        return str((meta.get("task") or {}).get("instruction", ""))
    except (OSError, ValueError, AttributeError):
        return ""


def sandbox_apps() -> list[str]:
    """The sandbox's app templates, for the app selector ([] while the sandbox is missing)."""
    if not _module_exists(SANDBOX_TASKS):
        return []
    from agent.envs.sandbox.templates import TEMPLATES

    return sorted(t for t in TEMPLATES if t != "message")  # message boxes only appear as dialogs


def sandbox_families() -> list[str]:
    """The sandbox's task families ([] while the sandbox is missing)."""
    if not _module_exists(SANDBOX_TASKS):
        return []
    from agent.envs.sandbox.families import FAMILIES

    return sorted(FAMILIES)


SAMPLE_TRIES = 400  # task indices tried to find one that uses a chosen app


def sample_sandbox_task(family: str, app: str, seed: int) -> dict[str, Any]:
    """A sandbox task as ``Task.to_dict()`` (the sandbox's own task in ``meta``), drawn from ``seed``.

    ``family`` / ``app`` ('' = any) narrow the draw. Held-out apps are drawn from the held-out split,
    the others from the training split. Raises DeskpilotError when no family fits.
    """
    if not _module_exists(SANDBOX_TASKS):
        raise DeskpilotError("the sandbox's tasks are not part of this build yet")
    import random

    from agent.envs.sandbox.families import FAMILIES, generate
    from agent.envs.sandbox.splits import HELDOUT_TEMPLATES

    if family and family not in FAMILIES:
        raise DeskpilotError(f"unknown task family {family!r}; known: {', '.join(sorted(FAMILIES))}")
    names = [f for f in ([family] if family else sorted(FAMILIES)) if not app or app in FAMILIES[f].templates]
    if not names:
        what = f"the family {family!r}" if family else "any task family"
        raise DeskpilotError(f"{what} has no tasks in the app {app!r}; choose another app or family")
    rng = random.Random(seed)
    split = "heldout" if app in HELDOUT_TEMPLATES else "train"
    for i in range(SAMPLE_TRIES):
        task = generate(rng.choice(names), split, seed * SAMPLE_TRIES + i)
        if not app or task.template == app:
            return task.to_task().to_dict()
    raise DeskpilotError(f"found no task in the app {app!r} after {SAMPLE_TRIES} draws; try another seed")
