"""A long `eval policy` loses nothing: reports after every episode, a time limit, Ctrl-C keeps the finished tasks."""

from __future__ import annotations

import json
import os
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def test_a_report_after_every_episode_and_the_last_one_complete():
    from policies.evaluate import evaluate

    reports: list[dict] = []
    out = evaluate(n=3, expert=False, on_report=reports.append)
    assert [r["episodes"] for r in reports] == [1, 2, 3]
    assert [r["complete"] for r in reports] == [False, False, True]
    assert all(r["planned"] == 3 for r in reports)
    assert out["complete"] and out["stopped"] is None
    assert [r["id"] for r in out["records"]] == [r["id"] for r in reports[-1]["records"]]


def test_ctrl_c_keeps_the_finished_episodes(monkeypatch):
    from policies import evaluate as ev

    real, calls = ev._episode, []

    def interrupted_on_the_second(*args):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*args)

    monkeypatch.setattr(ev, "_episode", interrupted_on_the_second)
    out = ev.evaluate(n=4, expert=False)
    assert out["episodes"] == 1 and out["planned"] == 4
    assert not out["complete"] and out["stopped"] == "interrupted"
    assert len(calls) == 2  # nothing ran after the interruption


def test_time_limit_stops_starting_new_tasks(monkeypatch):
    """A clock that jumps a minute per reading: the limit of 2.5 minutes is passed after the first task."""
    from policies import evaluate as ev

    class Clock:
        now = 0.0

        @classmethod
        def perf_counter(cls) -> float:
            cls.now += 60.0
            return cls.now

    monkeypatch.setattr(ev, "time", Clock)
    out = ev.evaluate(n=5, expert=False, max_minutes=2.5)
    assert 1 <= out["episodes"] < 5
    assert not out["complete"] and out["stopped"] == "time limit (2.5 min)"


def test_cli_writes_the_report_file_and_rejects_a_bad_limit(tmp_path: Path, capsys):
    from agent.cli import main

    path = tmp_path / "reports" / "eval.json"
    assert main(["eval", "policy", "--n", "2", "--no-expert", "--max-minutes", "30", "--out", str(path)]) == 0
    report = json.loads(path.read_text())
    assert report["episodes"] == 2 and report["complete"]
    assert not list(path.parent.glob("*.tmp"))  # the atomic write leaves no temporary file behind
    capsys.readouterr()
    assert main(["eval", "policy", "--n", "2", "--max-minutes", "0"]) == 2
    assert "--max-minutes must be positive" in capsys.readouterr().err
