"""The sandbox expert: follows a task's plan using only the observation's ground-truth elements.

The plan (``task.meta["sandbox"]["plan"]``, see `agent.envs.sandbox.families`) names widgets by the
``name`` their elements carry in ``Element.state``; the expert finds them on screen, and acts only
through `agent.types` actions (clicks, drags, wheel, keys, text) — never through widget APIs — checking
the result on the next observation (checked? value? text?) and retrying or correcting. What a learned
policy must remember, the expert remembers too: codes read on an earlier page, clicks counted.

When the observation carries the sandbox's privileged widget state (``info["sandbox_state"]``: click
counts, true field texts), the expert judges every step by it instead of by what it did itself, so it can
label any state another policy led to (DAgger): "click Next" stays the answer until Next's count says so.

No Qt here: the expert runs anywhere observations with elements come from (sandbox, recorded traces).
"""

from __future__ import annotations

from typing import Any

from agent.types import Action, Click, Drag, Element, Finished, Hotkey, Observation, Scroll, Task, TypeText
from policies.base import Decision, Policy

_DONE = object()  # an op handler's "this step is complete, go on"


#: Length of a horizontal slider's handle in pixels (Qt's default style); an error of a few pixels is
#: corrected with keys afterwards.
SLIDER_HANDLE = 12.0
#: Kinds a mouse wheel passes through to the scroll area under them.
WHEEL_PASSES = frozenset({"button", "checkbox", "radio", "text_field", "link", "icon"})


def slider_point(
    box: tuple[float, float, float, float], value: float, lo: float, hi: float
) -> tuple[float, float]:
    """Where a horizontal slider's handle centre is at ``value`` (clamped to ``lo``..``hi``): it travels from
    half a handle inside the groove's left end (the minimum) to half a handle inside its right end."""
    x1, y1, x2, y2 = box
    frac = min(max((value - lo) / max(1, hi - lo), 0.0), 1.0)
    return x1 + SLIDER_HANDLE / 2 + frac * max(1.0, (x2 - x1) - SLIDER_HANDLE), (y1 + y2) / 2


class ExpertPolicy(Policy):
    """Scripted expert for sandbox tasks (needs ground-truth elements)."""

    name = "expert"

    def __init__(self, *, max_tries: int = 4, **_: Any):
        self.max_tries = max_tries
        self.plan: list[dict[str, Any]] = []
        self.memory: dict[str, str] = {}
        self.i = 0
        self.sub: dict[str, Any] = {}

    def reset(self, task: Task) -> None:
        meta = task.meta.get("sandbox", {}) if isinstance(task.meta, dict) else {}
        self.plan = list(meta.get("plan", []))
        self.memory, self.i, self.sub = {}, 0, {}
        self.priv: dict[str, Any] | None = None
        # how many clicks each click-like op's widget has in total once that op is done
        running: dict[str, int] = {}
        self.expected: list[int] = []
        for op in self.plan:
            if op["op"] in ("click", "page", "menu", "repeat_click"):
                running[op["name"]] = running.get(op["name"], 0) + int(op.get("times", 1))
            self.expected.append(running.get(op.get("name", ""), 0))

    def _count(self, name: str) -> int | None:
        """The widget's click count from privileged state (None without it)."""
        if self.priv is None:
            return None
        return int(self.priv.get("counts", {}).get(name, 0))

    # ------------------------------------------------------------------ main loop
    def act(self, observation: Observation, elements: list[Element]) -> Decision:
        # background apps' elements carry state["app"]; the task is about the app without one
        els = [e for e in (elements or observation.elements or []) if not e.state.get("app")]
        self.priv = observation.info.get("sandbox_state") if isinstance(observation.info, dict) else None
        w, h = observation.size
        for _ in range(len(self.plan) + 1):
            if self.i >= len(self.plan):
                return Decision(Finished(True, "plan complete"), info={"op": "finish"})
            op = self.plan[self.i]
            out = getattr(self, f"_op_{op['op']}")(op, els, (w, h))
            if out is _DONE:
                self.i += 1
                self.sub = {}
                continue
            if isinstance(out, Finished):
                return Decision(out, info={"op": op["op"], "step": self.i})
            action, target = out
            return Decision(action, target=target, info={"op": op["op"], "step": self.i})
        return Decision(Finished(False, "the plan did not advance"))

    def _give_up(self, why: str) -> Finished:
        return Finished(False, why)

    def _tries(self) -> int:
        self.sub["tries"] = self.sub.get("tries", 0) + 1
        return self.sub["tries"]

    # ------------------------------------------------------------------ finding things
    @staticmethod
    def find(els: list[Element], name: str, kind: str | None = None) -> Element | None:
        for e in els:
            if e.state.get("name") == name and (kind is None or e.kind == kind):
                return e
        return None

    def _scroll_to_find(self, els: list[Element], what: str) -> tuple[Action, None] | Finished:
        """The target is not on screen: wheel over a label of the topmost app window (down, then up)."""
        n = self.sub.get("search", 0)
        self.sub["search"] = n + 1
        if n >= 16:
            return self._give_up(f"could not find {what}")
        top = max((e.state.get("window", 0) for e in els), default=0)
        mine = [e for e in els if e.state.get("window") == top and e.state.get("name") != "title"]
        # over a label, else over anything that passes the wheel on to the scroll area (a wheel over a
        # slider, spin box or combo would change its value instead)
        spots = [e for e in mine if e.kind == "label"] or [e for e in mine if e.kind in WHEEL_PASSES]
        if not spots:
            return self._give_up(f"could not find {what}")
        x, y = spots[len(spots) // 2].center
        return Scroll(x, y, "down" if n < 8 else "up", 3), None

    @staticmethod
    def _click(e: Element, fx: float = 0.5) -> Click:
        x1, y1, x2, y2 = e.box
        return Click(x1 + (x2 - x1) * fx, (y1 + y2) / 2)

    # ------------------------------------------------------------------ ops
    def _op_click(self, op, els, size):
        count = self._count(op["name"])
        if (count is not None and count >= self.expected[self.i]) or (
            count is None and self.sub.get("clicked")
        ):
            return _DONE
        if count is not None and self._tries() > self.max_tries:
            return self._give_up(f"clicking {op['name']} has no effect")
        e = self.find(els, op["name"])
        if e is None:
            return self._scroll_to_find(els, op["name"])
        if e.state.get("enabled") is False:
            return self._give_up(f"{op['name']} is disabled")
        self.sub["clicked"] = True
        return self._click(e), e

    def _op_repeat_click(self, op, els, size):
        count = self._count(op["name"])
        done = self.sub.get("count", 0) if count is None else count - (self.expected[self.i] - op["times"])
        if done >= op["times"]:
            return _DONE
        if self._tries() > op["times"] + self.max_tries:
            return self._give_up(f"clicking {op['name']} has no effect")
        e = self.find(els, op["name"])
        if e is None:
            return self._scroll_to_find(els, op["name"])
        self.sub["count"] = done + 1
        return self._click(e), e

    def _op_check(self, op, els, size):
        e = self.find(els, op["name"])
        if e is None:
            return self._scroll_to_find(els, op["name"])
        if bool(e.state.get("checked")) == op["checked"]:
            return _DONE
        if self._tries() > self.max_tries:
            return self._give_up(f"{op['name']} does not toggle")
        return self._click(e, 0.3), e

    def _op_radio(self, op, els, size):
        e = next(
            (
                x
                for x in els
                if x.kind == "radio" and x.state.get("group") == op["name"] and x.text == op["option"]
            ),
            None,
        )
        if e is None:
            return self._scroll_to_find(els, f"{op['name']}={op['option']}")
        if e.state.get("checked"):
            return _DONE
        if self._tries() > self.max_tries:
            return self._give_up(f"radio {op['option']} does not select")
        return self._click(e, 0.3), e

    def _op_select(self, op, els, size):
        combo = self.find(els, op["name"], "combo")
        popup = [e for e in els if e.kind in ("menu_item", "list_item") and e.state.get("list") == op["name"]]
        if not popup:
            if combo is None:
                return self._scroll_to_find(els, op["name"])
            if combo.state.get("value") == op["option"]:
                return _DONE
            if self._tries() > self.max_tries:
                return self._give_up(f"combo {op['name']} does not open")
            return self._click(combo), combo
        item = next((e for e in popup if e.text == op["option"]), None)
        if item is None:  # a long popup: wheel over it
            return Scroll(*popup[len(popup) // 2].center, "down", 2), None
        return self._click(item), item

    def _op_tab(self, op, els, size):
        e = next((x for x in els if x.kind == "tab" and x.text == op["title"]), None)
        if e is None:
            return self._scroll_to_find(els, f"tab {op['title']}")
        if e.state.get("selected"):
            return _DONE
        if self._tries() > self.max_tries:
            return self._give_up(f"tab {op['title']} does not open")
        return self._click(e), e

    def _op_menu(self, op, els, size):
        count = self._count(op["name"])
        if (count is not None and count >= self.expected[self.i]) or (
            count is None and self.sub.get("clicked")
        ):
            return _DONE
        if self._tries() > 3 * self.max_tries:
            return self._give_up(f"menu item {op['item']} not reached")
        item = next((e for e in els if e.kind == "menu_item" and e.state.get("name") == op["name"]), None)
        if item is not None:
            self.sub["clicked"] = True
            return self._click(item), item
        for title in reversed(op["path"][1:]):  # an open parent menu shows the submenu entry
            sub = next(
                (e for e in els if e.kind == "menu_item" and e.text == title and e.state.get("submenu")), None
            )
            if sub is not None:
                return self._click(sub), sub
        top = next((e for e in els if e.kind == "menu" and e.text == op["path"][0]), None)
        if top is None:
            return self._give_up(f"no menu {op['path'][0]}")
        return self._click(top), top

    def _op_read(self, op, els, size):
        e = self.find(els, op["name"])
        if e is None:
            return self._scroll_to_find(els, op["name"])
        self.memory[op["key"]] = e.text
        return _DONE

    def _op_type_memory(self, op, els, size):
        return self._op_type({**op, "text": self.memory.get(op["key"], "")}, els, size)

    def _op_type(self, op, els, size):
        e = self.find(els, op["name"])
        if e is None:
            return self._scroll_to_find(els, op["name"])
        phase = self.sub.get("phase", 0)
        if phase == 0:
            true_text = (self.priv or {}).get("state", {}).get(op["name"], {}).get("text")
            if true_text is not None and e.kind != "spin":
                if true_text == op["text"]:
                    return _DONE
            elif self.sub.get("typed") and (e.text == op["text"] or e.state.get("password")):
                return _DONE
            if self._tries() > self.max_tries:
                return self._give_up(f"typing into {op['name']} failed")
            self.sub["phase"] = 1
            return self._click(e, 0.5), e
        if phase == 1:
            self.sub["phase"] = 2
            if e.text or e.state.get("password") or e.kind == "text_area":
                return Hotkey(("ctrl", "a")), e
        self.sub["phase"], self.sub["typed"] = 0, True
        return TypeText(op["text"], secret=bool(e.state.get("password"))), e

    def _op_set(self, op, els, size):
        e = self.find(els, op["name"])
        if e is None:
            return self._scroll_to_find(els, op["name"])
        if e.state.get("value") == op["value"]:
            return _DONE
        if e.kind == "spin":  # select the number and type the new one (the next check reads the value)
            return self._op_type({**op, "text": str(op["value"])}, els, size)
        return self._slider(op, e)

    def _slider(self, op, e: Element):
        lo, hi = e.state.get("min", 0), e.state.get("max", 100)
        value, target = e.state.get("value", lo), op["value"]
        n = self.sub.get("n", 0)
        self.sub["n"] = n + 1
        if n > 40:
            return self._give_up(f"slider {op['name']} not set")
        if n == 0:  # drag the handle about there; the keys below fix the last steps
            x, y = slider_point(e.box, value, lo, hi)
            x_to, _ = slider_point(e.box, target, lo, hi)
            return Drag(x, y, min(x_to, e.box[2] - 1), y), e
        diff = target - value
        page = max(1, (hi - lo) // 10)
        if abs(diff) >= page:
            return Hotkey(("pageup" if diff > 0 else "pagedown",)), e
        return Hotkey(("right" if diff > 0 else "left",)), e

    def _op_scroll_find(self, op, els, size):
        items = [e for e in els if e.kind == "list_item" and e.state.get("list") == op["name"]]
        if not items:
            return self._scroll_to_find(els, f"list {op['name']}")
        hit = next((e for e in items if e.text == op["item"]), None)
        if hit is not None:
            if hit.state.get("selected"):
                return _DONE
            if self._tries() > self.max_tries:
                return self._give_up(f"{op['item']} does not select")
            return self._click(hit), hit
        n = self.sub.get("scrolls", 0)
        self.sub["scrolls"] = n + 1
        if n > 60:
            return self._give_up(f"{op['item']} not found in {op['name']}")
        texts = [e.text for e in items]
        down = op["item"] > max(texts) if op.get("sorted", True) else n < 30
        mid = items[len(items) // 2]
        return Scroll(*mid.center, "down" if down else "up", 3), mid

    def _op_page(self, op, els, size):  # reserved for task files: click a named page button
        return self._op_click(op, els, size)
