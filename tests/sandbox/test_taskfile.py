"""Task files (JSON / TOML): generated references, declared tasks with inline apps, and clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agent.cli import main
from agent.envs.sandbox.families import generate
from agent.envs.sandbox.tasks import SandboxTask, load_task_file
from agent.errors import TaskError

INLINE = {
    "id": "greet", "instruction": "Type Ada into Name and press Save.",
    "app": {"windows": [{"title": "Greeter", "body": {"type": "vbox", "children": [
        {"type": "form", "rows": [["Name:", {"type": "field", "name": "name"}]]},
        {"type": "button", "text": "Save", "name": "save"}]}}]},
    "success": [{"name": "name", "prop": "text", "value": "Ada"}, {"name": "save", "prop": "clicks", "op": "ge", "value": 1}],
    "plan": [{"op": "type", "name": "name", "text": "Ada"}, {"op": "click", "name": "save"}],
}  # fmt: skip


def write(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def test_json_file_with_a_generated_reference_and_an_inline_app(tmp_path: Path) -> None:
    path = write(
        tmp_path, "t.json", json.dumps({"tasks": [{"family": "click_n", "split": "val", "index": 2}, INLINE]})
    )
    ref, inline = load_task_file(path)
    assert ref.to_task().to_dict() == generate("click_n", "val", 2).to_task().to_dict()
    assert inline.id == "greet" and inline.app is not None
    assert SandboxTask.from_task(inline.to_task()) == inline


def test_toml_file(tmp_path: Path) -> None:
    text = """
[[tasks]]
family = "toggle_checkbox"
split = "heldout"
seed = 4

[[tasks]]
instruction = "Press OK"
template = "message"
params = { seed = 3 }
success = [{ name = "ok", prop = "clicks", op = "ge", value = 1 }]
"""
    a, b = load_task_file(write(tmp_path, "t.toml", text))
    assert a.family == "toggle_checkbox" and a.split == "heldout"
    assert b.template == "message" and b.success[0]["op"] == "ge"


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("a.json", '{"tasks": [', "invalid JSON at line 1"),
        ("a.toml", "tasks = [", "invalid TOML"),
        ("a.yaml", "tasks: []", "use a .json or .toml file"),
        ("a.json", '{"task": []}', "expected a non-empty 'tasks' list"),
        ("a.json", '{"tasks": [{"family": "fly_to_moon"}]}', "unknown task family 'fly_to_moon'"),
        ("a.json", '{"tasks": [{"family": "click_n", "colour": 1}]}', "not colour"),
        ("a.json", '{"tasks": [{"family": "click_n", "split": "test"}]}', "unknown split 'test'"),
        ("a.json", '{"tasks": [{"instruction": "x", "template": "nope", "success": [{"name": "a", "prop": "b", "value": 1}]}]}',
         "unknown app template 'nope'"),
        ("a.json", '{"tasks": [{"instruction": "x", "template": "login", "success": []}]}', "non-empty list of conditions"),
        ("a.json", '{"tasks": [{"instruction": "x", "template": "login", "success": [{"name": "a", "prop": "b", "op": "~", "value": 1}]}]}',
         "unknown op '~'"),
        ("a.json", '{"tasks": [{"instruction": "x", "success": [{"name": "a", "prop": "b", "value": 1}]}]}', "give an app 'template'"),
        ("a.json", '{"tasks": [{"instruction": "x", "template": "login", "success": [{"name": "a", "prop": "b", "value": 1}], "plan": [{"op": "fly"}]}]}',
         "plan[0]"),
        ("a.json", '{"tasks": [{"instruction": "x", "app": {"windows": [{"body": {"type": "blob"}}]}, "success": [{"name": "a", "prop": "b", "value": 1}]}]}',
         "unknown node type 'blob'"),
    ],
)  # fmt: skip
def test_bad_task_files_raise_task_error_with_the_place(
    tmp_path: Path, name: str, text: str, message: str
) -> None:
    path = write(tmp_path, name, text)
    with pytest.raises(TaskError) as info:
        load_task_file(path)
    assert message in str(info.value)
    assert str(path) in str(info.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(TaskError, match="does not exist"):
        load_task_file(tmp_path / "none.json")


def test_cli_runs_a_task_file_and_reports_bad_ones_in_one_line(tmp_path: Path, capsys) -> None:
    good = write(
        tmp_path, "good.json", json.dumps({"tasks": [INLINE, {"family": "pick_radio", "split": "heldout"}]})
    )
    assert (
        main(
            [
                "sandbox",
                "run",
                "--task-file",
                str(good),
                "--policy",
                "expert",
                "--json",
                "--out",
                str(tmp_path / "tr"),
            ]
        )
        == 0
    )
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["episodes"] == 2 and summary["success_rate"] == 1.0
    assert set(summary["by_family"]) == {"custom", "pick_radio"}
    assert len(list((tmp_path / "tr").glob("*/meta.json"))) == 2

    bad = write(tmp_path, "bad.json", '{"tasks": [{"family": "nope"}]}')
    assert main(["sandbox", "run", "--task-file", str(bad), "--policy", "expert", "--json"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "unknown task family 'nope'" in err


def test_the_example_task_file_loads_and_the_expert_solves_it(capsys) -> None:
    from agent.envs.sandbox.tasks import EXAMPLE_TASK_FILE

    tasks = load_task_file(EXAMPLE_TASK_FILE)
    assert len(tasks) == 4
    assert main(["sandbox", "run", "--task-file", str(EXAMPLE_TASK_FILE), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["success_rate"] == 1.0, summary["failures"]
