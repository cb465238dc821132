"""The policy file says what compliance means, or lint says at its line why it cannot be read that way."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import edit, line_of, lint


@pytest.mark.parametrize("phrase", ["''", "'   '", "'-'", "'!!'"])
def test_a_phrase_without_a_word_is_refused_rather_than_matching_every_copy(workspace_dir: Path, phrase: str) -> None:
    """An empty banned phrase matched every text: every candidate a run paid for failed, and a re-check would have
    pulled every approved variant."""
    policy = workspace_dir / "guardrails" / "policy.yml"
    edit(policy, "  - hurry\n", f"  - hurry\n  - {phrase}\n")
    line = line_of(policy, f"  - {phrase}")
    assert lint(workspace_dir) == [
        f"{policy}:{line}:5: banned_phrases.5: {phrase.strip(chr(39))!r} has no word in it: it would match every copy"
    ]


def test_an_empty_competitor_is_refused(workspace_dir: Path) -> None:
    policy = workspace_dir / "guardrails" / "policy.yml"
    edit(policy, "  - Klaviyo\n", "  - Klaviyo\n  - ''\n")
    line = line_of(policy, "  - ''")
    assert lint(workspace_dir) == [f"{policy}:{line}:5: competitors.5: '' has no word in it: it would match every copy"]


@pytest.mark.parametrize(
    ("written", "said"),
    [
        ("https://lumen.example/", "'https://lumen.example/' is not a domain: write 'lumen.example'"),
        ("'*.lumen.example'", "'*.lumen.example' is not a domain: write 'lumen.example'"),
        ("lumen.example:443", "'lumen.example:443' is not a domain: write 'lumen.example'"),
        ("lumen example", "'lumen example' is not a domain"),
    ],
)
def test_an_allowed_domain_written_as_a_url_or_a_pattern_is_named_with_the_fix(
    workspace_dir: Path, written: str, said: str
) -> None:
    """'https://lumen.example/' matched no link at all, so every link in copy was refused, the domain's own too."""
    policy = workspace_dir / "guardrails" / "policy.yml"
    edit(policy, "  - lumen.example\n", f"  - {written}\n")
    problems = lint(workspace_dir)
    assert (
        len(problems) == 1 and f"{policy}:{line_of(policy, written)}:5: allowed_link_domains.0: {said}" in problems[0]
    )


def test_a_domain_in_another_script_is_a_domain(workspace_dir: Path) -> None:
    policy = workspace_dir / "guardrails" / "policy.yml"
    edit(policy, "  - lumen.example\n", "  - lumen.example\n  - bücher.example\n  - xn--bcher-kva.example\n")
    assert lint(workspace_dir) == []
