"""Start the app: a QApplication, the main window and (optionally) the trace inspector.

Unexpected exceptions in slots are shown as a message box instead of ending the app; user errors
(DeskpilotError) are shown where they happen.
"""

from __future__ import annotations

import logging
import sys
import traceback
from pathlib import Path

log = logging.getLogger("deskpilot.ui")


def show_unexpected_error(exc_type, exc, tb) -> None:
    """A bug in a slot: log the traceback and show the message, and keep the app running.

    Installed as ``sys.excepthook`` by `run_app`; PySide6 calls it for exceptions raised in slots.
    """
    log.error("".join(traceback.format_exception(exc_type, exc, tb)))
    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import QApplication, QMessageBox

    if QApplication.instance() is None:
        return
    box = QMessageBox(QMessageBox.Icon.Critical, "deskpilot: unexpected error",
                      f"{exc_type.__name__}: {exc}\n\nThe details are in the terminal log.")  # fmt: skip
    box.setObjectName("unexpectedError")
    box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    _open_boxes.add(box)  # a parentless widget lives only as long as a Python reference to it
    box.finished.connect(lambda _r: _open_boxes.discard(box))
    box.open()


_open_boxes: set = set()


def _require_display() -> None:
    """Fail with one readable line (instead of Qt's abort) when there is no screen to open a window on."""
    import os

    from agent.errors import EnvironmentUnavailable

    platform = os.environ.get("QT_QPA_PLATFORM", "")
    if (
        sys.platform.startswith("linux")
        and not platform
        and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    ):
        raise EnvironmentUnavailable(
            "no display: `deskpilot app` needs a desktop session (DISPLAY or WAYLAND_DISPLAY is not set); "
            "on a headless machine use `xvfb-run deskpilot app`, or `deskpilot replay` / `deskpilot sandbox run`"
        )


def run_app(
    target: str | None = None,
    task: str | None = None,
    trace: Path | None = None,
    inspect: Path | None = None,
    settings_file: Path | None = None,
    argv: list[str] | None = None,
    quit_after: float | None = None,
) -> int:
    """Open the main window (on ``target`` with ``task`` typed in; ``trace`` picks the recorded session)
    and, with ``inspect``, the inspector on that trace. Returns the Qt exit code.

    ``settings_file``: an INI file to keep settings in instead of the user's (for demos and tests).
    ``quit_after``: close the window after this many seconds (smoke tests of the launcher).
    """
    from PySide6.QtCore import QSettings, QTimer
    from PySide6.QtWidgets import QApplication

    from ui.main_window import MainWindow
    from ui.settings import TARGETS

    _require_display()

    if target is not None and target not in TARGETS:
        from agent.errors import DeskpilotError

        raise DeskpilotError(f"target must be one of {', '.join(TARGETS)}, got {target!r}")
    app = QApplication.instance() or QApplication(argv if argv is not None else sys.argv[:1])
    app.setApplicationName("deskpilot")
    app.setOrganizationName("deskpilot")
    sys.excepthook = show_unexpected_error
    qs = QSettings(str(settings_file), QSettings.Format.IniFormat) if settings_file else None
    window = MainWindow(qs)
    if target is not None:
        window.target.setCurrentIndex(TARGETS.index(target))
    if trace is not None:
        window.panel.set_replay_trace(str(trace))
    if task:
        window.task.setEditText(task)
    window.show()
    if inspect is not None:
        window.show_inspector(str(inspect))
    if quit_after is not None:
        # close (which stops a run cleanly), then quit even if other top-level windows exist
        QTimer.singleShot(int(quit_after * 1000), lambda: window.close() and app.quit())
    code = app.exec()
    window.close()  # when the event loop ended some other way, still stop a run cleanly
    return code
