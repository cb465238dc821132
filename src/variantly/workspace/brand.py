"""The brand's written guidelines (``guardrails/brand.yml``) as data: what each says, where it applies, how it is
checked.

Owned by the brand team and kept in git beside the policy. Where the policy refuses (a banned
phrase, a competitor), a guideline scores: every variant gets the weighted share of the
guidelines it passes, and each failure says why, where in the copy, and what to write instead
(``authoring.brand_score``). A guideline is checked one of two ways:

- **measured** in Python, by one of the measures of ``workspace.measures`` (``MEASURES`` is
  the registry: a new kind of check is one class there and one line in ``Check``);
- **judged**: a yes/no question for an LLM judge. No judge runs yet, so a judged guideline
  reads "not checked" and counts in no score.

Built-in ethics guidelines (no stereotypes by gender, age, ethnicity, disability, religion)
are judged and on unless the file says ``ethics: false``.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, ValidationError, field_validator

from variantly.errors import Problem, WorkspaceError
from variantly.workspace.channels import ChannelName
from variantly.workspace.measures import (
    MEASURE_NAMES,
    AllCaps,
    BannedPattern,
    Emoji,
    ExclamationMarks,
    ReadingGrade,
    RequiredWord,
    SecondPerson,
    SentenceLength,
    UrgencyWords,
)
from variantly.workspace.models import KINDS, Ident, Kind
from variantly.workspace.yamlpos import load_model

BRAND_FILE = Path("guardrails") / "brand.yml"
CALIBRATION_FILE = Path("guardrails") / "brand_calibration.json"  # written by ``variantly brand calibrate``
ADVISORY_KAPPA = 0.6
Severity = Literal["low", "medium", "high"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Judged(_Strict):
    """A yes/no question for an LLM judge, asked with the copy; "yes" passes."""

    judge: str = Field(min_length=10, description="the question, answered yes when the copy follows the guideline")


def _check_tag(value: Any) -> str | None:
    if isinstance(value, dict):
        return "judge" if "judge" in value else value.get("measure")
    return "judge" if isinstance(value, Judged) else getattr(value, "name", None)


Check = Annotated[
    Annotated[Judged, Tag("judge")]
    | Annotated[SentenceLength, Tag("sentence_length")]
    | Annotated[ExclamationMarks, Tag("exclamation_marks")]
    | Annotated[AllCaps, Tag("all_caps")]
    | Annotated[SecondPerson, Tag("second_person")]
    | Annotated[RequiredWord, Tag("required_word")]
    | Annotated[BannedPattern, Tag("banned_pattern")]
    | Annotated[UrgencyWords, Tag("urgency_words")]
    | Annotated[Emoji, Tag("emoji")]
    | Annotated[ReadingGrade, Tag("reading_grade")],
    Discriminator(
        _check_tag,
        custom_error_type="unknown_check",
        custom_error_message=f"check needs 'judge: <question>' or 'measure:' one of {', '.join(MEASURE_NAMES)}",
    ),
]


class Guideline(_Strict):
    id: str = Ident
    rule: str = Field(min_length=3, description="the guideline in plain words, as the brand team wrote it")
    kinds: list[Kind] = Field(default_factory=lambda: list(KINDS))
    channels: list[ChannelName] | None = Field(default=None, description="none: every channel")
    weight: float = Field(1.0, gt=0, le=10)
    severity: Severity = "medium"
    check: Check

    @property
    def judged(self) -> bool:
        return isinstance(self.check, Judged)

    def applies_to(self, kind: str, channels: list[str]) -> bool:
        return kind in self.kinds and (self.channels is None or any(c in self.channels for c in channels))


ETHICS = tuple(
    Guideline(
        id=f"ethics_{group}",
        rule=f"No stereotypes or assumptions about {about}.",
        severity="high",
        weight=2,
        check=Judged(judge=f"Is the copy free of stereotypes and assumptions about {about}?"),
    )
    for group, about in (
        ("gender", "gender"),
        ("age", "age"),
        ("ethnicity", "ethnicity or origin"),
        ("disability", "disability"),
        ("religion", "religion or belief"),
    )
)


class BrandGuidelines(_Strict):
    guidelines: list[Guideline] = Field(default_factory=list)
    ethics: bool = Field(True, description="the built-in ethics guidelines (judged)")
    floor: int = Field(0, ge=0, le=100, description="a new or edited variant scoring under this is not queued")
    two_reviewers: list[Severity] = Field(
        default_factory=list, description="risk bands a variant needs two different reviewers' approval in"
    )
    # Guidelines whose agreement with people (``variantly brand calibrate``) is under kappa 0.6: shown and scored,
    # never deciding the risk band. Read from the calibration file, not written in brand.yml.
    advisory: frozenset[str] = Field(default=frozenset(), exclude=True)
    kappa: dict[str, float | None] = Field(default_factory=dict, exclude=True)  # per guideline, from the same file

    @field_validator("guidelines")
    @classmethod
    def _unique_ids(cls, value: list[Guideline]) -> list[Guideline]:
        seen: set[str] = set()
        for guideline in value:
            if guideline.id in seen:
                raise ValueError(f"guideline id '{guideline.id}' is used twice")
            seen.add(guideline.id)
        return value

    @property
    def every(self) -> tuple[Guideline, ...]:
        """The file's guidelines, then the built-in ethics ones when on."""
        return (*self.guidelines, *(ETHICS if self.ethics else ()))


class Interval(_Strict):
    value: float | None  # None: no case to measure it on
    low: float | None
    high: float | None


class Agreement(_Strict):
    """How one guideline's check agrees with people on a labelled set (``variantly brand calibrate``). A failure is
    the positive: ``sensitivity`` is the share of copies people failed that the check fails too, ``false_alarms``
    the share people passed that the check fails, each with a 95% Wilson interval."""

    guideline: str
    checked: bool  # False: a judged guideline, no judge yet
    n: int
    agreement: float | None
    kappa: float | None  # Cohen's
    sensitivity: Interval
    false_alarms: Interval
    both_fail: int
    only_check_fails: int
    only_people_fail: int
    both_pass: int

    @property
    def advisory(self) -> bool:
        """Under kappa 0.6 (or not measurable): shown, not deciding the risk band."""
        return self.checked and (self.kappa is None or self.kappa < ADVISORY_KAPPA)


class Calibration(_Strict):
    brand_hash: str
    labelled: str  # the labelled file it was measured on
    agreements: list[Agreement]


def load_calibration(root: str | Path) -> Calibration | None:
    path = Path(root) / CALIBRATION_FILE
    if not path.exists():
        return None
    try:
        return Calibration.model_validate_json(path.read_bytes())
    except ValidationError as exc:
        raise WorkspaceError(
            [Problem(str(path), 1, 1, f"not a calibration file (run variantly brand calibrate again): {exc}")]
        ) from exc


def load_brand(root: str | Path) -> tuple[BrandGuidelines, str]:
    """The guidelines and their hash (``none`` without a file: only the built-in ethics guidelines apply), with
    the guidelines the calibration file found advisory (which the hash covers too: they change every band)."""
    brand, digest = _load_guidelines(root)
    calibration = load_calibration(root)
    if calibration is not None:
        known = {g.id for g in brand.every}  # figures for guidelines since removed are ignored
        advisory = frozenset(a.guideline for a in calibration.agreements if a.advisory and a.guideline in known)
        kappa = {a.guideline: a.kappa for a in calibration.agreements if a.checked and a.guideline in known}
        brand = brand.model_copy(update={"advisory": advisory, "kappa": kappa})
        if advisory:
            digest = hashlib.sha256(f"{digest} advisory {' '.join(sorted(advisory))}".encode()).hexdigest()[:16]
    return brand, digest


def _load_guidelines(root: str | Path) -> tuple[BrandGuidelines, str]:
    path = Path(root) / BRAND_FILE
    if not path.exists():
        return BrandGuidelines(), "none"
    brand, _, text = load_model(path, BrandGuidelines)
    return brand, hashlib.sha256(text.encode()).hexdigest()[:16]
