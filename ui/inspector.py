"""The trace inspector window: open a trace, move through it on a timeline, see each frame with its
overlays and the step's details, and — for replay traces — the recorded and predicted actions side by
side, green when they match and red when they do not. Exports the HTML report.

All the logic is in `ui.inspector_model.InspectorModel`; this window binds it to widgets.
Keys: ←/→ one step, PgUp/PgDn ten steps, Home/End first/last, Ctrl+O open, Ctrl+E export.
"""

from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import QEvent, Qt, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFileDialog,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMainWindow,
    QMessageBox,
    QPushButton,
    QSlider,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from agent.errors import DeskpilotError
from agent.trace import META_FILE
from ui.inspector_model import InspectorModel
from ui.overlay import ACTION_COLOUR, RECORDED_COLOUR, action_shapes, element_shapes
from ui.qt_compat import emit
from ui.screen_view import ScreenView

MATCH_STYLE = "background:#d7f5dd; border:2px solid #2e7d32; border-radius:4px; padding:6px"
MISMATCH_STYLE = "background:#fbd5d5; border:2px solid #c62828; border-radius:4px; padding:6px"
NEUTRAL_STYLE = "background:#f2f2f2; border:1px solid #bbbbbb; border-radius:4px; padding:6px; color:#666"


def trace_folder(path: str | os.PathLike[str]) -> Path:
    """A dropped path → the trace folder: the folder itself, or the folder of a dropped meta.json/steps.jsonl."""
    p = Path(path)
    if p.is_file() and p.name in (META_FILE, "steps.jsonl"):
        return p.parent
    return p


class InspectorWindow(QMainWindow):
    """``open_trace(path)`` opens (dialog, drop and recent menu all call it); ``opened`` reports success."""

    opened = Signal(str)  # the trace folder, after it opened

    def __init__(self, parent: QWidget | None = None, recent: list[str] | None = None):
        super().__init__(parent)
        self.setObjectName("inspector")
        self.setWindowTitle("deskpilot — trace inspector")
        self.setAcceptDrops(True)
        self.resize(1200, 760)
        self.model = InspectorModel()
        self.last_error = ""
        self._recent: list[str] = list(recent or [])

        # menus
        file_menu = self.menuBar().addMenu("&File")
        open_act = QAction("&Open trace…", self, shortcut=QKeySequence.StandardKey.Open)
        open_act.triggered.connect(self.open_dialog)
        file_menu.addAction(open_act)
        self.recent_menu = file_menu.addMenu("Open &recent")
        self.export_act = QAction("&Export HTML report…", self, shortcut=QKeySequence("Ctrl+E"))
        self.export_act.triggered.connect(self.export_dialog)
        file_menu.addAction(self.export_act)
        file_menu.addSeparator()
        close_act = QAction("&Close", self, shortcut=QKeySequence.StandardKey.Close)
        close_act.triggered.connect(self.close)
        file_menu.addAction(close_act)

        # header, frame, details, comparison
        self.summary = QLabel(self.model.summary(), self)
        self.summary.setObjectName("inspectorSummary")
        self.summary.setWordWrap(True)
        self.view = ScreenView(self)
        self.view.set_placeholder("Drop a trace folder here")
        self.details = QTableWidget(0, 2, self)
        self.details.setObjectName("stepDetails")
        self.details.setHorizontalHeaderLabels(["", ""])
        self.details.horizontalHeader().setVisible(False)
        self.details.verticalHeader().setVisible(False)
        self.details.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        self.details.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.details.setWordWrap(True)
        self.recorded = self._compare_box("recordedAction")
        self.predicted = self._compare_box("predictedAction")
        self.verdict = QLabel("", self)
        self.verdict.setObjectName("verdict")
        self.verdict.setWordWrap(True)
        compare = QFrame(self)
        compare.setObjectName("comparison")
        grid = QGridLayout(compare)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.addWidget(QLabel("<b>Recorded</b>"), 0, 0)
        grid.addWidget(QLabel("<b>Predicted</b>"), 0, 1)
        grid.addWidget(self.recorded, 1, 0)
        grid.addWidget(self.predicted, 1, 1)
        grid.addWidget(self.verdict, 2, 0, 1, 2)
        self.compare = compare
        side = QWidget(self)
        sl = QVBoxLayout(side)
        sl.setContentsMargins(0, 0, 0, 0)
        sl.addWidget(compare)
        sl.addWidget(self.details, 1)
        split = QSplitter(Qt.Orientation.Horizontal, self)
        split.addWidget(self.view)
        split.addWidget(side)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 2)
        split.setSizes([720, 480])

        # timeline
        self.slider = QSlider(Qt.Orientation.Horizontal, self)
        self.slider.setObjectName("timeline")
        self.slider.setPageStep(10)
        self.slider.setTickPosition(QSlider.TickPosition.TicksBelow)
        self.slider.valueChanged.connect(self.go)
        self.position = QLabel("", self)
        self.position.setObjectName("position")
        prev_btn = QPushButton("◀", self)
        prev_btn.setToolTip("Previous step (←)")
        prev_btn.clicked.connect(lambda: self.go(self.model.index - 1))
        next_btn = QPushButton("▶", self)
        next_btn.setToolTip("Next step (→)")
        next_btn.clicked.connect(lambda: self.go(self.model.index + 1))
        timeline = QWidget(self)
        tl = QHBoxLayout(timeline)
        tl.setContentsMargins(0, 0, 0, 0)
        tl.addWidget(prev_btn)
        tl.addWidget(self.slider, 1)
        tl.addWidget(next_btn)
        tl.addWidget(self.position)

        central = QWidget(self)
        layout = QVBoxLayout(central)
        layout.addWidget(self.summary)
        layout.addWidget(split, 1)
        layout.addWidget(timeline)
        self.setCentralWidget(central)

        # Navigation keys work wherever the focus is inside the inspector (the view would scroll, the
        # table would move its cursor): an event filter on each child takes them first.
        for child in (self.view, self.slider, self.details, prev_btn, next_btn, self.summary):
            child.installEventFilter(self)
        self._rebuild_recent()
        self._refresh()

    def _compare_box(self, name: str) -> QLabel:
        label = QLabel("—", self)
        label.setObjectName(name)
        label.setWordWrap(True)
        label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        label.setStyleSheet(NEUTRAL_STYLE)
        return label

    # ------------------------------------------------------------------ opening
    def open_trace(self, path: str | os.PathLike[str]) -> bool:
        """Open ``path``; on failure show why and keep the current trace. Returns success."""
        folder = trace_folder(path)
        try:
            self.model.open(folder)
        except DeskpilotError as exc:
            self.show_error(f"Cannot open {folder}: {exc}")
            return False
        self.last_error = ""
        self.setWindowTitle(f"deskpilot — {folder.name}")
        self.slider.blockSignals(True)
        self.slider.setRange(0, max(0, self.model.count - 1))
        self.slider.setValue(max(0, self.model.index))
        self.slider.blockSignals(False)
        self._refresh()
        self.slider.setFocus()
        self.add_recent(str(folder))
        emit(self.opened, str(folder))
        return True

    def open_dialog(self) -> None:
        start = str(self.model.path.parent) if self.model.path else (self._recent[0] if self._recent else "")
        path = QFileDialog.getExistingDirectory(self, "Open a trace folder", start)
        if path:
            self.open_trace(path)

    def add_recent(self, path: str) -> None:
        from ui.settings import RECENT_LIMIT, push_front

        self.set_recent(push_front(self._recent, path, RECENT_LIMIT))

    def set_recent(self, paths: list[str]) -> None:
        self._recent = list(paths)
        self._rebuild_recent()

    @property
    def recent(self) -> list[str]:
        return list(self._recent)

    def _rebuild_recent(self) -> None:
        self.recent_menu.clear()
        for p in self._recent:
            act = self.recent_menu.addAction(p)
            act.triggered.connect(lambda _=False, p=p: self.open_trace(p))
        self.recent_menu.setEnabled(bool(self._recent))

    def dragEnterEvent(self, event):
        if event.mimeData().hasUrls() and any(u.isLocalFile() for u in event.mimeData().urls()):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event):
        for url in event.mimeData().urls():
            if url.isLocalFile():
                self.open_trace(url.toLocalFile())
                event.acceptProposedAction()
                return

    # ------------------------------------------------------------------ navigation
    def _nav_target(self, key: int) -> int | None:
        """The step index a navigation key leads to, or None for other keys."""
        i, n = self.model.index, self.model.count
        return {
            Qt.Key.Key_Right: i + 1, Qt.Key.Key_Left: i - 1, Qt.Key.Key_PageDown: i + 10,
            Qt.Key.Key_PageUp: i - 10, Qt.Key.Key_Home: 0, Qt.Key.Key_End: n - 1,
        }.get(Qt.Key(key))  # fmt: skip

    def eventFilter(self, obj, event):
        if (
            event.type() == QEvent.Type.KeyPress
            and not event.modifiers() & ~Qt.KeyboardModifier.KeypadModifier
        ):
            target = self._nav_target(event.key())
            if target is not None:
                self.go(target)
                return True
        return super().eventFilter(obj, event)

    def keyPressEvent(self, event):
        target = self._nav_target(event.key())
        if target is None:
            super().keyPressEvent(event)
        else:
            self.go(target)

    def go(self, index: int) -> None:
        if self.model.count == 0:
            return
        self.model.set_index(index)
        if self.slider.value() != self.model.index:
            self.slider.blockSignals(True)
            self.slider.setValue(self.model.index)
            self.slider.blockSignals(False)
        self._refresh()

    def _refresh(self) -> None:
        m = self.model
        self.summary.setText(m.summary())
        self.export_act.setEnabled(m.trace is not None)
        self.position.setText(f"step {m.index + 1} / {m.count}" if m.count else "no steps")
        step = m.step
        if step is None:
            self.view.clear()
            self.details.setRowCount(0)
            self.compare.setVisible(False)
            return
        try:
            self.view.set_frame(m.frame())
        except DeskpilotError as exc:
            self.view.set_frame(None)
            self.view.set_placeholder(str(exc))
        shapes = element_shapes(step.elements)
        shapes += action_shapes(step.action, m.screen, target=step.target, colour=ACTION_COLOUR)
        recorded = m.recorded_action()
        if recorded is not None:
            shapes += action_shapes(recorded, m.screen, colour=RECORDED_COLOUR)
        self.view.set_shapes(shapes)
        rows = m.details()
        self.details.setRowCount(len(rows))
        for r, (label, text) in enumerate(rows):
            self.details.setItem(r, 0, QTableWidgetItem(label))
            item = QTableWidgetItem(text)
            item.setToolTip(text)
            self.details.setItem(r, 1, item)
        self.details.resizeRowsToContents()
        cmp = m.comparison()
        self.compare.setVisible(cmp is not None)
        if cmp is not None:
            style = MATCH_STYLE if cmp.match else MISMATCH_STYLE
            self.recorded.setText(cmp.recorded)
            self.predicted.setText(cmp.predicted)
            self.recorded.setStyleSheet(style)
            self.predicted.setStyleSheet(style)
            self.verdict.setText(
                ("✔ match" if cmp.match else "✘ mismatch") + (f": {cmp.reason}" if cmp.reason else "")
            )

    # ------------------------------------------------------------------ export and errors
    def export_html(self, out: str | os.PathLike[str]) -> Path | None:
        try:
            path = self.model.export_html(out)
        except DeskpilotError as exc:
            self.show_error(str(exc))
            return None
        self.statusBar().showMessage(f"Report written to {path}", 8000)
        return path

    def export_dialog(self) -> None:
        if self.model.path is None:
            return
        default = str(self.model.path / "report.html")
        out, _ = QFileDialog.getSaveFileName(self, "Export HTML report", default, "HTML (*.html)")
        if out:
            self.export_html(out)

    def show_error(self, message: str) -> None:
        """Tell the person, without blocking (a window-modal box; tests read ``last_error``)."""
        self.last_error = message
        self.statusBar().showMessage(message, 15000)
        box = QMessageBox(QMessageBox.Icon.Warning, "deskpilot", message, QMessageBox.StandardButton.Ok, self)
        box.setObjectName("errorBox")
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()
