"""Save and read the small post-detection models kept beside the detector's weights (kind refiners, the
check reader, the edge refiner): one fp16 safetensors file each, its sizes as string metadata."""

from __future__ import annotations

from pathlib import Path

import torch


def save_fp16(state: dict[str, torch.Tensor], path: str | Path, metadata: dict[str, str]) -> Path:
    """Write ``state`` as fp16 to ``path`` (its folder made when missing) with ``metadata``."""
    from safetensors.torch import save_file

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.detach().to(torch.float16).contiguous() for k, v in state.items()}, str(path),
              metadata=metadata)  # fmt: skip
    return path


def read_metadata(path: str | Path) -> dict[str, str]:
    """The string metadata of a safetensors file (raises on a file that is not one)."""
    from safetensors import safe_open

    with safe_open(str(path), "pt") as f:
        return f.metadata() or {}


def read_fp32(path: str | Path) -> dict[str, torch.Tensor]:
    """The tensors of a safetensors file as fp32 (raises on a file that is not one)."""
    from safetensors.torch import load_file

    return {k: v.float() for k, v in load_file(str(path)).items()}
