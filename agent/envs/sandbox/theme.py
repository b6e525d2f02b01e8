"""Looks a detector must not overfit to: Qt styles, light/dark palettes, accent colours, fonts, style sheets.

A `Theme` is plain data drawn from a `random.Random`; `apply_theme` puts it on one top-level window
(palette and font propagate to its children). The Qt style is process-wide (``QApplication.setStyle``),
so a scene sets it once before building its windows.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from PySide6.QtGui import QColor

ACCENTS: tuple[str, ...] = (
    "#2d7be5", "#1a73e8", "#0f9d58", "#e8710a", "#d93025", "#9334e6", "#00897b", "#c2185b",
    "#3f51b5", "#5f6368", "#f4b400", "#0097a7", "#6d4c41", "#7cb342",
)  # fmt: skip

# (window, base, text, button, alt-base) for light and dark schemes
_LIGHT = (("#efefef", "#ffffff", "#202020", "#e6e6e6", "#f5f5f5"), ("#f6f8fa", "#ffffff", "#24292f", "#eef1f4", "#f6f8fa"),
          ("#ece9d8", "#ffffff", "#000000", "#ece9d8", "#f7f7f0"), ("#fafafa", "#ffffff", "#333333", "#f0f0f0", "#f4f4f4"),
          ("#e8eef4", "#fdfdfd", "#1b2733", "#dfe6ee", "#f0f4f8"))  # fmt: skip
_DARK = (("#2b2b2b", "#1e1e1e", "#e6e6e6", "#3a3a3a", "#262626"), ("#22272e", "#1c2128", "#cdd9e5", "#2d333b", "#262c34"),
         ("#303446", "#232634", "#c6d0f5", "#414559", "#292c3c"), ("#1f1f24", "#151518", "#f0f0f0", "#2c2c33", "#1b1b1f"),
         ("#263238", "#1c262b", "#eceff1", "#37474f", "#222d32"))  # fmt: skip


@dataclass(frozen=True)
class Theme:
    """How one window looks. Colours are '#rrggbb'; font size in points."""

    dark: bool
    window: str
    base: str
    text: str
    button: str
    alt_base: str
    accent: str
    font_family: str
    font_size: float
    sheet: str  # "" or the name of a style sheet in `SHEETS`

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def available_styles() -> list[str]:
    from PySide6.QtWidgets import QStyleFactory

    return sorted(QStyleFactory.keys())


def available_fonts() -> list[str]:
    """Font families to draw from (at least the DejaVu families of fonts-dejavu-core)."""
    from PySide6.QtGui import QFontDatabase

    skip = ("Math", "Symbol", "Emoji", "Dingbat")
    fams = [f for f in QFontDatabase.families() if not any(s in f for s in skip)]
    return sorted(fams) or ["Sans Serif"]


def random_theme(rng: random.Random, fonts: list[str], dark: bool | None = None) -> Theme:
    dark = rng.random() < 0.35 if dark is None else dark
    window, base, text, button, alt = rng.choice(_DARK if dark else _LIGHT)
    return Theme(
        dark=dark, window=window, base=base, text=text, button=button, alt_base=alt,
        accent=rng.choice(ACCENTS), font_family=rng.choice(fonts),
        font_size=rng.choice((8, 9, 9, 10, 10, 10.5, 11, 12, 13)),
        sheet=rng.choice(("", "", "", "", "flat", "rounded", "outline")),
    )  # fmt: skip


def blend(a: str, b: str, share: float) -> QColor:
    """The colour ``share`` of the way from colour ``a`` to colour ``b`` (names or #rrggbb)."""
    from PySide6.QtGui import QColor

    ca, cb = QColor(a), QColor(b)
    mix = lambda x, y: round(x + (y - x) * share)  # noqa: E731
    return QColor(mix(ca.red(), cb.red()), mix(ca.green(), cb.green()), mix(ca.blue(), cb.blue()))


def make_palette(theme: Theme):
    from PySide6.QtGui import QColor, QPalette

    p = QPalette()
    R = QPalette.ColorRole
    text = QColor(theme.text)
    for role, value in ((R.Window, theme.window), (R.Base, theme.base), (R.AlternateBase, theme.alt_base),
                        (R.Button, theme.button), (R.Highlight, theme.accent), (R.Link, theme.accent)):  # fmt: skip
        p.setColor(role, QColor(value))
    for role in (R.WindowText, R.Text, R.ButtonText, R.ToolTipText, R.PlaceholderText):
        p.setColor(role, text)
    # Faded as Qt's own default (the text colour at half opacity over the field's base): an empty field's
    # hint must look unlike typed text. (darker() here once left light themes' hints black, as dark as
    # typed text, so a screen could not tell "Enter phone" the hint from "Enter phone" typed.)
    p.setColor(R.PlaceholderText, blend(theme.text, theme.base, 0.5))
    p.setColor(R.HighlightedText, QColor("#ffffff"))
    p.setColor(R.ToolTipBase, QColor(theme.base))
    p.setColor(R.Light, QColor(theme.button).lighter(130))
    p.setColor(R.Midlight, QColor(theme.button).lighter(110))
    p.setColor(R.Mid, QColor(theme.button).darker(130))
    p.setColor(R.Dark, QColor(theme.button).darker(160))
    p.setColor(R.Shadow, QColor("#000000"))
    dis = QColor(text)
    dis.setAlpha(110)
    for role in (R.WindowText, R.Text, R.ButtonText):
        p.setColor(QPalette.ColorGroup.Disabled, role, dis)
    return p


def style_sheet(theme: Theme) -> str:
    """A small style sheet for the ``sheet`` variant (empty for plain style rendering)."""
    a, b, t, btn = theme.accent, theme.base, theme.text, theme.button
    if theme.sheet == "flat":
        return (f"QPushButton {{ background: {a}; color: white; border: none; padding: 5px 14px; }}"
                f"QPushButton:disabled {{ background: {btn}; color: gray; }}"
                f"QLineEdit, QSpinBox, QComboBox, QTextEdit, QPlainTextEdit {{ border: none; border-bottom: 2px solid {a};"
                f" background: {b}; color: {t}; padding: 3px; }}")  # fmt: skip
    if theme.sheet == "rounded":
        return (f"QPushButton {{ border: 1px solid {a}; border-radius: 11px; padding: 5px 16px; background: {btn}; color: {t}; }}"
                f"QLineEdit, QComboBox, QSpinBox {{ border: 1px solid gray; border-radius: 6px; padding: 3px 6px;"
                f" background: {b}; color: {t}; }}"
                f"QProgressBar {{ border: 1px solid gray; border-radius: 6px; text-align: center; }}"
                f"QProgressBar::chunk {{ background: {a}; border-radius: 5px; }}")  # fmt: skip
    if theme.sheet == "outline":
        return (f"QPushButton {{ border: 2px solid {t}; padding: 4px 12px; background: transparent; color: {t}; }}"
                f"QLineEdit, QTextEdit {{ border: 2px solid {t}; background: {b}; color: {t}; }}"
                f"QTabBar::tab {{ padding: 6px 14px; border: 1px solid {t}; }}"
                f"QTabBar::tab:selected {{ background: {a}; color: white; }}")  # fmt: skip
    return ""


def apply_theme(window, theme: Theme) -> None:
    """Palette, font and style sheet onto a top-level widget (its children inherit them)."""
    from PySide6.QtGui import QFont

    window.setPalette(make_palette(theme))
    font = QFont(theme.font_family)
    font.setPointSizeF(theme.font_size)
    window.setFont(font)
    sheet = style_sheet(theme)
    if sheet:
        window.setStyleSheet(sheet)
