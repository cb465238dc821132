"""The statistics a lift is read with: a difference of means, its intervals, and the checks around it.

Every metric is a mean per exposed profile (a conversion is 0 or 1, revenue is money, zeros
included), so one comparison serves them all:

- the **fixed-horizon** interval: the difference of means with its unpooled (Welch) standard
  error and the normal quantile; valid when read once, at a moment planned in advance;
- the **anytime-valid** interval: the asymptotic confidence sequence of Waudby-Smith et al.
  (2021), as GrowthBook computes it, on the same estimate and standard error. It is wider, and
  stays valid however often it is read: checking it every day and stopping at the first
  "significant" keeps the false-positive rate at alpha (``bench/lift_simulation.py`` measures
  both on 1,000 A/A experiments read daily for 30 days: 22.5% call a false winner with the
  first, 2.2% with the second);
- the **relative** lift, the ratio of means minus one, with both kinds of interval by Fieller's method: every
  ratio the same test of the difference does not reject, so a relative interval excludes zero exactly when the
  absolute one does. The delta method's interval, centred on the estimate, did not: on the example traffic it read
  "+52% [-17%, +122%]" beside an absolute interval of [+1.72, +40.30] SEK and the verdict "treatment better";
- a **sample-ratio check** (chi-square against the planned holdout share, scipy) and the
  **Benjamini-Hochberg** adjustment across many rows (scipy).

Quantiles and tests come from scipy; nothing here approximates a distribution by hand.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from scipy import optimize, stats


@dataclass(frozen=True)
class Sample:
    """One arm's values of a metric: how many profiles, their mean and (unbiased) variance, and how many of them
    have a value at all (converted, bought): the normal approximation needs some of those in each arm."""

    n: int
    mean: float
    variance: float
    nonzero: int

    @classmethod
    def of(cls, values: Sequence[float], *, ddof: int = 1) -> Sample:
        """``ddof=0`` for a proportion (the textbook Wald variance p(1-p)/n), 1 for money (Welch, as scipy)."""
        n = len(values)
        if n == 0:
            return cls(0, 0.0, 0.0, 0)
        mean = math.fsum(values) / n
        variance = math.fsum((v - mean) ** 2 for v in values) / (n - ddof) if n > ddof else 0.0
        return cls(n, mean, variance, sum(1 for v in values if v))

    @classmethod
    def proportion(cls, successes: int, n: int) -> Sample:
        """The same as ``of`` a list of ``successes`` ones and ``n - successes`` zeros, with ``ddof=0``."""
        p = successes / n if n else 0.0
        return cls(n, p, p * (1 - p), successes)

    @property
    def total(self) -> float:
        return self.mean * self.n


@dataclass(frozen=True)
class Interval:
    low: float
    high: float

    def excludes_zero(self) -> bool:
        return self.low > 0 or self.high < 0

    def as_tuple(self) -> tuple[float, float]:
        return (self.low, self.high)


@dataclass(frozen=True)
class Effect:
    """Treatment against control: the absolute and relative lift, each with a fixed-horizon interval (``ci``) and
    an anytime-valid one (``cs``), and the two p-values."""

    absolute: float
    absolute_ci: Interval
    absolute_cs: Interval
    relative: float | None
    relative_ci: Interval | None
    relative_cs: Interval | None
    p_value: float | None
    p_value_sequential: float | None


def z(alpha: float) -> float:
    return float(stats.norm.ppf(1 - alpha / 2))


def sequential_halfwidth(standard_error: float, n: int, alpha: float, tuning: int) -> float:
    """Half the width of the asymptotic confidence sequence at ``n`` observations (both arms), for an estimate
    with this standard error; ``tuning`` is the sample size at which it is tightest (GrowthBook's default 5,000).

    With the unit variance s2 = se^2 * n and rho^2 = (-2 log(alpha) + log(-2 log(alpha) + 1)) / tuning:
    sqrt(s2) * sqrt(2 (n rho^2 + 1) / (n^2 rho^2) * log(sqrt(n rho^2 + 1) / alpha)).
    """
    if n <= 0 or not math.isfinite(standard_error):
        return math.inf
    rho2 = (-2 * math.log(alpha) + math.log(-2 * math.log(alpha) + 1)) / tuning
    s2 = standard_error**2 * n
    return math.sqrt(s2) * math.sqrt(2 * (n * rho2 + 1) / (n**2 * rho2) * math.log(math.sqrt(n * rho2 + 1) / alpha))


def sequential_p_value(estimate: float, standard_error: float, n: int, tuning: int) -> float:
    """The smallest alpha whose confidence sequence excludes zero: an anytime-valid p-value."""
    if standard_error <= 0 or not math.isfinite(standard_error) or n <= 0:
        return 1.0
    if estimate == 0:
        return 1.0

    def gap(alpha: float) -> float:
        return sequential_halfwidth(standard_error, n, alpha, tuning) - abs(estimate)

    if gap(1 - 1e-12) > 0:
        return 1.0
    if gap(1e-300) <= 0:
        return 0.0
    # Sought on the logarithm of alpha: on alpha itself, halving from 1 down to a p-value of 1e-35 (a difference of
    # 12.6 standard errors) took more than brentq's 100 steps, and the lift report failed (a 500 on the API)
    return math.exp(optimize.brentq(lambda log_alpha: gap(math.exp(log_alpha)), math.log(1e-300), math.log(1 - 1e-12)))


MINIMUM_NONZERO = 10
"""Profiles with a value each arm needs before any interval is drawn. Below it the standard error is itself a
guess: a control group of 40 with no conversion yet has variance 0, and the asymptotic sequence "proved" a
winner on the first day in 16% of simulated A/A experiments. With 10 it is 2.7% (5 gave 5.3%, 20 gave 1%;
300 A/A experiments, 10% holdout, 5% conversion, daily looks for 30 days)."""


def compare(
    treatment: Sample, control: Sample, *, alpha: float = 0.05, tuning: int = 5000, minimum: int = MINIMUM_NONZERO
) -> Effect:
    """Treatment minus control, as an absolute and a relative lift, with both kinds of interval; unbounded
    intervals (no verdict) until each arm has ``minimum`` profiles with a value."""
    diff = treatment.mean - control.mean
    n = treatment.n + control.n
    if min(treatment.nonzero, control.nonzero) < max(minimum, 1) or treatment.n < 2 or control.n < 2:
        nowhere = Interval(-math.inf, math.inf)
        return Effect(diff, nowhere, nowhere, None, None, None, None, None)
    se = math.sqrt(treatment.variance / treatment.n + control.variance / control.n)
    half = z(alpha) * se
    seq = sequential_halfwidth(se, n, alpha, tuning)
    p_value = float(2 * stats.norm.sf(abs(diff) / se)) if se > 0 else (1.0 if diff == 0 else 0.0)
    relative = relative_ci = relative_cs = None
    if control.mean > 0:
        relative = treatment.mean / control.mean - 1
        relative_ci = relative_interval(treatment, control, z(alpha))
        # the sequence's half-width is its standard error times a factor of n alone: that factor is its critical value
        relative_cs = relative_interval(treatment, control, sequential_halfwidth(1.0, n, alpha, tuning))
    return Effect(
        absolute=diff,
        absolute_ci=Interval(diff - half, diff + half),
        absolute_cs=Interval(diff - seq, diff + seq),
        relative=relative,
        relative_ci=relative_ci,
        relative_cs=relative_cs,
        p_value=p_value,
        p_value_sequential=sequential_p_value(diff, se, n, tuning),
    )


def relative_interval(treatment: Sample, control: Sample, critical: float) -> Interval:
    """Fieller's interval for treatment / control - 1: each ratio r for which the difference test of "treatment =
    r x control", (m_t - r m_c) / sqrt(v_t + r^2 v_c), stays within ``critical`` (v: each mean's variance). At r = 1
    that is the absolute lift's own test, so the two intervals agree on zero. Unbounded when the control mean
    itself is not told apart from zero at this level (m_c^2 <= critical^2 v_c): no ratio can then be ruled out."""
    v_t, v_c = treatment.variance / treatment.n, control.variance / control.n
    m_t, m_c = treatment.mean, control.mean
    # (m_t - r m_c)^2 <= c^2 (v_t + r^2 v_c) is q r^2 - 2 m_t m_c r + (m_t^2 - c^2 v_t) <= 0, with q as below
    q = m_c**2 - critical**2 * v_c
    if q <= 0 or not math.isfinite(critical):
        return Interval(-math.inf, math.inf)
    root = critical * math.sqrt(v_t * q + v_c * m_t**2)
    return Interval((m_t * m_c - root) / q - 1, (m_t * m_c + root) / q - 1)


@dataclass(frozen=True)
class SampleRatio:
    """Did profiles land in the arms in the planned shares? A mismatch means the data is broken, not the copy."""

    treatment: int
    control: int
    expected_control_share: float
    p_value: float

    @property
    def mismatch(self) -> bool:
        return self.p_value < SRM_THRESHOLD

    @property
    def control_share(self) -> float:
        total = self.treatment + self.control
        return self.control / total if total else 0.0


SRM_THRESHOLD = 0.001  # the p-value below which a split is a mismatch (GrowthBook and Optimizely use the same)


def sample_ratio(treatment: int, control: int, control_share: float) -> SampleRatio:
    """Chi-square goodness of fit of the observed split against the planned one (scipy). With no holdout planned
    (0%, or everyone held out), any profile in the arm that should be empty is a certain mismatch (p = 0): it read
    p = 1, and a sender labelling arms wrongly went unseen."""
    total = treatment + control
    if total == 0:
        return SampleRatio(treatment, control, control_share, 1.0)
    if not 0 < control_share < 1:
        stray = control if control_share <= 0 else treatment
        return SampleRatio(treatment, control, control_share, 0.0 if stray else 1.0)
    expected = [total * (1 - control_share), total * control_share]
    p_value = float(stats.chisquare([treatment, control], f_exp=expected).pvalue)
    return SampleRatio(treatment, control, control_share, p_value)


def benjamini_hochberg(p_values: Sequence[float | None]) -> list[float | None]:
    """Adjusted p-values (q-values) controlling the false discovery rate across the rows compared (scipy)."""
    present = [i for i, p in enumerate(p_values) if p is not None]
    if not present:
        return [None] * len(p_values)
    adjusted = stats.false_discovery_control([p_values[i] for i in present], method="bh")
    out: list[float | None] = [None] * len(p_values)
    for i, q in zip(present, adjusted, strict=True):
        out[i] = float(q)
    return out


def capped(values: Sequence[float], percentile: float | None) -> tuple[list[float], float | None]:
    """Values capped at a percentile of themselves (winsorised), and the cap; unchanged when no percentile."""
    if percentile is None or not values:
        return list(values), None
    cap = float(stats.scoreatpercentile(values, percentile))
    return [min(v, cap) for v in values], cap
