"""Actions as real Qt input events, delivered the way a window system delivers them.

Mouse and key events go to a top-level `QWindow` (never straight to a widget) through QTest's window
overloads, which feed `QWindowSystemInterface`; Qt then does what it does for a person: picks the child
widget under the point, moves focus, opens and closes popups, starts drags. Wheel events are sent to the
window under the pointer. Routing follows the screenshot's stacking order (`Desk.windows`): the
topmost window containing the point receives a press, an open popup receives everything (it holds the
grab), and a press activates its window first, as a window manager would.

Coordinates are screen pixels of the observation; `Desk.to_global` is the one conversion.
"""

from __future__ import annotations

from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QGuiApplication, QWheelEvent, QWindow
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from agent.envs.sandbox.qt import Desk, flush_events
from agent.errors import ActionError
from agent.types import Click, Drag, Hotkey, Move, Scroll, TypeText

K = Qt.Key
_NAMED: dict[str, Qt.Key] = {
    "enter": K.Key_Return, "tab": K.Key_Tab, "space": K.Key_Space, "backspace": K.Key_Backspace,
    "delete": K.Key_Delete, "escape": K.Key_Escape, "insert": K.Key_Insert, "up": K.Key_Up, "down": K.Key_Down,
    "left": K.Key_Left, "right": K.Key_Right, "home": K.Key_Home, "end": K.Key_End, "pageup": K.Key_PageUp,
    "pagedown": K.Key_PageDown, "capslock": K.Key_CapsLock, "numlock": K.Key_NumLock,
    "scrolllock": K.Key_ScrollLock, "printscreen": K.Key_Print, "pause": K.Key_Pause, "menu": K.Key_Menu,
    "ctrl": K.Key_Control, "alt": K.Key_Alt, "shift": K.Key_Shift, "super": K.Key_Meta,
}  # fmt: skip
_MODS: dict[str, Qt.KeyboardModifier] = {
    "ctrl": Qt.KeyboardModifier.ControlModifier, "alt": Qt.KeyboardModifier.AltModifier,
    "shift": Qt.KeyboardModifier.ShiftModifier, "super": Qt.KeyboardModifier.MetaModifier,
}  # fmt: skip
_BUTTONS = {"left": Qt.MouseButton.LeftButton, "right": Qt.MouseButton.RightButton,
            "middle": Qt.MouseButton.MiddleButton}  # fmt: skip
_SHIFTED = '~!@#$%^&*()_+{}|:"<>?'


def qt_key(name: str) -> Qt.Key:
    """Canonical key name (agent.keys) → Qt key code."""
    if name in _NAMED:
        return _NAMED[name]
    if len(name) == 1:
        return Qt.Key(ord(name.upper()))
    if name.startswith("f") and name[1:].isdigit():
        return Qt.Key(int(K.Key_F1.value) + int(name[1:]) - 1)
    raise ActionError(f"the sandbox cannot press key {name!r}")


def _char_key(ch: str) -> tuple[Qt.Key, Qt.KeyboardModifier]:
    if ch == "\n":
        return K.Key_Return, Qt.KeyboardModifier.NoModifier
    if ch == "\t":
        return K.Key_Tab, Qt.KeyboardModifier.NoModifier
    if ch.isascii() and ch.isprintable():
        shift = ch.isupper() or ch in _SHIFTED
        mod = Qt.KeyboardModifier.ShiftModifier if shift else Qt.KeyboardModifier.NoModifier
        return Qt.Key(ord(ch.upper())), mod
    return K.Key_unknown, Qt.KeyboardModifier.NoModifier


_held: list = []


def _popup_window() -> QWindow | None:
    """The QWindow of the open popup (combo list, menu), or None."""
    popup = QApplication.activePopupWidget()
    if popup is None:
        return None
    # PySide invalidates a QWindow wrapper got from widget.windowHandle() when the widget's wrapper is
    # collected, so the widget wrapper is kept alive while the window may be used
    _held[:] = [popup]
    try:
        handle = popup.windowHandle()
        return handle if handle is not None and handle.isVisible() else None
    except RuntimeError:  # its C++ side is gone
        return None


def _widget_of(win: QWindow):
    """The top-level QWidget that owns ``win`` (None for a window without one)."""
    for w in QApplication.topLevelWidgets():
        if w.windowHandle() is win:
            return w
    return None


class QtInput:
    """Delivers `agent.types` actions to the windows of one `Desk`. Methods raise ActionError on misuse;
    the environment turns that into a failed `ActionResult`."""

    def __init__(self, desk: Desk):
        self.desk = desk

    # ------------------------------------------------------------------ routing
    def _point(self, x: float, y: float) -> QPoint:
        w, h = self.desk.size
        if not (0 <= x < w and 0 <= y < h):
            raise ActionError(f"point ({x:g}, {y:g}) is outside the {w}×{h} screen")
        return QPoint(*self.desk.to_global(x, y))

    def window_at(self, g: QPoint) -> QWindow | None:
        """The window that receives a mouse event at global point ``g``: an open popup holds the pointer
        grab (a press outside it closes it, as Qt does for a person), else the topmost window there."""
        popup = _popup_window()
        if popup is not None:
            return popup
        for w in reversed(self.desk.windows()):
            if w.geometry().contains(g):
                return w
        return None

    def _activate(self, win: QWindow) -> None:
        if _popup_window() is None and QGuiApplication.focusWindow() is not win:
            win.requestActivate()
            flush_events(1)

    def _focus_window(self) -> QWindow | None:
        popup = _popup_window()
        if popup is not None:
            return popup
        win = QGuiApplication.focusWindow()
        if win is None or not win.isVisible():
            wins = self.desk.windows()
            win = wins[-1] if wins else None
        return win

    # ------------------------------------------------------------------ mouse
    def click(self, a: Click) -> None:
        g = self._point(a.x, a.y)
        win = self.window_at(g)
        if win is None:
            return  # the bare desktop: nothing reacts
        self._activate(win)
        win = self.window_at(g) or win
        btn = _BUTTONS[a.button]
        local = win.mapFromGlobal(g)
        QTest.mouseMove(win, local)
        if a.count >= 2:
            QTest.mouseDClick(win, btn, Qt.KeyboardModifier.NoModifier, local)
        else:
            QTest.mouseClick(win, btn, Qt.KeyboardModifier.NoModifier, local)
        if a.count == 3:
            QTest.mouseClick(win, btn, Qt.KeyboardModifier.NoModifier, local)
        flush_events()

    def move(self, a: Move) -> None:
        g = self._point(a.x, a.y)
        win = self.window_at(g)
        if win is not None:
            QTest.mouseMove(win, win.mapFromGlobal(g))
        flush_events()

    def drag(self, a: Drag, steps: int = 8) -> None:
        g1, g2 = self._point(a.x1, a.y1), self._point(a.x2, a.y2)
        win = self.window_at(g1)
        if win is None:
            return
        self._activate(win)
        win = self.window_at(g1) or win
        left = Qt.MouseButton.LeftButton
        QTest.mouseMove(win, win.mapFromGlobal(g1))
        QTest.mousePress(win, left, Qt.KeyboardModifier.NoModifier, win.mapFromGlobal(g1))
        flush_events(1)
        # the window that took the press keeps the pointer until release (implicit grab)
        for i in range(1, steps + 1):
            p = QPoint(g1.x() + (g2.x() - g1.x()) * i // steps, g1.y() + (g2.y() - g1.y()) * i // steps)
            QTest.mouseMove(win, win.mapFromGlobal(p))
            flush_events(1)
        QTest.mouseRelease(win, left, Qt.KeyboardModifier.NoModifier, win.mapFromGlobal(g2))
        flush_events()

    def scroll(self, a: Scroll) -> None:
        g = self._point(a.x, a.y)
        win = self.window_at(g)
        if win is None:
            return
        notch = 120 * a.amount
        delta = {"up": QPoint(0, notch), "down": QPoint(0, -notch), "left": QPoint(notch, 0),
                 "right": QPoint(-notch, 0)}[a.direction]  # fmt: skip
        top = _widget_of(win)
        if top is None:
            return
        # Qt propagates a wheel event to parent widgets only when it is spontaneous (from the window
        # system); ours are sent, so the propagation is done here the same way: deepest widget under the
        # pointer first, then its parents until one accepts (a scroll area, a list, a combo box).
        w = top.childAt(top.mapFromGlobal(g)) or top
        while w is not None:
            ev = QWheelEvent(QPointF(w.mapFromGlobal(QPointF(g))), QPointF(g), QPoint(), delta,
                             Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier,
                             Qt.ScrollPhase.NoScrollPhase, False)  # fmt: skip
            ev.setAccepted(False)
            QApplication.sendEvent(w, ev)
            if ev.isAccepted() or w.isWindow():
                break
            w = w.parentWidget()
        flush_events()

    # ------------------------------------------------------------------ keyboard
    def type_text(self, a: TypeText) -> None:
        for ch in a.text:
            win = self._focus_window()
            if win is None:
                return
            key, mod = _char_key(ch)
            text = "" if ch in "\n\t" else ch
            QTest.sendKeyEvent(QTest.KeyAction.Click, win, key, text, mod)
            flush_events(1)
        flush_events()

    def hotkey(self, a: Hotkey) -> None:
        win = self._focus_window()
        if win is None:
            return
        mods = Qt.KeyboardModifier.NoModifier
        keys = []
        for k in a.keys:
            if k in _MODS:
                mods |= _MODS[k]
            else:
                keys.append(k)
        if not keys:  # modifiers alone: press and release them
            for k in a.keys:
                QTest.keyClick(win, qt_key(k), mods)
        for k in keys:
            QTest.keyClick(win, qt_key(k), mods)
        flush_events()
