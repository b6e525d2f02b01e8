"""SandboxEnv over many episodes (no Qt object leak), and the gen-demos / show / run commands."""

from __future__ import annotations

import json
from pathlib import Path

from PIL import Image

from agent.cli import main
from agent.envs.sandbox.bench import qt_counts
from agent.envs.sandbox.env import SandboxEnv
from agent.envs.sandbox.families import FAMILIES, generate
from agent.trace import read_trace


def test_resets_free_the_previous_episode() -> None:
    names = sorted(FAMILIES)
    with SandboxEnv(distractors=2) as env:
        counts = []
        for i in range(30):
            obs = env.reset(generate(names[i % len(names)], "train", i))
            assert obs.elements and obs.image.shape[2] == 3
            counts.append(qt_counts())
        env.close()
        after = qt_counts()
    assert max(c["windows"] for c in counts) <= 6  # desktop + ≤2 distractors + app (+ popups)
    assert max(c["widgets"] for c in counts) < 600
    assert after["windows"] == 0


def test_info_and_success_without_task() -> None:
    with SandboxEnv() as env:
        assert env.success() is None
        env.reset(None)
        info = env.info()
        assert info["env"] == "sandbox" and len(info["screen"]) == 2 and info["family"]
        assert env.success() is False


def test_gen_demos_writes_readable_expert_traces(tmp_path: Path, capsys) -> None:
    out = tmp_path / "demos"
    assert main(["sandbox", "gen-demos", "--n", "4", "--split", "train", "--out", str(out), "--workers", "1",
                 "--quiet", "--frame-format", "jpg"]) == 0  # fmt: skip
    stats = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert stats["episodes"] == 4 and stats["success_rate"] == 1.0
    traces = sorted(p.parent for p in out.glob("*/meta.json"))
    assert len(traces) == 4
    tr = read_trace(traces[0])
    assert tr.task is not None and tr.task.meta["sandbox"]["plan"]
    steps = list(tr)
    assert steps and steps[-1].action.kind == "finished"
    assert steps[0].elements and tr.load_frame(steps[0]) is not None


def test_run_split_json_keys_and_show(tmp_path: Path, capsys) -> None:
    assert main(["sandbox", "run", "--split", "heldout", "--n", "15", "--policy", "expert", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert {"episodes", "success_rate", "by_family"} <= set(summary)
    assert summary["episodes"] == 15 and len(summary["by_family"]) == 15
    assert summary["success_rate"] == 1.0, summary["failures"]

    png = tmp_path / "show.png"
    assert main(["sandbox", "show", "--seed", "5", "--out", str(png), "--frame", "1"]) == 0
    info = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    with Image.open(png) as im:
        assert list(im.size) == info["size"] and info["elements"] > 5


def test_screen_for_predicts_the_reset_screen() -> None:
    with SandboxEnv() as env:
        for i in range(4):
            task = generate("click_button", "val", i)
            w, h, scale = env.screen_for(task)
            obs = env.reset(task)
            assert obs.size == (w, h) and obs.scale == scale
