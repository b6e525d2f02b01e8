"""Screenshots -> model input tensors, and the record needed to map predictions back.

A screen is letterboxed: resized by one factor (aspect kept) and placed at the top-left of a canvas whose
sides are multiples of 32; the rest is padding. `Letterbox` remembers the factor and the source size, so
boxes predicted in the canvas map back to the screenshot's pixels with `Letterbox.to_source`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

from vision.boxes import letterbox_params

#: Padding value (RGB); mid grey, which the default normalisation maps to 0.
PAD_VALUE = 127


@dataclass(frozen=True)
class Letterbox:
    """How a source image was placed in the model's canvas.

    Attributes:
        scale: canvas pixels per source pixel.
        source_size: (width, height) of the source image in pixels.
        canvas_size: (width, height) of the model input in pixels.
    """

    scale: float
    source_size: tuple[int, int]
    canvas_size: tuple[int, int]

    def to_source(self, boxes_xyxy: np.ndarray) -> np.ndarray:
        """[N, 4] xyxy canvas pixels -> [N, 4] xyxy source pixels, clipped to the source image."""
        out = np.asarray(boxes_xyxy, dtype=np.float64) / self.scale
        w, h = self.source_size
        out[:, 0::2] = out[:, 0::2].clip(0, w)
        out[:, 1::2] = out[:, 1::2].clip(0, h)
        return out

    def to_canvas(self, boxes_xyxy: np.ndarray) -> np.ndarray:
        """[N, 4] xyxy source pixels -> [N, 4] xyxy canvas pixels."""
        return np.asarray(boxes_xyxy, dtype=np.float64) * self.scale


def ceil32(n: float) -> int:
    """Smallest multiple of 32 that is >= n (and >= 32)."""
    return max(32, int(-(-int(np.ceil(n)) // 32) * 32))


def letterbox_image(
    image: np.ndarray, canvas_size: tuple[int, int] | None = None, scale: float | None = None
) -> tuple[np.ndarray, Letterbox]:
    """Resize and pad an H×W×3 uint8 image.

    Give ``canvas_size`` (w, h) to fit the image into it, or ``scale`` to resize by a fixed factor into
    the smallest canvas with sides that are multiples of 32 (used for re-detecting a screen region at the
    same scale as the full screen).

    Returns:
        (canvas [h, w, 3] uint8, Letterbox).
    """
    h, w = image.shape[:2]
    if scale is None:
        if canvas_size is None:
            raise ValueError("give canvas_size or scale")
        scale, (nw, nh) = letterbox_params((w, h), canvas_size)
    else:
        nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
        if canvas_size is None:
            canvas_size = (ceil32(nw), ceil32(nh))
        nw, nh = min(nw, canvas_size[0]), min(nh, canvas_size[1])
    resized = (
        image if (nw, nh) == (w, h) else np.asarray(Image.fromarray(image).resize((nw, nh), Image.BILINEAR))
    )
    canvas = np.full((canvas_size[1], canvas_size[0], 3), PAD_VALUE, dtype=np.uint8)
    canvas[:nh, :nw] = resized
    return canvas, Letterbox(scale=float(scale), source_size=(w, h), canvas_size=tuple(canvas_size))


def to_tensor(canvases: list[np.ndarray], mean: tuple[float, ...], std: tuple[float, ...]) -> torch.Tensor:
    """List of equally sized [h, w, 3] uint8 canvases -> [B, 3, h, w] float32, normalised."""
    x = torch.from_numpy(np.stack(canvases)).permute(0, 3, 1, 2).float().div_(255.0)
    m = torch.tensor(mean, dtype=x.dtype).view(1, 3, 1, 1)
    s = torch.tensor(std, dtype=x.dtype).view(1, 3, 1, 1)
    return (x - m) / s
