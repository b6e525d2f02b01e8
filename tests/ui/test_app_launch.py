"""`deskpilot app` through the real CLI, and bugs in slots shown as messages instead of crashes."""

from __future__ import annotations

import sys

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QApplication, QMessageBox, QPushButton

from agent.cli import main
from ui.app import show_unexpected_error
from ui.settings import load_settings


def test_deskpilot_app_opens_a_recorded_session_and_the_inspector(recording, tmp_path, qapp):
    ini = tmp_path / "settings.ini"
    code = main(["app", "--target", "replay", "--trace", str(recording), "--inspect", str(recording),
                 "--settings", str(ini), "--quit-after", "0.5"])  # fmt: skip
    assert code == 0
    saved = load_settings(QSettings(str(ini), QSettings.Format.IniFormat)).settings
    assert saved.target == "replay" and saved.replay_trace == str(recording)
    assert saved.recent_traces[0] == str(recording)  # the inspector opened it


def test_a_bad_target_is_one_readable_line(capsys):
    assert main(["app", "--target", "moon"]) == 2
    assert "target must be one of sandbox, desktop, replay" in capsys.readouterr().err


def test_a_bug_in_a_slot_is_shown_and_the_app_goes_on(qtbot, monkeypatch):
    monkeypatch.setattr(sys, "excepthook", show_unexpected_error)
    button = QPushButton("boom")
    qtbot.addWidget(button)

    def broken() -> None:
        raise ZeroDivisionError("the slot divided by zero")

    button.clicked.connect(broken)
    button.click()
    boxes = [
        w
        for w in QApplication.topLevelWidgets()
        if isinstance(w, QMessageBox) and w.objectName() == "unexpectedError"
    ]
    assert boxes and "ZeroDivisionError: the slot divided by zero" in boxes[-1].text()
    for box in boxes:
        box.close()


def test_no_display_is_one_readable_line_not_a_qt_abort():
    import os
    import shutil
    import subprocess

    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    proc = subprocess.run([shutil.which("deskpilot"), "app", "--target", "sandbox"], env=env, capture_output=True,
                          text=True, timeout=60)  # fmt: skip
    assert proc.returncode == 2
    assert proc.stderr.startswith("deskpilot: error: no display") and proc.stderr.count("\n") == 1
