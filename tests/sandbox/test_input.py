"""Real input events: popups (combo, menu), typing, hotkeys, drag (slider), wheel (list and scroll area)."""

from __future__ import annotations

import pytest

from agent.envs.sandbox.env import SandboxEnv
from agent.envs.sandbox.tasks import SandboxTask
from agent.types import Click, Drag, Element, Hotkey, Observation, Scroll, TypeText

SPEC = {"windows": [{
    "title": "Input test", "pos": [40, 40],
    "menu": [{"title": "File", "items": [{"text": "Open", "name": "file_open"},
                                         {"text": "Recent", "items": [{"text": "a.txt", "name": "recent_a"}]}]}],
    "body": {"type": "vbox", "children": [
        {"type": "form", "rows": [["Name:", {"type": "field", "name": "name"}],
                                  ["Colour:", {"type": "combo", "name": "colour", "options": ["Red", "Green", "Blue"]}],
                                  ["Volume:", {"type": "slider", "name": "volume", "min": 0, "max": 100, "value": 10}],
                                  ["Count:", {"type": "spin", "name": "count", "min": 0, "max": 50, "value": 3}]]},
        {"type": "list", "name": "items", "items": [f"item {i:03d}" for i in range(120)], "height": 150},
        {"type": "scroll", "height": 90, "child": {"type": "vbox", "children": [
            {"type": "label", "text": f"line {i}"} for i in range(30)] + [{"type": "button", "text": "Deep", "name": "deep"}]}},
        {"type": "button", "text": "Go", "name": "go"},
    ]},
}]}  # fmt: skip


@pytest.fixture(scope="module")
def env():
    with SandboxEnv(screen=(1280, 800), distractors=0) as e:
        yield e


@pytest.fixture
def obs(env: SandboxEnv) -> Observation:
    task = SandboxTask(
        "test input", success=[{"name": "go", "prop": "clicks", "value": 1}], app=SPEC, id="input"
    )
    return env.reset(task)


def el(obs: Observation, name: str | None = None, **match) -> Element:
    for e in obs.elements:
        if (name is None or e.state.get("name") == name) and all(
                getattr(e, k, e.state.get(k)) == v for k, v in match.items()):  # fmt: skip
            return e
    raise AssertionError(f"no element {name} {match}")


def test_click_counts_and_success(env: SandboxEnv, obs: Observation) -> None:
    assert env.success() is False
    assert env.act(Click(*el(obs, "go").center)).ok
    assert env.app.state("go")["clicks"] == 1 and env.success() is True


def test_typing_into_the_focused_field_with_hotkeys(env: SandboxEnv, obs: Observation) -> None:
    field = el(obs, "name")
    env.act(Click(*field.center))
    env.act(TypeText("Héllo Wörld 42!"))
    assert env.app.state("name")["text"] == "Héllo Wörld 42!"
    assert el(env.observe(), "name").state.get("focused") is True
    env.act(Hotkey(("ctrl", "a")))
    env.act(TypeText("new"))
    env.act(Hotkey(("backspace",)))
    assert env.app.state("name")["text"] == "ne"
    # a spin box: select its number, type another
    env.act(Click(*el(obs, "count").center))
    env.act(Hotkey(("ctrl", "a")))
    env.act(TypeText("17"))
    assert env.app.state("count")["value"] == 17


def test_combo_popup_opens_on_click_and_an_item_is_picked(env: SandboxEnv, obs: Observation) -> None:
    env.act(Click(*el(obs, "colour").center))
    o = env.observe()
    items = [e for e in o.elements if e.state.get("list") == "colour"]
    assert [e.text for e in items] == ["Red", "Green", "Blue"]
    assert all(e.kind in ("menu_item", "list_item") for e in items)
    env.act(Click(*next(e for e in items if e.text == "Blue").center))
    assert env.app.state("colour")["value"] == "Blue"
    assert not [e for e in env.observe().elements if e.state.get("list") == "colour"]  # popup closed


def test_click_outside_an_open_popup_closes_it_without_clicking_through(
    env: SandboxEnv, obs: Observation
) -> None:
    env.act(Click(*el(obs, "colour").center))
    assert [e for e in env.observe().elements if e.state.get("list") == "colour"]
    env.act(Click(*el(obs, "go").center))
    assert not [e for e in env.observe().elements if e.state.get("list") == "colour"]
    assert env.app.state("go")["clicks"] == 0


def test_menu_and_submenu_through_clicks(env: SandboxEnv, obs: Observation) -> None:
    env.act(Click(*el(obs, None, kind="menu", text="File").center))
    o = env.observe()
    assert {e.text for e in o.elements if e.kind == "menu_item"} >= {"Open", "Recent"}
    env.act(Click(*el(o, None, kind="menu_item", text="Recent").center))
    o = env.observe()
    env.act(Click(*el(o, "recent_a").center))
    assert env.app.state("recent_a")["clicks"] == 1
    assert not [e for e in env.observe().elements if e.kind == "menu_item"]


def test_drag_moves_the_slider_and_keys_fine_tune_it(env: SandboxEnv, obs: Observation) -> None:
    s = el(obs, "volume")
    x1, y1, x2, y2 = s.box
    y = (y1 + y2) / 2
    handle = x1 + 6 + 0.10 * (x2 - x1 - 12)
    assert env.act(Drag(handle, y, x1 + 6 + 0.70 * (x2 - x1 - 12), y)).ok
    v = env.app.state("volume")["value"]
    assert 60 <= v <= 80, v
    env.act(Hotkey(("right",)))
    assert env.app.state("volume")["value"] == v + 1


def test_wheel_scrolls_a_list_and_a_scroll_area(env: SandboxEnv, obs: Observation) -> None:
    first = [e.text for e in obs.elements if e.state.get("list") == "items"]
    assert "item 000" in first and "item 060" not in first
    row = next(e for e in obs.elements if e.state.get("list") == "items")
    for _ in range(6):
        env.act(Scroll(*row.center, "down", 3))
    later = [e.text for e in env.observe().elements if e.state.get("list") == "items"]
    assert "item 000" not in later and later
    # a plain scroll area: the deep button is clipped away, then scrolled into view
    assert not [e for e in obs.elements if e.state.get("name") == "deep"]
    line = el(obs, None, kind="label", text="line 1")
    for _ in range(8):
        env.act(Scroll(*line.center, "down", 3))
    assert el(env.observe(), "deep").kind == "button"


def test_failed_actions_are_data_not_exceptions(env: SandboxEnv, obs: Observation) -> None:
    r = env.act(Click(5000, 10))
    assert r.ok is False and "outside" in r.error
    assert env.act(Scroll(10, 10)).ok  # the bare desktop ignores the wheel


def test_hidpi_screen_maps_pixels_and_events_consistently() -> None:
    with SandboxEnv(screen=(1920, 1080, 1.5), distractors=0) as env:
        task = SandboxTask(
            "press go", success=[{"name": "go", "prop": "clicks", "value": 1}], app=SPEC, id="hidpi"
        )
        obs = env.reset(task)
        assert obs.scale == 1.5 and obs.image.shape == (1080, 1920, 3)
        go = el(obs, "go")
        x1, y1, x2, y2 = go.box
        assert x2 <= 1920 and y2 <= 1080
        # the button is drawn where ground truth says: its pixels differ from the desktop around it
        patch = obs.image[int(y1) + 2 : int(y2) - 2, int(x1) + 2 : int(x2) - 2]
        assert patch.size and patch.std() > 3
        assert env.act(Click(*go.center)).ok and env.success() is True


def test_unknown_screen_is_a_task_error() -> None:
    from agent.errors import TaskError

    with pytest.raises(TaskError, match="not offered"):
        SandboxEnv(screen=(800, 600))


def test_a_button_can_open_a_message_box_on_top(env: SandboxEnv) -> None:
    spec = {"windows": [{"title": "Files", "pos": [100, 100], "body": {"type": "vbox", "children": [
        {"type": "button", "text": "Delete", "name": "delete",
         "opens": {"name": "confirm", "title": "Delete?", "text": "Delete the file?", "buttons": ["Yes", "No"]}}]}}]}  # fmt: skip
    task = SandboxTask(
        "delete it", success=[{"name": "confirm.Yes", "prop": "clicks", "value": 1}], app=spec, id="dlg"
    )
    obs = env.reset(task)
    env.act(Click(*el(obs, "delete").center))
    o = env.observe()
    yes = el(o, "confirm.Yes")
    assert yes.state["window"] == max(e.state["window"] for e in o.elements)  # the dialog is on top
    env.act(Click(*yes.center))
    assert env.success() is True
    assert not [e for e in env.observe().elements if e.state.get("name") == "confirm.Yes"]  # closed
