"""The element detector: transformers' RT-DETR with a small Swin backbone, built from config alone.

Why RT-DETR: measured on the 2-core CPU this project targets (Swin embed 48, depths 2-2-2-2, d_model 128,
3 decoder layers, 640×416 input, batch 8): Conditional DETR takes 4.0 s per bf16 training step and 122 ms
per image at inference, RT-DETR 5.1 s and 250 ms. RT-DETR is slower per step but learns far faster per
step (query selection from encoder scores and denoising queries; a colleague measured mAP@0.5 0.28 after
15 CPU-minutes from scratch), and with only a few CPU-hours of training, steps-to-accuracy is what counts.
Deformable DETR was 3× slower still. bf16 backward was ~6× slower than fp32 on that AVX2 CPU, so
training runs fp32; inference can run the front in bf16 or through OpenVINO (`accelerate`, `vision.accel`).
The model is created from `DetectorConfig` (no downloads); `Detector.save` writes ``model.safetensors``
(fp16) and ``config.json``; `Detector.load` checks both.

Screens reach the model as fixed-size tiles (`vision.detector.tiling`): RT-DETR's boxes are fractions of
its canvas, so the canvas it detects on must be the size of the crops it trained on, unless its anchors
keep their pixel size (`DetectorConfig.anchor_width`, `fixed_anchor_size`). The shipped detector was
trained on 352×256 tiles and, with anchors of that tile's size, fine-tuned and run on one 800×512 tile,
the whole fitted screen: 2.9× less network time than nine overlapping 352×256 tiles.

Outputs (eval mode), for a batch of B canvases and Q queries:
    logits [B, Q, C] (sigmoid scores, focal loss), boxes [B, Q, 4] cxcywh normalised to the canvas,
    embeddings [B, Q, d_model] (the last decoder layer's query states; the policy's element embedding).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import itertools
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from agent.errors import WeightsError
from agent.types import Element
from vision.detector.configuration import DetectorConfig
from vision.detector.panes import PaneRule, fit_text_areas
from vision.detector.processing import PAD_VALUE, Letterbox, ceil32, letterbox_image, to_tensor
from vision.detector.refine import AFTER_EDGES
from vision.detector.rows import RowSnapper
from vision.detector.tiling import Tile

WEIGHTS_NAME = "model.safetensors"
CONFIG_NAME = "config.json"


def hf_config(config: DetectorConfig):
    """The transformers `RTDetrConfig` (with a `SwinConfig` backbone) for ``config``."""
    from transformers import RTDetrConfig, SwinConfig

    swin = SwinConfig(
        embed_dim=config.swin_embed_dim,
        depths=list(config.swin_depths),
        num_heads=list(config.swin_heads),
        window_size=config.swin_window,
        out_features=["stage2", "stage3", "stage4"],
    )
    return RTDetrConfig(
        backbone_config=swin,
        use_pretrained_backbone=False,
        num_labels=config.num_classes,
        id2label=dict(enumerate(config.classes)),
        label2id={c: i for i, c in enumerate(config.classes)},
        encoder_in_channels=list(config.backbone_channels),
        encoder_hidden_dim=config.d_model,
        encoder_layers=config.encoder_layers,
        encoder_ffn_dim=config.encoder_ffn_dim,
        encoder_attention_heads=config.attention_heads,
        d_model=config.d_model,
        decoder_in_channels=[config.d_model] * 3,
        decoder_ffn_dim=config.decoder_ffn_dim,
        decoder_layers=config.decoder_layers,
        decoder_attention_heads=config.attention_heads,
        num_queries=config.num_queries,
        num_denoising=config.num_denoising,
    )


@dataclass
class RawDetections:
    """Model outputs for B canvases. logits [B, Q, C]; boxes [B, Q, 4] cxcywh in [0, 1] of the canvas;
    embeddings [B, Q, D]."""

    logits: torch.Tensor
    boxes: torch.Tensor
    embeddings: torch.Tensor


class Detector(nn.Module):
    """Swin + RT-DETR element detector.

    ``forward(pixel_values, labels)`` is the transformers forward (loss when labels are given);
    `raw` and `detect` are the inference entry points.
    """

    def __init__(self, config: DetectorConfig):
        super().__init__()
        from transformers import RTDetrForObjectDetection

        self.config = config
        # transformers logs a line per unused/new weight on some versions; nothing here is pretrained.
        logging.getLogger("transformers.modeling_utils").setLevel(logging.ERROR)
        self.model = RTDetrForObjectDetection(hf_config(config))
        if config.anchor_size is not None:
            fixed_anchor_size(self.model.model, config.anchor_size)
        # `vision.detector.refine.KindRefiner`s that re-decide look-alike kinds after detection, in
        # order; each has its own file, and a plain list keeps them out of this module's state dict.
        self.refiners: list = []
        self.checks = None  # a `vision.widget_state.CheckReader` that perception runs after detection
        # a `vision.detector.edges.EdgeRefiner` that moves boxes' edges onto the pixels after the kind
        # refiners and the row snapper; None when not shipped. Set with
        # `set_edges`: like the refiners it has its own file and stays out of this module's state dict.
        self.set_edges(None)
        # after the refiners, a detection of one kind overlapping a surer one of its kind by more than
        # this IoU is that widget found twice (two tiles, or two boxes the edge refiner moved onto the
        # same frame) and is dropped; >= 1 keeps them. Held-out 200, with the edge refiner: mAP 0.668 ->
        # 0.684, mAP@0.5 0.777 -> 0.804 at 0.6 (tiling merges at 0.7 across kinds)
        self.repeat_iou = 0.6
        # snaps list and menu rows to their lines of text after the refiners; None turns it off
        self.rows: RowSnapper | None = RowSnapper()
        # text areas from the flat panes under the detector's hints (`vision.detector.panes`), after the
        # repeats are dropped; None turns it off. Held-out 200: text_area AP@0.5 0.196 -> 0.867
        self.panes: PaneRule | None = PaneRule()
        # tiles without a single edge are not run (`vision.detector.tiling.blank_tiles`)
        self.skip_blank_tiles = True
        # how `raw` runs the front and the decoder (`accelerate`): OpenVINO-compiled, or torch (the front
        # in bf16 or fp32)
        self.accelerated = self.accelerated_decoder = None
        self.front_bf16 = False

    def set_edges(self, refiner) -> None:
        """Use ``refiner`` (a `vision.detector.edges.EdgeRefiner`, or None) after detection."""
        object.__setattr__(self, "edges", refiner)  # not a submodule: not saved with the detector

    def forward(self, pixel_values: torch.Tensor, labels: list[dict] | None = None):
        """pixel_values [B, 3, H, W] normalised; labels: per image {"class_labels": [n] int64,
        "boxes": [n, 4] cxcywh normalised}. Returns the transformers output (``.loss``, ``.loss_dict``)."""
        return self.model(pixel_values=pixel_values, labels=labels)

    def front(self, pixel_values: torch.Tensor, bf16: bool = False) -> list[torch.Tensor]:
        """The backbone, its input projections and the hybrid encoder: canvases [B, 3, H, W] -> the
        encoder's feature maps (fp32), which `decode_front` turns into detections. ``bf16`` runs it under
        bf16 autocast (see `vision.accel`: the front tolerates bf16, the decoder does not)."""
        m = self.model.model
        b, _, h, w = pixel_values.shape
        ctx = torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()
        with ctx:
            features = m.backbone(
                pixel_values, torch.ones((b, h, w), dtype=pixel_values.dtype, device=pixel_values.device)
            )
            proj = [m.encoder_input_proj[level](source) for level, (source, _) in enumerate(features)]
            maps = m.encoder(proj).last_hidden_state
        return [x.float() for x in maps]

    def decode_front(self, maps: list[torch.Tensor]):
        """The rest of RT-DETR (query selection and the decoder, fp32) on `front`'s feature maps; the
        transformers output, as ``self.model(pixel_values)`` gives it."""
        from transformers.modeling_outputs import BaseModelOutput

        # RT-DETR skips its backbone and encoder when handed their outputs; inputs_embeds only gives
        # the batch size and device there.
        return self.model(
            pixel_values=None, inputs_embeds=maps[0], encoder_outputs=BaseModelOutput(last_hidden_state=maps)
        )

    def accelerate(
        self, runtime: str = "auto", precision: str = "auto", decoder: bool = True, **kwargs
    ) -> str:
        """Choose how `raw` runs the front and the decoder (`vision.accel`): ``runtime`` torch|openvino|auto
        and ``precision`` fp32|bf16|auto (the front's; the decoder is always fp32). Returns a description
        such as ``"openvino bf16"``. With OpenVINO both (the front only without ``decoder``) are converted
        once per weights file and cached on disk (``kwargs``: ``cache_dir``, ``threads``); they hold the
        weights of that moment, so `load_state` drops them (call this again after changing weights)."""
        from vision.accel import (
            OpenVinoDecoder,
            OpenVinoFront,
            resolve_precision,
            resolve_runtime,
            weights_key,
        )

        runtime, precision = resolve_runtime(runtime), resolve_precision(precision)
        if runtime == "openvino" and self.config.tile_size is None:
            runtime = "torch"  # whole-screen canvases change size; OpenVINO is compiled for one
        self.accelerated = self.accelerated_decoder = None
        if runtime == "openvino":
            kwargs.setdefault("key", weights_key(self))
            self.accelerated = OpenVinoFront(self, precision=precision, **kwargs)
            self.accelerated_decoder = OpenVinoDecoder(self, **kwargs) if decoder else None
        self.front_bf16 = precision == "bf16"
        return f"{runtime} {precision}"

    @torch.no_grad()
    def raw(self, pixel_values: torch.Tensor, bf16: bool | None = None) -> RawDetections:
        """Inference on prepared canvases [B, 3, H, W]; any H, W that are multiples of 32 (the tile size
        with an OpenVINO front). ``bf16`` runs the front in bf16 (None: as `accelerate` set it; it has
        no effect on an OpenVINO front, compiled at its own precision)."""
        was_training = self.training
        if was_training:  # train()/eval() walk every submodule: ~6 ms a call, so only when needed
            self.eval()
        try:
            compiled = self.accelerated is not None and pixel_values.device.type == "cpu"
            if compiled and tuple(pixel_values.shape[-2:]) == self.config.tile_size[::-1]:
                maps = self.accelerated(pixel_values)
            else:
                maps = self.front(pixel_values, bf16=self.front_bf16 if bf16 is None else bf16)
            decoder = self.accelerated_decoder
            if decoder is not None and pixel_values.device.type == "cpu" and decoder.fits(maps):
                logits, boxes, embeddings = decoder(*maps)
            else:
                out = self.decode_front(maps)
                logits, boxes, embeddings = out.logits, out.pred_boxes, out.last_hidden_state
        finally:
            if was_training:
                self.train()
        return RawDetections(logits=logits.float(), boxes=boxes.float(), embeddings=embeddings.float())

    def prepare(
        self, images: list[np.ndarray], scale: float | None = None
    ) -> tuple[torch.Tensor, list[Letterbox]]:
        """H×W×3 uint8 screenshots -> ([B, 3, h, w] tensor, letterboxes).

        Without ``scale`` each image is fitted into the configured input size; with it, images are
        resized by that factor into a canvas rounded up to multiples of 32 (all images must then give
        the same canvas).
        """
        canvases, boxes = [], []
        for image in images:
            if scale is None:
                canvas, lb = letterbox_image(image, canvas_size=self.config.input_size)
            else:
                h, w = image.shape[:2]
                size = min_canvas(self.config, (ceil32(w * scale), ceil32(h * scale)))
                canvas, lb = letterbox_image(image, canvas_size=size, scale=scale)
            canvases.append(canvas)
            boxes.append(lb)
        device = next(self.parameters()).device
        return to_tensor(canvases, self.config.image_mean, self.config.image_std).to(device), boxes

    def detect(
        self,
        images: list[np.ndarray],
        *,
        score_threshold: float = 0.35,
        nms_iou: float = 0.7,
        scale: float | None = None,
        screen_scale: float | Sequence[float] = 1.0,
        bf16: bool | None = None,
        origin: tuple[float, float] = (0.0, 0.0),
        batch_size: int = 16,
        window: tuple[float, float, float, float] | None = None,
        candidates: float | None = None,
    ) -> list[list[Element]]:
        """Screenshots -> elements per image, boxes in each image's pixels (+ ``origin``), text empty.

        ``scale`` resizes by a fixed factor instead of fitting each image into ``config.input_size`` (the
        frame-diff cache re-detects a changed rectangle at the scale of the whole screen). With tiles
        (``config.tile_size``) the resized image is covered by fixed-size windows, see
        `vision.detector.tiling`; ``batch_size`` windows run per forward pass. Without ``scale``, a
        config with ``ui_scale`` resizes each image by ``ui_scale / screen_scale`` (its device pixel
        ratio: one number, or one per image), see `DetectorConfig.scale_for`. ``bf16`` as in `raw`.

        ``window`` (image pixels xyxy; tiled configs only) runs only the tiles of each image's own tile
        plan that overlap it, so a changed rectangle is re-detected on the very windows a full re-detect
        reads there (the frame-diff cache), and its detections are those of the whole screen's tiles.
        ``candidates`` (below ``score_threshold``) also returns the detections down to it, for a caller
        that keeps some of them (the cache's hysteresis); they do not shape the list rows the others snap
        to, nor join the pieces of sure ones cut by tile edges (a weak piece between a wizard's two fields
        had made them one box), so the detections at ``score_threshold`` and above are those a call
        without it returns.
        """
        rows, sure = self.rows, None
        if candidates is not None and candidates < score_threshold:
            if rows is not None:
                rows = dataclasses.replace(rows, min_score=max(rows.min_score, score_threshold))
            sure, score_threshold = score_threshold, candidates
        # the text-area rule reads weak hints too (`vision.detector.panes`): detected down to its floor,
        # merged across tiles only among themselves, and set aside before anything else sees them
        floor = score_threshold
        if self.panes is not None and self.panes.hint_min < score_threshold:
            floor = self.panes.hint_min
        levels = tuple(t for t in (score_threshold, sure) if t is not None and t > floor)
        ratios = [screen_scale] * len(images) if np.isscalar(screen_scale) else list(screen_scale)
        if len(ratios) != len(images):
            raise ValueError(f"{len(ratios)} screen scales for {len(images)} images")
        from vision.detector.postprocess import (
            combo_popup_rows,
            demote_handleless_sliders,
            drop_straddlers,
            drop_text_boxes_around_widgets,
            fit_slider_grooves,
            postprocess,
        )

        if self.config.tile_size is not None:
            if scale is not None:
                scales = [scale] * len(images)
            else:
                scales = [
                    self.config.scale_for(im.shape[1::-1], r) for im, r in zip(images, ratios, strict=True)
                ]
            found = self._detect_tiled(
                images, floor, nms_iou, scales, bf16, origin, batch_size, window, levels
            )
        elif window is not None:
            raise ValueError("window needs a tiled detector (config.tile_size)")
        else:
            pixel_values, letterboxes = self.prepare(images, scale=scale)
            raw = self.raw(pixel_values, bf16=bf16)
            found = postprocess(raw, letterboxes, self.config.classes, score_threshold=floor,
                                nms_iou=nms_iou, origin=origin)  # fmt: skip
        hints = [[e for e in elements if e.score < score_threshold] for elements in found]
        found = [[e for e in elements if e.score >= score_threshold] for elements in found]
        for refiner in self.refiners:
            found = [
                refiner.refine(image, elements, origin) for image, elements in zip(images, found, strict=True)
            ]
        if rows is not None:
            found = [rows(image, elements, origin) for image, elements in zip(images, found, strict=True)]
        if self.edges is not None:  # after the rows: it places a snapped row's frame to the pixel
            found = [
                self.edges.refine(image, elements, origin, float(r))
                for image, elements, r in zip(images, found, ratios, strict=True)
            ]
            # a second look once the boxes are on the pixels, for the pairs told apart by a few pixels at
            # one end (`refine.AFTER_EDGES`): the refiners were fitted on exact boxes
            for refiner in self.refiners:
                if refiner.kinds in AFTER_EDGES:
                    found = [
                        refiner.refine(image, elements, origin)
                        for image, elements in zip(images, found, strict=True)
                    ]
        # a slider's ends from its groove (boxed short, its handle's position reads wrong); before the
        # repeats are dropped, so two pieces of one slider become one box and one of them goes
        found = [
            fit_slider_grooves(image, elements, origin) for image, elements in zip(images, found, strict=True)
        ]
        if self.repeat_iou < 1:
            found = [
                drop_text_boxes_around_widgets(drop_straddlers(drop_repeats(elements, self.repeat_iou)))
                for elements in found
            ]
        found = [combo_popup_rows(elements) for elements in found]
        if self.panes is not None:
            found = [
                fit_text_areas(image, elements, origin, float(r), self.panes, weak)
                for image, elements, weak, r in zip(images, found, hints, ratios, strict=True)
            ]
        # last, on the final boxes; what falls under the threshold goes
        found = [
            [e for e in demote_handleless_sliders(image, elements, origin) if e.score >= score_threshold]
            for image, elements in zip(images, found, strict=True)
        ]
        return found

    def _detect_tiled(
        self,
        images: list[np.ndarray],
        score_threshold: float,
        nms_iou: float,
        scales: list[float],
        bf16: bool | None,
        origin: tuple[float, float],
        batch_size: int,
        window: tuple[float, float, float, float] | None = None,
        levels: Sequence[float] = (),
    ) -> list[list[Element]]:
        """Tiled detection (see `detect`); detections are merged across tiles only with those between the
        same two of ``levels`` (scores)."""
        from vision.detector.postprocess import decode
        from vision.detector.tiling import blank_tiles, cut_by_inner_edge, merge_tiles, plan_tiles

        cfg = self.config
        tw, th = cfg.tile_size
        windows: list[tuple[int, Tile, np.ndarray]] = []  # (image index, tile, tile canvas)
        letterboxes: list[Letterbox] = []
        for i, (image, s) in enumerate(zip(images, scales, strict=True)):
            h, w = image.shape[:2]
            canvas, lb = letterbox_image(image, scale=s)  # the resized screen at the top-left
            letterboxes.append(lb)
            tiles = plan_tiles((max(1, round(w * s)), max(1, round(h * s))), (tw, th), cfg.tile_overlap)
            blank = blank_tiles(canvas, tiles, (tw, th)) if self.skip_blank_tiles else [False] * len(tiles)
            for tile, empty in zip(tiles, blank, strict=True):
                if empty:
                    continue
                if window is not None and not (
                    tile.x < window[2] * s and window[0] * s < tile.x + tw
                    and tile.y < window[3] * s and window[1] * s < tile.y + th
                ):  # fmt: skip
                    continue
                piece = canvas[tile.y : tile.y + th, tile.x : tile.x + tw]
                padded = np.full((th, tw, 3), PAD_VALUE, dtype=np.uint8)
                padded[: piece.shape[0], : piece.shape[1]] = piece
                windows.append((i, tile, padded))
        found: list[list[tuple]] = [[] for _ in images]  # per image: (boxes, scores, kinds, emb, cut)
        device = next(self.parameters()).device
        for start in range(0, len(windows), batch_size):
            chunk = windows[start : start + batch_size]
            pixels = to_tensor([c for _, _, c in chunk], cfg.image_mean, cfg.image_std).to(device)
            raw = self.raw(pixels, bf16=bf16)
            for k, (i, tile, _) in enumerate(chunk):
                boxes, scores, kinds, emb = decode(raw, k, (tw, th), score_threshold)
                cut = cut_by_inner_edge(boxes, tile, (tw, th))
                found[i].append((boxes + np.array([tile.x, tile.y] * 2), scores, kinds, emb, cut))
        out: list[list[Element]] = []
        ox, oy = origin
        for parts, lb in zip(found, letterboxes, strict=True):
            if not parts:  # a window over no tile
                out.append([])
                continue
            boxes, scores, kinds, emb, cut = (np.concatenate([p[k] for p in parts]) for k in range(5))
            merged = []
            bounds = [-np.inf, *sorted(levels), np.inf]
            for lo, hi in itertools.pairwise(bounds):
                part = np.flatnonzero((scores >= lo) & (scores < hi))
                got = merge_tiles(boxes[part], scores[part], cut[part], kinds[part], nms_iou=nms_iou)
                merged += [(box, part[members]) for box, members in got]
            source = lb.to_source(np.array([b for b, _ in merged]).reshape(-1, 4))  # screen pixels, clipped
            elements = []
            for (x1, y1, x2, y2), (_, members) in zip(source.tolist(), merged, strict=True):
                if x2 - x1 < 1 or y2 - y1 < 1:
                    continue
                j = int(members[0])
                elements.append(Element(box=(x1 + ox, y1 + oy, x2 + ox, y2 + oy), kind=cfg.classes[int(kinds[j])],
                                        score=float(scores[j]), embedding=emb[j].astype(np.float32)))  # fmt: skip
            out.append(elements)
        return out

    # ------------------------------------------------------------------------------------------ save/load
    def save(self, directory: str | Path, dtype: torch.dtype = torch.float16) -> Path:
        """Write ``model.safetensors`` (``dtype``) and ``config.json`` into ``directory``."""
        from safetensors.torch import save_file

        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        state = {k: v.detach().to("cpu", dtype if v.is_floating_point() else v.dtype).contiguous().clone()
                 for k, v in self.state_dict().items()}  # fmt: skip
        tmp = directory / (WEIGHTS_NAME + ".tmp")
        save_file(state, str(tmp), metadata={"format": "pt", "deskpilot": "detector"})
        tmp.replace(directory / WEIGHTS_NAME)
        self.config.save(directory / CONFIG_NAME)
        return directory

    @classmethod
    def load(cls, directory: str | Path, device: str | torch.device = "cpu") -> Detector:
        """Rebuild from ``directory``; raises `WeightsError` naming missing files or mismatched tensors."""
        directory = Path(directory)
        weights = directory / WEIGHTS_NAME
        missing = [p.name for p in (directory / CONFIG_NAME, weights) if not p.is_file()]
        if missing:
            raise WeightsError(
                f"detector weights not found in {directory} (missing {', '.join(missing)}); "
                "train them with `deskpilot train detector` or point to the shipped weights/detector"
            )
        config = DetectorConfig.load(directory / CONFIG_NAME)
        model = cls(config)
        model.load_state(_read_safetensors(weights), source=str(weights))
        from vision.detector.refine import KindRefiner

        model.refiners = KindRefiner.load_all(directory)  # empty when the folder has no refiner files
        from vision.widget_state import CheckReader

        model.checks = CheckReader.load(directory)  # the checkbox/radio state reader, None when absent
        from vision.detector.edges import EdgeRefiner

        model.set_edges(EdgeRefiner.load(directory))  # None when the folder has no edges.safetensors
        return model.to(device).eval()

    def load_state(self, state: dict[str, torch.Tensor], source: str = "state dict") -> None:
        """Load tensors (any float dtype) after checking keys and shapes; WeightsError on mismatch."""
        own = self.state_dict()
        missing = sorted(set(own) - set(state))
        unexpected = sorted(set(state) - set(own))
        wrong = [
            f"{k} {tuple(state[k].shape)} vs {tuple(v.shape)}"
            for k, v in own.items()
            if k in state and tuple(state[k].shape) != tuple(v.shape)
        ]
        if missing or unexpected or wrong:
            parts = []
            if wrong:
                parts.append(
                    f"{len(wrong)} tensors have other shapes than the config gives ({'; '.join(wrong[:3])})"
                )
            if missing:
                parts.append(f"{len(missing)} missing ({', '.join(missing[:3])})")
            if unexpected:
                parts.append(f"{len(unexpected)} unexpected ({', '.join(unexpected[:3])})")
            raise WeightsError(f"{source} does not match its detector config: " + "; ".join(parts))
        self.accelerated = self.accelerated_decoder = None  # compiled from the old weights
        self.load_state_dict({k: v.to(own[k].dtype) for k, v in state.items()})


def fixed_anchor_size(rtdetr, size: tuple[int, int]) -> None:
    """Make ``rtdetr`` (a transformers `RTDetrModel`) size its anchor boxes as on a ``size`` (w, h) canvas
    whatever canvas it runs on (`DetectorConfig.anchor_width`); their centres stay on its own grid."""
    base = rtdetr._cached_generate_anchors  # transformers' own, cached per canvas
    stride = int(rtdetr.config.feat_strides[0])

    @functools.lru_cache(maxsize=32)
    def scaled(shapes: tuple, grid_size: float, device, dtype) -> tuple[torch.Tensor, torch.Tensor]:
        logits, valid = base(shapes, grid_size, device, dtype)
        height, width = shapes[0]
        anchors = torch.sigmoid(logits.float())  # cxcywh fractions of this canvas; invalid ones saturate
        anchors[..., 2] *= size[0] / (width * stride)
        anchors[..., 3] *= size[1] / (height * stride)
        # log(a / (1 - a)) as transformers writes it: OpenVINO converts no aten::logit
        logits = torch.where(valid.bool(), torch.log(anchors / (1 - anchors)), logits.float()).to(dtype)
        return logits, valid

    def generate_anchors(spatial_shapes=None, grid_size=0.05, device="cpu", dtype=torch.float32):
        if spatial_shapes is None:
            raise ValueError("anchors of a fixed size need the canvas's feature shapes")
        return scaled(tuple(tuple(s) for s in spatial_shapes), grid_size, device, dtype)

    rtdetr.generate_anchors = generate_anchors  # an instance attribute: only this model changes


def drop_repeats(elements: list[Element], iou: float) -> list[Element]:
    """``elements`` without those overlapping a surer element of their kind by IoU > ``iou``, in order."""
    if len(elements) < 2:
        return elements
    from vision.boxes import nms

    kinds = sorted({e.kind for e in elements})
    keep = nms(np.array([e.box for e in elements], np.float64), np.array([e.score for e in elements]), iou,
               classes=np.array([kinds.index(e.kind) for e in elements]))  # fmt: skip
    return [elements[i] for i in sorted(keep.tolist())]


def min_canvas(config: DetectorConfig, size: tuple[int, int]) -> tuple[int, int]:
    """``size`` (w, h), grown by padding in steps of 32 until the canvas has at least ``num_queries``
    anchors: RT-DETR seeds its queries with the top-k encoder positions, so a small region (the frame-diff
    cache re-detects changed rectangles) would otherwise have too few."""
    from vision.detector.dense import anchor_count

    w, h = size
    while anchor_count(w, h) < config.num_queries:
        if w <= h:
            w += 32
        else:
            h += 32
    return w, h


def _read_safetensors(path: Path) -> dict[str, torch.Tensor]:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise WeightsError(f"{path}: not a readable safetensors file ({exc})") from None


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
