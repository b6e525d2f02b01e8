"""Turn an app spec (`agent.envs.sandbox.spec`) into real Qt widgets, and read their state back.

`build` makes a node's widget (containers recurse); `agent.envs.sandbox.window` wraps a window's body in
a title-barred frame. Named widgets carry their name (after the app's ``prefix``) in the Qt property
``dp_name`` (ground truth reports it) and are registered in `App.widgets`; clicks, toggles and menu
commands are counted in `App.counts`, and every change is appended to `App.history`.
"""

from __future__ import annotations

import random
from collections import Counter
from typing import Any

from PySide6.QtCore import QRect, Qt
from PySide6.QtGui import QColor, QFont, QIcon, QLinearGradient, QPainter, QPixmap
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QFormLayout,
    QFrame,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QRadioButton,
    QScrollArea,
    QSlider,
    QSpinBox,
    QStackedWidget,
    QStyle,
    QTabWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)  # fmt: skip

from agent.envs.sandbox.qt import Desk
from agent.envs.sandbox.spec import ICON_NAMES, WIZARD_BUTTONS
from agent.envs.sandbox.theme import Theme

#: Icon names a spec may use → Qt standard pixmaps.
ICONS: dict[str, QStyle.StandardPixmap] = {
    "save": QStyle.StandardPixmap.SP_DialogSaveButton, "open": QStyle.StandardPixmap.SP_DialogOpenButton,
    "new": QStyle.StandardPixmap.SP_FileIcon, "folder": QStyle.StandardPixmap.SP_DirIcon,
    "trash": QStyle.StandardPixmap.SP_TrashIcon, "reload": QStyle.StandardPixmap.SP_BrowserReload,
    "stop": QStyle.StandardPixmap.SP_BrowserStop, "play": QStyle.StandardPixmap.SP_MediaPlay,
    "pause": QStyle.StandardPixmap.SP_MediaPause, "next": QStyle.StandardPixmap.SP_MediaSkipForward,
    "prev": QStyle.StandardPixmap.SP_MediaSkipBackward, "volume": QStyle.StandardPixmap.SP_MediaVolume,
    "home": QStyle.StandardPixmap.SP_DirHomeIcon, "computer": QStyle.StandardPixmap.SP_ComputerIcon,
    "drive": QStyle.StandardPixmap.SP_DriveHDIcon, "info": QStyle.StandardPixmap.SP_MessageBoxInformation,
    "warning": QStyle.StandardPixmap.SP_MessageBoxWarning, "error": QStyle.StandardPixmap.SP_MessageBoxCritical,
    "question": QStyle.StandardPixmap.SP_MessageBoxQuestion, "back": QStyle.StandardPixmap.SP_ArrowBack,
    "forward": QStyle.StandardPixmap.SP_ArrowForward, "up": QStyle.StandardPixmap.SP_ArrowUp,
    "help": QStyle.StandardPixmap.SP_DialogHelpButton, "apply": QStyle.StandardPixmap.SP_DialogApplyButton,
    "close": QStyle.StandardPixmap.SP_DialogCloseButton, "list": QStyle.StandardPixmap.SP_FileDialogListView,
    "detail": QStyle.StandardPixmap.SP_FileDialogDetailedView, "network": QStyle.StandardPixmap.SP_DriveNetIcon,
    "desktop": QStyle.StandardPixmap.SP_DesktopIcon, "link": QStyle.StandardPixmap.SP_FileLinkIcon,
}  # fmt: skip
assert set(ICONS) == set(ICON_NAMES), "spec.ICON_NAMES and the icon map must agree"
TITLE_BUTTONS = (QStyle.StandardPixmap.SP_TitleBarMinButton, QStyle.StandardPixmap.SP_TitleBarMaxButton,
                 QStyle.StandardPixmap.SP_TitleBarCloseButton)  # fmt: skip


def icon(name: str) -> QIcon:
    from PySide6.QtWidgets import QApplication

    return QApplication.style().standardIcon(ICONS.get(name, QStyle.StandardPixmap.SP_FileIcon))


def picture(w: int, h: int, seed: int) -> QPixmap:
    """A deterministic 'photo' (gradient and shapes): distractor content, never an element."""
    rng = random.Random(seed)
    pm = QPixmap(w, h)
    p = QPainter(pm)
    g = QLinearGradient(0, 0, w, h)
    g.setColorAt(0, QColor.fromHsv(rng.randrange(360), 120, 230))
    g.setColorAt(1, QColor.fromHsv(rng.randrange(360), 160, 120))
    p.fillRect(0, 0, w, h, g)
    p.setPen(Qt.PenStyle.NoPen)
    for _ in range(rng.randint(2, 7)):
        p.setBrush(QColor.fromHsv(rng.randrange(360), rng.randint(60, 255), rng.randint(80, 255), 170))
        r = QRect(
            rng.randrange(w),
            rng.randrange(h),
            rng.randint(10, max(11, w // 2)),
            rng.randint(10, max(11, h // 2)),
        )
        p.drawEllipse(r) if rng.random() < 0.5 else p.drawRect(r)
    p.end()
    return pm


class App:
    """A rendered app: top-level windows (bottom to top) and its named widgets' state.

    Attributes:
        windows: the top-level frames, in creation (= stacking) order.
        widgets: name → widget (radio groups map to their QButtonGroup, menu items to QAction).
        counts: name → number of clicks / toggles / activations / changes.
        history: (name, property, new value) for every change, in order.
        finished: set when a wizard's Finish button was clicked.
    """

    def __init__(self, spec: dict[str, Any], desk: Desk, theme: Theme, rng: random.Random, prefix: str = ""):
        self.spec = spec
        self.prefix = prefix  # ground truth reports names as prefix + name (keeps apps on one desk apart)
        self.desk = desk
        self.theme = theme
        self.rng = rng
        self.windows: list[QWidget] = []
        self.widgets: dict[str, Any] = {}
        self.kinds: dict[str, str] = {}
        self.counts: Counter[str] = Counter()
        self.history: list[tuple[str, str, Any]] = []
        self.finished = False
        self.dialogs_opened: Counter[str] = Counter()

    # ------------------------------------------------------------------ state
    def log(self, name: str, prop: str, value: Any) -> None:
        self.counts[name] += 1
        self.history.append((name, prop, value))

    def state(self, name: str) -> dict[str, Any]:
        """The widget's state as plain data (what success predicates read)."""
        if name == "app":
            return {"finished": self.finished, "changes": len(self.history)}
        w = self.widgets.get(name)
        if w is None:
            return {}
        kind = self.kinds[name]
        out: dict[str, Any] = {"count": self.counts[name]}
        try:
            if kind in ("button", "tool", "link", "menu_item"):
                out["clicks"] = self.counts[name]
            elif kind == "field":
                out["text"] = w.text()
            elif kind == "text_area":
                out["text"] = w.toPlainText()
            elif kind == "checkbox":
                out["checked"] = w.isChecked()
            elif kind == "radios":
                b = w.checkedButton()
                out["value"] = b.text() if b is not None else None
            elif kind == "combo":
                out["value"], out["index"] = w.currentText(), w.currentIndex()
            elif kind in ("spin", "slider", "progress"):
                out["value"] = w.value()
            elif kind == "tabs":
                out["value"], out["index"] = w.tabText(w.currentIndex()), w.currentIndex()
            elif kind == "pages":
                out["index"] = w.currentIndex()
            elif kind == "list":
                item = w.currentItem()
                out["value"] = item.text() if item is not None and item.isSelected() else None
        except RuntimeError:  # the widget was deleted (its window closed)
            return {}
        return out

    def all_states(self) -> dict[str, dict[str, Any]]:
        """name → `state` for every named widget (deleted ones left out)."""
        out = {}
        for name in list(self.widgets):
            st = self.state(name)
            if st:
                out[name] = st
        return out

    def close(self) -> None:
        from agent.envs.sandbox.qt import delete_later

        delete_later(*self.windows)
        self.windows.clear()
        self.widgets.clear()


# ---------------------------------------------------------------------------------------- building
def _name(w: Any, app: App, node: dict[str, Any], kind: str) -> None:
    name = node.get("name")
    if name:
        if isinstance(w, QWidget):
            w.setProperty("dp_name", app.prefix + name)
        app.widgets[name] = w
        app.kinds[name] = kind


def _leaf(node: dict[str, Any], app: App) -> QWidget | None:
    t = node["type"]
    name = node.get("name", "")
    if t == "button":
        w = QPushButton(node.get("text", "OK"))
        w.setDefault(bool(node.get("default")))
        w.setEnabled(node.get("enabled", True))
        _name(w, app, node, "button")
        if name:
            w.clicked.connect(lambda _=False, n=name: app.log(n, "clicks", None))
        if node.get("opens"):
            dlg = node["opens"]
            w.clicked.connect(lambda _=False, d=dlg, src=w: _open_dialog(app, d, src))
        return w
    if t == "tool":
        w = QToolButton()
        w.setIcon(icon(node.get("icon", "new")))
        w.setToolTip(node.get("tip", ""))
        w.setAutoRaise(True)
        w.setProperty("dp_tip", node.get("tip", ""))
        _name(w, app, node, "tool")
        if name:
            w.clicked.connect(lambda _=False, n=name: app.log(n, "clicks", None))
        return w
    if t == "field":
        w = QLineEdit(node.get("text", ""))
        w.setPlaceholderText(node.get("placeholder", ""))
        if node.get("password"):
            w.setEchoMode(QLineEdit.EchoMode.Password)
        w.setMinimumWidth(node.get("width", 160))
        _name(w, app, node, "field")
        if name:
            w.textChanged.connect(lambda s, n=name: app.history.append((n, "text", s)))
        return w
    if t == "text_area":
        w = QPlainTextEdit(node.get("text", ""))
        w.setMinimumHeight(node.get("height", 70))
        w.setMaximumHeight(node.get("height", 70) * 2)
        _name(w, app, node, "text_area")
        return w
    if t == "checkbox":
        w = QCheckBox(node.get("text", "Option"))
        w.setChecked(bool(node.get("checked")))
        _name(w, app, node, "checkbox")
        if name:
            w.toggled.connect(lambda on, n=name: app.log(n, "checked", on))
        return w
    if t == "radios":
        box = QWidget()
        lay = QHBoxLayout(box) if node.get("horizontal") else QVBoxLayout(box)
        lay.setContentsMargins(0, 0, 0, 0)
        group = QButtonGroup(box)
        for i, opt in enumerate(node["options"]):
            rb = QRadioButton(opt)
            rb.setChecked(opt == node.get("value"))
            if name:
                rb.setProperty("dp_name", f"{app.prefix}{name}.{i}")
                rb.setProperty("dp_group", app.prefix + name)
            group.addButton(rb, i)
            lay.addWidget(rb)
        if node.get("horizontal"):
            lay.addStretch(1)
        _name(group, app, node, "radios")
        if name:
            group.buttonToggled.connect(lambda b, on, n=name: on and app.log(n, "value", b.text()))
        return box
    if t == "combo":
        w = QComboBox()
        w.addItems(list(node["options"]))
        if node.get("value") in node["options"]:
            w.setCurrentIndex(node["options"].index(node["value"]))
        w.setMinimumWidth(120)
        _name(w, app, node, "combo")
        if name:
            w.currentTextChanged.connect(lambda s, n=name: app.log(n, "value", s))
        return w
    if t == "spin":
        w = QSpinBox()
        w.setRange(node.get("min", 0), node.get("max", 100))
        w.setValue(node.get("value", node.get("min", 0)))
        if node.get("suffix"):
            w.setSuffix(node["suffix"])
        w.setMinimumWidth(90)
        _name(w, app, node, "spin")
        if name:
            w.valueChanged.connect(lambda v, n=name: app.log(n, "value", v))
        return w
    if t == "slider":
        s = QSlider(Qt.Orientation.Horizontal)
        s.setRange(node.get("min", 0), node.get("max", 100))
        s.setValue(node.get("value", node.get("min", 0)))
        s.setPageStep(max(1, (s.maximum() - s.minimum()) // 10))
        s.setMinimumWidth(node.get("width", 180))
        _name(s, app, node, "slider")
        if name:
            s.valueChanged.connect(lambda v, n=name: app.log(n, "value", v))
        if not node.get("show_value", True):
            return s
        box = QWidget()
        lay = QHBoxLayout(box)
        lay.setContentsMargins(0, 0, 0, 0)
        lab = QLabel(str(s.value()))
        lab.setMinimumWidth(QLabel("0000").sizeHint().width())
        s.valueChanged.connect(lambda v, lab=lab: lab.setText(str(v)))
        lay.addWidget(s, 1)
        lay.addWidget(lab)
        return box
    if t == "progress":
        w = QProgressBar()
        w.setValue(node.get("value", 50))
        _name(w, app, node, "progress")
        return w
    if t in ("label", "heading", "code", "paragraph"):
        w = QLabel(node.get("text", ""))
        if t == "heading":
            f = QFont(w.font())
            f.setBold(True)
            f.setPointSizeF(f.pointSizeF() * 1.4 if f.pointSizeF() > 0 else 14)
            w.setFont(f)
        elif t == "code":
            f = QFont("DejaVu Sans Mono")
            f.setPointSize(14)
            f.setBold(True)
            w.setFont(f)
            w.setTextInteractionFlags(Qt.TextInteractionFlag.NoTextInteraction)
        elif t == "paragraph":
            w.setWordWrap(True)
            w.setMinimumWidth(node.get("width", 260))
        _name(w, app, node, "label")
        return w
    if t == "link":
        text = node.get("text", "Learn more")
        w = QLabel(f'<a href="#">{text}</a>')
        w.setProperty("dp_text", text)
        w.setTextInteractionFlags(Qt.TextInteractionFlag.LinksAccessibleByMouse)
        _name(w, app, node, "link")
        if name:
            w.linkActivated.connect(lambda _, n=name: app.log(n, "clicks", None))
        return w
    if t == "icon":
        w = QLabel()
        size = node.get("size", 32)
        w.setPixmap(icon(node.get("icon", "info")).pixmap(size, size))
        w.setProperty("dp_kind", "icon")
        _name(w, app, node, "icon")
        return w
    if t == "image":
        w = QLabel()
        w.setPixmap(picture(node.get("w", 160), node.get("h", 100), node.get("seed", 0)))
        w.setProperty("dp_kind", "image")
        return w
    if t == "list":
        w = QListWidget()
        w.addItems(list(node.get("items", [])))
        w.setFixedHeight(node.get("height", 160))
        w.setMinimumWidth(node.get("width", 180))
        _name(w, app, node, "list")
        if name:
            w.currentTextChanged.connect(lambda s, n=name: app.log(n, "value", s))
        return w
    if t == "separator":
        w = QFrame()
        w.setFrameShape(QFrame.Shape.HLine)
        w.setFrameShadow(QFrame.Shadow.Sunken)
        return w
    return None  # stretch is handled by the container


def build(node: dict[str, Any], app: App) -> QWidget:
    """A widget for ``node`` (containers recurse)."""
    t = node["type"]
    if t in ("vbox", "hbox"):
        w = QWidget()
        lay = QVBoxLayout(w) if t == "vbox" else QHBoxLayout(w)
        lay.setContentsMargins(*([node.get("margin", 0)] * 4))
        lay.setSpacing(node.get("spacing", 6))
        for child in node.get("children", []):
            if child.get("type") == "stretch":
                lay.addStretch(child.get("factor", 1))
            else:
                lay.addWidget(build(child, app))
        return w
    if t == "form":
        w = QWidget()
        lay = QFormLayout(w)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setLabelAlignment(
            Qt.AlignmentFlag.AlignRight if node.get("right") else Qt.AlignmentFlag.AlignLeft
        )
        for label, child in node.get("rows", []):
            field = build(child, app)
            if label:
                lab = QLabel(label)
                lab.setBuddy(field)
                field.setProperty("dp_label", label.rstrip(":"))
                lay.addRow(lab, field)
            else:
                lay.addRow(field)
        return w
    if t == "group":
        w = QGroupBox(node.get("title", ""))
        lay = QVBoxLayout(w)
        lay.addWidget(build(node["child"], app))
        return w
    if t == "scroll":
        w = QScrollArea()
        w.setWidgetResizable(True)
        w.setWidget(build(node["child"], app))
        w.setFixedHeight(node.get("height", 200))
        w.setFrameShape(QFrame.Shape.NoFrame if node.get("frameless") else QFrame.Shape.StyledPanel)
        return w
    if t == "tabs":
        w = QTabWidget()
        w.setUsesScrollButtons(
            bool(node.get("scroll_buttons"))
        )  # without: the window widens to show all tabs
        w.setElideMode(Qt.TextElideMode.ElideNone)
        for tab in node.get("tabs", []):
            page = build(tab["child"], app)
            w.addTab(page, tab.get("title", "Tab"))
        if node.get("name"):
            _name(w, app, node, "tabs")
            w.currentChanged.connect(lambda i, n=node["name"], w=w: app.log(n, "value", w.tabText(i)))
        return w
    if t == "pages":
        return _wizard(node, app)
    leaf = _leaf(node, app)
    return leaf if leaf is not None else QWidget()


def _wizard(node: dict[str, Any], app: App) -> QWidget:
    """A stack of pages with Back / Next / Finish buttons (named ``back``, ``next``, ``finish``)."""
    box = QWidget()
    lay = QVBoxLayout(box)
    lay.setContentsMargins(0, 0, 0, 0)
    stack = QStackedWidget()
    for page in node.get("pages", []):
        stack.addWidget(build(page, app))
    lay.addWidget(stack, 1)
    nav = QHBoxLayout()
    nav.addStretch(1)
    texts = node.get("buttons", ["< Back", "Next >", "Finish"])
    buttons = {}
    for bname, text in zip(WIZARD_BUTTONS, texts, strict=True):
        b = QPushButton(text)
        b.setProperty("dp_name", app.prefix + bname)
        app.widgets[bname], app.kinds[bname] = b, "button"
        nav.addWidget(b)
        buttons[bname] = b
    lay.addLayout(nav)
    if node.get("name"):
        _name(stack, app, node, "pages")

    def sync() -> None:
        i, n = stack.currentIndex(), stack.count()
        buttons["back"].setEnabled(i > 0)
        buttons["next"].setEnabled(i < n - 1)
        buttons["finish"].setEnabled(i == n - 1)

    def go(delta: int, bname: str) -> None:
        app.log(bname, "clicks", None)
        stack.setCurrentIndex(max(0, min(stack.count() - 1, stack.currentIndex() + delta)))
        sync()

    buttons["back"].clicked.connect(lambda: go(-1, "back"))
    buttons["next"].clicked.connect(lambda: go(1, "next"))

    def finish() -> None:
        app.log("finish", "clicks", None)
        app.finished = True

    buttons["finish"].clicked.connect(finish)
    sync()
    return box


def _open_dialog(app: App, dialog: dict[str, Any], source: QWidget) -> None:
    from agent.envs.sandbox.window import open_dialog

    open_dialog(app, dialog, source)
