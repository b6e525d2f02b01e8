"""Fixtures for the vision tests: a tiny synthetic COCO set drawn with PIL and a tiny detector config.

The synthetic screens imitate the sandbox's output format (annotations.json + images/*.png, categories
named by element kind, ids 1 + index in ELEMENT_KINDS) so the loader, training and evaluation code is the
code that runs on real sandbox data.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from agent.types import ELEMENT_KINDS
from vision.detector.configuration import DetectorConfig

#: kinds the synthetic screens draw, each with a look of its own
DRAWN = ("button", "checkbox", "text_field", "label")


def draw_screen(
    rng: np.random.Generator, size: tuple[int, int]
) -> tuple[np.ndarray, list[tuple[str, list[float]]]]:
    """One synthetic screen: (H×W×3 uint8, [(kind, [x, y, w, h])]) with non-overlapping elements."""
    w, h = size
    img = Image.new("RGB", size, (236, 236, 236))
    draw = ImageDraw.Draw(img)
    anns: list[tuple[str, list[float]]] = []
    cell_w, cell_h = w // 4, h // 3
    for row in range(3):
        for col in range(4):
            if rng.random() < 0.3:
                continue
            kind = DRAWN[int(rng.integers(len(DRAWN)))]
            x0 = col * cell_w + int(rng.integers(2, cell_w // 4))
            y0 = row * cell_h + int(rng.integers(2, cell_h // 4))
            if kind == "button":
                bw, bh = int(cell_w * 0.6), int(cell_h * 0.4)
                draw.rectangle([x0, y0, x0 + bw, y0 + bh], fill=(40, 90, 200), outline=(20, 40, 120))
                draw.text((x0 + 4, y0 + 2), "OK", fill=(255, 255, 255))
            elif kind == "checkbox":
                bw = bh = max(6, int(cell_h * 0.25))
                draw.rectangle([x0, y0, x0 + bw, y0 + bh], fill=(255, 255, 255), outline=(0, 0, 0), width=2)
                draw.line([x0 + 2, y0 + 2, x0 + bw - 2, y0 + bh - 2], fill=(0, 0, 0), width=2)
            elif kind == "text_field":
                bw, bh = int(cell_w * 0.8), int(cell_h * 0.3)
                draw.rectangle([x0, y0, x0 + bw, y0 + bh], fill=(255, 255, 255), outline=(120, 120, 120))
            else:
                bw, bh = int(cell_w * 0.5), int(cell_h * 0.2)
                draw.rectangle([x0, y0, x0 + bw, y0 + bh], fill=(236, 236, 236))
                for k in range(3):
                    draw.line([x0, y0 + 2 + k * bh // 3, x0 + bw, y0 + 2 + k * bh // 3], fill=(10, 10, 10))
            anns.append((kind, [float(x0), float(y0), float(bw), float(bh)]))
    return np.asarray(img), anns


def write_coco(root: Path, n: int, size: tuple[int, int] = (320, 200), seed: int = 0) -> Path:
    """Write ``n`` synthetic screens as a COCO folder like the sandbox's gen-detection does."""
    rng = np.random.default_rng(seed)
    (root / "images").mkdir(parents=True, exist_ok=True)
    images, annotations = [], []
    for i in range(n):
        arr, anns = draw_screen(rng, size)
        name = f"{i:06d}.png"
        Image.fromarray(arr).save(root / "images" / name)
        images.append({"id": i + 1, "file_name": f"images/{name}", "width": size[0], "height": size[1]})
        for kind, bbox in anns:
            annotations.append({"id": len(annotations) + 1, "image_id": i + 1, "bbox": bbox,
                                "category_id": 1 + ELEMENT_KINDS.index(kind), "area": bbox[2] * bbox[3],
                                "iscrowd": 0})  # fmt: skip
    categories = [{"id": 1 + i, "name": k} for i, k in enumerate(ELEMENT_KINDS)]
    (root / "annotations.json").write_text(json.dumps({"images": images, "annotations": annotations,
                                                        "categories": categories}))  # fmt: skip
    return root


def tiny_config(**overrides) -> DetectorConfig:
    """A detector small enough to train for a few dozen steps in seconds."""
    kw = dict(input_width=160, input_height=96, tile_width=96, tile_height=64, tile_overlap=16, swin_embed_dim=16, swin_heads=(1, 2, 4, 8), swin_window=4,
              swin_depths=(1, 1, 1, 1), d_model=32, encoder_ffn_dim=64, decoder_ffn_dim=64, decoder_layers=2,
              attention_heads=2, num_queries=20, num_denoising=10)  # fmt: skip
    kw.update(overrides)
    return DetectorConfig(**kw)


@pytest.fixture
def coco_dir(tmp_path: Path) -> Path:
    return write_coco(tmp_path / "coco", n=8)


@pytest.fixture
def tiny() -> DetectorConfig:
    return tiny_config()
