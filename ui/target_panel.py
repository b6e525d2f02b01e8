"""The options under the target selector: one page per target.

- Sandbox: the app (or a random one), a seed, and "New task" to draw a task to watch.
- This desktop: the safety options in force (dry-run and confirm switchable here), and a link to Settings.
- Recorded session: the trace folder to replay (typed, browsed, or from the recent list).
"""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QStackedWidget,
    QWidget,
)

from ui.qt_compat import emit
from ui.settings import AppSettings, format_region
from ui.targets import TARGET_LABELS

PAGES = ("sandbox", "desktop", "replay")


def _row(parent: QWidget) -> QHBoxLayout:
    lay = QHBoxLayout(parent)
    lay.setContentsMargins(0, 0, 0, 0)
    return lay


class TargetPanel(QStackedWidget):
    new_task_requested = Signal()
    settings_requested = Signal()
    safety_toggled = Signal()  # dry-run or confirm switched on the desktop page
    replay_changed = Signal(str)  # a trace folder was chosen

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("targetPanel")

        # sandbox
        page = QWidget(self)
        lay = _row(page)
        self.sandbox_family = QComboBox(page)
        self.sandbox_family.setObjectName("sandboxFamily")
        self.sandbox_family.addItem("Any task", "")
        self.sandbox_app = QComboBox(page)
        self.sandbox_app.setObjectName("sandboxApp")
        self.sandbox_app.addItem("Random app", "")
        self.sandbox_seed = QSpinBox(page)
        self.sandbox_seed.setObjectName("sandboxSeed")
        self.sandbox_seed.setRange(0, 2_000_000_000)
        self.sandbox_seed.setPrefix("seed ")
        self.new_task = QPushButton("New task", page)
        self.new_task.setObjectName("newTaskButton")
        self.new_task.setToolTip("Draw a sandbox task (and app) to watch the agent solve")
        self.new_task.clicked.connect(self.new_task_requested)
        self.sandbox_note = QLabel("", page)
        self.sandbox_note.setObjectName("sandboxNote")
        lay.addWidget(QLabel("Task", page))
        lay.addWidget(self.sandbox_family)
        lay.addWidget(QLabel("in", page))
        lay.addWidget(self.sandbox_app)
        lay.addWidget(self.sandbox_seed)
        lay.addWidget(self.new_task)
        lay.addWidget(self.sandbox_note, 1)
        self.addWidget(page)

        # live desktop
        page = QWidget(self)
        lay = _row(page)
        self.dry_run = QCheckBox("Dry run", page)
        self.dry_run.setObjectName("dryRun")
        self.dry_run.setToolTip("Draw and log each action instead of executing it")
        self.confirm = QCheckBox("Confirm each action", page)
        self.confirm.setObjectName("confirmEach")
        self.dry_run.toggled.connect(self.safety_toggled)
        self.confirm.toggled.connect(self.safety_toggled)
        self.safety_summary = QLabel("", page)
        self.safety_summary.setObjectName("safetySummary")
        safety_btn = QPushButton("Safety settings…", page)
        safety_btn.clicked.connect(self.settings_requested)
        lay.addWidget(self.dry_run)
        lay.addWidget(self.confirm)
        lay.addWidget(self.safety_summary, 1)
        lay.addWidget(safety_btn)
        self.addWidget(page)

        # recorded session
        page = QWidget(self)
        lay = _row(page)
        self.replay_path = QComboBox(page)
        self.replay_path.setObjectName("replayPath")
        self.replay_path.setEditable(True)
        self.replay_path.lineEdit().setPlaceholderText("a trace folder to replay")
        self.replay_path.lineEdit().editingFinished.connect(
            lambda: emit(self.replay_changed, self.replay_trace())
        )
        self.replay_path.activated.connect(lambda _i: emit(self.replay_changed, self.replay_trace()))
        browse = QPushButton("Browse…", page)
        browse.clicked.connect(self._browse)
        lay.addWidget(QLabel("Trace", page))
        lay.addWidget(self.replay_path, 1)
        lay.addWidget(browse)
        self.addWidget(page)

    # ------------------------------------------------------------------ binding
    def show_target(self, target: str) -> None:
        self.setCurrentIndex(PAGES.index(target))

    def set_sandbox_choices(self, families: list[str], apps: list[str]) -> None:
        """Fill the family and app selectors (keeping the current choice when it is still offered)."""
        for combo, first, names in (
            (self.sandbox_family, "Any task", families),
            (self.sandbox_app, "Random app", apps),
        ):
            current = combo.currentData()
            combo.clear()
            combo.addItem(first, "")
            for n in names:
                combo.addItem(n.replace("_", " "), n)
            combo.setCurrentIndex(max(0, combo.findData(current)))

    def set_sandbox_available(self, ok: bool, why: str) -> None:
        for w in (self.sandbox_family, self.sandbox_app, self.sandbox_seed, self.new_task):
            w.setEnabled(ok)
            w.setToolTip("" if ok else why)
        self.sandbox_note.setText("" if ok else why)

    def load(self, s: AppSettings) -> None:
        self.sandbox_seed.setValue(s.sandbox_seed)
        self.sandbox_app.setCurrentIndex(max(0, self.sandbox_app.findData(s.sandbox_app)))
        self.sandbox_family.setCurrentIndex(max(0, self.sandbox_family.findData(s.sandbox_family)))
        for box, value in ((self.dry_run, s.dry_run), (self.confirm, s.confirm)):
            box.blockSignals(True)
            box.setChecked(value)
            box.blockSignals(False)
        self.replay_path.clear()
        self.replay_path.addItems(s.recent_traces)
        self.replay_path.setEditText(s.replay_trace)
        self.show_safety(s)

    def show_safety(self, s: AppSettings) -> None:
        region = format_region(s.region) or "whole screen"
        self.safety_summary.setText(
            f"region: {region} · stop hotkey: {s.stop_hotkey} · max {s.max_steps} steps / {s.max_seconds:g} s"
        )
        self.safety_summary.setToolTip("Blocked hotkeys: " + ", ".join(s.blocked_hotkeys))

    def replay_trace(self) -> str:
        return self.replay_path.currentText().strip()

    def set_replay_trace(self, path: str) -> None:
        self.replay_path.setEditText(path)
        emit(self.replay_changed, path)

    def _browse(self) -> None:
        path = QFileDialog.getExistingDirectory(self, f"{TARGET_LABELS['replay']}: choose a trace folder",
                                                self.replay_trace())  # fmt: skip
        if path:
            self.set_replay_trace(path)
