"""The policy checks on a piece of copy, as plain functions.

Each returns findings with character spans in the original text, so a reviewer sees
exactly what failed. ``variantly.authoring.policy_checks`` names them and runs them on
a candidate; ``variantly.generation.guards`` wraps the same table as guardrails-ai
validators. Keeping the logic here keeps it testable and free of the generation stack.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from variantly.workspace.policy import Policy


@dataclass(frozen=True)
class Finding:
    validator: str
    message: str
    spans: tuple[tuple[int, int], ...] = ()


@dataclass(frozen=True)
class SlotContext:
    """What a check needs to know about the slot a text is for."""

    slot: str
    kind: str
    locale: str
    slot_type: str = "text"
    min_chars: int | None = None
    max_chars: int | None = None
    facts: tuple[str, ...] = ()
    disclaimer: str | None = None
    assets: frozenset[str] = frozenset()
    merge_fields: frozenset[str] = frozenset()
    extra: dict = field(default_factory=dict)


def fold(text: str) -> tuple[str, list[int]]:
    """Case- and accent-folded text, plus the original index of every folded character."""
    out: list[str] = []
    index: list[int] = []
    for i, ch in enumerate(text.replace("\u2019", "'")):
        decomposed = unicodedata.normalize("NFKD", ch)
        base = "".join(c for c in decomposed if not unicodedata.combining(c)).casefold() or ch
        out.extend(base)
        index.extend([i] * len(base))
    index.append(len(text))
    return "".join(out), index


def _phrase_spans(text: str, phrases: list[str]) -> list[tuple[str, tuple[int, int]]]:
    folded, index = fold(text)
    hits = []
    for phrase in phrases:
        words = fold(phrase)[0].split()
        pattern = r"(?<!\w)" + r"\s+".join(re.escape(w) for w in words) + r"(?!\w)"
        for match in re.finditer(pattern, folded):
            hits.append((phrase, (index[match.start()], index[match.end() - 1] + 1)))
    return hits


def check_length(text: str, ctx: SlotContext) -> list[Finding]:
    found = []
    if ctx.max_chars is not None and len(text) > ctx.max_chars:
        found.append(
            Finding(
                "slot_length",
                f"{len(text)} characters, over the limit of {ctx.max_chars}",
                ((ctx.max_chars, len(text)),),
            )
        )
    if ctx.min_chars is not None and len(text.strip()) < ctx.min_chars:
        found.append(Finding("slot_length", f"{len(text.strip())} characters, under the minimum of {ctx.min_chars}"))
    return found


def check_banned_phrases(text: str, policy: Policy) -> list[Finding]:
    return [
        Finding("banned_phrases", f"banned phrase '{phrase}'", (span,))
        for phrase, span in _phrase_spans(text, policy.banned_phrases)
    ]


def check_competitors(text: str, policy: Policy) -> list[Finding]:
    return [
        Finding("competitors", f"names competitor '{name}'", (span,))
        for name, span in _phrase_spans(text, policy.competitors)
    ]


def check_disclaimer(text: str, ctx: SlotContext) -> list[Finding]:
    if ctx.disclaimer and fold(ctx.disclaimer)[0] not in fold(text)[0]:
        return [Finding("required_disclaimer", f'must include the disclaimer "{ctx.disclaimer}"')]
    return []


NUMBER = re.compile(r"\d+(?:[.,]\d+|[\u00a0 ]\d{3}(?!\d))*")


def _canonical_number(raw: str) -> str:
    grouped = re.sub(r"[,\u00a0 ](?=\d{3}(?!\d))", "", raw)
    return grouped.replace(",", ".").replace(" ", "").replace("\u00a0", "")


def fact_numbers(facts: tuple[str, ...] | list[str]) -> set[str]:
    return {_canonical_number(m.group()) for fact in facts for m in NUMBER.finditer(fact)}


def check_claims(text: str, ctx: SlotContext) -> list[Finding]:
    """Every number must come from the module's facts: an invented "87%" fails."""
    allowed = fact_numbers(ctx.facts)
    return [
        Finding("claims_from_facts", f"the number '{m.group()}' is not in the module's facts", ((m.start(), m.end()),))
        for m in NUMBER.finditer(text)
        if _canonical_number(m.group()) not in allowed
    ]


EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
PHONE = re.compile(r"(?<![\w])\+?\d[\d\s().-]{6,}\d(?![\w])")
CARD = re.compile(r"(?<!\d)(?:\d[ -]?){12,18}\d(?!\d)")


def _luhn(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        n = int(ch)
        if i % 2:
            n = n * 2 - 9 if n > 4 else n * 2
        total += n
    return total % 10 == 0


def check_personal_data(text: str) -> list[Finding]:
    found = [
        Finding("personal_data", "contains an e-mail address", ((m.start(), m.end()),)) for m in EMAIL.finditer(text)
    ]
    for m in CARD.finditer(text):
        digits = re.sub(r"\D", "", m.group())
        if 13 <= len(digits) <= 19 and _luhn(digits):
            found.append(Finding("personal_data", "contains a card number", ((m.start(), m.end()),)))
    card_spans = {f.spans[0] for f in found if "card" in f.message}
    for m in PHONE.finditer(text):
        if len(re.sub(r"\D", "", m.group())) >= 8 and (m.start(), m.end()) not in card_spans:
            found.append(Finding("personal_data", "contains a phone number", ((m.start(), m.end()),)))
    return found


TAG = re.compile(r"</?[a-zA-Z][^>]*>|<!--|-->")
TEMPLATE = re.compile(r"\{\{|\}\}|\{%|%\}|\{#|#\}")
FIELD = re.compile(r"\{([^{}]*)\}")
MARKDOWN_LINK = re.compile(r"\[[^\]]+\]\([^)]+\)")
URL = re.compile(r"(?:https?://|www\.)[^\s<>\"')]+", re.IGNORECASE)


def check_markup_and_links(text: str, ctx: SlotContext, policy: Policy) -> list[Finding]:
    found = [Finding("no_markup", "contains HTML markup", ((m.start(), m.end()),)) for m in TAG.finditer(text)]
    found += [
        Finding("no_markup", "contains template syntax", ((m.start(), m.end()),)) for m in TEMPLATE.finditer(text)
    ]
    if not TEMPLATE.search(text):
        found += [
            Finding(
                "no_markup",
                f"'{{{m.group(1)}}}' is not a merge field (allowed: "
                f"{', '.join('{' + f + '}' for f in sorted(ctx.merge_fields)) or 'none'})",
                ((m.start(), m.end()),),
            )
            for m in FIELD.finditer(text)
            if m.group(1) not in ctx.merge_fields
        ]
    found += [
        Finding("no_markup", "contains a Markdown link", ((m.start(), m.end()),)) for m in MARKDOWN_LINK.finditer(text)
    ]
    for m in URL.finditer(text):
        raw = m.group().rstrip(".,;:!?")
        host = (urlsplit(raw if "://" in raw else "https://" + raw).hostname or "").lower()
        if not any(host == d or host.endswith("." + d) for d in policy.allowed_link_domains):
            found.append(
                Finding(
                    "allowed_links",
                    f"links to {host or raw}, which is not an allowed domain",
                    ((m.start(), m.start() + len(raw)),),
                )
            )
    return found


WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?")


def detect_language(text: str, policy: Policy) -> tuple[str | None, dict[str, int]]:
    """The locale whose marker words the text uses most, or None when it cannot tell."""
    words = [w.casefold() for w in WORD.findall(text)]
    scores = {loc: sum(w in set(markers) for w in words) for loc, markers in policy.languages.items()}
    if not scores:
        return None, scores
    best = max(scores, key=lambda loc: scores[loc])
    runner_up = max((s for loc, s in scores.items() if loc != best), default=0)
    return (best if scores[best] >= 2 and scores[best] > runner_up else None), scores


def check_language(text: str, ctx: SlotContext, policy: Policy) -> list[Finding]:
    if ctx.locale not in policy.languages:
        return []
    detected, scores = detect_language(text, policy)
    if detected is not None and detected != ctx.locale:
        return [
            Finding("language", f"reads as '{detected}', but the locale is '{ctx.locale}' (marker words: {scores})")
        ]
    return []


def check_asset(text: str, ctx: SlotContext) -> list[Finding]:
    if text not in ctx.assets:
        return [
            Finding("asset_choice", f"'{text}' is not one of the module's assets ({', '.join(sorted(ctx.assets))})")
        ]
    return []
