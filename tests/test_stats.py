"""The statistics of litlab.runs.stats against values computed by hand."""

import math

import pytest

from litlab.runs.stats import corrected_resampled_ttest, paired_ttest, summarize, verdict

# Two models on the same five folds; differences d = a - b = [0.03, 0, 0.03, 0.04, 0.01].
A = [0.80, 0.78, 0.82, 0.79, 0.81]
B = [0.77, 0.78, 0.79, 0.75, 0.80]
D_MEAN = 0.022
D_VAR = (0.008**2 + 0.022**2 + 0.008**2 + 0.018**2 + 0.012**2) / 4  # 2.7e-4


def t4_two_sided_p(t: float) -> float:
    """Student t with 4 dof has a closed-form CDF: F(t) = 1/2 + 3/8 x (1 - t²/(12 (1 + t²/4))),
    x = t / sqrt(1 + t²/4); the two-sided p is 2 (1 - F(|t|))."""
    t = abs(t)
    x = t / math.sqrt(1 + t * t / 4)
    return 2 * (1 - (0.5 + 3 / 8 * x * (1 - t * t / (12 * (1 + t * t / 4)))))


def test_summarize_is_students_t_interval():
    s = summarize([0.70, 0.80, 0.75, 0.72, 0.78])
    std = math.sqrt((0.05**2 * 2 + 0.03**2 * 2) / 4)
    half = 2.7764451051977987 * std / math.sqrt(5)  # t(0.975, 4 dof), from a table
    assert s["mean"] == pytest.approx(0.75) and s["std"] == pytest.approx(std) and s["n"] == 5
    assert s["ci95"] == pytest.approx([0.75 - half, 0.75 + half])
    assert t4_two_sided_p(2.7764451051977987) == pytest.approx(0.05, abs=1e-9)  # the formula's own check


def test_paired_ttest_by_hand():
    c = paired_ttest(A, B)
    t = D_MEAN / math.sqrt(D_VAR / 5)  # 2.9938
    assert c.difference == pytest.approx(D_MEAN) and c.t == pytest.approx(t) and c.dof == 4
    assert c.p == pytest.approx(t4_two_sided_p(t)) and c.p == pytest.approx(0.0402, abs=1e-4)
    assert verdict(c, "max") == "better" and verdict(c, "min") == "worse"


def test_corrected_resampled_ttest_by_hand():
    """Nadeau & Bengio: Var = (1/J + n_test/n_train) s²; for 5-fold CV n_test/n_train = 1/4."""
    c = corrected_resampled_ttest(A, B, test_train_ratio=1 / 4)
    t = D_MEAN / math.sqrt((1 / 5 + 1 / 4) * D_VAR)  # 1.9959: the same differences, no longer significant
    assert c.t == pytest.approx(t) and c.p == pytest.approx(t4_two_sided_p(t))
    assert c.p == pytest.approx(0.1167, abs=1e-4) and verdict(c, "max") == "tie"
    assert c.p > paired_ttest(A, B).p  # the correction only ever widens


def test_equal_and_constant_differences():
    same = corrected_resampled_ttest(A, A, 0.25)
    assert (same.difference, same.p, verdict(same, "max")) == (0.0, 1.0, "tie")
    shifted = paired_ttest([x + 0.01 for x in B], B)
    assert shifted.p == 0.0 and verdict(shifted, "min") == "worse"


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: paired_ttest([0.1, 0.2], [0.1]), "differ in number"),
        (lambda: paired_ttest([0.1], [0.2]), "at least 2"),
        (lambda: corrected_resampled_ttest(A, B, 0), "test_train_ratio=0"),
        (lambda: verdict(paired_ttest(A, B), "up"), "mode='up'"),
    ],
)
def test_bad_input(call, message):
    with pytest.raises(ValueError, match=message):
        call()
