"""The UI-TARS grammar: every form and variant by example, error positions, and hypothesis properties
(format -> parse round trips in both coordinate conventions; arbitrary text never crashes the parser)."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent.errors import ActionError, ParseError
from agent.grammar import (
    MAX_PIXELS,
    MIN_PIXELS,
    ParsedResponse,
    format_action,
    format_response,
    parse,
    parse_action,
    smart_resize,
)
from agent.keys import KEYS
from agent.types import (
    BUTTONS,
    DIRECTIONS,
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

FHD = (1920, 1080)
PROPS = settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def one(text: str, screen=FHD, **kw):
    return parse_action(text, screen=screen, **kw)


# --------------------------------------------------------------------------------------------- examples
@pytest.mark.parametrize(
    "point",
    [
        "'(500,250)'",
        "'<|box_start|>(500,250)<|box_end|>'",
        '"(500, 250)"',
        "'[400, 200, 600, 300]'",
        "'<|box_start|>(400,200,600,300)<|box_end|>'",
        "'<point>500 250</point>'",
        "'<bbox>400 200 600 300</bbox>'",
        "(500, 250)",
        "[400,200,600,300]",
        "' 500 , 250 '",
    ],
)
def test_click_point_spellings_relative(point):
    assert one(f"click(start_box={point})") == Click(960, 270)


@pytest.mark.parametrize("key", ["start_box", "point", "start_point"])
def test_point_argument_names(key):
    assert one(f"click({key}='(100,100)')") == Click(192, 108)


def test_click_variants():
    assert one("left_double(start_box='(0,0)')") == Click(0, 0, count=2)
    assert one("right_single(start_box='(1000,1000)')") == Click(1920, 1080, button="right")
    assert one("click(start_box='(500,500)', button='middle', count=3)") == Click(960, 540, "middle", 3)
    assert one("click('(500,500)', 'right', 2)") == Click(960, 540, "right", 2)
    assert one("hover(start_box='(500,500)')") == Move(960, 540)
    assert one("mouse_move(start_box='(500,500)')") == Move(960, 540)


def test_drag_and_scroll():
    d = one("drag(start_box='(100,200)', end_box='(300,400)')")
    assert d == Drag(192, 216, 576, 432)
    assert one("drag(start_point='<point>100 200</point>', end_point='<point>300 400</point>')") == d
    assert one("scroll(start_box='(500,500)', direction='up')") == Scroll(960, 540, "up", 5)
    assert one("scroll(start_box='(500,500)', direction=' Left ', amount=12)") == Scroll(960, 540, "left", 12)
    assert one("scroll(direction='down')") == Scroll(960, 540, "down")  # no point: screen centre


def test_type_escapes_and_submit():
    assert one(r"type(content='hello\n')") == TypeText("hello\n")
    assert one(r"type(content='hello\n')").submit
    assert one(r"type(content='a\'b\\c\"d\te')") == TypeText("a'b\\c\"d\te")
    assert one(r'type(content="say \"hi\"")') == TypeText('say "hi"')
    assert one(r"type(content='C:\path')") == TypeText("C:\\path")  # unknown escape kept
    assert one("type(content='it's done')") == TypeText("it's done")  # lenient inner quote
    assert one("type(content='two\nlines')") == TypeText("two\nlines")  # a raw newline too


def test_keys():
    assert one("hotkey(key='ctrl c')") == Hotkey(("ctrl", "c"))
    assert one("hotkey(key='Ctrl+Shift+T')") == Hotkey(("ctrl", "shift", "t"))
    assert one("hotkey(key='ctrl +')") == Hotkey(("ctrl", "+"))
    assert one("hotkey(key='ctrl++')") == Hotkey(("ctrl", "+"))
    assert one("press(key='Return')") == Hotkey(("enter",))
    assert one(r"hotkey(key='\\')") == Hotkey(("\\",))


def test_control_actions():
    assert one("wait()") == Wait(5.0)
    assert one("wait(seconds=0.25)") == Wait(0.25)
    assert one("finished()") == Finished()
    assert one("finished(content='All done.')") == Finished(True, "All done.")
    assert one("finished(content='no', success=False)") == Finished(False, "no")
    assert one("call_user()") == CallUser()
    assert one("call_user(content='Which account?')") == CallUser("Which account?")
    assert one("call_user(question='Which?')") == CallUser("Which?")


def test_headers_and_several_actions():
    text = (
        "Thought: The field is empty.\nI will fill it.\n"
        "Action: click(start_box='(100,100)')\n\ntype(content='x\\n')\nhotkey(key='enter')"
    )
    out = parse(text, screen=FHD)
    assert out.thought == "The field is empty.\nI will fill it."
    assert out.actions == (Click(192, 108), TypeText("x\n"), Hotkey(("enter",)))
    assert [text[a:b] for a, b in out.spans] == [
        "click(start_box='(100,100)')",
        "type(content='x\\n')",
        "hotkey(key='enter')",
    ]
    out = parse("Reflection: missed\nAction_Summary: retry\nAction: wait()", screen=FHD)
    assert (out.reflection, out.summary, out.thought, out.actions) == ("missed", "retry", None, (Wait(5.0),))
    assert parse("  click(start_box='(1,1)')  ", screen=FHD).thought is None
    crlf = parse("thought: windows\r\n  ACTION : hotkey(key='ctrl s')\r\n", screen=FHD)
    assert (crlf.thought, crlf.actions) == ("windows", (Hotkey(("ctrl", "s")),))


def test_absolute_coordinates():
    # 1920×1080 resizes to 1932×1092 (both multiples of 28); the image's centre is the screen's centre
    assert one("click(start_box='(966,546)')", coords="absolute") == Click(960, 540)
    assert one("click(start_box='(50,60)')", coords="absolute", image_size=(100, 120)) == Click(960, 540)
    assert one("click(start_box='(960,540)')", coords="absolute", image_size=FHD) == Click(960, 540)


def test_format_canonical_forms():
    kw = {"screen": FHD}
    assert format_action(Click(960, 540), **kw) == "click(start_box='(500,500)')"
    assert format_action(Click(960, 540, count=2), **kw) == "left_double(start_box='(500,500)')"
    assert format_action(Click(960, 540, "right"), **kw) == "right_single(start_box='(500,500)')"
    assert format_action(Click(960, 540, "middle", 3), **kw) == (
        "click(start_box='(500,500)', button='middle', count=3)"
    )
    assert format_action(Move(0, 0), **kw) == "hover(start_box='(0,0)')"
    assert format_action(Drag(0, 0, 1920, 1080), **kw) == "drag(start_box='(0,0)', end_box='(1000,1000)')"
    assert format_action(Scroll(960, 540, "up"), **kw) == "scroll(start_box='(500,500)', direction='up')"
    assert format_action(Scroll(960, 540, "up", 2), **kw).endswith("direction='up', amount=2)")
    assert format_action(TypeText("it's\\ok\n"), **kw) == r"type(content='it\'s\\ok\n')"
    assert format_action(Hotkey(("ctrl", "c")), **kw) == "hotkey(key='ctrl c')"
    assert format_action(Wait(5.0), **kw) == "wait()"
    assert format_action(Wait(1.5), **kw) == "wait(seconds=1.5)"
    assert format_action(Finished(), **kw) == "finished()"
    assert format_action(Finished(False, "x"), **kw) == "finished(content='x', success=False)"
    assert format_action(CallUser(), **kw) == "call_user()"
    assert format_action(Click(960, 540), screen=FHD, coords="absolute") == "click(start_box='(966,546)')"
    assert format_action(Click(5000, 540), **kw) == "click(start_box='(1000,500)')"  # clamped to the edge


def test_format_response():
    text = format_response([Click(960, 540), Wait()], screen=FHD, thought=" Go. ", summary="s")
    assert (
        text == "Thought: Go.\nAction_Summary: s\nAction: click(start_box='(500,500)')\n\nwait(seconds=1.0)"
    )
    with pytest.raises(ActionError):
        format_response([], screen=FHD)
    with pytest.raises(ActionError):
        format_response([Wait()], screen=FHD, thought="a\nAction: click()")


# --------------------------------------------------------------------------------------------- errors
# Each case: text, where the error must point (an offset, or the first occurrence of a marker), words.
END = "<end>"


@pytest.mark.parametrize(
    ("text", "at", "words"),
    [
        ("", 0, "no action"),
        ("Thought: only thinking", END, "no 'Action:'"),
        ("Action:   ", END, "no action"),
        ("oops\nThought: x\nAction: wait()", 0, "before"),
        ("Thought: a\nThought: b\nAction: wait()", "Thought: b", "second"),
        ("bogus(start_box='(1,2)')", 0, "unknown action"),
        ("click start_box='(1,2)'", "start_box", "'('"),
        ("click(start_box='(1,2)'", END, "')'"),
        ("click(start_box='(1,2000)')", "2000", "outside 0..1000"),
        ("click(start_box='(-1,2)')", "-1", "outside"),
        ("click(start_box='(1,2,3)')", "'", "2 numbers"),
        ("click(start_box='(1,2')", "')", "')'"),
        ("click(start_box='(1,2) junk')", "junk", "unexpected"),
        ("click(start_box=5)", "5", "point"),
        ("click(box='(1,2)')", "box", "no argument"),
        ("click(start_box='(1,2)', point='(1,2)')", "point", "twice"),
        ("click()", 0, "needs"),
        ("click(start_box='(1,2)', button='side')", "'side'", "button"),
        ("click(start_box='(1,2)', count=4)", "4", "count"),
        ("left_double(start_box='(1,2)', count=2)", "count", "no argument"),
        ("drag(start_box='(1,2)')", 0, "'end'"),
        ("scroll(start_box='(1,2)', direction='sideways')", "'sideways'", "direction"),
        ("scroll(start_box='(1,2)')", 0, "'direction'"),
        ("type(content='')", "''", "empty"),
        ("type(content='abc", "'abc", "unterminated"),
        ("type(content=abc)", "abc", "quoted"),
        ("hotkey(key='ctrl nokey')", "nokey", "unknown key"),
        ("hotkey(key='ctrl ctrl')", "'", "repeats"),
        ("hotkey(key='  ')", "'", "at least one"),
        ("wait(seconds=-1)", "-1", ">= 0"),
        ("wait(seconds=99999)", "99999", "3600"),
        ("wait(seconds='x')", "'x'", "number"),
        ("finished(success=maybe)", "maybe", "True or False"),
        ("wait(1, 2)", "2", "at most"),
        ("click(start_box='(1,2)', '(3,4)')", "'(3", "positional"),
        ("wait() wait(", END, "value"),
        ("wait() 123", "123", "action name"),
    ],
)
def test_errors_point_at_the_problem(text, at, words):
    with pytest.raises(ParseError) as info:
        parse(text, screen=FHD)
    at = len(text) if at == END else text.index(at) if isinstance(at, str) else at
    assert info.value.position == at, str(info.value)
    assert words in info.value.message
    assert info.value.text == text


def test_error_position_inside_escaped_string():
    text = r"hotkey(key='\\ bad')"  # the decoded key text is "\ bad"; 'bad' starts at offset 15
    with pytest.raises(ParseError) as info:
        parse(text, screen=FHD)
    assert info.value.position == text.index("bad")


def test_absolute_range_is_the_image():
    with pytest.raises(ParseError, match=r"outside 0\.\.1932"):
        one("click(start_box='(1933,10)')", coords="absolute")
    assert one("click(start_box='(1932,1092)')", coords="absolute") == Click(1920, 1080)


def test_parse_action_wants_exactly_one():
    with pytest.raises(ParseError) as info:
        parse_action("wait()\nwait()", screen=FHD)
    assert info.value.position == 7


def test_bad_configuration_is_an_action_error():
    with pytest.raises(ActionError):
        parse("wait()", screen=(0, 10))
    with pytest.raises(ActionError):
        parse("wait()", screen=FHD, coords="normalized")  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------- smart_resize
def test_smart_resize_known_values():
    assert smart_resize(1080, 1920) == (1092, 1932)
    assert smart_resize(28, 28, min_pixels=56 * 56, max_pixels=28 * 28 * 1280) == (56, 56)
    h, w = smart_resize(8000, 8000)
    assert h == w and h * w <= MAX_PIXELS
    with pytest.raises(ActionError):
        smart_resize(1, 500)
    with pytest.raises(ActionError):
        smart_resize(0, 10)


@PROPS
@given(
    st.integers(1, 20000),
    st.integers(1, 20000),
    st.sampled_from(
        [(28, MIN_PIXELS, MAX_PIXELS), (28, 56 * 56, 28 * 28 * 1280), (14, 4 * 14 * 14, 14 * 14 * 512)]
    ),
)
def test_smart_resize_invariants(height, width, config):
    factor, lo, hi = config
    if max(height, width) / min(height, width) > 200:
        with pytest.raises(ActionError):
            smart_resize(height, width, factor, lo, hi)
        return
    h, w = smart_resize(height, width, factor, lo, hi)
    assert h % factor == 0 and w % factor == 0 and h >= factor and w >= factor
    if min(h, w) > factor:  # a side pinned at `factor` can push the count past the bounds; otherwise:
        assert lo <= h * w <= hi
    if min(h, w) > 2 * factor:  # the aspect ratio moves only by the rounding of each side to `factor`
        bound = (factor / (h - factor) + factor / (w - factor)) / (1 - factor / (w - factor))
        assert abs((h / w) / (height / width) - 1) <= bound + 1e-12
    if max(h, w) / min(h, w) <= 200:  # a resized image is a fixed point (when its ratio is allowed)
        assert smart_resize(h, w, factor, lo, hi) == (h, w)


# --------------------------------------------------------------------------------------------- round trips
SCREENS = st.one_of(
    st.sampled_from([(1920, 1080), (1366, 768), (2560, 1440), (3840, 2160), (800, 600), (1280, 800)]),
    st.tuples(st.integers(100, 5000), st.integers(100, 5000)),
)
FRAMES = st.tuples(
    SCREENS, st.sampled_from(["relative", "absolute", "absolute-given"]), st.integers(200, 4000)
).map(
    lambda t: (
        {"screen": t[0], "coords": "relative"}
        if t[1] == "relative"
        else {"screen": t[0], "coords": "absolute", "image_size": (t[2], t[2] * t[0][1] // t[0][0] + 1)}
        if t[1] == "absolute-given"
        else {"screen": t[0], "coords": "absolute"}
    )
)
TEXT = st.text(min_size=1, max_size=40).filter(lambda s: "\x00" not in s)


@st.composite
def actions(draw, screen):
    w, h = screen
    x = st.floats(0, w, allow_nan=False)
    y = st.floats(0, h, allow_nan=False)
    kind = draw(st.sampled_from(["click", "move", "drag", "scroll", "type", "hotkey", "wait", "fin", "call"]))
    if kind == "click":
        return Click(draw(x), draw(y), draw(st.sampled_from(BUTTONS)), draw(st.integers(1, 3)))
    if kind == "move":
        return Move(draw(x), draw(y))
    if kind == "drag":
        return Drag(draw(x), draw(y), draw(x), draw(y))
    if kind == "scroll":
        return Scroll(draw(x), draw(y), draw(st.sampled_from(DIRECTIONS)), draw(st.integers(1, 100)))
    if kind == "type":
        return TypeText(draw(TEXT))
    if kind == "hotkey":
        return Hotkey(
            tuple(draw(st.lists(st.sampled_from(sorted(KEYS)), min_size=1, max_size=4, unique=True)))
        )
    if kind == "wait":
        return Wait(draw(st.one_of(st.just(5.0), st.floats(0, 3600, allow_nan=False))))
    if kind == "fin":
        return Finished(draw(st.booleans()), draw(st.one_of(st.just(""), TEXT)))
    return CallUser(draw(st.one_of(st.just(""), TEXT)))


def _unit(frame: dict) -> tuple[float, float]:
    """Screen pixels per model unit on each axis (the grammar's quantisation)."""
    w, h = frame["screen"]
    if frame["coords"] == "relative":
        return w / 1000, h / 1000
    iw, ih = frame.get("image_size") or smart_resize(h, w)[::-1]
    return w / iw, h / ih


def _assert_close(got, want, frame: dict) -> None:
    assert type(got) is type(want)
    ux, uy = _unit(frame)
    for name, value in vars(want).items():
        if name in ("x", "x1", "x2"):
            assert abs(getattr(got, name) - value) <= ux / 2 + 1e-9 * ux, name
        elif name in ("y", "y1", "y2"):
            assert abs(getattr(got, name) - value) <= uy / 2 + 1e-9 * uy, name
        else:
            assert getattr(got, name) == value, name


@PROPS
@given(st.data(), FRAMES)
def test_format_parse_round_trip(data, frame):
    action = data.draw(actions(frame["screen"]))
    text = format_action(action, **frame)
    back = parse_action(text, **frame)
    _assert_close(back, action, frame)
    assert format_action(back, **frame) == text


@PROPS
@given(st.data(), FRAMES, st.text(st.characters(blacklist_characters=":", blacklist_categories=("Cs",))))
def test_response_round_trip(data, frame, thought):
    acts = data.draw(st.lists(actions(frame["screen"]), min_size=1, max_size=4))
    text = format_response(acts, thought=thought, **frame)
    out = parse(text, **frame)
    assert isinstance(out, ParsedResponse) and len(out.actions) == len(acts)
    for got, want in zip(out.actions, acts, strict=True):
        _assert_close(got, want, frame)
    assert out.thought == (thought.strip() or None)
    assert format_response(list(out.actions), thought=out.thought, **frame) == text


# --------------------------------------------------------------------------------------------- robustness
def _parse_or_parse_error(text: str, coords: str = "relative") -> None:
    try:
        parse(text, screen=(1366, 768), coords=coords)  # type: ignore[arg-type]
    except ParseError as exc:
        assert 0 <= exc.position <= len(text), (exc.position, len(text))
        assert exc.message


GRAMMAR_ALPHABET = "()[]<>'\",=\\ \n\t0123456789.-+eclikhotypsdrgwafnu_:ATR|"
GRAMMAR_WORDS = [
    "click(", "start_box=", "'(1,2)'", "<|box_start|>", "<|box_end|>", "<point>", "</point>", "Action:",
    "Thought: ", "hotkey(key='ctrl c')", "type(content='a\\n')", ")", ",", "drag(", "end_box=", "scroll(",
    "direction='down'", "amount=3", "button='middle'", "count=2", "wait(", "seconds=", "finished(",
    "success=", "True", "call_user(", "[1,2,3,4]", "<bbox>", "</bbox>", "\n", "'", "\\", "1e999",
]  # fmt: skip


@PROPS
@given(st.one_of(st.text(), st.text(GRAMMAR_ALPHABET), st.lists(st.sampled_from(GRAMMAR_WORDS)).map("".join)))
def test_arbitrary_text_parses_or_raises_parse_error(text):
    _parse_or_parse_error(text)
    _parse_or_parse_error(text, "absolute")


@PROPS
@given(st.data(), FRAMES)
def test_mutated_valid_text_parses_or_raises_parse_error(data, frame):
    acts = data.draw(st.lists(actions(frame["screen"]), min_size=1, max_size=3))
    text = format_response(acts, thought="look", **frame)
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(text)))
        j = data.draw(st.integers(i, min(len(text), i + 6)))
        text = text[:i] + data.draw(st.text(GRAMMAR_ALPHABET, max_size=4)) + text[j:]
    _parse_or_parse_error(text, frame["coords"])


def test_every_escape_reaches_the_parser_intact():
    text = "".join(chr(c) for c in range(1, 128)) + "é漢\u2028"
    back = parse_action(format_action(TypeText(text), screen=FHD), screen=FHD)
    assert back == TypeText(text)
