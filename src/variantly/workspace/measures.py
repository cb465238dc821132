"""The measured kinds of brand guideline: checks in plain Python over one text, each with its parameters.

``MEASURES`` is the registry: a new kind of check is one class here (its ``measure:`` name,
its parameters as fields, what it finds) and one line in ``brand.Check``. Each finding
says why, where in the text (a span), and, when one can be made mechanically, a rewrite.
Measured over the 38 example variants: 0.2 ms a candidate for every measured guideline of
the example workspace (``bench/brand.py``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from variantly.workspace.phrases import Phrase, phrase_spans

WORD = re.compile(r"[^\W\d_](?:[^\W\d_]|['’-][^\W\d_])*")
SENTENCE = re.compile(r"[^.!?]+(?:[.!?]+|$)")
EMOJI = re.compile("[\U0001f300-\U0001faff\U0001f000-\U0001f2ff\u2600-\u27bf\u2b00-\u2bff\ufe0f]")


@dataclass(frozen=True)
class Finding:
    """What a measure found in one text: why it fails, the span of the text it concerns (None: the text as a
    whole), and a rewrite when one can be made mechanically."""

    reason: str
    span: tuple[int, int] | None = None
    suggestion: str | None = None


class _Measure(BaseModel):
    """A check measured in Python. ``findings`` is empty when the text passes. A ``whole_copy`` measure reads all of
    a variant's text slots together (a call to action speaks to the reader in its label or its note)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: ClassVar[str]
    whole_copy: ClassVar[bool] = False

    def findings(self, text: str, locale: str) -> list[Finding]:
        raise NotImplementedError


def _sentences(text: str) -> list[re.Match[str]]:
    return [m for m in SENTENCE.finditer(text) if WORD.search(m.group())]


def _stripped(match: re.Match[str]) -> tuple[int, int]:
    """A sentence's span without the spaces around it."""
    start, end = match.span()
    text = match.group()
    return start + len(text) - len(text.lstrip()), end - len(text) + len(text.rstrip())


class SentenceLength(_Measure):
    name = "sentence_length"
    measure: Literal["sentence_length"]
    max_words: int = Field(25, ge=1)

    def findings(self, text: str, locale: str) -> list[Finding]:
        out = []
        for sentence in _sentences(text):
            words = len(WORD.findall(sentence.group()))
            if words > self.max_words:
                out.append(Finding(f"a sentence of {words} words (at most {self.max_words})", _stripped(sentence)))
        return out


class ExclamationMarks(_Measure):
    name = "exclamation_marks"
    measure: Literal["exclamation_marks"]
    max: int = Field(0, ge=0)

    def findings(self, text: str, locale: str) -> list[Finding]:
        runs = list(re.finditer("!+", text))
        count = sum(len(r.group()) for r in runs)
        if count <= self.max:
            return []
        calmer = re.sub(r"!+", ".", text).replace(".,", ",")
        return [Finding(f"{count} exclamation mark(s) (at most {self.max})", r.span(), calmer) for r in runs]


class AllCaps(_Measure):
    """Words in capitals (shouting); acronyms the brand uses are listed as allowed."""

    name = "all_caps"
    measure: Literal["all_caps"]
    min_letters: int = Field(3, ge=2)
    allowed: list[str] = Field(default_factory=list, description="acronyms that are fine: ISO, EU, CRM")

    def findings(self, text: str, locale: str) -> list[Finding]:
        allowed = {a.upper() for a in self.allowed}
        out = []
        for word in WORD.finditer(text):
            w = word.group()
            if len(w) >= self.min_letters and w.isupper() and w not in allowed:
                fixed = text[: word.start()] + w.capitalize() + text[word.end() :]
                out.append(Finding(f"'{w}' is in capitals", word.span(), fixed))
        return out


SECOND_PERSON = {  # the first three of each are what a reason names
    "en": ("you", "your", "yours", "yourself", "yourselves", "you're", "you'll", "you've"),
    "sv": ("du", "ni", "er", "dig", "din", "ditt", "dina", "ert", "era", "dej"),
}


class SecondPerson(_Measure):
    """The copy speaks to the reader (you, your; du, ni, er)."""

    name = "second_person"
    whole_copy = True
    measure: Literal["second_person"]

    def findings(self, text: str, locale: str) -> list[Finding]:
        words = SECOND_PERSON.get(locale.split("-")[0].lower(), SECOND_PERSON["en"])
        if any(w.group().lower().replace("’", "'") in words for w in WORD.finditer(text)):
            return []
        return [Finding(f"does not speak to the reader ({', '.join(words[:3])}, ...)")]


class RequiredWord(_Measure):
    name = "required_word"
    whole_copy = True
    measure: Literal["required_word"]
    words: list[Phrase] = Field(min_length=1, description="at least one of these, whole words, any case")

    def findings(self, text: str, locale: str) -> list[Finding]:
        if phrase_spans(text, self.words):
            return []
        return [Finding(f"none of: {', '.join(self.words)}")]


class BannedPattern(_Measure):
    name = "banned_pattern"
    measure: Literal["banned_pattern"]
    pattern: str = Field(min_length=1, description="a regular expression, matched ignoring case")

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"not a regular expression: {exc}") from None
        return value

    def findings(self, text: str, locale: str) -> list[Finding]:
        out = []
        for match in re.finditer(self.pattern, text, flags=re.IGNORECASE):
            if match.end() > match.start():
                without = (text[: match.start()] + text[match.end() :]).replace("  ", " ").strip()
                out.append(Finding(f"'{match.group()}' matches a banned pattern", match.span(), without))
        return out


URGENCY = {
    "en": (
        "act now", "buy now", "right now", "today only", "only today", "hurry", "limited time", "last chance",
        "ends soon", "don't wait", "before it's too late", "while stocks last", "don't miss",
    ),
    "sv": (
        "köp nu", "just nu", "endast idag", "bara idag", "bara i dag", "skynda", "begränsad tid", "sista chansen",
        "vänta inte", "innan det är för sent", "missa inte", "så länge lagret räcker",
    ),
}  # fmt: skip


class UrgencyWords(_Measure):
    """Pressure to act at once: the built-in phrases of the copy's language and any the brand adds."""

    name = "urgency_words"
    measure: Literal["urgency_words"]
    extra: list[Phrase] = Field(default_factory=list)

    def findings(self, text: str, locale: str) -> list[Finding]:
        phrases = URGENCY.get(locale.split("-")[0].lower(), URGENCY["en"]) + tuple(self.extra)
        out = [  # as the banned phrases are read: "Don't-wait" or "L\u00adast chance" presses as hard
            Finding(f"'{text[start:end]}' presses the reader to act at once", (start, end))
            for _, (start, end) in phrase_spans(text, phrases)
        ]
        return sorted(out, key=lambda f: f.span or (0, 0))


class Emoji(_Measure):
    name = "emoji"
    measure: Literal["emoji"]
    max: int = Field(0, ge=0)

    def findings(self, text: str, locale: str) -> list[Finding]:
        found = [m for m in EMOJI.finditer(text) if m.group() != "\ufe0f"]
        if len(found) <= self.max:
            return []
        plain = re.sub(r"\s{2,}", " ", EMOJI.sub("", text)).strip()
        return [Finding(f"{len(found)} emoji (at most {self.max})", m.span(), plain) for m in found]


class ReadingGrade(_Measure):
    """LIX (läsbarhetsindex, Björnsson 1968): words per sentence plus the percentage of words over six letters.
    It works the same in Swedish and English: under 30 very easy, 40 plain prose, 50 hard, 60 very hard. Texts
    under ``min_words`` are not graded (a headline has no sentences to speak of)."""

    name = "reading_grade"
    measure: Literal["reading_grade"]
    max_lix: float = Field(45, gt=0)
    min_words: int = Field(12, ge=1)

    def findings(self, text: str, locale: str) -> list[Finding]:
        score, words = lix(text)
        if words < self.min_words or score <= self.max_lix:
            return []
        return [Finding(f"LIX {score:.0f} (at most {self.max_lix:g}): shorter sentences and words")]


def lix(text: str) -> tuple[float, int]:
    """(LIX, word count) of ``text``."""
    words = WORD.findall(text)
    if not words:
        return 0.0, 0
    sentences = max(len(_sentences(text)), 1)
    long_words = sum(1 for w in words if len(w) > 6)
    return len(words) / sentences + 100 * long_words / len(words), len(words)


MEASURES: tuple[type[_Measure], ...] = (
    SentenceLength,
    ExclamationMarks,
    AllCaps,
    SecondPerson,
    RequiredWord,
    BannedPattern,
    UrgencyWords,
    Emoji,
    ReadingGrade,
)
MEASURE_NAMES = tuple(m.name for m in MEASURES)


MEASURE_NAMES = tuple(m.name for m in MEASURES)
