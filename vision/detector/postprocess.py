"""Raw detector outputs -> `Element`s in screen pixels.

Steps per image: sigmoid scores, best class per query, score threshold, cxcywh-in-canvas -> xyxy pixels,
undo the letterbox, clip to the screenshot, drop empty boxes, class-agnostic NMS (two queries that found
the same widget under different kinds keep only the surer one), add the capture origin.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch

from agent.types import Element
from vision.boxes import area_xyxy, box_cover, box_iou, cxcywh_to_xyxy, denormalize, nms
from vision.detector.processing import Letterbox


def decode(
    raw, i: int, canvas_size: tuple[int, int], score_threshold: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Queries of canvas ``i`` (``canvas_size`` (w, h) pixels) whose best class probability is >= ``score_threshold``.

    Returns:
        boxes [n, 4] xyxy canvas pixels, scores [n], class ids [n], embeddings [n, D] float32.
    """
    best, labels = torch.sigmoid(raw.logits[i].float()).max(dim=-1)  # [Q]
    keep = (best >= score_threshold).nonzero().flatten()
    boxes = denormalize(cxcywh_to_xyxy(raw.boxes[i, keep].float()).numpy(), *canvas_size)
    return boxes, best[keep].numpy(), labels[keep].numpy(), raw.embeddings[i, keep].float().numpy()


def postprocess(
    raw,
    letterboxes: list[Letterbox],
    classes: tuple[str, ...],
    *,
    score_threshold: float = 0.35,
    nms_iou: float = 0.7,
    max_detections: int | None = None,
    origin: tuple[float, float] = (0.0, 0.0),
    min_side: float = 1.0,
) -> list[list[Element]]:
    """Turn `RawDetections` (logits [B, Q, C], boxes [B, Q, 4], embeddings [B, Q, D]) into elements.

    Args:
        letterboxes: one per image, as returned by `Detector.prepare`.
        classes: class names, index = class id.
        score_threshold: keep queries whose best class probability is >= this.
        nms_iou: class-agnostic NMS threshold; >= 1 turns NMS off.
        max_detections: keep at most this many per image (highest scores).
        origin: added to every box (the screen pixel of the image's top-left corner).
        min_side: drop boxes narrower or lower than this many source pixels.

    Returns:
        Per image, elements sorted by descending score, ``embedding`` float32 [D], ``text`` empty.
    """
    out: list[list[Element]] = []
    for i, lb in enumerate(letterboxes):
        boxes, scores, kinds, emb = decode(raw, i, lb.canvas_size, score_threshold)
        boxes = lb.to_source(boxes)
        sides_ok = (boxes[:, 2] - boxes[:, 0] >= min_side) & (boxes[:, 3] - boxes[:, 1] >= min_side)
        ok = np.nonzero(sides_ok & (area_xyxy(boxes) > 0))[0]
        if nms_iou < 1 and len(ok):
            order = nms(boxes[ok], scores[ok], nms_iou)
            ok = ok[order]
        else:
            ok = ok[np.argsort(-scores[ok], kind="stable")]
        if max_detections is not None:
            ok = ok[:max_detections]
        ox, oy = origin
        out.append([
            Element(
                box=(boxes[j, 0] + ox, boxes[j, 1] + oy, boxes[j, 2] + ox, boxes[j, 3] + oy),
                kind=classes[int(kinds[j])],
                score=float(scores[j]),
                embedding=emb[j].astype(np.float32),
            )
            for j in ok
        ])  # fmt: skip
    return out


#: How much surer a label inside a menu item must be for `suppress_duplicates` to drop the menu item.
MISFRAMED_MARGIN = 0.1


#: Kinds that a menu item's text is misread as; inside a surer menu item `suppress_duplicates` drops them.
MENU_TEXT_MISREADS = frozenset({"tab", "link", "list_item", "button"})


def suppress_duplicates(elements: list[Element], iou: float = 0.5, covered: float = 0.8) -> list[Element]:
    """Drop a detection that repeats a surer one of the same kind: IoU above ``iou``, or most of it
    (``covered``) inside that one while covering at least a third of it (a slider found as a whole and as
    its left part). Widgets of one kind do not overlap on a screen, so the repeats only mislead a policy
    (measured on 30 held-out screens at score >= 0.35: precision 0.653 -> 0.726, recall 0.892 unchanged).

    A menu item around a label that is surer by `MISFRAMED_MARGIN` goes too: it is the label framed wide
    (a form's "Email:" caption as a menu item, which a policy clicks when the task names Email). On 60
    held-out screens 16 of 42 menu items on no menu item went, and none of the 6 real ones. The other way
    round, a tab, link, list item or button inside a surer menu item (`MENU_TEXT_MISREADS`), or a label
    inside one surer by the margin, is that item's text read as a widget, and goes. So does a menu item
    around a surer menu title (the menu bar read as a row of the menu opened under it).
    Returns the kept elements, surest first."""
    ranked = sorted(elements, key=lambda e: -e.score)
    if len(ranked) < 2:
        return ranked
    boxes = np.array([e.box for e in ranked], np.float64)
    kinds = np.array([e.kind for e in ranked])
    cover = box_cover(boxes, boxes)  # [i, k]: the share of box i inside box k
    overlap = (box_iou(boxes, boxes) > iou) | ((cover > covered) & (cover.T > 1 / 3))
    repeat = (kinds[:, None] == kinds[None, :]) & overlap
    # a menu item framing a label it is surer of by less than `MISFRAMED_MARGIN` is that label, framed
    # wide: a form's caption ("Email:") found twice, once as a menu item a task may name
    scores = np.array([e.score for e in ranked])
    holds = np.greater(cover.T, covered)  # [i, k]: box k is mostly inside box i
    surer = scores[None, :] >= scores[:, None] + MISFRAMED_MARGIN
    repeat |= (kinds[:, None] == "menu_item") & (kinds[None, :] == "label") & holds & surer
    # a menu item around a surer menu title is the menu bar read as a row of an open menu under it ("Edit
    # Tools" over the titles Edit and Tools); a policy clicking it clicks a title, never an item
    repeat |= (
        (kinds[:, None] == "menu_item")
        & (kinds[None, :] == "menu")
        & holds
        & (scores[None, :] > scores[:, None])
    )
    # and the other way round: a menu item's text found as a widget of its own inside it (a tab, a link),
    # or as a label the item is surer of by the margin
    inside_item = (kinds[None, :] == "menu_item") & np.greater(cover, covered)  # [i, k]: i inside item k
    misread = np.isin(kinds, list(MENU_TEXT_MISREADS))[:, None] & (scores[None, :] > scores[:, None])
    misread |= (kinds == "label")[:, None] & surer
    repeat |= inside_item & misread
    keep: list[int] = []
    for i in range(len(ranked)):
        if not repeat[i, keep].any():
            keep.append(i)
    return [ranked[i] for i in keep]


def drop_straddlers(elements: list[Element], touch: float = 0.08, held: float = 0.3) -> list[Element]:
    """``elements`` without those lying across the gap between two surer elements of their kind, in order.

    A box astride the gap between two stacked fields, touching both, is not a third field: a small form on
    a 1920-pixel screen reaches the detector at 0.42, its 6-pixel gaps as 2.5 pixels, and such a box (a
    third of each field and the gap between) drew the policy's click into the gap, where it focused
    nothing. Dropped: a box that has at least ``touch`` of its area in each of two surer boxes of its kind
    whose centres lie on opposite sides of its own (above and below, or left and right, by over a quarter
    of its extent), and ``held`` of it in the two together. Widgets of one kind do not overlap, so a true
    element has no such pair; list rows whose boxes reach a pixel or two into their neighbours stay.
    """
    if len(elements) < 3:
        return elements
    boxes = np.array([e.box for e in elements], np.float64)
    areas = np.maximum((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]), 1e-9)
    lt = np.maximum(boxes[:, None, :2], boxes[None, :, :2])
    rb = np.minimum(boxes[:, None, 2:], boxes[None, :, 2:])
    inside = np.prod(np.clip(rb - lt, 0, None), axis=2) / areas[:, None]  # [i, j]: share of i inside j
    centres = (boxes[:, :2] + boxes[:, 2:]) / 2
    scores = np.array([e.score for e in elements])
    kinds = np.array([e.kind for e in elements])
    drop = set()
    for i in range(len(elements)):
        touching = (kinds == kinds[i]) & (scores > scores[i]) & (inside[i] >= touch)
        touching[i] = False
        if touching.sum() < 2:
            continue
        side = (centres[touching] - centres[i]) / np.maximum(boxes[i, 2:] - boxes[i, :2], 1e-9)  # [k, 2]
        share = inside[i, touching]
        for axis in (0, 1):
            before, after = side[:, axis] < -0.25, side[:, axis] > 0.25
            if before.any() and after.any() and share[before].max() + share[after].max() >= held:
                drop.add(i)
    return [e for i, e in enumerate(elements) if i not in drop]


#: Kinds that hold no other widget: a box of one of them around a surer widget is a misreading. Text
#: fields are left out: on 200 held-out screens dropping them too cost text-field AP@0.5 0.849 -> 0.839.
TEXT_BOXES = frozenset({"text_area"})
#: Widgets such a box cannot hold (labels and icons can be misread text inside one, so they do not count).
HELD_WIDGETS = frozenset({"button", "text_field", "checkbox", "radio", "combo", "slider", "spin"})


def drop_text_boxes_around_widgets(elements: list[Element], covered: float = 0.8) -> list[Element]:
    """``elements`` without text areas (`TEXT_BOXES`) that hold a surer widget, in order.

    A text area holds only text. One that holds a surer button, field, checkbox, radio, combo,
    slider or spin box (``covered`` of it inside) is the panel around them misread: on a held-out wizard
    page the empty page under two fields came back as a text area at 0.41, over the fields at 0.8.
    """
    if len(elements) < 2:
        return elements
    boxes = np.array([e.box for e in elements], np.float64)
    scores = np.array([e.score for e in elements])
    kinds = np.array([e.kind for e in elements])
    inside = box_cover(boxes, boxes) >= covered  # [j, i]: box j mostly inside box i
    held = inside & np.isin(kinds, list(HELD_WIDGETS))[:, None] & (scores[:, None] > scores[None, :])
    drop = np.isin(kinds, list(TEXT_BOXES)) & held.any(axis=0)
    return [e for e, d in zip(elements, drop, strict=True) if not d]


#: Widgets whose own text the detector also reports as a label inside them ("8 min" in a spin box).
TEXT_HOLDERS = frozenset({"spin", "combo", "text_field"})


def drop_field_text_repeats(elements: list[Element], covered: float = 0.8) -> list[Element]:
    """``elements`` without labels that repeat the text of a surer spin box, combo or text field they lie
    in (``covered`` of the label inside it), in order. Needs the elements' text (after OCR).

    The detector now and then finds a field's text a second time as a weak label: held-out "I need
    Retries = 5." showed the spin box "8 min" at 0.73 with a label "8 min" at 0.37 inside it, and two
    policies trained from scratch (runs/policy_s22, s22n) scrolled away from the form; without the label
    they clicked the spin box, as on ground truth. A label never lies inside a field."""
    labels = [i for i, e in enumerate(elements) if e.kind == "label" and (e.text or "").strip()]
    fields = [i for i, e in enumerate(elements) if e.kind in TEXT_HOLDERS and (e.text or "").strip()]
    if not labels or not fields:
        return elements
    boxes = np.array([elements[i].box for i in labels], np.float64)
    holders = np.array([elements[i].box for i in fields], np.float64)
    inside = box_cover(boxes, holders) >= covered  # [label, field]
    drop = set()
    for a, i in enumerate(labels):
        text = elements[i].text.strip().casefold()
        for b, k in enumerate(fields):
            field_text = elements[k].text.strip().casefold()
            if inside[a, b] and elements[k].score > elements[i].score and text in field_text:
                drop.add(i)
                break
    return [e for i, e in enumerate(elements) if i not in drop]


def combo_popup_rows(elements: list[Element], *, sure: float = 0.35, align: float = 6.0,
                     reach: float = 12.0) -> list[Element]:  # fmt: skip
    """``elements`` with the "menu items" of an open combo box's popup called list rows, in order.

    A combo's popup is a list hung under the combo, its left edge on the combo's and no wider (the
    sandbox's truth, and the kind the policy learnt, is list_item), but it looks like a menu: on the 200
    held-out screens the detector called such rows menu items at up to 0.76, above many true menu items.
    A menu item starting within ``align`` pixels of a combo's left edge (score >= ``sure``), ending past
    the combo's middle and no further than its right edge, and lying below it by at most ``reach`` of
    its own heights is one of those rows. Menus hang from menu bars and tool buttons, not from combos.
    """
    combos = [c.box for c in elements if c.kind == "combo" and c.score >= sure]
    if not combos:
        return elements
    out = []
    for e in elements:
        if e.kind == "menu_item":
            x1, y1, x2, y2 = e.box
            for cx1, _, cx2, cy2 in combos:
                if abs(x1 - cx1) <= align and (cx1 + cx2) / 2 <= x2 <= cx2 + align and (
                    -2 <= y1 - cy2 <= reach * (y2 - y1)
                ):  # fmt: skip
                    e = dataclasses.replace(e, kind="list_item")
                    break
        out.append(e)
    return out


#: Grey levels by which a slider's groove or handle differs from its column's usual grey within the box.
GROOVE_INK = 12.0


def fit_slider_grooves(
    image: np.ndarray, elements: list[Element], origin: tuple[float, float] = (0.0, 0.0), gap: int = 2
) -> list[Element]:
    """``elements`` with each horizontal slider's left and right edges moved to its groove's ends, in place.

    The detector often boxes a long slider short: held-out task 263's 612-px slider (at a device pixel
    ratio of 1.5, inside one tile) came back 228 px wide, its handle's position was read against that
    width (100% for 80%), and the policy pressed arrow keys 40 times. The pixels say where it ends. In
    the box's rows, a column on the groove or the handle has a pixel that differs from the column's
    median by more than `GROOVE_INK` (the groove is a thin line, the rest background); the run of such
    columns (gaps of up to ``gap`` columns bridged) through the one nearest the box's centre is the
    slider, and its ends are the box's; a run goes on across a handle whose columns are flat in the
    box's rows (`_handle_between`). A value label beside it ("46") lies past the layout's spacing
    and stays out. Boxes are image pixels + ``origin``.
    On the sliders of 200 held-out screens: 47 of 51 with both ends within 3 px, against 37 of 51 as
    detected."""
    from vision.detector.rows import to_gray

    ox, oy = origin
    h, w = image.shape[:2]
    for e in elements:
        if e.kind != "slider":
            continue
        x1, y1, x2, y2 = (
            int(np.floor(v + 0.5)) for v in (e.box[0] - ox, e.box[1] - oy, e.box[2] - ox, e.box[3] - oy)
        )
        x1, y1, x2, y2 = max(0, x1), max(0, y1), min(w, x2), min(h, y2)
        if y2 - y1 < 4 or x2 - x1 < 2 * (y2 - y1):  # too small, or not lying down
            continue
        band = to_gray(image[y1:y2])  # the box's rows, the screen's width
        off = np.abs(band - np.median(band, axis=0)) > GROOVE_INK
        on = np.flatnonzero(off.any(axis=0))
        inside = on[(on >= x1) & (on < x2)]
        if inside.size == 0:
            continue
        centre = int(inside[np.argmin(np.abs(inside - (x1 + x2 - 1) / 2))])
        # runs of such columns, split where more than ``gap`` columns in a row are not on the slider
        starts = np.concatenate([[0], np.flatnonzero(np.diff(on) > gap + 1) + 1])
        ends = np.concatenate([starts[1:], [len(on)]]) - 1
        k = int(np.searchsorted(starts, int(np.searchsorted(on, centre)), side="right")) - 1
        first, last = k, k
        groove = np.median(band[:, on[starts[k]] : on[ends[k]] + 1], axis=1)
        while first > 0 and _handle_between(band, off, groove, on, ends[first - 1], starts[first]):
            first -= 1
        while last + 1 < len(starts) and _handle_between(band, off, groove, on, ends[last], starts[last + 1]):
            last += 1
        e.box = (float(on[starts[first]] + ox), e.box[1], float(on[ends[last]] + 1 + ox), e.box[3])
    return elements


def _handle_between(
    band: np.ndarray, off: np.ndarray, groove: np.ndarray, on: np.ndarray, left: int, right: int, side: int = 4
) -> bool:  # fmt: skip
    """Whether the flat columns between ``on[left]`` and ``on[right]`` are a handle on a groove that goes
    on past it: a box whose rows lie inside the handle (a region re-detect after a drag) sees the handle's
    columns as flat, not as slider. It is one when the gap is at most two box heights, holds a column
    unlike the background in most of the box's rows (the handle's border; the space before a caption or
    a value label is background), and the ``side`` columns on either side are groove alike: the same
    few rows differ (a caption's or value's glyphs differ in many rows).
    ``band``: the box's rows (grey), ``off``: its pixels differing from their column, ``groove``: each
    row's usual grey along the slider found so far."""
    height = band.shape[0]
    if on[right] - on[left] - 1 > 2 * height:
        return False
    flat = band[:, on[left] + 1 : on[right]]
    if not (np.abs(flat - groove[:, None]) > GROOVE_INK).mean(axis=0).max() >= 0.8:
        return False
    a = off[:, on[max(0, left - side + 1) : left + 1]].any(axis=1)
    b = off[:, on[right : right + side]].any(axis=1)
    thin = max(2, int(0.75 * height))  # a short box's groove takes most of its rows
    return a.sum() <= thin and b.sum() <= thin and (a & b).sum() >= 0.5 * (a | b).sum()


#: A slider in which no handle stands out (`vision.widget_state.slider_position` finds none) keeps this
#: share of its score: most such boxes are a group box's frame line or a divider, not a slider.
HANDLELESS_SLIDER = 0.5


def demote_handleless_sliders(
    image: np.ndarray, elements: list[Element], origin: tuple[float, float] = (0.0, 0.0),
    factor: float = HANDLELESS_SLIDER,
) -> list[Element]:  # fmt: skip
    """``elements`` with the score of each slider that shows no handle multiplied by ``factor``, in place.

    On 120 held-out screens, of the slider detections scoring 0.2 or more, 45 of the 68 that overlap no
    slider by IoU 0.5 showed no handle (a group box's top line beside its "Payment" title, at 0.38, was
    taken for a slider captioned "Payment", and the policy dragged it to pick a payment radio), against
    3 of the 46 that do. Kept, not dropped: a slider boxed past its handle still counts, lower."""
    from vision.widget_state import slider_position

    ox, oy = origin
    for e in elements:
        if e.kind == "slider":
            x1, y1, x2, y2 = e.box
            if slider_position(image, (x1 - ox, y1 - oy, x2 - ox, y2 - oy)) is None:
                e.score = float(e.score) * factor
    return elements
