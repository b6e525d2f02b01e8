"""Run an Environment in a child process and talk to it over a pipe.

Why: the sandbox renders its apps with Qt's *offscreen* platform, and a process has exactly one Qt
platform — the app's own (xcb, wayland, ...). So the app starts the sandbox in a `spawn` child with
``QT_QPA_PLATFORM=offscreen`` and proxies reset/observe/act/success/... to it. Observations (numpy
frames) and actions are pickled across the pipe (~3 MB per 1280×800 frame, a few milliseconds).

Errors in the child come back as the same DeskpilotError subclass with the child's message; a child that
dies or stops answering becomes `EnvironmentUnavailable`. Nothing here imports Qt.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import multiprocessing as mp
import os
import traceback
from multiprocessing.connection import Connection
from typing import Any

from agent import errors
from agent.envs.base import Environment
from agent.errors import DeskpilotError, EnvironmentUnavailable
from agent.types import Action, ActionResult, Observation, Task

log = logging.getLogger(__name__)

START_TIMEOUT = 120.0  # seconds for the child to import and build its environment (cold caches, 2 cores)
CALL_TIMEOUT = 60.0  # seconds for one call


def _resolve(target: str) -> Any:
    module_name, _, attr = target.partition(":")
    obj: Any = importlib.import_module(module_name)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


def _error_payload(exc: BaseException) -> tuple[str, str, str]:
    return (type(exc).__name__, str(exc), traceback.format_exc())


def _serve(conn: Connection, factory: str, kwargs: dict[str, Any], env_vars: dict[str, str]) -> None:
    """The child's main loop: build the environment, then answer (method, args) messages until "close"."""
    os.environ.update(env_vars)  # before anything imports Qt and picks a platform
    env = None
    try:
        env = _resolve(factory)(**kwargs)
        conn.send((True, None))
    except BaseException as exc:  # report every construction failure, then exit
        conn.send((False, _error_payload(exc)))
        return
    try:
        while True:
            try:
                method, args, call_kwargs = conn.recv()
            except (EOFError, OSError):  # the parent went away
                break
            if method == "close":
                break
            try:
                if method == "call_function":  # a module-level helper, e.g. sampling a task
                    value = _resolve(args[0])(*args[1:], **call_kwargs)
                else:
                    value = getattr(env, method)(*args, **call_kwargs)
                conn.send((True, value))
            except Exception as exc:
                conn.send((False, _error_payload(exc)))
    finally:
        try:
            env.close()
        finally:
            conn.close()


class ProcessEnv(Environment):
    """An Environment built by ``factory(**kwargs)`` ("package.module:Class") in a spawned process.

    Args:
        factory: "module:callable" that returns the environment, imported in the child.
        kwargs: picklable keyword arguments for it.
        env_vars: environment variables set in the child before the import (e.g. the Qt platform).
        name: the name written into traces.
    """

    def __init__(
        self,
        factory: str,
        kwargs: dict[str, Any] | None = None,
        *,
        env_vars: dict[str, str] | None = None,
        name: str = "env",
        start_timeout: float = START_TIMEOUT,
        call_timeout: float = CALL_TIMEOUT,
    ):
        self.name = name
        self.call_timeout = call_timeout
        ctx = mp.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self._proc = ctx.Process(
            target=_serve, args=(child, factory, dict(kwargs or {}), dict(env_vars or {})), daemon=True,
            name=f"deskpilot-{name}",
        )  # fmt: skip
        self._proc.start()
        child.close()
        self._closed = False
        try:
            self._answer(start_timeout, f"start the {name} environment")
        except BaseException:
            self.close()
            raise

    # ------------------------------------------------------------------ plumbing
    def _answer(self, timeout: float, what: str) -> Any:
        try:
            if not self._conn.poll(timeout):
                raise EnvironmentUnavailable(f"the {self.name} process did not {what} within {timeout:.0f} s")
            ok, value = self._conn.recv()
        except (EOFError, OSError, BrokenPipeError):
            self._proc.join(1.0)
            raise EnvironmentUnavailable(
                f"the {self.name} process exited unexpectedly (exit code {self._proc.exitcode}) "
                f"while trying to {what}"
            ) from None
        if ok:
            return value
        kind, message, tb = value
        cls = getattr(errors, kind, None)
        if isinstance(cls, type) and issubclass(cls, DeskpilotError) and cls is not errors.ParseError:
            raise cls(message)
        log.warning("the %s environment failed to %s:\n%s", self.name, what, tb)
        raise EnvironmentUnavailable(f"the {self.name} environment failed to {what}: {kind}: {message}")

    def call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        """Call ``env.method(*args, **kwargs)`` in the child and return its (pickled) result."""
        if self._closed:
            raise EnvironmentUnavailable(f"the {self.name} environment is closed")
        try:
            self._conn.send((method, args, kwargs))
        except (OSError, BrokenPipeError):
            raise EnvironmentUnavailable(
                f"the {self.name} process is gone (exit code {self._proc.exitcode})"
            ) from None
        return self._answer(self.call_timeout, method.replace("_", " "))

    def call_function(self, target: str, *args: Any, **kwargs: Any) -> Any:
        """Call the module-level ``target`` ("module:function") in the child."""
        return self.call("call_function", target, *args, **kwargs)

    @property
    def pid(self) -> int | None:
        return self._proc.pid

    def alive(self) -> bool:
        return self._proc.is_alive()

    # ------------------------------------------------------------------ Environment
    def reset(self, task: Task | None = None) -> Observation:
        return self.call("reset", task)

    def observe(self) -> Observation:
        return self.call("observe")

    def act(self, action: Action) -> ActionResult:
        return self.call("act", action)

    def done(self) -> bool:
        return bool(self.call("done"))

    def success(self) -> bool | None:
        return self.call("success")

    def info(self) -> dict[str, Any]:
        return self.call("info")

    def close(self) -> None:
        """Ask the child to close its environment and exit; kill it if it does not within 5 s. Idempotent."""
        if self._closed:
            return
        self._closed = True
        with contextlib.suppress(OSError):  # the child is already gone
            self._conn.send(("close", (), {}))
        self._proc.join(5.0)
        if self._proc.is_alive():
            self._proc.kill()
            self._proc.join(2.0)
        self._conn.close()
