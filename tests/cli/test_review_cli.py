"""A reviewer in a terminal sees stored copy exactly as it is: brackets are text, not markup."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from variantly.cli import app
from variantly.store import Store
from variantly.store.schema import VariantRow
from variantly.store.variants import add_variant


def test_review_list_and_show_print_bracketed_copy_as_written(workspace_dir: Path, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    note = "Mail [e-mail removed] or see [bold]this[/bold]"
    add_variant(
        Store(url),
        VariantRow(
            id="v-brackets",
            module_id="cta",
            cohort_key="segment=startup;behaviour=*;locale=en",
            locale="en",
            slots={"label": "Book [now]", "note": note},
            status="pending",
            module_hash="m",
            source="import",
            report={"passed": False, "summary": "note: contains an e-mail address [e-mail removed]", "slots": {}},
        ),
        actor="t",
    )
    runner = CliRunner()
    where = ["--workspace", str(workspace_dir), "--database-url", url]
    shown = runner.invoke(app, ["review", "show", "v-brackets", *where])
    assert shown.exit_code == 0, shown.output
    assert note in shown.output and "Book [now]" in shown.output and "address [e-mail removed]" in shown.output
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\dZ t ", shown.output)  # its history in UTC, and said so
    listed = runner.invoke(app, ["review", "list", *where])
    assert listed.exit_code == 0 and "[e-mail" in listed.output  # the table may fold it; it does not eat it


def test_a_page_of_the_queue_outside_its_bounds_is_refused_by_name(workspace_dir: Path, database_url: str) -> None:
    where = ["--workspace", str(workspace_dir), "--database-url", database_url]
    # -1 listed everything on SQLite and was a traceback on PostgreSQL
    for limit in ("-1", "0", "10000001", "99999999999999999999"):
        listed = CliRunner().invoke(app, ["review", "list", "--limit", limit, *where])
        assert listed.exit_code == 1, listed.output
        assert f"error: limit: between 1 and 10,000,000, not {limit}" in " ".join(listed.output.split())
    assert CliRunner().invoke(app, ["review", "list", "--limit", "10000000", *where]).exit_code == 0


@pytest.mark.parametrize(
    "command",
    [
        ["review", "approve", "v-any", "--version", "1", "--as", ""],
        ["review", "reject", "v-any", "--version", "1", "--reason", "r", "--actor", ""],
        ["import", "examples/variants.jsonl", "--actor", ""],
        ["privacy", "erase", "anna-2041", "--actor", ""],
        ["privacy", "purge", "--actor", ""],
    ],
)
def test_every_command_that_writes_the_audit_log_checks_who_is_acting(
    workspace_dir: Path, tmp_path: Path, command: list[str]
) -> None:
    where = ["--workspace", str(workspace_dir), "--database-url", f"sqlite:///{tmp_path / 'cli.db'}"]
    done = CliRunner().invoke(app, [*command, *where])
    assert done.exit_code == 2, done.output  # a setting: exit 2, as every ConfigurationError
    assert "error: --actor: String should have at least 1 character" in done.output
