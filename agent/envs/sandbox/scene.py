"""A sandbox desktop scene: wallpaper with desktop icons and a task bar, then app windows on top.

`Scene` owns every top-level window it creates and deletes them in `close()` (deleteLater + event
processing), so one process can build thousands of scenes without leaking Qt objects.
`random_scene` draws everything a detector must not overfit to (screen size, style, palettes, fonts,
templates, window count and placement, distractor windows) from one seed.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field, replace
from typing import Any

from PySide6.QtCore import QRect, Qt
from PySide6.QtGui import QColor, QLinearGradient, QPainter, QPalette
from PySide6.QtWidgets import (
    QApplication,
    QFrame,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from agent.envs.sandbox import vocab as V
from agent.envs.sandbox.qt import SCREENS, Desk, delete_later, desk_for, ensure_app, flush_events
from agent.envs.sandbox.render import App, icon
from agent.envs.sandbox.spec import ICON_NAMES
from agent.envs.sandbox.templates import make_spec
from agent.envs.sandbox.theme import (
    Theme,
    apply_theme,
    available_fonts,
    available_styles,
    make_palette,
    random_theme,
)
from agent.envs.sandbox.window import build_window


class Wallpaper(QWidget):
    """The desktop background: a gradient (or flat colour) painted over the whole desk."""

    def __init__(self, c1: str, c2: str, vertical: bool):
        super().__init__(None, Qt.WindowType.FramelessWindowHint | Qt.WindowType.Window)
        self.c1, self.c2, self.vertical = QColor(c1), QColor(c2), vertical

    def paintEvent(self, _event) -> None:
        p = QPainter(self)
        w, h = self.width(), self.height()
        g = QLinearGradient(0, 0, 0 if not self.vertical else w, h)
        g.setColorAt(0, self.c1)
        g.setColorAt(1, self.c2)
        p.fillRect(0, 0, w, h, g)
        p.end()


def build_desktop(desk: Desk, rng: random.Random, theme: Theme) -> QWidget:
    """Wallpaper + a column of desktop icons + a task bar; returns the top-level widget (shown)."""
    hue = rng.randrange(360)
    c1 = QColor.fromHsv(hue, rng.randint(40, 200), rng.randint(60, 230)).name()
    c2 = QColor.fromHsv((hue + rng.randint(0, 90)) % 360, rng.randint(40, 200), rng.randint(30, 200)).name()
    top = Wallpaper(c1, c2, rng.random() < 0.5)
    apply_theme(top, theme)
    top.setGeometry(QRect(desk.x, desk.y, desk.width, desk.height))
    bar_top = rng.random() < 0.25
    bar_h = 38 if rng.random() < 0.8 else 0
    # desktop icons (below a top task bar: siblings must not overlap, ground truth assumes it)
    y0 = 12 + (bar_h if bar_top else 0)
    for i, name in enumerate(V.distinct(rng, ICON_NAMES, rng.randint(0, 6))):
        cell = QWidget(top)
        lay = QVBoxLayout(cell)
        lay.setContentsMargins(2, 2, 2, 2)
        pic = QLabel()
        pic.setPixmap(icon(name).pixmap(36, 36))
        pic.setAlignment(Qt.AlignmentFlag.AlignHCenter)
        pic.setProperty("dp_kind", "icon")
        text = QLabel(rng.choice((name.capitalize(), rng.choice(V.NOUNS), f"{rng.choice(V.ITEMS)}.txt")))
        text.setAlignment(Qt.AlignmentFlag.AlignHCenter)
        pal = text.palette()
        pal.setColor(QPalette.ColorRole.WindowText, QColor("#ffffff"))
        text.setPalette(pal)
        lay.addWidget(pic)
        lay.addWidget(text)
        cell.setGeometry(12, y0 + i * 84, 90, 80)
    # task bar
    if bar_h:
        bar = QFrame(top)
        bar.setAutoFillBackground(True)
        pal = bar.palette()
        pal.setColor(QPalette.ColorRole.Window, QColor(theme.window).darker(125 if not theme.dark else 80))
        bar.setPalette(pal)
        lay = QHBoxLayout(bar)
        lay.setContentsMargins(6, 3, 6, 3)
        start = QPushButton(rng.choice(("Start", "Menu", "Apps", "Activities")))
        lay.addWidget(start)
        for name in V.distinct(rng, ICON_NAMES, rng.randint(2, 5)):
            b = QToolButton()
            b.setIcon(icon(name))
            b.setAutoRaise(True)
            lay.addWidget(b)
        lay.addStretch(1)
        lay.addWidget(QLabel(f"{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}"))
        bar.setGeometry(0, 0 if bar_top else desk.height - bar_h, desk.width, bar_h)
    top.show()
    return top


@dataclass
class Scene:
    """What is on one desk: the desktop, the apps, and their themes."""

    desk: Desk
    desktop: QWidget | None = None
    apps: list[App] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)

    def close(self) -> None:
        for app in self.apps:
            app.close()
        self.apps.clear()
        delete_later(self.desktop)
        self.desktop = None


def set_app_theme(theme: Theme) -> None:
    """The application palette: popups (menus, combo lists) and widgets under a style sheet use it."""
    QApplication.setPalette(make_palette(theme))


def set_style(name: str) -> None:
    app = QApplication.instance()
    if app.style().name().lower() != name.lower():
        app.setStyle(name)


def place(
    app: App, rng: random.Random, spec: dict[str, Any], theme: Theme, cascade: int | None = None
) -> None:
    """Build and show ``spec``'s windows on ``app.desk`` at random (or cascaded) positions."""
    for window in spec["windows"]:
        frame = build_window(window, app, theme)
        if cascade is not None:
            d = app.desk
            x = min(d.x + 40 + 36 * cascade, d.x + d.width - frame.width())
            y = min(d.y + 30 + 30 * cascade, d.y + d.height - frame.height())
            frame.move(x, y)
        frame.show()


TEXT_AREA_LABELS = ("Notes", "Notes:", "Comments:", "Description", "Message:", "Details:", "Remarks")


def vary_text_areas(spec: dict[str, Any], rng: random.Random, *, add: float = 0.25) -> None:
    """Text areas as apps show them, not only as the templates fill them (detection scenes only).

    The templates' one text area (the editor's) always holds a paragraph, so a detector trained on them
    had never seen an empty or one-line editor: held-out apps' empty message bodies and comment boxes
    scored AP@0.5 0.20. Here an existing text area is emptied or cut to one line half the time, and with
    probability ``add`` an app without one gets one (sometimes under a label) in its main column.
    Draws only from ``rng``, so the scene's own draws, and tasks, are unchanged.
    """
    from agent.envs.sandbox.spec import walk_app

    areas = [n for n in walk_app(spec) if n.get("type") == "text_area"]
    for node in areas:
        if rng.random() < 0.5:
            node["text"] = "" if rng.random() < 0.6 else V.sentence(rng, 2, 8)
    if areas or rng.random() >= add:
        return
    body = spec["windows"][0]["body"]
    column = body.get("child") if body.get("type") == "scroll" else body
    if not isinstance(column, dict) or column.get("type") != "vbox" or not column.get("children"):
        return
    kids = column["children"]
    at = rng.randint(0, len(kids) - 1) if kids[-1].get("type") == "hbox" else rng.randint(0, len(kids))
    node = {"type": "text_area", "name": "notes", "height": rng.randint(40, 160),
            "text": "" if rng.random() < 0.6 else V.sentence(rng, 2, 10)}  # fmt: skip
    new = [node] if rng.random() < 0.5 else [{"type": "label", "text": rng.choice(TEXT_AREA_LABELS)}, node]
    kids[at:at] = new


def random_scene(seed: str | int, templates: list[str], max_windows: int = 4) -> Scene:
    """A detection scene: random screen, style, desktop and 1..max_windows apps (topmost last)."""
    ensure_app()
    rng = random.Random(f"scene:{seed}")
    desk = desk_for(rng.choice(SCREENS))
    style = rng.choice(available_styles())
    set_style(style)
    fonts = available_fonts()
    base = random_theme(rng, fonts)
    set_app_theme(base)
    scene = Scene(
        desk, info={"style": style, "screen": list(desk.size), "scale": desk.scale, "dark": base.dark}
    )
    scene.desktop = build_desktop(desk, rng, base)
    n = rng.choice((1, 1, 2, 2, 3, max_windows))
    cascade = rng.random() < 0.3
    for i in range(n):
        # other themes go without a style sheet: widgets under a sheet take the app palette (the base's)
        theme = base if rng.random() < 0.75 else replace(random_theme(rng, fonts), sheet="")
        name = rng.choice(templates)
        spec = make_spec(name, rng.randrange(10**9))
        vary_text_areas(spec, random.Random(f"vary:{seed}:{i}"))
        app = App(spec, desk, theme, rng)
        place(app, rng, spec, theme, cascade=i if cascade else None)
        scene.apps.append(app)
    scene.info["templates"] = [a.spec["template"] for a in scene.apps]
    flush_events()
    return scene
