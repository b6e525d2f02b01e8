"""The ``deskpilot`` command.

Every user-caused error is a `DeskpilotError`: it is printed as one line on stderr with exit code 2.
``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import importlib
import sys

import typer

from agent.commands import GROUPS
from agent.errors import DeskpilotError

app = typer.Typer(
    name="deskpilot",
    help="A local, fast GUI automation agent: sees the screen, finds elements, acts, records every step.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

_DEBUG = False


@app.callback()
def _root(debug: bool = typer.Option(False, "--debug", help="Show tracebacks for errors.")) -> None:
    global _DEBUG
    _DEBUG = debug


def _mount() -> None:
    for name, module_name in GROUPS:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name == module_name:  # that group is not written yet
                continue
            raise
        app.add_typer(module.app, name=name)
    from agent.commands import top

    top.register(app)


_mount()


def _click_exceptions() -> tuple[type, ...]:
    """Click's exception base classes: recent typer versions vendor click as ``typer._click``."""
    import click

    bases: list[type] = [click.ClickException]
    try:
        from typer._click.exceptions import ClickException as VendoredClickException
    except ImportError:
        pass
    else:
        bases.append(VendoredClickException)
    return tuple(bases)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script; returns the exit code."""
    try:
        app(args=argv, standalone_mode=False)
    except DeskpilotError as exc:
        if _DEBUG or "--debug" in (argv if argv is not None else sys.argv):
            raise
        print(f"deskpilot: error: {exc}", file=sys.stderr)
        return 2
    except typer.Exit as exc:
        return exc.exit_code
    except typer.Abort:
        print("deskpilot: aborted", file=sys.stderr)
        return 130
    except KeyboardInterrupt:
        print("deskpilot: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if isinstance(exc, _click_exceptions()):  # usage errors: bad option values, missing arguments
            exc.show()
            return exc.exit_code
        raise
    return 0


if __name__ == "__main__":
    sys.exit(main())
