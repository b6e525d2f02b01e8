"""Training the transformer policy: traces -> episodes, the loop, checkpoints and resume, DAgger, eval, CLI."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest
import torch

from agent.trace import TraceWriter
from agent.types import ActionResult, Click, Element, Finished, Observation, Step, Task, TypeText
from policies.train import TrainConfig, Trainer, augment, dagger_round, fit, load_records, record_from_trace
from policies.transformer.configuration_transformer import TransformerPolicyConfig
from policies.transformer.policy_transformer import TransformerPolicy
from policies.transformer.processor_transformer import EpisodeRecord, StepRecord, encode_episode

TINY = {"d_model": 32, "n_heads": 2, "n_layers": 1, "text_dim": 16, "text_buckets": 512}


@pytest.fixture(autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def write_demo(path: Path, i: int, success: bool = True) -> Path:
    """An expert-like episode: click the named button (left or right of two), type a word, finish."""
    rng = random.Random(i)
    names = rng.sample(["Save", "Open", "Close", "Print", "Share"], 2)
    want = rng.randrange(2)
    word = rng.choice(["alpha", "beta", "gamma"])
    els = [Element((20 + 200 * k, 50, 140 + 200 * k, 80), "button", text=names[k], id=k) for k in range(2)]
    field = Element((20, 120, 300, 150), "text_field", id=2)
    screen = [*els, field]
    task = Task(f"Click {names[want]} and type '{word}'", id=f"demo{i}")
    steps = [(Click(*els[want].center), els[want]), (Click(*field.center), field), (TypeText(word), field),
             (Finished(True), None)]  # fmt: skip
    with TraceWriter(
        path, task=task, target="sandbox", env_info={"screen": [640, 400]}, policy="expert"
    ) as w:
        for k, (a, t) in enumerate(steps):
            w.write_step(Step(index=k, action=a, elements=screen, target=t, result=ActionResult()))
        w.close({"success": success, "steps": len(steps)})
    return path


@pytest.fixture
def demos(tmp_path: Path) -> Path:
    root = tmp_path / "demos"
    for i in range(24):
        write_demo(root / f"{i:03d}", i)
    write_demo(root / "failed", 99, success=False)
    return root


def test_records_from_traces_skip_failures(demos: Path):
    recs = load_records([demos])
    assert len(recs) == 24  # the failed episode is left out
    rec = record_from_trace(demos / "000")
    assert rec is not None and rec.screen == (640, 400) and len(rec.steps) == 4
    assert rec.instruction.startswith("Click ") and isinstance(rec.steps[2].label, TypeText)
    assert record_from_trace(demos / "failed") is None


def test_augment_keeps_targets_and_perturbs_others(demos: Path):
    rec = load_records([demos / "000"])[0]
    noisy = augment(rec, random.Random(0), drop=1.0, jitter=0.2)
    for before, after in zip(rec.steps, noisy.steps, strict=True):
        if before.label_target is not None:
            assert any(e.box == before.label_target.box for e in after.elements)
        assert len(after.elements) == (1 if before.label_target is not None else 0)
    jittered = augment(rec, random.Random(1), drop=0.0, jitter=0.2)
    assert any(a.box != b.box for a, b in zip(rec.steps[3].elements, jittered.steps[3].elements, strict=True))


def test_trainer_learns_checkpoints_and_resumes(demos: Path, tmp_path: Path):
    out = tmp_path / "run"
    tc = TrainConfig(data=[str(demos)], out=str(out), steps=40, batch_episodes=6, lr=3e-3, warmup=5,
                     log_every=10, val_every=20, save_every=20)  # fmt: skip
    trainer = fit(tc, TINY)
    rows = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    train_rows = [r for r in rows if r["kind"] == "train"]
    assert train_rows[-1]["loss"] < 0.5 * train_rows[0]["loss"]
    assert any(r["kind"] == "val" for r in rows) and (out / "best" / "model.safetensors").exists()
    assert trainer.step == 40 and (out / "last.pt").exists()
    # resume: the step counter and the weights continue where they stopped
    tc2 = TrainConfig(**{**tc.to_dict(), "steps": 45})
    again = fit(tc2, TINY, resume=True)
    assert again.step == 45
    rows = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows if r["kind"] == "start"] == [0, 40]
    # the saved model acts: on a training screen its first move is a click inside an element
    policy = TransformerPolicy.from_pretrained(out / "last")
    rec = load_records([demos / "003"])[0]
    policy.reset(Task(rec.instruction))
    d = policy.act(Observation(np.zeros((400, 640, 3), np.uint8)), rec.steps[0].elements)
    assert isinstance(d.action, Click) and d.target is not None and d.target.contains(d.action.x, d.action.y)


def test_resume_without_checkpoint_is_a_clear_error(tmp_path: Path, demos: Path):
    from agent.errors import DeskpilotError

    with pytest.raises(DeskpilotError, match="nothing to resume"):
        fit(TrainConfig(data=[str(demos)], out=str(tmp_path / "none")), TINY, resume=True)
    with pytest.raises(DeskpilotError, match="no such demonstration folder"):
        load_records([tmp_path / "missing"])


def test_dagger_round_labels_policy_states_with_the_expert():
    """Real sandbox, real expert: the (untrained) policy drives, the expert labels every visited state."""
    from agent.envs.sandbox.env import SandboxEnv
    from agent.envs.sandbox.families import generate_split
    from policies.scripted import ExpertPolicy
    from policies.transformer.modeling_transformer import TransformerPolicyModel

    torch.manual_seed(0)
    cfg = TransformerPolicyConfig(**TINY)
    tasks = [t.to_task() for t in generate_split("train", 2, families=["click_button", "toggle_checkbox"])]
    recs, stats = dagger_round(TransformerPolicyModel(cfg), tasks, SandboxEnv, ExpertPolicy, max_steps=3)
    assert len(recs) == 2 and 0.0 <= stats["success_rate"] <= 1.0
    for rec in recs:
        assert 1 <= len(rec.steps) <= 3
        first = rec.steps[0]
        assert isinstance(first.label, Click)  # the expert's first move is a click on the named widget
        assert first.label_target is not None and first.label_target in first.elements
        assert first.done is not None
        ep = encode_episode(rec, cfg)
        assert ep["labels"]["act"][0] == 0 and ep["labels"]["tgt"][0] >= 0


def test_dagger_round_on_detected_elements_matches_the_experts_target():
    """The policy acts on the shipped detector's + OCR's elements; the expert's ground-truth target is
    found among them when the episode is encoded."""
    from agent.envs.sandbox.env import SandboxEnv
    from agent.envs.sandbox.families import generate_split
    from policies.evaluate import make_perception
    from policies.scripted import ExpertPolicy
    from policies.transformer.modeling_transformer import TransformerPolicyModel

    torch.manual_seed(0)
    cfg = TransformerPolicyConfig(**TINY)
    perception = make_perception(None, threads=1)
    calls: list[int] = []

    def perceive(obs):
        found = perception(obs)
        calls.append(len(found))
        return found

    perceive.reset = perception.reset  # type: ignore[attr-defined]
    tasks = [t.to_task() for t in generate_split("train", 1, families=["click_button"])]
    recs, _ = dagger_round(TransformerPolicyModel(cfg), tasks, SandboxEnv, ExpertPolicy, max_steps=2,
                           perceive=perceive)  # fmt: skip
    first = recs[0].steps[0]
    assert len(calls) == len(recs[0].steps) and calls[0] == len(first.elements) > 0
    # perceived, not the sandbox's truth: no ids, and only the state perception reads from pixels
    read = {"checked", "value", "min", "max", "read"}
    assert all(e.id is None and set(e.state) <= read for e in first.elements)
    assert first.label_target is not None and first.label_target.id is not None  # the expert read the truth
    assert first.label_target not in first.elements
    ep = encode_episode(recs[0], cfg)
    tgt = int(ep["labels"]["tgt"][0])
    assert tgt >= 0  # matched by overlap
    kept = [first.elements[i] for i in ep["kept"][0]]
    assert kept[tgt].text.casefold() == first.label_target.text.casefold()


def test_dagger_share_sets_the_batch_mix(demos: Path, tmp_path: Path):
    tc = TrainConfig(
        data=[str(demos)], out=str(tmp_path / "r"), steps=1, batch_episodes=400, dagger_share=0.75
    )
    records = load_records([demos])
    t = Trainer(TransformerPolicyConfig(**TINY), tc, records[:1], [])
    t.extra_records = records[1:2]
    drawn: list = []
    t._encoded = lambda rec: drawn.append(rec) or encode_episode(rec, t.cfg)  # type: ignore[method-assign]
    t.batch()
    share = sum(r is records[1] for r in drawn) / len(drawn)
    assert 0.65 < share < 0.85  # 400 draws: 0.75 ± 4 standard deviations is 0.66..0.84


def test_trainer_rejects_resuming_another_model(demos: Path, tmp_path: Path):
    from agent.errors import DeskpilotError

    tc = TrainConfig(data=[str(demos)], out=str(tmp_path / "r"), steps=2, batch_episodes=2, val_every=1000)
    t = Trainer(TransformerPolicyConfig(**TINY), tc, load_records([demos]), [])
    t.run(2)
    other = Trainer(TransformerPolicyConfig(**{**TINY, "d_model": 64}), tc, [], [])
    with pytest.raises(DeskpilotError, match="another model config"):
        other.load(tmp_path / "r" / "last.pt")


def test_warm_start_keeps_old_outputs_when_inputs_grow(tmp_path: Path):
    """A run can start from an earlier one whose config had fewer hotkeys: shared weights are copied, the
    grown hotkey head keeps the old rows."""
    from policies.train import warm_start
    from policies.transformer.modeling_transformer import TransformerPolicyModel
    from policies.transformer.policy_transformer import save_pretrained

    torch.manual_seed(0)
    old = TransformerPolicyModel(TransformerPolicyConfig(**TINY))
    save_pretrained(old, tmp_path / "old", fp16=False)
    cfg = TransformerPolicyConfig(**TINY)
    cfg.hotkeys.append("ctrl+shift+k")
    new = TransformerPolicyModel(cfg)
    counts = warm_start(new, tmp_path / "old")
    assert counts["grown"] >= 1 and counts["skipped"] == 0
    n = len(old.cfg.hotkeys)
    assert torch.equal(new.head_key.weight[:n], old.head_key.weight)
    assert torch.equal(new.ptr_q.weight, old.ptr_q.weight)


def test_redacted_password_labels_are_restored_from_the_task_plan():
    """Traces store secret typing as [REDACTED]; without the plan's text the copy head had no label."""
    from agent.types import REDACTED, Element, Task, TypeText
    from policies.train import unredact

    plan = [
        {"op": "type", "name": "email", "text": "a@b.io"},
        {"op": "type", "name": "password", "text": "xf4d$45"},
    ]
    task = Task("Email: a@b.io, Password: xf4d$45", meta={"sandbox": {"plan": plan}})
    field = Element((0, 0, 10, 10), "text_field", state={"name": "password", "password": True})
    got = unredact(TypeText(REDACTED, secret=True), field, task)
    assert got == TypeText("xf4d$45", secret=True)
    assert unredact(TypeText("a@b.io"), field, task) == TypeText("a@b.io")  # not redacted: unchanged
    other = Element((0, 0, 10, 10), "text_field", state={"name": "pin"})
    assert unredact(TypeText(REDACTED, secret=True), other, task).text == REDACTED  # unknown: left as is


def test_rename_buttons_renames_field_captions_in_both_places_but_not_typed_values():
    from agent.types import Element
    from policies.train import SHORT_CAPTIONS, rename_buttons
    from policies.transformer.processor_transformer import EpisodeRecord, StepRecord, caption_of

    def screen() -> list[Element]:
        return [Element((10, 10, 80, 30), "label", text="Email:", id=0),
                Element((90, 10, 300, 30), "text_field", id=1),
                Element((10, 40, 80, 60), "label", text="Last name:", id=2),
                Element((90, 40, 300, 60), "text_field", id=3),
                Element((10, 70, 80, 90), "label", text="City:", id=4),
                Element((90, 70, 300, 90), "text_field", id=5)]  # fmt: skip

    s1, s2 = screen(), screen()
    steps = [StepRecord(s1, TypeText("ada@x.org"), s1[1]), StepRecord(s2, TypeText("Paris City"), s2[3])]
    rec = EpisodeRecord("Enter Email: ada@x.org, Last name: Paris City, then Save.", (640, 400), steps)
    short = 0
    for seed in range(100):
        out = rename_buttons(rec, random.Random(seed))
        texts = [[e.text for e in st.elements] for st in out.steps]
        assert texts[0] == texts[1]
        email, _, last, _, city, _ = texts[0]
        assert city == "City:"  # a typed value says "City": kept, and the instruction names no City field
        assert email != "Email:" and last != "Last name:" and email.endswith(":") and last.endswith(":")
        assert f"{email} ada@x.org" in out.instruction and f"{last} Paris City" in out.instruction
        assert "Email" not in out.instruction and "Last name" not in out.instruction
        labels = [e for e in out.steps[0].elements if e.kind == "label"]
        assert caption_of(out.steps[0].elements[1], labels).text == email  # still its field's caption
        short += email[:-1] in SHORT_CAPTIONS
    assert 10 <= short <= 60  # some short captions, most from the word pool


def test_hide_words_keeps_the_heldout_templates_words_out_of_training_episodes():
    from policies.train import HELDOUT_NAV_WORDS, hide_words

    def screen() -> list[Element]:
        return [Element((10, 10, 80, 30), "button", text="Vote", id=0),
                Element((90, 10, 160, 30), "button", text="Done", id=1),
                Element((170, 10, 240, 30), "button", text="Continue", id=2),
                Element((10, 40, 240, 60), "text_field", id=3),
                Element((10, 70, 80, 90), "label", text="Done", id=4)]  # fmt: skip

    s1, s2, s3 = screen(), screen(), screen()
    steps = [StepRecord(s1, Click(*s1[0].center), s1[0]), StepRecord(s2, Click(*s2[1].center), s2[1]),
             StepRecord(s3, Finished(), None, done=True)]  # fmt: skip
    rec = EpisodeRecord("Click Vote once, then press done.", (640, 400), steps)
    words = set()
    for seed in range(50):
        out = hide_words(rec, random.Random(seed))
        texts = [[e.text for e in st.elements] for st in out.steps]
        assert texts[0] == texts[1] == texts[2]  # the same word on every step
        vote, done, cont, _, label = texts[0]
        assert vote == "Vote" and label == "Done"  # other words, and other kinds, are left alone
        assert done not in HELDOUT_NAV_WORDS and cont not in HELDOUT_NAV_WORDS and done != cont
        assert out.instruction == f"Click Vote once, then press {done}."  # named: renamed there too
        assert out.steps[1].label_target.text == done and out.steps[1].label == rec.steps[1].label
        words.add(done)
    assert len(words) > 10  # drawn, not one fixed stand-in
    typed = EpisodeRecord("Type Done in the field.", (640, 400), [StepRecord(s1, TypeText("Done"), s1[3])])
    assert hide_words(typed, random.Random(0)).steps[0].elements[1].text == "Done"  # typed: kept
    plain = EpisodeRecord("Click Vote.", (640, 400), [StepRecord(s1[:1], Click(*s1[0].center), s1[0])])
    assert hide_words(plain, random.Random(0)) is plain


def test_rename_buttons_renames_consistently_on_screen_and_in_the_instruction():
    from agent.types import Element
    from policies.train import NAV_SYNONYMS, rename_buttons
    from policies.transformer.processor_transformer import EpisodeRecord, StepRecord

    def screen() -> list[Element]:
        return [Element((10, 10, 80, 30), "button", text="< Back", id=0),
                Element((90, 10, 160, 30), "button", text="Next >", id=1),
                Element((170, 10, 240, 30), "button", text="Export", id=2),
                Element((10, 40, 240, 60), "text_field", id=3),
                Element((10, 70, 80, 90), "button", text="Finish", id=4)]  # fmt: skip

    s1, s2, s3 = screen(), screen(), screen()
    steps = [StepRecord(s1, Click(*s1[1].center), s1[1]), StepRecord(s2, TypeText("Finish"), s2[3]),
             StepRecord(s3, Click(*s3[2].center), s3[2])]  # fmt: skip
    rec = EpisodeRecord("Go to the next page, type Finish, then click Export.", (640, 400), steps)
    seen_nav, renamed_to = set(), set()
    for seed in range(200):
        out = rename_buttons(rec, random.Random(seed))
        texts = [[e.text for e in st.elements] for st in out.steps]
        assert texts[0] == texts[1] == texts[2]  # the same names on every step
        back, nxt, export, _, finish = texts[0]
        assert finish == "Finish"  # typed by a step: kept
        assert export != "Export" and export in out.instruction and "Export" not in out.instruction
        assert out.instruction.startswith("Go to the next page")  # a role word in the task is not renamed
        assert out.steps[0].label_target.text == nxt and out.steps[2].label_target.text == export
        assert out.steps[0].label == rec.steps[0].label  # actions untouched
        seen_nav.update({back, nxt})
        renamed_to.update({back, nxt, export})
        assert len({back, nxt, export}) == 3
    assert seen_nav & set(NAV_SYNONYMS["next"]) and seen_nav & set(NAV_SYNONYMS["back"])
    assert not {"Previous", "Continue", "Done"} & {w for ws in NAV_SYNONYMS.values() for w in ws}
    assert not {"Previous", "Continue", "Done"} & renamed_to  # nor as an unrelated word
    assert [e.text for e in rec.steps[0].elements][:3] == ["< Back", "Next >", "Export"]  # input unchanged


def test_add_clutter_adds_the_same_untouched_widgets_to_every_step():
    from agent.types import Element
    from policies.train import add_clutter
    from policies.transformer.processor_transformer import EpisodeRecord, StepRecord, encode_episode
    from tests.policies.conftest import small_cfg

    def screen() -> list[Element]:
        return [Element((300, 300, 380, 324), "button", text="Save", id=0),
                Element((300, 340, 500, 364), "text_field", id=1)]  # fmt: skip

    s1, s2 = screen(), screen()
    rec = EpisodeRecord("Type 'x' into the field, then click Save.", (800, 600),
                        [StepRecord(s1, Click(*s1[1].center), s1[1]), StepRecord(s2, Click(*s2[0].center), s2[0])])  # fmt: skip
    added = 0
    for seed in range(10):
        out = add_clutter(rec, random.Random(seed))
        extra = [st.elements[2:] for st in out.steps]
        assert extra[0] and extra[0] == extra[1]  # the same widgets on both steps
        assert [st.elements[:2] for st in out.steps] == [s1, s2] and out.steps[1].label_target is s2[0]
        for e in extra[0]:
            assert not any(min(e.box[2], o.box[2]) > max(e.box[0], o.box[0]) and
                           min(e.box[3], o.box[3]) > max(e.box[1], o.box[1]) for o in s1)  # fmt: skip
            assert e.text.casefold() not in ("save", "field") and e.kind in ("label", "text_field", "button")
        ep = encode_episode(out, small_cfg())
        assert ep["labels"]["tgt"].tolist() == [1, 0]  # the labels still point at the task's own widgets
        added += len(extra[0])
    assert added > 10
    assert len(rec.steps[0].elements) == 2  # the input is not changed


def test_rename_list_items_keeps_the_order_and_renames_the_instruction_too():
    from agent.types import Element, Scroll
    from policies.train import rename_list_items
    from policies.transformer.processor_transformer import EpisodeRecord, StepRecord

    def page(names: list[str]) -> list[Element]:
        return [
            Element((10, 10 + 14 * i, 200, 24 + 14 * i), "list_item", text=t, id=i)
            for i, t in enumerate(names)
        ]

    p1, p2 = page(["Apple_a_1.txt", "Banana_b_2.pdf"]), page(["Cherry_c_3.png", "Fig_d_4.zip"])
    steps = [StepRecord(p1, Scroll(100, 20, "down", 3), p1[1]), StepRecord(p2, Click(*p2[1].center), p2[1])]
    rec = EpisodeRecord("Select 'Fig_d_4.zip' in the list.", (640, 400), steps)
    for seed in range(20):
        out = rename_list_items(rec, random.Random(seed))
        texts = [e.text for st in out.steps for e in st.elements]
        assert texts == sorted(texts) and len(set(texts)) == 4  # still sorted across the pages, all distinct
        assert (
            "Fig_d_4.zip" not in out.instruction and f"'{out.steps[1].label_target.text}'" in out.instruction
        )
        assert out.steps[1].label_target.text == texts[3]  # the clicked item is the renamed Fig
    combo = EpisodeRecord(rec.instruction, rec.screen, [StepRecord([*p1, Element((300, 10, 400, 30), "combo",
                                                                                  text="Apple_a_1.txt")], None)])  # fmt: skip
    assert rename_list_items(combo, random.Random(0)) is combo  # a combo shows one of its items: left alone


def test_rename_unrelated_sets_how_often_a_navigation_button_loses_its_role_word():
    from agent.types import Element
    from policies.train import NAV_SYNONYMS, rename_buttons
    from policies.transformer.processor_transformer import EpisodeRecord, StepRecord

    nxt = Element((90, 10, 160, 30), "button", text="Next >", id=1)
    rec = EpisodeRecord("Walk through the wizard.", (640, 400), [StepRecord([nxt], Click(*nxt.center), nxt)])
    names = {u: [rename_buttons(rec, random.Random(s), u).steps[0].elements[0].text for s in range(30)]
             for u in (0.0, 1.0)}  # fmt: skip
    assert all(n in NAV_SYNONYMS["next"] for n in names[0.0])
    assert not any(n in NAV_SYNONYMS["next"] for n in names[1.0]) and "Next >" not in names[1.0]


def test_rename_novel_makes_up_unrelated_words_that_no_vocabulary_has():
    from agent.envs.sandbox import vocab as V
    from agent.types import Element
    from policies.train import HELDOUT_NAV_WORDS, NAV_SYNONYMS, rename_buttons

    nav = [Element((10 + 80 * i, 10, 80 + 80 * i, 30), "button", text=t, id=i)
           for i, t in enumerate(("< Back", "Next >", "Finish"))]  # fmt: skip
    rec = EpisodeRecord(
        "Walk through the wizard.", (640, 400), [StepRecord(nav, Click(*nav[1].center), nav[1])]
    )
    vocab = set(V.VERBS) | set(V.NOUNS)
    roles = {w.casefold() for group in NAV_SYNONYMS.values() for w in group}
    for novel, made_up in ((0.0, False), (1.0, True)):
        for seed in range(20):
            out = rename_buttons(rec, random.Random(seed), unrelated=1.0, novel=novel)
            words = [e.text for e in out.steps[0].elements]
            assert len(set(words)) == 3 and not {w.casefold() for w in words} & roles
            assert all((w not in vocab) == made_up for w in words), words
            assert not set(words) & HELDOUT_NAV_WORDS
            assert all(w.isalpha() and w[0].isupper() for w in words)
            assert out.steps[0].label_target.text == words[1]  # the labelled target is renamed with it


def test_rename_decoy_gives_navigation_buttons_other_buttons_words_never_a_held_out_one():
    from agent.types import Element
    from policies.train import DECOY_BUTTON_WORDS, HELDOUT_NAV_WORDS, NAV_SYNONYMS, rename_buttons

    nav = [Element((10 + 80 * i, 10, 80 + 80 * i, 30), "button", text=t, id=i)
           for i, t in enumerate(("< Back", "Next >", "Finish"))]  # fmt: skip
    ok = Element((300, 10, 360, 30), "button", text="OK", id=9)  # on screen already: never a decoy here
    rec = EpisodeRecord(
        "Walk through the wizard.", (640, 400), [StepRecord([*nav, ok], Click(*nav[2].center), nav[2])]
    )
    roles = {w.casefold() for group in NAV_SYNONYMS.values() for w in group}
    decoys = {}
    for decoy in (0.0, 1.0):
        decoys[decoy] = 0
        for seed in range(20):
            out = rename_buttons(rec, random.Random(seed), unrelated=1.0, novel=0.0, decoy=decoy)
            words = [e.text for e in out.steps[0].elements[:3]]
            assert len(set(words)) == 3 and not {w.casefold() for w in words} & roles
            decoys[decoy] += sum(w in DECOY_BUTTON_WORDS for w in words)
            assert "OK" not in words and not set(words) & HELDOUT_NAV_WORDS
            assert out.steps[0].elements[3].text == "OK" and out.steps[0].label_target.text == words[2]
    assert decoys[1.0] == 60 and decoys[0.0] < 15  # the vocabulary pool has a few of them ("Delete") too
    assert not {w.casefold() for w in DECOY_BUTTON_WORDS} & (
        {w.casefold() for w in HELDOUT_NAV_WORDS} | roles
    )


def test_rename_novel_never_makes_up_a_held_out_role_or_vocabulary_word(monkeypatch):
    import policies.train as T
    from agent.envs.sandbox import vocab as V
    from agent.types import Element

    made = iter(["Done", "Finish", V.NOUNS[0], "Zorbel", "Quaxit", "Brolan"])
    monkeypatch.setattr(T, "novel_word", lambda rng: next(made))
    nav = [
        Element((10, 10, 80, 30), "button", text="< Back", id=0),
        Element((90, 10, 160, 30), "button", text="Next >", id=1),
    ]
    rec = EpisodeRecord(
        "Walk through the wizard.", (640, 400), [StepRecord(nav, Click(*nav[1].center), nav[1])]
    )
    out = T.rename_buttons(rec, random.Random(0), unrelated=1.0, novel=1.0)
    assert sorted(e.text for e in out.steps[0].elements) == ["Quaxit", "Zorbel"]


def test_reword_changes_the_phrasing_but_never_a_target_or_a_typed_text():
    from policies.train import reword

    button = Element(box=(10, 10, 80, 30), kind="button", text="Next", id=1)
    field = Element(box=(10, 40, 200, 60), kind="text_field", text="", id=2)
    steps = [
        StepRecord([button, field], Click(20, 20), button),
        StepRecord([button, field], TypeText("press then type"), field),
    ]
    instruction = "Click the Next button, then type 'press then type' in the field and press Enter."
    rec = EpisodeRecord(instruction, (1280, 800), steps)
    seen = set()
    for seed in range(40):
        out = reword(rec, random.Random(seed))
        assert out.steps is rec.steps  # the screens and labels stay as they were
        seen.add(out.instruction)
        assert "Next" in out.instruction  # shown on screen: the target's name stays
        assert "'press then type'" in out.instruction  # typed text (and any quoted text) stays verbatim
    assert len(seen) > 10  # the phrasing does vary
    assert any(" Tap " in s or " Hit " in s or s.startswith(("Tap", "Hit", "Push")) for s in seen)
    assert all(len(s.split()) >= len(instruction.split()) - 3 for s in seen)  # only fillers are dropped


def test_navigation_buttons_lose_their_role_words_all_together_or_not_at_all():
    from agent.types import Element
    from policies.train import NAV_SYNONYMS, rename_buttons
    from policies.transformer.processor_transformer import EpisodeRecord, StepRecord

    nav = [Element((10, 10, 80, 30), "button", text="< Back", id=0),
           Element((90, 10, 160, 30), "button", text="Next >", id=1),
           Element((170, 10, 240, 30), "button", text="Finish", id=2)]  # fmt: skip
    rec = EpisodeRecord("Complete the wizard.", (640, 400), [StepRecord(nav, Click(*nav[2].center), nav[2])])
    kinds = set()
    for seed in range(60):
        out = rename_buttons(rec, random.Random(seed), 0.5).steps[0].elements
        kept = [e.text in NAV_SYNONYMS[r] for e, r in zip(out, ("back", "next", "finish"), strict=True)]
        assert all(kept) or not any(kept), [e.text for e in out]  # never one role word left as a clue
        kinds.add(all(kept))
    assert kinds == {True, False}


def test_cli_export_copies_the_model_asked_for_with_its_step(demos: Path, tmp_path: Path, capsys):
    from safetensors import safe_open

    from agent.cli import main

    out = tmp_path / "run"
    base = ["train", "policy", "--data", str(demos), "--out", str(out), "--steps", "6", "--batch", "4",
            "--d-model", "32", "--layers", "1", "--quiet"]  # fmt: skip
    assert main([*base, "--export", str(tmp_path / "w_last"), "--export-from", "last"]) == 0
    result = json.loads(capsys.readouterr().out)
    meta = json.loads((tmp_path / "w_last" / "config.json").read_text())
    assert meta["source"] == str(out / "last") and meta["step"] == result["exported_step"] == 6
    with safe_open(str(tmp_path / "w_last" / "model.safetensors"), "pt") as f:
        assert all(f.get_tensor(k).dtype in (torch.float16, torch.int64, torch.bool) for k in f.keys())  # noqa: SIM118
    assert main([*base, "--resume", "--steps", "6", "--export", str(tmp_path / "w_best")]) == 0
    meta = json.loads((tmp_path / "w_best" / "config.json").read_text())
    best = json.loads((out / "best" / "config.json").read_text())
    assert meta["source"] == str(out / "best") and meta["step"] == best["step"]
    assert main([*base, "--export", str(tmp_path / "x"), "--export-from", "newest"]) != 0
    assert "--export-from must be best or last" in capsys.readouterr().err


def test_as_detected_drops_state_misreads_consistently_and_keeps_labels_valid():
    from policies.train import DETECTOR_CONFUSIONS, as_detected

    box = Element(
        (20, 20, 120, 44), "checkbox", text="Dark mode", state={"checked": False, "enabled": True}, id=0
    )
    code = Element((20, 60, 120, 80), "label", text="Code: 7Q1L0", id=1)
    field = Element((20, 100, 300, 124), "text_field", state={"focused": True}, id=2)
    items = [Element((20, 140 + 20 * k, 200, 158 + 20 * k), "menu_item", text=f"Item {k} lo", id=3 + k)
             for k in range(30)]  # fmt: skip
    screen = [box, code, field, *items]
    steps = [StepRecord(screen, Click(*box.center), box), StepRecord(screen, TypeText("7Q1L0"), field),
             StepRecord(screen, Finished(True), None)]  # fmt: skip
    rec = EpisodeRecord("Tick Dark mode and enter the code", (640, 400), steps)
    seen = as_detected(rec, random.Random(3), confuse=1.0, typo=1.0, reads=False)
    for st in seen.steps:
        real, fake = st.elements[: len(screen)], st.elements[len(screen) :]
        assert all(e.state == {} and 0.5 <= e.score <= 1.0 for e in real)
        assert [e.box for e in real] == [e.box for e in screen]
        assert len(fake) <= 3 and all(e.id is None and 0.35 <= e.score <= 0.7 for e in fake)
        assert [(e.box, e.kind, e.text) for e in fake] == [
            (e.box, e.kind, e.text) for e in seen.steps[0].elements[len(screen) :]
        ]  # the same false detections on every step
    first, second = seen.steps[0].elements[: len(screen)], seen.steps[1].elements[: len(screen)]
    assert first[0].kind == "checkbox"  # the first step's target keeps its kind
    assert first[1].text == code.text  # holds the typed code: never misread
    assert all(e.kind in DETECTOR_CONFUSIONS["menu_item"] for e in first[3:])  # confuse=1: every item
    assert sum(a.text != b.text for a, b in zip(first[3:], items, strict=True)) >= 25  # typo=1 (rare no-ops)
    assert [(e.kind, e.text) for e in first[3:]] == [
        (e.kind, e.text) for e in second[3:]
    ]  # alike on every step
    cfg = TransformerPolicyConfig(**TINY)
    ea, eb = encode_episode(rec, cfg), encode_episode(seen, cfg)
    a, b = ea["labels"], eb["labels"]
    for key in ("act", "tgt", "span"):  # the same actions, targets and copied text
        assert torch.equal(torch.as_tensor(a[key]), torch.as_tensor(b[key])), key
    assert int(torch.as_tensor(a["tgt"])[0]) >= 0
    # register writes: the same element, or none (written as the element count, which the fakes change)
    assert [int(w) if w < ea["N"] else -1 for w in a["write"]] == [
        int(w) if w < eb["N"] else -1 for w in b["write"]
    ]
    untouched = as_detected(rec, random.Random(3), confuse=0.0, typo=0.0, spurious=0)
    # with reads: only what perception reads from pixels is left (the checkbox's checked state)
    read = as_detected(rec, random.Random(3), confuse=0.0, typo=0.0, spurious=0)
    assert [e.state for e in read.steps[0].elements[:3]] == [{"checked": False}, {}, {}]
    assert [(e.kind, e.text) for e in untouched.steps[0].elements] == [(e.kind, e.text) for e in screen]
    fakes = [
        len(as_detected(rec, random.Random(k), spurious=3).steps[0].elements) - len(screen) for k in range(40)
    ]
    assert set(fakes) == {0, 1, 2, 3}


def test_as_detected_reads_an_empty_fields_placeholder_as_its_text():
    from policies.train import as_detected

    empty = Element((10, 10, 210, 30), "text_field", state={"placeholder": "Enter postcode"}, id=0)
    filled = Element((10, 40, 210, 60), "text_field", text="Ada", state={"placeholder": "Name"}, id=1)
    rec = EpisodeRecord(
        "Postcode: 9205", (640, 400), [StepRecord([empty, filled], Click(*empty.center), empty)]
    )
    kw = {"confuse": 0.0, "typo": 0.0, "spurious": 0}
    shown = as_detected(rec, random.Random(0), placeholders=1.0, **kw).steps[0].elements
    assert [e.text for e in shown] == ["Enter postcode", "Ada"]  # a typed text hides the placeholder
    hidden = as_detected(rec, random.Random(0), placeholders=0.0, **kw).steps[0].elements
    assert [e.text for e in hidden] == ["", "Ada"]
    cfg = TransformerPolicyConfig(**TINY)
    seen = as_detected(rec, random.Random(0), placeholders=1.0, **kw)
    assert encode_episode(seen, cfg)["labels"]["tgt"][0] == encode_episode(rec, cfg)["labels"]["tgt"][0] == 0


def test_ocr_typo_makes_one_look_alike_mistake():
    from policies.train import ocr_typo

    rng = random.Random(0)
    outs = {ocr_typo("Email:", rng) for _ in range(200)}
    assert "Email" in outs and "Emai1:" in outs
    assert all(abs(len(o) - len("Email:")) <= 1 for o in outs) and "Email:" not in outs
    assert ocr_typo("", rng) == "" and ocr_typo("OK", random.Random(5)) in {"OK", "0K"}


def test_as_detected_keeps_a_slider_value_as_perception_reads_it_in_percent():
    from policies.train import as_detected

    slider = Element((10, 10, 210, 26), "slider", state={"value": 4, "min": 0, "max": 10, "name": "v"}, id=0)
    combo = Element((10, 40, 110, 56), "combo", text="Card", state={"value": "Card"}, id=1)
    rec = EpisodeRecord("x", (640, 400), [StepRecord([slider, combo], Click(20, 18), slider)] * 2)
    values = []
    for k in range(200):
        steps = as_detected(rec, random.Random(k), confuse=0.0, spurious=0).steps
        first, second = (st.elements for st in steps)
        assert first[0].state == second[0].state  # read alike while the slider does not move
        assert first[0].state["max"] == 100 and first[1].state == {}  # a combo's value is its text
        values.append(first[0].state["value"])
    # 4 of 0..10 is 40 %, read as perception reads it: mostly exact, now and then a point or two off
    assert all(abs(v - 40) <= 2 for v in values) and {39, 41} <= set(values)
    assert 0.8 < values.count(40) / len(values) < 0.97
    blind = as_detected(rec, random.Random(0), confuse=0.0, spurious=0, reads=False)
    assert blind.steps[0].elements[0].state == {}


def _slider_episode(value: int, target: int) -> EpisodeRecord:
    """A drag from ``value`` to ``target`` then Finished, with the number shown beside the slider."""
    from agent.types import Drag

    def screen(v: int) -> list[Element]:
        return [
            Element((10, 10, 60, 26), "label", text="Volume:", id=0),
            Element(
                (70, 10, 250, 26), "slider", state={"value": v, "min": 0, "max": 100, "name": "vol"}, id=1
            ),
            Element((256, 10, 272, 26), "label", text=str(v), id=2),
        ]

    before, after = screen(value), screen(target)
    return EpisodeRecord(
        f"Set Volume to {target}.",
        (640, 400),
        [StepRecord(before, Drag(100, 18, 180, 18), before[1]), StepRecord(after, Finished(True), None)],
    )


def test_nudge_sliders_adds_the_arrow_keys_that_fix_a_drag_landing_off():
    from agent.types import Hotkey
    from policies.train import nudge_sliders

    rec = _slider_episode(10, 67)
    offs = set()
    for k in range(60):
        nudged = nudge_sliders(rec, random.Random(k))
        steps = nudged.steps
        assert steps[0] is rec.steps[0] and steps[-1] is rec.steps[-1]  # the drag and the finish stay
        fixes = steps[1:-1]
        assert 1 <= len(fixes) <= 3
        off = fixes[0].elements[1].state["value"] - 67
        offs.add(off)
        for n, st in enumerate(fixes):
            value = st.elements[1].state["value"]
            assert value == 67 + off - n * (1 if off > 0 else -1)  # one point nearer each press
            assert st.elements[2].text == str(value)  # the number beside it follows
            assert st.label == Hotkey(("left",) if value > 67 else ("right",))
            assert st.label_target is st.elements[1]
        ep = encode_episode(nudged, TransformerPolicyConfig(**TINY))
        assert all(t == 1 for t in ep["labels"]["tgt"][1 : len(fixes) + 1])  # each press points at the slider
    assert {-1, 1, 2} <= offs and max(abs(o) for o in offs) <= 3


def test_nudge_sliders_stays_in_range_and_leaves_other_episodes_alone(demos: Path):
    from policies.train import nudge_sliders

    for k in range(30):
        steps = nudge_sliders(_slider_episode(50, 100), random.Random(k)).steps
        assert all(st.elements[1].state["value"] < 100 for st in steps[1:-1])  # only below the top
    for rec in load_records([demos]):
        assert nudge_sliders(rec, random.Random(0)) is rec  # no slider drag: nothing to fix


def test_arrow_keys_move_a_dragged_sandbox_slider_one_point_each():
    """What `nudge_sliders` teaches holds in the sandbox: after a drag, Right and Left move the value by
    one."""
    from agent.envs.sandbox.env import SandboxEnv
    from agent.envs.sandbox.families import generate_split
    from agent.types import Drag, Hotkey
    from policies.scripted import slider_point

    st = generate_split("train", 1, families=["set_slider"])[0]
    with SandboxEnv() as env:
        obs = env.reset(st)
        name = st.plan[0]["name"]
        s = next(e for e in obs.elements if e.kind == "slider" and e.state.get("name") == name)
        x, y = slider_point(s.box, s.state["value"], 0, 100)
        to = 40 if s.state["value"] > 60 else 80
        env.act(Drag(x, y, slider_point(s.box, to, 0, 100)[0], y))

        def value() -> int:
            return next(e for e in env.observe().elements if e.state.get("name") == name).state["value"]

        landed = value()
        assert abs(landed - to) <= 1
        env.act(Hotkey(("right",)))
        assert value() == landed + 1
        env.act(Hotkey(("left",)))
        env.act(Hotkey(("left",)))
        assert value() == landed - 1
