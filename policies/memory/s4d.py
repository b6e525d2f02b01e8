"""S4D: a diagonal state-space layer (Gu et al. 2022, "On the Parameterization and Initialization of
Diagonal State Space Models").

Each of the D channels is an independent linear system with N/2 complex modes (their conjugates are
implied: outputs take 2·Re), continuous in time and sampled with step Δ (learnable, log-parametrised):

    h'(τ) = A h(τ) + B u(τ),  y = 2·Re(C h) + D u
    zero-order hold:  Ā = exp(ΔA),  B̄ = (exp(ΔA) − 1)/A · B   (exact for u constant over each step)
    recurrent:        h_t = Ā h_{t-1} + B̄ u_t,   y_t = 2·Re(C h_t) + D u_t
    parallel:         y = K * u (causal convolution, by FFT) with K_l = 2·Re(Σ_n C_n B̄_n Ā_n^l)

Initialisation of A (Re A = −1/2 for every variant, so every mode decays):
- "legs": the eigenvalues of the normal part of HiPPO-LegS (A + P Pᵀ with P_n = √(n+½)), i.e. the
  diagonal approximation S4D-LegS, with B rotated into that eigenbasis (Vᴴ B, B_n = √(2n+1));
- "inv":  A_n = −½ + i·N/π·(N/(2n+1) − 1) (S4D-Inv, a closed form close to LegS), B = 1;
- "lin":  A_n = −½ + i·π·n (S4D-Lin), B = 1.
C ~ complex normal (variance 1), D ~ N(0, 1), log Δ ~ U(log dt_min, log dt_max). The block is
SSM → GELU → Linear(D, 2D) → GLU, as in the S4D reference block.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from policies.memory.base import MemoryBlock, inplace_ok
from policies.memory.config import MemoryConfig


# ------------------------------------------------------------------------------------------ HiPPO
def hippo_legs(n: int) -> tuple[Tensor, Tensor]:
    """The HiPPO-LegS matrices (fp64): A [N, N] with A_nk = −√(2n+1)√(2k+1) (n > k), −(n+1) (n = k),
    0 (n < k); B [N] with B_n = √(2n+1)."""
    r = torch.sqrt(2.0 * torch.arange(n, dtype=torch.float64) + 1.0)
    a = -(r[:, None] * r[None, :]).tril(-1) - torch.diag(torch.arange(1, n + 1, dtype=torch.float64))
    return a, r.clone()


def s4d_legs_diagonal(n: int) -> tuple[Tensor, Tensor]:
    """S4D-LegS: eigenvalues Λ [N/2] (complex128, positive imaginary part, ascending) of HiPPO-LegS's normal
    part A + P Pᵀ = −½ I + S (S skew-symmetric), and B in that eigenbasis, Vᴴ B [N/2]."""
    a, b = hippo_legs(n)
    p = torch.sqrt(torch.arange(n, dtype=torch.float64) + 0.5)
    skew = a + p[:, None] * p[None, :] + 0.5 * torch.eye(n, dtype=torch.float64)
    # S is skew-symmetric, so −iS is Hermitian: eigh gives S = V diag(iλ) Vᴴ with real λ in ± pairs
    lam, v = torch.linalg.eigh(-1j * skew.to(torch.complex128))
    keep = lam > 0
    lam, v = lam[keep], v[:, keep]
    return torch.complex(torch.full_like(lam, -0.5), lam), v.conj().T @ b.to(torch.complex128)


def s4d_init(kind: str, n: int) -> tuple[Tensor, Tensor]:
    """(Λ [N/2], B [N/2]) in complex128 for init ``kind`` in "legs", "inv", "lin"."""
    if kind == "legs":
        return s4d_legs_diagonal(n)
    k = torch.arange(n // 2, dtype=torch.float64)
    imag = n / math.pi * (n / (2 * k + 1) - 1) if kind == "inv" else math.pi * k
    lam = torch.complex(torch.full_like(k, -0.5), imag)
    return lam, torch.ones_like(lam)


def zoh(dt: Tensor, a: Tensor, b: Tensor) -> tuple[Tensor, Tensor]:
    """Zero-order-hold discretisation of the diagonal system h' = a h + b u over a step dt.
    dt: [H] real; a, b: [H, N2] complex -> Ā = exp(dt·a), B̄ = (Ā − 1)/a · b, both [H, N2]."""
    dta = dt.unsqueeze(-1) * a
    a_bar = dta.exp()
    return a_bar, (a_bar - 1.0) / a * b


def fft_causal_conv(u: Tensor, k: Tensor) -> Tensor:
    """y_t = Σ_{s≤t} k_{t−s} u_s by FFT. u: [B, H, T], k: [H, T] -> [B, H, T]."""
    t = u.shape[-1]
    n = 2 * t  # zero padding to 2T turns the circular convolution into a linear one
    return torch.fft.irfft(torch.fft.rfft(u, n=n) * torch.fft.rfft(k, n=n), n=n)[..., :t]


# ------------------------------------------------------------------------------------------ the block
@dataclass
class S4DState:
    """h: [B, D, N/2] complex, the modes' states after the last step."""

    h: Tensor


class S4D(MemoryBlock):
    """A diagonal SSM over D channels with N/2 complex modes each, as a residual pre-norm block."""

    kind = "s4d"

    def __init__(self, cfg: MemoryConfig):
        super().__init__(cfg)
        h, n2 = cfg.d_model, cfg.d_state // 2
        lam, b = s4d_init(cfg.s4d_init, cfg.d_state)
        self.log_dt = nn.Parameter(
            torch.rand(h) * (math.log(cfg.dt_max) - math.log(cfg.dt_min)) + math.log(cfg.dt_min)
        )
        self.log_neg_a_re = nn.Parameter(torch.log(-lam.real).float().repeat(h, 1))  # Re A = −exp(·) < 0
        self.a_im = nn.Parameter(lam.imag.float().repeat(h, 1))
        self.b = nn.Parameter(torch.view_as_real(b.to(torch.complex64)).repeat(h, 1, 1))  # [H, N2, 2]
        self.c = nn.Parameter(torch.view_as_real(torch.randn(h, n2, dtype=torch.complex64)))
        self.d = nn.Parameter(torch.randn(h))
        self.out = nn.Linear(h, 2 * h)
        self._step_cache: tuple | None = None

    # ------------------------------------------------------------------ continuous and discrete params
    def continuous(self) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """(Δ [H], A [H, N2], B [H, N2], C [H, N2]), complex in the precision of the parameters."""
        a = torch.complex(-self.log_neg_a_re.exp(), self.a_im)
        return self.log_dt.exp(), a, torch.view_as_complex(self.b), torch.view_as_complex(self.c)

    def discrete(self) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """(Δ·A, Ā, B̄, C), each [H, N2] complex."""
        dt, a, b, c = self.continuous()
        a_bar, b_bar = zoh(dt, a, b)
        return dt.unsqueeze(-1) * a, a_bar, b_bar, c

    def _discrete_for_step(self) -> tuple[Tensor, Tensor, Tensor]:
        """(Ā, B̄, C) for `step`; without gradients, reused until a parameter changes (storage or version).
        Parameters created under inference_mode have no version counter: they are discretised every step."""
        params = (self.log_dt, self.log_neg_a_re, self.a_im, self.b, self.c)
        if not inplace_ok() or any(p.is_inference() for p in params):  # no version counter to key on
            return self.discrete()[1:]
        key = tuple((p.data_ptr(), p._version, p.dtype) for p in params)
        if self._step_cache is None or self._step_cache[0] != key:
            with torch.no_grad():
                self._step_cache = (key, *self.discrete()[1:])
        return self._step_cache[1:]

    # ------------------------------------------------------------------------------------------- forms
    def _readout(self, y: Tensor) -> Tensor:
        return F.glu(self.out(F.gelu(y)), dim=-1)

    def _mix(self, u: Tensor, state: S4DState | None) -> tuple[Tensor, S4DState]:
        t = u.shape[1]
        dta, a_bar, b_bar, c = self.discrete()
        steps = torch.arange(t, device=u.device, dtype=u.dtype)
        powers = (dta.unsqueeze(-1) * steps).exp()  # Ā^l [H, N2, T], from exp(l·ΔA): no repeated products
        kernel = 2.0 * torch.einsum("hn,hnl->hl", c * b_bar, powers).real  # [H, T]
        ut = u.transpose(1, 2)  # [B, H, T]
        y = fft_causal_conv(ut, kernel) + self.d.unsqueeze(-1) * ut
        # final state: h_T-1 = Ā^T h0 + Σ_s Ā^(T-1-s) B̄ u_s
        h = b_bar * torch.einsum("bhl,hnl->bhn", ut.flip(-1).to(powers.dtype), powers)
        if state is not None:
            y = y + 2.0 * torch.einsum("hn,bhn,hnl->bhl", c * a_bar, state.h, powers).real
            h = h + (dta * t).exp() * state.h
        return self._readout(y.transpose(1, 2)), S4DState(h)

    def _mix_step(self, u_t: Tensor, state: S4DState) -> tuple[Tensor, S4DState]:
        a_bar, b_bar, c = self._discrete_for_step()
        if inplace_ok():
            h = state.h.mul_(a_bar).addcmul_(b_bar, u_t.unsqueeze(-1))
        else:
            h = a_bar * state.h + b_bar * u_t.unsqueeze(-1)
            state = S4DState(h)
        y = 2.0 * (h * c).sum(-1).real + self.d * u_t
        return self._readout(y), state

    def _mix_ref(self, u: Tensor) -> Tensor:
        _, a_bar, b_bar, c = self.discrete()
        h = torch.zeros(u.shape[0], *a_bar.shape, dtype=a_bar.dtype, device=u.device)
        ys = []
        for t in range(u.shape[1]):
            h = a_bar * h + b_bar * u[:, t, :, None]
            ys.append(2.0 * (c * h).sum(-1).real + self.d * u[:, t])
        return self._readout(torch.stack(ys, dim=1))

    def init_state(self, batch_size, device=None, dtype=None) -> S4DState:
        device, dtype = self._default(device, dtype)
        cdtype = torch.complex128 if dtype == torch.float64 else torch.complex64
        return S4DState(
            torch.zeros(batch_size, self.d_model, self.cfg.d_state // 2, device=device, dtype=cdtype)
        )

    def synthetic_state(self, batch_size, history_len, device=None, dtype=None, generator=None, spare=0):
        state = self.init_state(batch_size, device, dtype)
        torch.view_as_real(state.h).normal_(generator=generator)
        return state
