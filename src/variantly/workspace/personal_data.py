"""Personal data in copy: found with its place, and replaced before a re-ask quotes it or the store keeps it.

Generated copy never needs a person's e-mail address, phone, card, identity number or
bank account; when the LLM writes one anyway (an example it made up, or one from the
brief) it fails the check, and the copy is redacted (``[e-mail removed]``) before it is
quoted back to the LLM in a re-ask and before it is stored. What counts:

- e-mail addresses, also written to dodge a filter (``anna (at) example.se``,
  ``anna [at] example [dot] se``, ``anna @ example.se``);
- phone numbers that ``phonenumbers`` finds valid, in international form or in the
  national form of the regions in ``PHONE_REGIONS``, so a year or a figure is not one;
- card numbers (13 to 19 digits, Luhn-valid);
- national identity numbers, validated with python-stdnum (checksums and dates): Swedish
  personnummer (``811218-9876``), Danish CPR, Norwegian fodselsnummer, Finnish HETU, US
  SSN (written ``123-45-6789``);
- IBANs (python-stdnum: the country's length and the mod-97 check).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache

EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_AT = r"(?:\s*[\(\[\{<]\s*(?:at|snabel-?a)\s*[\)\]\}>]\s*|\s+@\s*|\s*@\s+)"
_DOT = r"(?:\s*\.\s*|\s*[\(\[\{<]\s*(?:dot|punkt)\s*[\)\]\}>]\s*)"
OBFUSCATED_EMAIL = re.compile(rf"(?<![\w.+-])[\w.+-]+{_AT}[\w-]+(?:{_DOT}[\w-]+)+", re.IGNORECASE)
CARD = re.compile(r"(?<!\d)(?:\d[ -]?){12,18}\d(?!\d)")
NATIONAL_ID = re.compile(r"(?<![\w-])(?:\d{6}|\d{8})[-+A]?\d{3}[0-9A-Y]?(?![\w-])|(?<![\w-])\d{3}-\d{2}-\d{4}(?![\w-])")
IBAN = re.compile(r"(?<![A-Z0-9])[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?(?![A-Z0-9])")
PHONE_REGIONS = ("SE", "GB", "US")  # national formats understood besides +international ones
PERSONAL_DATA = {
    "e-mail": "an e-mail address",
    "phone": "a phone number",
    "card": "a card number",
    "id number": "a national identity number",
    "IBAN": "a bank account number (IBAN)",
}
REDACTED = re.compile(r"\[(?:e-mail|phone|card|id number|IBAN) removed\]")


def _luhn(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        n = int(ch)
        if i % 2:
            n = n * 2 - 9 if n > 4 else n * 2
        total += n
    return total % 10 == 0


@lru_cache(maxsize=1)
def _national_ids() -> tuple[Callable[[str], bool], ...]:
    from stdnum.dk import cpr
    from stdnum.fi import hetu
    from stdnum.no import fodselsnummer
    from stdnum.se import personnummer
    from stdnum.us import ssn

    return (personnummer.is_valid, cpr.is_valid, fodselsnummer.is_valid, hetu.is_valid, ssn.is_valid)


def _is_iban(text: str) -> bool:
    from stdnum import iban

    return iban.is_valid(text)


@lru_cache(maxsize=2048)  # the personal-data and claims checks both ask, for the same text
def personal_data_spans(text: str) -> tuple[tuple[int, int, str], ...]:
    """(start, end, kind) of every piece of personal data, none overlapping another."""
    found: list[tuple[int, int, str]] = []

    def add(start: int, end: int, kind: str) -> None:
        if not any(s < end and start < e for s, e, _ in found):
            found.append((start, end, kind))

    for m in EMAIL.finditer(text):
        add(m.start(), m.end(), "e-mail")
    if "@" in text or "(" in text or "[" in text or "{" in text or "<" in text:
        for m in OBFUSCATED_EMAIL.finditer(text):
            add(m.start(), m.end(), "e-mail")
    if any(ch.isdigit() for ch in text):
        for m in IBAN.finditer(text):
            if _is_iban(m.group()):
                add(m.start(), m.end(), "IBAN")
        for m in NATIONAL_ID.finditer(text):
            if any(valid(m.group()) for valid in _national_ids()):
                add(m.start(), m.end(), "id number")
        for m in CARD.finditer(text):
            digits = re.sub(r"\D", "", m.group())
            if 13 <= len(digits) <= 19 and _luhn(digits):
                add(m.start(), m.end(), "card")
    if sum(ch.isdigit() for ch in text) >= 7:  # the matcher is the slow part: skip text that cannot hold a number
        import phonenumbers

        for region in PHONE_REGIONS:
            for match in phonenumbers.PhoneNumberMatcher(text, region, leniency=phonenumbers.Leniency.VALID):
                add(match.start, match.end, "phone")
    return tuple(sorted(found))


def redact_personal_data(text: str) -> str:
    """The text with each piece of personal data replaced by ``[e-mail removed]`` and the like.

    Copy that failed for personal data is stored, and quoted back to the LLM in a
    re-ask: neither may carry the data itself.
    """
    for start, end, kind in reversed(personal_data_spans(text)):
        text = f"{text[:start]}[{kind} removed]{text[end:]}"
    return text
