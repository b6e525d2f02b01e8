"""The run controller: starts the agent in a worker thread and turns its callbacks into plain-data signals.

``AgentThread`` (a QThread) calls `agent.loop.run_episode`; its signals carry dicts and numpy arrays
only (see `ui.payloads`), never Qt objects, so the GUI thread owns every pixmap. ``RunController`` is the
state machine the window binds to — idle → starting → running ⇄ paused → stopping → idle — and owns
the loop's ``stop``/``pause`` events:

- Pause sets ``pause``; the loop waits before its next step.
- Step releases ``pause`` for exactly one step: the worker sets it again when that step ends.
- Stop sets ``stop`` and answers any open confirmation with "no"; the loop ends before its next step.
- Confirm-first (live desktop): the worker emits ``confirm_requested`` and blocks until the GUI calls
  ``answer_confirm`` (or Stop), polling ``stop`` so it can never hang a closing window.

No widget here: tests drive the controller directly.
"""

from __future__ import annotations

import datetime as _dt
import logging
import threading
import time
import traceback
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QThread, Signal

from agent.errors import DeskpilotError
from agent.types import Action, Observation, Step, action_to_dict
from ui.payloads import RateMeter, decision_payload, step_payload, thumbnail, uitars
from ui.qt_compat import emit
from ui.targets import RunConfig, build_env, build_guard, build_perception, build_policy

log = logging.getLogger(__name__)

STATES = ("idle", "starting", "running", "paused", "stopping")


def _readable(exc: BaseException) -> str:
    """One line for people: a DeskpilotError's own message, else the type and message of a bug."""
    if isinstance(exc, DeskpilotError):
        return str(exc)
    return f"unexpected error ({type(exc).__name__}): {exc}"


class AgentThread(QThread):
    """Runs one episode. Signals carry plain data: dicts, strings and numpy arrays."""

    status = Signal(str)  # what the worker is doing ("starting the sandbox", ...)
    decided = Signal(object)  # ui.payloads.decision_payload
    stepped = Signal(object)  # ui.payloads.step_payload
    ended = Signal(object)  # {"success", "reason", "steps", "seconds", "trace"}
    failed = Signal(str)  # a readable message
    confirm_requested = Signal(object)  # {"uitars", "action", "index"}

    def __init__(self, config: RunConfig, stop: threading.Event, pause: threading.Event):
        super().__init__()
        self.config = config
        self.stop_event = stop
        self.pause_event = pause
        self.single_step = threading.Event()  # set by Step: pause again after the next step
        self._answer: bool | None = None
        self._answered = threading.Event()
        self._index = 0
        self._screen: tuple[int, int] = (0, 0)
        self._thumb: Any = None

    # ----------------------------------------------------------------- called from the GUI thread
    def answer_confirm(self, yes: bool) -> None:
        self._answer = bool(yes)
        self._answered.set()

    # ----------------------------------------------------------------- worker thread
    def _confirm(self, action: Action, obs: Observation) -> bool:
        """The guard's confirm callback: ask the GUI and wait, waking up if the run is stopped."""
        self._answer = None
        self._answered.clear()
        emit(
            self.confirm_requested,
            {"index": self._index, "action": action_to_dict(action), "uitars": uitars(action, obs.size)},
        )
        while not self._answered.wait(0.05):
            if self.stop_event.is_set():
                return False
        return bool(self._answer)

    def _on_decision(self, obs: Observation, elements: list, decision: Any) -> None:
        self._screen = obs.size
        self._thumb = thumbnail(obs.image)  # the loop drops step images unless told to keep them all
        emit(self.decided, decision_payload(self._index, obs, elements, decision))

    def _on_step(self, step: Step) -> None:
        emit(self.stepped, step_payload(step, self._screen, self._thumb))
        self._thumb = None
        self._index = step.index + 1
        if self.single_step.is_set():
            self.single_step.clear()
            self.pause_event.set()
        if self.config.step_delay > 0:
            self.stop_event.wait(self.config.step_delay)  # wakes at once on Stop

    def run(self) -> None:
        from agent.loop import run_episode
        from agent.trace import TraceWriter

        env = policy = guard = writer = None
        cfg = self.config
        try:
            emit(self.status, f"starting the {cfg.target} environment…")
            guard = build_guard(cfg, self._confirm)
            env, task = build_env(cfg, guard)
            if self.stop_event.is_set():
                emit(
                    self.ended,
                    {"success": None, "reason": "stopped", "steps": 0, "seconds": 0.0, "trace": ""},
                )
                return
            emit(self.status, f"loading the {cfg.policy} policy…")
            policy = build_policy(cfg, env)
            perception = build_perception(cfg)
            if cfg.trace_dir:
                writer = TraceWriter(cfg.trace_dir, task=task, target=cfg.target, env_info=env.info(),
                                     policy=cfg.policy)  # fmt: skip
            emit(self.status, "running")
            result = run_episode(
                env, policy, task, trace=writer, max_steps=cfg.max_steps, perception=perception, guard=guard,
                stop=self.stop_event, pause=self.pause_event, on_decision=self._on_decision,
                on_step=self._on_step,
            )  # fmt: skip
            writer = None  # run_episode closed it with the summary
            emit(self.ended, {"success": result.success, "reason": result.reason, "steps": len(result.steps),
                             "seconds": result.duration, "trace": cfg.trace_dir or ""})  # fmt: skip
        except Exception as exc:  # every failure becomes a message, never a crash of the app
            if not isinstance(exc, DeskpilotError):
                log.error("run failed:\n%s", traceback.format_exc())
            emit(self.failed, _readable(exc))
        finally:
            for closer in (
                lambda: writer.close({"error": "run failed"}) if writer is not None else None,
                lambda: guard.stop() if guard is not None else None,
                lambda: policy.close() if policy is not None else None,
                lambda: env.close() if env is not None else None,
            ):
                try:
                    closer()
                except Exception:
                    log.exception("cleanup after a run failed")


class RunController(QObject):
    """Owns at most one AgentThread and the run's state; the main window binds to its signals."""

    state_changed = Signal(str)
    status = Signal(str)
    decided = Signal(object)
    stepped = Signal(object)
    ended = Signal(object)
    failed = Signal(str)
    confirm_requested = Signal(object)
    stats_changed = Signal(object)  # {"fps", "steps", "timings"}

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.state = "idle"
        self.steps: list[dict[str, Any]] = []
        self.last_decision: dict[str, Any] | None = None
        self.last_result: dict[str, Any] | None = None
        self.last_error: str = ""
        self.rate = RateMeter()
        self._stop = threading.Event()
        self._pause = threading.Event()
        self._thread: AgentThread | None = None

    # ----------------------------------------------------------------- state
    def _set_state(self, state: str) -> None:
        if state != self.state:
            self.state = state
            emit(self.state_changed, state)

    @property
    def busy(self) -> bool:
        return self.state != "idle"

    # ----------------------------------------------------------------- commands
    def start(self, config: RunConfig, *, paused: bool = False) -> None:
        """Start a run; ``paused`` starts it held before the first step (for Step from idle)."""
        if self.busy:
            raise DeskpilotError("a run is already in progress; stop it first")
        self.steps = []
        self.last_decision = None
        self.last_result = None
        self.last_error = ""
        self.rate.reset()
        self._stop = threading.Event()
        self._pause = threading.Event()
        if paused:
            self._pause.set()
        t = AgentThread(config, self._stop, self._pause)
        t.status.connect(self.status)
        t.decided.connect(self._on_decided)
        t.stepped.connect(self._on_stepped)
        t.ended.connect(self._on_ended)
        t.failed.connect(self._on_failed)
        t.confirm_requested.connect(self.confirm_requested)
        t.finished.connect(self._on_thread_finished)
        self._thread = t
        self._set_state("paused" if paused else "starting")
        t.start()

    def pause(self) -> None:
        if self.state in ("running", "starting"):
            self._pause.set()
            self._set_state("paused")

    def resume(self) -> None:
        if self.state == "paused":
            if self._thread is not None:
                self._thread.single_step.clear()
            self._pause.clear()
            self._set_state("running")

    def step_once(self) -> None:
        """Let exactly one step run, then pause again."""
        if self.state == "paused" and self._thread is not None:
            self._thread.single_step.set()
            self._pause.clear()  # stays "paused" for the buttons: it pauses again after this step

    def stop(self) -> None:
        """Ask the run to end before its next step (an open confirmation is answered "no")."""
        if self._thread is None:
            return
        self._stop.set()
        self._pause.clear()
        self._thread.answer_confirm(False)
        self._set_state("stopping")

    def answer_confirm(self, yes: bool) -> None:
        if self._thread is not None:
            self._thread.answer_confirm(yes)

    def shutdown(self, timeout_ms: int = 10000) -> bool:
        """Stop and wait for the worker (window closing). True when no thread is left running."""
        if self._thread is None:
            return True
        self.stop()
        return self._thread.wait(timeout_ms)

    # ----------------------------------------------------------------- from the worker (GUI thread)
    def _on_decided(self, payload: dict[str, Any]) -> None:
        self.last_decision = payload
        if self.state == "starting":
            self._set_state("running")
        emit(self.decided, payload)

    def _on_stepped(self, row: dict[str, Any]) -> None:
        self.steps.append(row)
        self.rate.tick()
        emit(
            self.stats_changed, {"fps": self.rate.rate(), "steps": len(self.steps), "timings": row["timings"]}
        )
        emit(self.stepped, row)

    def _on_ended(self, result: dict[str, Any]) -> None:
        self.last_result = result
        emit(self.ended, result)

    def _on_failed(self, message: str) -> None:
        self.last_error = message
        emit(self.failed, message)

    def _on_thread_finished(self) -> None:
        t = self._thread
        self._thread = None
        if t is not None:
            t.deleteLater()
        self._set_state("idle")


def new_trace_dir(runs_dir: str | Path, target: str) -> str:
    """A fresh folder name for a run's trace: <runs_dir>/<YYYYmmdd-HHMMSS>-<target>[-n]."""
    base = Path(runs_dir).expanduser()
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    path = base / f"{stamp}-{target}"
    n = 1
    while path.exists():
        n += 1
        path = base / f"{stamp}-{target}-{n}"
    return str(path)


def wait_idle(controller: RunController, timeout: float = 10.0) -> bool:
    """Process events until the controller is idle (scripts and benchmarks; tests use qtbot)."""
    from PySide6.QtCore import QCoreApplication

    deadline = time.monotonic() + timeout
    while controller.busy and time.monotonic() < deadline:
        QCoreApplication.processEvents()
        time.sleep(0.005)
    return not controller.busy


def button_states(state: str) -> dict[str, bool]:
    """Which of Run / Pause / Step / Stop are enabled in each controller state."""
    return {
        "run": state in ("idle", "paused"),
        "pause": state in ("starting", "running"),
        "step": state in ("idle", "paused"),
        "stop": state in ("starting", "running", "paused"),
    }
