"""`deskpilot bench ui`: does the app stay responsive while the agent runs?

Event-loop latency is measured the way a person feels it: a probe thread posts a timestamped event to
the GUI thread every few milliseconds and the GUI records how long each waited before it was handled.
Measured twice in the same process — with the window idle (the baseline) and while the agent runs
flat out (no step delay) on a recorded session of 1280×800 frames with 40 elements each, so every step
brings a new frame, overlay and step-list row — and reported as percentiles and ratios.
"""

from __future__ import annotations

import os
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from ui.qt_compat import emit

PROBE_INTERVAL = 0.005  # seconds between probe events


def _percentiles(samples: list[float]) -> dict[str, float]:
    if not samples:
        return {"n": 0}
    a = np.asarray(samples) * 1000
    return {"n": len(a), "p50_ms": float(np.percentile(a, 50)), "p95_ms": float(np.percentile(a, 95)),
            "p99_ms": float(np.percentile(a, 99)), "max_ms": float(a.max())}  # fmt: skip


def _demo_frame(rng: np.random.Generator, size: tuple[int, int]) -> tuple[np.ndarray, list[Any]]:
    """A 1280×800-like frame of flat panels and 40 'widgets', with their elements."""
    from agent.types import ELEMENT_KINDS, Element

    w, h = size
    img = np.full((h, w, 3), 236, np.uint8)
    elements = []
    for i in range(40):
        x, y = int(rng.integers(0, w - 160)), int(rng.integers(0, h - 40))
        bw, bh = int(rng.integers(40, 160)), int(rng.integers(18, 40))
        img[y : y + bh, x : x + bw] = rng.integers(60, 230, 3, dtype=np.uint8)
        kind = ELEMENT_KINDS[i % len(ELEMENT_KINDS)]
        elements.append(Element((x, y, x + bw, y + bh), kind, text=f"{kind} {i}"))
    return img, elements


def make_demo_recording(path: Path, steps: int, size: tuple[int, int] = (1280, 800), seed: int = 0) -> Path:
    """A recorded session of ``steps`` clicks on random elements. Eight distinct frames are written
    once and shared by the steps (a step may name any frame file), so a long recording is quick to make."""
    from agent.trace import TraceWriter
    from agent.types import Click, Finished, Step, Task

    rng = np.random.default_rng(seed)
    frames = [_demo_frame(rng, size) for _ in range(8)]
    with TraceWriter(path, task=Task("benchmark: click through a recording"), target="bench",
                     env_info={"screen": list(size)}, policy="scripted") as writer:  # fmt: skip
        for i in range(steps):
            k = i % len(frames)
            img, elements = frames[k]
            target = elements[i % len(elements)]
            action = Finished(True) if i == steps - 1 else Click(*target.center)
            step = Step(index=i, action=action, elements=elements, target=target)
            if i < len(frames):
                step.image = img  # written as frames/00000k.png
            else:
                step.frame = f"frames/{k:06d}.png"
            writer.write_step(step)
    return path


def _bridge_class() -> type:
    """A QObject with one float signal, defined once (PySide6 dislikes QObject classes made per call)."""
    global _BRIDGE
    if _BRIDGE is None:
        from PySide6.QtCore import QObject, Signal

        class Bridge(QObject):
            ping = Signal(float)

        _BRIDGE = Bridge
    return _BRIDGE


_BRIDGE: type | None = None


class _Probe:
    """Posts timestamped events to the GUI thread from a background thread; records their wait."""

    def __init__(self) -> None:
        from PySide6.QtCore import Qt

        self.samples: list[float] = []
        self.bridge = _bridge_class()()
        self.bridge.ping.connect(self._pong, Qt.ConnectionType.QueuedConnection)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _pong(self, sent: float) -> None:
        self.samples.append(time.perf_counter() - sent)

    def _loop(self) -> None:
        while not self._stop.wait(PROBE_INTERVAL):
            emit(self.bridge.ping, time.perf_counter())

    def measure(self, seconds: float, until=None) -> list[float]:
        """Probe for ``seconds`` (or until ``until()`` is true) inside a real event loop, as the app runs
        in ``exec()``; returns the waits in seconds."""
        from PySide6.QtCore import QCoreApplication, QEventLoop, QTimer

        self.samples = []
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()
        loop = QEventLoop()
        QTimer.singleShot(int(seconds * 1000), loop.quit)
        check = QTimer()
        if until is not None:
            check.timeout.connect(lambda: loop.quit() if until() else None)
            check.start(50)
        loop.exec()
        check.stop()
        self._stop.set()
        self._thread.join()
        QCoreApplication.processEvents()
        return list(self.samples)


def bench_ui(seconds: float = 5.0, steps: int = 3000, trace: str | None = None) -> dict[str, Any]:
    """Event-loop latency of the main window, idle and while the agent runs.

    Args:
        seconds: how long each phase is measured.
        steps: length of the generated recording (long enough that the run outlasts ``seconds``).
        trace: replay this recorded session instead of a generated one.

    Returns:
        {"idle": percentiles, "running": percentiles, "ratio_p95", "ratio_p99", "steps_run",
        "steps_per_s", "platform", "frame"} — latencies in milliseconds.
    """
    if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    from ui.controller import wait_idle
    from ui.main_window import MainWindow
    from ui.settings import AppSettings, save_settings

    app = QApplication.instance() or QApplication(["deskpilot-bench"])
    with tempfile.TemporaryDirectory(prefix="deskpilot-bench-ui-") as tmp:
        tmp_path = Path(tmp)
        recording = Path(trace) if trace else make_demo_recording(tmp_path / "recording", steps)
        qs = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
        save_settings(qs, AppSettings(target="replay", policy="recorded", replay_trace=str(recording),
                                      runs_dir=str(tmp_path / "runs"), step_delay=0.0, max_steps=10000))  # fmt: skip
        window = MainWindow(qs)
        window.resize(1280, 800)
        window.show()
        probe = _Probe()
        probe.measure(0.5)  # warm up: first paints, font caches
        idle = probe.measure(seconds)
        window.start_run()
        t0 = time.perf_counter()
        running = probe.measure(seconds, until=lambda: not window.controller.busy)
        elapsed = time.perf_counter() - t0
        steps_run = len(window.controller.steps)
        window.controller.stop()
        wait_idle(window.controller, 30)
        error = window.last_error
        window.close()
        window.deleteLater()
        app.processEvents()
    out: dict[str, Any] = {"idle": _percentiles(idle), "running": _percentiles(running)}
    if idle and running:
        out["ratio_p95"] = out["running"]["p95_ms"] / max(out["idle"]["p95_ms"], 1e-3)
        out["ratio_p99"] = out["running"]["p99_ms"] / max(out["idle"]["p99_ms"], 1e-3)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None  # other work on the machine skews this
    out.update({"load_avg_1min": load, "cpus": os.cpu_count(), "steps_run": steps_run, "steps_per_s": steps_run / elapsed if elapsed else 0.0,
                "platform": app.platformName(), "frame": "1280x800, 40 elements"})  # fmt: skip
    if error:
        out["error"] = error
    return out
