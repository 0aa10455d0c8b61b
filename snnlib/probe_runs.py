"""Config-level probe runs, cached by config content: the per-op gradient sparsity of Figs. 3/5, the authors' own
probe, and the weight-gradient sparsity. Computation only; the book's tables and figures read these results
(:mod:`snnlib.report.figures`), and ``reproduce`` computes them without importing the report.
"""

from __future__ import annotations

import pandas as pd
import torch

from . import authors, probes, results, train
from .build import load_data
from .checkpoints import load_trained
from .models import ARCH_LABEL, POOLS


def _probe(cfg, n: int, swap: bool) -> dict:
    train.ensure_trained(cfg)
    model = load_trained(cfg)
    ds = load_data(cfg, "eval")
    ds = ds.subset(torch.linspace(0, len(ds) - 1, min(n, len(ds))).long())
    parts = [
        probes.gradient_sparsity(model, ds).assign(
            model=f"{ARCH_LABEL[cfg.model.arch]} ({cfg.model.pool})", pool=cfg.model.pool, weights="own"
        )
    ]
    if swap and cfg.model.pool == "max":
        model.net.maxpool = POOLS["avg"](kernel_size=3, stride=2, padding=1, step_mode="m")
        parts.append(
            probes.gradient_sparsity(model, ds).assign(
                model=f"{ARCH_LABEL[cfg.model.arch]} (max weights, avg pool swapped in)", pool="avg", weights="swapped"
            )
        )
    df = pd.concat(parts, ignore_index=True)
    return {
        "kind": "probe",
        "config": cfg.to_dict(),
        "n": len(ds),
        "env": results.environment("cpu", cfg.seed),
        "rows": df.to_dict("records"),
    }


def probe_result(cfg, n: int = 200, swap: bool = True) -> dict:
    """:func:`_probe` of one config, cached as ``results/<profile>/<run_id>/probe-<key>-<n>-<swap>.json``."""
    out = results.run_dir(cfg) / f"probe-{cfg.eval_key()[:10]}-{n}-{int(swap)}.json"
    return results.cached(out, lambda: _probe(cfg, n, swap))


def _authors_probe(cfg) -> dict:
    train.ensure_trained(cfg)
    model = load_trained(cfg)
    ds = load_data(cfg, "eval")
    idx = torch.randperm(len(ds), generator=torch.Generator().manual_seed(cfg.seed))[:16]  # one shuffled batch of 16
    x, y = ds.batch(idx)
    return {
        "kind": "authors-probe",
        "config": cfg.to_dict(),
        "n": len(y),
        "env": results.environment("cpu", cfg.seed),
        "rows": authors.probe(model, x, y),
    }


def authors_probe_result(cfg) -> dict:
    """:func:`_authors_probe` of one config, cached as ``results/<profile>/<run_id>/authors-probe-<key>.json``."""
    return results.cached(
        results.run_dir(cfg) / f"authors-probe-{cfg.eval_key()[:10]}.json", lambda: _authors_probe(cfg)
    )


def _weight_sparsity(cfg, n: int) -> dict:
    train.ensure_trained(cfg)
    model = load_trained(cfg)
    ds = load_data(cfg, "train")
    x, y = ds.batch(torch.randperm(len(ds), generator=torch.Generator().manual_seed(cfg.seed))[:n])
    return {
        "kind": "weight-sparsity",
        "config": cfg.to_dict(),
        "n": n,
        "env": results.environment("cpu", cfg.seed),
        "rows": probes.weight_gradient_sparsity(model, x, y).to_dict("records"),
    }


def weight_sparsity_result(cfg, n: int = 16) -> dict:
    """:func:`_weight_sparsity` of one config, cached as ``results/<profile>/<run_id>/wsparsity-<key>-<n>.json``."""
    return results.cached(
        results.run_dir(cfg) / f"wsparsity-{cfg.train_key()[:10]}-{n}.json", lambda: _weight_sparsity(cfg, n)
    )
