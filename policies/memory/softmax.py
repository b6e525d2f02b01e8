"""Causal multi-head softmax attention with a KV cache: the baseline whose state grows with the history.

    y_t = Σ_{s≤t} softmax_s(q_t·k_s / √d_h) v_s

The cache keeps every past key and value ([B, H, capacity, d_h] buffers, doubled when full, so appending
is amortised O(1)); a step reads all L of them: O(L) work and memory per step.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from policies.memory.base import MemoryBlock, inplace_ok
from policies.memory.config import MemoryConfig


def softmax_attention_ref(q: Tensor, k: Tensor, v: Tensor) -> Tensor:
    """Naive causal softmax attention, masked full matrix. q, k, v: [B, H, T, d] -> [B, H, T, d]."""
    t, d = q.shape[2], q.shape[3]
    scores = (q @ k.transpose(-1, -2)) / d**0.5
    future = torch.ones(t, t, dtype=torch.bool, device=q.device).triu(1)
    return scores.masked_fill(future, float("-inf")).softmax(-1) @ v


@dataclass
class KVCache:
    """k, v: [B, H, capacity, d_h] buffers whose first ``length`` steps are filled."""

    k: Tensor
    v: Tensor
    length: int = 0

    def keys(self) -> Tensor:
        return self.k[:, :, : self.length]

    def values(self) -> Tensor:
        return self.v[:, :, : self.length]


class SoftmaxAttention(MemoryBlock):
    """Multi-head causal softmax attention (scale 1/√d_h) with a KV cache, as a residual pre-norm block."""

    kind = "softmax"
    constant_state = False

    def __init__(self, cfg: MemoryConfig):
        super().__init__(cfg)
        self.n_heads, self.head_dim = cfg.n_heads, cfg.head_dim
        self.qkv = nn.Linear(cfg.d_model, 3 * cfg.d_model)
        self.out = nn.Linear(cfg.d_model, cfg.d_model)

    def _qkv(self, u: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        b, t, _ = u.shape
        q, k, v = self.qkv(u).view(b, t, 3, self.n_heads, self.head_dim).permute(2, 0, 3, 1, 4)
        return q, k, v

    def _merge(self, y: Tensor) -> Tensor:
        b, h, t, dh = y.shape
        return self.out(y.transpose(1, 2).reshape(b, t, h * dh))

    def _mix(self, u: Tensor, state: KVCache | None) -> tuple[Tensor, KVCache]:
        q, k, v = self._qkv(u)
        t = q.shape[2]
        if state is None or state.length == 0:
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
            return self._merge(y), KVCache(k, v, t)  # views of this piece's k, v: no copy
        past = state.length
        keys, values = torch.cat([state.keys(), k], 2), torch.cat([state.values(), v], 2)
        # query i sits at step past + i and sees keys 0 .. past + i
        allowed = torch.ones(t, past + t, dtype=torch.bool, device=u.device).tril(past)
        y = F.scaled_dot_product_attention(q, keys, values, attn_mask=allowed)
        return self._merge(y), KVCache(keys, values, past + t)

    def _append(self, cache: KVCache, k: Tensor, v: Tensor) -> KVCache:
        """Write one step's k, v [B, H, d_h] at position ``length``; grows (doubles) the buffers when full."""
        n = cache.length
        if not inplace_ok():
            return KVCache(
                torch.cat([cache.keys(), k[:, :, None]], 2),
                torch.cat([cache.values(), v[:, :, None]], 2),
                n + 1,
            )
        if n == cache.k.shape[2]:
            grow = max(n, self.cfg.kv_capacity)
            cache.k = torch.cat([cache.keys(), cache.k.new_empty(*cache.k.shape[:2], grow, self.head_dim)], 2)
            cache.v = torch.cat(
                [cache.values(), cache.v.new_empty(*cache.v.shape[:2], grow, self.head_dim)], 2
            )
        cache.k[:, :, n] = k
        cache.v[:, :, n] = v
        cache.length = n + 1
        return cache

    def _mix_step(self, u_t: Tensor, state: KVCache) -> tuple[Tensor, KVCache]:
        b, h, dh = u_t.shape[0], self.n_heads, self.head_dim
        q, k, v = self.qkv(u_t).view(b, 3, h, dh).unbind(1)
        state = self._append(state, k, v)
        scores = (q.unsqueeze(2) @ state.keys().transpose(-1, -2)) * dh**-0.5  # [B, H, 1, L]
        y = scores.softmax(-1) @ state.values()  # [B, H, 1, d_h]
        return self.out(y.reshape(b, h * dh)), state

    def _mix_ref(self, u: Tensor) -> Tensor:
        return self._merge(softmax_attention_ref(*self._qkv(u)))

    def init_state(self, batch_size, device=None, dtype=None) -> KVCache:
        device, dtype = self._default(device, dtype)
        shape = (batch_size, self.n_heads, self.cfg.kv_capacity, self.head_dim)
        return KVCache(
            torch.zeros(shape, device=device, dtype=dtype), torch.zeros(shape, device=device, dtype=dtype)
        )

    def synthetic_state(self, batch_size, history_len, device=None, dtype=None, generator=None, spare=0):
        """A cache holding ``history_len`` random keys and values plus ``spare`` free slots (so the steps a
        benchmark takes do not trigger a regrowth copy)."""
        device, dtype = self._default(device, dtype)
        shape = (batch_size, self.n_heads, history_len + spare, self.head_dim)
        k = torch.empty(shape, device=device, dtype=dtype).normal_(generator=generator)
        v = torch.empty(shape, device=device, dtype=dtype).normal_(generator=generator)
        return KVCache(k, v, history_len)
