"""Text of detected elements, read with rapidocr's recogniser (PP-OCR models ship inside its wheel).

Only recognition runs: the detector already found where the text is, so text detection (the slow part
of full-screen OCR) is skipped. Crops are read in batches of similar aspect, and every result is cached
by a hash of the crop's pixels, so an element that did not change is never read twice.

Checkbox and radio boxes include their indicator; the recogniser reads it as a character ("O Free",
"✓ Airplane mode"), so the indicator (the first inked column run, up to the gap before the text) is cut
off first. The recogniser reads one line: crops with several lines (paragraphs, text areas) are split at
blank rows and the lines are read in the same batch.
"""

from __future__ import annotations

import hashlib
import logging
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from agent.types import Element

#: kinds whose text the policy needs; icons, sliders and progress bars carry none worth reading
TEXT_KINDS = frozenset({"button", "text_field", "checkbox", "radio", "combo", "spin", "tab", "menu", "menu_item",
                        "list_item", "link", "label", "text_area"})  # fmt: skip
_INDICATOR_KINDS = frozenset({"checkbox", "radio"})
#: kinds that show a text cursor when focused
_EDITABLE_KINDS = frozenset({"text_field", "text_area", "spin", "combo"})
#: kinds with arrow buttons at the right end (spin's up/down, combo's drop-down); the detector confuses
#: the two, so both lose the same square at the right
_ARROW_KINDS = frozenset({"spin", "combo"})
#: kinds that hold one line of text: a taller box (a loose detection over a list) keeps its middle line
_ONE_LINE_KINDS = TEXT_KINDS - {"label", "text_area"}


@dataclass
class OcrStats:
    """Counters since creation: crops asked for, cache hits, crops actually recognised."""

    requested: int = 0
    hits: int = 0
    recognised: int = 0


class OCR:
    """Batched, cached recognition of element crops.

    Args:
        threads: onnxruntime intra-op threads.
        batch_size: crops per recogniser call.
        cache_size: crop results kept (LRU).
        min_score: results the recogniser is less sure of become ''.
        pad: pixels of context added around each box.
        runtime: ``"torch"`` or ``"onnxruntime"`` keeps rapidocr's onnxruntime session; ``"openvino"``
            compiles the same ONNX model with OpenVINO; ``"auto"`` picks OpenVINO where it runs bf16
            (installed, and the CPU computes bf16 natively), else onnxruntime. The names match
            `Perception.load`'s, where "torch" means "no OpenVINO". Without native bf16 OpenVINO gains
            nothing here: each batch has its own width, and a new input shape costs OpenVINO ~7 ms a call,
            so on 100 held-out screens (an AVX2-only CPU, fp32) onnxruntime took 10.2 s of recogniser time
            and OpenVINO 15.5 s, reading the same texts.
        min_width: the narrowest line the recogniser is given, in multiples of its input height (48 px);
            a narrower line is padded in grey. rapidocr pads every line to 320 px (6.7 heights), while
            most element texts are 1–4 heights wide. Exact match on the 200 held-out / 200 validation
            screens (ground-truth boxes), and the columns read on the held-out ones, against 320 px:
            6.7: 98.60% / 97.85%, 1.00×; 2.5: 98.66% / 97.66%, 0.60×; 1: 98.62% / 97.53%, 0.58×. The
            recogniser reads spaces and capitals better with some grey beside a short line ("20 px" read
            "20px"). OCR of the bench's screens: 285 ms at 2.5, 280 at 1, 482 at 6.7 (one run,
            alternating, before `fit_line`).
        precision: fp32|bf16|auto, for OpenVINO only. On 100 held-out screens (2,238 elements, ground-truth
            boxes, lines trimmed) bf16 read 98.93% exactly, as onnxruntime did, in about half
            the time on a 2-core AMX CPU; ``auto`` uses bf16 only on CPUs that compute it natively.
        trim: cut each line to its inked columns and skip blank ones (`trim_blank`): exact match
            97.77% -> 98.93% on the same elements, and less to recognise.
    """

    def __init__(
        self,
        threads: int = 2,
        batch_size: int = 16,
        cache_size: int = 8192,
        min_score: float = 0.5,
        pad: int = 2,
        runtime: str = "onnxruntime",
        precision: str = "auto",
        trim: bool = True,
        min_width: float = 2.5,
    ):
        from vision.accel import native_bf16, resolve_precision, resolve_runtime

        if runtime == "auto" and not (native_bf16() and precision in ("auto", "bf16")):
            runtime = "onnxruntime"
        if runtime != "onnxruntime":
            runtime = resolve_runtime(runtime)
        self.runtime = "openvino" if runtime == "openvino" else "onnxruntime"
        self.precision = resolve_precision(precision) if self.runtime == "openvino" else "fp32"
        if min_width <= 0:
            raise ValueError(f"min_width must be positive, got {min_width}")
        self.threads, self.batch_size, self.cache_size = threads, batch_size, cache_size
        self.min_score, self.pad, self.trim, self.min_width = min_score, pad, trim, min_width
        self._cache: OrderedDict[bytes, tuple[str, float]] = OrderedDict()
        self._rec = None
        self.stats = OcrStats()

    def _recogniser(self):
        if self._rec is None:
            logging.getLogger("RapidOCR").setLevel(logging.WARNING)
            from rapidocr import RapidOCR

            engine = RapidOCR(
                params={
                    "Global.use_det": False,
                    "Global.use_cls": False,
                    "Global.log_level": "warning",
                    "Rec.rec_batch_num": self.batch_size,
                    "EngineConfig.onnxruntime.intra_op_num_threads": self.threads,
                    "EngineConfig.onnxruntime.inter_op_num_threads": 1,
                }
            )
            rec = engine._load_rec_model()  # recognition only; the detector gives the boxes
            channels, height = rec.rec_image_shape[:2]
            rec.rec_image_shape = [channels, height, max(8, round(height * self.min_width))]
            if self.runtime == "openvino":
                from vision.accel import OpenVinoSession

                # the same ONNX file rapidocr loaded into onnxruntime, compiled with OpenVINO instead
                path = rec.session.session._model_path
                rec.session = OpenVinoSession(path, precision=self.precision, threads=self.threads)
            self._rec = rec
        return self._rec

    @staticmethod
    def crop_key(crop: np.ndarray) -> bytes:
        """Cache key of an h×w×3 uint8 crop: its shape and a 128-bit hash of its pixels."""
        h = hashlib.blake2b(np.ascontiguousarray(crop).data, digest_size=16)
        h.update(np.asarray(crop.shape, dtype=np.int64).tobytes())
        return h.digest()

    def read(self, crops: list[np.ndarray]) -> list[tuple[str, float]]:
        """Recognise h×w×3 uint8 RGB crops -> [(text, score)], cached; empty crops give ('', 0)."""
        out: list[tuple[str, float] | None] = [None] * len(crops)
        todo: dict[bytes, list[int]] = {}
        for i, crop in enumerate(crops):
            self.stats.requested += 1
            if crop.size == 0 or crop.shape[0] < 4 or crop.shape[1] < 4:
                out[i] = ("", 0.0)
                continue
            key = self.crop_key(crop)
            hit = self._cache.get(key)
            if hit is not None:
                self._cache.move_to_end(key)
                self.stats.hits += 1
                out[i] = hit
            else:
                todo.setdefault(key, []).append(i)
        if todo:
            from rapidocr.ch_ppocr_rec.typings import TextRecInput

            # one call per width bucket, each crop scaled to the recogniser's height and padded in grey to
            # its bucket's width, so every input of a call has the same shape: the recogniser pads a batch
            # to its widest member, and a 290-px "Log in" button batched beside a 21:1 line read "0Log in"
            # (held-out task 151); and a focused "Continue" button, given 125 px alone, was read
            # "[Continue" at the 126 px of the radio buttons batched with it (held-out task 33). A crop's
            # text is then its own, whatever shares the screen, as the cache keyed by its pixels assumes.
            rec = self._recogniser()
            _, height, least = rec.rec_image_shape[:3]
            buckets: dict[int, list[bytes]] = {}
            for k in todo:
                buckets.setdefault(ratio_bucket(crops[todo[k][0]]), []).append(k)
            keys, txts, scores = [], [], []
            for bucket, group in sorted(buckets.items()):
                width = max(int(least), int(np.ceil(height * RATIO_STEP**bucket - 1e-9)))
                # rapidocr models take BGR like the PaddleOCR originals.
                batch = [np.ascontiguousarray(fit_line(crops[todo[k][0]], height, width)[:, :, ::-1])
                         for k in group]  # fmt: skip
                result = rec(TextRecInput(img=batch))
                keys += group
                txts += list(result.txts)
                scores += list(result.scores)
            self.stats.recognised += len(keys)
            for k, text, score in zip(keys, txts, scores, strict=True):
                value = (text.strip(), float(score)) if score >= self.min_score else ("", float(score))
                self._cache[k] = value
                for i in todo[k]:
                    out[i] = value
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        return out  # type: ignore[return-value]

    def element_crop(
        self, image: np.ndarray, box: tuple[float, float, float, float], kind: str
    ) -> np.ndarray:
        """The pixels to read for an element: its box (image pixels) plus ``pad``, minus any indicator."""
        h, w = image.shape[:2]
        x1, y1, x2, y2 = box
        if x2 - x1 < 3 or y2 - y1 < 3:  # nothing legible; padding would only add background
            return image[:0, :0]
        x1, y1 = max(0, int(x1) - self.pad), max(0, int(y1) - self.pad)
        x2, y2 = min(w, int(np.ceil(x2)) + self.pad), min(h, int(np.ceil(y2)) + self.pad)
        crop = image[y1:y2, x1:x2]
        if kind in _INDICATOR_KINDS:
            crop = crop[:, _indicator_end(crop) :]
        if kind in _ARROW_KINDS and crop.shape[1] > 3 * crop.shape[0]:
            crop = crop[:, : crop.shape[1] - crop.shape[0]]  # the arrows read as a digit or a symbol
        if kind in _EDITABLE_KINDS:
            crop = _erase_cursor(crop, margin=self.pad + 3)
        return crop

    def element_lines(
        self, image: np.ndarray, box: tuple[float, float, float, float], kind: str
    ) -> list[np.ndarray]:
        """`element_crop` split into text lines (the recogniser reads one line at a time)."""
        crop = self.element_crop(image, box, kind)
        if crop.size == 0:
            return [crop]
        lines = split_lines(crop, middle=kind in _ONE_LINE_KINDS)
        return [trim_blank(line) for line in lines] if self.trim else lines

    def read_elements(
        self, image: np.ndarray, elements: list[Element], origin: tuple[float, float] = (0.0, 0.0)
    ) -> list[Element]:
        """Fill ``text`` of the elements whose kind carries text (in place; also returned).

        ``image`` is H×W×3 uint8; element boxes are screen pixels, i.e. image pixels + ``origin``.
        """
        ox, oy = origin
        todo = [e for e in elements if e.kind in TEXT_KINDS]
        texts = self.read_boxes(image, [(e.box[0] - ox, e.box[1] - oy, e.box[2] - ox, e.box[3] - oy) for e in todo],
                                [e.kind for e in todo])  # fmt: skip
        for e, text in zip(todo, texts, strict=True):
            e.text = text
        return elements

    @staticmethod
    def _clean(text: str, kind: str) -> str:
        # An indicator that survived the cut reads as a leading symbol ("● Pro", "✓Remember me").
        if kind in _INDICATOR_KINDS:
            text = text.lstrip("●•○◯◉✓✔☑☐□■▪◦·*»>-_|[]() ").strip()
        return text

    def read_boxes(
        self, image: np.ndarray, boxes: list[tuple[float, float, float, float]], kinds: list[str]
    ) -> list[str]:
        """Text of each xyxy image-pixel box: its lines read in one batch and joined with spaces."""
        lines = [self.element_lines(image, b, k) for b, k in zip(boxes, kinds, strict=True)]
        flat = self.read([c for ls in lines for c in ls])
        out, i = [], 0
        for ls, kind in zip(lines, kinds, strict=True):
            out.append(self._clean(" ".join(t for t, _ in flat[i : i + len(ls)] if t), kind))
            i += len(ls)
        return out


#: Width-to-height ratios of the crops recognised together grow by this factor from bucket to bucket.
RATIO_STEP = 1.1


def ratio_bucket(crop: np.ndarray) -> int:
    """The width bucket of an h×w crop: the smallest n with w/h <= RATIO_STEP**n."""
    h, w = crop.shape[:2]
    return int(np.ceil(np.log(max(w / max(h, 1), 1.0)) / np.log(RATIO_STEP) - 1e-9))


def fit_line(crop: np.ndarray, height: int, width: int) -> np.ndarray:
    """``crop`` scaled to ``height`` rows (bilinear, keeping its aspect, at most ``width`` columns) and
    widened on the right to ``width`` columns in mid grey (what the recogniser pads with: 0 after its
    normalisation)."""
    import cv2

    h, w = crop.shape[:2]
    scaled_w = min(width, max(1, int(np.ceil(height * w / h - 1e-9))))
    out = np.full((height, width, crop.shape[2]), 128, crop.dtype)
    out[:, :scaled_w] = cv2.resize(crop, (scaled_w, height))
    return out


def _ink(crop: np.ndarray, threshold: int = 60) -> np.ndarray:
    """h×w bool: pixels that differ from the crop's background (its median colour) by > ``threshold``."""
    bg = np.median(crop.reshape(-1, 3), axis=0)
    return np.abs(crop.astype(np.int16) - bg.astype(np.int16)).max(axis=2) > threshold


def _indicator_end(crop: np.ndarray) -> int:
    """Column where a checkbox/radio's text starts: after the first run of inked columns (the
    indicator, at most ~1.3× as wide as the crop is high) and the gap that follows it; 0 if unclear."""
    cols = _ink(crop, 24).any(axis=0)  # low threshold: dark themes draw indicator frames faintly
    h, w = crop.shape[:2]
    start = int(np.argmax(cols)) if cols.any() else 0
    if not cols.any():
        return 0
    end = start
    while end < w and cols[end]:
        end += 1
    # An indicator starts near the left edge and is roughly square; otherwise the first run is a glyph
    # (the indicator had too little contrast to see) and everything is read.
    if start > 0.4 * h or end - start < 0.2 * h or end - start > 1.3 * h or end >= w:
        return 0
    gap = end
    while gap < w and not cols[gap]:
        gap += 1
    return max(0, min(gap, w) - 1)


def _erase_cursor(crop: np.ndarray, margin: int) -> np.ndarray:
    """Paint over a focused field's text cursor, which the recogniser reads as 'l' or '|'.

    The cursor is the last inked column run inside the frame: at most 2 px wide, apart from the text,
    and taller than every glyph (it spans the whole line, ascender to descender). A final 'l' or 'j'
    is no taller than the other glyphs, so it stays. Returns ``crop`` itself when there is no cursor.
    """
    h, w = crop.shape[:2]
    if h <= 2 * margin + 4 or w <= 2 * margin + 8:
        return crop
    inner = _ink(crop[margin : h - margin, margin : w - margin], 40)
    cols = inner.any(axis=0)
    runs, x = [], 0
    while x < cols.size:
        if cols[x]:
            start = x
            while x < cols.size and cols[x]:
                x += 1
            runs.append((start, x))
        x += 1
    if len(runs) < 2:
        return crop
    a, b = runs[-1]
    if b - a > 2:
        return crop

    def height(lo: int, hi: int) -> int:
        rows = np.nonzero(inner[:, lo:hi].any(axis=1))[0]
        return int(rows[-1] - rows[0] + 1) if rows.size else 0

    tallest_glyph = max(height(lo, hi) for lo, hi in runs[:-1])
    if height(a, b) < 1.15 * tallest_glyph + 1:
        return crop
    out = crop.copy()
    bg = np.median(crop.reshape(-1, 3), axis=0).astype(np.uint8)
    # The whole column goes, except rows of the field's frame (inked across most of the width).
    rows = ~(_ink(crop, 40).mean(axis=1) > 0.6)
    out[rows, margin + a : margin + b] = bg
    return out


def trim_blank(line: np.ndarray, threshold: int = 30, frame: float = 0.7, near: int = 2) -> np.ndarray:
    """A text line's crop cut to its inked columns plus a margin of half its height, or an empty crop
    when nothing is inked: the recogniser's cost grows with the width it is handed, and a text field
    is mostly blank. A frame does not count as ink: rows inked in one unbroken run across most of the
    width (a line of text has gaps between its letters), columns near the crop's ends inked down most of
    the other rows or hanging from a frame row down 40% of the height (a sunken field draws only its top
    and left edges dark), and anything within ``near`` pixels of them (rounded corners). A glyph stroke
    mistaken for a frame column costs nothing: the margin keeps it with its neighbours."""
    h, w = line.shape[:2]
    ink = _ink(line, threshold)
    frame_rows = _longest_runs(ink) >= 0.8 * w
    if not (ink.any(axis=1) & ~frame_rows).any():
        return line[:, :0]  # blank, or only full-width lines
    ends = np.zeros(w, bool)
    edge = max(6, h // 4)
    ends[:edge] = ends[w - edge :] = True
    frame_cols = ends & (ink[~frame_rows].mean(axis=0) >= frame)
    # a field's side edge hangs from its top (or stands on its bottom) edge, even when the field's other
    # edges are too light to count (a sunken frame: dark top and left, white bottom and right)
    near_rows = _dilate(frame_rows, near)
    for c in np.nonzero(ends & ~frame_cols & ink.any(axis=0))[0]:
        length, start, end = _longest_span(ink[:, c])
        frame_cols[c] = length >= 0.4 * h and (near_rows[max(0, start - 1)] or near_rows[min(h - 1, end)])
    ink = ink & ~near_rows[:, None] & ~_dilate(frame_cols, near)[None, :]
    cols = ink.any(axis=0)
    if not cols.any():
        return line[:, :0]
    xs = np.nonzero(cols)[0]
    m = max(4, h // 2)
    x1, x2 = max(0, int(xs[0]) - m), min(w, int(xs[-1]) + 1 + m)
    return line[:, x1:x2] if x2 - x1 < w else line


def _longest_runs(mask: np.ndarray) -> np.ndarray:
    """[H]: length of the longest run of True in each row of an H×W bool mask, in one pass (with a loop
    over the rows, `trim_blank` took 1.5 s instead of 1.0 s on 50 held-out screens)."""
    h = mask.shape[0]
    edges = np.diff(np.pad(mask.astype(np.int8), ((0, 0), (1, 1))), axis=1)
    rows, starts = np.nonzero(edges == 1)
    _, ends = np.nonzero(edges == -1)  # row-major order: the k-th end closes the k-th start
    out = np.zeros(h, dtype=np.int64)
    np.maximum.at(out, rows, ends - starts)
    return out


def _longest_span(mask: np.ndarray) -> tuple[int, int, int]:
    """(length, start, end) of the longest run of True in a 1-D bool mask (end exclusive); zeros if none."""
    if not mask.any():
        return 0, 0, 0
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    starts, ends = np.nonzero(edges == 1)[0], np.nonzero(edges == -1)[0]
    k = int(np.argmax(ends - starts))
    return int(ends[k] - starts[k]), int(starts[k]), int(ends[k])


def _dilate(mask: np.ndarray, r: int) -> np.ndarray:
    """A 1-D bool mask grown by ``r`` places on each side."""
    out = mask.copy()
    for k in range(1, r + 1):
        out[k:] |= mask[:-k]
        out[:-k] |= mask[k:]
    return out


def line_spans(crop: np.ndarray, min_gap: int = 1, min_height: int = 6) -> list[tuple[int, int]]:
    """Row spans [a, b) of the text lines of an h×w×3 crop: inked rows between blank runs of at least
    ``min_gap`` rows, at least ``min_height`` tall."""
    rows = _ink(crop).any(axis=1)
    spans, start, blank = [], None, 0
    for y, inked in enumerate(rows):
        if inked:
            if start is None:
                start = y
            blank = 0
        elif start is not None:
            blank += 1
            if blank >= min_gap:
                spans.append((start, y - blank + 1))
                start, blank = None, 0
    if start is not None:
        spans.append((start, crop.shape[0]))
    return [(a, b) for a, b in spans if b - a >= min_height]


def split_lines(
    crop: np.ndarray, min_gap: int = 1, min_height: int = 6, middle: bool = False
) -> list[np.ndarray]:
    """Split an h×w×3 crop at blank row runs (>= ``min_gap`` rows) into text lines.

    Returns the crop itself when it holds one line (the common case for buttons and labels). With
    ``middle``, only the line nearest the crop's vertical middle is kept: a one-line element whose box
    also takes in part of a neighbour's line (a loose box in a list) keeps its own line.
    """
    if crop.shape[0] < 2 * min_height + min_gap:
        return [crop]
    spans = line_spans(crop, min_gap, min_height)
    if len(spans) <= 1:
        return [crop]
    if middle:
        mid = crop.shape[0] / 2
        spans = [min(spans, key=lambda sp: abs((sp[0] + sp[1]) / 2 - mid))]
    # Lines sit one blank row apart, so pad each with background rows rather than its neighbours' pixels.
    bg = np.median(crop.reshape(-1, 3), axis=0).astype(np.uint8)
    pad = np.broadcast_to(bg, (2, crop.shape[1], 3))
    return [np.concatenate([pad, crop[a:b], pad]) for a, b in spans]


def normalize_text(text: str) -> str:
    """NFKC ('…' -> '...') with whitespace runs collapsed: how OCR output and ground truth are compared."""
    import unicodedata

    return " ".join(unicodedata.normalize("NFKC", text).split())


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance (insertions, deletions, substitutions of characters)."""
    if len(a) < len(b):
        a, b = b, a
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def evaluate_ocr(root, ocr: OCR | None = None, max_images: int | None = None) -> dict:
    """OCR exact match and character error rate on the ground-truth boxes of a COCO folder.

    Uses the annotations' ``text`` (sandbox ground truth); elements with empty text are skipped.
    Ground-truth boxes isolate OCR from detection errors. Texts are compared after `normalize_text`.
    The headline figures count elements whose text is entirely on screen: an annotation marked
    ``clipped`` (partly covered by another window or scrolled out of view) carries its full text, which no
    reader can see; those are scored separately (``clipped``).

    Returns:
        {"elements", "exact_match", "exact_match_ignoring_spaces", "cer",
         "per_kind": {kind: {"elements", "exact_match"}}, "clipped": {"elements", "exact_match"},
         "exact_match_all", "images"}.
    """
    from pathlib import Path

    from PIL import Image

    from vision.data import load_coco

    root = Path(root)
    coco = load_coco(root)
    ocr = ocr or OCR()
    names = {c["id"]: c["name"] for c in coco["categories"]}
    images = coco["images"][:max_images] if max_images else coco["images"]
    by_image: dict[int, list[dict]] = {}
    for a in coco["annotations"]:
        if a.get("text") and names.get(a["category_id"]) in TEXT_KINDS:
            by_image.setdefault(a["image_id"], []).append(a)
    total = exact = loose = dist = chars = 0
    clipped = [0, 0]
    per_kind: dict[str, list[int]] = {}
    for im in images:
        anns = by_image.get(im["id"], [])
        if not anns:
            continue
        path = root / im["file_name"]
        with Image.open(path if path.is_file() else root / "images" / im["file_name"]) as f:
            arr = np.asarray(f.convert("RGB"))
        boxes = [(x, y, x + w, y + h) for (x, y, w, h) in (a["bbox"] for a in anns)]
        texts = ocr.read_boxes(arr, boxes, [names[a["category_id"]] for a in anns])
        for a, text in zip(anns, texts, strict=True):
            want, got = normalize_text(a["text"]), normalize_text(text)
            if a.get("clipped"):
                clipped[0] += 1
                clipped[1] += got == want
                continue
            total += 1
            exact += got == want
            loose += got.replace(" ", "") == want.replace(" ", "")
            dist += edit_distance(got, want)
            chars += len(want)
            k = per_kind.setdefault(names[a["category_id"]], [0, 0])
            k[0] += 1
            k[1] += got == want
    return {
        "images": len(images),
        "elements": total,
        "exact_match": round(exact / max(1, total), 4),
        "exact_match_ignoring_spaces": round(loose / max(1, total), 4),
        "cer": round(dist / max(1, chars), 4),
        "per_kind": {
            k: {"elements": v[0], "exact_match": round(v[1] / v[0], 4)} for k, v in sorted(per_kind.items())
        },
        "clipped": {"elements": clipped[0], "exact_match": round(clipped[1] / max(1, clipped[0]), 4)},
        "exact_match_all": round((exact + clipped[1]) / max(1, total + clipped[0]), 4),
    }
