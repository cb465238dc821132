"""Letters of one script that a reader takes for another's: "Вuy now" with a Cyrillic В.

Folding (``phrases.fold``) removes case, accents and compatibility forms, so fullwidth
and mathematical letters already read as Latin; a Cyrillic, Greek or Armenian letter drawn
like a Latin one did not, and "Вuy now" passed a policy banning "buy now". Two answers, both
small enough to write here rather than ship Unicode's whole confusables table:

- ``LOOKALIKES`` maps the letters drawn like a Latin one to it (for folding before a phrase
  is matched), so a word spelled in look-alikes alone ("Асе" in Cyrillic) is caught too;
- ``mixed_script_words`` finds words that mix Latin with Cyrillic, Greek or Armenian letters
  (Unicode's "mixed-script" test, UTS #39): ordinary copy in any of those languages writes a
  word in one script, and a word that mixes them is a spoof whatever it spells.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

# Each letter drawn like the Latin one it maps to, upper case where only the capital is (Cyrillic "в" is not "b").
_DRAWN_LIKE = {
    "A": "АΑ",
    "B": "ВΒ",
    "C": "СϹ",
    "E": "ЕΕ",
    "H": "НΗ",
    "I": "ІΙӀ",
    "J": "Ј",
    "K": "КΚ",
    "M": "МΜ",
    "N": "Ν",
    "O": "ОΟՕ",
    "P": "РΡ",
    "S": "Ѕ",
    "T": "ТΤ",
    "X": "ХΧ",
    "Y": "УΥҮ",
    "Z": "Ζ",
    "a": "аα",
    "c": "сϲ",
    "d": "ԁ",
    "e": "е",
    "h": "һհ",
    "i": "іι",
    "j": "ј",
    "k": "κ",
    "n": "ո",
    "o": "оοօ",
    "p": "рρ",
    "q": "ԛ",
    "s": "ѕ",
    "u": "υս",
    "v": "ν",
    "w": "ԝ",
    "x": "хχ",
    "y": "уү",
}
LOOKALIKES = str.maketrans({drawn: latin for latin, letters in _DRAWN_LIKE.items() for drawn in letters})

_SCRIPTS = ("LATIN", "CYRILLIC", "GREEK", "ARMENIAN")
_WORD = re.compile(r"[^\W\d_]+")  # letters only: "5Ω" or "Δ-test" is not one word of two scripts


@lru_cache(maxsize=4096)
def _script(letter: str) -> str | None:
    name = unicodedata.name(letter, "")
    return next((script for script in _SCRIPTS if name.startswith(script + " ")), None)


def mixed_script_words(text: str) -> list[tuple[int, int]]:
    """The spans of words whose letters come from more than one of Latin, Cyrillic, Greek and Armenian."""
    if text.isascii():
        return []
    spans = []
    for word in _WORD.finditer(text):
        scripts = {_script(letter) for letter in word.group()} - {None}
        if len(scripts) > 1:
            spans.append(word.span())
    return spans
