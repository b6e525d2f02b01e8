"""gen-detection: COCO output that pycocotools loads, deterministic by seed, classes documented."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image
from pycocotools.coco import COCO

from agent.cli import main
from agent.envs.sandbox.detection import CATEGORIES, fast_png
from agent.trace import read_trace
from agent.types import ELEMENT_KINDS


def test_gen_detection_cli_writes_coco_with_many_classes(tmp_path: Path, capsys) -> None:
    out = tmp_path / "det"
    assert main(["sandbox", "gen-detection", "--n", "24", "--split", "heldout", "--out", str(out),
                 "--workers", "2", "--seed", "3", "--quiet"]) == 0  # fmt: skip
    stats = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert stats["frames"] == 24
    coco = COCO(str(out / "annotations.json"))
    assert len(coco.getImgIds()) == 24
    assert [c["name"] for c in coco.loadCats(coco.getCatIds())] == list(ELEMENT_KINDS)
    present = {coco.loadCats(a["category_id"])[0]["name"] for a in coco.loadAnns(coco.getAnnIds())}
    assert len(present) >= 12, present
    for img in coco.loadImgs(coco.getImgIds()):
        path = out / "images" / img["file_name"]
        with Image.open(path) as im:
            assert im.size == (img["width"], img["height"])
        assert 1024 <= img["width"] <= 1920 and 768 <= img["height"] <= 1080
        for a in coco.loadAnns(coco.getAnnIds(imgIds=img["id"])):
            x, y, w, h = a["bbox"]
            assert w > 0 and h > 0 and x >= 0 and y >= 0
            assert x + w <= img["width"] and y + h <= img["height"]


def test_gen_detection_is_deterministic_whatever_the_worker_count(tmp_path: Path) -> None:
    from agent.envs.sandbox.detection import gen_detection

    gen_detection(6, "train", tmp_path / "a", workers=1, seed=7, progress=False)
    gen_detection(6, "train", tmp_path / "b", workers=2, seed=7, progress=False)
    a = json.loads((tmp_path / "a" / "annotations.json").read_text())
    b = json.loads((tmp_path / "b" / "annotations.json").read_text())
    assert a["annotations"] == b["annotations"] and a["images"] == b["images"]
    for img in a["images"]:
        pa = np.asarray(Image.open(tmp_path / "a" / "images" / img["file_name"]))
        pb = np.asarray(Image.open(tmp_path / "b" / "images" / img["file_name"]))
        assert np.array_equal(pa, pb)
    c = json.loads(json.dumps(gen_detection(3, "train", tmp_path / "c", workers=1, seed=8, progress=False)))
    assert c["frames"] == 3
    other = json.loads((tmp_path / "c" / "annotations.json").read_text())
    assert other["annotations"] != a["annotations"][: len(other["annotations"])]


def test_fast_png_is_lossless(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (37, 53, 3), dtype=np.uint8)
    img[10:20] = 200  # flat rows, as on screens
    path = tmp_path / "x.png"
    path.write_bytes(fast_png(img))
    assert np.array_equal(np.asarray(Image.open(path).convert("RGB")), img)


def test_categories_follow_element_kinds() -> None:
    assert [c["id"] for c in CATEGORIES] == list(range(1, len(ELEMENT_KINDS) + 1))


def test_detection_from_demos_labels_the_frames_tasks_walk_through(tmp_path: Path, capsys) -> None:
    from vision.data import CocoDetection

    demos, base = tmp_path / "demos", tmp_path / "base"
    assert main(["sandbox", "gen-demos", "--n", "3", "--split", "train", "--families", "wizard", "--out",
                 str(demos), "--workers", "1", "--quiet", "--frame-format", "jpg"]) == 0  # fmt: skip
    assert main(["sandbox", "gen-detection", "--n", "3", "--split", "train", "--out", str(base), "--workers", "1",
                 "--quiet"]) == 0  # fmt: skip
    capsys.readouterr()
    out = tmp_path / "mixed"
    assert main(["sandbox", "detection-from-demos", str(demos), "--out", str(out), "--per-episode", "2",
                 "--include", str(base), "--quiet"]) == 0  # fmt: skip
    stats = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert stats["frames"] == 3 + 3 * 2 and stats["from_traces"] == 6 and stats["episodes"] == 3
    coco = COCO(str(out / "annotations.json"))
    assert len(coco.getImgIds()) == 9
    base_coco = json.loads((base / "annotations.json").read_text())
    assert len(coco.getAnnIds(imgIds=[1, 2, 3])) == len(base_coco["annotations"])
    pages = set()
    for img in coco.loadImgs(coco.getImgIds()):
        with Image.open(out / "images" / img["file_name"]) as im:
            assert im.size == (img["width"], img["height"])
        if "trace" not in img:
            continue
        # the labels are the ground-truth elements the expert's step recorded, box for box
        step = read_trace(demos / img["trace"]).steps[img["step"]]
        got = sorted(
            (ELEMENT_KINDS[a["category_id"] - 1], *a["bbox"])
            for a in coco.loadAnns(coco.getAnnIds(imgIds=img["id"]))
        )
        want = sorted(
            (e.kind, e.box[0], e.box[1], e.box[2] - e.box[0], e.box[3] - e.box[1]) for e in step.elements
        )
        assert got == want
        pages.add(img["step"])
    assert max(pages) >= 2  # frames past the wizard's first page, which random clicks rarely reach
    data = CocoDetection(out, ELEMENT_KINDS, (352, 256), (0.5,) * 3, (0.25,) * 3)
    assert len(data) == 9 and data[8][1]["class_labels"].numel() > 0

    # held-out episodes would leak held-out templates into training: refused with one clear message
    held = tmp_path / "held"
    assert main(["sandbox", "gen-demos", "--n", "1", "--split", "heldout", "--out", str(held), "--workers", "1",
                 "--quiet", "--frame-format", "jpg"]) == 0  # fmt: skip
    capsys.readouterr()
    assert main(["sandbox", "detection-from-demos", str(held), "--out", str(tmp_path / "x"), "--quiet"]) != 0
    err = capsys.readouterr().err
    assert "heldout" in err and "Traceback" not in err


def test_detection_from_demos_merges_include_folders_alone(tmp_path: Path, capsys) -> None:
    a, b, out = tmp_path / "a", tmp_path / "b", tmp_path / "ab"
    for folder, seed in ((a, "1"), (b, "2")):
        assert main(["sandbox", "gen-detection", "--n", "3", "--split", "train", "--seed", seed, "--out", str(folder),
                     "--workers", "1", "--quiet"]) == 0  # fmt: skip
    capsys.readouterr()
    assert main(["sandbox", "detection-from-demos", "--out", str(out), "--include", str(a), "--include", str(b),
                 "--quiet"]) == 0  # fmt: skip
    coco = json.loads((out / "annotations.json").read_text())
    names = [im["file_name"] for im in coco["images"]]
    assert len(names) == len(set(names)) == 6  # both folders' 000000.png kept apart
    for folder, part in ((a, coco["images"][:3]), (b, coco["images"][3:])):
        src = json.loads((folder / "annotations.json").read_text())
        for im, orig in zip(part, src["images"], strict=True):
            assert (out / "images" / im["file_name"]).read_bytes() == (
                folder / "images" / orig["file_name"]
            ).read_bytes()
            mine = [(x["category_id"], x["bbox"]) for x in coco["annotations"] if x["image_id"] == im["id"]]
            theirs = [
                (x["category_id"], x["bbox"]) for x in src["annotations"] if x["image_id"] == orig["id"]
            ]
            assert mine == theirs
    assert main(["sandbox", "detection-from-demos", "--out", str(tmp_path / "none"), "--quiet"]) != 0
    err = capsys.readouterr().err
    assert "nothing to write" in err and "Traceback" not in err


def test_detection_scenes_show_empty_and_added_text_areas_without_changing_the_apps() -> None:
    import random

    from agent.envs.sandbox.scene import vary_text_areas
    from agent.envs.sandbox.spec import walk_app
    from agent.envs.sandbox.templates import make_spec

    def areas(spec: dict) -> list[dict]:
        return [n for n in walk_app(spec) if n.get("type") == "text_area"]

    texts = []
    for k in range(40):
        spec = make_spec("editor", k)
        before = json.dumps(make_spec("editor", k), sort_keys=True)
        vary_text_areas(spec, random.Random(k))
        (node,) = areas(spec)
        texts.append(node["text"])
        node["text"] = json.loads(before)["windows"][0]["body"]["children"][0]["text"]
        assert json.dumps(spec, sort_keys=True) == before  # only the text changed
    assert "" in texts and any(0 < len(t) < 80 for t in texts) and any(len(t) > 100 for t in texts)

    added = 0
    for k in range(20):
        spec = make_spec("login", k)
        assert not areas(spec)
        column = spec["windows"][0]["body"]
        column = column.get("child", column)
        last = column["children"][-1]
        vary_text_areas(spec, random.Random(k), add=1.0)
        found = areas(spec)
        if found:
            added += 1
            assert found[0] in column["children"]  # in the app's main column
            if last["type"] == "hbox":  # above the buttons row, as apps place a message body
                assert column["children"][-1] is last
        vary_text_areas(spec := make_spec("login", k), random.Random(k), add=0.0)
        assert not areas(spec)
    assert added >= 15
