"""What the checks found on a candidate, and what the store keeps with a variant: typed.

A ``CheckReport`` is one candidate's result: for each slot the validators that failed it,
each with its message and the spans of the copy it concerns; for each channel whose own
rules the rendered message breaks (an SMS over its segments), the same. Generation adds a
``GenerationRecord`` (the run, the prompt's cuts and tokens, the failed attempts before
it); a reviewer's edit adds who edited. ``VariantReport`` is all of it, and the one place
that converts to and from the JSON the store keeps (``VariantRow.report``). Rows written
before these types existed read back unchanged (``from_stored`` is tolerant: a missing
key is its default, the constraint-only reports of old imports are read as slot failures).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class Failure(_Frozen):
    """One validator's verdict on one slot (or one channel's message): each message once, every span."""

    validator: str
    message: str
    spans: tuple[tuple[int, int], ...] = ()


class CheckReport(_Frozen):
    passed: bool
    policy_hash: str = ""
    slots: dict[str, tuple[Failure, ...]] = Field(default_factory=dict)
    channels: dict[str, tuple[Failure, ...]] = Field(default_factory=dict, description="a rendered message's failures")
    summary: str = "passed"
    unchecked: tuple[str, ...] = Field(default=(), description="custom validators that could not run here")

    @property
    def checked_under(self) -> str:
        """What the copy was checked under, as a reviewer reads it: "policy 949d8c7fb69f6777, checks revision 3".
        ``policy_hash`` holds ``policy_checks.checked_under``'s identity (the policy's files, a digest of the
        settings the checks read, the revision, "p" when custom validators could not run), or a policy hash alone
        in reports written before it."""
        policy, _, rest = self.policy_hash.partition(".")
        revision = rest.rpartition(".")[2]
        if not revision:
            return f"policy {policy}" if policy else ""
        said = f"policy {policy}, checks revision {revision.rstrip('p')}"
        return said + (", custom validators not run" if revision.endswith("p") else "")

    @classmethod
    def of(
        cls,
        slots: Mapping[str, list[Failure] | tuple[Failure, ...]],
        policy_hash: str,
        *,
        channels: Mapping[str, list[Failure] | tuple[Failure, ...]] | None = None,
        unchecked: list[str] | tuple[str, ...] = (),
    ) -> CheckReport:
        """The report for one candidate, its pass and its one-line summary worked out from the failures."""
        slot_failures = {name: tuple(found) for name, found in slots.items()}
        channel_failures = {name: tuple(found) for name, found in (channels or {}).items() if found}
        said = [f"{name}: {f.message}" for name, found in slot_failures.items() for f in found]
        said += [f"{name} message: {f.message}" for name, found in channel_failures.items() for f in found]
        summary = "; ".join(said) or "passed"
        if unchecked:
            summary += f" (not run: {', '.join(unchecked)}; install variantly[generate] to run them)"
        return cls(
            passed=not said,
            policy_hash=policy_hash,
            slots=slot_failures,
            channels=channel_failures,
            summary=summary,
            unchecked=tuple(unchecked),
        )

    def with_failures(self, slots: Mapping[str, list[Failure]]) -> CheckReport:
        """This report with more failures on some slots (a picture's own checks), its pass and summary again."""
        merged = {name: [*found, *slots.get(name, [])] for name, found in self.slots.items()}
        merged |= {name: list(found) for name, found in slots.items() if name not in merged}
        return CheckReport.of(merged, self.policy_hash, channels=self.channels, unchecked=self.unchecked)

    def failures(self) -> Iterator[tuple[str, Failure]]:
        """(where, failure) for every failure: a slot's name, or ``<channel> message``."""
        for slot, found in self.slots.items():
            for failure in found:
                yield slot, failure
        for channel, found in self.channels.items():
            for failure in found:
                yield f"{channel} message", failure

    def problems(self) -> list[str]:
        """Each failure as one line ``where: message``: what a re-ask quotes back to the LLM."""
        return [f"{where}: {failure.message}" for where, failure in self.failures()]

    def failed_by(self, validator: str) -> dict[str, Failure]:
        """The slots ``validator`` failed, with its failure on each."""
        return {slot: f for slot, found in self.slots.items() for f in found if f.validator == validator}


class Attempt(_Frozen):
    """A candidate that failed and was re-asked: its copy (personal data redacted) and why it failed."""

    slots: dict[str, str]
    report: CheckReport
    brand: tuple[str, ...] = Field(default=(), description="the judged brand guidelines it failed, as re-asked")


class PictureRecord(_Frozen):
    """How a generated picture was made and what its own checks saw, for the reviewer: the prompt the image model
    was given, the model, the moderation endpoint's flagged categories and the text read in the picture."""

    prompt: str
    model: str
    moderation: tuple[str, ...] = Field(default=(), description="categories the moderation endpoint flagged")
    moderated: bool = Field(default=False, description="the moderation endpoint answered")
    text: str = Field(default="", description="the text OCR read in the picture")
    text_read: bool = Field(default=False, description="OCR ran")


class GenerationRecord(_Frozen):
    """How generation arrived at a candidate."""

    run_id: str
    prompt_tokens: int = 0
    prompt_cuts: tuple[str, ...] = ()
    attempts: tuple[Attempt, ...] = ()
    redacted: bool = Field(default=False, description="personal data in the answer was replaced before storing")
    picture: PictureRecord | None = None


GENERATION_KEYS = ("run_id", "prompt_tokens", "prompt_cuts", "attempts", "redacted", "picture")


class VariantReport(_Frozen):
    """What the store keeps with a variant: the check, and how it was made or edited."""

    check: CheckReport
    generation: GenerationRecord | None = None
    edited_by: str | None = None

    def stored(self) -> dict[str, Any]:
        """The JSON the store keeps: the check's fields at the top, as every earlier version wrote them."""
        data = self.check.model_dump(mode="json")
        if self.generation is not None:
            data |= self.generation.model_dump(mode="json")
        if self.edited_by is not None:
            data["edited_by"] = self.edited_by
        return data

    @classmethod
    def from_stored(cls, data: Mapping[str, Any] | None) -> VariantReport:
        """Read what any version stored; a row without a report reads as unchecked."""
        data = dict(data or {})
        if "failures" in data and "slots" not in data:  # a constraint-only report of an older import
            slots: dict[str, list[dict[str, Any]]] = {}
            for failure in data.pop("failures") or []:
                slots.setdefault(failure.get("slot", ""), []).append(failure)
            data["slots"] = slots
        check = CheckReport.model_validate({"passed": False, "summary": "not checked"} | data)
        generation = None
        if data.get("run_id"):
            generation = GenerationRecord.model_validate({k: data[k] for k in GENERATION_KEYS if k in data})
        return cls(check=check, generation=generation, edited_by=data.get("edited_by"))
