"""The numbers an analyst defends are the references' numbers: statsmodels and scipy on the same data,
and simulations where the truth is known."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from statsmodels.stats import proportion  # its test_* functions would be collected if imported by name
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.weightstats import CompareMeans, DescrStatsW

from variantly.reporting.stats import Sample, benjamini_hochberg, compare, sample_ratio, sequential_halfwidth


def test_a_difference_in_conversion_rates_is_statsmodels_wald_interval_and_test() -> None:
    effect = compare(Sample.proportion(60, 1000), Sample.proportion(40, 1000))
    low, high = proportion.confint_proportions_2indep(60, 1000, 40, 1000, method="wald", compare="diff")
    assert effect.absolute_ci.as_tuple() == pytest.approx((low, high), rel=1e-9)
    assert effect.p_value == pytest.approx(
        proportion.test_proportions_2indep(60, 1000, 40, 1000, method="wald").pvalue, rel=1e-9
    )
    listed = Sample.of([1.0] * 60 + [0.0] * 940, ddof=0)
    assert Sample.proportion(60, 1000).variance == pytest.approx(listed.variance) and listed.mean == 0.06


def test_a_difference_in_revenue_per_visitor_is_statsmodels_unequal_variance_interval() -> None:
    rng = np.random.default_rng(7)
    revenue_t = np.where(rng.random(3000) < 0.06, rng.lognormal(5, 1, 3000), 0.0)
    revenue_c = np.where(rng.random(700) < 0.05, rng.lognormal(5, 1, 700), 0.0)
    effect = compare(Sample.of(list(revenue_t)), Sample.of(list(revenue_c)))
    reference = CompareMeans(DescrStatsW(revenue_t, ddof=1), DescrStatsW(revenue_c, ddof=1))
    assert effect.absolute_ci.as_tuple() == pytest.approx(reference.zconfint_diff(usevar="unequal"), rel=1e-9)
    assert effect.p_value == pytest.approx(reference.ztest_ind(usevar="unequal")[1], rel=1e-9)


@pytest.mark.parametrize(
    ("treatment", "control", "share", "mismatch"),
    [(100, 0, 0.0, False), (100, 5, 0.0, True), (0, 100, 1.0, False), (3, 100, 1.0, True), (0, 0, 0.0, False)],
)
def test_with_no_holdout_planned_any_profile_in_the_empty_arm_is_a_mismatch(treatment, control, share, mismatch):
    assert sample_ratio(treatment, control, share).mismatch is mismatch


def test_the_sample_ratio_check_is_scipys_chi_square_and_flags_a_dropped_control_group() -> None:
    assert sample_ratio(9050, 950, 0.10).p_value == pytest.approx(stats.chisquare([9050, 950], [9000, 1000]).pvalue)
    assert not sample_ratio(9050, 950, 0.10).mismatch
    assert sample_ratio(9300, 700, 0.10).mismatch  # a sender dropped three in ten control profiles


def test_many_rows_are_adjusted_as_statsmodels_adjusts_them() -> None:
    p_values = [0.001, 0.04, 0.03, 0.2, 0.011, 0.5]
    assert benjamini_hochberg(p_values) == pytest.approx(list(multipletests(p_values, method="fdr_bh")[1]))
    assert benjamini_hochberg([None, 0.01]) == [None, 0.01]


def test_the_anytime_valid_interval_is_wider_than_the_fixed_one_and_narrows_with_data() -> None:
    widths = [sequential_halfwidth(0.01 / (n / 1000) ** 0.5, n, 0.05, 5000) for n in (1000, 5000, 50_000)]
    fixed = [stats.norm.ppf(0.975) * 0.01 / (n / 1000) ** 0.5 for n in (1000, 5000, 50_000)]
    assert all(w > f for w, f in zip(widths, fixed, strict=True))
    assert widths[0] > widths[1] > widths[2]


def test_reading_an_aa_experiment_every_day_rarely_calls_a_winner_with_the_anytime_valid_interval() -> None:
    """200 A/A experiments (10% holdout, 5% conversion, 400 visitors a day) read daily for 30 days (the
    benchmark runs 1,000): the fixed-horizon interval calls a false winner at some look far more often."""
    rng = np.random.default_rng(2026)
    fixed_wins = sequential_wins = 0
    for _ in range(200):
        control = rng.random((30, 400)) < 0.10
        converted = rng.random((30, 400)) < 0.05
        n_c = np.cumsum(control.sum(axis=1))
        n_t = np.cumsum((~control).sum(axis=1))
        c_c = np.cumsum((converted & control).sum(axis=1))
        c_t = np.cumsum((converted & ~control).sum(axis=1))
        looks = [
            compare(Sample.proportion(int(ct), int(nt)), Sample.proportion(int(cc), int(nc)))
            for ct, nt, cc, nc in zip(c_t, n_t, c_c, n_c, strict=True)
        ]
        fixed_wins += any(e.absolute_ci.excludes_zero() for e in looks)
        sequential_wins += any(e.absolute_cs.excludes_zero() for e in looks)
    assert fixed_wins / 200 > 0.10
    assert sequential_wins / 200 <= 0.05


def test_the_revenue_interval_covers_a_known_effect() -> None:
    """Order values log-normal (heavy-tailed), conversion 5% against 6%: the 95% interval covers the true
    difference in revenue per visitor about 95% of the time (the benchmark runs 1,000)."""
    rng = np.random.default_rng(11)
    mean_order = float(np.exp(5 + 0.5))  # log-normal(5, 1)
    truth = 0.06 * mean_order - 0.05 * mean_order
    covered = 0
    for _ in range(200):
        t = np.where(rng.random(8000) < 0.06, rng.lognormal(5, 1, 8000), 0.0)
        c = np.where(rng.random(2000) < 0.05, rng.lognormal(5, 1, 2000), 0.0)
        interval = compare(Sample.of(list(t)), Sample.of(list(c))).absolute_ci
        covered += interval.low <= truth <= interval.high
    assert covered / 200 >= 0.91


def _not_rejected(treatment: Sample, control: Sample, critical: float, ratio: float) -> bool:
    """The test of "treatment mean = ratio x control mean", written out on its own: the reference Fieller inverts."""
    se = (treatment.variance / treatment.n + ratio**2 * control.variance / control.n) ** 0.5
    return abs(treatment.mean - ratio * control.mean) <= critical * se


@pytest.mark.parametrize(
    ("treatment", "control"),
    [
        (Sample.proportion(1086, 18017), Sample.proportion(91, 1984)),  # the example traffic's conversions
        (Sample.proportion(280, 4543), Sample.proportion(17, 506)),  # few conversions in a small control group
        (Sample.proportion(400, 10000), Sample.proportion(420, 10000)),  # a loss
    ],
)
def test_the_relative_interval_holds_every_ratio_the_difference_test_does_not_reject(treatment, control) -> None:
    """Each end is where the test of the ratio turns (scipy's root finder on the test written out), the ratios
    inside pass it and those just outside do not: for the fixed-horizon interval (the normal quantile) and the
    anytime-valid one (the sequence's half-width over its standard error)."""
    from scipy.optimize import brentq

    effect = compare(treatment, control)
    se = (treatment.variance / treatment.n + control.variance / control.n) ** 0.5
    sequential = sequential_halfwidth(se, treatment.n + control.n, 0.05, 5000) / se
    estimate = treatment.mean / control.mean
    for interval, critical in ((effect.relative_ci, stats.norm.ppf(0.975)), (effect.relative_cs, sequential)):
        assert interval is not None

        def gap(r: float, c: float = critical) -> float:
            return (
                abs(treatment.mean - r * control.mean)
                - c * (treatment.variance / treatment.n + r**2 * control.variance / control.n) ** 0.5
            )

        low, high = brentq(gap, 1e-9, estimate, xtol=1e-14), brentq(gap, estimate, 100.0, xtol=1e-14)
        assert (interval.low, interval.high) == pytest.approx((low - 1, high - 1), rel=1e-7)
        assert all(_not_rejected(treatment, control, critical, float(r)) for r in np.linspace(low, high, 25)[1:-1])
        assert not _not_rejected(treatment, control, critical, low * 0.999)
        assert not _not_rejected(treatment, control, critical, high * 1.001)


def test_the_relative_and_absolute_intervals_agree_on_zero() -> None:
    """On the example traffic the delta method's relative interval read "+52% [-17%, +122%]" beside an absolute
    anytime-valid interval of [+1.72, +40.30] SEK and the verdict "treatment better". 2,000 random comparisons of
    conversion and revenue: each relative interval excludes zero exactly when its absolute interval does."""
    rng = np.random.default_rng(5)
    checked = 0
    for _ in range(2000):
        n_t, n_c = int(rng.integers(200, 20000)), int(rng.integers(100, 3000))
        p_t, p_c = rng.uniform(0.01, 0.2), rng.uniform(0.01, 0.2)
        effect = compare(Sample.proportion(rng.binomial(n_t, p_t), n_t), Sample.proportion(rng.binomial(n_c, p_c), n_c))
        for absolute, relative in ((effect.absolute_ci, effect.relative_ci), (effect.absolute_cs, effect.relative_cs)):
            if relative is None or abs(absolute.low) == float("inf") or abs(relative.low) == float("inf"):
                continue
            checked += 1
            assert absolute.excludes_zero() == relative.excludes_zero()
            assert (absolute.low > 0) == (relative.low > 0)
    assert checked > 3000


def test_the_relative_interval_covers_a_known_ratio() -> None:
    """6% against 4% (a ratio of 1.5) with a small control group, 1,000 experiments: the 95% relative interval
    covers the true ratio about 95% of the time (94.5%; the delta method's, which it replaced, 94.4%: Fieller's
    is chosen for agreeing with the absolute interval, not for coverage)."""
    rng = np.random.default_rng(12)
    covered = 0
    for _ in range(1000):
        effect = compare(
            Sample.proportion(rng.binomial(5000, 0.06), 5000), Sample.proportion(rng.binomial(600, 0.04), 600)
        )
        interval = effect.relative_ci
        assert interval is not None
        covered += interval.low <= 0.5 <= interval.high
    assert 0.935 <= covered / 1000 <= 0.965


@pytest.mark.parametrize("z_score", [3.0, 12.6, 25.0])
def test_the_anytime_valid_p_value_of_a_large_effect_is_found(z_score: float) -> None:
    """A difference of 12.6 standard errors (273 of 13,384 against 222 of 2,062) made the root finder give up and
    the lift report a 500. The p-value found is where the sequence's half-width meets the estimate."""
    from variantly.reporting.stats import sequential_p_value

    se, n = 0.0069, 15446
    p = sequential_p_value(z_score * se, se, n, 5000)
    assert 0 < p < 1
    assert sequential_halfwidth(se, n, p, 5000) == pytest.approx(z_score * se, rel=1e-6)
    effect = compare(Sample.proportion(273, 13384), Sample.proportion(222, 2062))
    assert effect.p_value_sequential is not None and effect.p_value_sequential < 1e-20
