"""Make the README's screenshots of the app: the main window mid-run on the sandbox, and the inspector
comparing a replayed policy with the recording.

    python scripts/screenshots.py [--out docs/screenshots] [--family fill_form] [--seed 1]

Renders offscreen (no display needed) with settings in a temporary folder, so a person's own settings
and traces are untouched. Writes app-main.png and inspector.png (PNG, kept under 300 KB).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

MAX_BYTES = 300_000
SIZE = (1280, 800)


def _save(widget, path: Path) -> int:
    """Save ``widget.grab()`` as PNG, scaling down until it fits MAX_BYTES; returns the size in bytes."""
    from PySide6.QtCore import Qt

    image = widget.grab().toImage()
    width = image.width()
    while True:
        scaled = (
            image
            if width == image.width()
            else image.scaledToWidth(width, Qt.TransformationMode.SmoothTransformation)
        )
        if not scaled.save(str(path), "PNG", 0):  # 0 = smallest file
            raise SystemExit(f"could not write {path}")
        size = path.stat().st_size
        if size <= MAX_BYTES or width < 640:
            return size
        width = int(width * 0.85)


def app_window_box(payload: dict) -> tuple[float, float, float, float] | None:
    """The bounding box of the elements in the same window as the action's target (None without one)."""
    target = payload.get("target")
    window = (target or {}).get("state", {}).get("window")
    boxes = [e["box"] for e in payload["elements"] if window and e.get("state", {}).get("window") == window]
    if not boxes:
        return None
    return (
        min(b[0] for b in boxes),
        min(b[1] for b in boxes),
        max(b[2] for b in boxes),
        max(b[3] for b in boxes),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("docs/screenshots"))
    parser.add_argument("--family", default="fill_form", help="sandbox task family to show")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--shot-at",
        type=int,
        default=2,
        help="grab the main window at the first click decided from this step on",
    )
    args = parser.parse_args(argv)
    os.environ["QT_QPA_PLATFORM"] = "offscreen"

    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    from agent.envs.replay import ReplayEnv
    from agent.loop import run_episode
    from agent.trace import TraceWriter
    from policies import make_policy
    from ui.controller import wait_idle
    from ui.main_window import MainWindow
    from ui.settings import AppSettings, save_settings

    app = QApplication.instance() or QApplication(["deskpilot-screenshots"])
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="deskpilot-shots-") as tmp:
        tmp_path = Path(tmp)
        qs = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
        save_settings(qs, AppSettings(target="sandbox", policy="expert", sandbox_family=args.family,
                                      sandbox_seed=args.seed, runs_dir=str(tmp_path / "runs"), step_delay=0.0))  # fmt: skip
        window = MainWindow(qs)
        window.resize(*SIZE)
        window.show()
        main_png = args.out / "app-main.png"
        shot: dict[str, int] = {}

        def grab_mid_run(payload: dict) -> None:  # the frame and its next action are drawn by now
            box = app_window_box(payload)
            if box is not None:  # big sandbox screens: zoom to the task's app window, as a person would
                window.view.focus_on(box, margin=0.15)
            if payload["index"] >= args.shot_at and payload["action"]["type"] == "click" and not shot:
                shot["bytes"] = _save(window, main_png)

        window.controller.decided.connect(grab_mid_run)
        if not window.start_run():
            raise SystemExit(f"could not start the sandbox run: {window.last_error}")
        wait_idle(window.controller, 180)
        if window.last_error or not window.controller.last_result:
            raise SystemExit(f"the sandbox run failed: {window.last_error}")
        if not shot:  # a short task: show the end of it
            shot["bytes"] = _save(window, main_png)
        print(f"{main_png}: {shot['bytes'] // 1024} KB, run {window.controller.last_result}")

        # score a policy that does not know the task against the expert's recording
        demo = window.last_trace
        env = ReplayEnv(demo)
        scored = tmp_path / "replay-random"
        with TraceWriter(
            scored, task=env.trace.task, target="replay", env_info=env.info(), policy="random"
        ) as tw:
            run_episode(
                env, make_policy("random", seed=args.seed), env.trace.task, trace=tw, max_steps=len(env.steps)
            )
        inspector = window.show_inspector(str(scored))
        inspector.resize(*SIZE)
        first_mismatch = next(
            (i for i, s in enumerate(inspector.model.trace.steps) if not s.result.info.get("match")), 0
        )
        inspector.go(first_mismatch)
        app.processEvents()
        insp_png = args.out / "inspector.png"
        print(f"{insp_png}: {_save(inspector, insp_png) // 1024} KB, step {first_mismatch + 1}")
        inspector.close()
        window.close()
        app.processEvents()
    return 0


if __name__ == "__main__":  # the sandbox runs in a spawned child that re-imports this file
    sys.exit(main())
