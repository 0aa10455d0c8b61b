"""Statistics for the verdicts: exact intervals for accuracies, exact paired tests for two attacks on the
same images, and seed-level comparisons of two trained models.

- :func:`accuracy` gives an accuracy with its n and its exact (Clopper-Pearson) interval;
- :func:`mcnemar` is the exact sign test on the discordant images of two attacks (or models) on the
  same images (McNemar's test, exact form), one- or two-sided;
- :func:`holm` corrects a family of p-values (Holm 1979; statsmodels' ``multipletests``);
- :func:`model_comparison` compares two trained models (seeds and test images, Student t with
  Welch-Satterthwaite degrees of freedom), :func:`bootstrap_comparison` a statistic of two models (two-level
  bootstrap), :func:`permutation_p` the seed means (scipy's exact ``permutation_test``).

Every test is computed by scipy or statsmodels where they compute the same thing (``tests/test_stats.py``
checks each against reference values); :data:`ALPHA` is the level at which the book's flags and verdicts fire.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats as _st

ALPHA = 0.05  # the stated level of every flag and verdict
LEVEL = 0.95  # the confidence level of every interval


def _bools(a) -> np.ndarray:
    return np.asarray(a, dtype=bool).reshape(-1)


def clopper_pearson(k: int, n: int, level: float = LEVEL) -> tuple[float, float]:
    """Exact two-sided interval for a binomial proportion k/n (Clopper & Pearson 1934)."""
    if n == 0:
        return (0.0, 1.0)
    ci = _st.binomtest(int(k), int(n)).proportion_ci(confidence_level=level, method="exact")
    return float(ci.low), float(ci.high)


def accuracy(correct, level: float = LEVEL) -> dict:
    """Accuracy of per-image outcomes with n and its exact interval: ``{acc, k, n, lo, hi}``."""
    c = _bools(correct)
    k, n = int(c.sum()), len(c)
    lo, hi = clopper_pearson(k, n, level)
    return {"acc": k / n if n else float("nan"), "k": k, "n": n, "lo": lo, "hi": hi}


def fmt_acc(a: dict, digits: int = 1) -> str:
    """``"12.0% [8.1, 16.9] (n=500)"``."""
    return f"{100 * a['acc']:.{digits}f}% [{100 * a['lo']:.{digits}f}, {100 * a['hi']:.{digits}f}] (n={a['n']})"


def mcnemar(a, b, alternative: str = "greater") -> dict:
    """Exact McNemar (sign) test of two paired 0/1 outcomes on the same images.

    ``a_only`` counts the images correct under ``a`` and wrong under ``b``, ``b_only`` the reverse; only
    these discordant images carry information. ``alternative="greater"`` tests acc(a) > acc(b), i.e.
    that ``b`` (an attack) is stronger than ``a``; ``"two-sided"`` tests any difference. Returns the
    counts, the accuracy difference acc(a) - acc(b) and the p-value.
    """
    a, b = _bools(a), _bools(b)
    if len(a) != len(b):
        raise ValueError(f"paired outcomes differ in length: {len(a)} and {len(b)}")
    a_only, b_only = int((a & ~b).sum()), int((~a & b).sum())
    n = a_only + b_only
    p = 1.0 if n == 0 else float(_st.binomtest(a_only, n, 0.5, alternative=alternative).pvalue)
    return {
        "a_only": a_only,
        "b_only": b_only,
        "discordant": n,
        "n": len(a),
        "diff": (a_only - b_only) / len(a) if len(a) else float("nan"),
        "p": p,
    }


def exceeds(correct, rate: float, alternative: str = "greater") -> float:
    """p-value of the exact test that the accuracy of ``correct`` exceeds ``rate`` (or ``alternative``)."""
    c = _bools(correct)
    return float(_st.binomtest(int(c.sum()), len(c), rate, alternative=alternative).pvalue) if len(c) else 1.0


def holm(pvalues: dict) -> dict:
    """Holm-Bonferroni adjusted p-values of a family ``{name: p}`` (step-down, monotone; statsmodels)."""
    from statsmodels.stats.multitest import multipletests

    if not pvalues:
        return {}
    names = list(pvalues)
    adj = multipletests([float(pvalues[k]) for k in names], alpha=ALPHA, method="holm")[1]
    return {k: float(v) for k, v in zip(names, adj)}


def min_discordant(alpha: float = ALPHA) -> int:
    """The fewest discordant images, all in one direction, with which an exact one-sided sign test rejects
    at ``alpha`` (5 at 0.05): the smallest gap a paired attack comparison can detect."""
    return max(1, math.ceil(math.log(alpha) / math.log(0.5)))


def permutation_p(a, b, alternative: str = "greater") -> float:
    """Exact permutation test over seeds (every split enumerated): is mean(a) > mean(b) (or ``"two-sided"``)?"""
    a, b = np.asarray(a, float), np.asarray(b, float)
    res = _st.permutation_test(
        (a, b),
        lambda x, y, axis: np.mean(x, axis=axis) - np.mean(y, axis=axis),
        permutation_type="independent",
        alternative=alternative,
        n_resamples=np.inf,
        vectorized=True,
    )
    return float(res.pvalue)


def pooled_variance(values: list) -> float | None:
    """Pooled within-group variance of per-seed values (one list per model, seeds as entries): the sum of squared
    deviations over the summed degrees of freedom, over groups with at least two values; None without any."""
    num = sum(float(np.var(v, ddof=1)) * (len(v) - 1) for v in values if len(v) > 1)
    den = sum(len(v) - 1 for v in values if len(v) > 1)
    return num / den if den else None


def seed_variance(groups: list) -> float | None:
    """Pooled between-seed variance of accuracy over groups (each a list of per-seed per-image outcomes) with
    at least two seeds; None if no group has two. Its degrees of freedom: :func:`seed_df`."""
    return pooled_variance([[float(_bools(r).mean()) for r in g] for g in groups])


def seed_df(groups: list) -> int:
    """Degrees of freedom of :func:`seed_variance` over the same groups: seeds minus one, summed."""
    return sum(len(g) - 1 for g in groups if len(g) > 1)


def _satterthwaite(parts: list[tuple[float, float]]) -> tuple[float, float]:
    """Variance of a sum of independent estimated variance components ``(v, df)``, and its Welch-Satterthwaite
    degrees of freedom (``inf`` when every component is known exactly)."""
    var = sum(v for v, _ in parts)
    den = sum(v * v / df for v, df in parts if math.isfinite(df) and df > 0 and v > 0)
    return var, (var * var / den if den > 0 else math.inf)


def _t(q: float, df: float) -> float:
    return float(_st.norm.ppf(q) if not math.isfinite(df) else _st.t.ppf(q, df))


def _seed_parts(ma, mb, pooled_var, pooled_df, pooled_source) -> tuple[list, list]:
    """The training-randomness components of a model comparison's variance ``(v, df)``, and notes on their source.
    A profile-level pooled variance (with its degrees of freedom) serves both models (a pooled t); without it,
    each model with several seeds uses its own (Welch); a model with one seed and nothing pooled counts none."""
    parts, notes = [], []
    if pooled_var is not None:
        parts.append((pooled_var * (1 / len(ma) + 1 / len(mb)), pooled_df if pooled_df else math.inf))
        for m, name in ((ma, "a"), (mb, "b")):
            if len(m) == 1:
                notes.append(
                    f"model {name} has one seed: its seed variance is "
                    + (pooled_source or "the profile's pooled estimate")
                )
        return parts, notes
    for m, name in ((ma, "a"), (mb, "b")):
        if len(m) > 1:
            parts.append((m.var(ddof=1) / len(m), len(m) - 1))
        else:
            notes.append(f"model {name} has one seed and no seed variance is known: training randomness not counted")
    return parts, notes


def _two_sided_p(d: float, se: float, df: float) -> float:
    """Two-sided p-value of ``d`` with standard error ``se``: Student's t with ``df`` (normal if infinite)."""
    if se <= 0:
        return 0.0 if d != 0 else 1.0
    return float(2 * (_st.norm.sf(abs(d) / se) if not math.isfinite(df) else _st.t.sf(abs(d) / se, df)))


def _sign_verdict(lo: float, hi: float, expected: int) -> str:
    """``agrees`` if the interval excludes 0 on the ``expected`` side, ``contradicts`` on the other, else
    ``cannot tell``."""
    if lo > 0 if expected > 0 else hi < 0:
        return "agrees"
    if hi < 0 if expected > 0 else lo > 0:
        return "contradicts"
    return "cannot tell"


def model_comparison(
    per_image_a: list,
    per_image_b: list,
    expected: int = +1,
    pooled_var: float | None = None,
    metric=None,
    level: float = LEVEL,
    pooled_source: str | None = None,
    pooled_df: float | None = None,
) -> dict:
    """Compare two trained models, each given as one or more seeds of per-image outcomes on the same images.

    The difference ``d = mean(a) - mean(b)`` of the seed-averaged metric (default: accuracy) has variance
    ``s^2 (1/n_a + 1/n_b)`` (between-seed, training randomness; ``s^2`` is ``pooled_var``, the profile's pooled
    estimate over its multi-seed models with ``pooled_df`` degrees of freedom, or one borrowed as
    ``pooled_source`` says; without it each model's own seeds) ``+ var_i(d_i) / n`` (test-image sampling,
    paired: ``d_i`` is the per-image difference of the seed means). With few seeds the seed term is itself
    uncertain, so the interval, p-value and detectable effect use Student's t with Welch-Satterthwaite
    degrees of freedom (``df``), not the normal. Returns the difference, its interval, a two-sided p-value, the
    verdict against the ``expected`` sign (``agrees``, ``contradicts``, ``cannot tell``) and the smallest effect
    the comparison could detect (one-sided, level :data:`ALPHA`, power 80 %). With several seeds on both sides
    the exact permutation p-value over seeds is added.
    """
    A = np.asarray([_bools(r) for r in per_image_a], float)
    B = np.asarray([_bools(r) for r in per_image_b], float)
    f = metric or (lambda X: X.mean(1))
    ma, mb = f(A), f(B)
    d = float(ma.mean() - mb.mean())
    parts, notes = _seed_parts(ma, mb, pooled_var, pooled_df, pooled_source)
    di = A.mean(0) - B.mean(0)
    if len(di) > 1:
        parts.append((di.var(ddof=1) / len(di), len(di) - 1))
    var, df = _satterthwaite(parts)
    se = math.sqrt(var)
    crit = _t((1 + level) / 2, df)
    lo, hi = float(d - crit * se), float(d + crit * se)
    out = {
        "diff": d,
        "lo": lo,
        "hi": hi,
        "se": se,
        "df": df,
        "p": _two_sided_p(d, se, df),
        "verdict": _sign_verdict(lo, hi, expected),
        "n_seeds": (len(A), len(B)),
        "n_images": A.shape[1],
        "mde": float((_t(1 - ALPHA, df) + _t(0.8, df)) * se),
        "notes": notes,
        "a": ma.tolist(),
        "b": mb.tolist(),
    }
    if len(A) > 1 and len(B) > 1:
        out["p_permutation"] = permutation_p(ma, mb, "two-sided")
    return out


def bootstrap_comparison(
    a: list,
    b: list,
    metric,
    n_boot: int = 2000,
    seed: int = 0,
    level: float = LEVEL,
    seed_var: float | None = None,
    seed_var_source: str | None = None,
    seed_var_df: float | None = None,
) -> dict:
    """Difference ``metric(a) - metric(b)`` of a statistic of two models (each: a list over seeds of dicts of
    per-image outcomes on the same images), with a two-level bootstrap interval: seeds resampled within each
    model, images resampled jointly (the same images for both). ``metric`` maps one seed's dict to a number;
    a model's value is the mean over its seeds. A model with one seed adds ``seed_var`` (the statistic's
    between-seed variance, from elsewhere, with ``seed_var_df`` degrees of freedom) to the bootstrap variance, and
    the interval becomes Student t with Welch-Satterthwaite degrees of freedom (normal if ``seed_var_df`` is None)."""
    keys = list(a[0])
    A = {k: np.asarray([_bools(r[k]) for r in a], float) for k in keys}
    B = {k: np.asarray([_bools(r[k]) for r in b], float) for k in keys}

    def val(X, s_idx, img):
        return float(np.mean([metric({k: X[k][s, img] for k in keys}) for s in s_idx]))

    n_img, rng = A[keys[0]].shape[1], np.random.default_rng(seed)
    full = np.arange(n_img)
    diff = val(A, range(len(a)), full) - val(B, range(len(b)), full)
    boots = np.empty(n_boot)
    for i in range(n_boot):
        img = rng.integers(0, n_img, n_img)
        boots[i] = val(A, rng.integers(0, len(a), len(a)), img) - val(B, rng.integers(0, len(b), len(b)), img)
    lo, hi = np.quantile(boots, [(1 - level) / 2, (1 + level) / 2])
    single = [n for n, x in (("a", a), ("b", b)) if len(x) == 1]
    notes = [f"model {n} has one seed: training randomness not counted" for n in single]
    if single and seed_var is not None:
        var, df = _satterthwaite(
            [(boots.var(ddof=1), math.inf), (len(single) * seed_var, seed_var_df if seed_var_df else math.inf)]
        )
        se, crit = math.sqrt(var), _t((1 + level) / 2, df)
        lo, hi = diff - crit * se, diff + crit * se
        notes = [
            f"model {n} has one seed: its seed variance is " + (seed_var_source or "the profile's pooled estimate")
            for n in single
        ]
    out = {
        "diff": diff,
        "lo": float(lo),
        "hi": float(hi),
        "n_seeds": (len(a), len(b)),
        "n_images": n_img,
        "notes": notes,
    }
    return {**out, "df": df} if single and seed_var is not None else out
