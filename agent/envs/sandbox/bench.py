"""``bench_sandbox``: labelled frames per second, expert episodes per minute, and memory over many episodes.

Not a test: numbers depend on the machine. Memory is measured in this process (one `SandboxEnv`, the
expert, ``leak_episodes`` episodes): RSS from /proc and Qt's live widget / window counts are sampled
as it goes, so a leak shows as a slope.
"""

from __future__ import annotations

import os
import tempfile
import time
from typing import Any


def rss_mb() -> float:
    """Resident set size of this process in MiB (Linux /proc; 0.0 elsewhere)."""
    try:
        with open("/proc/self/statm") as f:
            pages = int(f.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError):
        return 0.0


def qt_counts() -> dict[str, int]:
    from PySide6.QtGui import QGuiApplication
    from PySide6.QtWidgets import QApplication

    return {"widgets": len(QApplication.allWidgets()), "windows": len(QGuiApplication.topLevelWindows())}


def bench_sandbox(*, frames: int = 200, workers: int = 2, episodes: int = 150, leak_episodes: int = 1000,
                  samples: int = 10, progress: bool = False) -> dict[str, Any]:  # fmt: skip
    """Run the three measurements; returns a JSON-able dict (see the keys below)."""
    from agent.envs.sandbox.detection import gen_detection
    from agent.envs.sandbox.families import generate_split
    from agent.envs.sandbox.runner import run_tasks

    out: dict[str, Any] = {"cpus": os.cpu_count()}
    if frames > 0:
        with tempfile.TemporaryDirectory() as tmp:
            stats = gen_detection(frames, "train", tmp, workers=workers, seed=99, progress=progress)
        out["detection"] = {"frames": stats["frames"], "workers": workers, "frames_per_s": stats["frames_per_s"],
                            "classes_present": stats["classes_present"]}  # fmt: skip
    if episodes > 0:
        summary = run_tasks(generate_split("heldout", episodes, seed=99), "expert", progress=progress)
        out["expert"] = {"episodes": summary["episodes"], "success_rate": summary["success_rate"],
                         "episodes_per_min": summary["episodes_per_min"], "steps_mean": summary["steps_mean"]}  # fmt: skip
    if leak_episodes > 0:
        out["memory"] = memory_run(leak_episodes, samples=samples)
    return out


def memory_run(n: int, *, samples: int = 10) -> dict[str, Any]:
    """``n`` expert episodes in one env; RSS and Qt object counts at ``samples`` points."""
    from agent.envs.sandbox.env import SandboxEnv
    from agent.envs.sandbox.families import FAMILIES, generate
    from agent.loop import run_episode
    from policies.scripted import ExpertPolicy

    names = sorted(FAMILIES)
    policy = ExpertPolicy()
    points: list[dict[str, Any]] = []
    every = max(1, n // samples)
    t0 = time.perf_counter()
    with SandboxEnv() as env:
        for i in range(n):
            task = generate(names[i % len(names)], "train", i // len(names), seed=4242)
            run_episode(env, policy, task.to_task(), max_steps=task.max_steps)
            if i == 0 or (i + 1) % every == 0:
                points.append({"episode": i + 1, "rss_mb": round(rss_mb(), 1), **qt_counts()})
    first, last = points[0], points[-1]
    # the second half only: glyph caches, styles and each screen's backing stores fill during warm-up
    base = next(p for p in points if p["episode"] >= n // 2)
    span = max(1, last["episode"] - base["episode"])
    return {
        "episodes": n, "seconds": round(time.perf_counter() - t0, 1), "points": points,
        "rss_first_mb": first["rss_mb"], "rss_last_mb": last["rss_mb"],
        "rss_mb_per_1000_episodes_second_half": round((last["rss_mb"] - base["rss_mb"]) * 1000 / span, 2),
        "widgets_last": last["widgets"], "windows_last": last["windows"],
    }  # fmt: skip
