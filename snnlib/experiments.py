"""Configs run end to end, with results cached by config content.

The notebooks and the command line call these. Each function trains what is missing
(:func:`snnlib.train.ensure_trained`), returns the result dict and writes it as JSON under
``results/<profile>/<run_id>/``; a second call with the same config returns the saved result
without recomputing (``force=True`` recomputes).
"""

from __future__ import annotations

import dataclasses
from functools import partial
import time

import torch

from . import evaluation, places, results, train
from .attacks import threat as registered_threat
from .build import load_data
from .checkpoints import load_trained
from .config import Config
from .config import replicates as config_replicates


def eval_config(cfg: Config, threat: str | None = None, sweep: bool | str | None = None) -> Config:
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
    return with_attack(cfg, **attack)


def short_sweep(cfg: Config) -> list[float]:
    """The eps sweep of a seed replicate: the smallest eps of the config's sweep (the paper's eps is always run)."""
    return [min(float(e) for e in cfg.attack.eps_sweep)] if cfg.attack.eps_sweep else []


def evaluate_config(
    cfg: Config, device: str | None = None, force: bool = False, checkpoint=None, which: str = "best"
) -> dict:
    """Clean / FGSM / PGD (and eps-sweep) accuracy of a config's trained model, cached by ``cfg.eval_key()``.
    A ``checkpoint`` file given explicitly is evaluated without caching."""
    device = device or places.device()
    out = results.run_dir(cfg) / f"eval-{cfg.eval_key()[:10]}.json"

    def compute():
        return _evaluate(cfg, device, checkpoint, which)

    return compute() if checkpoint is not None else results.cached(out, compute, force)


def _evaluate(cfg, device, checkpoint, which):
    t0 = time.time()
    if checkpoint is None:
        train.ensure_trained(cfg, device)
    model = load_trained(cfg, which, device, checkpoint)
    ds = load_data(cfg, "eval")
    a = cfg.attack
    r = evaluation.evaluate_model(
        model,
        ds,
        eps=a.eps,
        alpha=a.pgd_alpha,
        steps=a.pgd_steps,
        space=a.space,
        bn=a.bn,
        eps_sweep=a.eps_sweep,
        batch_size=a.batch_size,
        device=device,
        seed=cfg.seed,
        random_start=a.random_start,
        batch_order=a.batch_order,
        order_seed=a.order_seed,
        start_seed=a.start_seed,
    )
    per_sample, sweep = r.pop("per_sample"), r.pop("sweep")
    return {
        "kind": "eval",
        "run_id": cfg.run_id,
        "eval_key": cfg.eval_key(),
        "config": cfg.to_dict(),
        "env": results.environment(device, cfg.seed),
        "checkpoint": str(checkpoint or which),
        "final": {
            **r,
            "space": a.space,
            "bn": a.bn,
            "eps": a.eps,
            "batch_order": a.batch_order,
            "batch_size": a.batch_size,
            "order_seed": cfg.seed if a.order_seed is None else a.order_seed,
            "start_seed": cfg.seed if a.start_seed is None else a.start_seed,
        },
        "sweep": sweep,
        "per_sample": per_sample,
        "data": {**ds.provenance(), "n_eval": len(ds)},
        "wall_time_s": time.time() - t0,
    }


#: the authors' threat's batching, and the variants the sensitivity table compares (order, batch size)
SENSITIVITY_BATCHING = (("dataset", 64), ("shuffled", 64), ("shuffled", 16))


def with_attack(cfg: Config, **attack) -> Config:
    """``cfg`` with ``attack.*`` fields replaced (typed: no ``--set`` strings inside the library)."""
    return dataclasses.replace(cfg, attack=dataclasses.replace(cfg.attack, **attack))


def authors_loop_result(cfg: Config, eps: float, device: str | None = None, force: bool = False) -> dict:
    """The authors' evaluation loop with its BN leak (:func:`snnlib.authors.authors_loop`) on the config's attacked
    images at ``eps``, batches of 16 in the registry's shuffled order; cached by the model, eps and images."""
    from . import authors
    from .config import content_hash

    device = device or places.device()
    key = content_hash({"eval": with_attack(eval_config(cfg, "authors"), eps=float(eps)).eval_key(), "leak": True})
    out = results.run_dir(cfg) / f"authors-loop-{key[:10]}.json"

    def compute():
        t0 = time.time()
        train.ensure_trained(cfg, device)
        model, ds = load_trained(cfg, "best", device), load_data(cfg, "eval")
        x, y = ds.batch(torch.arange(len(ds)))
        r = authors.authors_loop(
            model,
            x.to(device),
            y.to(device),
            float(eps),
            cfg.attack.pgd_alpha,
            cfg.attack.pgd_steps,
            16,
            torch.Generator().manual_seed(cfg.seed),
            order_seed=cfg.seed,
        )
        per = {k: v.int().tolist() for k, v in r.items() if isinstance(v, torch.Tensor)}
        return {
            "kind": "authors-loop",
            "run_id": cfg.run_id,
            "config": cfg.to_dict(),
            "eps": float(eps),
            "batch_order": "shuffled",
            "batch_size": 16,
            "per_sample": per,
            "data": {**ds.provenance(), "n_eval": len(ds)},
            "env": results.environment(device, cfg.seed),
            "wall_time_s": time.time() - t0,
        }

    return results.cached(out, compute, force)


def sensitivity_configs(cfg: Config) -> list[Config]:
    """Which models of ``cfg`` enter the authors'-threat sensitivity table: the depth-18 CIFAR-10 SNNs of the paper's
    rows (every seed of the SEW pools) at the committed profiles; at quick only SEW-18 max's main seed (CI's time)."""
    if (
        cfg.role != "paper"
        or cfg.model.neuron != "if"
        or cfg.data.dataset != "cifar10"
        or not cfg.model.arch.endswith("resnet18")
    ):
        return []
    sew = cfg.model.arch == "sew_resnet18"
    if cfg.profile == "quick":
        return [cfg] if sew and cfg.model.pool == "max" else []
    return config_replicates(cfg) if sew else [cfg]


def _batching_row(base: Config, order: str, bs: int) -> dict:
    r = evaluate_config(with_attack(base, batch_order=order, batch_size=bs))
    e = r["final"]["eps"]
    ps = r["per_sample"]
    return {
        "eps": e,
        "batching": f"{order} {bs}",
        "leak": False,
        "clean": ps["clean"],
        "fgsm": ps[f"fgsm@{e}"],
        "pgd": ps[f"pgd@{e}"],
        "source": r["data"]["source"],
    }


def _leak_row(cfg: Config, eps: float) -> dict:
    ps = authors_loop_result(cfg, eps)["per_sample"]
    return {
        "eps": eps,
        "batching": "shuffled 16",
        "leak": True,
        "clean": ps["clean_leak"],
        "fgsm": ps["fgsm_leak"],
        "pgd": ps["pgd_leak"],
    }


def authors_sensitivity(cfg: Config, missing: list | None = None) -> list[dict]:
    """The authors' threat (spikes, BN train) at 8/255 and 6/255 under each batching of
    :data:`SENSITIVITY_BATCHING`, and with the authors' BN leak: per-sample clean and PGD outcomes per row.
    ``missing``: a list that collects the rows not computed yet (when only cached results are read,
    :func:`snnlib.results.only_cached`) instead of raising."""
    rows = []
    for threat_name in ("authors", "authors-6"):
        base = eval_config(cfg, threat_name)
        e = f"{base.attack.eps * 255:.0f}/255"
        jobs = [(partial(_batching_row, base, o, bs), f"{e} {o} {bs}") for o, bs in SENSITIVITY_BATCHING]
        for job, label in [*jobs, (partial(_leak_row, cfg, base.attack.eps), f"{e} with the BN leak")]:
            try:
                rows.append(job())
            except results.ResultMissing:
                if missing is None:
                    raise
                missing.append(f"{cfg.name} {label}")
    return rows


#: the shuffles of the authors' batches drawn besides the run's own: how much of one authors'-threat number is the
#: draw of which images share a batch (and so of the random start each image gets)
DRAW_SEEDS = (1, 2, 3, 4)


def draw_configs(cfg: Config) -> list[Config]:
    """Which models get the draw spread: the main seed of SEW-18 (max) of the sensitivity table, at the committed
    profiles only (at quick, CI's time)."""
    if cfg.profile == "quick":
        return []
    return [c for c in sensitivity_configs(cfg)[:1] if c.model.arch == "sew_resnet18" and c.model.pool == "max"]


def authors_draws(cfg: Config) -> list[dict]:
    """The authors' threat (shuffled batches of 16, no leak) at 8/255 and 6/255 on the same images: under the run's
    own shuffle and each of :data:`DRAW_SEEDS` (other batches, and so other random starts), and, as the control,
    under the run's own batches with the random starts of each of :data:`DRAW_SEEDS`. Per-sample clean and PGD
    outcomes per row; ``varied`` says which seed the row varies ("batches" or "starts"; the run's own row both)."""
    rows = []
    for threat_name in ("authors", "authors-6"):
        base = eval_config(cfg, threat_name)
        runs = [("own", {}), *[("batches", {"order_seed": s}) for s in DRAW_SEEDS]]
        for varied, seeds in [*runs, *[("starts", {"start_seed": s}) for s in DRAW_SEEDS]]:
            r = evaluate_config(with_attack(base, **seeds))
            e = r["final"]["eps"]
            rows.append(
                {
                    "eps": e,
                    "varied": varied,
                    "order_seed": seeds.get("order_seed", cfg.seed),
                    "start_seed": seeds.get("start_seed", cfg.seed),
                    "own": varied == "own",
                    "clean": r["per_sample"]["clean"],
                    "pgd": r["per_sample"][f"pgd@{e}"],
                }
            )
    return rows
