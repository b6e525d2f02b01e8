"""Memory mechanisms: the recurrent, parallel, piecewise and naive forms agree; causality; constant state;
initialisation and scaling as in the papers; gradients reach every parameter."""

from __future__ import annotations

import math

import pytest
import torch

from agent.errors import DeskpilotError
from policies.bench import bench_policy_memory
from policies.memory import KINDS, MemoryConfig, build_memory, state_nbytes
from policies.memory.performer import (
    favor_attention_ref,
    favor_causal_product,
    orthogonal_gaussian_matrix,
    softmax_kernel_features,
)
from policies.memory.s4d import hippo_legs, s4d_init, zoh
from policies.memory.softmax import softmax_attention_ref

# Small blocks: T = 40 crosses chunk (8) and piece (24) boundaries, so every form's bookkeeping is exercised.
SMALL = dict(d_model=32, n_heads=4, chunk_size=8, gau_qk_dim=16, n_features=64, d_state=16,
             max_parallel_len=24, dt_min=0.01, dt_max=0.5)  # fmt: skip
T = 40
# Tolerances on the block's contribution y - x (entries of order 1): rounding only, forms are exact maths.
TOL = {torch.float64: 1e-10, torch.float32: 2e-5}
CONSTANT = [k for k in KINDS if k != "softmax"]


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """These tensors are tiny: one intra-op thread is faster, and far faster on a shared, busy CPU where
    OpenMP threads wait for each other."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def make(kind: str, dtype: torch.dtype = torch.float64, seed: int = 0, **over):
    torch.manual_seed(seed)
    block = build_memory(kind, **{**SMALL, **over}).to(dtype)
    if kind == "gau":
        # FLASH's init (gamma ~ N(0, 0.02²), beta = 0) makes the attention terms ~1e-7 of the output;
        # comparisons need them to matter, so use order-one scales and offsets here.
        with torch.no_grad():
            block.gamma.normal_()
            block.beta.normal_(std=0.5)
    return block


def inputs(dtype: torch.dtype = torch.float64, b: int = 2, t: int = T, seed: int = 1) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(b, t, SMALL["d_model"], generator=g, dtype=torch.float64).to(dtype)


def run_steps(block, x: torch.Tensor, state=None):
    state = block.init_state(x.shape[0]) if state is None else state
    ys = []
    for t in range(x.shape[1]):
        y, state = block.step(x[:, t], state)
        ys.append(y)
    return torch.stack(ys, 1), state


def close(a: torch.Tensor, b: torch.Tensor, x: torch.Tensor) -> float:
    """Largest difference of the two outputs' contributions (a - x vs b - x)."""
    return ((a - x) - (b - x)).abs().max().item()


# ----------------------------------------------------------------------------------- forms agree
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["fp64", "fp32"])
@pytest.mark.parametrize("kind", KINDS)
def test_step_by_step_equals_parallel_and_reference(kind, dtype):
    block, x = make(kind, dtype), inputs(dtype)
    y = block(x)
    assert (y - x).abs().max() > 0.05  # the mixer contributes: the comparisons below mean something
    with torch.inference_mode():
        y_steps, _ = run_steps(block, x)
    assert close(y_steps, y, x) < TOL[dtype]
    assert close(block.forward_ref(x), y, x) < TOL[dtype]


@pytest.mark.parametrize("kind", KINDS)
def test_steps_with_autograd_match_and_give_the_parallel_gradient(kind):
    """With gradients on, step builds new state tensors (no in-place): autograd through 40 steps gives the
    parallel form's input gradient (fp64, 1e-9) and leaves the caller's state untouched."""
    block = make(kind)
    x = inputs().requires_grad_()
    y = block(x)
    (gx,) = torch.autograd.grad(y.square().sum(), x)
    state0 = block.init_state(2)
    before = [t.clone() for t in vars(state0).values() if isinstance(t, torch.Tensor)]
    y_steps, _ = run_steps(block, x, state0)
    (gx_steps,) = torch.autograd.grad(y_steps.square().sum(), x)
    assert close(y_steps, y, x) < 1e-10
    assert (gx_steps - gx).abs().max() < 1e-9
    after = [t for t in vars(state0).values() if isinstance(t, torch.Tensor)]
    assert all(torch.equal(a, b) for a, b in zip(before, after, strict=True))


@pytest.mark.parametrize("split", [1, 13, 24])
@pytest.mark.parametrize("kind", KINDS)
def test_scan_in_pieces_and_prefill_then_step_equal_forward(kind, split):
    """scan(prefix) -> state -> scan(rest) or step(rest) reproduce forward (13: mid-chunk for the GAU)."""
    block, x = make(kind), inputs()
    y = block(x)
    assert close(block.scan(x, block.init_state(2))[0], y, x) < 1e-10  # an empty state is no state
    y1, s1 = block.scan(x[:, :split])
    y2, _ = block.scan(x[:, split:], s1)
    assert close(torch.cat([y1, y2], 1), y, x) < 1e-10
    with torch.inference_mode():
        _, s1 = block.scan(x[:, :split])
        y3, _ = run_steps(block, x[:, split:], s1)
    assert close(torch.cat([y1, y3], 1), y, x) < 1e-10


def test_scan_of_an_empty_sequence_returns_the_state():
    block = make("linear")
    y, state = block.scan(inputs(t=0))
    assert y.shape == (2, 0, 32) and state_nbytes(state) == state_nbytes(block.init_state(2))


# ------------------------------------------------------------------------------------ causality
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("t0", [5, 19])
def test_future_inputs_never_change_past_outputs(kind, t0):
    """fp64; 1e-12 allows the rounding of the FFT (S4D) and of the Performer's shift, which the
    future keys of a piece may move (mathematically the shift cancels)."""
    block, x = make(kind), inputs()
    x2 = x.clone()
    x2[:, t0:] += 3.0 * torch.randn_like(x2[:, t0:])
    y, y2 = block(x), block(x2)
    assert (y[:, :t0] - y2[:, :t0]).abs().max() < 1e-12
    assert (y[:, t0:] - y2[:, t0:]).abs().max() > 1e-3


# --------------------------------------------------------------------------------- state size
@pytest.mark.parametrize("kind", KINDS)
def test_state_size_is_independent_of_history_except_softmax(kind):
    block = make(kind)
    with torch.inference_mode():
        _, short = block.scan(inputs(t=10))
        _, long = block.scan(inputs(t=300))
        _, long = block.step(inputs(t=1)[:, 0], long)
    if block.constant_state:
        shapes = lambda s: {k: tuple(v.shape) for k, v in vars(s).items() if isinstance(v, torch.Tensor)}  # noqa: E731
        assert shapes(short) == shapes(long)
        assert state_nbytes(short) == state_nbytes(long) == state_nbytes(block.init_state(2))
    else:
        assert state_nbytes(long) >= 30 * state_nbytes(short)  # the KV cache holds every step
        assert long.length == 301


@pytest.mark.parametrize("kind", CONSTANT)
def test_acting_updates_the_state_in_place(kind):
    """Under inference_mode a step writes into the state's own storage: no per-step reallocation."""
    block = make(kind)
    state = block.init_state(2)
    ptrs = {k: v.data_ptr() for k, v in vars(state).items() if isinstance(v, torch.Tensor)}
    with torch.inference_mode():
        for t in range(10):
            _, new = block.step(inputs(t=10)[:, t], state)
            assert new is state
    assert ptrs == {k: v.data_ptr() for k, v in vars(state).items() if isinstance(v, torch.Tensor)}


def test_s4d_step_sees_parameter_updates_and_inference_mode_weights():
    """The step path caches the discretisation; an in-place update (as an optimiser makes) must refresh it,
    and a block built under inference_mode (no version counters) must still step correctly."""
    block, x = make("s4d"), inputs()
    with torch.inference_mode():
        run_steps(block, x)  # fills the cache
    with torch.no_grad():
        block.log_dt += 0.7
        block.c.mul_(-1.5)
    with torch.inference_mode():
        assert close(run_steps(block, x)[0], block(x), x) < 1e-10
        torch.manual_seed(0)
        frozen = build_memory("s4d", **SMALL).double()
        assert close(run_steps(frozen, x)[0], frozen(x), x) < 1e-10


def test_kv_cache_grows_by_doubling_and_keeps_its_contents():
    block = make("softmax", kv_capacity=4)
    x = inputs(t=11)
    with torch.inference_mode():
        y_steps, cache = run_steps(block, x)
    assert cache.length == 11 and cache.k.shape[2] == 16  # 4 -> 8 -> 16
    assert close(y_steps, block(x), x) < 1e-10


# ------------------------------------------------------------------- initialisation and scaling
@pytest.mark.parametrize("kind", ["linear", "performer", "softmax"])
def test_attention_weights_are_normalised(kind):
    """With constant values the normalised attentions must return exactly that value at every step,
    whatever the queries and keys: the weights sum to one (linear attention's normaliser, FAVOR+'s
    ratio, softmax). eps = 1e-15 so linear attention's guard against 0/0 does not show."""
    block = make(kind, eps=1e-15)
    d = SMALL["d_model"]
    c = torch.linspace(-1, 1, d, dtype=torch.float64)
    with torch.no_grad():
        block.qkv.weight[2 * d :] = 0.0
        block.qkv.bias[2 * d :] = c
        block.out.weight.copy_(torch.eye(d))
        block.out.bias.zero_()
    x = inputs()
    assert ((block(x) - x) - c).abs().max() < 1e-12


def test_softmax_attention_scales_dot_products_by_one_over_sqrt_dh():
    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(1, 1, 3, 4, generator=g, dtype=torch.float64) for _ in range(3))
    out = softmax_attention_ref(q, k, v)
    t = 2  # the last query sees keys 0, 1, 2 with weights ∝ exp(q·k / √4)
    w = torch.tensor([math.exp(float(q[0, 0, t] @ k[0, 0, s]) / 2.0) for s in range(3)], dtype=torch.float64)
    assert torch.allclose(out[0, 0, t], (w / w.sum()) @ v[0, 0], atol=1e-12)
    assert torch.allclose(out[0, 0, 0], v[0, 0, 0], atol=1e-12)  # the first step sees only itself


def test_performer_features_are_orthogonal_blocks_with_chi_norms():
    d, m = 16, 2048
    w = orthogonal_gaussian_matrix(m, d, torch.Generator().manual_seed(0), torch.float64)
    for b in range(0, m, d):
        block = w[b : b + d]
        gram = block @ block.T
        assert (gram - torch.diag(torch.diagonal(gram))).abs().max() < 1e-10  # exactly orthogonal rows
    norms = w.norm(dim=1)
    assert abs((norms**2).mean().item() / d - 1.0) < 0.05  # E|w|² = d, as for w ~ N(0, I_d)
    assert 0.6 < norms.std().item() < 0.8  # chi(d) spread (≈ 0.70 for d = 16), not fixed norms


def test_performer_features_estimate_the_softmax_kernel_without_bias():
    g = torch.Generator().manual_seed(0)
    x, y = (0.3 * torch.randn(16, generator=g, dtype=torch.float64) for _ in range(2))
    est = torch.stack([
        softmax_kernel_features(x, w) @ softmax_kernel_features(y, w)
        for w in (orthogonal_gaussian_matrix(64, 16, g, torch.float64) for _ in range(400))
    ])  # fmt: skip
    assert (est > 0).all()  # positive features: no negative kernel estimates
    assert abs(est.mean().item() / math.exp(float(x @ y)) - 1.0) < 0.03  # 400 draws, std of mean ≈ 1.2%


def test_favor_attention_approximates_softmax_attention_on_small_inputs():
    """q, k ~ 0.5·N(0, 1), d_h = 16, T = 32: relative error (Frobenius) below 10% with 1024 features
    (measured 4-6%), and well above that with 64 (the error shrinks ~1/√m)."""
    g = torch.Generator().manual_seed(0)
    errs = {64: [], 1024: []}
    for _ in range(4):
        q, k = (0.5 * torch.randn(1, 2, 32, 16, generator=g, dtype=torch.float64) for _ in range(2))
        v = torch.randn(1, 2, 32, 16, generator=g, dtype=torch.float64)
        exact = softmax_attention_ref(q, k, v)
        for m in errs:
            approx = favor_attention_ref(q, k, v, orthogonal_gaussian_matrix(m, 16, g, torch.float64))
            errs[m].append(((approx - exact).norm() / exact.norm()).item())
    assert max(errs[1024]) < 0.10
    assert sum(errs[64]) > 2 * sum(errs[1024])


def test_favor_shift_follows_the_running_max_so_a_huge_future_key_cannot_underflow_the_past():
    """fp32: a key 200 nats above the others (exp(-200) underflows) at step 12. A shift shared by the
    whole sequence would zero every earlier key's features; the per-step running max leaves steps 0-11
    exactly as they were, and everything stays finite."""
    g = torch.Generator().manual_seed(0)
    fq = torch.rand(1, 2, 16, 8, generator=g)
    ak = torch.randn(1, 2, 16, 8, generator=g)
    v1 = torch.cat([torch.randn(1, 2, 16, 4, generator=g), torch.ones(1, 2, 16, 1)], -1)
    ratio = lambda o: o[..., :-1] / o[..., -1:]  # noqa: E731
    out, _, _ = favor_causal_product(fq, ak, v1, None, None, chunk=8)
    ak[:, :, 12] += 200.0
    out2, _, shift = favor_causal_product(fq, ak, v1, None, None, chunk=8)
    assert torch.allclose(ratio(out2)[:, :, :12], ratio(out)[:, :, :12], atol=1e-6)
    assert torch.isfinite(ratio(out2)).all() and (shift >= 200).all()


def test_performer_redraw_changes_the_features_and_keeps_them_orthogonal():
    block = make("performer")
    before = block.proj.clone()
    block.redraw_features(torch.Generator().manual_seed(5))
    assert not torch.allclose(before, block.proj)
    gram = block.proj[:8] @ block.proj[:8].T
    assert (gram - torch.diag(torch.diagonal(gram))).abs().max() < 1e-6
    x = inputs()
    with torch.inference_mode():  # the new features still give equal forms
        assert close(run_steps(block, x)[0], block(x), x) < 1e-10


def test_gau_init_and_scaling_follow_flash():
    """FLASH's init (gamma ~ N(0, 0.02²), beta = 0); and one output checked against the formula written
    out by hand: relu(q·k/√s)²/C within the chunk, q_lin·k_lin/(C·√s) from earlier chunks, gated by u."""
    torch.manual_seed(0)
    block = build_memory("gau", d_model=64, gau_qk_dim=128, chunk_size=2).double()
    assert abs(block.gamma.std().item() - 0.02) < 0.003 and torch.all(block.beta == 0)
    with torch.no_grad():
        block.gamma.normal_()
    x = inputs(b=1, t=3).repeat(1, 1, 2)  # d_model 64
    with torch.no_grad():
        gate, v, qq, kq, ql, kl = block._project(block.norm(x))
        s, c, t = 128, 2, 2  # step 2 starts the second chunk: local sees step 2, global sees steps 0 and 1
        local = max(0.0, float(qq[0, t] @ kq[0, t]) / math.sqrt(s)) ** 2 / c * v[0, t]
        glob = sum(float(ql[0, t] @ kl[0, j]) / (c * math.sqrt(s)) * v[0, j] for j in (0, 1))
        assert local.abs().max() > 1e-3 and glob.abs().max() > 1e-3  # both terms are exercised
        expected = x[0, t] + block.out(gate[0, t] * (local + glob))
        assert torch.allclose(block(x)[0, t], expected, atol=1e-12)


def test_hippo_legs_diagonal_init_matches_the_eigenvalues_of_its_normal_part():
    n = 16
    a, b = hippo_legs(n)
    assert a[3, 1] == -math.sqrt(7 * 3) and a[3, 3] == -4 and a[1, 3] == 0 and b[2] == math.sqrt(5)
    p = torch.sqrt(torch.arange(n, dtype=torch.float64) + 0.5)
    eig = torch.linalg.eigvals(a + p[:, None] * p[None, :])  # general solver, independent of the init's path
    expected = eig[eig.imag > 0]
    expected = expected[expected.imag.argsort()]
    lam, b_rot = s4d_init("legs", n)
    assert lam.shape == (n // 2,) and torch.allclose(lam, expected, atol=1e-9)
    assert torch.allclose(lam.real, torch.full_like(lam.real, -0.5))
    assert b_rot.abs().sum() > 0
    lam_lin, _ = s4d_init("lin", n)
    assert torch.allclose(lam_lin.imag, math.pi * torch.arange(n // 2, dtype=torch.float64))
    lam_inv, _ = s4d_init("inv", n)
    assert torch.allclose(lam_inv.imag[1], torch.tensor(n / math.pi * (n / 3 - 1), dtype=torch.float64))


def test_s4d_block_init_and_stability():
    block = build_memory("s4d", **{**SMALL, "s4d_init": "legs"}).double()
    dt, a, _, _ = block.continuous()
    assert torch.all((dt >= 0.01 - 1e-12) & (dt <= 0.5 + 1e-12))
    assert torch.allclose(a.real, torch.full_like(a.real, -0.5))
    assert torch.allclose(a[0], s4d_init("legs", 16)[0], atol=1e-6)  # stored in fp32, then cast
    _, a_bar, _, _ = block.discrete()
    assert a_bar.abs().max() < 1.0  # every mode decays


def test_zoh_discretisation_is_exact_for_a_held_input():
    """Integrate h' = a h + b u with u held constant over one step (RK4, 2000 substeps): ZOH's Ā h0 + B̄ u
    must equal it to 1e-10."""
    a = torch.tensor([[-0.5 + 3.0j, -0.5 + 0.2j]], dtype=torch.complex128)
    b = torch.tensor([[1.0 + 0.5j, 0.3 - 1.0j]], dtype=torch.complex128)
    dt = torch.tensor([0.37], dtype=torch.float64)
    h0 = torch.tensor([[0.2 - 0.1j, -1.0 + 0.4j]], dtype=torch.complex128)
    u = 0.8
    a_bar, b_bar = zoh(dt, a, b)
    h, n = h0.clone(), 2000
    f = lambda h: a * h + b * u  # noqa: E731
    for _ in range(n):
        k1 = f(h)
        k2 = f(h + dt / n / 2 * k1)
        k3 = f(h + dt / n / 2 * k2)
        k4 = f(h + dt / n * k3)
        h = h + dt / n / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
    assert (a_bar * h0 + b_bar * u - h).abs().max() < 1e-10


# ------------------------------------------------------------------------------------- gradients
@pytest.mark.parametrize("kind", KINDS)
def test_gradients_reach_every_parameter_at_initialisation(kind):
    torch.manual_seed(0)
    block = build_memory(kind, **SMALL)  # the literature init, fp32
    block(inputs(torch.float32)).square().mean().backward()
    for name, p in block.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
        assert p.grad.abs().max() > 0, name


# ----------------------------------------------------------------------------- config and factory
def test_factory_and_config_errors_are_readable():
    assert isinstance(build_memory("s4d", config=MemoryConfig(d_model=16, n_heads=2)), torch.nn.Module)
    with pytest.raises(DeskpilotError, match="unknown memory kind 'lstm'"):
        build_memory("lstm")
    with pytest.raises(DeskpilotError, match="divisible by n_heads"):
        build_memory("linear", d_model=30, n_heads=4)
    with pytest.raises(DeskpilotError, match=r"unknown option.*chunk"):
        build_memory("gau", chunk=8)
    with pytest.raises(DeskpilotError, match="s4d_init"):
        MemoryConfig(s4d_init="hippo")
    assert MemoryConfig.from_dict(MemoryConfig(d_model=64).to_dict()) == MemoryConfig(d_model=64)


def test_wrong_input_shapes_are_named():
    block = make("linear")
    with pytest.raises(ValueError, match=r"\[B, D\] with D=32"):
        block.step(torch.zeros(2, 1, 32, dtype=torch.float64), block.init_state(2))


# ---------------------------------------------------------------------------------------- bench
def test_bench_reports_every_cell_with_ratios():
    r = bench_policy_memory(history_lengths=(2, 300), kinds=("linear", "softmax"), d_model=32,
                            max_steps=20, budget_s=0.01, warmup=1)  # fmt: skip
    cells = {(row["kind"], row["history"]): row for row in r["rows"]}
    assert set(cells) == {("linear", 2), ("linear", 300), ("softmax", 2), ("softmax", 300)}
    assert all(row["step_us_median"] > 0 and row["steps_timed"] >= 20 for row in r["rows"])
    assert cells[("linear", 2)]["state_bytes"] == cells[("linear", 300)]["state_bytes"]
    assert cells[("softmax", 300)]["state_bytes"] > cells[("softmax", 2)]["state_bytes"]
    assert cells[("softmax", 300)]["speedup_vs_softmax"] == 1.0
    assert cells[("linear", 2)]["ratio_vs_own_shortest"] == 1.0
    assert set(r["targets"]["linear"]) == {"growth", "growth_ok", "speedup_vs_softmax", "speedup_ok"}
    with pytest.raises(DeskpilotError, match="ascending"):
        bench_policy_memory(history_lengths=(10, 5))


def test_decision_bench_times_the_shipped_policy_on_sandbox_screens():
    from policies.bench import bench_policy_decision

    r = bench_policy_decision(screens=2, history_lengths=(3, 5000), repeats=2)
    assert [row["history"] for row in r["rows"]] == [3, 5000]
    assert all(row["decisions"] == 4 and 0 < row["ms_median"] <= row["ms_p90"] * 1.0001 for row in r["rows"])
    assert r["config"]["screens"] == 2 and r["config"]["elements_max"] > 0
    assert r["first_sight_ms_mean"] > 0
    assert r["ratio_longest_vs_shortest"] == pytest.approx(
        r["rows"][1]["ms_median"] / r["rows"][0]["ms_median"]
    )
    assert r["target"]["ok"] == all(row["ms_median"] <= r["target"]["max_ms"] for row in r["rows"])
    with pytest.raises(DeskpilotError, match="ascending"):
        bench_policy_decision(screens=1, history_lengths=(10, 5))
