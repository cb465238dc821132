"""A custom validator, loaded by file path: no ALL-CAPS words and no exclamation marks.

Custom validators register themselves with guardrails-ai under a name that
``policy.yml`` lists in ``custom_validators``. ``_validate`` gets the slot text and
metadata (slot, locale, module kind, ...); return PassResult or FailResult with spans.
"""

import re

from guardrails.validators import ErrorSpan, FailResult, PassResult, Validator, register_validator

SHOUTING = re.compile(r"\b[A-ZÅÄÖ]{4,}\b|!")
ALLOWED = {"EU", "ISO", "SSO", "GDPR", "CRM"}


@register_validator(name="lumen/no_shouting", data_type="string")
class NoShouting(Validator):
    def _validate(self, value, metadata):
        spans = [ErrorSpan(start=m.start(), end=m.end(), reason="shouting")
                 for m in SHOUTING.finditer(value) if m.group() not in ALLOWED]
        if spans:
            return FailResult(error_message="no ALL-CAPS words or exclamation marks: say it calmly",
                              error_spans=spans)
        return PassResult()
