"""Settings: QSettings round trip, bad stored values, the dialog (incl. the region picked by dragging)."""

from __future__ import annotations

from dataclasses import asdict

import pytest
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QDialog

from tests.ui.ui_helpers import not_blank, screen_image, select_replay
from ui.region_picker import RegionCanvas, image_rect
from ui.settings import AppSettings, SettingsError, load_settings, parse_region, push_front, save_settings
from ui.settings_dialog import SettingsDialog


def test_round_trip_through_an_ini_file(tmp_path):
    path = str(tmp_path / "s.ini")
    s = AppSettings(
        target="replay", policy="random", detector_weights="/w/det", policy_weights="/w/pol", dry_run=True,
        confirm=False, region=[10, 20, 300, 200], blocked_hotkeys=["alt+f4", "super+l"], stop_hotkey="ctrl+alt+x",
        hide_while_acting=False, step_delay=0.75, max_steps=12, max_seconds=42.5, runs_dir="/r",
        replay_trace="/t", sandbox_app="login", sandbox_seed=7, task_history=["b", "a"], recent_traces=["/t"],
    )  # fmt: skip
    save_settings(QSettings(path, QSettings.Format.IniFormat), s)
    loaded = load_settings(QSettings(path, QSettings.Format.IniFormat))  # a fresh reader, from disk
    assert loaded.problems == []
    assert asdict(loaded.settings) == asdict(s)


def test_missing_or_broken_values_fall_back_to_defaults(tmp_path):
    qs = QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat)
    assert load_settings(qs).settings == AppSettings()  # nothing stored yet
    qs.setValue("app/max_steps", "-3")
    qs.setValue("app/step_delay", "{oops")
    qs.setValue("app/region", "[1, 2, 0, 5]")
    qs.setValue("app/dry_run", "true")
    loaded = load_settings(qs)
    assert loaded.settings.max_steps == AppSettings().max_steps and loaded.settings.region is None
    assert loaded.settings.dry_run is True
    text = " ".join(loaded.problems)
    assert "'max_steps'" in text and "'step_delay'" in text and "'region'" in text


def test_validation_messages_name_the_field():
    with pytest.raises(SettingsError, match="step delay"):
        AppSettings(step_delay=-1).validate()
    with pytest.raises(SettingsError, match="allowed region"):
        parse_region("1, 2, three, 4")
    assert parse_region(" 5 6 70 80 ") == [5, 6, 70, 80] and parse_region("") is None
    assert push_front(["a", "b", "c"], "b", 2) == ["b", "a"]


def test_dialog_edits_validates_and_keeps_bad_input_open(qtbot):
    dlg = SettingsDialog(AppSettings(), ["fixed", "random"])
    qtbot.addWidget(dlg)
    dlg.step_delay.setValue(1.5)
    dlg.max_steps.setValue(9)
    dlg.dry_run.setChecked(True)
    dlg.blocked.setPlainText("alt+f4\n\nctrl+alt+delete\n")
    dlg.policy.setCurrentIndex(dlg.policy.findData("random"))
    dlg.region.setText("0, 0, 0, 10")
    dlg.accept()
    assert dlg.result() != QDialog.DialogCode.Accepted and "positive size" in dlg.error.text()
    dlg.stop_hotkey.setText("ctrl+alt+nosuchkey")
    dlg.region.setText("10, 10, 100, 50")
    dlg.accept()
    assert "nosuchkey" in dlg.error.text()
    dlg.stop_hotkey.setText("ctrl+alt+q")
    dlg.accept()
    assert dlg.result() == QDialog.DialogCode.Accepted
    s = dlg.settings
    assert (s.step_delay, s.max_steps, s.dry_run, s.policy) == (1.5, 9, True, "random")
    assert s.blocked_hotkeys == ["alt+f4", "ctrl+alt+delete"] and s.region == [10, 10, 100, 50]


def test_region_picked_by_dragging_over_a_screenshot(qtbot):
    img = screen_image(400, 200)
    assert not_blank(img)
    canvas = RegionCanvas(img)
    qtbot.addWidget(canvas)
    canvas.resize(800, 500)  # image drawn ×2, centred vertically: offset (0, 50)
    canvas.show()
    assert canvas.drag((20, 90), (220, 150)) == [10, 20, 100, 30]
    assert canvas.drag((900, 600), (780, 190)) == [390, 70, 10, 130]  # clamped to the image
    assert image_rect((5, 5), (5.2, 5.2), 1.0, (0, 0), (10, 10)) is None  # a click is not a region
    from PySide6.QtCore import QPoint, Qt

    qtbot.mousePress(canvas, Qt.MouseButton.LeftButton, pos=QPoint(100, 250))
    qtbot.mouseMove(canvas, QPoint(300, 350))
    qtbot.mouseRelease(canvas, Qt.MouseButton.LeftButton, pos=QPoint(300, 350))
    assert canvas.region == [50, 100, 100, 50]


def test_main_window_remembers_target_task_history_and_trace(make_window, recording, qsettings, qtbot):
    w = make_window()
    select_replay(w, recording)
    w.run_or_resume()
    qtbot.waitUntil(
        lambda: w.controller.state == "idle" and w.controller.last_result is not None, timeout=20000
    )
    w.close()
    from ui.main_window import MainWindow

    again = MainWindow(qsettings)
    qtbot.addWidget(again)
    assert again.current_target() == "replay" and again.panel.replay_trace() == str(recording)
    assert again.task.currentText() == "test task" and again.policy.currentData() == "recorded"
    assert again.settings.recent_traces[0] == str(recording)
