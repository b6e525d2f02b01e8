"""Text of detected elements, read with rapidocr's recogniser (PP-OCR models ship inside its wheel).

Only recognition runs: the detector already found where the text is, so text detection (the slow part
of full-screen OCR) is skipped. Crops are read in batches of similar aspect, and every result is cached
by a hash of the crop's pixels, so an element that did not change is never read twice.

Checkbox and radio boxes include their indicator; the recogniser reads it as a character ("O Free",
"✓ Airplane mode"), so the indicator's square (as wide as the box is high) is cut off first.
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
    """

    def __init__(
        self,
        threads: int = 2,
        batch_size: int = 16,
        cache_size: int = 8192,
        min_score: float = 0.5,
        pad: int = 2,
    ):
        self.threads, self.batch_size, self.cache_size = threads, batch_size, cache_size
        self.min_score, self.pad = min_score, pad
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
            self._rec = engine._load_rec_model()  # recognition only; the detector gives the boxes
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

            keys = list(todo)
            # rapidocr models take BGR like the PaddleOCR originals.
            batch = [np.ascontiguousarray(crops[todo[k][0]][:, :, ::-1]) for k in keys]
            result = self._recogniser()(TextRecInput(img=batch))
            self.stats.recognised += len(keys)
            for k, text, score in zip(keys, result.txts, result.scores, strict=True):
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
        if kind in _INDICATOR_KINDS and x2 - x1 > 2 * (y2 - y1):
            x1 += y2 - y1
        x1, y1 = max(0, int(x1) - self.pad), max(0, int(y1) - self.pad)
        x2, y2 = min(w, int(np.ceil(x2)) + self.pad), min(h, int(np.ceil(y2)) + self.pad)
        return image[y1:y2, x1:x2]

    def read_elements(
        self, image: np.ndarray, elements: list[Element], origin: tuple[float, float] = (0.0, 0.0)
    ) -> list[Element]:
        """Fill ``text`` of the elements whose kind carries text (in place; also returned).

        ``image`` is H×W×3 uint8; element boxes are screen pixels, i.e. image pixels + ``origin``.
        """
        ox, oy = origin
        todo = [e for e in elements if e.kind in TEXT_KINDS]
        crops = [self.element_crop(image, (e.box[0] - ox, e.box[1] - oy, e.box[2] - ox, e.box[3] - oy), e.kind)
                 for e in todo]  # fmt: skip
        for e, (text, _score) in zip(todo, self.read(crops), strict=True):
            e.text = text
        return elements


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
    Ground-truth boxes isolate OCR from detection errors.

    Returns:
        {"elements", "exact_match", "cer", "per_kind": {kind: {"elements", "exact_match"}}, "images"}.
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
    total = exact = dist = chars = 0
    per_kind: dict[str, list[int]] = {}
    for im in images:
        anns = by_image.get(im["id"], [])
        if not anns:
            continue
        path = root / im["file_name"]
        with Image.open(path if path.is_file() else root / "images" / im["file_name"]) as f:
            arr = np.asarray(f.convert("RGB"))
        crops = [ocr.element_crop(arr, (x, y, x + w, y + h), names[a["category_id"]])
                 for a in anns for (x, y, w, h) in [a["bbox"]]]  # fmt: skip
        for a, (text, _) in zip(anns, ocr.read(crops), strict=True):
            want = " ".join(a["text"].split())
            got = " ".join(text.split())
            total += 1
            exact += got == want
            dist += edit_distance(got, want)
            chars += len(want)
            k = per_kind.setdefault(names[a["category_id"]], [0, 0])
            k[0] += 1
            k[1] += got == want
    return {
        "images": len(images),
        "elements": total,
        "exact_match": round(exact / max(1, total), 4),
        "cer": round(dist / max(1, chars), 4),
        "per_kind": {
            k: {"elements": v[0], "exact_match": round(v[1] / v[0], 4)} for k, v in sorted(per_kind.items())
        },
    }
