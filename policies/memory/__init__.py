"""Memory layers over the sequence of step tokens: O(1)-per-step mechanisms and the softmax-KV baseline.

    block = build_memory("linear", d_model=256)
    y = block(x)                                  # training: x [B, T, D] -> [B, T, D], causal
    state = block.init_state(batch_size=1)
    with torch.inference_mode():
        y_t, state = block.step(x_t, state)       # acting: x_t [B, D], one step

See `policies.memory.base` for the contract every block follows.
"""

from __future__ import annotations

from typing import Any

from agent.errors import DeskpilotError
from policies.memory.base import MemoryBlock, state_nbytes
from policies.memory.config import KINDS, MemoryConfig
from policies.memory.gau import GatedAttentionUnit, GAUState
from policies.memory.linear import LinearAttention, LinearAttentionState
from policies.memory.performer import Performer, PerformerState
from policies.memory.s4d import S4D, S4DState
from policies.memory.softmax import KVCache, SoftmaxAttention

_CLASSES: dict[str, type[MemoryBlock]] = {
    "linear": LinearAttention,
    "performer": Performer,
    "gau": GatedAttentionUnit,
    "s4d": S4D,
    "softmax": SoftmaxAttention,
}
assert tuple(_CLASSES) == KINDS


def build_memory(kind: str, config: MemoryConfig | None = None, **cfg: Any) -> MemoryBlock:
    """The memory block of ``kind`` (one of `KINDS`), from ``config`` or from keyword options of
    `MemoryConfig` (``d_model``, ``n_heads``, ``n_features``, ``chunk_size``, ...)."""
    cls = _CLASSES.get(kind)
    if cls is None:
        raise DeskpilotError(f"unknown memory kind {kind!r}; available: {', '.join(KINDS)}")
    if config is not None and cfg:
        raise DeskpilotError("build_memory: pass either a MemoryConfig or keyword options, not both")
    return cls(config if config is not None else MemoryConfig.from_dict(cfg))


__all__ = [
    "KINDS",
    "S4D",
    "GAUState",
    "GatedAttentionUnit",
    "KVCache",
    "LinearAttention",
    "LinearAttentionState",
    "MemoryBlock",
    "MemoryConfig",
    "Performer",
    "PerformerState",
    "S4DState",
    "SoftmaxAttention",
    "build_memory",
    "state_nbytes",
]
