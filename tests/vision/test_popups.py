"""An open combo's popup rows are list rows, not menu items, on real rendered sandbox screens
(`vision.detector.postprocess.combo_popup_rows`)."""

from __future__ import annotations

import dataclasses
import os

from agent.types import Element
from vision.detector.postprocess import combo_popup_rows

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def _opened(family: str, n: int, target) -> list[list[Element]]:
    """The elements of held-out ``family`` screens after a real click on ``target(elements)``."""
    from agent.envs.sandbox.env import SandboxEnv
    from agent.envs.sandbox.families import generate_split
    from agent.types import Click

    out = []
    with SandboxEnv() as env:
        for st in generate_split("heldout", 600, seed=0, families=[family])[:n]:
            obs = env.reset(st)
            at = target(obs.elements)
            if at is None:
                continue
            env.act(Click(*at.center))
            out.append(env.observe().elements)
    return out


def test_rows_hung_under_a_combo_become_list_rows_and_menus_stay_menus():
    def first_combo(elements):
        return next((e for e in elements if e.kind == "combo" and not e.state.get("app")), None)

    popups = 0
    for elements in _opened("choose_combo", 14, first_combo):
        rows = [
            e for e in elements if e.kind == "list_item" and "list" in e.state and not e.state.get("clipped")
        ]
        combos = [e for e in elements if e.kind == "combo"]
        if not rows or not combos:
            continue
        popups += 1
        # as the detector misreads them: the popup's rows as menu items
        misread = [dataclasses.replace(e, kind="menu_item", score=0.6) for e in rows]
        out = combo_popup_rows([dataclasses.replace(c, score=0.9) for c in combos] + misread)
        assert [e.kind for e in out[len(combos) :]] == ["list_item"] * len(rows)
        assert [e.box for e in out[len(combos) :]] == [e.box for e in rows]
        # no combo found: nothing to hang them from
        assert all(e.kind == "menu_item" for e in combo_popup_rows(misread))
    assert popups >= 4

    menus = 0
    for elements in _opened("menu_command", 8, lambda els: next((e for e in els if e.kind == "menu"), None)):
        items = [e for e in elements if e.kind == "menu_item"]
        if not items:
            continue
        menus += 1
        sure = [dataclasses.replace(e, score=0.9) for e in elements if e.kind != "menu_item"]
        out = combo_popup_rows(sure + [dataclasses.replace(e, score=0.6) for e in items])
        assert sum(e.kind == "menu_item" for e in out) == len(items)
    assert menus >= 4
