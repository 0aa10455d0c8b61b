"""The book's figures that need trained models: adversarial examples (Fig. 1), the eps sweep (Fig. 2),
per-op gradient sparsity (Figs. 3/5). Drawing is :mod:`snnlib.plots`; these assemble the data.
"""

from __future__ import annotations

import pandas as pd
import torch

from .. import attacks, plots, probes, results, train
from ..build import load_data
from ..checkpoints import load_trained
from ..encoding import PhaseEncoder, decode_phase
from ..models import POOLS
from .tables import configs, label, sweep

def _probe(cfg, n: int, swap: bool) -> dict:
    train.ensure_trained(cfg)
    model = load_trained(cfg)
    ds = load_data(cfg, "eval")
    ds = ds.subset(torch.linspace(0, len(ds) - 1, min(n, len(ds))).long())
    parts = [probes.gradient_sparsity(model, ds).assign(model=f"{label(cfg)} ({cfg.model.pool})",
                                                        pool=cfg.model.pool, weights="own")]
    if swap and cfg.model.pool == "max":
        model.net.maxpool = POOLS["avg"](kernel_size=3, stride=2, padding=1, step_mode="m")
        parts.append(probes.gradient_sparsity(model, ds).assign(
            model=f"{label(cfg)} (max weights, avg pool swapped in)", pool="avg", weights="swapped"))
    df = pd.concat(parts, ignore_index=True)
    return {"kind": "probe", "config": cfg.to_dict(), "n": len(ds), "env": results.environment("cpu", cfg.seed),
            "rows": df.to_dict("records")}


def sparsity(profile: str | None = None, n: int = 200, swap: bool = False) -> pd.DataFrame:
    """Per-op gradient sparsity of every SEW model on ``n`` eval images (Figs. 3/5), cached as JSON.

    ``swap=True`` also probes each MaxPool model with its stem pool swapped for AvgPool *on the same
    weights*, which isolates the pooling op's own effect.
    """
    frames = []
    for cfg in configs(profile).values():
        if cfg.model.arch.startswith("sew"):
            out = results.run_dir(cfg) / f"probe-{cfg.eval_key()[:10]}-{n}-{int(swap)}.json"
            frames.append(pd.DataFrame(results.cached(out, lambda: _probe(cfg, n, swap))["rows"]))
    return pd.concat(frames, ignore_index=True)


def example_attacks(profile: str | None = None, n: int = 6, name: str | None = None) -> dict:
    """Clean, FGSM and PGD examples under both threat models (Fig. 1), as image rows in [0,1].

    Spike-space adversarial inputs are shown decoded: the omega-weighted sum of
    their first K steps, i.e. the image the perturbed spikes stand for.
    """
    cfgs = configs(profile)
    cfg = cfgs[name] if name else next(c for c in cfgs.values() if c.model.pool == "max" and c.model.arch.startswith("sew"))
    train.ensure_trained(cfg)
    model = load_trained(cfg)
    ds = load_data(cfg, "eval")
    x, y = ds.batch(torch.linspace(0, len(ds) - 1, n).long())
    a = cfg.attack
    rows, preds = {"clean": x}, {}
    enc = PhaseEncoder(cfg.model.T, cfg.model.K)
    for threat in ("standard", "authors"):
        t = attacks.ThreatModel.preset(model, threat)
        g = torch.Generator().manual_seed(cfg.seed)
        for atk, adv in (("FGSM", attacks.FGSM(t, a.eps)(x, y)),
                         ("PGD", attacks.PGD(t, a.eps, a.pgd_alpha, a.pgd_steps, generator=g)(x, y))):
            img = adv if t.space == "pixel" else decode_phase(adv, enc.K)
            tag = f"{atk}, {threat}"
            rows[tag], rows[f"|Δ| {tag}"] = img, img - x
            preds[tag] = t.predict(adv)
    preds["clean"] = attacks.ThreatModel(model).predict(x)
    size = {k[4:]: v.abs().mean().item() for k, v in rows.items() if k.startswith("|Δ|")}
    return {"rows": rows, "preds": preds, "y": y, "classes": ds.classes, "config": cfg, "mean_abs_delta": size}


def fig_attacks(profile: str | None = None, ex: dict | None = None):
    ex = ex or example_attacks(profile)
    titles = [f"{ex['classes'][int(c)]}" for c in ex["y"]]
    return plots.image_grid(ex["rows"], titles, diff_scale=2 * ex["config"].attack.eps)


def fig_sweep(profile: str | None = None):
    return plots.eps_sweep(sweep(profile))


def fig_sparsity(profile: str | None = None):
    return plots.sparsity_bars(sparsity(profile, swap=True))


def fig_sparsity_layers(profile: str | None = None):
    return plots.sparsity_by_layer(sparsity(profile, swap=True))
