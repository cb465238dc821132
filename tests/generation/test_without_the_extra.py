"""A render node installs `variantly` without the generation extra: what still works, and what says how to get it.

The extra's packages are hidden from a fresh interpreter by an import hook, which is what
an install without them looks like to the code (`find_spec` and `import` both fail).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from variantly.extras import GENERATION_STACK, missing_packages

HIDE_THE_EXTRA = """
import sys
HIDDEN = {"openai", "tiktoken", "tenacity", "guardrails", "litellm"}

class HideTheExtra:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in HIDDEN:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, HideTheExtra())
sys.argv = ["variantly", *ARGS]
from variantly.cli import main
try:
    main()
except SystemExit as exc:
    code = exc.code
print("LOADED:" + ",".join(sorted({m.split(".")[0] for m in sys.modules} & HIDDEN)))
sys.exit(code)
"""


def variantly_without_the_extra(workspace: Path, *args: str) -> subprocess.CompletedProcess:
    script = HIDE_THE_EXTRA.replace("ARGS", repr(list(args)))
    return subprocess.run([sys.executable, "-c", script], cwd=workspace, capture_output=True, text=True, timeout=120)


def test_generate_and_plan_exit_2_naming_the_install_command(workspace_dir: Path) -> None:
    for command in ("generate", "plan"):
        out = variantly_without_the_extra(workspace_dir, command, "--database-url", "sqlite://")
        assert out.returncode == 2, out.stdout + out.stderr
        assert "pip install 'variantly[generate]'" in out.stderr
        assert "openai" in out.stderr and "guardrails-ai" in out.stderr


def test_import_runs_the_built_in_checks_and_leaves_copy_a_custom_validator_missed_pending(
    workspace_dir: Path, tmp_path: Path
) -> None:
    agency = tmp_path / "agency.jsonl"
    lines = [
        {"module": "customer_example", "cohort": {"industry": "retail", "locale": "en"}, "slots": {}},
        {"module": "cta", "cohort": {"segment": "startup", "locale": "en"}, "slots": {}},
        {"module": "cta", "cohort": {"segment": "enterprise", "locale": "en"}, "slots": {}},
    ]
    examples = [json.loads(line) for line in (workspace_dir / "examples" / "variants.jsonl").read_text().splitlines()]
    lines[0]["slots"] = next(v["slots"] for v in examples if v["module"] == "customer_example")
    lines[1]["slots"] = {"label": "See Lumen in action", "note": "A 30-minute demo with examples from your industry."}
    lines[2]["slots"] = {"label": "Buy now", "note": "A 30-minute demo with examples from your industry."}
    agency.write_text("\n".join(json.dumps(line) for line in lines))
    db = tmp_path / "store.db"

    out = variantly_without_the_extra(
        workspace_dir, "import", str(agency), "--approve", "--database-url", f"sqlite:///{db}"
    )

    assert out.returncode == 0, out.stdout + out.stderr
    assert "LOADED:\n" in out.stdout, out.stdout  # guardrails-ai and the rest never loaded
    assert "1 approved, 1 pending, 1 failed checks" in out.stdout.replace("\n", " ")
    assert "banned phrase 'buy now'" in out.stdout  # the built-in checks ran
    assert "1 left pending instead of approved" in out.stdout and "lumen/no_shouting" in out.stdout

    from variantly.store import Store

    store = Store(f"sqlite:///{db}")
    with store.engine.connect() as conn:
        rows = dict(conn.exec_driver_sql("select module_id || ':' || status, count(*) from variants group by 1").all())
    store.dispose()
    assert rows == {"customer_example:approved": 1, "cta:pending": 1, "cta:guardrail_failed": 1}


def test_a_folder_named_like_a_package_does_not_count_as_installed(tmp_path: Path, monkeypatch) -> None:
    """The workspace's own guardrails/ folder (no __init__.py) must not pass for guardrails-ai."""
    (tmp_path / "only_a_folder").mkdir()
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(GENERATION_STACK, "only_a_folder", "only-a-folder")
    assert missing_packages(("only_a_folder",)) == ["only-a-folder"]
    assert missing_packages(("openai",)) == []
