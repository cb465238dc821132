"""What a run did and why it stopped: the report the CLI prints, the API shows and the store keeps."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class JobProblem:
    """A job that ended without a variant, and why: ``failed`` (redo it with ``--retry-failed``)
    or ``unfinished`` (the next run redoes it)."""

    module_id: str
    cohort_key: str
    error: str
    status: str = "failed"


def group_problems(problems: list[JobProblem]) -> list[tuple[str, str, list[JobProblem]]]:
    """(status, error, jobs) per distinct error, most frequent first.

    Twenty cohorts truncated at the same limit are one problem to fix, not twenty lines
    to read; the reader still sees which cohorts it hit.
    """
    groups: dict[tuple[str, str], list[JobProblem]] = {}
    for problem in problems:
        groups.setdefault((problem.status, problem.error), []).append(problem)
    ordered = sorted(groups.items(), key=lambda item: -len(item[1]))  # stable: first seen first among equals
    return [(status, error, jobs) for (status, error), jobs in ordered]


@dataclass
class RunSummary:
    run_id: str
    status: str = "running"
    message: str = ""
    jobs_planned: int = 0
    jobs_done: int = 0
    jobs_failed: int = 0  # this run: refused, truncated, nothing passed (retry with --retry-failed)
    jobs_unfinished: int = 0  # this run: out of attempts or out of budget mid-job (the next run redoes them)
    jobs_skipped: int = 0
    jobs_failed_before: int = 0  # failed in an earlier run and not retried now
    jobs_not_started: int = 0
    jobs_elsewhere: int = 0  # planned, but another run on the store was generating them, or finished them
    candidates_passed: int = 0
    candidates_failed: int = 0
    candidates_short: int = 0  # asked for but never delivered, even after a top-up
    reasks: int = 0
    top_ups: int = 0
    jobs_in_batch: int = 0  # sent to the provider's Batch API by this run
    batches_waiting: int = 0  # sent earlier and not answered yet
    batch_lines: list[str] = field(default_factory=list)
    llm_calls: int = 0
    prompt_tokens: int = 0
    cached_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    judged: int = 0  # candidates and pending variants the brand judge answered for (generate --judge)
    judge_failed: int = 0  # those it could not judge: their judged guidelines stay not checked
    seconds: float = 0.0
    errors: list[JobProblem] = field(default_factory=list)  # jobs this run left without a variant

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def left_over(self) -> int:
        """Jobs this run leaves without a variant: failed, unfinished or never started."""
        return self.jobs_failed + self.jobs_unfinished + self.jobs_not_started + self.jobs_failed_before


@dataclass
class RunStop:
    """Why the run is stopping, once it is: jobs that have not made a call yet do not start."""

    status: str = ""  # stopped_budget, failed
    reason: str = ""
