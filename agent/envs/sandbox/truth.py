"""Ground truth from Qt: every visible element on a desk as an `Element` in screen pixels.

Only what a person could see is reported: a widget clipped by its parents (scroll areas, hidden tab
pages) or covered by a window painted above it (the screenshot's order, see `Desk.windows`) keeps only its
visible part — a box whose visible part is less than ``min_visible`` of it, or not a rectangle and less
than ``min_partial`` of it, is left out. Boxes are tight where the widget is not: labels and links
report their text's rectangle, check boxes and radios their indicator plus text.

Kinds come from `agent.types.ELEMENT_KINDS`; ``Element.state`` carries ``name`` (the spec's handle, when
the widget has one), ``window`` (the stacking index of its window, 0 = the desktop) and the widget's state
(checked, value, selected, enabled, focused, ...), ``app`` for elements of a background app (the
prefix of its names; absent for the task's own app and the desktop), and ``clipped`` (True) when only
part of the element is visible.
"""

from __future__ import annotations

import re
from typing import Any

from PySide6.QtCore import QPoint, QRect, Qt
from PySide6.QtGui import QRegion
from PySide6.QtWidgets import (
    QAbstractItemView,
    QAbstractSpinBox,
    QApplication,
    QCheckBox,
    QComboBox,
    QGroupBox,
    QLabel,
    QLineEdit,
    QMenu,
    QMenuBar,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QRadioButton,
    QScrollBar,
    QSlider,
    QStyle,
    QStyleOptionButton,
    QStyleOptionComboBox,
    QStyleOptionGroupBox,
    QTabBar,
    QTextEdit,
    QToolButton,
    QWidget,
)  # fmt: skip

from agent.envs.sandbox.qt import Desk
from agent.types import Element

_TAGS = re.compile(r"<[^>]+>")


def _plain(text: str) -> str:
    return _TAGS.sub("", text).replace("&&", "\0").replace("&", "").replace("\0", "&").strip()


class _Collector:
    def __init__(self, desk: Desk, min_visible: float, min_partial: float):
        self.desk = desk
        self.area = QRect(desk.x, desk.y, desk.width, desk.height)
        self.min_visible = min_visible
        self.min_partial = min_partial
        self.out: list[Element] = []
        self.above = QRegion()
        self.window = 0  # index of the window being walked, bottom (the desktop) = 0
        self.app = ""  # the name prefix of the app that owns it ('' for the task's app)
        self.focus = QApplication.focusWidget()

    # -- one element
    def add(self, rect: QRect, clip: QRect, kind: str, text: str = "", **state: Any) -> None:
        """``rect``: the element's full global rectangle; ``clip``: what its ancestors leave visible."""
        full = rect.width() * rect.height()
        if full <= 4 or rect.width() < 3 or rect.height() < 3:
            return
        region = QRegion(rect & clip & self.area)
        if not self.above.isEmpty():
            region = region.subtracted(self.above)
        rects = list(region)
        seen = sum(r.width() * r.height() for r in rects)
        if seen < self.min_visible * full:
            return
        if len(rects) == 1:
            box = rects[0]
        elif seen >= self.min_partial * full:
            box = region.boundingRect()
        else:
            return
        x1, y1 = self.desk.to_screen(box.x(), box.y())
        x2, y2 = self.desk.to_screen(box.x() + box.width(), box.y() + box.height())
        state = {k: v for k, v in state.items() if v is not None and v != ""}
        if seen < full:  # part of it is hidden: its text is not all on screen
            state["clipped"] = True
        state["window"] = self.window
        if self.app:
            state["app"] = self.app
        self.out.append(Element((x1, y1, x2, y2), kind, 1.0, text, state=state,
                                id=len(self.out)))  # fmt: skip

    # -- widget tree
    def walk(self, w: QWidget, clip: QRect) -> None:
        if not w.isVisible():
            return
        top_left = w.mapToGlobal(QPoint(0, 0))
        rect = QRect(top_left, w.size())
        inner = clip & rect
        if inner.isEmpty():
            return
        if self.visit(w, rect, clip, top_left):
            return  # leaf: its parts are reported, its child widgets are internal
        for child in w.children():
            if isinstance(child, QWidget) and not child.isWindow():
                self.walk(child, inner)

    def visit(self, w: QWidget, rect: QRect, clip: QRect, tl: QPoint) -> bool:
        """Report ``w``; True when its children must not be walked."""
        name = w.property("dp_name")
        base = {"name": name, "enabled": None if w.isEnabled() else False}
        if isinstance(w, QComboBox):
            self.add(rect, clip, "combo", w.currentText(), value=w.currentText(), **base)
            return True
        if isinstance(w, QAbstractSpinBox):
            self.add(rect, clip, "spin", w.text(), value=getattr(w, "value", lambda: None)(),
                     focused=w.hasFocus() or None, **base)  # fmt: skip
            return True
        if isinstance(w, QLineEdit):
            pw = w.echoMode() != QLineEdit.EchoMode.Normal
            self.add(rect, clip, "text_field", "" if pw else w.text(), label=w.property("dp_label"),
                     placeholder=w.placeholderText(), password=pw or None, focused=(w is self.focus) or None, **base)  # fmt: skip
            return True
        if isinstance(w, QPlainTextEdit | QTextEdit):
            text = w.toPlainText()
            self.add(rect, clip, "text_area", text[:200], focused=w.hasFocus() or None, **base)
            return True
        if isinstance(w, QCheckBox | QRadioButton):
            opt = QStyleOptionButton()
            opt.initFrom(w)
            opt.text = w.text()
            se = (
                QStyle.SubElement.SE_CheckBoxClickRect
                if isinstance(w, QCheckBox)
                else QStyle.SubElement.SE_RadioButtonClickRect
            )
            r = w.style().subElementRect(se, opt, w).translated(tl) & rect
            kind = "checkbox" if isinstance(w, QCheckBox) else "radio"
            self.add(r if not r.isEmpty() else rect, clip, kind, _plain(w.text()), checked=w.isChecked(),
                     group=w.property("dp_group"), **base)  # fmt: skip
            return True
        if isinstance(w, QPushButton):
            self.add(rect, clip, "button", _plain(w.text()), **base)
            return True
        if isinstance(w, QToolButton):
            if w.icon().isNull() and w.text():
                self.add(rect, clip, "button", _plain(w.text()), **base)
            else:
                self.add(rect, clip, "icon", "", tip=w.property("dp_tip") or w.toolTip(), **base)
            return True
        if isinstance(w, QSlider):
            self.add(rect, clip, "slider", "", value=w.value(), min=w.minimum(), max=w.maximum(), **base)
            return True
        if isinstance(w, QProgressBar):
            self.add(rect, clip, "progress", w.text() if w.isTextVisible() else "", value=w.value(), **base)
            return True
        if isinstance(w, QTabBar):
            for i in range(w.count()):
                r = w.tabRect(i).translated(tl)
                self.add(
                    r, clip & rect, "tab", _plain(w.tabText(i)), selected=(i == w.currentIndex()) or None
                )
            return False  # scroll buttons are tool buttons
        if isinstance(w, QMenuBar):
            # titles that do not fit are moved into the ">>" extension menu and are not drawn
            ext = w.findChild(QToolButton, "qt_menubar_ext_button")
            limit = ext.x() if ext is not None and ext.isVisible() else w.width()
            for act in w.actions():
                r = w.actionGeometry(act)
                if act.isVisible() and not act.isSeparator() and r.isValid() and r.right() < limit:
                    self.add(r.translated(tl), clip & rect, "menu", _plain(act.text()))
            return True
        if isinstance(w, QMenu):
            for act in w.actions():
                r = w.actionGeometry(act)
                if act.isVisible() and not act.isSeparator() and r.isValid():
                    self.add(r.translated(tl), clip & rect, "menu_item", _plain(act.text()),
                             name=act.property("dp_name"), submenu=(act.menu() is not None) or None,
                             enabled=None if act.isEnabled() else False)  # fmt: skip
            return True
        if isinstance(w, QAbstractItemView):
            self.items(w, clip & rect)
            return True
        if isinstance(w, QScrollBar):
            return True
        if isinstance(w, QLabel):
            self.label(w, rect, clip, tl, base)
            return True
        if isinstance(w, QGroupBox) and w.title():
            opt = QStyleOptionGroupBox()
            opt.initFrom(w)
            opt.text = w.title()
            opt.textAlignment = w.alignment()
            opt.subControls = QStyle.SubControl.SC_GroupBoxLabel | QStyle.SubControl.SC_GroupBoxFrame
            r = w.style().subControlRect(
                QStyle.ComplexControl.CC_GroupBox, opt, QStyle.SubControl.SC_GroupBoxLabel, w
            )
            self.add(r.translated(tl), clip, "label", _plain(w.title()))
        return False

    def label(self, w: QLabel, rect: QRect, clip: QRect, tl: QPoint, base: dict) -> None:
        cr = w.contentsRect()
        pm = w.pixmap()
        if pm is not None and not pm.isNull():
            if w.property("dp_kind") == "image":
                return  # pictures are distractors, not elements
            size = pm.deviceIndependentSize().toSize()
            r = QStyle.alignedRect(w.layoutDirection(), w.alignment(), size, cr)
            self.add(r.translated(tl), clip, "icon", "", **base)
            return
        rich = w.textFormat() == Qt.TextFormat.RichText or "<" in w.text()
        text = w.property("dp_text") or (_plain(w.text()) if rich else w.text())
        if not text.strip():
            return
        flags = int(w.alignment().value) | (int(Qt.TextFlag.TextWordWrap.value) if w.wordWrap() else 0)
        r = w.fontMetrics().boundingRect(cr, flags, text) & cr
        kind = "link" if "<a " in w.text() else "label"
        self.add(r.translated(tl), clip, kind, " ".join(text.split()), **base)

    def items(self, view: QAbstractItemView, clip: QRect) -> None:
        vp = view.viewport()
        vtl = vp.mapToGlobal(QPoint(0, 0))
        vclip = clip & QRect(vtl, vp.size())
        model = view.model()
        if model is None:
            return
        kind, list_name = "list_item", view.property("dp_name")
        parent = view.parentWidget()
        while parent is not None and not isinstance(parent, QComboBox):
            parent = parent.parentWidget()
        if isinstance(parent, QComboBox):  # a combo's popup: styles draw it as a menu or as a list
            opt = QStyleOptionComboBox()
            opt.initFrom(parent)
            opt.editable = False
            menu_like = parent.style().styleHint(QStyle.StyleHint.SH_ComboBox_Popup, opt, parent)
            kind, list_name = ("menu_item" if menu_like else "list_item"), parent.property("dp_name")
        first = view.indexAt(QPoint(2, 2)).row()
        sel = view.selectionModel()
        for row in range(max(0, first), model.rowCount()):
            idx = model.index(row, 0)
            r = view.visualRect(idx)
            if r.top() > vp.height():
                break
            if r.isEmpty():
                continue
            text = str(model.data(idx) or "")
            selected = (sel is not None and sel.isSelected(idx)) or None
            self.add(r.translated(vtl), vclip, kind, text, list=list_name, index=row, selected=selected)


def _app_prefix(w: QWidget) -> str:
    """The ``dp_app`` of the window that owns ``w`` (popups belong to the window they opened from)."""
    while w is not None:
        prefix = w.property("dp_app")
        if prefix is not None:
            return str(prefix)
        w = w.parentWidget()
    return ""


def ground_truth(desk: Desk, min_visible: float = 0.5, min_partial: float = 0.85) -> list[Element]:
    """Elements visible on ``desk``, bottom window first, in screen pixels (see module docstring)."""
    windows = desk.windows()
    widget_for = {}
    for tw in QApplication.topLevelWidgets():
        handle = tw.windowHandle()
        if handle is not None:
            widget_for[handle] = tw
    col = _Collector(desk, min_visible, min_partial)
    occluders = [QRegion(w.geometry()) for w in windows]
    for i, qw in enumerate(windows):
        above = QRegion()
        for r in occluders[i + 1 :]:
            above = above.united(r)
        col.above = above
        col.window = i
        top = widget_for.get(qw)
        if top is not None:
            col.app = _app_prefix(top)
            col.walk(top, qw.geometry())
    return col.out
