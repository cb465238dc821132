"""The holdout control group: the right share, and stable for each person."""

from __future__ import annotations

from variantly.serving.holdout import arm_for


def test_holdout_share_is_within_one_point_and_stable() -> None:
    ids = [f"user-{i}" for i in range(100_000)]
    control = sum(arm_for(i, "lumen-2026", 10) == "control" for i in ids) / len(ids)
    assert abs(control - 0.10) < 0.01
    assert all(arm_for(i, "lumen-2026", 10) == arm_for(i, "lumen-2026", 10) for i in ids[:1000])
    assert abs(sum(arm_for(i, "other-salt", 25) == "control" for i in ids) / len(ids) - 0.25) < 0.01
