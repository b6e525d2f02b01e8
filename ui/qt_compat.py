"""Work-arounds for bugs in the installed Qt binding, each detected at run time and fixed only when present.

PySide6 6.12.0 on CPython 3.11: ``SignalInstance.emit()`` returns ``True`` without taking a reference
to it, so every emit from Python drops one reference to ``True``; after a few hundred emits CPython
aborts with "bool_dealloc: deallocating True or False" (reproduced here: 1,000 emits of any signal,
connected or not, in any thread). `emit` checks once whether the binding does this and, if so, gives
the reference back after each call. On a fixed binding it is a plain emit.
"""

from __future__ import annotations

import ctypes
import sys
from typing import Any

_steals: bool | None = None


def _emit_steals_a_reference() -> bool:
    """Emit a throw-away signal a few times and watch True's reference count."""
    from PySide6.QtCore import QObject, Signal

    class _Probe(QObject):
        ping = Signal()

    probe = _Probe()
    before = sys.getrefcount(True)
    results = [probe.ping.emit() for _ in range(8)]  # keep the results: their references count too
    delta = sys.getrefcount(True) - before - sum(r is True for r in results)
    for r in results:  # give back what the probe itself took
        if delta < 0:
            ctypes.pythonapi.Py_IncRef(ctypes.py_object(r))
    del results
    return delta < 0


def emit(signal: Any, *args: Any) -> None:
    """``signal.emit(*args)``, repairing the binding's reference count bug when it has it."""
    global _steals
    if _steals is None:
        _steals = _emit_steals_a_reference()
    result = signal.emit(*args)
    if _steals and isinstance(result, bool):
        ctypes.pythonapi.Py_IncRef(ctypes.py_object(result))
