"""Brand guidelines as a file: each measured check on fixed copy in both languages, and mistakes named by line."""

from __future__ import annotations

from pathlib import Path

import pytest

from variantly.errors import WorkspaceError
from variantly.workspace import load_workspace
from variantly.workspace.brand import load_brand
from variantly.workspace.measures import (
    AllCaps,
    BannedPattern,
    Emoji,
    ExclamationMarks,
    ReadingGrade,
    RequiredWord,
    SecondPerson,
    SentenceLength,
    UrgencyWords,
    lix,
)


def spans(measure, text: str, locale: str = "en") -> list[str]:
    """The words each finding points at, as the copy has them."""
    return [text[f.span[0] : f.span[1]] for f in measure.findings(text, locale) if f.span]


def test_urgency_is_found_in_the_copys_own_language_as_whole_words() -> None:
    urgency = UrgencyWords(measure="urgency_words")
    assert spans(urgency, "Hurry: the offer ends soon, act now.") == ["Hurry", "ends soon", "act now"]
    assert spans(urgency, "Skynda! Sista chansen att köpa, köp nu.", "sv") == ["Skynda", "Sista chansen", "köp nu"]
    assert urgency.findings("Teams now share one view of every shopper.", "en") == []  # "now" alone is no pressure
    assert urgency.findings("Hurrying teams", "en") == []  # whole words only


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("Last-chance pricing for your team.", "Last-chance"),  # a hyphen between the words
        ("L\u00adast chance for your team.", "L\u00adast chance"),  # a soft hyphen inside
        ("Don\u2019t wait: see it today.", "Don\u2019t wait"),  # a typographic apostrophe
        ("\u0410ct now for your team.", "\u0410ct now"),  # a Cyrillic A
    ],
)
def test_urgency_is_read_as_the_banned_phrases_are(text: str, found: str) -> None:
    """The brand score missed pressure the policy would have caught, written the ways an LLM or a copywriter does."""
    assert spans(UrgencyWords(measure="urgency_words"), text) == [found]


def test_a_required_word_counts_in_any_spelling_a_reader_takes_for_it() -> None:
    required = RequiredWord(measure="required_word", words=["risk-free"])
    assert required.findings("Try it risk free for 14 days.", "en") == []
    assert required.findings("Try it for 14 days.", "en")


def test_exclamations_capitals_and_emoji_point_at_the_characters_and_offer_a_calmer_rewrite() -> None:
    shouted = "Start TODAY!! It is FREE 🚀"
    marks = ExclamationMarks(measure="exclamation_marks").findings(shouted, "en")
    assert [shouted[slice(*f.span)] for f in marks if f.span] == ["!!"]
    assert marks[0].suggestion == "Start TODAY. It is FREE 🚀"
    caps = AllCaps(measure="all_caps", allowed=["ISO"])
    assert spans(caps, shouted) == ["TODAY", "FREE"]
    assert caps.findings("Lumen is ISO 27001 certified and hosted in the EU.", "en") == []  # allowed, and too short
    emoji = Emoji(measure="emoji").findings(shouted, "en")
    assert [shouted[slice(*f.span)] for f in emoji if f.span] == ["🚀"] and emoji[
        0
    ].suggestion == "Start TODAY!! It is FREE"


def test_sentence_length_counts_words_per_sentence() -> None:
    long = " ".join(["word"] * 26) + ". Short one."
    found = SentenceLength(measure="sentence_length", max_words=25).findings(long, "en")
    assert [f.reason for f in found] == ["a sentence of 26 words (at most 25)"]
    assert found[0].span == (0, len(long) - len(" Short one."))


def test_second_person_and_a_required_word_read_both_languages() -> None:
    you = SecondPerson(measure="second_person")
    assert you.findings("Plan a rollout with your team.", "en") == []
    assert you.findings("Planera införandet med er.", "sv") == []
    assert you.findings("Plan a rollout.", "en")[0].reason.startswith("does not speak to the reader (you, your")
    assert you.findings("Planera införandet.", "sv-SE")[0].reason.startswith("does not speak to the reader (du, ni")
    lumen = RequiredWord(measure="required_word", words=["Lumen"])
    assert lumen.findings("One Lumen workspace.", "en") == [] and lumen.findings("Lumens arbetsyta.", "sv") != []


def test_a_banned_pattern_is_a_regular_expression_and_a_bad_one_is_refused() -> None:
    pattern = BannedPattern(measure="banned_pattern", pattern=r"\b(best|bästa)\b")
    assert spans(pattern, "The best tool, det bästa verktyget.") == ["best", "bästa"]
    with pytest.raises(ValueError, match="not a regular expression"):
        BannedPattern(measure="banned_pattern", pattern="(unclosed")


def test_reading_grade_is_lix_as_published() -> None:
    """LIX = words per sentence + 100 x words over six letters / words (Björnsson): worked by hand."""
    text = "Vårdkedjan skickar påminnelser. Patienterna läser dem."  # 6 words, 2 sentences, 4 long
    assert lix(text) == (pytest.approx(6 / 2 + 100 * 4 / 6), 6)
    grade = ReadingGrade(measure="reading_grade", max_lix=45, min_words=5)
    assert grade.findings(text, "sv")[0].reason == "LIX 70 (at most 45): shorter sentences and words"
    assert ReadingGrade(measure="reading_grade", max_lix=45).findings(text, "sv") == []  # under 12 words: not graded


def test_the_example_workspace_has_guidelines_and_the_built_in_ethics_ones(workspace) -> None:
    ids = [g.id for g in workspace.brand.every]
    assert "calm_not_urgent" in ids and "ethics_gender" in ids and workspace.brand_hash not in ("", "none")
    assert all(g.judged for g in workspace.brand.every if g.id.startswith("ethics_"))


def test_a_mistake_in_brand_yml_is_named_with_its_line(workspace_dir: Path) -> None:
    path = workspace_dir / "guardrails" / "brand.yml"
    path.write_text(
        "guidelines:\n"
        "  - id: calm\n"
        "    rule: Stay calm.\n"
        "    check: {measure: loudness}\n"
        "  - id: short\n"
        "    rule: Short sentences.\n"
        "    check: {measure: sentence_length, max_words: 0}\n"
    )
    with pytest.raises(WorkspaceError) as raised:
        load_brand(workspace_dir)
    said = {(p.line, p.message.split(":")[0]) for p in raised.value.problems}
    assert any(line == 4 for line, _ in said), said  # the unknown measure, on its line
    assert any(line == 7 for line, _ in said), said  # max_words below 1
    assert "sentence_length" in str(raised.value)  # names the measures there are
    with pytest.raises(WorkspaceError):
        load_workspace(workspace_dir)  # lint refuses the workspace too


def test_without_a_file_only_the_ethics_guidelines_apply(workspace_dir: Path) -> None:
    (workspace_dir / "guardrails" / "brand.yml").unlink()
    brand, digest = load_brand(workspace_dir)
    assert digest == "none" and brand.guidelines == [] and len(brand.every) == 5


def test_an_urgency_word_without_a_word_in_it_is_refused_at_its_line(workspace_dir: Path) -> None:
    """An empty extra urgency word matched every copy: each one pressed the reader, by the score."""
    brand = workspace_dir / "guardrails" / "brand.yml"
    text = brand.read_text()
    assert "check: {measure: urgency_words}" in text
    brand.write_text(text.replace("check: {measure: urgency_words}", "check: {measure: urgency_words, extra: ['']}"))
    with pytest.raises(WorkspaceError) as raised:
        load_brand(workspace_dir)
    assert [p.message for p in raised.value.problems] == [
        "guidelines.0.check.urgency_words.extra.0: '' has no word in it: it would match every copy"
    ]
