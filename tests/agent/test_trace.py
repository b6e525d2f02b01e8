import json
import os
import signal
import subprocess
import sys
import time
import warnings

import numpy as np
import pytest

from agent.errors import TraceError
from agent.trace import SCHEMA_VERSION, TraceWarning, TraceWriter, read_trace
from agent.types import Click, Element, Hotkey, Task, TypeText

WRITER = r"""
import sys, numpy as np
from agent.trace import TraceWriter
from agent.types import Click, Step, Task
w = TraceWriter(sys.argv[1], task=Task("crash test"), target="test", env_info={"screen": [64, 48]})
i = 0
while True:  # never closes: the test kills it
    img = np.full((48, 64, 3), i % 255, np.uint8)
    w.write_step(Step(index=i, action=Click(i % 60, 5), image=img))
    i += 1
"""


def test_sigkill_mid_run_leaves_every_complete_step_readable(tmp_path):
    path = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(path)])
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            steps = path / "steps.jsonl"
            if steps.exists() and steps.read_bytes().count(b"\n") >= 25:
                break
            time.sleep(0.01)
        else:
            pytest.fail("the writer did not produce 25 steps")
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TraceWarning)  # a line may have been cut mid-write
        trace = read_trace(path)
    assert len(trace.steps) >= 25
    assert "ended" not in trace.meta  # never closed
    for i, step in enumerate(trace.steps):
        assert step.index == i and step.action == Click(i % 60, 5)
        img = trace.load_frame(step)  # every complete step's frame is whole
        assert img.shape == (48, 64, 3) and int(img[0, 0, 0]) == i % 255


def test_round_trip_of_steps_frames_and_meta(make_trace):
    target = Element((10, 10, 50, 30), "button", text="OK", state={"enabled": True})
    path = make_trace([Click(30, 20), Hotkey(("ctrl", "s"))], targets=[target, None])
    trace = read_trace(path)
    assert trace.meta["schema_version"] == SCHEMA_VERSION
    assert trace.meta["steps"] == 2 and trace.meta["ended"]  # closed by the context manager
    assert trace.task.instruction == "test task"
    assert trace.screen == (320, 200)
    assert [s.action for s in trace.steps] == [Click(30, 20), Hotkey(("ctrl", "s"))]
    assert trace.steps[0].target == target and trace.steps[0].elements == [target]
    assert trace.steps[0].timings == {"decide": 1.0}
    assert trace.load_frame(trace.steps[1]).shape == (200, 320, 3)
    line = json.loads((path / "steps.jsonl").read_text().splitlines()[0])
    assert line["action"]["uitars"] == "click(start_box='(30,20)')"


def test_truncated_last_line_is_a_warning_and_skipped(make_trace):
    path = make_trace([Click(1, 1), Click(2, 2), Click(3, 3)])
    data = (path / "steps.jsonl").read_bytes()
    (path / "steps.jsonl").write_bytes(data[: len(data) - 20])  # cut inside the last line
    with pytest.warns(TraceWarning, match=r"steps.jsonl:3: truncated last line skipped"):
        trace = read_trace(path)
    assert len(trace.steps) == 2 and trace.warnings


def test_corrupt_line_in_the_middle_names_file_line_and_field(make_trace):
    path = make_trace([Click(1, 1), Click(2, 2), Click(3, 3)])
    lines = (path / "steps.jsonl").read_text().splitlines()
    bad = json.loads(lines[1])
    bad["action"]["x"] = -5
    lines[1] = json.dumps(bad)
    (path / "steps.jsonl").write_text("\n".join(lines) + "\n")
    with pytest.raises(TraceError, match=r"steps.jsonl:2: field 'action': x must be >= 0, got -5"):
        read_trace(path)
    lines[1] = "{not json"
    (path / "steps.jsonl").write_text("\n".join(lines) + "\n")
    with pytest.raises(TraceError, match=r"steps.jsonl:2: invalid JSON"):
        read_trace(path)


def test_missing_frame_and_wrong_index_are_errors(make_trace):
    path = make_trace([Click(1, 1), Click(2, 2)])
    (path / "frames" / "000001.png").unlink()
    with pytest.raises(
        TraceError, match=r"steps.jsonl:2: field 'frame': file frames/000001.png does not exist"
    ):
        read_trace(path)
    path = make_trace([Click(1, 1), Click(2, 2)], name="idx")
    lines = (path / "steps.jsonl").read_text().splitlines()
    lines = [lines[1], lines[0]]
    (path / "steps.jsonl").write_text("\n".join(lines) + "\n")
    with pytest.raises(TraceError, match=r"steps.jsonl:1: field 'index': expected 0, got 1"):
        read_trace(path)


def test_newer_major_schema_is_refused_and_minor_accepted(make_trace):
    path = make_trace([Click(1, 1)])
    meta = json.loads((path / "meta.json").read_text())
    meta["schema_version"] = "1.7"
    (path / "meta.json").write_text(json.dumps(meta))
    assert len(read_trace(path).steps) == 1
    meta["schema_version"] = "2.0"
    (path / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(TraceError, match=r"schema version 2.0 is newer than this deskpilot reads \(1.x\)"):
        read_trace(path)


def test_not_a_trace_errors(tmp_path):
    with pytest.raises(TraceError, match="no such trace folder"):
        read_trace(tmp_path / "nope")
    with pytest.raises(TraceError, match=r"is not a trace folder \(no meta.json\)"):
        read_trace(tmp_path)
    (tmp_path / "meta.json").write_text("{oops")
    with pytest.raises(TraceError, match=r"meta\.json: invalid JSON at line 1"):
        read_trace(tmp_path)


def test_secret_text_never_reaches_the_disk(make_trace, tmp_path):
    path = make_trace(
        [TypeText("hunter2\n", secret=True)], policy_info={"thought": "type hunter2 then enter"}
    )
    raw = (path / "steps.jsonl").read_text() + (path / "meta.json").read_text()
    assert "hunter2" not in raw
    step = read_trace(path).steps[0]
    assert step.action.text == "[REDACTED]" and step.action.secret
    assert step.policy["thought"] == "type [REDACTED] then enter"


def test_writer_refuses_to_overwrite_an_existing_trace(make_trace):
    path = make_trace([Click(1, 1)])
    with pytest.raises(TraceError, match="already holds a trace"):
        TraceWriter(path, task=Task("again"))


def test_close_records_summary_and_step_count(tmp_path):
    w = TraceWriter(tmp_path / "t", task="x")
    w.write_step(
        __import__("agent.types", fromlist=["Step"]).Step(0, Click(1, 1), image=np.zeros((4, 4, 3), np.uint8))
    )
    w.close({"success": True, "reason": "finished"})
    w.close({"ignored": True})  # idempotent
    meta = json.loads((tmp_path / "t" / "meta.json").read_text())
    assert meta["summary"] == {"success": True, "reason": "finished"} and meta["steps"] == 1
    assert os.listdir(tmp_path / "t" / "frames") == ["000000.png"]
