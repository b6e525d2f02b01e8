"""The transformer policy: configuration, modeling (the network), processor (episodes <-> tensors), policy.

from policies.transformer import TransformerPolicy
policy = TransformerPolicy.from_pretrained("weights/policy")
policy.reset(task); decision = policy.act(observation, elements)
"""

from __future__ import annotations

from policies.transformer.configuration_transformer import ACTION_CLASSES, TransformerPolicyConfig
from policies.transformer.modeling_transformer import TransformerPolicyModel
from policies.transformer.policy_transformer import (
    DEFAULT_WEIGHTS,
    TransformerPolicy,
    load_pretrained,
    make_transformer_policy,
    save_pretrained,
)

__all__ = [
    "ACTION_CLASSES",
    "DEFAULT_WEIGHTS",
    "TransformerPolicy",
    "TransformerPolicyConfig",
    "TransformerPolicyModel",
    "load_pretrained",
    "make_transformer_policy",
    "save_pretrained",
]
