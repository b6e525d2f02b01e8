"""The bundled example trace (a sandbox expert episode) through the real console script."""

import json
import shutil
import subprocess
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "traces" / "checkout"


def _replay(policy: str) -> dict:
    exe = shutil.which("deskpilot")
    assert exe, "the deskpilot console script is not installed (pip install -e .)"
    proc = subprocess.run([exe, "replay", str(EXAMPLE), "--policy", policy, "--json"], capture_output=True,
                          text=True, timeout=120)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_recorded_policy_replays_the_bundled_example_perfectly():
    data = _replay("recorded")
    assert data["traces"] == 1 and data["steps"] >= 5
    assert data["step_accuracy"] == 1.0 and data["episode_success"] == 1.0
    assert '"step_accuracy": 1.0' in json.dumps(data)


def test_fixed_point_policy_scores_low_on_the_bundled_example():
    data = _replay("fixed")
    assert data["step_accuracy"] <= 0.2 and data["episode_success"] == 0.0
    assert data["per_trace"][0]["first_divergence"] == 0
