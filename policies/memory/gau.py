"""Gated attention unit with mixed chunk attention (Hua et al. 2022, "Transformer Quality in Linear Time").

One projection of the normed input gives a gate u and values v (width e = expansion·D, SiLU) and a small
shared representation z (width s, SiLU). Four cheap per-dimension scale-and-offset maps of z give the
queries and keys of two attentions (the "shared QK"):

    local (within each chunk of C steps, causal):  relu(q_quad·k_quad / √s)² / C
    global (over all earlier chunks, linear):      q_lin·k_lin / (C·√s), no softmax, no normaliser

and the block returns out(u ⊙ (local + global) v). The 1/√s is the usual dot-product scale; the 1/C is
FLASH's normalisation of the relu² kernel by the chunk length. As in FLASH, gamma ~ N(0, 0.02²) and
beta = 0 at initialisation, so the unit starts close to the identity (residual) map. The relative
position bias and RoPE of the paper are left out: the memory tokens carry their own step information.

Chunks are aligned to absolute step numbers (steps 0..C-1 form the first chunk), in every form. The
recurrent form keeps the global sum S = Σ k_lin vᵀ over completed chunks plus the keys and values of the
chunk in progress: O(C·(s+e) + s·e) memory and O(C·(s+e)) work per step, independent of the history.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from policies.memory.base import MemoryBlock, inplace_ok
from policies.memory.config import MemoryConfig
from policies.memory.linear import chunk_prefix_states


@dataclass
class GAUState:
    """s: [B, s, e] Σ k_lin vᵀ over completed chunks; kq, kl: [B, C, s] and v: [B, C, e] the current chunk's
    keys and values (rows :pos valid); pos: steps already in the current chunk, 0 <= pos < C."""

    s: Tensor
    kq: Tensor
    kl: Tensor
    v: Tensor
    pos: int = 0


class GatedAttentionUnit(MemoryBlock):
    """FLASH's gated attention unit (single head, shared QK) as a residual pre-norm block."""

    kind = "gau"

    def __init__(self, cfg: MemoryConfig):
        super().__init__(cfg)
        self.e, self.s, self.chunk = cfg.gau_expansion * cfg.d_model, cfg.gau_qk_dim, cfg.chunk_size
        self.proj = nn.Linear(cfg.d_model, 2 * self.e + self.s)
        # rows: quad query, quad key, linear query, linear key
        self.gamma = nn.Parameter(torch.randn(4, self.s) * 0.02)
        self.beta = nn.Parameter(torch.zeros(4, self.s))
        self.out = nn.Linear(self.e, cfg.d_model)

    def _project(self, u: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor, Tensor]:
        """u [..., D] -> gate [..., e], v [..., e], q_quad, k_quad, q_lin, k_lin [..., s]."""
        gate, v, z = F.silu(self.proj(u)).split([self.e, self.e, self.s], dim=-1)
        qq, kq, ql, kl = (z.unsqueeze(-2) * self.gamma + self.beta).unbind(-2)
        return gate, v, qq, kq, ql, kl

    def _local_scores(self, q: Tensor, k: Tensor) -> Tensor:
        return F.relu((q @ k.transpose(-1, -2)) / math.sqrt(self.s)).square() / self.chunk

    def _mix(self, u: Tensor, state: GAUState | None) -> tuple[Tensor, GAUState]:
        b, t, _ = u.shape
        c = self.chunk
        gate, v, qq, kq, ql, kl = self._project(u)
        p = 0 if state is None else state.pos
        if p:  # the chunk in progress: its keys and values join, its (already answered) queries are zeros
            kq, kl, v = (
                torch.cat([buf[:, :p], x], 1) for buf, x in ((state.kq, kq), (state.kl, kl), (state.v, v))
            )
            qq, ql = (F.pad(x, (0, 0, p, 0)) for x in (qq, ql))
        n = p + t
        pad = (-n) % c
        g = (n + pad) // c
        qqc, kqc, qlc, klc, vc = (F.pad(x, (0, 0, 0, pad)).view(b, g, c, -1) for x in (qq, kq, ql, kl, v))
        causal = torch.ones(c, c, dtype=torch.bool, device=u.device).tril()
        local = self._local_scores(qqc, kqc).masked_fill(~causal, 0.0) @ vc  # [B,G,C,e]
        before, total = chunk_prefix_states(
            klc.reshape(b, 1, g * c, -1), vc.reshape(b, 1, g * c, -1),
            None if state is None else state.s.unsqueeze(1), c,
        )  # fmt: skip
        glob = (qlc @ before[:, 0]) / (c * math.sqrt(self.s))  # [B,G,C,e]
        mixed = (local + glob).reshape(b, g * c, -1)[:, p : p + t]
        y = self.out(gate * mixed)

        full = n // c  # completed chunks; the rest stays in the buffers
        s_new = total[:, 0] if full == g else before[:, 0, full]
        rest = n - full * c
        bufs = [F.pad(x[:, full * c : n], (0, 0, 0, c - rest)) for x in (kq, kl, v)]
        return y, GAUState(s_new, *bufs, pos=rest)

    def _mix_step(self, u_t: Tensor, state: GAUState) -> tuple[Tensor, GAUState]:
        gate, v, qq, kq, ql, kl = self._project(u_t)  # [B, e] / [B, s]
        p, c = state.pos, self.chunk
        if inplace_ok():
            state.kq[:, p], state.kl[:, p], state.v[:, p] = kq, kl, v
        else:
            state = GAUState(state.s, state.kq.clone(), state.kl.clone(), state.v.clone(), p)
            state.kq[:, p], state.kl[:, p], state.v[:, p] = kq, kl, v
        scores = self._local_scores(qq.unsqueeze(1), state.kq[:, : p + 1])  # [B, 1, p+1]
        local = scores @ state.v[:, : p + 1]  # [B, 1, e]
        glob = (ql.unsqueeze(1) @ state.s) / (c * math.sqrt(self.s))
        y = self.out(gate * (local + glob).squeeze(1))
        if p + 1 == c:  # chunk complete: fold it into the global sum
            if inplace_ok():
                state.s.baddbmm_(state.kl.transpose(1, 2), state.v)
            else:
                state.s = torch.baddbmm(state.s, state.kl.transpose(1, 2), state.v)
            state.pos = 0
        else:
            state.pos = p + 1
        return y, state

    def _mix_ref(self, u: Tensor) -> Tensor:
        gate, v, qq, kq, ql, kl = self._project(u)
        t = u.shape[1]
        idx = torch.arange(t, device=u.device)
        chunk_of = idx // self.chunk
        causal = idx[None, :] <= idx[:, None]
        same = chunk_of[None, :] == chunk_of[:, None]
        earlier = chunk_of[None, :] < chunk_of[:, None]
        a_local = self._local_scores(qq, kq) * (same & causal)
        a_glob = (ql @ kl.transpose(-1, -2)) / (self.chunk * math.sqrt(self.s)) * earlier
        return self.out(gate * ((a_local + a_glob) @ v))

    def init_state(self, batch_size, device=None, dtype=None) -> GAUState:
        device, dtype = self._default(device, dtype)
        b, c = batch_size, self.chunk
        z = lambda *shape: torch.zeros(*shape, device=device, dtype=dtype)  # noqa: E731
        return GAUState(z(b, self.s, self.e), z(b, c, self.s), z(b, c, self.s), z(b, c, self.e), 0)

    def synthetic_state(self, batch_size, history_len, device=None, dtype=None, generator=None, spare=0):
        state = self.init_state(batch_size, device, dtype)
        for t in (state.s, state.kq, state.kl, state.v):
            t.normal_(generator=generator)
        state.pos = history_len % self.chunk
        return state
