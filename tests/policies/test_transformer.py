"""The transformer policy: processor shapes and labels, learning, parallel == recurrent, weights, acting."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from agent.errors import DeskpilotError, WeightsError
from agent.types import Click, Element, Finished, Hotkey, Observation, Scroll, Task, TypeText
from policies.transformer.configuration_transformer import ACTION_CLASSES, TransformerPolicyConfig
from policies.transformer.modeling_transformer import TransformerPolicyModel
from policies.transformer.policy_transformer import (
    TransformerPolicy,
    load_pretrained,
    save_pretrained,
)
from policies.transformer.processor_transformer import (
    IGNORE,
    EpisodeRecord,
    StepRecord,
    candidate_text,
    collate,
    encode_episode,
    find_span,
    word_spans,
)
from tests.policies.conftest import small_cfg

SCREEN = (640, 400)


pytestmark = pytest.mark.usefixtures("one_thread")


def el(i: int, kind: str = "button", text: str = "", x: float = 10, y: float = 10) -> Element:
    return Element((x, y + 30 * i, x + 80, y + 30 * i + 24), kind, text=text, id=i)


def memory_episode() -> EpisodeRecord:
    """Click Save, type a quoted text, go to the next page, type a code read on page 1, undo, finish."""
    p1 = [el(0, text="Save File"), el(1, "text_field"), el(2, "label", "Code: X7K2P"), el(3, text="Next")]
    p2 = [el(0, text="Back"), el(1, "text_field", x=200), el(2, text="Finish")]
    steps = [
        StepRecord(p1, Click(*p1[0].center), p1[0]),
        StepRecord(p1, TypeText("hello world\n"), p1[1]),
        StepRecord(p1, Click(*p1[3].center), p1[3]),
        StepRecord(p2, Click(*p2[1].center), p2[1]),
        StepRecord(p2, TypeText("X7K2P")),
        StepRecord(p2, Hotkey(("ctrl", "z"))),
        StepRecord(p2, Scroll(*p2[1].center, "down", 3), p2[1]),
        StepRecord(p2, Finished()),
    ]
    return EpisodeRecord(
        'Save the file, type "hello world", then enter the code on the next page', SCREEN, steps
    )


def test_word_spans_rebuild_any_text():
    text = "Mail j.smith@x.com now!"
    spans = word_spans(text, 20)
    assert [text[a:b] for a, b in spans] == ["Mail", "j", ".", "smith", "@", "x", ".", "com", "now", "!"]
    assert find_span("j.smith@x.com", [("nothing here", word_spans("nothing here", 9)), (text, spans)]) == (
        1,
        1,
        7,
    )
    assert find_span("smith@x", [(text, spans)]) == (0, 3, 5)
    assert find_span("mith", [(text, spans)]) is None  # not on word boundaries


def test_encode_labels_and_hindsight_register_write():
    cfg = small_cfg()
    ep = encode_episode(memory_episode(), cfg)
    lab = ep["labels"]
    assert [ACTION_CLASSES[a] for a in lab["act"]] == [
        "click", "type", "click", "click", "type", "hotkey", "scroll", "finished"]  # fmt: skip
    # the typed text's field is a pointer label too (key_from_target); steps without a target have none
    assert list(lab["tgt"]) == [0, 1, 3, 1, IGNORE, IGNORE, 1, IGNORE]
    old = encode_episode(memory_episode(), small_cfg(key_from_target=False))["labels"]["tgt"]
    assert list(old) == [0, IGNORE, 3, 1, IGNORE, IGNORE, 1, IGNORE]
    np.testing.assert_allclose(lab["offset"][0, :2], [0.5, 0.5])
    assert np.isnan(lab["offset"][1]).all()
    assert list(lab["submit"][[1, 4]]) == [1, 0]
    assert lab["key"][5] == cfg.hotkeys.index("ctrl+z")
    assert (lab["sdir"][6], lab["samt"][6]) == (1, 2)
    # the code typed on page 2 was only visible on page 1: the last page-1 step remembers it
    N = ep["N"]
    assert list(lab["write"]) == [N, N, 2, N, N, N, N, N]
    assert ep["reg_text"][3][0] == "Code: X7K2P" and ep["reg_text"][2][0] == ""
    # spans: "hello world" from the instruction, the code from register 0's third word
    instr = memory_episode().instruction
    args = (cfg, cfg.max_words, N)
    assert (
        candidate_text(instr, ep["elem_text"][1], ep["reg_text"][1], *lab["span"][1], *args) == "hello world"
    )
    assert lab["span"][4][0] == cfg.max_words + N * cfg.max_elem_words + 2
    assert candidate_text(instr, ep["elem_text"][4], ep["reg_text"][4], *lab["span"][4], *args) == "X7K2P"


def test_collate_shapes_masks_and_shifted_spans():
    cfg = small_cfg()
    long_ep = memory_episode()
    short = EpisodeRecord('type "abc"', SCREEN, [StepRecord([el(0, "text_field")], TypeText("abc"))])
    eps = [encode_episode(long_ep, cfg), encode_episode(short, cfg)]
    b = collate(eps, cfg)
    B, T, N = b["kind"].shape
    assert (B, T, N) == (2, 8, 4)
    assert b["smask"].tolist() == [[True] * 8, [True] + [False] * 7]
    assert b["emask"][1, 0].tolist() == [True, False, False, False]
    assert b["geom"].shape == (2, 8, 4, 10) and b["ewords"].shape == (2, 8, 4, cfg.max_elem_words)
    W = b["instr"].shape[1]
    assert len(eps[0]["instr_words"]) == W  # trimmed to the longest instruction of the batch
    assert (b["act"][1, 1:] == IGNORE).all()
    # each span label points at the right words in the batch layout
    strings = b["strings"]
    start, end = b["span"][1, 0].tolist()
    assert [strings[int(i)] for i in b["instr"][1, start : end + 1]] == ["abc"]
    start, end = b["span"][0, 4].tolist()
    reg0 = W + N * cfg.max_elem_words
    assert start == end == reg0 + 2 and strings[int(b["rwords"][0, 4, 0, 2])] == "X7K2P"
    # the second episode has one element: its "no write" class moved to the batch's N
    assert b["write"][1, 0] == N


def test_loss_decreases_and_overfits_a_tiny_batch():
    torch.manual_seed(0)
    cfg = small_cfg(d_model=64, n_heads=4)
    b = collate([encode_episode(memory_episode(), cfg)], cfg)
    model = TransformerPolicyModel(cfg)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    first = None
    for _ in range(120):
        loss, logs = model(b)
        first = first if first is not None else float(loss.detach())
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert float(loss.detach()) < 0.2 * first
    assert logs["acc_act"] == 1.0 and logs["acc_ptr"] == 1.0 and logs["acc_start"] == 1.0


@pytest.mark.parametrize("kind", ["linear", "s4d", "softmax"])
def test_parallel_forward_equals_acting_step_by_step(kind):
    """The key equivalence: training's parallel memory gives the read-outs acting builds one step at a time."""
    torch.manual_seed(1)
    cfg = small_cfg(memory=kind, memory_options={"n_heads": 2} if kind != "s4d" else {"d_state": 8})
    model = TransformerPolicyModel(cfg)
    torch.nn.init.normal_(model.step_emb.weight)  # zero at init: make the step counter count here
    policy = TransformerPolicy(model)
    rec = memory_episode()
    policy.reset(Task(rec.instruction))
    obs = Observation(np.zeros((SCREEN[1], SCREEN[0], 3), np.uint8))
    regs, decisions, logits = [], [], []
    for st in rec.steps:
        regs.append(policy.registers.snapshot())
        decisions.append(policy.act(obs, st.elements))
        logits.append(policy.last_logits)
    done = EpisodeRecord(rec.instruction, SCREEN, [StepRecord(st.elements, d.action, d.target)
                                                   for st, d in zip(rec.steps, decisions, strict=True)])  # fmt: skip
    b = collate([encode_episode(done, cfg, registers=regs)], cfg)
    with torch.no_grad():
        _, _, out, _ = model.step_logits(b)
    W, N, We = b["instr"].shape[1], b["kind"].shape[2], cfg.max_elem_words

    def close(a: torch.Tensor, b: torch.Tensor) -> None:
        torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-4)

    for t, st in enumerate(rec.steps):
        n = len(st.elements)  # acting saw n elements; the episode batch pads to N
        got = logits[t]
        for head in ("act", "key", "sdir", "samt", "submit"):
            close(out[head][t], got[head][0])
        close(out["ptr"][t, :n], got["ptr"][0])
        close(out["write"][t, :n], got["write"][0, :n])
        close(out["write"][t, N], got["write"][0, n])  # "remember nothing"
        close(out["start"][t, : W + n * We], got["start"][0, : W + n * We])  # instruction + element words
        close(out["start"][t, W + N * We :], got["start"][0, W + n * We :])  # register words
        assert int(out["act"][t].argmax()) == int(got["act"][0].argmax())
    # and the memory matters: with it switched off the step-1+ logits change
    with torch.no_grad():
        _, _, off, _ = model.step_logits(b, memory=False)
    assert (off["act"][1:] - out["act"][1:]).abs().max() > 1e-4
    torch.testing.assert_close(off["act"][0], out["act"][0])  # step 0 has no history either way


def test_act_returns_valid_actions_and_targets():
    torch.manual_seed(2)
    policy = TransformerPolicy(TransformerPolicyModel(small_cfg()))
    policy.reset(Task('type "abc" into Name'))
    obs = Observation(np.zeros((SCREEN[1], SCREEN[0], 3), np.uint8))
    elements = [
        el(i, k, t) for i, (k, t) in enumerate([("label", "Name"), ("text_field", ""), ("button", "OK")])
    ]
    for _ in range(5):
        d = policy.act(obs, elements)
        assert d.info["class"] in ACTION_CLASSES
        if isinstance(d.action, Click):
            assert d.target in elements and d.target.contains(d.action.x, d.action.y)
        if isinstance(d.action, TypeText):
            assert d.action.text.rstrip("\n") in policy.instruction + " ".join(e.text for e in elements)
    assert policy.act(obs, []).action is not None  # no elements: still a valid action


def test_save_load_round_trip_and_mismatch(tmp_path: Path):
    torch.manual_seed(3)
    cfg = small_cfg()
    model = TransformerPolicyModel(cfg).eval()
    b = collate([encode_episode(memory_episode(), cfg)], cfg)
    save_pretrained(model, tmp_path / "w", fp16=False)
    again = load_pretrained(tmp_path / "w")
    with torch.no_grad():
        torch.testing.assert_close(again.step_logits(b)[2]["act"], model.step_logits(b)[2]["act"])
    # fp16 files: same decisions within half precision
    save_pretrained(model, tmp_path / "h", fp16=True)
    assert (tmp_path / "h" / "model.safetensors").stat().st_size < (
        tmp_path / "w" / "model.safetensors"
    ).stat().st_size
    # a config that does not match the tensors
    doc = json.loads((tmp_path / "w" / "config.json").read_text())
    doc["config"]["d_model"] = 64
    (tmp_path / "w" / "config.json").write_text(json.dumps(doc))
    with pytest.raises(WeightsError, match="does not match"):
        load_pretrained(tmp_path / "w")
    with pytest.raises(WeightsError, match="no policy weights"):
        load_pretrained(tmp_path / "missing")
    with pytest.raises(DeskpilotError, match="unknown option"):
        TransformerPolicyConfig.from_dict({"d_modle": 3})


def test_golden_decision_is_deterministic():
    """Same seed, same weights, same input -> the same logits, bit for bit (guards silent changes)."""
    outs = []
    for _ in range(2):
        torch.manual_seed(4)
        cfg = small_cfg()
        model = TransformerPolicyModel(cfg).eval()
        b = collate([encode_episode(memory_episode(), cfg)], cfg)
        with torch.no_grad():
            outs.append(model.step_logits(b)[2]["act"])
    assert torch.equal(outs[0], outs[1])


def test_instruction_match_and_captions_mark_the_named_widget():
    from policies.transformer.processor_transformer import InstructionMatch, caption_of, element_features

    match = InstructionMatch("Type 'Ada' into the City field, then press Save")
    assert match("Save") == (1.0, 1.0, 1.0)
    assert match("Cancel") == (0.0, 0.0, 0.0)
    w, g, exact = match("Savo")  # an OCR typo keeps part of its trigrams, not the word
    assert w == 0.0 and 0.0 < g < 1.0 and exact == 0.0
    city = Element((10, 100, 60, 120), "label", text="City:")
    name = Element((10, 140, 60, 160), "label", text="Name:")
    field = Element((80, 98, 300, 122), "text_field")
    below = Element((80, 140, 300, 164), "text_field")
    assert caption_of(field, [city, name]) is city
    assert caption_of(below, [city, name]) is name
    _, state = element_features(field, SCREEN, match, caption_of(field, [city, name]))
    assert state[6:9].tolist() == [0.0, 0.0, 0.0]  # the field itself has no text
    assert state[9] == 1.0 and state[12] == 1.0  # its caption is the "City" the instruction names
