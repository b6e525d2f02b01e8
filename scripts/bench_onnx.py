"""ONNX Runtime vs torch eager for the shipped detector, on one batch of tiles (run it on a quiet CPU).

    pip install onnx        # not a project dependency: ONNX Runtime did not beat torch here
    python scripts/bench_onnx.py [--threads 2] [--tiles 6]

Exports the detector (TorchScript-based exporter, opset 17), checks the outputs agree with torch, and
prints median latencies of torch fp32, torch bf16 autocast and ONNX Runtime fp32 with their ratios.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import torch


def median_ms(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return sorted(times)[repeats // 2] * 1000


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weights", default="weights/detector")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--tiles", type=int, default=6, help="tiles per batch (a 1280×800 screen makes 6)")
    ap.add_argument("--repeats", type=int, default=7)
    args = ap.parse_args()
    try:
        import onnx  # noqa: F401  (the exporter needs it)
        import onnxruntime as ort
    except ImportError as exc:
        print(f"error: {exc.name} is not installed; `pip install onnx onnxruntime`", file=sys.stderr)
        return 2
    from vision.detector.modeling import Detector

    torch.set_num_threads(args.threads)
    det = Detector.load(args.weights).eval()
    tw, th = det.config.tile_size

    class Outputs(torch.nn.Module):
        def __init__(self, model):
            super().__init__()
            self.model = model

        def forward(self, pixel_values):
            out = self.model(pixel_values=pixel_values)
            return out.logits, out.pred_boxes, out.last_hidden_state

    wrapped = Outputs(det.model).eval()
    x = torch.randn(args.tiles, 3, th, tw)
    with tempfile.TemporaryDirectory() as tmp, torch.no_grad():
        path = Path(tmp) / "detector.onnx"
        torch.onnx.export(wrapped, (x,), str(path), input_names=["pixel_values"], opset_version=17, dynamo=False,
                          output_names=["logits", "boxes", "hidden"], dynamic_axes={"pixel_values": {0: "batch"}})  # fmt: skip
        so = ort.SessionOptions()
        so.intra_op_num_threads, so.inter_op_num_threads = args.threads, 1
        sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
        feed = {"pixel_values": x.numpy()}
        ref = wrapped(x)
        diff = max(
            float((r - torch.from_numpy(o)).abs().max())
            for r, o in zip(ref, sess.run(None, feed), strict=True)
        )
        fp32 = median_ms(lambda: wrapped(x), args.repeats)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            bf16 = median_ms(lambda: wrapped(x), args.repeats)
        onnx_ms = median_ms(lambda: sess.run(None, feed), args.repeats)
    print(json.dumps({"tiles": args.tiles, "tile": [tw, th], "threads": args.threads, "max_abs_diff": diff,
                      "torch_fp32_ms": round(fp32, 1), "torch_bf16_ms": round(bf16, 1), "onnx_fp32_ms": round(onnx_ms, 1),
                      "onnx_vs_fp32": round(onnx_ms / fp32, 3), "onnx_vs_bf16": round(onnx_ms / bf16, 3)}, indent=2))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
