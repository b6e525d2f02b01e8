"""Qt bootstrap for the sandbox: one offscreen QApplication per process with a row of virtual screens.

The offscreen platform plugin takes its screens from a JSON file named in ``QT_QPA_PLATFORM``
(``offscreen:configfile=PATH``), read once when the QApplication starts. Instead of one screen per
process we configure *every* supported screen size side by side (with gaps), so each scene picks its
own size and Qt clamps popups and menus to that screen, as a real window system would.

Screen coordinates: Qt's global coordinates put screen ``i`` at ``(origin_x, 0)``; the sandbox shows the
agent screen-relative pixels (``0..width``), converted in `Desk`.

Stacking: the offscreen plugin paints top-level windows in creation order (it has no ``raise()``), so
the window created last is on top. `Desk.windows()` returns that order; ground truth, input routing and
the screenshot all use it, so they agree.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from agent.errors import EnvironmentUnavailable

#: Screen sizes (width, height) in pixels that every sandbox process offers at scale 1.
SCREEN_SIZES: tuple[tuple[int, int], ...] = (
    (1280, 800), (1024, 768), (1152, 864), (1280, 1024), (1366, 768),
    (1440, 900), (1536, 864), (1600, 900), (1680, 1050), (1920, 1080),
)  # fmt: skip
#: HiDPI screens (width, height, scale): physical pixels, and Qt's device pixel ratio (UI drawn larger).
SCALED_SCREENS: tuple[tuple[int, int, float], ...] = (
    (1920, 1080, 1.25),
    (1920, 1080, 1.5),
    (1600, 900, 1.25),
)
#: Every screen: (width, height, scale).
SCREENS: tuple[tuple[int, int, float], ...] = tuple((w, h, 1.0) for w, h in SCREEN_SIZES) + SCALED_SCREENS
_GAP = 200  # pixels between screens, so no window or popup straddles two


def screen_name(w: int, h: int, scale: float = 1.0) -> str:
    return f"sandbox-{w}x{h}" + (f"@{scale:g}" if scale != 1.0 else "")


def screen_config() -> dict:
    """The offscreen plugin configuration: one screen per `SCREENS` entry, laid out left to right.

    A scaled screen gets logical DPI 96 × scale, from which Qt derives its device pixel ratio: widgets
    are laid out in logical units and drawn with ``scale`` physical pixels per unit.
    """
    screens, x = [], 0
    for w, h, scale in SCREENS:
        screens.append({"name": screen_name(w, h, scale), "x": x, "y": 0, "width": w, "height": h,
                        "logicalDpi": round(96 * scale), "logicalBaseDpi": 96, "dpr": 1.0})  # fmt: skip
        x += w + _GAP
    # windowFrameMargins off: offscreen windows have no decorations; the sandbox draws its own title bars
    return {"synchronousWindowSystemEvents": False, "windowFrameMargins": False, "screens": screens}


def _config_path() -> Path:
    text = json.dumps(screen_config(), sort_keys=True)
    digest = hashlib.sha1(text.encode()).hexdigest()[:12]
    path = Path(tempfile.gettempdir()) / f"deskpilot-sandbox-screens-{digest}.json"
    if not path.exists():
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(text)
        os.replace(tmp, path)
    return path


def configure_environment() -> None:
    """Point Qt at the sandbox screens; call before the first QApplication exists (tests' conftest does).

    Leaves a platform other than plain ``offscreen`` alone (a person may run the sandbox on xcb).
    """
    platform = os.environ.get("QT_QPA_PLATFORM", "")
    if platform in ("", "offscreen"):
        os.environ["QT_QPA_PLATFORM"] = f"offscreen:configfile={_config_path()}"
    os.environ.setdefault("QT_QPA_OFFSCREEN_NO_GLX", "1")  # no X connection needed, faster start


def ensure_app():  # -> QApplication
    """Return the process's QApplication, creating it (offscreen, sandbox screens) when there is none."""
    configure_environment()
    try:
        from PySide6.QtWidgets import QApplication
    except ImportError as exc:  # pragma: no cover - PySide6 is a dependency
        raise EnvironmentUnavailable(f"the sandbox needs PySide6: {exc}") from None
    app = QApplication.instance()
    if app is None:
        _quiet_platform_warnings()
        app = QApplication(["deskpilot-sandbox"])
        app.setQuitOnLastWindowClosed(False)
        # no cursor blink / animations: frames depend only on state, not on wall-clock time
        app.setCursorFlashTime(0)
        app.setEffectEnabled(_qt().UI_AnimateCombo, False)
        app.setEffectEnabled(_qt().UI_AnimateMenu, False)
        app.setEffectEnabled(_qt().UI_FadeMenu, False)
        app.setEffectEnabled(_qt().UI_AnimateTooltip, False)
    return app


_previous_handler = None


def _quiet_platform_warnings() -> None:
    """Drop the offscreen plugin's "This plugin does not support raise()" notes; keep other messages."""
    global _previous_handler
    from PySide6.QtCore import qInstallMessageHandler

    def handler(mode, context, message):
        if message.startswith("This plugin does not support") or "occurs outside target window" in message:
            return
        if _previous_handler is not None:
            _previous_handler(mode, context, message)
        else:
            import sys

            print(message, file=sys.stderr)

    _previous_handler = qInstallMessageHandler(handler)


def _qt():
    from PySide6.QtCore import Qt

    return Qt.UIEffect


@dataclass
class Desk:
    """One screen of the sandbox desktop: a QScreen and the part of it the agent sees.

    Qt works in logical units; the agent sees physical pixels (``scale`` per unit). `to_global` and
    `to_screen` are the one conversion between the two.

    Attributes:
        screen: the QScreen.
        x, y: the global Qt (logical) position of the visible area's top-left.
        width, height: size of the visible area in logical units (what windows are placed in).
        scale: physical pixels per logical unit (the screen's device pixel ratio).
    """

    screen: object
    x: int
    y: int
    width: int
    height: int
    scale: float = 1.0

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) of the screenshot in physical pixels."""
        return (round(self.width * self.scale), round(self.height * self.scale))

    def to_global(self, px: float, py: float) -> tuple[int, int]:
        """Screen pixel (as the agent sees it) → Qt global point."""
        return (self.x + int(px / self.scale), self.y + int(py / self.scale))

    def to_screen(self, gx: float, gy: float) -> tuple[float, float]:
        """Qt global point → screen pixel."""
        return ((gx - self.x) * self.scale, (gy - self.y) * self.scale)

    def grab(self) -> np.ndarray:
        """The screen as H×W×3 uint8 RGB (physical pixels), all top-level windows, popups included."""
        from PySide6.QtGui import QImage

        if self.scale == 1.0:
            pm = self.screen.grabWindow(0, self.x, self.y, self.width, self.height)
            img = pm.toImage().convertToFormat(QImage.Format.Format_RGB888)
        else:
            img = self._compose()
        h, w, bpl = img.height(), img.width(), img.bytesPerLine()
        arr = np.frombuffer(img.constBits(), np.uint8, count=h * bpl).reshape(h, bpl)
        return arr[:, : w * 3].reshape(h, w, 3).copy()

    def _compose(self):
        """The screen of a scaled desk, composed here: the offscreen plugin's screen grab mixes logical and
        physical coordinates when the device pixel ratio is not 1. Each window is rendered at the
        screen's ratio and painted at its physical position, bottom to top (as `windows` orders them)."""
        from PySide6.QtCore import QPoint
        from PySide6.QtGui import QImage, QPainter
        from PySide6.QtWidgets import QApplication

        w, h = self.size
        img = QImage(w, h, QImage.Format.Format_RGB888)
        img.fill(0)
        owners = {
            tw.windowHandle(): tw for tw in QApplication.topLevelWidgets() if tw.windowHandle() is not None
        }
        p = QPainter(img)
        for win in self.windows():
            widget = owners.get(win)
            if widget is None:
                continue
            pm = widget.grab()
            pm.setDevicePixelRatio(1.0)  # paint its physical pixels one to one
            g = win.geometry()
            x, y = self.to_screen(g.x(), g.y())
            p.drawPixmap(QPoint(round(x), round(y)), pm)
        p.end()
        return img

    def windows(self) -> list:
        """Visible top-level QWindows on this desk, bottom to top (the order the screenshot paints)."""
        from PySide6.QtCore import QRect
        from PySide6.QtGui import QGuiApplication

        area = QRect(self.x, self.y, self.width, self.height)
        out = []
        for w in QGuiApplication.topLevelWindows():
            try:
                if w.isVisible() and w.isExposed() and w.geometry().intersects(area):
                    out.append(w)
            except RuntimeError:  # a wrapper whose C++ window is being deleted
                continue
        return out


def desk_for(size: tuple[int, int] | tuple[int, int, float]) -> Desk:
    """The desk of ``size`` ((width, height) or (width, height, scale), physical pixels): its own screen
    when configured, else a region of the primary screen (when another QApplication was created without
    the sandbox screens)."""
    ensure_app()
    from PySide6.QtGui import QGuiApplication

    w, h = int(size[0]), int(size[1])
    scale = float(size[2]) if len(size) > 2 else 1.0
    name = screen_name(w, h, scale)
    for screen in QGuiApplication.screens():
        if screen.name() == name:
            g = screen.geometry()
            return Desk(screen, g.x(), g.y(), g.width(), g.height(), screen.devicePixelRatio())
    screen = QGuiApplication.primaryScreen()
    if screen is None:
        raise EnvironmentUnavailable("Qt has no screen; set QT_QPA_PLATFORM=offscreen")
    g = screen.geometry()
    return Desk(screen, g.x(), g.y(), w, h)


def flush_events(rounds: int = 2) -> None:
    """Deliver posted events and paint: what the screen shows after this reflects widget state."""
    from PySide6.QtCore import QCoreApplication
    from PySide6.QtWidgets import QApplication

    for _ in range(rounds):
        QCoreApplication.sendPostedEvents()
        QApplication.processEvents()


def delete_later(*widgets) -> None:
    """Close and schedule ``widgets`` for deletion, then run the deferred deletes (no Qt object leak)."""
    from PySide6.QtCore import QCoreApplication, QEvent

    for w in widgets:
        if w is None:
            continue
        try:
            w.hide()
            w.deleteLater()
        except RuntimeError:  # already deleted on the C++ side
            continue
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    flush_events(1)
