"""What every memory block shares: a residual pre-norm wrapper, the three ways to run it, and state helpers.

A memory block maps a sequence of step tokens ``x`` [B, T, D] to ``x + mix(LayerNorm(x))`` [B, T, D],
causally: output t depends on inputs 0..t only. It can be run three ways, which agree to rounding:

- ``forward(x)``: the parallel (or chunked) form, for training on whole episodes;
- ``scan(x, state)``: the same, starting from ``state`` and also returning the state after the last step
  (to prefill a memory from a history, or to train on long episodes in pieces);
- ``step(x_t, state)``: one step ([B, D]) of the recurrent form, for acting.

``forward_ref(x)`` runs a naive, obviously-correct implementation of the same maths (explicit loops or
masked full matrices) that tests compare the fast forms against.

States are small dataclasses of tensors owned by the caller (`init_state` makes an empty one).
**In-place updates:** under ``torch.no_grad()`` / ``torch.inference_mode()`` (acting), ``step`` updates the
state's tensors in place and returns the same object, so a step allocates nothing the size of the state.
With gradients enabled it builds new tensors instead, so autograd can differentiate through steps.
``scan`` never modifies the state it is given.
"""

from __future__ import annotations

import dataclasses
from abc import abstractmethod
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from policies.memory.config import MemoryConfig


def state_nbytes(state: Any) -> int:
    """Bytes held by the tensors of a state dataclass (allocated buffers, including unused capacity)."""
    total = 0
    for f in dataclasses.fields(state):
        value = getattr(state, f.name)
        if isinstance(value, Tensor):
            total += value.nelement() * value.element_size()
    return total


def inplace_ok() -> bool:
    """Whether `step` may update state tensors in place: only when no graph is being recorded."""
    return not torch.is_grad_enabled()


class MemoryBlock(nn.Module):
    """Base class: residual pre-norm around a causal sequence mixer.

    Subclasses implement ``_mix(u, state) -> (y, state)`` (parallel form over [B, T, D], ``state`` may be
    None for "empty"), ``_mix_step(u_t, state) -> (y_t, state)``, ``_mix_ref(u) -> y``, ``init_state`` and
    ``synthetic_state``.
    """

    kind: ClassVar[str] = "?"
    #: Whether the state stays the same size however long the history (False only for softmax + KV cache).
    constant_state: ClassVar[bool] = True

    def __init__(self, cfg: MemoryConfig):
        super().__init__()
        self.cfg = cfg
        self.d_model = cfg.d_model
        self.norm = nn.LayerNorm(cfg.d_model, eps=cfg.norm_eps)

    # ------------------------------------------------------------------------------------ public forms
    def forward(self, x: Tensor) -> Tensor:
        """Parallel form. x: [B, T, D] -> [B, T, D], causal."""
        return self.scan(x)[0]

    def scan(self, x: Tensor, state: Any | None = None) -> tuple[Tensor, Any]:
        """Parallel form from ``state`` (None: empty). x: [B, T, D] -> (y [B, T, D], state after step T-1).

        Sequences longer than ``cfg.max_parallel_len`` run in pieces with the state carried between them.
        """
        self._check(x, 3)
        if x.shape[1] == 0:
            return x, state if state is not None else self.init_state(x.shape[0], x.device, x.dtype)
        u = self.norm(x)
        pieces = []
        step = self.cfg.max_parallel_len
        for start in range(0, x.shape[1], step):
            y, state = self._mix(u[:, start : start + step], state)
            pieces.append(y)
        y = pieces[0] if len(pieces) == 1 else torch.cat(pieces, dim=1)
        return x + y, state

    def step(self, x_t: Tensor, state: Any) -> tuple[Tensor, Any]:
        """Recurrent form, one step. x_t: [B, D] -> (y_t [B, D], state). O(1) work and memory per step
        for every kind but softmax. Updates ``state`` in place when gradients are off (see module doc)."""
        self._check(x_t, 2)
        y, state = self._mix_step(self.norm(x_t), state)
        return x_t + y, state

    def forward_ref(self, x: Tensor) -> Tensor:
        """Naive reference of `forward` (for tests): x [B, T, D] -> [B, T, D]."""
        self._check(x, 3)
        return x + self._mix_ref(self.norm(x))

    def state_nbytes(self, state: Any) -> int:
        return state_nbytes(state)

    def _default(self, device: torch.device | str | None, dtype: torch.dtype | None):
        p = next(self.parameters())
        return (torch.device(device) if device is not None else p.device), (dtype or p.dtype)

    def _check(self, x: Tensor, ndim: int) -> None:
        if x.ndim != ndim or x.shape[-1] != self.d_model:
            want = "[B, T, D]" if ndim == 3 else "[B, D]"
            raise ValueError(f"{self.kind} memory expects {want} with D={self.d_model}, got {list(x.shape)}")

    # ------------------------------------------------------------------------------ for subclasses
    @abstractmethod
    def init_state(
        self, batch_size: int, device: torch.device | str | None = None, dtype: torch.dtype | None = None
    ) -> Any:
        """The state before the first step (empty history)."""

    @abstractmethod
    def synthetic_state(
        self,
        batch_size: int,
        history_len: int,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
        generator: torch.Generator | None = None,
        spare: int = 0,
    ) -> Any:
        """A state shaped and book-kept as after ``history_len`` steps, with random contents.

        For benchmarks (the cost of a step depends on the state's shape, not its values); never act on it.
        ``spare``: room for that many more steps in states that grow (the KV cache); others ignore it.
        """

    @abstractmethod
    def _mix(self, u: Tensor, state: Any | None) -> tuple[Tensor, Any]: ...

    @abstractmethod
    def _mix_step(self, u_t: Tensor, state: Any) -> tuple[Tensor, Any]: ...

    @abstractmethod
    def _mix_ref(self, u: Tensor) -> Tensor: ...

    def extra_repr(self) -> str:
        return f"kind={self.kind}, d_model={self.d_model}"
