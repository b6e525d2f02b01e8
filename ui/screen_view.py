"""A zoomable view of one frame with overlay shapes: element boxes (text on hover) and the next action.

Binds `ui.overlay.Shape` lists to QGraphicsItems; it decides nothing itself. Zoom: Ctrl+wheel, +/-,
0 to fit; the view fits the frame until the person zooms.
"""

from __future__ import annotations

import math

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QFont, QImage, QPainter, QPainterPath, QPen, QPixmap, QPolygonF
from PySide6.QtWidgets import (
    QGraphicsItem,
    QGraphicsPathItem,
    QGraphicsPixmapItem,
    QGraphicsRectItem,
    QGraphicsScene,
    QGraphicsSimpleTextItem,
    QGraphicsView,
)

from ui.overlay import Shape

ZOOM_STEP = 1.25
LABEL_PX = 14  # caption font size in screen pixels
ZOOM_RANGE = (0.05, 16.0)


def qimage_from_array(image: np.ndarray) -> QImage:
    """H×W×3 uint8 RGB → a QImage that owns its pixels (safe after the array is gone)."""
    img = np.ascontiguousarray(image)
    h, w = img.shape[:2]
    return QImage(img.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()


def pixmap_from_array(image: np.ndarray) -> QPixmap:
    return QPixmap.fromImage(qimage_from_array(image))


class ScreenView(QGraphicsView):
    """Shows a frame and its overlays. ``set_frame`` then ``set_shapes``; ``clear`` empties it."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("screenView")
        self.setScene(QGraphicsScene(self))
        self.setRenderHint(QPainter.RenderHint.Antialiasing)
        self.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        self.setDragMode(QGraphicsView.DragMode.ScrollHandDrag)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.setBackgroundBrush(QColor("#2b2b2b"))
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self._pixmap = QGraphicsPixmapItem()
        self._pixmap.setTransformationMode(Qt.TransformationMode.SmoothTransformation)
        self.scene().addItem(self._pixmap)
        self._overlay: list[QGraphicsItem] = []
        self._fit = True
        self._placeholder = QGraphicsSimpleTextItem("")
        self._placeholder.setBrush(QColor("#bbbbbb"))
        self.scene().addItem(self._placeholder)
        self.shapes: list[Shape] = []  # what is drawn now (tests read it)

    # ------------------------------------------------------------------ content
    def set_placeholder(self, text: str) -> None:
        """A message shown while there is no frame."""
        self._placeholder.setText(text)
        self._placeholder.setVisible(self._pixmap.pixmap().isNull())

    def set_frame(self, image: np.ndarray | None) -> None:
        if image is None:
            self._pixmap.setPixmap(QPixmap())
            self._placeholder.setVisible(True)
            return
        first = self._pixmap.pixmap().isNull() or self._pixmap.pixmap().size().toTuple() != (
            image.shape[1], image.shape[0])  # fmt: skip
        self._pixmap.setPixmap(pixmap_from_array(image))
        self._placeholder.setVisible(False)
        if first:
            self.scene().setSceneRect(QRectF(0, 0, image.shape[1], image.shape[0]))
        if self._fit:
            self.fit()

    def frame_size(self) -> tuple[int, int]:
        return self._pixmap.pixmap().size().toTuple()

    def set_shapes(self, shapes: list[Shape]) -> None:
        for item in self._overlay:
            self.scene().removeItem(item)
        self._overlay = [item for s in shapes if (item := self._item(s)) is not None]
        for item in self._overlay:
            self.scene().addItem(item)
        self.shapes = list(shapes)

    def clear(self) -> None:
        self.set_shapes([])
        self.set_frame(None)

    def _item(self, s: Shape) -> QGraphicsItem | None:
        colour = QColor(s.colour)
        # cosmetic pens: outlines keep their on-screen width at any zoom
        pen = QPen(colour, 1.5 if s.role == "element" else 3.0)
        pen.setCosmetic(True)
        if s.kind == "box":
            x1, y1, x2, y2 = s.points
            # a plain QGraphicsRectItem: a Python subclass would make Qt take the GIL for every
            # virtual call while painting, slowing the agent's thread (measured by `deskpilot bench ui`)
            item: QGraphicsItem = QGraphicsRectItem(QRectF(x1, y1, x2 - x1, y2 - y1))
            item.setPen(pen)
            item.setToolTip(s.text)
            item.setZValue(1 if s.role == "element" else 3)
            return item
        if s.kind == "marker":
            x, y, r = s.points
            path = QPainterPath()
            path.addEllipse(QPointF(x, y), r, r)
            path.moveTo(x - r * 1.5, y)
            path.lineTo(x + r * 1.5, y)
            path.moveTo(x, y - r * 1.5)
            path.lineTo(x, y + r * 1.5)
            item = QGraphicsPathItem(path)
            item.setPen(pen)
        elif s.kind == "arrow":
            x1, y1, x2, y2 = s.points
            path = QPainterPath(QPointF(x1, y1))
            path.lineTo(x2, y2)
            angle = math.atan2(y2 - y1, x2 - x1)
            head = max(10.0, s.width * 4)
            pts = [QPointF(x2, y2)] + [
                QPointF(x2 - head * math.cos(angle + d), y2 - head * math.sin(angle + d))
                for d in (0.45, -0.45)
            ]
            path.addPolygon(QPolygonF(pts))
            path.closeSubpath()
            item = QGraphicsPathItem(path)
            item.setPen(pen)
            item.setBrush(QBrush(colour))
        elif s.kind == "label":
            # captions keep their on-screen size at any zoom (readable zoomed out, not huge zoomed in)
            x, y = s.points
            text = QGraphicsSimpleTextItem(s.text)
            font = QFont()
            font.setPixelSize(LABEL_PX)
            font.setBold(True)
            text.setFont(font)
            text.setBrush(QColor("white"))
            bg = QGraphicsRectItem(text.boundingRect().adjusted(-4, -2, 4, 2))
            bg.setBrush(QBrush(colour))
            bg.setPen(QPen(Qt.PenStyle.NoPen))
            bg.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations)
            text.setParentItem(bg)
            bg.setPos(x, y)
            bg.setToolTip(s.text)
            item = bg
        else:
            return None
        item.setZValue(4)
        return item

    # ------------------------------------------------------------------ zoom
    @property
    def zoom(self) -> float:
        return self.transform().m11()

    def fit(self) -> None:
        self._fit = True
        if not self._pixmap.pixmap().isNull():
            self.fitInView(self._pixmap, Qt.AspectRatioMode.KeepAspectRatio)

    def focus_on(self, box: tuple[float, float, float, float], margin: float = 0.1) -> None:
        """Zoom to ``box`` (x1, y1, x2, y2 frame pixels) plus ``margin`` of its size on each side."""
        x1, y1, x2, y2 = box
        mx, my = (x2 - x1) * margin, (y2 - y1) * margin
        self._fit = False
        self.fitInView(
            QRectF(x1 - mx, y1 - my, x2 - x1 + 2 * mx, y2 - y1 + 2 * my), Qt.AspectRatioMode.KeepAspectRatio
        )

    def zoom_by(self, factor: float) -> None:
        z = self.zoom
        factor = min(max(z * factor, ZOOM_RANGE[0]), ZOOM_RANGE[1]) / z
        self._fit = False
        self.scale(factor, factor)

    def zoom_in(self) -> None:
        self.zoom_by(ZOOM_STEP)

    def zoom_out(self) -> None:
        self.zoom_by(1 / ZOOM_STEP)

    def wheelEvent(self, event):
        if event.modifiers() & Qt.KeyboardModifier.ControlModifier:
            self.zoom_by(ZOOM_STEP if event.angleDelta().y() > 0 else 1 / ZOOM_STEP)
            event.accept()
            return
        super().wheelEvent(event)

    def keyPressEvent(self, event):
        key = event.key()
        if key in (Qt.Key.Key_Plus, Qt.Key.Key_Equal):
            self.zoom_in()
        elif key == Qt.Key.Key_Minus:
            self.zoom_out()
        elif key == Qt.Key.Key_0:
            self.fit()
        else:
            super().keyPressEvent(event)

    def resizeEvent(self, event):
        super().resizeEvent(event)
        if self._fit:
            self.fit()
