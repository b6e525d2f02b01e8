"""Screen capture with mss, and the one place where image pixels and input points are converted.

Units:
    image pixels  the screenshot's own pixels, (0, 0) at its top-left. Actions use these.
    points        what the OS input APIs (pyautogui, pynput) take and report. On X11 and on
                  DPI-aware Windows a point is a pixel; on a macOS Retina screen one point is two pixels.
    scale         image pixels per point (``shot.width / monitor.width``: mss reports monitor geometry
                  in points and returns images in physical pixels).

`ScreenMap` holds the conversion; everything that turns a coordinate into input, or input into a
coordinate (the recorder), goes through it.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from agent.errors import EnvironmentUnavailable

Region = tuple[int, int, int, int]  # x, y, width, height


@dataclass(frozen=True)
class ScreenMap:
    """Where an image lies on the virtual desktop and how its pixels relate to input points.

    Attributes:
        left, top: the point (input units) of image pixel (0, 0) on the virtual desktop.
        scale: image pixels per point (2.0 on a Retina screen, 1.0 on X11).
    """

    left: float = 0.0
    top: float = 0.0
    scale: float = 1.0

    def to_input(self, x: float, y: float) -> tuple[float, float]:
        """Image pixel (x, y) -> virtual-desktop point, the unit pyautogui/pynput take."""
        return (self.left + x / self.scale, self.top + y / self.scale)

    def to_image(self, px: float, py: float) -> tuple[float, float]:
        """Virtual-desktop point (as pynput reports it) -> image pixel. Inverse of `to_input`."""
        return ((px - self.left) * self.scale, (py - self.top) * self.scale)

    @property
    def origin(self) -> tuple[int, int]:
        """Screen pixel of image (0, 0) on the virtual desktop (Observation.origin)."""
        return (round(self.left * self.scale), round(self.top * self.scale))


def bgra_to_rgb(
    raw: bytes | bytearray | memoryview, width: int, height: int, *, copy: bool = True
) -> np.ndarray:
    """mss's BGRA bytes -> H×W×3 uint8 RGB.

    With ``copy=False`` this is a zero-copy view (negative channel stride, sharing ``raw``'s memory);
    with ``copy=True`` (the default) one contiguous array, which torch.from_numpy and Qt accept. The
    copy is made one channel at a time: 3-4× faster than ``np.ascontiguousarray`` of the reversed view
    or fancy indexing, which both walk the pixels element by element (see ``deskpilot bench capture``).
    """
    bgra = np.frombuffer(raw, dtype=np.uint8).reshape(height, width, 4)
    if not copy:
        return bgra[:, :, 2::-1]
    rgb = np.empty((height, width, 3), dtype=np.uint8)
    rgb[:, :, 0] = bgra[:, :, 2]
    rgb[:, :, 1] = bgra[:, :, 1]
    rgb[:, :, 2] = bgra[:, :, 0]
    return rgb


@dataclass
class Frame:
    """One grab: raw BGRA bytes plus where they came from. ``rgb()`` converts on demand."""

    raw: bytearray
    width: int
    height: int
    map: ScreenMap
    t_start: float  # time.time() just before the grab began
    t_end: float

    def rgb(self, *, copy: bool = True) -> np.ndarray:
        return bgra_to_rgb(self.raw, self.width, self.height, copy=copy)


def require_display() -> None:
    """Raise EnvironmentUnavailable with one readable line when there is no screen to use."""
    if sys.platform.startswith("linux") and not os.environ.get("DISPLAY"):
        if os.environ.get("WAYLAND_DISPLAY"):
            raise EnvironmentUnavailable(
                "the live desktop needs X11: this is a Wayland session without DISPLAY "
                "(log in to an X11 session, or run under XWayland with DISPLAY set)"
            )
        raise EnvironmentUnavailable(
            "no display: DISPLAY is not set (run inside a desktop session, or start a virtual one: "
            "Xvfb :99 & export DISPLAY=:99)"
        )


class ScreenCapture:
    """Grabs one monitor, or a region of the virtual desktop, with mss.

    Args:
        monitor: mss monitor index: 0 = the whole virtual desktop, 1 = the first monitor, ...
        region: (x, y, w, h) in screen pixels of the virtual desktop; overrides ``monitor``'s extent
            but takes its scale.

    mss keeps a connection to the display per instance and is not shared across threads, so each
    thread that grabs gets its own instance (the recorder grabs from a background thread).
    """

    def __init__(self, monitor: int = 1, region: Region | None = None):
        require_display()
        self._local = threading.local()
        monitors = self._mss().monitors
        if not 0 <= monitor < len(monitors):
            raise EnvironmentUnavailable(
                f"no monitor {monitor}: this desktop has monitors 0..{len(monitors) - 1} (0 = all of them)"
            )
        self.monitor = monitor
        mon = monitors[monitor]
        probe = self._mss().grab(mon)
        scale = probe.width / mon["width"] if mon["width"] else 1.0
        if region is None:
            self._box = {k: int(mon[k]) for k in ("left", "top", "width", "height")}
        else:
            x, y, w, h = region
            desk = monitors[0]
            # region is in pixels; mss takes points
            left, top, width, height = x / scale, y / scale, w / scale, h / scale
            inside = (desk["left"] <= left and desk["top"] <= top and left + width <= desk["left"] + desk["width"]
                      and top + height <= desk["top"] + desk["height"])  # fmt: skip
            if w <= 0 or h <= 0 or not inside:
                dw, dh = round(desk["width"] * scale), round(desk["height"] * scale)
                raise EnvironmentUnavailable(
                    f"region {x},{y},{w},{h} is not inside the screen ({dw}×{dh} pixels at "
                    f"{desk['left']},{desk['top']})"
                )
            self._box = {"left": int(left), "top": int(top), "width": int(width), "height": int(height)}
        self.region = region
        self.map = ScreenMap(float(self._box["left"]), float(self._box["top"]), scale)

    def _mss(self) -> Any:
        sct = getattr(self._local, "sct", None)
        if sct is None:
            import mss

            try:
                sct = mss.MSS()
            except Exception as exc:  # mss raises its own ScreenShotError for an unreachable display
                raise EnvironmentUnavailable(
                    f"cannot open the display {os.environ.get('DISPLAY', '')!r}: {exc}"
                ) from None
            self._local.sct = sct
        return sct

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) of the grabbed images in pixels."""
        return (round(self._box["width"] * self.map.scale), round(self._box["height"] * self.map.scale))

    def grab(self) -> Frame:
        t0 = time.time()
        shot = self._mss().grab(self._box)
        return Frame(shot.raw, shot.width, shot.height, self.map, t0, time.time())

    def info(self) -> dict[str, Any]:
        w, h = self.size
        return {"screen": [w, h], "scale": self.map.scale, "origin": list(self.map.origin),
                "monitor": self.monitor, "region": list(self.region) if self.region else None}  # fmt: skip

    def close(self) -> None:
        """Close this thread's mss connection (other threads close theirs when they end)."""
        sct = getattr(self._local, "sct", None)
        if sct is not None:
            sct.close()
            self._local.sct = None
