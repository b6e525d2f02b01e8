"""Training the transformer policy: behaviour cloning on expert traces, then DAgger rounds in the sandbox.

One loop a newcomer can follow (`train`): sample a batch of episodes → loss → step → log (JSONL) →
validate → checkpoint. Checkpoints (``OUT/last.pt``) hold the model and training configs, the optimiser,
the step and the DAgger data gathered so far, so ``--resume`` continues exactly where a run stopped; the
best model by validation loss is kept as ``OUT/best/`` (safetensors + config.json, loadable by
`TransformerPolicy.from_pretrained`).

DAgger (`dagger_round`): the current policy drives the sandbox; at every state it reaches the expert says
what it would do; those (state, expert action) pairs join the training set, and training continues.

Multi-process: run under ``torchrun --nproc_per_node K`` and the loop uses DistributedDataParallel (gloo):
each rank draws its own batches; rank 0 logs, validates and saves.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import random
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from agent.errors import DeskpilotError
from agent.types import Drag, Element, Hotkey, Task, TypeText
from policies.transformer.configuration_transformer import TransformerPolicyConfig
from policies.transformer.modeling_transformer import TransformerPolicyModel
from policies.transformer.policy_transformer import save_pretrained
from policies.transformer.processor_transformer import (
    EpisodeRecord,
    StepRecord,
    collate,
    encode_episode,
    hotkey_name,
)
from vision.widget_state import number_beside, shown_numbers


@dataclass
class TrainConfig:
    """How to train. Paths are folders of traces (or folders of trace folders)."""

    data: list[str] = field(default_factory=list)
    val_data: list[str] = field(default_factory=list)
    out: str = "runs/policy"
    steps: int = 4000
    batch_episodes: int = 16
    lr: float = 1e-3
    min_lr_ratio: float = 0.05
    warmup: int = 100
    weight_decay: float = 0.01
    grad_clip: float = 1.0
    seed: int = 0
    log_every: int = 20
    val_every: int = 250
    save_every: int = 250
    threads: int = 1
    # robustness to detection noise: per element drop probability and box jitter (fraction of its size)
    drop_elements: float = 0.0
    jitter: float = 0.0
    # per episode probability of seeing it as perception would (`as_detected`: confusions, typos, false
    # detections, only the state perception reads; ``as_detected_reads`` False: no state at all)
    as_detected: float = 0.0
    as_detected_reads: bool = True
    # unseen words: per episode probability of renaming buttons (`rename_buttons`)
    rename: float = 0.0
    rename_unrelated: float = 0.25  # of those renames, the share of navigation buttons given unrelated words
    rename_novel: float = 0.0  # of the unrelated words, the share that are made up (`novel_word`)
    rename_decoy: float = 0.0  # of a navigation button's unrelated words, the share from DECOY_BUTTON_WORDS
    hide_heldout: bool = False  # `hide_words`: no element shows a held-out template's word (every episode)
    # unseen phrasing: per episode probability of rewording the instruction (`reword`)
    reword: float = 0.0
    # unseen layouts: per episode probability of extra widgets no step acts on (`add_clutter`)
    clutter: float = 0.0
    # per episode probability that its slider drags land a few points off and arrow keys fix them
    # (`nudge_sliders`)
    nudge: float = 0.0
    # DAgger: rounds after BC, episodes per round, steps trained after each round
    dagger_rounds: int = 0
    dagger_episodes: int = 200
    dagger_steps: int = 1000
    dagger_split: str = "train"
    max_episode_steps: int = 30
    # what the policy sees in DAgger rounds: "gt" (the sandbox's elements) or "detected" (the detector and
    # OCR, `vision.perception`; the expert still reads the ground truth, and its target is matched to the
    # detected element by overlap when the episode is encoded); detector weights default to weights/detector
    dagger_elements: str = "gt"
    detector: str = ""
    # share of each batch drawn from the DAgger episodes (0: uniformly from all episodes)
    dagger_share: float = 0.0
    # warm start: weights of another run (a folder with model.safetensors); new input columns start at zero
    init_from: str = ""
    step_emb_lr_mult: float = 20.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# --------------------------------------------------------------------------------------------- data
def record_from_trace(path: str | Path) -> EpisodeRecord | None:
    """An expert trace as an episode to imitate; None for a failed or empty run."""
    from agent.trace import read_trace

    t = read_trace(path)
    summary = t.meta.get("summary") or {}
    if not t.steps or summary.get("success") is False:
        return None
    task = t.task or Task("")
    screen = t.screen or (1280, 800)
    steps = [StepRecord(list(s.elements), unredact(s.action, s.target, task), s.target) for s in t.steps]
    return EpisodeRecord(task.instruction, screen, steps, meta={"task": task.to_dict(), "path": str(path)})


def unredact(action: Any, target: Element | None, task: Task) -> Any:
    """A secret typed text is stored as ``[REDACTED]``; a sandbox task's plan still says what the expert
    typed into that field, so the label is restored from it (else left redacted: no copy label)."""
    from agent.types import REDACTED, TypeText

    if not (isinstance(action, TypeText) and action.text.rstrip("\n") == REDACTED and target is not None):
        return action
    plan = (task.meta.get("sandbox") or {}).get("plan", []) if isinstance(task.meta, dict) else []
    name = target.state.get("name")
    typed = [op["text"] for op in plan if op.get("op") == "type" and op.get("name") == name and "text" in op]
    if name is None or len(typed) != 1:
        return action
    return TypeText(typed[0] + ("\n" if action.text.endswith("\n") else ""), secret=True)


def load_records(paths: Iterable[str | Path], skip: set[str] | None = None) -> list[EpisodeRecord]:
    """Every successful episode under ``paths`` (trace folders, or folders holding trace folders), except
    the trace folders in ``skip`` (already loaded). A trace still being written (no summary yet) waits."""
    from agent.trace import META_FILE

    out = []
    for p in paths:
        p = Path(p)
        if not p.exists():
            raise DeskpilotError(f"no such demonstration folder: {p}")
        folders = (
            [p] if (p / META_FILE).exists() else sorted(c for c in p.iterdir() if (c / META_FILE).exists())
        )
        if not folders:
            raise DeskpilotError(
                f"{p} holds no traces (folders with {META_FILE}); run `deskpilot sandbox gen-demos`"
            )
        for f in folders:
            if skip is not None and str(f) in skip:
                continue
            if "summary" not in json.loads((f / META_FILE).read_text(encoding="utf-8")):
                continue  # still being generated
            rec = record_from_trace(f)
            if rec is not None:
                out.append(rec)
    return out


def extend_hotkeys(cfg: TransformerPolicyConfig, records: Iterable[EpisodeRecord]) -> None:
    """Add every key combo the demonstrations press to the hotkey vocabulary (before building the model)."""
    from agent.types import Hotkey

    for rec in records:
        for st in rec.steps:
            if isinstance(st.label, Hotkey) and hotkey_name(st.label.keys) not in cfg.hotkeys:
                cfg.hotkeys.append(hotkey_name(st.label.keys))


def augment(rec: EpisodeRecord, rng: random.Random, drop: float, jitter: float) -> EpisodeRecord:
    """Detection noise: drop non-target elements with probability ``drop``, jitter every box by up to
    ``jitter`` of its size (targets are kept so the label stays valid)."""
    if drop <= 0 and jitter <= 0:
        return rec
    steps = []
    for st in rec.steps:
        keep_ids = {id(st.label_target), id(st.done_target)}
        els: list[Element] = []
        for e in st.elements:
            protected = any(
                e is t or (t is not None and e.box == t.box) for t in (st.label_target, st.done_target)
            )
            if not protected and rng.random() < drop:
                continue
            if jitter > 0 and not protected:
                x1, y1, x2, y2 = e.box
                w, h = x2 - x1, y2 - y1
                dx1, dx2 = (rng.uniform(-jitter, jitter) * w for _ in range(2))
                dy1, dy2 = (rng.uniform(-jitter, jitter) * h for _ in range(2))
                nx1, nx2 = sorted((max(x1 + dx1, 0.0), max(x2 + dx2, 0.0)))
                ny1, ny2 = sorted((max(y1 + dy1, 0.0), max(y2 + dy2, 0.0)))
                e = Element((nx1, ny1, nx2, ny2), e.kind, e.score, e.text, e.embedding, e.state, e.id)
            els.append(e)
        del keep_ids
        steps.append(StepRecord(els, st.label, st.label_target, st.done, st.done_target))
    return EpisodeRecord(rec.instruction, rec.screen, steps, rec.meta)


#: Kinds the detector confuses (its held-out per-class errors): an element of the key kind is sometimes
#: reported as one of the value kinds. Labels and radios as menu items: the detector finds columns of weak
#: menu items over a form's radio rows (a survey's), and a policy that never met one takes them for an open
#: popup it must pick from (session 20: set_spin and pick_radio on detected elements 45 -> 55 of 66).
DETECTOR_CONFUSIONS: dict[str, tuple[str, ...]] = {
    "menu_item": ("label", "list_item"), "list_item": ("label", "menu_item"),
    "label": ("list_item", "link", "menu_item"), "text_area": ("text_field",), "spin": ("combo", "text_field"),
    "combo": ("spin", "button"), "radio": ("checkbox", "menu_item"), "checkbox": ("radio",),
    "slider": ("progress",), "link": ("label",),
}  # fmt: skip
#: Characters OCR mistakes for one another (either way).
_OCR_SWAPS = (("l", "1"), ("I", "l"), ("O", "0"), ("o", "0"), ("S", "5"), ("B", "8"), ("rn", "m"), ("e", "c"))


def ocr_typo(text: str, rng: random.Random) -> str:
    """``text`` with one OCR-like mistake: a look-alike character swapped, a character dropped, or a
    trailing colon lost ("Email:" -> "Email")."""
    if not text:
        return text
    if text.endswith(":") and rng.random() < 0.3:
        return text[:-1]
    swaps = [(a, b) for a, b in _OCR_SWAPS if a in text] + [(b, a) for a, b in _OCR_SWAPS if b in text]
    if swaps and rng.random() < 0.7:
        a, b = rng.choice(swaps)
        at = [i for i in range(len(text)) if text.startswith(a, i)]
        i = rng.choice(at)
        return text[:i] + b + text[i + len(a) :]
    if len(text) < 3:
        return text
    i = rng.randrange(len(text))
    return text[:i] + text[i + 1 :]


def as_detected(
    rec: EpisodeRecord,
    rng: random.Random,
    confuse: float = 0.08,
    typo: float = 0.1,
    spurious: int = 3,
    reads: bool = True,
    placeholders: float = 0.9,
) -> EpisodeRecord:
    """The episode as the detector and OCR would report it: no ground-truth state but what perception
    reads from pixels (with ``reads``: checkbox/radio ``checked``, a slider's ``value`` within a point or
    two, `vision.widget_state`; without it, none), detector-like scores, some kinds confused
    (`DETECTOR_CONFUSIONS`, per element with probability ``confuse``), some texts misread (`ocr_typo`,
    with probability ``typo``) and up to ``spurious`` false detections at lower scores: a widget found a
    second time as another kind, or two neighbours read as one ("Dark System" as a spin box). In an
    episode with probability ``placeholders``, an empty field's text is its placeholder, as OCR reads
    the grey hint ("Enter postcode") that ground truth leaves out.

    A widget is misread the same way on every step until its look changes (a radio once ticked may be
    taken for a checkbox). The targets keep their kinds (the labels stay valid) and no text a step types
    is misread (it is copied from the screen). A policy trained on ground truth alone meets all of these
    at once when it acts on detected elements."""
    typed = [st.label.text for st in rec.steps if isinstance(getattr(st, "label", None), TypeText)]
    typed = [t.strip() for t in typed if t and t.strip()]
    kinds: dict[tuple, str] = {}
    texts: dict[tuple, str] = {}
    scores: dict[tuple, float] = {}
    # false detections, kept across steps: (source key, other key or None, kind, score, growth)
    keys = sorted({(e.kind, e.text) for st in rec.steps for e in st.elements if e.text}, key=str)
    fakes = []
    for _ in range(rng.randint(0, spurious) if keys else 0):
        a = rng.choice(keys)
        b = rng.choice(keys) if rng.random() < 0.5 else None
        kind = rng.choice(
            DETECTOR_CONFUSIONS.get(a[0], ("label",))
            if b is None
            else ("spin", "combo", "text_field", "list_item", "label")
        )
        fakes.append((a, b, kind, rng.uniform(0.35, 0.7), rng.uniform(0.0, 0.15)))
    seen: dict[tuple, dict[str, Any]] = {}
    # OCR reads an empty field's grey placeholder ("Enter postcode") as its text, unless it is too faint
    read_placeholders = rng.random() < placeholders

    def read(e: Element, kind: str) -> dict[str, Any]:
        """What perception reads, the same for a widget until its look changes."""
        at = (
            e.kind,
            e.text,
            kind,
            repr(sorted((e.state or {}).items(), key=str)),
            e.box if e.kind == "slider" else None,
        )
        if at not in seen:
            seen[at] = _read(e, kind, rng)
        return dict(seen[at])

    steps = []
    for st in rec.steps:
        targets = [t for t in (st.label_target, st.done_target) if t is not None]
        els = []
        for e in st.elements:
            key = (e.kind, e.text, e.state.get("checked") if e.state else None)
            protected = any(e is t or e.box == t.box for t in targets)
            if key not in kinds:
                options = DETECTOR_CONFUSIONS.get(e.kind)
                kinds[key] = rng.choice(options) if options and rng.random() < confuse else e.kind
                misread = (
                    e.text and rng.random() < typo and not any(e.text in t or t in e.text for t in typed)
                )
                texts[key] = ocr_typo(e.text, rng) if misread else e.text
                scores[key] = rng.uniform(0.5, 1.0)
            kind = e.kind if protected else kinds[key]
            placeholder = (e.state or {}).get("placeholder") if not e.text else None
            els.append(
                Element(
                    e.box,
                    kind,
                    scores[key],
                    placeholder if placeholder and read_placeholders else texts[key],
                    e.embedding,
                    read(e, kind) if reads else {},
                    e.id,
                )
            )
        by_key = {(e.kind, e.text): e for e in st.elements}
        for a, b, kind, score, grow in fakes:
            ea, eb = by_key.get(a), by_key.get(b) if b is not None else None
            if ea is None or (b is not None and (eb is None or eb is ea)):
                continue
            x1, y1, x2, y2 = ea.box if eb is None else _union(ea.box, eb.box)
            gx, gy = (x2 - x1) * grow, (y2 - y1) * grow
            text = ea.text if eb is None else f"{ea.text} {eb.text}"
            els.append(Element((max(0.0, x1 - gx), max(0.0, y1 - gy), x2 + gx, y2 + gy), kind, score, text))
        steps.append(StepRecord(els, st.label, st.label_target, st.done, st.done_target))
    return EpisodeRecord(rec.instruction, rec.screen, steps, rec.meta)


#: How many points of percent perception's slider read is off, and how often: `vision.widget_state` read
#: 270 rendered held-out and validation sliders exactly 91% of the time and within a point 99% (session 21).
#: The Gaussian it replaces (sd 1.5 points: exact a quarter of the time) put the expert's Finished on reads a
#: point or two off, which can teach that such a value is set (runs/policy_s20b finished a held-out slider
#: read, rightly, at 66 for 67; that this noise is the cause is not shown).
SLIDER_READ_ERRORS: tuple[tuple[int, float], ...] = ((0, 0.9), (1, 0.09), (2, 0.01))


def slider_read_error(rng: random.Random) -> int:
    """A signed read error in points, drawn from `SLIDER_READ_ERRORS`."""
    points, chances = zip(*SLIDER_READ_ERRORS, strict=True)
    off = rng.choices(points, weights=chances)[0]
    return off if off == 0 or rng.random() < 0.5 else -off


def _read(e: Element, kind: str, rng: random.Random) -> dict[str, Any]:
    """The state perception would read for ``e`` reported as ``kind`` (see `vision.widget_state`)."""
    st = e.state or {}
    if kind in ("checkbox", "radio"):  # the check reader reads any box of these kinds; 1% misread
        checked = bool(st.get("checked"))
        return {"checked": checked != (rng.random() < 0.01)}
    if kind == "slider" and isinstance(st.get("value"), int | float) and e.kind == "slider":
        lo, hi = st.get("min", 0), st.get("max", 100)
        pct = round(100.0 * (st["value"] - lo) / max(1, hi - lo)) + slider_read_error(rng)
        return {"value": min(max(pct, 0), 100), "min": 0, "max": 100, "read": "pixels"}
    return {}


def _union(a: tuple[float, ...], b: tuple[float, ...]) -> tuple[float, float, float, float]:
    return (min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]))


#: Navigation buttons (a wizard's) by the word that names their role, and other words for that role. The
#: held-out wizard template's words (Previous, Continue, Done) are deliberately absent, so its success
#: still measures generalisation to unseen button words.
NAV_SYNONYMS: dict[str, tuple[str, ...]] = {
    "back": ("Back", "< Back", "Return", "Go back", "Backward", "Step back", "Earlier"),
    "next": ("Next", "Next >", "Forward", "Proceed", "Onward", "Advance", "Go on", "Next step"),
    "finish": ("Finish", "Complete", "Finalize", "End", "Apply", "Install", "Close", "Save"),
}
#: The held-out wizard template's button words: never used as a renamed button's word.
HELDOUT_NAV_WORDS = frozenset({"Previous", "Continue", "Done"})
#: Words the training templates give buttons that are clicked only when the instruction names them (a
#: dialog's OK, a counter's Add). A policy that only ever met them there learns "never click one unbidden"
#: and will not finish a wizard whose last button says such a word, so `rename_buttons` may give them to
#: navigation buttons (``decoy``). Measured on 10 held-out wizards with the finish button shown as "OK":
#: 2 finished before, 8 after a fine-tune with decoys. It did not carry over to a word it never saw in
#: that role: the held-out wizards' "Done" (a counter's word too) finished 2 of 31, up from 0.
DECOY_BUTTON_WORDS = ("OK", "Cancel", "Yes", "No", "Retry", "Keep", "Discard", "Delete", "Add", "Like",
                      "Vote", "Increment", "Plus one", "Next item", "Search", "Send", "Reply")  # fmt: skip
#: Kinds whose text a click task names ("Click Save", "Tick Dark mode").
RENAMED_KINDS = frozenset({"button", "checkbox", "radio", "tab"})
#: Short field captions, some of them stopwords ("At:", "By:"), for `rename_buttons` to give a field: a
#: held-out form may call its fields "To" and "Cc". Those two are deliberately absent.
SHORT_CAPTIONS = ("At", "By", "For", "On", "Re", "Via", "Ref", "Id", "Key", "Tag", "Bcc", "Attn")
_CAPTION = re.compile(r"^(\w[\w ]*?)\s*:$")


def _role(text: str) -> str | None:
    """The navigation role of a button text ("< Back" -> "back"), or None."""
    word = re.sub(r"[^\w ]", "", text).strip().casefold()
    return word if word in NAV_SYNONYMS else None


#: Letters of `novel_word`'s syllables: onset consonants (and clusters), vowels, codas.
_ONSETS = ("b", "br", "c", "ch", "d", "dr", "f", "fl", "g", "gr", "h", "j", "k", "l", "m", "n", "p", "pl", "qu",
           "r", "s", "sh", "st", "t", "tr", "v", "w", "z")  # fmt: skip
_VOWELS = ("a", "e", "i", "o", "u", "ai", "ea", "oo", "y")
_CODAS = ("", "", "", "n", "r", "l", "s", "t", "m", "ck", "nd", "x")


def novel_word(rng: random.Random) -> str:
    """A made-up, pronounceable word of 2-3 syllables ("Brolan", "Steaxim"): a button text no vocabulary
    has, whose character n-grams the policy has rarely seen, like an unfamiliar app's words."""
    syllables = [
        rng.choice(_ONSETS) + rng.choice(_VOWELS) + rng.choice(_CODAS) for _ in range(rng.randint(2, 3))
    ]
    return "".join(syllables).capitalize()


def rename_buttons(
    rec: EpisodeRecord, rng: random.Random, unrelated: float = 0.25, novel: float = 0.0, decoy: float = 0.0
) -> EpisodeRecord:
    """Unseen words, same task: rename element texts consistently on every step, so the policy cannot rely
    on the exact words of the training templates (a held-out app may say "Continue" for "Next").

    - A navigation button (`NAV_SYNONYMS`) gets another word for its role, on screen only; or (with
      probability ``unrelated``) all of them get unrelated words, so the policy must find each by its place
      and its enabled state (Finish: rightmost, enabled on the last page).
    - An element text the instruction names as a whole phrase ("click Export") gets an unrelated word in
      both places (instruction and screen), so the policy matches strings instead of recalling them.
    - So does a field's caption ("Email:" beside its text field, "Email: ada@x.org" in the instruction),
      sometimes with a short word ("Via:"), so forms are filled by matching names, not by known names.
    - With probability ``novel`` an unrelated word is made up (`novel_word`; never a vocabulary or a
      held-out word) instead of drawn from the sandbox's vocabulary. A policy that only ever saw known
      words picks wizard buttons by the word, not by the place, when their words are new (measured on 12
      held-out wizards: as Back/Next/Finish 12 finished, as Walrus/Pepper/Ginger none).
    - With probability ``decoy`` a navigation button's unrelated word is one the templates give other
      buttons (`DECOY_BUTTON_WORDS`), so a known word does not rule a button out of its place's role.

    Texts that a step types are never renamed (their copy labels would break).
    """
    from agent.envs.sandbox import vocab as V
    from agent.types import TypeText

    typed = " ".join(st.label.text for st in rec.steps if isinstance(st.label, TypeText))
    on_screen = {e.text for st in rec.steps for e in st.elements}
    role_words = {w.casefold() for group in NAV_SYNONYMS.values() for w in group}
    pool = [w for w in (*V.VERBS, *V.NOUNS)
            if w not in on_screen and w not in HELDOUT_NAV_WORDS and w.casefold() not in role_words]  # fmt: skip
    texts = {e.text for st in rec.steps for e in st.elements if e.kind in RENAMED_KINDS and e.text.strip()}
    instruction = rec.instruction
    # a made-up word is never on screen, a vocabulary word, a held-out one ("Do"+"ne") or one drawn before
    taken = on_screen | HELDOUT_NAV_WORDS | set(V.VERBS) | set(V.NOUNS) if novel > 0 else set()

    def draw() -> str:
        """An unrelated word: made up with probability ``novel``, else one from the vocabulary pool."""
        if novel > 0 and rng.random() < novel:
            word = novel_word(rng)
            while word in taken or word.casefold() in role_words:
                word = novel_word(rng)
            taken.add(word)
            return word
        return pool.pop(rng.randrange(len(pool)))

    decoys = [w for w in DECOY_BUTTON_WORDS if w not in on_screen]

    def draw_nav() -> str:
        """An unrelated word for a navigation button: a decoy with probability ``decoy``, else `draw`."""
        if decoys and rng.random() < decoy:
            return decoys.pop(rng.randrange(len(decoys)))
        return draw()

    nav: dict[str, str] = {}
    named: dict[str, str] = {}
    # all of an episode's navigation buttons lose their role words together, or none: with one role word
    # left ("Return" beside "Walrus") the policy could find Finish by elimination instead of by its place
    lose_roles = rng.random() < unrelated
    for text in sorted(texts):
        if text in typed:
            continue
        role = _role(text)
        if role is not None:  # on screen only: "Finish the wizard" names the task, not the button
            options = [
                w for w in NAV_SYNONYMS[role] if w.casefold() != text.casefold() and w not in on_screen
            ]
            if options and (not lose_roles or not pool):
                nav[text] = rng.choice(options)
            elif pool:
                nav[text] = draw_nav()
        elif pool and re.search(rf"(?<!\w){re.escape(text)}(?!\w)", instruction, re.IGNORECASE):
            named[text] = draw()
    stems: dict[str, str] = {}  # caption label -> the name it gives its field
    for text in sorted({e.text for st in rec.steps for e in st.elements if e.kind == "label"}):
        m = _CAPTION.match(text)
        if m is None or m.group(1).casefold() in typed.casefold():
            continue
        if re.search(rf"(?<!\w){re.escape(m.group(1))}(?!\w)", instruction, re.IGNORECASE):
            stems[text] = m.group(1)
    short = [w for w in SHORT_CAPTIONS if w not in on_screen]
    captions: dict[str, str] = {}
    for text, stem in stems.items():
        if short and rng.random() < 0.3:
            word = short.pop(rng.randrange(len(short)))
        elif pool:
            word = draw()
        else:
            continue
        captions[text] = f"{word}:"
        named[stem] = word
    mapping = {**nav, **named, **captions}
    if not mapping:
        return rec
    for old, new in sorted(named.items(), key=lambda kv: -len(kv[0])):  # "Last name" before "name"
        pattern = rf"(?<!\w){re.escape(old)}(?!\w)"
        instruction = re.sub(pattern, lambda _, new=new: new, instruction, flags=re.IGNORECASE)

    def ren(e: Element | None) -> Element | None:
        if e is None or e.text not in mapping:
            return e
        if e.kind in RENAMED_KINDS or (e.kind == "label" and e.text in captions):
            return dataclasses.replace(e, text=mapping[e.text])
        return e

    steps = [StepRecord([ren(e) for e in st.elements], st.label, ren(st.label_target), st.done, ren(st.done_target))
             for st in rec.steps]  # fmt: skip
    return EpisodeRecord(instruction, rec.screen, steps, rec.meta)


#: Interchangeable instruction words (lower case): `reword` swaps a word for another of its group.
INSTRUCTION_SYNONYMS: tuple[tuple[str, ...], ...] = (
    ("click", "press", "hit", "tap", "push"),
    ("choose", "select", "pick"),
    ("type", "enter", "write", "input"),
    ("change", "set", "adjust", "update"),
    ("then", "next", "afterwards"),
    ("finish", "complete"),
    ("field", "box"),
)
_SYNONYM_OF = {w: group for group in INSTRUCTION_SYNONYMS for w in group}
#: Words an instruction reads the same without.
INSTRUCTION_FILLERS = frozenset({"the", "please", "just", "now"})
_PREFIXES = ("Please ", "Now ", "Next task: ", "Could you do this: ", "OK. ")
_SUFFIXES = (" Thanks.", " Thank you!", " That's all.", " Quickly, please.")


def reword(rec: EpisodeRecord, rng: random.Random) -> EpisodeRecord:
    """Unseen phrasing, same task: swap instruction words for synonyms (`INSTRUCTION_SYNONYMS`), drop
    filler words and add a polite opening or closing, so the policy cannot key on a template's exact
    wording. Words that any element shows or any step types are never touched (they name targets and
    carry copy labels), nor are digits and quoted text.
    """
    from agent.types import TypeText

    protected = {
        m.group(0).casefold() for st in rec.steps for e in st.elements for m in re.finditer(r"\w+", e.text)
    }
    protected |= {m.group(0).casefold() for st in rec.steps if isinstance(st.label, TypeText)
                  for m in re.finditer(r"\w+", st.label.text)}  # fmt: skip
    quoted = [(m.start(), m.end()) for m in re.finditer(r"'[^']*'|\"[^\"]*\"|“[^”]*”", rec.instruction)]

    def swap(m: re.Match) -> str:
        word = m.group(0)
        low = word.casefold()
        if low in protected or any(a <= m.start() < b for a, b in quoted):
            return word
        if low in INSTRUCTION_FILLERS and rng.random() < 0.3:
            return ""
        group = _SYNONYM_OF.get(low)
        if group is None or rng.random() >= 0.5:
            return word
        new = rng.choice([w for w in group if w != low])
        return new.capitalize() if word[0].isupper() else new

    text = re.sub(r"[A-Za-z]+", swap, rec.instruction)
    text = re.sub(r"  +", " ", text).strip()
    if rng.random() < 0.2:
        text = rng.choice(_PREFIXES) + text
    if rng.random() < 0.2:
        text = text + rng.choice(_SUFFIXES)
    if text == rec.instruction:
        return rec
    return EpisodeRecord(text, rec.screen, rec.steps, rec.meta)


def hide_words(
    rec: EpisodeRecord, rng: random.Random, words: frozenset[str] = HELDOUT_NAV_WORDS
) -> EpisodeRecord:
    """Keep the held-out templates' words out of training: an element showing one of ``words`` (a counter's
    "Done", a click task's "Continue") gets a vocabulary word instead, in the instruction too where it
    names the element. Without this the held-out wizard's Previous/Continue/Done are not unseen words but
    words met in other roles: a counter's Done is clicked only when the instruction says so, and the
    policy then never clicks Done to finish a wizard (0 of 10 held-out wizards; 6-7 of 10 with the word
    made up). Texts that a step types are left alone.

    As a fine-tune of a policy trained without it (1000 steps) it changed nothing: held-out 448 of 500 vs
    447, the held-out wizard template finished 1 of 34; what the weights learnt about Done stays. Trained
    from scratch with it (runs/policy_s20, 4,500 steps), the policy finishes the held-out wizards: memory
    families 76.2% -> 87.3% and held-out templates 76.7% -> 92.5% on ground-truth elements, but on the
    detector's elements 369 of 500 against 394 (README: it follows false menu items)."""
    from agent.envs.sandbox import vocab as V
    from agent.types import TypeText

    hidden = {w.casefold() for w in words}
    texts = {e.text for st in rec.steps for e in st.elements if e.kind in RENAMED_KINDS}
    found = sorted(t for t in texts if t.strip().casefold() in hidden)
    typed = " ".join(st.label.text for st in rec.steps if isinstance(st.label, TypeText)).casefold()
    found = [t for t in found if t.strip().casefold() not in typed]
    if not found:
        return rec
    on_screen = {e.text for st in rec.steps for e in st.elements}
    role_words = {w.casefold() for group in NAV_SYNONYMS.values() for w in group}
    pool = [w for w in (*V.VERBS, *V.NOUNS)
            if w not in on_screen and w.casefold() not in hidden and w.casefold() not in role_words]  # fmt: skip
    mapping = {t: pool.pop(rng.randrange(len(pool))) for t in found if pool}
    instruction = rec.instruction
    for old, new in mapping.items():
        pattern = rf"(?<!\w){re.escape(old.strip())}(?!\w)"
        instruction = re.sub(pattern, lambda _, new=new: new, instruction, flags=re.IGNORECASE)

    def ren(e: Element | None) -> Element | None:
        if e is None or e.kind not in RENAMED_KINDS or e.text not in mapping:
            return e
        return dataclasses.replace(e, text=mapping[e.text])

    steps = [StepRecord([ren(e) for e in st.elements], st.label, ren(st.label_target), st.done, ren(st.done_target))
             for st in rec.steps]  # fmt: skip
    return EpisodeRecord(instruction, rec.screen, steps, rec.meta)


def rename_list_items(rec: EpisodeRecord, rng: random.Random) -> EpisodeRecord:
    """Unseen list contents: every list item gets a text of one new format ("Lopez, Sam Z.", "Pinned
    report", "Kiwi 12", "Kiwi_report_7.pdf"), in the same order (a sorted list stays sorted, so scrolling
    the same way still finds the item), on every step and in the instruction. Episodes with a combo box
    (whose text is one of its items) or that type an item's text are left as they are."""
    from agent.envs.sandbox import vocab as V
    from agent.types import TypeText

    if any(e.kind == "combo" for st in rec.steps for e in st.elements):
        return rec
    old = sorted({e.text for st in rec.steps for e in st.elements if e.kind == "list_item" and e.text})
    typed = " ".join(st.label.text for st in rec.steps if isinstance(st.label, TypeText))
    if not old or any(t in typed for t in old):
        return rec
    fmt = rng.randrange(4)
    exts = ("txt", "pdf", "png", "csv", "docx", "zip", "mp3")

    def make() -> str:
        if fmt == 0:
            return f"{rng.choice(V.LAST)}, {rng.choice(V.FIRST)} {chr(65 + rng.randrange(26))}."
        if fmt == 1:
            return f"{rng.choice(V.ADJECTIVES)} {rng.choice(V.NOUNS).lower()}"
        if fmt == 2:
            return f"{rng.choice(V.ITEMS)} {rng.randrange(1, 200)}"
        return f"{rng.choice(V.ITEMS)}_{rng.choice(V.NOUNS).lower()}_{rng.randrange(200)}.{rng.choice(exts)}"

    new: set[str] = set()
    for _ in range(50 * len(old)):
        if len(new) == len(old):
            break
        new.add(make())
    if len(new) < len(old):
        return rec
    mapping = dict(zip(old, sorted(new), strict=True))
    instruction = rec.instruction
    for a in sorted(old, key=len, reverse=True):  # longest first: no text is a part of a renamed one
        instruction = instruction.replace(a, mapping[a])

    def ren(e: Element | None) -> Element | None:
        if e is None or e.kind != "list_item" or e.text not in mapping:
            return e
        return dataclasses.replace(e, text=mapping[e.text])

    steps = [StepRecord([ren(e) for e in st.elements], st.label, ren(st.label_target), st.done, ren(st.done_target))
             for st in rec.steps]  # fmt: skip
    return EpisodeRecord(instruction, rec.screen, steps, rec.meta)


def add_clutter(rec: EpisodeRecord, rng: random.Random, max_groups: int = 3) -> EpisodeRecord:
    """Unseen layouts: 1..``max_groups`` extra widgets that no step acts on, at the same free place near the
    task's targets on every step: a numbered label ("2. Options", as a step list beside a wizard), a captioned empty text field
    ("Filter" above a list), or a button with an unrelated word. The policy must ignore what the task does
    not name, however much the screen holds."""
    from agent.envs.sandbox import vocab as V

    w, h = rec.screen
    # near what the task acts on (inside its app, where a filter box or a step list would be)
    boxes = [st.label_target.box for st in rec.steps if st.label_target is not None] or [(0, 0, w, h)]
    rx1, ry1 = max(0.0, min(b[0] for b in boxes) - 200), max(0.0, min(b[1] for b in boxes) - 150)
    rx2, ry2 = min(float(w), max(b[2] for b in boxes) + 200), min(float(h), max(b[3] for b in boxes) + 150)
    taken = [e.box for st in rec.steps for e in st.elements if e.kind not in ("label", "icon")]
    taken += [e.box for st in rec.steps for e in st.elements if e.kind in ("label", "icon") and e.text]
    words = [x for x in (*V.NOUNS, *V.VERBS) if x.casefold() not in rec.instruction.casefold()
             and x not in HELDOUT_NAV_WORDS]  # fmt: skip
    extra: list[Element] = []
    for _ in range(rng.randint(1, max_groups)):
        kind = rng.choice(("steps", "field", "button"))
        bw, bh = {"steps": (90, 3 * 22), "field": (220, 24), "button": (80, 24)}[kind]
        for _try in range(20):
            x = rng.uniform(rx1, max(rx1 + 1, rx2 - bw))
            y = rng.uniform(ry1, max(ry1 + 1, ry2 - bh - 20))
            box = (x, y, x + bw, y + bh + (20 if kind == "field" else 0))
            if all(not _overlap(box, b) for b in taken):
                break
        else:
            continue
        taken.append(box)
        if kind == "steps":
            names = [rng.choice(words) for _ in range(3)]
            extra += [Element((x, y + 22 * i, x + bw, y + 22 * i + 16), "label", text=f"{i + 1}. {n}")
                      for i, n in enumerate(names)]  # fmt: skip
        elif kind == "field":
            extra.append(
                Element((x, y, x + 60, y + 16), "label", text=rng.choice(("Filter", "Search", *words)))
            )
            extra.append(Element((x, y + 20, x + bw, y + 20 + bh), "text_field"))
        else:
            extra.append(Element((x, y, x + bw, y + bh), "button", text=rng.choice(words)))
    if not extra:
        return rec
    steps = [StepRecord([*st.elements, *extra], st.label, st.label_target, st.done, st.done_target)
             for st in rec.steps]  # fmt: skip
    return EpisodeRecord(rec.instruction, rec.screen, steps, rec.meta)


#: How far a nudged drag lands from its value (`nudge_sliders`), in the slider's steps, and how often.
NUDGE_OFFSETS: tuple[tuple[int, float], ...] = ((1, 0.6), (2, 0.25), (3, 0.15))


def nudge_sliders(rec: EpisodeRecord, rng: random.Random) -> EpisodeRecord:
    """Drags of a slider that land a point or a few short or past the value, and the arrow keys that fix
    them: after each such drag, one step per point off showing the slider (and the number beside it) that
    far from the value, labelled Right or Left as the expert labels them, then the episode goes on.

    The sandbox's drags land exactly, so its demonstrations never press an arrow on a slider; on the
    detector's boxes, a pixel or two off, a drag lands a point away (held-out "67" became 66), and a
    policy that never saw a fix either finishes there or drags again to the same place."""
    points, chances = zip(*NUDGE_OFFSETS, strict=True)
    steps: list[StepRecord] = []
    for st, nxt in zip(rec.steps, [*rec.steps[1:], None], strict=True):
        steps.append(st)
        t = st.label_target
        if nxt is None or not isinstance(st.label, Drag) or t is None or t.kind != "slider":
            continue
        landed = next((e for e in nxt.elements if e.kind == "slider" and e.box == t.box), None)
        value = (landed.state or {}).get("value") if landed is not None else None
        if not isinstance(value, int) or isinstance(value, bool):
            continue
        lo, hi = landed.state.get("min", 0), landed.state.get("max", 100)
        off = rng.choices(points, weights=chances)[0] * rng.choice((-1, 1))
        off = off if lo <= value + off <= hi else -off
        if not lo <= value + off <= hi:
            continue
        beside = number_beside(landed, shown_numbers(nxt.elements), value)
        shown = beside[0] if beside is not None and beside[1] == value else None
        for r in range(off, 0, -1) if off > 0 else range(off, 0):
            slider = dataclasses.replace(landed, state={**landed.state, "value": value + r})
            els = [
                slider if e is landed else dataclasses.replace(e, text=str(value + r)) if e is shown else e
                for e in nxt.elements
            ]
            steps.append(StepRecord(els, Hotkey(("left" if r > 0 else "right",)), slider))
    if len(steps) == len(rec.steps):
        return rec
    return EpisodeRecord(rec.instruction, rec.screen, steps, rec.meta)


def _overlap(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    return min(a[2], b[2]) > max(a[0], b[0]) and min(a[3], b[3]) > max(a[1], b[1])


# --------------------------------------------------------------------------------------------- loop
def warm_start(model: TransformerPolicyModel, folder: str | Path) -> dict[str, int]:
    """Copy the weights of an earlier run into ``model``: equal shapes are copied; a tensor that grew
    (more input features, more hotkeys) gets the old values in its leading slice and zeros elsewhere for new
    input columns, so the warm model starts out computing what the old one did. Returns counts."""
    from safetensors.torch import load_file

    state = load_file(str(Path(folder) / "model.safetensors"))
    own = model.state_dict()
    done = {"copied": 0, "grown": 0, "skipped": 0}
    with torch.no_grad():
        for k, v in state.items():
            if k not in own:
                done["skipped"] += 1
                continue
            t = own[k]
            v = v.to(t.dtype)
            if t.shape == v.shape:
                t.copy_(v)
                done["copied"] += 1
            elif t.ndim == v.ndim and all(a >= b for a, b in zip(t.shape, v.shape, strict=True)):
                if t.ndim == 2 and t.shape[0] == v.shape[0]:
                    t[:, v.shape[1] :] = 0  # new input features: no effect until learned
                t[tuple(slice(0, n) for n in v.shape)] = v
                done["grown"] += 1
            else:
                done["skipped"] += 1
    return done


def _lr(step: int, tc: TrainConfig, total: int) -> float:
    if step < tc.warmup:
        return tc.lr * (step + 1) / tc.warmup
    p = min(1.0, (step - tc.warmup) / max(1, total - tc.warmup))
    return tc.lr * (tc.min_lr_ratio + (1 - tc.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * p)))


class Trainer:
    """Holds the model, optimiser, data and counters; `run` trains until ``until`` steps."""

    def __init__(self, model_cfg: TransformerPolicyConfig, tc: TrainConfig, train: list[EpisodeRecord],
                 val: list[EpisodeRecord], *, log: Callable[[dict], None] | None = None):  # fmt: skip
        self.tc, self.cfg = tc, model_cfg
        self.rank = int(os.environ.get("RANK", "0"))
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        torch.manual_seed(tc.seed)
        self.model = TransformerPolicyModel(model_cfg)
        if tc.init_from:
            warm_start(self.model, tc.init_from)
        self.opt = torch.optim.AdamW(self._param_groups(), lr=tc.lr, betas=(0.9, 0.98))
        self.step = 0
        self.best_val = float("inf")
        self.train_records, self.val_records = list(train), list(val)
        self.extra_records: list[EpisodeRecord] = []  # gathered by DAgger
        self.rng = random.Random(tc.seed * 1000 + self.rank)
        self._cache: dict[int, dict] = {}
        self.out = Path(tc.out)
        self.log_fn = log
        self.ddp = None
        if self.world > 1:
            import torch.distributed as dist
            from torch.nn.parallel import DistributedDataParallel

            if not dist.is_initialized():
                dist.init_process_group("gloo")
            self.ddp = DistributedDataParallel(
                self.model, find_unused_parameters=True
            )  # heads idle in some batches

    def _param_groups(self) -> list[dict]:
        decay, no_decay, counter = [], [], []
        for name, p in self.model.named_parameters():
            if name == "step_emb.weight":
                counter.append(p)
            else:
                (no_decay if p.ndim < 2 or "norm" in name or name.endswith("bias") else decay).append(p)
        # the step counter starts at zero beside tokens of norm ~10: a larger step lets it matter in time
        return [
            {"params": decay, "weight_decay": self.tc.weight_decay},
            {"params": no_decay, "weight_decay": 0.0},
            {"params": counter, "weight_decay": 0.0, "lr_mult": self.tc.step_emb_lr_mult},
        ]

    # -------------------------------------------------------------------------------- batches
    def _encoded(self, rec: EpisodeRecord) -> dict:
        tc = self.tc
        changed = hide_words(rec, self.rng) if tc.hide_heldout else rec
        if tc.rename > 0 and self.rng.random() < tc.rename:
            changed = rename_buttons(changed, self.rng, tc.rename_unrelated, tc.rename_novel, tc.rename_decoy)
            changed = rename_list_items(changed, self.rng)
        if tc.clutter > 0 and self.rng.random() < tc.clutter:
            changed = add_clutter(changed, self.rng)
        if tc.reword > 0 and self.rng.random() < tc.reword:
            changed = reword(changed, self.rng)
        if tc.nudge > 0 and self.rng.random() < tc.nudge:
            changed = nudge_sliders(changed, self.rng)
        if tc.as_detected > 0 and self.rng.random() < tc.as_detected:
            changed = as_detected(changed, self.rng, reads=tc.as_detected_reads)
        if changed is not rec:
            return encode_episode(augment(changed, self.rng, tc.drop_elements, tc.jitter), self.cfg)
        if tc.drop_elements > 0 or tc.jitter > 0:
            return encode_episode(augment(rec, self.rng, tc.drop_elements, tc.jitter), self.cfg)
        key = id(rec)
        if key not in self._cache:
            self._cache[key] = encode_episode(rec, self.cfg)
        return self._cache[key]

    def batch(self) -> dict:
        pool = self.train_records + self.extra_records
        if not pool:
            raise DeskpilotError("no training episodes")
        share = self.tc.dagger_share if self.extra_records and self.train_records else 0.0
        recs = []
        for _ in range(self.tc.batch_episodes):
            if share > 0:
                src = self.extra_records if self.rng.random() < share else self.train_records
            else:
                src = pool
            recs.append(src[self.rng.randrange(len(src))])
        return collate([self._encoded(r) for r in recs], self.cfg)

    # -------------------------------------------------------------------------------- train / validate
    def train_step(self, total: int) -> dict[str, float]:
        self.model.train()
        lr = _lr(self.step, self.tc, total)
        for g in self.opt.param_groups:
            g["lr"] = lr * g.get("lr_mult", 1.0)
        b = self.batch()
        loss, logs = (self.ddp or self.model)(b)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        gn = torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.tc.grad_clip)
        self.opt.step()
        self.step += 1
        return {"step": self.step, "loss": float(loss.detach()), "lr": lr, "grad_norm": float(gn), **logs}

    @torch.no_grad()
    def validate(self, max_episodes: int = 256) -> dict[str, float]:
        """Mean loss and head accuracies on validation episodes (teacher-forced)."""
        self.model.eval()
        recs = self.val_records[:max_episodes]
        if not recs:
            return {}
        sums: dict[str, float] = {}
        n = 0
        for i in range(0, len(recs), 32):
            chunk = recs[i : i + 32]
            b = collate([encode_episode(r, self.cfg) for r in chunk], self.cfg)
            loss, logs = self.model(b)
            for k, v in {"loss": float(loss), **logs}.items():
                sums[k] = sums.get(k, 0.0) + v * len(chunk)
            n += len(chunk)
        return {f"val_{k}": v / n for k, v in sums.items()}

    def run(self, until: int, *, total: int | None = None, progress: Any = None) -> None:
        """Train until ``self.step == until``; ``total`` sets the LR schedule's length."""
        total = total or until
        tc = self.tc
        window: list[dict] = []
        t0 = time.perf_counter()
        while self.step < until:
            logs = self.train_step(total)
            window.append(logs)
            if progress is not None:
                progress(self.step, logs)
            if self.rank != 0:
                continue
            if self.step % tc.log_every == 0:
                mean = {k: sum(w.get(k, 0.0) for w in window) / len(window) for k in window[-1]}
                mean.update(step=self.step, sec_per_step=(time.perf_counter() - t0) / len(window))
                self.log({"kind": "train", **mean})
                window, t0 = [], time.perf_counter()
            if self.step % tc.val_every == 0 or self.step == until:
                self.refresh_data()
                val = self.validate()
                if val:
                    self.log({"kind": "val", "step": self.step, **val})
                    if val["val_loss"] < self.best_val:
                        self.best_val = val["val_loss"]
                        save_pretrained(self.model, self.out / "best", fp16=False,
                                        extra={"step": self.step, "val": val})  # fmt: skip
            if self.step % tc.save_every == 0 or self.step == until:
                self.save()

    def refresh_data(self) -> None:
        """Pick up episodes written into the data folders since the last look (demos still generating)."""
        seen = {r.meta.get("path", "") for r in self.train_records + self.val_records}
        new = load_records(self.tc.data, skip=seen)
        if new:
            self.train_records.extend(new)
            self.log({"kind": "data", "step": self.step, "new_episodes": len(new),
                      "train_episodes": len(self.train_records)})  # fmt: skip

    def log(self, row: dict) -> None:
        row = {"time": round(time.time(), 3), **row}
        self.out.mkdir(parents=True, exist_ok=True)
        with open(self.out / "log.jsonl", "a", encoding="utf-8") as f:
            f.write(json.dumps(row) + "\n")
        if self.log_fn is not None:
            self.log_fn(row)

    # -------------------------------------------------------------------------------- checkpoints
    def save(self, phase: dict | None = None) -> Path:
        """Write ``OUT/last.pt`` atomically (model, optimiser, step, configs, DAgger data, phase)."""
        self.out.mkdir(parents=True, exist_ok=True)
        if phase is not None:
            self.phase = phase
        ckpt = {
            "model": self.model.state_dict(), "opt": self.opt.state_dict(), "step": self.step,
            "best_val": self.best_val, "model_cfg": self.cfg.to_dict(), "train_cfg": self.tc.to_dict(),
            "extra_records": self.extra_records, "phase": getattr(self, "phase", {}),
            "rng": self.rng.getstate(),
        }  # fmt: skip
        tmp = self.out / "last.pt.tmp"
        torch.save(ckpt, tmp)
        os.replace(tmp, self.out / "last.pt")
        save_pretrained(self.model, self.out / "last", fp16=False, extra={"step": self.step})
        return self.out / "last.pt"

    def load(self, path: str | Path) -> None:
        ckpt = torch.load(path, map_location="cpu", weights_only=False)
        if TransformerPolicyConfig.from_dict(ckpt["model_cfg"]).to_dict() != self.cfg.to_dict():
            raise DeskpilotError(f"{path} was trained with another model config; start a new --out folder")
        self.model.load_state_dict(ckpt["model"])
        self.opt.load_state_dict(ckpt["opt"])
        self.step, self.best_val = ckpt["step"], ckpt["best_val"]
        self.extra_records = ckpt.get("extra_records", [])
        self.phase = ckpt.get("phase", {})
        self.rng.setstate(ckpt["rng"])


def checkpoint_configs(path: str | Path) -> tuple[TransformerPolicyConfig, dict]:
    """The model config and train config stored in a checkpoint (to resume with the same settings)."""
    ckpt = torch.load(path, map_location="cpu", weights_only=False)
    return TransformerPolicyConfig.from_dict(ckpt["model_cfg"]), ckpt["train_cfg"]


# --------------------------------------------------------------------------------------------- DAgger
def dagger_round(model: TransformerPolicyModel, tasks: list[Task], make_env: Callable[[], Any],
                 make_expert: Callable[[], Any], *, max_steps: int = 30,
                 progress: Callable[[int], None] | None = None,
                 perceive: Callable[[Any], list[Element]] | None = None) -> tuple[list[EpisodeRecord], dict]:  # fmt: skip
    """Run the policy on ``tasks``; label every visited state with the expert.

    Returns the labelled episodes (the policy's actions as ``done``, the expert's as ``label``) and the
    round's success rate. The expert must be able to answer from any state (`policies.scripted`).

    With ``perceive`` (an observation -> elements callable, e.g. `vision.perception.Perception`) the policy
    acts on, and the episode records, what perception found; the expert still decides from the sandbox's
    ground truth, and its target element is matched to a perceived one when the episode is encoded
    (`match_element`: by overlap, else the element under the action's point).
    """
    from agent.types import CallUser, Finished
    from policies.transformer.policy_transformer import TransformerPolicy

    policy = TransformerPolicy(model)
    expert = make_expert()
    records, wins = [], 0
    with make_env() as env:
        for i, task in enumerate(tasks):
            obs = env.reset(task)
            policy.reset(task)
            expert.reset(task)
            if perceive is not None and hasattr(perceive, "reset"):
                perceive.reset()
            steps = []
            for _ in range(max_steps):
                truth = list(obs.elements or [])
                seen = perceive(obs) if perceive is not None else truth
                want = expert.act(obs, truth)
                got = policy.act(obs, seen)
                steps.append(StepRecord(seen, want.action, want.target, got.action, got.target))
                if isinstance(got.action, Finished | CallUser):
                    break
                env.act(got.action)
                obs = env.observe()
            wins += bool(env.success())
            records.append(EpisodeRecord(task.instruction, obs.size, steps, meta={"task": task.to_dict()}))
            if progress is not None:
                progress(i + 1)
    return records, {"episodes": len(tasks), "success_rate": wins / max(len(tasks), 1)}


# --------------------------------------------------------------------------------------------- the whole run
def fit(tc: TrainConfig, model_overrides: dict[str, Any] | None = None, *, resume: bool = False,
        on_log: Callable[[dict], None] | None = None, progress: Any = None) -> Trainer:  # fmt: skip
    """Behaviour cloning for ``tc.steps`` steps, then ``tc.dagger_rounds`` DAgger rounds.

    With ``resume`` and ``OUT/last.pt`` present, the run continues from the checkpoint (same model config;
    ``tc`` may extend ``steps`` or add DAgger rounds). ``progress(step, total, logs)`` is called every step.
    """
    torch.set_num_threads(max(1, tc.threads))
    ckpt_path = Path(tc.out) / "last.pt"
    if resume and ckpt_path.exists():
        model_cfg, _ = checkpoint_configs(ckpt_path)
    else:
        if resume:
            raise DeskpilotError(f"nothing to resume: {ckpt_path} does not exist")
        model_cfg = TransformerPolicyConfig(**(model_overrides or {}))
    train_recs = load_records(tc.data)
    val_recs = load_records(tc.val_data) if tc.val_data else []
    if not val_recs:  # hold out a slice of the training episodes
        k = max(1, len(train_recs) // 20)
        train_recs, val_recs = train_recs[k:], train_recs[:k]
    if not (resume and ckpt_path.exists()):
        extend_hotkeys(model_cfg, train_recs)
    trainer = Trainer(model_cfg, tc, train_recs, val_recs, log=on_log)
    if resume and ckpt_path.exists():
        trainer.load(ckpt_path)
    trainer.log({"kind": "start", "step": trainer.step, "train_episodes": len(train_recs),
                 "val_episodes": len(val_recs), "params": sum(p.numel() for p in trainer.model.parameters()),
                 "model_cfg": model_cfg.to_dict(), "train_cfg": tc.to_dict()})  # fmt: skip
    total = tc.steps + tc.dagger_rounds * tc.dagger_steps

    def tick(step: int, logs: dict) -> None:
        if progress is not None:
            progress(step, total, logs)

    trainer.run(tc.steps, total=total, progress=tick)
    for r in range(tc.dagger_rounds):
        until = tc.steps + (r + 1) * tc.dagger_steps
        gathered = trainer.phase.get("dagger_gathered", -1) if hasattr(trainer, "phase") else -1
        if gathered < r:
            recs, stats = gather_dagger(trainer, r)
            trainer.extra_records.extend(recs)
            trainer.log({"kind": "dagger", "round": r, "step": trainer.step, **stats,
                         "aggregated_episodes": len(trainer.extra_records)})  # fmt: skip
            trainer.save(phase={"dagger_gathered": r})
        trainer.run(until, total=total, progress=tick)
    return trainer


def gather_dagger(trainer: Trainer, round_index: int) -> tuple[list[EpisodeRecord], dict]:
    """One DAgger round on fresh training-split tasks (a different slice each round)."""
    from agent.envs.sandbox.env import SandboxEnv
    from agent.envs.sandbox.families import generate_split
    from policies.scripted import ExpertPolicy

    tc = trainer.tc
    tasks = [
        t.to_task() for t in generate_split(tc.dagger_split, tc.dagger_episodes, seed=1000 + round_index)
    ]
    perceive = None
    if tc.dagger_elements == "detected":
        from policies.evaluate import make_perception

        perceive = make_perception(tc.detector or None, threads=tc.threads)
    elif tc.dagger_elements != "gt":
        raise DeskpilotError(f"dagger_elements must be gt or detected, got {tc.dagger_elements!r}")
    trainer.model.eval()
    recs, stats = dagger_round(trainer.model, tasks, SandboxEnv, ExpertPolicy, max_steps=tc.max_episode_steps,
                               perceive=perceive)  # fmt: skip
    trainer.model.train()
    return recs, {**stats, "elements": tc.dagger_elements}
