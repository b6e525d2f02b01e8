"""Driving runs from the main window's real widgets: run to success, pause, step, stop, close, errors."""

from __future__ import annotations

import json

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox

from agent.trace import read_trace
from tests.ui.ui_helpers import select_replay
from ui.overlay import ACTION_COLOUR


def _rows(window):
    return window.steps.steps.rows


def test_recorded_session_replays_to_success_from_the_ui(make_window, recording, qtbot):
    w = make_window()
    select_replay(w, recording)
    assert w.task.currentText() == "test task"  # the recorded task is filled in
    qtbot.mouseClick(w.run_btn, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(
        lambda: w.controller.state == "idle" and w.controller.last_result is not None, timeout=20000
    )

    assert w.last_error == ""
    assert w.controller.last_result["success"] is True
    rows = _rows(w)
    assert [r["uitars"] for r in rows][:2] == ["click(start_box='(120,95)')", "type(content='alice\\n')"]
    assert all(r["match"] is True for r in rows) and len(rows) == 6
    assert rows[0]["target_text"] == "button “OK”" and "decide" in rows[0]["timings_text"]
    assert (
        w.steps.steps.data(w.steps.steps.index(0, 1), Qt.ItemDataRole.DecorationRole) is not None
    )  # thumbnail
    assert "Succeeded" in w.statusBar().currentMessage()
    assert w.fps_label.text().endswith("fps") and "observe" in w.timings_label.text()
    # the live view shows the last frame with the last action drawn
    assert w.view.frame_size() == (320, 200)
    assert "finished()" in w.next_action.text()
    # the run was recorded as a trace, and its task went into the history
    trace = read_trace(w.last_trace)
    assert len(trace.steps) == 6 and trace.meta["summary"]["success"] is True
    assert w.task.itemText(0) == "test task"
    assert w.open_last_act.isEnabled()


def test_each_action_is_drawn_before_it_happens(make_window, recording, qtbot):
    w = make_window()
    select_replay(w, recording)
    events = []
    w.controller.decided.connect(
        lambda p: events.append(
            ("decided", p["index"], [s.kind for s in w.view.shapes if s.colour == ACTION_COLOUR])
        )
    )
    w.controller.stepped.connect(lambda r: events.append(("stepped", r["index"], None)))
    w.run_or_resume()
    qtbot.waitUntil(lambda: w.controller.state == "idle", timeout=20000)
    order = [(kind, i) for kind, i, _ in events]
    assert order == [(k, i) for i in range(6) for k in ("decided", "stepped")]
    drawn = {i: kinds for kind, i, kinds in events if kind == "decided"}
    assert "marker" in drawn[0] and "box" in drawn[0]  # click marker + its target
    assert "arrow" in drawn[3]  # drag arrow
    assert "label" in drawn[1]  # the text to type


def test_pause_step_and_stop_mid_run(make_window, long_recording, qtbot):
    w = make_window(step_delay=0.05)
    select_replay(w, long_recording)
    w.run_or_resume()
    qtbot.waitUntil(lambda: len(_rows(w)) >= 3, timeout=20000)
    qtbot.mouseClick(w.pause_btn, Qt.MouseButton.LeftButton)
    assert w.controller.state == "paused" and w.run_btn.text() == "Resume" and w.step_btn.isEnabled()
    qtbot.wait(300)  # a step already in flight may still land
    held = len(_rows(w))
    qtbot.wait(500)
    assert len(_rows(w)) == held, "no step may run while paused"

    qtbot.mouseClick(w.step_btn, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: len(_rows(w)) == held + 1, timeout=10000)
    qtbot.wait(400)
    assert len(_rows(w)) == held + 1 and w.controller.state == "paused", "Step runs exactly one step"

    qtbot.mouseClick(w.run_btn, Qt.MouseButton.LeftButton)  # resume
    qtbot.waitUntil(lambda: len(_rows(w)) >= held + 3, timeout=10000)
    qtbot.mouseClick(w.stop_btn, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: w.controller.state == "idle", timeout=10000)
    result = w.controller.last_result
    assert result["reason"] == "stopped" and result["steps"] < 41
    assert len(read_trace(w.last_trace).steps) == result["steps"] == len(_rows(w))
    assert w.run_btn.isEnabled() and not w.stop_btn.isEnabled()


def test_step_from_idle_runs_one_step_and_holds(make_window, recording, qtbot):
    w = make_window()
    select_replay(w, recording)
    qtbot.mouseClick(w.step_btn, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: len(_rows(w)) == 1, timeout=20000)
    qtbot.wait(300)
    assert len(_rows(w)) == 1 and w.controller.state == "paused"
    w.step()
    qtbot.waitUntil(lambda: len(_rows(w)) == 2, timeout=10000)
    w.controller.stop()
    qtbot.waitUntil(lambda: w.controller.state == "idle", timeout=10000)


def test_closing_the_window_during_a_run_stops_the_agent_cleanly(make_window, long_recording, qtbot):
    w = make_window(step_delay=0.05)
    select_replay(w, long_recording)
    w.run_or_resume()
    qtbot.waitUntil(lambda: len(_rows(w)) >= 2, timeout=20000)
    thread = w.controller._thread
    assert thread is not None and thread.isRunning()
    assert w.close()
    assert not thread.isRunning(), "the worker ended before the window went away"
    meta = json.loads((read_trace(w.last_trace).path / "meta.json").read_text())
    assert meta["summary"]["reason"] == "stopped"


def test_errors_are_shown_as_messages_and_the_app_keeps_working(make_window, recording, tmp_path, qtbot):
    w = make_window()
    select_replay(w, tmp_path / "no-such-trace")
    w.run_or_resume()
    qtbot.waitUntil(lambda: w.last_error != "" and w.controller.state == "idle", timeout=20000)
    assert "no such trace folder" in w.last_error
    box = w.findChild(QMessageBox, "errorBox")
    assert box is not None and box.isVisible() and "no such trace folder" in box.text()  # shown, not blocking
    box.close()
    # a replay without a trace chosen is refused before anything starts
    w.panel.set_replay_trace("")
    assert w.start_run() is False and "choose a recorded session" in w.last_error
    # the same window then runs fine
    select_replay(w, recording)
    w.run_or_resume()
    qtbot.waitUntil(
        lambda: w.controller.last_result is not None and w.controller.state == "idle", timeout=20000
    )
    assert w.controller.last_result["success"] is True and w.last_error == ""


def test_policies_that_do_not_fit_the_target_are_greyed_out_with_a_reason(make_window):
    w = make_window()
    w.target.setCurrentIndex(w.target.findData("replay"))
    model = w.policy.model()
    rec = model.item(w.policy.findData("recorded"))
    assert rec.isEnabled()
    w.target.setCurrentIndex(w.target.findData("desktop"))
    rec = w.policy.model().item(w.policy.findData("recorded"))
    assert not rec.isEnabled() and "Recorded session" in rec.toolTip()
    assert w.policy.currentData() != "recorded"


def test_without_weights_the_app_says_what_to_train(make_window, monkeypatch):
    monkeypatch.setattr("ui.targets.WEIGHTS_ROOTS", [])  # no shipped weights/ folder either
    w = make_window(detector_weights="", policy_weights="")
    assert w.banner.isVisible()
    assert "deskpilot train policy" in w.banner.text() and "deskpilot train detector" in w.banner.text()
    usable = [w.policy.itemData(i) for i in range(w.policy.count()) if w.policy.model().item(i).isEnabled()]
    assert usable, "policies that need no weights are offered"


def test_shipped_weights_are_found_without_settings(make_window, monkeypatch, tmp_path):
    (tmp_path / "weights" / "policy").mkdir(parents=True)
    (tmp_path / "weights" / "policy" / "config.json").write_text("{}")
    monkeypatch.setattr("ui.targets.WEIGHTS_ROOTS", [tmp_path])
    w = make_window(detector_weights="", policy_weights="")
    assert "deskpilot train detector" in w.banner.text() and "train policy" not in w.banner.text()
    w.target.setCurrentIndex(w.target.findData("replay"))
    row = w.policy.findData("transformer")
    assert row >= 0 and w.policy.model().item(row).isEnabled()  # offered: weights/policy exists
