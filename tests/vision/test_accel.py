"""Accelerated inference (`vision.accel`): the split front/decoder path, OpenVINO fronts and OCR sessions.

Every accelerated path is compared with the plain torch / onnxruntime one on the same input; the
tolerances are those of fp32 arithmetic done in another order (OpenVINO fuses and reorders ops).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from tests.vision.conftest import tiny_config
from tests.vision.test_ocr import TEXTS, qt_screen  # noqa: F401  (the rendered Qt form fixture)
from vision.accel import native_bf16, resolve_precision, resolve_runtime
from vision.detector import Detector
from vision.ocr import OCR


@pytest.fixture(scope="module")
def tiny_detector() -> Detector:
    torch.manual_seed(0)
    return Detector(tiny_config()).eval()


def _tiles(n: int, det: Detector, seed: int = 0) -> torch.Tensor:
    tw, th = det.config.tile_size
    return torch.randn(n, 3, th, tw, generator=torch.Generator().manual_seed(seed))


def test_front_then_decoder_equals_the_whole_transformers_forward(tiny_detector):
    x = _tiles(3, tiny_detector)
    with torch.no_grad():
        whole = tiny_detector.model(pixel_values=x)
    split = tiny_detector.raw(x, bf16=False)
    assert torch.equal(split.logits, whole.logits)
    assert torch.equal(split.boxes, whole.pred_boxes)
    assert torch.equal(split.embeddings, whole.last_hidden_state)


def test_bf16_front_keeps_the_decoder_in_fp32(tiny_detector):
    x = _tiles(2, tiny_detector, seed=1)
    with torch.no_grad():
        maps = tiny_detector.front(x, bf16=True)
        ref = tiny_detector.front(x, bf16=False)
    assert all(m.dtype == torch.float32 for m in maps)
    # the front really ran in bf16: its maps differ from fp32 ones, but by bf16 rounding only
    diffs = [float((a - b).abs().max()) for a, b in zip(maps, ref, strict=True)]
    scales = [float(b.abs().max()) for b in ref]
    assert any(d > 0 for d in diffs)
    assert all(d <= 0.1 * s for d, s in zip(diffs, scales, strict=True)), (diffs, scales)
    captured = {}

    def record(_module, _inputs, out) -> None:
        captured["dtype"] = out.last_hidden_state.dtype

    hook = tiny_detector.model.model.decoder.register_forward_hook(record)
    try:
        tiny_detector.raw(x, bf16=True)
    finally:
        hook.remove()
    assert captured["dtype"] == torch.float32


def test_openvino_front_matches_torch_and_is_cached_on_disk(tmp_path):
    torch.manual_seed(0)
    det = Detector(tiny_config()).eval()
    x = _tiles(4, det, seed=2)
    ref = det.raw(x, bf16=False)
    # untrained, every anchor scores the same, and which tied anchors the query selection keeps is up to
    # each runtime's top-k: the decoder is compared on trained weights below
    assert det.accelerate("openvino", "fp32", decoder=False, cache_dir=tmp_path) == "openvino fp32"
    assert det.accelerated.cached is False and det.accelerated_decoder is None
    assert len(list(tmp_path.glob("front-*.xml"))) == 1 and len(list(tmp_path.glob("front-*.bin"))) == 1
    got = det.raw(x)
    assert torch.allclose(got.logits, ref.logits, atol=1e-3, rtol=1e-3)
    assert torch.allclose(got.boxes, ref.boxes, atol=1e-4, rtol=1e-3)
    # the batch size is free: one tile alone gives that tile's outputs
    one = det.raw(x[2:3])
    assert torch.allclose(one.boxes[0], ref.boxes[2], atol=1e-4, rtol=1e-3)
    # a second detector with the same weights loads the converted model instead of converting again
    det.accelerate("openvino", "fp32", decoder=False, cache_dir=tmp_path)
    assert det.accelerated.cached is True
    # other weights get another file
    with torch.no_grad():
        next(det.parameters()).add_(0.5)
    det.accelerate("openvino", "fp32", decoder=False, cache_dir=tmp_path)
    assert det.accelerated.cached is False and len(list(tmp_path.glob("front-*.xml"))) == 2


def test_openvino_front_detects_what_torch_detects_on_a_whole_screen(tmp_path):
    torch.manual_seed(3)
    det = Detector(tiny_config()).eval()
    rng = np.random.default_rng(0)
    screen = rng.integers(0, 255, (150, 230, 3), dtype=np.uint8)  # several tiles at this config's scale
    (ref,) = det.detect([screen], score_threshold=0.0)
    det.accelerate("openvino", "fp32", decoder=False, cache_dir=tmp_path)
    (got,) = det.detect([screen], score_threshold=0.0)
    assert len(got) == len(ref) > 0
    for a, b in zip(sorted(got, key=lambda e: e.box), sorted(ref, key=lambda e: e.box), strict=True):
        assert a.kind == b.kind
        assert np.allclose(a.box, b.box, atol=0.05)
        assert abs(a.score - b.score) < 1e-3


def test_openvino_decoder_matches_torch_with_the_shipped_weights(tmp_path, qt_screen):  # noqa: F811
    """The decoder traced into OpenVINO (fp32) gives torch's logits, boxes and query states on a real
    Qt screen's tiles, and the same detections; its IR is cached beside the front's."""
    det = Detector.load(Path(__file__).resolve().parents[2] / "weights" / "detector")
    image, _ = qt_screen
    (ref,) = det.detect([image])
    assert det.accelerate("openvino", "fp32", cache_dir=tmp_path) == "openvino fp32"
    assert det.accelerated_decoder is not None and det.accelerated_decoder.cached is False
    assert len(list(tmp_path.glob("decoder-*.xml"))) == 1
    tw, th = det.config.tile_size
    canvas = torch.from_numpy(image[:th, :tw]).permute(2, 0, 1)[None].float() / 255
    tiles = (torch.nn.functional.pad(canvas, (0, tw - canvas.shape[3], 0, th - canvas.shape[2])) - 0.5) / 0.25
    with torch.no_grad():
        maps = det.front(tiles.repeat(2, 1, 1, 1))
        want = det.decode_front(maps)
    logits, boxes, states = det.accelerated_decoder(*maps)
    assert torch.allclose(logits, want.logits, atol=1e-3, rtol=1e-3)
    assert torch.allclose(boxes, want.pred_boxes, atol=1e-4, rtol=1e-3)
    assert torch.allclose(states, want.last_hidden_state, atol=1e-3, rtol=1e-3)
    (got,) = det.detect([image])
    assert len(got) == len(ref) > 3
    for a, b in zip(sorted(got, key=lambda e: e.box), sorted(ref, key=lambda e: e.box), strict=True):
        assert a.kind == b.kind and np.allclose(a.box, b.box, atol=0.5) and abs(a.score - b.score) < 1e-2


def test_torch_runtime_drops_the_compiled_front(tmp_path, tiny_detector):
    tiny_detector.accelerate("openvino", "fp32", cache_dir=tmp_path)
    assert tiny_detector.accelerated is not None
    assert tiny_detector.accelerate("torch", "fp32") == "torch fp32"
    assert tiny_detector.accelerated is None and tiny_detector.accelerated_decoder is None
    assert tiny_detector.front_bf16 is False


def test_loading_weights_drops_a_front_compiled_from_the_old_ones(tmp_path, tiny_detector):
    tiny_detector.accelerate("openvino", "fp32", cache_dir=tmp_path)
    tiny_detector.load_state({k: v.clone() for k, v in tiny_detector.state_dict().items()})
    assert tiny_detector.accelerated is None and tiny_detector.accelerated_decoder is None


def test_precision_and_runtime_names_are_checked():
    assert resolve_precision("auto") == ("bf16" if native_bf16() else "fp32")
    assert resolve_precision("fp32") == "fp32"
    assert resolve_runtime("auto") == "openvino"  # openvino is a dependency of the project
    with pytest.raises(ValueError, match="precision must be one of auto, fp32, bf16, got 'fp16'"):
        resolve_precision("fp16")
    with pytest.raises(ValueError, match="runtime must be one of"):
        resolve_runtime("tensorrt")


def test_openvino_ocr_reads_what_onnxruntime_reads(qt_screen):  # noqa: F811
    from agent.types import Element

    image, elements = qt_screen
    ocr = OCR(runtime="openvino", precision="fp32")
    copies = [Element(box=e.box, kind=e.kind) for e in elements]
    ocr.read_elements(image, copies)
    assert ocr.runtime == "openvino"
    assert [e.text for e in copies] == list(TEXTS.values())
    # the recogniser's scores agree with onnxruntime's to fp32 rounding
    crops = [ocr.element_crop(image, e.box, e.kind) for e in elements[:3]]
    a = OCR(runtime="onnxruntime").read(crops)
    b = OCR(runtime="openvino", precision="fp32").read(crops)
    assert [t for t, _ in a] == [t for t, _ in b]
    assert np.allclose([s for _, s in a], [s for _, s in b], atol=1e-3)


def test_ocr_auto_runtime_is_openvino_only_where_it_runs_bf16(monkeypatch):
    """OpenVINO pays ~7 ms for each new input shape and every OCR batch has its own width: in fp32 it was
    slower than onnxruntime, so ``auto`` picks it only with native bf16; asked for by name it is used."""
    import vision.accel

    for bf16, expected in ((False, "onnxruntime"), (True, "openvino")):
        monkeypatch.setattr(vision.accel, "native_bf16", lambda bf16=bf16: bf16)
        assert OCR(runtime="auto").runtime == expected
        assert OCR(runtime="auto", precision="fp32").runtime == "onnxruntime"
        assert OCR(runtime="openvino", precision="fp32").runtime == "openvino"
        assert OCR(runtime="torch").runtime == "onnxruntime"


def test_eval_detector_rejects_an_unknown_runtime_or_precision_in_one_line():
    import subprocess
    import sys

    for args, said in ((["--precision", "fp16"], "precision must be one of auto, fp32, bf16, got 'fp16'"),
                       (["--runtime", "tensorrt"], "runtime must be one of auto, torch, openvino")):  # fmt: skip
        proc = subprocess.run([sys.executable, "-m", "agent.cli", "eval", "detector", "--n", "1", *args],
                              capture_output=True, text=True, timeout=300)  # fmt: skip
        assert proc.returncode == 2, proc.stderr
        assert said in proc.stderr and "Traceback" not in proc.stderr
