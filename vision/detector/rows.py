"""Snap a list's detected rows to its lines of text.

A list or a popup's rows are uniform, 14-18 px tall on a 1280×800 screen, about 10 px at the detector's
input scale. The detector finds that a column holds rows but places them poorly: on held-out screens a
list of 8 rows came back as 20 boxes at scores 0.4-0.6, offset from the rows by up to half a row. Half of
the held-out list items it missed had a detection there at IoU < 0.5, and it reported 242 list-item
boxes on no item (60 screens). An open combo popup then loses the row the task wants.

The pixels say where the rows are. Along a row's line of text the grey level varies across the column;
between two rows it does not (a selected row's highlight is as flat as the white around it). So within a
column of row detections (`ROW_KINDS` boxes that share their left and right edges) each band of pixel
rows that vary across the column is a line of text, and a row is its band plus half the gap to the next.
The column's detections become one row per band, and a band between two detected rows that no detection
claimed becomes a row too; so does each band under one box that spans several rows (a whole list found
as one item). The detections carry over: each goes to the row it overlaps most, which
takes the surest one's kind, score and embedding (a row no detection claimed takes the nearest one's
kind and the column's median score).

The column also grows past its first and last detections over the rows that continue it: bands at the
column's pitch (gaps no wider than twice the usual one or half a row, bands no taller than 1.6 rows) on
the same background, whose text starts where the first detected row's does, with no line between.
The detector often finds only the first rows of an open combo popup (5 of 9, 'India' among the missed),
and a policy cannot pick a row it is not shown. A separator, the list's frame or another background
ends the growth.

A column whose bands are not lines of text (one taller than 1.6 rows: an image, a multi-line item) is
left as detected. So are detections below ``min_score``, which only COCO mAP's ranking reads.
"""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np

from agent.types import Element

#: Kinds that come in columns of uniform rows: list items (lists, combo popups) and menu items.
ROW_KINDS = frozenset({"list_item", "menu_item"})


@dataclasses.dataclass(frozen=True)
class RowSnapper:
    """Snap `ROW_KINDS` detections to the lines of text in their column (see the module docstring).

    Attributes:
        min_score: detections below it are left alone (perception keeps >= 0.35).
        ink: a pixel row is part of a line of text when its grey levels' standard deviation across the
            column is above this (0-255 scale; flat rows measure 0, anti-aliased text edges ~5).
        inset: pixels dropped at each side of the column (the list's frame, a focus ring).
        edge_tolerance: how far (px, or this share of the width if larger) two boxes' left and right edges
            may differ for them to share a column.
        grow: at most this many rows are added above the first and below the last detection (0: none).
        background_tolerance: grey levels by which a row added by growing may differ from the column's
            background (the median grey of its detected rows).
    """

    min_score: float = 0.3
    ink: float = 6.0
    inset: int = 3
    edge_tolerance: float = 0.04
    grow: int = 40
    background_tolerance: float = 8.0

    def __call__(
        self, image: np.ndarray, elements: list[Element], origin: tuple[float, float] = (0.0, 0.0)
    ) -> list[Element]:
        """``elements`` of ``image`` (boxes in screen pixels: image pixels + ``origin``) with the rows of
        each column snapped; the other elements are returned as they are, in the same order first."""
        rows = [e for e in elements if e.kind in ROW_KINDS and e.score >= self.min_score]
        if not rows:
            return elements
        gray = to_gray(image)
        out = [e for e in elements if not (e.kind in ROW_KINDS and e.score >= self.min_score)]
        for column in self._columns(rows):
            out.extend(self._snap(gray, column, origin))
        return out

    # ------------------------------------------------------------------------------------------ steps
    def _columns(self, rows: list[Element]) -> list[list[Element]]:
        """Group boxes that share their left and right edges (a column's are its surest box's), then cut
        each column where two boxes that follow one another down the screen are over two rows apart."""
        columns: list[list[Element]] = []
        for e in sorted(rows, key=lambda e: -e.score):
            for c in columns:
                cx1, _, cx2, _ = c[0].box
                tol = max(8.0, self.edge_tolerance * (cx2 - cx1))
                if abs(e.box[0] - cx1) <= tol and abs(e.box[2] - cx2) <= tol:
                    c.append(e)
                    break
            else:
                columns.append([e])
        groups: list[list[Element]] = []
        for c in columns:
            height = float(np.median([e.box[3] - e.box[1] for e in c]))
            run: list[Element] = []
            for e in sorted(c, key=lambda e: e.box[1]):
                if run and e.box[1] > max(o.box[3] for o in run) + 2 * height:
                    groups.append(run)
                    run = []
                run.append(e)
            groups.append(run)
        return groups

    def _snap(self, gray: np.ndarray, column: list[Element], origin: tuple[float, float]) -> list[Element]:
        ox, oy = origin
        x1 = float(np.median([e.box[0] for e in column]))
        x2 = float(np.median([e.box[2] for e in column]))
        height = float(np.median([e.box[3] - e.box[1] for e in column]))
        top, bottom = min(e.box[1] for e in column), max(e.box[3] for e in column)
        cx1, cx2 = max(0, round(x1 - ox) + self.inset), min(gray.shape[1], round(x2 - ox) - self.inset)
        grow = self.grow
        reach = (grow + 1) * height
        cy1, cy2 = max(0, int(top - oy - reach)), min(gray.shape[0], int(bottom - oy + reach) + 1)
        if cx2 - cx1 < 8 or cy2 - cy1 < 4 or height < 4:
            return column
        crop = gray[cy1:cy2, cx1:cx2]
        found = [(a + cy1 + oy, b + cy1 + oy) for a, b in text_bands(crop, self.ink)]
        inside = [i for i, (a, b) in enumerate(found) if top <= (a + b) / 2 <= bottom]  # the detections span
        if not inside or any(b - a > 1.6 * height for a, b in found[inside[0] : inside[-1] + 1]):
            return column  # not lines of text
        first, last = inside[0], inside[-1]
        if grow:
            # a popup's rows start their text where its first detected row does (a menu's items are
            # left-aligned; text under the popup is not), and no frame line or separator cuts them: without
            # this a column of weak rows (0.40) grew over a survey's radio rows and group titles, 11-12 false
            # menu items on 4 of 10 groups (held-out 200: mAP 0.7544 -> 0.7561, menu_item AP@0.5 0.693 ->
            # 0.724 with it)
            align = _ink_start(crop, found[first], cy1 + oy)
            first, last = self._grow(crop, found, first, last, height, cy1 + oy, grow, align)
        bands = found[first : last + 1]
        edges = row_edges(bands, height)
        claims = self._claims(column, edges)
        claimed = [i for i, c in enumerate(claims) if c]
        if not claimed:
            return column
        # one column, one kind: a combo's popup is drawn as a menu or as a list, never as both, so its
        # rows take the kind its detections vote for (weighted by score)
        votes: dict[str, float] = {}
        for e in column:
            votes[e.kind] = votes.get(e.kind, 0.0) + e.score
        kind = max(votes, key=votes.__getitem__)
        out: list[Element] = []
        for i, (lo, hi) in enumerate(edges):
            if claims[i]:
                like = max(claims[i], key=lambda e: e.score)
                score = like.score
            elif claimed[0] < i < claimed[-1] or grow:  # a row between detected ones, or one that
                # continues the column: like the nearest, as sure as the column's median detection
                mid = (lo + hi) / 2
                like = min((claims[k][0] for k in claimed), key=lambda e: abs(e.center[1] - mid))
                score = float(np.median([e.score for e in column]))
            else:
                continue
            out.append(
                dataclasses.replace(
                    like, box=(x1, lo, x2, hi), kind=kind, score=score, state=dict(like.state)
                )
            )
        return out

    def _grow(self, crop: np.ndarray, bands: list[tuple[float, float]], first: int, last: int,
              height: float, y0: float, grow: int, align: int | None = None) -> tuple[int, int]:  # fmt: skip
        """Indices of the first and last band once the column [first, last] has grown over the bands that
        continue it (see the module docstring); ``crop`` is the grey column, ``y0`` its top in screen
        pixels; with ``align``, a band continues the column only if its text starts within 3 px of that
        column of ``crop``, and its height and the first band's differ by at most 1.8× ("ace" against "Ty")."""
        span = bands[first : last + 1]
        gaps = [b[0] - a[1] for a, b in itertools.pairwise(span)]
        gap = float(np.median(gaps)) if gaps else 0.4 * height
        pitch = float(np.median([b - a for a, b in span])) + gap
        r0, r1 = int(span[0][0] - y0), int(span[-1][1] - y0)
        background = float(np.median(crop[r0:r1]))
        # each detected row's own background too: of two rows found, one may be the selected one, drawn
        # on the highlight colour, which then is most of the span and its median
        looks = [background] + [float(np.median(crop[int(a - y0) : int(b - y0)])) for a, b in span]

        wide = max(2 * gap + 1, 0.5 * height)  # a gap beyond this ends the column (a separator, the end)

        def continues(a: tuple[float, float], b: tuple[float, float], below: bool) -> bool:
            """Band ``b`` follows band ``a`` (a above b) as the column's next row; ``below``: ``b`` is the
            new one (growing down), else ``a`` (growing up)."""
            if (
                b[1] - b[0] > 1.6 * height
                or b[0] - a[1] > wide
                or (b[0] + b[1] - a[0] - a[1]) / 2 > 1.6 * pitch
            ):
                return False
            # the new row and the gap to the column: the row it continues may be the selected one, drawn
            # on the highlight colour ("Japan" in an open combo), and must not end the column
            rows = crop[int(a[1] - y0) : int(b[1] - y0)] if below else crop[int(a[0] - y0) : int(b[0] - y0)]
            if rows.size == 0:
                return False
            if min(abs(float(np.median(rows)) - m) for m in looks) > self.background_tolerance:
                return False
            if align is None:
                return True
            gap_rows = crop[int(a[1] - y0) : int(b[0] - y0)]
            near = a if below else b  # the row the column goes on from
            fill = float(np.median(crop[int(near[0] - y0) : int(near[1] - y0)]))
            if gap_rows.size and self._line_across(gap_rows, looks, fill, from_top=below):
                return False  # a frame line or a separator between them: the popup ends there
            own = span[0][1] - span[0][0]
            start = _ink_start(crop, b, y0)
            tall = max(b[1] - b[0], own) / max(1.0, min(b[1] - b[0], own))
            return start is not None and abs(start - align) <= 3 and tall <= 1.8

        for _ in range(grow):
            if first == 0 or not continues(bands[first - 1], bands[first], below=False):
                break
            first -= 1
        for _ in range(grow):
            if last + 1 >= len(bands) or not continues(bands[last], bands[last + 1], below=True):
                break
            last += 1
        return first, last

    def _line_across(self, gap: np.ndarray, looks: list[float], fill: float, from_top: bool) -> bool:
        """Whether a frame line or a separator crosses ``gap`` (grey rows between two bands): a row unlike
        every background the column shows (``looks``), flat or far off. The row the column goes on from
        (``fill``, its median grey; ``from_top``: it is above the gap) may be the selected one, whose
        highlight runs into the gap and ends in a 1-2 px border before the next row's background; that
        border is no line across the column. (A separator has the same background on both sides.)"""
        tol = self.background_tolerance
        means = gap.mean(axis=1)
        off = np.min([np.abs(means - m) for m in looks], axis=0)
        line = (off > 3 * tol) | ((off > 10) & (gap.std(axis=1) < 4))
        order = list(range(len(means))) if from_top else list(range(len(means) - 1, -1, -1))
        k = 0
        while k < len(order) and abs(means[order[k]] - fill) <= tol:
            k += 1
        border = [i for i in order[k : k + 2] if line[i]]
        after = order[k + len(border)] if k + len(border) < len(order) else None
        if k and border and after is not None and not line[after] and abs(means[after] - fill) > tol:
            line[border] = False
        return bool(line.any())

    @staticmethod
    def _claims(column: list[Element], edges: list[tuple[float, float]]) -> list[list[Element]]:
        """The detections each row takes: a detection goes to the row it overlaps most, and one box over
        several rows (taller than 1.8 rows) goes to every row whose middle it holds."""
        pitch = float(np.median([hi - lo for lo, hi in edges]))
        claims: list[list[Element]] = [[] for _ in edges]
        for e in column:
            inside = [i for i, (lo, hi) in enumerate(edges) if e.box[1] <= (lo + hi) / 2 <= e.box[3]]
            if len(inside) > 1 and e.box[3] - e.box[1] > 1.8 * pitch:
                for i in inside:
                    claims[i].append(e)
                continue
            overlap = [min(e.box[3], hi) - max(e.box[1], lo) for lo, hi in edges]
            k = int(np.argmax(overlap))
            if overlap[k] > 0:
                claims[k].append(e)
        return claims


def row_edges(bands: list[tuple[float, float]], height: float) -> list[tuple[float, float]]:
    """(top, bottom) of the row around each band of text: halfway to the next band where the gap is a
    usual one (at most twice the median gap), else half the median gap beyond the band (a separator, the
    list's end)."""
    gaps = [b[0] - a[1] for a, b in itertools.pairwise(bands)]
    gap = float(np.median(gaps)) if gaps else height - (bands[0][1] - bands[0][0])
    gap = min(max(gap, 0.0), height)
    edges = []
    for i, (a, b) in enumerate(bands):
        above = bands[i - 1][1] if i else None
        below = bands[i + 1][0] if i + 1 < len(bands) else None
        lo = (above + a) / 2 if above is not None and a - above <= 2 * gap + 1 else a - gap / 2
        hi = (b + below) / 2 if below is not None and below - b <= 2 * gap + 1 else b + gap / 2
        edges.append((float(lo), float(hi)))
    return edges


def text_bands(gray: np.ndarray, ink: float = 6.0) -> list[tuple[int, int]]:
    """(start, end) pixel rows (end exclusive) of the lines of text in ``gray`` [h, w]: runs of rows whose
    grey levels vary across the crop (standard deviation above ``ink``); runs under 3 rows (the dots of a
    line of i's, a stray pixel) are dropped. Dense lists leave one flat row between two lines, so a
    one-row gap separates lines."""
    varies = np.concatenate([[False], gray.std(axis=1) > ink, [False]])
    edges = np.flatnonzero(varies[1:] != varies[:-1])  # run starts and ends, alternating
    return [(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2], strict=True) if b - a >= 3]


def _ink_start(crop: np.ndarray, band: tuple[float, float], y0: float) -> int | None:
    """The first column of ``crop`` where the text of ``band`` (rows in screen pixels, ``y0`` the crop's
    top) starts: the first that differs from the band's median grey by over 40 levels; None when none
    does."""
    rows = crop[max(0, int(band[0] - y0)) : max(0, int(band[1] - y0))]
    if rows.size == 0:
        return None
    inked = np.flatnonzero((np.abs(rows - np.median(rows)) > 40).any(axis=0))
    return int(inked[0]) if inked.size else None


def to_gray(image: np.ndarray) -> np.ndarray:
    """Luma (ITU-R 601) of an H×W×3 (or more channels) uint8 image as float32; a 2-D image as it is."""
    if image.ndim == 2:
        return image.astype(np.float32)
    rgb = image[..., :3].astype(np.float32)
    return rgb @ np.array([0.299, 0.587, 0.114], np.float32)
