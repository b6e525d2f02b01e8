"""Run sandbox tasks with a policy (in this process or in worker processes), optionally writing traces.

`run_tasks` is what ``deskpilot sandbox run`` and ``gen-demos`` call. Each worker process owns one
`SandboxEnv` (its own QApplication) and one policy; episodes go through `agent.loop.run_episode`, so
traces are the same as everywhere else. The summary's keys: ``episodes`` (count), ``success_rate``,
``by_family`` ({family: {episodes, successes, success_rate}}), ``failures`` (task id, family, reason,
unmet conditions), ``steps_mean``, ``seconds``, ``episodes_per_min``.
"""

from __future__ import annotations

import multiprocessing as mp
import time
from pathlib import Path
from typing import Any

from agent.envs.sandbox.tasks import SandboxTask, from_dict
from agent.errors import DeskpilotError


def run_one(env, policy, task: SandboxTask, *, out: Path | None, index: int, policy_name: str,
            frame_format: str = "png") -> dict[str, Any]:  # fmt: skip
    """One episode; returns its record (and writes its trace under ``out`` when given)."""
    from agent.loop import run_episode
    from agent.trace import TraceWriter

    plain = task.to_task()
    trace = None
    if out is not None:
        w, h, scale = env.screen_for(task)
        env_info = {"env": "sandbox", "screen": [w, h], "scale": scale, "family": task.family,
                    "template": task.template or "inline", "split": task.split, "seed": task.seed}  # fmt: skip
        trace = TraceWriter(out / f"{index:05d}_{task.id}", task=plain, target="sandbox", env_info=env_info,
                            policy=policy_name, frame_format=frame_format)  # fmt: skip
    try:
        result = run_episode(env, policy, plain, trace=trace, max_steps=task.max_steps)
    finally:
        if trace is not None:
            trace.close()
    record = {"index": index, "id": task.id, "family": task.family, "success": bool(result.success),
              "steps": len(result.steps), "reason": result.reason}  # fmt: skip
    if not result.success:
        record["unmet"] = env.failures()
        last = result.steps[-1].action if result.steps else None
        if last is not None and getattr(last, "message", ""):
            record["policy_message"] = last.message
    return record


def _worker(
    jobs: list[tuple[int, dict]], policy_name: str, context: dict, out: str | None, fmt: str, queue
) -> None:
    try:
        from agent.envs.sandbox.env import SandboxEnv
        from policies.registry import make_policy

        policy = make_policy(policy_name, **context)
        with SandboxEnv() as env:
            for index, data in jobs:
                task = from_dict(data)
                queue.put(("episode", run_one(env, policy, task, out=Path(out) if out else None, index=index,
                                              policy_name=policy_name, frame_format=fmt)))  # fmt: skip
        queue.put(("done", None))
    except BaseException as exc:
        import traceback

        queue.put(("error", f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}"))


def run_tasks(tasks: list[SandboxTask], policy_name: str, *, out: str | Path | None = None, workers: int = 1,
              context: dict[str, Any] | None = None, progress: bool = True, frame_format: str = "png",
              label: str = "episodes") -> dict[str, Any]:  # fmt: skip
    """Run every task once with policy ``policy_name``; returns the summary (module docstring)."""
    from dataclasses import asdict

    from agent.envs.sandbox.detection import _progress

    if not tasks:
        raise DeskpilotError("no tasks to run")
    out = Path(out) if out is not None else None
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
    context = dict(context or {})
    records: list[dict[str, Any]] = []
    t0 = time.perf_counter()
    with _progress(progress, len(tasks), label) as (advance,):
        if workers <= 1:
            from agent.envs.sandbox.env import SandboxEnv
            from policies.registry import make_policy

            policy = make_policy(policy_name, **context)
            with SandboxEnv() as env:
                for i, task in enumerate(tasks):
                    records.append(run_one(env, policy, task, out=out, index=i, policy_name=policy_name,
                                           frame_format=frame_format))  # fmt: skip
                    advance()
        else:
            ctx = mp.get_context("spawn")
            queue = ctx.Queue()
            jobs = [(i, asdict(t)) for i, t in enumerate(tasks)]
            procs = [ctx.Process(target=_worker, args=(jobs[w::workers], policy_name, context,
                                                       str(out) if out else None, frame_format, queue), daemon=True)
                     for w in range(min(workers, len(jobs)))]  # fmt: skip
            for p in procs:
                p.start()
            done, error = 0, None
            while done < len(procs) and error is None:
                kind, payload = queue.get()
                if kind == "episode":
                    records.append(payload)
                    advance()
                elif kind == "done":
                    done += 1
                else:
                    error = payload
            for p in procs:
                if error is not None:
                    p.terminate()
                p.join(timeout=30)
            if error is not None:
                raise DeskpilotError(f"a sandbox worker failed: {error}")
    return summarize(sorted(records, key=lambda r: r["index"]), time.perf_counter() - t0)


def summarize(records: list[dict[str, Any]], seconds: float) -> dict[str, Any]:
    by_family: dict[str, dict[str, Any]] = {}
    for r in records:
        f = by_family.setdefault(r["family"], {"episodes": 0, "successes": 0})
        f["episodes"] += 1
        f["successes"] += int(r["success"])
    for f in by_family.values():
        f["success_rate"] = round(f["successes"] / f["episodes"], 4)
    n = len(records)
    return {
        "episodes": n,
        "success_rate": round(sum(r["success"] for r in records) / max(1, n), 4),
        "by_family": dict(sorted(by_family.items())),
        "failures": [r for r in records if not r["success"]],
        "steps_mean": round(sum(r["steps"] for r in records) / max(1, n), 2),
        "seconds": round(seconds, 2),
        "episodes_per_min": round(60 * n / max(seconds, 1e-9), 1),
    }
