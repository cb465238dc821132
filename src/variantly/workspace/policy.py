"""The guardrail policy file (``guardrails/policy.yml``) as data.

Plain pydantic, no guardrails-ai: lint and the review pages read it too. The checks
themselves are in ``workspace.copy_checks`` (lint holds the files' own copy to them:
``workspace.written_copy``); ``variantly.generation.guards`` runs them
through guardrails-ai.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from variantly.errors import Problem, WorkspaceError
from variantly.workspace.models import KINDS, Kind, Localized
from variantly.workspace.phrases import Phrase
from variantly.workspace.yamlpos import load_model

POLICY_FILE = Path("guardrails") / "policy.yml"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Disclaimer(_Strict):
    industry: str
    kinds: list[Kind]
    slot: str
    text: Localized


class CustomValidator(_Strict):
    file: str
    name: str
    kinds: list[Kind] = Field(default_factory=lambda: list(KINDS))


def _a_domain(domain: str) -> str:
    """A domain as links are compared with it (``workspace.links``): 'https://lumen.example/' or '*.lumen.example'
    matched no link at all, so every link in copy was refused."""
    if DOMAIN.fullmatch(domain.strip()) is None:
        bare = re.sub(r"^[a-z][a-z0-9+.-]*://|^\*\.|[:/?#].*$", "", domain.strip(), flags=re.IGNORECASE)
        hint = f": write '{bare}' (its subdomains are allowed with it)" if DOMAIN.fullmatch(bare) else ""
        raise ValueError(f"{domain!r} is not a domain{hint}")
    return domain.strip()


# A host name: labels of letters (any script, for an IDN), digits and hyphens, joined by dots.
DOMAIN = re.compile(r"(?:[^\W_](?:[\w-]*[^\W_])?\.)*[^\W_](?:[\w-]*[^\W_])?")
Domain = Annotated[str, AfterValidator(_a_domain)]


class Policy(_Strict):
    banned_phrases: list[Phrase] = Field(default_factory=list)
    competitors: list[Phrase] = Field(default_factory=list)
    required_disclaimers: list[Disclaimer] = Field(default_factory=list)
    allowed_link_domains: list[Domain] = Field(default_factory=list)
    claims_from_facts: bool = True
    block_personal_data: bool = True
    languages: list[str] = Field(
        default_factory=list, description="locales whose copy must be in that locale's language"
    )
    custom_validators: list[CustomValidator] = Field(default_factory=list)

    @field_validator("languages", mode="before")
    @classmethod
    def _locales_of_older_files(cls, value: object) -> object:
        """Older policy files listed marker words per locale; only the locales matter now."""
        return list(value) if isinstance(value, dict) else value

    def disclaimer_for(self, industry: str | None, kind: str, slot: str) -> Disclaimer | None:
        return next(
            (d for d in self.required_disclaimers if d.industry == industry and kind in d.kinds and d.slot == slot),
            None,
        )


def load_policy(root: str | Path) -> tuple[Policy, str]:
    """The policy and its hash (the file plus every custom validator it loads)."""
    root = Path(root)
    path = root / POLICY_FILE
    if not path.exists():
        return Policy(), "none"
    policy, doc, text = load_model(path, Policy)
    digest = hashlib.sha256(text.encode())
    problems = []
    for i, custom in enumerate(policy.custom_validators):
        file = root / "guardrails" / custom.file
        try:  # read, not asked whether it exists: a name too long for the file system raises either way
            digest.update(file.read_bytes())
        except OSError as exc:
            line, col = doc.locate(("custom_validators", i, "file"))
            said = "does not exist" if isinstance(exc, FileNotFoundError) else f"cannot be read: {exc.strerror}"
            problems.append(Problem(str(path), line, col, f"custom validator file {file} {said}"))
    if problems:
        raise WorkspaceError(problems)
    return policy, digest.hexdigest()[:16]
