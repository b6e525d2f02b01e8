"""App specs: a generated app as plain JSON-able data, before any Qt widget exists.

Templates (`agent.envs.sandbox.templates`) return a spec; `agent.envs.sandbox.render` turns it into real
Qt widgets. Keeping the spec Qt-free lets task generation, splits and task files work without Qt, and lets
a task file declare a whole new app.

A spec is ``{"windows": [window, ...]}``; a window is::

    {"title": str, "body": node, "menu": [menu, ...]?, "toolbar": [tool, ...]?, "status": str?,
     "size": [w, h]?, "pos": [x, y]?, "dialog": bool?}

A node is a dict with a ``type`` (the leaf and container types are listed in `NODE_TYPES`), an optional
``name`` (the handle predicates, the expert and ground truth use) and type-specific fields:

    vbox/hbox {children}            form {rows: [[label, node], ...]}      group {title, child}
    tabs {tabs: [{title, child}]}   pages {pages: [node, ...]} (+ Back/Next/Finish)   scroll {child, height}
    button {text, opens?}           tool {icon, tip}        field {label?, placeholder?, password?, text?}
    text_area {text?}               checkbox {text, checked?}   radios {options, value?, title?}
    combo {options, value?}         spin {min, max, value, suffix?}   slider {min, max, value, show_value?}
    progress {value}                label/heading/paragraph/link/code {text}   icon {icon}   image {w, h, seed}
    list {items, height?}           separator {}      stretch {}

A menu is ``{"title": str, "items": [{"text", "name"?, "items"?} | "-"]}``; a tool is ``{"icon", "tip", "name"?}``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from agent.errors import TaskError

CONTAINERS = ("vbox", "hbox", "form", "group", "tabs", "pages", "scroll")
LEAVES = (
    "button", "tool", "field", "text_area", "checkbox", "radios", "combo", "spin", "slider", "progress",
    "label", "heading", "paragraph", "link", "code", "icon", "image", "list", "separator", "stretch",
)  # fmt: skip
NODE_TYPES = CONTAINERS + LEAVES

#: Icon names a spec may use (``tool``, ``icon`` nodes); `render.ICONS` maps them to Qt's standard icons.
ICON_NAMES = (
    "save", "open", "new", "folder", "trash", "reload", "stop", "play", "pause", "next", "prev", "volume",
    "home", "computer", "drive", "info", "warning", "error", "question", "back", "forward", "up", "help",
    "apply", "close", "list", "detail", "network", "desktop", "link",
)  # fmt: skip

#: Names the wizard navigation buttons of a ``pages`` node get.
WIZARD_BUTTONS = ("back", "next", "finish")


def children(node: dict[str, Any]) -> list[dict[str, Any]]:
    """The direct child nodes of ``node`` (form rows give their field nodes)."""
    t = node.get("type")
    if t in ("vbox", "hbox"):
        return list(node.get("children", []))
    if t == "form":
        return [row[1] for row in node.get("rows", [])]
    if t in ("group", "scroll"):
        return [node["child"]] if "child" in node else []
    if t == "tabs":
        return [tab["child"] for tab in node.get("tabs", []) if "child" in tab]
    if t == "pages":
        return list(node.get("pages", []))
    return []


def walk(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Depth-first over ``node`` and all nodes below it."""
    yield node
    for child in children(node):
        yield from walk(child)


def walk_app(spec: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for window in spec.get("windows", []):
        yield from walk(window["body"])


def named(spec: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """name → node for every named node, menu item and tool of the app."""
    out: dict[str, dict[str, Any]] = {}
    for node in walk_app(spec):
        if node.get("name"):
            out[node["name"]] = node
    for window in spec.get("windows", []):
        for item in menu_items(window.get("menu", [])):
            if item.get("name"):
                out[item["name"]] = {"type": "menu_item", **item}
        for tool in window.get("toolbar", []):
            if tool.get("name"):
                out[tool["name"]] = {"type": "tool", **tool}
    return out


def menu_items(menus: list[Any], path: tuple[str, ...] = ()) -> Iterator[dict[str, Any]]:
    """Every menu item (submenus included), with ``path``: the titles to open on the way."""
    for menu in menus:
        if not isinstance(menu, dict):
            continue
        here = (*path, menu.get("title", menu.get("text", "")))
        for item in menu.get("items", []):
            if not isinstance(item, dict):
                continue
            if item.get("items"):
                yield from menu_items([item], path=here)
            else:
                yield {**item, "path": list(here)}


def validate(spec: Any, where: str = "app") -> dict[str, Any]:
    """Check the shape of an app spec; raise TaskError naming the first problem."""
    if not isinstance(spec, dict) or not isinstance(spec.get("windows"), list) or not spec["windows"]:
        raise TaskError(f"{where}: an app spec needs a non-empty 'windows' list")
    seen: set[str] = set()
    for i, window in enumerate(spec["windows"]):
        w = f"{where}.windows[{i}]"
        if not isinstance(window, dict) or not isinstance(window.get("body"), dict):
            raise TaskError(f"{w}: a window needs a 'body' node")
        _validate_node(window["body"], f"{w}.body", seen)
    return spec


def _validate_node(node: Any, where: str, seen: set[str]) -> None:
    if not isinstance(node, dict):
        raise TaskError(f"{where}: a node must be an object, got {type(node).__name__}")
    t = node.get("type")
    if t not in NODE_TYPES:
        raise TaskError(f"{where}: unknown node type {t!r}; known: {', '.join(NODE_TYPES)}")
    name = node.get("name")
    if name is not None:
        if not isinstance(name, str) or not name:
            raise TaskError(f"{where}: 'name' must be a non-empty string")
        if name in seen:
            raise TaskError(f"{where}: duplicate name {name!r}")
        seen.add(name)
    if t in ("combo", "radios") and not node.get("options"):
        raise TaskError(f"{where}: a {t} needs a non-empty 'options' list")
    if t in ("spin", "slider"):
        lo, hi = node.get("min", 0), node.get("max", 100)
        if not (isinstance(lo, int) and isinstance(hi, int) and lo < hi):
            raise TaskError(f"{where}: a {t} needs integer min < max")
    if t == "form" and not all(isinstance(r, list | tuple) and len(r) == 2 for r in node.get("rows", [])):
        raise TaskError(f"{where}: form rows must be [label, node] pairs")
    for j, child in enumerate(children(node)):
        _validate_node(child, f"{where}/{j}", seen)
