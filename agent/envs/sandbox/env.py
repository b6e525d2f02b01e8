"""`SandboxEnv`: the Environment over generated Qt apps, with ground truth and success checks.

``reset(task)`` builds a desktop on a screen of the task's size (drawn from its seed), a distractor
window or two, and the task's app on top; ``observe()`` grabs the screen and reads the ground truth;
``act(action)`` delivers real input events (`agent.envs.sandbox.input`); ``success()`` evaluates the
task's predicate over widget state. Each reset deletes the previous episode's widgets (deleteLater +
event processing), so one env serves thousands of episodes.

The env runs in the thread that created the QApplication. To show it from another process (the desktop
app), drive it through a child process and pass observations as arrays.
"""

from __future__ import annotations

import random
import time
from typing import Any

from agent.envs.base import Environment
from agent.envs.sandbox.qt import SCREENS, ensure_app, flush_events
from agent.envs.sandbox.tasks import SandboxTask, evaluate
from agent.errors import ActionError, TaskError
from agent.types import (
    Action,
    ActionResult,
    CallUser,
    Click,
    Drag,
    Finished,
    Hotkey,
    Move,
    Observation,
    Scroll,
    Task,
    TypeText,
    Wait,
)  # fmt: skip

#: ``Observation.info`` key of the widget state (click counts, true texts of password fields, ...): privileged
#: facts for the scripted expert, so it can label any state (DAgger); learned policies must not read it.
PRIVILEGED = "sandbox_state"


class SandboxEnv(Environment):
    """Generated apps of real Qt widgets, offscreen.

    Args:
        screen: force a screen, (width, height) or (width, height, scale) from `SCREENS`; None draws one per
            task (sometimes a HiDPI one: then ``Observation.scale`` > 1).
        distractors: how many other app windows may sit behind the task's app (0..distractors).
        style: force a Qt style ("Fusion", "Windows"); None draws one per task.
    """

    name = "sandbox"

    def __init__(
        self, *, screen: tuple[int, ...] | None = None, distractors: int = 1, style: str | None = None
    ):
        ensure_app()
        if screen is not None:
            screen = (int(screen[0]), int(screen[1]), float(screen[2]) if len(screen) > 2 else 1.0)
            if screen not in SCREENS:
                sizes = ", ".join(f"{w}x{h}@{s:g}" for w, h, s in SCREENS)
                raise TaskError(
                    f"screen {screen[0]}x{screen[1]}@{screen[2]:g} is not offered; use one of {sizes}"
                )
        self.screen = screen
        self.distractors = distractors
        self.style = style
        self.scene = None
        self.app = None  # the task's App
        self.task: SandboxTask | None = None
        self.input = None
        self.steps = 0
        self._episodes = 0

    # ------------------------------------------------------------------ episode
    def reset(self, task: Task | SandboxTask | None = None) -> Observation:
        from agent.envs.sandbox.input import QtInput
        from agent.envs.sandbox.qt import desk_for
        from agent.envs.sandbox.render import App
        from agent.envs.sandbox.scene import Scene, build_desktop, place, set_app_theme, set_style
        from agent.envs.sandbox.templates import TEMPLATES, make_spec
        from agent.envs.sandbox.theme import available_fonts, available_styles, random_theme

        self._teardown()
        st = self._as_sandbox_task(task)
        rng = random.Random(f"env:{st.id}:{st.seed}")
        size = self.screen or rng.choice(SCREENS)  # keep in step with `screen_for`
        desk = desk_for(size)
        style = self.style or rng.choice(available_styles())
        set_style(style)
        theme = random_theme(rng, available_fonts())
        set_app_theme(theme)
        scene = Scene(
            desk, info={"style": style, "screen": list(desk.size), "scale": desk.scale, "dark": theme.dark}
        )
        scene.desktop = build_desktop(desk, rng, theme)
        spec = st.spec()
        others = [t for t in sorted(TEMPLATES) if t not in ("message", st.template)]
        for i in range(rng.randint(0, self.distractors)):
            other = App(
                make_spec(rng.choice(others), rng.randrange(10**9)), desk, theme, rng, prefix=f"bg{i}/"
            )
            place(other, rng, other.spec, theme)
            scene.apps.append(other)
        self.app = App(spec, desk, theme, rng)
        place(self.app, rng, spec, theme)
        scene.apps.append(self.app)
        for frame in self.app.windows:  # the task's window has the keyboard, as a just-opened app would
            frame.windowHandle().requestActivate()
        flush_events()
        self.scene, self.task, self.input, self.steps = scene, st, QtInput(desk), 0
        self._episodes += 1
        return self.observe()

    def screen_for(self, task: SandboxTask) -> tuple[int, int, float]:
        """The (width, height, scale) `reset(task)` will use, known before building anything."""
        return self.screen or random.Random(f"env:{task.id}:{task.seed}").choice(SCREENS)

    def _as_sandbox_task(self, task: Task | SandboxTask | None) -> SandboxTask:
        if isinstance(task, SandboxTask):
            return task
        if task is None:
            from agent.envs.sandbox.families import generate

            return generate("click_button", "train", self._episodes, seed=12345)
        return SandboxTask.from_task(task)

    def observe(self) -> Observation:
        from agent.envs.sandbox.truth import ground_truth

        if self.scene is None:
            raise TaskError("reset the sandbox with a task before observing")
        flush_events(1)
        desk = self.scene.desk
        image = desk.grab()
        elements = ground_truth(desk)
        info = {"screen": list(desk.size), "step": self.steps, "task": self.task.id,
                PRIVILEGED: {"counts": dict(self.app.counts), "state": self.app.all_states()}}  # fmt: skip
        return Observation(image=image, scale=desk.scale, elements=elements, info=info)

    def act(self, action: Action) -> ActionResult:
        t0 = time.perf_counter()
        if self.scene is None:
            return ActionResult.failed("the sandbox has no episode; call reset first")
        self.steps += 1
        try:
            if isinstance(action, Click):
                self.input.click(action)
            elif isinstance(action, Move):
                self.input.move(action)
            elif isinstance(action, Drag):
                self.input.drag(action)
            elif isinstance(action, Scroll):
                self.input.scroll(action)
            elif isinstance(action, TypeText):
                self.input.type_text(action)
            elif isinstance(action, Hotkey):
                self.input.hotkey(action)
            elif isinstance(action, Wait | Finished | CallUser):
                flush_events()  # nothing in the sandbox moves on its own: waiting is only settling
            else:
                return ActionResult.failed(f"the sandbox cannot perform {type(action).__name__}")
        except ActionError as exc:
            return ActionResult(ok=False, error=str(exc), duration=time.perf_counter() - t0)
        except RuntimeError as exc:  # a widget deleted under the action (its window was closed)
            return ActionResult(ok=False, error=f"Qt: {exc}", duration=time.perf_counter() - t0)
        return ActionResult(ok=True, duration=time.perf_counter() - t0)

    def success(self) -> bool | None:
        if self.app is None or self.task is None:
            return None
        return evaluate(self.task.success, self.app.state)[0]

    def failures(self) -> list[str]:
        """The task's success conditions that do not hold now (for reports)."""
        if self.app is None or self.task is None:
            return []
        return evaluate(self.task.success, self.app.state)[1]

    def info(self) -> dict[str, Any]:
        out: dict[str, Any] = {"env": "sandbox"}
        if self.scene is not None:
            out.update(self.scene.info)
        if self.task is not None:
            out.update({"family": self.task.family, "template": self.task.template or "inline", "seed": self.task.seed,
                        "split": self.task.split, "task_id": self.task.id})  # fmt: skip
        return out

    def _teardown(self) -> None:
        from agent.envs.sandbox.detection import close_popups

        if self.scene is not None:
            close_popups()
            self.scene.close()
        self.scene = self.app = self.input = None

    def close(self) -> None:
        self._teardown()
        flush_events(1)
