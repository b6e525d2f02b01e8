"""Top-level windows for rendered apps: a frame with a drawn title bar (the offscreen platform has no
window decorations), optionally a `QMainWindow` for menus, a tool bar and a status bar; and message
boxes opened by buttons.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QPoint, QRect, Qt
from PySide6.QtGui import QAction, QColor
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QMenuBar,
    QToolBar,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from agent.envs.sandbox.render import TITLE_BUTTONS, App, build, icon
from agent.envs.sandbox.theme import Theme, apply_theme


class TitleBar(QFrame):
    """A drawn title bar: window title and minimise / maximise / close buttons."""

    def __init__(self, title: str, theme: Theme, dialog: bool, accent: bool):
        super().__init__()
        self.setAutoFillBackground(True)
        pal = self.palette()
        color = QColor(theme.accent) if accent else QColor(theme.window).darker(112)
        pal.setColor(self.backgroundRole(), color)
        fg = QColor("#ffffff") if color.lightness() < 140 else QColor("#202020")
        pal.setColor(self.foregroundRole(), fg)
        pal.setColor(pal.ColorRole.ButtonText, fg)
        self.setPalette(pal)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(8, 2, 4, 2)
        self.title = QLabel(title)
        self.title.setProperty("dp_name", "title")
        lay.addWidget(self.title)
        lay.addStretch(1)
        self.buttons = []
        for sp in TITLE_BUTTONS[2:] if dialog else TITLE_BUTTONS:
            b = QToolButton()
            b.setIcon(self.style().standardIcon(sp))
            b.setAutoRaise(True)
            b.setProperty("dp_kind", "icon")
            lay.addWidget(b)
            self.buttons.append(b)


def build_window(
    window: dict[str, Any], app: App, theme: Theme, pos: tuple[int, int] | None = None
) -> QFrame:
    """A top-level frame for one window spec, placed at ``pos`` (global) or the spec's ``pos`` on the desk."""
    frame = QFrame(None, Qt.WindowType.FramelessWindowHint | Qt.WindowType.Window)
    frame.setFrameStyle(QFrame.Shape.Box | QFrame.Shadow.Plain)
    frame.setProperty("dp_app", app.prefix)
    frame.setLineWidth(1)
    apply_theme(frame, theme)
    outer = QVBoxLayout(frame)
    outer.setContentsMargins(1, 1, 1, 1)
    outer.setSpacing(0)
    dialog = bool(window.get("dialog"))
    bar = TitleBar(
        window.get("title", "Untitled"), theme, dialog, accent=not dialog and app.rng.random() < 0.3
    )
    outer.addWidget(bar)
    body = build(window["body"], app)
    margin = window.get("margin", 12)
    if window.get("menu") or window.get("toolbar") or window.get("status"):
        main = QMainWindow()
        central = QWidget()
        cl = QVBoxLayout(central)
        cl.setContentsMargins(margin, margin, margin, margin)
        cl.addWidget(body)
        main.setCentralWidget(central)
        if window.get("menu"):
            _menus(main, window["menu"], app)
        if window.get("toolbar"):
            tb = QToolBar()
            tb.setMovable(False)
            for tool in window["toolbar"]:
                act = QAction(icon(tool.get("icon", "new")), tool.get("tip", ""), main)
                tb.addAction(act)
                b = tb.widgetForAction(act)
                b.setProperty("dp_tip", tool.get("tip", ""))
                if tool.get("name"):
                    b.setProperty("dp_name", app.prefix + tool["name"])
                    app.widgets[tool["name"]], app.kinds[tool["name"]] = act, "tool"
                    act.triggered.connect(lambda _=False, n=tool["name"]: app.log(n, "clicks", None))
            main.addToolBar(tb)
        if window.get("status"):
            lab = QLabel(window["status"])
            main.statusBar().addWidget(lab)
            main.statusBar().setSizeGripEnabled(False)
        outer.addWidget(main, 1)
    else:
        wrap = QWidget()
        wl = QVBoxLayout(wrap)
        wl.setContentsMargins(margin, margin, margin, margin)
        wl.addWidget(body)
        outer.addWidget(wrap, 1)
    hint = frame.sizeHint()
    min_w = 0
    for menubar in frame.findChildren(QMenuBar):  # every menu title visible (no overflow into ">>")
        min_w = max(min_w, menubar.sizeHint().width() + 8)
    w, h = window.get("size") or (hint.width(), hint.height())
    w = max(w, min_w)
    if not window.get("size") and not window.get("dialog") and app.rng.random() < 0.4:
        w, h = int(w * app.rng.uniform(1.0, 1.7)), int(h * app.rng.uniform(1.0, 1.4))
    w, h = max(w, hint.width(), 220), max(h, hint.height())
    w, h = min(w, app.desk.width - 8), min(h, app.desk.height - 8)
    if pos is None:
        px, py = window.get("pos") or (
            app.rng.randint(0, max(0, app.desk.width - w)),
            app.rng.randint(0, max(0, app.desk.height - h)),
        )
        px, py = min(max(0, px), app.desk.width - w), min(max(0, py), app.desk.height - h)
        pos = app.desk.to_global(px, py)
    frame.setGeometry(QRect(QPoint(*pos), QPoint(pos[0] + w - 1, pos[1] + h - 1)))
    bar.buttons[-1].clicked.connect(lambda: (app.log("close", "clicks", None), frame.hide()))
    app.windows.append(frame)
    return frame


def _menus(main: QMainWindow, menus: list[dict[str, Any]], app: App) -> None:
    bar = main.menuBar()
    bar.setNativeMenuBar(False)

    def fill(menu, items):
        for item in items:
            if not isinstance(item, dict):
                menu.addSeparator()
                continue
            if item.get("items"):
                fill(menu.addMenu(item["text"]), item["items"])
                continue
            act = menu.addAction(item["text"])
            if item.get("shortcut"):
                act.setShortcut(item["shortcut"])
            if item.get("checkable"):
                act.setCheckable(True)
            if item.get("name"):
                app.widgets[item["name"]], app.kinds[item["name"]] = act, "menu_item"
                act.setProperty("dp_name", app.prefix + item["name"])
                act.triggered.connect(lambda _=False, n=item["name"]: app.log(n, "clicks", None))

    for m in menus:
        fill(bar.addMenu(m["title"]), m.get("items", []))


def open_dialog(app: App, dialog: dict[str, Any], source: QWidget | None = None) -> QFrame:
    """Show a message-box window over its source window; its buttons are named ``<name>.<text>``."""
    name = dialog.get("name", "dialog")
    app.dialogs_opened[name] += 1
    buttons = dialog.get("buttons", ["OK"])
    body = {"type": "vbox", "children": [
        {"type": "hbox", "children": [{"type": "icon", "icon": dialog.get("icon", "question"), "size": 40},
                                      {"type": "paragraph", "text": dialog.get("text", "Are you sure?"), "width": 240}]},
        {"type": "hbox", "children": [{"type": "stretch"}] + [
            {"type": "button", "text": b, "name": f"{name}.{b}"} for b in buttons]},
    ]}  # fmt: skip
    frame = build_window({"title": dialog.get("title", "Confirm"), "body": body, "dialog": True}, app, app.theme,
                         pos=(0, 0))  # fmt: skip
    parent = source.window() if source is not None else None
    g = (
        parent.geometry()
        if parent is not None
        else QRect(app.desk.x, app.desk.y, app.desk.width, app.desk.height)
    )
    c = g.center()
    x = max(app.desk.x, min(c.x() - frame.width() // 2, app.desk.x + app.desk.width - frame.width()))
    y = max(app.desk.y, min(c.y() - frame.height() // 2, app.desk.y + app.desk.height - frame.height()))
    frame.move(x, y)
    for b in buttons:
        app.widgets[f"{name}.{b}"].clicked.connect(lambda _=False, f=frame: f.hide())
    frame.show()
    return frame
