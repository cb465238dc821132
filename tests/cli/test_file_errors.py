"""A file named on the command line that cannot be read or written is an error naming it, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from variantly.cli import app

PROFILE = Path(__file__).resolve().parents[2] / "examples/profiles/anna_retail_enterprise_sv.json"


@pytest.mark.parametrize(
    ("command", "named", "reason"),
    [
        (["render", "--profile", "{tmp}/missing.json", "--module", "hero"], "missing.json", "No such file"),
        (["render", "--profile", "{tmp}", "--module", "hero"], "{tmp}", "Is a directory"),
        (["preview", "--profile", "{tmp}/missing.json", "--module", "hero"], "missing.json", "No such file"),
        (
            ["preview", "--profile", str(PROFILE), "--module", "hero", "--out", "{tmp}/no/such/folder/p.html"],
            "p.html",
            "No such file",
        ),
        (["privacy", "export", "anna-2041", "--out", "{tmp}/no/such/folder/anna.json"], "anna.json", "No such file"),
        (["privacy", "erase", "--file", "{tmp}/missing.txt"], "missing.txt", "No such file"),
        (["privacy", "erase", "--file", "{tmp}"], "{tmp}", "Is a directory"),
        (["brand", "calibrate", "{tmp}/missing.jsonl"], "missing.jsonl", "No such file"),
    ],
)
def test_a_file_that_cannot_be_read_or_written_is_named(
    workspace_dir: Path, tmp_path: Path, command: list[str], named: str, reason: str
) -> None:
    folder = tmp_path / "files"
    folder.mkdir()
    where = ["--workspace", str(workspace_dir), "--database-url", f"sqlite:///{tmp_path / 'cli.db'}"]
    result = CliRunner().invoke(app, [word.replace("{tmp}", str(folder)) for word in command] + where)
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    said = " ".join(result.output.split())  # rich folds long lines
    assert "error:" in said and named.replace("{tmp}", str(folder)) in said and reason in said, said


@pytest.mark.parametrize(
    "command",
    [
        ["render", "--profile", "{file}", "--module", "hero"],
        ["preview", "--profile", "{file}", "--module", "hero"],
        ["import", "{file}"],
        ["privacy", "erase", "--file", "{file}"],
        ["brand", "calibrate", "{file}"],
    ],
)
def test_a_file_saved_in_another_encoding_is_named_at_its_first_bad_byte(
    workspace_dir: Path, tmp_path: Path, command: list[str]
) -> None:
    file = tmp_path / "saved-as-latin-1.txt"
    file.write_bytes("anna-2041\nbjörn-1990\n".encode("latin-1"))  # each command's traceback until 2026-12-04
    where = ["--workspace", str(workspace_dir), "--database-url", f"sqlite:///{tmp_path / 'cli.db'}"]
    result = CliRunner().invoke(app, [word.replace("{file}", str(file)) for word in command] + where)
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    said = " ".join(result.output.split())
    assert f"error: {file}:2:3: not UTF-8 text (invalid start byte): save it as UTF-8" in said, said


def test_files_saved_with_a_byte_order_mark_and_windows_line_ends_are_read_as_written(
    workspace_dir: Path, tmp_path: Path
) -> None:
    """Notepad's "UTF-8 with BOM" and CRLF: a module saved so failed lint with "file must start with '---'"."""
    saved = [
        "modules/hero.jinja",
        "modules/layouts/landing.jinja",
        "audiences.yml",
        "variantly.yml",
        "examples/variants.jsonl",
    ]
    for name in [*saved, "examples/profiles/anna_retail_enterprise_sv.json"]:
        file = workspace_dir / name
        file.write_bytes(b"\xef\xbb\xbf" + file.read_bytes().replace(b"\n", b"\r\n"))
    where = ["--workspace", str(workspace_dir), "--database-url", f"sqlite:///{tmp_path / 'cli.db'}"]
    linted = CliRunner().invoke(app, ["lint", *where[:2]])
    imported = CliRunner().invoke(app, ["import", str(workspace_dir / "examples/variants.jsonl"), *where])
    profile = str(workspace_dir / "examples/profiles/anna_retail_enterprise_sv.json")
    rendered = CliRunner().invoke(app, ["render", "--profile", profile, "--module", "hero", *where])
    assert linted.exit_code == 0 and "ok: 4 modules" in linted.output, linted.output
    assert imported.exit_code == 0 and "imported 38 new variant(s)" in " ".join(imported.output.split())
    assert rendered.exit_code == 0 and '"arm"' in rendered.output, rendered.output
