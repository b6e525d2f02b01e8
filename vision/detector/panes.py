"""Text areas from the flat pane they are drawn on.

The detector finds text areas badly (AP@0.5 0.20 on the held-out screens): a text area is a large box that
an empty one fills with nothing but its base colour, so its queries find pieces of it (the part one tile
saw) or call the blank space a list row. What the pixels say is plain: a text area is a rectangle of one
flat colour (the palette's base, which no window background uses), bounded, at least a few lines high,
holding at most text. `fit_text_areas` starts from each weak hint the detector gives (a text area at any
score; a blank list row, progress bar or text field it is unsure of: the pieces of empty text areas it
called so), takes the region of exactly the hint's main colour under it, and keeps it as one text area
when the region is such a pane: big enough, mostly flat, closed on all sides, with no widget in it and
no run of sure list rows (a list's pane looks the same until its rows are read). Hints inside the pane
(pieces, blank "rows", the text's lines called labels) go, and text-area hints on no such pane lose half
their score. "Exactly" matters: a desktop's gradient is bands of near-equal colour, and at a tolerance of
2 grey levels per channel one band between two windows had come back as a text area.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from agent.types import Element
from vision.boxes import box_cover

#: detections that may be pieces of a text area: text areas, and blank list rows, progress bars and text
#: fields the detector is unsure of (validation screens: 15 more of 63 areas found from the last two)
HINT_KINDS = ("text_area", "list_item", "progress", "text_field")
# what may sit on a text area's pane: its text (read as labels, links or rows) and pieces of itself
TEXT_KINDS = frozenset({"text_area", "list_item", "label", "link", "text_field"})
# what goes from an accepted pane when the detector is unsure of it: those and the blank bars it saw there
ON_PANE = TEXT_KINDS | frozenset(HINT_KINDS)


@dataclasses.dataclass(frozen=True)
class PaneRule:
    """Thresholds of `fit_text_areas`, in logical pixels (screen pixels / device pixel ratio)."""

    min_width: float = 60.0
    min_height: float = 44.0  # a one-line field with padding is ~30 high; the smallest area seen, 71
    min_flat: float = 0.5  # share of the pane's box in its own colour (text covers the rest)
    min_mode: float = 0.4  # share of a hint's pixels in the pane colour
    max_screen: float = 0.4  # a region this big is a window or the desktop, not a widget
    sure: float = 0.5  # detections this sure are what they say
    tolerance: int = 1  # per channel, for "the same colour" (screens are drawn exactly)
    hint_min: float = 0.05
    blank_row: float = 0.97  # a hint of another kind counts only when this share of it is the pane's colour
    text_hint: float = 0.15  # a pane with text on it needs a text-area hint this sure
    demote: float = 0.5  # score factor of text-area hints on no pane


def _flat_region(
    image: np.ndarray, colour: int, seed: tuple[int, int, int, int], tolerance: int
) -> tuple[np.ndarray, tuple[int, int, int, int]] | None:
    """The 4-connected region of ``colour`` (each channel within ``tolerance``) through the pixel of that
    colour nearest the middle of ``seed`` (xyxy image pixels): its mask and its box (xyxy)."""
    import cv2

    rgb = np.array([(colour >> 16) & 255, (colour >> 8) & 255, colour & 255], np.int16)
    x1, y1, x2, y2 = seed
    same = (np.abs(image[y1:y2, x1:x2].astype(np.int16) - rgb) <= tolerance).all(axis=2)
    ys, xs = np.nonzero(same)
    if ys.size == 0:
        return None
    k = int(np.argmin((ys - (y2 - y1) / 2) ** 2 + (xs - (x2 - x1) / 2) ** 2))
    h, w = image.shape[:2]
    mask = np.zeros((h + 2, w + 2), np.uint8)
    flags = 4 | cv2.FLOODFILL_FIXED_RANGE | cv2.FLOODFILL_MASK_ONLY | (1 << 8)
    diff = (tolerance,) * 3
    _, _, _, (px, py, pw, ph) = cv2.floodFill(
        image, mask, (x1 + int(xs[k]), y1 + int(ys[k])), 0, diff, diff, flags
    )
    return mask[py + 1 : py + ph + 1, px + 1 : px + pw + 1] > 0, (px, py, px + pw, py + ph)


def ink_bands(mask: np.ndarray, min_height: int = 4, margin: int = 3) -> list[tuple[int, int, int]]:
    """Lines of ink on a pane (``mask``: True where the pane's own colour is): (top, bottom, ink width)
    for each run of pixel rows holding anything else, ``margin`` pixels in from the pane's edges."""
    inner = ~mask[margin : -margin or None, margin : -margin or None]
    if inner.size == 0:
        return []
    rows = inner.any(axis=1)
    bands, y = [], 0
    while y < rows.size:
        if not rows[y]:
            y += 1
            continue
        top = y
        while y < rows.size and rows[y]:
            y += 1
        if y - top >= min_height:
            cols = np.flatnonzero(inner[top:y].any(axis=0))
            bands.append((top + margin, y + margin, int(cols[-1] - cols[0] + 1)))
    return bands


def _mode_colour(patch: np.ndarray) -> tuple[int, float]:
    packed = (patch[..., 0].astype(np.int32) << 16) | (patch[..., 1].astype(np.int32) << 8) | patch[..., 2]
    values, counts = np.unique(packed.ravel(), return_counts=True)
    k = int(counts.argmax())
    return int(values[k]), float(counts[k]) / packed.size


@dataclasses.dataclass(frozen=True)
class Pane:
    """A flat region found under a hint: its box (xyxy image pixels) and the lines of ink on it."""

    box: tuple[int, int, int, int]
    bands: tuple[tuple[int, int, int], ...]

    @property
    def width(self) -> int:
        return self.box[2] - self.box[0]


def find_pane(image: np.ndarray, box: tuple[float, ...], rule: PaneRule, screen_scale: float = 1.0,
              min_mode: float | None = None) -> Pane | None:  # fmt: skip
    """The flat pane under ``box`` (image pixels xyxy), or None when there is none of a widget's size.

    ``min_mode``: the least share of ``box``'s pixels in the pane's colour (`PaneRule.min_mode`)."""
    h, w = image.shape[:2]
    x1, y1 = max(0, int(box[0]) + 2), max(0, int(box[1]) + 2)
    x2, y2 = min(w, int(np.ceil(box[2])) - 2), min(h, int(np.ceil(box[3])) - 2)
    if x2 - x1 < 4 or y2 - y1 < 4:
        return None
    colour, share = _mode_colour(image[y1:y2:2, x1:x2:2])
    if share < (rule.min_mode if min_mode is None else min_mode):
        return None
    found = _flat_region(image, colour, (x1, y1, x2, y2), rule.tolerance)
    if found is None:
        return None
    mask, (px1, py1, px2, py2) = found
    pw, ph = px2 - px1, py2 - py1
    if pw < rule.min_width * screen_scale or ph < rule.min_height * screen_scale:
        return None
    if pw * ph > rule.max_screen * w * h or mask.sum() < rule.min_flat * pw * ph:
        return None
    if px1 == 0 or py1 == 0 or px2 >= w or py2 >= h:  # open to the image's edge: not closed
        return None
    return Pane((px1, py1, px2, py2), tuple(ink_bands(mask)))


def fit_text_areas(
    image: np.ndarray,
    elements: list[Element],
    origin: tuple[float, float] = (0.0, 0.0),
    screen_scale: float = 1.0,
    rule: PaneRule | None = None,
    hints: Sequence[Element] = (),
) -> list[Element]:
    """Replace the detector's text-area hints by the panes they lie on (see the module docstring).

    ``elements`` are in screen pixels, ``image``'s top-left at ``origin``; ``hints`` are more detections
    (under the caller's threshold) that only point at panes and are never returned. A pane becomes a
    text area when it holds no widget the detector is sure of and either no ink at all, or text under a
    text-area hint (``rule.text_hint``) whose lines are not a list's (two or more lines, most shorter than
    half the pane). Its box is the pane grown by a one-pixel frame; its score 0.6 + 0.35 × the best
    text-area hint on it. Weak elements on it are dropped; text-area elements on no pane are demoted.
    """
    rule = rule or PaneRule()
    ox, oy = origin
    pointers = [*elements, *hints]
    panes: dict[tuple[int, int, int, int], tuple[Pane, list[int]]] = {}
    failed: set[int] = set()
    for i, e in enumerate(pointers):
        if (
            e.kind not in HINT_KINDS
            or e.score < rule.hint_min
            or (e.kind != "text_area" and e.score >= rule.sure)
        ):
            continue  # a sure row, bar or field is one
        if not (image.flags.writeable and image.flags.c_contiguous):  # cv2.floodFill wants both (only reads)
            image = np.ascontiguousarray(image).copy()
        local = (e.box[0] - ox, e.box[1] - oy, e.box[2] - ox, e.box[3] - oy)
        known = [p for p, _ in panes.values()]
        inside = box_cover([local], [p.box for p in known])[0]
        # a blank "row" is a hint; a row with text on it is a row (or a text area's line: its own hint)
        pane = known[int(inside.argmax())] if inside.size and inside.max() >= 0.9 else find_pane(
            image, local, rule, screen_scale, None if e.kind == "text_area" else rule.blank_row
        )  # fmt: skip
        if pane is None or box_cover([local], [pane.box])[0, 0] < 0.5:
            failed.add(i)
            continue
        panes.setdefault(pane.box, (pane, []))[1].append(i)
    accepted: list[tuple[tuple[float, ...], float, int]] = []
    for pane, on in panes.values():
        screen = (pane.box[0] + ox - 1, pane.box[1] + oy - 1, pane.box[2] + ox + 1, pane.box[3] + oy + 1)
        best = max((pointers[i].score for i in on if pointers[i].kind == "text_area"), default=0.0)
        if not _holds_text_area(pane, screen, best, elements, rule):
            failed.update(on)
            continue
        accepted.append((screen, 0.6 + 0.35 * best, on[0]))
    on_pane = (box_cover([e.box for e in elements], [s for s, _, _ in accepted]) >= 0.5).any(axis=1)
    out: list[Element] = []
    for i, e in enumerate(elements):
        if on_pane[i] and (e.kind == "text_area" or (e.kind in ON_PANE and e.score < rule.sure)):
            continue
        out.append(dataclasses.replace(e, score=e.score * rule.demote) if i in failed and e.kind == "text_area"
                   else e)  # fmt: skip
    for screen, score, source in accepted:
        out.append(dataclasses.replace(pointers[source], box=screen, kind="text_area", score=score, text=""))
    return sorted(out, key=lambda e: -e.score)


def _holds_text_area(pane: Pane, screen: tuple[float, ...], hint: float, elements: list[Element],
                     rule: PaneRule) -> bool:  # fmt: skip
    """Whether ``pane`` (at ``screen``, screen pixels) is a text area's, by what is on it and next to it."""
    inside = box_cover([e.box for e in elements], [screen])[:, 0]
    held = [e for e, share in zip(elements, inside, strict=True) if e.score >= rule.sure and share >= 0.8]
    if any(e.kind not in TEXT_KINDS for e in held):
        return False  # a panel of widgets
    height, width = screen[3] - screen[1], screen[2] - screen[0]
    if any(e.kind == "list_item" and e.box[3] - e.box[1] <= 0.35 * height for e in held):
        return False  # a list
    for e in elements:  # a list's selected row, the pane being the rest of the list below or above it
        if e.kind == "list_item" and e.score >= rule.sure and (
            abs(e.box[3] - screen[1]) <= 4 or abs(e.box[1] - screen[3]) <= 4
        ) and min(e.box[2], screen[2]) - max(e.box[0], screen[0]) >= 0.8 * width:  # fmt: skip
            return False
    if not pane.bands:
        return True
    if hint < rule.text_hint:
        return False
    # short lines one under another are a list's rows
    return len(pane.bands) < 2 or np.median([b[2] for b in pane.bands]) >= 0.5 * pane.width
