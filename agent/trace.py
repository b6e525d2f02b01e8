"""Traces: the folder every run is recorded in, written crash-safely and read back with exact errors.

Layout::

    meta.json          schema + version, task, target, screen, policy, models, created, deskpilot version;
                       rewritten (atomically) at the end with a summary
    steps.jsonl        one JSON object per step, appended and flushed as the step ends
    frames/000000.png  the screenshot step 0 acted on, written (atomically) before its JSON line

A process killed at any moment leaves every complete step readable: a frame is renamed into place
before its line is written, and a line is written with one ``write`` + ``flush``. The reader skips a
truncated last line with a warning and rejects anything else that is malformed, naming the file, the
line and the field.
"""

from __future__ import annotations

import datetime as _dt
import io
import json
import os
import tempfile
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from agent import __version__
from agent.errors import ActionError, TraceError
from agent.types import (
    REDACTED,
    ActionResult,
    Element,
    Step,
    Task,
    TypeText,
    action_from_dict,
    action_to_dict,
)

SCHEMA_NAME = "deskpilot.trace"
SCHEMA_VERSION = "1.0"  # major.minor: minor = additive fields, major = readers must refuse
META_FILE, STEPS_FILE, FRAMES_DIR = "meta.json", "steps.jsonl", "frames"
FRAME_FORMATS = {"png": "PNG", "jpg": "JPEG", "webp": "WEBP"}


class TraceWarning(UserWarning):
    """A recoverable problem in a trace (a truncated last line from a crash)."""


# --------------------------------------------------------------------------------------------- writing
def _atomic_write_bytes(path: Path, data: bytes, durable: bool = False) -> None:
    """Write ``data`` to a temporary file beside ``path`` and rename it into place."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            if durable:
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def encode_frame(image: np.ndarray, fmt: str = "png") -> bytes:
    """Encode an H×W×3 uint8 RGB array. PNG uses fast compression: frames are written every step."""
    from PIL import Image

    buf = io.BytesIO()
    pil = Image.fromarray(np.ascontiguousarray(image), "RGB")
    if fmt == "png":
        pil.save(buf, "PNG", compress_level=1)
    else:
        pil.save(buf, FRAME_FORMATS[fmt], quality=90)
    return buf.getvalue()


def _scrub(value: Any, secrets: list[str]) -> Any:
    """Replace every occurrence of a secret string inside nested JSON-like data."""
    if isinstance(value, str):
        for s in secrets:
            value = value.replace(s, REDACTED)
        return value
    if isinstance(value, dict):
        return {k: _scrub(v, secrets) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_scrub(v, secrets) for v in value]
    return value


def step_to_dict(step: Step, *, screen: tuple[int, int] | None = None) -> dict[str, Any]:
    """JSON form of a step; secret typed text is redacted everywhere it appears."""
    action = step.action
    out: dict[str, Any] = {
        "index": step.index,
        "time": round(step.time, 4),
        "frame": step.frame,
        "action": action_to_dict(action),
    }
    try:
        from agent.grammar import format_action

        shown = TypeText(REDACTED) if isinstance(action, TypeText) and action.secret else action
        out["action"]["uitars"] = (
            format_action(shown, screen=screen, coords="absolute", image_size=screen) if screen else ""
        )
    except ImportError:  # pragma: no cover - grammar is part of the package
        pass
    out["elements"] = [e.to_dict() for e in step.elements]
    if step.target is not None:
        out["target"] = step.target.to_dict()
    out["result"] = step.result.to_dict()
    out["timings"] = {k: round(float(v), 3) for k, v in step.timings.items()}
    out["policy"] = step.policy
    if isinstance(action, TypeText) and action.secret:
        secrets = [action.text, action.text.rstrip("\n")]
        out["policy"] = _scrub(out["policy"], secrets)
        out["result"] = _scrub(out["result"], secrets)
    return out


class TraceWriter:
    """Appends steps to a trace folder as they end.

    Use as a context manager; ``close(summary)`` records how the run ended. Set ``durable=True`` to
    fsync every step (survives power loss, not just a killed process; costs a few ms per step).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        task: Task | str | None = None,
        target: str = "",
        env_info: dict[str, Any] | None = None,
        policy: str = "",
        models: dict[str, Any] | None = None,
        frame_format: str = "png",
        durable: bool = False,
        overwrite: bool = False,
    ):
        if frame_format not in FRAME_FORMATS:
            raise TraceError(f"frame format must be one of {', '.join(FRAME_FORMATS)}, got {frame_format!r}")
        self.path = Path(path)
        if (self.path / META_FILE).exists() and not overwrite:
            raise TraceError(f"{self.path} already holds a trace; choose another folder")
        (self.path / FRAMES_DIR).mkdir(parents=True, exist_ok=True)
        self.frame_format = frame_format
        self.durable = durable
        task = Task(task) if isinstance(task, str) else task
        env_info = dict(env_info or {})
        self.screen: tuple[int, int] | None = None
        if env_info.get("screen"):
            self.screen = (int(env_info["screen"][0]), int(env_info["screen"][1]))
        self.meta: dict[str, Any] = {
            "schema": SCHEMA_NAME,
            "schema_version": SCHEMA_VERSION,
            "deskpilot_version": __version__,
            "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
            "task": task.to_dict() if task else None,
            "target": target,
            "env": env_info,
            "policy": policy,
            "models": models or {},
            "frame_format": frame_format,
        }
        self._write_meta()
        steps = self.path / STEPS_FILE
        if overwrite:
            steps.unlink(missing_ok=True)
        self._steps = open(steps, "a", encoding="utf-8")  # noqa: SIM115 - owned for the writer's life
        self.count = 0

    def _write_meta(self) -> None:
        data = json.dumps(self.meta, indent=2, ensure_ascii=False).encode()
        _atomic_write_bytes(self.path / META_FILE, data, durable=self.durable)

    def write_step(self, step: Step) -> None:
        """Save ``step.image`` (if any) as its frame, then append the step's line and flush."""
        if self._steps.closed:
            raise TraceError(f"trace {self.path} is closed")
        if step.image is not None:
            if self.screen is None:
                self.screen = (int(step.image.shape[1]), int(step.image.shape[0]))
            name = f"{FRAMES_DIR}/{step.index:06d}.{self.frame_format}"
            _atomic_write_bytes(self.path / name, encode_frame(step.image, self.frame_format), self.durable)
            step.frame = name
        line = json.dumps(step_to_dict(step, screen=self.screen), ensure_ascii=False, allow_nan=False)
        self._steps.write(line + "\n")
        self._steps.flush()
        if self.durable:
            os.fsync(self._steps.fileno())
        self.count += 1

    def close(self, summary: dict[str, Any] | None = None) -> None:
        """Finish the trace; ``summary`` (success, reason, ...) goes into meta.json. Idempotent."""
        if self._steps.closed:
            return
        self._steps.close()
        self.meta["ended"] = _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")
        self.meta["steps"] = self.count
        if self.screen and not self.meta["env"].get("screen"):
            self.meta["env"]["screen"] = list(self.screen)
        if summary is not None:
            self.meta["summary"] = summary
        self._write_meta()

    def __enter__(self) -> TraceWriter:
        return self

    def __exit__(self, exc_type: object, *_: object) -> None:
        self.close(None if exc_type is None else {"error": "run ended by an exception"})


# --------------------------------------------------------------------------------------------- reading
@dataclass
class Trace:
    """A trace read back. ``warnings`` lists recoverable problems (a truncated last line)."""

    path: Path
    meta: dict[str, Any]
    steps: list[Step]
    warnings: list[str] = field(default_factory=list)

    @property
    def task(self) -> Task | None:
        return Task.from_dict(self.meta["task"]) if self.meta.get("task") else None

    @property
    def screen(self) -> tuple[int, int] | None:
        """(width, height) of the recorded screen in pixels, when known."""
        scr = (self.meta.get("env") or {}).get("screen")
        return (int(scr[0]), int(scr[1])) if scr else None

    def load_frame(self, step: Step) -> np.ndarray | None:
        """The step's screenshot as H×W×3 uint8 RGB, or None when the step has no frame."""
        if not step.frame:
            return None
        from PIL import Image, UnidentifiedImageError

        try:
            with Image.open(self.path / step.frame) as im:
                return np.asarray(im.convert("RGB"))
        except (OSError, UnidentifiedImageError) as exc:
            raise TraceError(
                f"{self.path / step.frame}: unreadable frame for step {step.index} ({exc})"
            ) from None

    def __iter__(self) -> Iterator[Step]:
        return iter(self.steps)

    def __len__(self) -> int:
        return len(self.steps)


def _major(version: str) -> int:
    try:
        return int(str(version).split(".")[0])
    except ValueError:
        raise TraceError(f"meta.json: field 'schema_version': not a version: {version!r}") from None


def _read_meta(path: Path) -> dict[str, Any]:
    meta_path = path / META_FILE
    if not path.exists():
        raise TraceError(f"no such trace folder: {path}")
    if not path.is_dir():
        raise TraceError(f"{path} is not a trace folder (it is a file)")
    if not meta_path.exists():
        raise TraceError(f"{path} is not a trace folder (no {META_FILE})")
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise TraceError(f"{meta_path}: invalid JSON at line {exc.lineno}: {exc.msg}") from None
    except UnicodeDecodeError:
        raise TraceError(f"{meta_path}: not UTF-8 text") from None
    if not isinstance(meta, dict):
        raise TraceError(f"{meta_path}: must hold a JSON object")
    if meta.get("schema") != SCHEMA_NAME:
        raise TraceError(f"{meta_path}: field 'schema': expected {SCHEMA_NAME!r}, got {meta.get('schema')!r}")
    version = meta.get("schema_version", "")
    if _major(version) > _major(SCHEMA_VERSION):
        raise TraceError(
            f"{meta_path}: trace schema version {version} is newer than this deskpilot reads "
            f"({_major(SCHEMA_VERSION)}.x); upgrade deskpilot to read it"
        )
    return meta


class _FieldError(Exception):
    def __init__(self, field: str, message: str):
        self.field, self.message = field, message


def _get(data: dict[str, Any], key: str, types: type | tuple[type, ...], default: Any = ...) -> Any:
    if key not in data:
        if default is ...:
            raise _FieldError(key, "missing")
        return default
    value = data[key]
    if not isinstance(value, types) or isinstance(value, bool):  # bool is an int subclass; no field is bool
        raise _FieldError(key, f"expected {getattr(types, '__name__', types)}, got {type(value).__name__}")
    return value


def step_from_dict(data: Any, path: Path) -> Step:
    """Parse one steps.jsonl object; raises _FieldError naming the offending field."""
    if not isinstance(data, dict):
        raise _FieldError("(line)", "expected a JSON object")
    index = _get(data, "index", int)
    frame = _get(data, "frame", str, "")
    if frame and not (path / frame).is_file():
        raise _FieldError("frame", f"file {frame} does not exist")
    try:
        action = action_from_dict(_get(data, "action", dict))
    except ActionError as exc:
        raise _FieldError("action", str(exc)) from None
    elements = []
    for i, e in enumerate(_get(data, "elements", list, [])):
        try:
            elements.append(Element.from_dict(e))
        except ActionError as exc:
            raise _FieldError(f"elements[{i}]", str(exc)) from None
    target = None
    if "target" in data:
        try:
            target = Element.from_dict(data["target"])
        except ActionError as exc:
            raise _FieldError("target", str(exc)) from None
    result = ActionResult.from_dict(_get(data, "result", dict, {}))
    timings = _get(data, "timings", dict, {})
    if not all(isinstance(v, int | float) for v in timings.values()):
        raise _FieldError("timings", "values must be numbers (milliseconds)")
    return Step(
        index=index,
        action=action,
        time=float(_get(data, "time", (int, float), 0.0)),
        frame=frame,
        elements=elements,
        target=target,
        result=result,
        timings={k: float(v) for k, v in timings.items()},
        policy=_get(data, "policy", dict, {}),
    )


def read_trace(path: str | os.PathLike[str]) -> Trace:
    """Read and validate a trace folder.

    Raises TraceError (naming file, line and field) for anything malformed, except a truncated final
    line — the mark of a run killed mid-write — which is skipped with a TraceWarning.
    """
    path = Path(path)
    meta = _read_meta(path)
    steps_path = path / STEPS_FILE
    trace = Trace(path=path, meta=meta, steps=[])
    if not steps_path.exists():
        trace.warnings.append(f"{steps_path}: missing; the run recorded no step")
        return trace
    raw = steps_path.read_bytes()
    lines = raw.split(b"\n")
    complete_end = raw.endswith(b"\n")
    if complete_end:
        lines = lines[:-1]
    for lineno, line in enumerate(lines, start=1):
        is_last = lineno == len(lines)
        where = f"{steps_path}:{lineno}"
        if not line.strip():
            if is_last and not complete_end:
                continue
            raise TraceError(f"{where}: empty line")
        try:
            data = json.loads(line.decode("utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            if is_last and not complete_end:
                msg = f"{where}: truncated last line skipped (the run was probably killed mid-write)"
                trace.warnings.append(msg)
                warnings.warn(msg, TraceWarning, stacklevel=2)
                continue
            raise TraceError(f"{where}: invalid JSON ({exc})") from None
        try:
            step = step_from_dict(data, path)
        except _FieldError as exc:
            raise TraceError(f"{where}: field '{exc.field}': {exc.message}") from None
        if step.index != len(trace.steps):
            raise TraceError(f"{where}: field 'index': expected {len(trace.steps)}, got {step.index}")
        trace.steps.append(step)
    return trace
