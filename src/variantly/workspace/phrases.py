"""Phrases found in copy as a reader reads them, whatever the case, accents, spacing or disguise.

A policy's banned phrases and competitors (``workspace.copy_checks``) and a brand's urgency and required
words (``workspace.measures``) are matched the same way: on folded text, whole words only, any run of
spaces, hyphens or dashes between a phrase's words. Each kind of disguise found in a test was folded
away here once, for every check that matches phrases: "Bu\u00ady now" (a soft hyphen), "Buy-now",
"BUY  NOW", "K\u00f6p nu" against "kop nu", "\u0412uy now" (a Cyrillic Ve). A span found points into
the original text.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from typing import Annotated

from pydantic import AfterValidator

from variantly.workspace.lookalikes import LOOKALIKES


def fold(text: str) -> tuple[str, list[int]]:
    """Case- and accent-folded text, plus the original index of every folded character.

    Generated copy is mostly ASCII, where folding is lowercasing one character for one;
    the per-character Unicode walk is kept for the rest (it was most of a check's time).
    """
    text = text.replace("\u2019", "'")
    if text.isascii():
        return text.lower(), list(range(len(text) + 1))
    out: list[str] = []
    index: list[int] = []
    for i, ch in enumerate(text):
        base = _fold_character(ch)
        out.append(base)
        index.extend([i] * len(base))
    index.append(len(text))
    return "".join(out), index


@lru_cache(maxsize=4096)
def _fold_character(ch: str) -> str:
    """The character without case or accents, a Cyrillic, Greek or Armenian letter drawn like a Latin one as that
    one (``lookalikes``); nothing for an invisible format character (a soft hyphen, a zero-width space or joiner, a
    word joiner): "Bu\u00ady now" and "\u0412uy now" read "Buy now" and passed the banned phrases."""
    if unicodedata.category(ch) == "Cf":
        return ""
    decomposed = unicodedata.normalize("NFKD", ch)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).translate(LOOKALIKES).casefold() or ch


# Between a phrase's words: spaces, hyphens or dashes, any run of them ("risk-free" is "risk free" and "buy-now")
_BETWEEN = r"[\s\-\u2010-\u2015]+"


@lru_cache(maxsize=1024)
def _phrase_pattern(phrase: str) -> re.Pattern[str]:
    """A policy phrase as a whole-word pattern over folded text, any run of spaces, hyphens or dashes between its
    words: "Risk free" passed a policy banning "risk-free", and "Buy-now" one banning "buy now"."""
    words = re.split(_BETWEEN, fold(phrase)[0].strip())
    return re.compile(r"(?<!\w)" + _BETWEEN.join(re.escape(w) for w in words) + r"(?!\w)")


def phrase_spans(text: str, phrases: list[str] | tuple[str, ...]) -> list[tuple[str, tuple[int, int]]]:
    """Each phrase found in ``text``, with its span in the original text, in the order of ``phrases``."""
    folded, index = fold(text)
    hits = []
    for phrase in phrases:
        for match in _phrase_pattern(phrase).finditer(folded):
            hits.append((phrase, (index[match.start()], index[match.end() - 1] + 1)))
    return hits


def _a_phrase(phrase: str) -> str:
    """A phrase with a word in it: an empty or blank one ('' or '-') matched every text. As a banned phrase, every
    copy a run paid for failed and a re-check pulled every approved variant; as a brand's urgency word, every copy
    pressed the reader."""
    if not re.search(r"\w", phrase):
        raise ValueError(f"{phrase!r} has no word in it: it would match every copy")
    return phrase


# A phrase as the files list them (banned phrases, competitors, a brand's words): one with a word in it.
Phrase = Annotated[str, AfterValidator(_a_phrase)]
