"""App templates: ``template(rng, params) -> app spec`` (see `agent.envs.sandbox.spec`).

Every template is deterministic given its ``rng`` and ``params``; params may pin what a task needs
(a code to show, the length of a list, ...). Names of widgets are slugs of their labels, so the same
label gives the same name everywhere. `TEMPLATES` maps template names to functions; `register_template`
adds one from outside the package.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from typing import Any

from agent.envs.sandbox import vocab as V
from agent.envs.sandbox.spec import ICON_NAMES
from agent.errors import TaskError

Spec = dict[str, Any]
Template = Callable[[random.Random, dict[str, Any]], Spec]
TEMPLATES: dict[str, Template] = {}


def register_template(name: str, fn: Template) -> None:
    """Make ``fn`` available as app template ``name`` (task files can then use it)."""
    TEMPLATES[name] = fn


def template(name: str) -> Template:
    if name not in TEMPLATES:
        raise TaskError(f"unknown app template {name!r}; known: {', '.join(sorted(TEMPLATES))}")
    return TEMPLATES[name]


def make_spec(name: str, seed: int, params: dict[str, Any] | None = None) -> Spec:
    """The app spec of template ``name`` for ``seed`` (deterministic)."""
    spec = template(name)(random.Random(f"app:{name}:{seed}"), dict(params or {}))
    spec["template"] = name
    height = (params or {}).get("scroll")
    if height:  # the app's window shows its content through a viewport this high: the rest needs scrolling
        main = spec["windows"][0]
        main["body"] = {"type": "scroll", "child": main["body"], "height": int(height), "frameless": True}
    dedupe_names(spec)
    return spec


def dedupe_names(spec: Spec) -> None:
    """Rename repeated node names ``x`` to ``x_2``, ``x_3``, ... (random draws may repeat a label)."""
    from agent.envs.sandbox.spec import walk_app

    seen: dict[str, int] = {}
    for node in walk_app(spec):
        name = node.get("name")
        if name:
            seen[name] = seen.get(name, 0) + 1
            if seen[name] > 1:
                node["name"] = f"{name}_{seen[name]}"


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_") or "x"


def _reg(name: str):
    def deco(fn: Template) -> Template:
        register_template(name, fn)
        return fn

    return deco


# ------------------------------------------------------------------------------------------ pieces
def button(text: str, **kw: Any) -> dict:
    return {"type": "button", "text": text, "name": kw.pop("name", slug(text)), **kw}


def field(label: str, rng: random.Random, **kw: Any) -> list:
    node = {"type": "field", "name": kw.pop("name", slug(label)), **kw}
    if rng.random() < 0.3 and "placeholder" not in node:
        node["placeholder"] = label if rng.random() < 0.5 else f"Enter {label.lower()}"
    return [f"{label}:" if rng.random() < 0.6 else label, node]


def checks(rng: random.Random, n: int, pool: tuple[str, ...] = V.OPTIONS) -> list[dict]:
    return [{"type": "checkbox", "text": t, "name": slug(t), "checked": rng.random() < 0.4}
            for t in V.distinct(rng, pool, n)]  # fmt: skip


def combo(rng: random.Random, label: str | None = None, options: tuple[str, ...] | None = None) -> list:
    if options is None:
        pair_label, options = rng.choice(V.LABELED_CHOICES)
        label = label or pair_label
    opts = list(options)
    return [f"{label}:", {"type": "combo", "name": slug(label), "options": opts, "value": rng.choice(opts)}]


def radios(
    rng: random.Random, title: str, options: list[str] | None = None, horizontal: bool | None = None
) -> dict:
    opts = options or list(rng.choice(V.CHOICES))[:4]
    return {"type": "group", "title": title, "child": {
        "type": "radios", "name": slug(title), "options": opts, "value": opts[0] if rng.random() < 0.5 else None,
        "horizontal": rng.random() < 0.3 if horizontal is None else horizontal}}  # fmt: skip


def spin(rng: random.Random, label: str) -> list:
    lo = rng.choice((0, 1, 0, 10))
    hi = lo + rng.choice((10, 20, 50, 99, 100))
    return [f"{label}:", {"type": "spin", "name": slug(label), "min": lo, "max": hi, "value": rng.randint(lo, hi),
                          "suffix": rng.choice(("", "", " px", " min", " %"))}]  # fmt: skip


def slider(rng: random.Random, label: str) -> list:
    return [
        f"{label}:",
        {"type": "slider", "name": slug(label), "min": 0, "max": 100, "value": rng.randint(0, 100)},
    ]


def buttons_row(rng: random.Random, texts: list[str], default: str | None = None) -> dict:
    kids: list[dict] = [{"type": "stretch"}] if rng.random() < 0.7 else []
    kids += [button(t, default=(t == default)) for t in texts]
    return {"type": "hbox", "children": kids}


def maybe_distractor(rng: random.Random) -> list[dict]:
    r = rng.random()
    if r < 0.2:
        return [{"type": "paragraph", "text": V.paragraph(rng, 1)}]
    if r < 0.3:
        return [
            {
                "type": "image",
                "w": rng.randint(120, 260),
                "h": rng.randint(60, 120),
                "seed": rng.randrange(10**6),
            }
        ]
    if r < 0.4:
        return [
            {
                "type": "link",
                "text": rng.choice(("Learn more", "Help", "Privacy policy", "What's new?", "Details")),
            }
        ]
    return []


def window(title: str, body: dict, **kw: Any) -> Spec:
    return {"windows": [{"title": title, "body": body, **kw}]}


# ------------------------------------------------------------------------------------------ templates
@_reg("login")
def login(rng: random.Random, p: dict) -> Spec:
    user = rng.choice(("Username", "Email", "Account ID"))
    rows = [field(user, rng), field("Password", rng, password=True)]
    kids: list[dict] = [
        {
            "type": "heading",
            "text": rng.choice(("Sign in", "Welcome back", "Log in", f"{rng.choice(V.APP_NAMES)} login")),
        }
    ]
    if rng.random() < 0.5:
        kids.append(
            {
                "type": "label",
                "text": rng.choice(("Use your company account.", "Enter your credentials to continue.")),
            }
        )
    kids += [{"type": "form", "rows": rows},
             {"type": "checkbox", "text": "Remember me", "name": "remember_me", "checked": False},
             {"type": "link", "text": "Forgot password?", "name": "forgot_password"},
             buttons_row(rng, rng.choice((["Sign in"], ["Cancel", "Sign in"], ["Log in"], ["Sign in", "Register"])), "Sign in")]  # fmt: skip
    return window(rng.choice(V.APP_NAMES), {"type": "vbox", "children": kids + maybe_distractor(rng)})


@_reg("signup")
def signup(rng: random.Random, p: dict) -> Spec:
    labels = [
        "First name",
        "Last name",
        "Email",
        *V.distinct(rng, ("Phone", "Company", "City", "Username", "Website"), rng.randint(1, 3)),
    ]
    rows = [field(lab, rng) for lab in labels] + [
        combo(rng, "Country", ("Germany", "France", "Japan", "Brazil", "Canada", "India", "Kenya"))
    ]
    kids = [{"type": "heading", "text": rng.choice(("Create account", "Sign up", "Join us", "Register"))},
            {"type": "form", "rows": rows, "right": rng.random() < 0.5},
            radios(rng, "Plan", ["Free", "Pro", "Team", "Enterprise"][: rng.randint(2, 4)], horizontal=True),
            {"type": "checkbox", "text": "Accept terms", "name": "accept_terms"},
            {"type": "checkbox", "text": "Subscribe to newsletter", "name": "subscribe_to_newsletter", "checked": rng.random() < 0.5},
            buttons_row(rng, ["Cancel", "Create account"], "Create account")]  # fmt: skip
    return window("Sign up", {"type": "vbox", "children": kids})


@_reg("settings")
def settings(rng: random.Random, p: dict) -> Spec:
    opts = checks(rng, rng.randint(3, 6))
    rows = [
        combo(rng),
        spin(rng, rng.choice(("Timeout", "Retries", "Font size", "Interval", "Max items"))),
        slider(rng, rng.choice(("Volume", "Brightness", "Opacity", "Quality", "Zoom"))),
    ]
    kids = [{"type": "group", "title": rng.choice(("General", "Options", "Behaviour")), "child": {"type": "vbox", "children": opts}},
            {"type": "form", "rows": rows},
            *maybe_distractor(rng),
            buttons_row(rng, rng.choice((["OK", "Cancel", "Apply"], ["Apply", "Close"], ["Save", "Cancel"])), "OK")]  # fmt: skip
    return window(rng.choice(("Settings", "Preferences", "Options")), {"type": "vbox", "children": kids})


@_reg("prefs_tabs")
def prefs_tabs(rng: random.Random, p: dict) -> Spec:
    titles = V.distinct(
        rng,
        ("General", "Appearance", "Privacy", "Network", "Advanced", "Sound", "Editor", "Accounts"),
        rng.randint(3, 4),
    )
    tabs = []
    for t in titles:
        kids = [
            *checks(rng, rng.randint(2, 3)),
            {"type": "form", "rows": [combo(rng), spin(rng, f"{t} limit")]},
        ]
        tabs.append({"title": t, "child": {"type": "vbox", "children": [*kids, {"type": "stretch"}]}})
    body = {
        "type": "vbox",
        "children": [
            {"type": "tabs", "name": "tabs", "tabs": tabs},
            buttons_row(rng, ["OK", "Cancel"], "OK"),
        ],
    }
    return window(rng.choice(("Preferences", "Settings", f"{rng.choice(V.APP_NAMES)} options")), body)


@_reg("search")
def search(rng: random.Random, p: dict) -> Spec:
    results = V.distinct(rng, V.ITEMS, rng.randint(6, 14))
    kids = [{"type": "hbox", "children": [{"type": "field", "name": "query", "placeholder": "Search…"}, button("Search")]},
            {"type": "hbox", "children": [radios(rng, "Scope", ["All", "Files", "Messages", "People"][: rng.randint(2, 4)], horizontal=True),
                                          {"type": "form", "rows": [combo(rng, "Sort", ("Relevance", "Newest first", "Oldest first"))]}]},
            {"type": "checkbox", "text": "Match case", "name": "match_case"},
            {"type": "list", "name": "results", "items": results, "height": rng.randint(120, 200)},
            {"type": "label", "text": f"{len(results)} results"}]  # fmt: skip
    return window(rng.choice(("Search", "Find", "Lookup")), {"type": "vbox", "children": kids})


@_reg("checkout")
def checkout(rng: random.Random, p: dict) -> Spec:
    rows = [field(x, rng) for x in ("Name", "Street", "City", "Postcode")] + [
        combo(rng, "Shipping", ("Standard", "Express", "Overnight", "Pickup")),
        spin(rng, "Quantity"),
    ]
    kids = [{"type": "heading", "text": "Checkout"}, {"type": "form", "rows": rows},
            radios(rng, "Payment", ["Card", "PayPal", "Invoice", "Bank transfer"][: rng.randint(2, 4)]),
            {"type": "checkbox", "text": "Gift wrap", "name": "gift_wrap"},
            {"type": "label", "text": f"Total: {rng.randint(5, 900)}.{rng.randint(0, 99):02d} €"},
            buttons_row(rng, ["Back to cart", "Place order"], "Place order")]  # fmt: skip
    return window(rng.choice(("Checkout", "Order", "Payment")), {"type": "vbox", "children": kids})


def _wizard_pages(rng: random.Random, p: dict) -> list[dict]:
    code = p.get("code") or V.code(rng)
    page1 = {"type": "vbox", "children": [
        {"type": "heading", "text": rng.choice(("Welcome", "Step 1: Start", "Getting started"))},
        {"type": "paragraph", "text": V.paragraph(rng, 1)},
        {"type": "label", "text": rng.choice(("Your setup code:", "Your code is:", "Write down this code:", "Activation code:"))},
        {"type": "code", "text": code, "name": "code"}, {"type": "stretch"}]}  # fmt: skip
    page2 = {"type": "vbox", "children": [
        {"type": "heading", "text": rng.choice(("Step 2: Options", "Choose options", "Installation type"))},
        radios(rng, "Install type", ["Typical", "Custom", "Minimal"]),
        *checks(rng, 2), {"type": "stretch"}]}  # fmt: skip
    page3 = {"type": "vbox", "children": [
        {"type": "heading", "text": rng.choice(("Step 3: Confirm", "Almost done", "Activation"))},
        {"type": "form", "rows": [field("Enter code", rng, name="code_input"), field("Device name", rng)]},
        {"type": "stretch"}]}  # fmt: skip
    return [page1, page2, page3]


@_reg("wizard")
def wizard(rng: random.Random, p: dict) -> Spec:
    body = {"type": "pages", "name": "pages", "pages": _wizard_pages(rng, p)}
    return window(
        rng.choice(("Setup wizard", "Installer", "Activation")),
        body,
        size=[rng.randint(420, 560), rng.randint(340, 420)],
    )


@_reg("wizard_side")
def wizard_side(rng: random.Random, p: dict) -> Spec:
    """Held-out variant: a wizard with a step list on the side and different button texts."""
    steps = {"type": "vbox", "children": [{"type": "label", "text": f"{i}. {t}"} for i, t in enumerate(("Welcome", "Options", "Confirm"), 1)]
             + [{"type": "stretch"}]}  # fmt: skip
    body = {"type": "hbox", "children": [steps, {"type": "pages", "name": "pages", "pages": _wizard_pages(rng, p),
                                                  "buttons": ["Previous", "Continue", "Done"]}]}  # fmt: skip
    return window(
        rng.choice(("Setup assistant", "Onboarding", "Device setup")),
        body,
        size=[rng.randint(520, 640), rng.randint(360, 440)],
    )


def _menus(rng: random.Random) -> list[dict]:
    spec = {"File": ["New", "Open…", "Save", "Save as…", "-", "Export", "Print…", "-", "Quit"],
            "Edit": ["Undo", "Redo", "-", "Cut", "Copy", "Paste", "Select all", "Find…"],
            "View": ["Zoom in", "Zoom out", "Full screen", "Show sidebar"],
            "Format": ["Bold", "Italic", "Underline", "Clear formatting"],
            "Tools": ["Word count", "Spelling", "Options…"], "Help": ["Documentation", "About"]}  # fmt: skip
    titles = ["File", "Edit", *V.distinct(rng, ("View", "Format", "Tools"), rng.randint(1, 3)), "Help"]
    menus = []
    for t in titles:
        items: list[Any] = [{"text": x, "name": slug(f"{t} {x}")} if x != "-" else "-" for x in spec[t]]
        if t == "File" and rng.random() < 0.5:
            items.insert(
                2,
                {
                    "text": "Recent",
                    "items": [
                        {"text": f"{it}.txt", "name": slug(f"recent {it}")}
                        for it in V.distinct(rng, V.ITEMS, 3)
                    ],
                },
            )
        menus.append({"title": t, "items": items})
    return menus


@_reg("editor")
def editor(rng: random.Random, p: dict) -> Spec:
    tools = [
        {"icon": i, "tip": i.capitalize(), "name": f"tool_{i}"}
        for i in V.distinct(rng, ("new", "open", "save", "trash", "reload", "help"), rng.randint(3, 6))
    ]
    body = {
        "type": "vbox",
        "children": [
            {
                "type": "text_area",
                "name": "document",
                "text": V.paragraph(rng, 2),
                "height": rng.randint(120, 220),
            }
        ],
    }
    return window(f"{rng.choice(V.NOUNS)}.txt — {rng.choice(('Editor', 'Notes', 'Writer'))}", body,
                  menu=_menus(rng), toolbar=tools, status=rng.choice(("Ready", "Saved", "Line 1, Col 1", "UTF-8")),
                  size=[rng.randint(520, 760), rng.randint(380, 520)])  # fmt: skip


@_reg("mail")
def mail(rng: random.Random, p: dict) -> Spec:
    """Held-out template: a mail composer with menus, fields and a body."""
    rows = [field("To", rng, name="to"), field("Cc", rng, name="cc"), field("Subject", rng, name="subject")]
    body = {"type": "vbox", "children": [{"type": "form", "rows": rows}, {"type": "text_area", "name": "body", "height": 140},
                                          {"type": "checkbox", "text": "Request read receipt", "name": "request_read_receipt"},
                                          buttons_row(rng, ["Attach", "Discard", "Send"], "Send")]}  # fmt: skip
    return window("New message", body, menu=_menus(rng), status="Draft")


@_reg("files")
def files(rng: random.Random, p: dict) -> Spec:
    n = p.get("n_items", rng.randint(40, 160))
    exts = ("txt", "pdf", "png", "csv", "docx", "zip", "mp3")
    names = sorted(
        {f"{rng.choice(V.ITEMS)}_{rng.choice(V.NOUNS).lower()}_{i}.{rng.choice(exts)}" for i in range(n)}
    )
    kids = [{"type": "hbox", "children": [{"type": "tool", "icon": "back", "tip": "Back", "name": "tool_back"},
                                          {"type": "tool", "icon": "up", "tip": "Up", "name": "tool_up"},
                                          {"type": "field", "name": "path", "text": f"/home/{rng.choice(V.FIRST).lower()}/{rng.choice(V.NOUNS)}s"}]},
            {"type": "list", "name": "files", "items": names, "height": rng.randint(200, 320), "width": 300},
            buttons_row(rng, ["Open", "Delete", "Rename"]), {"type": "label", "text": f"{len(names)} items"}]  # fmt: skip
    return window(rng.choice(("Files", "Browse", "Documents")), {"type": "vbox", "children": kids})


@_reg("contacts")
def contacts(rng: random.Random, p: dict) -> Spec:
    """Held-out template: a long list of people beside a detail pane."""
    n = p.get("n_items", rng.randint(40, 140))
    people = sorted({f"{rng.choice(V.LAST)}, {rng.choice(V.FIRST)} {chr(65 + i % 26)}." for i in range(n)})
    detail = {"type": "form", "rows": [field("Phone", rng), field("Email", rng), field("Nickname", rng)]}
    kids = [{"type": "vbox", "children": [{"type": "field", "name": "filter", "placeholder": "Filter"},
                                          {"type": "list", "name": "people", "items": people, "height": rng.randint(220, 320), "width": 240}]},
            {"type": "vbox", "children": [detail, buttons_row(rng, ["Call", "Message", "Edit"]), {"type": "stretch"}]}]  # fmt: skip
    return window("Contacts", {"type": "hbox", "children": kids})


@_reg("media")
def media(rng: random.Random, p: dict) -> Spec:
    tools = [
        {"type": "tool", "icon": i, "tip": i.capitalize(), "name": f"tool_{i}"}
        for i in ("prev", "play", "pause", "next", "stop")
    ]
    rows = [slider(rng, "Volume"), slider(rng, "Balance"), spin(rng, "Speed")]
    kids = [{"type": "image", "w": rng.randint(240, 360), "h": rng.randint(120, 180), "seed": rng.randrange(10**6)},
            {"type": "label", "text": f"{rng.choice(V.ITEMS)} — {V.person(rng)}"},
            {"type": "progress", "name": "position", "value": rng.randint(0, 100)},
            {"type": "hbox", "children": [*tools, {"type": "stretch"}]}, {"type": "form", "rows": rows},
            {"type": "checkbox", "text": "Shuffle", "name": "shuffle"}, {"type": "checkbox", "text": "Repeat", "name": "repeat"}]  # fmt: skip
    return window(rng.choice(("Player", "Music", "Media")), {"type": "vbox", "children": kids})


@_reg("counter")
def counter(rng: random.Random, p: dict) -> Spec:
    target = p.get("button") or rng.choice(("Add", "Like", "Increment", "Plus one", "Vote", "Next item"))
    others = [x for x in ("Reset", "Undo", "Skip", "Remove", "Share") if x != target]
    row = [button(target)] + [button(x) for x in V.distinct(rng, others, 2)]
    rng.shuffle(row)
    kids = [{"type": "heading", "text": rng.choice(("Tally", "Counter", "Poll", "Queue"))},
            {"type": "paragraph", "text": V.paragraph(rng, 1)}, {"type": "hbox", "children": row},
            *maybe_distractor(rng), buttons_row(rng, ["Done"])]  # fmt: skip
    return window(rng.choice(("Tally", "Counter", "Voting")), {"type": "vbox", "children": kids})


@_reg("clicker")
def clicker(rng: random.Random, p: dict) -> Spec:
    """Held-out variant of `counter`: a grid-like panel with the buttons in a group."""
    target = p.get("button") or rng.choice(("Add", "Like", "Increment", "Vote"))
    group = {
        "type": "group",
        "title": "Actions",
        "child": {"type": "vbox", "children": [button(target), button("Clear"), button("Help")]},
    }
    kids = [{"type": "hbox", "children": [group, {"type": "image", "w": 140, "h": 100, "seed": rng.randrange(10**6)}]},
            buttons_row(rng, ["Done", "Cancel"])]  # fmt: skip
    return window("Clicker", {"type": "vbox", "children": kids})


@_reg("survey")
def survey(rng: random.Random, p: dict) -> Spec:
    """Held-out template: a questionnaire with radio groups, a combo, a spin box, a slider and a comment."""
    q = [
        radios(rng, f"Preferred {t.lower()}", list(opts)[:4])
        for t, opts in V.distinct(rng, V.LABELED_CHOICES, 2)
    ]
    q.insert(0, radios(rng, "Experience", ["Beginner", "Intermediate", "Expert"]))
    dept = ("Sales", "Support", "Engineering", "Finance", "Marketing", "Legal")
    rows = [combo(rng, "Department", dept), spin(rng, "Age"), slider(rng, "Rating")]
    kids = [{"type": "heading", "text": "Survey"}, *q, {"type": "form", "rows": rows},
            {"type": "text_area", "name": "comment", "height": 60}, buttons_row(rng, ["Skip", "Submit"], "Submit")]  # fmt: skip
    return window(
        "Feedback survey",
        {
            "type": "scroll",
            "child": {"type": "vbox", "children": kids},
            "height": min(560, 420 + rng.randint(0, 140)),
            "frameless": True,
        },
    )


@_reg("dashboard")
def dashboard(rng: random.Random, p: dict) -> Spec:
    cards = []
    for _ in range(rng.randint(2, 4)):
        cards.append({"type": "group", "title": V.title(rng), "child": {"type": "vbox", "children": [
            {"type": "label", "text": f"{rng.randint(1, 999)} {rng.choice(V.NOUNS).lower()}s"},
            {"type": "progress", "value": rng.randint(0, 100)}, {"type": "link", "text": "Details"}]}})  # fmt: skip
    kids = [{"type": "hbox", "children": [{"type": "icon", "icon": rng.choice(ICON_NAMES)}, {"type": "heading", "text": V.title(rng)}, {"type": "stretch"},
                                          {"type": "tool", "icon": "reload", "tip": "Refresh"}]},
            {"type": "hbox", "children": cards}, {"type": "paragraph", "text": V.paragraph(rng)}]  # fmt: skip
    return window(f"{rng.choice(V.APP_NAMES)} dashboard", {"type": "vbox", "children": kids})


@_reg("message")
def message(rng: random.Random, p: dict) -> Spec:
    btns = rng.choice(
        (["OK"], ["Yes", "No"], ["Save", "Discard", "Cancel"], ["Retry", "Cancel"], ["Delete", "Keep"])
    )
    body = {"type": "vbox", "children": [
        {"type": "hbox", "children": [{"type": "icon", "icon": rng.choice(("info", "warning", "error", "question")), "size": 40},
                                      {"type": "paragraph", "text": V.sentence(rng, 5, 14), "width": 240}]},
        buttons_row(rng, btns)]}  # fmt: skip
    return window(rng.choice(("Confirm", "Warning", "Information", "Error", V.title(rng))), body, dialog=True)
