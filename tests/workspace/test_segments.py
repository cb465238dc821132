"""SMS segments are counted as carriers count them: checked against smsutil, an independent implementation."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from variantly.workspace.segments import GSM7_BASIC, GSM7_EXTENSION, sms_segments

smsutil = pytest.importorskip("smsutil")


@pytest.mark.parametrize(
    ("text", "encoding", "units", "count"),
    [
        ("a" * 160, "gsm7", 160, 1),
        ("a" * 161, "gsm7", 161, 2),
        ("a" * 306, "gsm7", 306, 2),
        ("a" * 307, "gsm7", 307, 3),
        ("€" * 80, "gsm7", 160, 1),  # an extension character is two septets
        ("a" * 152 + "€" + "a" * 152, "gsm7", 306, 3),  # never split between two segments
        ("Hej Åsa, välkommen tillbaka", "gsm7", 27, 1),  # å, ä and ö are GSM-7
        ("á" * 70, "ucs2", 70, 1),
        ("á" * 71, "ucs2", 71, 2),
        ("a" * 159 + "á", "ucs2", 160, 3),  # one character outside GSM-7 makes the whole text UCS-2
        ("á" + "a" * 65 + "😀" + "a" * 66, "ucs2", 134, 3),  # an emoji's surrogate pair is never split
        ("", "gsm7", 0, 0),
    ],
)
def test_segments_as_carriers_count_them(text: str, encoding: str, units: int, count: int) -> None:
    counted = sms_segments(text)
    assert (counted.encoding, counted.units, counted.count) == (encoding, units, count)
    assert counted.count == len(smsutil.split(text).parts) or not text


GSM_TEXT = st.text(alphabet=sorted(GSM7_BASIC | GSM7_EXTENSION), max_size=700)
ANY_TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x1b"), max_size=400)


@settings(max_examples=300, deadline=None)
@given(st.one_of(GSM_TEXT, ANY_TEXT, st.tuples(GSM_TEXT, ANY_TEXT).map("".join)))
def test_segment_counts_agree_with_smsutil_on_any_text(text: str) -> None:
    if not text:
        return  # smsutil calls the empty text UCS-2; it costs nothing either way
    reference = smsutil.split(text)
    counted = sms_segments(text)
    assert counted.encoding == ("gsm7" if reference.encoding == "gsm0338" else "ucs2")
    assert counted.units == (reference.total_bytes if counted.encoding == "gsm7" else reference.total_bytes // 2)
    assert counted.count == len(reference.parts)


def test_the_description_says_why_a_text_went_ucs2() -> None:
    said = sms_segments("Välkommen 🎉").describe()
    assert said.startswith("1 SMS segment(s): 12 UCS-2 characters") and "'🎉'" in said
