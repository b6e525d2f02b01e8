"""`deskpilot train detector|policy|refiner|checks|edges`: each command lives in its own module, mounted when present."""

from __future__ import annotations

from agent.commands.common import mount_optional, typer

app = typer.Typer(help="Train the models on sandbox data and demonstrations.", no_args_is_help=True)
mount_optional(app, "detector", "agent.commands.train_detector", "detector")
mount_optional(app, "policy", "agent.commands.train_policy", "policy")
mount_optional(app, "refiner", "agent.commands.train_refiner", "refiner")
mount_optional(app, "checks", "agent.commands.train_checks", "checks")
mount_optional(app, "edges", "agent.commands.train_edges", "edges")
