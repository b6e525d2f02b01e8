"""Helpers shared by the app's tests (fixtures live in conftest.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def screen_image(width: int = 640, height: int = 400) -> np.ndarray:
    """A stand-in screenshot for the region picker: a gradient, so any crop is not blank."""
    x = np.linspace(0, 255, width, dtype=np.uint8)
    img = np.zeros((height, width, 3), np.uint8)
    img[:, :, 0] = x
    img[:, :, 2] = 255 - x
    return img


def select_replay(window, trace: Path, policy: str = "recorded") -> None:
    """Point the window at a recorded session and choose ``policy``, as a person would."""
    window.target.setCurrentIndex(window.target.findData("replay"))
    window.panel.set_replay_trace(str(trace))
    window.policy.setCurrentIndex(window.policy.findData(policy))


def not_blank(image: np.ndarray) -> bool:
    """True when an H×W×3 image has real content: many distinct colours and visible contrast."""
    flat = image.reshape(-1, image.shape[-1])
    return len(np.unique(flat[:: max(1, len(flat) // 20000)], axis=0)) > 20 and float(image.std()) > 10


def grab_array(widget) -> np.ndarray:
    """widget.grab() as an H×W×3 uint8 array (device pixels)."""
    from PySide6.QtGui import QImage

    img = widget.grab().toImage().convertToFormat(QImage.Format.Format_RGB888)
    w, h, bpl = img.width(), img.height(), img.bytesPerLine()
    arr = np.frombuffer(img.constBits(), np.uint8, img.sizeInBytes()).reshape(h, bpl)
    return arr[:, : w * 3].reshape(h, w, 3).copy()


def region_of(window, child) -> tuple[int, int, int, int]:
    """(x, y, w, h) of ``child`` inside ``window``'s grab."""
    top_left = child.mapTo(window, child.rect().topLeft())
    return (top_left.x(), top_left.y(), child.width(), child.height())
