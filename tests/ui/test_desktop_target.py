""" "This desktop" from the app, on a private X display: confirm-first, dry-run, stop, and hiding itself.

The app renders offscreen; the agent captures and acts on an Xvfb screen (or the display the session
already has), so nothing touches a real desktop.
"""

from __future__ import annotations

import os
import subprocess
import time

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox


@pytest.fixture(scope="module")
def display():
    """One X display for the module: pyautogui and pynput bind to DISPLAY when first imported."""
    if os.environ.get("DISPLAY"):  # e.g. the live-desktop tests' Xvfb, already bound by pyautogui/pynput
        yield os.environ["DISPLAY"]
        return
    from agent.xvfb import Xvfb

    with Xvfb(640, 480) as server, pytest.MonkeyPatch.context() as mp:
        mp.setenv("DISPLAY", server.display)
        yield server.display
        # stopped pynput listeners (the stop hotkey) exit at their next key event: send one before the
        # server goes, so their threads end cleanly instead of finding the display gone
        subprocess.run(["xdotool", "key", "shift"], check=False, timeout=10)
        time.sleep(0.2)


def _answer(w, qtbot, button):
    qtbot.waitUntil(lambda: w.confirm_box is not None and w.confirm_box.isVisible(), timeout=20000)
    box = w.confirm_box
    assert "click(start_box=" in box.text()
    qtbot.mouseClick(box.button(button), Qt.MouseButton.LeftButton)


def test_confirm_first_dry_run_then_stop(display, make_window, qtbot):
    w = make_window(target="desktop", policy="fixed", dry_run=True, confirm=True, max_steps=10)
    assert w.current_target() == "desktop"
    assert w.panel.confirm.isChecked() and w.panel.dry_run.isChecked() and w.panel.isVisible()
    assert "stop hotkey" in w.panel.safety_summary.text()
    w.task.setEditText("click the middle of the screen")
    w.run_or_resume()
    rows = w.steps.steps.rows
    _answer(w, qtbot, QMessageBox.StandardButton.Yes)
    qtbot.waitUntil(lambda: len(rows) == 1, timeout=20000)
    import mss

    with mss.MSS() as grab:  # the fixed policy clicks the centre of the captured monitor
        mon = grab.monitors[1]
    centre = f"click(start_box='({mon['width'] // 2},{mon['height'] // 2})')"
    assert rows[0]["ok"] and rows[0]["uitars"] == centre
    _answer(w, qtbot, QMessageBox.StandardButton.No)
    qtbot.waitUntil(lambda: len(rows) == 2, timeout=20000)
    assert not rows[1]["ok"] and "not confirmed" in rows[1]["error"]
    qtbot.waitUntil(lambda: w.confirm_box is not None, timeout=20000)
    assert not w.isMinimized()  # a dry run stays in view
    qtbot.mouseClick(w.stop_btn, Qt.MouseButton.LeftButton)  # answers the open question with "no"
    qtbot.waitUntil(lambda: w.controller.state == "idle", timeout=20000)
    assert w.confirm_box is None and w.controller.last_result["reason"] == "stopped"
    assert w.last_error == ""


def test_the_window_gets_out_of_the_way_while_acting_for_real(display, make_window, qtbot):
    w = make_window(target="desktop", policy="fixed", dry_run=False, confirm=False, max_steps=2,
                    hide_while_acting=True, step_delay=0.3)  # fmt: skip
    w.task.setEditText("click the middle of the screen")
    states = []
    w.controller.stepped.connect(lambda _r: states.append(w.isMinimized()))
    assert w.start_run()
    qtbot.waitUntil(lambda: w.controller.state == "idle", timeout=30000)
    assert w.last_error == "", w.last_error
    assert states and all(states), "minimised while the agent acted"
    assert not w.isMinimized() and w.controller.last_result["steps"] == 2
