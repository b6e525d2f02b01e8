"""`deskpilot eval detector|policy`: each command lives in its own module, mounted when present."""

from __future__ import annotations

from agent.commands.common import mount_optional, typer

app = typer.Typer(help="Evaluate the models on held-out sandbox data.", no_args_is_help=True)
mount_optional(app, "detector", "agent.commands.eval_detector", "detector")
mount_optional(app, "policy", "agent.commands.eval_policy", "policy")
