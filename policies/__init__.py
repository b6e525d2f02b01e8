"""Policies decide the next action: the scripted sandbox expert, the transformer policy, baselines."""

from policies.base import Decision, Policy
from policies.registry import available_policies, make_policy, register_policy

__all__ = ["Decision", "Policy", "available_policies", "make_policy", "register_policy"]
