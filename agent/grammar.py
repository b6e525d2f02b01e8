"""The UI-TARS action grammar: model output text <-> `agent.types` actions, both ways.

A response looks like::

    Thought: The search box is at the top.        (or Reflection: ... / Action_Summary: ...)
    Action: click(start_box='(512,88)')

    type(content='deskpilot\\n')

Several actions may follow ``Action:`` (separated by whitespace); a bare action string without any
header is accepted too. Functions and their `Action`:

=====================================================  ====================================
``click(start_box=P)``                                 ``Click(x, y)``
``click(start_box=P, button='middle', count=3)``       ``Click`` (extension, any button/count)
``left_double(start_box=P)`` / ``right_single(...)``   ``Click(count=2)`` / ``Click(button='right')``
``hover(start_box=P)`` / ``mouse_move(...)``           ``Move``
``drag(start_box=P, end_box=P)``                       ``Drag``
``scroll(start_box=P, direction='down'[, amount=5])``  ``Scroll`` (no point: the screen centre)
``type(content='...')``                                ``TypeText`` (a trailing ``\\n`` submits)
``hotkey(key='ctrl c')`` / ``press(key='enter')``      ``Hotkey``
``wait()`` / ``wait(seconds=2.5)``                     ``Wait`` (``wait()`` is 5 s, as in UI-TARS)
``finished()`` / ``finished(content='...')``           ``Finished`` (``success=False`` extension)
``call_user()`` / ``call_user(content='...')``         ``CallUser``
=====================================================  ====================================

A point ``P`` is a string holding ``(x,y)``, ``<|box_start|>(x,y)<|box_end|>``, ``[x1, y1, x2, y2]``
(the box centre), ``<point>x y</point>`` or ``<bbox>x1 y1 x2 y2</bbox>``, or an unquoted ``(x, y)``;
``point=`` / ``start_point=`` / ``end_point=`` are accepted spellings. Coordinates are either
*relative* (0..1000 on each axis) or *absolute* pixels of the image the model saw, which for Qwen2-VL
style models is the screenshot resized by `smart_resize`. Strings take Python escapes (``\\'``,
``\\\\``, ``\\n``, ``\\t``, ``\\r``); an unescaped quote that is not followed by ``,`` or ``)`` is kept
as text, because models write ``type(content='it's')``.

Malformed text raises `ParseError` whose ``position`` is the character offset of the problem.
"""

from __future__ import annotations

import itertools
import math
import re
from dataclasses import dataclass
from typing import Any, Literal

from agent.errors import ActionError, ParseError
from agent.keys import canonical_key
from agent.types import (
    BUTTONS,
    DIRECTIONS,
    Action,
    CallUser,
    Click,
    Drag,
    Finished,
    Hotkey,
    Move,
    Scroll,
    TypeText,
    Wait,
)

Coords = Literal["relative", "absolute"]
Size = tuple[int, int]  # (width, height) in pixels

IMAGE_FACTOR = 28  # Qwen2-VL: 14 px patches merged 2×2
MIN_PIXELS = 100 * 28 * 28  # UI-TARS' published resize bounds
MAX_PIXELS = 16384 * 28 * 28
MAX_RATIO = 200
RELATIVE_SCALE = 1000  # relative coordinates run 0..1000 on both axes
WAIT_SECONDS = 5.0  # what UI-TARS means by a bare wait()
SCROLL_AMOUNT = 5  # Scroll's default; written only when different

_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_HEADER = re.compile(r"[ \t]*(thought|reflection|action_summary|action)[ \t]*:", re.IGNORECASE)
_SECTION = {"thought": "thought", "reflection": "reflection", "action_summary": "summary"}
_UNESCAPE = {"\\": "\\", "'": "'", '"': '"', "n": "\n", "t": "\t", "r": "\r"}
_ESCAPE = {"\\": "\\\\", "'": "\\'", "\n": "\\n", "\t": "\\t", "\r": "\\r"}


# --------------------------------------------------------------------------------------------- resize
def smart_resize(
    height: int,
    width: int,
    factor: int = IMAGE_FACTOR,
    min_pixels: int = MIN_PIXELS,
    max_pixels: int = MAX_PIXELS,
) -> tuple[int, int]:
    """The (height, width) a Qwen2-VL style processor resizes a height×width image to.

    Both sides become multiples of ``factor``, the pixel count lands in [min_pixels, max_pixels] and
    the aspect ratio is kept up to that rounding. Raises ActionError for sides < 1 or an aspect ratio
    above `MAX_RATIO`.
    """
    if min(height, width) < 1:
        raise ActionError(f"image sides must be >= 1, got {height}×{width}")
    if max(height, width) / min(height, width) > MAX_RATIO:
        raise ActionError(f"aspect ratio must be <= {MAX_RATIO}, got {height}×{width}")
    h = max(factor, round(height / factor) * factor)
    w = max(factor, round(width / factor) * factor)
    if h * w > max_pixels:
        beta = math.sqrt(height * width / max_pixels)
        h = max(factor, math.floor(height / beta / factor) * factor)
        w = max(factor, math.floor(width / beta / factor) * factor)
    elif h * w < min_pixels:
        beta = math.sqrt(min_pixels / (height * width))
        h = math.ceil(height * beta / factor) * factor
        w = math.ceil(width * beta / factor) * factor
    return h, w


@dataclass(frozen=True)
class _Frame:
    """Maps model coordinates (0..mw × 0..mh) to screen pixels (0..sw × 0..sh) and back."""

    sw: int
    sh: int
    mw: float
    mh: float

    def to_screen(self, value: float, axis: int, pos: int, text: str) -> float:
        limit, size = (self.mw, self.sw) if axis == 0 else (self.mh, self.sh)
        if not 0 <= value <= limit:
            name = "x" if axis == 0 else "y"
            raise ParseError(f"{name} coordinate {value:g} is outside 0..{limit:g}", pos, text)
        return value * size / limit

    def to_model(self, px: float, axis: int) -> int:
        """Screen pixel -> integer model coordinate; points off the screen are clamped to its edge."""
        limit, size = (self.mw, self.sw) if axis == 0 else (self.mh, self.sh)
        return int(min(max(round(px * limit / size), 0), limit))


def _frame(screen: Size, coords: str, image_size: Size | None) -> _Frame:
    sw, sh = _size(screen, "screen")
    if coords == "relative":
        return _Frame(sw, sh, RELATIVE_SCALE, RELATIVE_SCALE)
    if coords != "absolute":
        raise ActionError(f"coords must be 'relative' or 'absolute', got {coords!r}")
    if image_size is None:
        ih, iw = smart_resize(sh, sw)
        return _Frame(sw, sh, iw, ih)
    return _Frame(sw, sh, *_size(image_size, "image_size"))


def _size(value: Any, what: str) -> Size:
    try:
        w, h = (int(v) for v in value)
    except (TypeError, ValueError):
        raise ActionError(f"{what} must be (width, height), got {value!r}") from None
    if w < 1 or h < 1:
        raise ActionError(f"{what} must be at least 1×1 pixels, got {w}×{h}")
    return w, h


# --------------------------------------------------------------------------------------------- tokens
@dataclass
class _Val:
    """One argument value: kind is 'str', 'num', 'nums' (an unquoted tuple) or 'name'."""

    kind: str
    value: Any
    pos: int  # offset of the value's first character in the whole response
    offsets: list[int] | None = None  # 'str': response offset of each decoded char, then the closing quote


class _Scanner:
    """A cursor over ``text``; ``offsets`` maps its indices into ``source`` so errors point there."""

    def __init__(self, text: str, source: str, offsets: list[int] | None = None, start: int = 0):
        self.text, self.source, self.offsets, self.i = text, source, offsets, start

    def where(self, i: int | None = None) -> int:
        i = self.i if i is None else i
        return i if self.offsets is None else self.offsets[min(i, len(self.offsets) - 1)]

    def fail(self, message: str, i: int | None = None) -> ParseError:
        return ParseError(message, self.where(i), self.source)

    def found(self) -> str:
        return f"found {self.text[self.i]!r}" if self.i < len(self.text) else "the text ended"

    def ws(self) -> None:
        while self.i < len(self.text) and self.text[self.i].isspace():
            self.i += 1

    def at_end(self) -> bool:
        return self.i >= len(self.text)

    def eat(self, s: str) -> bool:
        if self.text.startswith(s, self.i):
            self.i += len(s)
            return True
        return False

    def expect(self, s: str, context: str) -> None:
        if not self.eat(s):
            raise self.fail(f"expected {s!r} {context}, {self.found()}")

    def token(self, pattern: re.Pattern[str], what: str) -> tuple[str, int]:
        m = pattern.match(self.text, self.i)
        if m is None:
            raise self.fail(f"expected {what}, {self.found()}")
        self.i = m.end()
        return m.group(), self.where(m.start())

    def name(self) -> tuple[str, int]:
        return self.token(_NAME, "an action name")

    def number(self) -> tuple[float, int]:
        text, pos = self.token(_NUMBER, "a number")
        return float(text), pos

    def numbers(self) -> list[tuple[float, int]]:
        """``n (sep n)*`` where sep is a comma and/or whitespace; may be empty."""
        out: list[tuple[float, int]] = []
        while True:
            self.ws()
            if not _NUMBER.match(self.text, self.i):
                return out
            out.append(self.number())
            self.ws()
            self.eat(",")

    def string(self) -> _Val:
        quote, start = self.text[self.i], self.i
        self.i += 1
        chars: list[str] = []
        offsets: list[int] = []
        text = self.text
        while self.i < len(text):
            c = text[self.i]
            if c == "\\" and self.i + 1 < len(text) and text[self.i + 1] in _UNESCAPE:
                chars.append(_UNESCAPE[text[self.i + 1]])
                offsets.append(self.where())
                self.i += 2
                continue
            if c == quote:
                j = self.i + 1
                while j < len(text) and text[j] in " \t":
                    j += 1
                if j >= len(text) or text[j] in ",)":  # otherwise an unescaped quote inside the text
                    offsets.append(self.where())
                    self.i += 1
                    return _Val("str", "".join(chars), self.where(start), offsets)
            chars.append(c)
            offsets.append(self.where())
            self.i += 1
        raise self.fail("unterminated string", start)

    def value(self) -> _Val:
        c, pos = self.text[self.i : self.i + 1], self.where()
        if c in ("'", '"'):
            return self.string()
        if c in ("(", "["):
            self.i += 1
            nums = self.numbers()
            self.expect(")" if c == "(" else "]", "to close the point")
            return _Val("nums", nums, pos)
        if _NUMBER.match(self.text, self.i):
            return _Val("num", self.number()[0], pos)
        if _NAME.match(self.text, self.i):
            return _Val("name", self.name()[0], pos)
        raise self.fail(f"expected a value, {self.found()}")


# --------------------------------------------------------------------------------------------- calls
#: function name -> its parameters in positional order (canonical names)
_PARAMS: dict[str, tuple[str, ...]] = {
    "click": ("point", "button", "count"), "left_double": ("point",), "right_single": ("point",),
    "hover": ("point",), "mouse_move": ("point",), "drag": ("point", "end"),
    "scroll": ("point", "direction", "amount"), "type": ("content",), "hotkey": ("key",), "press": ("key",),
    "wait": ("seconds",), "finished": ("content", "success"), "call_user": ("content",),
}  # fmt: skip
_ALIAS = {"start_box": "point", "start_point": "point", "end_box": "end", "end_point": "end",
          "question": "content"}  # fmt: skip


@dataclass
class _Call:
    name: str
    pos: int
    end: int
    args: dict[str, _Val]


def _call(s: _Scanner) -> _Call:
    """``name ( [arg (, arg)* [,]] )`` where arg is ``value`` or ``name = value``."""
    name, pos = s.name()
    if name not in _PARAMS:
        raise ParseError(f"unknown action {name!r}; expected one of {', '.join(_PARAMS)}", pos, s.source)
    params = _PARAMS[name]
    s.ws()
    s.expect("(", f"after {name!r}")
    args: dict[str, _Val] = {}
    keyword_seen = False
    s.ws()
    while not s.eat(")"):
        m = _NAME.match(s.text, s.i)
        j = m.end() if m else s.i
        while j < len(s.text) and s.text[j] in " \t":
            j += 1
        if m and s.text.startswith("=", j):
            key, key_pos = m.group(), s.where()
            param = _ALIAS.get(key, key)
            if param not in params:
                raise ParseError(f"{name}() has no argument {key!r}", key_pos, s.source)
            s.i = j + 1
            s.ws()
            keyword_seen = True
        else:
            if keyword_seen:
                raise s.fail("positional argument after a keyword argument")
            if len(args) >= len(params):
                raise s.fail(f"{name}() takes at most {len(params)} argument(s)")
            param, key_pos = params[len(args)], s.where()
        if param in args:
            raise ParseError(f"{name}() got {param!r} twice", key_pos, s.source)
        args[param] = s.value()
        s.ws()
        if not s.eat(","):
            s.expect(")", f"to close {name}(")
            break
        s.ws()
    return _Call(name, pos, s.where(), args)


def _point(v: _Val, frame: _Frame, source: str) -> tuple[float, float]:
    """A point or box value -> the screen pixel it means (a box's centre)."""
    if v.kind == "str":
        s = _Scanner(v.value, source, v.offsets)
        s.ws()
        s.eat("<|box_start|>")
        closer = next((c for o, c in _OPENERS if s.eat(o)), None)
        nums = s.numbers()
        if closer is not None:
            s.expect(closer, "to close the point")
        s.ws()
        s.eat("<|box_end|>")
        s.ws()
        if not s.at_end():
            raise s.fail(f"unexpected text in point, {s.found()}")
    elif v.kind == "nums":
        nums = v.value
    else:
        raise ParseError("expected a point like '(x,y)'", v.pos, source)
    if len(nums) not in (2, 4):
        raise ParseError(f"a point needs 2 numbers (x,y) or 4 (x1,y1,x2,y2), got {len(nums)}", v.pos, source)
    px = [frame.to_screen(n, k % 2, p, source) for k, (n, p) in enumerate(nums)]
    if len(px) == 2:
        return px[0], px[1]
    return (px[0] + px[2]) / 2, (px[1] + px[3]) / 2


_OPENERS = (("(", ")"), ("[", "]"), ("<point>", "</point>"), ("<bbox>", "</bbox>"))


def _string(v: _Val, what: str, source: str) -> str:
    if v.kind != "str":
        raise ParseError(f"{what} must be a quoted string", v.pos, source)
    return v.value


def _choice(v: _Val, what: str, options: tuple[str, ...], source: str) -> str:
    value = _string(v, what, source).strip().lower()
    if value not in options:
        raise ParseError(f"{what} must be one of {', '.join(options)}, got {v.value!r}", v.pos, source)
    return value


def _integer(v: _Val, what: str, lo: int, hi: int, source: str) -> int:
    if v.kind != "num" or not float(v.value).is_integer() or not lo <= v.value <= hi:
        raise ParseError(f"{what} must be an integer in {lo}..{hi}", v.pos, source)
    return int(v.value)


def _keys(v: _Val, source: str) -> tuple[str, ...]:
    """``'ctrl c'`` / ``'Ctrl+C'`` -> canonical key names; an unknown key is reported where it stands."""
    text = _string(v, "key", source)
    keys: list[str] = []
    for m in re.finditer(r"\S+", text):
        tok, j = m.group(), 0
        while j < len(tok):
            k = tok.find("+", j + 1)  # a '+' right at j is the '+' key itself
            k = len(tok) if k < 0 else k
            try:
                keys.append(canonical_key(tok[j:k]))
            except ActionError as exc:
                raise ParseError(str(exc), v.offsets[m.start() + j], source) from None  # type: ignore[index]
            j = k + 1
    if not keys:
        raise ParseError("key must name at least one key", v.pos, source)
    return tuple(keys)


def _build(call: _Call, frame: _Frame, source: str) -> Action:
    """Turn a checked call into an Action; ActionErrors become ParseErrors at the argument."""
    a, name = call.args, call.name

    def need(param: str) -> _Val:
        if param not in a:
            raise ParseError(f"{name}() needs the argument {param!r}", call.pos, source)
        return a[param]

    def make(cls: type, at: _Val | None, **kw: Any) -> Action:
        try:
            return cls(**kw)
        except ActionError as exc:
            raise ParseError(str(exc), at.pos if at else call.pos, source) from None

    if name in ("click", "left_double", "right_single"):
        x, y = _point(need("point"), frame, source)
        button = "right" if name == "right_single" else "left"
        if "button" in a:
            button = _choice(a["button"], "button", BUTTONS, source)
        count = 2 if name == "left_double" else 1
        if "count" in a:
            count = _integer(a["count"], "count", 1, 3, source)
        return make(Click, None, x=x, y=y, button=button, count=count)
    if name in ("hover", "mouse_move"):
        x, y = _point(need("point"), frame, source)
        return make(Move, None, x=x, y=y)
    if name == "drag":
        x1, y1 = _point(need("point"), frame, source)
        x2, y2 = _point(need("end"), frame, source)
        return make(Drag, None, x1=x1, y1=y1, x2=x2, y2=y2)
    if name == "scroll":
        x, y = _point(a["point"], frame, source) if "point" in a else (frame.sw / 2, frame.sh / 2)
        direction = _choice(need("direction"), "direction", DIRECTIONS, source)
        amount = _integer(a["amount"], "amount", 1, 100, source) if "amount" in a else SCROLL_AMOUNT
        return make(Scroll, None, x=x, y=y, direction=direction, amount=amount)
    if name == "type":
        v = need("content")
        return make(TypeText, v, text=_string(v, "content", source))
    if name in ("hotkey", "press"):
        v = need("key")
        return make(Hotkey, v, keys=_keys(v, source))
    if name == "wait":
        v = a.get("seconds")
        if v is not None and v.kind != "num":
            raise ParseError("seconds must be a number", v.pos, source)
        return make(Wait, v, seconds=WAIT_SECONDS if v is None else v.value)
    content = _string(a["content"], "content", source) if "content" in a else ""
    if name == "call_user":
        return CallUser(question=content)
    success = True
    if "success" in a:
        v = a["success"]
        text = str(v.value).lower() if v.kind in ("name", "str") else ""
        if text not in ("true", "false"):
            raise ParseError("success must be True or False", v.pos, source)
        success = text == "true"
    return Finished(success=success, message=content)


# --------------------------------------------------------------------------------------------- parse
@dataclass(frozen=True)
class ParsedResponse:
    """A parsed model response.

    Attributes:
        actions: the actions in order (at least one).
        thought / reflection / summary: the ``Thought:`` / ``Reflection:`` / ``Action_Summary:`` texts,
            stripped, or None when absent.
        spans: (start, end) character offsets of each action call in the parsed text.
    """

    actions: tuple[Action, ...]
    thought: str | None = None
    reflection: str | None = None
    summary: str | None = None
    spans: tuple[tuple[int, int], ...] = ()


def _sections(text: str) -> tuple[dict[str, str], int]:
    """Split headers off; returns ({section: stripped text}, offset where the actions start)."""
    heads: list[tuple[str, int, int]] = []  # (name, header start, body start)
    line = 0
    while line <= len(text):
        m = _HEADER.match(text, line)
        if m:
            heads.append((m.group(1).lower(), m.start(), m.end()))
            if heads[-1][0] == "action":
                break
        nl = text.find("\n", line)
        if nl < 0:
            break
        line = nl + 1
    if not heads:
        return {}, 0
    lead = len(text[: heads[0][1]]) - len(text[: heads[0][1]].lstrip())
    if lead < heads[0][1]:
        raise ParseError(f"unexpected text before {text[heads[0][1] : heads[0][2]].strip()!r}", lead, text)
    if heads[-1][0] != "action":
        raise ParseError("the response has no 'Action:' line", len(text), text)
    found: dict[str, str] = {}
    for (kind, start, body), nxt in itertools.pairwise(heads):
        key = _SECTION[kind]
        if key in found:
            raise ParseError(f"a second {text[start:body].strip()!r} section", start, text)
        found[key] = text[body : nxt[1]].strip()
    return found, heads[-1][2]


def parse(
    text: str, *, screen: Size, coords: Coords = "relative", image_size: Size | None = None
) -> ParsedResponse:
    """Parse a UI-TARS response (or a bare action string) into actions in screen pixels.

    Args:
        text: the model output.
        screen: (width, height) of the screenshot in pixels; actions come back in these pixels.
        coords: "relative" (0..1000 per axis) or "absolute" (pixels of the image the model saw).
        image_size: (width, height) of that image for "absolute"; default `smart_resize` of the screen.

    Raises:
        ParseError: the text is not valid grammar (``position`` = offset of the problem).
        ActionError: ``screen``, ``coords`` or ``image_size`` are invalid (the caller's bug, not the text's).
    """
    frame = _frame(screen, coords, image_size)
    if not isinstance(text, str):
        raise ParseError(f"expected text, got {type(text).__name__}", 0, None)
    sections, start = _sections(text)
    s = _Scanner(text, text, start=start)
    s.ws()
    if s.at_end():
        raise s.fail("no action found")
    actions: list[Action] = []
    spans: list[tuple[int, int]] = []
    while not s.at_end():
        call = _call(s)
        actions.append(_build(call, frame, text))
        spans.append((call.pos, call.end))
        s.ws()
    return ParsedResponse(tuple(actions), spans=tuple(spans), **sections)


def parse_action(
    text: str, *, screen: Size, coords: Coords = "relative", image_size: Size | None = None
) -> Action:
    """Parse text that holds exactly one action (with or without headers); see `parse`."""
    out = parse(text, screen=screen, coords=coords, image_size=image_size)
    if len(out.actions) != 1:
        raise ParseError(f"expected one action, found {len(out.actions)}", out.spans[1][0], text)
    return out.actions[0]


# --------------------------------------------------------------------------------------------- format
def _quote(s: str) -> str:
    return "'" + "".join(_ESCAPE.get(c, c) for c in s) + "'"


_CLICKS = {("left", 1): "click", ("left", 2): "left_double", ("right", 1): "right_single"}


def _fmt_point(frame: _Frame, x: float, y: float) -> str:
    return f"'({frame.to_model(x, 0)},{frame.to_model(y, 1)})'"


def format_action(
    action: Action, *, screen: Size, coords: Coords = "relative", image_size: Size | None = None
) -> str:
    """The canonical UI-TARS string of one action; `parse` reads it back.

    Coordinates become integers in the chosen convention, so a round trip moves a point by at most half
    a unit (``W/2000`` px when relative); points off the screen are clamped to its edge. ``secret``
    text is written as is: redact before formatting.
    """
    f = _frame(screen, coords, image_size)
    if isinstance(action, Click):
        p = _fmt_point(f, action.x, action.y)
        if name := _CLICKS.get((action.button, action.count)):
            return f"{name}(start_box={p})"
        return f"click(start_box={p}, button='{action.button}', count={action.count})"
    if isinstance(action, Move):
        return f"hover(start_box={_fmt_point(f, action.x, action.y)})"
    if isinstance(action, Drag):
        return f"drag(start_box={_fmt_point(f, action.x1, action.y1)}, end_box={_fmt_point(f, action.x2, action.y2)})"
    if isinstance(action, Scroll):
        extra = "" if action.amount == SCROLL_AMOUNT else f", amount={action.amount}"
        return f"scroll(start_box={_fmt_point(f, action.x, action.y)}, direction='{action.direction}'{extra})"
    if isinstance(action, TypeText):
        return f"type(content={_quote(action.text)})"
    if isinstance(action, Hotkey):
        return f"hotkey(key={_quote(' '.join(action.keys))})"
    if isinstance(action, Wait):
        return "wait()" if action.seconds == WAIT_SECONDS else f"wait(seconds={action.seconds!r})"
    if isinstance(action, Finished):
        args = [f"content={_quote(action.message)}"] if action.message else []
        args += [] if action.success else ["success=False"]
        return f"finished({', '.join(args)})"
    if isinstance(action, CallUser):
        return f"call_user(content={_quote(action.question)})" if action.question else "call_user()"
    raise ActionError(f"not an action: {action!r}")


def format_response(
    actions: Action | list[Action] | tuple[Action, ...],
    *,
    screen: Size,
    coords: Coords = "relative",
    image_size: Size | None = None,
    thought: str | None = None,
    reflection: str | None = None,
    summary: str | None = None,
) -> str:
    """A whole response: ``Reflection:``, ``Thought:``, ``Action_Summary:`` lines (those given and not
    blank, stripped), then ``Action:`` and the actions separated by blank lines.

    Raises ActionError when there is no action, or a text holds a line that would read as a header.
    """
    actions = [actions] if not isinstance(actions, list | tuple) else list(actions)
    if not actions:
        raise ActionError("a response needs at least one action")
    lines = []
    for label, body in (("Reflection", reflection), ("Thought", thought), ("Action_Summary", summary)):
        if body is None or not body.strip():
            continue
        if any(_HEADER.match(line) for line in body.split("\n")):
            raise ActionError(f"{label.lower()} must not contain a line starting with a section header")
        lines.append(f"{label}: {body.strip()}")
    kw = {"screen": screen, "coords": coords, "image_size": image_size}
    lines.append("Action: " + "\n\n".join(format_action(a, **kw) for a in actions))
    return "\n".join(lines)
