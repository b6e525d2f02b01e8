"""Screenshot -> elements: detector + OCR behind a frame-diff cache.

Each call compares the new frame with the one last detected on: byte-identical frames are recognised
with one memcmp; otherwise on a grid of ``cell`` × ``cell`` pixel cells (mean absolute difference per
cell, with OpenCV, a few ms at 1280×800):

- no cell changed: the previous elements are returned again (copies), nothing runs;
- the changed cells cover at most ``max_region_fraction`` of the screen: only their bounding
  rectangle (plus a margin) is re-detected, on the tiles of a full re-detect's plan that overlap it (same
  scale, same windows), so what the detector reports there is what a full re-detect would. A crop placed
  around the change instead made the two disagree: the detector's scores depend on where a window
  falls, and a menu's row or a wizard's second field found on the whole screen went missing. Previous
  elements over a changed cell are dropped and the region's detections over one are added; the rest,
  whose pixels are the very ones they were found on, are kept as they were (the bounding rectangle of
  two small changes can be large). The re-detected rectangle is widened to hold every dropped element
  whole: one cut by its edge (a label beside an opened combo popup) would come back truncated, with its
  text cut too;
- otherwise: full re-detect.

OCR runs only on elements that are new or moved (and its own crop-hash cache catches the rest).
Boxes are in the observation's screen pixels: image pixels (physical on HiDPI) plus ``origin``.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field

import numpy as np

from agent.types import Element, Observation
from vision.detector.postprocess import drop_field_text_repeats, suppress_duplicates
from vision.widget_state import read_enabled, read_focus, read_placeholders, read_shown_values, read_states


@dataclass
class PerceptionStats:
    """What the last call did (for traces and the status bar)."""

    mode: str = ""  # "full", "region", "cached"
    region: tuple[int, int, int, int] | None = None  # re-detected rectangle, image pixels xyxy
    changed_fraction: float = 0.0
    timings_ms: dict[str, float] = field(default_factory=dict)


class Perception:
    """``Perception(detector, ocr)(observation) -> list[Element]``.

    Args:
        detector: a `vision.detector.Detector` (anything with ``config.input_size`` and ``detect``).
        ocr: a `vision.ocr.OCR`, or None to leave text empty.
        score_threshold, nms_iou: passed to the detector.
        bf16: run the detector's front in bf16 (True/False), or None to keep what `Detector.accelerate`
            chose (fp32 unless asked). On a CPU without native bf16 (AVX2 only) it is ~15x slower than
            fp32; `Perception.load` picks it only where the CPU has it (`vision.accel`), and
            `deskpilot bench perception` compares the choices on the machine at hand.
        read_state: read what the pixels tell about widget state (`vision.widget_state`): slider values,
            buttons drawn disabled, fields showing only their faded hint (text "", the hint in
            ``state["placeholder"]``), the field showing a text cursor (``focused``), and checkbox/radio
            states when the detector carries a check reader (``detector.checks``, loaded from
            ``check_reader.safetensors`` beside its weights).
        dedupe: drop detections that repeat a surer one of the same kind (`suppress_duplicates`), and
            labels repeating the text of a surer field they lie in (`drop_field_text_repeats`).
        cell: diff grid cell size in pixels.
        diff_threshold: a cell counts as changed when its mean absolute difference (0-255) exceeds this.
        margin: pixels added around the changed rectangle before re-detecting it.
        pad: pixels kept around a replaced element when the re-detected rectangle is widened to hold it.
        max_region_fraction: above this share of changed screen area, re-detect everything.
        keep_threshold: hysteresis for the region path: a region detection scoring below
            ``score_threshold`` but at least this is kept when it is the same kind as an element it
            replaces and overlaps it (IoU >= ``keep_iou``). A widget that was there a moment ago (a slider
            just dragged, at 0.47 before and 0.3 after) stays found instead of blinking out; a new one
            still needs the full threshold. None turns it off.
        keep_iou: the overlap that makes a weak region detection the continuation of a replaced element.
    """

    def __init__(
        self,
        detector,
        ocr=None,
        *,
        score_threshold: float = 0.35,
        nms_iou: float = 0.7,
        bf16: bool | None = None,
        read_state: bool = True,
        dedupe: bool = True,
        cell: int = 16,
        diff_threshold: float = 1.0,
        margin: int = 48,
        pad: int = 8,
        max_region_fraction: float = 0.4,
        keep_threshold: float | None = 0.2,
        keep_iou: float = 0.5,
    ):
        self.detector, self.ocr = detector, ocr
        self.score_threshold, self.nms_iou, self.bf16 = score_threshold, nms_iou, bf16
        self.cell, self.diff_threshold, self.margin, self.pad = cell, diff_threshold, margin, pad
        self.max_region_fraction = max_region_fraction
        self.keep_threshold, self.keep_iou = keep_threshold, keep_iou
        self.read_state, self.dedupe = read_state, dedupe
        self.stats = PerceptionStats()
        self.reset()

    @classmethod
    def load(
        cls,
        weights: str = "weights/detector",
        *,
        ocr: bool = True,
        device: str = "cpu",
        runtime: str = "auto",
        precision: str = "auto",
        ocr_threads: int = 2,
        **kwargs,
    ) -> Perception:
        """A Perception with the detector in ``weights`` (WeightsError when missing) and, if ``ocr``,
        rapidocr's recogniser (``ocr_threads``); both accelerated as `vision.accel` describes (``runtime``
        torch|openvino|auto, ``precision`` fp32|bf16|auto: OpenVINO and native bf16 where this machine
        has them)."""
        from vision.detector import Detector
        from vision.ocr import OCR

        detector = Detector.load(weights, device=device)
        if device == "cpu":
            detector.accelerate(runtime, precision)
        reader = OCR(threads=ocr_threads, runtime=runtime, precision=precision) if ocr else None
        return cls(detector, reader, **kwargs)

    def reset(self) -> None:
        """Forget the previous frame (the next call re-detects everything)."""
        self._frame: np.ndarray | None = None
        self._origin: tuple[int, int] = (0, 0)
        self._elements: list[Element] = []

    # ------------------------------------------------------------------------------------------ diff
    def changed_cells(self, previous: np.ndarray, current: np.ndarray) -> np.ndarray:
        """[rows, cols] bool grid: cells whose mean absolute difference (over pixels and channels, 0-255)
        exceeds ``diff_threshold``. Both frames are H×W×3 uint8 of the same size."""
        import cv2  # ships with rapidocr; absdiff and area resize are ~10× faster than numpy here

        c = self.cell
        h, w = current.shape[:2]
        rows, cols = -(-h // c), -(-w // c)
        d = cv2.absdiff(previous, current).reshape(h, w * 3)
        if rows * c != h or cols * c != w:
            d = cv2.copyMakeBorder(d, 0, rows * c - h, 0, (cols * c - w) * 3, cv2.BORDER_CONSTANT, value=0)
        cells = cv2.resize(d, (cols, rows), interpolation=cv2.INTER_AREA)  # mean over each c × 3c block
        return cells > self.diff_threshold

    def _on_changed_cells(self, box: tuple[float, ...], changed: np.ndarray, origin: tuple[int, int]) -> bool:
        """Whether any changed cell lies under ``box`` (screen pixels): an element with none under it
        shows exactly the pixels it was detected on, so it stays as it was."""
        c = self.cell
        rows, cols = changed.shape
        x1, y1 = int((box[0] - origin[0]) // c), int((box[1] - origin[1]) // c)
        x2, y2 = int(np.ceil((box[2] - origin[0]) / c)), int(np.ceil((box[3] - origin[1]) / c))
        x1, y1, x2, y2 = max(0, x1), max(0, y1), min(cols, max(x2, x1 + 1)), min(rows, max(y2, y1 + 1))
        return x1 < x2 and y1 < y2 and bool(changed[y1:y2, x1:x2].any())

    def _region(self, changed: np.ndarray, size: tuple[int, int], origin: tuple[int, int],
                replaced: list[Element]) -> tuple[int, int, int, int]:  # fmt: skip
        """The rectangle to re-detect (image pixels xyxy): the changed cells' bounding rectangle plus
        ``margin``, widened to hold whole (plus ``pad``) every ``replaced`` element (the previous ones
        over a changed cell), since the region's detections take their place."""
        ys, xs = np.nonzero(changed)
        w, h = size
        c, m, pad = self.cell, self.margin, self.pad
        x1, y1 = int(xs.min()) * c - m, int(ys.min()) * c - m
        x2, y2 = (int(xs.max()) + 1) * c + m, (int(ys.max()) + 1) * c + m
        for e in replaced:
            x1, y1 = min(x1, e.box[0] - origin[0] - pad), min(y1, e.box[1] - origin[1] - pad)
            x2, y2 = max(x2, e.box[2] - origin[0] + pad), max(y2, e.box[3] - origin[1] + pad)
        return max(0, int(x1)), max(0, int(y1)), min(w, int(np.ceil(x2))), min(h, int(np.ceil(y2)))

    # ------------------------------------------------------------------------------------------ call
    def __call__(self, observation: Observation) -> list[Element]:
        """Elements of ``observation`` (boxes in its screen pixels, text read, embeddings attached)."""
        t0 = time.perf_counter()
        image = observation.image
        origin = (int(observation.origin[0]), int(observation.origin[1]))
        size = observation.size
        prev = self._frame
        self.stats = PerceptionStats()
        # Device pixels per UI pixel: with ui_scale, it sets the detector's scale.
        self._ratio = observation.scale
        if prev is None or prev.shape != image.shape or origin != self._origin:
            return self._full(image, origin, t0)
        # Byte-identical frames (the common case) are a memcmp away; no grid needed.
        changed = np.zeros((1, 1), bool) if np.array_equal(prev, image) else self.changed_cells(prev, image)
        self.stats.changed_fraction = float(changed.mean())
        self.stats.timings_ms["diff"] = (time.perf_counter() - t0) * 1000
        if not changed.any():
            # The stored frame stays the one last detected on, so slow drifts still add up to a change.
            self.stats.mode = "cached"
            self.stats.timings_ms["total"] = (time.perf_counter() - t0) * 1000
            return [copy.copy(e) for e in self._elements]
        # Elements over a changed cell are replaced by the region's detections over one; the rest show
        # the very pixels they were found on and stay (a region's re-detection of them finds ~2% fewer).
        kept, replaced = [], []
        for e in self._elements:
            (replaced if self._on_changed_cells(e.box, changed, origin) else kept).append(e)
        region = self._region(changed, size, origin, replaced)
        rx1, ry1, rx2, ry2 = region
        if (rx2 - rx1) * (ry2 - ry1) > self.max_region_fraction * size[0] * size[1]:
            return self._full(image, origin, t0)
        return self._partial(image, origin, changed, region, kept, replaced, t0)

    def _sure_or_continuing(self, found: list[Element], replaced: list[Element]) -> list[Element]:
        """``found`` less the detections under ``score_threshold`` that are not a replaced element found
        again (the same kind, IoU >= ``keep_iou``)."""
        weak = [e for e in found if e.score < self.score_threshold]
        if not weak:
            return found
        keep: set[int] = set()
        if replaced:
            from vision.boxes import box_iou

            iou = box_iou(
                np.array([e.box for e in weak], np.float64), np.array([e.box for e in replaced], np.float64)
            )
            same = np.array([[w.kind == r.kind for r in replaced] for w in weak])
            keep = {
                id(w) for w, hit in zip(weak, ((iou >= self.keep_iou) & same).any(axis=1), strict=True) if hit
            }
        return [e for e in found if e.score >= self.score_threshold or id(e) in keep]

    def _full(self, image: np.ndarray, origin: tuple[int, int], t0: float) -> list[Element]:
        t1 = time.perf_counter()
        (elements,) = self.detector.detect([image], score_threshold=self.score_threshold, nms_iou=self.nms_iou,
                                           bf16=self.bf16, screen_scale=self._ratio, origin=origin)  # fmt: skip
        elements = suppress_duplicates(elements) if self.dedupe else elements
        t2 = time.perf_counter()
        if self.ocr is not None:
            self.ocr.read_elements(image, elements, origin)
        elements = drop_field_text_repeats(elements) if self.dedupe else elements
        if self.read_state:
            read_states(image, elements, origin, getattr(self.detector, "checks", None))
            read_shown_values(elements)
            read_enabled(image, elements, origin)
            read_placeholders(image, elements, origin)
            read_focus(image, elements, origin)
        t3 = time.perf_counter()
        self._store(image, origin, elements)
        self.stats.mode = "full"
        self.stats.timings_ms.update(detect=(t2 - t1) * 1000, ocr=(t3 - t2) * 1000, total=(t3 - t0) * 1000)
        return [copy.copy(e) for e in elements]

    def _partial(self, image: np.ndarray, origin: tuple[int, int], changed: np.ndarray,
                 region: tuple[int, int, int, int], kept: list[Element], replaced: list[Element],
                 t0: float) -> list[Element]:  # fmt: skip
        rx1, ry1, rx2, ry2 = region
        h, w = image.shape[:2]
        # The scale a full re-detect uses, so elements in the region look as they do in training.
        scale = self.detector.config.scale_for((w, h), self._ratio)
        t1 = time.perf_counter()
        # weak detections come too, for the hysteresis (`_sure_or_continuing`), shaping nothing else
        kw = dict(score_threshold=self.score_threshold, nms_iou=self.nms_iou, bf16=self.bf16, scale=scale,
                  screen_scale=self._ratio, candidates=self.keep_threshold)  # fmt: skip
        if getattr(self.detector.config, "tile_size", None) is not None:
            # the full re-detect's own tiles over the rectangle: the same windows, the same detections
            (found,) = self.detector.detect([image], origin=origin, window=region, **kw)
        else:
            crop = np.ascontiguousarray(image[ry1:ry2, rx1:rx2])
            (found,) = self.detector.detect([crop], origin=(origin[0] + rx1, origin[1] + ry1), **kw)
        t2 = time.perf_counter()
        found = self._sure_or_continuing(found, replaced)
        new = [e for e in found if self._on_changed_cells(e.box, changed, origin)]
        new = suppress_duplicates(new) if self.dedupe else new
        if self.ocr is not None:
            self.ocr.read_elements(image, new, origin)
        if self.read_state:
            read_states(image, new, origin, getattr(self.detector, "checks", None))
        t3 = time.perf_counter()
        # surest first; a new detection may also repeat a kept one just outside the changed rectangle
        elements = (
            suppress_duplicates(kept + new) if self.dedupe else sorted(kept + new, key=lambda e: -e.score)
        )
        elements = drop_field_text_repeats(elements) if self.dedupe else elements
        if self.read_state:  # judged against the screen (a button's row, the labels), kept elements included
            read_shown_values(elements)
            read_enabled(image, elements, origin)
            read_placeholders(image, elements, origin)
            read_focus(image, elements, origin)
        self._store(image, origin, elements)
        self.stats.mode = "region"
        self.stats.region = region
        self.stats.timings_ms.update(detect=(t2 - t1) * 1000, ocr=(t3 - t2) * 1000, total=(t3 - t0) * 1000)
        return [copy.copy(e) for e in elements]

    def _store(self, image: np.ndarray, origin: tuple[int, int], elements: list[Element]) -> None:
        self._frame = image.copy()
        self._origin = origin
        self._elements = elements
