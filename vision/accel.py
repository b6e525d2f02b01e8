"""Faster inference on the CPU at hand: bf16 where the CPU computes it natively, OpenVINO where installed.

Two independent choices, both measured on held-out sandbox screens (`deskpilot bench perception` shows
them side by side on the machine at hand):

- **precision**: ``"fp32"``, ``"bf16"`` or ``"auto"`` (bf16 when the CPU has native bf16 — AMX or
  AVX512-BF16 — else fp32). On a CPU without it (AVX2 only) bf16 is emulated and ~15× *slower*, so
  ``auto`` never picks it there. Only the detector's *front* (Swin backbone and hybrid encoder) runs in
  bf16: the whole model in bf16 cost 0.024 mAP on 200 held-out screens (0.559 -> 0.535), because the
  decoder's iterative box refinement loses precision, while a bf16 front with an fp32 decoder cost
  0.0015 (0.5588 -> 0.5573) and took 290 ms instead of 476 for nine 352×256 tiles on a 2-core AMX CPU.
- **runtime**: ``"torch"`` (eager), ``"openvino"`` or ``"auto"`` (OpenVINO when importable). The
  detector's front is converted from the torch module with ``openvino.convert_model`` (~8 s, once per
  weights file: the IR is cached under ``~/.cache/deskpilot/openvino``) and runs there; so does the
  decoder, in fp32 (`OpenVinoDecoder`). OCR's recogniser (rapidocr's ONNX model) is compiled with
  OpenVINO as well.

`Detector.accelerate`, `OCR` and `Perception.load` use it through `resolve_runtime`, `resolve_precision`,
`OpenVinoFront`, `OpenVinoDecoder` and `OpenVinoSession`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from functools import cache
from pathlib import Path

import numpy as np
import torch

PRECISIONS = ("auto", "fp32", "bf16")
RUNTIMES = ("auto", "torch", "openvino")


@cache
def native_bf16() -> bool:
    """Whether this CPU computes bf16 natively (AMX tiles or AVX512-BF16), as torch's oneDNN sees it."""
    cpu = getattr(torch, "cpu", None)
    for probe in ("_is_amx_tile_supported", "_is_avx512_bf16_supported"):
        fn = getattr(cpu, probe, None)
        try:
            if fn is not None and fn():
                return True
        except RuntimeError:  # a build without the probe's backend
            continue
    return False


def _check(value: str, allowed: tuple[str, ...], what: str) -> None:
    if value not in allowed:
        raise ValueError(f"{what} must be one of {', '.join(allowed)}, got {value!r}")


def resolve_precision(precision: str) -> str:
    """``"auto"`` -> ``"bf16"`` on CPUs with native bf16, else ``"fp32"``; other values are checked."""
    _check(precision, PRECISIONS, "precision")
    if precision == "auto":
        return "bf16" if native_bf16() else "fp32"
    return precision


def openvino_available() -> bool:
    try:
        import openvino  # noqa: F401
    except ImportError:
        return False
    return True


def resolve_runtime(runtime: str) -> str:
    """``"auto"`` -> ``"openvino"`` when it can be imported, else ``"torch"``; other values are checked."""
    _check(runtime, RUNTIMES, "runtime")
    if runtime == "auto":
        return "openvino" if openvino_available() else "torch"
    if runtime == "openvino" and not openvino_available():
        from agent.errors import DeskpilotError

        raise DeskpilotError("runtime 'openvino' needs the openvino package (pip install openvino)")
    return runtime


def _ov_config(threads: int, precision: str) -> dict[str, str]:
    return {
        "INFERENCE_NUM_THREADS": str(max(1, threads)),
        "PERFORMANCE_HINT": "LATENCY",
        "INFERENCE_PRECISION_HINT": "bf16" if precision == "bf16" else "f32",
    }


def cache_root() -> Path:
    from vision.evaluate import default_cache_dir

    return default_cache_dir() / "openvino"


class _CachedOpenVino:
    """A torch module converted with ``openvino.convert_model``, its IR cached on disk as
    ``{name}-{key}.xml/.bin`` (``cached``: whether it was read from there), then compiled for the CPU.
    ``example`` gives the conversion's example inputs (only called when there is no cached IR); every
    size but the batch is fixed to theirs. Called with tensors, it returns the module's outputs as a list
    of fp32 tensors."""

    def __init__(self, module: torch.nn.Module, example: Callable[[], tuple[torch.Tensor, ...]], name: str,
                 key: str, *, precision: str, threads: int, cache_dir: str | Path | None):  # fmt: skip
        import openvino as ov

        folder = Path(cache_dir) if cache_dir is not None else cache_root()
        xml = folder / f"{name}-{key}.xml"
        core = ov.Core()
        if xml.is_file() and xml.with_suffix(".bin").is_file():
            model = core.read_model(str(xml))
            self.cached = True
        else:
            import warnings

            with torch.no_grad(), warnings.catch_warnings():
                warnings.simplefilter("ignore")  # tracer warnings about Python branches on shapes
                inputs = example()
                shapes = [ov.PartialShape([-1, *x.shape[1:]]) for x in inputs]  # the batch size is free
                model = ov.convert_model(module, example_input=inputs, input=shapes)
            folder.mkdir(parents=True, exist_ok=True)
            tmp = folder / f".{name}-{key}.{np.random.randint(1 << 30)}.xml"
            ov.save_model(model, str(tmp), compress_to_fp16=False)
            tmp.with_suffix(".bin").replace(xml.with_suffix(".bin"))
            tmp.replace(xml)
            self.cached = False
        self.shapes = [tuple(d.get_length() for d in list(p.get_partial_shape())[1:]) for p in model.inputs]
        self._compiled = core.compile_model(model, "CPU", _ov_config(threads, precision))
        self._request = self._compiled.create_infer_request()
        self._outputs = len(self._compiled.outputs)

    def fits(self, inputs: list[torch.Tensor]) -> bool:
        """Whether ``inputs`` have the shapes (past the batch) this model was compiled for."""
        return len(inputs) == len(self.shapes) and all(
            tuple(x.shape[1:]) == s for x, s in zip(inputs, self.shapes, strict=True)
        )

    def __call__(self, *inputs: torch.Tensor) -> list[torch.Tensor]:
        self._request.infer([x.detach().cpu().float().numpy() for x in inputs])
        return [
            torch.from_numpy(self._request.get_output_tensor(i).data.copy()) for i in range(self._outputs)
        ]


class OpenVinoFront(_CachedOpenVino):
    """A detector's front (backbone, input projections, hybrid encoder) compiled with OpenVINO.

    ``front(pixel_values [B, 3, H, W]) -> [encoder feature maps]`` like `Detector.front`; H and W are fixed
    to the tile size (the only canvas a tiled detector runs on), the batch size is free.
    """

    def __init__(self, detector, *, precision: str = "auto", threads: int | None = None,
                 cache_dir: str | Path | None = None, key: str | None = None):  # fmt: skip
        cfg = detector.config
        if cfg.tile_size is None:
            raise ValueError("the OpenVINO front needs a tiled detector (a fixed canvas size)")
        self.precision = resolve_precision(precision)
        self.threads = threads or torch.get_num_threads()
        tw, th = cfg.tile_size
        super().__init__(_Front(detector), lambda: (torch.zeros(1, 3, th, tw),), "front", key or weights_key(detector),
                         precision=self.precision, threads=self.threads, cache_dir=cache_dir)  # fmt: skip


class OpenVinoDecoder(_CachedOpenVino):
    """The rest of a tiled detector (query selection and the decoder) compiled with OpenVINO, always in
    fp32 (the decoder's iterative box refinement does not tolerate bf16, see the module docstring).

    ``decoder(*maps) -> [logits, pred_boxes, last_hidden_state]`` for the encoder maps of tile-sized
    canvases, like `Detector.decode_front`. It is the same computation without torch's per-module Python
    overhead: on nine 352×256 tiles it matched torch to 1e-4 and took about 0.6× its time.
    """

    def __init__(self, detector, *, threads: int | None = None, cache_dir: str | Path | None = None,
                 key: str | None = None):  # fmt: skip
        cfg = detector.config
        if cfg.tile_size is None:
            raise ValueError("the OpenVINO decoder needs a tiled detector (a fixed canvas size)")
        self.threads = threads or torch.get_num_threads()
        tw, th = cfg.tile_size

        def maps() -> tuple[torch.Tensor, ...]:  # the front's outputs for one tile
            with torch.no_grad():
                return tuple(detector.front(torch.zeros(1, 3, th, tw)))

        super().__init__(_Decoder(detector), maps, "decoder", key or weights_key(detector), precision="fp32",
                         threads=self.threads, cache_dir=cache_dir)  # fmt: skip


class _Front(torch.nn.Module):
    """The traced part: `Detector.front` as a module with a single tensor input."""

    def __init__(self, detector):
        super().__init__()
        self.detector = detector

    def forward(self, pixel_values: torch.Tensor):
        return tuple(self.detector.front(pixel_values))


class _Decoder(torch.nn.Module):
    """The traced part: `Detector.decode_front` as a module of the encoder maps, returning tensors."""

    def __init__(self, detector):
        super().__init__()
        self.detector = detector

    def forward(self, *maps: torch.Tensor):
        out = self.detector.decode_front(list(maps))
        return out.logits, out.pred_boxes, out.last_hidden_state


def weights_key(detector) -> str:
    """A hash of the detector's tensors and config, and of the library versions the IR comes from."""
    import openvino
    import transformers

    h = hashlib.blake2b(digest_size=12)
    h.update(repr(detector.config).encode())
    h.update(f"{openvino.__version__} {transformers.__version__} {torch.__version__}".encode())
    for name, tensor in sorted(detector.model.state_dict().items()):
        h.update(name.encode())
        h.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


class OpenVinoSession:
    """An ONNX model compiled with OpenVINO, called like rapidocr's sessions: ``session(x) -> output 0``."""

    def __init__(self, onnx_path: str | Path, *, precision: str = "auto", threads: int = 2):
        import openvino as ov

        self.precision = resolve_precision(precision)
        core = ov.Core()
        self._compiled = core.compile_model(core.read_model(str(onnx_path)), "CPU",
                                            _ov_config(threads, self.precision))  # fmt: skip
        self._request = self._compiled.create_infer_request()

    def __call__(self, x: np.ndarray) -> np.ndarray:
        self._request.infer([np.ascontiguousarray(x, dtype=np.float32)])
        return self._request.get_output_tensor(0).data.copy()
