"""The detector's configuration: classes, input size, Swin backbone and RT-DETR sizes.

One dataclass, validated in ``__post_init__``, with a JSON round trip. Everything needed to rebuild the
model lives here, so ``DIR/config.json`` next to ``DIR/model.safetensors`` is a complete description.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from agent.errors import WeightsError
from agent.types import ELEMENT_KINDS
from vision.boxes import letterbox_params

#: Bumped when the meaning of a field changes; old configs are refused with a clear message.
CONFIG_VERSION = 1


@dataclass
class DetectorConfig:
    """Sizes of the Swin + RT-DETR element detector.

    Attributes:
        classes: class names; class id i (0-based, model side) is ``classes[i]``.
        input_width, input_height: the size a screen is fitted into (aspect kept), which sets the scale
            elements are seen at; both multiples of 32 (RT-DETR's coarsest stride). Without tiles the
            model's input is this canvas (padding right/bottom).
        tile_width, tile_height: the model's input with tiles: the fitted screen is covered by windows of
            this size (see `vision.detector.tiling`); training crops are the same size, because RT-DETR's
            boxes are fractions of its canvas. 0 and 0: no tiles, whole canvases.
        tile_overlap: least overlap of neighbouring tiles in pixels. Elements wider than the overlap are
            cut in every tile that holds them; on 30 val screens overlap 128 (6 tiles for a 1280×800
            screen) gave mAP@0.5 0.632 against 0.577 with 64 (4 tiles), for 1.5× the compute.
        ui_scale: with tiles, detect at this many pixels per UI pixel (the screen's device pixel ratio
            divides it) instead of fitting the screen into the input size; None fits. Widgets are drawn
            the same size on every screen, so fitting shrinks them on large ones: on 12 held-out
            1920×1080 screens mAP@0.5 was 0.533 fitted (0.42×) and 0.737 at 0.625, the scale a
            1280×800 screen is fitted at, for 25 tiles instead of 9. On all 200 held-out screens 0.625
            gave mAP@0.5 0.778 (fitted 0.770) but mAP 0.556 (0.559); the policy on detected elements
            succeeded on 293 of 500 held-out tasks against 281 fitted (paired: 47 gained, 35 lost), with
            episodes 1.5× as long. Not the shipped setting until a clearer gain.
        anchor_width, anchor_height: the canvas (pixels) whose fractions size the encoder's anchor boxes:
            RT-DETR gives every anchor a box of ``0.05 · 2^level`` of its canvas, so a model trained on
            one canvas size reads boxes 2.3× too large on a canvas 2.3× wider (its box offsets are
            relative to the anchors). With these set, anchors keep the size they had on that canvas
            whatever the canvas, and a model trained on tiles detects on a larger one. 0 and 0: the
            canvas itself (RT-DETR's own anchors).
        swin_embed_dim, swin_depths, swin_heads, swin_window: the Swin-T-like backbone; its last three
            stages (strides 8, 16, 32) feed the hybrid encoder.
        d_model: width of the hybrid encoder and the decoder.
        encoder_layers: AIFI transformer layers on the stride-32 map.
        encoder_ffn_dim, decoder_ffn_dim: feed-forward widths.
        decoder_layers: deformable decoder layers.
        attention_heads: heads in encoder and decoder attention.
        num_queries: decoder queries = the most elements one screen can yield.
        num_denoising: denoising queries during training (0 turns it off).
        image_mean, image_std: per-channel normalisation of [0, 1] RGB pixels.
    """

    classes: tuple[str, ...] = ELEMENT_KINDS
    input_width: int = 640
    input_height: int = 416
    tile_width: int = 352
    tile_height: int = 256
    tile_overlap: int = 128
    anchor_width: int = 0
    anchor_height: int = 0
    ui_scale: float | None = None
    swin_embed_dim: int = 48
    swin_depths: tuple[int, ...] = (2, 2, 2, 2)
    swin_heads: tuple[int, ...] = (3, 6, 12, 24)
    swin_window: int = 7
    d_model: int = 128
    encoder_layers: int = 1
    encoder_ffn_dim: int = 512
    decoder_ffn_dim: int = 512
    decoder_layers: int = 3
    attention_heads: int = 4
    num_queries: int = 150
    num_denoising: int = 50
    image_mean: tuple[float, float, float] = (0.5, 0.5, 0.5)
    image_std: tuple[float, float, float] = (0.25, 0.25, 0.25)
    version: int = field(default=CONFIG_VERSION)

    def __post_init__(self) -> None:
        # JSON gives lists; keep tuples so configs compare and hash predictably.
        for name in ("classes", "swin_depths", "swin_heads", "image_mean", "image_std"):
            setattr(self, name, tuple(getattr(self, name)))
        if self.version != CONFIG_VERSION:
            raise WeightsError(
                f"detector config version {self.version} is not supported (expected {CONFIG_VERSION})"
            )
        if not self.classes or len(set(self.classes)) != len(self.classes):
            raise WeightsError(f"detector classes must be non-empty and unique, got {list(self.classes)}")
        for name in ("input_width", "input_height"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 64 or value % 32:
                raise WeightsError(f"{name} must be a multiple of 32 and >= 64, got {value!r}")
        if (self.tile_width == 0) != (self.tile_height == 0):
            raise WeightsError("tile_width and tile_height must both be 0 (no tiles) or both be set")
        for name in ("tile_width", "tile_height") if self.tile_width else ():
            value = getattr(self, name)
            if not isinstance(value, int) or value < 64 or value % 32:
                raise WeightsError(f"{name} must be a multiple of 32 and >= 64 (or 0), got {value!r}")
        if self.tile_width and not 0 <= self.tile_overlap <= min(self.tile_size) // 2:
            raise WeightsError(f"tile_overlap must be between 0 and half a tile, got {self.tile_overlap}")
        if (
            self.anchor_width < 0
            or self.anchor_height < 0
            or (self.anchor_width == 0) != (self.anchor_height == 0)
        ):
            raise WeightsError("anchor_width and anchor_height must both be 0 (the canvas) or both be > 0")
        if self.ui_scale is not None and not (
            isinstance(self.ui_scale, int | float) and 0.1 <= self.ui_scale <= 2
        ):
            raise WeightsError(f"ui_scale must be between 0.1 and 2 (or null), got {self.ui_scale!r}")
        if self.ui_scale is not None and not self.tile_width:
            raise WeightsError(
                "ui_scale needs tiles (tile_width, tile_height): whole canvases fit the screen"
            )
        if len(self.swin_depths) != 4 or len(self.swin_heads) != 4:
            raise WeightsError("swin_depths and swin_heads need 4 stages each")
        for i, h in enumerate(self.swin_heads):
            if (self.swin_embed_dim * 2**i) % h:
                raise WeightsError(
                    f"swin stage {i} width {self.swin_embed_dim * 2**i} is not divisible by {h} heads"
                )
        if self.d_model % self.attention_heads:
            raise WeightsError(f"d_model {self.d_model} is not divisible by {self.attention_heads} heads")
        for name in ("d_model", "encoder_ffn_dim", "decoder_ffn_dim", "decoder_layers", "num_queries"):
            if getattr(self, name) < 1:
                raise WeightsError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.num_denoising < 0 or self.encoder_layers < 0:
            raise WeightsError("num_denoising and encoder_layers must be >= 0")
        if len(self.image_mean) != 3 or len(self.image_std) != 3 or min(self.image_std) <= 0:
            raise WeightsError("image_mean and image_std need 3 values, std > 0")

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def input_size(self) -> tuple[int, int]:
        """(width, height) of the model input in pixels."""
        return (self.input_width, self.input_height)

    def scale_for(self, size: tuple[int, int], screen_scale: float = 1.0) -> float:
        """The factor a ``size`` (w, h) screen whose device pixel ratio is ``screen_scale`` is resized by
        before detection: ``ui_scale / screen_scale``, or without ``ui_scale`` the one that fits it into
        the input size."""
        if self.ui_scale is not None:
            return self.ui_scale / max(screen_scale, 1e-6)
        return letterbox_params(size, self.input_size)[0]

    @property
    def tile_size(self) -> tuple[int, int] | None:
        """(width, height) of a tile, the model's input; None when screens are not tiled."""
        return (self.tile_width, self.tile_height) if self.tile_width else None

    @property
    def anchor_size(self) -> tuple[int, int] | None:
        """(width, height) that anchor boxes are fractions of; None: the canvas."""
        return (self.anchor_width, self.anchor_height) if self.anchor_width else None

    @property
    def backbone_channels(self) -> tuple[int, int, int]:
        """Channels of Swin stages 2-4 (strides 8, 16, 32)."""
        e = self.swin_embed_dim
        return (2 * e, 4 * e, 8 * e)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in out.items()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DetectorConfig:
        if not isinstance(data, dict):
            raise WeightsError("detector config must be a JSON object")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise WeightsError(f"detector config has unknown fields: {', '.join(unknown)}")
        try:
            return cls(**data)
        except TypeError as exc:
            raise WeightsError(f"detector config is invalid: {exc}") from None

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> DetectorConfig:
        path = Path(path)
        if not path.is_file():
            raise WeightsError(f"detector config not found: {path}")
        try:
            data = json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            raise WeightsError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
        return cls.from_dict(data)
