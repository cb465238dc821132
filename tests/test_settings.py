"""Every environment variable is read in one place, documented in one table, and handed to workers whole."""

from __future__ import annotations

import pickle
import re

import pytest

from conftest import REPO
from variantly.api.app import AppFactory
from variantly.errors import ConfigurationError
from variantly.settings import ENVIRONMENT, ProcessSettings


def test_only_the_settings_module_reads_the_environment() -> None:
    readers = []
    for path in (REPO / "src" / "variantly").rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        if re.search(r"os\.environ(?!\.setdefault)|os\.getenv|getenv\(|envvar=", text):
            readers.append(str(path.relative_to(REPO)))
    # generation/environment.py only sets variables for the libraries it switches off (telemetry, downloads)
    assert readers == ["src/variantly/settings.py"] or sorted(readers) == sorted(
        ["src/variantly/settings.py", "src/variantly/generation/environment.py"]
    ), readers


def test_every_variable_is_in_the_readme_table_once() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    table = readme[readme.index("| variable |") :].split("\n\n")[0]
    documented = re.findall(r"^\| `([A-Z_]+)` \|", table, flags=re.M)
    expected = [variable for variables in ENVIRONMENT.values() for variable in variables if variable != "USER"]
    assert sorted(documented) == sorted(expected)


def test_the_environment_is_read_with_the_command_line_over_it() -> None:
    environ = {"VARIANTLY_POLL_SECONDS": "0.5", "VARIANTLY_RENDER_ONLY": "yes", "VARIANTLY_REDIS_URL": "redis://x/0"}
    settings = ProcessSettings.from_env(environ, redis_url="redis://y/1")
    assert settings.poll_seconds == 0.5 and settings.render_only is True and settings.redis_url == "redis://y/1"
    assert ProcessSettings.from_env({"USER": "rita"}).actor == "rita"
    assert ProcessSettings.from_env({"USER": "rita", "VARIANTLY_ACTOR": "ci"}).actor == "ci"


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("VARIANTLY_POLL_SECONDS", "soon", "VARIANTLY_POLL_SECONDS: Input should be a valid number"),
        ("VARIANTLY_POLL_SECONDS", "0", "VARIANTLY_POLL_SECONDS: Input should be greater than 0"),
        # past what a thread can wait: the poller (or the purge) died at its first wait and the process went stale
        ("VARIANTLY_POLL_SECONDS", "inf", "VARIANTLY_POLL_SECONDS: Input should be less than or equal to 3600"),
        ("VARIANTLY_POLL_SECONDS", "1e300", "VARIANTLY_POLL_SECONDS: Input should be less than or equal to 3600"),
        ("VARIANTLY_PURGE_SECONDS", "inf", "VARIANTLY_PURGE_SECONDS: Input should be less than or equal to 604800"),
        ("VARIANTLY_RENDER_ONLY", "perhaps", "VARIANTLY_RENDER_ONLY: Input should be a valid boolean"),
        ("VARIANTLY_LOG_FORMAT", "xml", "VARIANTLY_LOG_FORMAT: Input should be 'plain' or 'json'"),
        ("VARIANTLY_ACTIVITY_PAIRS", "many", "VARIANTLY_ACTIVITY_PAIRS: Input should be a valid integer"),
        # the audit log's actor column holds 100 characters: a longer name was a traceback on PostgreSQL
        ("USER", "x" * 101, "USER: String should have at most 100 characters"),  # the variable that was set
        ("VARIANTLY_ACTOR", "ops\nci", "VARIANTLY_ACTOR: Value error, 'ops\\nci' is not a name on one line"),
    ],
)
def test_a_bad_value_names_its_variable(variable: str, value: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=re.escape(message)):
        ProcessSettings.from_env({variable: value})


def test_a_worker_gets_the_settings_with_its_config_not_through_the_environment(tmp_path) -> None:
    settings = ProcessSettings(workspace=tmp_path, redis_url="redis://cache:6379/0", render_only=True, poll_seconds=0.3)
    factory = pickle.loads(pickle.dumps(AppFactory(settings)))  # what uvicorn's spawned worker receives
    assert factory.settings == settings


@pytest.mark.parametrize(
    ("actor", "message"),
    [
        ("", "--actor: String should have at least 1 character"),  # made an audit entry by nobody
        ("x" * 101, "--actor: String should have at most 100 characters"),
        ("rita\x1b[2J", "--actor: Value error, 'rita\\x1b[2J' is not a name on one line"),
    ],
)
def test_an_actor_the_audit_log_cannot_hold_is_refused_by_its_option(actor: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=re.escape(message)):
        ProcessSettings.from_env({"USER": "rita"}, actor=actor)
