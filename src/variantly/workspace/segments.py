"""How many SMS a text costs, counted the way carriers count it (GSM 03.38 and UCS-2).

A text in the GSM 7-bit default alphabet fits 160 septets in one SMS; a character of the
extension table (``{ } [ ] ~ \\ ^ | €`` and form feed) takes two, an escape and the
character. Joined messages carry a header, leaving 153 septets each, and a two-septet
character is never split between them. One character outside both tables sends the whole
text as UCS-2: 70 UTF-16 units alone, 67 each when joined, a surrogate pair (an emoji)
being two units that are never split either. Swedish å, ä and ö are in the basic table;
é is too, but á is not.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = frozenset("\f^{}\\[~]|€")

SINGLE = {"gsm7": 160, "ucs2": 70}
JOINED = {"gsm7": 153, "ucs2": 67}


@dataclass(frozen=True)
class SmsSegments:
    encoding: Literal["gsm7", "ucs2"]
    units: int  # septets (GSM-7) or UTF-16 code units (UCS-2)
    count: int
    first_outside_gsm7: str | None = None  # the character that made the text UCS-2

    def describe(self) -> str:
        why = f", because of {self.first_outside_gsm7!r}" if self.first_outside_gsm7 else ""
        unit = "septets" if self.encoding == "gsm7" else "UCS-2 characters"
        return f"{self.count} SMS segment(s): {self.units} {unit} ({self.encoding.upper()}{why})"


def _costs(text: str) -> tuple[Literal["gsm7", "ucs2"], list[int], str | None]:
    """The encoding and each character's cost in units."""
    outside = next((ch for ch in text if ch not in GSM7_BASIC and ch not in GSM7_EXTENSION), None)
    if outside is None:
        return "gsm7", [2 if ch in GSM7_EXTENSION else 1 for ch in text], None
    return "ucs2", [2 if ord(ch) > 0xFFFF else 1 for ch in text], outside


def sms_segments(text: str) -> SmsSegments:
    encoding, costs, outside = _costs(text)
    units = sum(costs)
    if units <= SINGLE[encoding]:
        return SmsSegments(encoding, units, 1 if text else 0, outside)
    size, count, used = JOINED[encoding], 1, 0
    for cost in costs:  # a character that does not fit whole starts the next segment
        if used + cost > size:
            count, used = count + 1, 0
        used += cost
    return SmsSegments(encoding, units, count, outside)
