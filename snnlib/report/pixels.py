"""The JPEG-versus-lossless table (issue: lossless CIFAR-10): the profile's SEW-ResNet-18 (max) trained on each copy of
CIFAR-10, tested on each copy's test images (:mod:`snnlib.pixels`), with exact intervals and the exact paired test
between the two test copies."""

from __future__ import annotations

import pandas as pd

from .. import pixels, results, stats
from ..errors import SnnlibError
from .tables import main_config

OUTCOMES = (("clean_test", "clean"), ("fgsm", "FGSM"), ("pgd", "PGD-7"))


def _runs(profile: str | None) -> tuple[dict, list[str]]:
    """``{(trained on, tested on): cross evaluation}`` as the book reads them, and the models not trained or evaluated
    yet (:func:`snnlib.pixels.cross_evaluation` computes them)."""
    found, missing = {}, []
    for trained in pixels.PIXELS:
        cfg = pixels.trained_on(main_config(profile), trained)
        try:
            with results.book_reading(cfg.profile):
                for tested in pixels.PIXELS:
                    found[(trained, tested)] = pixels.cross_evaluation(cfg, tested)
        except results.ResultMissing:
            missing.append(
                f"the model trained on {trained} pixels (run {cfg.run_id}): not yet evaluated on both copies"
            )
        except SnnlibError as e:
            missing.append(f"the model trained on {trained} pixels (run {cfg.run_id}): {str(e).splitlines()[0]}")
    return found, missing


def pixels_table(profile: str | None = None) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """Accuracy (%, exact 95 % interval, n) per (training copy, test copy); per training copy, the exact two-sided
    McNemar test between the test copies on the same images, Holm-corrected over all of them; and what is missing."""
    found, missing = _runs(profile)
    rows = [
        {
            "trained on": t,
            "tested on": s,
            **{lab: stats.fmt_acc(stats.accuracy(r["per_sample"][k])) for k, lab in OUTCOMES},
        }
        for (t, s), r in found.items()
    ]
    tests = []
    for t in pixels.PIXELS:
        if (t, "lossless") not in found or (t, "jpeg") not in found:
            continue
        a, b = found[(t, "lossless")]["per_sample"], found[(t, "jpeg")]["per_sample"]
        for k, lab in OUTCOMES:
            m = stats.mcnemar(a[k], b[k], "two-sided")
            tests.append(
                {
                    "trained on": t,
                    "outcome": lab,
                    "right only on lossless": m["a_only"],
                    "right only on JPEG": m["b_only"],
                    "difference (points)": 100 * m["diff"],
                    "exact p (two-sided)": m["p"],
                }
            )
    tests = pd.DataFrame(tests)
    if len(tests):  # one family: every outcome of every model
        adj = stats.holm(dict(enumerate(tests["exact p (two-sided)"])))
        tests[f"Holm p ({len(tests)} tests)"] = [adj[i] for i in range(len(tests))]
    return pd.DataFrame(rows), tests, missing
