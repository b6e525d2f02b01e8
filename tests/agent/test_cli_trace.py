import json
import subprocess
import sys

from agent.cli import main
from agent.types import Click, Element, TypeText


def test_validate_show_and_export_html(make_trace, capsys, tmp_path):
    target = Element((10, 10, 60, 40), "button", text="Save")
    path = make_trace([Click(30, 20), TypeText("hi")], targets=[target, None])
    assert main(["trace", "validate", str(path)]) == 0
    assert "holds 2 complete steps" in capsys.readouterr().out
    assert main(["trace", "show", str(path), "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert [s["action"]["type"] for s in shown["steps"]] == ["click", "type"]
    assert main(["trace", "show", str(path)]) == 0
    assert "click(start_box='(30,20)')" in capsys.readouterr().out
    out = tmp_path / "r.html"
    assert main(["trace", "export-html", str(path), "--out", str(out)]) == 0
    page = out.read_text()
    assert page.count("data:image/jpeg;base64,") == 2 and "<title>button: Save</title>" in page
    assert "test task" in page


def test_bad_input_is_one_line_on_stderr_with_exit_2(make_trace, tmp_path):
    path = make_trace([Click(1, 1), Click(2, 2), Click(3, 3)])
    lines = (path / "steps.jsonl").read_text().splitlines()
    lines[0] = lines[0].replace('"type": "click"', '"type": "teleport"')
    (path / "steps.jsonl").write_text("\n".join(lines) + "\n")
    for args in (["trace", "validate", str(path)], ["trace", "show", str(tmp_path / "nowhere")],
                 ["replay", str(tmp_path)]):  # fmt: skip
        proc = subprocess.run(
            [sys.executable, "-m", "agent.cli", *args], capture_output=True, text=True, timeout=60
        )
        assert proc.returncode == 2, proc.stderr
        assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("deskpilot: error: "), proc.stderr
        assert "Traceback" not in proc.stderr
    proc = subprocess.run([sys.executable, "-m", "agent.cli", "trace", "validate", str(path)], capture_output=True,
                          text=True, timeout=60)  # fmt: skip
    assert "steps.jsonl:1: field 'action': unknown action type 'teleport'" in proc.stderr
    proc = subprocess.run([sys.executable, "-m", "agent.cli", "--debug", "trace", "validate", str(path)],
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert proc.returncode != 0 and "Traceback" in proc.stderr


def test_usage_errors_show_usage_not_a_traceback():
    """Unknown options and invalid option values (click, vendored by typer) end with exit 2 and usage."""
    for args in (["replay", "--bogus"], ["train", "detector", "--tile", "100x7", "--data", "/nowhere"]):
        proc = subprocess.run(
            [sys.executable, "-m", "agent.cli", *args], capture_output=True, text=True, timeout=120
        )
        assert proc.returncode == 2, proc.stderr
        assert "Traceback" not in proc.stderr and "Usage: " in proc.stderr, proc.stderr
    assert "--tile sides must be multiples of 32" in proc.stderr
