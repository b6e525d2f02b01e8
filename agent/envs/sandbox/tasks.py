"""Sandbox tasks as declared data: app template (or inline app spec) + params + instruction + success
predicate + seed, plus a plan of high-level steps for the scripted expert.

A `SandboxTask` converts to and from `agent.types.Task` (everything structured lives in ``meta``), so the
loop, traces and policies pass the plain Task around.

Success predicates are lists of conditions that must all hold, each over one named widget's state
(`agent.envs.sandbox.render.App.state`)::

    {"name": "email", "prop": "text", "op": "eq", "value": "ada@x.io"}

``op`` is one of `OPS`; ``name`` "app" reads app-wide facts (``finished``, ``changes``).

Task files (JSON or TOML) hold ``{"tasks": [...]}``; an entry is either a reference to a generated task,
``{"family": "click_button", "split": "heldout", "seed": 3}``, or a declared task with ``instruction``,
``template`` (or ``app``: an inline spec), ``params``, ``success`` and optionally ``plan`` and ``seed``.
`EXAMPLE_TASK_FILE` shows both kinds.
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from agent.errors import TaskError
from agent.types import Task

EXAMPLE_TASK_FILE = Path(__file__).with_name("example_tasks.json")
OPS = ("eq", "ne", "ieq", "ge", "le", "gt", "lt", "contains", "in")
PLAN_OPS = ("click", "type", "check", "radio", "select", "set", "tab", "menu", "scroll_find", "read",
            "type_memory", "repeat_click", "page")  # fmt: skip


@dataclass
class SandboxTask:
    """One task. ``params`` go to the app template (``params["seed"]`` fixes the app's content)."""

    instruction: str
    success: list[dict[str, Any]]
    template: str = ""
    params: dict[str, Any] = field(default_factory=dict)
    app: dict[str, Any] | None = None
    plan: list[dict[str, Any]] = field(default_factory=list)
    family: str = "custom"
    seed: int = 0
    split: str = ""
    id: str = ""
    instruction_template: int = -1
    max_steps: int = 40

    def __post_init__(self) -> None:
        if not isinstance(self.instruction, str) or not self.instruction.strip():
            raise TaskError("a task needs a non-empty 'instruction'")
        if not self.template and self.app is None:
            raise TaskError(
                f"task {self.id or self.instruction!r}: give an app 'template' or an inline 'app' spec"
            )
        check_conditions(self.success, self.id or self.instruction)
        for i, step in enumerate(self.plan):
            if not isinstance(step, dict) or step.get("op") not in PLAN_OPS:
                raise TaskError(f"task {self.id!r}: plan[{i}] needs an 'op' in {', '.join(PLAN_OPS)}")
        if not self.id:
            self.id = f"{self.family}-{self.seed}"

    def to_task(self) -> Task:
        return Task(self.instruction, id=self.id, meta={"sandbox": asdict(self)})

    @classmethod
    def from_task(cls, task: Task) -> SandboxTask:
        data = task.meta.get("sandbox") if isinstance(task.meta, dict) else None
        if not isinstance(data, dict):
            raise TaskError(
                f"task {task.id or task.instruction!r} is not a sandbox task (no meta['sandbox'])"
            )
        return from_dict(data)

    def spec(self) -> dict[str, Any]:
        """The app spec (inline, or generated from the template and params)."""
        from agent.envs.sandbox.spec import validate
        from agent.envs.sandbox.templates import make_spec

        if self.app is not None:
            return validate(self.app, f"task {self.id}: app")
        return make_spec(self.template, int(self.params.get("seed", self.seed)), self.params)


def from_dict(data: dict[str, Any], where: str = "task") -> SandboxTask:
    if not isinstance(data, dict):
        raise TaskError(f"{where}: a task must be an object")
    known = set(SandboxTask.__dataclass_fields__)
    unknown = sorted(set(data) - known)
    if unknown:
        raise TaskError(f"{where}: unknown field(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    if "success" not in data:
        raise TaskError(f"{where}: missing 'success' (a list of conditions)")
    try:
        return SandboxTask(**data)
    except TaskError as exc:
        raise TaskError(f"{where}: {exc}") from None
    except TypeError as exc:
        raise TaskError(f"{where}: {exc}") from None


def check_conditions(conds: Any, where: str) -> None:
    if not isinstance(conds, list) or not conds:
        raise TaskError(f"task {where!r}: 'success' must be a non-empty list of conditions")
    for i, c in enumerate(conds):
        if (
            not isinstance(c, dict)
            or not isinstance(c.get("name"), str)
            or not isinstance(c.get("prop"), str)
        ):
            raise TaskError(f"task {where!r}: success[{i}] needs string 'name' and 'prop'")
        if c.get("op", "eq") not in OPS:
            raise TaskError(
                f"task {where!r}: success[{i}] has unknown op {c.get('op')!r}; use one of {', '.join(OPS)}"
            )
        if "value" not in c:
            raise TaskError(f"task {where!r}: success[{i}] needs a 'value'")


def holds(cond: dict[str, Any], state: dict[str, Any]) -> bool:
    """Whether one condition holds for a widget's ``state``."""
    if cond["prop"] not in state:
        return False
    have, want, op = state[cond["prop"]], cond["value"], cond.get("op", "eq")
    try:
        if op == "eq":
            return have == want
        if op == "ne":
            return have != want
        if op == "ieq":
            return str(have).strip().lower() == str(want).strip().lower()
        if op == "ge":
            return have >= want
        if op == "le":
            return have <= want
        if op == "gt":
            return have > want
        if op == "lt":
            return have < want
        if op == "contains":
            return str(want) in str(have)
        if op == "in":
            return have in want
    except TypeError:  # comparing None with a number, ...
        return False
    return False


def evaluate(conds: list[dict[str, Any]], state_of) -> tuple[bool, list[str]]:
    """(all hold, descriptions of those that do not); ``state_of(name) -> dict``."""
    failed = []
    for c in conds:
        state = state_of(c["name"])
        if not holds(c, state):
            failed.append(
                f"{c['name']}.{c['prop']} {c.get('op', 'eq')} {c['value']!r} (is {state.get(c['prop'])!r})"
            )
    return not failed, failed


# ------------------------------------------------------------------------------------------ task files
def load_task_file(path: str | Path) -> list[SandboxTask]:
    """Tasks from a JSON or TOML file (see module docstring); raises TaskError naming the problem."""
    path = Path(path)
    if not path.is_file():
        raise TaskError(f"task file {path} does not exist")
    text = path.read_text(encoding="utf-8")
    try:
        if path.suffix.lower() == ".toml":
            data = tomllib.loads(text)
        elif path.suffix.lower() == ".json":
            data = json.loads(text)
        else:
            raise TaskError(f"task file {path}: use a .json or .toml file")
    except json.JSONDecodeError as exc:
        raise TaskError(
            f"task file {path}: invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise TaskError(f"task file {path}: invalid TOML: {exc}") from None
    entries = data.get("tasks") if isinstance(data, dict) else None
    if not isinstance(entries, list) or not entries:
        raise TaskError(f"task file {path}: expected a non-empty 'tasks' list at the top level")
    return [_entry(e, f"{path}: tasks[{i}]") for i, e in enumerate(entries)]


def _entry(entry: Any, where: str) -> SandboxTask:
    from agent.envs.sandbox.families import generate

    if not isinstance(entry, dict):
        raise TaskError(f"{where}: a task must be a table/object")
    if "success" not in entry and "family" in entry:  # a reference to a generated task
        extra = sorted(set(entry) - {"family", "split", "seed", "index"})
        if extra:
            raise TaskError(
                f"{where}: a generated task takes family, split, seed, index; not {', '.join(extra)}"
            )
        try:
            return generate(entry["family"], entry.get("split", "train"), int(entry.get("index", 0)),
                            seed=int(entry.get("seed", 0)))  # fmt: skip
        except TaskError as exc:
            raise TaskError(f"{where}: {exc}") from None
        except (TypeError, ValueError) as exc:
            raise TaskError(f"{where}: {exc}") from None
    task = from_dict(entry, where)
    if task.template:
        from agent.envs.sandbox.templates import template

        try:
            template(task.template)
        except TaskError as exc:
            raise TaskError(f"{where}: {exc}") from None
    else:
        from agent.envs.sandbox.spec import validate

        validate(task.app, f"{where}.app")
    return task
