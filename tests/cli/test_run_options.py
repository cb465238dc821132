"""What a run may ask for is bounded on the command line as it is in the API: refused by name before anything is
planned or paid for."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from typer.testing import CliRunner

from variantly.cli import app
from variantly.errors import InvalidRequest
from variantly.generation.budget import Budget


@pytest.mark.parametrize(
    ("words", "said"),
    [
        (["generate", "--budget-usd", "nan"], "--budget-usd: a number of US dollars over 0, not nan"),
        (["generate", "--budget-usd", "0"], "--budget-usd: a number of US dollars over 0, not 0"),
        (["generate", "--budget-usd", "-1"], "--budget-usd: a number of US dollars over 0, not -1"),
        (["generate", "--concurrency", "0"], "--concurrency: from 1 to 256, not 0"),
        (["generate", "--concurrency", "257"], "--concurrency: from 1 to 256, not 257"),
        (["generate", "--candidates", "11"], "--candidates: from 1 to 10, not 11"),
        (["generate", "--dry-run", "--candidates", "0"], "--candidates: from 1 to 10, not 0"),
        (["plan", "--candidates", "0"], "--candidates: from 1 to 10, not 0"),
        (["brand", "judge", "--budget-usd", "nan"], "--budget-usd: a number of US dollars over 0, not nan"),
        # a cohort key no planned cohort has (a typo, or the dimensions out of order) planned nothing and said nothing
        (
            ["plan", "--module", "cta", "--cohort", "segment=startup;locale=en"],
            "no cohort 'segment=startup;locale=en' among the modules and locales planned; "
            "keys look like 'segment=*;behaviour=*;locale=en'",
        ),
        (["generate", "--cohort", "garbage"], "no cohort 'garbage' among the modules and locales planned"),
    ],
)
def test_an_option_out_of_bounds_is_refused_by_name(
    workspace_dir: Path, tmp_path: Path, words: list[str], said: str
) -> None:
    where = ["--workspace", str(workspace_dir), "--database-url", f"sqlite:///{tmp_path / 'cli.db'}"]
    # an endpoint that refuses every connection: a call made before the refusal would fail differently
    result = CliRunner().invoke(app, words + where, env={"OPENAI_BASE_URL": "http://127.0.0.1:9/v1"})
    assert result.exit_code == 1, result.output
    assert said in " ".join(result.output.split()), result.output


@pytest.mark.parametrize("limit", [math.nan, 0.0, -1.0])
def test_a_budget_that_could_never_stop_a_run_or_never_start_one_is_refused(limit: float) -> None:
    """NaN is the one that mattered: no worst case is ever over it, so ``--budget-usd nan`` spent without a limit."""
    with pytest.raises(InvalidRequest, match="--budget-usd"):
        Budget(limit)


def test_no_budget_and_an_endless_one_both_mean_no_limit() -> None:
    for limit in (None, math.inf):
        budget = Budget(limit)
        assert budget.reserve(1e9) == 1e9


@pytest.mark.parametrize(
    ("line", "said"),
    [
        ("{{ audience_notes }}", "'audience_notes' is undefined"),
        ('{% include "notes.jinja" %}', "'notes.jinja' not found"),
        ("{{ 1 / 0 }}", "ZeroDivisionError: division by zero"),
    ],
)
def test_a_prompt_that_fails_as_it_renders_is_named_at_its_line(
    workspace_dir: Path, tmp_path: Path, line: str, said: str
) -> None:
    """Lint only parses prompts; filling one in happens at plan time, and was a traceback there."""
    prompt = workspace_dir / "prompts" / "_job.jinja"
    prompt.write_text(prompt.read_text(encoding="utf-8").rstrip("\n") + "\n" + line + "\n", encoding="utf-8")
    at = len(prompt.read_text(encoding="utf-8").splitlines())
    where = ["--workspace", str(workspace_dir), "--database-url", f"sqlite:///{tmp_path / 'cli.db'}"]
    result = CliRunner().invoke(app, ["plan", *where], env={"OPENAI_BASE_URL": "http://127.0.0.1:9/v1"})
    assert result.exit_code == 1, result.output
    assert f"error: {prompt}:{at}: {said}" in " ".join(result.output.split()), result.output
