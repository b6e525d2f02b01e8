"""Processor: episodes of (instruction, elements, action) → tensors, and the model's choices → Actions.

An episode is encoded once (`encode_episode`, plain numpy + strings, cheap to cache) and batches of
encoded episodes are padded together (`collate`). Texts are not embedded here: every string of a batch
goes into one table (`strings`, turned into hashed n-gram ids), and tensors hold indices into it, so a
string seen on many steps is embedded once.

Per step the model sees: instruction tokens (words), element tokens, register tokens. Labels per step:

    act       [T]        index into ACTION_CLASSES (-100: unknown)
    tgt       [T]        index of the target element (-100: none)
    offset    [T, 4]     click point (u, v) inside the target box, in box units, and the drag end (u2, v2)
    span      [T, 2]     first and last copy candidate of the typed text (-100: not typing / not found)
    submit    [T]        1 when the typed text ends with a newline
    key       [T]        index into config.hotkeys
    sdir, samt [T]       scroll direction and amount-1
    write     [T]        element whose text to push into the registers (N = no write)

Copy candidates are, in order: instruction words [W], element words [N, We] (row-major), register
words [K, We].
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np
import torch

from agent.types import (
    Action,
    Click,
    Drag,
    Element,
    Finished,
    Hotkey,
    Move,
    Scroll,
    TypeText,
    Wait,
    action_point,
)
from policies.text import TextHasher, tokenize
from policies.transformer import cues as C
from policies.transformer.configuration_transformer import (
    ACTION_CLASSES,
    SCROLL_DIRECTIONS,
    TransformerPolicyConfig,
)

IGNORE = -100
#: Kinds whose name is a separate label beside them.
CAPTIONED = frozenset({"text_field", "text_area", "combo", "spin", "slider", "progress", "list_item"})
#: Kinds of a combo's open option list.
POPUP_KINDS = frozenset({"list_item", "menu_item"})
#: Copy-candidate words: runs of letters/digits, or one other non-space character (so spans rebuild any text).
WORD_RE = re.compile(r"\w+|[^\w\s]")
GEOM_DIM = 10  # x1, y1, x2, y2, w, h, cx, cy (screen units), log aspect, score
STATE_DIM = (
    13  # checked/enabled/focused (known, value) 6, instruction match 3, its caption's match 3 + found 1
)
WORD_DIM = C.WORD_DIM  # per-instruction-word cues (feature_version 2)


def state_dim(cfg: TransformerPolicyConfig) -> int:
    """Width of an element's state features: STATE_DIM, plus `cues.VALUE_DIM` with feature_version 2,
    plus `cues.ORDER_DIM` with feature_version 3."""
    return STATE_DIM + (C.VALUE_DIM if cfg.cues else 0) + (C.ORDER_DIM if cfg.order_cues else 0)


def word_spans(text: str, limit: int) -> list[tuple[int, int]]:
    """Character spans of the first ``limit`` words of ``text`` (a word: letters/digits, or one symbol)."""
    out = []
    for m in WORD_RE.finditer(text):
        if len(out) == limit:
            break
        out.append((m.start(), m.end()))
    return out


# --------------------------------------------------------------------------------------------- records
@dataclass
class StepRecord:
    """One step to learn from: what was on screen, what the expert says to do, what was actually done.

    In demonstrations ``label`` and ``done`` are the same action; in DAgger the policy did ``done`` and the
    expert labelled the state with ``label``. The memory reads ``done``.
    """

    elements: list[Element]
    label: Action | None
    label_target: Element | None = None
    done: Action | None = None
    done_target: Element | None = None

    def __post_init__(self) -> None:
        if self.done is None:
            self.done, self.done_target = self.label, self.label_target


@dataclass
class EpisodeRecord:
    instruction: str
    screen: tuple[int, int]  # (width, height) pixels
    steps: list[StepRecord]
    meta: dict[str, Any] = field(default_factory=dict)


# --------------------------------------------------------------------------------------------- elements
class InstructionMatch:
    """How much of an element's text the instruction mentions: the lexical cue that finds "the Save
    button" without waiting for attention to learn string matching from scratch.

    Three numbers in [0, 1]: the share of the element's words found among the instruction's words, the
    share of its character trigrams found in the instruction (robust to an OCR typo), and 1 when its whole
    text occurs in the instruction.
    """

    def __init__(self, instruction: str):
        self.text = C.fold(instruction)
        self.words = {m.group(0) for m in WORD_RE.finditer(self.text) if m.group(0).isalnum()}
        self.grams = _trigrams(self.text)
        self._seen: dict[str, tuple[float, float, float]] = {}  # element texts recur on every step

    def __call__(self, text: str) -> tuple[float, float, float]:
        hit = self._seen.get(text)
        if hit is None:
            if len(self._seen) >= 4096:  # a long live session (OCR noise) must not grow it forever
                self._seen.clear()
            hit = self._seen[text] = self._match(text)
        return hit

    def _match(self, text: str) -> tuple[float, float, float]:
        t = C.fold(text).strip()
        if not t:
            return 0.0, 0.0, 0.0
        words = [m.group(0) for m in WORD_RE.finditer(t) if m.group(0).isalnum()]
        w = sum(x in self.words for x in words) / len(words) if words else 0.0
        grams = _trigrams(t)
        g = len(grams & self.grams) / len(grams) if grams else 0.0
        return w, g, float(t in self.text)


@lru_cache(maxsize=256)
def instruction_match(instruction: str) -> InstructionMatch:
    """`InstructionMatch`, cached per instruction (it memoises the texts it has matched)."""
    return InstructionMatch(instruction)


def _trigrams(text: str) -> set[str]:
    padded = f" {text} "
    return {padded[i : i + 3] for i in range(len(padded) - 2)}


def caption_of(e: Element, labels: list[Element], others: list[Element] | None = None) -> Element | None:
    """The label that names ``e``: the nearest label on its left on the same row, or just above it.

    Text fields, spin boxes and combos carry no text of their own ("Type Ada into the Name field");
    their caption is a separate label beside them. With ``others`` (the screen's elements), a label that
    already names another element on its own row ("Rating:" left of a slider) is not taken as the caption
    of an element below it (the comment box under that slider).
    """
    x1, y1, x2, y2 = e.box
    h = max(y2 - y1, 1.0)
    best, best_d = None, float("inf")
    for lab in labels:
        if lab is e:
            continue
        lx1, _, lx2, ly2 = lab.box
        if _left_of(lab.box, e.box):
            d = x1 - lx2
        elif ly2 <= y1 + 4 and y1 - ly2 < 2.5 * h and min(x2, lx2) - max(x1, lx1) > 0:
            if others is not None and any(
                o is not e and o.kind in CAPTIONED and _left_of(lab.box, o.box) for o in others
            ):
                continue  # it names the element beside it
            d = 1.5 * (y1 - ly2) + 10  # prefer a caption on the left (form layouts)
        else:
            continue
        if d < best_d:
            best, best_d = lab, d
    return best


def _left_of(label: tuple[float, ...], box: tuple[float, ...]) -> bool:
    """Whether ``label`` sits on ``box``'s row, to its left (where a form puts a field's caption)."""
    x1, y1, _, y2 = box
    _, ly1, lx2, ly2 = label
    overlap_y = min(y2, ly2) - max(y1, ly1)
    return overlap_y >= 0.5 * min(max(y2 - y1, 1.0), ly2 - ly1) and lx2 <= x1 + 4 and x1 - lx2 < 400


def element_features(e: Element, screen: tuple[int, int], match: InstructionMatch | None = None,
                     caption: Element | None = None) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """([GEOM_DIM], [STATE_DIM]) float32 features of one element; geometry in screen units (0..1)."""
    w, h = max(screen[0], 1), max(screen[1], 1)
    x1, y1, x2, y2 = e.box
    bw, bh = (x2 - x1) / w, (y2 - y1) / h
    geom = np.array([x1 / w, y1 / h, x2 / w, y2 / h, bw, bh, (x1 + x2) / 2 / w, (y1 + y2) / 2 / h,
                     np.log((x2 - x1 + 1) / (y2 - y1 + 1)) / 4, e.score], np.float32)  # fmt: skip
    state = np.zeros(STATE_DIM, np.float32)
    for i, key in enumerate(("checked", "enabled", "focused")):
        v = e.state.get(key) if e.state else None
        if isinstance(v, bool):
            state[2 * i], state[2 * i + 1] = 1.0, float(v)
    if match is not None:
        state[6:9] = match(e.text)
        if caption is not None:
            state[9:12] = match(caption.text)
            state[12] = 1.0
    return geom, state


def match_element(elements: list[Element], target: Element | None, point: tuple[float, float] | None) -> int:
    """Index of ``target`` among ``elements`` (by id, else best box overlap), else the smallest element
    containing ``point``; -1 when neither finds one."""
    if target is not None:
        if target.id is not None:
            for i, e in enumerate(elements):
                if e.id == target.id and e.kind == target.kind:
                    return i
        best, best_iou = -1, 0.5
        for i, e in enumerate(elements):
            iou = _iou(e.box, target.box)
            if iou > best_iou:
                best, best_iou = i, iou
        if best >= 0:
            return best
    if point is not None:
        inside = [(i, _area(e.box)) for i, e in enumerate(elements) if e.contains(*point)]
        if inside:
            return min(inside, key=lambda t: t[1])[0]
    return -1


def _area(b: tuple[float, ...]) -> float:
    return max(b[2] - b[0], 0.0) * max(b[3] - b[1], 0.0)


def _iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = _area(a) + _area(b) - inter
    return inter / union if union > 0 else float(a == b)


def select_elements(elements: list[Element], limit: int, keep: tuple[int, ...] = ()) -> list[int]:
    """Indices of the elements to show the model: the first ``limit``, always including ``keep``."""
    if len(elements) <= limit:
        return list(range(len(elements)))
    keep = tuple(k for k in keep if k >= 0)
    chosen = list(keep) + [i for i in range(len(elements)) if i not in keep][: limit - len(keep)]
    return sorted(chosen)


# --------------------------------------------------------------------------------------------- actions
def action_class(action: Action | None) -> int:
    if action is None:
        return IGNORE
    if isinstance(action, Click):
        name = "double_click" if action.count >= 2 else "right_click" if action.button == "right" else "click"
    else:
        name = {Move: "move", Drag: "drag", Scroll: "scroll", TypeText: "type", Hotkey: "hotkey",
                Wait: "wait", Finished: "finished"}.get(type(action), "")  # fmt: skip
    return ACTION_CLASSES.index(name) if name else IGNORE


def hotkey_name(keys: tuple[str, ...]) -> str:
    return "+".join(keys)


def _offset(box: tuple[float, ...], x: float, y: float) -> tuple[float, float]:
    w, h = max(box[2] - box[0], 1.0), max(box[3] - box[1], 1.0)
    return (x - box[0]) / w, (y - box[1]) / h


class Registers:
    """A FIFO of ``k`` remembered strings (newest first): what the policy read on earlier screens."""

    def __init__(self, k: int):
        self.k = k
        self.items: list[str] = []

    def push(self, text: str) -> None:
        if text:
            self.items = [text, *[t for t in self.items if t != text]][: self.k]

    def snapshot(self) -> list[str]:
        return list(self.items) + [""] * (self.k - len(self.items))


def find_span(text: str, sources: list[tuple[str, list[tuple[int, int]]]]) -> tuple[int, int, int] | None:
    """(source index, first word, last word) of the first source whose words span exactly ``text``."""
    if not text:
        return None
    for s, (src, spans) in enumerate(sources):
        if text not in src:
            continue
        for i, (a, _) in enumerate(spans):
            if src[a:].startswith(text):
                for j in range(i, len(spans)):
                    if spans[j][1] - a == len(text):
                        return s, i, j
                    if spans[j][1] - a > len(text):
                        break
    return None


def _first_shown(text: str, steps: list[list[Element]]) -> tuple[int, int]:
    """(step, element) where ``text`` is first shown by an element that is not a popup option; (-1, -1)."""
    for t, els in enumerate(steps):
        for n, e in enumerate(els):
            if e.text == text and e.kind not in POPUP_KINDS:
                return t, n
    return -1, -1


def episode_clicks(rec: EpisodeRecord) -> list[dict]:
    """Per step, how often each element (`cues.click_key`) was clicked on the steps before it (the actions
    done, as the policy counts its own clicks when acting)."""
    out, counts = [], {}
    for st in rec.steps:
        out.append(dict(counts))
        if isinstance(st.done, Click) and st.done_target is not None:
            key = C.click_key(st.done_target)
            counts[key] = counts.get(key, 0) + 1
    return out


# --------------------------------------------------------------------------------------------- encoding
def encode_episode(rec: EpisodeRecord, cfg: TransformerPolicyConfig, *, keep_targets: bool = True,
                   registers: list[list[str]] | None = None, clicks: list[dict] | None = None) -> dict:  # fmt: skip
    """Numpy arrays and strings for one episode (see the module doc for the label layout).

    ``registers`` (acting, tests) gives each step's register contents instead of the hindsight labels.
    ``clicks`` (acting) gives each step's click counts so far (`cues.click_key` -> count) instead of
    counting the episode's own earlier ``done`` clicks.
    ``out["kept"][t]`` lists which of step t's elements the tensors hold, in order.

    Register writes are labelled in hindsight: when a typed text is not in the instruction or on the current
    screen, the last earlier element whose text holds it is the one the policy should have remembered.
    """
    W, We, K = cfg.max_words, cfg.max_elem_words, cfg.n_registers
    instr = rec.instruction
    instr_spans = word_spans(instr, W)
    T = len(rec.steps)
    # which elements each step shows, keeping label and done targets
    chosen, tgt_full, done_full = [], [], []
    for st in rec.steps:
        t_idx = match_element(st.elements, st.label_target, action_point(st.label) if st.label else None)
        d_idx = match_element(st.elements, st.done_target, action_point(st.done) if st.done else None)
        tgt_full.append(t_idx)
        done_full.append(d_idx)
        chosen.append(select_elements(st.elements, cfg.max_elements, (t_idx, d_idx) if keep_targets else ()))
    N = max([len(c) for c in chosen] + [1])
    geom = np.zeros((T, N, GEOM_DIM), np.float32)
    state = np.zeros((T, N, state_dim(cfg)), np.float32)
    ifeat = np.zeros((T, len(instr_spans), WORD_DIM), np.float32) if cfg.cues else None
    icues = C.instruction_cues(instr, W) if cfg.cues else None
    if cfg.cues and clicks is None:
        clicks = episode_clicks(rec)
    kind = np.zeros((T, N), np.int64)
    emask = np.zeros((T, N), bool)
    visual = np.zeros((T, N, cfg.visual_dim), np.float32) if cfg.visual_dim else None
    elem_text: list[list[str]] = []
    elem_words: list[list[list[str]]] = []
    elem_word_spans: list[list[list[tuple[int, int]]]] = []
    kinds = {k: i for i, k in enumerate(cfg.kinds)}
    match = instruction_match(instr)
    step_numbers: list[list[int | None]] = [[] for _ in range(T)]  # per shown element: its number (cues)
    for t, st in enumerate(rec.steps):
        texts, words, spans_t = [], [], []
        labels = [e for e in st.elements if e.kind == "label" and e.text]
        caps = [
            caption_of(st.elements[i], labels, st.elements) if st.elements[i].kind in CAPTIONED else None
            for i in chosen[t]
        ]
        if icues is not None and ifeat is not None and clicks is not None:
            shown = [st.elements[i] for i in chosen[t]]
            named = [C.element_words(e, c) for e, c in zip(shown, caps, strict=True)]
            numbers = C.lone_number(icues, shown, icues.element_numbers(named))
            step_numbers[t] = numbers
            screen_words = set().union(*named) if named else set()
            focus = next((n for n, e in enumerate(shown) if e.state.get("focused") is True), None)
            ifeat[t] = icues.word_features(screen_words, named[focus] if focus is not None else None,
                                           numbers[focus] if focus is not None else None)  # fmt: skip
            for n, e in enumerate(shown):
                state[t, n, STATE_DIM : STATE_DIM + C.VALUE_DIM] = C.value_features(
                    e, numbers[n], C.count_clicks(clicks[t], e)
                )
            if cfg.order_cues:
                state[t, : len(shown), STATE_DIM + C.VALUE_DIM :] = icues.mention_order(named)
        for n, i in enumerate(chosen[t]):
            e = st.elements[i]
            cap = caps[n]
            geom[t, n], state[t, n, :STATE_DIM] = element_features(e, rec.screen, match, cap)
            kind[t, n] = kinds.get(e.kind, kinds["other"])
            emask[t, n] = True
            if visual is not None and e.embedding is not None and e.embedding.shape[-1] == cfg.visual_dim:
                visual[t, n] = e.embedding
            sp = word_spans(e.text, We)
            texts.append(e.text)
            words.append([e.text[a:b] for a, b in sp])
            spans_t.append(sp)
        elem_text.append(texts)
        elem_words.append(words)
        elem_word_spans.append(spans_t)

    lab = {
        "act": np.full(T, IGNORE, np.int64), "tgt": np.full(T, IGNORE, np.int64),
        "offset": np.full((T, 4), np.nan, np.float32), "span": np.full((T, 2), IGNORE, np.int64),
        "submit": np.full(T, IGNORE, np.int64), "key": np.full(T, IGNORE, np.int64),
        "sdir": np.full(T, IGNORE, np.int64), "samt": np.full(T, IGNORE, np.int64),
        "write": np.full(T, N, np.int64),
        "done_act": np.full(T, IGNORE, np.int64), "done_tgt": np.full(T, -1, np.int64),
        "done_key": np.full(T, -1, np.int64),
    }  # fmt: skip
    done_text: list[str] = [""] * T
    keys = {k: i for i, k in enumerate(cfg.hotkeys)}

    def local(t: int, full: int) -> int:
        return chosen[t].index(full) if full >= 0 and full in chosen[t] else -1

    # hindsight register writes: a typed text found in no current source is read from an earlier screen
    for t, st in enumerate(rec.steps):
        if cfg.cues and isinstance(st.label, Click) and st.label_target is not None:
            # an option picked by a text the instruction never names ("put the first setting back"): the
            # value a combo showed before it was changed; remember it where it was first shown
            opt = st.label_target.text
            if st.label_target.kind in POPUP_KINDS and opt and opt.casefold() not in instr.casefold():
                t2, n2 = _first_shown(opt, [[rec.steps[a].elements[i] for i in chosen[a]] for a in range(t)])
                if t2 >= 0 and lab["write"][t2] == N:
                    lab["write"][t2] = n2
            continue
        if not isinstance(st.label, TypeText):
            continue
        text = st.label.text.rstrip("\n")
        srcs = [(instr, instr_spans), *list(zip(elem_text[t], elem_word_spans[t], strict=True))]
        if find_span(text, srcs) is not None:
            continue
        for t2 in range(t - 1, -1, -1):
            hit = find_span(text, list(zip(elem_text[t2], elem_word_spans[t2], strict=True)))
            if hit is not None:
                lab["write"][t2] = hit[0]
                break
    regs = Registers(K)
    reg_text = []
    for t in range(T):
        reg_text.append(regs.snapshot() if registers is None else (list(registers[t]) + [""] * K)[:K])
        if lab["write"][t] < N:
            regs.push(elem_text[t][lab["write"][t]])
    reg_spans = [[word_spans(s, We) for s in row] for row in reg_text]
    if cfg.cues:  # the element shows a remembered text (the option to restore, the code to find)
        for t in range(T):
            held = {r for r in reg_text[t] if r}
            for n, txt in enumerate(elem_text[t]):
                state[t, n, STATE_DIM + C.VALUE_DIM - 1] = float(bool(txt) and txt in held)

    for t, st in enumerate(rec.steps):
        a = st.label
        lab["act"][t] = action_class(a)
        tgt = local(t, tgt_full[t])
        if cfg.key_from_target and isinstance(a, Hotkey | TypeText) and tgt >= 0:
            lab["tgt"][t] = tgt  # the element the keys are for (the slider, the focused field)
        if isinstance(a, Click | Move | Scroll | Drag) and tgt >= 0:
            lab["tgt"][t] = tgt
            box = st.elements[tgt_full[t]].box
            p = action_point(a)
            assert p is not None
            lab["offset"][t, :2] = _offset(box, *p)
            if isinstance(a, Drag):
                lab["offset"][t, 2:] = _offset(box, a.x2, a.y2)
        if isinstance(a, TypeText):
            lab["submit"][t] = int(a.submit)
            text = a.text.rstrip("\n")
            srcs = [(instr, instr_spans)]
            srcs += list(zip(elem_text[t], elem_word_spans[t], strict=True))
            srcs += [("", [])] * (N - len(elem_text[t]))
            srcs += list(zip(reg_text[t], reg_spans[t], strict=True))
            hit = find_span(text, srcs)
            if hit is not None:
                s, i, j = hit
                base = 0 if s == 0 else W + (s - 1) * We if s <= N else W + N * We + (s - 1 - N) * We
                lab["span"][t] = (base + i, base + j)
        elif isinstance(a, Hotkey):
            lab["key"][t] = keys.get(hotkey_name(a.keys), IGNORE)
        elif isinstance(a, Scroll):
            lab["sdir"][t] = SCROLL_DIRECTIONS.index(a.direction)
            lab["samt"][t] = min(a.amount, cfg.scroll_max) - 1
        d = st.done
        lab["done_act"][t] = action_class(d)
        if isinstance(d, Click | Move | Scroll | Drag):  # the policy points only for these (as when acting)
            lab["done_tgt"][t] = local(t, done_full[t])
        if isinstance(d, TypeText):
            done_text[t] = d.text.rstrip("\n")
        elif isinstance(d, Hotkey):
            lab["done_key"][t] = keys.get(hotkey_name(d.keys), -1)
    return {
        "T": T, "N": N, "kept": chosen, "geom": geom, "state": state, "kind": kind, "emask": emask, "visual": visual,
        "ifeat": ifeat,
        "instr_words": [instr[a:b] for a, b in instr_spans], "elem_text": elem_text, "elem_words": elem_words,
        "reg_text": reg_text, "reg_words": [[[s[a:b] for a, b in sp] for s, sp in zip(row, sps, strict=True)]
                                            for row, sps in zip(reg_text, reg_spans, strict=True)],
        "done_text": done_text, "labels": lab, "numbers": step_numbers,
    }  # fmt: skip


# --------------------------------------------------------------------------------------------- batching
_HASHERS: dict[int, TextHasher] = {}


def hasher_for(cfg: TransformerPolicyConfig) -> TextHasher:
    """One cached hasher per bucket count (its word cache makes repeated strings cheap)."""
    if cfg.text_buckets not in _HASHERS:
        _HASHERS[cfg.text_buckets] = TextHasher(cfg.text_buckets)
    return _HASHERS[cfg.text_buckets]


class StringTable:
    """Unique strings of a batch → indices; index 0 is the empty string."""

    def __init__(self) -> None:
        self.index: dict[str, int] = {"": 0}
        self.strings: list[str] = [""]

    def __call__(self, s: str) -> int:
        i = self.index.get(s)
        if i is None:
            i = self.index[s] = len(self.strings)
            self.strings.append(s)
        return i

    def bags(self, hasher: TextHasher) -> dict[str, torch.Tensor]:
        """EmbeddingBag inputs of every string (`policies.text`): text_ids, text_offsets, text_weights, and
        text_nonempty [U] (strings with at least one word; the others embed to zeros)."""
        return text_bags(self.strings, hasher)


@lru_cache(maxsize=100_000)
def _words(text: str) -> tuple[str, ...]:
    """Normalised words of a string (cached: the same labels recur on every step)."""
    return tuple(tokenize(text))


def text_bags(strings: list[str], hasher: TextHasher) -> dict[str, torch.Tensor]:
    words = [_words(s) for s in strings]
    ids, offsets, weights = hasher.bags(words)
    nonempty = torch.tensor([bool(w) for w in words], dtype=torch.bool)
    return {"text_ids": ids, "text_offsets": offsets, "text_weights": weights, "text_nonempty": nonempty}


def collate(
    episodes: list[dict], cfg: TransformerPolicyConfig, *, labels: bool = True
) -> dict[str, torch.Tensor]:
    """Pad encoded episodes into a batch: every tensor is [B, T, ...]; ``smask`` [B, T] marks real steps.
    ``labels=False`` (acting) leaves the labels out."""
    B = len(episodes)
    T = max(e["T"] for e in episodes)
    N = max(e["N"] for e in episodes)
    We, K = cfg.max_elem_words, cfg.n_registers
    W = max([len(e["instr_words"]) for e in episodes] + [1])  # the batch's longest instruction
    table = StringTable()
    out: dict[str, Any] = {
        "smask": torch.zeros(B, T, dtype=torch.bool),
        "geom": torch.zeros(B, T, N, GEOM_DIM),
        "state": torch.zeros(B, T, N, state_dim(cfg)),
        "ifeat": torch.zeros(B, T, W, WORD_DIM) if cfg.cues else None,
        "kind": torch.zeros(B, T, N, dtype=torch.long),
        "emask": torch.zeros(B, T, N, dtype=torch.bool),
        "visual": torch.zeros(B, T, N, cfg.visual_dim) if cfg.visual_dim else None,
    }
    # string indices are filled in numpy (per-element tensor writes are slow) and converted once
    instr = np.zeros((B, W), np.int64)
    etext = np.zeros((B, T, N), np.int64)
    ewords = np.zeros((B, T, N, We), np.int64)
    rtext = np.zeros((B, T, K), np.int64)
    rwords = np.zeros((B, T, K, We), np.int64)
    done_text = np.zeros((B, T), np.int64)
    for b, ep in enumerate(episodes):
        t, n = ep["T"], ep["N"]
        out["smask"][b, :t] = True
        out["geom"][b, :t, :n] = torch.from_numpy(ep["geom"])
        out["state"][b, :t, :n] = torch.from_numpy(ep["state"])
        out["kind"][b, :t, :n] = torch.from_numpy(ep["kind"])
        out["emask"][b, :t, :n] = torch.from_numpy(ep["emask"])
        if out["visual"] is not None and ep["visual"] is not None:
            out["visual"][b, :t, :n] = torch.from_numpy(ep["visual"])
        if out["ifeat"] is not None and ep.get("ifeat") is not None:
            w = min(ep["ifeat"].shape[1], W)
            out["ifeat"][b, :t, :w] = torch.from_numpy(ep["ifeat"][:, :w])
        instr[b, : len(ep["instr_words"][:W])] = [table(w) for w in ep["instr_words"][:W]]
        for s in range(t):
            for j, txt in enumerate(ep["elem_text"][s]):
                etext[b, s, j] = table(txt)
                ws = ep["elem_words"][s][j]
                if ws:
                    ewords[b, s, j, : len(ws)] = [table(w) for w in ws]
            for j, txt in enumerate(ep["reg_text"][s]):
                if txt:
                    rtext[b, s, j] = table(txt)
                    ws = ep["reg_words"][s][j]
                    rwords[b, s, j, : len(ws)] = [table(w) for w in ws]
            done_text[b, s] = table(ep["done_text"][s])
    for key, arr in (("instr", instr), ("etext", etext), ("ewords", ewords), ("rtext", rtext), ("rwords", rwords),
                     ("done_text", done_text)):  # fmt: skip
        out[key] = torch.from_numpy(arr)
    by_key: dict[str, list] = {k: [] for k in episodes[0]["labels"]} if labels else {}
    for ep in episodes:
        for k in by_key:
            by_key[k].append((ep["labels"][k], ep["N"]))
    for k, items in by_key.items():
        out[k] = _pad_labels(k, items, T, N, cfg.max_words, W, We)
    out.update(table.bags(hasher_for(cfg)))
    out["strings"] = table.strings
    return out


def _pad_labels(key: str, items: list[tuple[np.ndarray, int]], T: int, N: int, W: int, Wb: int, We: int):
    """Pad one label over the batch. Spans were encoded with ``W`` = cfg.max_words instruction slots and the
    episode's element count; the batch has ``Wb`` instruction slots and ``N`` elements."""
    fill = {"offset": float("nan"), "done_tgt": -1, "done_key": -1}.get(key, IGNORE)
    first = items[0][0]
    shape = (len(items), T, *first.shape[1:])
    out = torch.full(shape, fill, dtype=torch.float32 if key == "offset" else torch.long)
    for b, (v, n) in enumerate(items):
        v = torch.from_numpy(v.copy())
        if key == "write":  # "no write" is class N of this episode: move it to the batch's N
            v = torch.where(v == n, torch.full_like(v, N), v)
        elif key == "span":  # candidates after the instruction move with the batch's W and N
            v = torch.where(v >= W + n * We, v + (N - n) * We, v)
            v = torch.where(v >= W, v - W + Wb, v)
        out[b, : v.shape[0]] = v
    return out


def candidate_text(instruction: str, elem_texts: list[str], reg_texts: list[str], start: int, end: int,
                   cfg: TransformerPolicyConfig, w: int, n: int) -> str:  # fmt: skip
    """The text of copy candidates ``start..end`` (inclusive, one source), spacing kept as in the source.

    The layout (module doc) has ``w`` instruction slots and ``n`` element slots (the batch's); '' when the
    span is not valid.
    """
    We = cfg.max_elem_words
    sources = [instruction, *(list(elem_texts) + [""] * n)[:n], *reg_texts]

    def locate(c: int) -> tuple[int, int]:  # (source index, word index)
        return (0, c) if c < w else (1 + (c - w) // We, (c - w) % We)

    (s1, i), (s2, j) = locate(start), locate(end)
    if s1 != s2 or j < i or s1 >= len(sources):
        return ""
    spans = word_spans(sources[s1], cfg.max_words if s1 == 0 else We)
    if j >= len(spans):
        return ""
    return sources[s1][spans[i][0] : spans[j][1]]
