"""The app's logic without widgets: overlays, payloads, rate meter, inspector model, run configs."""

from __future__ import annotations

import numpy as np
import pytest

from agent.errors import DeskpilotError, TraceError
from agent.types import Click, Drag, Element, Finished, Hotkey, Scroll, Step, TypeText
from policies.base import Decision
from ui.controller import button_states, new_trace_dir
from ui.inspector_model import InspectorModel
from ui.overlay import ACTION_COLOUR, action_shapes, element_shapes, kind_colour
from ui.payloads import RateMeter, decision_payload, format_timings, step_payload, thumbnail
from ui.settings import AppSettings
from ui.targets import choose_policy, make_run_config, policy_availability, weights_banner

OK = Element((100, 80, 150, 110), "button", text="OK", score=0.9, state={"enabled": True})


def test_element_boxes_are_coloured_by_kind_with_their_text_on_hover():
    shapes = element_shapes([OK, Element((0, 0, 5, 5), "brand_new_kind").to_dict()])
    assert [s.colour for s in shapes] == [kind_colour("button"), "#888888"]
    assert shapes[0].text == "button: OK\nscore 0.90\nenabled: True" and shapes[0].points == OK.box
    assert kind_colour("button") != kind_colour("text_field")


def test_actions_become_markers_arrows_and_captions():
    click = action_shapes(Click(120, 95), (1280, 800), target=OK)
    assert [s.kind for s in click] == ["box", "marker", "label"]
    assert click[1].points[:2] == (120, 95) and click[2].text == "click" and click[0].role == "target"
    drag = action_shapes(Drag(10, 10, 300, 200).__dict__ | {"type": "drag"}, (1280, 800))
    assert [s.kind for s in drag] == ["marker", "arrow", "label"] and drag[1].points == (10, 10, 300, 200)
    down = action_shapes(Scroll(50, 50, "down"), (1280, 800))[1].points
    assert down[0] == down[2] and down[3] > down[1]  # the arrow points down
    typed = action_shapes(TypeText("hi\n"), (1280, 800), target=OK)
    assert typed[-1].text == "type “hi⏎”" and typed[-1].points == (100, 114)  # under the target field
    assert action_shapes(Hotkey(("ctrl", "s")), (1280, 800))[-1].text == "press ctrl+s"
    assert action_shapes(Finished(False, "stuck"), (1280, 800))[-1].text == "finished ✘: stuck"
    label = action_shapes(Click(1279, 799), (1280, 800))[-1]
    assert label.points[0] <= 1280 * 0.8 and label.points[1] < 800  # captions stay on the frame
    assert all(s.colour == ACTION_COLOUR for s in click)


def test_payloads_are_plain_data():
    from agent.types import Observation

    img = np.zeros((200, 320, 3), np.uint8)
    p = decision_payload(3, Observation(img), [OK], Decision(Click(120, 95), target=OK, info={"x": object()}))
    assert p["uitars"] == "click(start_box='(120,95)')" and p["target_text"] == "button “OK”"
    assert p["elements"][0]["kind"] == "button" and p["info"] == {} and p["screen"] == (320, 200)
    step = Step(index=0, action=TypeText("hunter2", secret=True), timings={"act": 2.0, "observe": 1.25})
    row = step_payload(step, (320, 200), thumbnail(img))
    assert row["uitars"] == "type(content='[REDACTED]')" and row["action"]["text"] == "[REDACTED]"
    assert row["timings_text"] == "observe 1.2 · act 2.0 ms" and row["thumb"].shape == (50, 80, 3)
    assert format_timings({}) == ""
    short = format_timings({"observe": 476.2, "perceive": 0.0, "decide": 0.12, "act": 12.7}, short=True)
    assert short == "obs 476 · dec 0.1 · act 13 ms"


def test_rate_meter_counts_steps_in_its_window():
    now = [0.0]
    meter = RateMeter(window=2.0, clock=lambda: now[0])
    assert meter.rate() == 0.0
    for _ in range(5):
        meter.tick()
        now[0] += 0.25
    assert meter.rate() == pytest.approx(4.0)
    now[0] += 10
    assert meter.rate() == 0.0


def test_inspector_model_clamps_and_caches(recording):
    m = InspectorModel()
    assert m.index == -1 and m.step is None and "No trace open" in m.summary()
    m.open(recording)
    assert (m.count, m.index) == (6, 0)
    assert m.set_index(99) == 5 and m.prev() == 4 and m.first() == 0 and m.set_index(-4) == 0
    assert m.frame() is m.frame(0) and m.frame(17) is None
    assert dict(m.details())["target"] == "button “OK”" and m.comparison() is None and not m.is_replay
    with pytest.raises(TraceError):
        m.open(recording.parent / "nope")
    assert m.count == 6  # the open trace stays


def test_run_configs_refuse_what_cannot_run():
    s = AppSettings()
    with pytest.raises(DeskpilotError, match="choose a recorded session"):
        make_run_config(s, target="replay", instruction="", policy="recorded", trace_dir=None)
    with pytest.raises(DeskpilotError, match="type a task"):
        make_run_config(s, target="desktop", instruction="  ", policy="random", trace_dir=None)
    with pytest.raises(DeskpilotError, match="no policy"):
        make_run_config(s, target="sandbox", instruction="x", policy="", trace_dir=None)
    cfg = make_run_config(AppSettings(region=[0, 0, 10, 10], dry_run=True), target="desktop", instruction=" go ",
                          policy="random", trace_dir="/t")  # fmt: skip
    assert cfg.instruction == "go" and cfg.safety["region"] == [0, 0, 10, 10] and cfg.safety["dry_run"]
    assert cfg.safety["confirm"] is True  # confirm-first by default


def test_policy_choice_and_availability(tmp_path):
    assert not policy_availability("recorded", "sandbox", False, "").ok
    assert policy_availability("recorded", "replay", False, "").ok
    why = policy_availability("learned", "desktop", True, str(tmp_path / "none")).why
    assert "deskpilot train policy" in why and "does not exist" in why
    (tmp_path / "w").mkdir()
    (tmp_path / "w" / "config.json").write_text("{}")
    assert policy_availability("learned", "desktop", True, str(tmp_path / "w")).ok
    assert choose_policy("replay", "random", ["recorded", "random"]) == "random"
    assert choose_policy("replay", "gone", ["fixed", "recorded"]) == "recorded"
    assert choose_policy("desktop", "", []) == ""
    assert weights_banner(str(tmp_path / "w"), str(tmp_path / "w")) == ""
    assert "deskpilot train detector" in weights_banner("", str(tmp_path / "w"))


def test_buttons_follow_the_run_state(tmp_path):
    assert button_states("idle") == {"run": True, "pause": False, "step": True, "stop": False}
    assert button_states("running") == {"run": False, "pause": True, "step": False, "stop": True}
    assert button_states("paused") == {"run": True, "pause": False, "step": True, "stop": True}
    assert not any(button_states("stopping").values())
    a = new_trace_dir(tmp_path, "sandbox")
    (tmp_path / a).mkdir()
    assert new_trace_dir(tmp_path, "sandbox") != a
