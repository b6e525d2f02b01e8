"""`deskpilot bench ...`: benchmarks print figures (and ratios against a baseline measured in the same run).

Timings live here, never in pass/fail tests.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

import typer
from rich.table import Table

from agent.commands.common import out_console, print_json
from agent.errors import DeskpilotError

app = typer.Typer(help="Measure speed and memory (figures, not pass/fail).", no_args_is_help=True)

JSON = typer.Option(False, "--json", help="Print the results as JSON.")


def _load(target: str) -> Callable[..., dict[str, Any]]:
    module_name, _, attr = target.partition(":")
    try:
        return getattr(importlib.import_module(module_name), attr)
    except ModuleNotFoundError as exc:
        if exc.name == module_name:
            raise DeskpilotError(
                f"this benchmark's module ({module_name}) is not part of this build yet"
            ) from None
        raise


def _show(results: dict[str, Any], json_out: bool) -> None:
    if json_out:
        print_json(results)
        return
    table = Table("metric", "value")
    for key, value in _flatten(results):
        table.add_row(key, f"{value:.4g}" if isinstance(value, float) else str(value))
    out_console.print(table)


def _flatten(d: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """Nested dicts → ("a.b.c", value) rows; lists are shown whole."""
    if not isinstance(d, dict):
        return [(prefix.rstrip("."), d)]
    return [row for k, v in d.items() for row in _flatten(v, f"{prefix}{k}.")]


@app.command()
def capture(
    json_out: bool = JSON, seconds: float = typer.Option(3.0, help="Seconds per measurement.")
) -> None:
    """Screen capture frames per second at 1280×800 and the conversion cost (needs a display)."""
    _show(_load("agent.bench_capture:bench_capture")(seconds=seconds), json_out)


@app.command()
def sandbox(
    json_out: bool = JSON,
    frames: int = typer.Option(200, help="Labelled frames to generate."),
    episodes: int = typer.Option(50, help="Expert episodes to run."),
    leak_episodes: int = typer.Option(1000, help="Episodes for the memory-flatness check."),
) -> None:
    """Labelled frames per second, expert episodes per minute, RSS over many episodes."""
    _show(_load("agent.envs.sandbox.bench:bench_sandbox")(frames=frames, episodes=episodes,
                                                          leak_episodes=leak_episodes), json_out)  # fmt: skip


@app.command()
def perception(
    json_out: bool = JSON,
    repeats: int = typer.Option(20, help="Frames per measurement."),
    weights: str = typer.Option("weights/detector", help="Detector weights folder."),
    against: str | None = typer.Option(
        None,
        help="Another detector weights folder: its whole pipeline alternates frame by frame with "
        "--weights' (ab_*), so the ratio is not at the mercy of the machine's drift between runs.",
    ),
) -> None:
    """Full re-detect, OCR of crops and unchanged-frame latency at 1280×800, per runtime and precision."""
    _show(_load("vision.bench:bench_perception")(repeats=repeats, weights=weights, against=against), json_out)


@app.command()
def policy(
    json_out: bool = JSON,
    weights: str | None = typer.Option(None, help="Policy weights for the whole-decision timing."),
    screens: int = typer.Option(40, help="Sandbox screens for the whole-decision timing (0: skip it)."),
) -> None:
    """Memory-step latency at 10…100,000 steps of history for each mechanism and the softmax-KV baseline,
    then whole decisions of the shipped policy on sandbox screens at 10 and 100,000 steps."""
    results = {"memory": _load("policies.bench:bench_policy_memory")()}
    if screens > 0:
        results["decision"] = _load("policies.bench:bench_policy_decision")(weights, screens=screens)
    _show(results, json_out)


@app.command()
def ui(
    json_out: bool = JSON, seconds: float = typer.Option(5.0, help="Seconds of agent run to measure.")
) -> None:
    """Event-loop latency of the app while the agent runs."""
    _show(_load("ui.bench:bench_ui")(seconds=seconds), json_out)
