"""Every family's success predicate: the right action sequence succeeds, a wrong one does not.

Both sequences are played by the expert through real Qt input events; the wrong one follows a plan that
is off in one way a careless agent could be (another button, one click too many, the undo skipped, ...).
"""

from __future__ import annotations

import copy

import pytest

from agent.envs.sandbox.env import SandboxEnv
from agent.envs.sandbox.families import FAMILIES, generate
from agent.envs.sandbox.tasks import SandboxTask
from agent.loop import run_episode
from policies.scripted import ExpertPolicy


def _other(options: list, current):
    return next(o for o in options if o != current)


def wrong_plan(task: SandboxTask) -> list[dict]:
    """A plausible mistake for each family."""
    plan = copy.deepcopy(task.plan)
    spec = task.spec()
    from agent.envs.sandbox.spec import named

    nodes = named(spec)
    first = plan[0]
    fam = task.family
    if fam == "click_button":
        others = [n for n, node in nodes.items() if node["type"] == "button" and n != first["name"]]
        first["name"] = others[0]
    elif fam in ("type_text",):
        first["text"] += "x"
    elif fam in ("toggle_checkbox",):
        return []  # leaving it as it was
    elif fam == "pick_radio" or fam == "choose_combo":
        first["option"] = _other(nodes[first["name"]]["options"], first["option"])
    elif fam in ("set_spin", "set_slider"):
        node = nodes[first["name"]]
        first["value"] = first["value"] - 1 if first["value"] > node.get("min", 0) else first["value"] + 1
    elif fam == "tab_then_act":
        plan = plan[:1]  # opens the tab, forgets the box
    elif fam == "menu_command":
        items = [n for n, node in nodes.items() if node["type"] == "menu_item" and n != first["name"]]
        first.update(name=items[0], path=nodes[items[0]]["path"], item=nodes[items[0]]["text"])
    elif fam == "fill_form":
        plan = plan[:-1]  # never submits
    elif fam == "wizard":
        plan = plan[:-1]  # never finishes
    elif fam == "code_transfer":
        plan[3] = {"op": "type", "name": "code_input", "text": "WRONG"}
    elif fam == "click_n":
        first["times"] += 1
    elif fam == "undo_two_back":
        plan = plan[:-1]  # the undo is skipped
    elif fam == "scroll_find":
        items = nodes[first["name"]]["items"]
        first["item"] = _other(items[25:], first["item"])
    else:  # pragma: no cover - a new family needs its mistake here
        raise AssertionError(f"no wrong plan for {fam}")
    return plan


@pytest.fixture(scope="module")
def env():
    with SandboxEnv(distractors=1) as e:
        yield e


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_right_sequence_succeeds_and_wrong_one_does_not(env: SandboxEnv, family: str) -> None:
    task = generate(family, "train", 1, seed=11)
    result = run_episode(env, ExpertPolicy(), task.to_task(), max_steps=task.max_steps)
    assert result.success, (task.instruction, env.failures(), [s.action for s in result.steps])
    assert result.steps[-1].action.kind == "finished"

    wrong = copy.deepcopy(task)
    wrong.plan = wrong_plan(task)
    policy_task = wrong.to_task()  # the wrong plan, but the original success predicate
    result = run_episode(env, ExpertPolicy(), policy_task, max_steps=task.max_steps)
    assert result.success is False, (task.instruction, wrong.plan)
    assert env.failures()


def test_at_least_ten_families_with_many_paraphrases() -> None:
    assert len(FAMILIES) >= 10
    for fam in FAMILIES.values():
        assert len(set(fam.instructions)) >= 10, fam.name
        assert fam.instruction_ids(heldout=True) and fam.instruction_ids(heldout=False)
    for name in ("code_transfer", "click_n", "undo_two_back", "scroll_find"):
        assert name in FAMILIES


def test_expert_labels_states_another_policy_led_to(env: SandboxEnv) -> None:
    """DAgger: with the privileged widget state the expert's answer follows the state, not its own past."""
    from agent.types import Click

    task = generate("click_n", "train", 2, seed=11)
    n, target = task.plan[0]["times"], task.plan[0]["name"]
    obs = env.reset(task)
    expert = ExpertPolicy()
    expert.reset(task.to_task())
    first = expert.act(obs, obs.elements)
    again = expert.act(obs, obs.elements)  # nothing happened in between: the same answer
    assert first.target.state["name"] == again.target.state["name"] == target
    for _ in range(n):  # another policy does the clicking
        env.act(Click(*first.target.center))
    obs = env.observe()
    assert expert.act(obs, obs.elements).target.state["name"] == "done"


def test_some_train_apps_scroll_their_content_and_the_expert_scrolls_to_a_hidden_field(
    env: SandboxEnv,
) -> None:
    """A share of train/val apps show their content in a short viewport (as the held-out survey does), so
    the demonstrations teach scrolling to a field; held-out tasks never get it."""
    from agent.envs.sandbox.families import generate_split

    assert not any("scroll" in t.params for t in generate_split("heldout", 150))
    scrolled = [t for t in generate_split("train", 300, families=["set_spin"]) if "scroll" in t.params]
    assert 30 <= len(scrolled) <= 90  # about SCROLLED_SHARE of them
    for task in scrolled:
        target = task.plan[0]["name"]
        obs = env.reset(task)
        if any(e.state.get("name") == target for e in obs.elements):
            continue  # the viewport shows it already
        result = run_episode(env, ExpertPolicy(), task.to_task(), max_steps=task.max_steps)
        assert result.success, (task.instruction, env.failures())
        assert result.steps[0].action.kind == "scroll"
        return
    raise AssertionError("no scrolled task hides its field")
