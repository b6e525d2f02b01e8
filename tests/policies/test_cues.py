"""Explicit cues (`policies.transformer.cues`): numbers, quotes, field names, values, click counts."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from agent.types import Click, Element, Finished, Hotkey, Observation, Task, TypeText
from policies.transformer import cues as C
from policies.transformer.configuration_transformer import TransformerPolicyConfig
from policies.transformer.modeling_transformer import TransformerPolicyModel
from policies.transformer.policy_transformer import (
    MAX_COUNTED,
    TransformerPolicy,
    load_pretrained,
    save_pretrained,
)
from policies.transformer.processor_transformer import (
    STATE_DIM,
    EpisodeRecord,
    StepRecord,
    collate,
    encode_episode,
)
from tests.policies.conftest import small_cfg

SCREEN = (640, 400)


pytestmark = pytest.mark.usefixtures("one_thread")


def box(i: int, x: float = 10) -> tuple[float, float, float, float]:
    return (x, 10 + 30 * i, x + 80, 34 + 30 * i)


# ------------------------------------------------------------------------------------ instruction parsing
def test_numbers_in_digits_and_words_belong_to_the_element_they_follow_or_precede():
    assert C.parse_number("42") == 42 and C.parse_number("Twice") == 2 and C.parse_number("three") == 3
    assert C.parse_number("Add") is None
    cases = {
        "Click 'Add' exactly 3 times, then press Done.": [3, None],
        "Press Add twice, and then Done.": [2, None],  # "twice" follows Add, not Done
        "Count out 4 presses of Add, then hit Done.": [4, None],  # before the name
        "Add × 5, then Done.": [5, None],
    }
    for text, want in cases.items():
        assert C.InstructionCues(text, 48).element_numbers([{"add"}, {"done"}]) == want, text


def test_step_and_page_numbers_set_nothing():
    cues = C.InstructionCues("Step 1: check 'Wifi'. Step 2: set Age to 27. Step 3: undo step 1.", 48)
    assert [n for _, n in cues.numbers] == [27]
    assert cues.element_numbers([{"wifi"}, {"age"}]) == [None, 27]
    cues = C.InstructionCues("Look at the code, advance two pages, and enter it on page 3.", 48)
    assert cues.numbers == []


def test_quotes_mark_the_words_inside_but_apostrophes_do_not():
    cues = C.InstructionCues("I'd like Name set to “Ada Lovelace”, don't 'Save'", 48)
    inside = [t for t, q in zip(cues.tokens, cues.quoted, strict=True) if q]
    assert inside == ["Ada", "Lovelace", "Save"]


def test_word_cues_point_at_the_value_after_the_focused_fields_name():
    text = "Register: First name: Maya, Last name: Novak, Phone: +46 961 7496; then click Send."
    cues = C.InstructionCues(text, 48)
    assert [cues.tokens[i] for i in cues.mention({"last", "name"})] == ["Last", "name"]  # not First's "name"
    f = cues.word_features({"phone", "send"}, {"phone"}, None)
    tok = cues.tokens
    after = {
        tok[i]: int(np.argmax(f[i, 5 : 5 + C.MAX_DIST])) + 1
        for i in range(len(tok))
        if f[i, 5 : 5 + C.MAX_DIST].any()
    }
    assert after["+"] == 2 and after["46"] == 3  # "Phone" ":" "+" -> the value starts 2 words after
    assert f[tok.index("Phone"), 3] == 1 and f[tok.index("Phone"), 2] == 1  # the field's name, on screen
    assert f[tok.index("961"), 1] == 1 and f[tok.index("Maya"), 1] == 0  # numbers
    before = f[:, 5 + C.MAX_DIST :]
    assert before[tok.index("Novak")].argmax() + 1 == 2  # "Novak" "," "Phone"


def test_a_caption_of_stopwords_only_names_its_field_as_a_label():
    to = Element((60, 10, 300, 34), "text_field")
    caption = Element((10, 10, 50, 34), "label", text="To:")
    assert C.element_words(to, caption) == {"to"}  # not empty: "To" is all the mail form calls it
    assert C.element_words(to, Element((10, 10, 50, 34), "label", text="Send to:")) == {"send"}
    text = "Write to the team: To: Kira Rossi, Subject: Monthly file, then click to send."
    cues = C.InstructionCues(text, 48)
    assert cues.mention({"to"}) == [cues.tokens.index("To")]  # the one written as a label
    f = cues.word_features({"to", "subject"}, {"to"}, None)
    assert int(np.argmax(f[cues.tokens.index("Kira"), 5 : 5 + C.MAX_DIST])) + 1 == 2  # "To" ":" "Kira"
    # a stopword never takes a number from the field it really belongs to
    cues = C.InstructionCues("Set Volume to 40.", 48)
    assert cues.element_numbers([{"volume"}, {"to"}]) == [40, None]


def test_mention_order_ranks_fields_as_the_instruction_lists_them():
    cues = C.InstructionCues("Provide To: Kira Rossi, Cc: Bo, Subject: Monthly file and then click Send.", 48)
    named = [{"subject"}, {"cc"}, {"to"}, {"send"}, {"draft"}]  # screen order differs from the list
    f = cues.mention_order(named)
    assert f.shape == (5, C.ORDER_DIM)
    assert list(f[:, 0]) == [1, 1, 1, 1, 0]  # "draft" is never mentioned
    assert list(f[:, 1]) == [2 / 3, 1 / 3, 0, 1, 0]  # To, Cc, Subject, Send
    assert f[2, 2] < f[1, 2] < f[0, 2] < f[3, 2] <= 1


def test_feature_version_3_encodes_the_mention_order_and_warm_starts_from_version_2(tmp_path: Path):
    from policies.train import warm_start

    els = [
        Element((90, 40, 300, 60), "text_field", id=0),
        Element((10, 40, 80, 60), "label", text="Cc:", id=1),
        Element((90, 10, 300, 30), "text_field", id=2),
        Element((10, 10, 80, 30), "label", text="To:", id=3),
    ]
    rec = EpisodeRecord("Fill in Cc: Bo, To: Kira.", SCREEN, [StepRecord(els, None)])
    v3 = TransformerPolicyConfig(**{**small_cfg().to_dict(), "feature_version": 3})
    ep = encode_episode(rec, v3, keep_targets=False)
    order = ep["state"][0, :, STATE_DIM + C.VALUE_DIM :]
    kept = ep["kept"][0]
    rank = {els[i].box[1]: order[n, 1] for n, i in enumerate(kept) if els[i].kind == "text_field"}
    assert rank == {40: 0.0, 10: 1.0}  # as listed: Cc (below) first, then To (on top)
    v2 = TransformerPolicyConfig(**{**small_cfg().to_dict(), "feature_version": 2})
    assert encode_episode(rec, v2, keep_targets=False)["state"].shape[-1] == STATE_DIM + C.VALUE_DIM
    old = TransformerPolicyModel(v2)
    save_pretrained(old, tmp_path / "v2", fp16=False)
    new = TransformerPolicyModel(v3)
    warm_start(new, tmp_path / "v2")
    batch = collate([ep], v3, labels=False)
    batch2 = collate([encode_episode(rec, v2, keep_targets=False)], v2, labels=False)
    with torch.no_grad():  # the new columns start at zero: the warm model computes what the old one did
        assert torch.allclose(new.embed(batch).elems, old.embed(batch2).elems, atol=1e-5)


# ------------------------------------------------------------------------------------ element values
def test_slider_value_target_and_difference():
    slider = Element(box(0), "slider", state={"value": 25, "min": 0, "max": 100})
    f = C.value_features(slider, 91, 0)
    assert f[0] == 1 and f[1] == pytest.approx(0.25) and f[2] == 1 and f[3] == pytest.approx(0.91)
    assert (f[4], f[5], f[6], f[7]) == (1, 0, 0, 1)  # up, at least a page
    f = C.value_features(slider, 22, 0)
    assert (f[4], f[5], f[6], f[7]) == (0, 1, 0, 0)  # down by less than a page
    assert C.value_features(slider, 25, 0)[6] == 1
    spin = Element(box(1), "spin", text="48 px")  # no state: the value is read from the text
    assert C.element_value(spin) == (48.0, None, None)
    assert not C.value_features(Element(box(2), "button", text="OK"), None, 0).any()


def test_a_lone_number_sets_the_one_settable_element_and_nothing_a_name_already_took():
    slider = Element(box(0), "slider", state={"value": 42, "min": 0, "max": 100})
    spin = Element(box(1), "spin", text="66 min")
    progress = Element(box(2), "progress", state={"value": 10})
    named = C.InstructionCues("Slide Rating to 43.", 48)
    assert C.lone_number(named, [slider, spin], [43, None]) == [43, None]  # not the Age spin box too
    bare = C.InstructionCues("Drag it to 40.", 48)
    assert C.lone_number(bare, [slider, progress], [None, None]) == [40, None]  # a progress bar is not set
    assert C.lone_number(bare, [slider, spin], [None, None]) == [None, None]  # which one: not said
    two = C.InstructionCues("Set it to 40, then 50.", 48)
    assert C.lone_number(two, [slider], [None]) == [None]


def test_click_counts_compare_with_the_number():
    add = Element(box(0), "button", text="Add")
    assert (C.value_features(add, 3, 2)[11], C.value_features(add, 3, 2)[12]) == (0, 1)
    assert (C.value_features(add, 3, 3)[11], C.value_features(add, 3, 3)[12]) == (1, 0)


# ------------------------------------------------------------------------------------ processor and acting
def click_n_episode(n: int = 3) -> EpisodeRecord:
    els = [Element(box(0), "button", text="Add", id=0), Element(box(1), "button", text="Done", id=1)]
    steps = [StepRecord(els, Click(*els[0].center), els[0]) for _ in range(n)]
    steps += [StepRecord(els, Click(*els[1].center), els[1]), StepRecord(els, Finished(True))]
    return EpisodeRecord(f"Press Add {n} times, then Done.", SCREEN, steps)


def test_encode_counts_earlier_clicks_and_marks_the_number():
    cfg = small_cfg()
    ep = encode_episode(click_n_episode(3), cfg)
    v = ep["state"][:, 0, STATE_DIM:]  # the Add button, every step
    assert ep["state"].shape[-1] == STATE_DIM + C.VALUE_DIM + C.ORDER_DIM
    assert v[:, 9].tolist() == pytest.approx([0, 1 / 8, 2 / 8, 3 / 8, 3 / 8])
    assert v[:, 11].tolist() == [0, 0, 0, 1, 1]  # clicked exactly 3 times from step 3 on
    assert v[:, 3].tolist() == pytest.approx([0.03] * 5)  # the number, in range units
    # Done: no number, no clicks before it is clicked
    assert not ep["state"][:4, 1, STATE_DIM + 2 : STATE_DIM + C.VALUE_DIM].any()
    assert ep["state"][4, 1, STATE_DIM + 9] == pytest.approx(1 / 8)
    b = collate([ep], cfg)
    assert b["ifeat"].shape == (1, 5, len(ep["instr_words"]), C.WORD_DIM)
    v1 = encode_episode(click_n_episode(3), small_cfg(feature_version=1))
    assert v1["state"].shape[-1] == STATE_DIM and v1["ifeat"] is None


def always_click_model() -> TransformerPolicyModel:
    torch.manual_seed(5)
    model = TransformerPolicyModel(small_cfg())
    with torch.no_grad():
        model.head_act.bias[:] = -10
        model.head_act.bias[0] = 10  # always "click"
    return model


def test_acting_counts_its_own_clicks_within_a_bound_and_not_without_memory():
    model = always_click_model()
    obs = Observation(np.zeros((SCREEN[1], SCREEN[0], 3), np.uint8))
    rec = click_n_episode(3)
    for memory in (True, False):
        policy = TransformerPolicy(model, memory=memory)
        policy.reset(Task(rec.instruction))
        targets = [policy.act(obs, st.elements).target for st in rec.steps[:4]]
        want = {}
        for t in targets:
            want[C.click_key(t)] = want.get(C.click_key(t), 0) + 1
        assert policy.clicks == (want if memory else {})
    policy = TransformerPolicy(model)
    policy.reset(Task("x"))
    for i in range(MAX_COUNTED + 10):  # a new element every step: the table stays bounded (O(1) state)
        policy.act(obs, [Element(box(0), "button", text=f"b{i}", id=0)])
    assert len(policy.clicks) == MAX_COUNTED and ("button", f"b{MAX_COUNTED + 9}") in policy.clicks


def test_disabled_elements_are_never_clicked():
    policy = TransformerPolicy(always_click_model())
    obs = Observation(np.zeros((SCREEN[1], SCREEN[0], 3), np.uint8))
    els = [Element(box(i), "button", text=t, state={"enabled": False} if i != 2 else {}, id=i)
           for i, t in enumerate(["Back", "Finish", "Next", "Cancel"])]  # fmt: skip
    policy.reset(Task("Click Finish"))
    for _ in range(3):
        d = policy.act(obs, els)
        assert isinstance(d.action, Click) and d.target is els[2]


def test_configs_saved_before_cues_load_as_version_1(tmp_path: Path):
    model = TransformerPolicyModel(small_cfg(feature_version=1))
    save_pretrained(model, tmp_path / "old", fp16=False)
    doc = json.loads((tmp_path / "old" / "config.json").read_text())
    del doc["config"]["feature_version"]
    (tmp_path / "old" / "config.json").write_text(json.dumps(doc))
    again = load_pretrained(tmp_path / "old")
    assert again.cfg.feature_version == 1 and again.word_cues is None
    assert TransformerPolicyConfig().feature_version == 3


def test_a_model_learns_to_stop_at_the_count_from_the_cues():
    """With the cues, the count and the number decide "Add" vs "Done": a tiny model fits n = 2..5."""
    torch.manual_seed(0)
    cfg = small_cfg(step_positions=1)  # no step counter: only the click-count cue can tell the steps apart
    model = TransformerPolicyModel(cfg)
    eps = [encode_episode(click_n_episode(n), cfg) for n in (2, 3, 4, 5)]
    b = collate(eps, cfg)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(150):
        loss, logs = model(b, memory=False)  # no memory either
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert logs["acc_ptr"] == 1.0


def test_type_and_hotkey_actions_do_not_count_as_clicks():
    els = [Element(box(0), "text_field", id=0)]
    rec = EpisodeRecord("Type 'a'", SCREEN, [StepRecord(els, Click(*els[0].center), els[0]),
                                             StepRecord(els, Hotkey(("ctrl", "a")), els[0]),
                                             StepRecord(els, TypeText("a"), els[0])])  # fmt: skip
    from policies.transformer.processor_transformer import episode_clicks

    assert [sum(c.values()) for c in episode_clicks(rec)] == [0, 1, 1]


def test_action_type_reads_the_pointed_element_and_starts_neutral():
    """act_from_target adds the pointed element's part to the action type; zero at first, so a warm start
    from a model without it decides exactly as that model did."""
    torch.manual_seed(6)
    plain = TransformerPolicyModel(small_cfg(act_from_target=False)).eval()
    both = TransformerPolicyModel(small_cfg()).eval()
    both.load_state_dict(plain.state_dict(), strict=False)
    b = collate([encode_episode(click_n_episode(2), small_cfg())], small_cfg())
    with torch.no_grad():
        torch.testing.assert_close(both.step_logits(b)[2]["act"], plain.step_logits(b)[2]["act"])
        torch.nn.init.normal_(both.head_act_tgt.weight)
        assert (both.step_logits(b)[2]["act"] - plain.step_logits(b)[2]["act"]).abs().max() > 1e-3
    assert TransformerPolicyConfig.from_dict({"d_model": 32, "n_heads": 2}).act_from_target is False


def test_an_option_the_instruction_never_names_is_remembered_where_it_was_first_shown():
    """ "Set Format to 'XML', ..., then change back what you did first": the old value must be remembered."""
    combo = lambda text: Element(box(0), "combo", text=text, id=0)  # noqa: E731
    popup = [Element(box(1 + i), "list_item", text=t, id=1 + i) for i, t in enumerate(["PDF", "XML", "JSON"])]
    check = Element(box(5), "checkbox", text="Wrap", id=5)
    s0, s1, s3 = [combo("PDF"), check], [combo("PDF"), *popup, check], [combo("XML"), check]
    steps = [StepRecord(s0, Click(*s0[0].center), s0[0]), StepRecord(s1, Click(*popup[1].center), popup[1]),
             StepRecord(s3, Click(*check.center), check), StepRecord(s3, Click(*s3[0].center), s3[0]),
             StepRecord([combo("XML"), *popup, check], Click(*popup[0].center), popup[0])]  # fmt: skip
    rec = EpisodeRecord(
        "Set Format to 'XML', then check 'Wrap', then change back what you did first.", SCREEN, steps
    )
    ep = encode_episode(rec, small_cfg())
    N = ep["N"]
    assert [int(w) for w in ep["labels"]["write"]] == [0, N, N, N, N]  # the combo's text, on step 0
    assert ep["reg_text"][4][0] == "PDF"
    shows = ep["state"][:, :, STATE_DIM + C.VALUE_DIM - 1]
    assert shows[4, 1] == 1 and shows[4, 2] == 0  # the PDF option shows the remembered text, XML does not
    assert not shows[0].any()  # nothing remembered yet
    named = encode_episode(EpisodeRecord("Set Format to 'PDF'.", SCREEN, steps), small_cfg())
    assert (named["labels"]["write"] == named["N"]).all()  # named in the instruction: nothing to remember


def test_shipped_weights_load_are_small_and_act():
    """weights/policy: fp16, under 10 MB, and it decides a valid action (whatever its feature version)."""
    from policies.transformer.policy_transformer import DEFAULT_WEIGHTS

    if not (DEFAULT_WEIGHTS / "model.safetensors").exists():
        pytest.skip("no shipped policy weights")
    assert (DEFAULT_WEIGHTS / "model.safetensors").stat().st_size < 10 * 2**20
    from safetensors.torch import load_file

    tensors = load_file(str(DEFAULT_WEIGHTS / "model.safetensors"))
    assert all(v.dtype == torch.float16 for v in tensors.values() if v.is_floating_point())
    policy = TransformerPolicy.from_pretrained(DEFAULT_WEIGHTS)
    els = [Element(box(0), "label", text="Name:", id=0), Element(box(0, x=100), "text_field", id=1),
           Element(box(2), "button", text="Save", id=2)]  # fmt: skip
    policy.reset(Task("Click the 'Save' button."))
    d = policy.act(Observation(np.zeros((SCREEN[1], SCREEN[0], 3), np.uint8)), els)
    assert isinstance(d.action, Click) and d.target is els[2]


def test_a_copied_span_partly_inside_quotes_keeps_only_the_quoted_words():
    from policies.transformer.policy_transformer import quote_bounded

    text = "Make the Street field say 'Basic video'."
    toks = C.InstructionCues(text, 48).tokens
    say, basic, video, close = toks.index("say"), toks.index("Basic"), toks.index("video"), len(toks) - 2
    assert quote_bounded(text, 48, say, video) == (basic, video)  # "say 'Basic video" -> "Basic video"
    assert quote_bounded(text, 48, basic, close) == (basic, video)  # "Basic video'" -> "Basic video"
    assert quote_bounded(text, 48, basic, video) == (basic, video)  # already right
    assert quote_bounded(text, 48, video, video) == (basic, video)  # a part of the quoted phrase: all of it
    assert quote_bounded(text, 48, say, say) == (basic, video)  # the word before the quotes: what they hold
    assert quote_bounded(text, 48, 0, 1) == (0, 1)  # "Make the": away from the quotes, unchanged
    plain = "Fill in Name: Ada Lovelace, then Save"
    assert quote_bounded(plain, 48, 4, 5) == (4, 5)  # nothing quoted: unchanged


def test_a_label_that_names_the_element_beside_it_does_not_caption_the_one_below():
    """Survey layout: "Rating:" left of a slider, the comment box right under it. The box is not "Rating"."""
    from policies.transformer.processor_transformer import caption_of

    rating = Element((10, 100, 60, 114), "label", text="Rating:")
    slider = Element((80, 99, 300, 115), "slider", state={"value": 40, "min": 0, "max": 100})
    comment = Element((10, 121, 300, 220), "text_area")
    labels, screen = [rating], [rating, slider, comment]
    assert caption_of(slider, labels, screen) is rating
    assert caption_of(comment, labels, screen) is None
    assert caption_of(comment, labels) is rating  # without the screen's elements: the nearest label above
    notes = Element((10, 100, 60, 114), "label", text="Notes")  # a label alone on its row names the box below
    assert caption_of(comment, [notes], [notes, comment]) is notes
    ep = encode_episode(EpisodeRecord("Drag Rating to 70.", SCREEN, [StepRecord(screen, None)]), small_cfg())
    assert ep["numbers"][0] == [70, 70, None]  # the label and its slider carry the number; the box does not


def test_slider_handle_follows_the_value_and_range():
    from policies.scripted import SLIDER_HANDLE
    from policies.transformer.policy_transformer import slider_handle

    s = Element((100, 50, 312, 66), "slider", state={"value": 25, "min": 0, "max": 100})
    span = 212 - SLIDER_HANDLE
    assert slider_handle(s) == (100 + SLIDER_HANDLE / 2 + 0.25 * span, 58)
    assert slider_handle(s, 0) == (100 + SLIDER_HANDLE / 2, 58)
    assert slider_handle(s, 100) == (312 - SLIDER_HANDLE / 2, 58)
    assert slider_handle(s, 500) == slider_handle(s, 100)  # clipped to the range
    shifted = Element(s.box, "slider", state={"value": 60, "min": 50, "max": 70})
    assert slider_handle(shifted) == slider_handle(s, 50)
    assert slider_handle(Element(s.box, "slider")) is None  # value unknown (detected elements)
    assert slider_handle(Element(s.box, "spin", text="25", state={"value": 25})) is None


def test_a_slider_is_dragged_from_its_handle_to_the_number_never_clicked():
    """The model says "click" on a slider: the policy drags its handle to where the instruction's number is."""
    from agent.types import Drag
    from policies.transformer.policy_transformer import slider_handle

    slider = Element((100, 50, 312, 66), "slider", state={"value": 80, "min": 0, "max": 100}, id=0)
    policy = TransformerPolicy(always_click_model())
    policy.reset(Task("Set the Volume slider to 30."))
    d = policy.act(Observation(np.zeros((SCREEN[1], SCREEN[0], 3), np.uint8)), [slider])
    assert isinstance(d.action, Drag) and d.info["class"] == "drag" and d.target is slider
    assert (d.action.x1, d.action.y1) == slider_handle(slider)
    assert (d.action.x2, d.action.y2) == slider_handle(slider, 30)
    button = Element((100, 50, 180, 74), "button", text="OK", id=0)  # anything else is still clicked
    d = policy.act(Observation(np.zeros((SCREEN[1], SCREEN[0], 3), np.uint8)), [button])
    assert isinstance(d.action, Click)


def test_a_copied_span_grows_to_whole_chunks_but_not_over_punctuation_or_quotes():
    from policies.transformer.policy_transformer import whole_chunks

    text = "Put in Phone: +36 711 5151, Website: zurich.com, Device: Ada-pc. Type 'sam.tanaka' (Oslo)."
    toks = C.InstructionCues(text, 48).tokens

    def at(word: str) -> int:
        return toks.index(word)

    def copied(a: int, b: int) -> str:
        s, e = whole_chunks(text, 48, a, b)
        return " ".join(toks[s : e + 1])

    assert copied(at("36"), at("5151")) == "+ 36 711 5151"  # "+36 711 5151", without the comma after it
    assert copied(at("zurich"), at("zurich")) == "zurich . com"  # not "zurich.com,"
    assert copied(at("Ada"), at("Ada")) == "Ada - pc"  # not "Ada-pc."
    assert copied(at("tanaka"), at("tanaka")) == "sam . tanaka"  # not the quotes around it
    assert copied(at("Oslo"), at("Oslo")) == "Oslo"  # not the brackets
    assert copied(at("Phone"), at("Phone")) == "Phone"  # not the colon after it
    assert whole_chunks(text, 48, 3, 99) == (3, 99)  # not a span of the instruction: unchanged


def test_a_name_ocr_misread_with_digits_still_matches_the_instruction():
    from policies.transformer.cues import fold
    from policies.transformer.processor_transformer import InstructionMatch

    match = InstructionMatch("Please press 'OK', then set Volume to 10.")
    assert match("0K") == match("OK") == (1.0, 0.0, 1.0)  # OCR's zero for the letter O
    assert match("Cancel") == (0.0, 0.0, 0.0)
    assert fold("Fi1e |tem") == "file ltem"
    assert fold("10 px +33 1 0") == "10 px +33 1 0"  # numbers keep their digits


def test_a_labelled_value_in_a_list_is_copied_whole_without_its_label():
    from policies.transformer.policy_transformer import labelled_value

    text = "Fill in the form (Username: Dev Weber, Phone: +33 234 5731, Email: ada.li@zurich.com) and click Save."
    toks = C.InstructionCues(text, 48).tokens

    def at(word: str, nth: int = 0) -> int:
        return [i for i, t in enumerate(toks) if t == word][nth]

    dev, weber, phone = at("Dev"), at("Weber"), at("Phone")
    assert labelled_value(text, 48, dev, dev) == (dev, weber)  # "Dev" -> "Dev Weber"
    assert labelled_value(text, 48, at("+"), at("+") + 1) == (at("+"), at("5731"))  # "+33" -> "+33 234 5731"
    assert labelled_value(text, 48, phone, at("5731")) == (at("+"), at("5731"))  # without "Phone:"
    assert labelled_value(text, 48, at("ada"), at("ada")) == (at("ada"), at("com"))  # "." inside an address
    assert labelled_value(text, 48, dev, at("5731")) == (dev, weber)  # not past the item's comma
    assert labelled_value(text, 48, at("Save"), at("Save")) == (at("Save"), at("Save"))  # no label: unchanged
    run_on = "Set Username: Dev Weber Phone: 12"
    assert labelled_value(run_on, 48, 3, 3) == (3, 3)  # runs into the next label: the model's span stays
    last = "Put in Name: Rosa Weber, Postcode: 27256 before pressing Place order."
    toks = C.InstructionCues(last, 48).tokens
    code = toks.index("27256")
    assert labelled_value(last, 48, code, code) == (code, code)  # the last item: its end is not written
    assert labelled_value(last, 48, code - 2, code) == (code, code)  # but its label still goes


def test_quotes_nest_and_an_apostrophe_inside_quotes_does_not_close_them():
    def inside(text: str) -> list[str]:
        cues = C.InstructionCues(text, 48)
        return [t for t, q in zip(cues.tokens, cues.quoted, strict=True) if q]

    assert inside("Open 'Bob's file' now") == ["Bob", "s", "file"]  # the apostrophe is not a quote
    assert inside("Apply 'uncheck 'Accept terms'', then 'set Age to 14'.") == [
        "uncheck", "Accept", "terms", "set", "Age", "to", "14"
    ]  # fmt: skip
    assert inside("Type 'abc and stop") == []  # never closed: nothing is quoted
    assert inside('Say "hi". Then don’t stop') == ["hi"]
