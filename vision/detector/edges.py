"""Edge refinement: each detected box's four edges moved onto the screen's own pixels.

The detector reads a 1280×800 screen at 0.625 (a 1920-wide one at 0.42), so one of its pixels is 1.6-2.4
screen pixels, and its boxes land about a screen pixel off each edge (median; 2-5 px at the 90th
percentile, measured on 200 held-out screens). Most UI elements are 16-26 px tall, so that is enough to
keep a box under IoU 0.9 with the truth: held-out AP was 0.77 at IoU 0.5 but 0.42 at 0.85 and 0.15 at 0.9,
and that fall, not missed elements, is most of the gap between mAP@0.5 and mAP@[.5:.95].

At full resolution an edge is plain: a frame, the end of a fill, where a line of text starts. So each edge
is read on its own, across a strip of the screenshot centred on where the detector put it:

- the strip reaches ``reach`` screen pixels either side of the edge (`reach_px`, or `reach_share` of the
  box's side across the edge when that is larger: big boxes are off by more), sampled at `across`
  points, and runs along the edge at `along` points spread over the box's extent;
- every strip is turned so that "outside" comes first (a right edge is read right to left, a bottom
  edge bottom to top), so one network reads all four edges; the edge (left, top, right, bottom) and the
  element's kind are embeddings added to its features;
- a small CNN scores each of the `across` points as the edge, and the edge moves to the softmax-weighted
  mean point (sub-pixel, and where the strip holds nothing it can read it stays near the middle).

Trained (`deskpilot train edges`) on sandbox screens' ground-truth boxes with each edge displaced the way
the detector displaces them (Laplace noise, scale growing with the box's side). Weights:
``edges.safetensors`` beside the detector's; `Detector.detect` runs it last, after the kind refiners and
the list-row snapper (which finds each row's band of text; this then puts the row's frame to the pixel),
and then drops a box of one kind that now coincides with a surer one (`drop_repeats`).
"""

from __future__ import annotations

import dataclasses
import json
import random
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from agent.errors import WeightsError
from agent.types import ELEMENT_KINDS, Element
from vision.detector.small_weights import read_fp32, read_metadata, save_fp16

EDGES_NAME = "edges.safetensors"
#: The order of a box's edges in strips and outputs; a box is (x1, y1, x2, y2) in the same order.
EDGE_NAMES = ("left", "top", "right", "bottom")


class EdgeRefiner(nn.Module):
    """Moves each edge of a box onto the pixels (see the module docstring).

    Args:
        kinds: the element kinds it has an embedding for; boxes of any other kind are left as they are.
        across, along: sample points across and along an edge.
        width: CNN channels.
        reach_px, reach_share: half the strip's extent across the edge, in screen pixels (per device pixel
            ratio): ``max(reach_px, reach_share * side)``.
    """

    def __init__(self, kinds: tuple[str, ...] = ELEMENT_KINDS, across: int = 48, along: int = 12, width: int = 16,
                 reach_px: float = 8.0, reach_share: float = 0.12):  # fmt: skip
        super().__init__()
        self.kinds = tuple(kinds)
        self.across, self.along, self.width = int(across), int(along), int(width)
        self.reach_px, self.reach_share = float(reach_px), float(reach_share)
        self.conv = nn.Sequential(
            nn.Conv2d(3, width, 3, padding=1), nn.ReLU(), nn.Conv2d(width, width, 3, padding=1), nn.ReLU()
        )
        self.kind = nn.Embedding(len(self.kinds), 2 * width)
        self.edge = nn.Embedding(4, 2 * width)
        self.position = nn.Parameter(torch.zeros(2 * width, across))
        self.head = nn.Sequential(
            nn.Conv1d(2 * width, width, 5, padding=2), nn.ReLU(), nn.Conv1d(width, 1, 3, padding=1)
        )
        # The sample points, -1 (outside) .. 1 (inside), as fractions of the reach.
        self.register_buffer("points", torch.linspace(-1.0, 1.0, across), persistent=False)

    # ----------------------------------------------------------------------------------------- model
    def forward(self, strips: torch.Tensor, kinds: torch.Tensor, edges: torch.Tensor) -> torch.Tensor:
        """strips [M, 3, across, along] (`strips`), kinds [M] and edges [M] (indices) -> logits [M, across]."""
        f = self.conv(strips)
        f = torch.cat([f.mean(3), f.amax(3)], 1)  # [M, 2w, across]
        f = f + self.position + (self.kind(kinds) + self.edge(edges))[:, :, None]
        return self.head(f).squeeze(1)

    def offsets(self, logits: torch.Tensor) -> torch.Tensor:
        """[M, across] logits -> [M] the edge's place as a fraction of the reach (-1 outside .. 1 inside)."""
        return (logits.softmax(1) * self.points).sum(1)

    # ---------------------------------------------------------------------------------------- strips
    def reaches(self, boxes: torch.Tensor, scale: float = 1.0) -> torch.Tensor:
        """[N, 4] xyxy -> [N, 4] half the strip's extent for each edge (left, top, right, bottom)."""
        w = (boxes[:, 2] - boxes[:, 0]).clamp(min=1.0)
        h = (boxes[:, 3] - boxes[:, 1]).clamp(min=1.0)
        side = torch.stack([w, h, w, h], 1)
        return torch.maximum(torch.full_like(side, self.reach_px * scale), self.reach_share * side)

    def strips(
        self, image: torch.Tensor, boxes: torch.Tensor, scale: float = 1.0
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Read the four edge strips of each box.

        Args:
            image: [3, H, W] float in 0..1.
            boxes: [N, 4] xyxy in the image's pixels (continuous: pixel i spans i..i+1).
            scale: the screen's device pixel ratio (reaches are in logical pixels).

        Returns:
            strips [N * 4, 3, across, along], each centred on its own mean; reach [N, 4].
        """
        n = boxes.shape[0]
        _, height, width = image.shape
        reach = self.reaches(boxes, scale)
        t = self.points  # [A]
        s = (torch.arange(self.along, dtype=boxes.dtype) + 0.5) / self.along  # [S], along the edge
        x1, y1, x2, y2 = boxes.unbind(1)
        # across positions [N, 4, A]; outside first, so right and bottom edges run backwards
        base = torch.stack([x1, y1, x2, y2], 1)[:, :, None]
        sign = torch.tensor([1.0, 1.0, -1.0, -1.0], dtype=boxes.dtype)[None, :, None]
        across = base + sign * reach[:, :, None] * t
        # along positions [N, 4, S]: y for left/right edges, x for top/bottom ones
        ys = y1[:, None] + (y2 - y1)[:, None] * s
        xs = x1[:, None] + (x2 - x1)[:, None] * s
        along = torch.stack([ys, xs, ys, xs], 1)
        a = across[:, :, :, None].expand(n, 4, self.across, self.along)
        b = along[:, :, None, :].expand(n, 4, self.across, self.along)
        vertical = torch.tensor([True, False, True, False])[None, :, None, None]  # left/right: across is x
        gx = torch.where(vertical, a, b)
        gy = torch.where(vertical, b, a)
        grid = torch.stack([gx / width * 2 - 1, gy / height * 2 - 1], -1)  # [N, 4, A, S, 2]
        grid = grid.reshape(1, n * 4 * self.across, self.along, 2).to(image.dtype)
        out = F.grid_sample(image[None], grid, mode="bilinear", padding_mode="border", align_corners=False)
        out = out[0].reshape(3, n * 4, self.across, self.along).permute(1, 0, 2, 3)
        return out - out.mean(dim=(1, 2, 3), keepdim=True), reach

    # -------------------------------------------------------------------------------------- inference
    @torch.no_grad()
    def refine_boxes(self, image: np.ndarray, boxes: np.ndarray, kinds: list[str], scale: float = 1.0,
                     chunk: int = 512) -> np.ndarray:  # fmt: skip
        """[N, 4] xyxy boxes of ``image`` (RGB uint8, HxWx3, boxes in its pixels) -> refined [N, 4].
        Boxes of kinds it does not know come back unchanged."""
        boxes = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
        known = np.array([k in self.kinds for k in kinds], dtype=bool)
        out = boxes.copy()
        if not known.any():
            return out
        img = torch.from_numpy(np.array(image[:, :, :3], dtype=np.float32)).permute(2, 0, 1) / 255.0
        idx = np.nonzero(known)[0]
        for start in range(0, len(idx), chunk):
            part = idx[start : start + chunk]
            b = torch.from_numpy(boxes[part])
            strips, reach = self.strips(img, b, scale)
            kind = torch.tensor([self.kinds.index(kinds[i]) for i in part]).repeat_interleave(4)
            edge = torch.arange(4).repeat(len(part))
            t = self.offsets(self(strips, kind, edge)).reshape(-1, 4)
            sign = torch.tensor([1.0, 1.0, -1.0, -1.0])
            moved = b + sign * reach * t
            # an edge never crosses its opposite: keep at least a pixel between them
            bad = (moved[:, 2] - moved[:, 0] < 1) | (moved[:, 3] - moved[:, 1] < 1)
            moved[bad] = b[bad]
            out[part] = moved.numpy()
        return out

    def refine(self, image: np.ndarray, elements: list[Element], origin: tuple[float, float] = (0.0, 0.0),
               scale: float = 1.0, skip: frozenset[str] | tuple[str, ...] = (),
               collapsed: float = 0.5) -> list[Element]:  # fmt: skip
        """``elements`` of ``image`` (boxes in screen pixels = image pixels + ``origin``) with their boxes
        moved onto the pixels; kind, score, text and embedding are kept. ``scale``: the screen's device
        pixel ratio; kinds in ``skip`` keep their boxes.

        An element whose box shrinks to under ``collapsed`` of its width or height is dropped: it framed
        no widget (a text field found over the gap between two fields, whose edges both went to one
        field's frame). Of 10,157 held-out detections at score >= 0.35, 24 shrank so, none of them on a
        true element before or after."""
        if not elements:
            return elements
        ox, oy = origin
        boxes = np.array([e.box for e in elements], dtype=np.float32) - np.array([ox, oy, ox, oy], np.float32)
        h, w = image.shape[:2]
        moved = self.refine_boxes(
            image, boxes, [e.kind if e.kind not in skip else "" for e in elements], scale
        )
        moved[:, 0::2] = moved[:, 0::2].clip(0, w)
        moved[:, 1::2] = moved[:, 1::2].clip(0, h)
        out = []
        for e, b, (x1, y1, x2, y2) in zip(elements, boxes.tolist(), moved.tolist(), strict=True):
            if e.kind in skip or e.kind not in self.kinds or x2 - x1 < 1 or y2 - y1 < 1:
                out.append(e)
            elif min((x2 - x1) / max(b[2] - b[0], 1e-6), (y2 - y1) / max(b[3] - b[1], 1e-6)) >= collapsed:
                out.append(
                    dataclasses.replace(e, box=(x1 + ox, y1 + oy, x2 + ox, y2 + oy), state=dict(e.state))
                )
        return out

    # -------------------------------------------------------------------------------------- save/load
    def meta(self) -> dict[str, str]:
        return {"kinds": json.dumps(list(self.kinds)), "across": str(self.across), "along": str(self.along),
                "width": str(self.width), "reach_px": str(self.reach_px), "reach_share": str(self.reach_share)}  # fmt: skip

    def save(self, directory: str | Path) -> Path:
        """Write ``edges.safetensors`` (fp16, with its sizes as metadata) into ``directory``."""
        return save_fp16(self.state_dict(), Path(directory) / EDGES_NAME, self.meta())

    @classmethod
    def load(cls, directory: str | Path) -> EdgeRefiner | None:
        """The edge refiner in ``directory``; None when there is none, WeightsError when the file does not fit."""
        path = Path(directory) / EDGES_NAME
        if not path.is_file():
            return None
        try:
            meta = read_metadata(path)
            model = cls(tuple(json.loads(meta["kinds"])), int(meta["across"]), int(meta["along"]),
                        int(meta["width"]), float(meta["reach_px"]), float(meta["reach_share"]))  # fmt: skip
            model.load_state_dict(read_fp32(path))
        except Exception as exc:
            raise WeightsError(f"{path} is not an edge refiner: {exc}") from None
        return model.eval()


# ----------------------------------------------------------------------------------------------- training
def displace(boxes: np.ndarray, rng: np.random.Generator, base_px: float = 1.2, share: float = 0.02,
             exact: float = 0.1) -> np.ndarray:  # fmt: skip
    """[N, 4] xyxy boxes with each edge moved the way the detector misplaces them: Laplace noise of scale
    ``base_px + share * side`` (held-out detections: median error ~1 px, 90th percentile 2-5 px, more on
    wide boxes); a share ``exact`` of boxes are left where they are."""
    boxes = np.asarray(boxes, dtype=np.float32)
    w = boxes[:, 2] - boxes[:, 0]
    h = boxes[:, 3] - boxes[:, 1]
    side = np.stack([w, h, w, h], 1)
    noise = rng.laplace(0.0, 1.0, boxes.shape) * (base_px + share * side)
    noise[rng.random(len(boxes)) < exact] = 0.0
    moved = boxes + noise.astype(np.float32)
    # keep a real box: at least 2 px wide and tall
    moved[:, 2] = np.maximum(moved[:, 2], moved[:, 0] + 2)
    moved[:, 3] = np.maximum(moved[:, 3], moved[:, 1] + 2)
    return moved


def samples_from_coco(model: EdgeRefiner, root: str | Path, *, max_images: int | None = None, copies: int = 2,
                      seed: int = 0, progress=None) -> dict[str, torch.Tensor]:  # fmt: skip
    """Strips of a COCO folder's ground-truth boxes (`deskpilot sandbox gen-detection`), each box displaced
    ``copies`` times (`displace`): {"strips" [M, 3, A, S] fp16, "kind" [M], "edge" [M], "target" [M]
    (the true edge as a fraction of the reach), "reach" [M], "side" [M] (the box's true side across the
    edge), "image" [M]}."""
    from PIL import Image

    from vision.data import load_coco

    root = Path(root)
    coco = load_coco(root)
    names = {c["id"]: c["name"] for c in coco["categories"]}
    by_image: dict[int, list[dict]] = {}
    for a in coco["annotations"]:
        if names.get(a["category_id"]) in model.kinds:
            by_image.setdefault(a["image_id"], []).append(a)
    images = [im for im in coco["images"] if im["id"] in by_image][:max_images]
    if not images:
        raise WeightsError(f"{root} has no annotated elements to learn edges from")
    rng = np.random.default_rng(seed)
    parts: dict[str, list[torch.Tensor]] = {
        k: [] for k in ("strips", "kind", "edge", "target", "reach", "side", "image")
    }
    sign = torch.tensor([1.0, 1.0, -1.0, -1.0])
    for n, im in enumerate(images):
        path = root / im["file_name"]
        with Image.open(path if path.is_file() else root / "images" / im["file_name"]) as f:
            arr = np.asarray(f.convert("RGB"))
        img = torch.from_numpy(arr.copy()).permute(2, 0, 1).float() / 255.0
        anns = by_image[im["id"]]
        truth = np.array([[a["bbox"][0], a["bbox"][1], a["bbox"][0] + a["bbox"][2], a["bbox"][1] + a["bbox"][3]]
                          for a in anns], np.float32).repeat(copies, 0)  # fmt: skip
        kinds = [model.kinds.index(names[a["category_id"]]) for a in anns for _ in range(copies)]
        moved = torch.from_numpy(displace(truth, rng))
        with torch.no_grad():
            strips, reach = model.strips(img, moved, float(im.get("scale", 1.0)))
        t = torch.from_numpy(truth)
        target = (t - moved) * sign / reach  # [N, 4]
        w = t[:, 2] - t[:, 0]
        h = t[:, 3] - t[:, 1]
        parts["strips"].append(strips.half())
        parts["kind"].append(torch.tensor(kinds).repeat_interleave(4))
        parts["edge"].append(torch.arange(4).repeat(len(kinds)))
        parts["target"].append(target.reshape(-1))
        parts["reach"].append(reach.reshape(-1))
        parts["side"].append(torch.stack([w, h, w, h], 1).reshape(-1))
        parts["image"].append(torch.full((len(kinds) * 4,), int(im["id"])))
        if progress is not None:
            progress(n + 1, len(images))
    return {k: torch.cat(v) for k, v in parts.items()}


def edge_loss(model: EdgeRefiner, logits: torch.Tensor, target: torch.Tensor, reach: torch.Tensor,
              side: torch.Tensor) -> torch.Tensor:  # fmt: skip
    """Cross-entropy on the sample point nearest the true edge (where it lies within the strip) plus the
    soft-argmax's error in pixels relative to the box's side (what IoU feels)."""
    inside = target.abs() <= 1.0
    nearest = ((target.clamp(-1, 1) + 1) / 2 * (model.across - 1)).round().long()
    ce = F.cross_entropy(logits[inside], nearest[inside]) if bool(inside.any()) else logits.sum() * 0
    err = (model.offsets(logits) - target).abs() * reach / side.clamp(min=4.0)
    return ce + 20.0 * err.mean()


def train_edges(root: str | Path, *, max_images: int | None = 1500, copies: int = 2, epochs: int = 8,
                batch: int = 512, lr: float = 3e-3, seed: int = 0, val_fraction: float = 0.1,
                progress=None) -> tuple[EdgeRefiner, dict]:  # fmt: skip
    """Fit an `EdgeRefiner` on a COCO folder's ground truth (images split into train and validation).

    Returns the model and {"train", "val" (strips), "val_px_before", "val_px_after" (median absolute edge
    error in pixels on the validation images' displaced boxes), "val_within_1px_after"}.
    """
    torch.manual_seed(seed)
    random.seed(seed)
    model = EdgeRefiner()
    data = samples_from_coco(model, root, max_images=max_images, copies=copies, seed=seed,
                             progress=None if progress is None else (lambda d, t: progress("read", d, t)))  # fmt: skip
    ids = data["image"].unique()
    gen = torch.Generator().manual_seed(seed)
    val_ids = ids[torch.randperm(len(ids), generator=gen)[: max(1, int(len(ids) * val_fraction))]]
    is_val = torch.isin(data["image"], val_ids)
    train_idx = torch.nonzero(~is_val).squeeze(1)
    val_idx = torch.nonzero(is_val).squeeze(1)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    total = epochs * ((len(train_idx) + batch - 1) // batch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=max(1, total), pct_start=0.1)
    step = 0
    for _ in range(epochs):
        model.train()
        order = train_idx[torch.randperm(len(train_idx), generator=gen)]
        for i in range(0, len(order), batch):
            b = order[i : i + batch]
            logits = model(data["strips"][b].float(), data["kind"][b], data["edge"][b])
            loss = edge_loss(model, logits, data["target"][b], data["reach"][b], data["side"][b])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            step += 1
            if progress is not None:
                progress("train", step, total)
    model.eval()
    errs = []
    with torch.no_grad():
        for i in range(0, len(val_idx), 4096):
            b = val_idx[i : i + 4096]
            t = model.offsets(model(data["strips"][b].float(), data["kind"][b], data["edge"][b]))
            errs.append((t - data["target"][b]).abs() * data["reach"][b])
    after = torch.cat(errs) if errs else torch.zeros(0)
    before = data["target"][val_idx].abs() * data["reach"][val_idx]
    metrics = {"train": len(train_idx), "val": len(val_idx),
               "val_px_before": round(float(before.median()), 3) if len(before) else float("nan"),
               "val_px_after": round(float(after.median()), 3) if len(after) else float("nan"),
               "val_within_1px_after": round(float((after <= 1.0).float().mean()), 4) if len(after) else float("nan")}  # fmt: skip
    return model, metrics
