"""Per-step decode latency and memory of the memory mechanisms, at growing history lengths, in one run.

For each mechanism and history length L, the block gets a state shaped as after L steps
(`MemoryBlock.synthetic_state`: random contents; for softmax a KV cache filled with L random keys and
values rather than stepping L times), then takes timed ``step`` calls under ``torch.inference_mode``.
Ratios are against the softmax-KV baseline at the same L and against the mechanism's own latency at the
shortest history, all measured in this run. Cells are timed round-robin in a shuffled order (each turn: one
untimed step, then a few timed ones), so a load change on a shared machine affects every cell alike.

    python -m policies.bench [--json] [--threads N] [--lengths 10,1000,10000,100000] [--kinds linear,gau]
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import random
import resource
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from agent.errors import DeskpilotError
from policies.memory import KINDS, build_memory

#: The issue's latency targets for the O(1) mechanisms, checked at the longest history measured.
MAX_GROWTH = 1.3  # latency(longest) / latency(shortest)
MIN_SPEEDUP = 10.0  # latency_softmax(longest) / latency(longest)


def _rss_bytes() -> int | None:
    """Current resident set size of this process (Linux /proc), or None where unavailable."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


def _peak_rss_bytes() -> int:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024  # Linux reports KiB


@dataclass
class _Cell:
    kind: str
    history: int
    block: Any
    state: Any
    state_bytes: int
    rss_delta: int | None
    times: list[float] = field(default_factory=list)


def _time_round(cell: _Cell, x: torch.Tensor, steps: int) -> None:
    """One untimed step (the other cells have evicted this one's weights and state from the CPU caches),
    then ``steps`` timed consecutive steps (µs each)."""
    _, cell.state = cell.block.step(x, cell.state)
    for _ in range(steps):
        t0 = time.perf_counter_ns()
        _, cell.state = cell.block.step(x, cell.state)
        cell.times.append((time.perf_counter_ns() - t0) / 1e3)


def bench_policy_memory(
    history_lengths: Sequence[int] = (10, 1000, 10000, 100000),
    kinds: Sequence[str] = KINDS,
    d_model: int = 256,
    *,
    n_heads: int = 4,
    batch_size: int = 1,
    max_steps: int = 300,
    budget_s: float = 1.0,
    warmup: int = 10,
    threads: int | None = None,
    seed: int = 0,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Measure every (mechanism, history length) pair.

    Args:
        history_lengths: past steps already in the state, ascending; ratios use the first as reference.
        kinds: mechanisms (see `policies.memory.KINDS`); include "softmax" for the baseline ratios.
        d_model, n_heads: block width and heads (other options: `MemoryConfig` defaults).
        batch_size: episodes decoded together (1 when acting).
        max_steps, budget_s: cells are timed round-robin, 5 steps per cell per round, until each has
            ``max_steps`` timed steps or, once each has at least 20, after ``budget_s`` × cells seconds.
        warmup: untimed steps first (allocator, caches).
        threads: torch intra-op threads for the run (restored afterwards); None keeps the current setting.
        progress: called with a line per finished cell.

    Returns:
        JSON-ready dict: ``config`` (sizes, threads, versions), ``rows`` (one per kind × history:
        ``step_us_median``, ``step_us_p10``, ``step_us_p90``, ``steps_timed``, ``state_bytes``,
        ``rss_delta_bytes`` (resident memory added by building the state and the warm-up steps),
        ``py_alloc_peak_bytes`` (tracemalloc peak of Python allocations over 5 steps),
        ``speedup_vs_softmax``, ``ratio_vs_own_shortest``), ``targets`` (per kind at the longest
        history: growth ≤ 1.3× and ≥ 10× faster than softmax) and ``peak_rss_bytes`` of the process.
    """
    lengths = [int(n) for n in history_lengths]
    if not lengths or any(n < 0 for n in lengths) or lengths != sorted(lengths):
        raise DeskpilotError(f"history lengths must be ascending and >= 0, got {lengths}")
    unknown = [k for k in kinds if k not in KINDS]
    if unknown:
        raise DeskpilotError(f"unknown memory kind(s) {', '.join(unknown)}; available: {', '.join(KINDS)}")
    old_threads = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    gen = torch.Generator().manual_seed(seed)
    per_round = 5
    spare = warmup + 2 * (max_steps + per_round) + 5  # every round also takes one untimed step
    cells: list[_Cell] = []
    try:
        xs = {}
        for kind in kinds:
            torch.manual_seed(seed)
            # built outside inference mode, as a policy's trained weights are
            block = build_memory(kind, d_model=d_model, n_heads=n_heads).eval()
            xs[kind] = torch.randn(batch_size, d_model, generator=gen)
            with torch.inference_mode():
                for n in lengths:
                    gc.collect()
                    rss0 = _rss_bytes()
                    state = block.synthetic_state(batch_size, n, generator=gen, spare=spare)
                    for _ in range(warmup):
                        _, state = block.step(xs[kind], state)
                    rss1 = _rss_bytes()
                    delta = None if rss0 is None or rss1 is None else rss1 - rss0
                    cells.append(_Cell(kind, n, block, state, block.state_nbytes(state), delta))
        # Round-robin over all cells, a few steps each per round: a load change on a shared machine then
        # hits every cell alike instead of skewing whichever cell ran during it.
        deadline = time.perf_counter() + budget_s * len(cells)
        order = random.Random(seed)
        with torch.inference_mode():
            while True:
                for cell in order.sample(cells, len(cells)):  # a fresh order each round
                    _time_round(cell, xs[cell.kind], per_round)
                done = min(len(c.times) for c in cells)
                if done >= max_steps or (done >= 20 and time.perf_counter() > deadline):
                    break
            rows = []
            for cell in cells:
                tracemalloc.start()
                for _ in range(5):
                    _, cell.state = cell.block.step(xs[cell.kind], cell.state)
                py_peak = tracemalloc.get_traced_memory()[1]
                tracemalloc.stop()
                q = statistics.quantiles(cell.times, n=10)
                rows.append({
                    "kind": cell.kind,
                    "history": cell.history,
                    "step_us_median": statistics.median(cell.times),
                    "step_us_p10": q[0],
                    "step_us_p90": q[-1],
                    "steps_timed": len(cell.times),
                    "state_bytes": cell.state_bytes,
                    "rss_delta_bytes": cell.rss_delta,
                    "py_alloc_peak_bytes": py_peak,
                })  # fmt: skip
                if progress:
                    r = rows[-1]
                    progress(f"{r['kind']:>9} @ {r['history']:>7}: {r['step_us_median']:9.1f} µs/step, "
                             f"state {r['state_bytes'] / 2**20:8.2f} MiB")  # fmt: skip
    finally:
        torch.set_num_threads(old_threads)
        cells.clear()

    _add_ratios(rows, lengths)
    return {
        "config": {
            "d_model": d_model,
            "n_heads": n_heads,
            "batch_size": batch_size,
            "threads": torch.get_num_threads() if threads is None else threads,
            "history_lengths": lengths,
            "kinds": list(kinds),
            "torch": torch.__version__,
            "python": platform.python_version(),
            "machine": platform.machine(),
            "cpu_count": os.cpu_count(),
            "state": "synthetic (random contents, shaped as after `history` steps)",
        },
        "rows": rows,
        "targets": _targets(rows, lengths),
        "peak_rss_bytes": _peak_rss_bytes(),
    }


#: The issue's target for a whole policy decision (encoding, the model, decoding and the memory step).
MAX_DECISION_MS = 10.0


def bench_policy_decision(
    weights: str | None = None,
    *,
    screens: int = 40,
    history_lengths: Sequence[int] = (10, 100000),
    repeats: int = 3,
    threads: int | None = 1,
    split: str = "heldout",
    seed: int = 0,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Latency of whole decisions (`TransformerPolicy.act`: encoding, model, decoding, memory step) on
    real sandbox screens with their ground-truth elements, after ``history`` steps.

    The screens are the first observations of ``screens`` tasks of ``split``. For each history length
    the memory is given a state shaped as after that many steps (`MemoryBlock.synthetic_state`) and the
    policy's step counter is set to it. Each screen is first decided once at the shortest history
    (``first_sight``: new strings to hash, new tensor shapes, as on an agent's first step on a screen),
    then ``repeats`` more times per history, in a shuffled order (later steps on a familiar screen).

    Returns:
        ``config``, ``rows`` (per history: ``ms_median``, ``ms_p90``, ``ms_mean``, ``decisions``),
        ``first_sight_ms_mean``/``_median``, ``ratio_longest_vs_shortest`` (median) and ``target``
        (median ≤ 10 ms at every history).
    """
    from agent.envs.sandbox.env import SandboxEnv  # lazily: policies/ never imports Qt itself
    from agent.envs.sandbox.families import generate_split
    from policies.transformer.policy_transformer import make_transformer_policy

    lengths = [int(n) for n in history_lengths]
    if not lengths or any(n < 0 for n in lengths) or lengths != sorted(lengths):
        raise DeskpilotError(f"history lengths must be ascending and >= 0, got {lengths}")
    if screens < 1 or repeats < 1:
        raise DeskpilotError("screens and repeats must be at least 1")
    old_threads = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        policy = make_transformer_policy(weights)
        samples = []
        with SandboxEnv() as env:
            for st in generate_split(split, screens, seed=seed):
                task = st.to_task()
                obs = env.reset(task)
                samples.append((task, obs, list(obs.elements or [])))
        gen = torch.Generator().manual_seed(seed)

        def decide(i: int, n: int) -> float:
            task, obs, elements = samples[i]
            policy.reset(task)
            with torch.inference_mode():
                policy.states = [b.synthetic_state(1, n, generator=gen) for b in policy.model.memory]
            policy.t = n
            t0 = time.perf_counter()
            policy.act(obs, elements)
            return (time.perf_counter() - t0) * 1000

        decide(0, lengths[0])  # untimed: lazy torch set-up
        cold = [decide(i, lengths[0]) for i in range(len(samples))]
        # then (screen, history) pairs in a fresh shuffled order each round, so a load change on a shared
        # machine hits every history alike
        times: dict[int, list[float]] = {n: [] for n in lengths}
        order = random.Random(seed)
        pairs = [(i, n) for i in range(len(samples)) for n in lengths]
        for _ in range(repeats):
            for i, n in order.sample(pairs, len(pairs)):
                times[n].append(decide(i, n))
        rows = []
        for n in lengths:
            t = times[n]
            q = statistics.quantiles(t, n=10) if len(t) > 1 else t * 9
            rows.append({"history": n, "ms_median": statistics.median(t), "ms_p90": q[-1],
                         "ms_mean": statistics.mean(t), "decisions": len(t)})  # fmt: skip
            if progress:
                progress(f"decision @ {n:>7}: {rows[-1]['ms_median']:.2f} ms median")
    finally:
        torch.set_num_threads(old_threads)
    elements = [len(e) for _, _, e in samples]
    return {
        "config": {
            "weights": str(weights or "weights/policy"),
            "screens": len(samples),
            "split": split,
            "repeats": repeats,
            "threads": torch.get_num_threads() if threads is None else threads,
            "memory": policy.cfg.memory,
            "elements_mean": statistics.mean(elements),
            "elements_max": max(elements),
            "state": "synthetic (random contents, shaped as after `history` steps)",
        },
        "rows": rows,
        "first_sight_ms_mean": statistics.mean(cold),
        "first_sight_ms_median": statistics.median(cold),
        "ratio_longest_vs_shortest": rows[-1]["ms_median"] / rows[0]["ms_median"],
        "target": {"max_ms": MAX_DECISION_MS, "ok": all(r["ms_median"] <= MAX_DECISION_MS for r in rows)},
    }


def _add_ratios(rows: list[dict[str, Any]], lengths: list[int]) -> None:
    by = {(r["kind"], r["history"]): r for r in rows}
    for r in rows:
        base = by.get(("softmax", r["history"]))
        own = by[(r["kind"], lengths[0])]
        r["speedup_vs_softmax"] = base["step_us_median"] / r["step_us_median"] if base else None
        r["ratio_vs_own_shortest"] = r["step_us_median"] / own["step_us_median"]


def _targets(rows: list[dict[str, Any]], lengths: list[int]) -> dict[str, Any]:
    longest = lengths[-1]
    out: dict[str, Any] = {
        "history": longest,
        "max_growth": MAX_GROWTH,
        "min_speedup_vs_softmax": MIN_SPEEDUP,
    }
    for r in rows:
        if r["history"] != longest or r["kind"] == "softmax":
            continue
        speedup = r["speedup_vs_softmax"]
        out[r["kind"]] = {
            "growth": r["ratio_vs_own_shortest"],
            "growth_ok": r["ratio_vs_own_shortest"] <= MAX_GROWTH,
            "speedup_vs_softmax": speedup,
            "speedup_ok": None if speedup is None else speedup >= MIN_SPEEDUP,
        }
    return out


def format_table(result: dict[str, Any]) -> str:
    """A plain-text table of `bench_policy_memory`'s result."""
    cfg = result["config"]
    lines = [
        f"policy memory step latency: d_model={cfg['d_model']} heads={cfg['n_heads']} batch={cfg['batch_size']} "
        f"threads={cfg['threads']} torch={cfg['torch']}",
        f"{'kind':>9} {'history':>8} {'µs/step':>9} {'p10':>8} {'p90':>8} {'state':>10} {'ΔRSS':>10} "
        f"{'py peak':>8} {'vs soft':>8} {'vs own':>7}",
    ]
    for r in result["rows"]:
        mib = lambda b: "-" if b is None else f"{b / 2**20:.2f}M"  # noqa: E731
        vs = "-" if r["speedup_vs_softmax"] is None else f"{r['speedup_vs_softmax']:.1f}x"
        lines.append(
            f"{r['kind']:>9} {r['history']:>8} {r['step_us_median']:>9.1f} {r['step_us_p10']:>8.1f} "
            f"{r['step_us_p90']:>8.1f} {mib(r['state_bytes']):>10} {mib(r['rss_delta_bytes']):>10} "
            f"{r['py_alloc_peak_bytes'] / 1024:>7.1f}K {vs:>8} {r['ratio_vs_own_shortest']:>6.2f}x"
        )
    lines.append(f"peak RSS of the run: {result['peak_rss_bytes'] / 2**20:.0f} MiB")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m policies.bench", description=__doc__.split("\n")[0])
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads")
    parser.add_argument("--lengths", default="10,1000,10000,100000", help="history lengths, ascending")
    parser.add_argument("--kinds", default=",".join(KINDS), help="mechanisms, comma-separated")
    parser.add_argument("--d-model", type=int, default=256)
    args = parser.parse_args(argv)
    result = bench_policy_memory(
        history_lengths=[int(s) for s in args.lengths.split(",")],
        kinds=[s.strip() for s in args.kinds.split(",") if s.strip()],
        d_model=args.d_model,
        threads=args.threads,
        progress=None if args.json else lambda line: print(line, file=sys.stderr),
    )
    print(json.dumps(result, indent=2) if args.json else format_table(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
