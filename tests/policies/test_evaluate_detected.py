"""`deskpilot eval policy --elements detected`: the policy acts on what the detector and OCR perceive."""

from __future__ import annotations

import os

import pytest

from agent.errors import WeightsError

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def test_detected_elements_feed_the_policy(monkeypatch):
    """Two held-out tasks run end to end on detector + OCR elements (shipped weights of both)."""
    from policies import evaluate as ev

    seen: list[int] = []
    real = ev.make_perception

    def spy(weights):
        perception = real(weights)

        def perceive(observation):
            elements = perception(observation)
            seen.append(len(elements))
            return elements

        perceive.reset = perception.reset  # type: ignore[attr-defined]
        return perceive

    monkeypatch.setattr(ev, "make_perception", spy)
    out = ev.evaluate(n=2, elements="detected", expert=False)
    assert out["elements"] == "detected" and out["episodes"] == 2
    assert len(out["records"]) == 2 and all(r["steps"] >= 1 for r in out["records"])
    assert len(seen) == sum(r["steps"] for r in out["records"])  # perception ran on every step


def test_detected_elements_need_detector_weights(tmp_path):
    from policies.evaluate import evaluate

    with pytest.raises(WeightsError, match="detector weights not found"):
        evaluate(n=1, elements="detected", detector_weights=tmp_path)
