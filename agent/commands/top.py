"""Top-level commands: replay, policies; run, record and app are mounted from their own modules."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from agent.commands.common import find_traces, mount_optional, out_console, print_json, progress


def replay(
    traces: list[Path] = typer.Argument(..., help="Trace folders, or folders that hold trace folders."),
    policy: str = typer.Option(
        "recorded", "--policy", "-p", help="Policy to score (see `deskpilot policies`)."
    ),
    json_out: bool = typer.Option(False, "--json", help="Print the summary as JSON on stdout."),
    tolerance: float = typer.Option(0.02, help="Click tolerance without a target box, × screen diagonal."),
    out: Path | None = typer.Option(None, "--out", help="Write each replay as a trace into this folder."),
    weights: Path | None = typer.Option(None, help="Weights for learned policies."),
) -> None:
    """Score a policy against recorded sessions, headless: per-step match, accuracy, first divergence."""
    from agent.envs.replay import ReplayEnv
    from agent.loop import run_episode
    from agent.scoring import summarize
    from agent.trace import TraceWriter, read_trace
    from policies import make_policy

    paths = find_traces(traces)
    recorded = [read_trace(p) for p in paths]  # validate everything before spending time on any
    reports = []
    for t in progress(recorded, len(recorded), f"replaying with {policy}", quiet=json_out):
        env = ReplayEnv(t, tolerance=tolerance)
        pol = make_policy(policy, steps=env.steps, weights=weights, seed=0)
        writer = None
        if out is not None:
            writer = TraceWriter(out / t.path.name, task=t.task, target="replay", env_info=env.info(),
                                 policy=policy, overwrite=True)  # fmt: skip
        with env:
            run_episode(env, pol, t.task, trace=writer, max_steps=len(t.steps))
        reports.append(env.report())
    summary = summarize(reports)
    if json_out:
        print_json(summary)
        return
    table = Table("trace", "steps", "matched", "step accuracy", "first divergence", "episode success")
    for r in reports:
        fd = "-" if r.first_divergence is None else str(r.first_divergence)
        table.add_row(Path(r.trace).name, str(r.total), str(r.matched), f"{r.step_accuracy:.3f}", fd,
                      "yes" if r.episode_success else "no")  # fmt: skip
    out_console.print(table)
    out_console.print(f"{summary['traces']} traces, {summary['steps']} steps: step accuracy "
                      f"{summary['step_accuracy']:.3f}, episode success {summary['episode_success']:.3f}")  # fmt: skip


def policies_cmd() -> None:
    """List the available policies."""
    from policies import available_policies

    table = Table("name", "needs weights", "description")
    for spec in available_policies():
        table.add_row(spec.name, "yes" if spec.needs_weights else "no", spec.description)
    out_console.print(table)


def register(app: typer.Typer) -> None:
    """Attach the top-level commands to ``app``."""
    app.command("replay")(replay)
    app.command("policies")(policies_cmd)
    mount_optional(app, "run", "agent.commands.live", "run")
    mount_optional(app, "record", "agent.commands.live", "record")
    mount_optional(app, "app", "agent.commands.app", "app_cmd")
