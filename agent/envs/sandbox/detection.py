"""Labelled frames for the detector: screenshots of random scenes with ground-truth boxes, as COCO.

Classes (COCO ``category_id`` = 1 + index in `agent.types.ELEMENT_KINDS`, ``name`` = the kind):

    1 button      push buttons, text-only tool buttons, task bar buttons
    2 text_field  single-line edits (password fields too)
    3 checkbox    indicator + its text
    4 radio       indicator + its text
    5 combo       closed combo boxes (their open popups are menu_item / list_item)
    6 slider      the whole slider groove
    7 spin        spin boxes
    8 tab         one tab of a tab bar
    9 menu        a title in a menu bar
    10 menu_item  an entry of an open menu, or of a combo popup drawn as a menu
    11 list_item  a visible row of a list, or of a combo popup drawn as a list
    12 link       link-styled text
    13 label      plain text: labels, headings, paragraphs, titles, group titles
    14 icon       icon-only buttons and pictures of icons
    15 text_area  multi-line editors
    16 progress   progress bars

Each scene (random screen size, style, palette, fonts, desktop, 1–4 app windows, distractors) yields
`FRAMES_PER_SCENE` frames: as built, then after each of a few real clicks on random elements (weighted
towards combo boxes and menus, so open popups are common), sometimes followed by typing. Frame ``i`` depends only on
``(split, seed, i)``, not on the number of workers; each worker process has its own QApplication.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import random
import struct
import time
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from agent.envs.sandbox.splits import check_split, templates_for
from agent.errors import DeskpilotError
from agent.types import ELEMENT_KINDS, Click, Element, TypeText

FRAMES_PER_SCENE = 3
CATEGORIES = [{"id": i + 1, "name": k, "supercategory": "ui"} for i, k in enumerate(ELEMENT_KINDS)]
_CLICK_WEIGHT = {"combo": 4.0, "menu": 4.0, "tab": 2.0, "text_field": 1.5, "list_item": 1.0, "checkbox": 1.0,
                 "radio": 1.0, "spin": 0.5, "button": 0.3, "icon": 0.1, "label": 0.0, "link": 0.2}  # fmt: skip


def category_id(kind: str) -> int:
    return ELEMENT_KINDS.index(kind) + 1


def fast_png(image: np.ndarray, level: int = 1) -> bytes:
    """Lossless PNG of an H×W×3 uint8 RGB image, ~2.5× faster than cv2/PIL for screenshots.

    Every row uses the "Up" filter (screenshots repeat rows: flat panels, vertical gradients), which
    numpy computes in one subtraction, then zlib level 1; PNG's adaptive per-row filter search is the
    slow part this skips.
    """
    h, w, _ = image.shape
    flat = np.ascontiguousarray(image).reshape(h, w * 3)
    rows = np.empty((h, w * 3 + 1), np.uint8)
    rows[:, 0] = 2  # filter type Up
    rows[0, 1:] = flat[0]
    np.subtract(flat[1:], flat[:-1], out=rows[1:, 1:])

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

    header = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)  # 8-bit RGB, no interlace
    idat = zlib.compress(rows.tobytes(), level)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def encode_image(image: np.ndarray, fmt: str) -> bytes:
    """H×W×3 RGB uint8 → PNG bytes (`fast_png`) or JPEG (quality 92)."""
    if fmt == "png":
        return fast_png(image)
    import cv2

    ok, buf = cv2.imencode(".jpg", image[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, 92])
    if not ok:  # pragma: no cover - cv2 only fails on a bad array
        raise DeskpilotError("could not encode a jpg frame")
    return buf.tobytes()


def _interact(scene, rng: random.Random, elements: list[Element]) -> None:
    """One real click on a random element of the current frame (and maybe some typing)."""
    from agent.envs.sandbox.input import QtInput

    els = [e for e in elements if _CLICK_WEIGHT.get(e.kind, 0) > 0]
    if not els:
        return
    el = rng.choices(els, weights=[_CLICK_WEIGHT[e.kind] for e in els])[0]
    inp = QtInput(scene.desk)
    x, y = el.center
    w, h = scene.desk.size
    inp.click(Click(min(x, w - 1), min(y, h - 1)))
    if el.kind == "text_field" and rng.random() < 0.7:
        from agent.envs.sandbox import vocab as V

        inp.type_text(TypeText(V.value_for(rng.choice(V.FIELDS), rng)))


def close_popups() -> None:
    from PySide6.QtWidgets import QApplication

    for _ in range(4):
        popup = QApplication.activePopupWidget()
        if popup is None:
            return
        popup.close()


def render_scene(
    split: str, seed: int, scene_index: int, templates: list[str]
) -> list[tuple[Any, list[Element], dict]]:
    """The frames of one scene: [(image H×W×3, elements, info), ...]."""
    from agent.envs.sandbox.qt import flush_events
    from agent.envs.sandbox.scene import random_scene
    from agent.envs.sandbox.truth import ground_truth

    key = f"{split}:{seed}:{scene_index}"
    scene = random_scene(key, templates)
    rng = random.Random(f"interact:{key}")
    frames = []
    try:
        for k in range(FRAMES_PER_SCENE):
            if k > 0:
                _interact(scene, rng, frames[-1][1])
            flush_events()
            frames.append((scene.desk.grab(), ground_truth(scene.desk), {**scene.info, "frame": k}))
    finally:
        close_popups()
        scene.close()
    return frames


def _annotations(elements: list[Element], image_id: int, start_id: int) -> list[dict]:
    out = []
    for i, e in enumerate(elements):
        if e.kind not in ELEMENT_KINDS:
            continue
        x1, y1, x2, y2 = e.box
        w, h = x2 - x1, y2 - y1
        out.append({"id": start_id + i, "image_id": image_id, "category_id": category_id(e.kind),
                    "bbox": [x1, y1, w, h], "area": w * h, "iscrowd": 0, "text": e.text,
                    "clipped": bool(e.state.get("clipped"))})  # fmt: skip
    return out


def _worker(
    split: str, seed: int, scenes: list[int], n: int, out: str, fmt: str, templates: list[str], queue
) -> None:
    try:
        from agent.envs.sandbox.qt import ensure_app

        ensure_app()
        images = Path(out) / "images"
        for j in scenes:
            for k, (img, els, info) in enumerate(render_scene(split, seed, j, templates)):
                index = j * FRAMES_PER_SCENE + k
                if index >= n:
                    break
                name = f"{index:06d}.{fmt}"
                (images / name).write_bytes(encode_image(img, fmt))
                h, w = img.shape[:2]
                image = {"id": index + 1, "file_name": name, "width": w, "height": h, "style": info["style"], "scale": info.get("scale", 1.0),
                         "dark": info["dark"], "templates": info["templates"]}  # fmt: skip
                queue.put(("frame", index, image, _annotations(els, index + 1, 0)))
        queue.put(("done", None, None, None))
    except BaseException as exc:  # report, so the parent does not wait forever
        import traceback

        queue.put(("error", None, f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}", None))


def gen_detection(n: int, split: str, out: str | os.PathLike[str], *, workers: int = 2, seed: int = 0,
                  fmt: str = "png", progress: bool = True) -> dict[str, Any]:  # fmt: skip
    """Write ``n`` labelled frames of ``split`` to ``out`` (``images/`` + ``annotations.json``).

    Returns stats: frames, annotations, seconds, frames_per_s, per-class counts.
    """
    from agent.envs.sandbox.templates import TEMPLATES

    check_split(split)
    if n < 1:
        raise DeskpilotError("--n must be at least 1")
    if fmt not in ("png", "jpg"):
        raise DeskpilotError(f"image format must be png or jpg, got {fmt!r}")
    out = Path(out)
    (out / "images").mkdir(parents=True, exist_ok=True)
    templates = templates_for(split, list(TEMPLATES))
    n_scenes = -(-n // FRAMES_PER_SCENE)
    workers = max(1, min(workers, n_scenes))
    ctx = mp.get_context("spawn")  # never fork a process that may hold Qt state
    queue = ctx.Queue()
    procs = [
        ctx.Process(
            target=_worker,
            args=(split, seed, list(range(w, n_scenes, workers)), n, str(out), fmt, templates, queue),
            daemon=True,
        )
        for w in range(workers)
    ]
    t0 = time.perf_counter()
    for p in procs:
        p.start()
    images: dict[int, dict] = {}
    anns: dict[int, list[dict]] = {}
    done, error = 0, None
    bar = _progress(progress, n, f"gen-detection {split}")
    with bar as (advance,):
        while done < workers and error is None:
            kind, index, image, a = queue.get()
            if kind == "frame":
                images[index], anns[index] = image, a
                advance()
            elif kind == "done":
                done += 1
            else:
                error = image
    for p in procs:
        if error is not None:
            p.terminate()
        p.join(timeout=30)
    if error is not None:
        raise DeskpilotError(f"a gen-detection worker failed: {error}")
    seconds = time.perf_counter() - t0
    coco = build_coco(images, anns, split=split, seed=seed)
    (out / "annotations.json").write_text(json.dumps(coco))
    counts = {c["name"]: 0 for c in CATEGORIES}
    for a in coco["annotations"]:
        counts[ELEMENT_KINDS[a["category_id"] - 1]] += 1
    return {"frames": len(images), "annotations": len(coco["annotations"]), "seconds": round(seconds, 2),
            "frames_per_s": round(len(images) / seconds, 2), "workers": workers, "classes": counts,
            "classes_present": sum(1 for v in counts.values() if v)}  # fmt: skip


def build_coco(
    images: dict[int, dict], anns: dict[int, list[dict]], *, split: str, seed: int
) -> dict[str, Any]:
    """COCO dict with annotation ids renumbered 1..N in frame order."""
    out_images, out_anns, next_id = [], [], 1
    for index in sorted(images):
        out_images.append(images[index])
        for a in anns[index]:
            out_anns.append({**a, "id": next_id})
            next_id += 1
    return {
        "info": {"description": "deskpilot sandbox detection frames", "split": split, "seed": seed,
                 "classes": list(ELEMENT_KINDS), "category_id": "1 + index in agent.types.ELEMENT_KINDS"},
        "licenses": [], "images": out_images, "annotations": out_anns, "categories": CATEGORIES,
    }  # fmt: skip


class _progress:
    """A rich progress bar (or nothing) as a context manager yielding ``(advance,)``."""

    def __init__(self, enabled: bool, total: int, label: str):
        self.enabled, self.total, self.label = enabled, total, label
        self._p = None

    def __enter__(self):
        if not self.enabled:
            return (lambda: None,)
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self._p = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                           TimeRemainingColumn())  # fmt: skip
        self._p.__enter__()
        task = self._p.add_task(self.label, total=self.total)
        return (lambda: self._p.advance(task),)

    def __exit__(self, *exc: object) -> None:
        if self._p is not None:
            self._p.__exit__(*exc)


def draw_elements(image, elements: list[Element]):
    """A PIL image of ``image`` with each element's box and kind drawn (for people, not training)."""
    from PIL import Image, ImageDraw

    colors = {k: tuple(int(c) for c in ((37 * i) % 255, (101 * i + 80) % 255, (53 * i + 160) % 255))
              for i, k in enumerate(ELEMENT_KINDS)}  # fmt: skip
    im = Image.fromarray(image)
    d = ImageDraw.Draw(im)
    for e in elements:
        c = colors.get(e.kind, (255, 0, 0))
        d.rectangle(e.box, outline=c, width=2)
        d.text((e.box[0] + 2, max(0, e.box[1] - 11)), e.kind, fill=c)
    return im


def show(seed: int, out: str | os.PathLike[str], *, split: str = "train", frame: int = 0) -> dict[str, Any]:
    """Save frame ``frame`` of scene ``seed`` with its ground-truth boxes drawn; returns a summary."""
    from agent.envs.sandbox.qt import ensure_app
    from agent.envs.sandbox.templates import TEMPLATES

    check_split(split)
    ensure_app()
    frames = render_scene(split, 0, seed, templates_for(split, list(TEMPLATES)))
    img, els, info = frames[min(frame, len(frames) - 1)]
    draw_elements(img, els).save(out)
    kinds: dict[str, int] = {}
    for e in els:
        kinds[e.kind] = kinds.get(e.kind, 0) + 1
    return {"out": str(out), "size": list(img.shape[1::-1]), "elements": len(els), "kinds": kinds, **info}


def _episode_dirs(sources: list[Path]) -> list[Path]:
    """Trace folders: each source is one (it has meta.json) or a folder of them."""
    from agent.trace import META_FILE

    found: list[Path] = []
    for src in sources:
        if not src.is_dir():
            raise DeskpilotError(f"{src}: no such folder of recorded episodes")
        if (src / META_FILE).is_file():
            found.append(src)
        else:
            found += sorted(p for p in src.iterdir() if (p / META_FILE).is_file())
    if not found:
        raise DeskpilotError(
            f"no recorded episodes (folders with {META_FILE}) in {', '.join(map(str, sources))}"
        )
    return found


def _link(src: Path, dst: Path) -> None:
    """``dst`` as a hard link to ``src`` (a copy across file systems)."""
    import shutil

    dst.unlink(missing_ok=True)
    try:
        os.link(src, dst)
    except OSError:
        shutil.copyfile(src, dst)


def detection_from_traces(
    sources: list[str | os.PathLike[str]],
    out: str | os.PathLike[str],
    *,
    per_episode: int = 2,
    seed: int = 0,
    include: str | os.PathLike[str] | list[str | os.PathLike[str]] | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Detector data from recorded sandbox episodes: the screens an agent actually meets.

    `gen_detection` clicks at random, so a wizard's later pages, a half-filled form or a chosen combo
    item are rare there, while every task walks through them. Each episode gives ``per_episode`` of its
    frames (drawn by ``seed``, without repeats) labelled with the ground-truth elements its steps
    recorded. Frames are hard-linked into ``out/images`` (copied across file systems). ``include`` adds
    other COCO folders' frames and labels (one folder or a list), so one folder holds the whole training
    set; with no episodes it only merges them.

    Only sandbox traces of the train or val split qualify: their elements are the sandbox's ground
    truth, and a held-out episode would leak held-out templates into training.
    """
    from PIL import Image

    from agent.trace import read_trace

    if per_episode < 1:
        raise DeskpilotError("--per-episode must be at least 1")
    includes = [include] if isinstance(include, str | os.PathLike) else list(include or [])
    if not sources and not includes:
        raise DeskpilotError("nothing to write: give recorded episodes, --include folders, or both")
    out = Path(out)
    episodes = _episode_dirs([Path(s) for s in sources]) if sources else []
    (out / "images").mkdir(parents=True, exist_ok=True)
    images: dict[int, dict] = {}
    anns: dict[int, list[dict]] = {}
    for k, folder in enumerate(Path(f) for f in includes):
        from vision.data import load_coco

        base = load_coco(folder)
        by_image: dict[int, list[dict]] = {}
        for a in base["annotations"]:
            by_image.setdefault(a["image_id"], []).append(a)
        prefix = "base" if k == 0 else f"base{k + 1}"
        for im in base["images"]:
            src = folder / im["file_name"]
            if not src.is_file():
                src = folder / "images" / im["file_name"]
            index = len(images)
            name = f"{prefix}_{Path(im['file_name']).name}"
            _link(src, out / "images" / name)
            images[index] = {**im, "id": index + 1, "file_name": name}
            anns[index] = [{**a, "image_id": index + 1} for a in by_image.get(im["id"], [])]
    from_traces = 0
    t0 = time.perf_counter()
    with _progress(progress, len(episodes), "detection from traces") as (advance,):
        for ep in episodes:
            trace = read_trace(ep)
            env = trace.meta.get("env") or {}
            if trace.meta.get("target") != "sandbox" or env.get("env") != "sandbox":
                raise DeskpilotError(
                    f"{ep}: not a sandbox episode; only the sandbox knows every element's box"
                )
            if env.get("split") not in ("train", "val"):
                raise DeskpilotError(
                    f"{ep}: a {env.get('split')!r} episode; only train and val ones may train"
                )
            steps = [s for s in trace.steps if s.frame and s.elements]
            if any(e.score < 1.0 for s in steps for e in s.elements):
                raise DeskpilotError(f"{ep}: its elements were detected, not ground truth")
            rng = random.Random(f"{seed}:{ep.name}")
            for step in sorted(rng.sample(steps, min(per_episode, len(steps))), key=lambda s: s.index):
                src = ep / step.frame
                with Image.open(src) as im:
                    w, h = im.size
                index = len(images)
                name = f"{index:06d}_{ep.name}_{Path(step.frame).name}"
                _link(src, out / "images" / name)
                images[index] = {"id": index + 1, "file_name": name, "width": w, "height": h,
                                 "scale": float(env.get("scale", 1.0)), "templates": [env.get("template")],
                                 "trace": ep.name, "step": step.index}  # fmt: skip
                anns[index] = _annotations(step.elements, index + 1, 0)
                from_traces += 1
            advance()
    coco = build_coco(images, anns, split="traces", seed=seed)
    (out / "annotations.json").write_text(json.dumps(coco))
    return {"frames": len(images), "from_traces": from_traces, "episodes": len(episodes),
            "annotations": len(coco["annotations"]), "seconds": round(time.perf_counter() - t0, 2)}  # fmt: skip
