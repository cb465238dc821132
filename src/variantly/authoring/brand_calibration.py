"""How far each brand guideline's check agrees with people, on copy people labelled.

A labelled file has one copy a line (JSON): its ``kind``, ``locale``, the ``copy`` (one text,
or slot name to text) and ``labels``, a person's verdict per guideline id (true: it follows
the guideline). For each guideline the check's verdicts are set against the people's:
agreement, Cohen's kappa (agreement beyond chance), the share of copies people failed that
the check fails too (sensitivity) and of copies people passed that it fails anyway (false
alarms), each with a 95% Wilson interval, and the confusion matrix. A guideline under kappa
0.6 is advisory: shown and scored, never deciding a risk band (``workspace.brand``). The
formulas are written here (a few lines each) and checked against statsmodels in the tests.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from variantly.authoring.brand_score import Judgement, score_copy
from variantly.errors import InvalidRequest
from variantly.workspace.brand import CALIBRATION_FILE, Agreement, BrandGuidelines, Calibration, Interval
from variantly.workspace.models import Kind
from variantly.workspace.reading import read_text

Z95 = 1.959963984540054


class Labelled(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Kind
    locale: str = Field(min_length=2, max_length=16)
    copy_: str | dict[str, str] = Field(alias="copy")
    labels: dict[str, bool] = Field(min_length=1, description="guideline id: true when the copy follows it")

    @property
    def texts(self) -> dict[str, str]:
        return {"text": self.copy_} if isinstance(self.copy_, str) else dict(self.copy_)


def read_labelled(path: Path) -> list[Labelled]:
    """Every line of a labelled file; a bad line is an error naming the file and line."""
    out = []
    for number, line in enumerate(read_text(path).splitlines(), start=1):
        if not line.strip():
            continue
        try:
            out.append(Labelled.model_validate_json(line))
        except ValidationError as exc:
            fields = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'line'}: {e['msg']}" for e in exc.errors())
            raise InvalidRequest("labelled", f"{path}:{number}: {fields}") from None
    if not out:
        raise InvalidRequest("labelled", f"{path}: no labelled copy")
    return out


def calibrate(
    brand: BrandGuidelines, labelled: list[Labelled], judged: Mapping[int, Judgement] | None = None
) -> list[Agreement]:
    """One agreement per guideline that some line labels (in the order of the guidelines). Judged guidelines are
    measured too when ``judged`` holds a judge's verdicts per line (by index); else they show as not checked."""
    unknown = sorted({g for line in labelled for g in line.labels} - {g.id for g in brand.every})
    if unknown:
        raise InvalidRequest("labels", f"no such guideline: {', '.join(unknown)}")
    pairs: dict[str, list[tuple[bool, bool]]] = {}  # guideline -> (check fails, people fail)
    for i, line in enumerate(labelled):
        scored = score_copy(brand, line.kind, None, line.texts, line.locale, judged=(judged or {}).get(i))
        verdicts = {r.id: r.status for r in scored.guidelines}
        for guideline, follows in line.labels.items():
            if guideline in verdicts and verdicts[guideline] != "not_checked":
                pairs.setdefault(guideline, []).append((verdicts[guideline] == "failed", not follows))
    out = []
    for g in brand.every:
        if g.id in pairs:
            out.append(agreement(g.id, pairs[g.id]))
        elif g.judged and any(g.id in line.labels for line in labelled):
            out.append(agreement(g.id, []).model_copy(update={"checked": False}))  # no judge's verdicts
    return out


def agreement(guideline: str, pairs: list[tuple[bool, bool]]) -> Agreement:
    both_fail = sum(1 for check, people in pairs if check and people)
    only_check = sum(1 for check, people in pairs if check and not people)
    only_people = sum(1 for check, people in pairs if people and not check)
    both_pass = len(pairs) - both_fail - only_check - only_people
    n = len(pairs)
    return Agreement(
        guideline=guideline,
        checked=True,
        n=n,
        agreement=(both_fail + both_pass) / n if n else None,
        kappa=cohen_kappa(both_fail, only_check, only_people, both_pass),
        sensitivity=wilson(both_fail, both_fail + only_people),
        false_alarms=wilson(only_check, only_check + both_pass),
        both_fail=both_fail,
        only_check_fails=only_check,
        only_people_fail=only_people,
        both_pass=both_pass,
    )


def cohen_kappa(both_fail: int, only_check: int, only_people: int, both_pass: int) -> float | None:
    """(observed - chance agreement) / (1 - chance); None when chance agreement is total (one answer throughout)."""
    n = both_fail + only_check + only_people + both_pass
    if not n:
        return None
    observed = (both_fail + both_pass) / n
    check_fails, people_fail = (both_fail + only_check) / n, (both_fail + only_people) / n
    chance = check_fails * people_fail + (1 - check_fails) * (1 - people_fail)
    return None if chance >= 1 else (observed - chance) / (1 - chance)


def wilson(successes: int, trials: int, z: float = Z95) -> Interval:
    """A proportion with its Wilson score interval (sound near 0 and 1, where a small sample lives)."""
    if not trials:
        return Interval(value=None, low=None, high=None)
    p = successes / trials
    centre = (p + z * z / (2 * trials)) / (1 + z * z / trials)
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / (1 + z * z / trials)
    return Interval(value=p, low=max(0.0, centre - half), high=min(1.0, centre + half))


def write_calibration(root: Path, agreements: list[Agreement], brand_hash: str, labelled: Path) -> Path:
    """Where the workspace reads it: advisory guidelines stop deciding bands, and the UI shows the figures."""
    path = root / CALIBRATION_FILE
    calibration = Calibration(brand_hash=brand_hash, labelled=labelled.name, agreements=agreements)
    path.write_text(json.dumps(calibration.model_dump(mode="json"), indent=2) + "\n", encoding="utf-8")
    return path
