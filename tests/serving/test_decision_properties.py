"""The decision order as properties, over profiles hypothesis makes up.

No consent never gets a variant; the holdout is stable; suppression beats everything;
a fallback never crosses locales; and whatever a profile carries, its own text is
rendered inert.
"""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import REPO, copy_workspace
from variantly.authoring.constraints import check_constraints
from variantly.authoring.importing import import_variants
from variantly.serving.holdout import arm_for
from variantly.serving.profiles import Profile
from variantly.serving.release import load_release
from variantly.serving.render import render_target, viewer_for_profile
from variantly.store import Store
from variantly.workspace import load_workspace
from variantly.workspace.cohorts import Cohort

_ROOT = copy_workspace(Path(tempfile.mkdtemp(prefix="variantly-props-")) / "ws")
WORKSPACE = load_workspace(_ROOT)
_STORE = Store(f"sqlite:///{_ROOT.parent / 'store.db'}")
import_variants(
    _STORE, WORKSPACE, REPO / "examples" / "variants.jsonl", actor="t", check=check_constraints, approve=True
)
RELEASE = load_release(_STORE)
MODULES = sorted(WORKSPACE.modules)
# Any text a profile may hold (text no store can hold, a NUL or a lone surrogate, is refused at the edge:
# tests/api/test_unstorable_input.py).
TEXT = st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",))
HOSTILE = st.sampled_from(
    ["<img src=x onerror=alert(1)>", "{{ 1234*5 }}", "{% raw %}", "javascript:alert(1)", "</h1><script>x()</script>"]
)

events = st.lists(
    st.fixed_dictionaries(
        {
            "type": st.sampled_from(["page_view", "purchase", "login"]),
            "at": st.sampled_from(["now", "now-1d", "now-10d", "now-90d"]),
            "properties": st.fixed_dictionaries({"path": st.sampled_from(["/pricing", "/", "/docs"])}),
        }
    ),
    max_size=6,
)
profiles = st.fixed_dictionaries(
    {
        "id": st.text(TEXT, min_size=1, max_size=30),
        "traits": st.fixed_dictionaries(
            {
                "company_size": st.integers(min_value=1, max_value=5000),
                "industry": st.sampled_from(["retail", "banking", "healthcare", "farming", ""]),
                "locale": st.sampled_from(["en-GB", "sv-SE", "de-DE", "en"]),
                "support": st.fixed_dictionaries({"open_critical_tickets": st.integers(0, 2)}),
                "is_customer": st.booleans(),
                "first_name": st.one_of(st.text(TEXT, max_size=20), HOSTILE),
                "company": st.one_of(st.text(TEXT, max_size=20), HOSTILE),
            }
        ),
        "events": events,
        "consent": st.fixed_dictionaries({"personalisation": st.booleans(), "marketing_email": st.booleans()}),
    }
)
PROPERTIES = settings(max_examples=60, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))


def decisions(raw: dict, module: str) -> list:
    profile = Profile.model_validate(raw)
    viewer = viewer_for_profile(WORKSPACE, profile, now=datetime.now(UTC))
    return render_target(WORKSPACE, RELEASE, viewer, channel="web", module=module).decisions


@PROPERTIES
@given(profiles, st.sampled_from(MODULES))
def test_without_personalisation_consent_no_profile_ever_gets_a_variant(raw: dict, module: str) -> None:
    raw["consent"]["personalisation"] = False
    assert all(d.outcome != "variant" and d.variant_id is None for d in decisions(raw, module))


@PROPERTIES
@given(profiles, st.sampled_from(MODULES))
def test_the_holdout_is_stable_and_never_sees_a_variant(raw: dict, module: str) -> None:
    arm = arm_for(raw["id"], WORKSPACE.settings.holdout_salt, WORKSPACE.settings.holdout_percent)
    for _ in range(3):
        [decision] = decisions(raw, module)
        assert decision.arm == arm
        if arm == "control":
            assert decision.outcome != "variant"


@PROPERTIES
@given(profiles)
def test_an_open_critical_ticket_beats_consent_holdout_and_every_variant(raw: dict) -> None:
    raw["traits"]["support"]["open_critical_tickets"] = 1
    [decision] = decisions(raw, "cta")
    assert decision.outcome == "alternative" and decision.rule == "open_ticket_no_sales"


@PROPERTIES
@given(profiles, st.sampled_from(MODULES))
def test_a_fallback_never_serves_copy_from_another_locale(raw: dict, module: str) -> None:
    for decision in decisions(raw, module):
        if decision.served_cohort:
            asked, served = Cohort.from_key(decision.cohort), Cohort.from_key(decision.served_cohort)
            assert asked.locale == served.locale


@PROPERTIES
@given(profiles)
def test_whatever_a_profile_carries_is_rendered_inert(raw: dict) -> None:
    raw["consent"] = {"personalisation": True, "marketing_email": True}
    profile = Profile.model_validate(raw)
    page = render_target(WORKSPACE, RELEASE, viewer_for_profile(WORKSPACE, profile), channel="web", layout="landing")
    for payload in ("<img src=x onerror", "<script>x()", 'href="javascript:', 'src="javascript:'):
        assert payload not in page.html  # markup from a profile is escaped text; no link or image points at it
    assert "6170" not in page.html  # "{{ 1234*5 }}" from a profile is text, never evaluated
