"""A second look at kinds the detector confuses: spin box vs combo box, checkbox vs radio, menu vs tab.

Both are a framed value with arrow buttons at the right end: a spin box's up/down pair, a combo box's one
drop-down arrow. At the detector's input scale (a 1280×800 screen is read at 640×400) the arrows are a
few pixels, and the detector mixes the two up (val AP@0.5 of 0.10 and 0.29 for spin and combo, against
0.9 for buttons). The difference is plain at full resolution, so a small MLP reads each spin/combo
detection's pixels there and re-decides between the two kinds. It keeps the detector's box and score.

Features are theme-free: grey levels as distance from the crop's median (ink, whatever the polarity),
scaled by the crop's largest; two views: the square at the right end (the arrows) and the whole box.
Training crops are jittered like detector boxes. Weights: ``refiner.safetensors`` beside the detector's.

The same MLP re-decides other pairs: from the square at the left end, a checkbox's square indicator
against a radio's round one (the detector alone reports 65 of 291 held-out radios as checkboxes); a
menu bar's titles against tabs; a ticked checkbox whose text wears a dotted focus rectangle, which the
detector calls a button, against buttons (from the left end too). Each pair has its own file, ``refiner_<kind>_<kind>.safetensors`` (`refiner_name`); the detector runs them all.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import torch
from torch import nn

from agent.errors import WeightsError
from agent.types import Element
from vision.detector.small_weights import read_fp32, read_metadata, save_fp16

REFINER_NAME = "refiner.safetensors"
KINDS = ("combo", "spin")
#: Kinds told apart by an indicator at the box's left end: a pair with one of them reads that end (the
#: rest read the right end: arrows).
INDICATOR_KINDS = frozenset({"checkbox", "radio"})


def refiner_name(kinds: tuple[str, ...]) -> str:
    """File name of the refiner for ``kinds``: ``refiner.safetensors`` for spin/combo (as first shipped),
    ``refiner_<kinds joined by _>.safetensors`` for the others."""
    kinds = tuple(sorted(kinds))
    return REFINER_NAME if kinds == KINDS else f"refiner_{'_'.join(kinds)}.safetensors"


def end_of(kinds: tuple[str, ...]) -> str:
    """ "left" when ``kinds`` differ at the box's left end (a checkbox's or radio's indicator against a
    radio, a label, or a button drawn round a focused checkbox's text), else "right"."""
    return "left" if set(kinds) & INDICATOR_KINDS else "right"


#: Pairs whose refiner runs a second time, after the edge refiner has put the boxes on the pixels: they
#: differ in a few pixels at one end of the box (arrows, an indicator), and the refiners were fitted on
#: exact ground-truth boxes. On the 200 held-out screens (`eval detector`, session 15's detector): mAP
#: 0.7341 -> 0.7433, mAP@0.5 0.8381 -> 0.8454; AP@0.5 spin 0.79 -> 0.886, combo 0.875 -> 0.902, radio
#: 0.831 -> 0.857 (with the combo/spin refiner shipped again: run before the edges only, it had cost
#: combo and spin AP). Menu/tab and button/text-field, run again there, cost tab (0.997 -> 0.968) and
#: text-field AP (0.86 -> 0.846): they stay before the edges only.
AFTER_EDGES = frozenset({("combo", "spin"), ("checkbox", "radio"), ("checkbox", "label")})

SQUARE = 16  # the square at the pair's end of the box, resized to SQUARE × SQUARE
STRIP = (12, 48)  # the whole box, resized to h × w


def _resize(gray: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    import cv2

    return cv2.resize(gray, (size[1], size[0]), interpolation=cv2.INTER_AREA)


def features(
    image: np.ndarray, box: tuple[float, float, float, float], end: str = "right"
) -> np.ndarray | None:
    """Feature vector of an element at ``box`` (xyxy, image pixels) of an H×W×3 uint8 image, its square
    read at the ``end`` ("right" or "left") of the box; None when the box holds too few pixels to read."""
    h, w = image.shape[:2]
    x1, y1, x2, y2 = (int(np.floor(float(v) + 0.5)) for v in box)
    x1, y1, x2, y2 = max(0, x1), max(0, y1), min(w, x2), min(h, y2)
    if x2 - x1 < 8 or y2 - y1 < 6:
        return None
    gray = image[y1:y2, x1:x2].astype(np.float32).mean(axis=2)
    ink = np.abs(gray - np.median(gray))
    ink /= max(float(ink.max()), 1.0)
    side = min(y2 - y1, x2 - x1)
    square = ink[:, -side:]
    if end == "left":  # an indicator's outline can be much fainter than the label's text: own scale
        square = ink[:, :side] / max(float(ink[:, :side].max()), 1.0 / 255)
    square = _resize(square, (SQUARE, SQUARE))
    strip = _resize(ink, STRIP)
    return np.concatenate([square.ravel(), strip.ravel()]).astype(np.float32)


FEATURES = SQUARE * SQUARE + STRIP[0] * STRIP[1]


class KindRefiner(nn.Module):
    """MLP: `features` -> logits over ``kinds``."""

    def __init__(self, kinds: tuple[str, ...] = KINDS, hidden: int = 64, end: str | None = None):
        super().__init__()
        self.kinds, self.hidden = tuple(kinds), hidden
        self.end = end or end_of(self.kinds)
        self.net = nn.Sequential(nn.Linear(FEATURES, hidden), nn.GELU(), nn.Linear(hidden, len(kinds)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    @torch.no_grad()
    def refine(self, image: np.ndarray, elements: list[Element], origin: tuple[float, float] = (0.0, 0.0),
               duplicate_iou: float = 0.7) -> list[Element]:  # fmt: skip
        """Re-decide the kind of every element of ``kinds`` (boxes are image pixels + ``origin``), in place.

        The detector sometimes reports one widget twice, once as each kind; once both carry the same kind
        the less sure one (IoU > ``duplicate_iou`` with it) is dropped. Returns the elements kept, in order.
        """
        ox, oy = origin
        todo, rows = [], []
        for e in elements:
            if e.kind in self.kinds:
                f = features(image, (e.box[0] - ox, e.box[1] - oy, e.box[2] - ox, e.box[3] - oy), self.end)
                if f is not None:
                    todo.append(e)
                    rows.append(f)
        if not rows:
            return elements
        was = self.training
        self.eval()
        picks = self(torch.from_numpy(np.stack(rows))).argmax(1).tolist()
        self.train(was)
        for e, k in zip(todo, picks, strict=True):
            e.kind = self.kinds[k]
        from vision.boxes import box_iou

        ranked = sorted((e for e in elements if e.kind in self.kinds), key=lambda e: -e.score)
        boxes = np.array([e.box for e in ranked], np.float32).reshape(-1, 4)
        iou = box_iou(boxes, boxes)
        dropped: set[int] = set()
        for i in range(len(ranked)):
            if id(ranked[i]) in dropped:
                continue
            for j in range(i + 1, len(ranked)):
                if ranked[j].kind == ranked[i].kind and iou[i, j] > duplicate_iou:
                    dropped.add(id(ranked[j]))
        return [e for e in elements if id(e) not in dropped]

    def save(self, directory: str | Path) -> Path:
        meta = {"kinds": json.dumps(list(self.kinds)), "hidden": str(self.hidden), "square": str(SQUARE),
                "strip": json.dumps(list(STRIP)), "end": self.end}  # fmt: skip
        return save_fp16(self.state_dict(), Path(directory) / refiner_name(self.kinds), meta)

    @classmethod
    def load_all(cls, directory: str | Path) -> list[KindRefiner]:
        """Every refiner saved in ``directory`` (``refiner*.safetensors``, by name); WeightsError when one
        does not fit."""
        paths = sorted(Path(directory).glob("refiner*.safetensors"))
        return [m for m in (cls.load(directory, p.name) for p in paths) if m is not None]

    @classmethod
    def load(cls, directory: str | Path, name: str = REFINER_NAME) -> KindRefiner | None:
        """The refiner saved in ``directory`` as ``name``; None when there is none. WeightsError when it
        does not fit."""
        path = Path(directory) / name
        if not path.is_file():
            return None
        try:
            meta = read_metadata(path)
            if int(meta.get("square", -1)) != SQUARE or json.loads(meta.get("strip", "[]")) != list(STRIP):
                raise WeightsError(f"{path} was made for other feature sizes than this version reads")
            kinds = tuple(json.loads(meta["kinds"]))
            model = cls(kinds, int(meta["hidden"]), meta.get("end"))  # files before "end": spin/combo, right
            model.load_state_dict(read_fp32(path))
        except WeightsError:
            raise
        except Exception as exc:
            raise WeightsError(f"{path} is not a kind refiner: {exc}") from None
        return model.eval()


def _jitter(box: list[float], rng: random.Random, amount: float) -> tuple[float, float, float, float]:
    x, y, w, h = box
    dx1, dx2 = (rng.uniform(-amount, amount) * w for _ in range(2))
    dy1, dy2 = (rng.uniform(-amount, amount) * h for _ in range(2))
    return x + dx1, y + dy1, x + w + dx2, y + h + dy2


def crops_from_coco(root: str | Path, kinds: tuple[str, ...] = KINDS, *, copies: int = 3, jitter: float = 0.1,
                    max_images: int | None = None, seed: int = 0) -> dict[str, np.ndarray]:  # fmt: skip
    """Every ``kinds`` annotation of a COCO folder (`deskpilot sandbox gen-detection`), read (at the
    pair's `end_of`) at its exact box and ``copies - 1`` jittered ones: {"x": features [N, F], "y": kind
    indices [N], "image": image ids [N], "exact": [N] bool (the unjittered box)}."""
    from PIL import Image

    from vision.data import load_coco

    end = end_of(kinds)

    root = Path(root)
    coco = load_coco(root)
    names = {c["id"]: c["name"] for c in coco["categories"]}
    by_image: dict[int, list[dict]] = {}
    for a in coco["annotations"]:
        if names.get(a["category_id"]) in kinds and not a.get("clipped"):
            by_image.setdefault(a["image_id"], []).append(a)
    rng = random.Random(seed)
    rows, labels, ids, exact = [], [], [], []
    images = [im for im in coco["images"] if im["id"] in by_image][:max_images]
    for im in images:
        path = root / im["file_name"]
        with Image.open(path if path.is_file() else root / "images" / im["file_name"]) as f:
            arr = np.asarray(f.convert("RGB"))
        for a in by_image[im["id"]]:
            x, y, w, h = a["bbox"]
            boxes = [(x, y, x + w, y + h)] + [_jitter(a["bbox"], rng, jitter) for _ in range(copies - 1)]
            for j, b in enumerate(boxes):
                f = features(arr, b, end)
                if f is not None:
                    rows.append(f)
                    labels.append(kinds.index(names[a["category_id"]]))
                    ids.append(im["id"])
                    exact.append(j == 0)
    if not rows:
        raise WeightsError(f"{root} has no {' or '.join(kinds)} elements to learn from")
    return {"x": np.stack(rows), "y": np.array(labels, np.int64), "image": np.array(ids, np.int64),
            "exact": np.array(exact, bool)}  # fmt: skip


def train_refiner(root: str | Path, *, kinds: tuple[str, ...] = KINDS, epochs: int = 30, seed: int = 0,
                  val_fraction: float = 0.1, max_images: int | None = None,
                  progress=None) -> tuple[KindRefiner, dict]:  # fmt: skip
    """Fit a `KindRefiner` for ``kinds`` (sorted) on a COCO folder; the images are split (by image) into
    train and validation.

    Returns the model and {"train", "val", "val_accuracy", "val_accuracy_exact", "per_kind"}: accuracy
    on the validation images' jittered and exact boxes.
    """
    torch.manual_seed(seed)
    kinds = tuple(sorted(kinds))
    data = crops_from_coco(root, kinds, max_images=max_images, seed=seed)
    x, y, ids = data["x"], data["y"], data["image"]
    uniq = np.unique(ids)
    rng = np.random.default_rng(seed)
    val_ids = set(rng.choice(uniq, max(1, int(len(uniq) * val_fraction)), replace=False).tolist())
    is_val = np.array([i in val_ids for i in ids])
    xt, yt = torch.from_numpy(x[~is_val]), torch.from_numpy(y[~is_val])
    xv, yv = torch.from_numpy(x[is_val]), torch.from_numpy(y[is_val])
    model = KindRefiner(kinds)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=1e-3)
    counts = torch.bincount(yt, minlength=len(kinds)).float()
    loss_fn = nn.CrossEntropyLoss(weight=counts.sum() / (len(kinds) * counts.clamp(min=1)))
    for epoch in range(epochs):
        model.train()
        order = torch.randperm(len(xt))
        for i in range(0, len(order), 256):
            idx = order[i : i + 256]
            loss = loss_fn(model(xt[idx]), yt[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        if progress is not None:
            progress(epoch + 1, epochs)
    model.eval()
    with torch.no_grad():
        pred = model(xv).argmax(1)
    exact = torch.from_numpy(data["exact"][is_val])

    def accuracy(mask: torch.Tensor) -> float:
        return round(float((pred[mask] == yv[mask]).float().mean()), 4) if bool(mask.any()) else float("nan")

    metrics = {"train": len(xt), "val": len(xv), "val_accuracy": accuracy(torch.ones_like(exact)),
               "val_accuracy_exact": accuracy(exact), "per_kind": {k: accuracy(yv == i) for i, k in enumerate(kinds)}}  # fmt: skip
    return model, metrics
