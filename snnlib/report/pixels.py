"""The JPEG-versus-lossless table (issue: lossless CIFAR-10): the profile's SEW-ResNet-18 (max) trained on each copy of
CIFAR-10, tested on each copy's test images (:mod:`snnlib.pixels`), with exact intervals and the exact paired test
between the two test copies."""

from __future__ import annotations

import pandas as pd

from .. import pixels, results, stats
from ..errors import SnnlibError
from .tables import main_config

#: (evaluation, outcome, label): clean on the test selection, the standard threat's FGSM and PGD-7, its worst case
#: (PGD-7's survivors attacked again by the audit's strongest white-box attacks, :func:`snnlib.pixels.cross_worst_case`)
#: and the authors' PGD-7 (spikes, BN train, 8/255, batches of 16 shared by both copies)
OUTCOMES = (
    ("standard", "clean_test", "clean"),
    ("standard", "fgsm", "FGSM"),
    ("standard", "pgd", "PGD-7"),
    ("worst", "worst", "worst case"),
    ("authors", "pgd", "PGD-7, authors' threat"),
)


def _evaluations(cfg, tested: str) -> dict:
    """Each cross evaluation of ``cfg`` on the ``tested`` copy; one not yet computed is left out."""
    out = {"standard": pixels.cross_evaluation(cfg, tested)}
    more = {
        "worst": lambda: pixels.cross_worst_case(cfg, tested),
        "authors": lambda: pixels.cross_evaluation(cfg, tested, threat="authors"),
    }
    for k, f in more.items():
        try:
            out[k] = f()
        except results.ResultMissing:
            pass
    return out


def _runs(profile: str | None) -> tuple[dict, list[str]]:
    """``{(trained on, tested on): cross evaluation}`` as the book reads them, and the models not trained or evaluated
    yet (:func:`snnlib.pixels.cross_evaluation` computes them)."""
    found, missing = {}, []
    for trained in pixels.PIXELS:
        cfg = pixels.trained_on(main_config(profile), trained)
        try:
            with results.book_reading(cfg.profile):
                for tested in pixels.PIXELS:
                    found[(trained, tested)] = _evaluations(cfg, tested)
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
            **{
                lab: stats.fmt_acc(stats.accuracy(r[th]["per_sample"][k])) if th in r else "not yet computed"
                for th, k, lab in OUTCOMES
            },
        }
        for (t, s), r in found.items()
    ]
    tests = []
    for t in pixels.PIXELS:
        if (t, "lossless") not in found or (t, "jpeg") not in found:
            continue
        a, b = found[(t, "lossless")], found[(t, "jpeg")]
        for th, k, lab in OUTCOMES:
            if th not in a or th not in b:
                continue
            m = stats.mcnemar(a[th]["per_sample"][k], b[th]["per_sample"][k], "two-sided")
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
