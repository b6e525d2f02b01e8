"""Task families: which app templates they use, how they are worded, what counts as success, and the plan
the expert follows. `generate(family, split, index)` makes one `SandboxTask`, deterministically.

Every family has a dozen-odd paraphrased instruction templates; the last quarter of them (see
`agent.envs.sandbox.splits`) are only used in the heldout split, like the held-out app templates.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from agent.envs.sandbox import vocab as V
from agent.envs.sandbox.spec import walk
from agent.envs.sandbox.splits import HELDOUT_INSTRUCTION_FRACTION, HELDOUT_TEMPLATES, check_split, split_seed
from agent.envs.sandbox.tasks import SandboxTask
from agent.envs.sandbox.templates import make_spec
from agent.errors import TaskError

Made = dict[str, Any]  # {"slots": {...}, "success": [...], "plan": [...]}


@dataclass(frozen=True)
class Family:
    name: str
    templates: tuple[str, ...]
    instructions: tuple[str, ...]
    make: Callable[[random.Random, dict[str, Any]], Made | None]
    max_steps: int = 40
    # what the targets are stated for: "single" (one control), "multi" (several controls or pages in
    # order) or "memory" (needs what an earlier screen showed or what was done before)
    group: str = "single"

    @property
    def n_heldout_instructions(self) -> int:
        return max(1, round(len(self.instructions) * HELDOUT_INSTRUCTION_FRACTION))

    def instruction_ids(self, heldout: bool) -> list[int]:
        cut = len(self.instructions) - self.n_heldout_instructions
        return list(range(cut, len(self.instructions))) if heldout else list(range(cut))


FAMILIES: dict[str, Family] = {}


def register_family(family: Family) -> None:
    """Add a family (from outside the package too); later registrations win."""
    FAMILIES[family.name] = family


def family(name: str) -> Family:
    if name not in FAMILIES:
        raise TaskError(f"unknown task family {name!r}; known: {', '.join(sorted(FAMILIES))}")
    return FAMILIES[name]


# ------------------------------------------------------------------------------------------ spec helpers
def visible(spec: dict[str, Any]) -> list[dict[str, Any]]:
    """Nodes shown when the app opens: other tabs and wizard pages are skipped."""
    out: list[dict[str, Any]] = []

    def rec(node: dict[str, Any]) -> None:
        out.append(node)
        t = node.get("type")
        if t == "tabs":
            tabs = node.get("tabs", [])
            if tabs:
                rec(tabs[0]["child"])
            return
        if t == "pages":
            pages = node.get("pages", [])
            if pages:
                rec(pages[0])
            return
        from agent.envs.sandbox.spec import children

        for c in children(node):
            rec(c)

    for window in spec["windows"]:
        rec(window["body"])
    return out


def of(nodes: list[dict[str, Any]], *types: str) -> list[dict[str, Any]]:
    return [n for n in nodes if n.get("type") in types and n.get("name")]


def labels(spec: dict[str, Any]) -> dict[str, str]:
    """Field name → the words a person would use for it (its form label, else its placeholder)."""
    out: dict[str, str] = {}
    for window in spec["windows"]:
        for node in walk(window["body"]):
            if node.get("type") == "form":
                for label, child in node.get("rows", []):
                    if child.get("name") and label:
                        out[child["name"]] = label.rstrip(":")
            elif node.get("type") == "field" and node.get("name") and node.get("placeholder"):
                out.setdefault(
                    node["name"], node["placeholder"].rstrip("…").replace("Enter ", "").capitalize()
                )
    return out


def _group_title(spec: dict[str, Any], name: str) -> str:
    for node in (n for w in spec["windows"] for n in walk(w["body"])):
        if node.get("type") == "group" and node.get("child", {}).get("name") == name:
            return node.get("title", name)
    return name


def cond(name: str, prop: str, value: Any, op: str = "eq") -> dict[str, Any]:
    return {"name": name, "prop": prop, "op": op, "value": value}


def _other(rng: random.Random, options: list[Any], current: Any) -> Any:
    choices = [o for o in options if o != current]
    return rng.choice(choices) if choices else None


# ------------------------------------------------------------------------------------------ makers
def _click_button(rng: random.Random, spec: dict) -> Made | None:
    buttons = of(visible(spec), "button")
    if not buttons:
        return None
    target = rng.choice(buttons)
    others = [b for b in buttons if b is not target][:3]
    success = [cond(target["name"], "clicks", 1, "ge")] + [cond(b["name"], "clicks", 0) for b in others]
    return {
        "slots": {"button": target["text"]},
        "success": success,
        "plan": [{"op": "click", "name": target["name"]}],
    }


def _type_text(rng: random.Random, spec: dict) -> Made | None:
    names = labels(spec)
    fields = [f for f in of(visible(spec), "field") if f["name"] in names]
    if not fields:
        return None
    f = rng.choice(fields)
    value = V.value_for(names[f["name"]], rng)
    return {"slots": {"field": names[f["name"]], "text": value}, "success": [cond(f["name"], "text", value)],
            "plan": [{"op": "type", "name": f["name"], "text": value}]}  # fmt: skip


def _check_words(desired: bool) -> dict[str, str]:
    return {"verb": "Check" if desired else "Uncheck", "verb_l": "check" if desired else "uncheck",
            "state": "checked" if desired else "unchecked", "onoff": "on" if desired else "off",
            "enable": "enable" if desired else "disable"}  # fmt: skip


def _toggle(rng: random.Random, spec: dict) -> Made | None:
    boxes = of(visible(spec), "checkbox")
    if not boxes:
        return None
    b = rng.choice(boxes)
    desired = not b.get("checked", False)
    return {"slots": {"option": b["text"], **_check_words(desired)}, "success": [cond(b["name"], "checked", desired)],
            "plan": [{"op": "check", "name": b["name"], "checked": desired}]}  # fmt: skip


def _radio(rng: random.Random, spec: dict) -> Made | None:
    groups = of(visible(spec), "radios")
    if not groups:
        return None
    g = rng.choice(groups)
    option = _other(rng, g["options"], g.get("value"))
    return {"slots": {"option": option, "group": _group_title(spec, g["name"])},
            "success": [cond(g["name"], "value", option)], "plan": [{"op": "radio", "name": g["name"], "option": option}]}  # fmt: skip


def _combo(rng: random.Random, spec: dict) -> Made | None:
    combos = of(visible(spec), "combo")
    if not combos:
        return None
    c = rng.choice(combos)
    option = _other(rng, c["options"], c.get("value"))
    return {"slots": {"option": option, "combo": labels(spec).get(c["name"], c["name"])},
            "success": [cond(c["name"], "value", option)], "plan": [{"op": "select", "name": c["name"], "option": option}]}  # fmt: skip


def _value(rng: random.Random, spec: dict, kind: str) -> Made | None:
    nodes = of(visible(spec), kind)
    if not nodes:
        return None
    n = rng.choice(nodes)
    lo, hi, cur = n.get("min", 0), n.get("max", 100), n.get("value", 0)
    value = cur
    while abs(value - cur) < (5 if kind == "slider" else 1):
        value = rng.randint(lo, hi)
    return {"slots": {"value": value, "label": labels(spec).get(n["name"], n["name"])},
            "success": [cond(n["name"], "value", value)], "plan": [{"op": "set", "name": n["name"], "value": value}]}  # fmt: skip


def _tab_act(rng: random.Random, spec: dict) -> Made | None:
    tabs = next((n for n in walk(spec["windows"][0]["body"]) if n.get("type") == "tabs"), None)
    if tabs is None or len(tabs["tabs"]) < 2:
        return None
    tab = rng.choice(tabs["tabs"][1:])
    boxes = of(list(walk(tab["child"])), "checkbox")
    if not boxes:
        return None
    b = rng.choice(boxes)
    desired = not b.get("checked", False)
    return {"slots": {"tab": tab["title"], "option": b["text"], **_check_words(desired)},
            "success": [cond(b["name"], "checked", desired), cond(tabs["name"], "value", tab["title"])],
            "plan": [{"op": "tab", "name": tabs["name"], "title": tab["title"]},
                     {"op": "check", "name": b["name"], "checked": desired}]}  # fmt: skip


def _menu(rng: random.Random, spec: dict) -> Made | None:
    from agent.envs.sandbox.spec import menu_items

    items = [it for it in menu_items(spec["windows"][0].get("menu", [])) if it.get("name")]
    if not items:
        return None
    it = rng.choice(items)
    path = " > ".join([*it["path"], it["text"]])
    return {"slots": {"item": it["text"].rstrip("…"), "menu": it["path"][0], "path": path},
            "success": [cond(it["name"], "clicks", 1, "ge")],
            "plan": [{"op": "menu", "name": it["name"], "path": it["path"], "item": it["text"]}]}  # fmt: skip


_SUBMIT = ("Sign in", "Log in", "Create account", "Place order", "Send")


def _fill_form(rng: random.Random, spec: dict) -> Made | None:
    names = labels(spec)
    nodes = visible(spec)
    fields = [f for f in of(nodes, "field") if f["name"] in names]
    submit = next((b for b in of(nodes, "button") if b["text"] in _SUBMIT), None)
    if len(fields) < 2 or submit is None:
        return None
    fields = sorted(rng.sample(fields, min(len(fields), rng.randint(2, 4))), key=lambda f: nodes.index(f))
    if spec.get("list_order"):  # listed (and filled) in another order than the form's (train/val only)
        random.Random(spec["list_order"]).shuffle(fields)
    values = {f["name"]: V.value_for(names[f["name"]], rng) for f in fields}
    plan: list[dict] = [{"op": "type", "name": n, "text": v} for n, v in values.items()]
    success = [cond(n, "text", v) for n, v in values.items()]
    parts = [f"{names[n]}: {v}" for n, v in values.items()]
    terms = next((b for b in of(nodes, "checkbox") if b["name"] == "accept_terms"), None)
    if terms is not None:
        plan.append({"op": "check", "name": "accept_terms", "checked": True})
        success.append(cond("accept_terms", "checked", True))
        parts.append("accept the terms")
    plan.append({"op": "click", "name": submit["name"]})
    success.append(cond(submit["name"], "clicks", 1, "ge"))
    return {"slots": {"fields": ", ".join(parts), "submit": submit["text"]}, "success": success, "plan": plan}


def _wizard(rng: random.Random, spec: dict) -> Made | None:
    nodes = [n for w in spec["windows"] for n in walk(w["body"])]
    install = next((n for n in nodes if n.get("name") == "install_type"), None)
    if install is None:
        return None
    option = rng.choice(install["options"])
    device = f"{rng.choice(V.FIRST)}-{rng.choice(('laptop', 'desktop', 'tablet', 'pc', 'studio'))}"
    plan = [{"op": "click", "name": "next"}, {"op": "radio", "name": "install_type", "option": option},
            {"op": "click", "name": "next"}, {"op": "type", "name": "device_name", "text": device},
            {"op": "click", "name": "finish"}]  # fmt: skip
    success = [
        cond("install_type", "value", option),
        cond("device_name", "text", device),
        cond("app", "finished", True),
    ]
    return {"slots": {"install": option, "device": device}, "success": success, "plan": plan}


def _code(rng: random.Random, spec: dict) -> Made | None:
    nodes = [n for w in spec["windows"] for n in walk(w["body"])]
    code = next((n["text"] for n in nodes if n.get("name") == "code"), None)
    if code is None:
        return None
    plan = [{"op": "read", "name": "code", "key": "code"}, {"op": "click", "name": "next"},
            {"op": "click", "name": "next"}, {"op": "type_memory", "name": "code_input", "key": "code"},
            {"op": "click", "name": "finish"}]  # fmt: skip
    return {
        "slots": {},
        "success": [cond("code_input", "text", code), cond("app", "finished", True)],
        "plan": plan,
    }


def _click_n(rng: random.Random, spec: dict) -> Made | None:
    buttons = {b["text"]: b for b in of(visible(spec), "button")}
    done = buttons.get("Done")
    target = next(
        (b for t, b in buttons.items() if t in ("Add", "Like", "Increment", "Plus one", "Vote", "Next item")),
        None,
    )
    if done is None or target is None:
        return None
    n = rng.randint(2, 6)
    return {"slots": {"button": target["text"], "n": n, "n_words": _WORDS[n]},
            "success": [cond(target["name"], "clicks", n), cond("done", "clicks", 1, "ge")],
            "plan": [{"op": "repeat_click", "name": target["name"], "times": n}, {"op": "click", "name": "done"}]}  # fmt: skip


_WORDS = {2: "twice", 3: "three times", 4: "four times", 5: "five times", 6: "six times"}


def _change(rng: random.Random, node: dict, spec: dict) -> tuple[str, dict, dict, dict] | None:
    """(words, plan step, condition, restore step) for changing ``node`` away from its initial value."""
    name = node["name"]
    if node["type"] == "checkbox":
        want = not node.get("checked", False)
        words = f"{'check' if want else 'uncheck'} '{node['text']}'"
        return words, {"op": "check", "name": name, "checked": want}, cond(name, "checked", want), \
            {"op": "check", "name": name, "checked": not want}  # fmt: skip
    if node["type"] == "combo":
        opt = _other(rng, node["options"], node.get("value"))
        words = f"set {labels(spec).get(name, name)} to '{opt}'"
        return words, {"op": "select", "name": name, "option": opt}, cond(name, "value", opt), \
            {"op": "select", "name": name, "option": node.get("value")}  # fmt: skip
    if node["type"] == "spin":
        v = node.get("value", 0)
        new = _other(rng, list(range(node.get("min", 0), node.get("max", 100) + 1)), v)
        words = f"set {labels(spec).get(name, name)} to {new}"
        return words, {"op": "set", "name": name, "value": new}, cond(name, "value", new), \
            {"op": "set", "name": name, "value": v}  # fmt: skip
    return None


def _undo(rng: random.Random, spec: dict) -> Made | None:
    nodes = of(visible(spec), "checkbox", "combo", "spin")
    firsts = [
        n for n in nodes if n["type"] in ("checkbox", "combo") and (n["type"] != "combo" or n.get("value"))
    ]
    if len(nodes) < 2 or not firsts:
        return None
    a = rng.choice(firsts)
    b = rng.choice([n for n in nodes if n is not a])
    ca, cb = _change(rng, a, spec), _change(rng, b, spec)
    if ca is None or cb is None:
        return None
    restore_cond = (
        cond(a["name"], "checked", not ca[2]["value"])
        if a["type"] == "checkbox"
        else cond(a["name"], "value", a.get("value"))
    )
    success = [restore_cond, cond(a["name"], "count", 2, "ge"), cb[2]]
    return {"slots": {"first": ca[0], "second": cb[0]}, "success": success, "plan": [ca[1], cb[1], ca[3]]}


def _scroll_find(rng: random.Random, spec: dict) -> Made | None:
    lists = of(visible(spec), "list")
    lists = [lst for lst in lists if len(lst.get("items", [])) >= 30]
    if not lists:
        return None
    lst = rng.choice(lists)
    item = rng.choice(lst["items"][20:])
    return {"slots": {"item": item}, "success": [cond(lst["name"], "value", item)],
            "plan": [{"op": "scroll_find", "name": lst["name"], "item": item}]}  # fmt: skip


# ------------------------------------------------------------------------------------------ the families
def _f(
    name: str,
    templates: tuple[str, ...],
    instructions: tuple[str, ...],
    make,
    max_steps: int = 40,
    group: str = "single",
) -> None:
    register_family(Family(name, templates, instructions, make, max_steps, group))


_f("click_button", ("login", "settings", "search", "checkout", "files", "counter", "message", "contacts", "mail", "clicker"), (
    "Click the '{button}' button.", "Press {button}.", "Hit the \"{button}\" button.", "Click {button}.",
    "Find the {button} button and click it.", "Please press '{button}'.", "Go ahead and click “{button}”.",
    "Use the {button} button.", "Click on '{button}'.", "Activate the {button} button.",
    "Tap {button}.", "I need you to press the button labelled {button}.",
), _click_button)  # fmt: skip
_f("type_text", ("login", "signup", "checkout", "search", "contacts", "mail"), (
    "Type '{text}' into the {field} field.", "Enter {text} in {field}.", "Set the {field} field to \"{text}\".",
    "Fill {field} with '{text}'.", "Write {text} in the {field} box.", "Put '{text}' in {field}.",
    "In the {field} field, type {text}.", "Change {field} to '{text}'.", "Input \"{text}\" as the {field}.",
    "{field} should read '{text}' — type it in.", "Key in {text} for {field}.", "Make the {field} field say '{text}'.",
), _type_text)  # fmt: skip
_f("toggle_checkbox", ("settings", "signup", "login", "search", "media", "checkout", "mail"), (
    "{verb} '{option}'.", "{verb} the {option} box.", "Make sure '{option}' is {state}.", "Turn {onoff} {option}.",
    "Set {option} to {onoff}.", "Please {verb_l} “{option}”.", "{option} should be {state}.",
    "Switch {option} {onoff}.", "I want {option} {state}.", "Leave '{option}' {state}.",
    "Can you {enable} {option}?", "Toggle {option} so that it ends up {state}.",
), _toggle)  # fmt: skip
_f("pick_radio", ("signup", "search", "checkout", "survey"), (
    "Select '{option}' under {group}.", "Choose {option} for {group}.", "Pick the {option} option.",
    "Set {group} to {option}.", "Mark '{option}' as the {group}.", "Under {group}, choose “{option}”.",
    "Click the {option} radio button.", "Go with {option} for {group}.", "Switch {group} to '{option}'.",
    "{group}: {option}, please.", "Make {option} the selected {group}.", "Opt for {option} in {group}.",
), _radio)  # fmt: skip
_f("choose_combo", ("settings", "signup", "search", "checkout", "prefs_tabs", "survey"), (
    "Choose '{option}' from the {combo} drop-down.", "Set {combo} to {option}.", "Select {option} as {combo}.",
    "Pick “{option}” in the {combo} list.", "Change {combo} to '{option}'.", "Open {combo} and choose {option}.",
    "Use {option} for {combo}.", "Make {combo} say {option}.", "{combo} should be '{option}'.",
    "In the {combo} menu, pick {option}.", "Switch the {combo} setting to {option}.", "I'd like {combo} set to “{option}”.",
), _combo)  # fmt: skip
_f("set_spin", ("settings", "checkout", "media", "survey"), (
    "Set {label} to {value}.", "Change {label} to {value}.", "Enter {value} for {label}.",
    "Make {label} {value}.", "Adjust the {label} box to {value}.", "{label} should be {value}.",
    "Type {value} into {label}.", "Put {label} at {value}.", "Update {label} to {value}.",
    "I need {label} = {value}.", "Use a {label} of {value}.", "Dial {label} to {value}.",
), lambda rng, spec: _value(rng, spec, "spin"))  # fmt: skip
_f("set_slider", ("settings", "media", "survey"), (
    "Set the {label} slider to {value}.", "Drag {label} to {value}.", "Move the {label} slider to {value}.",
    "Adjust {label} to {value}.", "Change {label} to {value}.", "Make {label} {value}.",
    "Slide {label} to {value}.", "Put the {label} at {value}.", "{label} should be at {value}.",
    "Bring {label} to exactly {value}.", "I want the {label} level at {value}.", "Tune {label} to {value}.",
), lambda rng, spec: _value(rng, spec, "slider"))  # fmt: skip
_f("tab_then_act", ("prefs_tabs",), (
    "Go to the {tab} tab and {verb_l} '{option}'.", "Open {tab}, then {verb_l} {option}.",
    "In the {tab} tab, make sure '{option}' is {state}.", "Switch to {tab} and turn {onoff} {option}.",
    "On the {tab} page, {verb_l} “{option}”.", "Under {tab}, set {option} {onoff}.",
    "Find '{option}' on the {tab} tab and {verb_l} it.", "{tab} tab: {option} should be {state}.",
    "Visit {tab} and {enable} {option}.", "Click the {tab} tab, then {verb_l} '{option}'.",
    "Inside {tab}, leave {option} {state}.", "Over in {tab}, toggle {option} so it is {state}.",
), _tab_act, group="multi")  # fmt: skip
_f("menu_command", ("editor", "mail"), (
    "Use the menu to run {path}.", "Choose {path} from the menu bar.", "Open the {menu} menu and click {item}.",
    "Run the {item} command from {menu}.", "Click {menu}, then {item}.", "Select {path}.",
    "From the {menu} menu, choose “{item}”.", "Go to {path}.", "Trigger {item} in the {menu} menu.",
    "Invoke {path} via the menus.", "Menu: {path}.", "Find {item} under {menu} and run it.",
), _menu, group="multi")  # fmt: skip
_f("fill_form", ("login", "signup", "checkout", "mail"), (
    "Fill in the form ({fields}) and click {submit}.", "Enter {fields}, then press {submit}.",
    "Complete the form with {fields}; submit with '{submit}'.", "Use these details — {fields} — and hit {submit}.",
    "Fill out {fields}. Then click “{submit}”.", "Type {fields} into the form and press {submit}.",
    "Set {fields}, then {submit}.", "Please enter {fields} and finish with {submit}.",
    "Form: {fields}. Submit: {submit}.", "Provide {fields} and then click the {submit} button.",
    "Put in {fields} before pressing {submit}.", "Register these values: {fields}; then {submit}.",
), _fill_form, max_steps=50, group="multi")  # fmt: skip
_f("wizard", ("wizard", "wizard_side"), (
    "Go through the setup: choose '{install}' install, name the device {device}, and finish.",
    "Complete the wizard with a {install} installation and the device name '{device}'.",
    "Run the installer: pick {install}, call the device {device}, then finish.",
    "Step through the wizard choosing {install} and naming the device “{device}”.",
    "Finish the setup using {install} install type and device name {device}.",
    "Select the {install} install on the options page, enter {device} as device name, and complete it.",
    "Do the setup: {install} install, device '{device}', done.", "Walk the wizard to the end: {install}, {device}.",
    "Set up with {install} and device name {device}, then click through to finish.",
    "Take the {install} path in the wizard and name this device {device}.",
    "Configure: install type {install}; device name {device}; finish the wizard.",
    "Please finish the assistant choosing {install} and naming the machine {device}.",
), _wizard, group="multi")  # fmt: skip
_f("code_transfer", ("wizard", "wizard_side"), (
    "Note the code on the first page and enter it on the last page, then finish.",
    "Remember the code shown at the start; type it into the code field at the end and finish.",
    "Copy the setup code from page one into the 'Enter code' box on the last page, then finish.",
    "Read the code on the welcome page, go to the last page, enter it, and complete the wizard.",
    "The first page shows a code. Carry it to the final page and finish.",
    "Memorise the activation code, click through to the end, type it in and finish.",
    "Take the code from the beginning of the wizard and enter it at the end.",
    "Enter the code displayed on page 1 when you reach page 3, then click finish.",
    "Keep the code from the first screen in mind and submit it on the last screen.",
    "Transfer the code you see first into the field on the final step and finish up.",
    "Look at the code, advance two pages, and enter that same code before finishing.",
    "Finish the wizard, entering the code it showed you at the start.",
), _code, group="memory")  # fmt: skip
_f("click_n", ("counter", "clicker"), (
    "Click '{button}' exactly {n} times, then press Done.", "Press {button} {n_words}, and then Done.",
    "Hit {button} {n} times (no more, no less), then click Done.", "Click {button} {n_words} and finish with Done.",
    "Give {button} exactly {n} clicks, then Done.", "Press the {button} button {n} times. Then press Done.",
    "Tap {button} {n_words}; afterwards click Done.", "Do {n} clicks on {button}, then click Done.",
    "{button} × {n}, then Done.", "Click the {button} button precisely {n} times before pressing Done.",
    "Use {button} exactly {n_words}, then confirm with Done.", "Count out {n} presses of {button}, then hit Done.",
), _click_n, max_steps=20, group="memory")  # fmt: skip
_f("undo_two_back", ("settings", "survey"), (
    "First {first}, then {second}, then undo the change you made two steps ago.",
    "{first}; next, {second}; finally revert your first change.",
    "Please {first} and {second}, then undo whatever you did two steps before.",
    "Do this: {first}, {second}, and then take back the first of those changes.",
    "{first}. After that, {second}. Then undo the step from two actions ago.",
    "Start by making this change: {first}. Then {second}. Then reverse the first change.",
    "Make two changes ({first}; then {second}), then undo the earlier one.",
    "{first}, then {second}, then put the first setting back the way it was.",
    "Step 1: {first}. Step 2: {second}. Step 3: undo step 1.",
    "Go ahead and {first}, then {second}; then change back what you did first.",
    "{first} and then {second} — after that, undo the change before the last one.",
    "Apply '{first}', then '{second}', then roll back the one you applied two steps ago.",
), _undo, group="memory")  # fmt: skip
_f("scroll_find", ("files", "contacts"), (
    "Scroll the list to find '{item}' and select it.", "Find {item} in the list and click it.",
    "Select “{item}” — you may need to scroll.", "Locate {item} in the list and select it.",
    "Look for '{item}' further down the list and pick it.", "Pick {item} from the list.",
    "Scroll until you see {item}, then select it.", "Highlight the entry '{item}'.",
    "Choose the {item} entry in the list.", "Search the list by scrolling for {item} and select it.",
    "Bring {item} into view and click it.", "The list contains '{item}'; select that entry.",
), _scroll_find, group="multi")  # fmt: skip


# ------------------------------------------------------------------------------------------ generation
#: Share of train/val tasks whose app shows its content in a short scrolled viewport (`SCROLLED_HEIGHT`
#: pixels), so that reaching a field can take scrolling first, as in the held-out survey. Held-out tasks
#: are never changed by it.
SCROLLED_SHARE = 0.2
SCROLLED_HEIGHT = (130, 260)
#: Share of train/val forms whose instruction lists the fields in another order than the form shows them
#: (the expert fills them in the listed order), so the policy follows the list, not the layout.
SHUFFLED_SHARE = 0.5
#: Templates never scrolled so: a wizard keeps its Back/Next buttons in view, a message box is small.
UNSCROLLED = frozenset({"wizard", "message"})


def generate(name: str, split: str, index: int, *, seed: int = 0) -> SandboxTask:
    """Task ``index`` of family ``name`` in ``split`` (deterministic; see `agent.envs.sandbox.splits`)."""
    fam = family(name)
    check_split(split)
    task_seed = split_seed(split, index, seed)
    rng = random.Random(f"task:{name}:{task_seed}")
    train_t = [t for t in fam.templates if t not in HELDOUT_TEMPLATES]
    held_t = [t for t in fam.templates if t in HELDOUT_TEMPLATES]
    if split == "heldout" and held_t and (rng.random() < 0.5 or not train_t):
        template = rng.choice(held_t)
        instr = rng.choice(range(len(fam.instructions)))
    elif split == "heldout":
        template = rng.choice(train_t)
        instr = rng.choice(fam.instruction_ids(heldout=True))
    else:
        template = rng.choice(train_t)
        instr = rng.choice(fam.instruction_ids(heldout=False))
    extra: dict[str, int] = {}
    order = 0
    if split != "heldout":  # own streams: the split's other draws stay as they were
        srng = random.Random(f"scroll:{name}:{task_seed}")
        if srng.random() < SCROLLED_SHARE and template not in UNSCROLLED:
            extra["scroll"] = srng.randint(*SCROLLED_HEIGHT)
        orng = random.Random(f"order:{name}:{task_seed}")
        order = orng.randrange(1, 10**9) if orng.random() < SHUFFLED_SHARE else 0
    for _ in range(40):
        content = rng.randrange(10**9)
        spec = make_spec(template, content, extra)
        if order:
            spec["list_order"] = order
        made = fam.make(rng, spec)
        if made is not None:
            break
    else:  # pragma: no cover - every registered template fits its families
        raise TaskError(f"family {name!r} found nothing to do in template {template!r}")
    instruction = fam.instructions[instr].format(**made["slots"])
    return SandboxTask(
        instruction=instruction[0].upper() + instruction[1:], success=made["success"], template=template,
        params={"seed": content, **extra}, plan=made["plan"], family=name, seed=task_seed, split=split,
        id=f"{name}-{split}-{task_seed}", instruction_template=instr, max_steps=fam.max_steps,
    )  # fmt: skip


def generate_split(
    split: str, n: int, *, seed: int = 0, families: list[str] | None = None
) -> list[SandboxTask]:
    """``n`` tasks of ``split``, cycling through the families (all registered ones by default)."""
    names = sorted(families or FAMILIES)
    for f in names:
        family(f)
    return [generate(names[i % len(names)], split, i // len(names), seed=seed) for i in range(n)]
