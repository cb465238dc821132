"""The policy applied to the copy people write into the files themselves, at lint.

Generated and imported copy passes every policy check before a reviewer sees it. The copy
written into the files passed none: a slot's default, a suppression's alternative, a
layout's title and subject, the merge fields' defaults, the channels' opt-out lines and the
words a template writes around its slots. That copy is served more than any variant: to the
whole holdout group, always; to every cohort without an approved variant; to everyone a
suppression rule catches. A cta default "Buy now, last chance", a competitor named in a
layout's subject and a phone number in a layout's footer all linted ok, and the financial
services cohort got the example story without the disclaimer the policy requires of it.

Each such text is held to the checks of the text itself (``copy_checks``, the functions the
policy's checkers run): banned phrases, competitors, personal data, hidden characters, mixed
scripts, and links (https to an allowed domain); front-matter texts also to markup, merge
fields, and a merge field starting a sentence where its default reads wrong. A module's texts
also to its facts (numbers) and to the disclaimers an industry requires of its kind and slot,
since a default is served to that industry too. Not the
language check, whose models would cost every render process a load at each reload, and not
the custom validators, which need guardrails-ai (kept off the serving path).
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, replace
from pathlib import Path

from jinja2 import nodes

from variantly.errors import NotText, Problem
from variantly.workspace import copy_checks
from variantly.workspace.copy_checks import Finding, SlotContext
from variantly.workspace.models import Audiences, Layout, Localized, Module, Settings, localized
from variantly.workspace.policy import Policy
from variantly.workspace.reading import read_text
from variantly.workspace.yamlpos import PositionedYAML

# What a browser or a mail client does not show of a template's markup: style sheets, scripts, comments, tags (each
# replaced by spaces of its length, so a finding keeps its line). An href's value is a link a reader follows.
UNSEEN = re.compile(r"<(style|script)\b.*?</\1\s*>|<!--.*?-->|<[^>]*>", re.DOTALL | re.IGNORECASE)
ENTITY = re.compile(r"&(?:#[0-9]+|#[xX][0-9a-fA-F]+|[A-Za-z][A-Za-z0-9]*);")
HREF = re.compile(r"""\bhref\s*=\s*(?:"([^"]*)"|'([^']*)')""", re.IGNORECASE)
SAID = re.compile(r"""(?<![\w-])(?:alt|title|aria-label)\s*=\s*(?:"([^"]*)"|'([^']*)')""", re.IGNORECASE)


@dataclass(frozen=True)
class Written:
    """One text a file writes for people: what it is (said in the problem), where it is, and what it may hold."""

    what: str
    at: tuple[int, int]
    text: str
    context: SlotContext
    claims: bool = False  # numbers must come from the module's facts


def module_copy_problems(
    path: str,
    module: Module,
    doc: PositionedYAML,
    ast: nodes.Template,
    policy: Policy,
    settings: Settings,
    audiences: Audiences | None,
) -> list[Problem]:
    """A module's defaults, its suppressions' alternatives and its template's own words, against the policy."""
    industries = frozenset(a.id for a in audiences.of("industry")) if audiences is not None else frozenset()
    texts: list[Written] = []
    for name, slot in module.slots.items():
        if slot.is_text:
            texts += _written(
                f"slot '{name}' default", ("slots", name, "default"), slot.default, doc, settings, module, name
            )
    for i, rule in enumerate(module.suppress):
        for name, value in rule.alternative.items():
            if name in module.slots:
                where: tuple[object, ...] = ("suppress", i, "alternative", name)
                texts += _written(f"suppression '{rule.id}' {name}", where, value, doc, settings, module, name)
    return _problems(path, texts, policy, industries) + template_copy_problems(path, ast, policy)


def layout_copy_problems(
    path: str, layout: Layout, doc: PositionedYAML, ast: nodes.Template, policy: Policy, settings: Settings
) -> list[Problem]:
    """A layout's title, subject and its template's own words (its modules are checked in their files)."""
    texts = [
        written
        for field, value in (("title", layout.title), ("subject", layout.subject))
        for written in _written(field, (field,), value, doc, settings)
    ]
    return _problems(path, texts, policy) + template_copy_problems(path, ast, policy)


def settings_copy_problems(path: str, settings: Settings, doc: PositionedYAML, policy: Policy) -> list[Problem]:
    """What variantly.yml writes into messages: the merge fields' defaults and the channels' opt-out lines."""
    texts = []
    for name, merge in settings.merge_fields.items():
        texts += _written(
            f"merge field '{name}' default", ("merge_fields", name, "default"), merge.default, doc, settings
        )
    for name, channel in settings.channels.items():
        if channel.opt_out is not None:
            texts += _written(f"channels.{name}.opt_out", ("channels", name, "opt_out"), channel.opt_out, doc, settings)
    return _problems(path, texts, policy)


def template_copy_problems(path: str, ast: nodes.Template, policy: Policy) -> list[Problem]:
    """The words a template writes itself: its text between the tags, its hrefs and its quoted strings
    (``{{ "Hej" if locale == "sv" else "Hi" }}``), each on its own line of the file. Markup is the template's
    to write, and a number its own to state (a template has no facts)."""
    problems = []
    for node in ast.find_all((nodes.TemplateData, nodes.Const)):
        data = node.data if isinstance(node, nodes.TemplateData) else getattr(node, "value", None)
        if not isinstance(data, str) or not data.strip():
            continue
        if isinstance(node, nodes.TemplateData):
            findings = _markup_findings(data, policy)
        else:
            findings = _text_findings(data, policy) + copy_checks.check_links(data, policy)
        problems += _at_lines(path, node.lineno, data, findings, "the template's own words")
    return list(dict.fromkeys(problems))  # two links to one place on a line are one problem


def picture_copy_problems(path: str, file: Path, policy: Policy) -> list[Problem]:
    """The words in an SVG picture of ``modules/assets/``: its text, title and description, and its links. Every
    file there is served, and a module's default picture is what the holdout group sees. A raster picture's text
    needs OCR, which lint does not load in every render process (``authoring.picture_text`` reads generated and
    imported pictures)."""
    try:
        svg = read_text(file, path)
    except NotText as exc:
        return [exc.problem]
    except OSError as exc:
        return [Problem(path, 1, 1, f"cannot be read, so its words cannot be checked: {exc.strerror}")]
    return list(dict.fromkeys(_at_lines(path, 1, svg, _markup_findings(svg, policy), "the picture's words")))


def _markup_findings(markup: str, policy: Policy) -> list[Finding]:
    """What the words a reader sees or hears in HTML or SVG say (its text, and the attributes a screen reader or a
    tooltip says: alt, title, aria-label), and where its links go."""
    shown = ENTITY.sub(_as_read, UNSEEN.sub(_blank, markup))
    findings = _text_findings(shown, policy) + copy_checks.check_links(shown, policy)
    for pattern, check in ((HREF, copy_checks.check_links), (SAID, _text_findings)):
        for found in pattern.finditer(markup):
            group = 1 if found.group(1) is not None else 2
            start = found.start(group)
            findings += [
                Finding(f.validator, f.message, tuple((start + s, start + e) for s, e in f.spans))
                for f in check(ENTITY.sub(_as_read, found.group(group)), policy)
            ]
    return findings


def _at_lines(path: str, first_line: int, text: str, findings: list[Finding], what: str) -> list[Problem]:
    """Each finding at the line of the file its span starts on."""
    return [
        Problem(
            path,
            first_line + text.count("\n", 0, finding.spans[0][0] if finding.spans else 0),
            1,
            f"{what} break the policy: {finding.message}",
        )
        for finding in findings
    ]


def _blank(match: re.Match[str]) -> str:
    return re.sub(r"[^\n]", " ", match.group())


def _as_read(match: re.Match[str]) -> str:
    """A character reference as the reader sees it ("&#66;uy now" is "Buy now"), padded to its length with soft
    hyphens, which phrase matching reads through (``phrases.fold``), so a finding keeps its line."""
    written = match.group()
    read = html.unescape(written)
    return written if read == written else (read + "\u00ad" * len(written))[: len(written)]


def _written(
    what: str,
    where: tuple[object, ...],
    value: Localized,
    doc: PositionedYAML,
    settings: Settings,
    module: Module | None = None,
    slot: str = "",
) -> list[Written]:
    """The text for each locale it is written in (one text for every locale: once, read as the default locale's)."""
    found = []
    for locale, text in value.items() if isinstance(value, dict) else [(None, value)]:
        at = doc.locate(where + ((locale,) if locale is not None else ()))
        context = SlotContext(
            slot=slot,
            kind=module.kind if module else "",
            locale=locale or settings.default_locale,
            facts=tuple(module.facts) if module else (),
            merge_fields=frozenset(settings.merge_fields),
            merge_defaults=tuple(settings.merge_defaults(locale or settings.default_locale).items()),
        )
        found.append(Written(f"{what} ({locale})" if locale else what, at, text, context, claims=module is not None))
    return found


def _problems(
    path: str, texts: list[Written], policy: Policy, industries: frozenset[str] = frozenset()
) -> list[Problem]:
    problems = []
    for written in texts:
        findings = _text_findings(written.text, policy)
        findings += copy_checks.check_markup_and_links(written.text, written.context, policy)
        findings += copy_checks.check_merge_field_defaults(written.text, written.context)
        if written.claims and policy.claims_from_facts:
            findings += copy_checks.check_claims(written.text, written.context)
        messages = list(dict.fromkeys(f.message for f in findings))
        for industry, required in _disclaimers(policy, industries, written.context):
            if copy_checks.check_disclaimer(written.text, replace(written.context, disclaimer=required)):
                messages.append(f'must include the disclaimer "{required}": the {industry} industry is served it too')
        problems += [Problem(path, *written.at, f"{written.what} breaks the policy: {m}") for m in messages]
    return problems


def _disclaimers(policy: Policy, industries: frozenset[str], context: SlotContext) -> list[tuple[str, str]]:
    """(industry, text) of each disclaimer the policy requires of this slot for an industry the audiences have."""
    return [
        (d.industry, text)
        for d in policy.required_disclaimers
        if d.industry in industries and context.kind in d.kinds and d.slot == context.slot
        if (text := localized(d.text, context.locale, context.locale))
    ]


def _text_findings(text: str, policy: Policy) -> list[Finding]:
    """The checks of what a text says, wherever it is written."""
    findings = copy_checks.check_banned_phrases(text, policy)
    findings += copy_checks.check_competitors(text, policy)
    findings += copy_checks.check_hidden_characters(text)
    findings += copy_checks.check_mixed_scripts(text)
    if policy.block_personal_data:
        findings += copy_checks.check_personal_data(text)
    return findings
