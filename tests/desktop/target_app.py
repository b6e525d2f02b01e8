"""A small real Qt app that the desktop tests drive with real X input, run as its own process.

Protocol (line based): the app prints one JSON line ``{"ready": true, ...state}`` once its window is
exposed, then answers each command read on stdin with one JSON line on stdout:

    state   -> the widgets' state and their global geometry ``[x, y, w, h]`` in screen pixels
    reset   -> clears every widget, then answers like ``state``
    quit    -> exits

The tests verify actions from this state, never from what they sent.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from PySide6.QtCore import QEvent, QObject, QSocketNotifier, Qt, QTimer
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QApplication,
    QCheckBox,
    QFrame,
    QLabel,
    QLineEdit,
    QListWidget,
    QPushButton,
    QSlider,
    QWidget,
)

_BUTTONS = {Qt.MouseButton.LeftButton: "left", Qt.MouseButton.RightButton: "right",
            Qt.MouseButton.MiddleButton: "middle"}  # fmt: skip


class Pad(QFrame):
    """Logs every press, release and double click with its position (widget-local pixels)."""

    def __init__(self, parent: QWidget):
        super().__init__(parent)
        self.setFrameShape(QFrame.Shape.Box)
        self.setStyleSheet("background: #3a7bd5")
        self.events: list[list] = []

    def _log(self, kind: str, ev) -> None:
        p = ev.position()
        self.events.append([kind, _BUTTONS.get(ev.button(), "other"), round(p.x()), round(p.y())])

    def mousePressEvent(self, ev) -> None:
        self._log("press", ev)

    def mouseReleaseEvent(self, ev) -> None:
        self._log("release", ev)

    def mouseDoubleClickEvent(self, ev) -> None:
        self._log("double", ev)


class KeyLog(QObject):
    """Application-wide filter: records every key press as 'mods+key' (e.g. 'ctrl+shift+k')."""

    def __init__(self):
        super().__init__()
        self.keys: list[str] = []

    def eventFilter(self, obj, ev) -> bool:
        # Only the window-level delivery: Qt re-sends the same event to each parent otherwise.
        if ev.type() == QEvent.Type.KeyPress and isinstance(obj, QWidget) and obj.isWindow():
            mods = ev.modifiers()
            names = [n for flag, n in ((Qt.KeyboardModifier.ControlModifier, "ctrl"),
                                       (Qt.KeyboardModifier.AltModifier, "alt"),
                                       (Qt.KeyboardModifier.ShiftModifier, "shift")) if mods & flag]  # fmt: skip
            key = QKeySequence(ev.key()).toString().lower() or f"0x{ev.key():x}"
            self.keys.append("+".join([*names, key]))
        return False


class Target(QWidget):
    def __init__(self, x: int, y: int):
        super().__init__()
        self.setWindowTitle("deskpilot target")
        self.setGeometry(x, y, 560, 420)
        self.pad = Pad(self)
        self.pad.setGeometry(20, 20, 220, 120)
        self.button = QPushButton("OK", self)
        self.button.setGeometry(260, 20, 120, 40)
        self.clicks = 0
        self.button.clicked.connect(self._clicked)
        self.check = QCheckBox("Remember me", self)
        self.check.setGeometry(260, 80, 200, 30)
        self.edit = QLineEdit(self)
        self.edit.setGeometry(20, 160, 360, 32)
        self.submitted: list[str] = []
        self.edit.returnPressed.connect(lambda: self.submitted.append(self.edit.text()))
        self.password = QLineEdit(self)
        self.password.setEchoMode(QLineEdit.EchoMode.Password)
        self.password.setGeometry(20, 205, 360, 32)
        self.slider = QSlider(Qt.Orientation.Horizontal, self)
        self.slider.setRange(0, 100)
        self.slider.setGeometry(20, 255, 360, 30)
        self.list = QListWidget(self)
        self.list.addItems([f"item {i}" for i in range(200)])
        self.list.setGeometry(400, 160, 140, 240)
        self.label = QLabel("", self)
        self.label.setGeometry(20, 300, 360, 30)
        self.shortcuts = {"ctrl+k": 0, "ctrl+shift+l": 0}
        for name, seq in (("ctrl+k", "Ctrl+K"), ("ctrl+shift+l", "Ctrl+Shift+L")):
            sc = QShortcut(QKeySequence(seq), self)
            sc.activated.connect(lambda n=name: self._shortcut(n))
        self.keylog = KeyLog()
        QApplication.instance().installEventFilter(self.keylog)

    def _clicked(self) -> None:
        self.clicks += 1

    def _shortcut(self, name: str) -> None:
        self.shortcuts[name] += 1

    def reset(self) -> None:
        self.pad.events.clear()
        self.clicks = 0
        self.check.setChecked(False)
        self.edit.clear()
        self.password.clear()
        self.submitted.clear()
        self.slider.setValue(0)
        self.list.verticalScrollBar().setValue(0)
        self.shortcuts = dict.fromkeys(self.shortcuts, 0)
        self.keylog.keys.clear()
        self.setFocus()

    def _rect(self, w: QWidget) -> list[int]:
        p = w.mapToGlobal(w.rect().topLeft())
        return [p.x(), p.y(), w.width(), w.height()]

    def state(self) -> dict:
        names = ("pad", "button", "check", "edit", "password", "slider", "list")
        focus = QApplication.focusWidget()
        return {
            "pad": self.pad.events,
            "clicks": self.clicks,
            "checked": self.check.isChecked(),
            "text": self.edit.text(),
            "password": self.password.text(),
            "submitted": self.submitted,
            "slider": self.slider.value(),
            "scroll": self.list.verticalScrollBar().value(),
            "shortcuts": self.shortcuts,
            "keys": self.keylog.keys,
            "focus": next((n for n in names if getattr(self, n) is focus), None),
            "rects": {n: self._rect(getattr(self, n)) for n in names},
            "window": self._rect(self),
        }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--x", type=int, default=60)
    ap.add_argument("--y", type=int, default=60)
    args = ap.parse_args()
    app = QApplication([sys.argv[0]])
    win = Target(args.x, args.y)
    win.show()

    def reply(extra: dict | None = None) -> None:
        sys.stdout.write(json.dumps({**(extra or {}), **win.state()}) + "\n")
        sys.stdout.flush()

    def wait_exposed() -> None:
        handle = win.windowHandle()
        if handle is not None and handle.isExposed():
            win.activateWindow()
            reply({"ready": True})
        else:
            QTimer.singleShot(20, wait_exposed)

    pending = bytearray()

    def on_stdin() -> None:
        # os.read, not sys.stdin: a buffered reader would swallow queued lines the notifier never reports
        chunk = os.read(sys.stdin.fileno(), 4096)
        if not chunk:  # the test process went away
            app.quit()
            return
        pending.extend(chunk)
        while b"\n" in pending:
            line, _, rest = bytes(pending).partition(b"\n")
            pending[:] = rest
            cmd = line.decode().strip()
            if cmd == "state":
                reply()
            elif cmd == "reset":
                win.reset()
                reply()
            elif cmd == "quit":
                app.quit()

    notifier = QSocketNotifier(sys.stdin.fileno(), QSocketNotifier.Type.Read)
    notifier.activated.connect(on_stdin)
    QTimer.singleShot(0, wait_exposed)
    sys.exit(app.exec())


if __name__ == "__main__":
    main()
