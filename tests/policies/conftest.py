"""Shared pieces of the policy tests: a small transformer config and a one-thread torch fixture."""

from __future__ import annotations

import pytest
import torch

from policies.transformer.configuration_transformer import TransformerPolicyConfig


@pytest.fixture
def one_thread():
    """Small tensors: one thread is faster than two fighting over a busy CPU."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def small_cfg(**kw) -> TransformerPolicyConfig:
    """A policy config small enough to train for a few steps in a test."""
    base = {"d_model": 32, "n_heads": 2, "n_layers": 1, "text_dim": 16, "text_buckets": 512}
    return TransformerPolicyConfig(**{**base, **kw})
