"""The project's exception hierarchy.

Every error a user can cause (bad input, a corrupt trace, a missing display, missing weights) is a
`DeskpilotError`; the CLI prints its message on one line and exits with code 2. Anything else is a bug.
"""

from __future__ import annotations


class DeskpilotError(Exception):
    """Base class for errors caused by input or environment, reported to the user without a traceback."""


class ActionError(DeskpilotError, ValueError):
    """An action with invalid fields (negative coordinates, unknown key, empty hotkey, ...)."""


class ParseError(DeskpilotError, ValueError):
    """Model output that is not valid UI-TARS action grammar.

    Attributes:
        position: 0-based character offset into the parsed text where the problem was found.
    """

    def __init__(self, message: str, position: int, text: str | None = None):
        self.message = message
        self.position = position
        self.text = text
        super().__init__(f"{message} (at position {position})")


class TraceError(DeskpilotError):
    """A trace folder that cannot be read: missing files, corrupt lines, unsupported schema versions."""


class EnvironmentUnavailable(DeskpilotError):
    """An environment that cannot start here: no display, missing system package, ..."""


class WeightsError(DeskpilotError):
    """Model weights that are missing or do not match their configuration."""


class TaskError(DeskpilotError):
    """A bad task file, or a task family / app template that does not exist."""
