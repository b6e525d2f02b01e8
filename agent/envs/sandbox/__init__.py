"""The sandbox desktop: generated apps of real Qt widgets rendered offscreen, with ground truth, tasks,
success checks, and the data to train on.

Modules (Qt is imported only by the ones marked *):

- `qt`*: the offscreen QApplication with one screen per supported size and scale (`SCREENS`), `Desk`.
- `spec`, `templates`, `vocab`, `theme`: apps as plain data; templates draw them from a seed.
- `render`*: spec → real widgets (`App`), widget state for predicates; `window`*: title-barred frames, dialogs.
- `truth`*: visible elements as `agent.types.Element` (screen pixels, kinds from `ELEMENT_KINDS`).
- `input`*: actions as real Qt input events at screen coordinates.
- `scene`*, `detection`*: random desktops and COCO detection data (``deskpilot sandbox gen-detection``).
- `tasks`, `families`, `splits`: tasks as data, 15 families, train/val/heldout splits, task files.
- `env`*: `SandboxEnv`; `runner`: run tasks with any policy; `bench`: ``bench_sandbox``.

The expert lives in `policies.scripted.ExpertPolicy`.
"""

from __future__ import annotations

__all__ = ["SandboxEnv", "SandboxTask", "generate", "load_task_file"]


def __getattr__(name: str):  # lazy: importing the package must not start Qt
    if name == "SandboxEnv":
        from agent.envs.sandbox.env import SandboxEnv

        return SandboxEnv
    if name == "SandboxTask":
        from agent.envs.sandbox.tasks import SandboxTask

        return SandboxTask
    if name == "generate":
        from agent.envs.sandbox.families import generate

        return generate
    if name == "load_task_file":
        from agent.envs.sandbox.tasks import load_task_file

        return load_task_file
    raise AttributeError(name)
