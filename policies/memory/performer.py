"""Performer attention with FAVOR+ (Choromanski et al. 2021, "Rethinking Attention with Performers").

The softmax kernel exp(q·k/√d) is written as an expectation over random features,

    exp(x·y) = E_w[ exp(w·x − |x|²/2) · exp(w·y − |y|²/2) ],   w ~ N(0, I_d),   x = q/d^¼, y = k/d^¼,

so with m features φ(x) = exp(W x − |x|²/2)/√m (positive: no sign cancellations, low variance near zero
similarity) attention becomes linear attention with φ and keeps an O(1) recurrent state. The rows of W
are drawn in blocks of d exactly orthogonal directions, each rescaled by an independent chi(d) norm so
every row is still marginally N(0, I_d) (orthogonal random features lower the variance further).

Numerical stabilisation: features are computed as exp(a − c) with a = W x − |x|²/2 and c a shift that
cancels between numerator and normaliser. Queries use their own max over features. Keys must share one
shift across the history, so the state carries the running max ``m`` of key log-features; when a new key
raises it, the state is rescaled by exp(m_old − m_new) (the trick of online softmax). The parallel form
applies the same per-step running max (`favor_causal_product`): a key far above the earlier ones cannot
underflow them, and the two forms agree. Shifts are excluded from autograd; they cancel mathematically.
The 1/√m factors cancel in the ratio too and are left out of the block.

`redraw_features` draws new directions: do it between episodes or training steps, never mid-episode
(a state built with the old features means nothing under the new ones).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from policies.memory.base import MemoryBlock, inplace_ok
from policies.memory.config import MemoryConfig


def orthogonal_gaussian_matrix(
    m: int, d: int, generator: torch.Generator | None = None, dtype: torch.dtype = torch.float32
) -> Tensor:
    """[m, d] random projection: blocks of d orthogonal directions (Haar-distributed, via QR with the
    sign of R's diagonal fixed), each row scaled by an independent chi(d) norm. Drawn on the CPU in fp64."""
    g = torch.randn(math.ceil(m / d), d, d, generator=generator, dtype=torch.float64)
    q, r = torch.linalg.qr(g)  # batched over blocks
    q = q * torch.sign(torch.diagonal(r, dim1=-2, dim2=-1)).unsqueeze(-2)  # without this QR is not Haar
    w = q.transpose(-1, -2).reshape(-1, d)[:m]  # each block's rows are orthonormal
    norms = torch.randn(m, d, generator=generator, dtype=torch.float64).norm(dim=1)  # ~ chi(d)
    return (w * norms.unsqueeze(1)).to(dtype)


def favor_log_features(x: Tensor, proj: Tensor) -> Tensor:
    """a = W x − |x|²/2 for x [..., d] already scaled by d^-¼ and proj W [m, d] -> [..., m]."""
    return x @ proj.T - 0.5 * (x * x).sum(-1, keepdim=True)


def softmax_kernel_features(x: Tensor, proj: Tensor) -> Tensor:
    """The unbiased positive features φ(x) = exp(W x − |x|²/2)/√m (no shift): φ(x)·φ(y) ≈ exp(x·y)."""
    return favor_log_features(x, proj).exp() / math.sqrt(proj.shape[0])


def favor_attention_ref(q: Tensor, k: Tensor, v: Tensor, proj: Tensor) -> Tensor:
    """Naive causal FAVOR+ attention, masked full matrices. q, k, v: [B, H, T, d] -> [B, H, T, d]."""
    scale = q.shape[-1] ** -0.25
    aq, ak = favor_log_features(q * scale, proj), favor_log_features(k * scale, proj)
    fq = (aq - aq.amax(-1, keepdim=True)).exp()
    fk = (ak - ak.amax(dim=(-1, -2), keepdim=True)).exp()
    t = q.shape[2]
    a = (fq @ fk.transpose(-1, -2)) * torch.ones(t, t, dtype=q.dtype, device=q.device).tril()
    return (a @ v) / a.sum(-1, keepdim=True)


def favor_causal_product(
    fq: Tensor, ak: Tensor, v: Tensor, s0: Tensor | None, m0: Tensor | None, chunk: int
) -> tuple[Tensor, Tensor, Tensor]:
    """out_t = Σ_{s≤t} (fq_t · exp(ak_s − r_t)) v_sᵀ with r_t the running max of the keys' log-features
    (and of ``m0``): the recurrent form's shift, step for step, so a key cannot underflow here unless it
    would there. Chunked: within a chunk a masked C×C product with factors exp(r_s − r_t) ≤ 1; across
    chunks the state, rescaled whenever the shift rises.

    Args:
        fq: [B, H, T, m] query features; ak: [B, H, T, m] key log-features; v: [B, H, T, E].
        s0: [B, H, m, E] state carried in, at shift ``m0`` [B, H]; None for an empty history.
    Returns:
        out [B, H, T, E] (row t at shift r_t), the state [B, H, m, E] and its shift r_{T-1} [B, H].
    """
    b, h, t, m = ak.shape
    r = ak.detach().amax(-1)  # [B, H, T]
    if m0 is not None:
        r = torch.maximum(r, m0.unsqueeze(-1))
    r = r.cummax(-1).values
    fk = (ak - r.unsqueeze(-1)).exp()  # each key at the shift of its own step
    chunk = max(1, min(chunk, t))
    pad = (-t) % chunk
    if pad:
        fq, fk, v = (F.pad(x, (0, 0, 0, pad)) for x in (fq, fk, v))
        r = torch.cat([r, r[..., -1:].expand(b, h, pad)], -1)  # padding keeps the last shift
    g = (t + pad) // chunk
    fq, fk = fq.view(b, h, g, chunk, m), fk.view(b, h, g, chunk, m)
    v, r = v.reshape(b, h, g, chunk, -1), r.reshape(b, h, g, chunk)
    causal = torch.ones(chunk, chunk, dtype=torch.bool, device=ak.device).tril()
    rel = (r.unsqueeze(-2) - r.unsqueeze(-1)).masked_fill(~causal, -math.inf).exp()  # [t, s]: exp(r_s − r_t)
    intra = ((fq @ fk.transpose(-1, -2)) * rel) @ v
    r_end = r[..., -1]  # [B, H, G]
    kv = (fk * (r - r_end.unsqueeze(-1)).exp().unsqueeze(-1)).transpose(-1, -2) @ v  # at chunk-end shift
    state = torch.zeros_like(kv[:, :, 0]) if s0 is None else s0
    prev = torch.full_like(r_end[..., 0], -math.inf) if m0 is None else m0
    befores, prev_shifts = [], []
    for i in range(g):  # a few chunks per piece; the rescaling makes this a recurrence, not a cumsum
        befores.append(state)
        prev_shifts.append(prev)
        state = state * (prev - r_end[..., i]).exp()[..., None, None] + kv[:, :, i]
        prev = r_end[..., i]
    before, prev_shift = torch.stack(befores, 2), torch.stack(prev_shifts, -1)  # [B,H,G,m,E], [B,H,G]
    inter = (fq @ before) * (prev_shift.unsqueeze(-1) - r).exp().unsqueeze(-1)
    return (intra + inter).reshape(b, h, g * chunk, -1)[:, :, :t], state, prev


@dataclass
class PerformerState:
    """s: [B, H, m, d_h + 1], Σ φ(k)[v, 1] with keys shifted by exp(−max); max: [B, H], that shift."""

    s: Tensor
    max: Tensor


class Performer(MemoryBlock):
    """Multi-head causal FAVOR+ attention as a residual pre-norm block; ``proj`` [m, d_h] is shared by heads."""

    kind = "performer"

    def __init__(self, cfg: MemoryConfig, generator: torch.Generator | None = None):
        super().__init__(cfg)
        self.n_heads, self.head_dim, self.n_features = cfg.n_heads, cfg.head_dim, cfg.n_features
        self.qkv = nn.Linear(cfg.d_model, 3 * cfg.d_model)
        self.out = nn.Linear(cfg.d_model, cfg.d_model)
        # a buffer, saved with the weights: a trained model must keep the features it was trained with
        self.register_buffer("proj", orthogonal_gaussian_matrix(cfg.n_features, cfg.head_dim, generator))

    @torch.no_grad()
    def redraw_features(self, generator: torch.Generator | None = None) -> None:
        """Draw new orthogonal random features (between episodes / optimiser steps only)."""
        w = orthogonal_gaussian_matrix(self.n_features, self.head_dim, generator)
        self.proj.copy_(w.to(self.proj.device, self.proj.dtype))

    def _qkv(self, u: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """u [B, T, D] -> log-features of q and k [B, H, T, m] and v [B, H, T, d_h]."""
        b, t, _ = u.shape
        q, k, v = self.qkv(u).view(b, t, 3, self.n_heads, self.head_dim).permute(2, 0, 3, 1, 4)
        scale = self.head_dim**-0.25  # q/d^¼ · k/d^¼ = q·k/√d
        return favor_log_features(q * scale, self.proj), favor_log_features(k * scale, self.proj), v

    def _merge(self, y: Tensor) -> Tensor:
        b, h, t, dh = y.shape
        return self.out(y.transpose(1, 2).reshape(b, t, h * dh))

    def _ratio(self, out: Tensor) -> Tensor:
        # no additive eps: its weight would depend on the shifts, which differ between the forms
        return out[..., :-1] / out[..., -1:].clamp_min(torch.finfo(out.dtype).tiny)

    def _mix(self, u: Tensor, state: PerformerState | None) -> tuple[Tensor, PerformerState]:
        aq, ak, v = self._qkv(u)
        fq = (aq - aq.amax(-1, keepdim=True).detach()).exp()
        v1 = torch.cat([v, torch.ones_like(v[..., :1])], dim=-1)
        s0, m0 = (None, None) if state is None else (state.s, state.max)
        out, s, shift = favor_causal_product(fq, ak, v1, s0, m0, self.cfg.chunk_size)
        return self._merge(self._ratio(out)), PerformerState(s, shift)

    def _mix_step(self, u_t: Tensor, state: PerformerState) -> tuple[Tensor, PerformerState]:
        b, h, dh, m = u_t.shape[0], self.n_heads, self.head_dim, self.n_features
        qkv = self.qkv(u_t).view(b, 3, h, dh)
        a = favor_log_features(qkv[:, :2] * dh**-0.25, self.proj)  # [B, 2, H, m]
        fq = (a[:, 0] - a[:, 0].amax(-1, keepdim=True)).exp().view(b * h, 1, m)
        ak = a[:, 1]
        shift = torch.maximum(state.max, ak.amax(-1))  # [B, H]
        rescale = (state.max - shift).exp().view(b * h, 1, 1)  # 1 unless this key set a new max
        fk = (ak - shift.unsqueeze(-1)).view(b * h, m, 1)
        fk = fk.exp()
        v1 = torch.cat([qkv[:, 2], torch.ones_like(qkv[:, 2, :, :1])], dim=-1).view(b * h, 1, dh + 1)
        s = state.s.view(b * h, m, dh + 1)
        if inplace_ok():
            s.mul_(rescale).baddbmm_(fk, v1)
            state.max.copy_(shift)
        else:
            s = torch.baddbmm(s * rescale, fk, v1)
            state = PerformerState(s.view(b, h, m, dh + 1), shift)
        out = torch.bmm(fq, s).view(b, h, dh + 1)
        return self.out(self._ratio(out).reshape(b, h * dh)), state

    def _mix_ref(self, u: Tensor) -> Tensor:
        b, t, _ = u.shape
        q, k, v = self.qkv(u).view(b, t, 3, self.n_heads, self.head_dim).permute(2, 0, 3, 1, 4)
        return self._merge(favor_attention_ref(q, k, v, self.proj))

    def init_state(self, batch_size, device=None, dtype=None) -> PerformerState:
        device, dtype = self._default(device, dtype)
        h, m, dh = self.n_heads, self.n_features, self.head_dim
        return PerformerState(
            torch.zeros(batch_size, h, m, dh + 1, device=device, dtype=dtype),
            torch.full((batch_size, h), -math.inf, device=device, dtype=dtype),
        )

    def synthetic_state(self, batch_size, history_len, device=None, dtype=None, generator=None, spare=0):
        state = self.init_state(batch_size, device, dtype)
        state.s.uniform_(0.0, 2.0 * max(history_len, 1), generator=generator)
        state.max.zero_()
        return state
