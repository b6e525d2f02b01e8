"""What to draw over a screenshot: element boxes coloured by kind and the next action, as plain shapes.

Pure Python (no Qt): the live view and the trace inspector turn these shapes into graphics items, and
tests check them without a widget. Coordinates are screen pixels of the frame (the action's own units).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from agent.report import KIND_COLOURS
from agent.types import (
    Action,
    CallUser,
    Click,
    Drag,
    Element,
    Finished,
    Hotkey,
    Move,
    Scroll,
    TypeText,
    Wait,
    action_from_dict,
)

#: the predicted (next) action; recorded actions in the inspector use RECORDED_COLOUR
ACTION_COLOUR = "#ff1744"
RECORDED_COLOUR = "#00c853"
UNKNOWN_KIND_COLOUR = "#888888"

ShapeKind = Literal["box", "marker", "arrow", "label"]


@dataclass(frozen=True)
class Shape:
    """One overlay primitive.

    Attributes:
        kind: "box" (x1, y1, x2, y2), "marker" (x, y, radius), "arrow" (x1, y1, x2, y2: tail to head),
            "label" (x, y: the label's top-left corner).
        points: the numbers above, in frame pixels.
        colour: "#rrggbb".
        text: a box's hover text, or a label's text.
        width: stroke width in frame pixels.
        role: "element", "target" or "action" (lets views style or hide groups).
    """

    kind: ShapeKind
    points: tuple[float, ...]
    colour: str
    text: str = ""
    width: float = 2.0
    role: str = "element"


def kind_colour(kind: str) -> str:
    return KIND_COLOURS.get(kind, UNKNOWN_KIND_COLOUR)


def element_tooltip(element: Element) -> str:
    """Hover text: kind, text, score when below 1 and state facts, one per line."""
    lines = [element.kind + (f": {element.text}" if element.text else "")]
    if element.score < 1.0:
        lines.append(f"score {element.score:.2f}")
    lines += [f"{k}: {v}" for k, v in sorted(element.state.items())]
    return "\n".join(lines)


def as_element(data: Element | dict[str, Any]) -> Element:
    return data if isinstance(data, Element) else Element.from_dict(data)


def as_action(data: Action | dict[str, Any]) -> Action:
    return action_from_dict(data) if isinstance(data, dict) else data


def element_shapes(elements: list[Element] | list[dict[str, Any]]) -> list[Shape]:
    """A box per element, in its kind's colour, with its tooltip."""
    out = []
    for e in map(as_element, elements):
        out.append(Shape("box", e.box, kind_colour(e.kind), element_tooltip(e)))
    return out


def _describe(action: Action) -> str:
    """A short caption for people (the UI-TARS string is shown elsewhere)."""
    if isinstance(action, Click):
        what = {("left", 1): "click", ("left", 2): "double click", ("right", 1): "right click"}
        return what.get((action.button, action.count), f"{action.button} click ×{action.count}")
    if isinstance(action, Move):
        return "hover"
    if isinstance(action, Drag):
        return "drag"
    if isinstance(action, Scroll):
        return f"scroll {action.direction} ×{action.amount}"
    if isinstance(action, TypeText):
        shown = action.text.replace("\n", "⏎")
        return f"type “{shown}”"
    if isinstance(action, Hotkey):
        return "press " + "+".join(action.keys)
    if isinstance(action, Wait):
        return f"wait {action.seconds:g} s"
    if isinstance(action, Finished):
        mark = "✔" if action.success else "✘"
        return f"finished {mark}" + (f": {action.message}" if action.message else "")
    if isinstance(action, CallUser):
        return "ask the user" + (f": {action.question}" if action.question else "")
    return action.kind  # pragma: no cover - the union is closed


_SCROLL_VECTOR = {"up": (0, -1), "down": (0, 1), "left": (-1, 0), "right": (1, 0)}


def action_shapes(
    action: Action | dict[str, Any],
    screen: tuple[int, int],
    *,
    target: Element | dict[str, Any] | None = None,
    colour: str = ACTION_COLOUR,
) -> list[Shape]:
    """Shapes for one action on a ``screen`` = (width, height) frame: a marker where it clicks, an arrow
    for a drag or scroll, and a caption (the text to type, the keys, ...) placed near the point, the
    target, or the top of the frame when the action has no point.
    """
    a = as_action(action)
    w, h = screen
    r = max(8.0, min(w, h) / 60)  # visible on a 4K frame, not huge on a small one
    stroke = max(2.0, r / 3)
    out: list[Shape] = []
    anchor: tuple[float, float] | None = None
    if target is not None:
        t = as_element(target)
        out.append(Shape("box", t.box, colour, element_tooltip(t), stroke, "target"))
        anchor = (t.box[0], t.box[3] + 4)
    if isinstance(a, Click | Move):
        out.append(
            Shape("marker", (a.x, a.y, r if isinstance(a, Click) else r * 0.6), colour, "", stroke, "action")
        )
        anchor = (a.x + r + 4, a.y - r)
    elif isinstance(a, Drag):
        out.append(Shape("marker", (a.x1, a.y1, r * 0.6), colour, "", stroke, "action"))
        out.append(Shape("arrow", (a.x1, a.y1, a.x2, a.y2), colour, "", stroke, "action"))
        anchor = (a.x2 + r, a.y2 - r)
    elif isinstance(a, Scroll):
        dx, dy = _SCROLL_VECTOR[a.direction]
        length = 4 * r
        out.append(Shape("marker", (a.x, a.y, r * 0.6), colour, "", stroke, "action"))
        out.append(
            Shape("arrow", (a.x, a.y, a.x + dx * length, a.y + dy * length), colour, "", stroke, "action")
        )
        anchor = (a.x + r + 4, a.y - r)
    if anchor is None:
        anchor = (w * 0.02, h * 0.02)
    x = min(max(anchor[0], 0.0), w * 0.8)
    y = min(max(anchor[1], 0.0), h - 2 * r)
    out.append(Shape("label", (x, y), colour, _describe(a), stroke, "action"))
    return out
