"""Evaluating the transformer policy in the sandbox: success per family, held-out kind, steps vs the expert.

Every held-out task has a held-out seed; some also use an app template that training never saw
(``heldout_template``), the others a seen template with an unseen instruction paraphrase
(``heldout_instruction``). Both are reported separately. ``elements="detected"`` feeds the policy the
detector's elements (`vision.perception.Perception`) instead of the sandbox's ground truth; ``memory=False``
is the ablation (no memory read-out, no text registers).

The expert runs the same tasks to give the reference step counts (``mean_steps`` vs ``expert_mean_steps``,
over the tasks both solved).

A long evaluation loses nothing: ``on_report`` receives the report so far after every episode (the CLI
writes it to ``--out``), ``max_minutes`` stops starting new tasks after that long, and Ctrl-C stops after
the episode in progress. A report of fewer tasks than planned says so (``complete`` false, ``planned``,
``stopped``); its rates are over the tasks that ran, which cycle through the families in order.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from agent.errors import DeskpilotError


def heldout_kind(meta: dict[str, Any]) -> str:
    """ "heldout_template" when the app template is held out, else "heldout_instruction" (or the split)."""
    from agent.envs.sandbox.splits import HELDOUT_TEMPLATES

    if meta.get("split") != "heldout":
        return meta.get("split") or "custom"
    return "heldout_template" if meta.get("template") in HELDOUT_TEMPLATES else "heldout_instruction"


def family_group(name: str) -> str:
    """The family's target group: "single", "multi" or "memory" ("custom" for an unknown family)."""
    from agent.envs.sandbox.families import FAMILIES

    fam = FAMILIES.get(name)
    return fam.group if fam is not None else "custom"


def _rate(records: list[dict[str, Any]]) -> dict[str, Any]:
    n = len(records)
    wins = sum(r["success"] for r in records)
    return {"episodes": n, "successes": wins, "success_rate": round(wins / n, 4) if n else None}


def summarize(records: list[dict[str, Any]], seconds: float) -> dict[str, Any]:
    """The report: ``episodes`` (count), ``success_rate``, ``by_family``, ``by_heldout_kind``, ``by_group``
    (single-step, multi-step and memory families, as the targets are stated), steps vs
    expert, and ``records`` (one per episode: id, family, success, steps, unmet conditions, ...)."""
    by_family: dict[str, list] = {}
    by_kind: dict[str, list] = {}
    by_group: dict[str, list] = {}
    for r in records:
        by_family.setdefault(r["family"], []).append(r)
        by_kind.setdefault(r["heldout_kind"], []).append(r)
        by_group.setdefault(r.get("group") or family_group(r["family"]), []).append(r)
    both = [r for r in records if r["success"] and r.get("expert_success")]
    out: dict[str, Any] = {
        **_rate(records),
        "by_family": {f: _rate(rs) for f, rs in sorted(by_family.items())},
        "by_heldout_kind": {k: _rate(rs) for k, rs in sorted(by_kind.items())},
        "by_group": {g: _rate(rs) for g, rs in sorted(by_group.items())},
        "mean_steps": round(sum(r["steps"] for r in both) / len(both), 3) if both else None,
        "expert_mean_steps": round(sum(r["expert_steps"] for r in both) / len(both), 3) if both else None,
        "expert_success_rate": round(sum(bool(r.get("expert_success")) for r in records) / len(records), 4)
        if records and "expert_success" in records[0] else None,
        "decide_ms_mean": round(sum(r["decide_ms"] for r in records) / max(1, len(records)), 3),
        "seconds": round(seconds, 2),
        "records": records,
    }  # fmt: skip
    return out


def make_perception(
    detector_weights: str | Path | None, threads: int = 2, runtime: str = "auto", precision: str = "auto"
) -> Callable:
    """The detector + OCR perception (for ``elements="detected"``); ``threads`` for the OCR engine;
    ``runtime`` and ``precision`` as in `vision.perception.Perception.load` (OpenVINO and native bf16
    where this machine has them)."""
    from vision.perception import Perception

    path = (
        Path(detector_weights)
        if detector_weights
        else Path(__file__).resolve().parents[1] / "weights" / "detector"
    )
    try:
        return Perception.load(str(path), ocr_threads=threads, runtime=runtime, precision=precision)
    except DeskpilotError:
        raise
    except Exception as exc:
        raise DeskpilotError(f"perception is unavailable for detected elements: {exc}") from None


def evaluate(
    weights: str | Path | None = None,
    *,
    split: str = "heldout",
    n: int = 500,
    seed: int = 0,
    elements: str = "gt",
    memory: bool = True,
    expert: bool = True,
    detector_weights: str | Path | None = None,
    families: list[str] | None = None,
    progress: Callable[[int, int], None] | None = None,
    threads: int = 1,
    max_minutes: float | None = None,
    on_report: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Run the policy on ``n`` tasks of ``split`` and summarise (see `summarize`); ``max_minutes`` and
    ``on_report`` as in the module's docstring."""
    import torch

    from agent.envs.sandbox.env import SandboxEnv
    from agent.envs.sandbox.families import generate_split
    from policies.scripted import ExpertPolicy
    from policies.transformer.policy_transformer import make_transformer_policy

    if elements not in ("gt", "detected"):
        raise DeskpilotError(f"--elements must be gt or detected, got {elements!r}")
    torch.set_num_threads(threads)
    policy = make_transformer_policy(weights, memory=memory)
    perception = make_perception(detector_weights) if elements == "detected" else None
    tasks = generate_split(split, n, seed=seed, families=families)
    ref = ExpertPolicy() if expert else None
    records: list[dict[str, Any]] = []
    t0 = time.perf_counter()
    stopped = None

    def report() -> dict[str, Any]:
        out = summarize(records, time.perf_counter() - t0)
        out.update(split=split, n=n, seed=seed, elements=elements, memory=memory,
                   weights=str(weights or "weights/policy"), planned=len(tasks),
                   complete=len(records) == len(tasks), stopped=stopped)  # fmt: skip
        return out

    with SandboxEnv() as env:
        for i, st in enumerate(tasks):
            if max_minutes is not None and time.perf_counter() - t0 >= max_minutes * 60:
                stopped = f"time limit ({max_minutes:g} min)"
                break
            try:
                records.append(_episode(env, policy, ref, perception, st, i))
            except KeyboardInterrupt:  # the episode in progress is dropped, the finished ones are kept
                stopped = "interrupted"
                break
            if on_report is not None:
                on_report(report())
            if progress is not None:
                progress(i + 1, len(tasks))
    return report()


def _episode(env, policy, ref, perception, st, index: int) -> dict[str, Any]:
    """One task: the policy's episode (and the expert's, for step counts) as a report record."""
    from agent.loop import run_episode

    task = st.to_task()
    if perception is not None and hasattr(perception, "reset"):
        perception.reset()
    res = run_episode(env, policy, task, max_steps=st.max_steps, perception=perception)
    decide = [s.timings.get("decide", 0.0) for s in res.steps]
    rec = {
        "index": index, "id": st.id, "family": st.family, "template": st.template,
        "heldout_kind": heldout_kind({"split": st.split, "template": st.template}),
        "success": bool(res.success), "steps": len(res.steps), "reason": res.reason,
        "decide_ms": sum(decide) / max(1, len(decide)),
    }  # fmt: skip
    if not res.success:
        rec["unmet"] = env.failures()
    if ref is not None:
        eres = run_episode(env, ref, task, max_steps=st.max_steps)
        rec["expert_success"], rec["expert_steps"] = bool(eres.success), len(eres.steps)
    return rec
