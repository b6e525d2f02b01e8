"""ProcessEnv: an environment in a spawned child behaves like the same environment in process."""

from __future__ import annotations

import os

import pytest

from agent.envs.replay import ReplayEnv
from agent.errors import EnvironmentUnavailable, TraceError
from agent.loop import run_episode
from policies import make_policy
from ui.sandbox_proxy import ProcessEnv


def _run(env, steps):
    result = run_episode(env, make_policy("random", seed=3), "t", max_steps=10)
    return [(s.action, s.result.info.get("match")) for s in result.steps], result.success


def test_a_replay_in_a_child_process_scores_like_one_in_process(recording):
    local = ReplayEnv(recording)
    expected = _run(local, local.steps)
    with ProcessEnv("agent.envs.replay:ReplayEnv", {"trace": str(recording)}, name="replay",
                    env_vars={"DESKPILOT_PROXY_TEST": "1"}) as env:  # fmt: skip
        assert env.pid != os.getpid() and env.alive()
        assert _run(env, None) == expected
        assert env.info()["replay_of"] == str(recording)
        assert env.call("report").total == 6  # any method, results pickled back
        assert env.call_function("os:getenv", "DESKPILOT_PROXY_TEST") == "1"  # env vars reach the child
        with pytest.raises(EnvironmentUnavailable, match="AttributeError"):
            env.call("no_such_method")
        assert env.alive()  # a failed call does not kill the child
    assert not env.alive()


def test_construction_errors_come_back_as_the_same_readable_error(tmp_path):
    with pytest.raises(TraceError, match="no such trace folder"):
        ProcessEnv("agent.envs.replay:ReplayEnv", {"trace": str(tmp_path / "missing")}, name="replay")


def test_a_child_that_dies_becomes_environment_unavailable(recording):
    env = ProcessEnv("agent.envs.replay:ReplayEnv", {"trace": str(recording)}, name="replay")
    try:
        env._proc.kill()
        env._proc.join(5)
        with pytest.raises(EnvironmentUnavailable, match="replay process"):
            env.observe()
    finally:
        env.close()
