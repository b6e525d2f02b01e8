"""Explicit cues the policy cannot easily learn from hashed words: numbers, quotes, values, click counts.

Hashed n-gram embeddings say what a word looks like, not what number it is, so "set Volume to 91" and
"click Add 3 times" need the number as a value: `InstructionCues` parses the instruction once (numbers,
written as digits or as "twice"/"three", quoted words, mentions of on-screen names) and derives:

- per element (`InstructionCues.element_numbers`, `value_features`): the number the instruction gives
  *this* element, its current value (slider, spin box), the difference between them, and how often the
  policy already clicked it (`click_key`, counted by the caller from its own past actions);
- per instruction word (`InstructionCues.word_features`): quoted? a number? does the screen show it? where
  is it relative to the words that name the focused field ("Phone: +46 961 7496" — the value follows its
  label)? These steer the copy head to the right span on instruction templates it never saw.

Everything here reads the instruction and the elements only (never the sandbox's privileged state).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache

import numpy as np

from agent.types import Element

#: Words that name a number.
NUMBER_WORDS = {"zero": 0, "one": 1, "once": 1, "two": 2, "twice": 2, "three": 3, "thrice": 3, "four": 4,
                "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10}  # fmt: skip
#: Words too common to count as a mention of an element.
STOPWORDS = frozenset(
    [
        "a",
        "an",
        "the",
        "to",
        "of",
        "in",
        "on",
        "at",
        "for",
        "and",
        "or",
        "then",
        "it",
        "is",
        "be",
        "by",
        "as",
        "with",
        "into",
        "from",
        "this",
        "that",
    ]
)
QUOTES = frozenset("'\"“”‘’«»")
#: A number after one of these words ("Step 1:", "page 3") or before the plural ("two pages") orders steps
#: or pages; it sets no value.
ORDINAL_NOUNS = frozenset({"step", "page"})
PLURAL_ORDINALS = frozenset({"steps", "pages"})
#: Kinds whose value is a number the instruction may set.
VALUED = frozenset({"slider", "spin", "progress"})
WINDOW_AFTER, WINDOW_BEFORE = 4, 3  # words between a name and the number that belongs to it
MAX_DIST = 6  # word distances to the focused field's name, one-hot 1..MAX_DIST on each side
VALUE_DIM = 14  # see `value_features` (13) + "shows a remembered text" (set by the processor)
WORD_DIM = 5 + 2 * MAX_DIST  # see `InstructionCues.word_features`
ORDER_DIM = 3  # see `InstructionCues.mention_order` (feature_version 3)
_DIGITS = re.compile(r"^\d+$")
_TOKEN = re.compile(r"\w+|[^\w\s]")


_CONFUSABLE = str.maketrans({"0": "o", "1": "l", "|": "l"})
_LETTER = re.compile(r"[^\W\d_]")


@lru_cache(maxsize=65536)  # pure, and the same labels are folded on every step
def fold(text: str) -> str:
    """Casefold, and read the digits OCR puts for look-alike letters as those letters ('0K' -> 'ok',
    'Fi1e' -> 'file') in every token that has a letter, so a misread name still matches the instruction.
    Tokens without letters ('10', '+33') keep their digits."""
    return re.sub(r"\S+", lambda m: m.group(0).translate(_CONFUSABLE) if _LETTER.search(m.group(0)) else m.group(0),
                  text.casefold())  # fmt: skip


def parse_number(word: str) -> int | None:
    """The integer a word names ("42", "Twice", "three"), else None."""
    w = word.casefold()
    if _DIGITS.match(w) and len(w) <= 6:
        return int(w)
    return NUMBER_WORDS.get(w)


def element_words(e: Element, caption: Element | None) -> set[str]:
    """Casefolded words that name an element in an instruction: its own text (unless it is a value, as in
    a spin box) and its caption's."""
    return set(
        _element_words(None if caption is None else caption.text, None if e.kind in VALUED else e.text)
    )


@lru_cache(maxsize=65536)
def _element_words(caption: str | None, own: str | None) -> frozenset[str]:
    out = set()
    for t in (caption, own):
        if t is not None:
            out.update(m.group(0) for m in _TOKEN.finditer(fold(t)) if m.group(0).isalnum())
    out = {w for w in out if parse_number(w) is None}
    # a name made of stopwords only ("To:" over a mail's recipient field) still names its element
    return frozenset({w for w in out if w not in STOPWORDS} or out)


@lru_cache(maxsize=256)
def instruction_cues(instruction: str, limit: int) -> InstructionCues:
    """`InstructionCues`, cached: an agent parses its one instruction once, not on every step. The
    result is shared, so it is read-only (its ``quoted`` array refuses writes)."""
    cues = InstructionCues(instruction, limit)
    cues.quoted.flags.writeable = False
    return cues


class InstructionCues:
    """The instruction parsed once: tokens (as `processor_transformer.word_spans` cuts them), numbers,
    quotes. ``limit`` is how many tokens the model keeps."""

    def __init__(self, instruction: str, limit: int):
        self.tokens = [m.group(0) for m in _TOKEN.finditer(instruction)][:limit]
        self.folded = [fold(t) for t in self.tokens]
        alnum = [i for i, t in enumerate(self.folded) if t.isalnum()]
        prev = {i: self.folded[alnum[r - 1]] if r else "" for r, i in enumerate(alnum)}
        after = {i: self.folded[alnum[r + 1]] if r + 1 < len(alnum) else "" for r, i in enumerate(alnum)}
        self.numbers = [(i, n) for i, t in enumerate(self.tokens) if (n := parse_number(t)) is not None
                        and prev.get(i) not in ORDINAL_NOUNS and after.get(i) not in PLURAL_ORDINALS]  # fmt: skip
        self.quoted = np.zeros(len(self.tokens), np.float32)
        # A quote mark opens after a space or bracket (or another quote) and before a non-space; it
        # closes an open quote after a non-space and before a space, punctuation or the end. Anything
        # else is an apostrophe ("don't", "Bob's"). Quotes nest ("Apply 'uncheck 'Wifi''"): every token
        # inside at least one pair is quoted.
        text = instruction
        spans = [(m.start(), m.end()) for m in _TOKEN.finditer(instruction)][:limit]
        stack: list[int] = []
        for i, t in enumerate(self.tokens):
            if t not in QUOTES:
                continue
            start, end = spans[i]
            before = text[start - 1] if start > 0 else " "
            after = text[end] if end < len(text) else " "
            if stack and not before.isspace() and not (after.isalnum() or after == "_"):
                open_at = stack.pop()
                self.quoted[open_at + 1 : i] = 1.0
            elif (before.isspace() or before in "([" or before in QUOTES) and not after.isspace():
                stack.append(i)
        self.quoted[[i for i, t in enumerate(self.tokens) if t in QUOTES]] = 0.0  # the marks themselves

    # -------------------------------------------------------------------------------- mentions
    def mention(self, words: set[str]) -> list[int]:
        """Token indices of the best run of consecutive tokens naming ``words``: most words covered, then
        one written as a label (followed by a colon: the "to" of "To: Kira" rather than of "click to send"),
        then the later run; e.g. "Last name" rather than the "name" of "First name"."""
        best: list[int] = []
        best_rank = (0, False)
        run: list[int] = []
        for i, t in enumerate([*self.folded, ""]):
            if t and t in words:
                run.append(i)
                continue
            if run:
                rank = (self._covered(run, words), t == ":")
                if rank >= best_rank:
                    best, best_rank = run, rank
            run = []
        return best

    def _covered(self, run: list[int], words: set[str]) -> int:
        return len({self.folded[j] for j in run} & words)

    def element_numbers(self, named: list[set[str]]) -> list[int | None]:
        """The number the instruction gives each element (``named``: each element's `element_words`).

        A number belongs to the nearest name before it (within WINDOW_AFTER words: "press Add 3 times"),
        else the nearest after it (within WINDOW_BEFORE: "do 3 clicks on Add"); an element gets the first
        number that belongs to one of its words.
        """
        words = [i for i, t in enumerate(self.folded) if t.isalnum()]  # distances count words only
        rank = {i: r for r, i in enumerate(words)}
        every = (set().union(*named) if named else set()) - STOPWORDS  # "to" joins a number to no field
        named_at = [i for i in words if self.folded[i] in every]
        owner: list[tuple[int, str]] = []  # (number, the word naming its element)
        for i, n in self.numbers:
            r = rank[i]
            left = [j for j in named_at if 0 < r - rank[j] <= WINDOW_AFTER]
            right = [j for j in named_at if 0 < rank[j] - r <= WINDOW_BEFORE]
            if left:
                owner.append((n, self.folded[max(left)]))
            elif right:
                owner.append((n, self.folded[min(right)]))
        return [next((n for n, w in owner if w in ws), None) for ws in named]

    def mention_order(self, named: list[set[str]]) -> np.ndarray:
        """[N, ORDER_DIM] float32 per element (``named``: each element's `element_words`): the instruction
        mentions it, the rank of that mention among the mentioned elements (0 first .. 1 last), and where
        in the instruction it starts (0 .. 1). Forms are filled in the order the instruction lists their
        fields, whatever the layout or the fields' words ("To: Kira, Cc: Bo, Subject: Plans")."""
        out = np.zeros((len(named), ORDER_DIM), np.float32)
        first = [run[0] if (run := self.mention(ws)) else None for ws in named]
        starts = sorted({i for i in first if i is not None})
        rank = {i: r / max(1, len(starts) - 1) for r, i in enumerate(starts)}
        for n, i in enumerate(first):
            if i is not None:
                out[n] = (1.0, rank[i], i / max(1, len(self.tokens) - 1))
        return out

    # -------------------------------------------------------------------------------- word features
    def word_features(self, screen_words: set[str], focus_words: set[str] | None,
                      focus_number: int | None) -> np.ndarray:  # fmt: skip
        """[W, WORD_DIM] float32 per instruction token: quoted, a number, the screen shows it, part of the
        focused field's name, the focused field's number, then one-hot distances after (1..MAX_DIST) and
        before (1..MAX_DIST) the focused field's name."""
        W = len(self.tokens)
        out = np.zeros((W, WORD_DIM), np.float32)
        out[:, 0] = self.quoted
        for i, n in self.numbers:
            out[i, 1] = 1.0
            if focus_number is not None and n == focus_number:
                out[i, 4] = 1.0
        for i, t in enumerate(self.folded):
            out[i, 2] = float(t.isalnum() and t in screen_words)
        run = self.mention(focus_words) if focus_words else []
        if run:
            out[run, 3] = 1.0
            first, last = run[0], run[-1]
            for i in range(W):
                if 0 < i - last <= MAX_DIST:
                    out[i, 5 + i - last - 1] = 1.0
                elif 0 < first - i <= MAX_DIST:
                    out[i, 5 + MAX_DIST + first - i - 1] = 1.0
        return out


# ------------------------------------------------------------------------------------ element values
def element_value(e: Element) -> tuple[float | None, float | None, float | None]:
    """(value, minimum, maximum) of a slider / spin box / progress bar (None where unknown); a spin box
    without a value in its state is read from its text ("42 px")."""
    if e.kind not in VALUED:
        return None, None, None
    st = e.state or {}
    v = st.get("value")
    if not isinstance(v, int | float) or isinstance(v, bool):
        m = re.search(r"-?\d+", e.text or "")
        v = float(m.group(0)) if m else None
    lo, hi = st.get("min"), st.get("max")
    lo = float(lo) if isinstance(lo, int | float) and not isinstance(lo, bool) else None
    hi = float(hi) if isinstance(hi, int | float) and not isinstance(hi, bool) else None
    if lo is None and hi is None and e.kind == "slider":
        lo, hi = 0.0, 100.0
    return (None if v is None else float(v)), lo, hi


def value_features(e: Element, number: int | None, clicks: int) -> np.ndarray:
    """[VALUE_DIM] float32: value known, value (range units), target known, target (range units), then the
    target minus the value: > 0, < 0, == 0, at least a page (a tenth of the range), clipped /100; then the
    clicks on it so far: /8, > 0, == target, < target (buttons only)."""
    out = np.zeros(VALUE_DIM, np.float32)
    v, lo, hi = element_value(e)
    span = (hi - lo) if lo is not None and hi is not None and hi > lo else 100.0
    base = lo if lo is not None and hi is not None and hi > lo else 0.0
    if v is not None:
        out[0], out[1] = 1.0, np.clip((v - base) / span, -1.0, 2.0)
    if number is not None:
        out[2], out[3] = 1.0, np.clip((number - base) / span, -1.0, 2.0)
    if v is not None and number is not None:
        d = number - v
        page = max(1.0, span // 10)
        out[4], out[5], out[6] = float(d > 0), float(d < 0), float(d == 0)
        out[7], out[8] = float(abs(d) >= page), np.clip(d / 100.0, -1.0, 1.0)
    out[9], out[10] = min(clicks, 16) / 8.0, float(clicks > 0)
    if number is not None and e.kind not in VALUED:
        out[11], out[12] = float(clicks == number), float(clicks < number)
    return out


#: Valued kinds a person sets (a progress bar only shows its value).
SETTABLE = frozenset({"slider", "spin"})


def lone_number(
    cues: InstructionCues, elements: list[Element], numbers: list[int | None]
) -> list[int | None]:
    """A lone number in the instruction that no name claimed sets the one settable element on screen
    ("Drag it to 40"); with two or more (a slider and a spin box), or once a name claimed it, it sets
    nothing else. ``numbers``: `InstructionCues.element_numbers` for ``elements``."""
    if len(cues.numbers) != 1 or any(n is not None for n in numbers):
        return numbers
    settable = [i for i, e in enumerate(elements) if e.kind in SETTABLE]
    if len(settable) != 1:
        return numbers
    out = list(numbers)
    out[settable[0]] = cues.numbers[0][1]
    return out


def click_key(e: Element) -> tuple[str, str]:
    """What identifies an element across steps for click counting: its kind and text."""
    return e.kind, e.text


def count_clicks(counts: Mapping[tuple[str, str], int], e: Element) -> int:
    return int(counts.get(click_key(e), 0))
