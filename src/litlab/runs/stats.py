"""The statistics litlab reports: a mean with its 95% confidence interval, and paired comparisons.

- `summarize`: mean, sample std, the Student-t 95% CI of the mean, n.
- `corrected_resampled_ttest`: two models scored on the same cross-validation folds. Their per-fold
  differences are not independent (the training parts overlap), so the plain paired t-test is far too
  confident; Nadeau & Bengio (2003, "Inference for the generalization error", Machine Learning 52)
  inflate the variance of the mean difference from s²/J to (1/J + n_test/n_train) s².
- `paired_ttest`: two models scored on the same independent splits (seed replicates of one split).
- `verdict`: better / tie / worse at a significance level, in the metric's own direction.

Distributions are scipy.stats'. Light: no torch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

ALPHA = 0.05


def mean(values: list[float]) -> float:
    """The arithmetic mean, summed exactly."""
    return math.fsum(values) / len(values)


def sample_std(values: list[float]) -> float:
    """The standard deviation with n - 1 in the denominator (nan for one value)."""
    n = len(values)
    if n < 2:
        return math.nan
    m = mean(values)
    return math.sqrt(math.fsum((v - m) ** 2 for v in values) / (n - 1))


def summarize(values: list[float]) -> dict[str, Any]:
    """Mean, sample std, the 95% confidence interval of the mean (Student t, n - 1 dof) and n."""
    from scipy import stats

    n = len(values)
    m, std = mean(values), sample_std(values)
    half = stats.t.ppf(0.975, n - 1) * std / math.sqrt(n) if n > 1 else math.nan
    return {"mean": m, "std": std, "ci95": [m - half, m + half], "n": n}


@dataclass(frozen=True)
class Comparison:
    """A paired comparison of `a` against `b`: the mean difference a - b, its t statistic and the
    two-sided p-value with `dof` degrees of freedom; `test` names the test used."""

    difference: float
    t: float
    p: float
    dof: int
    n: int
    test: str


def _t_test(differences: list[float], variance_factor: float, test: str) -> Comparison:
    """t = mean(d) / sqrt(variance_factor * s²) on n - 1 dof, two-sided."""
    from scipy import stats

    n = len(differences)
    if n < 2:
        raise ValueError(f"a paired test needs at least 2 paired values, got {n}")
    d, s = mean(differences), sample_std(differences)
    if s == 0:  # every pair differs by the same amount: no spread to weigh it against
        t = 0.0 if d == 0 else math.copysign(math.inf, d)
        p = 1.0 if d == 0 else 0.0
    else:
        t = d / math.sqrt(variance_factor * s * s)
        p = float(2 * stats.t.sf(abs(t), n - 1))
    return Comparison(d, t, p, n - 1, n, test)


def corrected_resampled_ttest(a: list[float], b: list[float], test_train_ratio: float) -> Comparison:
    """Nadeau & Bengio's corrected resampled t-test of a - b over the same J folds (pairs in order).
    `test_train_ratio`: n_test / n_train of a fold; 1 / (k - 1) for k-fold CV."""
    if len(a) != len(b):
        raise ValueError(f"paired values differ in number: {len(a)} and {len(b)}")
    if not test_train_ratio > 0:
        raise ValueError(f"test_train_ratio={test_train_ratio!r} must be positive (n_test / n_train)")
    differences = [x - y for x, y in zip(a, b, strict=True)]
    j = len(differences)
    return _t_test(differences, 1 / j + test_train_ratio, "corrected resampled t-test (Nadeau & Bengio)")


def paired_ttest(a: list[float], b: list[float]) -> Comparison:
    """The paired t-test of a - b over independent splits (pairs in order), as scipy's ttest_rel."""
    if len(a) != len(b):
        raise ValueError(f"paired values differ in number: {len(a)} and {len(b)}")
    differences = [x - y for x, y in zip(a, b, strict=True)]
    return _t_test(differences, 1 / len(differences), "paired t-test")


def verdict(comparison: Comparison, mode: str, alpha: float = ALPHA) -> str:
    """ "better", "tie" or "worse" for `a` against `b`, where `mode` says whether a larger metric is
    better ("max") or a smaller one ("min")."""
    if mode not in ("max", "min"):
        raise ValueError(f"mode={mode!r}: give 'max' or 'min'")
    if not comparison.p < alpha:
        return "tie"
    a_larger = comparison.difference > 0
    return "better" if a_larger == (mode == "max") else "worse"
