"""Causal linear attention (Katharopoulos et al. 2020, "Transformers are RNNs"), φ(x) = elu(x) + 1.

    y_t = φ(q_t)ᵀ S_t / (φ(q_t)ᵀ z_t + eps),   S_t = Σ_{s≤t} φ(k_s) v_sᵀ,   z_t = Σ_{s≤t} φ(k_s)

per head. The state keeps z as an extra column of S: S [B, H, d_h, d_h + 1], so one matrix product gives
numerator and normaliser together. No 1/√d_h scale: the normaliser cancels any constant factor in the
similarity, and the paper's φ is applied to the raw projections.

Also home of the chunked causal product that the Performer and the gated attention unit reuse.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from policies.memory.base import MemoryBlock, inplace_ok
from policies.memory.config import MemoryConfig


# ------------------------------------------------------------------------------- chunked causal product
def pad_to_chunks(x: Tensor, chunk: int) -> Tensor:
    """Zero-pad dim 2 (time) of [B, H, T, F] up to a multiple of ``chunk``."""
    pad = (-x.shape[2]) % chunk
    return F.pad(x, (0, 0, 0, pad)) if pad else x


def chunk_prefix_states(k: Tensor, v: Tensor, s0: Tensor | None, chunk: int) -> tuple[Tensor, Tensor]:
    """Running sums of k vᵀ at chunk boundaries.

    Args:
        k: [B, H, G·C, F] and v: [B, H, G·C, E], already padded to whole chunks (padding rows are zero).
        s0: [B, H, F, E] sum carried in from before the sequence, or None.
    Returns:
        before: [B, H, G, F, E], s0 + Σ k vᵀ over the chunks strictly before chunk g;
        total: [B, H, F, E], s0 + Σ k vᵀ over all chunks.
    """
    b, h, t, f = k.shape
    g = t // chunk
    kv = k.view(b, h, g, chunk, f).transpose(-1, -2) @ v.view(b, h, g, chunk, -1)  # [B,H,G,F,E]
    cum = kv.cumsum(dim=2)
    before = torch.cat([torch.zeros_like(kv[:, :, :1]), cum[:, :, :-1]], dim=2)
    total = cum[:, :, -1]
    if s0 is not None:
        before = before + s0.unsqueeze(2)
        total = total + s0
    return before, total


def causal_linear_product(
    q: Tensor, k: Tensor, v: Tensor, s0: Tensor | None, chunk: int
) -> tuple[Tensor, Tensor]:
    """out_t = q_tᵀ (s0 + Σ_{s≤t} k_s v_sᵀ), computed by chunks: within a chunk a masked C×C product,
    across chunks the running sums. O(T·C·(F+E) + T·F·E) work, O(T/C·F·E) memory.

    Args:
        q, k: [B, H, T, F]; v: [B, H, T, E]; s0: [B, H, F, E] or None; chunk: C.
    Returns:
        out [B, H, T, E], and s0 + Σ_s k_s v_sᵀ [B, H, F, E].
    """
    t = q.shape[2]
    chunk = max(1, min(chunk, t))
    qp, kp, vp = (pad_to_chunks(a, chunk) for a in (q, k, v))
    b, h, tp, f = qp.shape
    g = tp // chunk
    before, total = chunk_prefix_states(kp, vp, s0, chunk)
    qc = qp.view(b, h, g, chunk, f)
    kc = kp.view(b, h, g, chunk, f)
    vc = vp.view(b, h, g, chunk, -1)
    causal = torch.ones(chunk, chunk, dtype=torch.bool, device=q.device).tril()
    scores = (qc @ kc.transpose(-1, -2)).masked_fill(~causal, 0.0)  # [B,H,G,C,C]
    out = qc @ before + scores @ vc  # [B,H,G,C,E]
    return out.reshape(b, h, tp, -1)[:, :, :t], total


# ------------------------------------------------------------------------------------------ the block
def elu_feature_map(x: Tensor) -> Tensor:
    """φ(x) = elu(x) + 1 > 0."""
    return F.elu(x) + 1.0


@dataclass
class LinearAttentionState:
    """S: [B, H, d_h, d_h + 1]; columns :d_h hold Σ φ(k) vᵀ, the last column holds z = Σ φ(k)."""

    s: Tensor


class LinearAttention(MemoryBlock):
    """Multi-head causal linear attention with its normaliser, as a residual pre-norm block."""

    kind = "linear"

    def __init__(self, cfg: MemoryConfig):
        super().__init__(cfg)
        self.n_heads, self.head_dim = cfg.n_heads, cfg.head_dim
        self.qkv = nn.Linear(cfg.d_model, 3 * cfg.d_model)
        self.out = nn.Linear(cfg.d_model, cfg.d_model)

    def _qkv(self, u: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """u [B, T, D] -> φ(q), φ(k), v, each [B, H, T, d_h]."""
        b, t, _ = u.shape
        q, k, v = self.qkv(u).view(b, t, 3, self.n_heads, self.head_dim).permute(2, 0, 3, 1, 4)
        return elu_feature_map(q), elu_feature_map(k), v

    def _merge(self, y: Tensor) -> Tensor:
        """[B, H, T, d_h] -> out-projected [B, T, D]."""
        b, h, t, dh = y.shape
        return self.out(y.transpose(1, 2).reshape(b, t, h * dh))

    def _mix(self, u: Tensor, state: LinearAttentionState | None) -> tuple[Tensor, LinearAttentionState]:
        q, k, v = self._qkv(u)
        v1 = torch.cat([v, torch.ones_like(v[..., :1])], dim=-1)  # the ones column accumulates z
        out, s = causal_linear_product(q, k, v1, None if state is None else state.s, self.cfg.chunk_size)
        y = out[..., :-1] / (out[..., -1:] + self.cfg.eps)
        return self._merge(y), LinearAttentionState(s)

    def _mix_step(self, u_t: Tensor, state: LinearAttentionState) -> tuple[Tensor, LinearAttentionState]:
        b, h, dh = u_t.shape[0], self.n_heads, self.head_dim
        qkv = self.qkv(u_t).view(b, 3, h, dh)
        qk = elu_feature_map(qkv[:, :2])
        q, k = qk[:, 0].reshape(b * h, 1, dh), qk[:, 1].reshape(b * h, dh, 1)
        v1 = torch.cat([qkv[:, 2], torch.ones_like(qkv[:, 2, :, :1])], dim=-1).reshape(b * h, 1, dh + 1)
        s = state.s.view(b * h, dh, dh + 1)
        if inplace_ok():
            s.baddbmm_(k, v1)  # S += φ(k) [v, 1], written into the state's own storage
        else:
            s = torch.baddbmm(s, k, v1)
            state = LinearAttentionState(s.view(b, h, dh, dh + 1))
        out = torch.bmm(q, s).view(b, h, dh + 1)
        y = (out[..., :-1] / (out[..., -1:] + self.cfg.eps)).reshape(b, h * dh)
        return self.out(y), state

    def _mix_ref(self, u: Tensor) -> Tensor:
        q, k, v = self._qkv(u)
        t = q.shape[2]
        a = (q @ k.transpose(-1, -2)) * torch.ones(t, t, dtype=q.dtype, device=q.device).tril()
        y = (a @ v) / (a.sum(-1, keepdim=True) + self.cfg.eps)
        return self._merge(y)

    def init_state(self, batch_size, device=None, dtype=None) -> LinearAttentionState:
        device, dtype = self._default(device, dtype)
        h, dh = self.n_heads, self.head_dim
        return LinearAttentionState(torch.zeros(batch_size, h, dh, dh + 1, device=device, dtype=dtype))

    def synthetic_state(self, batch_size, history_len, device=None, dtype=None, generator=None, spare=0):
        state = self.init_state(batch_size, device, dtype)
        # positive entries of the size history_len sums of positive features would have
        state.s.uniform_(0.0, 2.0 * max(history_len, 1), generator=generator)
        return state
