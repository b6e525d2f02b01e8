"""`deskpilot run` end to end in a subprocess, against the real target app."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from agent.trace import read_trace

ROOT = Path(__file__).resolve().parents[2]


def live(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "agent.commands.live", *args],
        cwd=ROOT, capture_output=True, text=True, timeout=60, env=env if env is not None else {**os.environ},
    )  # fmt: skip


def test_run_clicks_inside_its_region(xdisplay, target, tmp_path):
    # the fixed policy clicks the centre of what it sees; the region is the OK button, so it clicks OK
    x, y, w, h = target.rects["button"]
    out = tmp_path / "run"
    res = live("run", "press OK", "--policy", "fixed", "--region", f"{x},{y},{w},{h}", "--max-steps", "3",
               "--delay", "0", "--out", str(out))  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert "3 steps" in res.stderr and "ended: max_steps" in res.stderr
    trace = read_trace(out)
    assert trace.meta["target"] == "desktop" and trace.meta["env"]["origin"] == [x, y]
    assert [s.result.ok for s in trace.steps] == [True, True, True]
    assert trace.load_frame(trace.steps[0]).shape == (h, w, 3)
    assert target.wait_for(lambda s: s["clicks"] == 3)["clicks"] == 3


def test_run_dry_run_writes_a_trace_and_touches_nothing(xdisplay, target, tmp_path):
    out = tmp_path / "dry"
    res = live(
        "run",
        "anything",
        "--policy",
        "fixed",
        "--dry-run",
        "--max-steps",
        "2",
        "--delay",
        "0",
        "--out",
        str(out),
    )
    assert res.returncode == 0, res.stderr
    trace = read_trace(out)
    assert len(trace.steps) == 2 and all(s.result.info.get("dry_run") for s in trace.steps)
    assert len(list((out / "dry_run").glob("*.png"))) == 2
    assert target.settle()["pad"] == [] and target.state()["clicks"] == 0


def test_run_errors_are_one_line(xdisplay, tmp_path):
    res = live(
        "run",
        "x",
        "--policy",
        "fixed",
        "--region",
        "1200,700,500,500",
        "--delay",
        "0",
        "--out",
        str(tmp_path / "a"),
    )
    assert res.returncode == 2
    assert res.stderr.strip().splitlines() == [
        "deskpilot: error: region 1200,700,500,500 is not inside the screen (1280×800 pixels at 0,0)"
    ]
    no_display = {k: v for k, v in os.environ.items() if k != "DISPLAY"}
    res = live("run", "x", "--policy", "fixed", "--delay", "0", "--out", str(tmp_path / "b"), env=no_display)
    assert res.returncode == 2 and res.stderr.startswith("deskpilot: error: no display: DISPLAY is not set")
    # the default policy is the trained one: without weights, a pointer to the train command (and no click)
    res = live("run", "x", "--delay", "0", "--out", str(tmp_path / "c"), "--weights", str(tmp_path / "none"))
    assert (
        res.returncode == 2 and "deskpilot train policy" in res.stderr and len(res.stderr.splitlines()) == 1
    )


def test_run_confirm_prompt_no_yes_quit(xdisplay, target, tmp_path):
    x, y, w, h = target.rects["button"]
    out = tmp_path / "confirm"
    res = subprocess.run(
        [sys.executable, "-m", "agent.commands.live", "run", "press OK", "--policy", "fixed", "--confirm", "--region", f"{x},{y},{w},{h}",
         "--max-steps", "5", "--delay", "0", "--out", str(out)],
        cwd=ROOT, input="n\ny\nq\n", capture_output=True, text=True, timeout=60, env={**os.environ},
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert res.stdout.count("[y]es / [n]o / [q]uit") == 3
    assert "ended: stopped at the confirm prompt" in res.stderr
    trace = read_trace(out)
    assert [s.result.error for s in trace.steps] == [
        "not confirmed by the user",
        None,
        "not confirmed by the user",
    ]
    assert target.wait_for(lambda s: s["clicks"] == 1)["clicks"] == 1
