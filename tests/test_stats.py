"""Every statistic of the verdicts against reference values: worked examples with known answers, or the same
quantity computed independently (by hand, by enumeration, or with scipy/statsmodels)."""

import itertools
import math

import numpy as np
import pytest
from scipy import stats as st

from snnlib import stats


def test_clopper_pearson_reference_values():
    # Clopper & Pearson (1934) by their beta-quantile definition, and two textbook values
    for k, n in ((0, 10), (3, 10), (10, 10), (35, 500), (0, 500)):
        lo, hi = stats.clopper_pearson(k, n)
        ref_lo = 0.0 if k == 0 else st.beta.ppf(0.025, k, n - k + 1)
        ref_hi = 1.0 if k == n else st.beta.ppf(0.975, k + 1, n - k)
        assert lo == pytest.approx(ref_lo, abs=1e-9) and hi == pytest.approx(ref_hi, abs=1e-9)
    assert stats.clopper_pearson(0, 500)[1] == pytest.approx(1 - 0.025 ** (1 / 500))  # the "rule of three" bound
    assert stats.clopper_pearson(5, 10) == pytest.approx((0.187086, 0.812914), abs=1e-6)
    a = stats.accuracy([1] * 3 + [0] * 7)
    assert (a["k"], a["n"], a["acc"]) == (3, 10, 0.3) and stats.fmt_acc(a) == "30.0% [6.7, 65.2] (n=10)"


def test_exact_mcnemar_is_the_sign_test_on_discordant_pairs():
    a = [1] * 20 + [0] * 5 + [1] * 3 + [0] * 12  # 20 both right, 5 b only, 3 a only, 12 both wrong
    b = [1] * 20 + [1] * 5 + [0] * 3 + [0] * 12
    t = stats.mcnemar(a, b, "greater")
    assert (t["a_only"], t["b_only"], t["discordant"], t["n"]) == (3, 5, 8, 40)
    # P(X >= 3), X ~ Bin(8, 1/2) = 219/256
    assert t["p"] == pytest.approx(sum(math.comb(8, k) for k in range(3, 9)) / 256)
    two = stats.mcnemar(a, b, "two-sided")["p"]
    assert two == pytest.approx(min(1.0, 2 * sum(math.comb(8, k) for k in range(0, 4)) / 256))
    assert stats.mcnemar([1] * 10, [1] * 10)["p"] == 1.0 and stats.min_discordant() == 5
    assert 0.5 ** stats.min_discordant() < stats.ALPHA < 0.5 ** (stats.min_discordant() - 1)
    with pytest.raises(ValueError, match="differ in length"):
        stats.mcnemar([1, 0], [1])


def test_exceeds_is_the_exact_binomial_test():
    assert stats.exceeds([1] * 3 + [0] * 97, 0.01) == pytest.approx(1 - st.binom.cdf(2, 100, 0.01))


def test_holm_matches_the_step_down_by_hand():
    # Holm (1979): sort, multiply the i-th smallest by (m - i), keep the running maximum, cap at 1
    h = stats.holm({"x": 0.01, "y": 0.04, "z": 0.5, "w": 0.03})
    assert h == pytest.approx({"x": 0.04, "w": 0.09, "y": 0.09, "z": 0.5})
    assert stats.holm({}) == {}


def test_permutation_p_enumerates_every_split():
    a, b = [0.61, 0.62, 0.60], [0.55, 0.58, 0.59]
    pooled, obs = a + b, np.mean(a) - np.mean(b)
    splits = [
        np.mean([pooled[i] for i in s]) - np.mean([pooled[i] for i in range(6) if i not in s])
        for s in itertools.combinations(range(6), 3)
    ]
    assert stats.permutation_p(a, b) == pytest.approx(np.mean(np.array(splits) >= obs - 1e-12)) == pytest.approx(1 / 20)
    assert stats.permutation_p(a, b, "two-sided") == pytest.approx(2 / 20)


def test_pooled_seed_variance_and_its_df():
    groups = [[0.60, 0.62, 0.64], [0.50, 0.54]]
    ref = (np.var(groups[0], ddof=1) * 2 + np.var(groups[1], ddof=1) * 1) / 3
    assert stats.pooled_variance(groups) == pytest.approx(ref) and stats.pooled_variance([[0.5]]) is None
    outcomes = [
        [[1] * 60 + [0] * 40, [1] * 62 + [0] * 38, [1] * 64 + [0] * 36],
        [[1] * 50 + [0] * 50, [1] * 54 + [0] * 46],
    ]
    assert stats.seed_variance(outcomes) == pytest.approx(ref) and stats.seed_df(outcomes) == 3


def test_welch_satterthwaite_degrees_of_freedom():
    # two components with their own df: the textbook formula (Satterthwaite 1946), and scipy's Welch t-test agrees
    x, y = np.array([0.61, 0.64, 0.60, 0.66]), np.array([0.55, 0.50, 0.58])
    vx, vy = x.var(ddof=1) / len(x), y.var(ddof=1) / len(y)
    var, df = stats._satterthwaite([(vx, len(x) - 1), (vy, len(y) - 1)])
    assert var == pytest.approx(vx + vy)
    assert df == pytest.approx((vx + vy) ** 2 / (vx**2 / (len(x) - 1) + vy**2 / (len(y) - 1)))
    welch = st.ttest_ind(x, y, equal_var=False)
    assert welch.df == pytest.approx(df)
    assert stats._satterthwaite([(0.01, math.inf)])[1] == math.inf


def test_model_comparison_with_few_seeds_is_a_t_interval():
    a = [[1] * 90 + [0] * 10] * 3
    b = [[1] * 40 + [0] * 60, [1] * 45 + [0] * 55, [1] * 50 + [0] * 50]
    c = stats.model_comparison(a, b, +1)
    assert c["verdict"] == "agrees" and c["lo"] > 0 and c["p_permutation"] == pytest.approx(0.1)
    half = (c["hi"] - c["lo"]) / 2
    assert half == pytest.approx(st.t.ppf(0.975, c["df"]) * c["se"])
    one = stats.model_comparison([[1] * 50 + [0] * 50], [[1] * 49 + [0] * 51], +1)
    assert one["verdict"] == "cannot tell" and one["notes"]


def test_bootstrap_comparison_covers_a_known_difference():
    rng = np.random.default_rng(0)

    def mk(p):
        return [{"x": (rng.random(400) < p).astype(int)} for _ in range(3)]

    c = stats.bootstrap_comparison(mk(0.7), mk(0.5), lambda d: float(np.mean(d["x"])), n_boot=500)
    assert c["lo"] < 0.2 < c["hi"] and c["lo"] > 0
