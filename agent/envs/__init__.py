"""Environments: where observations come from and actions go (sandbox, live desktop, recorded session)."""

from agent.envs.base import Environment

__all__ = ["Environment"]
