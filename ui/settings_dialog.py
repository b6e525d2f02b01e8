"""The settings dialog: models and policy, live-desktop safety, and run pacing.

It edits a copy of `ui.settings.AppSettings`; OK validates it (a bad value is shown in the dialog, which
stays open) and ``settings`` holds the result. Persisting is the window's job.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import numpy as np
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from agent.errors import DeskpilotError
from ui.region_picker import RegionPicker, grab_screen
from ui.settings import AppSettings, SettingsError, format_region, parse_region


def _path_row(edit: QLineEdit, parent: QWidget, title: str) -> QWidget:
    row = QWidget(parent)
    lay = QHBoxLayout(row)
    lay.setContentsMargins(0, 0, 0, 0)
    lay.addWidget(edit, 1)
    browse = QPushButton("Browse…", row)
    browse.clicked.connect(lambda: _browse(edit, parent, title))
    lay.addWidget(browse)
    return row


def _browse(edit: QLineEdit, parent: QWidget, title: str) -> None:
    path = QFileDialog.getExistingDirectory(parent, title, edit.text())
    if path:
        edit.setText(path)


class SettingsDialog(QDialog):
    def __init__(
        self,
        settings: AppSettings,
        policies: list[str],
        parent: QWidget | None = None,
        screenshot: Callable[[], np.ndarray] = grab_screen,
    ):
        super().__init__(parent)
        self.setObjectName("settingsDialog")
        self.setWindowTitle("deskpilot settings")
        self.settings = replace(settings)
        self._screenshot = screenshot

        # models
        self.detector_weights = QLineEdit(settings.detector_weights, self)
        self.policy_weights = QLineEdit(settings.policy_weights, self)
        self.policy = QComboBox(self)
        self.policy.addItem("(first available)", "")
        for name in policies:
            self.policy.addItem(name, name)
        self.policy.setCurrentIndex(max(0, self.policy.findData(settings.policy)))
        models = QGroupBox("Models", self)
        form = QFormLayout(models)
        form.addRow("Detector weights", _path_row(self.detector_weights, self, "Detector weights folder"))
        form.addRow("Policy weights", _path_row(self.policy_weights, self, "Policy weights folder"))
        form.addRow("Policy", self.policy)

        # safety
        self.dry_run = QCheckBox("Dry run: draw and log actions, never execute them", self)
        self.dry_run.setChecked(settings.dry_run)
        self.confirm = QCheckBox("Confirm each action before it happens", self)
        self.confirm.setChecked(settings.confirm)
        self.hide_while_acting = QCheckBox("Minimise this window while the agent acts", self)
        self.hide_while_acting.setChecked(settings.hide_while_acting)
        self.region = QLineEdit(format_region(settings.region), self)
        self.region.setPlaceholderText("whole screen (or x, y, width, height)")
        pick = QPushButton("Pick on screen…", self)
        pick.clicked.connect(self.pick_region)
        whole = QPushButton("Whole screen", self)
        whole.clicked.connect(lambda: self.region.setText(""))
        region_row = QWidget(self)
        rl = QHBoxLayout(region_row)
        rl.setContentsMargins(0, 0, 0, 0)
        rl.addWidget(self.region, 1)
        rl.addWidget(pick)
        rl.addWidget(whole)
        self.blocked = QPlainTextEdit("\n".join(settings.blocked_hotkeys), self)
        self.blocked.setPlaceholderText("one hotkey per line, e.g. ctrl+alt+delete")
        self.blocked.setMaximumHeight(90)
        self.stop_hotkey = QLineEdit(settings.stop_hotkey, self)
        self.max_seconds = QDoubleSpinBox(self)
        self.max_seconds.setRange(1, 86400)
        self.max_seconds.setSuffix(" s")
        self.max_seconds.setValue(settings.max_seconds)
        safety = QGroupBox("Safety (This desktop)", self)
        sf = QFormLayout(safety)
        sf.addRow(self.dry_run)
        sf.addRow(self.confirm)
        sf.addRow(self.hide_while_acting)
        sf.addRow("Allowed region", region_row)
        sf.addRow("Blocked hotkeys", self.blocked)
        sf.addRow("Stop hotkey", self.stop_hotkey)
        sf.addRow("Maximum time", self.max_seconds)

        # run
        self.step_delay = QDoubleSpinBox(self)
        self.step_delay.setRange(0, 60)
        self.step_delay.setDecimals(2)
        self.step_delay.setSingleStep(0.1)
        self.step_delay.setSuffix(" s")
        self.step_delay.setValue(settings.step_delay)
        self.max_steps = QSpinBox(self)
        self.max_steps.setRange(1, 10000)
        self.max_steps.setValue(settings.max_steps)
        self.runs_dir = QLineEdit(settings.runs_dir, self)
        self.runs_dir.setPlaceholderText("the app's data folder")
        run = QGroupBox("Runs", self)
        rf = QFormLayout(run)
        rf.addRow("Step delay", self.step_delay)
        rf.addRow("Maximum steps", self.max_steps)
        rf.addRow("Traces folder", _path_row(self.runs_dir, self, "Folder for run traces"))

        self.error = QLabel("", self)
        self.error.setObjectName("settingsError")
        self.error.setStyleSheet("color: #c62828")
        self.error.setWordWrap(True)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        for w in (models, safety, run, self.error, buttons):
            layout.addWidget(w)

    # ------------------------------------------------------------------ binding
    def collect(self) -> AppSettings:
        """The edited settings, validated (raises SettingsError with a readable message)."""
        blocked = [line.strip() for line in self.blocked.toPlainText().splitlines() if line.strip()]
        s = replace(
            self.settings,
            detector_weights=self.detector_weights.text().strip(),
            policy_weights=self.policy_weights.text().strip(),
            policy=self.policy.currentData() or "",
            dry_run=self.dry_run.isChecked(),
            confirm=self.confirm.isChecked(),
            hide_while_acting=self.hide_while_acting.isChecked(),
            region=parse_region(self.region.text()),
            blocked_hotkeys=blocked,
            stop_hotkey=self.stop_hotkey.text().strip(),
            max_seconds=float(self.max_seconds.value()),
            step_delay=float(self.step_delay.value()),
            max_steps=int(self.max_steps.value()),
            runs_dir=self.runs_dir.text().strip(),
        )
        s.validate()
        _check_hotkeys(s)
        return s

    def accept(self) -> None:
        try:
            self.settings = self.collect()
        except DeskpilotError as exc:
            self.error.setText(str(exc))
            return
        super().accept()

    def pick_region(self) -> None:
        try:
            image = self._screenshot()
        except DeskpilotError as exc:
            self.error.setText(f"cannot take a screenshot to pick from: {exc}")
            return
        try:
            current = parse_region(self.region.text())
        except SettingsError:
            current = None
        picker = RegionPicker(image, current, self)
        if picker.exec() == QDialog.DialogCode.Accepted:
            self.region.setText(format_region(picker.region))


def _check_hotkeys(s: AppSettings) -> None:
    """Hotkeys must use known key names (checked with agent.hotkeys when the live desktop is present)."""
    try:
        from agent.hotkeys import parse_hotkey
    except ImportError:
        return
    for text in [*s.blocked_hotkeys, s.stop_hotkey]:
        try:
            parse_hotkey(text)
        except DeskpilotError as exc:
            raise SettingsError(f"hotkey {text!r}: {exc}") from None
