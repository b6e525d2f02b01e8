"""`deskpilot run` and `deskpilot record`: the agent on the live screen, and recording a person.

Both are plain functions with typer parameters; `agent.commands.top` mounts them. Safety is on by
default for ``run``: step and time limits, a rate limit, blocked hotkeys, the stop hotkey and the
corner fail-safe; ``--dry-run``, ``--confirm``, ``--region`` and ``--window`` tighten it.
"""

from __future__ import annotations

import datetime as _dt
import sys
from pathlib import Path

import typer

from agent.errors import DeskpilotError


def _err(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _default_out(kind: str) -> Path:
    return Path("runs") / f"{kind}-{_dt.datetime.now().strftime('%Y%m%d-%H%M%S')}"


def _ask(guard_ref: list) -> object:
    """A confirm callback for the terminal: y = do it, n = skip it, q = stop the run."""

    def confirm(action: object, observation: object) -> bool:
        from agent.grammar import format_action

        try:
            shown = format_action(action, screen=observation.size, coords="absolute")  # type: ignore[arg-type, attr-defined]
        except Exception:  # any text will do for a prompt
            shown = str(action)
        while True:
            try:
                answer = input(f"do {shown}? [y]es / [n]o / [q]uit: ").strip().lower()
            except EOFError:
                answer = "q"
            if answer in ("y", "yes"):
                return True
            if answer in ("n", "no", ""):
                return False
            if answer in ("q", "quit"):
                guard_ref[0].trip("stopped at the confirm prompt")
                return False

    return confirm


def run(
    task: str = typer.Argument(..., help="What the agent should do, in words."),
    target: str = typer.Option("desktop", "--target", help="Where to act; this command drives: desktop."),
    policy: str = typer.Option(
        "transformer", "--policy", "-p", help="Policy name (see `deskpilot policies`)."
    ),
    weights: Path | None = typer.Option(None, "--weights", help="Weights for learned policies."),
    detector: Path = typer.Option(
        Path("weights/detector"),
        "--detector",
        help="Detector weights: the elements policies see on the screen.",
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="Draw and log each action instead of doing it."),
    confirm: bool = typer.Option(False, "--confirm", help="Ask on the terminal before every action."),
    region: str | None = typer.Option(
        None, "--region", help="x,y,w,h in screen pixels: capture and act only inside this rectangle."
    ),
    window: str | None = typer.Option(None, "--window", help="Act only on the window with this title."),
    monitor: int = typer.Option(1, "--monitor", help="Monitor to capture (0 = all of them as one image)."),
    max_steps: int = typer.Option(50, "--max-steps", min=1, help="Stop after this many steps."),
    max_seconds: float = typer.Option(300.0, "--max-seconds", help="Stop after this much wall time."),
    max_rate: float = typer.Option(5.0, "--max-rate", help="At most this many actions per second."),
    allow_hotkey: list[str] = typer.Option(
        [], "--allow-hotkey", help="Allow a blocked hotkey (e.g. alt+f4); repeatable."
    ),
    stop_hotkey: str = typer.Option("ctrl+alt+q", "--stop-hotkey", help="Global hotkey that stops the run."),
    delay: float = typer.Option(3.0, "--delay", help="Seconds before the first step (to switch windows)."),
    out: Path | None = typer.Option(None, "--out", help="Trace folder (default: runs/live-<time>)."),
) -> None:
    """Run a policy on the live screen and write a trace of every step."""
    import time

    from agent.envs.desktop import make_desktop_env
    from agent.loop import run_episode
    from agent.safety import SafetyConfig, SafetyGuard, parse_region
    from agent.trace import TraceWriter
    from policies import make_policy

    if target != "desktop":
        raise DeskpilotError(
            f"`deskpilot run` drives the live desktop; target {target!r} is not one it knows"
        )
    if max_rate <= 0:
        raise DeskpilotError(f"--max-rate must be > 0, got {max_rate:g}")
    rect = parse_region(region) if region else None
    guard_ref: list = [None]
    cfg = SafetyConfig(
        dry_run=dry_run, confirm=_ask(guard_ref) if confirm else None, region=rect, window=window,  # type: ignore[arg-type]
        allowed_hotkeys=tuple(allow_hotkey), max_steps=max_steps, max_seconds=max_seconds,
        min_interval=1.0 / max_rate, stop_hotkey=stop_hotkey,
    )  # fmt: skip
    guard = guard_ref[0] = SafetyGuard(cfg)
    out = out or _default_out("live")
    context = {"seed": 0} if weights is None else {"seed": 0, "weights": weights}
    pol = make_policy(policy, **context)
    env = make_desktop_env(monitor=monitor, region=rect, guard=guard,
                           annotate_dir=out / "dry_run" if dry_run else None)  # fmt: skip
    perception = None
    if (detector / "config.json").exists():
        from vision.perception import Perception

        perception = Perception.load(str(detector))
    elif policy not in ("fixed", "random"):  # the floors need no elements
        _err(f"no detector weights in {detector}: the policy sees no elements (`deskpilot train detector`)")
    with (
        env,
        guard,
        TraceWriter(out, task=task, target="desktop", env_info=env.info(), policy=policy) as writer,
    ):
        mode = (
            "dry run: nothing will be clicked or typed"
            if dry_run
            else "LIVE: the agent will use your mouse and keyboard"
        )
        _err(f"{mode}. Stop: {stop_hotkey}, or move the pointer into a screen corner.")
        if delay > 0:
            _err(f"starting in {delay:g} s ...")
            if guard.stop_event.wait(delay):
                writer.close({"reason": guard.reason, "steps": 0})
                _err(f"stopped before the first step: {guard.reason}")
                return
        t0 = time.perf_counter()
        result = run_episode(
            env, pol, task, trace=writer, max_steps=max_steps, guard=guard, perception=perception
        )
    refused = sum(1 for s in result.steps if s.result.info.get("refused"))
    _err(f"{len(result.steps)} steps in {time.perf_counter() - t0:.1f} s ({refused} refused), ended: "
         f"{result.reason}; trace: {out}")  # fmt: skip


def record(
    out: Path = typer.Option(..., "--out", help="Trace folder to create."),
    task: str = typer.Option("", "--task", help="What the demonstration does, in words."),
    monitor: int = typer.Option(1, "--monitor", help="Monitor to record (0 = all of them)."),
    region: str | None = typer.Option(None, "--region", help="x,y,w,h: record only this screen rectangle."),
    fps: float = typer.Option(20.0, "--fps", help="Background screen grabs per second."),
    stop_hotkey: str = typer.Option(
        "ctrl+alt+q", "--stop-hotkey", help="Global hotkey that ends the recording."
    ),
    secret_hotkey: str = typer.Option(
        "ctrl+alt+p", "--secret-hotkey", help="Marks the current or next typed text as secret (redacted)."
    ),
    redact_typing: bool = typer.Option(False, "--redact-typing", help="Redact every typed text."),
    max_seconds: float | None = typer.Option(None, "--max-seconds", help="Stop after this much time."),
) -> None:
    """Record your demonstration (mouse, keyboard, the screen before each input) as a trace."""
    from agent.recorder import Recorder
    from agent.safety import parse_region

    if fps <= 0:
        raise DeskpilotError(f"--fps must be > 0, got {fps:g}")
    rec = Recorder(out, task=task, monitor=monitor, region=parse_region(region) if region else None, fps=fps,
                   stop_hotkey=stop_hotkey, secret_hotkey=secret_hotkey, redact_typing=redact_typing)  # fmt: skip
    rec.start()
    _err(
        f"recording to {out}: press {stop_hotkey} or Ctrl+C to stop; {secret_hotkey} before typing a password"
    )
    rec.run(max_seconds=max_seconds)
    _err(f"recorded {rec.steps} steps to {out} ({rec.reason})")


if __name__ == "__main__":  # `python -m agent.commands.live run|record ...`, before the CLI mounts them
    _app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
    _app.command("run")(run)
    _app.command("record")(record)
    try:
        _app(standalone_mode=False)
    except DeskpilotError as exc:
        _err(f"deskpilot: error: {exc}")
        sys.exit(2)
