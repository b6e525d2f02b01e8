"""OCR of element crops on a real Qt screen rendered offscreen, the crop cache, and the OCR metrics."""

from __future__ import annotations

import os

import numpy as np
import pytest

from agent.types import Element
from vision.ocr import OCR, edit_distance

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

TEXTS = {
    "button": "Save changes",
    "label": "Invoice number",
    "checkbox": "Enable notifications",
    "radio": "Express shipping",
    "link": "Forgot password",
    "paragraph": "Backups run nightly Keep them safe",
}
KINDS = {"paragraph": "label"}  # the rest are named by their kind


def _grab(root) -> tuple[np.ndarray, float]:
    """A shown widget's pixels (H×W×3 uint8 RGB) and its device pixel ratio."""
    img = root.grab().toImage().convertToFormat(root.grab().toImage().Format.Format_RGB888)
    arr = np.frombuffer(img.constBits(), np.uint8).reshape(img.height(), img.bytesPerLine())
    return arr[:, : img.width() * 3].reshape(img.height(), img.width(), 3).copy(), root.devicePixelRatioF()


@pytest.fixture(scope="module")
def qt_screen() -> tuple[np.ndarray, list[Element]]:
    """A real Qt form grabbed offscreen: (H×W×3 uint8 image, elements with their widgets' geometry)."""
    from PySide6.QtWidgets import (
        QApplication,
        QCheckBox,
        QLabel,
        QPushButton,
        QRadioButton,
        QVBoxLayout,
        QWidget,
    )

    from agent.envs.sandbox.qt import ensure_app

    # the sandbox's own application (offscreen, its fonts): a bare QApplication made here first had later
    # sandbox screens drawn differently (a slider test after this module found 26 of its 39 ends, 29 alone)
    app = ensure_app()
    # The sandbox sets the application's style and palette per screen; an earlier test's last theme must
    # not decide how this form looks, so it is drawn in Fusion with Fusion's own palette.
    style, palette = app.style().name(), app.palette()
    app.setStyle("Fusion")
    QApplication.setPalette(app.style().standardPalette())
    root = QWidget()
    root.resize(480, 300)
    layout = QVBoxLayout(root)
    widgets = {
        "button": QPushButton(TEXTS["button"]),
        "label": QLabel(TEXTS["label"]),
        "checkbox": QCheckBox(TEXTS["checkbox"]),
        "radio": QRadioButton(TEXTS["radio"]),
        "link": QLabel(f'<a href="#">{TEXTS["link"]}</a>'),
        "paragraph": QLabel("Backups run nightly\nKeep them safe"),  # two lines: read line by line
    }
    for w in widgets.values():
        layout.addWidget(w)
    layout.addStretch(1)  # widgets keep their natural height, as in real forms
    root.show()
    app.processEvents()
    arr, dpr = _grab(root)
    elements = []
    for name, w in widgets.items():
        g = w.geometry()
        # a label's geometry spans the layout's width; its text hint gives the inked part
        width = w.sizeHint().width() if isinstance(w, QLabel) else g.width()
        elements.append(Element(box=(g.x() * dpr, g.y() * dpr, (g.x() + width) * dpr, (g.y() + g.height()) * dpr),
                                kind=KINDS.get(name, name), id=len(elements)))  # fmt: skip
    root.close()
    app.setStyle(style)
    QApplication.setPalette(palette)
    return arr, elements


def test_reads_element_text_on_a_rendered_qt_screen(qt_screen):
    image, elements = qt_screen
    ocr = OCR()
    ocr.read_elements(image, elements)
    assert [e.text for e in elements] == list(TEXTS.values())


def test_cache_skips_recognition_of_unchanged_crops(qt_screen):
    image, elements = qt_screen
    ocr = OCR()
    lines = len(elements) + 1  # the paragraph is read as two lines
    ocr.read_elements(image, [Element(box=e.box, kind=e.kind) for e in elements])
    assert ocr.stats.recognised == lines and ocr.stats.hits == 0
    again = [Element(box=e.box, kind=e.kind) for e in elements]
    ocr.read_elements(image, again)
    assert ocr.stats.recognised == lines and ocr.stats.hits == lines
    assert [e.text for e in again] == list(TEXTS.values())
    # one changed crop: only it is recognised again
    changed = image.copy()
    x1, y1, x2, y2 = (int(v) for v in elements[0].box)
    changed[y1:y2, x1:x2] = 255 - changed[y1:y2, x1:x2]
    ocr.read_elements(changed, [Element(box=e.box, kind=e.kind) for e in elements])
    assert ocr.stats.recognised == lines + 1


def test_non_text_kinds_and_empty_crops_are_not_read(qt_screen):
    image, _ = qt_screen
    ocr = OCR()
    icon = Element(box=(0, 0, 40, 40), kind="icon")
    empty = Element(box=(10, 10, 10, 10), kind="label")
    ocr.read_elements(image, [icon, empty])
    assert icon.text == "" and empty.text == "" and ocr.stats.recognised == 0


def test_edit_distance():
    assert edit_distance("kitten", "sitting") == 3
    assert edit_distance("", "abc") == 3 and edit_distance("same", "same") == 0


def _field(text: str, cursor: bool, size: int = 13) -> np.ndarray:
    """A text field drawn like Qt's: frame, padded text, and optionally the text cursor after it."""
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.truetype("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", size)
    img = Image.new("RGB", (160, 26), (255, 255, 255))
    draw = ImageDraw.Draw(img)
    draw.rectangle((2, 2, 157, 23), outline=(120, 120, 120))
    draw.text((8, 6), text, font=font, fill=(20, 20, 20))
    if cursor:
        x = 8 + draw.textlength(text, font=font) + 2
        draw.line((x, 5, x, 21), fill=(20, 20, 20))
    return np.asarray(img)


def test_text_cursor_is_erased_but_a_final_l_is_kept():
    from vision.ocr import _erase_cursor

    with_cursor = _field("Pablo", cursor=True)
    cleaned = _erase_cursor(with_cursor, margin=5)
    changed = np.nonzero((cleaned != with_cursor).any(axis=(0, 2)))[0]
    assert 0 < changed.size <= 2  # one thin column went
    plain = _field("Nepal", cursor=False)
    assert np.array_equal(_erase_cursor(plain, margin=5), plain)
    ocr = OCR(threads=1)
    box = (0.0, 0.0, 160.0, 26.0)
    assert ocr.read_boxes(with_cursor, [box], ["text_field"]) == ["Pablo"]
    assert ocr.read_boxes(plain, [box], ["text_field"]) == ["Nepal"]


def test_ocr_metrics_score_clipped_text_apart(qt_screen, tmp_path):
    """evaluate_ocr on a COCO folder of the Qt screen: all fully visible texts are read; an annotation
    marked clipped (its full text is not on screen) is scored apart, not in the headline figures."""
    import json

    from PIL import Image

    from agent.types import ELEMENT_KINDS
    from vision.ocr import evaluate_ocr

    image, elements = qt_screen
    (tmp_path / "images").mkdir()
    Image.fromarray(image).save(tmp_path / "images" / "0.png")
    anns = []
    for e, text in zip(elements, TEXTS.values(), strict=True):
        x1, y1, x2, y2 = e.box
        anns.append({"id": len(anns) + 1, "image_id": 1, "category_id": 1 + ELEMENT_KINDS.index(e.kind),
                     "bbox": [x1, y1, x2 - x1, y2 - y1], "text": text, "clipped": False})  # fmt: skip
    # the button's right half is "behind a window": the ground truth keeps its full, unreadable text
    x, y, w, h = anns[0]["bbox"]
    anns.append(
        {
            **anns[0],
            "id": len(anns) + 1,
            "bbox": [x, y, w / 2, h],
            "text": "Save changes now",
            "clipped": True,
        }
    )
    coco = {"images": [{"id": 1, "file_name": "images/0.png", "width": image.shape[1], "height": image.shape[0]}],
            "annotations": anns, "categories": [{"id": 1 + i, "name": k} for i, k in enumerate(ELEMENT_KINDS)]}  # fmt: skip
    (tmp_path / "annotations.json").write_text(json.dumps(coco))
    out = evaluate_ocr(tmp_path)
    assert out["elements"] == len(TEXTS) and out["exact_match"] == 1.0 and out["cer"] == 0.0
    assert out["clipped"] == {"elements": 1, "exact_match": 0.0}
    assert out["exact_match_all"] == round(len(TEXTS) / (len(TEXTS) + 1), 4)


def _list_rows(rows: list[str], top: int, height: int, row_h: int = 22) -> np.ndarray:
    """A list drawn like Qt's (one name per row), cut to ``height`` rows of pixels from ``top``."""
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.truetype("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", 13)
    img = Image.new("RGB", (220, row_h * len(rows)), (255, 255, 255))
    draw = ImageDraw.Draw(img)
    for i, text in enumerate(rows):
        draw.text((6, i * row_h + 4), text, font=font, fill=(20, 20, 20))
    return np.asarray(img)[top : top + height]


def test_a_loose_list_item_box_reads_its_own_line_and_a_label_reads_all():
    # a detected box 1.6 rows tall, centred on "Chen, Zoe" but taking in most of the next row
    image = _list_rows(["Chen, Zoe", "Dubois, Chloe"], top=0, height=36)
    ocr = OCR(threads=1)
    item, label = ocr.read_boxes(
        image, [(0.0, 0.0, 220.0, 36.0), (0.0, 0.0, 220.0, 36.0)], ["list_item", "label"]
    )
    assert item == "Chen, Zoe"
    # labels and text areas may wrap: every line is read (the cut second line reads roughly)
    assert label.startswith("Chen, Zoe ") and "Chloe" in label


def test_combo_and_spin_arrows_are_not_read_as_text():
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.truetype("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", 13)
    img = Image.new("RGB", (150, 26), (255, 255, 255))
    draw = ImageDraw.Draw(img)
    draw.rectangle((0, 0, 149, 25), outline=(120, 120, 120))
    draw.text((6, 5), "74 min", font=font, fill=(20, 20, 20))
    draw.line((128, 1, 128, 24), fill=(160, 160, 160))  # the arrow buttons' edge
    draw.polygon([(133, 10), (143, 10), (138, 5)], fill=(40, 40, 40))  # up
    draw.polygon([(133, 15), (143, 15), (138, 20)], fill=(40, 40, 40))  # down
    image = np.asarray(img)
    ocr = OCR(threads=1)
    box = (0.0, 0.0, 150.0, 26.0)
    assert ocr.read_boxes(image, [box, box], ["combo", "spin"]) == ["74 min", "74 min"]


def _line_edits(texts: list[str], width: int = 420) -> tuple[np.ndarray, list[tuple[float, ...]]]:
    """Real QLineEdits stacked in a form, grabbed offscreen: (image, their xyxy boxes)."""
    from PySide6.QtWidgets import QApplication, QLineEdit, QVBoxLayout, QWidget

    from agent.envs.sandbox.qt import ensure_app

    app = ensure_app()  # the sandbox's own application, as in `qt_screen`
    style, palette = app.style().name(), app.palette()
    app.setStyle("Fusion")
    QApplication.setPalette(app.style().standardPalette())
    root = QWidget()
    root.resize(width + 20, 40 * len(texts))
    layout = QVBoxLayout(root)
    edits = [QLineEdit(t) for t in texts]
    for e in edits:
        e.setFixedWidth(width)
        e.setCursorPosition(0)
        layout.addWidget(e)
    root.show()
    app.processEvents()
    arr, dpr = _grab(root)
    boxes = [tuple(v * dpr for v in (e.x(), e.y(), e.x() + e.width(), e.y() + e.height())) for e in edits]
    root.close()
    app.setStyle(style)
    QApplication.setPalette(palette)
    return arr, boxes


def test_a_wide_field_is_read_from_its_inked_part_and_an_empty_one_is_not_read():
    from vision.ocr import trim_blank

    image, boxes = _line_edits(["Oslo", "", "Tromsø harbour office"])
    ocr = OCR(threads=1)
    crops = [ocr.element_crop(image, b, "text_field") for b in boxes]
    trimmed = [trim_blank(c) for c in crops]
    # the short text keeps a fraction of the 420-px field; the empty field leaves nothing to recognise
    assert trimmed[0].shape[1] < 0.4 * crops[0].shape[1]
    assert trimmed[1].size == 0
    assert trimmed[0].shape[1] < trimmed[2].shape[1] < crops[2].shape[1]
    texts = ocr.read_boxes(image, boxes, ["text_field"] * 3)
    assert texts == ["Oslo", "", "Tromsø harbour office"]
    assert ocr.stats.recognised == 2  # the empty field never reached the recogniser
    # without trimming the same texts are read from the whole fields
    whole = OCR(threads=1, trim=False)
    assert whole.read_boxes(image, boxes, ["text_field"] * 3)[0] == "Oslo"
    assert whole.stats.recognised == 3


@pytest.mark.parametrize("loose", [False, True])
def test_a_sunken_field_edge_is_no_text(loose):
    """A field drawn sunken (dark top and left edges only, as some styles do) is blank when empty; with
    text, the crop keeps the text and not the edge. ``loose``: a grey outer line above the dark one and
    a box reaching well below the field, as detected boxes do (the edge then spans under 70% of the
    crop's rows, and was read as '厂')."""
    from PIL import Image, ImageDraw, ImageFont

    from vision.ocr import trim_blank

    font = ImageFont.truetype("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", 13)

    def field(text: str) -> np.ndarray:
        img = Image.new("RGB", (240, 40 if loose else 32), (250, 250, 250) if loose else (236, 238, 244))
        draw = ImageDraw.Draw(img)
        draw.rectangle((2, 2, 237, 29), fill=(253, 253, 253))
        if loose:
            draw.line((2, 1, 237, 1), fill=(130, 130, 130))  # a grey outer line
        draw.line((2, 2, 237, 2), fill=(20, 20, 20))  # the dark top edge
        draw.line((2, 2, 2, 22 if loose else 29), fill=(20, 20, 20))  # the dark left edge
        draw.line((3, 29, 237, 29), fill=(225, 225, 225))  # the light bottom edge
        draw.text((120, 8), text, font=font, fill=(15, 15, 15))
        return np.asarray(img)

    assert trim_blank(field("")).size == 0
    ocr = OCR(threads=1)
    h = float(field("").shape[0])
    assert ocr.read_boxes(field(""), [(0.0, 0.0, 240.0, h)], ["text_field"]) == [""]
    crop = trim_blank(field("Lagos"))
    assert 30 < crop.shape[1] < 100  # the word and its margins, not the edge 118 px to its left
    assert ocr.read_boxes(field("Lagos"), [(0.0, 0.0, 240.0, h)], ["text_field"]) == ["Lagos"]


def test_a_crops_text_does_not_depend_on_what_is_read_with_it():
    """Held-out task 151: the 290-px "Log in" button, recognised in one batch with the screen's other lines,
    was padded to the batch's widest (a 21:1 line) and read "0Log in"; the policy never found the button it
    was told to press. Crops are recognised with others of their width bucket only, each padded to the
    bucket's width, so a crop reads the same alone or beside anything, as the crop cache assumes."""
    from agent.envs.sandbox.env import SandboxEnv
    from agent.envs.sandbox.families import generate_split
    from vision.ocr import RATIO_STEP, fit_line, ratio_bucket

    with SandboxEnv() as env:
        obs = env.reset(generate_split("heldout", 500, seed=0)[151])
    image = np.asarray(obs.image)
    button = next(e for e in obs.elements if e.kind == "button" and e.text == "Log in")
    others = [e for e in obs.elements if e.kind in ("label", "link", "checkbox") and e.text]
    assert others
    ocr = OCR()
    alone = ocr.read_boxes(image, [button.box], ["button"])
    wide = np.full((20, 430, 3), 255, np.uint8)  # a 21.5:1 line with a word at its start
    wide[5:15, 4:40:3] = 0
    ocr._cache.clear()
    lines = [*ocr.element_lines(image, button.box, "button"), wide]
    together = ocr.read(lines + [ocr.element_crop(image, e.box, e.kind) for e in others])
    assert alone == ["Log in"] and together[0][0] == "Log in"
    ocr._cache.clear()
    assert ocr.read(lines[:1]) == together[:1]  # the same text and score
    # buckets grow by RATIO_STEP; padding keeps the pixels and only widens
    crop = np.zeros((10, 33, 3), np.uint8)
    assert RATIO_STEP ** (ratio_bucket(crop) - 1) < 3.3 <= RATIO_STEP ** ratio_bucket(crop)
    # scaled to the recogniser's height, grey to the bucket's width
    fitted = fit_line(np.full((10, 33, 3), 7, np.uint8), 48, 200)
    assert fitted.shape == (48, 200, 3) and (fitted[:, :159] == 7).all() and (fitted[:, 159:] == 128).all()


def test_lines_are_given_at_their_own_width_not_rapidocrs_320_pixels(qt_screen):
    """rapidocr pads every line to at least 320 px (6.7× its 48-px height); most element texts are 1–4
    heights wide. By default the recogniser gets each line at its bucket's width (at least 2.5 heights),
    and reads the same texts as at rapidocr's minimum; at a minimum of 1 too."""
    image, elements = qt_screen
    texts, widths = {}, {}
    for min_width in (None, 1.0, 320 / 48):
        ocr = OCR() if min_width is None else OCR(min_width=min_width)
        rec = ocr._recogniser()
        seen = widths.setdefault(min_width, [])
        inner = rec.session
        rec.session = lambda x, inner=inner, seen=seen: seen.append((len(x), x.shape[3])) or inner(x)
        copies = [Element(box=e.box, kind=e.kind) for e in elements]
        ocr.read_elements(image, copies)
        texts[min_width] = [e.text for e in copies]
    assert texts[None] == texts[1.0] == texts[320 / 48] == list(TEXTS.values())
    assert min(w for _, w in widths[320 / 48]) == 320 and min(w for _, w in widths[None]) >= 120
    # the columns read, which the recogniser's cost grows with
    columns = {k: sum(n * w for n, w in v) for k, v in widths.items()}
    assert columns[1.0] <= columns[None] < columns[320 / 48]
    # every line rapidocr would have widened to 320 px is read narrower
    assert sum(w < 320 for _, w in widths[None]) == sum(w == 320 for _, w in widths[320 / 48]) >= 3
    with pytest.raises(ValueError, match="min_width"):
        OCR(min_width=0)


def test_longest_runs_per_row_match_the_one_row_scan():
    from vision.ocr import _longest_runs, _longest_span

    rng = np.random.default_rng(0)
    for _ in range(200):
        mask = rng.random((int(rng.integers(1, 30)), int(rng.integers(1, 60)))) < rng.random()
        assert _longest_runs(mask).tolist() == [_longest_span(row)[0] for row in mask]
    assert _longest_runs(np.zeros((3, 0), bool)).tolist() == [0, 0, 0]


def test_a_crop_reads_the_same_beside_crops_of_its_bucket_but_another_height():
    """Held-out task 33, page 2: the focused "Continue" button (its dotted focus rectangle drawn) shared its
    width bucket with two radio buttons 7 px lower. Each crop used to be padded to the bucket's ratio at
    its own height, so at the recogniser's height the button came out 125 px wide alone and 126 px beside
    them, read "Continue" alone and "[Continue" beside them, and the policy pressed "Previous". Every crop
    of a bucket now reaches the recogniser at one size."""
    import cv2

    from agent.envs.sandbox.env import SandboxEnv
    from agent.envs.sandbox.families import generate_split
    from agent.types import Click
    from vision.ocr import ratio_bucket

    with SandboxEnv() as env:
        obs = env.reset(generate_split("heldout", 500, seed=0)[33].to_task())
        nxt = next(e for e in obs.elements if e.state.get("name") == "next")
        env.act(Click(x=nxt.center[0], y=nxt.center[1]))
        obs = env.observe()
    image = np.asarray(obs.image)
    ocr = OCR()
    button = next(e for e in obs.elements if e.kind == "button" and e.text == "Continue")
    (line,) = ocr.element_lines(image, button.box, "button")
    h, w = line.shape[:2]
    # the radio buttons' lines at 24 px, as the detector's boxes gave them on that page, widened with
    # their background to the button's aspect: the same bucket at another height
    peers = []
    for e in obs.elements:
        if e.kind == "radio":
            for piece in ocr.element_lines(image, e.box, e.kind):
                piece = cv2.resize(piece, (round(piece.shape[1] * 24 / piece.shape[0]), 24))
                wide = round(24 * w / h)
                peers.append(np.pad(piece, ((0, 0), (0, max(0, wide - piece.shape[1])), (0, 0)), mode="edge"))
    assert len(peers) == 3 and all(ratio_bucket(p) == ratio_bucket(line) and len(p) != h for p in peers)
    together = ocr.read([line, *peers])
    ocr._cache.clear()
    assert ocr.read([line]) == together[:1] and together[0][0] == "Continue"
