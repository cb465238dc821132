"""Import variants written elsewhere (an agency, a copywriter, the examples).

A variants file is JSON Lines, one variant a line::

    {"module": "hero", "cohort": {"segment": "enterprise", "locale": "sv"},
     "slots": {"headline": "...", "subheadline": "..."}}

The whole file is read and checked before anything is written: a bad line is
reported as ``file:line: field: message`` and nothing is imported, so a half-applied
file never has to be untangled. Every variant then passes the same checks as
generated copy, and what fails is kept as ``guardrail_failed`` with its report.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from pydantic import ValidationError

from variantly.authoring.brand_score import rescore, score_variant
from variantly.authoring.candidates import Candidate, VariantLine, parse_candidate, variant_id
from variantly.authoring.picture_text import imported_text_failures
from variantly.authoring.pictures import keep_pictures, read_pictures
from variantly.authoring.report import CheckReport, VariantReport
from variantly.errors import ImportFileError
from variantly.store import Store
from variantly.store.schema import VariantRow
from variantly.store.variants import add_variant, change_variant
from variantly.workspace import Workspace
from variantly.workspace.reading import read_text


@dataclass
class ImportSummary:
    added: int = 0
    already_present: int = 0
    approved: int = 0
    pending: int = 0
    failed: int = 0
    failures: list[str] = field(default_factory=list)
    not_approved: int = 0  # passed, but a custom validator could not run: left pending
    unchecked: set[str] = field(default_factory=set)  # those validators
    brand_held: int = 0  # passed, but under the brand floor or in a two-reviewer risk band: not approved here


# A check returns (passed, report): ``PolicyChecker.check``, or any function like it.
Check = Callable[[Workspace, Candidate], tuple[bool, CheckReport]]


def read_variants_file(workspace: Workspace, path: str | Path) -> list[Candidate]:
    path = Path(path)
    try:
        raw_lines = read_text(path).splitlines()
    except OSError as exc:
        raise ImportFileError(f"{path}: cannot read: {exc.strerror}") from exc
    candidates, problems = [], []
    for number, raw in enumerate(raw_lines, start=1):
        if not raw.strip() or raw.lstrip().startswith("//"):
            continue
        try:
            line = VariantLine.model_validate_json(raw)
        except ValidationError as exc:
            for err in exc.errors():
                where = ".".join(str(p) for p in err["loc"]) or "line"
                problems.append(f"{path}:{number}: {where}: {err['msg']}")
            continue
        candidate, errors = parse_candidate(workspace, line)
        problems += [f"{path}:{number}: {e}" for e in errors]
        if candidate:
            candidate, errors = read_pictures(workspace, candidate, path.parent)
            problems += [f"{path}:{number}: {e}" for e in errors]
            candidates.append(candidate)
    if problems:
        raise ImportFileError(f"{path} has {len(problems)} problem(s); nothing was imported:\n" + "\n".join(problems))
    return candidates


def _brand_holds(workspace: Workspace, candidate: Candidate) -> bool:
    """Copy ``--approve`` must not approve on its own: under the brand floor, or in a band needing two reviewers."""
    module = workspace.modules[candidate.module_id].module
    brand = workspace.brand
    scored = score_variant(brand, module, candidate.slots, candidate.cohort.locale)
    return (scored.score is not None and scored.score < brand.floor) or scored.band in brand.two_reviewers


def import_variants(
    store: Store,
    workspace: Workspace,
    path: str | Path,
    *,
    actor: str,
    check: Check,
    approve: bool = False,
    reason: str = "",
) -> ImportSummary:
    """Check every candidate and queue it; ``approve`` also approves what passes."""
    summary = ImportSummary()
    for read in read_variants_file(workspace, path):
        candidate, found = keep_pictures(store, workspace, read)
        said = imported_text_failures(workspace, replace(candidate, pictures=read.pictures), check)
        for name, failures in said.items():  # what the picture says, read by OCR
            found[name] = [*found.get(name, []), *failures]
        module_hash = workspace.modules[candidate.module_id].content_hash
        passed, report = check(workspace, candidate)
        if found:
            report = report.with_failures(found)
            passed = report.passed
        row = VariantRow(
            id=variant_id(module_hash, candidate, "import"),
            module_id=candidate.module_id,
            cohort_key=candidate.cohort.key,
            locale=candidate.cohort.locale,
            slots=candidate.slots,
            status="pending" if passed else "guardrail_failed",
            module_hash=module_hash,
            policy_hash=report.policy_hash,
            source="import",
            report=VariantReport(check=report).stored(),
            params={"file": str(path)},
        )
        if not add_variant(store, row, actor=actor, reason=f"imported from {Path(path).name}"):
            summary.already_present += 1
            continue
        summary.added += 1
        if not passed:
            summary.failed += 1
            summary.failures.append(f"{candidate.module_id} {candidate.cohort.key}: {report.summary}")
        elif approve and report.unchecked:  # never auto-approve copy a policy check did not see
            summary.pending += 1
            summary.not_approved += 1
            summary.unchecked.update(report.unchecked)
        elif approve and _brand_holds(workspace, candidate):  # rescore below says why (the floor), or a second
            summary.pending += 1  # reviewer approves it in the queue
            summary.brand_held += 1
        elif approve:
            change_variant(
                store,
                row.id,
                expected_version=1,
                actor=actor,
                action="approve",
                to_status="approved",
                reason=reason or "approved on import",
            )
            summary.approved += 1
        else:
            summary.pending += 1
    if summary.added:
        rescore(store, workspace)  # the new variants' brand scores, before anyone lists them
    if summary.approved:
        store.publish(actor, f"import of {Path(path).name}")
    return summary
