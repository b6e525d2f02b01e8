"""The emit work-around: thousands of emits from threads leave True's reference count intact."""

from __future__ import annotations

import sys

from PySide6.QtCore import QObject, QThread, Signal

from ui.qt_compat import emit


class _Source(QObject):
    value = Signal(object)


class _Thread(QThread):
    value = Signal(object)

    def run(self):
        for i in range(2000):
            emit(self.value, {"ok": True, "i": i})


def test_many_emits_do_not_drain_the_reference_count_of_true(qtbot):
    got = []
    src = _Source()
    src.value.connect(got.append)
    before = sys.getrefcount(True)
    for i in range(3000):  # PySide6 6.12.0 aborts the interpreter well before this without the fix
        emit(src.value, i)
    thread = _Thread()
    thread.value.connect(lambda p: got.append(p["i"]))
    with qtbot.waitSignal(thread.finished, timeout=30000):
        thread.start()
    qtbot.waitUntil(lambda: len(got) == 5000, timeout=10000)
    # unfixed, the 5,000 emits would take 5,000 references; unrelated objects freed meanwhile (earlier
    # tests' widgets) may release a few dozen
    assert sys.getrefcount(True) >= before - 500
