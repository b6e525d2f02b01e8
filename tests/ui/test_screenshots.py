"""Screenshots of the real windows: saved as PNG, not blank, and showing the widgets that matter."""

from __future__ import annotations

from PySide6.QtGui import QImage
from PySide6.QtWidgets import QWidget

from tests.ui.ui_helpers import grab_array, not_blank, region_of, select_replay
from ui.inspector import InspectorWindow


def _check(window, names: list[str], png) -> None:
    assert window.grab().save(str(png)), f"could not save {png}"
    saved = QImage(str(png))
    assert not saved.isNull() and (saved.width(), saved.height()) == (window.width(), window.height())
    image = grab_array(window)
    assert not_blank(image), f"{png.name} is blank"
    for name in names:
        child = window.findChild(QWidget, name)
        assert child is not None and child.isVisible(), f"{name} is not shown"
        x, y, w, h = region_of(window, child)
        assert (
            w > 10 and h > 10 and x >= 0 and y >= 0 and x + w <= image.shape[1] and y + h <= image.shape[0]
        ), name


def test_main_window_and_inspector_screenshots(make_window, recording, tmp_path, qtbot):
    w = make_window()
    w.resize(1280, 800)
    select_replay(w, recording)
    w.run_or_resume()
    qtbot.waitUntil(
        lambda: w.controller.state == "idle" and w.controller.last_result is not None, timeout=20000
    )
    _check(w, ["taskInput", "targetSelector", "policySelector", "runButton", "stopButton", "liveView", "stepList",
               "nextAction", "stateLabel", "fpsLabel"], tmp_path / "main.png")  # fmt: skip
    # the live view shows the frame (the trace's dotted test frame), not just the dark background
    image = grab_array(w)
    x, y, vw, vh = region_of(w, w.view)
    assert not_blank(image[y : y + vh, x : x + vw])
    x, y, sw, sh = region_of(w, w.steps)
    assert image[y : y + sh, x : x + sw, 1].mean() > 0  # rows are drawn

    w.inspect_last_run()
    insp = w.inspector
    assert isinstance(insp, InspectorWindow) and insp.model.count == 6
    qtbot.addWidget(insp)
    insp.go(0)
    _check(insp, ["screenView", "timeline", "stepDetails", "comparison", "recordedAction", "predictedAction",
                  "inspectorSummary"], tmp_path / "inspector.png")  # fmt: skip
    # the comparison boxes are tinted green for a matching step
    img = grab_array(insp)
    x, y, cw, ch = region_of(insp, insp.recorded)
    r, g, b = img[y + ch // 2, x + 3 : x + cw // 4].reshape(-1, 3).mean(axis=0)
    assert g > r and g > b
