"""Personal data the LLM writes is found, named and redacted, however it is written; figures from the facts are not."""

from __future__ import annotations

import pytest

from variantly.workspace.personal_data import personal_data_spans, redact_personal_data


@pytest.mark.parametrize(
    ("text", "redacted"),
    [
        ("Call Anna on 811218-9876 about it", "Call Anna on [id number removed] about it"),
        ("Her number is 198112189876.", "Her number is [id number removed]."),
        ("Pay to SE45 5000 0000 0583 9825 7466 today", "Pay to [IBAN removed] today"),
        ("IBAN DE89370400440532013000", "IBAN [IBAN removed]"),
        ("Write to anna (at) example.se", "Write to [e-mail removed]"),
        ("Write to anna [at] example [dot] se", "Write to [e-mail removed]"),
        ("Write to anna @ example.se", "Write to [e-mail removed]"),
        ("SSN 536-90-4399 on file", "SSN [id number removed] on file"),
        ("Mail anna.berg@example.com or call +46 70 123 45 67.", "Mail [e-mail removed] or call [phone removed]."),
        ("Card 4111 1111 1111 1111 ends it", "Card [card removed] ends it"),
    ],
)
def test_personal_data_is_redacted_however_it_is_written(text: str, redacted: str) -> None:
    assert redact_personal_data(text) == redacted


@pytest.mark.parametrize(
    "text",
    [
        "A 14-day free trial, no credit card needed.",
        "Live in 6 weeks with 30-minute sessions in 2026.",
        "1,000 stores and 120 markets (at) a glance.",
        "Order 20261203-1234 is on its way.",  # a date-like reference that fails the checksum
        "Book a demo at lumen.example",
        "SE12 is a postcode, not an account.",
    ],
)
def test_ordinary_copy_has_no_personal_data(text: str) -> None:
    assert personal_data_spans(text) == ()
