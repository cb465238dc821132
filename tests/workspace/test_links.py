"""Links as a mail client or browser sees them: found without a scheme, refused unless on the allow-list."""

from __future__ import annotations

import pytest

from variantly.workspace.links import find_links

ALLOWED = ("lumen.example",)


def problems(text: str) -> list[str | None]:
    return [link.problem(ALLOWED) for link in find_links(text, ALLOWED)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "Reset at lumen.example.evil.com/reset today",
            ["links to lumen.example.evil.com, which is not an allowed domain"],
        ),
        ("Sign in at evil.example/login", ["links to evil.example, which is not an allowed domain"]),
        ("More at www.evil.se now", ["links to www.evil.se, which is not an allowed domain"]),
        ("Visit xn--80ak6aa92e.com", ["links to аррӏе.com (xn--80ak6aa92e.com), which is not an allowed domain"]),
        (
            "Log in at lumеn.example/x",
            ["links to lumеn.example (xn--lumn-x4d.example), which is not an allowed domain"],
        ),
        ("Mail anna@example.se", ["contains an e-mail address, which a mail client makes a link"]),
        ("Read http://lumen.example/start", ["links over http, not https"]),
        ("Read https://lumen.example/start or docs.lumen.example/a", [None, None]),
        ("Book a 30-minute demo. No preparation needed.", []),
        ("Reply STOP to opt out", []),
    ],
)
def test_links_a_mail_client_would_make_are_found_and_judged(text: str, expected: list) -> None:
    assert problems(text) == expected


def test_a_link_knows_where_it_is_in_the_text() -> None:
    text = "Go to evil.example/login today"
    [link] = find_links(text, ALLOWED)
    assert text[link.start : link.end] == "evil.example/login"
