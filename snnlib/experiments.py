"""Configs run end to end, with results cached by config content.

The notebooks and the command line call these. Each function trains what is missing
(:func:`snnlib.train.ensure_trained`), returns the result dict and writes it as JSON under
``results/<profile>/<run_id>/``; a second call with the same config returns the saved result
without recomputing (``force=True`` recomputes).
"""

from __future__ import annotations

import dataclasses
import time

from . import evaluation, places, results, train
from .attacks import threat as registered_threat
from .build import load_data
from .checkpoints import load_trained
from .config import Config, with_overrides



def eval_config(cfg: Config, threat: str | None = None, sweep: bool | str | None = None, extra=()) -> Config:
    """``cfg`` with a named threat model (a key of :data:`~snnlib.attacks.THREATS`), with or without the eps sweep. By
    default (``sweep=None``) the book's rule: the sweep (Fig. 2) for SEW models of the paper's rows and the
    defended baseline under the standard threat only. ``sweep="short"`` (seed replicates) keeps only the
    sweep's smallest eps, which Fig. 2's shape needs (:func:`short_sweep`)."""
    attack = dict(registered_threat(threat).overrides()) if threat is not None else {}
    sweeps = threat in (None, "standard") and cfg.model.arch.startswith("sew")
    if sweep is None:
        sweep = sweeps and cfg.role != "control"
    if sweep == "short":
        attack["eps_sweep"] = short_sweep(cfg) if sweeps else []
    elif not sweep:
        attack["eps_sweep"] = []
    cfg = dataclasses.replace(cfg, attack=dataclasses.replace(cfg.attack, **attack))
    return with_overrides(cfg, extra) if extra else cfg


def short_sweep(cfg: Config) -> list[float]:
    """The eps sweep of a seed replicate: the smallest eps of the config's sweep (the paper's eps is always run)."""
    return [min(float(e) for e in cfg.attack.eps_sweep)] if cfg.attack.eps_sweep else []


def evaluate(cfg: Config, device: str | None = None, force: bool = False, checkpoint=None, which: str = "best") -> dict:
    """Clean / FGSM / PGD (and eps-sweep) accuracy of a config's trained model, cached by ``cfg.eval_key()``.
    A ``checkpoint`` file given explicitly is evaluated without caching."""
    device = device or places.device()
    out = results.run_dir(cfg) / f"eval-{cfg.eval_key()[:10]}.json"
    compute = lambda: _evaluate(cfg, device, checkpoint, which)  # noqa: E731
    return compute() if checkpoint is not None else results.cached(out, compute, force)


def _evaluate(cfg, device, checkpoint, which):
    t0 = time.time()
    if checkpoint is None:
        train.ensure_trained(cfg, device)
    model = load_trained(cfg, which, device, checkpoint)
    ds = load_data(cfg, "eval")
    a = cfg.attack
    r = evaluation.evaluate(model, ds, eps=a.eps, alpha=a.pgd_alpha, steps=a.pgd_steps, space=a.space, bn=a.bn,
                            eps_sweep=a.eps_sweep, batch_size=a.batch_size, device=device, seed=cfg.seed,
                            random_start=a.random_start, batch_order=a.batch_order)
    per_sample, sweep = r.pop("per_sample"), r.pop("sweep")
    return {"kind": "eval", "run_id": cfg.run_id, "eval_key": cfg.eval_key(), "config": cfg.to_dict(),
            "env": results.environment(device, cfg.seed), "checkpoint": str(checkpoint or which),
            "final": {**r, "space": a.space, "bn": a.bn, "eps": a.eps, "batch_order": a.batch_order,
                      "batch_size": a.batch_size}, "sweep": sweep,
            "per_sample": per_sample, "data": {**ds.provenance(), "n_eval": len(ds)},
            "wall_time_s": time.time() - t0}
