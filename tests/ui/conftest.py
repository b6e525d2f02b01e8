"""Fixtures for the app's tests: settings in a temporary INI file, a main window, recorded sessions."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings

from agent.types import Click, Drag, Element, Finished, Hotkey, Scroll, TypeText
from tests.ui.ui_helpers import screen_image
from ui.settings import AppSettings, save_settings

OK = Element((100, 80, 150, 110), "button", text="OK")
NAME = Element((20, 30, 200, 50), "text_field", text="Name")

#: a short session a person recorded: one of every common action, ending with finished()
RECORDING = [Click(120, 95), TypeText("alice\n"), Hotkey(("ctrl", "s")), Drag(10, 10, 100, 100),
             Scroll(50, 50, "down"), Finished(True)]  # fmt: skip
TARGETS = [OK, NAME, None, None, None, None]


@pytest.fixture
def recording(make_trace) -> Path:
    return make_trace(RECORDING, targets=TARGETS, name="recording")


@pytest.fixture
def long_recording(make_trace) -> Path:
    """40 clicks then finished(): long enough to pause and stop in the middle."""
    actions = [Click(120, 95)] * 40 + [Finished(True)]
    return make_trace(actions, targets=[OK] * 40 + [None], name="long")


@pytest.fixture
def qsettings(tmp_path: Path) -> QSettings:
    return QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)


@pytest.fixture
def make_window(qtbot, qsettings, tmp_path) -> Callable[..., object]:
    """make_window(**settings) -> a shown MainWindow with those settings stored first."""
    from ui.main_window import MainWindow

    windows = []

    def _make(**overrides):
        base = {"runs_dir": str(tmp_path / "runs"), "step_delay": 0.0}
        save_settings(qsettings, AppSettings(**{**base, **overrides}))
        w = MainWindow(qsettings, screenshot=screen_image)
        qtbot.addWidget(w)
        w.show()
        windows.append(w)
        return w

    yield _make
    for w in windows:  # never leave a worker running into the next test
        w.controller.shutdown(10000)
