"""The live desktop gets perception when detector weights are set: a real (tiny, untrained) detector."""

from __future__ import annotations

import pytest

from agent.errors import WeightsError
from ui.targets import RunConfig, build_perception


def test_detector_weights_become_perception_and_bad_ones_a_readable_error(tmp_path):
    from vision.detector.configuration import DetectorConfig
    from vision.detector.modeling import Detector

    config = DetectorConfig(input_width=160, input_height=96, swin_embed_dim=16, swin_heads=(1, 2, 4, 8),
                            swin_window=4, swin_depths=(1, 1, 1, 1), d_model=32, encoder_ffn_dim=64,
                            decoder_ffn_dim=64, decoder_layers=2, attention_heads=2, num_queries=20,
                            num_denoising=10)  # fmt: skip
    weights = Detector(config).save(tmp_path / "detector")
    run = RunConfig(target="desktop", instruction="x", policy="random", detector_weights=str(weights))
    from vision.perception import Perception

    perception = build_perception(run)
    assert isinstance(perception, Perception) and perception.ocr is not None  # detector + OCR, ready to call
    # no perception where the environment knows its elements, or without weights
    assert build_perception(RunConfig(target="sandbox", instruction="x", policy="expert",
                                      detector_weights=str(weights))) is None  # fmt: skip
    assert build_perception(RunConfig(target="desktop", instruction="x", policy="random")) is None
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "notes.txt").write_text("not weights")
    with pytest.raises(WeightsError, match="deskpilot train detector"):
        build_perception(
            RunConfig(target="desktop", instruction="x", policy="random", detector_weights=str(broken))
        )
