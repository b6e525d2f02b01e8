"""`TransformerPolicy`: the network behind the `Policy` interface — reset, act one step, save, load.

Acting keeps four things between steps, all of bounded size: the memory blocks' recurrent states, the
read-out for the next step, the text registers, and the click counts of the last `MAX_COUNTED` elements
it clicked (`cues.click_key`; feature_version 2). ``memory=False`` (the ablation) zeroes the read-out and
keeps the registers and counts empty, so nothing crosses from one step to the next.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from agent.errors import WeightsError
from agent.types import (
    Action,
    Click,
    Drag,
    Element,
    Finished,
    Hotkey,
    Move,
    Observation,
    Scroll,
    Task,
    TypeText,
    Wait,
)
from policies.base import Decision, Policy
from policies.scripted import slider_point
from policies.transformer import cues
from policies.transformer.configuration_transformer import (
    ACTION_CLASSES,
    SCROLL_DIRECTIONS,
    TransformerPolicyConfig,
)
from policies.transformer.modeling_transformer import TransformerPolicyModel
from policies.transformer.processor_transformer import (
    IGNORE,
    EpisodeRecord,
    Registers,
    StepRecord,
    candidate_text,
    collate,
    encode_episode,
    hasher_for,
    hotkey_name,
    text_bags,
    word_spans,
)

CONFIG_FILE, WEIGHTS_FILE = "config.json", "model.safetensors"
FORMAT = "deskpilot.policy.transformer"
#: Where the shipped weights live (repository root / weights / policy).
DEFAULT_WEIGHTS = Path(__file__).resolve().parents[2] / "weights" / "policy"
#: Click counts kept for this many distinct elements (the least recently clicked are forgotten).
MAX_COUNTED = 32


class TransformerPolicy(Policy):
    """Decides each step from the instruction, the elements and its O(1) memory of earlier steps."""

    name = "transformer"

    def __init__(self, model: TransformerPolicyModel, *, memory: bool = True, device: str = "cpu"):
        self.model = model.to(device).eval()
        self.cfg = model.cfg
        self.use_memory = memory
        self.device = torch.device(device)
        self.reset(Task(""))

    # ------------------------------------------------------------------------------------ acting
    def reset(self, task: Task | str | None = None) -> None:
        task = Task(task) if isinstance(task, str) else (task or Task(""))
        self.instruction = task.instruction
        self.states = self.model.init_memory(1)
        self.readout = torch.zeros(1, self.cfg.d_model, device=self.device)
        self.registers = Registers(self.cfg.n_registers)
        self.clicks: dict[tuple[str, str], int] = {}
        self.t = 0

    @torch.inference_mode()
    def act(self, observation: Observation, elements: list[Element]) -> Decision:
        """One decision; O(1) in the number of steps taken so far."""
        rec = EpisodeRecord(self.instruction, observation.size, [StepRecord(list(elements), None)])
        ep = encode_episode(rec, self.cfg, keep_targets=False, registers=[self.registers.snapshot()],
                            clicks=[dict(self.clicks)])  # fmt: skip
        kept = ep["kept"][0]
        batch = _to(collate([ep], self.cfg, labels=False), self.device)
        m = self.model
        inp = m.embed(batch)
        step = torch.tensor([self.t if self.use_memory else 0], device=self.device)
        enc = m.encode(inp, self.readout if self.use_memory else torch.zeros_like(self.readout), step)
        words = {"ewords": batch["ewords"][0], "rwords": batch["rwords"][0]}
        out = m.heads(words, inp, enc)
        self.last_logits = {k: v for k, v in out.items() if not k.startswith("_")}  # for tests and debugging
        shown = [elements[i] for i in kept]
        action, tgt, text, key, info = self._decode(batch, words, inp, enc, out, ep, shown, observation.size)
        if self.use_memory:
            # what was done, into the memory (its read-out is for the next step) and maybe a register
            dev = self.device
            text_emb = m.embed_texts(text_bags([text], hasher_for(self.cfg)))
            token = m.memory_tokens(inp, torch.tensor([ACTION_CLASSES.index(info["class"])], device=dev),
                                    torch.tensor([tgt], device=dev), text_emb, torch.tensor([key], device=dev))  # fmt: skip
            self.readout, self.states = m.memory_step(token, self.states)
            if isinstance(action, Click) and tgt >= 0:
                key = cues.click_key(shown[tgt])
                self.clicks[key] = self.clicks.pop(key, 0) + 1  # re-inserted: most recent last
                while len(self.clicks) > MAX_COUNTED:
                    self.clicks.pop(next(iter(self.clicks)))
            write = int(out["write"][0].argmax())
            if write < len(shown):
                self.registers.push(shown[write].text)
                info["remembered"] = shown[write].text
        self.t += 1
        return Decision(action, target=shown[tgt] if tgt >= 0 else None, info=info)

    def _decode(self, batch: dict, words: dict, inp: Any, enc: dict, out: dict, ep: dict, shown: list[Element],
                size: tuple[int, int]) -> tuple[Action, int, str, int, dict[str, Any]]:  # fmt: skip
        """The action the heads choose -> (action, target index, typed text, hotkey index, info)."""
        probs = out["act"][0].float().softmax(-1)
        cls = ACTION_CLASSES[int(probs.argmax())]
        info: dict[str, Any] = {"class": cls, "p": round(float(probs.max()), 4), "step": self.t}
        tgt, text, key = -1, "", -1
        if cls in ("click", "double_click", "right_click", "move", "drag", "scroll"):
            if not shown:
                return Wait(0.5), -1, "", -1, {**info, "class": "wait", "why": "no elements"}
            # a disabled element does nothing when clicked (the demonstrations never point at one)
            ptr = out["ptr"][0, : len(shown)].clone()
            disabled = torch.tensor([e.state.get("enabled") is False for e in shown], device=ptr.device)
            if not disabled.all():
                ptr = ptr.masked_fill(disabled, float("-inf"))
            tgt = int(ptr.argmax())
            if cls == "click" and slider_handle(shown[tgt]) is not None:
                # the demonstrations never click a slider (a click beside its handle pages the value by a
                # tenth of its range); they drag its handle, then fix the last steps with keys
                cls = info["class"] = "drag"
            u, v, u2, v2 = (float(z) for z in m_offset(self.model, enc, tgt))
            x1, y1, x2, y2 = shown[tgt].box
            bw, bh = x2 - x1, y2 - y1
            x = _clip(x1 + min(max(u, 0.0), 1.0) * bw, size[0])
            y = _clip(y1 + min(max(v, 0.0), 1.0) * bh, size[1])
            info["target"] = tgt
            if cls == "click":
                action: Action = Click(x, y)
            elif cls == "double_click":
                action = Click(x, y, count=2)
            elif cls == "right_click":
                action = Click(x, y, button="right")
            elif cls == "move":
                action = Move(x, y)
            elif cls == "drag":
                x2, y2 = x1 + u2 * bw, y1 + v2 * bh
                handle = slider_handle(shown[tgt])
                if handle is not None:  # grab the handle itself: a press beside it pages the value instead
                    x, y = _clip(handle[0], size[0]), _clip(handle[1], size[1])
                    goal = self._cue_target(ep, tgt)
                    if goal is not None:  # and let go where the handle shows the number the instruction gives
                        x2, y2 = slider_handle(shown[tgt], goal) or (x2, y2)
                action = Drag(x, y, _clip(x2, size[0]), _clip(y2, size[1]))
            else:
                d = SCROLL_DIRECTIONS[int(out["sdir"][0].argmax())]
                action = Scroll(x, y, d, int(out["samt"][0].argmax()) + 1)
        elif cls == "type":
            start = int(out["start"][0].argmax())
            end = int(
                self.model.end_logits(words, inp, enc, out, torch.tensor([start], device=self.device))[
                    0
                ].argmax()
            )
            if self.cfg.cues and end < batch["instr"].shape[1]:
                start, end = whole_chunks(self.instruction, self.cfg.max_words, start, end)
                start, end = quote_bounded(self.instruction, self.cfg.max_words, start, end)
                start, end = labelled_value(self.instruction, self.cfg.max_words, start, end)
            text = candidate_text(
                self.instruction,
                ep["elem_text"][0],
                ep["reg_text"][0],
                start,
                end,
                self.cfg,
                batch["instr"].shape[1],
                batch["kind"].shape[2],
            )
            if not text:
                return Wait(0.5), -1, "", -1, {**info, "class": "wait", "why": "empty copy span"}
            submit = bool(out["submit"][0].argmax())
            secret = any(e.state.get("focused") is True and e.state.get("password") for e in shown)
            action = TypeText(text + ("\n" if submit else ""), secret=secret)
        elif cls == "hotkey":
            key = int(out["key"][0].argmax())
            action = Hotkey(tuple(self.cfg.hotkeys[key].split("+")))
        elif cls == "finished":
            action = Finished(True)
        else:
            action = Wait(0.5)
        return action, tgt, text, key, info

    def _cue_target(self, ep: dict, n: int) -> float | None:
        """The value the instruction gives shown element ``n`` (`cues.value_features`), None if none."""
        numbers = ep.get("numbers")
        if not numbers or n >= len(numbers[0]) or numbers[0][n] is None:
            return None
        return float(numbers[0][n])

    # ------------------------------------------------------------------------------------ weights
    def save(self, path: str | Path, *, fp16: bool = True, extra: dict[str, Any] | None = None) -> Path:
        return save_pretrained(self.model, path, fp16=fp16, extra=extra)

    @classmethod
    def from_pretrained(
        cls, path: str | Path, *, memory: bool = True, device: str = "cpu"
    ) -> TransformerPolicy:
        return cls(load_pretrained(path), memory=memory, device=device)


def quote_bounded(instruction: str, limit: int, start: int, end: int) -> tuple[int, int]:
    """A copied value that touches a quoted phrase is that phrase, whole. An instruction span partly
    inside quotes becomes the phrase it enters ("say 'Jakarta" -> "Jakarta"; "501 6059" of '+5 501 6059'
    -> "+5 501 6059"), and a span that ends right before a quoted phrase took its lead-in ("say" of
    "say 'Brown'" -> "Brown"). A span away from any quotes is unchanged. Word indices, inclusive."""
    quoted = cues.InstructionCues(instruction, limit).quoted
    n = len(quoted)
    if not 0 <= start <= end < n:
        return start, end
    inside = [i for i in range(start, end + 1) if quoted[i]]
    if inside:
        anchor = inside[0]
    elif end + 2 < n and not quoted[end + 1] and quoted[end + 2]:  # end + 1 is the opening quote
        anchor = end + 2
    else:
        return start, end
    first = last = anchor
    while first > 0 and quoted[first - 1]:
        first -= 1
    while last + 1 < n and quoted[last + 1]:
        last += 1
    return first, last


def labelled_value(instruction: str, limit: int, start: int, end: int) -> tuple[int, int]:
    """A value given as "Label: value" in a list ("Username: Dev Weber, Phone: +33 234 5731, ...") is
    copied whole, without its label: a span that starts with the label skips it, and a span right after
    the colon runs to the end of its item when a comma, semicolon, bracket or quote closes it. The last
    item's end is not written ("Postcode: 27256 before pressing Save"), so there only the label goes.
    Spans elsewhere are unchanged. Word indices (as `word_spans` cuts them), inclusive."""
    spans = word_spans(instruction, limit)
    n = len(spans)
    if not 0 <= start <= end < n:
        return start, end

    def text(i: int) -> str:
        return instruction[spans[i][0] : spans[i][1]]

    colon = next((k for k in range(start, end) if text(k) == ":"), None)
    if colon is not None and all(text(k).isalnum() for k in range(start, colon)):
        start = colon + 1  # "Phone: +33 ..." -> "+33 ..."
    if start == 0 or text(start - 1) != ":" or start > end:
        return start, end
    last = start
    while last + 1 < n:
        nxt = text(last + 1)
        ends_sentence = nxt in ".!?" and (last + 2 >= n or spans[last + 1][1] < spans[last + 2][0])
        if nxt in ",;:)]}" or nxt in cues.QUOTES or ends_sentence:
            break
        last += 1
    if last + 1 >= n or (text(last + 1) not in ",;)]}" and text(last + 1) not in cues.QUOTES):
        # the list's last item ("Postcode: 27256 before pressing Save.") or one that runs into the next
        # label: where the value ends is not written, so the model's end stays
        return start, min(end, last)
    return start, last


def slider_handle(e: Element, value: float | None = None) -> tuple[float, float] | None:
    """Where a horizontal slider's handle is, from its value and range, or where it would be at ``value``
    (`policies.scripted.slider_point`, the geometry the expert drags by); None when the range or value is
    unknown, as with detected elements, or for anything but a horizontal slider."""
    if e.kind != "slider":
        return None
    v, lo, hi = cues.element_value(e)
    v = v if value is None else value
    x1, y1, x2, y2 = e.box
    if v is None or lo is None or hi is None or hi <= lo or x2 - x1 <= y2 - y1:
        return None
    return slider_point(e.box, v, lo, hi)


#: Symbols a copied value never starts after or ends before, though written against it: opening and closing
#: quotes and brackets, and the punctuation of the sentence around it ("Phone: +36 711 5151, City: ...").
_OPENERS = frozenset("([{<:;,") | cues.QUOTES
_CLOSERS = frozenset(")]}>,;:!?.") | cues.QUOTES


def whole_chunks(instruction: str, limit: int, start: int, end: int) -> tuple[int, int]:
    """Grow an instruction span to whole whitespace-separated chunks: a value is not cut inside what is
    written without spaces ("zurich.com", "+36", "Wen-pc"). Word indices (as `word_spans` cuts them),
    inclusive. The span does not grow over a quote or bracket, nor over punctuation that ends the chunk
    ("Perth," -> "Perth"; "zurich.com," -> "zurich.com")."""
    spans = word_spans(instruction, limit)
    if not 0 <= start <= end < len(spans):
        return start, end

    def joined(i: int) -> bool:  # token i is written against token i + 1
        return spans[i][1] == spans[i + 1][0]

    def text(i: int) -> str:
        return instruction[spans[i][0] : spans[i][1]]

    while start > 0 and joined(start - 1) and text(start - 1) not in _OPENERS:
        start -= 1
    while end + 1 < len(spans) and joined(end):
        nxt = end + 1
        inside = nxt + 1 < len(spans) and joined(nxt) and text(nxt + 1) not in _CLOSERS
        if text(nxt) in _CLOSERS and not inside:
            break  # punctuation after the value, not inside it ("." of "zurich.com" is inside)
        if text(nxt) in cues.QUOTES or text(nxt) in ")]}>":
            break
        end = nxt
    return start, end


def m_offset(model: TransformerPolicyModel, enc: dict, tgt: int) -> torch.Tensor:
    return model.offset(enc, torch.tensor([tgt], device=enc["h"].device))[0]


def _clip(v: float, limit: int) -> float:
    return float(min(max(v, 0.0), max(limit - 1, 0)))


def _to(batch: dict, device: torch.device) -> dict:
    return {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}


def save_pretrained(model: TransformerPolicyModel, path: str | Path, *, fp16: bool = True,
                    extra: dict[str, Any] | None = None) -> Path:  # fmt: skip
    """Write ``config.json`` and ``model.safetensors`` (fp16 by default) into folder ``path``."""
    from safetensors.torch import save_file

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    dtype = torch.float16 if fp16 else torch.float32
    state = {k: v.detach().to("cpu", dtype if v.is_floating_point() else v.dtype).contiguous()
             for k, v in model.state_dict().items()}  # fmt: skip
    save_file(state, str(path / WEIGHTS_FILE), metadata={"format": FORMAT})
    doc = {"format": FORMAT, "config": model.cfg.to_dict(), **(extra or {})}
    (path / CONFIG_FILE).write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    return path


def load_pretrained(path: str | Path) -> TransformerPolicyModel:
    """Rebuild the model from ``path`` (a folder with config.json + model.safetensors); WeightsError if the
    files are missing or do not match the configuration."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    path = Path(path)
    cfg_file, w_file = path / CONFIG_FILE, path / WEIGHTS_FILE
    if not cfg_file.is_file() or not w_file.is_file():
        raise WeightsError(f"no policy weights in {path} (need {CONFIG_FILE} and {WEIGHTS_FILE}); "
                           "train them with `deskpilot train policy`")  # fmt: skip
    try:
        doc = json.loads(cfg_file.read_text(encoding="utf-8"))
        cfg = TransformerPolicyConfig.from_dict(doc.get("config", doc))
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise WeightsError(f"{cfg_file}: not a policy config ({exc})") from None
    model = TransformerPolicyModel(cfg)
    try:
        state = load_file(str(w_file))
    except (SafetensorError, OSError) as exc:
        raise WeightsError(f"{w_file}: unreadable weights ({exc})") from None
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    bad = sorted(k for k in set(own) & set(state) if own[k].shape != state[k].shape)
    if missing or unexpected or bad:
        parts = []
        if missing:
            parts.append(f"missing {', '.join(missing[:3])}{' ...' if len(missing) > 3 else ''}")
        if unexpected:
            parts.append(f"unexpected {', '.join(unexpected[:3])}{' ...' if len(unexpected) > 3 else ''}")
        if bad:
            k = bad[0]
            parts.append(f"shape of {k}: weights {list(state[k].shape)} vs config {list(own[k].shape)}")
        raise WeightsError(f"{w_file} does not match {cfg_file}: {'; '.join(parts)}")
    model.load_state_dict({k: v.to(own[k].dtype) for k, v in state.items()})
    return model.eval()


def make_transformer_policy(weights: str | Path | None = None, device: str = "cpu", memory: bool = True,
                            **_: Any) -> TransformerPolicy:  # fmt: skip
    """Registry factory: the shipped weights unless ``weights`` names another folder."""
    return TransformerPolicy.from_pretrained(
        weights or DEFAULT_WEIGHTS, memory=memory, device=device or "cpu"
    )


__all__ = ["IGNORE", "TransformerPolicy", "hotkey_name", "load_pretrained", "make_transformer_policy",
           "save_pretrained"]  # fmt: skip
