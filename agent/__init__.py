"""deskpilot's agent package: core types, the UI-TARS action grammar, traces, the loop, environments, CLI."""

__version__ = "0.1.0"
