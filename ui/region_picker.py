"""Pick the live desktop's allowed region by dragging a rectangle over a screenshot.

`image_rect` (pure) maps two widget points to a rectangle in screenshot pixels; the widgets only show
the image and forward the mouse.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from PySide6.QtCore import QPoint, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QPainter, QPen
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLabel, QVBoxLayout, QWidget

from agent.errors import EnvironmentUnavailable
from ui.qt_compat import emit
from ui.screen_view import pixmap_from_array


def image_rect(
    p1: tuple[float, float],
    p2: tuple[float, float],
    scale: float,
    offset: tuple[float, float],
    size: tuple[int, int],
) -> list[int] | None:
    """Two widget points → [x, y, w, h] in image pixels, clamped to the image; None when empty.

    The image is drawn at ``offset`` (widget pixels) scaled by ``scale`` (widget px per image px);
    ``size`` is the image's (width, height).
    """
    w, h = size

    def to_img(p: tuple[float, float]) -> tuple[float, float]:
        return (min(max((p[0] - offset[0]) / scale, 0), w), min(max((p[1] - offset[1]) / scale, 0), h))

    (x1, y1), (x2, y2) = to_img(p1), to_img(p2)
    x, y = round(min(x1, x2)), round(min(y1, y2))
    rw, rh = round(abs(x2 - x1)), round(abs(y2 - y1))
    if rw < 1 or rh < 1:
        return None
    return [x, y, rw, rh]


class RegionCanvas(QWidget):
    """Draws the screenshot scaled to fit and the rectangle being dragged."""

    changed = Signal(object)  # [x, y, w, h] in image pixels, or None

    def __init__(self, image: np.ndarray, region: list[int] | None = None, parent=None):
        super().__init__(parent)
        self.setObjectName("regionCanvas")
        self._pixmap = pixmap_from_array(image)
        self._size = (image.shape[1], image.shape[0])
        self.region = region
        self._start: QPoint | None = None
        self.setMinimumSize(480, 300)
        self.setCursor(Qt.CursorShape.CrossCursor)

    def sizeHint(self) -> QSize:
        return QSize(900, 560)

    def _geometry(self) -> tuple[float, tuple[float, float]]:
        w, h = self._size
        scale = min(self.width() / w, self.height() / h)
        return scale, ((self.width() - w * scale) / 2, (self.height() - h * scale) / 2)

    def paintEvent(self, event):
        scale, (ox, oy) = self._geometry()
        p = QPainter(self)
        p.fillRect(self.rect(), QColor("#202020"))
        target = QRectF(ox, oy, self._size[0] * scale, self._size[1] * scale)
        p.drawPixmap(target, self._pixmap, QRectF(self._pixmap.rect()))
        if self.region is not None:
            x, y, w, h = self.region
            r = QRectF(ox + x * scale, oy + y * scale, w * scale, h * scale)
            p.fillRect(r, QColor(0, 200, 83, 50))
            p.setPen(QPen(QColor("#00c853"), 2))
            p.drawRect(r)
        p.end()

    def drag(self, p1: tuple[float, float], p2: tuple[float, float]) -> list[int] | None:
        """Set the region from a drag between two widget points (mouse events and tests use this)."""
        scale, offset = self._geometry()
        self.region = image_rect(p1, p2, scale, offset, self._size)
        emit(self.changed, self.region)
        self.update()
        return self.region

    def mousePressEvent(self, event):
        self._start = event.position().toPoint()

    def mouseMoveEvent(self, event):
        if self._start is not None:
            p = event.position()
            self.drag((self._start.x(), self._start.y()), (p.x(), p.y()))

    def mouseReleaseEvent(self, event):
        if self._start is not None:
            p = event.position()
            self.drag((self._start.x(), self._start.y()), (p.x(), p.y()))
            self._start = None


class RegionPicker(QDialog):
    """A dialog around a RegionCanvas; ``region`` holds the pick after ``accept``."""

    def __init__(self, image: np.ndarray, region: list[int] | None = None, parent=None):
        super().__init__(parent)
        self.setWindowTitle("Allowed region: drag a rectangle")
        self.canvas = RegionCanvas(image, region, self)
        self.label = QLabel(self)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("The agent may only click, drag and scroll inside the rectangle."))
        layout.addWidget(self.canvas, 1)
        layout.addWidget(self.label)
        layout.addWidget(buttons)
        self.canvas.changed.connect(self._show)
        self._show(region)

    def _show(self, region: list[int] | None) -> None:
        self.label.setText(
            "whole screen" if region is None else "x {}, y {}, width {}, height {}".format(*region)
        )

    @property
    def region(self) -> list[int] | None:
        return self.canvas.region


def grab_screen() -> np.ndarray:
    """A screenshot of the primary screen as H×W×3 uint8 (mss when available, else Qt)."""
    try:
        from agent.capture import ScreenCapture

        cap = ScreenCapture(1, None)
        try:
            return cap.grab().rgb()
        finally:
            cap.close()
    except Exception:  # no mss backend here: ask Qt for the screen
        from PySide6.QtGui import QGuiApplication, QImage

        screen = QGuiApplication.primaryScreen()
        if screen is None:
            raise EnvironmentUnavailable("no screen to take a screenshot of") from None
        img = screen.grabWindow(0).toImage().convertToFormat(QImage.Format.Format_RGB888)
        ptr = img.constBits()
        arr = np.frombuffer(ptr, np.uint8, img.sizeInBytes()).reshape(img.height(), img.bytesPerLine())
        return arr[:, : img.width() * 3].reshape(img.height(), img.width(), 3).copy()


ScreenshotFn = Callable[[], np.ndarray]
