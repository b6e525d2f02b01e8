"""The evaluation report groups families the way the targets are stated."""

from agent.envs.sandbox.families import FAMILIES
from policies.evaluate import summarize


def _rec(family: str, success: bool, kind: str = "heldout_instruction") -> dict:
    return {"family": family, "success": success, "heldout_kind": kind, "steps": 3, "decide_ms": 1.0}


def test_every_family_has_a_known_group():
    groups = {f.group for f in FAMILIES.values()}
    assert groups == {"single", "multi", "memory"}
    assert FAMILIES["click_button"].group == "single"
    assert FAMILIES["wizard"].group == "multi"
    assert FAMILIES["code_transfer"].group == "memory"


def test_summary_rates_by_group():
    records = [
        _rec("click_button", True), _rec("pick_radio", False),
        _rec("wizard", True), _rec("fill_form", True), _rec("menu_command", False), _rec("wizard", True),
        _rec("click_n", False), _rec("not_a_family", True, kind="custom"),
    ]  # fmt: skip
    out = summarize(records, seconds=1.0)
    groups = out["by_group"]
    assert groups["single"] == {"episodes": 2, "successes": 1, "success_rate": 0.5}
    assert groups["multi"] == {"episodes": 4, "successes": 3, "success_rate": 0.75}
    assert groups["memory"] == {"episodes": 1, "successes": 0, "success_rate": 0.0}
    assert groups["custom"]["episodes"] == 1
    assert sum(g["episodes"] for g in groups.values()) == out["episodes"] == len(records)
