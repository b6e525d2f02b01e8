"""The configuration shared by every memory mechanism.

One dataclass covers all kinds; each mechanism reads the fields it needs and ignores the rest, so a policy
config can switch mechanism by changing ``kind`` alone.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any

from agent.errors import DeskpilotError

#: The mechanisms `build_memory` knows, in the order benchmarks and reports list them.
KINDS: tuple[str, ...] = ("linear", "performer", "gau", "s4d", "softmax")

S4D_INITS: tuple[str, ...] = ("legs", "inv", "lin")


@dataclass
class MemoryConfig:
    """Sizes of one memory block.

    Attributes:
        d_model: width D of the tokens the block reads and writes ([B, T, D]).
        n_heads: heads of the attention kinds (linear, performer, softmax); ``d_model % n_heads == 0``.
        n_features: Performer random features per head (m); the paper suggests m ≈ d_h·log d_h.
        chunk_size: block length C of the chunked parallel forms (linear, performer) and the local
            attention window of the gated attention unit (where it changes the result, not only speed).
        gau_expansion: the gated attention unit's value width e = gau_expansion · d_model (FLASH: 2).
        gau_qk_dim: the gated attention unit's shared query/key width s (FLASH: 128).
        d_state: S4D state size N per channel; N/2 complex conjugate-pair modes are stored.
        s4d_init: S4D eigenvalue initialisation: "legs" (diagonal of HiPPO-LegS's normal part),
            "inv" (S4D-Inv) or "lin" (S4D-Lin).
        dt_min, dt_max: range of the S4D step sizes Δ, drawn log-uniformly per channel (in units of steps).
        max_parallel_len: `MemoryBlock.scan` splits longer sequences into pieces of at most this many
            steps and carries the state between them, bounding the memory of the parallel forms.
        kv_capacity: initial capacity (steps) of the softmax KV cache; it doubles when full.
        eps: added to the linear-attention normalisers (keeps 0/0 out of padded or degenerate inputs).
        norm_eps: epsilon of the pre-norm LayerNorm.
    """

    d_model: int = 256
    n_heads: int = 4
    n_features: int = 128
    chunk_size: int = 64
    gau_expansion: int = 2
    gau_qk_dim: int = 128
    d_state: int = 64
    s4d_init: str = "legs"
    dt_min: float = 1e-3
    dt_max: float = 1e-1
    max_parallel_len: int = 512
    kv_capacity: int = 256
    eps: float = 1e-6
    norm_eps: float = 1e-5

    def __post_init__(self) -> None:
        for name in ("d_model", "n_heads", "n_features", "chunk_size", "gau_expansion", "gau_qk_dim",
                     "d_state", "max_parallel_len", "kv_capacity"):  # fmt: skip
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise DeskpilotError(f"memory config: {name} must be a positive integer, got {value!r}")
        if self.d_model % self.n_heads:
            raise DeskpilotError(
                f"memory config: d_model ({self.d_model}) must be divisible by n_heads ({self.n_heads})"
            )
        if self.d_state % 2:
            raise DeskpilotError(f"memory config: d_state must be even (conjugate pairs), got {self.d_state}")
        if self.s4d_init not in S4D_INITS:
            raise DeskpilotError(
                f"memory config: s4d_init must be one of {', '.join(S4D_INITS)}, got {self.s4d_init!r}"
            )
        if not (0 < self.dt_min <= self.dt_max) or not math.isfinite(self.dt_max):
            raise DeskpilotError(
                f"memory config: need 0 < dt_min <= dt_max, got dt_min={self.dt_min}, dt_max={self.dt_max}"
            )
        if not (self.eps > 0 and self.norm_eps > 0):
            raise DeskpilotError("memory config: eps and norm_eps must be > 0")

    @property
    def head_dim(self) -> int:
        return self.d_model // self.n_heads

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MemoryConfig:
        """Build from a dict, naming any unknown key (a typo in a config file) instead of ignoring it."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise DeskpilotError(
                f"memory config: unknown option(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}"
            )
        return cls(**data)
