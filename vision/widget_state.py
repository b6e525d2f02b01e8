"""What perception reads about a widget beyond its kind and text: where a slider's handle is, whether
a checkbox or radio is checked, whether a button is drawn disabled, whether a field's text is its
faded empty-field hint, and which field has the keyboard (its text cursor). The policy decides with
these (set "Volume to 70" from where it is now; leave a box that is already ticked; never click a greyed
Finish; type into a field that only shows "Enter postcode"), and the detector reports none of them.

Sliders, by rule: a horizontal slider's handle is the only thing in its box that spans the box's height;
the groove is a thin line, the rest background. Each column is scored by how much of it differs from its
row's usual grey (the row's median over the box) plus how much of it is a vertical edge (a handle drawn
in the background's colour still has a border); the strongest run of columns, grown over the handle's
paler interior, is the handle, and its centre over the travel (the box's width less one handle) is the
position. The range is not visible, so the position is reported in percent of the travel (``value``
0..100, ``min`` 0, ``max`` 100, ``"read": "pixels"``). On the sliders of 40 rendered held-out set_slider
screens (all themes and HiDPI scales) the error is 0.28 points on average (at most 2.0) with exact boxes,
0.71 with boxes off by up to 3 pixels, as detected ones are (`tests/vision/test_widget_state.py`).

Checkboxes and radios, learned: `CheckReader`, a small MLP on theme-free pixels of the indicator and
the box, fitted on the screens of sandbox expert runs (`deskpilot train checks`). Its weights ship beside
the detector's (``weights/detector/check_reader.safetensors``); on 2,864 held-out crops (100 episodes)
accuracy 0.993, precision 0.974, recall 0.984 for "checked".
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from agent.errors import WeightsError
from agent.types import Element

#: A column belongs to the handle when this share of it differs from its row by more than INK grey levels.
INK = 12.0
EDGE = 20.0
#: A handle's interior column scores at least this share of the strongest column (`_whole_handle`).
HANDLE_INTERIOR = 0.12


def slider_position(image: np.ndarray, box: tuple[float, float, float, float]) -> float | None:
    """The handle's position (0..100, percent of the travel) of a horizontal slider at ``box`` (xyxy,
    image pixels) of an H×W×3 uint8 image; None when the box is not a horizontal slider's shape or no
    column stands out."""
    h, w = image.shape[:2]
    x1, y1, x2, y2 = (int(np.floor(float(v) + 0.5)) for v in box)
    x1, y1, x2, y2 = max(0, x1), max(0, y1), min(w, x2), min(h, y2)
    bw, bh = x2 - x1, y2 - y1
    if bw < 16 or bh < 4 or bw < 2 * bh:  # too small, or vertical
        return None
    gray = image[y1:y2, x1:x2].astype(np.float32).mean(axis=2)
    off_row = np.abs(gray - np.median(gray, axis=1, keepdims=True)) > INK
    edges = np.abs(np.diff(gray, axis=1)) > EDGE
    edges = np.concatenate([edges, edges[:, -1:]], axis=1)
    score = off_row.mean(axis=0) + 0.5 * edges.mean(axis=0)
    peak = int(np.argmax(score))
    if score[peak] < 0.3:
        return None
    keep = 0.4 * score[peak]
    a = b = peak
    while a > 0 and score[a - 1] >= keep:
        a -= 1
    while b < bw - 1 and score[b + 1] >= keep:
        b += 1
    a, b = _whole_handle(score, a, b, HANDLE_INTERIOR * score[peak], bh)
    handle = b - a + 1
    frac = (a + b - (handle - 1)) / 2 / max(1, bw - handle)
    return float(100.0 * min(max(frac, 0.0), 1.0))


def _whole_handle(score: np.ndarray, a: int, b: int, low: float, widest: int) -> tuple[int, int]:
    """Columns ``a..b`` (the strong run around the peak) grown over a handle's weaker interior.

    A handle drawn in the background's grey stands out only where it crosses the groove's rows, so its
    interior scores a third of its border; the strong run is then one border alone, and the position
    read from it is off by half a handle (16 read 20 on held-out task 128: the policy pressed beside an
    11-pixel handle, which pages the value instead of dragging it). The run grows over columns scoring at
    least ``low`` on each side, and keeps that growth only where it ends on a quiet column within
    ``widest`` columns of the run's far end: a slider's coloured fill left of its handle also scores, but
    runs on past any handle's width."""
    n = len(score)
    k = a - 1
    while k >= 0 and b - k + 1 <= widest and score[k] >= low:
        k -= 1
    if k < 0 or score[k] < low:  # a quiet column (or the box's edge) closes it
        a = k + 1
    k = b + 1
    while k < n and k - a + 1 <= widest and score[k] >= low:
        k += 1
    if k >= n or score[k] < low:
        b = k - 1
    return a, b


def read_states(
    image: np.ndarray,
    elements: list[Element],
    origin: tuple[float, float] = (0.0, 0.0),
    checks: CheckReader | None = None,
) -> None:
    """Fill in what the pixels tell about each element's state, in place (boxes are image pixels +
    ``origin``): sliders get ``value`` (percent of travel), ``min`` 0, ``max`` 100; with a `CheckReader`,
    checkboxes and radios get ``checked``."""
    if checks is not None:
        checks.read(image, elements, origin)
    ox, oy = origin
    for e in elements:
        if e.kind != "slider":
            continue
        x1, y1, x2, y2 = e.box
        value = slider_position(image, (x1 - ox, y1 - oy, x2 - ox, y2 - oy))
        if value is not None:
            e.state = {**(e.state or {}), "value": round(value), "min": 0, "max": 100, "read": "pixels"}


#: A number a slider shows beside it ("66", "66%") is its value when it sits on the slider's row, starts
#: within this many row heights of the slider's right end, and agrees with the handle's position within
#: SHOWN_VALUE_AGREES points: a slider whose range is not 0..100 mostly shows numbers that do not, and a
#: number whose leading "1" the detector's box cut off ("8" for 18) is ten points away.
SHOWN_VALUE_GAP = 3.0
SHOWN_VALUE_AGREES = 6.0
#: Kinds the number may be detected as: the detector takes a lone digit beside a slider for a checkbox.
SHOWN_VALUE_KINDS = frozenset({"label", "checkbox"})
_SHOWN_NUMBER = re.compile(r"^\s*(-?\d{1,3})\s*%?\s*$")


def shown_numbers(elements: list[Element]) -> list[tuple[Element, int]]:
    """The elements that show a bare number ("66", "66%"), each with it: candidates for `number_beside`."""
    return [
        (e, int(m.group(1)))
        for e in elements
        if e.kind in SHOWN_VALUE_KINDS and (m := _SHOWN_NUMBER.match(e.text or ""))
    ]


def number_beside(
    slider: Element, numbers: list[tuple[Element, int]], value: float
) -> tuple[Element, int] | None:
    """The nearest of ``numbers`` (`shown_numbers`) written beside ``slider``: on its row, starting within
    `SHOWN_VALUE_GAP` row heights of its right end, and within `SHOWN_VALUE_AGREES` points of ``value``."""
    _, y1, x2, y2 = slider.box
    height, mid = max(1.0, y2 - y1), (y1 + y2) / 2
    near = [
        (e, n)
        for e, n in numbers
        if e.box[1] <= mid <= e.box[3]
        and -2.0 <= e.box[0] - x2 <= SHOWN_VALUE_GAP * height
        and abs(n - value) <= SHOWN_VALUE_AGREES
    ]
    return min(near, key=lambda en: en[0].box[0], default=None)


def read_shown_values(elements: list[Element]) -> None:
    """A slider whose value is written beside it takes that number (``"read": "label"``), in place.

    The handle's position alone is exact nine times in ten (a point off otherwise): a policy told "67"
    cannot tell a slider at 66 from one read a point low. The number OCR reads beside it is exact. Runs on
    the elements with their text, after `read_states`; a slider with no such number keeps the handle's
    read."""
    numbers = shown_numbers(elements)
    if not numbers:
        return
    for s in elements:
        st = s.state or {}
        if s.kind != "slider" or st.get("read") not in ("pixels", "label"):
            continue
        found = number_beside(s, numbers, float(st["value"]))
        if found is not None:
            s.state = {**st, "value": found[1], "read": "label"}


# ----------------------------------------------------------------------------------- enabled or not
#: A button whose text stands out from its face less than this share of as much as the most legible
#: button in its row does is drawn disabled (greyed text). Measured on 613 held-out sandbox screens
#: of wizards, forms, menus and counters (2,694 buttons, 338 disabled; ground-truth boxes): 219 of the
#: disabled found and none of the 2,356 enabled called disabled. On a third of those screens with the
#: detector's boxes: 66 of 116 disabled found, none of 753 enabled called disabled.
DISABLED_RATIO = 0.5
#: The row's most legible button must stand out at least this much (grey levels) for the rule to speak.
MIN_ROW_CONTRAST = 40.0


def text_contrast(image: np.ndarray, box: tuple[float, float, float, float], inset: int = 4) -> float:
    """How far a button's text stands out from its face: the 99th percentile of the grey levels'
    distance from their median, inside the box less ``inset`` pixels (its frame). A high percentile,
    since short text on a wide button inks only a few percent of it."""
    distance = _grey_distance(image, box, inset)
    return 0.0 if distance is None else float(np.percentile(distance, 99))


def _grey_distance(
    image: np.ndarray, box: tuple[float, float, float, float], inset: int
) -> np.ndarray | None:
    """Each grey level's distance from the median, inside ``box`` (image pixels) less ``inset`` pixels of
    frame; None when under 4×3 pixels remain."""
    h, w = image.shape[:2]
    x1, y1, x2, y2 = (round(float(v)) for v in box)
    x1, y1, x2, y2 = max(0, x1 + inset), max(0, y1 + inset), min(w, x2 - inset), min(h, y2 - inset)
    if x2 - x1 < 4 or y2 - y1 < 3:
        return None
    gray = image[y1:y2, x1:x2].astype(np.float32).mean(axis=2)
    return np.abs(gray - np.median(gray))


def read_enabled(
    image: np.ndarray, elements: list[Element], origin: tuple[float, float] = (0.0, 0.0)
) -> None:
    """Mark buttons drawn disabled (``state["enabled"] = False``), in place, by comparing each button's
    text contrast with its row's (buttons whose centres lie within half a height of each other): a
    greyed-out Finish beside an enabled Next. A button with no row, or a row with nothing legible, says
    nothing; neither does a legible button (``enabled`` is only ever False or absent, as in ground
    truth, where the policy masks disabled elements out of its clicks)."""
    ox, oy = origin
    buttons = [e for e in elements if e.kind == "button"]
    contrast = [
        text_contrast(image, (b.box[0] - ox, b.box[1] - oy, b.box[2] - ox, b.box[3] - oy)) for b in buttons
    ]
    boxes = np.array([b.box for b in buttons], np.float64).reshape(-1, 4)
    for i, b in enumerate(buttons):
        h, cy = b.box[3] - b.box[1], (b.box[1] + b.box[3]) / 2
        # the row: other buttons level with this one; an overlapping box is this button found again
        apart = (boxes[:, 0] >= b.box[2]) | (boxes[:, 2] <= b.box[0])
        level = np.abs((boxes[:, 1] + boxes[:, 3]) / 2 - cy) < h / 2
        row = [contrast[j] for j in np.nonzero(apart & level)[0]]
        best = max(row, default=0.0)
        state = {k: v for k, v in (b.state or {}).items() if k != "enabled"}
        if best >= MIN_ROW_CONTRAST and contrast[i] < DISABLED_RATIO * best:
            state["enabled"] = False
        b.state = state


# ------------------------------------------------------------------------------- hint or typed text
#: An editable field's text is its empty-field hint (the placeholder, drawn faded) when its ink stands
#: out from the field less than this share of as much as the screen's labels stand out from theirs.
#: Measured on the screens of expert runs of 90 held-out typing tasks (ground-truth boxes, all themes):
#: typed text 0.90-1.16 (1st percentile 0.94; 319 fields), hints 0.45-0.57 (99th percentile; 362
#: fields; the few above lay under an open popup).
PLACEHOLDER_RATIO = 0.72
#: Kinds whose empty state shows a placeholder.
HINT_KINDS = ("text_field",)


def ink_contrast(
    image: np.ndarray, box: tuple[float, float, float, float], inset: int = 4, floor: float = INK
) -> float:
    """How far an element's text stands out from its background: per column, the largest grey-level
    distance from the crop's median (inside the box less ``inset`` pixels of frame); over the columns
    with any ink, the 75th percentile. By column, so a text cursor (one or two columns at full contrast
    beside a faded hint) barely moves it and a short word in a wide field weighs as much as a long one;
    0.0 with fewer than three inked columns."""
    distance = _grey_distance(image, box, inset)
    if distance is None:
        return 0.0
    cols = distance.max(axis=0)
    ink = cols[cols > floor]
    return float(np.percentile(ink, 75)) if ink.size >= 3 else 0.0


def read_placeholders(
    image: np.ndarray, elements: list[Element], origin: tuple[float, float] = (0.0, 0.0)
) -> None:
    """Tell an empty field's faded hint ("Enter postcode") from typed text, in place: a text field whose
    text is drawn faded gets ``text`` "" and ``state["placeholder"]`` the hint, as ground truth reports
    an empty field. OCR reads both alike, and a policy that took the hint for typed text would think the
    field filled. The yardstick is the screen's labels (their 75th-percentile `ink_contrast`), or its
    buttons when it has no labels; with neither, nothing is decided."""
    ox, oy = origin

    def contrast(e: Element, inset: int) -> float:
        x1, y1, x2, y2 = e.box
        return ink_contrast(image, (x1 - ox, y1 - oy, x2 - ox, y2 - oy), inset=inset)

    fields = [e for e in elements if e.kind in HINT_KINDS and e.text]
    if not fields:
        return
    for kind, inset in (("label", 1), ("button", 4)):
        named = [e for e in elements if e.kind == kind and e.text]
        named = named[:: max(1, len(named) // 16)]  # a sample of 16 or so is yardstick enough
        ref = [c for c in (contrast(e, inset) for e in named) if c > 0]
        if ref:
            break
    else:
        return
    legible = float(np.percentile(ref, 75))
    for e in fields:
        if contrast(e, 4) < PLACEHOLDER_RATIO * legible:
            e.state = {**(e.state or {}), "placeholder": e.text}
            e.text = ""


# ---------------------------------------------------------------------------------------- focused or not
#: Kinds whose keyboard focus perception reads from the text cursor.
FOCUS_KINDS = ("text_field",)
#: A cursor's column differs from the field's background by more than this many grey levels.
CURSOR_INK = 40.0
#: In a field showing its faded hint, a cursor is drawn in the text colour: its ink (median grey-level
#: distance along it) stands out at least this many times as far as the hint's (`ink_contrast`). A hint's
#: own upright stroke (the "h" of "Search…") passes every other test. Measured on the screens of expert
#: runs of 90 held-out typing tasks (ground-truth boxes): 46 cursors found in hinted fields, ratio 1.25 and
#: 1.8-2.8; 40 of 480 unfocused hinted fields said to have one, every one of them at 0.44-1.03.
HINT_CURSOR_RATIO = 1.15
#: A row of a field's box inked over at least this share of its width is a line of the field's frame.
FRAME_LINE = 0.8


def _longest_runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per column of an h×w bool mask: (length, first row) of its longest vertical run of True."""
    best = np.zeros(mask.shape[1], int)
    start = np.zeros(mask.shape[1], int)
    cur = np.zeros(mask.shape[1], int)
    for y, row in enumerate(mask):
        cur = np.where(row, cur + 1, 0)
        longer = cur > best
        best = np.where(longer, cur, best)
        start = np.where(longer, y - cur + 1, start)
    return best, start


def _has_arm(ink: np.ndarray, y: int, x: int, reach: int = 4) -> bool:
    """Whether ink runs sideways from (y ± 1, x) for ``reach`` pixels: the corner of a frame."""
    h, w = ink.shape
    for yy in (y - 1, y, y + 1):
        if 0 <= yy < h and (
            (x + 1 + reach <= w and ink[yy, x + 1 : x + 1 + reach].all())
            or (x - reach >= 0 and ink[yy, x - reach : x].all())
        ):
            return True
    return False


def cursor_column(
    image: np.ndarray, box: tuple[float, float, float, float], min_ink: float = 0.0
) -> tuple[int, int] | None:
    """The text cursor inside a field's box (image pixels): (its column in the box, its height), or None.
    ``min_ink``: the least median grey-level distance along the cursor (`HINT_CURSOR_RATIO`).

    The cursor is a one- or two-pixel vertical line, taller than every glyph beside it (it spans ascender
    to descender), free at both ends: the sides of the field's frame run into its top and bottom edges
    (straight corners), or are the outermost tall columns near the box's ends (rounded ones). A cursor
    that touches the frame's top or bottom line is looked for again with the frame's lines taken out.
    On the screens of expert runs of 90 held-out typing tasks (ground-truth boxes): the focused field
    found on 323 of 335 screens that have one (255 before the second look), another field said to be
    focused on 9 of 484 screens (8); on 90 validation tasks 332 of 356 (260), 7 of 505 (6).
    """
    distance = _grey_distance(image, box, inset=0)
    if distance is None or min(distance.shape) < 8:
        return None
    ink = distance > CURSOR_INK
    found = _cursor(ink, distance, min_ink)
    lines = ink.mean(axis=1) >= FRAME_LINE
    if found is None and lines.any():
        # a cursor that touches the frame's top or bottom line (an empty field's, at its left end) is not
        # free of it: look again with those lines taken out, the frame's sides still counted as frame
        ink = ink.copy()
        ink[lines] = False
        found = _cursor(ink, distance, min_ink, sides=True)
    return found


def _cursor(
    ink: np.ndarray, distance: np.ndarray, min_ink: float, sides: bool = False
) -> tuple[int, int] | None:
    """`cursor_column` on an ink mask; ``sides``: every tall column joined to the outermost one near each
    end of the box is the frame's side (its lines taken out of ``ink``, a side no longer ends at the box's
    edge)."""
    bh, bw = ink.shape
    run, top = _longest_runs(ink)
    end = top + run
    tall = np.nonzero(run >= 0.4 * bh)[0]
    free = np.zeros(bw, bool)
    for x in tall:  # free at both ends: not into the crop's top or bottom, no frame corner there
        free[x] = bool(top[x] > 0 and end[x] < bh) and not (
            _has_arm(ink, int(top[x]), int(x)) or _has_arm(ink, int(end[x]) - 1, int(x))
        )
    others = np.ones(bw, bool)  # the columns whose ink may be glyphs (not the frame's sides)
    if tall.size:  # a rounded frame's sides: the outermost tall columns near the box's ends
        left, right = int(tall[0]), int(tall[-1])
        if sides:  # and the columns joined to them
            while left + 1 < bw and run[left + 1] >= 0.4 * bh:
                left += 1
            while right - 1 >= 0 and run[right - 1] >= 0.4 * bh:
                right -= 1
        if tall[0] <= 4:
            free[: left + 2] = False
            if sides:
                others[: left + 1] = False
        if tall[-1] >= bw - 5:
            free[right - 1 :] = False
            if sides:
                others[right:] = False
    found = np.nonzero(free)[0]
    if found.size == 0:
        return None
    x = int(found[np.argmax(run[found])])
    height = int(run[x])
    if (np.abs(np.arange(bw) - x) <= 1)[run >= 0.8 * height].sum() > 2:
        return None  # a stroke three pixels wide is a glyph
    others[max(0, x - 2) : x + 3] = False
    glyph = int(run[others & (run < 0.9 * bh)].max(initial=0))
    if height < 1.12 * glyph:
        return None
    if min_ink > 0 and float(np.median(distance[top[x] : end[x], x])) < min_ink:
        return None  # as faint as the hint around it: one of its strokes
    return x, height


def read_focus(image: np.ndarray, elements: list[Element], origin: tuple[float, float] = (0.0, 0.0)) -> None:
    """Mark the text field that shows a text cursor ``state["focused"] = True``, in place (at most one: the
    tallest cursor), and clear any earlier mark on the others; as ground truth reports focus (True or
    absent). Typing goes to the focused field, and a policy filling a form tells by it which field it is
    in. Run it after `read_placeholders`: in a field showing its hint the cursor must out-ink the hint."""
    ox, oy = origin
    best, best_h = None, 0
    for e in elements:
        if e.kind not in FOCUS_KINDS:
            continue
        if e.state and "focused" in e.state:
            e.state = {k: v for k, v in e.state.items() if k != "focused"}
        x1, y1, x2, y2 = e.box
        box = (x1 - ox, y1 - oy, x2 - ox, y2 - oy)
        hinted = bool(e.state and e.state.get("placeholder"))
        found = cursor_column(image, box, HINT_CURSOR_RATIO * ink_contrast(image, box) if hinted else 0.0)
        if found is not None and found[1] > best_h:
            best, best_h = e, found[1]
    if best is not None:
        best.state = {**(best.state or {}), "focused": True}


# ------------------------------------------------------------------------------------- checked or not
#: Kinds whose checked state `CheckReader` reads.
CHECK_KINDS = ("checkbox", "radio")
CHECK_NAME = "check_reader.safetensors"
SQUARE = 16  # the square at the box's left end (the indicator), resized
STRIP = (12, 48)  # the whole box, resized to h × w


def check_features(image: np.ndarray, box: tuple[float, float, float, float], kind: str) -> np.ndarray | None:
    """Features of a checkbox or radio at ``box`` (xyxy, image pixels): ink (distance from the box's
    median grey, scaled by its largest: theme-free) of the square at its left end, where the indicator
    is, and of the whole box; the box's median grey (light or dark theme); the kind. None when too small."""
    import cv2

    h, w = image.shape[:2]
    x1, y1, x2, y2 = (int(np.floor(float(v) + 0.5)) for v in box)
    x1, y1, x2, y2 = max(0, x1), max(0, y1), min(w, x2), min(h, y2)
    if x2 - x1 < 6 or y2 - y1 < 6 or kind not in CHECK_KINDS:
        return None
    gray = image[y1:y2, x1:x2].astype(np.float32).mean(axis=2)
    median = float(np.median(gray))
    ink = np.abs(gray - median)
    ink /= max(float(ink.max()), 1.0)
    side = min(y2 - y1, x2 - x1)

    def resize(a: np.ndarray, size: tuple[int, int]) -> np.ndarray:
        return cv2.resize(a, (size[1], size[0]), interpolation=cv2.INTER_AREA).ravel()

    kind_bit = [float(kind == "radio")]
    parts = [resize(ink[:, :side], (SQUARE, SQUARE)), resize(ink, STRIP), [median / 255.0], kind_bit]
    return np.concatenate(parts).astype(np.float32)


CHECK_FEATURES = SQUARE * SQUARE + STRIP[0] * STRIP[1] + 2


class CheckReader:
    """A small MLP from `check_features` to the logit of "checked"; ``read`` writes ``checked`` into the
    states of the checkboxes and radios it is given, as the sandbox's ground truth spells it.

    The same reader with heads for a text field's focus and a widget's greyed (disabled) look was tried:
    on held-out sandbox screens their precision was 0.48 and 0.61, and a false "disabled" hides a target
    from the policy, so only "checked" is read (precision 0.98, recall 0.99 there)."""

    def __init__(self, hidden: int = 64):
        from torch import nn

        self.hidden = hidden
        self.net = nn.Sequential(nn.Linear(CHECK_FEATURES, hidden), nn.GELU(), nn.Linear(hidden, 1)).eval()

    def probabilities(self, x: np.ndarray) -> np.ndarray:
        import torch

        with torch.no_grad():
            return torch.sigmoid(self.net(torch.from_numpy(x))).numpy()[:, 0]

    def read(
        self, image: np.ndarray, elements: list[Element], origin: tuple[float, float] = (0.0, 0.0)
    ) -> None:
        """Set ``state["checked"]`` of every checkbox and radio in ``elements`` (boxes: image pixels + ``origin``)."""
        ox, oy = origin
        todo, rows = [], []
        for e in elements:
            f = check_features(image, (e.box[0] - ox, e.box[1] - oy, e.box[2] - ox, e.box[3] - oy), e.kind)
            if f is not None:
                todo.append(e)
                rows.append(f)
        if rows:
            for e, p in zip(todo, self.probabilities(np.stack(rows)), strict=True):
                e.state = {**(e.state or {}), "checked": bool(p > 0.5)}

    def save(self, directory: str | Path) -> Path:
        from vision.detector.small_weights import save_fp16

        return save_fp16(self.net.state_dict(), Path(directory) / CHECK_NAME,
                         {"hidden": str(self.hidden), "features": str(CHECK_FEATURES)})  # fmt: skip

    @classmethod
    def load(cls, directory: str | Path) -> CheckReader | None:
        """The reader saved in ``directory``; None when there is none; WeightsError when it does not fit."""
        from vision.detector.small_weights import read_fp32, read_metadata

        path = Path(directory) / CHECK_NAME
        if not path.is_file():
            return None
        try:
            meta = read_metadata(path)
            if int(meta.get("features", -1)) != CHECK_FEATURES:
                raise WeightsError(f"{path} was made for other features than this version reads")
            reader = cls(int(meta["hidden"]))
            reader.net.load_state_dict(read_fp32(path))
        except WeightsError:
            raise
        except Exception as exc:
            raise WeightsError(f"{path} is not a check reader: {exc}") from None
        return reader


def collect_checks(
    split: str, episodes: int, *, seed: int = 0, jitter: int = 2, progress=None
) -> dict[str, np.ndarray]:
    """Every checkbox and radio on the screens of ``episodes`` expert runs in the sandbox (boxes get
    ticked as the expert works), each at its box and at one moved by up to ``jitter`` pixels per side,
    as a detector's would be: {"x": features, "y": checked (0/1), "episode"}."""
    import random

    from agent.envs.sandbox.env import SandboxEnv
    from agent.envs.sandbox.families import generate_split
    from agent.loop import run_episode
    from policies.scripted import ExpertPolicy

    rng = random.Random(seed)
    rows, ys, eps = [], [], []
    expert = ExpertPolicy()
    with SandboxEnv() as env:
        for i, st in enumerate(generate_split(split, episodes, seed=seed)):
            res = run_episode(env, expert, st.to_task(), max_steps=st.max_steps, keep_images=True)
            for step in res.steps:
                for e in step.elements if step.image is not None else ():
                    if e.kind not in CHECK_KINDS or not isinstance((e.state or {}).get("checked"), bool):
                        continue
                    x1, y1, x2, y2 = e.box
                    d = [rng.randint(-jitter, jitter) for _ in range(4)]
                    for box in ((x1, y1, x2, y2), (x1 + d[0], y1 + d[1], x2 + d[2], y2 + d[3])):
                        f = check_features(step.image, box, e.kind)
                        if f is not None:
                            rows.append(f)
                            ys.append(float(e.state["checked"]))
                            eps.append(i)
            if progress is not None:
                progress(i + 1, episodes)
    if not rows:
        raise WeightsError(f"no checkboxes or radios in {episodes} {split} episodes")
    return {"x": np.stack(rows), "y": np.array(ys, np.float32), "episode": np.array(eps, np.int64)}


def fit_check_reader(data: dict[str, np.ndarray], *, epochs: int = 40, seed: int = 0) -> CheckReader:
    """Binary cross-entropy, the checked crops weighted up to the unchecked ones."""
    import torch

    torch.manual_seed(seed)
    reader = CheckReader()
    x, y = torch.from_numpy(data["x"]), torch.from_numpy(data["y"])[:, None]
    pos_weight = ((1 - y).sum() / y.sum().clamp(min=1)).clamp(1.0, 20.0)
    opt = torch.optim.AdamW(reader.net.parameters(), lr=3e-3, weight_decay=1e-3)
    reader.net.train()
    for _ in range(epochs):
        order = torch.randperm(len(x))
        for i in range(0, len(order), 256):
            idx = order[i : i + 256]
            loss = torch.nn.functional.binary_cross_entropy_with_logits(
                reader.net(x[idx]), y[idx], pos_weight=pos_weight
            )
            opt.zero_grad()
            loss.backward()
            opt.step()
    reader.net.eval()
    return reader


def score_check_reader(reader: CheckReader, data: dict[str, np.ndarray]) -> dict[str, float]:
    """Accuracy, and precision/recall of "checked", over ``data``'s crops."""
    pred = reader.probabilities(data["x"]) > 0.5
    truth = data["y"] > 0.5
    tp = float((pred & truth).sum())
    return {"crops": len(truth), "checked": int(truth.sum()), "accuracy": round(float((pred == truth).mean()), 4),
            "precision": round(tp / max(1.0, float(pred.sum())), 4), "recall": round(tp / max(1.0, float(truth.sum())), 4)}  # fmt: skip
