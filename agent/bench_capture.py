"""`deskpilot bench capture`: screen capture frames per second at 1280×800, and what each conversion costs.

Without a display it starts a private Xvfb of that size, so the figure is comparable across machines
(a real screen adds the compositor's cost). Baselines measured in the same run: mss's own ``.rgb``
conversion and numpy fancy indexing, against `agent.capture.bgra_to_rgb`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

import numpy as np


def _rate(fn: Callable[[], Any], seconds: float) -> tuple[float, float]:
    """Call ``fn`` for about ``seconds``; returns (calls per second, mean milliseconds per call)."""
    fn()  # warm-up: first grabs allocate shared memory, first conversions page in
    n, t0 = 0, time.perf_counter()
    while True:
        fn()
        n += 1
        dt = time.perf_counter() - t0
        if dt >= seconds:
            return n / dt, dt / n * 1000


def bench_capture(seconds: float = 3.0, width: int = 1280, height: int = 800) -> dict[str, Any]:
    """Measure capture and conversion; ``seconds`` per measurement. Returns plain numbers (fps, ms, ns)."""
    from agent.capture import ScreenCapture, ScreenMap, bgra_to_rgb
    from agent.xvfb import Xvfb

    server = None
    old_display = os.environ.get("DISPLAY")
    if not old_display:
        server = Xvfb(width, height)
        os.environ["DISPLAY"] = server.display
    try:
        desk = ScreenCapture(monitor=0)
        w, h = min(width, desk.size[0]), min(height, desk.size[1])
        desk.close()
        cap = ScreenCapture(monitor=0, region=(0, 0, w, h))
        shot = cap.grab()
        raw = shot.raw

        grab_fps, grab_ms = _rate(cap.grab, seconds)
        view_fps, _ = _rate(lambda: cap.grab().rgb(copy=False), seconds)
        copy_fps, copy_ms = _rate(lambda: cap.grab().rgb(), seconds)
        conv_ms = _rate(lambda: bgra_to_rgb(raw, w, h), seconds / 3)[1]
        view_ms = _rate(lambda: bgra_to_rgb(raw, w, h, copy=False), seconds / 3)[1]
        index_ms = _rate(lambda: np.frombuffer(raw, np.uint8).reshape(h, w, 4)[:, :, [2, 1, 0]], seconds / 3)[
            1
        ]

        contiguous_ms = _rate(lambda: np.ascontiguousarray(bgra_to_rgb(raw, w, h, copy=False)), seconds / 3)[
            1
        ]
        from PIL import Image

        pil_ms = _rate(
            lambda: np.asarray(Image.frombuffer("RGB", (w, h), raw, "raw", "BGRX", 0, 1)), seconds / 3
        )[1]

        import mss.screenshot

        def mss_rgb() -> np.ndarray:  # a fresh ScreenShot each time: mss caches .rgb per shot
            shot = mss.screenshot.ScreenShot(raw, {"left": 0, "top": 0, "width": w, "height": h})
            return np.frombuffer(shot.rgb, np.uint8).reshape(h, w, 3)

        mss_rgb_ms = _rate(mss_rgb, seconds / 3)[1]

        m = ScreenMap(640.0, 0.0, 2.0)
        n = 100_000
        t0 = time.perf_counter()
        for i in range(n):
            m.to_input(i % w, i % h)
        map_ns = (time.perf_counter() - t0) / n * 1e9

        from agent.envs.desktop import DesktopEnv

        with DesktopEnv(monitor=0, region=(0, 0, w, h)) as env:
            observe_fps, observe_ms = _rate(env.observe, seconds)
        cap.close()
    finally:
        if server is not None:
            server.close()
            os.environ.pop("DISPLAY", None)
    return {
        "screen": f"{w}x{h}",
        "display": "private Xvfb" if server is not None else f"existing ({old_display})",
        "grab": {"fps": grab_fps, "ms": grab_ms},
        "grab_rgb_view": {"fps": view_fps},
        "grab_rgb_copy": {"fps": copy_fps, "ms": copy_ms},
        "observe": {"fps": observe_fps, "ms": observe_ms},
        "bgra_to_rgb_ms": {
            "copy": conv_ms,
            "zero_copy_view": view_ms,
            "numpy_fancy_index": index_ms,
            "ascontiguousarray_of_view": contiguous_ms,
            "pil_bgrx": pil_ms,
            "mss_rgb": mss_rgb_ms,
            "speedup_vs_mss_rgb": mss_rgb_ms / conv_ms,
            "speedup_vs_ascontiguousarray": contiguous_ms / conv_ms,
        },
        "screen_map_to_input_ns": map_ns,
    }
