"""A person's merge-field values as copy carries them: their own where fit to be copy, else the field's default.

Filled into every message at render (``render``, ``answer``), so what a profile sends decides what customers
read: a value that is missing, blank, or not fit to be copy (``fit_for_copy``) gives way to the default that
lint and the guardrails measured.
"""

from __future__ import annotations

from functools import lru_cache

from variantly.serving.profiles import Profile
from variantly.workspace.copy_checks import HIDDEN
from variantly.workspace.files import Workspace
from variantly.workspace.links import find_links
from variantly.workspace.models import localized


def person_values(workspace: Workspace, profile: Profile | None, locale: str) -> list[str]:
    """The merge-field values for this viewer, in the workspace's order; a locale default where missing, where the
    trait is not text or a number (an object or a list from a CDP went out as Python's own writing of it: "so
    {'name': 'Nordhem'} can treat every shopper"; a flag as "True"), or where the text is not fit to be copy
    (``fit_for_copy``)."""
    out = []
    for merge in workspace.settings.merge_fields.values():
        value = profile.trait(merge.trait) if profile is not None else None
        if type(value) not in _WRITTEN or (text := str(value)).strip() == "" or not fit_for_copy(text):
            text = localized(merge.default, locale, workspace.settings.default_locale) or ""
        out.append(text)
    return out


_WRITTEN = (str, int, float)  # what a trait may be to be written into copy as it is (not bool, a subclass of int)


def fit_for_copy(value: str) -> bool:
    """A profile's value that copy may carry in a merge field: no link (a first name "Win a prize at evil.com" went
    into emails and SMS as a link, one the policy refuses in any copy; a mail client links an address too) and no
    character no reader sees (a right-to-left override in a name turned the rest of the message around). Else the
    field's default stands in. Kept per value, as names come back: a lookup, not a linkifier, per request; a long
    value is judged each time, so the kept values stay small (at most 65,536 of 200 characters)."""
    return _fit_for_copy(value) if len(value) <= 200 else _judged(value)


def _judged(value: str) -> bool:
    return HIDDEN.search(value) is None and not find_links(value)


_fit_for_copy = lru_cache(maxsize=65536)(_judged)
