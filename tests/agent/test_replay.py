import json

import pytest

from agent.cli import main
from agent.envs.replay import ReplayEnv
from agent.errors import TraceError
from agent.loop import run_episode
from agent.scoring import score_action, summarize
from agent.types import Click, Drag, Element, Finished, Hotkey, Scroll, TypeText, Wait
from policies import make_policy

OK_BUTTON = Element((100, 80, 150, 110), "button", text="OK")


def test_click_inside_the_target_box_matches_even_far_from_the_recorded_point():
    rec = Click(105, 85)
    assert score_action(Click(148, 108), rec, target=OK_BUTTON).ok
    m = score_action(Click(170, 95), rec, target=OK_BUTTON)
    assert not m.ok and "outside the target box" in m.reason


def test_click_without_target_uses_a_tolerance_scaled_to_the_screen():
    rec = Click(500, 400)
    # 2% of the diagonal: 30 px at 1280×800, 44 px at 1920×1080
    assert score_action(Click(525, 400), rec, screen=(1280, 800)).ok
    assert not score_action(Click(535, 400), rec, screen=(1280, 800)).ok
    assert score_action(Click(535, 400), rec, screen=(1920, 1080)).ok


def test_button_count_text_keys_direction_outcome():
    assert not score_action(Click(1, 1, "right"), Click(1, 1)).ok
    assert not score_action(Click(1, 1, count=2), Click(1, 1)).ok
    assert score_action(TypeText("abc"), TypeText("abc")).ok
    assert not score_action(TypeText("abd"), TypeText("abc")).ok
    assert score_action(Hotkey(("c", "ctrl")), Hotkey(("ctrl", "c"))).ok
    assert not score_action(Hotkey(("ctrl", "v")), Hotkey(("ctrl", "c"))).ok
    assert score_action(Scroll(0, 0, "down", 1), Scroll(900, 700, "down", 10)).ok
    assert not score_action(Scroll(0, 0, "up"), Scroll(0, 0, "down")).ok
    assert score_action(Finished(True), Finished(True)).ok
    assert not score_action(Finished(False), Finished(True)).ok
    assert score_action(Wait(3), Wait(1)).ok
    assert not score_action(Wait(1), Click(1, 1)).ok
    assert score_action(Drag(101, 81, 300, 300), Drag(120, 90, 310, 305), target=OK_BUTTON).ok
    assert not score_action(Drag(101, 81, 600, 300), Drag(120, 90, 310, 305), target=OK_BUTTON).ok


RECORDING = [
    Click(130, 95),
    TypeText("alice\n"),
    Hotkey(("ctrl", "s")),
    Scroll(160, 100, "down"),
    Finished(True),
]


def test_recorded_policy_scores_one_and_fixed_point_scores_low(make_trace):
    targets = [OK_BUTTON, None, None, None, None]
    path = make_trace(RECORDING, targets=targets)
    for name, expect in (("recorded", 1.0), ("fixed", 0.0)):
        env = ReplayEnv(path)
        policy = make_policy(name, steps=env.steps)
        result = run_episode(env, policy, env.trace.task, max_steps=10)
        report = env.report()
        assert report.total == 5
        if name == "recorded":
            assert report.step_accuracy == 1.0 and report.episode_success and report.first_divergence is None
            assert result.success is True
        else:
            # the centre (160, 100) misses the OK box, and a click never matches type/hotkey/scroll/finished
            assert (
                report.step_accuracy == expect and report.first_divergence == 0 and not report.episode_success
            )


def test_first_divergence_and_summary(make_trace):
    path = make_trace(RECORDING)
    env = ReplayEnv(path)
    env.reset()
    for a in [Click(130, 95), TypeText("bob\n"), Hotkey(("ctrl", "s"))]:
        env.act(a)
    report = env.report()
    assert [s.match for s in report.steps] == [True, False, True]
    assert report.first_divergence == 1 and report.step_accuracy == pytest.approx(2 / 5)
    s = summarize([report])
    assert s["traces"] == 1 and s["steps"] == 5 and s["episode_success"] == 0.0


def test_an_early_finish_diverges_where_the_policy_stopped(make_trace):
    env = ReplayEnv(make_trace([Click(130, 95), Click(10, 10)]))
    env.reset()
    env.act(Click(130, 95))
    assert env.report().first_divergence == 1  # never reached step 1


def test_replay_of_an_empty_trace_is_a_clear_error(tmp_path):
    from agent.trace import TraceWriter

    TraceWriter(tmp_path / "empty", task="nothing").close()
    with pytest.raises(TraceError, match="no complete step to replay"):
        ReplayEnv(tmp_path / "empty")


def test_cli_replay_json_and_bad_input(make_trace, capsys, tmp_path):
    a = make_trace(RECORDING, name="a")
    b = make_trace(RECORDING[:2], name="b")
    assert main(["replay", str(a), str(b), "--policy", "recorded", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["traces"] == 2 and data["steps"] == 7 and data["step_accuracy"] == 1.0
    assert data["episode_success"] == 1.0
    # a folder of traces expands to its traces; --out writes replay traces with match info
    assert main(["replay", str(tmp_path), "--policy", "fixed", "--json", "--out", str(tmp_path / "out")]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["traces"] == 2 and data["step_accuracy"] < 0.2
    from agent.trace import read_trace

    replayed = read_trace(tmp_path / "out" / "a")
    assert replayed.steps[0].result.info["match"] is False and "recorded" in replayed.steps[0].result.info
    assert main(["replay", str(tmp_path / "missing")]) == 2
    assert "deskpilot: error: no such trace folder" in capsys.readouterr().err
    assert main(["replay", str(a), "--policy", "nope"]) == 2
    assert "unknown policy 'nope'" in capsys.readouterr().err
