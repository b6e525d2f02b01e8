"""Top-level commands: replay, run, record, app."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Attach the top-level commands to ``app``."""
