"""Channels are one registry: parts, consent and rules, read by lint, render and the guardrails alike."""

from __future__ import annotations

import pytest

from variantly.serving.profiles import Consent
from variantly.workspace.channels import CHANNELS, KNOWN_BLOCKS, TEXT_BLOCKS, ChannelLimits, RuleInput


def test_every_channel_that_needs_consent_names_a_flag_profiles_have() -> None:
    flags = set(Consent.model_fields)
    for channel in CHANNELS.values():
        assert channel.consent is None or channel.consent in flags, channel.name


def test_blocks_are_known_once_and_text_blocks_are_not_escaped() -> None:
    blocks = [block for channel in CHANNELS.values() for block in channel.blocks]
    assert len(blocks) == len(set(blocks)) == len(KNOWN_BLOCKS)
    assert {"email_text", "sms", "push_title", "push_body"} == TEXT_BLOCKS


@pytest.mark.parametrize(
    ("channel", "outputs", "limits", "expected"),
    [
        ("sms", {"text": "Hi. Reply STOP to opt out"}, ChannelLimits(), []),
        ("sms", {"text": "Hi there"}, ChannelLimits(), ['must carry the opt-out text "Reply STOP to opt out"']),
        ("sms", {"text": "a" * 400 + " Reply STOP to opt out"}, ChannelLimits(), ["costs 3 SMS segment(s)"]),
        ("sms", {"text": "a" * 200 + " Reply STOP to opt out"}, ChannelLimits(max_segments=1), ["costs 2 SMS"]),
        ("sms", {"text": "Go to evil.example/x. Reply STOP to opt out"}, ChannelLimits(), ["links to evil.example"]),
        (
            "push",
            {"title": "t" * 51, "body": "ok"},
            ChannelLimits(),
            ["the title is 51 characters, over its limit of 50"],
        ),
        ("push", {"title": "ok", "body": "b" * 120}, ChannelLimits(max_chars={"body": 100}), ["the body is 120"]),
        ("web", {"html": "<p>" + "x" * 5000 + "</p>"}, ChannelLimits(), []),
    ],
)
def test_each_channel_judges_a_rendered_message_by_its_own_rules(
    channel: str, outputs: dict, limits: ChannelLimits, expected: list[str]
) -> None:
    given = RuleInput(outputs, limits, "Reply STOP to opt out", ("lumen.example",))
    found = [problem for rule in CHANNELS[channel].rules for problem in rule.problems(given)]
    assert len(found) == len(expected) and all(f.startswith(e) or e in f for f, e in zip(found, expected, strict=True))
