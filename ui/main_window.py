"""The main window: give a task, pick a target and a policy, run/pause/step/stop, and watch.

A thin binder between widgets and `ui.controller.RunController` / `ui.settings.AppSettings`: decisions
about what can run live in `ui.targets`, run state in the controller, drawing in `ui.overlay`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QSettings, QStandardPaths, Qt
from PySide6.QtGui import QAction, QKeySequence, QStandardItemModel
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QMessageBox,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from agent.errors import DeskpilotError
from ui.controller import RunController, button_states, new_trace_dir
from ui.inspector import InspectorWindow
from ui.overlay import action_shapes, element_shapes
from ui.payloads import format_timings
from ui.region_picker import grab_screen
from ui.screen_view import ScreenView
from ui.settings import (
    HISTORY_LIMIT,
    RECENT_LIMIT,
    TARGETS,
    AppSettings,
    load_settings,
    push_front,
    save_settings,
)
from ui.settings_dialog import SettingsDialog
from ui.step_list import StepList
from ui.target_panel import TargetPanel
from ui.targets import (
    TARGET_LABELS,
    choose_policy,
    effective_weights,
    make_run_config,
    policy_availability,
    recorded_instruction,
    sample_sandbox_task,
    sandbox_apps,
    sandbox_families,
    target_availability,
    weights_banner,
)

STATE_TEXT = {"idle": "Ready", "starting": "Starting…", "running": "Running", "paused": "Paused",
              "stopping": "Stopping…"}  # fmt: skip


def _set_item_enabled(combo: QComboBox, row: int, ok: bool, tip: str) -> None:
    model = combo.model()
    assert isinstance(model, QStandardItemModel)
    item = model.item(row)
    item.setEnabled(ok)
    item.setToolTip(tip)


class MainWindow(QMainWindow):
    """Args:
    qsettings: where settings persist (tests pass an INI file in tmp); default: the user's.
    screenshot: () -> H×W×3 image for the region picker.
    """

    def __init__(
        self, qsettings: QSettings | None = None, screenshot: Callable[[], np.ndarray] = grab_screen
    ):
        super().__init__()
        self.setObjectName("mainWindow")
        self.setWindowTitle("deskpilot")
        self.resize(1280, 800)
        self.qsettings = qsettings if qsettings is not None else QSettings("deskpilot", "deskpilot")
        loaded = load_settings(self.qsettings)
        self.settings: AppSettings = loaded.settings
        self.screenshot = screenshot
        self.controller = RunController(self)
        self.inspector: InspectorWindow | None = None
        self.last_error = ""
        self.last_trace = ""
        self.sandbox_task: dict[str, Any] | None = None
        self.confirm_box: QMessageBox | None = None
        self._close_when_idle = False
        self._minimised_for_run = False
        self._build()
        self._bind()
        self.apply_settings(self.settings)
        if loaded.problems:
            self.statusBar().showMessage("; ".join(loaded.problems), 15000)

    # ------------------------------------------------------------------ layout
    def _build(self) -> None:
        self.task = QComboBox(self)
        self.task.setObjectName("taskInput")
        self.task.setEditable(True)
        self.task.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        self.task.lineEdit().setPlaceholderText("What should the agent do?  (Enter runs it)")
        self.task.setMinimumWidth(360)
        self.target = QComboBox(self)
        self.target.setObjectName("targetSelector")
        for t in TARGETS:
            self.target.addItem(TARGET_LABELS[t], t)
        self.policy = QComboBox(self)
        self.policy.setObjectName("policySelector")
        self.policy.setMinimumWidth(120)
        self.run_btn = QPushButton("Run", self)
        self.pause_btn = QPushButton("Pause", self)
        self.step_btn = QPushButton("Step", self)
        self.stop_btn = QPushButton("Stop", self)
        for b, name, tip in (
            (self.run_btn, "runButton", "Start the run, or resume it (Ctrl+R)"),
            (self.pause_btn, "pauseButton", "Hold the agent before its next step (Ctrl+P)"),
            (self.step_btn, "stepButton", "Let exactly one step run (Ctrl+T)"),
            (self.stop_btn, "stopButton", "End the run before the next step (Esc)"),
        ):
            b.setObjectName(name)
            b.setToolTip(tip)
        self.run_btn.setShortcut(QKeySequence("Ctrl+R"))
        self.pause_btn.setShortcut(QKeySequence("Ctrl+P"))
        self.step_btn.setShortcut(QKeySequence("Ctrl+T"))
        self.stop_btn.setShortcut(QKeySequence(Qt.Key.Key_Escape))
        top = QWidget(self)
        tl = QHBoxLayout(top)
        tl.setContentsMargins(0, 0, 0, 0)
        tl.addWidget(QLabel("Task", top))
        tl.addWidget(self.task, 1)
        tl.addWidget(QLabel("Target", top))
        tl.addWidget(self.target)
        tl.addWidget(QLabel("Policy", top))
        tl.addWidget(self.policy)
        for b in (self.run_btn, self.pause_btn, self.step_btn, self.stop_btn):
            tl.addWidget(b)

        self.panel = TargetPanel(self)
        self.banner = QLabel("", self)
        self.banner.setObjectName("weightsBanner")
        self.banner.setWordWrap(True)
        self.banner.setStyleSheet("background:#fff4d6; border:1px solid #e0b84c; padding:4px")
        self.view = ScreenView(self)
        self.view.setObjectName("liveView")
        self.view.set_placeholder("Press Run to start; the screen the agent sees appears here.")
        self.next_action = QLabel("Next action: —", self)
        self.next_action.setObjectName("nextAction")
        self.next_action.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        left = QWidget(self)
        ll = QVBoxLayout(left)
        ll.setContentsMargins(0, 0, 0, 0)
        ll.addWidget(self.view, 1)
        ll.addWidget(self.next_action)
        self.steps = StepList(self)
        split = QSplitter(Qt.Orientation.Horizontal, self)
        split.addWidget(left)
        split.addWidget(self.steps)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 2)
        split.setSizes([620, 660])

        central = QWidget(self)
        layout = QVBoxLayout(central)
        layout.addWidget(top)
        layout.addWidget(self.panel)
        layout.addWidget(self.banner)
        layout.addWidget(split, 1)
        self.setCentralWidget(central)

        self.state_label = QLabel(STATE_TEXT["idle"], self)
        self.state_label.setObjectName("stateLabel")
        self.fps_label = QLabel("fps —", self)
        self.fps_label.setObjectName("fpsLabel")
        self.timings_label = QLabel("", self)
        self.timings_label.setObjectName("timingsLabel")
        sb = self.statusBar()
        sb.addPermanentWidget(self.timings_label)
        sb.addPermanentWidget(self.fps_label)
        sb.addPermanentWidget(self.state_label)

        file_menu = self.menuBar().addMenu("&File")
        self._menu_action(
            file_menu, "Open trace in &inspector…", self.open_inspector_dialog, QKeySequence.StandardKey.Open
        )
        self.open_last_act = self._menu_action(
            file_menu, "Inspect the &last run", self.inspect_last_run, "Ctrl+L"
        )
        self.open_last_act.setEnabled(False)
        self._menu_action(file_menu, "&Settings…", self.open_settings, QKeySequence.StandardKey.Preferences)
        file_menu.addSeparator()
        self._menu_action(file_menu, "&Quit", self.close, QKeySequence.StandardKey.Quit)
        view_menu = self.menuBar().addMenu("&View")
        self._menu_action(view_menu, "Trace &inspector", lambda: self.show_inspector(), "Ctrl+I")
        self._menu_action(view_menu, "Zoom &in", self.view.zoom_in, QKeySequence.StandardKey.ZoomIn)
        self._menu_action(view_menu, "Zoom &out", self.view.zoom_out, QKeySequence.StandardKey.ZoomOut)
        self._menu_action(view_menu, "&Fit", self.view.fit, "Ctrl+0")

    def _menu_action(self, menu, text: str, slot, shortcut=None) -> QAction:
        act = QAction(text, self)
        if shortcut is not None:
            act.setShortcut(QKeySequence(shortcut))
        act.triggered.connect(slot)
        menu.addAction(act)
        return act

    def _bind(self) -> None:
        c = self.controller
        self.run_btn.clicked.connect(self.run_or_resume)
        self.pause_btn.clicked.connect(c.pause)
        self.step_btn.clicked.connect(self.step)
        self.stop_btn.clicked.connect(c.stop)
        self.task.lineEdit().returnPressed.connect(self.run_or_resume)
        self.target.currentIndexChanged.connect(lambda _i: self._target_changed())
        self.panel.settings_requested.connect(self.open_settings)
        self.panel.safety_toggled.connect(self._safety_toggled)
        self.panel.replay_changed.connect(self._replay_chosen)
        self.panel.new_task_requested.connect(self.new_sandbox_task)
        c.state_changed.connect(self._state_changed)
        c.status.connect(lambda text: self.statusBar().showMessage(text, 5000))
        c.decided.connect(self._decided)
        c.stepped.connect(self._stepped)
        c.stats_changed.connect(self._stats)
        c.ended.connect(self._ended)
        c.failed.connect(self.show_error)
        c.confirm_requested.connect(self.ask_confirm)
        self._state_changed("idle")

    # ------------------------------------------------------------------ settings
    def apply_settings(self, s: AppSettings) -> None:
        """Show ``s`` in the widgets (and keep it as the current settings)."""
        self.settings = s
        self.task.clear()
        self.task.addItems(s.task_history)
        self.task.setEditText(s.task_history[0] if s.task_history else "")
        avail = target_availability()
        for row, t in enumerate(TARGETS):
            _set_item_enabled(self.target, row, avail[t].ok, avail[t].why)
        self.panel.set_sandbox_available(avail["sandbox"].ok, avail["sandbox"].why)
        if avail["sandbox"].ok:
            self.panel.set_sandbox_choices(sandbox_families(), sandbox_apps())
        self.panel.load(s)
        target = s.target if avail[s.target].ok else next(t for t in TARGETS if avail[t].ok)
        self.target.blockSignals(True)
        self.target.setCurrentIndex(TARGETS.index(target))
        self.target.blockSignals(False)
        self._target_changed()
        banner = weights_banner(effective_weights(s.detector_weights, "detector"),
                                effective_weights(s.policy_weights, "policy"))  # fmt: skip
        self.banner.setText(banner)
        self.banner.setVisible(bool(banner))

    def save(self) -> None:
        """Persist the current settings with what the widgets show now."""
        self.settings = replace(
            self.settings,
            target=self.current_target(),
            policy=self.policy.currentData() or self.settings.policy,
            replay_trace=self.panel.replay_trace(),
            sandbox_app=self.panel.sandbox_app.currentData() or "",
            sandbox_family=self.panel.sandbox_family.currentData() or "",
            sandbox_seed=self.panel.sandbox_seed.value(),
            dry_run=self.panel.dry_run.isChecked(),
            confirm=self.panel.confirm.isChecked(),
        )
        try:
            save_settings(self.qsettings, self.settings)
        except DeskpilotError as exc:
            self.show_error(f"settings not saved: {exc}")

    def open_settings(self) -> None:
        from policies import available_policies

        self.save()
        dlg = SettingsDialog(self.settings, [s.name for s in available_policies()], self, self.screenshot)
        if dlg.exec() == SettingsDialog.DialogCode.Accepted:
            self.apply_settings(dlg.settings)
            self.save()

    def _safety_toggled(self) -> None:
        self.settings = replace(self.settings, dry_run=self.panel.dry_run.isChecked(),
                                confirm=self.panel.confirm.isChecked())  # fmt: skip

    # ------------------------------------------------------------------ targets and policies
    def current_target(self) -> str:
        return self.target.currentData() or "sandbox"

    def _target_changed(self) -> None:
        from policies import available_policies

        target = self.current_target()
        self.panel.show_target(target)
        wanted = self.policy.currentData() or self.settings.policy
        self.policy.blockSignals(True)
        self.policy.clear()
        usable = []
        for row, spec in enumerate(available_policies()):
            self.policy.addItem(spec.name, spec.name)
            weights = effective_weights(self.settings.policy_weights, "policy")
            a = policy_availability(spec.name, target, spec.needs_weights, weights)
            _set_item_enabled(self.policy, row, a.ok, a.why or spec.description)
            if a.ok:
                usable.append(spec.name)
        chosen = choose_policy(target, wanted, usable)
        self.policy.setCurrentIndex(self.policy.findData(chosen) if chosen else -1)
        self.policy.blockSignals(False)
        if target == "replay" and not self.task.currentText().strip():
            self._replay_chosen(self.panel.replay_trace())

    def _replay_chosen(self, path: str) -> None:
        instruction = recorded_instruction(path) if path else ""
        if instruction:
            self.task.setEditText(instruction)

    def new_sandbox_task(self) -> bool:
        """Draw a sandbox task for the chosen family, app and seed and show its instruction."""
        p = self.panel
        try:
            task = sample_sandbox_task(p.sandbox_family.currentData() or "", p.sandbox_app.currentData() or "",
                                       p.sandbox_seed.value())  # fmt: skip
        except DeskpilotError as exc:
            self.show_error(str(exc))
            return False
        self.sandbox_task = task
        self.task.setEditText(task["instruction"])
        p.sandbox_seed.setValue(p.sandbox_seed.value() + 1)  # the next press draws a new one
        return True

    # ------------------------------------------------------------------ running
    def _runs_dir(self) -> str:
        if self.settings.runs_dir:
            return self.settings.runs_dir
        base = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppLocalDataLocation)
        return str(Path(base or Path.home() / ".deskpilot") / "runs")

    def start_run(self, *, paused: bool = False) -> bool:
        """Start a run from what the widgets show; errors are shown, never raised. Returns success."""
        target = self.current_target()
        if target == "sandbox" and self.sandbox_task is None and not self.new_sandbox_task():
            return False
        instruction = self.task.currentText()
        sandbox_task = self.sandbox_task if target == "sandbox" else None
        if sandbox_task is not None and instruction.strip() != sandbox_task["instruction"]:
            # the policy reads the typed words; success is still judged on the drawn task
            self.statusBar().showMessage(
                f"Success is checked against the sandbox task: {sandbox_task['instruction']}"
            )
        try:
            config = make_run_config(
                self.settings, target=target, instruction=instruction, policy=self.policy.currentData() or "",
                trace_dir=new_trace_dir(self._runs_dir(), target), replay_trace=self.panel.replay_trace(),
                sandbox_task=sandbox_task,
            )  # fmt: skip
            self.steps.clear()
            self.view.set_shapes([])
            self.next_action.setText("Next action: —")
            self.controller.start(config, paused=paused)
        except DeskpilotError as exc:
            self.show_error(str(exc))
            return False
        self.last_error = ""
        self.last_trace = config.trace_dir or ""
        history = push_front(self.settings.task_history, instruction, HISTORY_LIMIT)
        if target == "replay":
            recent = push_front(self.settings.recent_traces, config.replay_trace, RECENT_LIMIT)
            self.settings = replace(self.settings, recent_traces=recent)
        self.settings = replace(self.settings, task_history=history)
        self.task.blockSignals(True)
        self.task.clear()
        self.task.addItems(history)
        self.task.setEditText(instruction)
        self.task.blockSignals(False)
        self.save()
        if target == "desktop" and self.settings.hide_while_acting and not self.settings.dry_run:
            self._minimised_for_run = True  # stay out of the screenshots the agent acts on
            self.showMinimized()
        return True

    def run_or_resume(self) -> None:
        if self.controller.state == "paused":
            self.controller.resume()
        elif self.controller.state == "idle":
            self.start_run()

    def step(self) -> None:
        if self.controller.state == "idle":
            if self.start_run(paused=True):
                self.controller.step_once()
        else:
            self.controller.step_once()

    def _state_changed(self, state: str) -> None:
        for btn, ok in zip((self.run_btn, self.pause_btn, self.step_btn, self.stop_btn),
                           button_states(state).values(), strict=True):  # fmt: skip
            btn.setEnabled(ok)
        self.run_btn.setText("Resume" if state == "paused" else "Run")
        idle = state == "idle"
        for w in (self.task, self.target, self.policy, self.panel):
            w.setEnabled(idle)
        self.state_label.setText(STATE_TEXT.get(state, state))
        if state in ("idle", "stopping") and self.confirm_box is not None:
            self.confirm_box.close()  # the worker has stopped waiting for an answer
            self.confirm_box = None
        if idle:
            if self._minimised_for_run:
                self._minimised_for_run = False
                self.showNormal()
                self.raise_()
            if self._close_when_idle:
                self.close()

    def _decided(self, p: dict[str, Any]) -> None:
        self.view.set_frame(p["image"])
        self.view.set_shapes(
            element_shapes(p["elements"]) + action_shapes(p["action"], p["screen"], target=p["target"])
        )
        target = f"  →  {p['target_text']}" if p["target_text"] else ""
        self.next_action.setText(f"Next action (step {p['index'] + 1}): {p['uitars']}{target}")

    def _stepped(self, row: dict[str, Any]) -> None:
        self.steps.append(row)

    def _stats(self, stats: dict[str, Any]) -> None:
        self.fps_label.setText(f"{stats['fps']:.1f} fps")
        self.timings_label.setText(format_timings(stats["timings"]))

    def _ended(self, result: dict[str, Any]) -> None:
        ok = result.get("success")
        outcome = {True: "Succeeded", False: "Failed", None: "Ended"}[ok if ok in (True, False) else None]
        reason = result.get("reason") or ""
        self.statusBar().showMessage(f"{outcome} after {result['steps']} steps ({reason}), "
                                     f"{result['seconds']:.1f} s", 0)  # fmt: skip
        if result.get("trace") and Path(result["trace"]).exists():
            self.last_trace = result["trace"]
            self.open_last_act.setEnabled(True)

    # ------------------------------------------------------------------ confirmation and errors
    def ask_confirm(self, payload: dict[str, Any]) -> None:
        """Confirm-first on the live desktop: ask without blocking the event loop; the worker waits."""
        box = QMessageBox(QMessageBox.Icon.Question, "deskpilot: confirm action",
                          f"Step {payload['index'] + 1}: the agent wants to do\n\n{payload['uitars']}\n\nAllow it?",
                          QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No)  # fmt: skip
        box.setObjectName("confirmBox")
        box.setWindowFlag(Qt.WindowType.WindowStaysOnTopHint)  # visible while the window is minimised
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.finished.connect(lambda r: self._confirm_answered(r == QMessageBox.StandardButton.Yes))
        self.confirm_box = box
        box.open()

    def _confirm_answered(self, yes: bool) -> None:
        self.confirm_box = None
        self.controller.answer_confirm(yes)

    def show_error(self, message: str) -> None:
        """Tell the person what went wrong, in words, without blocking the event loop."""
        self.last_error = message
        self.statusBar().showMessage(message, 15000)
        box = QMessageBox(QMessageBox.Icon.Warning, "deskpilot", message, QMessageBox.StandardButton.Ok, self)
        box.setObjectName("errorBox")
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()

    # ------------------------------------------------------------------ inspector
    def show_inspector(self, path: str | None = None) -> InspectorWindow:
        if self.inspector is None:
            self.inspector = InspectorWindow(None, self.settings.recent_traces)
            self.inspector.opened.connect(self._trace_opened)
        if path:
            self.inspector.open_trace(path)
        self.inspector.show()
        self.inspector.raise_()
        return self.inspector

    def open_inspector_dialog(self) -> None:
        self.show_inspector().open_dialog()

    def inspect_last_run(self) -> None:
        if self.last_trace:
            self.show_inspector(self.last_trace)

    def _trace_opened(self, path: str) -> None:
        self.settings = replace(
            self.settings, recent_traces=push_front(self.settings.recent_traces, path, RECENT_LIMIT)
        )
        self.save()

    # ------------------------------------------------------------------ closing
    def closeEvent(self, event):
        """Stop a run cleanly before closing: wait for the worker; if it is still busy, close when idle."""
        self.save()
        if self.controller.busy and not self.controller.shutdown(5000):
            self._close_when_idle = True
            self.statusBar().showMessage("Stopping the agent; the window closes when it has stopped…")
            event.ignore()
            return
        if self.confirm_box is not None:
            self.confirm_box.close()
        if self.inspector is not None:
            self.inspector.close()
        event.accept()
