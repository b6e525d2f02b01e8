"""Sub-commands of `deskpilot`, one module per group, each exposing a typer app named ``app``.

Modules import their heavy dependencies (torch, Qt) inside the command functions, so ``deskpilot --help``
stays fast and a missing optional piece only breaks the command that needs it.
"""

#: (sub-command name, module) pairs that agent.cli mounts; a module missing here is simply not mounted.
GROUPS: list[tuple[str, str]] = [
    ("trace", "agent.commands.trace"),
    ("sandbox", "agent.commands.sandbox"),
    ("train", "agent.commands.train"),
    ("eval", "agent.commands.evaluate"),
    ("bench", "agent.commands.bench"),
]
