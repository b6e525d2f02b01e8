"""`deskpilot app`: the desktop app (PySide6). The lead mounts ``app_cmd`` as the ``app`` command."""

from __future__ import annotations

from pathlib import Path

import typer


def app_cmd(
    target: str | None = typer.Option(
        None, "--target", "-t", help="sandbox (default), desktop or replay; default: the last one used."
    ),
    task: str | None = typer.Option(None, "--task", help="Type this task into the task box."),
    trace: Path | None = typer.Option(None, "--trace", help="Trace folder for the Recorded-session target."),
    inspect: Path | None = typer.Option(None, "--inspect", help="Also open this trace in the inspector."),
    settings_file: Path | None = typer.Option(
        None, "--settings", help="Keep settings in this INI file instead of your user settings."
    ),
    quit_after: float | None = typer.Option(None, "--quit-after", hidden=True, help="Close after N seconds."),
) -> None:
    """Open the app: give tasks, watch the agent act, stop it, and inspect traces."""
    from ui.app import run_app

    code = run_app(target=target, task=task, trace=trace, inspect=inspect, settings_file=settings_file,
                   quit_after=quit_after)  # fmt: skip
    if code:
        raise typer.Exit(code)
