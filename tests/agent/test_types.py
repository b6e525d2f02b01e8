import math

import numpy as np
import pytest

from agent.errors import ActionError
from agent.keys import canonical_key
from agent.types import (
    ACTION_TYPES,
    REDACTED,
    CallUser,
    Click,
    Drag,
    Element,
    Finished,
    Hotkey,
    Move,
    Observation,
    Scroll,
    TypeText,
    Wait,
    action_from_dict,
    action_to_dict,
)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: Click(-1, 5), "x must be >= 0, got -1"),
        (lambda: Click(3, math.nan), "y must be finite, got nan"),
        (lambda: Click(3, math.inf), "y must be finite, got inf"),
        (lambda: Click(1, 1, button="side"), "button must be one of left, right, middle, got 'side'"),
        (lambda: Click(1, 1, count=0), "count must be 1, 2 or 3, got 0"),
        (lambda: Click("1", 1), "x must be a number, got str"),
        (lambda: Drag(0, 0, -2, 3), "x2 must be >= 0, got -2"),
        (
            lambda: Scroll(1, 1, direction="sideways"),
            "direction must be one of up, down, left, right, got 'sideways'",
        ),
        (lambda: Scroll(1, 1, amount=0), "amount must be an integer in 1..100, got 0"),
        (lambda: Hotkey(()), "hotkey needs at least one key"),
        (lambda: Hotkey(("ctrl", "frobnicate")), "unknown key name 'frobnicate'"),
        (lambda: Hotkey(("ctrl", "control")), "hotkey repeats a key: ctrl ctrl"),
        (lambda: TypeText(""), "text must not be empty"),
        (lambda: Wait(-0.5), "seconds must be >= 0, got -0.5"),
        (lambda: Finished(success="yes"), "success must be a bool, got str"),
    ],
)
def test_invalid_actions_are_rejected_with_exact_messages(make, message):
    with pytest.raises(ActionError) as info:
        make()
    assert str(info.value) == message


def test_key_aliases_are_canonical():
    assert Hotkey(("Control", "RETURN")).keys == ("ctrl", "enter")
    assert Hotkey(("cmd", "A")).keys == ("super", "a")
    assert canonical_key("PgDn") == "pagedown"
    assert Hotkey("esc").keys == ("escape",)


@pytest.mark.parametrize(
    "action",
    [
        Click(10.5, 20, "right", 2),
        Move(1, 2),
        Drag(1, 2, 3, 4),
        Scroll(5, 6, "up", 3),
        TypeText("héllo 'world'\n"),
        Hotkey(("ctrl", "shift", "s")),
        Wait(0.25),
        Finished(False, "gave up"),
        CallUser("which account?"),
    ],
)
def test_dict_round_trip(action):
    assert action_from_dict(action_to_dict(action)) == action


def test_every_action_type_is_in_the_registry():
    assert set(ACTION_TYPES) == {
        "click",
        "move",
        "drag",
        "scroll",
        "type",
        "hotkey",
        "wait",
        "finished",
        "call_user",
    }


def test_secret_text_is_redacted_in_dict_form():
    d = action_to_dict(TypeText("hunter2", secret=True))
    assert d["text"] == REDACTED and d["redacted"] is True
    assert action_to_dict(TypeText("hunter2", secret=True), redact=False)["text"] == "hunter2"


def test_action_from_dict_reports_bad_input():
    with pytest.raises(ActionError, match="unknown action type 'jump'"):
        action_from_dict({"type": "jump"})
    with pytest.raises(ActionError, match="click: "):
        action_from_dict({"type": "click", "x": 1})


def test_element_validation_and_geometry():
    e = Element((10, 20, 30, 60), "button", text="OK")
    assert e.center == (20.0, 40.0)
    assert e.contains(10, 60) and not e.contains(9.9, 30)
    assert Element.from_dict(e.to_dict()) == e
    with pytest.raises(ActionError, match="x1 <= x2"):
        Element((30, 0, 10, 5), "button")
    with pytest.raises(ActionError, match="missing field 'kind'"):
        Element.from_dict({"box": [0, 0, 1, 1]})


def test_observation_checks_its_image():
    obs = Observation(np.zeros((4, 6, 3), np.uint8))
    assert obs.size == (6, 4)
    with pytest.raises(ActionError, match="H×W×3 uint8"):
        Observation(np.zeros((4, 6), np.uint8))
    with pytest.raises(ActionError, match="scale must be > 0"):
        Observation(np.zeros((4, 6, 3), np.uint8), scale=0)
