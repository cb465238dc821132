"""Prompts for one module and cohort, within a token budget.

Only cohort-level context goes in: the module's brief, facts and slot constraints,
the cohort's audience descriptions and the locale. Never a profile (DESIGN invariant
1). What every job of a module shares comes first (system rules, brand voice, the
kind's task, brief, facts, assets, slot rules) and the cohort last (``_cohort.jinja``),
so that provider prompt caching can reuse the prefix across a module's jobs. When the
prompt is over budget, context is cut in the stated order ``CUT_ORDER`` and every cut
is recorded in the variant's report.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from jinja2 import FileSystemLoader, StrictUndefined, TemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment
from pydantic import BaseModel, Field, create_model

from variantly.errors import ConfigurationError, PromptBroken, PromptTooLarge, VariantlyError
from variantly.workspace import Workspace
from variantly.workspace.cohorts import ANY, Cohort
from variantly.workspace.models import Module, Slot, localized
from variantly.workspace.personal_data import redact_personal_data
from variantly.workspace.policy import Policy

LANGUAGES = {"en": "English", "sv": "Swedish (svenska)"}
CUT_ORDER = ("reviewer feedback, oldest first", "audience descriptions", "facts, last first")
MESSAGE_OVERHEAD_TOKENS = 4


@lru_cache(maxsize=4)
def encoder(name: str) -> Any:
    import tiktoken

    return tiktoken.get_encoding(name)


IMAGE_INPUT_TOKENS = 85  # a picture sent with detail "low": OpenAI counts 85 tokens whatever its size


def count_tokens(messages: list[dict[str, Any]], tokenizer: str) -> int:
    """A chat request's prompt tokens; a message of parts (text and pictures, for alt text) counts each part."""
    total = 2
    for message in messages:
        content = message["content"]
        if isinstance(content, str):
            total += _tokens_in(content, tokenizer)
        else:
            for part in content:
                total += _tokens_in(part["text"], tokenizer) if part["type"] == "text" else IMAGE_INPUT_TOKENS
        total += MESSAGE_OVERHEAD_TOKENS
    return total


@lru_cache(maxsize=1024)
def _tokens_in(text: str, tokenizer: str) -> int:
    """Cached: every job of a run sends the same system message."""
    return len(encoder(tokenizer).encode(text))


@lru_cache(maxsize=16)
def _environment(folder: Path) -> ImmutableSandboxedEnvironment:
    """One per prompts folder and process: compiling a template takes ~7 ms, and a process
    that starts many runs (the API) compiles each once. Jinja checks a template file's
    modification time on every use, so an edited prompt is compiled again."""
    return ImmutableSandboxedEnvironment(
        loader=FileSystemLoader(folder),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,
    )


class PromptSet:
    """The templates in ``prompts/`` and their content hash (part of every variant key)."""

    def __init__(self, root: str | Path) -> None:
        folder = self.folder = Path(root) / "prompts"
        if not (folder / "system.jinja").exists():
            raise ConfigurationError(f"{folder}/system.jinja is missing: the workspace needs its prompts")
        self.env = _environment(folder.resolve())
        digest = hashlib.sha256()
        for path in sorted(folder.glob("*.jinja")):
            digest.update(path.name.encode() + b"\0" + path.read_bytes())
        self.hash = digest.hexdigest()[:16]

    def render(self, name: str, **context: Any) -> str:
        """The prompt ``name`` filled in. A template that fails as it renders (an undefined name, a missing include,
        a division by zero) passes lint, which only parses prompts, and was a traceback from ``plan`` and
        ``generate``: it is a ``PromptBroken`` naming the file and line, before anything is paid for."""
        try:
            return self.env.get_template(name).render(**context).strip()
        except VariantlyError:
            raise
        except Exception as exc:  # a template can raise what Python can (TypeError, OverflowError, ...)
            where = _template_line(exc, self.folder) or f"{self.folder / name}"
            reason = exc.message if isinstance(exc, TemplateError) and exc.message else f"{type(exc).__name__}: {exc}"
            raise PromptBroken(f"{where}: {reason}") from None


def _template_line(exc: BaseException, folder: Path) -> str | None:
    """``prompts/<file>:<line>`` of the innermost template frame: Jinja rewrites a traceback so that a template's
    frames carry its file name and line."""
    found = None
    tb = exc.__traceback__
    while tb is not None:
        file = Path(tb.tb_frame.f_code.co_filename)
        if file.suffix == ".jinja":
            found = f"{folder / file.name}:{tb.tb_lineno}"
        tb = tb.tb_next
    return found


@dataclass
class BuiltPrompt:
    messages: list[dict[str, str]]
    tokens: int
    cuts: list[str] = field(default_factory=list)


def cohort_context(workspace: Workspace, cohort: Cohort) -> list[dict[str, str]]:
    out = []
    for dim, value in cohort.values:
        if dim == "locale" or value == ANY:
            continue
        audience = next(a for a in workspace.audiences.of(dim) if a.id == value)
        out.append({"dimension": dim, "id": value, "description": audience.description})
    return out


def reviewer_feedback(feedback: list[str] | None) -> list[str]:
    """Reviewers' words as a prompt carries them to the provider: without the e-mail addresses, phone numbers and
    the like a rejection reason may quote ("jane@example.com complained ..."). They were sent as written, though
    the policy keeps the same data out of every answer."""
    return [redact_personal_data(text) for text in feedback or []]


def build_prompt(
    prompts: PromptSet,
    workspace: Workspace,
    policy: Policy,
    module_id: str,
    cohort: Cohort,
    *,
    candidates: int,
    feedback: list[str] | None = None,
    json_shape: str | None = None,
    retry_of: str = "",
) -> BuiltPrompt:
    settings = workspace.settings
    module = workspace.modules[module_id].module
    locale = cohort.locale
    dims = cohort.as_dict()
    slots, requirements = [], []
    for name, slot in module.slots.items():
        if slot.type == "image":  # made by the image model; the copy describes it
            continue
        rules = [slot.description or "text"]
        if slot.type == "asset":
            rules[0] += " (the id of one asset above)"
        rules += length_rules(slot)
        slots.append({"name": name, "rules": "; ".join(rules)})
        if disclaimer := policy.disclaimer_for(dims.get("industry"), module.kind, name):
            sentence = localized(disclaimer.text, locale, settings.default_locale)
            requirements.append({"slot": name, "rule": f'must include the sentence "{sentence}"'})
    context: dict[str, Any] = {
        "module": {"id": module.id, "kind": module.kind, "brief": module.brief.strip()},
        "facts": list(module.facts),
        "assets": [] if module.picture_slot else [{"id": a.id, "description": a.description} for a in module.assets],
        "slots": slots,
        "cohort": cohort_context(workspace, cohort),
        "language": LANGUAGES.get(locale, locale),
        "candidates": candidates,
        "merge_fields": sorted(settings.merge_fields),
        "merge_defaults": sorted(settings.merge_defaults(locale).items()),  # in the cohort's part: per locale
        "feedback": reviewer_feedback(feedback),
        "requirements": requirements,
        "retry_of": retry_of,
    }
    system = prompts.render("system.jinja", brand=settings.name, brand_voice=settings.brand_voice.strip())
    budget = settings.generation.prompt_token_budget
    cuts: list[str] = []

    def messages() -> list[dict[str, str]]:
        shared = prompts.render(f"{module.kind}.jinja", **context)  # the same for every cohort of this module
        if json_shape:
            shared += f"\n\nAnswer with a JSON object of this shape:\n{json_shape}"
        user = shared + "\n\n" + prompts.render("_cohort.jinja", **context)
        return [{"role": "system", "content": system}, {"role": "user", "content": user}]

    built = messages()
    tokens = count_tokens(built, settings.generation.tokenizer)
    while tokens > budget:
        if context["feedback"]:
            cuts.append(f"dropped reviewer feedback: {context['feedback'].pop(0)[:60]!r}")
        elif any(c["description"] for c in context["cohort"]):
            context["cohort"] = [c | {"description": ""} for c in context["cohort"]]
            cuts.append("dropped audience descriptions (kept ids)")
        elif context["facts"]:
            cuts.append(f"dropped fact: {context['facts'].pop()[:60]!r}")
        else:
            raise PromptTooLarge(
                f"the prompt for {module_id} {cohort.key} needs {tokens} tokens after every cut, over the budget of "
                f"{budget}: raise generation.prompt_token_budget in variantly.yml or shorten the brief"
            )
        built = messages()
        tokens = count_tokens(built, settings.generation.tokenizer)
    return BuiltPrompt(built, tokens, cuts)


def length_rules(slot: Slot) -> list[str]:
    """A slot's length limits in words, for the prompt and the schema's descriptions."""
    rules = []
    if slot.min_chars:
        rules.append(f"at least {slot.min_chars} characters")
    if slot.max_chars:
        rules.append(f"at most {slot.max_chars} characters")
    return rules


_OUTPUT_MODELS: dict[tuple[str, str, int], type[BaseModel]] = {}


def output_model(module: Module, candidates: int) -> type[BaseModel]:
    """The structured-output model for ``candidates`` candidates of ``module``, made once per module version."""
    key = (module.id, module.content_hash(), candidates)
    if key not in _OUTPUT_MODELS:
        _OUTPUT_MODELS[key] = _make_output_model(module, candidates)
    return _OUTPUT_MODELS[key]


def _make_output_model(module: Module, candidates: int) -> type[BaseModel]:
    """The structured-output schema: ``candidates`` candidates, each filling every slot.

    The schema states the count (``minItems``/``maxItems``) and each text slot's length
    limits, in its description and as ``minLength``/``maxLength`` (which the LLM client
    sends only to servers that accept them: ``generation.schema_string_lengths``).
    Parsing enforces neither: a short answer is topped up and an over-long slot fails the
    guardrails and is re-asked, both cheaper than throwing a paid answer away as garbage.
    """
    fields: dict[str, Any] = {}
    for name, slot in module.slots.items():
        if slot.type == "image":
            continue
        if slot.type == "asset":
            choices = tuple(a.id for a in module.assets)
            fields[name] = (Literal[choices], Field(description=slot.description or "asset id"))
            continue
        limits = {"minLength": slot.min_chars, "maxLength": slot.max_chars}
        extra: dict[str, Any] = {k: v for k, v in limits.items() if v is not None}
        description = "; ".join([slot.description or name, *length_rules(slot)])
        fields[name] = (str, Field(description=description, json_schema_extra=extra or None))
    slot_model = create_model(f"{_camel(module.id)}Slots", **fields)
    count: dict[str, Any] = {"minItems": candidates, "maxItems": candidates}
    return create_model(
        f"{_camel(module.id)}Candidates",
        candidates=(list[slot_model], Field(json_schema_extra=count)),
    )


def json_shape(module: Module) -> str:
    inner = ", ".join(f'"{name}": "..."' for name, slot in module.slots.items() if slot.type != "image")
    return '{"candidates": [{' + inner + "}, ...]}"


def estimate_completion_tokens(module: Module, candidates: int) -> int:
    """Rough upper estimate for plans and budgets: ~4 characters a token plus JSON."""
    per_candidate = sum((slot.max_chars or 40) / 4 + 8 for slot in module.slots.values() if slot.type != "image")
    return int(candidates * per_candidate + 12)


def _camel(ident: str) -> str:
    return "".join(part.capitalize() for part in ident.replace("-", "_").split("_"))


def picture_prompt(
    prompts: PromptSet,
    workspace: Workspace,
    module_id: str,
    cohort: Cohort,
    *,
    feedback: list[str] | None = None,
    problems: list[str] | None = None,
) -> str:
    """What the image model is asked for one cohort (``prompts/picture.jinja``): the module's brief and facts, the
    cohort's audiences, the brand's style, whether text may appear; reviewers' feedback and, on a redo, what was
    wrong with the last pictures. Never a profile: cohorts, not people."""
    module = workspace.modules[module_id].module
    found = module.picture_slot
    assert found is not None, f"{module_id} has no image slot"
    _, spec = found
    if not (prompts.folder / "picture.jinja").exists():
        raise ConfigurationError(
            f"{prompts.folder}/picture.jinja is missing: module {module_id} generates pictures and its prompt is "
            "that template (copy it from the example workspace)"
        )
    return prompts.render(
        "picture.jinja",
        brand=workspace.settings.name,
        module={"id": module.id, "brief": module.brief.strip(), "caption": spec.caption},
        facts=list(module.facts),
        cohort=cohort_context(workspace, cohort),
        style=workspace.settings.images.style,
        allow_text=spec.allow_text,
        references=list(spec.references),
        feedback=reviewer_feedback(feedback),
        problems=list(problems or []),
    )
