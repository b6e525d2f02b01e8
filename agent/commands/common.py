"""Helpers shared by the sub-commands: consoles, progress bars, trace discovery."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from agent.errors import TraceError
from agent.trace import META_FILE

T = TypeVar("T")

#: tables and progress go to stderr so that stdout stays clean for --json
err_console = Console(stderr=True)
out_console = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 160)  # pipes get wide tables


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def progress(items: Iterable[T], total: int | None, description: str, *, quiet: bool = False) -> Iterator[T]:
    """Iterate with a rich progress bar on stderr (hidden when ``quiet`` or stderr is not a terminal)."""
    if quiet:
        yield from items
        return
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
               TimeRemainingColumn())  # fmt: skip
    with Progress(*columns, console=err_console, transient=True) as bar:
        task = bar.add_task(description, total=total)
        for item in items:
            yield item
            bar.advance(task)


def find_traces(paths: Iterable[Path]) -> list[Path]:
    """Expand each path: a trace folder itself, or a folder holding trace folders (one level down)."""
    found: list[Path] = []
    for p in paths:
        if not p.exists():
            raise TraceError(f"no such trace folder: {p}")
        if (p / META_FILE).exists() or not p.is_dir():
            found.append(p)
            continue
        children = sorted(c for c in p.iterdir() if (c / META_FILE).exists())
        if not children:
            raise TraceError(f"{p} is not a trace folder (no {META_FILE}) and holds none")
        found.extend(children)
    return found


def mount_optional(app: typer.Typer, name: str, module_name: str, attr: str) -> None:
    """Register ``module_name:attr`` as command ``name`` if that module exists (pieces land one by one)."""
    import importlib

    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name == module_name:
            return
        raise
    app.command(name)(getattr(module, attr))
