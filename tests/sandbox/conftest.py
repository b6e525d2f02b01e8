"""Sandbox tests: one offscreen QApplication with the sandbox screens, created before any Qt import."""

from __future__ import annotations

from agent.envs.sandbox.qt import configure_environment

# the root conftest sets QT_QPA_PLATFORM=offscreen; this adds the sandbox's screen configuration
configure_environment()
