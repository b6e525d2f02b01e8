"""Detection datasets in COCO format, screen-fitting augmentation, and batching.

A dataset folder holds ``annotations.json`` (COCO: images, annotations with ``bbox`` = [x, y, w, h] in
pixels, categories named by element kind) and the images it names (``images/*.png``), as written by
``deskpilot sandbox gen-detection``. Categories are matched to detector classes *by name*, so the id
scheme of the file does not matter.

A sample is ``(pixels [3, H, W] float32 normalised, target)`` where the target holds ``class_labels``
[n] int64 and ``boxes`` [n, 4] cxcywh normalised to the model canvas, the form transformers' DETR
losses take.
"""

from __future__ import annotations

import io
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from agent.errors import DeskpilotError
from vision.boxes import clip_xyxy, normalize, xywh_to_xyxy, xyxy_to_cxcywh
from vision.detector.processing import PAD_VALUE, letterbox_image, to_tensor


class DatasetError(DeskpilotError):
    """A detection dataset folder that cannot be read."""


def load_coco(root: str | Path) -> dict[str, Any]:
    """Read and check ``root/annotations.json``; raises DatasetError naming what is wrong."""
    path = Path(root) / "annotations.json"
    if not path.is_file():
        raise DatasetError(
            f"no annotations.json in {root}; generate one with "
            "`deskpilot sandbox gen-detection --n N --split train --out DIR`"
        )
    try:
        coco = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise DatasetError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
    for key in ("images", "annotations", "categories"):
        if not isinstance(coco.get(key), list):
            raise DatasetError(f"{path}: missing list {key!r}")
    if not coco["images"]:
        raise DatasetError(f"{path}: has no images")
    return coco


@dataclass
class Augment:
    """Screen-fitting augmentation, applied to a screenshot and its xyxy pixel boxes.

    Attributes:
        scale_range: multiplies the letterbox scale (log-uniform), so elements appear smaller or larger.
        crop_keep: a box cut by the canvas edge is kept when at least this fraction of its area remains.
        piece_keep: ... or when what remains covers at least this fraction of the canvas: an element
            larger than a tile (a text area at 1280×800 is 1.1 tiles wide) is only ever seen in pieces,
            and inference joins the pieces of neighbouring tiles (`vision.detector.tiling`); dropping
            them would teach the detector that a big piece of a text area is background.
        focus_prob: when the canvas shows only part of the screen, probability of centring that part on
            a random element rather than anywhere.
        corner_prob: probability of placing the image at the canvas' top-left (as inference does)
            instead of a random offset.
        channel_swap_prob, invert_prob, gray_prob: palette changes (other themes, dark mode, greyscale).
        jitter: max relative change of brightness and contrast.
        jpeg_prob, jpeg_quality: JPEG re-encoding (screenshots from video calls, remote desktops).
    """

    scale_range: tuple[float, float] = (0.8, 1.25)
    focus_prob: float = 0.8
    crop_keep: float = 0.6
    piece_keep: float = 0.25
    corner_prob: float = 0.5
    channel_swap_prob: float = 0.5
    invert_prob: float = 0.15
    gray_prob: float = 0.1
    jitter: float = 0.2
    jpeg_prob: float = 0.3
    jpeg_quality: tuple[int, int] = (30, 90)

    def geometry(
        self,
        image: np.ndarray,
        boxes: np.ndarray,
        canvas_size: tuple[int, int],
        rng: np.random.Generator,
        fit_size: tuple[int, int] | None = None,
        focus_weights: np.ndarray | None = None,
        base_scale: float | None = None,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Random scale and crop/placement into a ``canvas_size`` (w, h) canvas.

        Args:
            image: H×W×3 uint8. boxes: [n, 4] xyxy source pixels.
            fit_size: (w, h) whose letterbox scale is the base scale (default ``canvas_size``). A
                ``canvas_size`` smaller than ``fit_size`` gives crops at the scale inference sees.
            focus_weights: [n] relative odds of each box being the one a crop is centred on (default
                uniform); `CocoDetection` favours boxes of rare classes.
            base_scale: the base scale itself, overriding ``fit_size`` (a detector's ``ui_scale``).

        Returns:
            (canvas [h, w, 3] uint8, boxes [m, 4] xyxy canvas pixels, kept [m] indices into ``boxes``).
        """
        h, w = image.shape[:2]
        cw, ch = canvas_size
        fw, fh = fit_size or canvas_size
        base = base_scale if base_scale is not None else min(fw / w, fh / h)
        lo, hi = self.scale_range
        s = base * math.exp(rng.uniform(math.log(lo), math.log(hi)))
        # The source window that lands in the canvas at scale s.
        win_w, win_h = min(w, cw / s), min(h, ch / s)
        x0 = rng.uniform(0, w - win_w) if w > win_w else 0.0
        y0 = rng.uniform(0, h - win_h) if h > win_h else 0.0
        if len(boxes) and rng.random() < self.focus_prob and (w > win_w or h > win_h):
            # Centre the window's content on a random element, so crops are rarely empty desktop.
            if focus_weights is None:
                pick = int(rng.integers(len(boxes)))
            else:
                pick = int(rng.choice(len(boxes), p=focus_weights / focus_weights.sum()))
            bx0, by0, bx1, by1 = boxes[pick]
            bx, by = (bx0 + bx1) / 2, (by0 + by1) / 2
            x0 = float(np.clip(bx - rng.uniform(0, win_w), 0, max(0.0, w - win_w)))
            y0 = float(np.clip(by - rng.uniform(0, win_h), 0, max(0.0, h - win_h)))
        crop = image[int(y0) : math.ceil(y0 + win_h), int(x0) : math.ceil(x0 + win_w)]
        x0, y0 = int(x0), int(y0)
        nw = max(1, min(cw, round(crop.shape[1] * s)))
        nh = max(1, min(ch, round(crop.shape[0] * s)))
        resized = np.asarray(Image.fromarray(crop).resize((nw, nh), Image.BILINEAR))
        if rng.random() < self.corner_prob:
            px, py = 0, 0
        else:
            px, py = int(rng.integers(0, cw - nw + 1)), int(rng.integers(0, ch - nh + 1))
        canvas = np.full((ch, cw, 3), PAD_VALUE, dtype=np.uint8)
        canvas[py : py + nh, px : px + nw] = resized
        sx, sy = nw / crop.shape[1], nh / crop.shape[0]
        moved = (boxes - np.array([x0, y0, x0, y0])) * np.array([sx, sy, sx, sy]) + np.array([px, py, px, py])
        clipped = clip_xyxy(moved, px + nw, py + nh)
        clipped = np.maximum(clipped, np.array([px, py, px, py]))
        area = lambda b: np.clip(b[:, 2] - b[:, 0], 0, None) * np.clip(b[:, 3] - b[:, 1], 0, None)  # noqa: E731
        full = area(moved)
        seen = area(clipped)
        keep = np.nonzero(
            ((seen >= self.crop_keep * np.maximum(full, 1e-9)) | (seen >= self.piece_keep * cw * ch))
            & (clipped[:, 2] - clipped[:, 0] >= 2)
            & (clipped[:, 3] - clipped[:, 1] >= 2)
        )[0]
        return canvas, clipped[keep], keep

    def colour(self, canvas: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Palette and colour shifts plus JPEG on an h×w×3 uint8 canvas (boxes are unaffected)."""
        x = canvas
        if rng.random() < self.channel_swap_prob:
            x = x[..., rng.permutation(3)]
        if rng.random() < self.invert_prob:
            x = 255 - x
        if rng.random() < self.gray_prob:
            g = (x.astype(np.float32) @ np.array([0.299, 0.587, 0.114], dtype=np.float32)).astype(np.uint8)
            x = np.repeat(g[..., None], 3, axis=2)
        if self.jitter > 0:
            contrast = 1 + rng.uniform(-self.jitter, self.jitter)
            bright = 255 * rng.uniform(-self.jitter, self.jitter) / 2
            x = np.clip((x.astype(np.float32) - 128) * contrast + 128 + bright, 0, 255).astype(np.uint8)
        if rng.random() < self.jpeg_prob:
            buf = io.BytesIO()
            Image.fromarray(np.ascontiguousarray(x)).save(
                buf, format="JPEG", quality=int(rng.integers(*self.jpeg_quality))
            )
            x = np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))
        return np.ascontiguousarray(x)


#: No augmentation: a window at the letterbox scale, placed at the canvas' top-left, colours untouched
#: (training without augmentation on a tiled detector still needs tile-sized crops).
PLAIN = Augment(scale_range=(1.0, 1.0), focus_prob=0.0, corner_prob=1.0, channel_swap_prob=0.0, invert_prob=0.0,
                gray_prob=0.0, jitter=0.0, jpeg_prob=0.0)  # fmt: skip


class CocoDetection(torch.utils.data.Dataset):
    """A COCO folder as training samples for the detector.

    Args:
        root: folder with ``annotations.json``.
        classes: detector class names; annotations of other categories are ignored.
        canvas_size: model input (w, h).
        mean, std: normalisation (from `DetectorConfig`).
        augment: an `Augment` for training, None for plain letterboxing.
        seed: base seed of the augmentation. An item key is an index, or ``(index, draw)`` to give one
            image a different augmentation on each draw (what `StepSampler` yields).
        crop_size: train on (w, h) crops taken at the scale a ``canvas_size`` input has (the detector's
            tile, `vision.detector.tiling`): random with ``augment``, else a fixed window per image.
        ui_scale: with ``crop_size``, crops are taken at this scale over each image's device pixel ratio
            instead (`DetectorConfig.ui_scale`).
    """

    def __init__(
        self,
        root: str | Path,
        classes: tuple[str, ...],
        canvas_size: tuple[int, int],
        mean: tuple[float, ...],
        std: tuple[float, ...],
        augment: Augment | None = None,
        seed: int = 0,
        crop_size: tuple[int, int] | None = None,
        ui_scale: float | None = None,
    ):
        self.root = Path(root)
        coco = load_coco(self.root)
        name_to_class = {c: i for i, c in enumerate(classes)}
        cat_to_class = {c["id"]: name_to_class.get(c["name"]) for c in coco["categories"]}
        per_image: dict[int, list[tuple[int, list[float]]]] = {im["id"]: [] for im in coco["images"]}
        for a in coco["annotations"]:
            cls = cat_to_class.get(a["category_id"])
            if cls is not None and a["image_id"] in per_image and not a.get("iscrowd", 0):
                per_image[a["image_id"]].append((cls, a["bbox"]))
        self.images = coco["images"]
        self.targets = [per_image[im["id"]] for im in self.images]
        # Crops centre on an element of class c with odds ∝ 1/sqrt(frequency of c) (square-root balancing,
        # as in LVIS repeat-factor sampling): labels and icons are ~70% of all boxes, menu items ~1%.
        counts = np.bincount([c for t in self.targets for c, _ in t], minlength=len(classes)).astype(
            np.float64
        )
        self.class_weight = 1.0 / np.sqrt(np.maximum(counts, 1.0))
        self.classes, self.canvas_size, self.mean, self.std = classes, canvas_size, mean, std
        self.augment, self.seed, self.crop_size, self.ui_scale = augment, seed, crop_size, ui_scale

    def __len__(self) -> int:
        return len(self.images)

    def repeat_factors(self, threshold: float) -> np.ndarray:
        """LVIS repeat-factor sampling: each image's relative odds of being drawn.

        A class present in a fraction f_c of the images gets r_c = max(1, sqrt(threshold / f_c)), and an
        image takes the largest r_c of the classes in it. With threshold 0.3, screens with an open menu
        (menu items are on ~7% of them) come up about twice as often; ``threshold`` 0 gives all ones.
        """
        n = len(self.images)
        if threshold <= 0 or n == 0:
            return np.ones(n)
        present = [np.unique([c for c, _ in t]).astype(np.int64) for t in self.targets]
        freq = np.bincount(np.concatenate([*present, np.zeros(0, np.int64)]), minlength=len(self.classes)) / n
        per_class = np.maximum(1.0, np.sqrt(threshold / np.maximum(freq, 1e-12)))
        return np.array([per_class[p].max() if len(p) else 1.0 for p in present])

    def read_image(self, index: int) -> np.ndarray:
        path = self.root / self.images[index]["file_name"]
        if not path.is_file():
            path = self.root / "images" / self.images[index]["file_name"]
        try:
            with Image.open(path) as im:
                return np.asarray(im.convert("RGB"))
        except OSError as exc:
            raise DatasetError(f"cannot read image {path}: {exc}") from None

    def __getitem__(self, key: int | tuple[int, int]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        index, draw = (key, 0) if isinstance(key, int | np.integer) else key
        image = self.read_image(index)
        anns = self.targets[index]
        labels = np.array([c for c, _ in anns], dtype=np.int64)
        boxes = xywh_to_xyxy(np.array([b for _, b in anns], dtype=np.float64).reshape(-1, 4))
        if self.augment is not None or self.crop_size is not None:
            # Without augmentation every draw of an image gives the same window.
            rng = np.random.default_rng((self.seed, int(draw) if self.augment else 0, int(index)))
            size = self.crop_size or self.canvas_size
            augment = self.augment or PLAIN
            base = None
            if self.ui_scale is not None and self.crop_size is not None:
                base = self.ui_scale / float(self.images[index].get("scale", 1.0))
            canvas, boxes, keep = augment.geometry(image, boxes, size, rng, fit_size=self.canvas_size,
                                                   focus_weights=self.class_weight[labels], base_scale=base)  # fmt: skip
            canvas, labels = augment.colour(canvas, rng), labels[keep]
        else:
            canvas, lb = letterbox_image(image, canvas_size=self.canvas_size)
            boxes = lb.to_canvas(boxes)
        cxcywh = (
            xyxy_to_cxcywh(normalize(boxes, canvas.shape[1], canvas.shape[0]))
            .astype(np.float32)
            .reshape(-1, 4)
        )
        pixels = to_tensor([canvas], self.mean, self.std)[0]
        target = {
            "class_labels": torch.from_numpy(labels),
            "boxes": torch.from_numpy(cxcywh),
            "image_id": torch.tensor(int(self.images[index]["id"])),
        }
        return pixels, target


def collate(batch: list[tuple[torch.Tensor, dict]]) -> tuple[torch.Tensor, list[dict]]:
    """[(pixels [3, H, W], target)] -> (pixels [B, 3, H, W], [target])."""
    return torch.stack([p for p, _ in batch]), [t for _, t in batch]


class StepSampler(torch.utils.data.Sampler):
    """Yields batches of ``(index, draw)`` keys for steps ``start .. steps-1``; batch k depends only on
    (seed, k, rank), and ``draw`` is unique per step and rank so augmentations never repeat.

    That makes training resumable at any step without storing sampler state, and gives each DDP rank
    its own batches.
    """

    def __init__(self, n: int, batch_size: int, steps: int, start: int = 0, seed: int = 0, rank: int = 0,
                 weights: np.ndarray | None = None):  # fmt: skip
        """``weights``: optional relative odds per image (e.g. `CocoDetection.repeat_factors`)."""
        self.n, self.batch_size, self.steps, self.start, self.seed, self.rank = (
            n,
            batch_size,
            steps,
            start,
            seed,
            rank,
        )
        self.p = None
        if weights is not None:
            w = np.asarray(weights, dtype=np.float64)
            if w.shape != (n,) or not np.all(w >= 0) or w.sum() <= 0:
                raise ValueError(f"sampler weights must be {n} non-negative numbers, not all zero")
            self.p = w / w.sum()

    def __len__(self) -> int:
        return max(0, self.steps - self.start)

    def __iter__(self):
        for step in range(self.start, self.steps):
            rng = np.random.default_rng((self.seed, step, self.rank))
            replace = self.n < self.batch_size or (
                self.p is not None and np.count_nonzero(self.p) < self.batch_size
            )
            idx = rng.choice(self.n, size=self.batch_size, replace=replace, p=self.p).tolist()
            yield [(i, step * 1000 + self.rank) for i in idx]
