"""How much the authors'-threat numbers depend on settings the paper does not state (robustness chapter).

Under the authors' threat (encoded spikes attacked with BN in train mode) the batch statistics depend on
which images share a crafting batch, and their evaluation loop leaks BN statistics from the test images.
This table crosses batch order and size (the dataset's order in batches of 64, shuffled 64, shuffled 16 as their
test loader),
the leak, and eps (6/255 as their code, 8/255 as their text); each row gives the PGD/clean ratio with its
exact interval next to the paper's ratio for the same model.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .. import config, experiments, paper, results, stats
from .tables import ARCH_LABEL, configs

CAPTION = (
    "PGD-7 under the authors' threat (spikes, BN in train mode) for each batching, with and without the "
    "authors' BN leak, at 6/255 and 8/255, on the same images: clean and PGD accuracy (%), the share of "
    "clean-correct images that survive (PGD/clean, exact 95% interval) and the paper's PGD/clean for the "
    "same model."
)
ORDER_LABEL = {
    "dataset 64": "dataset order, 64",
    "shuffled 64": "shuffled, 64",
    "shuffled 16": "shuffled, 16 (authors' loader)",
}


def _batches(row: dict) -> str:
    """The batching's label; the dataset's order is class-sorted in the JPEG tree (ImageFolder reads one class
    after another) but the release's own order in the lossless arrays, where classes are mixed."""
    label = ORDER_LABEL[row["batching"]]
    if row["batching"].startswith("dataset"):
        sorted_ = str(row.get("source", "")).startswith("imagefolder")
        label = label.replace("order", "order (class-sorted)" if sorted_ else "order (release order, classes mixed)")
    return label


def sensitivity_models(profile: str | None = None) -> list[config.Config]:
    """The models of the table (:func:`snnlib.experiments.sensitivity_configs` of each config of the profile)."""
    return [c for cfg in configs(profile or config.profile()).values() for c in experiments.sensitivity_configs(cfg)]


def ratio(clean, pgd) -> dict:
    """PGD/clean: the share of clean-correct images still correct under PGD, with its exact interval."""
    c, p = np.asarray(clean, bool), np.asarray(pgd, bool)
    k, n = int((c & p).sum()), int(c.sum())
    lo, hi = stats.clopper_pearson(k, n) if n else (float("nan"),) * 2
    return {"ratio": k / n if n else float("nan"), "lo": lo, "hi": hi, "k": k, "n_clean": n}


def paper_ratio(cfg) -> tuple[float | None, str]:
    """The paper's PGD/clean for the same model and its label: CIFAR-10 (Table 2 for MaxPool, Table 3 for AvgPool);
    the Spiking-ResNet-18 has only a CIFAR-100 row (Table 1), which is labelled so. ``(None, "-")`` if none."""
    name = ARCH_LABEL[cfg.model.arch]
    for table, dataset in (("2" if cfg.model.pool == "max" else "3", "cifar10"), ("1", "cifar100")):
        t = paper.table(table)
        r = t[(t.dataset == dataset) & (t.model == name) & (t.pool == cfg.model.pool)]
        if len(r):
            value = float(r.pgd.iloc[0] / r.clean.iloc[0])
            return value, f"{value:.2f}" + ("" if dataset == "cifar10" else " (CIFAR-100)")
    return None, "-"


def sensitivity_table(profile: str | None = None) -> tuple[pd.DataFrame, list[str]]:
    """One row per model, eps, batching and leak: clean and PGD accuracy, the PGD/clean ratio [exact 95%], and
    the paper's ratio for the same model (Table 2, CIFAR-10); and the rows (model, eps, batching) that a committed
    profile does not have yet."""
    rows, missing = [], []
    for cfg in sensitivity_models(profile):
        todo = []
        with results.book_reading(cfg.profile):
            found = experiments.authors_sensitivity(cfg, todo)
        if todo:
            missing.append(f"{cfg.name} ({len(todo)} of {len(todo) + len(found)} rows)")
        for r in found:
            q = ratio(r["clean"], r["pgd"])
            rows.append(
                {
                    "model": cfg.name,
                    "eps": f"{r['eps'] * 255:.0f}/255",
                    "batches": _batches(r),
                    "BN leak": "yes" if r["leak"] else "no",
                    "n": len(r["clean"]),
                    "clean %": 100 * float(np.mean(r["clean"])),
                    "PGD %": 100 * float(np.mean(r["pgd"])),
                    "PGD/clean": f"{q['ratio']:.2f} [{q['lo']:.2f}, {q['hi']:.2f}]",
                    "paper PGD/clean": f"paper: {paper_ratio(cfg)[1]}",
                }
            )
    return pd.DataFrame(rows), missing


DRAWS_CAPTION = (
    "PGD-7 under the authors' threat (spikes, BN in train mode, shuffled batches of 16, no leak) on the same "
    "images: the run's number with its exact 95% interval; under five seeded shuffles (other batches, and so "
    "other random starts) each draw's accuracy (%), their median [min–max] and the images broken under some "
    "draws but not others; and, as the control, the same for five random-start seeds on the run's own batches."
)


def _spread(rows: list[dict], tag: str) -> dict:
    """Accuracy per run, median [min–max], and the images whose outcome differs between the runs."""
    pgd = np.array([r["pgd"] for r in rows], dtype=bool)  # runs x images
    acc = 100 * pgd.mean(1)
    return {
        f"PGD-7 % per {tag}": ", ".join(f"{a:.1f}" for a in acc),
        f"median [min–max], {tag}s": f"{np.median(acc):.1f} [{acc.min():.1f}–{acc.max():.1f}]",
        f"outcome depends on the {tag}": f"{int((pgd.any(0) & ~pgd.all(0)).sum())} of {pgd.shape[1]}",
    }


def draws_table(profile: str | None = None) -> tuple[pd.DataFrame, list[str]]:
    """How much of one authors'-threat number is the draw of the batches (:func:`snnlib.experiments.authors_draws`),
    against the random starts alone: one row per model and eps; and the models a committed profile lacks yet."""
    rows, missing = [], []
    models = [c for m in configs(profile or config.profile()).values() for c in experiments.draw_configs(m)]
    for cfg in models:
        try:
            with results.book_reading(cfg.profile):
                found = experiments.authors_draws(cfg)
        except results.ResultMissing:
            missing.append(cfg.name)
            continue
        for e in sorted({r["eps"] for r in found}):
            rs = [r for r in found if r["eps"] == e]
            own = next(r for r in rs if r["own"])
            rows.append(
                {
                    "model": cfg.name,
                    "eps": f"{e * 255:.0f}/255",
                    "PGD-7, the run's draw": stats.fmt_acc(stats.accuracy(own["pgd"])),
                    **_spread([r for r in rs if r["varied"] in ("own", "batches")], "draw"),
                    **_spread([r for r in rs if r["varied"] in ("own", "starts")], "start"),
                }
            )
    return pd.DataFrame(rows), missing
