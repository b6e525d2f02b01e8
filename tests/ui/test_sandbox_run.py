"""The default target end to end: draw a sandbox task in the UI and watch the expert solve it.

The sandbox renders offscreen in a child process (ui.sandbox_proxy); the window shows its frames with
the ground-truth elements and draws each action before it happens.
"""

from __future__ import annotations

from PySide6.QtCore import Qt

from agent.trace import read_trace


def test_sandbox_task_from_the_ui_succeeds_with_the_expert(make_window, qtbot):
    w = make_window(target="sandbox", sandbox_family="type_text", sandbox_seed=3)
    assert w.current_target() == "sandbox" and w.policy.currentData() == "expert"
    qtbot.mouseClick(w.panel.new_task, Qt.MouseButton.LeftButton)
    instruction = w.task.currentText()
    assert instruction and w.sandbox_task["instruction"] == instruction
    decided = []
    w.controller.decided.connect(
        lambda p: decided.append(len([s for s in w.view.shapes if s.role == "element"]))
    )
    qtbot.mouseClick(w.run_btn, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(
        lambda: w.controller.state == "idle" and bool(w.controller.last_result or w.last_error), timeout=90000
    )
    assert w.last_error == ""
    result = w.controller.last_result
    assert result["success"] is True, result
    rows = w.steps.steps.rows
    assert len(rows) >= 2 and any(r["uitars"].startswith("type(") for r in rows)
    assert decided and min(decided) > 0  # ground-truth element boxes drawn on every frame
    assert w.view.frame_size()[0] >= 1024
    trace = read_trace(w.last_trace)
    assert trace.meta["target"] == "sandbox" and trace.meta["summary"]["success"] is True
    assert trace.task.instruction == instruction
