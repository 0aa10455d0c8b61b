"""The book's figures that need trained models: adversarial examples (Fig. 1), the eps sweep (Fig. 2),
per-op gradient sparsity (Figs. 3/5). Drawing is :mod:`snnlib.plots`; these assemble the data.
"""

from __future__ import annotations

import pandas as pd
import torch

from .. import attacks, plots, results, train
from ..build import load_data
from ..checkpoints import load_trained
from ..encoding import PhaseEncoder, decode_phase
from ..probe_runs import authors_probe_result, probe_result, weight_sparsity_result
from .tables import configs, label, sweep


def sparsity(profile: str | None = None, n: int = 200, swap: bool = False) -> pd.DataFrame:
    """Per-op gradient sparsity of every SEW model on ``n`` eval images (Figs. 3/5), cached as JSON.

    ``swap=True`` also probes each MaxPool model with its stem pool swapped for AvgPool *on the same
    weights*, which isolates the pooling op's own effect.
    """
    frames = [
        pd.DataFrame(_read(cfg, probe_result, n, swap)["rows"])
        for cfg in configs(profile).values()
        if cfg.model.arch.startswith("sew")
    ]
    return pd.concat(frames, ignore_index=True)


def _read(cfg, runner, *args):
    """``runner(cfg, *args)`` as the book reads it (:func:`snnlib.results.book_reading`)."""
    with results.book_reading(cfg.profile):
        return runner(cfg, *args)


def example_attacks(profile: str | None = None, n: int = 6, name: str | None = None) -> dict:
    """Clean, FGSM and PGD examples under both threat models (Fig. 1), as image rows in [0,1].

    Spike-space adversarial inputs are shown decoded: the omega-weighted sum of
    their first K steps, i.e. the image the perturbed spikes stand for.
    """
    cfgs = configs(profile)
    cfg = (
        cfgs[name]
        if name
        else next(c for c in cfgs.values() if c.model.pool == "max" and c.model.arch.startswith("sew"))
    )
    _read(cfg, train.ensure_trained)
    model = load_trained(cfg)
    ds = load_data(cfg, "eval")
    x, y = ds.batch(torch.linspace(0, len(ds) - 1, n).long())
    a = cfg.attack
    rows, preds = {"clean": x}, {}
    enc = PhaseEncoder(cfg.model.T, cfg.model.K)
    for threat in ("standard", "authors"):
        t = attacks.ThreatModel.preset(model, threat)
        g = torch.Generator().manual_seed(cfg.seed)
        for atk, adv in (
            ("FGSM", attacks.FGSM(t, a.eps)(x, y)),
            ("PGD", attacks.PGD(t, a.eps, a.pgd_alpha, a.pgd_steps, generator=g)(x, y)),
        ):
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


# ------------------------------------------------------------ the authors' own probe (issue: what Fig. 3 measures)


def authors_probe(profile: str | None = None) -> pd.DataFrame:
    """The authors' probe (:func:`snnlib.authors.probe`) on the profile's SEW-ResNet-18 models, cached as JSON."""
    frames = [
        pd.DataFrame(_read(cfg, authors_probe_result)["rows"]).assign(pool=cfg.model.pool)
        for cfg in configs(profile).values()
        if cfg.model.arch == "sew_resnet18"
    ]
    return pd.concat(frames, ignore_index=True)


def _candidates(df: pd.DataFrame, pool: str) -> dict:
    d = df[df.pool == pool]
    p = d[d.module == "maxpool"].iloc[0]
    pools = d[d.type.str.contains("Pool")]
    neu = d[d.type.str.startswith("IF")]
    per_neuron = neu.groupby("module")[["zero_in", "zero_in@1e-6"]].mean()
    blocks = per_neuron[per_neuron.index.str.startswith("layer")]
    return {
        "pool: grad_input zeros": p.zero_in,
        "pool: grad_output zeros": p.zero_out,
        "pool: mean of the input and output lines": (p.zero_in + p.zero_out) / 2,
        "pooling ops (stem + final adaptive avg pool): mean of grad_input": pools.zero_in.mean(),
        "pooling ops: mean of the input and output lines": (pools.zero_in.mean() + pools.zero_out.mean()) / 2,
        "pool: grad_input |g| <= 1e-6": p["zero_in@1e-6"],
        "IF: mean over all per-step rows": neu.zero_in.mean(),
        "IF: lowest neuron (mean over steps)": per_neuron.zero_in.min(),
        "IF in blocks: lowest neuron": blocks.zero_in.min(),
        "IF in blocks: mean": blocks.zero_in.mean(),
        "IF in blocks: lowest neuron, |g| <= 1e-6": blocks["zero_in@1e-6"].min(),
        "all rows: mean of grad_input": d.zero_in.mean(),
    }


def probe_candidates(profile: str | None = None) -> pd.DataFrame:
    """Which reading of the authors' printed probe gives the paper's 37.88 % (max pooling), 29.01 % (IF neurons,
    MaxPool model) and 16.52 % (IF neurons, AvgPool model)? Each candidate, in %, for both models."""
    df = authors_probe(profile)
    mx, av = _candidates(df, "max"), _candidates(df, "avg") if (df.pool == "avg").any() else {}
    target = {k: (37.88 if k.startswith(("pool", "pooling")) else 29.01) for k in mx}
    rows = [
        {
            "definition": k,
            "MaxPool model": 100 * v,
            "AvgPool model": 100 * av.get(k, float("nan")),
            "paper (MaxPool)": target[k],
            "paper (AvgPool)": 0.0 if k.startswith(("pool", "pooling")) else 16.52,
        }
        for k, v in mx.items()
    ]
    return pd.DataFrame(rows)


def weight_sparsity(profile: str | None = None, n: int = 16) -> pd.DataFrame:
    """Weight-gradient, gradient-times-input and input-gradient sparsity per convolution of the SEW-18 models
    (one training batch of ``n``, BN in train mode), cached as JSON."""
    frames = [
        pd.DataFrame(_read(cfg, weight_sparsity_result, n)["rows"]).assign(
            model=f"{label(cfg)} ({cfg.model.pool})", pool=cfg.model.pool
        )
        for cfg in configs(profile).values()
        if cfg.model.arch == "sew_resnet18"
    ]
    return pd.concat(frames, ignore_index=True)


def closest_candidates(cand: pd.DataFrame) -> dict:
    """For each number the paper prints (max pooling; IF neurons of the MaxPool and of the AvgPool model), the
    candidate reading of :func:`probe_candidates` that comes closest: ``{tag: {definition, value}}``."""
    pool = cand[cand.definition.str.startswith(("pool", "pooling"))]
    neu = cand[cand.definition.str.startswith(("IF", "all"))]
    out = {}
    for tag, d, col, ref in (
        ("pool", pool, "MaxPool model", "paper (MaxPool)"),
        ("ifmax", neu, "MaxPool model", "paper (MaxPool)"),
        ("ifavg", neu, "AvgPool model", "paper (AvgPool)"),
    ):
        row = d.loc[(d[col] - d[ref]).abs().idxmin()]
        out[tag] = {"definition": row.definition, "value": row[col]}
    return out
