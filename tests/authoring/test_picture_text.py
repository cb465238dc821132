"""What OCR reads in a picture: text a person would read, not glyphs it makes of shapes."""

from __future__ import annotations

import re
from pathlib import Path

from fake_openai import draw_picture
from variantly.authoring.picture_text import read_text

REPO = Path(__file__).resolve().parents[2]


def test_words_drawn_in_a_picture_are_read_offline_and_shapes_are_not_words() -> None:
    assert re.sub(r"\s+", " ", read_text(draw_picture("text", "1024x1024", 1))).upper() == "BUY NOW 50% OFF"
    assert read_text(draw_picture("plain", "1024x1024", 1)) == ""


def test_the_example_pictures_hold_no_text_though_ocr_sees_a_glyph_in_each_shape() -> None:
    """RapidOCR reads each example picture (shapes only) as one CJK character at 0.59-0.77: a lone glyph is not text."""
    pictures = sorted((REPO / "examples" / "pictures").glob("*.png"))
    assert len(pictures) == 3
    assert [read_text(p.read_bytes()) for p in pictures] == ["", "", ""]
