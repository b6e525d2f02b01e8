"""Splits are disjoint by seed, by app template and by instruction template (no Qt needed)."""

from __future__ import annotations

from agent.envs.sandbox.families import FAMILIES, generate_split
from agent.envs.sandbox.spec import walk
from agent.envs.sandbox.splits import HELDOUT_TEMPLATES, SEED_BASE, SEED_SPAN, split_of_seed, split_seed


def test_split_seed_ranges_are_disjoint() -> None:
    for split in SEED_BASE:
        for i in (0, 1, 10**6, SEED_SPAN - 1, SEED_SPAN + 5):
            assert split_of_seed(split_seed(split, i, seed=3)) == split


def test_generated_splits_are_disjoint_and_heldout_is_held_out() -> None:
    n = 15 * len(FAMILIES)
    tasks = {s: generate_split(s, n, seed=5) for s in ("train", "val", "heldout")}
    ids = {s: {t.id for t in ts} for s, ts in tasks.items()}
    seeds = {s: {(t.family, t.seed) for t in ts} for s, ts in tasks.items()}
    assert (
        not ids["train"] & ids["val"]
        and not ids["train"] & ids["heldout"]
        and not ids["val"] & ids["heldout"]
    )
    assert not seeds["train"] & seeds["val"] and not seeds["train"] & seeds["heldout"]
    assert all(len(ids[s]) == n for s in ids)  # no duplicates within a split either

    seen_heldout_template = False
    for split in ("train", "val"):
        for t in tasks[split]:
            fam = FAMILIES[t.family]
            assert t.template not in HELDOUT_TEMPLATES, t.id
            assert t.instruction_template in fam.instruction_ids(heldout=False), t.id
    train_instructions = {t.instruction for t in tasks["train"] + tasks["val"]}
    for t in tasks["heldout"]:
        fam = FAMILIES[t.family]
        held_template = t.template in HELDOUT_TEMPLATES
        held_instruction = t.instruction_template in fam.instruction_ids(heldout=True)
        assert held_template or held_instruction, t.id  # every heldout task tests generalisation
        seen_heldout_template |= held_template
        assert t.instruction not in train_instructions or held_template
    assert seen_heldout_template


def test_generation_is_deterministic() -> None:
    a = [t.to_task().to_dict() for t in generate_split("heldout", 30, seed=2)]
    b = [t.to_task().to_dict() for t in generate_split("heldout", 30, seed=2)]
    assert a == b
    c = [t.to_task().to_dict() for t in generate_split("heldout", 30, seed=3)]
    assert a != c


def test_tasks_and_splits_do_not_need_qt() -> None:
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from agent.envs.sandbox.families import generate_split\n"
        "from agent.envs.sandbox.tasks import SandboxTask\n"
        "ts = generate_split('heldout', 20)\n"
        "[t.spec() for t in ts]\n"
        "assert not [m for m in sys.modules if m.startswith('PySide6')], 'Qt was imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_some_train_forms_list_their_fields_out_of_layout_order_and_heldout_ones_never() -> None:
    """Train/val fill_form tasks sometimes list (and plan) the fields in another order than the form shows
    them, so a policy must follow the list; held-out tasks keep the layout order."""
    from agent.envs.sandbox.templates import make_spec

    def layout_order(task) -> bool:
        spec = make_spec(task.template, int(task.params["seed"]), task.params)
        order = [n["name"] for w in spec["windows"] for n in walk(w["body"]) if n.get("name")]
        typed = [op["name"] for op in task.plan if op["op"] == "type"]
        return typed == sorted(typed, key=order.index)

    train = generate_split("train", 120, families=["fill_form"])
    shuffled = [t for t in train if not layout_order(t)]
    assert 20 <= len(shuffled) <= 80
    for t in shuffled[:5]:  # the instruction lists them in the plan's order
        labels = [t.instruction.index(f"{op['text']}") for op in t.plan if op["op"] == "type"]
        assert labels == sorted(labels)
    assert all(layout_order(t) for t in generate_split("heldout", 60, families=["fill_form"]))
